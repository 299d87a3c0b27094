package dev

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kubently.io/cli/client"
	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/testkit"
)

func TestFindRepoRoot(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "hack", "testbed"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, TestbedScript), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	deep := filepath.Join(root, "cli", "internal")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	tests := []struct {
		name, wd, env, want string
		wantErr             bool
	}{
		{name: "root itself", wd: root, want: root},
		{name: "below the root", wd: deep, want: root},
		{name: "KUBENTLY_REPO wins", wd: elsewhere, env: root, want: root},
		{name: "not in a checkout", wd: elsewhere, wantErr: true},
		{name: "KUBENTLY_REPO without the script", wd: root, env: elsewhere, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FindRepoRoot(tt.wd, tt.env)
			if tt.wantErr {
				if !errors.Is(err, ErrNoTestbedScript) {
					t.Fatalf("got %q, %v; want ErrNoTestbedScript", got, err)
				}
				if !strings.Contains(err.Error(), "KUBENTLY_REPO") {
					t.Errorf("error %q does not say how to fix it", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestRunLocalCluster runs `kubently dev --local-cluster` against the local
// testbed (building and starting it if needed, which make test has done)
// and runs a command on the seeded demo shop through the Go client.
func TestRunLocalCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the local Kubernetes testbed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &testkit.SyncBuffer{}
	ready := make(chan string, 1)
	const key = "dev-test-key-0123456789abcdef"
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, Config{
			DataDir: t.TempDir(), Addr: "127.0.0.1:0", NATSPort: -1, ClusterID: "local", APIKey: key,
			LocalCluster: true, WorkDir: ".",
			Log: logging.New(logging.Config{Level: "warn", Output: io.Discard}), Out: out,
			Ready: func(url string) { ready <- url },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	var url string
	select {
	case url = <-ready:
	case err := <-errc:
		errc <- nil
		t.Fatalf("Run returned before it was ready: %v\n%s", err, out.String())
	case <-time.After(5 * time.Minute):
		t.Fatalf("not ready after 5 min:\n%s", out.String())
	}
	for _, want := range []string{"==> starting the local cluster", "==> seeding the demo application",
		"kubently exec local -- get pods -n shop", "rollout history deploy/checkout"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	c, err := client.New(url, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The executor connects right after Ready; retry until it has.
	var res string
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := c.Execute(ctx, contracts.ExecuteBody{Cluster: "local", Argv: []string{"get", "pods", "-n", "shop"}})
		if err == nil && r.ExitCode == 0 {
			res = r.Output
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("get pods -n shop: %v %+v", err, r)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, want := range []string{"CrashLoopBackOff", "ImagePullBackOff", "Pending"} {
		if !strings.Contains(res, want) {
			t.Errorf("get pods -n shop lacks %s:\n%s", want, res)
		}
	}
}
