module kubently.io/libs/logging

go 1.26.0

replace (
	kubently.io/cli => ../../cli
	kubently.io/libs/audit => ../audit
	kubently.io/libs/authz => ../authz
	kubently.io/libs/config => ../config
	kubently.io/libs/contracts => ../contracts
	kubently.io/libs/deptest => ../deptest
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
