package command

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"kubently.io/libs/natsutil"
)

// TestNATSConfig loads the printed block into nats-server's own config
// parser: every role is a user with its password from the environment and
// its permissions; the nsc form names every role.
func TestNATSConfig(t *testing.T) {
	code, out, errOut := runCLI(t, context.Background(), "", "nats", "config")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out, "secret-") {
		t.Fatal("the config holds a password")
	}
	for _, r := range natsutil.Roles() {
		t.Setenv(PasswordEnv(r), "secret-"+string(r))
	}
	path := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats-server rejects the config: %v\n%s", err, out)
	}
	if got, want := len(opts.Users), len(natsutil.Roles()); got != want {
		t.Fatalf("got %d users; want %d", got, want)
	}
	for _, u := range opts.Users {
		r, err := natsutil.ParseRole(u.Username)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := u.Password, "secret-"+string(r); got != want {
			t.Errorf("%s: password %q; want %q from %s", r, got, want, PasswordEnv(r))
		}
		want, _ := natsutil.PermissionsFor(r)
		if u.Permissions == nil || strings.Join(u.Permissions.Publish.Allow, " ") != strings.Join(want.Publish, " ") ||
			strings.Join(u.Permissions.Subscribe.Allow, " ") != strings.Join(want.Subscribe, " ") || u.Permissions.Response == nil {
			t.Errorf("%s: permissions %+v; want %+v with allow_responses", r, u.Permissions, want)
		}
	}

	code, out, errOut = runCLI(t, context.Background(), "", "nats", "config", "--nsc", "KUBENTLY")
	if code != ExitOK {
		t.Fatalf("--nsc: exit %d: %s", code, errOut)
	}
	for _, r := range natsutil.Roles() {
		if !strings.Contains(out, "--name "+r.ServiceName()) {
			t.Errorf("--nsc output has no user %s:\n%s", r.ServiceName(), out)
		}
	}
	for _, bad := range [][]string{{"--nkey", "executor=UABC"}, {"--nkey", "gateway=notakey"}, {"--nsc", "A", "--nkey", "gateway=U"}} {
		if code, _, _ := runCLI(t, context.Background(), "", append([]string{"nats", "config"}, bad...)...); code != ExitUsage {
			t.Errorf("%v: exit %d; want %d", bad, code, ExitUsage)
		}
	}
}
