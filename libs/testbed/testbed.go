package testbed

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kubently.io/libs/testkit"
)

const (
	// EnvKubeconfig names the environment variable that, when set, makes
	// Kubeconfig return its value instead of building and starting the local
	// testbed. The file must exist.
	EnvKubeconfig = "KUBENTLY_TEST_KUBECONFIG"

	// EnvViewerKubeconfig names the environment variable that, when set, makes
	// ViewerKubeconfig return its value. When it is unset but EnvKubeconfig is
	// set, ViewerKubeconfig uses viewer.kubeconfig next to that file.
	EnvViewerKubeconfig = "KUBENTLY_TEST_VIEWER_KUBECONFIG"

	// NodeName is the name of the fake node the testbed registers. kwok keeps it
	// Ready and runs every pod scheduled to it.
	NodeName = "kwok-node-0"

	// ViewerServiceAccount is the ServiceAccount (in ViewerNamespace) behind
	// ViewerKubeconfig. It is bound to the built-in "view" ClusterRole.
	ViewerServiceAccount = "kubently-viewer"

	// ViewerNamespace is the namespace of ViewerServiceAccount.
	ViewerNamespace = "kube-system"

	// SeedNamespace is the small namespace Seed fills: Deployment and
	// Service "web" (2 Running pods) and pod "crashy" in CrashLoopBackOff,
	// all with logs.
	SeedNamespace = "demo"

	// ShopNamespace is the broken application Seed also creates: healthy
	// deploy/frontend, deploy/cart in CrashLoopBackOff, deploy/payments in
	// ImagePullBackOff, deploy/recommender OOMKilled, deploy/search Pending
	// (unschedulable), deploy/checkout stuck mid-rollout at revision 3 and
	// svc/inventory without endpoints. Seed also fills the namespaces
	// "data" (StatefulSet, Backup custom resources), "monitoring"
	// (DaemonSet) and "batch" (a failed Job, a CronJob). docs/testbed.md
	// lists every object; the states are reached when Seed returns.
	ShopNamespace = "shop"
)

// script is the testbed script, relative to the repository root.
const script = "hack/testbed/testbed.sh"

// outputTail is how many lines of script output a failure reports.
const outputTail = 40

var (
	errNoRepoRoot = errors.New("repository root not found")
	errScript     = errors.New("testbed.sh failed")
)

// step runs one testbed.sh phase at most once per process and remembers the
// outcome for every later caller.
type step struct {
	once sync.Once
	env  map[string]string // output of `testbed.sh env`, set by the build step
	err  error
}

var (
	built  step
	up     step
	seeded step
)

// Kubeconfig returns the path of an admin kubeconfig (user "admin" in
// system:masters) for a running cluster. It returns $KUBENTLY_TEST_KUBECONFIG
// when that is set; otherwise it builds and starts the local testbed if needed
// and returns $TESTBED_DIR/kubeconfig. It never stops the cluster. Any failure
// ends the test with tb.Fatalf and the tail of the script output.
func Kubeconfig(tb testing.TB) string {
	tb.Helper()
	skipShort(tb)
	if p := os.Getenv(EnvKubeconfig); p != "" {
		return mustExist(tb, EnvKubeconfig, p)
	}
	return ensureUp(tb)["KUBECONFIG"]
}

// ViewerKubeconfig returns the path of a kubeconfig for ServiceAccount
// ViewerServiceAccount, which may get, list, watch and read logs but gets
// Forbidden for any write. Resolution and failure handling are as for
// Kubeconfig, using EnvViewerKubeconfig.
func ViewerKubeconfig(tb testing.TB) string {
	tb.Helper()
	skipShort(tb)
	if p := os.Getenv(EnvViewerKubeconfig); p != "" {
		return mustExist(tb, EnvViewerKubeconfig, p)
	}
	if p := os.Getenv(EnvKubeconfig); p != "" {
		return mustExist(tb, EnvKubeconfig+" (its sibling viewer.kubeconfig)",
			filepath.Join(filepath.Dir(p), "viewer.kubeconfig"))
	}
	return ensureUp(tb)["KUBENTLY_TEST_VIEWER_KUBECONFIG"]
}

