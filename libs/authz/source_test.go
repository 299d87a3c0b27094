package authz

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"kubently.io/libs/testkit"
)

func keyFileYAML(entries ...string) string {
	s := "apiVersion: kubently.io/v1\nkind: APIKeys\nkeys:\n"
	for _, e := range entries {
		s += "- " + e + "\n"
	}
	return s
}

func adminEntry(name, key string) string {
	return fmt.Sprintf("{name: %s, role: admin, sha256: %q}", name, HashKey(key))
}

// writeAtomic replaces path the way kubelet updates a Secret volume: write
// elsewhere, then swap a symlink.
func writeAtomic(t testing.TB, path, content string) {
	t.Helper()
	dir := filepath.Dir(path)
	tmp, err := os.MkdirTemp(dir, "..data_")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, filepath.Base(path)), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(link)
	if err := os.Symlink(filepath.Base(tmp), link); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(link, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); err != nil {
		if err := os.Symlink(filepath.Join("..data", filepath.Base(path)), path); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFileSourceReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.yaml")
	writeAtomic(t, path, keyFileYAML(adminEntry("alice", aliceKey)))
	var mu sync.Mutex
	var reports []error
	base, err := ParseEnvKeys([]string{"seed:" + "seed-key-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	src, err := NewFileSource(FileSourceConfig{Path: path, Base: base, OnReload: func(err error) {
		mu.Lock()
		defer mu.Unlock()
		reports = append(reports, err)
	}})
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(key, want string) {
		t.Helper()
		id, ok := src.Lookup(key)
		if ok != (want != "") || id.Name != want {
			t.Errorf("Lookup(%.8s…) = %q, %v; want %q", key, id.Name, ok, want)
		}
	}
	lookup(aliceKey, "alice")
	lookup("seed-key-0123456789", "seed")
	lookup(bobKey, "")

	// Unchanged file: no reload.
	if swapped, err := src.Reload(); swapped || err != nil {
		t.Fatalf("Reload unchanged = %v, %v; want false, nil", swapped, err)
	}

	// New key added: works without restart; removed key stops working.
	writeAtomic(t, path, keyFileYAML(adminEntry("bob", bobKey)))
	if swapped, err := src.Reload(); !swapped || err != nil {
		t.Fatalf("Reload = %v, %v; want true, nil", swapped, err)
	}
	lookup(bobKey, "bob")
	lookup(aliceKey, "")
	lookup("seed-key-0123456789", "seed")

	// Invalid file: old keyring stays, error reported, counted once.
	writeAtomic(t, path, keyFileYAML("{name: bob, role: root, key: "+bobKey+"}"))
	for range 3 {
		if _, err := src.Reload(); !errors.Is(err, ErrInvalidRole) {
			t.Fatalf("Reload invalid = %v; want ErrInvalidRole", err)
		}
	}
	lookup(bobKey, "bob")
	if err := src.LastError(); !errors.Is(err, ErrKeyConfig) {
		t.Errorf("LastError = %v; want ErrKeyConfig", err)
	}
	if st := src.Stats(); st.Errors != 1 || st.Reloads != 2 || st.Healthy {
		t.Errorf("Stats = %+v; want 1 error, 2 reloads, unhealthy", st)
	}

	// Conflict with Base: also an error, old keyring stays.
	writeAtomic(t, path, keyFileYAML(adminEntry("seed", aliceKey)))
	if _, err := src.Reload(); !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("Reload conflicting = %v; want ErrDuplicateKey", err)
	}
	lookup(bobKey, "bob")

	// Deleted file: old keyring stays, error reported.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Reload(); !errors.Is(err, ErrKeyFileRead) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Reload deleted = %v; want ErrKeyFileRead wrapping ErrNotExist", err)
	}
	lookup(bobKey, "bob")

	// File back: recovers.
	writeAtomic(t, path, keyFileYAML(adminEntry("carol", aliceKey)))
	if swapped, err := src.Reload(); !swapped || err != nil {
		t.Fatalf("Reload recovered = %v, %v; want true, nil", swapped, err)
	}
	lookup(aliceKey, "carol")
	if err := src.LastError(); err != nil {
		t.Errorf("LastError after recovery = %v; want nil", err)
	}
	st := src.Stats()
	if st.Reloads != 3 || st.Errors != 3 || !st.Healthy || st.Keys != 2 {
		t.Errorf("Stats = %+v; want 3 reloads, 3 errors, healthy, 2 keys", st)
	}
	mu.Lock()
	defer mu.Unlock()
	var nils, errs int
	for _, e := range reports {
		if e == nil {
			nils++
		} else {
			errs++
		}
	}
	if nils != 2 || errs != 3 {
		t.Errorf("OnReload got %d successes, %d errors; want 2, 3", nils, errs)
	}
}

func TestFileSourceRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.yaml")
	if err := os.WriteFile(path, []byte(keyFileYAML(adminEntry("alice", aliceKey))), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := NewFileSource(FileSourceConfig{Path: path, Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()

	// Concurrent lookups while reloading (for -race).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				src.Lookup(aliceKey)
				_ = src.Stats()
			}
		}
	})

	// In-place rewrite (same size, maybe same mtime): content polling sees it.
	if err := os.WriteFile(path, []byte(keyFileYAML(adminEntry("bobby", bobKey))), 0o600); err != nil {
		t.Fatal(err)
	}
	testkit.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if _, ok := src.Lookup(bobKey); !ok {
			return errors.New("new key not loaded yet")
		}
		return nil
	})
	close(stop)
	wg.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v; want nil", err)
	}
}

func TestNewFileSourceErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("kind: nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  FileSourceConfig
		want error
	}{
		{"no path", FileSourceConfig{}, ErrKeyConfig},
		{"negative interval", FileSourceConfig{Path: bad, Interval: -1}, ErrKeyConfig},
		{"missing", FileSourceConfig{Path: filepath.Join(dir, "none")}, ErrKeyFileRead},
		{"invalid", FileSourceConfig{Path: bad}, ErrKeyConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewFileSource(tt.cfg); !errors.Is(err, tt.want) {
				t.Errorf("NewFileSource = %v; want %v", err, tt.want)
			}
		})
	}
}
