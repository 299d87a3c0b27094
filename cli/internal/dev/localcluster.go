package dev

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// TestbedScript is the local cluster's script, relative to the repository root.
const TestbedScript = "hack/testbed/testbed.sh"

var (
	// ErrNoTestbedScript reports that no Kubently checkout holding
	// TestbedScript was found, so --local-cluster cannot start a cluster.
	ErrNoTestbedScript = errors.New("the local cluster script " + TestbedScript + " was not found")
	// ErrTestbed reports that a testbed.sh step failed.
	ErrTestbed = errors.New("local cluster")
)

// FindRepoRoot returns the Kubently checkout to run TestbedScript from:
// envRoot ($KUBENTLY_REPO) when set, else the first directory at or above wd
// that holds the script.
func FindRepoRoot(wd, envRoot string) (string, error) {
	if envRoot != "" {
		if _, err := os.Stat(filepath.Join(envRoot, TestbedScript)); err != nil {
			return "", fmt.Errorf("%w in KUBENTLY_REPO=%s; point it at a Kubently source checkout", ErrNoTestbedScript, envRoot)
		}
		return envRoot, nil
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, TestbedScript)); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	return "", fmt.Errorf("%w in %s or above it. --local-cluster builds and runs a local Kubernetes "+
		"from Kubently's source: run kubently from a checkout (git clone, then cd into it) "+
		"or set KUBENTLY_REPO=/path/to/kubently", ErrNoTestbedScript, wd)
}

// startLocalCluster builds, starts and seeds the testbed in root (each step
// is idempotent, so a running testbed is reused) and returns its admin
// kubeconfig. Every step's progress lines go to out.
func startLocalCluster(ctx context.Context, root string, out io.Writer) (string, error) {
	steps := []struct{ arg, what string }{
		{"build", "building the local cluster (etcd, Kubernetes and kwok from source: about 8 min the first time, seconds after)"},
		{"up", "starting the local cluster"},
		{"seed", "seeding the demo application (namespaces shop, data, monitoring, batch)"},
	}
	for _, s := range steps {
		start := time.Now()
		fmt.Fprintf(out, "==> %s\n", s.what)
		if _, err := testbed(ctx, root, out, s.arg); err != nil {
			return "", err
		}
		fmt.Fprintf(out, "    done in %s\n", time.Since(start).Round(100*time.Millisecond))
	}
	env, err := testbed(ctx, root, nil, "env")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(env, "\n") {
		if v, ok := strings.CutPrefix(line, "export KUBECONFIG='"); ok {
			return strings.TrimSuffix(v, "'"), nil
		}
	}
	return "", fmt.Errorf("%w: %s env printed no KUBECONFIG", ErrTestbed, TestbedScript)
}

// testbed runs one testbed.sh step. Its progress (stderr) is copied to
// progress, indented, as it comes; stdout is returned.
func testbed(ctx context.Context, root string, progress io.Writer, arg string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(root, TestbedScript), arg)
	cmd.Dir = root
	// SIGTERM lets the script stop the build it runs; SIGKILL follows if not.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	var stdout strings.Builder
	cmd.Stdout = &stdout
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	var tail []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			tail = append(tail, line)
			if len(tail) > 20 {
				tail = tail[1:]
			}
			if progress != nil {
				fmt.Fprintf(progress, "    %s\n", line)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	_ = pw.Close()
	<-done
	if err != nil {
		msg := ""
		if progress == nil && len(tail) > 0 {
			msg = "\n" + strings.Join(tail, "\n")
		}
		return "", fmt.Errorf("%w: %s %s failed: %w%s", ErrTestbed, TestbedScript, arg, err, msg)
	}
	return stdout.String(), nil
}
