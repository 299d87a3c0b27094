package natsutil

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
)

// ErrBadAuth is wrapped by every error ConnConfig.Validate returns.
var ErrBadAuth = errors.New("natsutil: invalid NATS credentials or TLS settings")

// ConnConfig is how a service proves who it is to NATS and how it checks
// the server: at most one of a JWT user credentials file, an NKey seed
// file or a user and password, plus optional TLS. Embed it in a service's
// Config next to config.Platform. The zero value connects anonymously
// without TLS (only for a server with no authorization, such as an
// unconfigured local one).
type ConnConfig struct {
	// CredsFile is a JWT user credentials file (`nsc generate creds`);
	// empty means none.
	CredsFile string `env:"KUBENTLY_NATS_CREDS_FILE"`
	// NKeyFile is a file holding a user NKey seed (SU...); empty means
	// none.
	NKeyFile string `env:"KUBENTLY_NATS_NKEY_FILE"`
	// User is the NATS user name for user/password authentication; empty
	// means none (a user in KUBENTLY_NATS_URL still applies).
	User string `env:"KUBENTLY_NATS_USER"`
	// Password is the password of User; required with User. Never logged.
	Password string `env:"KUBENTLY_NATS_PASSWORD"`
	// TLSCA is a PEM file of CAs the server's certificate must chain to;
	// empty means the system roots (when the URL is tls://). Setting it
	// turns TLS on.
	TLSCA string `env:"KUBENTLY_NATS_TLS_CA"`
	// TLSCert is a PEM client certificate for mutual TLS (with TLSKey);
	// empty means none.
	TLSCert string `env:"KUBENTLY_NATS_TLS_CERT"`
	// TLSKey is the PEM private key of TLSCert; required with TLSCert.
	TLSKey string `env:"KUBENTLY_NATS_TLS_KEY"`
}

// Validate checks that the files exist and the settings combine: one
// authentication method at most, a password only with a user, a client
// key only with a client certificate. It never puts the password in an
// error.
func (c ConnConfig) Validate() error {
	var errs []error
	methods := 0
	for _, set := range []bool{c.CredsFile != "", c.NKeyFile != "", c.User != ""} {
		if set {
			methods++
		}
	}
	if methods > 1 {
		errs = append(errs, fmt.Errorf("%w: set one of KUBENTLY_NATS_CREDS_FILE, KUBENTLY_NATS_NKEY_FILE and KUBENTLY_NATS_USER", ErrBadAuth))
	}
	if c.User != "" && c.Password == "" {
		errs = append(errs, fmt.Errorf("%w: KUBENTLY_NATS_PASSWORD is required with KUBENTLY_NATS_USER", ErrBadAuth))
	}
	if c.Password != "" && c.User == "" {
		errs = append(errs, fmt.Errorf("%w: KUBENTLY_NATS_PASSWORD is set without KUBENTLY_NATS_USER", ErrBadAuth))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, fmt.Errorf("%w: KUBENTLY_NATS_TLS_CERT and KUBENTLY_NATS_TLS_KEY go together", ErrBadAuth))
	}
	for _, f := range []struct{ env, path string }{
		{"KUBENTLY_NATS_CREDS_FILE", c.CredsFile}, {"KUBENTLY_NATS_NKEY_FILE", c.NKeyFile},
		{"KUBENTLY_NATS_TLS_CA", c.TLSCA}, {"KUBENTLY_NATS_TLS_CERT", c.TLSCert}, {"KUBENTLY_NATS_TLS_KEY", c.TLSKey},
	} {
		if f.path == "" {
			continue
		}
		if st, err := os.Stat(f.path); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %w", ErrBadAuth, f.env, err))
		} else if st.IsDir() {
			errs = append(errs, fmt.Errorf("%w: %s: %s is a directory", ErrBadAuth, f.env, f.path))
		}
	}
	return errors.Join(errs...)
}

// Authenticated reports whether c names a credential.
func (c ConnConfig) Authenticated() bool {
	return c.CredsFile != "" || c.NKeyFile != "" || c.User != ""
}

// Options returns the nats.Options that apply c. It reads the TLS files
// now, so a bad certificate is reported before dialling.
func (c ConnConfig) Options() ([]nats.Option, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var opts []nats.Option
	switch {
	case c.CredsFile != "":
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	case c.NKeyFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: KUBENTLY_NATS_NKEY_FILE: %w", ErrBadAuth, err)
		}
		opts = append(opts, o)
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	if c.TLSCA != "" || c.TLSCert != "" {
		tc, err := c.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(tc))
	}
	return opts, nil
}

func (c ConnConfig) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.TLSCA != "" {
		pem, err := os.ReadFile(c.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("%w: KUBENTLY_NATS_TLS_CA: %w", ErrBadAuth, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: KUBENTLY_NATS_TLS_CA: no PEM certificate in %s", ErrBadAuth, c.TLSCA)
		}
		tc.RootCAs = pool
	}
	if c.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("%w: KUBENTLY_NATS_TLS_CERT/KEY: %w", ErrBadAuth, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
