package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// ServiceCommands are the packages of Kubently's four service binaries.
var ServiceCommands = []string{
	"kubently.io/services/gateway/cmd/gateway",
	"kubently.io/services/session/cmd/session",
	"kubently.io/services/dispatcher/cmd/dispatcher",
	"kubently.io/services/executor/cmd/executor",
}

// NATSServerCommand is nats-server's package: a stack of the service
// binaries runs on its own nats-server.
const NATSServerCommand = "github.com/nats-io/nats-server/v2"

// StackCommands are the packages of a whole stack's binaries: the four
// services and nats-server.
func StackCommands() []string {
	return append(slices.Clone(ServiceCommands), NATSServerCommand)
}

// MainWithBinaries is the body of a TestMain whose tests run binaries: it
// builds pkgs into a new temporary directory (named for name), sets *dir
// to it, runs m and removes the directory. It returns the exit code: m's,
// or 1 (the error on stderr) when the build failed.
func MainWithBinaries(m *testing.M, name string, dir *string, pkgs ...string) int {
	d, err := os.MkdirTemp("", "kubently-"+name+"-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(d) }()
	if err := Build(d, "", pkgs...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*dir = d
	return m.Run()
}

// majorSuffix is a module path's major version element, such as v2.
var majorSuffix = regexp.MustCompile(`^v[0-9]+$`)

// Build compiles each package (an import path, or a ./dir relative to
// workDir) into outDir with `go build`, run in workDir ("" means the
// current directory, as under go test with go.work). A binary is named for
// its package's last path element, skipping a major version suffix:
// github.com/nats-io/nats-server/v2 becomes outDir/nats-server.
func Build(outDir, workDir string, pkgs ...string) error {
	for _, pkg := range pkgs {
		cmd := exec.Command("go", "build", "-o", filepath.Join(outDir, binName(pkg)), pkg)
		cmd.Dir = workDir
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
		}
	}
	return nil
}

// binName is the name go install gives pkg's binary.
func binName(pkg string) string {
	name := path.Base(pkg)
	if majorSuffix.MatchString(name) {
		return path.Base(path.Dir(pkg))
	}
	return name
}
