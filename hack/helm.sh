#!/usr/bin/env bash
# helm.sh installs the pinned Helm CLI from the Go module proxy into the
# machine's tool cache ($KUBENTLY_CACHE_DIR/tools, default
# ~/.cache/kubently/tools: once per machine, so fresh clones reuse it) and
# prints its path. The
# deploy tests (tests/deploy) lint, render and install the charts with it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

HELM_VERSION=${HELM_VERSION:-v4.3.2}
tools="${KUBENTLY_CACHE_DIR:-$HOME/.cache/kubently}/tools"
bin="$tools/helm-$HELM_VERSION"
if [ ! -x "$bin" ]; then
	mkdir -p "$tools"
	echo "[helm] go install helm.sh/helm/v4/cmd/helm@$HELM_VERSION (first time only)" >&2
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	GOBIN="$tmp" GOWORK=off CGO_ENABLED=0 go install -trimpath "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
	mv "$tmp/helm" "$bin"
fi
echo "$bin"
