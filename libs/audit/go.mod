module kubently.io/libs/audit

go 1.26.0

require (
	github.com/google/go-cmp v0.7.0
	github.com/nats-io/nats-server/v2 v2.15.3
	github.com/nats-io/nats.go v1.55.0
	kubently.io/libs/contracts v0.0.0
	kubently.io/libs/natsutil v0.0.0
	kubently.io/libs/testkit v0.0.0
)

require (
	github.com/antithesishq/antithesis-sdk-go v0.9.0-default-no-op // indirect
	github.com/cenkalti/backoff/v5 v5.0.3 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/go-logr/logr v1.4.4 // indirect
	github.com/go-logr/stdr v1.2.2 // indirect
	github.com/google/go-tpm v0.9.8 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/grpc-ecosystem/grpc-gateway/v2 v2.30.0 // indirect
	github.com/klauspost/compress v1.20.4 // indirect
	github.com/minio/highwayhash v1.0.4 // indirect
	github.com/nats-io/jwt/v2 v2.8.3 // indirect
	github.com/nats-io/nkeys v0.4.17 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	go.opentelemetry.io/auto/sdk v1.2.1 // indirect
	go.opentelemetry.io/otel v1.47.0 // indirect
	go.opentelemetry.io/otel/exporters/otlp/otlptrace v1.47.0 // indirect
	go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp v1.47.0 // indirect
	go.opentelemetry.io/otel/log v1.47.0 // indirect
	go.opentelemetry.io/otel/metric v1.47.0 // indirect
	go.opentelemetry.io/otel/sdk v1.47.0 // indirect
	go.opentelemetry.io/otel/trace v1.47.0 // indirect
	go.opentelemetry.io/proto/otlp v1.11.0 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	golang.org/x/time v0.16.0 // indirect
	google.golang.org/genproto/googleapis/api v0.0.0-20260928230214-8a89bd6388cc // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260928230214-8a89bd6388cc // indirect
	google.golang.org/grpc v1.83.2 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
	kubently.io/libs/logging v0.0.0 // indirect
	kubently.io/libs/telemetry v0.0.0 // indirect
)

replace (
	kubently.io/cli => ../../cli
	kubently.io/libs/authz => ../authz
	kubently.io/libs/config => ../config
	kubently.io/libs/contracts => ../contracts
	kubently.io/libs/deptest => ../deptest
	kubently.io/libs/logging => ../logging
	kubently.io/libs/natsutil => ../natsutil
	kubently.io/libs/ops => ../ops
	kubently.io/libs/policy => ../policy
	kubently.io/libs/redistest => ../redistest
	kubently.io/libs/sse => ../sse
	kubently.io/libs/store => ../store
	kubently.io/libs/telemetry => ../telemetry
	kubently.io/libs/testbed => ../testbed
	kubently.io/libs/testkit => ../testkit
	kubently.io/services/dispatcher => ../../services/dispatcher
	kubently.io/services/executor => ../../services/executor
	kubently.io/services/gateway => ../../services/gateway
	kubently.io/services/session => ../../services/session
	kubently.io/tests => ../../tests
)
