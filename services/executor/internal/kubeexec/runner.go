package kubeexec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	metricsclientset "k8s.io/metrics/pkg/client/clientset/versioned"

	"kubently.io/libs/policy"
	"kubently.io/services/executor/internal/readonly"
)

const (
	// DefaultMaxOutputBytes is the byte cap on a Result's Output when
	// Config.MaxOutputBytes is zero.
	DefaultMaxOutputBytes = 256 << 10

	// DefaultChunkSize is the page size of list calls when a command does not
	// set --chunk-size (kubectl's default).
	DefaultChunkSize = 500

	// DefaultMaxSortBytes is Config.MaxSortBytes when zero: how many bytes
	// of API answers one get --sort-by may hold to sort (decoded, they
	// take about five times as much memory).
	DefaultMaxSortBytes = 8 << 20

	// DefaultMaxConcurrentSorts is Config.MaxConcurrentSorts when zero.
	DefaultMaxConcurrentSorts = 2

	// maxErrorBytes caps a Result's Error, which holds kubectl's stderr.
	maxErrorBytes = 64 << 10

	// discoveryRefreshInterval is the least time between two discovery
	// refreshes caused by an unknown resource type, so that typos do not
	// hammer the API server while new CRDs are still found quickly.
	discoveryRefreshInterval = 2 * time.Second

	// defaultQPS and defaultBurst replace client-go's low defaults (5 and
	// 10) when the given rest.Config leaves them zero: one executor serves
	// many concurrent commands, and describe makes several calls each.
	defaultQPS   = 50
	defaultBurst = 100
)

var (
	// ErrNoRESTConfig is returned by New when Config.REST is nil.
	ErrNoRESTConfig = errors.New("kubeexec: Config.REST is required")

	// ErrInvalidConfig is wrapped by New's error for out-of-range settings.
	ErrInvalidConfig = errors.New("kubeexec: invalid config")
)

// Config configures a Runner. The zero value of every field except REST
// selects a default.
type Config struct {
	// REST is how to reach and authenticate to the API server. Required.
	// New never modifies it; the Runner uses a copy whose transport refuses
	// every request that is not a read (see package readonly).
	REST *rest.Config

	// MaxOutputBytes caps the Output of every Result. Zero means
	// DefaultMaxOutputBytes (256 KiB); negative values are rejected.
	MaxOutputBytes int

	// MaxLogBytes caps the bytes read from log streams per command. Zero
	// means MaxOutputBytes; negative values are rejected.
	MaxLogBytes int64

	// MaxLogScanBytes caps the log bytes logs --grep reads (and searches)
	// per command; only matching lines count against MaxOutputBytes. Zero
	// means DefaultMaxLogScanBytes (64 MiB); negative values are rejected.
	MaxLogScanBytes int64

	// MaxSortBytes bounds the bytes of API answers one get --sort-by
	// reads: sorting holds every object in memory, so a larger list is
	// refused with a hint to narrow it or page it unsorted. Zero means
	// DefaultMaxSortBytes; negative values are rejected.
	MaxSortBytes int64

	// MaxConcurrentSorts bounds how many get --sort-by commands hold their
	// objects at once; more wait for a slot until their deadline. Zero
	// means DefaultMaxConcurrentSorts; negative values are rejected.
	MaxConcurrentSorts int

	// Clock returns the current time, used for ages such as the LAST SEEN
	// column of events. Nil means time.Now.
	Clock func() time.Time

	// Profile returns the policy profile in force for this cluster; it
	// is called per command, so a reloaded policy applies at once. Nil
	// means the built-in readOnly profile. The Runner refuses every
	// resource the profile restricts, after resolving it through
	// discovery, and masks what the profile says to redact.
	Profile func() *policy.Profile

	// Cluster is this cluster's id, used in the commands a diagnosis
	// suggests ("kubently exec CLUSTER -- …"). Empty means "CLUSTER".
	Cluster string
}

