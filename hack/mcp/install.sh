#!/usr/bin/env bash
# install.sh installs the pinned external MCP clients Kubently's tests run
# against /mcp — the MCP conformance suite (@modelcontextprotocol/conformance)
# and the MCP Inspector CLI (@modelcontextprotocol/inspector-cli), versions in
# hack/mcp/package.json and package-lock.json — with `npm ci` into a cache
# directory keyed by the lock file, and prints that directory (its
# node_modules/.bin holds the CLIs). Needs Node.js >= 20 and npm; installs the
# Debian packages if they are missing. Safe to run repeatedly.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "[mcp] installing nodejs and npm" >&2
	SUDO=""
	if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
	echo "[mcp] Node.js $(node --version) is too old: the MCP clients need >= 20" >&2
	exit 1
fi

key=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -c1-16)
dir="${KUBENTLY_CACHE_DIR:-$HOME/.cache/kubently}/mcp-$key"
if [ ! -x "$dir/node_modules/.bin/conformance" ] || [ ! -x "$dir/node_modules/.bin/mcp-inspector-cli" ]; then
	echo "[mcp] npm ci into $dir" >&2
	mkdir -p "$dir"
	cp "$here/package.json" "$here/package-lock.json" "$dir/"
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
echo "$dir"
