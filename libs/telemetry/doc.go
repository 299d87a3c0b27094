// Package telemetry sets up OpenTelemetry tracing for Kubently's services
// and carries trace context across every hop a command takes: HTTP
// requests, NATS message headers and the contracts.Command that travels
// through the bridge queue and the executor's SSE stream.
//
// # Usage
//
// Each service embeds Config in its own configuration (KUBENTLY_TRACING,
// KUBENTLY_OTLP_ENDPOINT, KUBENTLY_TRACE_SAMPLE_RATIO) and calls Setup once
// in its Run path, deferring the returned shutdown so queued spans are
// flushed:
//
//	shutdown, err := telemetry.Setup(ctx, cfg.Config)
//	if err != nil { return err }
//	defer func() { _ = shutdown(context.WithoutCancel(ctx)) }()
//
// Code that creates spans uses the global provider through otel.Tracer and
// the stable names and attribute keys declared here (SpanExecutorRun,
// AttrCommandID, ...). Code that crosses a process boundary injects on the
// way out and extracts on the way in:
//
//	telemetry.InjectHTTP(ctx, req.Header)            // outgoing HTTP
//	ctx = telemetry.ExtractHTTP(ctx, r.Header)       // incoming HTTP
//	telemetry.InjectCommand(ctx, &cmd)               // before enqueueing
//	ctx = telemetry.ContextFromCommand(ctx, cmd)     // when running it
//	telemetry.InjectHeaders(ctx, msg.Header)         // NATS (see natsutil)
//
// Propagation always uses the W3C Trace Context format, whether or not
// tracing is enabled in this process: a service with tracing off still
// passes on the context it received (its own spans are no-ops), so one
// disabled hop does not split a trace in two.
//
// Tests record spans with telemetrytest.Record, which installs an SDK
// provider backed by a tracetest.SpanRecorder and restores the previous
// globals on cleanup.
//
// # Span names and attributes
//
// Names and keys are part of the operational interface (dashboards and
// alerts match on them) and change only with a note in the changelog.
// Attributes never carry argv beyond the verb, tokens, API keys or output.
//
// # Concurrency
//
// All functions are safe for concurrent use. Setup and
// telemetrytest.Record replace process-wide globals and are meant to be
// called once at start-up (or once per test, in tests that do not run in
// parallel).
package telemetry
