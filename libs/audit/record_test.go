package audit_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kubently.io/libs/audit"
)

func TestRecordValidate(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name string
		edit func(*audit.Record)
		ok   bool
	}{
		{"full", func(*audit.Record) {}, true},
		{"minimal", func(r *audit.Record) {
			*r = audit.Record{Type: audit.RecordType, ID: "x", Time: time.Now(), Event: audit.EventAuthDenied}
		}, true},
		{"no type", func(r *audit.Record) { r.Type = "" }, false},
		{"other type", func(r *audit.Record) { r.Type = "io.kubently.audit.v2.record" }, false},
		{"no id", func(r *audit.Record) { r.ID = "" }, false},
		{"id with dot", func(r *audit.Record) { r.ID = "a.b" }, false},
		{"long id", func(r *audit.Record) { r.ID = long(audit.MaxIDLen + 1) }, false},
		{"zero time", func(r *audit.Record) { r.Time = time.Time{} }, false},
		{"unknown event", func(r *audit.Record) { r.Event = "command_run" }, false},
		{"no event", func(r *audit.Record) { r.Event = "" }, false},
		{"unknown outcome", func(r *audit.Record) { r.Outcome = "ok" }, false},
		{"no outcome", func(r *audit.Record) { r.Outcome = "" }, true},
		{"no cluster", func(r *audit.Record) { r.Cluster = "" }, true},
		{"cluster wildcard", func(r *audit.Record) { r.Cluster = "*" }, false},
		{"cluster dots", func(r *audit.Record) { r.Cluster = "a.b" }, false},
		{"cluster upper", func(r *audit.Record) { r.Cluster = "Prod" }, false},
		{"cluster underscore", func(r *audit.Record) { r.Cluster = audit.NoCluster }, false},
		{"cluster long", func(r *audit.Record) { r.Cluster = long(audit.MaxClusterLen + 1) }, false},
		{"argv max", func(r *audit.Record) { r.Argv = make([]string, audit.MaxArgs) }, true},
		{"argv too many", func(r *audit.Record) { r.Argv = make([]string, audit.MaxArgs+1) }, false},
		{"arg max", func(r *audit.Record) { r.Argv = []string{long(audit.MaxArgLen)} }, true},
		{"arg too long", func(r *audit.Record) { r.Argv = []string{long(audit.MaxArgLen + 1)} }, false},
		{"arg bad utf8", func(r *audit.Record) { r.Argv = []string{"\xff"} }, false},
		{"identity max", func(r *audit.Record) { r.Identity = long(audit.MaxFieldLen) }, true},
		{"identity long", func(r *audit.Record) { r.Identity = long(audit.MaxFieldLen + 1) }, false},
		{"role long", func(r *audit.Record) { r.Role = long(audit.MaxFieldLen + 1) }, false},
		{"remote long", func(r *audit.Record) { r.Remote = long(audit.MaxFieldLen + 1) }, false},
		{"namespace long", func(r *audit.Record) { r.Namespace = long(audit.MaxFieldLen + 1) }, false},
		{"target long", func(r *audit.Record) { r.Target = long(audit.MaxFieldLen + 1) }, false},
		{"reason long", func(r *audit.Record) { r.Reason = long(audit.MaxFieldLen + 1) }, false},
		{"gateway long", func(r *audit.Record) { r.Gateway = long(audit.MaxFieldLen + 1) }, false},
		{"source long", func(r *audit.Record) { r.Source = long(audit.MaxFieldLen + 1) }, false},
		{"replica long", func(r *audit.Record) { r.Replica = long(audit.MaxFieldLen + 1) }, false},
		{"message max", func(r *audit.Record) { r.Message = long(audit.MaxMessageLen) }, true},
		{"message long", func(r *audit.Record) { r.Message = long(audit.MaxMessageLen + 1) }, false},
		{"message bad utf8", func(r *audit.Record) { r.Message = "a\xc3" }, false},
		{"command id bad", func(r *audit.Record) { r.CommandID = "a/b" }, false},
		{"session id bad", func(r *audit.Record) { r.SessionID = long(audit.MaxIDLen + 1) }, false},
		{"correlation id bad", func(r *audit.Record) { r.CorrelationID = "x y" }, false},
		{"negative duration", func(r *audit.Record) { r.DurationMS = -1 }, false},
		{"negative bytes", func(r *audit.Record) { r.Bytes = -1 }, false},
		{"negative suppressed", func(r *audit.Record) { r.Suppressed = -1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := fullRecord(1)
			tt.edit(&rec)
			err := rec.Validate()
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, audit.ErrInvalid)) {
				t.Errorf("Validate = %v; want ok %v", err, tt.ok)
			}
		})
	}
}

