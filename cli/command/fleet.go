package command

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/labels"

	"kubently.io/cli/client"
	"kubently.io/libs/contracts"
)

// fleetFlags are the flags of a fan-out (exec -l, diagnose -l).
type fleetFlags struct {
	selector    string
	clusters    []string
	concurrency int
}

func (f *fleetFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&f.selector, "selector", "l", "", "run on every cluster whose labels match this selector (env=prod,region in (eu,us))")
	fl.StringSliceVar(&f.clusters, "clusters", nil, "run on these clusters (comma-separated), instead of one CLUSTER")
	fl.IntVar(&f.concurrency, "concurrency", 0, fmt.Sprintf("clusters run at once in a fan-out (default %d, max %d)", contracts.DefaultFleetConcurrency, contracts.MaxFleetConcurrency))
}

// on reports whether the flags ask for a fan-out.
func (f *fleetFlags) on() bool { return f.selector != "" || len(f.clusters) > 0 }

// target checks the flags (clear usage errors for a bad selector and the
// bounds) and returns the request's target.
func (f *fleetFlags) target(timeoutSeconds int) (contracts.FleetTarget, error) {
	t := contracts.FleetTarget{Selector: f.selector, Clusters: f.clusters, Concurrency: f.concurrency, TimeoutSeconds: timeoutSeconds}
	if f.selector != "" {
		if _, err := labels.Parse(f.selector); err != nil {
			return t, &ExitError{Code: ExitUsage, Err: fmt.Errorf("-l %q is not a label selector: %w (e.g. env=prod, env in (prod,staging), !canary)", f.selector, err)}
		}
	}
	if err := t.Validate(); err != nil {
		msg := contracts.AsError(err).Message
		msg = strings.NewReplacer("give selector or clusters", "give -l or --clusters", "concurrency", "--concurrency").Replace(msg)
		return t, &ExitError{Code: ExitUsage, Err: errors.New(msg)}
	}
	return t, nil
}

// fleetPrinter prints a fan-out's results as they arrive: each line of a
// cluster's output prefixed by the cluster ("prod-eu: ..."), failures on
// stderr, a done/total progress line on stderr when it is a terminal; or,
// with -o json, one JSON object a line (the results, then the summary).
type fleetPrinter struct {
	o        *Options
	json     bool
	progress bool
}

// start checks the fleet flags and returns the fan-out's target, the
// gateway client and the printer for output (text or json).
func (f *fleetFlags) start(o *Options, timeoutSeconds int, output string) (contracts.FleetTarget, *client.Client, *fleetPrinter, error) {
	t, err := f.target(timeoutSeconds)
	if err != nil {
		return t, nil, nil, err
	}
	c, err := o.client()
	if err != nil {
		return t, nil, nil, err
	}
	return t, c, newFleetPrinter(o, output), nil
}

func newFleetPrinter(o *Options, output string) *fleetPrinter {
	p := &fleetPrinter{o: o, json: output == "json"}
	if f, ok := o.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.progress = true
	}
	return p
}

func (p *fleetPrinter) clearProgress() {
	if p.progress {
		fmt.Fprint(p.o.stderr, "\r\033[K")
	}
}

// result prints one cluster's result; text renders the success's body.
func (p *fleetPrinter) result(r contracts.FleetResult, text func(w io.Writer, r contracts.FleetResult) error) error {
	if p.json {
		return json.NewEncoder(p.o.stdout).Encode(r)
	}
	p.clearProgress()
	if r.Outcome != contracts.FleetSucceeded && r.Result == nil {
		fmt.Fprintf(p.o.stderr, "%s: %s: %s\n", r.Cluster, r.Outcome, oneLine(r.Message))
	} else {
		var b strings.Builder
		if err := text(&b, r); err != nil {
			return err
		}
		prefix(p.o.stdout, r.Cluster, b.String())
		if r.Outcome != contracts.FleetSucceeded {
			fmt.Fprintf(p.o.stderr, "%s: %s: %s\n", r.Cluster, r.Outcome, oneLine(r.Message))
		}
	}
	if p.progress {
		fmt.Fprintf(p.o.stderr, "[%d/%d done]", r.Done, r.Total)
	}
	return nil
}

// summary prints the summary and returns the exit error: nil when every
// cluster succeeded, else the most telling code (denied, timeout, or
// failure).
func (p *fleetPrinter) summary(s contracts.FleetSummary) error {
	if p.json {
		if err := json.NewEncoder(p.o.stdout).Encode(s); err != nil {
			return err
		}
	} else {
		p.clearProgress()
		fmt.Fprintf(p.o.stderr, "kubently: %d clusters: %d succeeded, %d failed, %d denied, %d unreachable, %d timed out (fan-out %s)\n",
			s.Total, s.Succeeded, s.Failed, s.Denied, s.Unreachable, s.TimedOut, s.FanoutID)
	}
	switch {
	case s.Succeeded == s.Total:
		return nil
	case s.Denied > 0 && s.Denied == s.Total-s.Succeeded:
		return &ExitError{Code: ExitDenied}
	case s.TimedOut > 0 && s.TimedOut == s.Total-s.Succeeded:
		return &ExitError{Code: ExitTimeout}
	}
	return &ExitError{Code: ExitFailure}
}

// prefix writes each line of text to w behind "cluster: ".
func prefix(w io.Writer, cluster, text string) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fmt.Fprintf(w, "%s: %s\n", cluster, sc.Text())
	}
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}
