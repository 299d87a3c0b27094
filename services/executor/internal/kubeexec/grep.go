package kubeexec

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
)

const (
	// maxGrepLen bounds the pattern of logs --grep, as the policy does.
	maxGrepLen = 512
	// maxGrepContext bounds logs --grep-context.
	maxGrepContext = 10
	// DefaultMaxLogScanBytes is how many log bytes a logs --grep command
	// reads in total when Config.MaxLogScanBytes is zero.
	DefaultMaxLogScanBytes = 64 << 20
)

// grepper keeps the lines of log streams that match a pattern, with
// context lines and "--" separators between groups, like grep -C.
type grepper struct {
	match   func([]byte) bool
	context int
	stamped bool // lines start with a timestamp that is not matched

	printedAny bool // a line has been kept, in any stream
	// per stream:
	line        int64    // number of the current line
	lastPrinted int64    // number of the last kept line, -1 for none
	before      [][]byte // up to context lines preceding the current one
	after       int      // context lines still to keep after a match
}

// newGrepper builds the matcher of o's --grep flags.
func newGrepper(o logsOptions) (*grepper, error) {
	g := &grepper{context: o.grepContext, stamped: o.timestamps}
	switch {
	case o.grepRegex || o.ignoreCase:
		expr := o.grep
		if !o.grepRegex {
			expr = regexp.QuoteMeta(expr)
		}
		if o.ignoreCase {
			expr = "(?i)" + expr
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, fmt.Errorf("invalid --grep regular expression: %w", err)
		}
		g.match = re.Match
	default:
		pattern := []byte(o.grep)
		g.match = func(line []byte) bool { return bytes.Contains(line, pattern) }
	}
	return g, nil
}

// grepStream reads one log stream line by line within the scan budget and
// writes the kept lines to w (which may add prefixes) and the group
// separators to the output itself.
func (st *logState) grepStream(rc io.Reader, w io.Writer) error {
	g := st.grep
	g.line, g.lastPrinted, g.before, g.after = 0, -1, g.before[:0], 0
	br := bufio.NewReaderSize(rc, 64<<10)
	for {
		line, rerr := br.ReadBytes('\n')
		if len(line) > 0 {
			if int64(len(line)) > st.remaining {
				st.done, st.inv.truncated = true, true
				st.inv.truncNote = "log search stopped at its scan limit; narrow with --since or --tail"
				return nil
			}
			st.remaining -= int64(len(line))
			g.take(w, st.inv.out, line)
			if st.inv.out.Full() {
				st.done, st.inv.truncated = true, true
				return nil
			}
		}
		if errors.Is(rerr, io.EOF) {
			return nil
		}
		if rerr != nil {
			if ctxErr := st.inv.ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			return rerr
		}
	}
}

// take handles the next line of the current stream, writing kept lines to
// w and separators to sep.
func (g *grepper) take(w, sep io.Writer, line []byte) {
	g.line++
	if g.match(g.text(line)) {
		first := g.line - int64(len(g.before))
		g.separate(sep, first)
		for _, b := range g.before {
			g.emit(w, b)
		}
		g.before = g.before[:0]
		g.emit(w, line)
		g.after = g.context
		return
	}
	if g.after > 0 {
		g.after--
		g.emit(w, line)
		return
	}
	if g.context == 0 {
		return
	}
	if len(g.before) == g.context {
		copy(g.before, g.before[1:])
		g.before = g.before[:len(g.before)-1]
	}
	g.before = append(g.before, bytes.Clone(line))
}

// separate writes "--" before a group that does not follow the last kept
// line, when context lines are asked for (as grep does).
func (g *grepper) separate(w io.Writer, first int64) {
	if g.context > 0 && g.printedAny && (g.lastPrinted < 0 || first != g.lastPrinted+1) {
		_, _ = w.Write([]byte("--\n"))
	}
}

// emit writes one kept line; the current line number is advanced by take,
// so a context line from before is numbered by its position.
func (g *grepper) emit(w io.Writer, line []byte) {
	_, _ = w.Write(line)
	if len(line) > 0 && line[len(line)-1] != '\n' {
		_, _ = w.Write([]byte{'\n'})
	}
	g.printedAny = true
	g.lastPrinted = g.line
}

// text is the part of a line the pattern is matched against: without the
// trailing newline and, with --timestamps, without the timestamp.
func (g *grepper) text(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	if g.stamped {
		if _, rest, ok := bytes.Cut(line, []byte{' '}); ok {
			return rest
		}
	}
	return line
}
