package parity

import (
	"strings"

	"kubently.io/libs/testbed"
)

// normalizer rewrites what legitimately differs between two runs of the same
// command a few milliseconds apart. Both sides get the same normalizers.
type normalizer func(string) string

// ages masks the ages of age columns (AGE, LAST SEEN, describe's Age,
// RESTARTS' "(5m ago)") and describe's timestamps, and collapses the
// padding of tables, whose width follows the longest age: only what
// varies between two runs, by its place, never every number with a unit
// (testbed.MaskAges). For tables, describe and events.
func ages(s string) string { return testbed.MaskAges(s) }

// times is ages for objects something keeps updating (the node's
// heartbeats and lease): their describe timestamps are masked by ages too.
func times(s string) string { return testbed.MaskAges(s) }

// headless is ages for a table printed without its header: columns names
// its columns.
func headless(columns ...string) normalizer {
	return func(s string) string { return testbed.MaskAgesNoHeaders(s, columns...) }
}

// volatile lists the tokens the normalizers of tc mask in s, in order.
// When both runs have the same ones, their outputs must be identical byte
// for byte.
func volatile(tc tcase, s string) []string {
	if tc.columns != nil {
		return testbed.MaskedTokensNoHeaders(s, tc.columns...)
	}
	return testbed.MaskedTokens(s)
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