// Seed applies the seed (namespaces SeedNamespace, ShopNamespace, data,
// monitoring and batch) once per process, after making sure the cluster is
// up, and returns when every seeded state is reached. The seed is
// idempotent, so several processes may apply it; once complete, applying it
// again only checks a fingerprint. When EnvKubeconfig is set the seed is
// applied to that cluster; its pod logs only show when that cluster is a
// testbed on this machine.
func Seed(tb testing.TB) {
	tb.Helper()
	skipShort(tb)
	extra := []string{}
	if p := os.Getenv(EnvKubeconfig); p != "" {
		extra = append(extra, "TESTBED_KUBECONFIG="+mustExist(tb, EnvKubeconfig, p))
		ensureBuilt(tb)
	} else {
		ensureUp(tb)
	}
	seeded.once.Do(func() {
		root, err := repoRoot()
		if err == nil {
			_, err = run(root, extra, "seed")
		}
		seeded.err = err
	})
	if seeded.err != nil {
		tb.Fatalf("testbed: seed: %v", seeded.err)
	}
}

// BinDir returns the directory holding the testbed binaries (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok),
// building them first if needed. It also works as KUBEBUILDER_ASSETS for envtest.
func BinDir(tb testing.TB) string {
	tb.Helper()
	skipShort(tb)
	return ensureBuilt(tb)["TESTBED_BIN"]
}

// ensureBuilt runs `testbed.sh build` and reads `testbed.sh env`, once.
func ensureBuilt(tb testing.TB) map[string]string {
	tb.Helper()
	built.once.Do(func() {
		start := time.Now()
		root, err := repoRoot()
		if err != nil {
			built.err = err
			return
		}
		if _, err := run(root, nil, "build"); err != nil {
			built.err = err
			return
		}
		out, err := run(root, nil, "env")
		if err != nil {
			built.err = err
			return
		}
		built.env = parseEnv(out)
		tb.Logf("testbed: binaries ready in %v (%s)", time.Since(start).Round(time.Millisecond), built.env["TESTBED_BIN"])
	})
	if built.err != nil {
		tb.Fatalf("testbed: build: %v", built.err)
	}
	return built.env
}

// ensureUp runs `testbed.sh up` once, after ensureBuilt.
func ensureUp(tb testing.TB) map[string]string {
	tb.Helper()
	env := ensureBuilt(tb)
	up.once.Do(func() {
		start := time.Now()
		root, err := repoRoot()
		if err == nil {
			_, err = run(root, nil, "up")
		}
		up.err = err
		if err == nil {
			tb.Logf("testbed: up in %v (KUBECONFIG=%s)", time.Since(start).Round(time.Millisecond), env["KUBECONFIG"])
		}
	})
	if up.err != nil {
		tb.Fatalf("testbed: up: %v", up.err)
	}
	return env
}

// run executes testbed.sh with args from the repository root and returns its
// stdout. On failure the error carries the tail of stdout and stderr combined.
func run(root string, extraEnv []string, args ...string) (string, error) {
	var stdout bytes.Buffer
	var combined testkit.SyncBuffer
	cmd := exec.Command(filepath.Join(root, script), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), extraEnv...)
	cmd.Stdout = io.MultiWriter(&stdout, &combined)
	cmd.Stderr = &combined
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: %s %s: %w\n%s", errScript, script, strings.Join(args, " "), err, testkit.Tail(combined.String(), outputTail))
	}
	return stdout.String(), nil
}

// repoRoot walks up from the working directory (a package directory under go
// test) to the directory that contains hack/testbed/testbed.sh.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("%w: %w", errNoRepoRoot, err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, script)); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: no %s above the working directory; set %s to use an existing cluster", errNoRepoRoot, script, EnvKubeconfig)
		}
		dir = parent
	}
}

// parseEnv reads the `export NAME='value'` lines printed by `testbed.sh env`.
// Lines in any other form (such as the PATH line) are skipped.
func parseEnv(out string) map[string]string {
	env := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		name, value, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok || len(value) < 2 || value[0] != '\'' || value[len(value)-1] != '\'' {
			continue
		}
		env[name] = value[1 : len(value)-1]
	}
	return env
}

func mustExist(tb testing.TB, what, path string) string {
	tb.Helper()
	if _, err := os.Stat(path); err != nil {
		tb.Fatalf("testbed: %s: %v", what, err)
	}
	return path
}

// skipShort skips tb in -short mode: `make test-unit` (go test -short)
// runs without a testbed, so every test that needs one skips there,
// whether or not it checks testing.Short itself.
func skipShort(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs the testbed (a real kube-apiserver); skipped with -short (make test-unit)")
	}
}
