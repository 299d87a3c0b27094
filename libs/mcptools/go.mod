module kubently.io/libs/mcptools

go 1.26.0

require (
	github.com/google/go-cmp v0.7.0
	github.com/modelcontextprotocol/go-sdk v1.8.0
	kubently.io/libs/authz v0.0.0
	kubently.io/libs/contracts v0.0.0
	kubently.io/libs/policy v0.0.0-00010101000000-000000000000
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/coreos/go-oidc/v3 v3.21.0 // indirect
	github.com/go-jose/go-jose/v4 v4.1.9 // indirect
	github.com/google/jsonschema-go v0.4.3 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	github.com/segmentio/asm v1.1.3 // indirect
	github.com/segmentio/encoding v0.5.4 // indirect
	github.com/yosida95/uritemplate/v3 v3.0.2 // indirect
	go.yaml.in/yaml/v2 v2.4.4 // indirect
	golang.org/x/oauth2 v0.37.0 // indirect
	golang.org/x/sync v0.22.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/time v0.16.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
	kubently.io/libs/ops v0.0.0 // indirect
	sigs.k8s.io/yaml v1.6.0 // indirect
)

replace (
	kubently.io/cli => ../../cli
	kubently.io/libs/audit => ../audit
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
