package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"kubently.io/libs/logging"
)

// ErrInvalidConfig reports a Config that Validate rejects.
var ErrInvalidConfig = errors.New("telemetry: invalid config")

// tracesPath is appended to Endpoint, as the SDK does for
// OTEL_EXPORTER_OTLP_ENDPOINT.
const tracesPath = "/v1/traces"

// Config configures tracing. Services embed it in their own Config, so the
// same variables configure every service.
type Config struct {
	// Enabled turns tracing on: spans are exported over OTLP/HTTP. Off
	// (the default) installs nothing; spans are no-ops, though trace
	// context received from upstream is still passed on.
	Enabled bool `env:"KUBENTLY_TRACING" default:"false"`
	// Endpoint is the OTLP/HTTP collector's base URL, e.g.
	// http://otel-collector:4318 (https for TLS); /v1/traces is appended
	// unless the path already ends with it. Empty means the SDK's own
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT
	// variables (default http://localhost:4318). OTEL_EXPORTER_OTLP_HEADERS
	// and the other OTEL_EXPORTER_OTLP_* variables apply either way.
	Endpoint string `env:"KUBENTLY_OTLP_ENDPOINT"`
	// SampleRatio is the share of new traces recorded, in (0, 1]; zero
	// means 1 (every trace). Spans whose upstream parent was sampled are
	// always recorded, so one trace is never recorded in part.
	SampleRatio float64 `env:"KUBENTLY_TRACE_SAMPLE_RATIO" default:"1"`
	// ServiceName is the service.name resource attribute, e.g.
	// "executor"; set by the service, not the environment. Empty means
	// "kubently". OTEL_SERVICE_NAME overrides it.
	ServiceName string
	// ServiceVersion is the service.version resource attribute (the
	// build version); empty leaves it unset.
	ServiceVersion string
}

// For returns c naming the service that uses it: ServiceName and
// ServiceVersion set to name and version.
func (c Config) For(name, version string) Config {
	c.ServiceName, c.ServiceVersion = name, version
	return c
}

// Validate checks c. A disabled config is checked too, so that a typo is
// caught before someone turns tracing on.
func (c Config) Validate() error {
	var errs []error
	if c.SampleRatio < 0 || c.SampleRatio > 1 {
		errs = append(errs, fmt.Errorf("KUBENTLY_TRACE_SAMPLE_RATIO %v out of range [0, 1]", c.SampleRatio))
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("KUBENTLY_OTLP_ENDPOINT %q is not an http(s) URL", c.Endpoint))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// TracesURL returns the URL spans are exported to when Endpoint is set:
// Endpoint with /v1/traces appended; "" when Endpoint is empty.
func (c Config) TracesURL() string {
	if c.Endpoint == "" {
		return ""
	}
	base := strings.TrimRight(c.Endpoint, "/")
	if strings.HasSuffix(base, tracesPath) {
		return base
	}
	return base + tracesPath
}

// Setup validates cfg and, when tracing is enabled, installs the global
// TracerProvider (OTLP/HTTP exporter behind a batch span processor,
// parent-based ratio sampler, a resource naming the service) and the W3C
// Trace Context propagator. Exporter errors are logged on the logger in
// ctx (logging.FromContext) and never fail a request.
//
// The returned shutdown flushes queued spans and stops the exporter; call
// it once, on the way out, with a context that is not already canceled.
// When tracing is disabled, Setup installs nothing and shutdown is a
// no-op.
func Setup(ctx context.Context, cfg Config) (shutdown func(context.Context) error, err error) {
	noop := func(context.Context) error { return nil }
	if err := cfg.Validate(); err != nil {
		return noop, err
	}
	if !cfg.Enabled {
		return noop, nil
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithTimeout(10 * time.Second)}
	if u := cfg.TracesURL(); u != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(u))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return noop, fmt.Errorf("telemetry: OTLP exporter: %w", err)
	}
	name := cfg.ServiceName
	if name == "" {
		name = "kubently"
	}
	svc := []attribute.KeyValue{semconv.ServiceName(name)}
	if cfg.ServiceVersion != "" {
		svc = append(svc, semconv.ServiceVersion(cfg.ServiceVersion))
	}
	res, rerr := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithTelemetrySDK(),
		resource.WithAttributes(svc...),
		resource.WithFromEnv(), // last: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	)
	if rerr != nil {
		// A partial resource (say, a malformed OTEL_RESOURCE_ATTRIBUTES)
		// still names the service; tracing should not stop a start-up.
		logging.FromContext(ctx).Warn("tracing resource incomplete", logging.KeyErr, rerr)
	}
	ratio := cfg.SampleRatio
	if ratio == 0 {
		ratio = 1
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
	)
	log := logging.FromContext(ctx)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing export error", logging.KeyErr, err)
	}))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return tp.Shutdown, nil
}

// shutdownTimeout bounds the final flush in Close.
const shutdownTimeout = 5 * time.Second

// Close runs a shutdown function returned by Setup with a 5s timeout,
// logging (not returning) any error: made for a defer on the way out.
func Close(log *slog.Logger, shutdown func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		log.Warn("tracing shutdown", logging.KeyErr, err)
	}
}
