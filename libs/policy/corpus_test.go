package policy

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// corpusCase is one line of testdata/corpus.txt.
type corpusCase struct {
	// lineNo is the line's number in the file, for messages.
	lineNo int
	// want is the expected reason code.
	want Reason
	// profile is "-" for the built-in Default policy, else the cluster id
	// given to testdata/profiles.yaml (each profile matches its name).
	profile string
	// line is the command line, split with SplitLine.
	line string
}

const (
	corpusFile   = "testdata/corpus.txt"
	goldenFile   = "testdata/corpus.golden"
	profilesFile = "testdata/profiles.yaml"
	seedsFile    = "testdata/seeds.txt"
)

// readSeeds reads the command lines of testdata/seeds.txt.
func readSeeds(tb testing.TB) []string {
	tb.Helper()
	data, err := os.ReadFile(seedsFile)
	if err != nil {
		tb.Fatalf("read seeds: %v", err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		tb.Fatalf("%s holds no seeds", seedsFile)
	}
	return out
}

// readCorpus reads testdata/corpus.txt.
func readCorpus(tb testing.TB) []corpusCase {
	tb.Helper()
	f, err := os.Open(corpusFile)
	if err != nil {
		tb.Fatalf("open corpus: %v", err)
	}
	tb.Cleanup(func() { f.Close() })
	var out []corpusCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), MaxCommandLine*2)
	for n := 1; sc.Scan(); n++ {
		text := sc.Text()
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		parts := strings.SplitN(text, "\t", 3)
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
			tb.Fatalf("%s:%d: want <reason>TAB<profile or ->TAB<command line>; got %q", corpusFile, n, text)
		}
		out = append(out, corpusCase{lineNo: n, want: Reason(parts[0]), profile: parts[1], line: parts[2]})
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("read corpus: %v", err)
	}
	return out
}

// loadTestPolicy parses testdata/profiles.yaml.
func loadTestPolicy(tb testing.TB) *Policy {
	tb.Helper()
	data, err := os.ReadFile(profilesFile)
	if err != nil {
		tb.Fatalf("read test policy: %v", err)
	}
	p, err := ParseFile(data)
	if err != nil {
		tb.Fatalf("ParseFile(%s) = %v; want a valid policy", profilesFile, err)
	}
	return p
}

// decideLine decides one corpus case the way the gateway does: a line
// SplitLine refuses is denied as shell_syntax.
func decideLine(pol *Policy, c corpusCase) Decision {
	argv, err := SplitLine(c.line)
	if err != nil {
		return Decision{Reason: ReasonShellSyntax, Message: err.Error()}
	}
	if c.profile == "-" {
		return Default().Check(context.Background(), "", argv, nil)
	}
	return pol.Check(context.Background(), c.profile, argv, nil)
}

// caseName names a subtest by line number and a bounded command line.
func caseName(c corpusCase) string {
	line := c.line
	if len(line) > 60 {
		line = line[:60] + "..."
	}
	return fmt.Sprintf("%d:%s:%s", c.lineNo, c.profile, line)
}

func TestCorpus(t *testing.T) {
	pol := loadTestPolicy(t)
	for _, c := range readCorpus(t) {
		t.Run(caseName(c), func(t *testing.T) {
			d := decideLine(pol, c)
			if d.Reason != c.want {
				t.Fatalf("%s:%d: %q (profile %s) = %s (%s); want %s", corpusFile, c.lineNo, c.line, c.profile, d.Reason, d.Message, c.want)
			}
			if d.Allowed != (c.want == ReasonAllowed) {
				t.Errorf("Allowed = %v; want %v", d.Allowed, c.want == ReasonAllowed)
			}
			if d.Message == "" {
				t.Errorf("decision has no message")
			}
			if d.Reason == ReasonShellSyntax {
				return
			}
			wantProfile := c.profile
			if wantProfile == "-" {
				wantProfile = ProfileReadOnly
			}
			if d.Profile != wantProfile {
				t.Errorf("Profile = %q; want %q", d.Profile, wantProfile)
			}
		})
	}
}

