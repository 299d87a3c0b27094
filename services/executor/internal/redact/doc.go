// Package redact masks sensitive values in Kubernetes API JSON responses
// inside the executor, before anything leaves the cluster.
//
// A [Redactor] rewrites one JSON document at a time, whatever its shape: a
// single object, a typed list such as SecretList (whose items carry no kind
// and take it from the list's kind), a v1 List, or a meta.k8s.io Table whose
// rows carry full objects or PartialObjectMetadata. It applies these rules:
//
//   - Secret (core, always): every value of data becomes base64("REDACTED"),
//     so that it still decodes into corev1.Secret, and every value of
//     stringData becomes "REDACTED". Keys stay visible.
//   - ConfigMap (core, only when configured): data values become
//     "REDACTED" and binaryData values base64("REDACTED").
//   - Any other configured kind: the values of its top-level data,
//     stringData and binaryData maps are masked the same way.
//   - Container environment, anywhere in a document: in an "env" array, the
//     literal value of an entry whose name matches Config.SensitiveEnv
//     becomes "REDACTED"; valueFrom references stay.
//   - The kubectl.kubernetes.io/last-applied-configuration annotation of any
//     object is parsed and redacted by the same rules (its own kind decides)
//     and stored back compactly; one that is not JSON becomes "REDACTED".
//
// Every object in which something was masked gets the annotation
// kubently.io/redacted: "true". Values of the wrong JSON type where a
// masked value is expected are masked too (fail closed); such input never
// panics.
//
// A document that cannot contain anything to mask (no masked kind's name,
// no "env" key, no last-applied annotation, no \u escape and no masked-kind
// hint) is only validated and returned as is. Redaction decodes numbers
// as json.Number, so integers survive exactly, and re-encodes without HTML
// escaping and with object keys sorted. Documents with duplicate object
// keys are read the way Go's JSON decoders read them: the last one wins.
//
// # Usage
//
// Wrap the executor's client-go transport so that every response passes
// through the redactor (after the read-only guard, so that refused requests
// are never sent):
//
//	red, err := redact.New(redact.Config{Kinds: cfg.RedactKinds})
//	if err != nil {
//		return err
//	}
//	restCfg.Wrap(red.Wrap)
//
// The transport fails closed: a body that claims to be JSON but is not,
// a body over Config.MaxBody, a Kubernetes protobuf, CBOR or YAML body and
// a compressed body fail the request instead of passing unredacted; watch
// requests are refused before they are sent. Other media types (text/plain
// logs, OpenAPI documents) pass through untouched.
//
// # Concurrency
//
// A Redactor is immutable after [New]; it and the RoundTrippers from
// [Redactor.Wrap] are safe for concurrent use whenever the wrapped
// RoundTripper is.
package redact
