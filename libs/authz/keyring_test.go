package authz

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	aliceKey = "alice-key-0123456789"
	bobKey   = "bob-key-0123456789ab"
)

func TestParseKeyFile(t *testing.T) {
	header := "apiVersion: kubently.io/v1\nkind: APIKeys\n"
	tests := []struct {
		name    string
		yaml    string
		wantErr error
		want    []Identity
	}{
		{
			name: "valid hash and plaintext",
			yaml: header + `keys:
  - name: alice
    role: operator
    sha256: "` + HashKey(aliceKey) + `"
    scopes:
      - clusters: ["prod-*"]
        namespaces: ["payments"]
  - name: root
    role: admin
    key: ` + bobKey + `
`,
			want: []Identity{
				{Name: "alice", Role: RoleOperator, Source: SourceAPIKey, Scopes: []Scope{{Clusters: []string{"prod-*"}, Namespaces: []string{"payments"}}}},
				{Name: "root", Role: RoleAdmin, Source: SourceAPIKey},
			},
		},
		{name: "upper-case hash", yaml: header + "keys:\n- {name: a, role: viewer, sha256: \"" + strings.ToUpper(HashKey(aliceKey)) + "\", scopes: [{clusters: ['*']}]}\n",
			want: []Identity{{Name: "a", Role: RoleViewer, Source: SourceAPIKey, Scopes: AllClusters()}}},
		{name: "empty keys", yaml: header + "keys: []\n", want: []Identity{}},
		{name: "unknown top field", yaml: header + "extra: 1\nkeys: []\n", wantErr: ErrKeyConfig},
		{name: "unknown entry field", yaml: header + "keys:\n- {name: a, role: admin, key: " + aliceKey + ", rol: x}\n", wantErr: ErrKeyConfig},
		{name: "unknown scope field", yaml: header + "keys:\n- {name: a, role: viewer, key: " + aliceKey + ", scopes: [{cluster: ['*']}]}\n", wantErr: ErrKeyConfig},
		{name: "duplicate map key", yaml: header + "keys:\n- name: a\n  name: b\n  role: admin\n  key: " + aliceKey + "\n", wantErr: ErrKeyConfig},
		{name: "wrong apiVersion", yaml: "apiVersion: v2\nkind: APIKeys\nkeys: []\n", wantErr: ErrKeyConfig},
		{name: "wrong kind", yaml: "apiVersion: kubently.io/v1\nkind: Keys\nkeys: []\n", wantErr: ErrKeyConfig},
		{name: "bad role", yaml: header + "keys:\n- {name: a, role: root, key: " + aliceKey + "}\n", wantErr: ErrInvalidRole},
		{name: "bad name", yaml: header + "keys:\n- {name: Alice, role: admin, key: " + aliceKey + "}\n", wantErr: ErrKeyConfig},
		{name: "duplicate name", yaml: header + "keys:\n- {name: a, role: admin, key: " + aliceKey + "}\n- {name: a, role: admin, key: " + bobKey + "}\n", wantErr: ErrDuplicateKey},
		{name: "duplicate key", yaml: header + "keys:\n- {name: a, role: admin, key: " + aliceKey + "}\n- {name: b, role: admin, sha256: " + HashKey(aliceKey) + "}\n", wantErr: ErrDuplicateKey},
		{name: "short hash", yaml: header + "keys:\n- {name: a, role: admin, sha256: abcd}\n", wantErr: ErrKeyConfig},
		{name: "non-hex hash", yaml: header + "keys:\n- {name: a, role: admin, sha256: " + strings.Repeat("z", 64) + "}\n", wantErr: ErrKeyConfig},
		{name: "both hash and key", yaml: header + "keys:\n- {name: a, role: admin, key: " + aliceKey + ", sha256: " + HashKey(aliceKey) + "}\n", wantErr: ErrKeyConfig},
		{name: "neither hash nor key", yaml: header + "keys:\n- {name: a, role: admin}\n", wantErr: ErrKeyConfig},
		{name: "short key", yaml: header + "keys:\n- {name: a, role: admin, key: short}\n", wantErr: ErrKeyConfig},
		{name: "admin with scopes", yaml: header + "keys:\n- {name: a, role: admin, key: " + aliceKey + ", scopes: [{clusters: ['*']}]}\n", wantErr: ErrKeyConfig},
		{name: "operator without scopes", yaml: header + "keys:\n- {name: a, role: operator, key: " + aliceKey + "}\n", wantErr: ErrKeyConfig},
		{name: "bad glob", yaml: header + "keys:\n- {name: a, role: operator, key: " + aliceKey + ", scopes: [{clusters: ['p[']}]}\n", wantErr: ErrInvalidScope},
		{name: "not yaml", yaml: "\t: :\n", wantErr: ErrKeyConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKeyFile([]byte(tt.yaml))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v; want %v", err, tt.wantErr)
				}
				for _, secret := range []string{aliceKey, bobKey, HashKey(aliceKey), strings.ToUpper(HashKey(aliceKey))} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error %q contains key material", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKeyFile: %v", err)
			}
			if diff := cmp.Diff(tt.want, k.Identities()); diff != "" {
				t.Errorf("identities (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseKeyFilePlaintextHashed(t *testing.T) {
	k, err := ParseKeyFile([]byte("apiVersion: kubently.io/v1\nkind: APIKeys\nkeys:\n- {name: root, role: admin, key: " + aliceKey + "}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := k.Lookup(aliceKey); !ok || id.Name != "root" {
		t.Errorf("Lookup(plaintext key) = %v, %v; want root", id, ok)
	}
	if strings.Contains(fmt.Sprintf("%#v", *k), aliceKey) {
		t.Error("keyring holds the plaintext key")
	}
	if want := sha256.Sum256([]byte(aliceKey)); k.entries[0].Hash != want {
		t.Error("entry hash is not sha256(key)")
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{`json: unknown field "rol"`, `json: unknown field "rol"`},
		{`json: unknown field "` + aliceKey + `"`, `json: unknown field "<redacted>"`},
		{"line 3: cannot unmarshal !!str `" + aliceKey + "`", `line 3: cannot unmarshal !!str "<redacted>"`},
	}
	for _, tt := range tests {
		if got := redact(tt.in); got != tt.want {
			t.Errorf("redact(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseEnvKeys(t *testing.T) {
	tests := []struct {
		name    string
		entries []string
		want    []Identity
		wantErr error
	}{
		{
			name:    "seed and role forms",
			entries: []string{"ops:" + aliceKey, " root : admin : " + bobKey, "ro:viewer:with:colons:0123456789"},
			want: []Identity{
				{Name: "ops", Role: RoleOperator, Source: SourceEnv, Scopes: AllClusters()},
				{Name: "ro", Role: RoleViewer, Source: SourceEnv, Scopes: AllClusters()},
				{Name: "root", Role: RoleAdmin, Source: SourceEnv},
			},
		},
		{name: "no colon", entries: []string{aliceKey}, wantErr: ErrKeyConfig},
		{name: "empty name", entries: []string{":" + aliceKey}, wantErr: ErrKeyConfig},
		{name: "bad name", entries: []string{"Ops:" + aliceKey}, wantErr: ErrKeyConfig},
		{name: "short key", entries: []string{"ops:short"}, wantErr: ErrKeyConfig},
		{name: "colon key without role", entries: []string{"ops:secret-part:0123456789abcdef"}, wantErr: ErrInvalidRole},
		{name: "bad role", entries: []string{"ops:admn:" + aliceKey}, wantErr: ErrInvalidRole},
		{name: "duplicate name", entries: []string{"ops:" + aliceKey, "ops:" + bobKey}, wantErr: ErrDuplicateKey},
		{name: "duplicate key", entries: []string{"a:" + aliceKey, "b:" + aliceKey}, wantErr: ErrDuplicateKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseEnvKeys(tt.entries)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v; want %v", err, tt.wantErr)
				}
				for _, s := range []string{aliceKey, bobKey, "secret-part", "admn"} {
					if strings.Contains(err.Error(), s) {
						t.Errorf("error %q contains key material %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, k.Identities()); diff != "" {
				t.Errorf("identities (-want +got):\n%s", diff)
			}
			if id, ok := k.Lookup("with:colons:0123456789"); tt.name == "seed and role forms" && (!ok || id.Name != "ro") {
				t.Errorf("key with colons: Lookup = %v, %v; want ro", id, ok)
			}
		})
	}
}

func TestKeyringLookup(t *testing.T) {
	env, err := ParseEnvKeys([]string{"alice:" + aliceKey, "bob:viewer:" + bobKey})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key      string
		wantName string
	}{
		{aliceKey, "alice"},
		{bobKey, "bob"},
		{aliceKey + "x", ""},
		{aliceKey[:len(aliceKey)-1], ""},
		{strings.ToUpper(aliceKey), ""},
		{"", ""},
		{HashKey(aliceKey), ""},
		{strings.Repeat("a", MaxKeyLen+1), ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%.24s", tt.key), func(t *testing.T) {
			id, ok := env.Lookup(tt.key)
			if ok != (tt.wantName != "") || id.Name != tt.wantName {
				t.Errorf("Lookup = %q, %v; want %q", id.Name, ok, tt.wantName)
			}
		})
	}
	var nilRing *Keyring
	if _, ok := nilRing.Lookup(aliceKey); ok || nilRing.Len() != 0 {
		t.Error("nil keyring matched")
	}
}

func TestKeyringMerge(t *testing.T) {
	a, _ := ParseEnvKeys([]string{"alice:" + aliceKey})
	b, _ := ParseEnvKeys([]string{"bob:" + bobKey})
	m, err := a.Merge(b, nil)
	if err != nil || m.Len() != 2 {
		t.Fatalf("Merge = %v, %v; want 2 keys", m.Len(), err)
	}
	if _, err := a.Merge(a); !errors.Is(err, ErrDuplicateKey) {
		t.Errorf("Merge with itself = %v; want ErrDuplicateKey", err)
	}
}

func TestNewKeyringRejectsOIDC(t *testing.T) {
	_, err := NewKeyring([]KeyEntry{{Identity: Identity{Name: "a", Role: RoleAdmin, Source: SourceOIDC}}})
	if !errors.Is(err, ErrKeyConfig) {
		t.Errorf("err = %v; want ErrKeyConfig", err)
	}
}

func benchKeyring(b *testing.B, n int) (*Keyring, []string) {
	b.Helper()
	entries := make([]string, n)
	keys := make([]string, n)
	for i := range n {
		keys[i] = fmt.Sprintf("key-%06d-0123456789abcdef", i)
		entries[i] = fmt.Sprintf("k%d:%s", i, keys[i])
	}
	k, err := ParseEnvKeys(entries)
	if err != nil {
		b.Fatal(err)
	}
	return k, keys
}

func BenchmarkKeyringLookup(b *testing.B) {
	k, keys := benchKeyring(b, 1000)
	b.Run("hit", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, ok := k.Lookup(keys[i%len(keys)]); !ok {
				b.Fatal("miss")
			}
			i++
		}
	})
	b.Run("miss", func(b *testing.B) {
		for b.Loop() {
			if _, ok := k.Lookup("not-a-key-0123456789"); ok {
				b.Fatal("hit")
			}
		}
	})
}

// BenchmarkLookupLinear measures the rejected alternative: a constant-time
// compare against every entry (what services/gateway/internal/auth does).
func BenchmarkLookupLinear(b *testing.B) {
	k, keys := benchKeyring(b, 1000)
	for b.Loop() {
		h := sha256.Sum256([]byte(keys[500]))
		found := -1
		for i := range k.entries {
			if subtle.ConstantTimeCompare(h[:], k.entries[i].Hash[:]) == 1 {
				found = i
			}
		}
		if found < 0 {
			b.Fatal("miss")
		}
	}
}