// TestCorpusGolden compares every decision's reason and message with
// testdata/corpus.golden. UPDATE_GOLDEN=1 rewrites the file.
func TestCorpusGolden(t *testing.T) {
	pol := loadTestPolicy(t)
	var b strings.Builder
	for _, c := range readCorpus(t) {
		d := decideLine(pol, c)
		fmt.Fprintf(&b, "%s\t%s\n\t%s\t%s\n", c.profile, c.line, d.Reason, d.Message)
	}
	got := b.String()
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(goldenFile, []byte(got), 0o644); err != nil {
			t.Fatalf("write golden: %v", err)
		}
		return
	}
	want, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatalf("read golden (regenerate with UPDATE_GOLDEN=1 go test ./...): %v", err)
	}
	if diff := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(got, "\n")); diff != "" {
		t.Errorf("decisions differ from %s (-want +got); if intended, regenerate with UPDATE_GOLDEN=1 go test ./...:\n%s", filepath.Base(goldenFile), diff)
	}
}

// TestCorpusCoverage keeps the corpus honest: it is large, it uses every
// reason code a command can earn, and its allowed lines use every verb,
// subcommand and allowed flag, while its denied lines use every denied
// flag.
func TestCorpusCoverage(t *testing.T) {
	cases := readCorpus(t)
	if len(cases) < 400 {
		t.Errorf("corpus has %d cases; want at least 400", len(cases))
	}
	reasons := map[Reason]int{}
	usedFlags := map[string]bool{}   // "get output": allowed with that flag
	deniedSeen := map[string]bool{}  // denied flag names seen in denied lines
	allowedKeys := map[string]bool{} // "top pod": allowed at least once
	for _, c := range cases {
		reasons[c.want]++
		argv, err := SplitLine(c.line)
		if err != nil {
			continue
		}
		if c.want != ReasonAllowed {
			for _, a := range argv {
				if strings.HasPrefix(a, "-") {
					name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
					name = strings.ReplaceAll(name, "_", "-")
					if _, ok := deniedFlags[name]; ok {
						deniedSeen[name] = true
					}
					if !strings.HasPrefix(a, "--") {
						for _, r := range name {
							if _, ok := deniedFlags[string(r)]; ok || r == 'f' {
								deniedSeen[string(r)] = true
							}
						}
					}
				}
			}
			continue
		}
		cmd, d, ok := Parse(argv)
		if !ok {
			t.Errorf("%s:%d: allowed line %q does not parse: %s", corpusFile, c.lineNo, c.line, d.Message)
			continue
		}
		allowedKeys[cmd.key()] = true
		for _, f := range cmd.Flags {
			usedFlags[cmd.key()+" "+f.Name] = true
		}
	}
	for _, r := range []Reason{ReasonAllowed, ReasonVerbNotAllowed, ReasonFlagNotAllowed, ReasonCredentialFlag,
		ReasonUnbounded, ReasonFileInput, ReasonRestricted, ReasonBadFlagValue, ReasonMissingArgument,
		ReasonTooManyArguments, ReasonNamespace, ReasonShellSyntax} {
		if reasons[r] == 0 {
			t.Errorf("no corpus case expects %s", r)
		}
	}
	for key, flags := range verbFlags {
		if !allowedKeys[key] {
			t.Errorf("no allowed corpus case for %q", key)
		}
		for name := range flags {
			if !usedFlags[key+" "+name] {
				t.Errorf("no allowed corpus case for %s --%s", key, name)
			}
		}
	}
	for name := range deniedFlags {
		if !deniedSeen[name] {
			t.Errorf("no denied corpus case uses the denied flag %q", name)
		}
	}
	if !deniedSeen["f"] {
		t.Errorf("no denied corpus case uses -f")
	}
	t.Logf("corpus: %d cases: %d allowed, %d denied", len(cases), reasons[ReasonAllowed], len(cases)-reasons[ReasonAllowed])
}
