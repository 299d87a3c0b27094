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
//   - Container environment, anywhere in a document: in an "env" array,
//     credentials in literal values, judged by package
//     kubently.io/libs/policy/sensitive — the whole value of a
//     credential-like name (DB_PASS, PGPASSWORD, JWT_SIGNING_KEY, STRIPE_SK),
//     only the secret part of any other (the password of
//     DATABASE_URL=postgres://u:pw@db, a webhook URL's token, a JWT or a
//     provider key), and names Config.SensitiveEnv adds; valueFrom
//     references stay, and harmless names (SECRET_NAME,
//     PASSWORD_MIN_LENGTH, AUTHOR) are kept.
//   - Container "args" and "command" (and probe and lifecycle exec
//     commands): --password=x, --token x, DB_PASSWORD=x and credential
//     shapes inside script lines.
//   - Probe and lifecycle "httpHeaders": the value of Authorization,
//     Cookie, X-Api-Key and credential-like headers; credential shapes in
//     the others.
//   - Secret annotations: every value except those that only name things
//     (service-account name and uid, Helm release); the last-applied one is
//     redacted as a document.
//   - Config.Paths: per kind, dotted field paths of custom resources
//     (spec.password, spec.auth.*.token) whose values are masked.
//   - The kubectl.kubernetes.io/last-applied-configuration annotation of any
//     object is parsed and redacted by the same rules (its own kind decides,
//     matched case-insensitively, with apiVersion v1 or core/v1 both the
//     core group) and stored back compactly; one that is not JSON becomes
//     "REDACTED".
//
// Every object in which something was masked gets the annotation
// kubently.io/redacted: "true". Values of the wrong JSON type where a
// masked value is expected are masked too (fail closed); such input never
// panics.
//
// A document that cannot contain anything to mask (no masked kind's name,
// no "env" or "containers" key, no last-applied annotation, no \u escape
// and no masked-kind hint) is returned as is, unparsed. So is one whose
// only such content is last-applied annotations, when each holds a
// document the redactor leaves as it is: one that is ASCII, valid JSON,
// names no masked kind in any case and has no "env", "args", "command",
// "httpHeaders" or annotation key of its own, or else one that redacting
// it alone leaves unchanged. Redaction decodes numbers
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
