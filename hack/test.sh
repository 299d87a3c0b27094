#!/usr/bin/env bash
# test.sh sets up and runs every test: it installs system packages, builds and
# starts the local Kubernetes testbed (cached after the first build), runs
# `go test -race` over every module of the workspace, and stops the testbed.
# Extra arguments go to `go test` (e.g. -run TestEndToEnd).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

hack/deps.sh
# The pinned Helm CLI for tests/deploy (installed once per machine into ~/.cache/kubently/tools).
KUBENTLY_HELM=$(hack/helm.sh)
export KUBENTLY_HELM
export TESTBED_DIR=${TESTBED_DIR:-/tmp/kubently-testbed}
started_here=0
cleanup() {
	if [ "$started_here" = 1 ]; then
		hack/testbed/testbed.sh down >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT

hack/testbed/testbed.sh build
# Reuse a testbed that is already running (a developer's); otherwise start
# one for this run and stop it at the end.
if hack/testbed/testbed.sh status >/dev/null 2>&1; then
	echo "[test] reusing the running testbed in $TESTBED_DIR" >&2
else
	hack/testbed/testbed.sh up
	started_here=1
fi
hack/testbed/testbed.sh seed
export KUBENTLY_TEST_KUBECONFIG=$TESTBED_DIR/kubeconfig
# The pinned external MCP clients (conformance suite, Inspector CLI) that
# tests/integration runs against /mcp.
KUBENTLY_MCP_CLIENTS=${KUBENTLY_MCP_CLIENTS:-$(hack/mcp/install.sh)}
export KUBENTLY_MCP_CLIENTS

mapfile -t pkgs < <(go list -m -f '{{.Path}}/...')
echo "[test] go test -race over: ${pkgs[*]}" >&2
go test -race -count=1 -timeout 30m "$@" "${pkgs[@]}"

# Bounded fuzzing of the command policy and the redactor.
hack/fuzz.sh
