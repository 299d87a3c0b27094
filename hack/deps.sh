#!/usr/bin/env bash
# deps.sh installs the system packages Kubently's tests and dev loop need on a
# fresh Debian machine: redis-server (the store's real server in tests),
# openssl (testbed PKI). Go itself and everything Go-based come from the module
# proxy. Safe to run repeatedly.
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v flock >/dev/null 2>&1 || need+=(util-linux)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ ${#need[@]} -eq 0 ]; then
	exit 0
fi
echo "[deps] installing: ${need[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "[deps] need root or sudo to apt-get install ${need[*]}" >&2; exit 1; }
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${need[@]}" >/dev/null