func TestRecordClamp(t *testing.T) {
	rec := fullRecord(1)
	rec.Identity = strings.Repeat("é", audit.MaxFieldLen) // 2 bytes a rune
	rec.Message = "bad \xff utf8" + strings.Repeat("m", 2*audit.MaxMessageLen)
	rec.Argv = make([]string, audit.MaxArgs+10)
	rec.Argv[0] = strings.Repeat("a", 2*audit.MaxArgLen)
	rec.DurationMS, rec.Bytes = -5, -6
	got := rec.Clamp()
	if err := got.Validate(); err != nil {
		t.Fatalf("Validate(Clamp()) = %v; want nil", err)
	}
	if len(got.Identity) != audit.MaxFieldLen || len(got.Argv) != audit.MaxArgs ||
		!strings.HasPrefix(got.Message, "bad \uFFFD utf8") || got.DurationMS != 0 || got.Bytes != 0 {
		t.Errorf("Clamp() = identity %d bytes, %d args, message %.12q, duration %d, bytes %d",
			len(got.Identity), len(got.Argv), got.Message, got.DurationMS, got.Bytes)
	}
	if len(rec.Argv[0]) != 2*audit.MaxArgLen {
		t.Error("Clamp changed the original's argv")
	}
	full := fullRecord(1)
	if diff := cmp.Diff(full, full.Clamp()); diff != "" {
		t.Errorf("Clamp changed a valid record (-want +got):\n%s", diff)
	}
}

// TestRecordJSON pins the wire shape. UPDATE_GOLDEN=1 rewrites the file.
func TestRecordJSON(t *testing.T) {
	rec := fullRecord(1)
	rec.Time = time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	got, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "record.json")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
	var keys map[string]any
	if err := json.Unmarshal(got, &keys); err != nil {
		t.Fatal(err)
	}
	for k := range keys {
		if strings.Contains(k, "output") {
			t.Errorf("record has key %q: output is never audited", k)
		}
	}
	var back audit.Record
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rec, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestSubject(t *testing.T) {
	tests := []struct {
		name    string
		event   audit.Event
		cluster string
		want    string
		wantErr bool
	}{
		{"cluster", audit.EventCommandExecuted, "prod", "kubently.audit.v1.command_executed.prod", false},
		{"no cluster", audit.EventTokenRevoked, "", "kubently.audit.v1.token_revoked._", false},
		{"bad event", "x.y", "prod", "", true},
		{"wildcard cluster", audit.EventKeyChanged, "*", "", true},
		{"dotted cluster", audit.EventKeyChanged, "a.b", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := audit.Subject(tt.event, tt.cluster)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("Subject = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	filters := []struct {
		event   audit.Event
		cluster string
		want    string
	}{
		{"", "", audit.SubjectWildcard},
		{audit.EventAuthDenied, "", "kubently.audit.v1.auth_denied.*"},
		{"", "prod", "kubently.audit.v1.*.prod"},
		{"", audit.NoCluster, "kubently.audit.v1.*._"},
		{audit.EventSessionEnded, "dev", "kubently.audit.v1.session_ended.dev"},
	}
	for _, tt := range filters {
		if got, err := audit.FilterSubject(tt.event, tt.cluster); got != tt.want || err != nil {
			t.Errorf("FilterSubject(%q, %q) = %q, %v; want %q", tt.event, tt.cluster, got, err, tt.want)
		}
	}
}
