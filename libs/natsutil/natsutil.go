package natsutil

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// ErrNotReady is returned when an embedded server does not become ready.
var ErrNotReady = errors.New("natsutil: embedded server not ready")

// Connect dials url as client name, retrying the first connection until ctx
// ends, then reconnecting forever. State changes are logged on log. extra
// options (ConnConfig.Options, RoleOption) apply after the defaults.
func Connect(ctx context.Context, url, name string, log *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	if log == nil {
		return nil, errors.New("natsutil: nil logger")
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.RetryOnFailedConnect(false),
		nats.PingInterval(5 * time.Second),
		nats.MaxPingsOutstanding(3),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("nats reconnected", "url", c.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Error("nats async error", "err", err, "subject", subj)
		}),
	}
	opts = append(opts, extra...)
	backoff := 100 * time.Millisecond
	for {
		nc, err := nats.Connect(url, opts...)
		if err == nil {
			return nc, nil
		}
		if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrAuthRevoked) {
			// Refused credentials do not get better by waiting.
			return nil, fmt.Errorf("natsutil: connect %s: %w (check KUBENTLY_NATS_CREDS_FILE, _NKEY_FILE or _USER/_PASSWORD)", redact(url), err)
		}
		log.Warn("nats connect failed; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("natsutil: connect %s: %w (last error: %w)", redact(url), ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// EmbeddedConfig configures RunEmbedded.
type EmbeddedConfig struct {
	// Host is the listen address; empty means 127.0.0.1.
	Host string
	// Port is the client port; 0 means 4222, -1 a random free port.
	Port int
	// StoreDir enables JetStream with file storage in this directory;
	// empty disables JetStream.
	StoreDir string
	// Debug turns on the server's own logging.
	Debug bool
	// Users turns authorization on: only these users may connect, each
	// with its role's permissions (PermissionsFor). Empty means anyone
	// may connect and do anything (a bare local server).
	Users []EmbeddedUser
}

// EmbeddedUser is one user of an embedded server.
type EmbeddedUser struct {
	// User is the user name.
	User string
	// Password is its password.
	Password string
	// Role selects its permissions. Empty means no restriction: for test
	// harnesses that play several roles in one connection, never for a
	// service.
	Role Role
}

// RunEmbedded starts an in-process NATS server and waits until it accepts
// connections. Call Shutdown and WaitForShutdown on the result to stop it.
func RunEmbedded(cfg EmbeddedConfig) (*server.Server, error) {
	opts := &server.Options{
		Host:       cfg.Host,
		Port:       cfg.Port,
		NoSigs:     true,
		NoLog:      !cfg.Debug,
		MaxPayload: 8 << 20,
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Port == 0 {
		opts.Port = 4222
	}
	if cfg.StoreDir != "" {
		opts.JetStream = true
		opts.StoreDir = cfg.StoreDir
	}
	for _, u := range cfg.Users {
		su := &server.User{Username: u.User, Password: u.Password}
		if u.Role != "" {
			p, err := PermissionsFor(u.Role)
			if err != nil {
				return nil, err
			}
			su.Permissions = p.server()
		}
		opts.Users = append(opts.Users, su)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsutil: new server: %w", err)
	}
	if cfg.Debug {
		s.ConfigureLogger()
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, ErrNotReady
	}
	return s, nil
}

func redact(url string) string {
	// nats URLs may embed user:password@; never log them.
	for i := 0; i+3 <= len(url); i++ {
		if url[i:i+3] == "://" {
			rest := url[i+3:]
			for j := 0; j < len(rest); j++ {
				if rest[j] == '@' {
					return url[:i+3] + "***@" + rest[j+1:]
				}
				if rest[j] == '/' {
					break
				}
			}
			break
		}
	}
	return url
}

// OnReconnect calls f (on the connection's callback goroutine, so f must
// not block) each time nc reconnects after a disconnect, with the time the
// connection dropped. It chains onto the handlers nc already has, so call
// it at start-up, before traffic, as often as needed.
func OnReconnect(nc *nats.Conn, f func(disconnectedAt time.Time)) {
	var (
		mu   sync.Mutex
		lost time.Time
	)
	prevDisc := nc.DisconnectErrHandler()
	nc.SetDisconnectErrHandler(func(c *nats.Conn, err error) {
		mu.Lock()
		if lost.IsZero() {
			lost = time.Now()
		}
		mu.Unlock()
		if prevDisc != nil {
			prevDisc(c, err)
		}
	})
	prevRe := nc.ReconnectHandler()
	nc.SetReconnectHandler(func(c *nats.Conn) {
		if prevRe != nil {
			prevRe(c)
		}
		mu.Lock()
		at := lost
		lost = time.Time{}
		mu.Unlock()
		if at.IsZero() {
			at = time.Now()
		}
		f(at)
	})
}
