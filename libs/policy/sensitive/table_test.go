package sensitive

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"
)

// Rate bounds of the labelled table; docs/policy.md publishes the rates.
const (
	maxFalseNegativeRate = 0.02
	maxFalsePositiveRate = 0.02
)

// envEntry is one row of testdata/env.tsv.
type envEntry struct {
	line                int
	name, value, secret string
	isSecret            bool
}

func readEnvTable(t *testing.T) []envEntry {
	t.Helper()
	f, err := os.Open("testdata/env.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []envEntry
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) < 3 || len(cols) > 4 || (cols[2] != "secret" && cols[2] != "plain") {
			t.Fatalf("env.tsv:%d: want name, value, secret|plain[, part]: %q", n, line)
		}
		e := envEntry{line: n, name: cols[0], value: strings.ReplaceAll(cols[1], `\n`, "\n"), isSecret: cols[2] == "secret"}
		e.secret = e.value
		if len(cols) == 4 {
			e.secret = cols[3]
			if !strings.Contains(e.value, e.secret) {
				t.Fatalf("env.tsv:%d: part %q is not in the value", n, e.secret)
			}
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// oldEnvPattern is the name-substring rule Value replaced, measured on
// the same table for comparison.
var oldEnvPattern = regexp.MustCompile(`(?i)(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL|AUTH)`)

// TestEnvTable measures the classifier on the labelled table: a secret
// entry is missed (false negative) when its secret part survives Value; a
// plain entry is a false positive when Value changes it.
func TestEnvTable(t *testing.T) {
	entries := readEnvTable(t)
	if len(entries) < 200 {
		t.Fatalf("env.tsv has %d entries; want at least 200", len(entries))
	}
	var secrets, plains, fn, fp, oldFN, oldFP int
	for _, e := range entries {
		got, changed := Value(e.name, e.value)
		oldMasked := e.value != "" && oldEnvPattern.MatchString(e.name)
		if e.isSecret {
			secrets++
			if !changed || strings.Contains(got, e.secret) {
				fn++
				t.Logf("env.tsv:%d: missed %s=%q (got %q)", e.line, e.name, e.value, got)
			}
			if !oldMasked {
				oldFN++
			}
			continue
		}
		plains++
		if changed {
			fp++
			t.Logf("env.tsv:%d: masked harmless %s=%q (got %q)", e.line, e.name, e.value, got)
		}
		if oldMasked {
			oldFP++
		}
	}
	fnRate, fpRate := float64(fn)/float64(secrets), float64(fp)/float64(plains)
	t.Logf("%d entries: %d secret, %d plain", len(entries), secrets, plains)
	t.Logf("classifier: false negatives %d/%d (%.1f%%), false positives %d/%d (%.1f%%)", fn, secrets, 100*fnRate, fp, plains, 100*fpRate)
	t.Logf("old name pattern: false negatives %d/%d (%.1f%%), false positives %d/%d (%.1f%%)",
		oldFN, secrets, 100*float64(oldFN)/float64(secrets), oldFP, plains, 100*float64(oldFP)/float64(plains))
	if fnRate > maxFalseNegativeRate {
		t.Errorf("false-negative rate %.3f exceeds %.3f", fnRate, maxFalseNegativeRate)
	}
	if fpRate > maxFalsePositiveRate {
		t.Errorf("false-positive rate %.3f exceeds %.3f", fpRate, maxFalsePositiveRate)
	}
}
