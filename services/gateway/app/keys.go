package app

import (
	"context"
	"log/slog"
	"sync"

	"kubently.io/libs/authz"
	"kubently.io/libs/logging"
	"kubently.io/services/gateway/internal/auth"
)

// keyWatch holds the client API keys: the env keys alone, or a key file
// (merged with them) that it polls and whose changes it reports.
type keyWatch struct {
	env *authz.Keyring
	src *authz.FileSource // nil without a key file
	log *slog.Logger
	// onChange receives the changes of each successful reload; set
	// before run starts.
	onChange func([]authz.KeyChange)

	mu   sync.Mutex // guards prev
	prev *authz.Keyring
}

func newKeyWatch(cfg Config, env *authz.Keyring, log *slog.Logger) (*keyWatch, error) {
	w := &keyWatch{env: env, log: log}
	if cfg.APIKeysFile == "" {
		return w, nil
	}
	src, err := authz.NewFileSource(authz.FileSourceConfig{
		Path: cfg.APIKeysFile, Interval: cfg.APIKeysReload, Base: env, OnReload: w.reloaded,
	})
	if err != nil {
		return nil, err
	}
	w.src = src
	w.prev = src.Keyring()
	return w, nil
}

// lookup returns what the authenticator looks keys up in.
func (w *keyWatch) lookup() auth.KeyLookup {
	if w.src != nil {
		return w.src
	}
	return w.env
}

func (w *keyWatch) count() int {
	if w.src != nil {
		return w.src.Keyring().Len()
	}
	return w.env.Len()
}

// reloaded is the FileSource's OnReload: it runs on the polling goroutine.
func (w *keyWatch) reloaded(err error) {
	if err != nil {
		// authz errors never contain keys or hashes.
		w.log.Warn("API key file reload failed; keeping the last good keys", logging.KeyErr, err)
		return
	}
	w.mu.Lock()
	cur := w.src.Keyring()
	changes := authz.DiffKeyrings(w.prev, cur)
	w.prev = cur
	w.mu.Unlock()
	for _, c := range changes {
		w.log.Info("API key changed", "key", c.Name, "change", string(c.Kind), "role", string(c.Role))
	}
	w.log.Info("API key file reloaded", "api_keys", cur.Len(), "changes", len(changes))
	if len(changes) > 0 && w.onChange != nil {
		w.onChange(changes)
	}
}

// run polls the key file until ctx ends.
func (w *keyWatch) run(ctx context.Context) {
	if w.src != nil {
		_ = w.src.Run(ctx)
	}
}
