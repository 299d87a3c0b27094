package policy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"kubently.io/libs/logging"
	"kubently.io/libs/testkit"
	"kubently.io/libs/testkit/promtest"
)

const (
	goodPolicyA = "apiVersion: kubently.io/v1\nkind: Policy\nprofiles:\n  - name: a\n    verbs: [get]\ndefaultProfile: a\n"
	goodPolicyB = "apiVersion: kubently.io/v1\nkind: Policy\nprofiles:\n  - name: b\n    verbs: [get, logs]\ndefaultProfile: b\n"
	badPolicy   = "apiVersion: kubently.io/v1\nkind: Policy\nprofiles:\n  - name: c\n    verbs: [delete]\n"
)

// writeFile writes content to path, replacing it atomically the way a
// ConfigMap update does.
func writeFile(tb testing.TB, path, content string) {
	tb.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		tb.Fatalf("write %s: %v", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatalf("rename %s: %v", tmp, err)
	}
}

// newTestSource returns a Source on path with its own registry.
func newTestSource(tb testing.TB, path string, interval time.Duration) (*Source, *prometheus.Registry) {
	tb.Helper()
	reg := prometheus.NewRegistry()
	s, err := NewSource(SourceConfig{Path: path, Interval: interval, Log: logging.Discard(), Registerer: reg})
	if err != nil {
		tb.Fatalf("NewSource: %v", err)
	}
	return s, reg
}

// wantMetric fails unless name{labels} has value want.
func wantMetric(tb testing.TB, reg *prometheus.Registry, name string, want float64, labels ...string) {
	tb.Helper()
	got, ok := promtest.Value(tb, reg, name, labels...)
	if !ok {
		tb.Errorf("metric %s%q is absent; want %v", name, labels, want)
		return
	}
	if got != want {
		tb.Errorf("metric %s%q = %v; want %v", name, labels, got, want)
	}
}

func TestNewSourceConfig(t *testing.T) {
	if _, err := NewSource(SourceConfig{}); err == nil {
		t.Errorf("NewSource without Log = nil error; want one")
	}
	if _, err := NewSource(SourceConfig{Log: logging.Discard(), Interval: -time.Second}); err == nil {
		t.Errorf("NewSource with a negative Interval = nil error; want one")
	}
	reg := prometheus.NewRegistry()
	if _, err := NewSource(SourceConfig{Log: logging.Discard(), Registerer: reg}); err != nil {
		t.Fatalf("NewSource = %v", err)
	}
	if _, err := NewSource(SourceConfig{Log: logging.Discard(), Registerer: reg}); err == nil {
		t.Errorf("NewSource registering its metrics twice = nil error; want one")
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n == 0 {
		t.Errorf("GatherAndCount = %d, %v; want metrics", n, err)
	}
}

func TestSourceNoPath(t *testing.T) {
	s, reg := newTestSource(t, "", 0)
	if s.Policy() != Default() {
		t.Errorf("Policy() = %s; want Default()", s.Policy().Hash())
	}
	if err := s.Reload(); err != nil {
		t.Errorf("Reload() = %v; want nil", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Run(ctx) // returns at once without a file
	wantMetric(t, reg, "kubently_policy_loaded", 1)
	wantMetric(t, reg, "kubently_policy_config_valid", 1)
	wantMetric(t, reg, "kubently_policy_info", 1, "hash", "builtin")
}

func TestSourceReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, path, goodPolicyA)
	s, reg := newTestSource(t, path, time.Hour)
	if got := s.Policy().Profile("x").Name(); got != "a" {
		t.Fatalf("profile = %s; want a", got)
	}
	hashA := s.Policy().Hash()
	wantMetric(t, reg, "kubently_policy_loaded", 1)
	wantMetric(t, reg, "kubently_policy_config_valid", 1)
	wantMetric(t, reg, "kubently_policy_info", 1, "hash", hashA)
	wantMetric(t, reg, "kubently_policy_reloads_total", 1, "result", "success")

	// Unchanged: nothing happens.
	if err := s.Reload(); err != nil {
		t.Fatalf("Reload(unchanged) = %v", err)
	}
	wantMetric(t, reg, "kubently_policy_reloads_total", 1, "result", "success")

	// A new good file replaces the policy.
	writeFile(t, path, goodPolicyB)
	if err := s.Reload(); err != nil {
		t.Fatalf("Reload(B) = %v", err)
	}
	if got := s.Policy().Profile("x").Name(); got != "b" {
		t.Errorf("profile after reload = %s; want b", got)
	}
	hashB := s.Policy().Hash()
	if hashB == hashA {
		t.Errorf("hash did not change on reload")
	}
	wantMetric(t, reg, "kubently_policy_reloads_total", 2, "result", "success")
	wantMetric(t, reg, "kubently_policy_info", 1, "hash", hashB)
	if _, ok := promtest.Value(t, reg, "kubently_policy_info", "hash", hashA); ok {
		t.Errorf("kubently_policy_info still has the old hash")
	}

	// An invalid file keeps the last good policy.
	writeFile(t, path, badPolicy)
	err := s.Reload()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Reload(bad) = %v; want ErrInvalid", err)
	}
	if got := s.Policy().Hash(); got != hashB {
		t.Errorf("policy after a bad file = %s; want the last good %s", got, hashB)
	}
	if d := s.Policy().Check(context.Background(), "x", []string{"logs", "web"}, nil); !d.Allowed {
		t.Errorf("last good policy no longer in force: %s", d.Message)
	}
	lastErr := s.LastError()
	if lastErr == "" || !strings.Contains(lastErr, "delete") {
		t.Errorf("LastError() = %q; want the reason naming the bad verb", lastErr)
	}
	wantMetric(t, reg, "kubently_policy_config_valid", 0)
	wantMetric(t, reg, "kubently_policy_loaded", 1)
	wantMetric(t, reg, "kubently_policy_last_error", 1, "reason", LoadErrorInvalid)
	wantMetric(t, reg, "kubently_policy_reloads_total", 1, "result", "error")

	// The same bad file again is reported once.
	if err := s.Reload(); err == nil {
		t.Errorf("Reload(bad again) = nil; want the error")
	}
	wantMetric(t, reg, "kubently_policy_reloads_total", 1, "result", "error")

	// A good file clears the error.
	writeFile(t, path, goodPolicyA)
	if err := s.Reload(); err != nil {
		t.Fatalf("Reload(A) = %v", err)
	}
	if s.LastError() != "" {
		t.Errorf("LastError() = %q after a good load; want empty", s.LastError())
	}
	if got := s.Policy().Hash(); got != hashA {
		t.Errorf("hash = %s; want %s", got, hashA)
	}
	wantMetric(t, reg, "kubently_policy_config_valid", 1)
	if _, ok := promtest.Value(t, reg, "kubently_policy_last_error", "reason", LoadErrorInvalid); ok {
		t.Errorf("kubently_policy_last_error still set after a good load")
	}

	// A deleted file keeps the last good policy too.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err == nil {
		t.Errorf("Reload(missing) = nil; want an error")
	}
	if got := s.Policy().Hash(); got != hashA {
		t.Errorf("policy after the file went away = %s; want %s", got, hashA)
	}
	wantMetric(t, reg, "kubently_policy_loaded", 1)
	wantMetric(t, reg, "kubently_policy_last_error", 1, "reason", LoadErrorRead)

	// An oversized file: its own reason; the error text never becomes a
	// label, so the series stays one.
	writeFile(t, path, "# "+strings.Repeat("x", MaxFileBytes))
	if err := s.Reload(); err == nil {
		t.Errorf("Reload(too large) = nil; want an error")
	}
	wantMetric(t, reg, "kubently_policy_last_error", 1, "reason", LoadErrorTooLarge)
	if n := testutil.CollectAndCount(s.lastError); n != 1 {
		t.Errorf("kubently_policy_last_error has %d series; want 1", n)
	}
}

