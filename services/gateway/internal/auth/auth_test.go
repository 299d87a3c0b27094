package auth

import (
	"errors"
	"testing"
)

func TestParseKeys(t *testing.T) {
	tests := []struct {
		name    string
		entries []string
		wantErr bool
	}{
		{"ok", []string{"alice:0123456789abcdef", "bob:fedcba9876543210"}, false},
		{"no colon", []string{"alice0123456789abcdef"}, true},
		{"empty key", []string{"alice:"}, true},
		{"short key", []string{"alice:short"}, true},
		{"bad name", []string{"Alice!:0123456789abcdef"}, true},
		{"duplicate", []string{"a:0123456789abcdef", "a:0123456789abcdeg"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseKeys(tt.entries)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got err %v; want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrBadKeyConfig) {
				t.Errorf("got %v; want ErrBadKeyConfig", err)
			}
		})
	}
}

func TestIdentify(t *testing.T) {
	k, err := ParseKeys([]string{"alice:0123456789abcdef", "bob:fedcba9876543210"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key, want string
		err       error
	}{
		{"0123456789abcdef", "alice", nil},
		{"fedcba9876543210", "bob", nil},
		{"", "", ErrNoCredentials},
		{"0123456789abcdeF", "", ErrBadCredentials},
	}
	for _, tt := range tests {
		got, err := k.Identify(tt.key)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("Identify(%q) = %q, %v; want %q, %v", tt.key, got, err, tt.want, tt.err)
		}
	}
}

func TestTokenMatches(t *testing.T) {
	h := HashToken("tok-0123456789abcdef")
	if !TokenMatches("tok-0123456789abcdef", h) {
		t.Errorf("TokenMatches(right token) = false; want true")
	}
	for _, bad := range []string{"", "tok-0123456789abcdeX"} {
		if TokenMatches(bad, h) {
			t.Errorf("TokenMatches(%q) = true; want false", bad)
		}
	}
	if TokenMatches("x", "") {
		t.Errorf("TokenMatches with empty hash = true; want false")
	}
}
