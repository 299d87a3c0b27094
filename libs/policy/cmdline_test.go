package policy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplitLine(t *testing.T) {
	tests := []struct {
		name string
		line string
		want []string
	}{
		{"words", "get pods", []string{"get", "pods"}},
		{"leading kubectl dropped", "kubectl get pods", []string{"get", "pods"}},
		{"quoted kubectl dropped too", "'kubectl' get pods", []string{"get", "pods"}},
		{"only the first kubectl dropped", "kubectl kubectl get", []string{"kubectl", "get"}},
		{"kubectl later is an argument", "get pods kubectl", []string{"get", "pods", "kubectl"}},
		{"blanks", " \t get  pods\t", []string{"get", "pods"}},
		{"leading and trailing line breaks are blanks", "\r\n get pods -n shop \r\n\n", []string{"get", "pods", "-n", "shop"}},
		{"newline in double quotes kept", "get \"a\nb\"", []string{"get", "a\nb"}},
		{"escaped carriage return is literal", "get a\\\rb", []string{"get", "a\rb"}},
		{"single quotes", `get pods -l 'app in (web, api)'`, []string{"get", "pods", "-l", "app in (web, api)"}},
		{"single quotes keep everything", `get '$x "y" \z |;&'`, []string{"get", `$x "y" \z |;&`}},
		{"double quotes", `get pods -o jsonpath="{.items[*].metadata.name}"`, []string{"get", "pods", "-o", "jsonpath={.items[*].metadata.name}"}},
		{"adjacent quoted parts join", `get 'a'"b"c`, []string{"get", "abc"}},
		{"empty quotes are an argument", `get '' ""`, []string{"get", "", ""}},
		{"escaped double quote", `get "a\"b"`, []string{"get", `a"b`}},
		{"escaped backslash in double quotes", `get "a\\b"`, []string{"get", `a\b`}},
		{"backslash before ordinary char in double quotes kept", `get "a\b"`, []string{"get", `a\b`}},
		{"escaped dollar in double quotes", `get "\$x"`, []string{"get", "$x"}},
		{"escaped space", `get a\ b`, []string{"get", "a b"}},
		{"escaped quote", `get \'`, []string{"get", "'"}},
		{"escaped operator is literal", `get pods \; \| \&`, []string{"get", "pods", ";", "|", "&"}},
		{"line continuation joins", "get\\\npods", []string{"getpods"}},
		{"line continuation between words starts no word", "get \\\n pods", []string{"get", "pods"}},
		{"line continuation in double quotes", "get \"a\\\nb\"", []string{"get", "ab"}},
		{"newline in single quotes kept", "get 'a\nb'", []string{"get", "a\nb"}},
		{"hash is not a comment", "get pods #x", []string{"get", "pods", "#x"}},
		{"braces and stars are literal", "get pods -o jsonpath={.items[*]}", []string{"get", "pods", "-o", "jsonpath={.items[*]}"}},
		{"equals and commas", "get pods,svc -n=shop", []string{"get", "pods,svc", "-n=shop"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitLine(tt.line)
			if err != nil {
				t.Fatalf("SplitLine(%q) = %v; want %q", tt.line, err, tt.want)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("SplitLine(%q) mismatch (-want +got):\n%s", tt.line, diff)
			}
		})
	}
}

