package sensitive

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestName(t *testing.T) {
	for name, want := range map[string]bool{
		"DB_PASS": true, "PGPASS": true, "PGPASSWORD": true, "JWT_SIGNING_KEY": true, "STRIPE_SK": true,
		"password": true, "db-password": true, "dbPassword": true, "clientSecret": true, "X-Api-Key": true,
		"spring.datasource.password": true, "AWS_SECRET_ACCESS_KEY": true, "SECRET_KEY_BASE": true,
		"requirepass": true, "auth": true, "AUTHTOKEN": true,
		"AUTHOR": false, "OAUTH_CALLBACK_URL": false, "PASSWORD_MIN_LENGTH": false, "SECRET_NAME": false,
		"TOKEN_URL": false, "DB_PASSWORD_FILE": false, "AUTH_ENABLED": false, "PUBLIC_KEY": false,
		"CACHE_KEY": false, "KEY": false, "TOKENIZER_MODEL": false, "BYPASS_CACHE": false, "": false,
		"namespace": false, "selector": false, "AWS_ACCESS_KEY_ID": false,
	} {
		if got := Name(name); got != want {
			t.Errorf("Name(%q) = %v; want %v", name, got, want)
		}
	}
}

func TestHeader(t *testing.T) {
	for name, want := range map[string]bool{
		"Authorization": true, "authorization": true, "Cookie": true, "X-Api-Key": true, "X-Auth-Token": true,
		"Private-Token": true, "Content-Type": false, "X-Request-Id": false, "Host": false,
	} {
		if got := Header(name); got != want {
			t.Errorf("Header(%q) = %v; want %v", name, got, want)
		}
	}
}

func TestShapes(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u:p4ss@db:5432/x", "postgres://u:REDACTED@db:5432/x"},
		{"redis://:pw123456@redis:6379", "redis://:REDACTED@redis:6379"},
		{"https://example.com/path", "https://example.com/path"},
		{"host=db user=app password=s3cret dbname=x", "host=db user=app password=REDACTED dbname=x"},
		{"Server=x;Password='a b c';Database=y", "Server=x;Password='REDACTED';Database=y"},
		{"https://x/y?token=abcdef123&z=1", "https://x/y?token=REDACTED&z=1"},
		{"https://hooks.slack.com/services/T0/B0/XXXXYYYYZZZZ", "https://hooks.slack.com/services/REDACTED"},
		{"key AKIAIOSFODNN7EXAMPLE here", "key REDACTED here"},
		{"ghp_1234567890abcdefghijABCDEFGHIJ123456", "REDACTED"},
		{"xoxb-123456789012-abcdefghij", "REDACTED"},
		{"sk_live_51Habcdefghijklmnop", "REDACTED"},
		{"rk_test_51Habcdefghijklmnop", "REDACTED"},
		{"glpat-abcdefghij0123456789", "REDACTED"},
		{"AIzaSyA-1234567890abcdefghijklmnopqrstu", "REDACTED"},
		{"a eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_ b", "a REDACTED b"},
		{"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----", "REDACTED"},
		{"-----BEGIN CERTIFICATE-----\nMIIE\n-----END CERTIFICATE-----", "-----BEGIN CERTIFICATE-----\nMIIE\n-----END CERTIFICATE-----"},
		{"curl -H 'Authorization: Bearer abc123def456' http://x", "curl -H 'Authorization: Bearer REDACTED' http://x"},
		{"run --db-password=hunter22 --verbose", "run --db-password=REDACTED --verbose"},
		{"run --token abc123 --port 80", "run --token REDACTED --port 80"},
		{"run --oauth-callback https://x/cb", "run --oauth-callback https://x/cb"},
		{"basic authentication is enabled", "basic authentication is enabled"},
		{"auth=true password=false", "auth=true password=false"},
		{"short", "short"},
	}
	for _, tt := range tests {
		got, changed := Shapes(tt.in)
		if got != tt.want || changed != (tt.in != tt.want) {
			t.Errorf("Shapes(%q) = %q, %v; want %q", tt.in, got, changed, tt.want)
		}
	}
}

func TestValue(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"DB_PASSWORD", "hunter2", Mask},
		{"DB_PASSWORD", "", ""},
		{"DB_PASSWORD", "/run/secrets/db", "/run/secrets/db"},
		{"DB_PASSWORD", "$(SHARED)", "$(SHARED)"},
		{"DB_PASSWORD", "true", "true"},
		{"DATABASE_URL", "postgres://u:pw1234@h/db", "postgres://u:REDACTED@h/db"},
		{"SESSION_SALT", "Zq8v1Lm3Np5Rt7Wx9Yb2Cd4Fg6Hj0Kk", Mask},
		{"SESSION_SALT", "pepper", "pepper"},
		{"PASSWORD_MIN_LENGTH", "12", "12"},
		{"SECRET_NAME", "db-creds", "db-creds"},
		{"GREETING", "hello", "hello"},
		{"X", Mask, Mask},
	}
	for _, tt := range tests {
		if got, _ := Value(tt.name, tt.in); got != tt.want {
			t.Errorf("Value(%q, %q) = %q; want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestArgs(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"flag=value", []string{"--password=x1", "--port=80"}, []string{"--password=REDACTED", "--port=80"}},
		{"flag value", []string{"--db-password", "x1", "--port", "80"}, []string{"--db-password", "REDACTED", "--port", "80"}},
		{"single dash", []string{"-token", "abc"}, []string{"-token", "REDACTED"}},
		{"flag then flag", []string{"--token", "--verbose"}, []string{"--token", "--verbose"}},
		{"NAME=value", []string{"env", "DB_PASSWORD=abc", "PORT=80"}, []string{"env", "DB_PASSWORD=REDACTED", "PORT=80"}},
		{"URL", []string{"--url=postgres://u:pw1234@h/db"}, []string{"--url=postgres://u:REDACTED@h/db"}},
		{"script", []string{"sh", "-c", "psql postgres://u:pw1234@h/db -c 'select 1'"}, []string{"sh", "-c", "psql postgres://u:REDACTED@h/db -c 'select 1'"}},
		{"harmless", []string{"--password-file", "/run/secrets/pw", "--auth-enabled=true"}, []string{"--password-file", "/run/secrets/pw", "--auth-enabled=true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := append([]string(nil), tt.in...)
			got, changed := Args(tt.in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Args(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
			if changed != !cmp.Equal(orig, tt.want) {
				t.Errorf("Args(%q) changed = %v", tt.in, changed)
			}
			if !cmp.Equal(orig, tt.in) {
				t.Errorf("Args modified its input: %q", tt.in)
			}
		})
	}
}

// FuzzValue checks that Value never panics, never grows a value beyond
// what masking explains, and is idempotent.
func FuzzValue(f *testing.F) {
	for _, s := range []string{"postgres://u:p@h", "password=x", "eyJa.eyJb.c", "AKIAIOSFODNN7EXAMPLE", "--token x", "Bearer abc123def"} {
		f.Add("DB_URL", s)
	}
	f.Fuzz(func(t *testing.T, name, v string) {
		got, changed := Value(name, v)
		if changed == (got == v) && v != Mask {
			t.Fatalf("Value(%q, %q) = %q, changed %v: inconsistent", name, v, got, changed)
		}
		again, _ := Value(name, got)
		if strings.Count(again, Mask) < strings.Count(got, Mask) {
			t.Fatalf("Value(%q, %q) = %q; again %q lost masks", name, v, got, again)
		}
	})
}
