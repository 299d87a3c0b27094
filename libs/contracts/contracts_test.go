package contracts

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestValidateID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"a", true}, {"prod-eu-1", true}, {"0abc", true}, {strings.Repeat("a", 63), true},
		{"", false}, {"-a", false}, {"a-", false}, {"A", false}, {"a_b", false}, {"a.b", false},
		{"a/b", false}, {strings.Repeat("a", 64), false}, {"a b", false}, {"ä", false},
	}
	for _, tt := range tests {
		err := ValidateID("cluster", tt.id)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateID(%q) = %v; want ok=%v", tt.id, err, tt.ok)
		}
		if err != nil && !errors.Is(err, &Error{Code: CodeInvalidID}) {
			t.Errorf("ValidateID(%q) error %v is not invalid_id", tt.id, err)
		}
	}
}

func TestValidateTimeoutAndTTL(t *testing.T) {
	tests := []struct {
		secs int
		want time.Duration
		ok   bool
	}{
		{0, DefaultTimeout, true}, {1, time.Second, true}, {120, 2 * time.Minute, true},
		{-1, 0, false}, {121, 0, false}, {1 << 40, 0, false},
	}
	for _, tt := range tests {
		got, err := ValidateTimeout(tt.secs)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ValidateTimeout(%d) = %s, %v; want %s ok=%v", tt.secs, got, err, tt.want, tt.ok)
		}
	}
	for _, tt := range []struct {
		secs int
		ok   bool
	}{{0, true}, {60, true}, {86400, true}, {59, false}, {86401, false}, {-5, false}} {
		if _, err := ValidateSessionTTL(tt.secs); (err == nil) != tt.ok {
			t.Errorf("ValidateSessionTTL(%d) = %v; want ok=%v", tt.secs, err, tt.ok)
		}
	}
}

