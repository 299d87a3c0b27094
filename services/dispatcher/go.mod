module kubently.io/services/dispatcher

go 1.26.0

require (
	github.com/google/go-cmp v0.7.0
	github.com/nats-io/nats.go v1.55.0
	github.com/prometheus/client_golang v1.25.0
	go.opentelemetry.io/otel v1.47.0
	go.opentelemetry.io/otel/trace v1.47.0
	kubently.io/libs/audit v0.0.0
	kubently.io/libs/authz v0.0.0
	kubently.io/libs/config v0.0.0
	kubently.io/libs/contracts v0.0.0
	kubently.io/libs/deptest v0.0.0
	kubently.io/libs/logging v0.0.0
	kubently.io/libs/natsutil v0.0.0
	kubently.io/libs/ops v0.0.0
	kubently.io/libs/policy v0.0.0
	kubently.io/libs/redistest v0.0.0
	kubently.io/libs/store v0.0.0
	kubently.io/libs/telemetry v0.0.0
	kubently.io/libs/testkit v0.0.0
)

require (
	github.com/antithesishq/antithesis-sdk-go v0.9.0-default-no-op // indirect
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cenkalti/backoff/v5 v5.0.3 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/coreos/go-oidc/v3 v3.21.0 // indirect
	github.com/go-jose/go-jose/v4 v4.1.9 // indirect
	github.com/go-logr/logr v1.4.4 // indirect
	github.com/go-logr/stdr v1.2.2 // indirect
	github.com/google/go-tpm v0.9.8 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/grpc-ecosystem/grpc-gateway/v2 v2.30.0 // indirect
	github.com/klauspost/compress v1.20.4 // indirect
	github.com/kylelemons/godebug v1.1.0 // indirect
	github.com/minio/highwayhash v1.0.4 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/nats-io/jwt/v2 v2.8.3 // indirect
	github.com/nats-io/nats-server/v2 v2.15.3 // indirect
	github.com/nats-io/nkeys v0.4.17 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	github.com/redis/go-redis/v9 v9.23.0 // indirect
	go.opentelemetry.io/auto/sdk v1.2.1 // indirect
	go.opentelemetry.io/otel/exporters/otlp/otlptrace v1.47.0 // indirect
	go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp v1.47.0 // indirect
	go.opentelemetry.io/otel/log v1.47.0 // indirect
	go.opentelemetry.io/otel/metric v1.47.0 // indirect
	go.opentelemetry.io/otel/sdk v1.47.0 // indirect
	go.opentelemetry.io/proto/otlp v1.11.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	go.yaml.in/yaml/v2 v2.4.4 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/oauth2 v0.37.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	golang.org/x/time v0.16.0 // indirect
	google.golang.org/genproto/googleapis/api v0.0.0-20260928230214-8a89bd6388cc // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260928230214-8a89bd6388cc // indirect
	google.golang.org/grpc v1.83.2 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
	sigs.k8s.io/yaml v1.6.0 // indirect
)

replace (
	kubently.io/cli => ../../cli
	kubently.io/libs/audit => ../../libs/audit
	kubently.io/libs/authz => ../../libs/authz
	kubently.io/libs/config => ../../libs/config
	kubently.io/libs/contracts => ../../libs/contracts
	kubently.io/libs/deptest => ../../libs/deptest
	kubently.io/libs/logging => ../../libs/logging
	kubently.io/libs/natsutil => ../../libs/natsutil
	kubently.io/libs/ops => ../../libs/ops
	kubently.io/libs/policy => ../../libs/policy
	kubently.io/libs/redistest => ../../libs/redistest
	kubently.io/libs/sse => ../../libs/sse
	kubently.io/libs/store => ../../libs/store
	kubently.io/libs/telemetry => ../../libs/telemetry
	kubently.io/libs/testbed => ../../libs/testbed
	kubently.io/libs/testkit => ../../libs/testkit
	kubently.io/services/executor => ../executor
	kubently.io/services/gateway => ../gateway
	kubently.io/services/session => ../session
	kubently.io/tests => ../../tests
)
