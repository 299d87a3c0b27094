// Package natstest runs a real, in-process NATS server for tests.
package natstest

import (
	"os"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"kubently.io/libs/natsutil"
)

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

// Connect opens a client connection to s, closed at cleanup.
func Connect(tb testing.TB, s *server.Server) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		tb.Fatalf("natstest: connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	return nc
}
