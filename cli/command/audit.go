package command

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"kubently.io/cli/client"
	"kubently.io/libs/audit"
)

// Audit defaults.
const (
	// defaultTableMax is --max for table output when the flag is not set.
	defaultTableMax = 1000
)

// outcomes are the --outcome values, in the order help and completion
// show them. audit.Outcome.Known is the check; this is only the list.
var outcomes = []audit.Outcome{
	audit.OutcomeSuccess, audit.OutcomeFailure, audit.OutcomeDenied,
	audit.OutcomeTimeout, audit.OutcomeUnavailable, audit.OutcomeError,
}

// auditOutputs are the -o values.
var auditOutputs = []string{"table", "json", "csv"}

// auditFlags are the raw flag values of `kubently audit`.
type auditFlags struct {
	since, until, cluster, identity string
	outcome, event, commandID       string
	limit, max                      int
	output                          string
	follow                          bool
}

// auditRequest is auditFlags validated.
type auditRequest struct {
	q      client.AuditQuery
	max    int // 0: no limit
	output string
	follow bool
}

// errReachedMax stops a follow at --max.
var errReachedMax = errors.New("reached --max")

func newAuditCmd(o *Options) *cobra.Command {
	var fl auditFlags
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Query or tail the audit log: who ran what, where, and how it ended",
		Long: `Lists audit records, oldest first: commands executed and denied, sessions,
token and key changes, denied authentication. Viewers see only their own records.

--since and --until take a duration ago (30m, 12h, 7d) or an RFC3339 time.
Table output stops after 1000 records unless --max says otherwise; json and
csv are unbounded unless --max is set. With --follow, records matching
--since are printed first (none by default), then new ones as they are
written, until Ctrl-C; a dropped stream is reconnected.`,
		Example: `  kubently audit --since 1h
  kubently audit --since 24h --cluster prod-eu --outcome denied
  kubently audit --command-id 01J9ZC0Q8W -o json
  kubently audit --since 2026-05-01T00:00:00Z --until 2026-05-02T00:00:00Z -o csv > audit.csv
  kubently audit -f --identity alice`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, err := fl.validate(o.now(), cmd.Flags().Changed("max"))
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%w\nRun '%s --help' for usage", err, cmd.CommandPath())}
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			return runAudit(cmd.Context(), o, c, req)
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.since, "since", "", "only records at or after this: a duration ago (1h, 7d) or an RFC3339 time")
	f.StringVar(&fl.until, "until", "", "only records before this: a duration ago or an RFC3339 time")
	f.StringVar(&fl.cluster, "cluster", "", "only this cluster's records ("+audit.NoCluster+": records naming no cluster)")
	f.StringVar(&fl.identity, "identity", "", "only this caller's records (API key name)")
	f.StringVar(&fl.outcome, "outcome", "", "only this outcome: "+joinOutcomes(", "))
	f.StringVar(&fl.event, "event", "", "only this event: "+joinEvents(", "))
	f.StringVar(&fl.commandID, "command-id", "", "only this command's records")
	f.IntVar(&fl.limit, "limit", 0, fmt.Sprintf("records per request, 1 to %d (default: the gateway's, %d)", audit.MaxLimit, audit.DefaultLimit))
	f.IntVar(&fl.max, "max", 0, fmt.Sprintf("stop after this many records, 0 for no limit (default %d for table output, else no limit)", defaultTableMax))
	f.StringVarP(&fl.output, "output", "o", "table", "table, json or csv (json: an array; with --follow, one object per line)")
	f.BoolVarP(&fl.follow, "follow", "f", false, "keep printing new records until interrupted")
	_ = cmd.RegisterFlagCompletionFunc("outcome", fixedCompletion(stringsOf(outcomes)...))
	_ = cmd.RegisterFlagCompletionFunc("event", fixedCompletion(stringsOf(audit.Events)...))
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion(auditOutputs...))
	return cmd
}

