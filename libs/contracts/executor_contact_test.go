package contracts

import (
	"strings"
	"testing"
)

func TestExecutorContactSubject(t *testing.T) {
	tests := []struct {
		name, gateway, want string
	}{
		{name: "pod name", gateway: "gw-7d4b9-x2k", want: "kubently.gateway.v1.contact.gw-7d4b9-x2k"},
		{name: "host name with dots", gateway: "gw-1.example.com", want: "kubently.gateway.v1.contact.gw-1.example.com"},
		{name: "upper case and underscore", gateway: "GW_A", want: "kubently.gateway.v1.contact.GW_A"},
		{name: "empty", gateway: ""},
		{name: "wildcard", gateway: "*"},
		{name: "full wildcard", gateway: ">"},
		{name: "wildcard token", gateway: "gw.*"},
		{name: "empty token", gateway: "gw..a"},
		{name: "leading dot", gateway: ".gw"},
		{name: "trailing dot", gateway: "gw."},
		{name: "space", gateway: "gw a"},
		{name: "too long", gateway: strings.Repeat("g", MaxGatewayNameLen+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ExecutorContactSubject(tt.gateway)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ExecutorContactSubject(%q) = %q; want an error", tt.gateway, got)
				}
				if AsError(err).Code != CodeInvalidID {
					t.Errorf("error code: got %s; want %s", AsError(err).Code, CodeInvalidID)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ExecutorContactSubject(%q) = %q, %v; want %q", tt.gateway, got, err, tt.want)
			}
		})
	}
}

func TestValidateConnID(t *testing.T) {
	if err := ValidateConnID(NewID()); err != nil {
		t.Errorf("ValidateConnID(NewID()) = %v; want nil", err)
	}
	for _, bad := range []string{"", "a.b", "a b", strings.Repeat("a", 65)} {
		if err := ValidateConnID(bad); err == nil {
			t.Errorf("ValidateConnID(%q) = nil; want an error", bad)
		}
	}
}

func TestHandOffSubject(t *testing.T) {
	tests := []struct {
		name, gateway, want string
	}{
		{name: "pod name", gateway: "gw-7d4b9-x2k", want: "kubently.gateway.v1.handoff.gw-7d4b9-x2k"},
		{name: "host name with dots", gateway: "gw-1.example.com", want: "kubently.gateway.v1.handoff.gw-1.example.com"},
		{name: "empty", gateway: ""},
		{name: "wildcard", gateway: "*"},
		{name: "full wildcard", gateway: ">"},
		{name: "wildcard token", gateway: "gw.*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := HandOffSubject(tt.gateway)
			if tt.want == "" {
				if err == nil || AsError(err).Code != CodeInvalidID {
					t.Fatalf("HandOffSubject(%q) = %q, %v; want an invalid_id error", tt.gateway, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("HandOffSubject(%q) = %q, %v; want %q", tt.gateway, got, err, tt.want)
			}
		})
	}
}