func TestSourceMissingFileDeniesAll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	s, reg := newTestSource(t, path, time.Hour)
	p := s.Policy()
	if p.Available() {
		t.Fatalf("Policy().Available() = true without a file; want DenyAll")
	}
	for _, line := range []string{"get pods", "version", "api-versions", "logs web"} {
		argv, _ := SplitLine(line)
		if d := p.Check(context.Background(), "c", argv, nil); d.Allowed || d.Reason != ReasonUnavailable {
			t.Errorf("Check(%q) = %s; want %s", line, d.Reason, ReasonUnavailable)
		}
	}
	if !strings.Contains(s.LastError(), "read policy file") {
		t.Errorf("LastError() = %q; want the read error", s.LastError())
	}
	wantMetric(t, reg, "kubently_policy_loaded", 0)
	wantMetric(t, reg, "kubently_policy_config_valid", 0)
	wantMetric(t, reg, "kubently_policy_info", 1, "hash", "deny-all")

	// An invalid file does not help.
	writeFile(t, path, badPolicy)
	if err := s.Reload(); err == nil {
		t.Fatalf("Reload(bad) = nil; want an error")
	}
	if s.Policy().Available() {
		t.Errorf("a bad file made a policy available")
	}
	wantMetric(t, reg, "kubently_policy_loaded", 0)

	writeFile(t, path, goodPolicyA)
	if err := s.Reload(); err != nil {
		t.Fatalf("Reload(good) = %v", err)
	}
	if !s.Policy().Available() {
		t.Errorf("Policy() still denies all after a good file")
	}
	wantMetric(t, reg, "kubently_policy_loaded", 1)
	wantMetric(t, reg, "kubently_policy_config_valid", 1)
}

func TestSourceRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, path, goodPolicyA)
	s, _ := newTestSource(t, path, 5*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	writeFile(t, path, goodPolicyB)
	testkit.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if got := s.Policy().Profile("x").Name(); got != "b" {
			return fmt.Errorf("profile = %s; want b", got)
		}
		return nil
	})
	writeFile(t, path, badPolicy)
	testkit.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if s.LastError() == "" {
			return errors.New("bad file not seen yet")
		}
		return nil
	})
	if got := s.Policy().Profile("x").Name(); got != "b" {
		t.Errorf("profile after a bad file = %s; want b", got)
	}
}

// TestSourceConcurrent reads the policy while it is reloaded; run with
// -race.
func TestSourceConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, path, goodPolicyA)
	s, _ := newTestSource(t, path, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				p := s.Policy()
				if p == nil {
					t.Error("Policy() = nil")
					return
				}
				d := p.Check(ctx, "x", []string{"get", "pods"}, nil)
				if !d.Allowed {
					t.Errorf("get pods denied during reloads: %s", d.Message)
					return
				}
				_ = s.LastError()
			}
		}()
	}
	for i := range 50 {
		switch i % 3 {
		case 0:
			writeFile(t, path, goodPolicyB)
		case 1:
			writeFile(t, path, badPolicy)
		default:
			writeFile(t, path, goodPolicyA)
		}
		_ = s.Reload()
	}
	cancel()
	wg.Wait()
}