func fixedCompletion(values ...string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

func stringsOf[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

func joinOutcomes(sep string) string { return strings.Join(stringsOf(outcomes), sep) }
func joinEvents(sep string) string   { return strings.Join(stringsOf(audit.Events), sep) }

// validate checks the flags and builds the request; now anchors relative
// times. maxSet says whether --max was given.
func (fl auditFlags) validate(now time.Time, maxSet bool) (auditRequest, error) {
	var req auditRequest
	switch fl.output {
	case "table", "json", "csv":
		req.output = fl.output
	default:
		return req, fmt.Errorf("--output %q: want table, json or csv", fl.output)
	}
	var err error
	if req.q.Since, err = parseWhen("--since", fl.since, now); err != nil {
		return req, err
	}
	if req.q.Until, err = parseWhen("--until", fl.until, now); err != nil {
		return req, err
	}
	if !req.q.Since.IsZero() && !req.q.Until.IsZero() && !req.q.Until.After(req.q.Since) {
		return req, fmt.Errorf("--until %s is not after --since %s", req.q.Until.Format(time.RFC3339), req.q.Since.Format(time.RFC3339))
	}
	if fl.follow && !req.q.Until.IsZero() && !req.q.Until.After(now) {
		return req, fmt.Errorf("--until %s is in the past: nothing new can match, so drop --follow", req.q.Until.Format(time.RFC3339))
	}
	if o := audit.Outcome(fl.outcome); o != "" && !o.Known() {
		return req, fmt.Errorf("--outcome %q: want one of %s", fl.outcome, joinOutcomes(", "))
	}
	req.q.Outcome = audit.Outcome(fl.outcome)
	if e := audit.Event(fl.event); e != "" && !e.Known() {
		return req, fmt.Errorf("--event %q: want one of %s", fl.event, joinEvents(", "))
	}
	req.q.Event = audit.Event(fl.event)
	if fl.cluster != "" {
		if _, err := audit.FilterSubject("", fl.cluster); err != nil {
			return req, fmt.Errorf("--cluster %q: want a cluster id (lower-case letters, digits and '-', at most %d) or %q", fl.cluster, audit.MaxClusterLen, audit.NoCluster)
		}
	}
	req.q.Cluster = fl.cluster
	if len(fl.identity) > audit.MaxFieldLen {
		return req, fmt.Errorf("--identity is %d bytes: want at most %d", len(fl.identity), audit.MaxFieldLen)
	}
	req.q.Identity = fl.identity
	if fl.commandID != "" && (audit.Filter{CommandID: fl.commandID}).Validate() != nil {
		return req, fmt.Errorf("--command-id %q: want 1 to %d characters of A-Z, a-z, 0-9, '_' and '-'", fl.commandID, audit.MaxIDLen)
	}
	req.q.CommandID = fl.commandID
	if fl.limit < 0 || fl.limit > audit.MaxLimit {
		return req, fmt.Errorf("--limit %d: want 1 to %d", fl.limit, audit.MaxLimit)
	}
	req.q.Limit = fl.limit
	if fl.max < 0 {
		return req, fmt.Errorf("--max %d: want 0 (no limit) or more", fl.max)
	}
	req.max = fl.max
	if !maxSet && req.output == "table" && !fl.follow {
		req.max = defaultTableMax
	}
	req.follow = fl.follow
	// The library's own check, the one the gateway applies, catches
	// anything the flag checks above missed.
	filter := audit.Filter{
		Since: req.q.Since, Until: req.q.Until, Cluster: req.q.Cluster, Identity: req.q.Identity,
		Outcome: req.q.Outcome, Event: req.q.Event, CommandID: req.q.CommandID,
	}
	if err := filter.Validate(); err != nil {
		return req, err
	}
	return req, nil
}

// parseWhen parses a --since/--until value: "" (zero), an RFC3339 time, or
// a positive duration ago (Go syntax, plus whole days as "7d").
func parseWhen(flag, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	var (
		d   time.Duration
		err error
	)
	if days, ok := strings.CutSuffix(v, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		if err == nil && n > 0 && n <= 3650 {
			d = time.Duration(n) * 24 * time.Hour
		} else {
			err = errors.New("bad day count")
		}
	} else {
		d, err = time.ParseDuration(v)
	}
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("%s %q: want a duration ago (30m, 12h, 7d) or an RFC3339 time (2026-05-01T10:00:00Z)", flag, v)
	}
	return now.Add(-d), nil
}

// runAudit runs a validated request: a bounded query, or a follow.
func runAudit(ctx context.Context, o *Options, c *client.Client, req auditRequest) error {
	p := newAuditPrinter(o, req.output, req.follow)
	n := 0
	emit := func(r audit.Record) error {
		if req.max > 0 && n >= req.max {
			return errReachedMax
		}
		n++
		return p.print(r)
	}
	if !req.follow {
		more, err := pageAudit(ctx, c, req.q, req.max, emit)
		if err != nil {
			// Show what arrived before the error; the exit code tells.
			_ = p.close()
			return err
		}
		if err := p.close(); err != nil {
			return err
		}
		if n == 0 && req.output == "table" {
			fmt.Fprintln(o.stderr, "No audit records found.")
		}
		if more {
			fmt.Fprintf(o.stderr, "kubently: stopped after %d records (--max); more may match: raise --max or narrow the query\n", n)
		}
		return nil
	}

	// Follow: print the backlog, then tail the stream from a little before
	// the backlog's start, skipping what the backlog printed.
	start := o.now()
	recent := newRecentWindow()
	var backlogMore bool
	if !req.q.Since.IsZero() {
		more, err := pageAudit(ctx, c, req.q, req.max, func(r audit.Record) error {
			recent.add(r)
			return emit(r)
		})
		if err != nil {
			_ = p.close()
			return err
		}
		backlogMore = more
	}
	if !backlogMore && (req.max == 0 || n < req.max) {
		sq := req.q
		sq.Cursor, sq.Limit = "", 0
		if !sq.Since.IsZero() {
			sq.Since = later(sq.Since, start.Add(-audit.ClockSlack))
		}
		opt := o.follow
		opt.Skip = recent.idsSince(sq.Since)
		opt.OnReconnect = func(err error, wait time.Duration) {
			fmt.Fprintf(o.stderr, "kubently: audit stream: %v; reconnecting in %s\n", err, wait.Round(100*time.Millisecond))
		}
		fctx := ctx
		if !sq.Until.IsZero() {
			// Records before Until may be stored up to ClockSlack later.
			var cancel context.CancelFunc
			fctx, cancel = context.WithDeadline(ctx, sq.Until.Add(audit.ClockSlack))
			defer cancel()
		}
		err := c.FollowAuditWith(fctx, sq, opt, emit)
		switch {
		case errors.Is(err, errReachedMax):
			backlogMore = true
		case err != nil:
			_ = p.close()
			return err
		}
	}
	if err := p.close(); err != nil {
		return err
	}
	if backlogMore {
		fmt.Fprintf(o.stderr, "kubently: stopped after %d records (--max)\n", n)
	}
	return nil
}

// pageAudit pages through q until the gateway has no more, or until maxN
// records (if positive) were emitted. It reports whether it stopped at maxN
// with more possibly left.
func pageAudit(ctx context.Context, c *client.Client, q client.AuditQuery, maxN int, emit func(audit.Record) error) (bool, error) {
	n := 0
	userLimit := q.Limit
	for {
		if maxN > 0 {
			rem := maxN - n
			// Ask for no more than is left to print.
			if (userLimit == 0 && rem < audit.DefaultLimit) || userLimit > rem {
				q.Limit = rem
			} else {
				q.Limit = userLimit
			}
		}
		page, err := c.Audit(ctx, q)
		if err != nil {
			return false, err
		}
		for _, r := range page.Records {
			if maxN > 0 && n >= maxN {
				return true, nil
			}
			if err := emit(r); err != nil {
				return false, err
			}
			n++
		}
		if page.NextCursor == "" {
			return false, nil
		}
		if maxN > 0 && n >= maxN {
			return true, nil
		}
		if page.NextCursor == q.Cursor {
			return false, fmt.Errorf("the gateway returned the same audit cursor twice (%q); stopping", page.NextCursor)
		}
		q.Cursor = page.NextCursor
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// recentWindow keeps the ids and times of the last records of a backlog,
// bounded, so a follow can skip the ones its stream replays.
type recentWindow struct {
	ids   []string
	times []time.Time
	next  int
	full  bool
}

const recentWindowSize = 16384

func newRecentWindow() *recentWindow {
	return &recentWindow{ids: make([]string, recentWindowSize), times: make([]time.Time, recentWindowSize)}
}

func (w *recentWindow) add(r audit.Record) {
	w.ids[w.next], w.times[w.next] = r.ID, r.Time
	w.next++
	if w.next == len(w.ids) {
		w.next, w.full = 0, true
	}
}

// idsSince returns the ids of the kept records with Time at or after t.
func (w *recentWindow) idsSince(t time.Time) []string {
	n := w.next
	if w.full {
		n = len(w.ids)
	}
	var out []string
	for i := range n {
		if w.ids[i] != "" && !w.times[i].Before(t) {
			out = append(out, w.ids[i])
		}
	}
	return out
}
