package dev

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"kubently.io/libs/contracts"
)

// TestRunBusAuth: `kubently dev` runs its services on their own NATS users:
// the embedded server refuses a client without credentials (which could
// otherwise read every command's output), the services still serve
// sessions through it, and the admin URL in the data dir lets a local
// operator in.
func TestRunBusAuth(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{DataDir: dir, Addr: "127.0.0.1:0", NATSPort: -1, ClusterID: "local", NoExecutor: true,
			APIKey: "dev-key-0123456789abcdef", Log: slog.New(slog.DiscardHandler), Out: io.Discard,
			Ready: func(url string) { ready <- url }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("dev: %v", err)
		}
	})
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		done <- nil // the cleanup's receive
		t.Fatalf("dev: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("dev did not start")
	}

	req, _ := http.NewRequest(http.MethodPost, url+"/v1/sessions", strings.NewReader(`{"cluster_id":"local"}`))
	req.Header.Set(contracts.HeaderAPIKey, "dev-key-0123456789abcdef")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("create session: %d %s", resp.StatusCode, body)
	}

	admin, err := os.ReadFile(filepath.Join(dir, AdminURLFile))
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(dir, AdminURLFile)); st.Mode().Perm() != 0o600 {
		t.Fatalf("admin URL file mode %v; want 0600", st.Mode().Perm())
	}
	u := strings.TrimSpace(string(admin))
	anon := u[:strings.Index(u, "://")+3] + u[strings.Index(u, "@")+1:]
	if nc, err := nats.Connect(anon); err == nil {
		nc.Close()
		t.Fatal("a client without credentials connected to the dev bus")
	}
	nc, err := nats.Connect(u)
	if err != nil {
		t.Fatalf("admin: %v", err)
	}
	defer nc.Close()
	if _, err := nc.SubscribeSync(contracts.DispatchExecuteSubject); err != nil {
		t.Fatal(err)
	}
}
