package authz

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultReloadInterval is how often a FileSource polls its file by default.
const DefaultReloadInterval = 5 * time.Second

// FileSourceConfig configures a FileSource.
type FileSourceConfig struct {
	// Path is the key file. Required. For a Kubernetes Secret, the path
	// of the mounted key (not of ..data); updates swap a symlink, which
	// content polling sees and inotify on the file does not.
	Path string
	// Interval between polls. Zero means DefaultReloadInterval; negative
	// is an error.
	Interval time.Duration
	// Base holds keys merged into every load (for example ParseEnvKeys of
	// KUBENTLY_API_KEYS). Nil means none. A name or key present in both is
	// a load error.
	Base *Keyring
	// OnReload, if not nil, is called after every reload attempt that saw
	// a change: with nil after a successful swap, or with the error after a
	// failed one (the previous keyring stays in use). It runs on the
	// polling goroutine and must not block. Errors never contain keys.
	OnReload func(err error)
	// Now returns the current time for Stats; nil means time.Now.
	Now func() time.Time
}

// SourceStats are a FileSource's counters, for metrics.
type SourceStats struct {
	// Reloads counts successful loads, the initial one included.
	Reloads uint64
	// Errors counts failed loads after a change of the file (a missing or
	// invalid file that stays the same counts once).
	Errors uint64
	// Keys is the number of keys in the keyring in use.
	Keys int
	// LastReload is when the keyring in use was loaded.
	LastReload time.Time
	// LastError is when the last failure happened; zero if none yet.
	LastError time.Time
	// Healthy is false while the file is missing or invalid (the last
	// good keyring is still in use).
	Healthy bool
}

// FileSource serves a Keyring loaded from a key file and reloads it when
// the file's content changes. A file that becomes invalid or disappears
// leaves the last good keyring in use and is reported via LastError,
// Stats and OnReload. Safe for concurrent use; Lookup is lock-free.
type FileSource struct {
	cfg     FileSourceConfig
	keyring atomic.Pointer[Keyring]

	mu       sync.Mutex // serialises reloads and guards the fields below
	lastSeen [sha256.Size]byte
	stats    SourceStats
	lastErr  error
}

// NewFileSource validates cfg and loads the file once; a failing first
// load is returned as the error, so a gateway does not start without keys.
func NewFileSource(cfg FileSourceConfig) (*FileSource, error) {
	if cfg.Path == "" {
		return nil, fmt.Errorf("%w: FileSourceConfig.Path is empty", ErrKeyConfig)
	}
	if cfg.Interval < 0 {
		return nil, fmt.Errorf("%w: FileSourceConfig.Interval is negative", ErrKeyConfig)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultReloadInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &FileSource{cfg: cfg}
	data, err := readKeyFile(cfg.Path)
	if err != nil {
		return nil, err
	}
	k, err := s.build(data)
	if err != nil {
		return nil, err
	}
	s.keyring.Store(k)
	s.lastSeen = sha256.Sum256(data)
	s.stats = SourceStats{Reloads: 1, Keys: k.Len(), LastReload: cfg.Now(), Healthy: true}
	return s, nil
}

func (s *FileSource) build(data []byte) (*Keyring, error) {
	k, err := ParseKeyFile(data)
	if err != nil {
		return nil, err
	}
	if s.cfg.Base == nil {
		return k, nil
	}
	return k.Merge(s.cfg.Base)
}

// Keyring returns the keyring in use.
func (s *FileSource) Keyring() *Keyring { return s.keyring.Load() }

// Lookup looks presentedKey up in the keyring in use.
func (s *FileSource) Lookup(presentedKey string) (Identity, bool) {
	return s.keyring.Load().Lookup(presentedKey)
}

// LastError returns the error of the last reload attempt, or nil if the
// file in use is the file on disk.
func (s *FileSource) LastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// Stats returns a snapshot of the counters.
func (s *FileSource) Stats() SourceStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// missingFingerprint marks "file unreadable" in lastSeen so a file that
// stays missing counts one error, not one per poll.
var missingFingerprint = sha256.Sum256([]byte("\x00authz: key file unreadable"))

// Reload reads the file once and swaps the keyring if its content changed
// and is valid. It reports whether the keyring was swapped and the error
// of a failed attempt. Run calls it on every tick; call it directly on
// SIGHUP or in tests.
func (s *FileSource) Reload() (bool, error) {
	s.mu.Lock()
	swapped, err, changed := s.reloadLocked()
	s.mu.Unlock()
	if changed && s.cfg.OnReload != nil {
		s.cfg.OnReload(err)
	}
	return swapped, err
}

func (s *FileSource) reloadLocked() (swapped bool, err error, changed bool) {
	data, err := readKeyFile(s.cfg.Path)
	fp := missingFingerprint
	if err == nil {
		fp = sha256.Sum256(data)
	}
	if fp == s.lastSeen {
		return false, s.lastErr, false
	}
	s.lastSeen = fp
	var k *Keyring
	if err == nil {
		k, err = s.build(data)
	}
	if err != nil {
		s.lastErr = err
		s.stats.Errors++
		s.stats.LastError = s.cfg.Now()
		s.stats.Healthy = false
		return false, err, true
	}
	s.keyring.Store(k)
	s.lastErr = nil
	s.stats.Reloads++
	s.stats.Keys = k.Len()
	s.stats.LastReload = s.cfg.Now()
	s.stats.Healthy = true
	return true, nil, true
}

// Run polls the file every Interval until ctx is done, then returns nil.
// Reload errors do not stop it.
func (s *FileSource) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-t.C:
			_, _ = s.Reload()
		}
	}
	return nil
}
