package svcmain

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"log/slog"
	"strings"
	"testing"
)

type testConfig struct {
	Port     int    `env:"X_PORT" default:"8080"`
	LogLevel string `env:"X_LOG_LEVEL" default:"info"`
	Version  string
}

func TestExec(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		runErr   error
		wantCode int
		wantPort int
		wantOut  string
	}{
		{name: "env and flags", env: map[string]string{"X_PORT": "9"}, args: []string{"-port", "10"}, wantCode: 0, wantPort: 10},
		{name: "env only", env: map[string]string{"X_PORT": "9"}, wantCode: 0, wantPort: 9},
		{name: "bad env exits 2 with the service's name", env: map[string]string{"X_PORT": "nine"}, wantCode: 2, wantOut: "svc: "},
		{name: "bad flag exits 2", args: []string{"-nope"}, wantCode: 2, wantOut: "flag provided but not defined"},
		{name: "run fails exits 1 and logs why", runErr: errors.New("boom"), wantCode: 1, wantPort: 8080, wantOut: `"msg":"svc service failed"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg testConfig
			var stderr bytes.Buffer
			ran := false
			code := Exec(context.Background(), Spec{
				Name: "svc", Title: "svc service", Config: &cfg,
				Flags: func(fs *flag.FlagSet) {
					cfg.Version = "v1"
					fs.IntVar(&cfg.Port, "port", cfg.Port, "port")
				},
				Logging: func() (string, string) { return cfg.LogLevel, "json" },
				Run: func(_ context.Context, log *slog.Logger) error {
					ran = true
					if log == nil {
						t.Error("Run got a nil logger")
					}
					return tt.runErr
				},
			}, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }, tt.args, &stderr)
			if code != tt.wantCode {
				t.Fatalf("code = %d; want %d (stderr %q)", code, tt.wantCode, stderr.String())
			}
			if ran != (code != 2) {
				t.Errorf("Run ran = %v with code %d", ran, code)
			}
			if ran && (cfg.Port != tt.wantPort || cfg.Version != "v1") {
				t.Errorf("config = %+v; want port %d, version v1", cfg, tt.wantPort)
			}
			if !strings.Contains(stderr.String(), tt.wantOut) {
				t.Errorf("stderr = %q; want it to contain %q", stderr.String(), tt.wantOut)
			}
		})
	}
}
