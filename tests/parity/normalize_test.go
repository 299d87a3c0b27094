package parity

import (
	"regexp"
	"strings"
)

// normalizer rewrites what legitimately differs between two runs of the same
// command a few milliseconds apart. Both sides get the same normalizers.
type normalizer func(string) string

var (
	// ageRE matches kubectl's human durations (45s, 5m, 5m30s, 3h, 2d3h, 1y):
	// the AGE and LAST SEEN columns, "(3m ago)" and "(x2 over 5m)".
	ageRE = regexp.MustCompile(`\b\d+[smhdy](\d+[smhd])?\b`)
	// eventCountRE matches an event's repeat count, which grows while
	// a controller keeps reporting.
	eventCountRE = regexp.MustCompile(`\(x\d+ over `)
	// rfc1123RE matches describe's timestamps ("Thu, 26 Nov 2026 16:39:18 +0000").
	rfc1123RE = regexp.MustCompile(`[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}`)
	// blanksRE matches the padding tabwriter adds; it changes with a cell's width.
	blanksRE = regexp.MustCompile(`[ \t]+`)
)

// ages masks durations and event counts and collapses column padding (whose
// width follows the longest age). For tables, describe and events.
func ages(s string) string {
	s = ageRE.ReplaceAllString(s, "<age>")
	s = eventCountRE.ReplaceAllString(s, "(xN over ")
	return collapse(s)
}

// times masks describe's absolute timestamps, for objects something keeps
// updating (the node's heartbeats and lease), then applies ages.
func times(s string) string { return ages(rfc1123RE.ReplaceAllString(s, "<time>")) }

// volatile lists the tokens the normalizers mask, in order. When both runs
// have the same ones, their outputs must be identical byte for byte.
func volatile(s string) []string {
	var toks []string
	for _, re := range []*regexp.Regexp{ageRE, eventCountRE, rfc1123RE} {
		toks = append(toks, re.FindAllString(s, -1)...)
	}
	return toks
}

func collapse(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(blanksRE.ReplaceAllString(l, " "), " ")
	}
	return strings.Join(lines, "\n")
}

// serverVersion keeps only `kubectl version`'s server line: the client parts
// describe two different binaries (kubectl and the executor's client-go).
func serverVersion(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "Server Version:") {
			return l
		}
	}
	return ""
}
