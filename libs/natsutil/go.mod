module kubently.io/libs/natsutil

go 1.26.0

require (
	kubently.io/libs/contracts v0.0.0
	kubently.io/libs/logging v0.0.0
)

require (
	github.com/nats-io/nats-server/v2 v2.15.3
	github.com/nats-io/nats.go v1.55.0
)

require (
	github.com/antithesishq/antithesis-sdk-go v0.9.0-default-no-op // indirect
	github.com/google/go-tpm v0.9.8 // indirect
	github.com/klauspost/compress v1.20.4 // indirect
	github.com/minio/highwayhash v1.0.4 // indirect
	github.com/nats-io/jwt/v2 v2.8.3 // indirect
	github.com/nats-io/nkeys v0.4.17 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/time v0.16.0 // indirect
)

replace (
	kubently.io/cli => ../../cli
	kubently.io/libs/config => ../config
	kubently.io/libs/contracts => ../contracts
	kubently.io/libs/deptest => ../deptest
	kubently.io/libs/logging => ../logging
	kubently.io/libs/ops => ../ops
	kubently.io/libs/policy => ../policy
	kubently.io/libs/redistest => ../redistest
	kubently.io/libs/store => ../store
	kubently.io/libs/testbed => ../testbed
	kubently.io/services/dispatcher => ../../services/dispatcher
	kubently.io/services/executor => ../../services/executor
	kubently.io/services/gateway => ../../services/gateway
	kubently.io/services/session => ../../services/session
	kubently.io/tests => ../../tests
)
