#!/usr/bin/env bash
# Runs every fuzz target for a bounded number of executions (CI runs this
# from hack/test.sh). FUZZ_EXECS sets the count per target (default
# 150000, about 20-40 s each on 2 cores). Counts rather than times: a
# time-bounded run can end with a spurious "context deadline exceeded" on
# Go 1.26 (golang/go#75804). A real failure leaves its input under the
# package's testdata/fuzz/ and fails the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
execs=${FUZZ_EXECS:-150000}
# module directory, package, fuzz target
targets=(
	"libs/policy . FuzzNoDeniedAccepted"
	"libs/policy . FuzzCheck"
	"libs/policy . FuzzSplitLine"
	"libs/policy ./sensitive FuzzValue"
	"libs/policy . FuzzScopedNeverClusterScoped"
	"services/executor ./internal/redact FuzzJSON"
	"services/executor ./internal/redact FuzzLastAppliedClean"
	"services/executor ./internal/redact FuzzNestedClean"
)
for t in "${targets[@]}"; do
	read -r mod pkg name <<<"$t"
	echo "[fuzz] $mod $pkg $name ($execs executions)" >&2
	(cd "$mod" && go test -run '^$' -fuzz "^${name}\$" -fuzztime "${execs}x" "$pkg")
done
