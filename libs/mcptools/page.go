package mcptools

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"
	"unicode/utf8"

	"kubently.io/libs/contracts"
)

// page is one page of a command's output.
type page struct {
	// text is the page: the header line (if any) and the rows that fit.
	text string
	// consumed is how many rows the page used up (a row longer than the
	// room is cut and counts as used).
	consumed int
	// more reports rows left after the page.
	more bool
}

// paginate returns the rows of output after the first skip (lines; with
// header, the first line is a header that starts every page) that fit in
// room bytes. At least one row is used up when any is left, so paging
// always progresses.
func paginate(output string, header bool, skip, room int) page {
	if output == "" {
		return page{}
	}
	lines := strings.SplitAfter(output, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	var b strings.Builder
	if header {
		h := clip(lines[0], room)
		b.WriteString(h)
		room -= len(h)
		lines = lines[1:]
	}
	if skip > len(lines) {
		skip = len(lines)
	}
	rows := lines[skip:]
	n := 0
	for _, r := range rows {
		if len(r) > room {
			if n == 0 {
				// A single row longer than the room: keep what fits.
				b.WriteString(clip(r, max(room, 0)))
				n = 1
			}
			break
		}
		b.WriteString(r)
		room -= len(r)
		n++
	}
	return page{text: b.String(), consumed: n, more: n < len(rows)}
}

// token is the state a continue token carries: the executor's own
// continue token (a list cut at its byte cap) to pass as --continue, and
// how many rows of that command's output earlier pages returned.
type token struct {
	// Exec is the executor's continue token; empty to start at the top.
	Exec string `json:"e,omitempty"`
	// Skip is how many output rows earlier pages returned.
	Skip int `json:"s,omitempty"`
	// Query is a hash of the argv the token belongs to.
	Query string `json:"q"`
}

// tokenPrefix versions the token format.
const tokenPrefix = "k1."

// queryHash identifies a query: the argv without paging.
func queryHash(argv []string) string {
	h := fnv.New64a()
	for _, a := range argv {
		h.Write([]byte(a))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// encodeToken returns the continue token of t for the query argv.
func encodeToken(t token, argv []string) string {
	t.Query = queryHash(argv)
	b, _ := json.Marshal(t)
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// decodeToken reads a continue token given with the query argv; "" is
// the first page.
func decodeToken(s string, argv []string) (token, error) {
	if s == "" {
		return token{}, nil
	}
	bad := func(why string) (token, error) {
		return token{}, contracts.Errorf(contracts.CodeBadRequest, "continue: %s; pass the token of the previous answer unchanged, with the same arguments", why)
	}
	if len(s) > maxContinueLen {
		return bad(fmt.Sprintf("token is %d bytes, at most %d allowed", len(s), maxContinueLen))
	}
	raw, ok := strings.CutPrefix(s, tokenPrefix)
	if !ok {
		return bad("not a Kubently MCP token")
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return bad("malformed token")
	}
	var t token
	if err := json.Unmarshal(b, &t); err != nil || t.Skip < 0 {
		return bad("malformed token")
	}
	if t.Query != queryHash(argv) {
		return bad("the token belongs to other arguments")
	}
	return t, nil
}

// clip cuts s to at most n bytes at a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
