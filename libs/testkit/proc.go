package testkit

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ProcConfig configures StartProc.
type ProcConfig struct {
	// Name names the process in messages and kept logs; required.
	Name string
	// Path is the binary to run; required.
	Path string
	// Args are its arguments.
	Args []string
	// Env is its whole environment (nothing is inherited); nil means an
	// empty one.
	Env []string
	// StopGrace is how long Stop waits after SIGTERM before it kills the
	// process and fails the test; zero means 15s.
	StopGrace time.Duration
	// TailLines is how many lines of output the cleanup logs when the test
	// failed; zero means 40.
	TailLines int
	// LogDir, when set, keeps the whole output at cleanup in
	// LogDir/<test name>.<Name>.log (for CI artifacts, or to study a
	// passing run).
	LogDir string
}

// Proc is a running child process whose combined output is kept.
type Proc struct {
	// Name is ProcConfig.Name.
	Name string
	// Cmd is the started command.
	Cmd *exec.Cmd
	// Out holds its stdout and stderr.
	Out *SyncBuffer

	grace time.Duration
	done  chan struct{} // closed when the process has exited
	err   error         // Wait's error, valid after done
}

// StartProc starts cfg.Path and returns at once. In t.Cleanup it stops the
// process (Stop), keeps its output in cfg.LogDir when set, and logs the
// output's tail when the test failed.
func StartProc(tb testing.TB, cfg ProcConfig) *Proc {
	tb.Helper()
	p := &Proc{Name: cfg.Name, Out: &SyncBuffer{}, grace: cfg.StopGrace, done: make(chan struct{})}
	if p.grace == 0 {
		p.grace = 15 * time.Second
	}
	lines := cfg.TailLines
	if lines == 0 {
		lines = 40
	}
	p.Cmd = exec.Command(cfg.Path, cfg.Args...)
	p.Cmd.Env = cfg.Env
	p.Cmd.Stdout, p.Cmd.Stderr = p.Out, p.Out
	if err := p.Cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", cfg.Name, err)
	}
	go func() { p.err = p.Cmd.Wait(); close(p.done) }()
	tb.Cleanup(func() {
		p.Stop(tb)
		if cfg.LogDir != "" {
			f := filepath.Join(cfg.LogDir, strings.ReplaceAll(tb.Name(), "/", "_")+"."+cfg.Name+".log")
			if err := os.WriteFile(f, []byte(p.Out.String()), 0o644); err != nil {
				tb.Logf("keep %s output: %v", cfg.Name, err)
			}
		}
		if tb.Failed() {
			tb.Logf("--- %s output (tail):\n%s", cfg.Name, Tail(p.Out.String(), lines))
		}
	})
	return p
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit error (nil for status 0); valid once Done is
// closed.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits up to the configured grace; then it kills
// the process and fails the test. It does nothing once the process has
// exited.
func (p *Proc) Stop(tb testing.TB) {
	if p.Exited() {
		return
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(p.grace):
		_ = p.Cmd.Process.Kill()
		<-p.done
		tb.Errorf("%s did not stop within %v of SIGTERM", p.Name, p.grace)
	}
}

// Kill sends SIGKILL and waits for the exit.
func (p *Proc) Kill() {
	_ = p.Cmd.Process.Kill()
	<-p.done
}
