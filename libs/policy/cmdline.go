package policy

import (
	"fmt"
	"strings"
)

// MaxCommandLine bounds the length of a command line given to SplitLine.
const MaxCommandLine = 16 << 10

// SplitLine splits one command line into argv by POSIX shell quoting
// rules, for clients that send a line instead of argv. No shell ever runs:
// quotes and backslashes only group and escape characters. Unquoted shell
// operators (pipes, redirections, command separators, substitutions and
// globs) are refused, because a user who writes them expects a shell that
// is not there; so is an unquoted newline or carriage return between words,
// which a shell would read as the end of one command and the start of
// another (leading and trailing ones are blanks). A leading "kubectl" is
// dropped.
//
//	SplitLine(`get pods -l 'app in (web, api)' -o jsonpath="{.items[*].metadata.name}"`)
func SplitLine(line string) ([]string, error) {
	if len(line) > MaxCommandLine {
		return nil, fmt.Errorf("command line is %d bytes; at most %d allowed", len(line), MaxCommandLine)
	}
	// last ends the line's last non-blank byte: a line break before it
	// separates words.
	last := len(strings.TrimRight(line, " \t\r\n"))
	var (
		argv    []string
		cur     strings.Builder
		inWord  bool
		quote   byte // 0, '\'' or '"'
		escaped bool
	)
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case escaped:
			escaped = false
			if quote == '"' && !strings.ContainsRune("$`\"\\\n", rune(ch)) {
				cur.WriteByte('\\')
			}
			if ch == '\n' {
				// A line continuation is removed; it starts no word.
				continue
			}
			cur.WriteByte(ch)
			inWord = true
		case quote == '\'':
			if ch == '\'' {
				quote = 0
			} else {
				cur.WriteByte(ch)
			}
		case quote == '"':
			switch ch {
			case '"':
				quote = 0
			case '\\':
				escaped = true
			case '$', '`':
				return nil, fmt.Errorf("%q inside double quotes would be expanded by a shell; Kubently runs no shell: use single quotes", string(ch))
			default:
				cur.WriteByte(ch)
			}
		case ch == '\\':
			escaped = true
		case ch == '\'' || ch == '"':
			quote = ch
			inWord = true
		case (ch == '\n' || ch == '\r') && (inWord || len(argv) > 0) && i < last:
			return nil, fmt.Errorf("%s at byte %d between words: a command string is one command, and a shell would run the next line as another; quote it if it is part of an argument", lineBreakName(ch), i)
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			if inWord {
				argv = append(argv, cur.String())
				cur.Reset()
				inWord = false
			}
		case strings.IndexByte("|&;<>()`$", ch) >= 0:
			return nil, fmt.Errorf("shell operator %q at byte %d: Kubently runs no shell, so pipes, redirections, ; && || and substitutions do not work; quote it if it is part of an argument", string(ch), i)
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	switch {
	case escaped:
		return nil, fmt.Errorf("command line ends with a backslash")
	case quote != 0:
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		argv = append(argv, cur.String())
	}
	if len(argv) > 0 && argv[0] == "kubectl" {
		argv = argv[1:]
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("empty command line: want a command such as get pods")
	}
	return argv, nil
}

// lineBreakName names a newline or carriage return for messages.
func lineBreakName(ch byte) string {
	if ch == '\r' {
		return "unquoted carriage return"
	}
	return "unquoted newline"
}