// Result is the outcome of one command, shaped like a kubectl invocation.
type Result struct {
	// Output is what kubectl would print on stdout, capped at the Runner's
	// MaxOutputBytes. It may hold partial output when ExitCode is not 0.
	Output string

	// Error is what kubectl would print on stderr, without the trailing
	// newline: error messages, and notices such as "No resources found in
	// default namespace." that come with ExitCode 0. When Truncated is set
	// it ends with a one-line hint on how to narrow the command.
	Error string

	// ExitCode is 0 on success and 1 on any error, as with kubectl.
	ExitCode int

	// Truncated reports that Output was cut at the byte cap or that log or
	// list reading stopped early because of it.
	Truncated bool

	// Structured is the command's objects as one JSON document, the shape
	// of "-o json" (a kind: List for several objects), for callers that
	// want data rather than text. It is set by get with an object format
	// (json, yaml, jsonpath, custom-columns), events, top, api-resources,
	// api-versions, version and auth can-i when it fits in MaxOutputBytes;
	// otherwise nil. It is never truncated: it is valid JSON or absent.
	Structured json.RawMessage

	// DeniedReason is set when the policy refused the command after
	// resolving its resource types through discovery (for example a CRD
	// short name that names a restricted kind); Error says why. Nothing
	// was read from the cluster for the refused type.
	DeniedReason policy.Reason

	// Continue is set when a get of one resource type stopped at the byte
	// cap at a page boundary: the API server's continue token, to pass as
	// --continue to read the next page. Error's hint says so too.
	Continue string
}

// Runner runs kubectl-style read commands against one cluster with
// client-go. Create it with New.
type Runner struct {
	maxOutput   int
	maxLogBytes int64
	maxLogScan  int64
	// maxSortBytes and sortSlots bound get --sort-by (Config).
	maxSortBytes int64
	sortSlots    chan struct{}
	now          func() time.Time
	profileFn    func() *policy.Profile
	redaction    *redaction
	cluster      string

	restConfig *rest.Config // guarded by readonly.Guard, QPS defaults applied
	httpClient *http.Client // shared by all clients below
	raw        rest.Interface
	core       kubernetes.Interface
	dyn        dynamic.Interface
	metrics    metricsclientset.Interface
	discovery  discovery.CachedDiscoveryInterfaceWithContext
	resetter   interface{ ResetWithContext(context.Context) }
	mapper     meta.RESTMapperWithContext
	resolved   resolved // memo of mapper and category answers

	refreshMu   sync.Mutex
	lastRefresh time.Time
	lastSummary string        // hash of the last DiscoverySummary
	changed     chan struct{} // DiscoveryChanged; capacity 1
}

