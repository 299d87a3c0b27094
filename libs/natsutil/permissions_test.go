package natsutil_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kubently.io/libs/contracts"
	"kubently.io/libs/natsutil"
	"kubently.io/libs/testkit"
)

// runConfigured starts a nats-server from a configuration file holding the
// generated authorization block (what an operator deploys), with
// JetStream, and returns its URL and each role's password.
func runConfigured(t *testing.T) (string, map[natsutil.Role]string) {
	t.Helper()
	pw := map[natsutil.Role]string{}
	var users []natsutil.ConfigUser
	for _, r := range natsutil.Roles() {
		pw[r] = rand.Text()
		users = append(users, natsutil.ConfigUser{Role: r, Password: pw[r]})
	}
	block, err := natsutil.ServerConfig(users)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := fmt.Sprintf("listen: \"127.0.0.1:-1\"\njetstream { store_dir: %q }\n%s", filepath.Join(dir, "js"), block)
	path := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("generated config rejected by nats-server: %v\n%s", err, conf)
	}
	opts.NoSigs, opts.NoLog = true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s.ClientURL(), pw
}

// client is a connection that records its asynchronous errors
// (permission violations arrive that way).
type client struct {
	nc   *nats.Conn
	mu   sync.Mutex
	errs []error
}

func (c *client) violations() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]error(nil), c.errs...)
}

func dial(t *testing.T, url string, opts ...nats.Option) (*client, error) {
	t.Helper()
	c := &client{}
	opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		c.mu.Lock()
		c.errs = append(c.errs, err)
		c.mu.Unlock()
	}))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, err
	}
	c.nc = nc
	t.Cleanup(nc.Close)
	return c, nil
}

func dialAs(t *testing.T, url string, r natsutil.Role, pw string) *client {
	t.Helper()
	c, err := dial(t, url, nats.UserInfo(string(r), pw), natsutil.RoleOption(r))
	if err != nil {
		t.Fatalf("connect as %s: %v", r, err)
	}
	return c
}

// violated waits until c reported a permissions violation naming subject.
func violated(t *testing.T, c *client, subject string) {
	t.Helper()
	testkit.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		for _, err := range c.violations() {
			if errors.Is(err, nats.ErrPermissionViolation) || strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
				if strings.Contains(err.Error(), subject) {
					return nil
				}
			}
		}
		return fmt.Errorf("no permissions violation for %q; errors: %v", subject, c.violations())
	})
}

