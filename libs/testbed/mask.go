package testbed

import (
	"regexp"
	"strings"
)

// Masking for parity tests: what two runs of one kubectl command a moment
// apart may legitimately print differently is masked by its place (an age
// column of a table, a timestamp), never by its shape, so that CPU 100m
// against 200m, a probe's delay=5s against 10s or an event's count still
// differ.

var (
	// ageRE matches kubectl's human durations (45s, 5m, 5m30s, 3h, 2d3h,
	// 1y) inside an age cell.
	ageRE = regexp.MustCompile(`\b\d+[smhdy](\d+[smhd])?\b`)
	// agoRE matches the "(5m ago)" of a RESTARTS cell.
	agoRE = regexp.MustCompile(`\((\d+[smhdy])+ ago\)`)
	// rfc1123RE matches describe's timestamps ("Thu, 26 Nov 2026 16:39:18 +0000").
	rfc1123RE = regexp.MustCompile(`[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}`)
	// cellGapRE separates the cells of a header row: tabwriter pads with
	// at least two blanks, and a column name has at most one.
	cellGapRE = regexp.MustCompile(` {2,}`)
	// unitRE strips the lower-case unit of a header such as CPU(cores).
	unitRE = regexp.MustCompile(`\([a-z%]+\)`)
)

// ageColumns are the table columns that hold ages, upper-cased ("Age" is
// describe's Events column). A Job's DURATION is one too: kubectl prints
// the time since the Job started for as long as it has no completion time
// (a running or failed Job), so it grows between two runs.
var ageColumns = map[string]bool{"AGE": true, "LAST SEEN": true, "FIRST SEEN": true, "LAST SCHEDULE": true, "DURATION": true}

// MaskAges rewrites s, kubectl's text output, so that two runs a moment
// apart compare equal: in every table (a header row of upper-case column
// names as kubectl get prints, or of names underlined with dashes as
// describe prints) the ages of the age columns (AGE, LAST SEEN, FIRST
// SEEN, LAST SCHEDULE, a Job's DURATION, describe's Age) become <age>, keeping an event's
// "(x3 over …)" count, a RESTARTS cell's "(5m ago)" becomes "(<age> ago)",
// and the table's padding, whose width follows the longest age, becomes
// " | " between cells; RFC 1123 timestamps (describe's) become <time>.
// Nothing else is touched: every other number, with a unit or not, is
// compared as printed.
func MaskAges(s string) string {
	out, _ := mask(s)
	return out
}

// MaskedTokens lists, in order, what MaskAges masks in s. When two outputs
// have the same tokens, their masked forms must also be equal byte for
// byte before masking: a difference MaskAges absorbed was then in layout.
func MaskedTokens(s string) []string {
	_, toks := mask(s)
	return toks
}

func mask(s string) (string, []string) { return maskWith(s, nil) }

// MaskAgesNoHeaders is MaskAges for a table printed without its header
// (--no-headers): every line is a row of the given columns.
func MaskAgesNoHeaders(s string, columns ...string) string {
	out, _ := maskWith(s, columns)
	return out
}

// MaskedTokensNoHeaders is MaskedTokens for MaskAgesNoHeaders.
func MaskedTokensNoHeaders(s string, columns ...string) []string {
	_, toks := maskWith(s, columns)
	return toks
}

// maskWith masks s; a non-nil columns means every line is a row of them.
func maskWith(s string, columns []string) (string, []string) {
	var toks []string
	s = rfc1123RE.ReplaceAllStringFunc(s, func(t string) string {
		toks = append(toks, t)
		return "<time>"
	})
	lines := strings.Split(s, "\n")
	maskRows := func(cols []string, from int) int {
		j := from
		for ; j < len(lines) && strings.TrimSpace(lines[j]) != ""; j++ {
			row := cells(lines[j], len(cols))
			for k, c := range cols {
				name := strings.ToUpper(c)
				switch {
				case ageColumns[name]:
					row[k] = ageRE.ReplaceAllStringFunc(row[k], func(t string) string {
						toks = append(toks, t)
						return "<age>"
					})
				case name == "RESTARTS":
					row[k] = agoRE.ReplaceAllStringFunc(row[k], func(t string) string {
						toks = append(toks, t)
						return "(<age> ago)"
					})
				}
			}
			lines[j] = strings.Join(row, " | ")
		}
		return j
	}
	if columns != nil {
		for i := 0; i < len(lines); i++ {
			i = maskRows(columns, i)
		}
		return strings.Join(lines, "\n"), toks
	}
	for i := 0; i < len(lines); i++ {
		cols, dashed := header(lines, i)
		if cols == nil {
			continue
		}
		lines[i] = strings.Join(cols, " | ")
		first := i + 1
		if dashed {
			lines[first] = strings.Join(cells(lines[first], len(cols)), " | ")
			first++
		}
		i = maskRows(cols, first) - 1
	}
	return strings.Join(lines, "\n"), toks
}

// header returns the column names of lines[i] when it is a table header:
// at least two names, each upper-case (units such as "(cores)" aside), or
// underlined by the next line with dashes. dashed reports the latter.
func header(lines []string, i int) (cols []string, dashed bool) {
	cols = cellGapRE.Split(strings.TrimSpace(lines[i]), -1)
	if len(cols) < 2 {
		return nil, false
	}
	if i+1 < len(lines) {
		next := strings.TrimSpace(lines[i+1])
		if next != "" && strings.Trim(next, "- ") == "" && strings.Contains(next, "-") {
			return cols, true
		}
	}
	for _, c := range cols {
		n := unitRE.ReplaceAllString(c, "")
		if n == "" || n[0] < 'A' || n[0] > 'Z' || strings.ToUpper(n) != n {
			return nil, false
		}
	}
	return cols, false
}

// cells splits a row of a table into n cells at the blanks tabwriter pads
// with (a cell holds at most single blanks); the last cell keeps the rest
// of the row (an event's message).
func cells(row string, n int) []string {
	out := cellGapRE.Split(strings.TrimSpace(row), n)
	for len(out) < n {
		out = append(out, "")
	}
	return out
}
