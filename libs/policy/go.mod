module kubently.io/libs/policy

go 1.26.0

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

require (
	github.com/google/go-cmp v0.7.0
	github.com/prometheus/client_golang v1.25.0
	kubently.io/libs/logging v0.0.0
	kubently.io/libs/ops v0.0.0
	kubently.io/libs/testkit v0.0.0
	sigs.k8s.io/yaml v1.6.0
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/kylelemons/godebug v1.1.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	go.yaml.in/yaml/v2 v2.4.4 // indirect
	golang.org/x/sys v0.48.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
	kubently.io/libs/contracts v0.0.0
)
