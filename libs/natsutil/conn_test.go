package natsutil_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"kubently.io/libs/contracts"
	"kubently.io/libs/natsutil"
)

func TestConnConfigValidate(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		name  string
		c     natsutil.ConnConfig
		valid bool
	}{
		{"anonymous", natsutil.ConnConfig{}, true},
		{"user", natsutil.ConnConfig{User: "u", Password: "p"}, true},
		{"creds", natsutil.ConnConfig{CredsFile: file}, true},
		{"nkey and tls", natsutil.ConnConfig{NKeyFile: file, TLSCA: file, TLSCert: file, TLSKey: file}, true},
		{"two methods", natsutil.ConnConfig{CredsFile: file, User: "u", Password: "p"}, false},
		{"user without password", natsutil.ConnConfig{User: "u"}, false},
		{"password without user", natsutil.ConnConfig{Password: "secret-pw"}, false},
		{"missing creds", natsutil.ConnConfig{CredsFile: missing}, false},
		{"directory", natsutil.ConnConfig{NKeyFile: dir}, false},
		{"cert without key", natsutil.ConnConfig{TLSCert: file}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if (err == nil) != tt.valid {
				t.Fatalf("got %v; want valid=%v", err, tt.valid)
			}
			if err != nil && (!errors.Is(err, natsutil.ErrBadAuth) || strings.Contains(err.Error(), "secret-pw")) {
				t.Fatalf("got %v; want ErrBadAuth without the password", err)
			}
		})
	}
}

// TestNKeyUser: a generated NKey user connects with its seed file
// (KUBENTLY_NATS_NKEY_FILE) and gets its role's permissions.
func TestNKeyUser(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	dir := t.TempDir()
	seedFile := filepath.Join(dir, "gateway.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	block, err := natsutil.ServerConfig([]natsutil.ConfigUser{{Role: natsutil.RoleGateway, NKey: pub}})
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(conf, []byte("listen: \"127.0.0.1:-1\"\n"+block), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	opts.NoSigs, opts.NoLog = true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("not ready")
	}
	t.Cleanup(s.Shutdown)

	nopts, err := natsutil.ConnConfig{NKeyFile: seedFile}.Options()
	if err != nil {
		t.Fatal(err)
	}
	denied := make(chan error, 1)
	nopts = append(nopts, natsutil.RoleOption(natsutil.RoleGateway), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case denied <- err:
		default:
		}
	}))
	nc, err := nats.Connect(s.ClientURL(), nopts...)
	if err != nil {
		t.Fatalf("connect with the seed: %v", err)
	}
	defer nc.Close()
	if err := nc.Publish(contracts.DispatchExecuteSubject, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.SubscribeSync(contracts.DispatchExecuteSubject); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-denied:
		if !strings.Contains(strings.ToLower(err.Error()), fmt.Sprintf("subscription to %q", contracts.DispatchExecuteSubject)) {
			t.Fatalf("got %v; want the subscription denied", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a gateway subscribed to the dispatch subject")
	}
	if _, err := nats.Connect(s.ClientURL()); err == nil {
		t.Fatal("anonymous connect succeeded")
	}
}
