package kubeexec

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"kubently.io/libs/policy"
)

// policyTestdata is libs/policy's testdata directory, from this package.
const policyTestdata = "../../../../libs/policy/testdata"

// flagSetSamples are one command line per key of policy.FlagTable, to
// make each verb build its flag set.
var flagSetSamples = map[string][]string{
	"get":             {"get", "pods"},
	"describe":        {"describe", "pods"},
	"logs":            {"logs", "p"},
	"events":          {"events"},
	"top pod":         {"top", "pod"},
	"top node":        {"top", "node"},
	"rollout history": {"rollout", "history", "deploy/x"},
	"rollout status":  {"rollout", "status", "deploy/x"},
	"api-resources":   {"api-resources"},
	"api-versions":    {"api-versions"},
	"version":         {"version"},
	"cluster-info":    {"cluster-info"},
	"explain":         {"explain", "pods"},
	"diagnose":        {"diagnose"},
	"auth can-i":      {"auth", "can-i", "get", "pods"},
}

// executorFlagSets runs one command of every verb through a Runner on
// fake clients and returns each verb's flag set, keyed like
// policy.Command.Key, as applyFlags saw it.
func executorFlagSets(t *testing.T) map[string]*pflag.FlagSet {
	t.Helper()
	r, _ := testRunner(t, 1<<20, nil)
	sets := map[string]*pflag.FlagSet{}
	flagSetBuilt = func(fs *pflag.FlagSet) { sets[fs.Name()] = fs }
	t.Cleanup(func() { flagSetBuilt = nil })
	for key := range policy.FlagTable() {
		argv, ok := flagSetSamples[key]
		if !ok {
			t.Fatalf("policy.FlagTable has verb %q, which flagSetSamples lacks", key)
		}
		cmd, d, ok := policy.Parse(argv)
		if !ok {
			t.Fatalf("policy.Parse(%q): %s", argv, d.Message)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r.RunCommand(ctx, cmd)
		cancel()
		if sets[key] == nil {
			t.Fatalf("RunCommand(%q) built no flag set %q", argv, key)
		}
	}
	return sets
}

// flagInfos lists fs as policy.FlagTable lists a verb's flags.
func flagInfos(fs *pflag.FlagSet) []policy.FlagInfo {
	var out []policy.FlagInfo
	fs.VisitAll(func(f *pflag.Flag) {
		out = append(out, policy.FlagInfo{Name: f.Name, Short: f.Shorthand, TakesValue: f.Value.Type() != "bool"})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// TestFlagSetsMatchPolicy holds the executor's flags equal to the policy's
// flag table, verb by verb: the same long names, shorthands and kinds, so
// that nothing the policy allows is unknown here and nothing is read here
// that the policy never lets through.
func TestFlagSetsMatchPolicy(t *testing.T) {
	sets := executorFlagSets(t)
	for key, want := range policy.FlagTable() {
		if diff := cmp.Diff(want, flagInfos(sets[key])); diff != "" {
			t.Errorf("flags of %s: executor differs from policy.FlagTable (-policy +executor):\n%s", key, diff)
		}
	}
}

// cloneFlagSet returns a fresh flag set with the flags of fs, at their
// defaults.
func cloneFlagSet(t *testing.T, fs *pflag.FlagSet) *pflag.FlagSet {
	t.Helper()
	out := pflag.NewFlagSet(fs.Name(), pflag.ContinueOnError)
	out.SetOutput(nil)
	fs.VisitAll(func(f *pflag.Flag) {
		switch f.Value.Type() {
		case "string":
			out.StringP(f.Name, f.Shorthand, f.DefValue, "")
		case "bool":
			out.BoolP(f.Name, f.Shorthand, f.DefValue == "true", "")
		case "int64":
			n, _ := strconv.ParseInt(f.DefValue, 10, 64)
			out.Int64P(f.Name, f.Shorthand, n, "")
		case "int":
			n, _ := strconv.Atoi(f.DefValue)
			out.IntP(f.Name, f.Shorthand, n, "")
		case "duration":
			d, _ := time.ParseDuration(f.DefValue)
			out.DurationP(f.Name, f.Shorthand, d, "")
		case "stringSlice":
			out.StringSliceP(f.Name, f.Shorthand, nil, "")
		default:
			t.Fatalf("flag --%s of %s has type %s, which cloneFlagSet does not know", f.Name, fs.Name(), f.Value.Type())
		}
	})
	return out
}

// readLines returns the lines of a testdata file that are neither blank
// nor comments.
func readLines(t *testing.T, name string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(policyTestdata, name))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(l) != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// argvInputs returns every command line of the policy's corpus
// (testdata/corpus.txt, split as the gateway splits it), its fuzz seeds
// (testdata/seeds.txt) and the fuzzers' saved inputs (testdata/fuzz).
func argvInputs(t *testing.T) [][]string {
	t.Helper()
	var out [][]string
	for _, l := range readLines(t, "corpus.txt") {
		parts := strings.SplitN(l, "\t", 3)
		if len(parts) != 3 {
			t.Fatalf("corpus line %q: want three tab-separated fields", l)
		}
		if argv, err := policy.SplitLine(parts[2]); err == nil {
			out = append(out, argv)
		}
	}
	for _, l := range readLines(t, "seeds.txt") {
		out = append(out, strings.Fields(l))
	}
	files, _ := filepath.Glob(filepath.Join(policyTestdata, "fuzz", "*", "*"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		for _, l := range strings.Split(string(data), "\n") {
			quoted, ok := strings.CutPrefix(l, "string(")
			if !ok {
				continue
			}
			s, err := strconv.Unquote(strings.TrimSuffix(quoted, ")"))
			if err != nil {
				t.Fatalf("%s: %q: %v", f, l, err)
			}
			// FuzzCheck splits on blanks, the argv fuzzers on newlines.
			if strings.Contains(filepath.Base(filepath.Dir(f)), "FuzzCheck") {
				out = append(out, strings.Fields(s))
			} else {
				out = append(out, strings.Split(s, "\n"))
			}
		}
	}
	if len(out) < 500 {
		t.Fatalf("read %d command lines; want the whole corpus", len(out))
	}
	return out
}

// TestExecutorReadsWhatPolicyParsed runs every corpus line and fuzz seed
// through policy.Parse and, when it allows the line, through pflag with the
// executor's flag set of the verb (the grammar kubectl parses argv with),
// and requires the same reading: pflag accepts the line, finds the same
// positional arguments, and every flag ends with the value and "set" state
// the executor gives it from the parsed command (applyFlags). A line pflag
// would refuse or read differently is a disagreement between the two
// parsers, which the policy must settle by refusing it.
func TestExecutorReadsWhatPolicyParsed(t *testing.T) {
	sets := executorFlagSets(t)
	compared := 0
	for _, argv := range argvInputs(t) {
		cmd, _, ok := policy.Parse(argv)
		if !ok {
			continue
		}
		compared++
		fs, ok := sets[cmd.Key()]
		if !ok {
			t.Fatalf("policy.Parse(%q) read verb %q, which has no executor flag set", argv, cmd.Key())
		}
		skip := 1
		if cmd.Sub != "" {
			skip = 2
		}
		byPflag := cloneFlagSet(t, fs)
		if err := byPflag.Parse(argv[skip:]); err != nil {
			t.Errorf("policy allows %q but pflag refuses it with the executor's flags: %v", argv, err)
			continue
		}
		byPolicy := cloneFlagSet(t, fs)
		args, err := applyFlags(byPolicy, cmd)
		if err != nil {
			t.Errorf("applyFlags(%q): %v", argv, err)
			continue
		}
		if diff := cmp.Diff(byPflag.Args(), args, cmp.Comparer(func(a, b []string) bool {
			return strings.Join(a, "\x00") == strings.Join(b, "\x00") && len(a) == len(b)
		})); diff != "" {
			t.Errorf("%q: positional arguments differ (-pflag +policy):\n%s", argv, diff)
		}
		byPflag.VisitAll(func(f *pflag.Flag) {
			g := byPolicy.Lookup(f.Name)
			if f.Value.String() != g.Value.String() || f.Changed != g.Changed {
				t.Errorf("%q: flag --%s: pflag reads %q (set %v), the policy's command %q (set %v)",
					argv, f.Name, f.Value.String(), f.Changed, g.Value.String(), g.Changed)
			}
		})
	}
	if compared < 300 {
		t.Fatalf("compared %d allowed command lines; want most of the corpus", compared)
	}
	t.Logf("compared %d allowed command lines", compared)
}
