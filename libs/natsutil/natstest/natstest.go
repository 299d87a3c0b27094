// Package natstest runs a real, in-process NATS server for tests, with
// the production permission model: each service role (natsutil.Roles) has
// its own user restricted by natsutil.PermissionsFor, so a test that
// connects a service with ConnectAs exercises the same permissions a
// deployment does. Connect gives an unrestricted harness connection for
// tests that play several roles at once.
package natstest

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"kubently.io/libs/natsutil"
)

// HarnessUser is the unrestricted user Connect uses.
const HarnessUser = "harness"

// passwords are the users' passwords, random per test binary and fixed
// after init (every server of the process shares them).
var passwords = func() map[string]string {
	m := map[string]string{HarnessUser: rand.Text()}
	for _, r := range natsutil.Roles() {
		m[string(r)] = rand.Text()
	}
	return m
}()

// RunServer starts an in-process NATS server with JetStream on a random
// port, stores its data in a test temp dir, shuts it down at cleanup and
// returns it. Set NATS_LOGGING=debug to see the server's logs.
func RunServer(tb testing.TB) *server.Server {
	tb.Helper()
	return RunServerAt(tb, -1, tb.TempDir())
}

// RunServerAt is RunServer with a fixed port and JetStream directory, so a
// test can stop a server and start it again at the same address and data.
func RunServerAt(tb testing.TB, port int, storeDir string) *server.Server {
	tb.Helper()
	s, err := natsutil.RunEmbedded(natsutil.EmbeddedConfig{
		Port:     port,
		StoreDir: storeDir,
		Debug:    os.Getenv("NATS_LOGGING") == "debug",
		Users:    Users(),
	})
	if err != nil {
		tb.Fatalf("natstest: start server: %v", err)
	}
	tb.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// Users returns the users RunServer's servers have: one per role, with
// its permissions, and the unrestricted HarnessUser.
func Users() []natsutil.EmbeddedUser {
	users := []natsutil.EmbeddedUser{{User: HarnessUser, Password: passwords[HarnessUser]}}
	for _, r := range natsutil.Roles() {
		users = append(users, natsutil.EmbeddedUser{User: string(r), Password: passwords[string(r)], Role: r})
	}
	return users
}

// ConnConfig returns the credentials of role r on RunServer's servers, as
// a service's configuration takes them (KUBENTLY_NATS_USER and
// KUBENTLY_NATS_PASSWORD).
func ConnConfig(r natsutil.Role) natsutil.ConnConfig {
	return natsutil.ConnConfig{User: string(r), Password: passwords[string(r)]}
}

// Env returns ConnConfig(r) as environment entries for a service process.
func Env(r natsutil.Role) []string {
	c := ConnConfig(r)
	return []string{"KUBENTLY_NATS_USER=" + c.User, "KUBENTLY_NATS_PASSWORD=" + c.Password}
}

// HarnessAuth is the nats.Option of the unrestricted harness user, for
// tests that dial RunServer's servers with options of their own.
func HarnessAuth() nats.Option {
	return nats.UserInfo(HarnessUser, passwords[HarnessUser])
}

// Connect opens an unrestricted harness connection to s (for tests that
// play several roles), closed at cleanup.
func Connect(tb testing.TB, s *server.Server) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(s.ClientURL(), HarnessAuth())
	if err != nil {
		tb.Fatalf("natstest: connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// ConnectAs opens a connection to s as role r, with r's credentials,
// permissions and inbox prefix, closed at cleanup. Permission violations
// fail the test, so a service that oversteps its role is caught.
func ConnectAs(tb testing.TB, s *server.Server, r natsutil.Role) *nats.Conn {
	tb.Helper()
	return ConnectURLAs(tb, s.ClientURL(), r)
}

// ConnectURLAs is ConnectAs for a server known by its URL.
func ConnectURLAs(tb testing.TB, url string, r natsutil.Role) *nats.Conn {
	tb.Helper()
	opts, err := ConnConfig(r).Options()
	if err != nil {
		tb.Fatalf("natstest: %v", err)
	}
	var done atomic.Bool
	opts = append(opts, natsutil.RoleOption(r), nats.Name(r.ServiceName()), nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
		if done.Load() {
			return
		}
		subj := ""
		if sub != nil {
			subj = sub.Subject
		}
		tb.Errorf("natstest: %s connection: %v (subscription %q)", r, err, subj)
	}))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		tb.Fatalf("natstest: connect as %s: %v", r, err)
	}
	tb.Cleanup(func() {
		done.Store(true)
		nc.Close()
	})
	return nc
}

// ConfigFile writes a nats-server configuration file holding the
// generated authorization block (natsutil.ServerConfig) for the roles'
// users, with the passwords ConnConfig returns, and returns its path: start
// a nats-server process with `-c path` to run the production permission
// model out of process.
func ConfigFile(tb testing.TB) string {
	tb.Helper()
	var users []natsutil.ConfigUser
	for _, r := range natsutil.Roles() {
		users = append(users, natsutil.ConfigUser{Role: r, Password: passwords[string(r)]})
	}
	conf, err := natsutil.ServerConfig(users)
	if err != nil {
		tb.Fatalf("natstest: %v", err)
	}
	path := filepath.Join(tb.TempDir(), "auth.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		tb.Fatalf("natstest: %v", err)
	}
	return path
}
