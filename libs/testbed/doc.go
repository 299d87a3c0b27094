// Package testbed gives Go tests a real Kubernetes API server: the local
// testbed that hack/testbed/testbed.sh builds and runs (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok faking one node, pod status
// and container logs). See docs/testbed.md.
//
// # Usage
//
// Ask for a kubeconfig and use it with any client:
//
//	func TestListPods(t *testing.T) {
//		kubeconfig := testbed.Kubeconfig(t)           // admin (system:masters)
//		viewer := testbed.ViewerKubeconfig(t)         // read-only "view" ServiceAccount
//		testbed.Seed(t)                               // optional: "demo", "shop", ...
//		...
//	}
//
// The first call in a test process runs `testbed.sh build` and `testbed.sh up`.
// A cold build compiles Kubernetes from source and takes about 8 minutes on two
// cores, longer than go test's default 10 minute -timeout allows together with
// slow tests, so run `hack/testbed/testbed.sh build` (or `up`) before `go test`;
// afterwards both steps take well under a second when the testbed is already up,
// or about 4 s when it has to start.
//
// Set KUBENTLY_TEST_KUBECONFIG (and KUBENTLY_TEST_VIEWER_KUBECONFIG) to run the
// tests against a cluster that is already up; `testbed.sh env` prints both.
//
// The helpers never tear the cluster down: one testbed is shared by every test
// package, and `testbed.sh down` (run by make test and CI at the end) stops it.
// Tests must therefore create their own uniquely named namespaces and must not
// depend on cluster-wide state other tests may change.
//
// # Concurrency
//
// All functions are safe for concurrent use, including from parallel tests.
// Within one process the build, up and seed steps each run at most once
// (sync.Once); a failure is remembered and reported to every later caller.
// Across processes (go test runs test packages in parallel) testbed.sh
// serialises build and up with flock, so a second caller waits and then finds the
// binaries built and the cluster up.
//
// With -short (make test-unit) Kubeconfig, ViewerKubeconfig, Seed and
// BinDir skip the calling test: unit runs need no testbed. MaskAges masks
// what varies between two kubectl runs (ages by column, timestamps) for
// parity tests.
package testbed
