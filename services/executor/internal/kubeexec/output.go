package kubeexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	"kubently.io/libs/policy"
	"kubently.io/services/executor/internal/readonly"
)

// capBuffer is an io.Writer that keeps the first max bytes written to it
// and remembers whether more were offered. Writes never fail, so printers
// run to completion; callers poll Full to stop producing early.
type capBuffer struct {
	buf  []byte
	max  int
	over bool
}

func newCapBuffer(max int) *capBuffer {
	return &capBuffer{max: max}
}

// Write implements io.Writer.
func (b *capBuffer) Write(p []byte) (int, error) {
	room := b.max - len(b.buf)
	if len(p) > room {
		if room > 0 {
			b.buf = append(b.buf, p[:room]...)
		}
		b.over = true
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// Full reports whether more than max bytes were written.
func (b *capBuffer) Full() bool { return b.over }

// Len returns the number of bytes kept.
func (b *capBuffer) Len() int { return len(b.buf) }

// String returns the kept bytes and whether they were cut. A cut happens at
// the last line boundary when there is one, else at the last whole UTF-8
// character.
func (b *capBuffer) String() (string, bool) {
	if !b.over {
		return string(b.buf), false
	}
	return string(cutAtLine(b.buf)), true
}

// cutAtLine drops the incomplete last line of p, or, if p has no newline,
// an incomplete trailing UTF-8 sequence.
func cutAtLine(p []byte) []byte {
	if i := bytes.LastIndexByte(p, '\n'); i >= 0 {
		return p[:i+1]
	}
	for n := 0; n < utf8.UTFMax && len(p) > 0; n++ {
		if utf8.Valid(p) {
			break
		}
		p = p[:len(p)-1]
	}
	return p
}

// errorMessage renders err the way kubectl prints it on stderr.
func errorMessage(ctx context.Context, err error) string {
	if ctx.Err() != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "error: the command did not finish before its deadline"
		}
		return "error: the command was cancelled"
	}
	if errors.Is(err, readonly.ErrWriteDenied) || errors.Is(err, readonly.ErrWatchDenied) {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			return "error: " + uerr.Err.Error()
		}
		return "error: " + err.Error()
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		msg := err.Error()
		if e, ok := status.(error); ok {
			msg = e.Error()
		}
		switch s := status.Status(); {
		case s.Reason == metav1.StatusReasonUnauthorized:
			return fmt.Sprintf("error: You must be logged in to the server (%s)", s.Message)
		case s.Reason != "":
			return fmt.Sprintf("Error from server (%s): %s", s.Reason, msg)
		default:
			return fmt.Sprintf("Error from server: %s", msg)
		}
	}
	var noMatch *meta.NoResourceMatchError
	if errors.As(err, &noMatch) {
		pr := noMatch.PartialResource
		switch {
		case pr.Group != "" && pr.Version != "":
			return fmt.Sprintf("error: the server doesn't have a resource type %q in group %q and version %q", pr.Resource, pr.Group, pr.Version)
		case pr.Group != "":
			return fmt.Sprintf("error: the server doesn't have a resource type %q in group %q", pr.Resource, pr.Group)
		case pr.Version != "":
			return fmt.Sprintf("error: the server doesn't have a resource type %q in version %q", pr.Resource, pr.Version)
		default:
			return fmt.Sprintf("error: the server doesn't have a resource type %q", pr.Resource)
		}
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		if strings.Contains(uerr.Err.Error(), "connection refused") {
			host := uerr.URL
			if u, perr := url.Parse(uerr.URL); perr == nil {
				host = u.Host
			}
			return fmt.Sprintf("The connection to the server %s was refused - did you specify the right host or port?", host)
		}
		return fmt.Sprintf("Unable to connect to the server: %v", uerr.Err)
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "error: ") {
		return msg // kubectl does not prefix twice
	}
	return "error: " + msg
}

// failAll reports every error in err, one per line, like kubectl does for
// aggregated errors.
func (inv *invocation) failAll(errs []error) {
	seen := map[string]bool{}
	for _, err := range errs {
		var agg utilerrors.Aggregate
		if errors.As(err, &agg) {
			inv.failAll(agg.Errors())
			continue
		}
		msg := errorMessage(inv.ctx, err)
		if seen[msg] {
			continue
		}
		seen[msg] = true
		inv.failed = true
		inv.errorf("%s", msg)
	}
}

// newFlagSet returns the flag set of cmd's verb (named by its
// policy.Command.Key), which reports errors instead of printing them or
// exiting. Its flags are filled from the command the policy parsed (see
// applyFlags), never from argv.
func newFlagSet(cmd *policy.Command) *pflag.FlagSet {
	fs := pflag.NewFlagSet(cmd.Key(), pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// flagSetBuilt, when set (only by tests), sees each verb's flag set
// before applyFlags fills it: the test that holds the executor's flags
// equal to the policy's flag table reads them here.
var flagSetBuilt func(fs *pflag.FlagSet)

// applyFlags sets the flags of cmd, as the policy read them, on fs (the
// verb's flag set) in order, the way pflag's own parsing sets them, and
// returns cmd's positional arguments. argv is parsed once, by
// policy.Parse: the executor only types the values. A flag fs does not
// define is an error (a test holds fs equal to policy.FlagTable).
func applyFlags(fs *pflag.FlagSet, cmd *policy.Command) ([]string, error) {
	if flagSetBuilt != nil {
		flagSetBuilt(fs)
	}
	for _, f := range cmd.Flags {
		fl := fs.Lookup(f.Name)
		if fl == nil {
			return nil, fmt.Errorf("flag --%s of %s is allowed by the policy but unknown to the executor", f.Name, cmd.Key())
		}
		if err := fs.Set(f.Name, f.Value); err != nil {
			// pflag's wording when parsing argv.
			name := "--" + fl.Name
			if fl.Shorthand != "" {
				name = "-" + fl.Shorthand + ", " + name
			}
			return nil, fmt.Errorf("invalid argument %q for %q flag: %w", f.Value, name, err)
		}
	}
	return cmd.Args, nil
}
