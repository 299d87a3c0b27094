package testkit

import (
	"fmt"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
)

// ServiceCommands are the packages of Kubently's four service binaries.
var ServiceCommands = []string{
	"kubently.io/services/gateway/cmd/gateway",
	"kubently.io/services/session/cmd/session",
	"kubently.io/services/dispatcher/cmd/dispatcher",
	"kubently.io/services/executor/cmd/executor",
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
