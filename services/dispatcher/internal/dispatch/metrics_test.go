package dispatch

import (
	"strings"
	"testing"

	"kubently.io/libs/policy"
	"kubently.io/libs/testkit/promtest"
)

// TestMetricsBoundedUnderFlood sends commands with made-up verbs (words,
// flags, binary, long strings) to registered and made-up clusters, twice
// as many the second time: the series count after the second flood is the
// one after the first, and every verb label is from the closed set.
func TestMetricsBoundedUnderFlood(t *testing.T) {
	e := newEnv(t, nil)
	flood := func(from, n int) {
		for i := from; i < from+n; i++ {
			var argv []string
			switch i % 4 {
			case 0:
				argv = []string{"frob" + word(i), "pods"}
			case 1:
				argv = []string{"--x" + word(i)}
			case 2:
				argv = []string{strings.Repeat("z", 33+i%50)}
			default:
				argv = []string{"get", "pods"}
			}
			cluster := online
			if i%2 == 1 {
				cluster = "made-up-" + word(i)
			}
			if _, apiErr, _ := e.exec(t, request(operator, cluster, argv...)); apiErr == nil && argv[0] != "get" {
				t.Fatalf("%q on %s was not refused", argv, cluster)
			}
		}
	}
	flood(0, 40)
	first := promtest.Series(t, e.reg, "kubently_")
	flood(40, 160)
	if got := promtest.Series(t, e.reg, "kubently_"); got != first {
		t.Errorf("series after 160 more made-up verbs and clusters = %d; want %d as after the first 40", got, first)
	}
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "verb":
					if v := l.GetValue(); v != policy.VerbOther && v != policy.VerbInvalid && !policy.IsVerb(v) {
						t.Errorf("%s has verb label %q, not from the verb table", mf.GetName(), v)
					}
				case "cluster":
					if v := l.GetValue(); v != online && v != unknownCluster {
						t.Errorf("%s has cluster label %q; want %s or %s", mf.GetName(), v, online, unknownCluster)
					}
				}
			}
		}
	}
}

// word spells i in lower-case letters.
func word(i int) string {
	var b strings.Builder
	for {
		b.WriteByte(byte('a' + i%26))
		i /= 26
		if i == 0 {
			return b.String()
		}
	}
}
