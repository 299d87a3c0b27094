package scale

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// redisCall sends one command to the redis-server at addr on a fresh
// connection (so the benchmark's probes never share the gateway's pool,
// and the probe itself carries no client name) and returns the reply if
// it is a bulk string. It speaks just enough RESP for CLIENT LIST and
// INFO, keeping the tests module free of a direct Redis client dependency.
func redisCall(addr string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var sb strings.Builder
	fmt.Fprintf(&sb, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&sb, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, sb.String()); err != nil {
		return "", err
	}
	br := bufio.NewReader(conn)
	head, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	head = strings.TrimRight(head, "\r\n")
	if !strings.HasPrefix(head, "$") {
		return "", fmt.Errorf("redis %s: unexpected reply %q", args[0], head)
	}
	n, err := strconv.Atoi(head[1:])
	if err != nil || n < 0 {
		return "", fmt.Errorf("redis %s: bad bulk length %q", args[0], head)
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(br, buf); err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// redisClients counts the connections to addr whose client name is name.
func redisClients(addr, name string) (int, error) {
	list, err := redisCall(addr, "CLIENT", "LIST")
	if err != nil {
		return 0, err
	}
	n := 0
	for line := range strings.SplitSeq(list, "\n") {
		if strings.Contains(line, " name="+name+" ") {
			n++
		}
	}
	return n, nil
}

// redisStats is the part of INFO the benchmark reads.
type redisStats struct {
	cpu      time.Duration    // used_cpu_user + used_cpu_sys
	commands int64            // total_commands_processed (script bodies' commands included)
	calls    map[string]int64 // commandstats: calls by command (lower case)
}

func readRedisStats(addr string) (redisStats, error) {
	info, err := redisCall(addr, "INFO", "cpu", "stats", "commandstats")
	if err != nil {
		return redisStats{}, err
	}
	st := redisStats{calls: map[string]int64{}}
	for line := range strings.SplitSeq(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch {
		case k == "used_cpu_user", k == "used_cpu_sys":
			f, _ := strconv.ParseFloat(v, 64)
			st.cpu += time.Duration(f * float64(time.Second))
		case k == "total_commands_processed":
			st.commands, _ = strconv.ParseInt(v, 10, 64)
		case strings.HasPrefix(k, "cmdstat_"):
			calls, _, _ := strings.Cut(strings.TrimPrefix(v, "calls="), ",")
			st.calls[strings.TrimPrefix(k, "cmdstat_")], _ = strconv.ParseInt(calls, 10, 64)
		}
	}
	return st, nil
}

// rates returns the calls per second of each command between a and b
// (win seconds apart), busiest first, as "cmd=rate" strings.
func rates(a, b redisStats, win float64) []string {
	type rate struct {
		cmd string
		n   float64
	}
	var rs []rate
	for cmd, n := range b.calls {
		if d := float64(n - a.calls[cmd]); d > 0 {
			rs = append(rs, rate{cmd, d / win})
		}
	}
	slices.SortFunc(rs, func(x, y rate) int { return cmp.Compare(y.n, x.n) })
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = fmt.Sprintf("%s=%.0f", r.cmd, r.n)
	}
	return out
}
