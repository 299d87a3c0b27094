package parity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// run is one command's result, from kubectl or from Kubently.
type run struct {
	stdout, stderr string
	exitCode       int
}

// kubectlCmd runs the real kubectl binary with one kubeconfig. It ignores
// KUBECONFIG and HOME from the environment, so the only inputs are the flags;
// cacheDir holds kubectl's discovery cache (shared by every run).
type kubectlCmd struct {
	bin, cacheDir string
}

func newKubectl(tb testing.TB, bin string) kubectlCmd {
	tb.Helper()
	return kubectlCmd{bin: bin, cacheDir: tb.TempDir()}
}

// run runs kubectl --kubeconfig=kubeconfig argv... and reports its outcome;
// the error is only for a kubectl that could not run at all.
func (k kubectlCmd) run(kubeconfig string, argv ...string) (run, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.bin, append([]string{"--kubeconfig=" + kubeconfig}, argv...)...)
	cmd.Env = append(filteredEnv(), "KUBECACHEDIR="+k.cacheDir, "HOME="+k.cacheDir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return run{}, fmt.Errorf("kubectl %s: %w", strings.Join(argv, " "), err)
		}
		code = ee.ExitCode()
	}
	return run{stdout: stdout.String(), stderr: strings.TrimRight(stderr.String(), "\n"), exitCode: code}, nil
}

// must runs kubectl and fails the test if it could not run.
func (k kubectlCmd) must(tb testing.TB, kubeconfig string, argv ...string) run {
	tb.Helper()
	r, err := k.run(kubeconfig, argv...)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// out runs kubectl and returns its trimmed stdout, failing the test on a
// non-zero exit. It is for looking up names before the cases run.
func (k kubectlCmd) out(tb testing.TB, kubeconfig string, argv ...string) string {
	tb.Helper()
	r := k.must(tb, kubeconfig, argv...)
	if r.exitCode != 0 {
		tb.Fatalf("kubectl %s: exit %d: %s", strings.Join(argv, " "), r.exitCode, r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}

func filteredEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "KUBECONFIG", "HOME", "KUBECACHEDIR":
			continue
		}
		env = append(env, kv)
	}
	return env
}
