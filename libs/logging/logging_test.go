package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestJSONLogger(t *testing.T) {
	var buf bytes.Buffer
	log := New(Config{Service: "gateway", Level: "warn", Format: "json", Output: &buf})
	log.Info("dropped")
	log.Warn("kept", KeyCluster, "prod")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d lines; want 1 (info filtered):\n%s", len(lines), buf.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	if m["service"] != "gateway" || m["cluster"] != "prod" || m["msg"] != "kept" {
		t.Errorf("line = %v", m)
	}
}

func TestContext(t *testing.T) {
	var buf bytes.Buffer
	log := New(Config{Format: "text", Output: &buf})
	ctx := NewContext(context.Background(), log.With(KeyCorrelationID, "c-1"))
	FromContext(ctx).Info("x")
	if !strings.Contains(buf.String(), "correlation_id=c-1") {
		t.Errorf("logger from context lost its attributes: %q", buf.String())
	}
	if FromContext(context.Background()) != slog.Default() {
		t.Errorf("FromContext(empty) is not slog.Default")
	}
}

func TestRedact(t *testing.T) {
	if got := Redact("supersecret-token"); strings.Contains(got, "secret") || !strings.Contains(got, "17") {
		t.Errorf("Redact = %q", got)
	}
	if Redact("") != "" {
		t.Errorf("Redact(\"\") not empty")
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "WARN": slog.LevelWarn, "warning": slog.LevelWarn, "error": slog.LevelError, "": slog.LevelInfo, "x": slog.LevelInfo} {
		if got := ParseLevel(in); got != want {
			t.Errorf("ParseLevel(%q) = %v; want %v", in, got, want)
		}
	}
}
