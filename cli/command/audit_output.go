package command

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"kubently.io/libs/audit"
)

// commandWidth is how many characters of a command the table shows.
const commandWidth = 60

// auditPrinter writes records in one output format.
type auditPrinter interface {
	print(audit.Record) error
	// close finishes the output (closing bracket, flushing); called once.
	close() error
}

func newAuditPrinter(o *Options, output string, follow bool) auditPrinter {
	switch {
	case output == "json" && follow:
		return &jsonLinesPrinter{enc: json.NewEncoder(o.stdout)}
	case output == "json":
		return &jsonArrayPrinter{w: o.stdout}
	case output == "csv":
		return newCSVPrinter(o.stdout, follow)
	case follow:
		return &streamTablePrinter{w: o.stdout, loc: o.loc}
	default:
		return &tablePrinter{tw: tabwriter.NewWriter(o.stdout, 0, 4, 2, ' ', 0), loc: o.loc}
	}
}

var tableHeader = []string{"TIME", "IDENTITY", "EVENT", "CLUSTER", "NAMESPACE", "OUTCOME", "REASON", "EXIT", "DURATION", "COMMAND"}

// tableRow is r's table cells, cleaned of control characters.
func tableRow(r audit.Record, loc *time.Location) []string {
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return clean(s)
	}
	command := r.Event == audit.EventCommandExecuted
	exit, dur := "-", "-"
	if command || r.ExitCode != 0 {
		exit = strconv.Itoa(r.ExitCode)
	}
	if command || r.DurationMS != 0 {
		dur = (time.Duration(r.DurationMS) * time.Millisecond).String()
	}
	return []string{
		r.Time.In(loc).Format(time.RFC3339),
		dash(r.Identity), dash(string(r.Event)), dash(r.Cluster), dash(r.Namespace),
		dash(string(r.Outcome)), dash(r.Reason), exit, dur,
		dash(truncate(clean(joinArgv(r.Argv)), commandWidth)),
	}
}

// tablePrinter aligns a bounded result with a tabwriter, which holds the
// rows until close.
type tablePrinter struct {
	tw     *tabwriter.Writer
	loc    *time.Location
	header bool
}

func (p *tablePrinter) print(r audit.Record) error {
	if !p.header {
		p.header = true
		if _, err := fmt.Fprintln(p.tw, strings.Join(tableHeader, "\t")); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(p.tw, strings.Join(tableRow(r, p.loc), "\t"))
	return err
}

func (p *tablePrinter) close() error { return p.tw.Flush() }

// streamTablePrinter prints each row as it comes, padded to column widths
// that start at typical sizes and only grow, so a follow lines up without
// holding rows back.
type streamTablePrinter struct {
	w      io.Writer
	loc    *time.Location
	widths []int
}

// streamWidths are the starting widths of the follow table's columns.
var streamWidths = []int{25, 12, 16, 12, 12, 11, 16, 4, 8, 0}

func (p *streamTablePrinter) print(r audit.Record) error {
	if p.widths == nil {
		p.widths = append([]int(nil), streamWidths...)
		if err := p.line(tableHeader); err != nil {
			return err
		}
	}
	return p.line(tableRow(r, p.loc))
}

func (p *streamTablePrinter) line(cells []string) error {
	var b strings.Builder
	for i, c := range cells {
		if i == len(cells)-1 {
			b.WriteString(c)
			break
		}
		n := utf8.RuneCountInString(c)
		p.widths[i] = max(p.widths[i], n)
		b.WriteString(c)
		b.WriteString(strings.Repeat(" ", p.widths[i]-n+2))
	}
	b.WriteByte('\n')
	_, err := io.WriteString(p.w, b.String())
	return err
}

func (p *streamTablePrinter) close() error { return nil }

// jsonArrayPrinter writes one indented JSON array, a record at a time.
type jsonArrayPrinter struct {
	w io.Writer
	n int
}

func (p *jsonArrayPrinter) print(r audit.Record) error {
	b, err := json.MarshalIndent(r, "  ", "  ")
	if err != nil {
		return err
	}
	sep := ",\n  "
	if p.n == 0 {
		sep = "[\n  "
	}
	p.n++
	_, err = fmt.Fprintf(p.w, "%s%s", sep, b)
	return err
}

func (p *jsonArrayPrinter) close() error {
	if p.n == 0 {
		_, err := io.WriteString(p.w, "[]\n")
		return err
	}
	_, err := io.WriteString(p.w, "\n]\n")
	return err
}

// jsonLinesPrinter writes one compact JSON object per line.
type jsonLinesPrinter struct{ enc *json.Encoder }

func (p *jsonLinesPrinter) print(r audit.Record) error { return p.enc.Encode(r) }
func (p *jsonLinesPrinter) close() error               { return nil }

var csvHeader = []string{
	"time", "id", "event", "identity", "role", "remote", "cluster", "namespace", "outcome", "reason",
	"exit_code", "duration_ms", "bytes", "truncated", "command_id", "session_id", "correlation_id",
	"gateway", "source", "replica", "target", "suppressed", "message", "argv",
}

// csvPrinter writes a header and a row per record; times are UTC RFC3339
// with fractions, for machines.
type csvPrinter struct {
	w      *csv.Writer
	flush  bool
	header bool
}

func newCSVPrinter(w io.Writer, flushEach bool) *csvPrinter {
	return &csvPrinter{w: csv.NewWriter(w), flush: flushEach}
}

func (p *csvPrinter) print(r audit.Record) error {
	if !p.header {
		p.header = true
		if err := p.w.Write(csvHeader); err != nil {
			return err
		}
	}
	err := p.w.Write([]string{
		r.Time.UTC().Format(time.RFC3339Nano), r.ID, string(r.Event), r.Identity, r.Role, r.Remote,
		r.Cluster, r.Namespace, string(r.Outcome), r.Reason,
		strconv.Itoa(r.ExitCode), strconv.FormatInt(r.DurationMS, 10), strconv.FormatInt(r.Bytes, 10),
		strconv.FormatBool(r.Truncated), r.CommandID, r.SessionID, r.CorrelationID,
		r.Gateway, r.Source, r.Replica, r.Target, strconv.Itoa(r.Suppressed), r.Message, joinArgv(r.Argv),
	})
	if err != nil {
		return err
	}
	if p.flush {
		p.w.Flush()
		return p.w.Error()
	}
	return nil
}

func (p *csvPrinter) close() error {
	if !p.header {
		if err := p.w.Write(csvHeader); err != nil {
			return err
		}
	}
	p.w.Flush()
	return p.w.Error()
}

// joinArgv joins argv with spaces, quoting the empty arguments and those
// holding whitespace or quotes so the join can be read back.
func joinArgv(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsFunc(a, func(r rune) bool { return unicode.IsSpace(r) || r == '"' || r == '\'' }) {
			a = strconv.Quote(a)
		}
		parts[i] = a
	}
	return strings.Join(parts, " ")
}

// clean replaces control and bidi-override characters with '?': record
// fields come from callers (argv, a claimed identity) and must not drive
// the terminal.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069') || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
}

// truncate cuts s to n runes, marking a cut with "…".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