// New validates cfg and builds the Runner's clients: a shared HTTP client
// behind the readonly guard, typed and dynamic clients, a memory-cached
// discovery client and a deferred, shortcut-expanding RESTMapper. It does
// not contact the API server; discovery happens on first use.
func New(cfg Config) (*Runner, error) {
	if cfg.REST == nil {
		return nil, ErrNoRESTConfig
	}
	if cfg.MaxOutputBytes < 0 {
		return nil, fmt.Errorf("%w: MaxOutputBytes %d is negative", ErrInvalidConfig, cfg.MaxOutputBytes)
	}
	if cfg.MaxLogBytes < 0 {
		return nil, fmt.Errorf("%w: MaxLogBytes %d is negative", ErrInvalidConfig, cfg.MaxLogBytes)
	}
	if cfg.MaxLogScanBytes < 0 {
		return nil, fmt.Errorf("%w: MaxLogScanBytes %d is negative", ErrInvalidConfig, cfg.MaxLogScanBytes)
	}
	if cfg.MaxSortBytes < 0 || cfg.MaxConcurrentSorts < 0 {
		return nil, fmt.Errorf("%w: MaxSortBytes %d or MaxConcurrentSorts %d is negative", ErrInvalidConfig, cfg.MaxSortBytes, cfg.MaxConcurrentSorts)
	}
	r := &Runner{
		maxOutput:   cfg.MaxOutputBytes,
		maxLogBytes: cfg.MaxLogBytes,
		now:         cfg.Clock,
		profileFn:   cfg.Profile,
		cluster:     cfg.Cluster,
		changed:     make(chan struct{}, 1),
	}
	if r.maxOutput == 0 {
		r.maxOutput = DefaultMaxOutputBytes
	}
	if r.maxLogBytes == 0 {
		r.maxLogBytes = int64(r.maxOutput)
	}
	if r.maxLogScan = cfg.MaxLogScanBytes; r.maxLogScan == 0 {
		r.maxLogScan = DefaultMaxLogScanBytes
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.maxSortBytes = cfg.MaxSortBytes; r.maxSortBytes == 0 {
		r.maxSortBytes = DefaultMaxSortBytes
	}
	sorts := cfg.MaxConcurrentSorts
	if sorts == 0 {
		sorts = DefaultMaxConcurrentSorts
	}
	r.sortSlots = make(chan struct{}, sorts)

	var err error
	if r.redaction, err = newRedaction(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	rc := readonly.Guard(cfg.REST)
	// Only JSON crosses the transport, so the redactor can read every
	// response; it refuses protobuf and watches.
	rc.ContentType = "application/json"
	rc.AcceptContentTypes = "application/json"
	rc.Wrap(r.redaction.transport)
	if rc.QPS == 0 {
		rc.QPS = defaultQPS
	}
	if rc.Burst == 0 {
		rc.Burst = defaultBurst
	}
	if rc.UserAgent == "" {
		rc.UserAgent = "kubently-executor"
	}
	// Warnings go to the stderr of the command that caused them, as with
	// kubectl ("Warning: v1 ComponentStatus is deprecated in v1.19+").
	rc.WarningHandler = nil
	rc.WarningHandlerWithContext = warningSink{}
	r.restConfig = rc

	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	r.httpClient = hc

	rawCfg := rest.CopyConfig(rc)
	rawCfg.APIPath = ""
	rawCfg.GroupVersion = &schema.GroupVersion{}
	rawCfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	if r.raw, err = rest.RESTClientForConfigAndClient(rawCfg, hc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if r.core, err = kubernetes.NewForConfigAndClient(rc, hc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if r.dyn, err = dynamic.NewForConfigAndClient(rc, hc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if r.metrics, err = metricsclientset.NewForConfigAndClient(rc, hc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	dc, err := discovery.NewDiscoveryClientForConfigAndClient(rc, hc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	cached := memory.NewMemCacheClientWithContext(dc)
	deferred := restmapper.NewDeferredDiscoveryRESTMapperWithContext(cached)
	r.discovery = cached
	r.resetter = deferred
	r.mapper = restmapper.NewShortcutExpanderWithContext(deferred, cached, func(string) {})
	return r, nil
}

// RESTConfig returns a copy of the rest.Config the Runner uses: the one
// given to New, with its transport behind the readonly guard. Clients built
// from it can read but never write.
func (r *Runner) RESTConfig() *rest.Config {
	return rest.CopyConfig(r.restConfig)
}

// Run parses argv with policy.Parse and runs it with RunCommand. argv is a
// kubectl command line without the leading "kubectl", for example {"get",
// "pods", "-n", "kube-system", "-o", "wide"}. A command line the policy's
// parser refuses is not run: the Result carries the refusal (exit code 1,
// DeniedReason and the policy's message).
func (r *Runner) Run(ctx context.Context, argv []string) Result {
	cmd, d, ok := policy.Parse(argv)
	if !ok {
		return Result{Error: "error: " + d.Message, ExitCode: 1, DeniedReason: d.Reason}
	}
	return r.RunCommand(ctx, cmd)
}

// RunCommand runs one command as policy.Parse read it: the executor never
// parses argv itself, so what the policy judged is what runs. ctx bounds
// the whole command: every API call and log stream stops when it is done.
// RunCommand never panics; every failure is reported in the Result.
func (r *Runner) RunCommand(ctx context.Context, cmd *policy.Command) (res Result) {
	inv := &invocation{
		out:    newCapBuffer(r.maxOutput),
		errOut: newCapBuffer(maxErrorBytes),
	}
	inv.ctx = context.WithValue(ctx, invocationKey{}, inv)
	if readsObjects(cmd) {
		r.refreshRedaction(inv.ctx)
	}
	defer func() {
		if p := recover(); p != nil {
			inv.failed = true
			inv.errorf("error: internal error while running the command: %v", p)
			res = r.result(inv)
		}
	}()
	if err := r.dispatch(inv, cmd); err != nil {
		inv.fail(err)
	}
	return r.result(inv)
}

// noObjectVerbs are the verbs whose answers carry no API object: the
// server's version, its discovery and its schema. They run without first
// bringing the redactor up to date, which resolves the profile's redacted
// resources through discovery: `version --client` needs no API server at
// all and must not wait for one that hangs or refuses. Every other verb
// may read objects and refreshes the redactor first.
var noObjectVerbs = map[string]bool{"version": true, "api-versions": true, "api-resources": true, "explain": true}

// readsObjects reports whether cmd may read API objects (so its responses
// must pass the profile's current redactor).
func readsObjects(cmd *policy.Command) bool {
	return cmd != nil && !noObjectVerbs[cmd.Verb]
}

// result turns the buffers of inv into a Result.
func (r *Runner) result(inv *invocation) Result {
	out, cut := inv.out.String()
	if inv.truncated && !cut {
		// Reading stopped at a cap, possibly mid-line (logs): end on a
		// line boundary here too.
		out = string(cutAtLine([]byte(out)))
	}
	res := Result{Output: out, Truncated: cut || inv.truncated}
	if inv.denied != nil {
		res.DeniedReason = inv.denied.reason
		inv.failed = true
	}
	if inv.failed {
		res.ExitCode = 1
	}
	errText, _ := inv.errOut.String()
	errText = strings.TrimRight(errText, "\n")
	if res.Truncated {
		hint := fmt.Sprintf("output truncated at %d bytes; narrow with -l, -n, --tail or --chunk-size", r.maxOutput)
		if inv.truncNote != "" {
			hint += " (" + inv.truncNote + ")"
		}
		if inv.continueToken != "" {
			res.Continue = inv.continueToken
			hint += "; read the next page by adding --continue=" + inv.continueToken
		}
		if errText != "" {
			errText += "\n"
		}
		errText += hint
	}
	res.Error = errText
	if !res.Truncated && len(inv.structured) > 0 && len(inv.structured) <= r.maxOutput && json.Valid(inv.structured) {
		res.Structured = inv.structured
	}
	return res
}

// setStructured keeps obj, encoded as JSON, as the Result's Structured
// form. It gives up silently when obj cannot be encoded: the text output
// is what the command promises.
func (inv *invocation) setStructured(obj any) {
	b, err := json.Marshal(obj)
	if err != nil {
		return
	}
	inv.structured = b
}

// dispatch picks the handler of cmd's verb (policy.Parse knows the
// verbs; a nil command or an unknown verb is refused here too).
func (r *Runner) dispatch(inv *invocation, cmd *policy.Command) error {
	if cmd == nil {
		return errors.New(`you must specify a command such as "get", "describe", "logs" or "events"`)
	}
	switch cmd.Verb {
	case "get":
		return r.get(inv, cmd)
	case "describe":
		return r.describe(inv, cmd)
	case "logs":
		return r.logs(inv, cmd)
	case "events":
		return r.events(inv, cmd)
	case "top":
		return r.top(inv, cmd)
	case "rollout":
		return r.rollout(inv, cmd)
	case "api-resources":
		return r.apiResources(inv, cmd)
	case "api-versions":
		return r.apiVersions(inv, cmd)
	case "version":
		return r.version(inv, cmd)
	case "cluster-info":
		return r.clusterInfo(inv, cmd)
	case "auth":
		return r.auth(inv, cmd)
	case "explain":
		return r.explainCmd(inv, cmd)
	case "diagnose":
		return r.diagnose(inv, cmd)
	default:
		return fmt.Errorf("unknown command %q for \"kubectl\"", cmd.Verb)
	}
}

// invocation is the state of one Run.
type invocation struct {
	ctx       context.Context
	out       *capBuffer
	errOut    *capBuffer
	failed    bool    // exit code 1
	truncated bool    // reading stopped early at a cap
	truncNote string  // extra words for the truncation hint
	denied    *denial // the policy refused a resolved type
	// continueToken resumes a list cut at the byte cap (get --continue).
	continueToken string
	// structured is the JSON of the Result's Structured form, or nil.
	structured []byte

	warnMu sync.Mutex
	warned map[string]bool
}

// invocationKey is the context key under which Run stores its invocation,
// so that API warnings reach the command that caused them.
type invocationKey struct{}

// warningSink is the rest.Config warning handler of a Runner: it prints
// API warnings (code 299) once each on the stderr of the command whose
// context made the request, like kubectl.
type warningSink struct{}

// HandleWarningHeaderWithContext implements rest.WarningHandlerWithContext.
func (warningSink) HandleWarningHeaderWithContext(ctx context.Context, code int, _ string, text string) {
	if code != 299 || text == "" {
		return
	}
	inv, ok := ctx.Value(invocationKey{}).(*invocation)
	if !ok {
		return
	}
	inv.warnMu.Lock()
	defer inv.warnMu.Unlock()
	if inv.warned[text] {
		return
	}
	if inv.warned == nil {
		inv.warned = map[string]bool{}
	}
	inv.warned[text] = true
	inv.errorf("Warning: %s", text)
}

// errorf writes one line to stderr.
func (inv *invocation) errorf(format string, args ...any) {
	fmt.Fprintf(inv.errOut, format, args...)
	fmt.Fprintln(inv.errOut)
}

// failText reports an error worded exactly like kubectl's, for messages
// that are not valid Go error strings (capitalised, or ending with a
// period): "error: " and msg on stderr, and exit code 1.
func (inv *invocation) failText(msg string) {
	inv.failed = true
	inv.errorf("error: %s", msg)
}

// fail reports err on stderr the way kubectl does and marks the command as
// failed.
func (inv *invocation) fail(err error) {
	if err == nil {
		return
	}
	inv.failAll([]error{err})
}