func TestValidateArgv(t *testing.T) {
	long := strings.Repeat("x", MaxArgLen+1)
	many := make([]string, MaxArgs+1)
	tests := []struct {
		name string
		argv []string
		ok   bool
	}{
		{"ok", []string{"get", "pods"}, true},
		{"empty", nil, false},
		{"too many", many, false},
		{"too long", []string{"get", long}, false},
		{"newline", []string{"get", "a\nb"}, false},
		{"nul", []string{"get", "a\x00b"}, false},
	}
	for _, tt := range tests {
		if err := ValidateArgv(tt.argv); (err == nil) != tt.ok {
			t.Errorf("%s: ValidateArgv = %v; want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestErrorCodesHaveStatuses(t *testing.T) {
	for code, status := range codeStatus {
		if status < 400 || status > 599 {
			t.Errorf("code %s maps to %d; want a 4xx/5xx", code, status)
		}
		if !code.Known() || code.Status() != status {
			t.Errorf("code %s: Known/Status inconsistent", code)
		}
	}
	if got := ErrorCode("made_up").Status(); got != http.StatusInternalServerError {
		t.Errorf("unknown code status = %d; want 500", got)
	}
}

func TestErrorWrapping(t *testing.T) {
	base := Errorf(CodeUnknownCluster, "cluster %q", "x")
	wrapped := fmt.Errorf("dispatch: %w", base)
	if !errors.Is(wrapped, &Error{Code: CodeUnknownCluster}) {
		t.Errorf("errors.Is through wrapping failed")
	}
	if errors.Is(wrapped, &Error{Code: CodeTimeout}) {
		t.Errorf("errors.Is matched a different code")
	}
	if got := AsError(wrapped); got != base {
		t.Errorf("AsError = %v; want the wrapped *Error", got)
	}
	if got := AsError(errors.New("boom")); got.Code != CodeInternal {
		t.Errorf("AsError(plain) code = %s; want internal", got.Code)
	}
}

func TestEnvelope(t *testing.T) {
	resp, err := NewResponse(TypeSession, Session{ID: "s1", State: SessionActive})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(resp)
	var s Session
	if err := Decode(b, TypeSession, &s); err != nil || s.ID != "s1" {
		t.Fatalf("Decode = %v, %+v", err, s)
	}
	if err := Decode(b, TypeCommandResult, &s); err == nil {
		t.Errorf("Decode with the wrong type = nil; want an error")
	}
	eb, _ := json.Marshal(ErrorResponse(Errorf(CodeSessionExpired, "gone")))
	if err := Decode(eb, TypeSession, &s); !errors.Is(err, &Error{Code: CodeSessionExpired}) {
		t.Errorf("Decode(error reply) = %v; want session_expired", err)
	}
	if err := Decode([]byte("not json"), TypeSession, &s); AsError(err).Code != CodeInternal {
		t.Errorf("Decode(garbage) = %v; want internal", err)
	}
}

func TestSubjects(t *testing.T) {
	if s, err := ResultSubject("prod", "abc123"); err != nil || s != "kubently.bridge.v1.result.prod.abc123" {
		t.Errorf("ResultSubject = %q, %v", s, err)
	}
	if s, err := BridgeRevokeSubject("prod"); err != nil || s != "kubently.bridge.v1.revoke.prod" {
		t.Errorf("BridgeRevokeSubject = %q, %v", s, err)
	}
	for _, bad := range []string{"a.b", "*", ">", "A"} {
		if _, err := BridgeNotifySubject(bad); err == nil {
			t.Errorf("BridgeNotifySubject(%q) accepted a subject-breaking id", bad)
		}
		if _, err := BridgeRevokeSubject(bad); err == nil {
			t.Errorf("BridgeRevokeSubject(%q) accepted a subject-breaking id", bad)
		}
		if _, err := ResultSubject("prod", bad+"."); err == nil {
			t.Errorf("ResultSubject accepted command id %q", bad+".")
		}
	}
}

func TestNewIDUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if seen[id] || ValidateID("session", id) != nil || ValidateCommandID(id) != nil {
			t.Fatalf("NewID %q duplicate or invalid", id)
		}
		seen[id] = true
	}
}

// TestPaths holds the path builders to the route patterns the gateway
// registers: each builder, given the pattern's parameter name, gives the
// pattern back; a parameter that is not a single segment is escaped.
func TestPaths(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"session", SessionPath(":id"), PathSession},
		{"keepalive", SessionKeepalivePath(":id"), PathSessionKeepalive},
		{"token", ClusterTokenPath(":cluster"), PathClusterToken},
		{"rotate", ClusterTokenRotatePath(":cluster"), PathClusterTokenRotate},
		{"labels", ClusterLabelsPath(":cluster"), PathClusterLabels},
		{"escaped", SessionPath("a/b"), "/v1/sessions/a%2Fb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q; want %q", tt.got, tt.want)
			}
		})
	}
}

// TestIsID: the one id shape audit records and command ids share.
func TestIsID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{NewID(), true},
		{"a", true},
		{"A_b-9", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("x", 65), false},
		{"", false},
		{"a.b", false},
		{"a:b", false},
		{"a b", false},
	}
	for _, tt := range tests {
		if got := IsID(tt.id); got != tt.want {
			t.Errorf("IsID(%q) = %v; want %v", tt.id, got, tt.want)
		}
	}
}

// TestIsIDMatchesPattern: IsID accepts exactly ^[a-zA-Z0-9_-]{1,64}$.
func TestIsIDMatchesPattern(t *testing.T) {
	re := regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	cases := []string{"", "a", "A-z_09", strings.Repeat("x", 64), strings.Repeat("x", 65), "a.b", "a b", "a\n", "ä", "a/b", "-", "_", "a\x00"}
	for c := range 256 {
		cases = append(cases, "id"+string(rune(c)), string([]byte{byte(c)}))
	}
	for _, id := range cases {
		if got, want := IsID(id), re.MatchString(id); got != want {
			t.Errorf("IsID(%q) = %v; want %v", id, got, want)
		}
	}
}