// TestBusTrustsOnlyItsServices is hole 2 of issue 13: a client without
// credentials, with a wrong password, or with another service's
// credentials can neither read command output nor issue a command with a
// made-up principal, on a server running the generated configuration.
func TestBusTrustsOnlyItsServices(t *testing.T) {
	url, pw := runConfigured(t)

	t.Run("no credentials", func(t *testing.T) {
		if _, err := dial(t, url); err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			t.Fatalf("anonymous connect: got %v; want an authorization violation", err)
		}
		if _, err := dial(t, url, nats.UserInfo(string(natsutil.RoleGateway), "guess")); err == nil {
			t.Fatal("wrong password: connected")
		}
		// A service with refused credentials stops at once rather than
		// retrying until its context ends.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		opts, _ := natsutil.ConnConfig{User: "gateway", Password: "guess"}.Options()
		if _, err := natsutil.Connect(ctx, url, "t", slog.New(slog.DiscardHandler), opts...); !errors.Is(err, nats.ErrAuthorization) || ctx.Err() != nil {
			t.Fatalf("Connect with a wrong password: got %v; want an authorization error before the deadline", err)
		}
	})

	gw := dialAs(t, url, natsutil.RoleGateway, pw[natsutil.RoleGateway])
	disp := dialAs(t, url, natsutil.RoleDispatcher, pw[natsutil.RoleDispatcher])

	// The dispatcher's side of the bus: it serves execute and receives
	// results. Everything it receives is recorded.
	var (
		mu       sync.Mutex
		executed []string
	)
	if _, err := disp.nc.QueueSubscribe(contracts.DispatchExecuteSubject, "q", func(m *nats.Msg) {
		mu.Lock()
		executed = append(executed, string(m.Data))
		mu.Unlock()
		_ = m.Respond([]byte("output of " + string(m.Data)))
	}); err != nil {
		t.Fatal(err)
	}
	resultSubj, _ := contracts.ResultSubject("c1", "0123456789abcdef0123456789abcdef")
	if _, err := disp.nc.Subscribe(fmt.Sprintf(contracts.ResultSubjectT, "*", "*"), func(m *nats.Msg) { _ = m.Respond([]byte(`{"accepted":true}`)) }); err != nil {
		t.Fatal(err)
	}
	if err := disp.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// The gateway's side of the hand-off: a replica whose name has dots.
	handOffSubj, _ := contracts.HandOffSubject("gw-0.example.com")
	if _, err := gw.nc.Subscribe(handOffSubj, func(m *nats.Msg) { _ = m.Respond([]byte("written")) }); err != nil {
		t.Fatal(err)
	}
	if err := gw.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	for _, r := range []natsutil.Role{natsutil.RoleSession, natsutil.RoleDispatcher} {
		t.Run("as "+string(r), func(t *testing.T) {
			attacker := dialAs(t, url, r, pw[r])
			var seen sync.Map
			eavesdrop := []string{
				contracts.AuditSubjectWildcard,
				natsutil.InboxPrefix(natsutil.RoleGateway) + ".>",
				"_INBOX.>",
				">",
			}
			if r != natsutil.RoleDispatcher { // the dispatcher receives results by design
				eavesdrop = append(eavesdrop, fmt.Sprintf(contracts.ResultSubjectT, "*", "*"), contracts.BridgeNotifyWildcard)
			}
			// Commands handed to a gateway's streams reach gateways only.
			eavesdrop = append(eavesdrop, contracts.HandOffWildcard)
			for _, subj := range eavesdrop {
				if _, err := attacker.nc.Subscribe(subj, func(m *nats.Msg) { seen.Store(m.Subject, string(m.Data)) }); err != nil {
					t.Fatal(err)
				}
				violated(t, attacker, subj)
			}
			// A made-up admin principal on the dispatch subject.
			forged := `{"type":"` + contracts.TypeExecuteRequest + `","principal":{"name":"made-up","role":"admin"},"cluster":"c1","command":"get secrets -A"}`
			if err := attacker.nc.Publish(contracts.DispatchExecuteSubject, []byte(forged)); err != nil {
				t.Fatal(err)
			}
			violated(t, attacker, contracts.DispatchExecuteSubject)
			if _, err := attacker.nc.Request(contracts.DispatchExecuteSubject, []byte(forged), 500*time.Millisecond); err == nil {
				t.Fatal("a forged execute request got an answer")
			}
			if r != natsutil.RoleDispatcher {
				// Nor hand a command to an executor stream.
				if err := attacker.nc.Publish(handOffSubj, []byte(forged)); err != nil {
					t.Fatal(err)
				}
				violated(t, attacker, handOffSubj)
				// Nor can it pose as the executor's output.
				if err := attacker.nc.Publish(resultSubj, []byte(`{"stdout":"forged"}`)); err != nil {
					t.Fatal(err)
				}
				violated(t, attacker, resultSubj)
			}

			// The gateway's real traffic meanwhile: a command and its
			// output, an executor result and an audit record.
			reply, err := gw.nc.Request(contracts.DispatchExecuteSubject, []byte("real command"), 10*time.Second)
			if err != nil {
				t.Fatalf("gateway request: %v", err)
			}
			if got, want := string(reply.Data), "output of real command"; got != want {
				t.Fatalf("gateway got %q; want %q", got, want)
			}
			if _, err := gw.nc.Request(resultSubj, []byte(`{"stdout":"secret output"}`), 10*time.Second); err != nil {
				t.Fatalf("gateway result: %v", err)
			}
			// A dispatcher's hand-off to the gateway replica.
			if reply, err := disp.nc.Request(handOffSubj, []byte("handed-off command"), 10*time.Second); err != nil || string(reply.Data) != "written" {
				t.Fatalf("dispatcher hand-off: %v", err)
			}
			if err := gw.nc.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := attacker.nc.Flush(); err != nil {
				t.Fatal(err)
			}
			seen.Range(func(k, v any) bool {
				t.Errorf("attacker as %s read %v: %v", r, k, v)
				return true
			})
			mu.Lock()
			defer mu.Unlock()
			for _, e := range executed {
				if e != "real command" {
					t.Errorf("dispatcher received a forged command: %s", e)
				}
			}
		})
	}

	t.Run("audit stream", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		gjs, _ := jetstream.New(gw.nc)
		if _, err := gjs.CreateStream(ctx, jetstream.StreamConfig{Name: contracts.AuditStreamName, Subjects: []string{contracts.AuditSubjectWildcard}}); err != nil {
			t.Fatalf("gateway creates the audit stream: %v", err)
		}
		if _, err := gjs.Publish(ctx, contracts.AuditSubjectPrefix+".command_denied._", []byte(`{"principal":"alice"}`)); err != nil {
			t.Fatalf("gateway writes audit: %v", err)
		}
		cons, err := gjs.OrderedConsumer(ctx, contracts.AuditStreamName, jetstream.OrderedConsumerConfig{FilterSubjects: []string{contracts.AuditSubjectWildcard}})
		if err != nil {
			t.Fatalf("gateway reads audit: %v", err)
		}
		if _, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second)); err != nil {
			t.Fatalf("gateway reads audit: %v", err)
		}

		sess := dialAs(t, url, natsutil.RoleSession, pw[natsutil.RoleSession])
		sjs, _ := jetstream.New(sess.nc)
		// Denied requests get no answer: give each a short deadline.
		short := func() context.Context {
			c, cancel := context.WithTimeout(ctx, 2*time.Second)
			t.Cleanup(cancel)
			return c
		}
		if _, err := sjs.CreateConsumer(short(), contracts.AuditStreamName, jetstream.ConsumerConfig{FilterSubject: contracts.AuditSubjectWildcard}); err == nil {
			t.Error("session created a consumer on the audit stream")
		}
		if _, err := sjs.Publish(short(), contracts.AuditSubjectPrefix+".command_executed.c1", []byte(`{"principal":"made-up"}`)); err == nil {
			t.Error("session wrote a command record to the audit log")
		}
		if _, err := sjs.Publish(ctx, contracts.AuditSubjectPrefix+".session_created.c1", []byte(`{}`)); err != nil {
			t.Errorf("session writes its own audit event: %v", err)
		}
	})
}

func TestServerConfigRejects(t *testing.T) {
	tests := []struct {
		name  string
		users []natsutil.ConfigUser
	}{
		{"none", nil},
		{"unknown role", []natsutil.ConfigUser{{Role: "executor", Password: "x"}}},
		{"no secret", []natsutil.ConfigUser{{Role: natsutil.RoleGateway}}},
		{"two secrets", []natsutil.ConfigUser{{Role: natsutil.RoleGateway, Password: "x", PasswordEnv: "X"}}},
		{"bad env", []natsutil.ConfigUser{{Role: natsutil.RoleGateway, PasswordEnv: "A-B"}}},
		{"bad nkey", []natsutil.ConfigUser{{Role: natsutil.RoleGateway, NKey: "SUABC"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := natsutil.ServerConfig(tt.users); err == nil {
				t.Fatal("got nil error; want one")
			}
		})
	}
}
