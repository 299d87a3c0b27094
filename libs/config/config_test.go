package config

import (
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type sample struct {
	Name     string        `env:"X_NAME" default:"dflt"`
	Port     int           `env:"X_PORT" default:"8080"`
	Debug    bool          `env:"X_DEBUG"`
	Timeout  time.Duration `env:"X_TIMEOUT" default:"5s"`
	Keys     []string      `env:"X_KEYS"`
	Token    string        `env:"X_TOKEN"`
	Untagged string
}

func lookup(m map[string]string) LookupFunc {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want sample
	}{
		{"defaults", nil, sample{Name: "dflt", Port: 8080, Timeout: 5 * time.Second}},
		{"set", map[string]string{"X_NAME": "a", "X_PORT": "9", "X_DEBUG": "true", "X_TIMEOUT": "1m", "X_KEYS": "a:1, b:2\nc:3"},
			sample{Name: "a", Port: 9, Debug: true, Timeout: time.Minute, Keys: []string{"a:1", "b:2", "c:3"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got sample
			if err := Load(&got, lookup(tt.env)); err != nil {
				t.Fatalf("Load: %v", err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Load mismatch (-want +got):\n%s", d)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	var s sample
	err := Load(&s, lookup(map[string]string{"X_PORT": "x", "X_TIMEOUT": "soon", "X_TOKEN": "t"}))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v; want ErrInvalid", err)
	}
	for _, want := range []string{"X_PORT", "X_TIMEOUT"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if err := Load(s, lookup(nil)); err == nil {
		t.Errorf("Load(non-pointer) = nil; want error")
	}
}

func TestSecretsRedactedInErrors(t *testing.T) {
	type sec struct {
		N int `env:"MY_TOKEN"`
	}
	var s sec
	err := Load(&s, lookup(map[string]string{"MY_TOKEN": "supersecret"}))
	if err == nil || strings.Contains(err.Error(), "supersecret") {
		t.Fatalf("got %v; want an error without the secret value", err)
	}
}

func TestBindFlags(t *testing.T) {
	p := Platform{NATSURL: "nats://env:4222", RedisURL: "redis://env:6379/0"}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	p.BindFlags(fs)
	if err := fs.Parse([]string{"--redis-url", "redis://flag:6379/1"}); err != nil {
		t.Fatal(err)
	}
	if p.NATSURL != "nats://env:4222" || p.RedisURL != "redis://flag:6379/1" {
		t.Errorf("got %+v; want env NATS URL kept and the flag's Redis URL", p)
	}
}

func TestPlatformValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Platform
		ok   bool
	}{
		{"ok", Platform{NATSURL: "nats://127.0.0.1:4222"}, true},
		{"cluster list", Platform{NATSURL: "nats://a:4222,nats://b:4222", RedisURL: "redis://r:6379/0"}, true},
		{"no nats", Platform{}, false},
		{"bad nats", Platform{NATSURL: "localhost"}, false},
		{"bad redis", Platform{NATSURL: "nats://a:1", RedisURL: "http://r"}, false},
		{"bad level", Platform{NATSURL: "nats://a:1", LogLevel: "loud"}, false},
		{"bad format", Platform{NATSURL: "nats://a:1", LogFormat: "xml"}, false},
	}
	for _, tt := range tests {
		if err := tt.p.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate = %v; want ok=%v", tt.name, err, tt.ok)
		}
	}
}
