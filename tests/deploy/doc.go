// Package deploy proves Kubently's deployment artifacts with real parts:
// the Helm charts (deploy/helm) are linted, rendered and schema-checked
// with the pinned Helm CLI (hack/helm.sh), every rendered object is
// applied to the testbed kube-apiserver with a server-side dry run, both
// charts are installed and upgraded for real, and the rendered pods are
// started as local processes with exactly the manifest's command and
// environment; the executor runs with a token of the chart's
// ServiceAccount, so its read-only RBAC is exercised by the parity command
// set. The Tiltfile is executed with go.starlark.net and recording Tilt
// builtins, and docker-compose.yml is loaded with the compose-spec loader
// and checked against every service's Config.
//
// The tests need the Helm CLI (KUBENTLY_HELM, else hack/helm.sh installs
// it) and, for the cluster tests, the testbed (KUBENTLY_TEST_KUBECONFIG).
package deploy
