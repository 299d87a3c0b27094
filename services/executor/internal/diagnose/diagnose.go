package diagnose

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"

	"kubently.io/libs/contracts"
)

// Defaults of Config.
const (
	// DefaultPageSize is the page size of every List.
	DefaultPageSize = 500
	// DefaultMaxObjects caps the objects read per kind.
	DefaultMaxObjects = 20000
	// DefaultMaxLogReads caps the log reads per diagnosis.
	DefaultMaxLogReads = 8
	// DefaultLogTailLines is how many lines of a log are searched.
	DefaultLogTailLines = 100
	// DefaultRecent is how far back a restart or an OOM kill counts.
	DefaultRecent = time.Hour
	// DefaultNotReadyGrace is how long a pod outside a rollout may be
	// unready before its failing probe is a finding.
	DefaultNotReadyGrace = 2 * time.Minute
	// DefaultMaxFindings caps the findings of one report.
	DefaultMaxFindings = 200
	// maxPodsNamed caps Finding.Pods.
	maxPodsNamed = 20
	// maxEvidence caps Finding.Evidence.
	maxEvidence = 12
	// maxValueLen caps an Evidence value.
	maxValueLen = 600
)

var (
	// ErrNoClient is returned by New when Config.Client is nil.
	ErrNoClient = errors.New("diagnose: Config.Client is required")
	// ErrInvalidConfig is wrapped for out-of-range settings.
	ErrInvalidConfig = errors.New("diagnose: invalid config")
)

// Config configures a Diagnoser. Zero values select the defaults.
type Config struct {
	// Client reads the cluster. Required. The executor passes a client
	// behind its read-only transport.
	Client kubernetes.Interface
	// Restricts reports whether the policy profile restricts a resource
	// (group, plural resource); such kinds are not read. Nil restricts
	// nothing (Secrets are never read whatever it says).
	Restricts func(group, resource string) bool
	// Clock returns the current time. Nil means time.Now.
	Clock func() time.Time
	// PageSize is the List page size; 0 means DefaultPageSize.
	PageSize int64
	// MaxObjects caps objects read per kind; 0 means DefaultMaxObjects.
	MaxObjects int
	// MaxLogReads caps log reads per diagnosis; 0 means
	// DefaultMaxLogReads, negative means none.
	MaxLogReads int
	// LogTailLines is how many log lines are searched; 0 means
	// DefaultLogTailLines.
	LogTailLines int64
	// Recent is the window for recent restarts, OOM kills and probe
	// failures; 0 means DefaultRecent.
	Recent time.Duration
	// NotReadyGrace: see DefaultNotReadyGrace; 0 means the default.
	NotReadyGrace time.Duration
	// MaxFindings caps the findings of a report; 0 means DefaultMaxFindings.
	MaxFindings int
}

// Diagnoser runs diagnoses. Create it with New.
type Diagnoser struct {
	cfg Config
}

// New validates cfg and returns a Diagnoser.
func New(cfg Config) (*Diagnoser, error) {
	if cfg.Client == nil {
		return nil, ErrNoClient
	}
	if cfg.PageSize < 0 || cfg.MaxObjects < 0 || cfg.LogTailLines < 0 || cfg.Recent < 0 || cfg.NotReadyGrace < 0 || cfg.MaxFindings < 0 {
		return nil, fmt.Errorf("%w: negative limit", ErrInvalidConfig)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Restricts == nil {
		cfg.Restricts = func(string, string) bool { return false }
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.MaxObjects == 0 {
		cfg.MaxObjects = DefaultMaxObjects
	}
	if cfg.MaxLogReads == 0 {
		cfg.MaxLogReads = DefaultMaxLogReads
	}
	if cfg.LogTailLines == 0 {
		cfg.LogTailLines = DefaultLogTailLines
	}
	if cfg.Recent == 0 {
		cfg.Recent = DefaultRecent
	}
	if cfg.NotReadyGrace == 0 {
		cfg.NotReadyGrace = DefaultNotReadyGrace
	}
	if cfg.MaxFindings == 0 {
		cfg.MaxFindings = DefaultMaxFindings
	}
	return &Diagnoser{cfg: cfg}, nil
}

// Scope is what to diagnose: one namespace, or the whole cluster (every
// namespace, plus nodes).
type Scope struct {
	// Namespace to diagnose; ignored when All is set.
	Namespace string
	// All diagnoses every namespace and the nodes.
	All bool
}

// Run diagnoses scope and returns the report. A kind that cannot be read
// is named in Skipped; the error is non-nil only when nothing useful
// could be read (the pods) or ctx ended.
func (d *Diagnoser) Run(ctx context.Context, scope Scope) (contracts.DiagnoseReport, error) {
	start := d.cfg.Clock()
	rep := contracts.DiagnoseReport{Type: contracts.TypeDiagnoseReport, AllNamespaces: scope.All}
	if !scope.All {
		rep.Namespaces = []string{scope.Namespace}
	}
	s, err := d.read(ctx, scope)
	if err != nil {
		return rep, err
	}
	a := newAnalysis(d, s)
	a.run(ctx)
	rep.Findings = a.findings()
	if len(rep.Findings) > d.cfg.MaxFindings {
		rep.Findings = rep.Findings[:d.cfg.MaxFindings]
		rep.Truncated = true
	}
	rep.Skipped = s.skipped
	rep.Truncated = rep.Truncated || s.truncated
	rep.APICalls = s.calls + a.logCalls
	rep.DurationMS = d.cfg.Clock().Sub(start).Milliseconds()
	return rep, nil
}
