module kubently.io/libs/authz

go 1.26.0

replace (
	kubently.io/cli => ../../cli
	kubently.io/libs/audit => ../audit
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

require (
	github.com/coreos/go-oidc/v3 v3.21.0
	github.com/go-jose/go-jose/v4 v4.1.9
	github.com/google/go-cmp v0.7.0
	golang.org/x/time v0.16.0
	kubently.io/libs/contracts v0.0.0
	kubently.io/libs/testkit v0.0.0
	sigs.k8s.io/yaml v1.6.0
)

require (
	go.yaml.in/yaml/v2 v2.4.2 // indirect
	golang.org/x/oauth2 v0.36.0 // indirect
)
