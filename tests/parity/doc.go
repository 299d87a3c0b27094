// Package parity runs the same read commands through Kubently (POST
// /v1/execute, over real NATS and Redis, with an executor on the local
// testbed) and through the real kubectl binary with the same kubeconfig, and
// compares stdout, exit code and, for failures, stderr. Only what must differ
// between two runs a few milliseconds apart is normalised (ages, `LAST SEEN`,
// event counts); commands Kubently deliberately denies or changes have their
// own cases that say so.
//
// It needs the seeded testbed (`hack/testbed/testbed.sh up && seed`, or
// `make test`); see docs/testbed.md.
package parity