func TestSplitLineErrors(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		wantErr string
	}{
		{"empty", "", "empty command line"},
		{"blank", " \t\n", "empty command line"},
		{"only kubectl", "kubectl", "empty command line"},
		{"unterminated single quote", "get 'pods", "unterminated ' quote"},
		{"unterminated double quote", `get "pods`, `unterminated " quote`},
		{"trailing backslash", `get pods \`, "ends with a backslash"},
		{"trailing backslash in double quotes", `get "pods \`, "ends with a backslash"},
		{"pipe", "get pods | grep x", `shell operator "|"`},
		{"semicolon", "get pods; id", `shell operator ";"`},
		{"and", "get pods && id", `shell operator "&"`},
		{"background", "get pods &", `shell operator "&"`},
		{"redirect out", "get pods >x", `shell operator ">"`},
		{"redirect in", "get pods <x", `shell operator "<"`},
		{"subshell", "(get pods)", `shell operator "("`},
		{"command substitution", "get pods $(id)", `shell operator "$"`},
		{"variable", "get pods -n $NS", `shell operator "$"`},
		{"backtick", "get pods `id`", "shell operator \"`\""},
		{"dollar in double quotes", `get pods -o "jsonpath={$.items}"`, `"$" inside double quotes`},
		{"backtick in double quotes", "get \"`id`\"", "\"`\" inside double quotes"},
		{"too long", "get " + strings.Repeat("a", MaxCommandLine), "at most"},
		{"newline between commands", "get pods\ndelete pods --all", "unquoted newline at byte 8"},
		{"newline inside a command", "get pods -n\nshop", "unquoted newline"},
		{"carriage return between commands", "get pods\rget secrets", "unquoted carriage return at byte 8"},
		{"CRLF between commands", "get pods\r\nget secrets", "unquoted carriage return"},
		{"newline after a quoted word", "get 'pods'\nx", "unquoted newline"},
		{"newline after blanks", "get pods  \n  x", "unquoted newline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitLine(tt.line)
			if err == nil {
				t.Fatalf("SplitLine(%.40q) = %q; want an error containing %q", tt.line, got, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("SplitLine(%.40q) error = %q; want it to contain %q", tt.line, err, tt.wantErr)
			}
		})
	}
}

func TestSplitLineSizeLimit(t *testing.T) {
	line := "get " + strings.Repeat("a", MaxCommandLine-4)
	if len(line) != MaxCommandLine {
		t.Fatalf("test line is %d bytes; want %d", len(line), MaxCommandLine)
	}
	if _, err := SplitLine(line); err != nil {
		t.Errorf("SplitLine of exactly MaxCommandLine bytes = %v; want nil", err)
	}
	if _, err := SplitLine(line + "a"); err == nil {
		t.Errorf("SplitLine of MaxCommandLine+1 bytes = nil error; want one")
	}
}

// quoteArg quotes s for SplitLine with single quotes.
func quoteArg(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// FuzzSplitLine checks that SplitLine never panics, that what it accepts
// is bounded and never spans two lines, and that quoting its argv and splitting again gives the same
// argv back.
func FuzzSplitLine(f *testing.F) {
	for _, c := range readCorpus(f) {
		f.Add(c.line)
	}
	for _, s := range []string{`a\ b`, `"a\"b"`, "a\\\nb", `'it'\''s'`, `"$x"`, "`id`", `""`, `\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		argv, err := SplitLine(line)
		if err != nil {
			if argv != nil {
				t.Fatalf("SplitLine(%q) = %q with error %v; want nil argv", line, argv, err)
			}
			return
		}
		if len(line) > MaxCommandLine || len(argv) == 0 {
			t.Fatalf("SplitLine(%q) accepted %d args from %d bytes", line, len(argv), len(line))
		}
		// A line break between two words joins two lines into one
		// command; without quotes or escapes it is refused.
		if !strings.ContainsAny(line, `'"\`) {
			if f := strings.FieldsFunc(line, func(r rune) bool { return r == '\n' || r == '\r' }); len(f) > 1 {
				words := 0
				for _, p := range f {
					if strings.TrimSpace(p) != "" {
						words++
					}
				}
				if words > 1 {
					t.Fatalf("SplitLine(%q) = %q: accepted words on two lines", line, argv)
				}
			}
		}
		quoted := make([]string, 0, len(argv)+1)
		quoted = append(quoted, "kubectl")
		for _, a := range argv {
			quoted = append(quoted, quoteArg(a))
		}
		again, err := SplitLine(strings.Join(quoted, " "))
		if err != nil {
			if strings.Contains(err.Error(), "at most") {
				return // quoting made it longer than the bound
			}
			t.Fatalf("SplitLine(quoted %q) = %v; want it to split", argv, err)
		}
		if diff := cmp.Diff(argv, again); diff != "" {
			t.Fatalf("SplitLine(%q) does not round-trip (-first +again):\n%s", line, diff)
		}
	})
}
