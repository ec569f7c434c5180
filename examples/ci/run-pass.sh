#!/usr/bin/env bash
# A CI job's step: run one pass of a company and fail the job when the pass does not end ok.
# Exit codes (README.md, "Exit codes"): 0 ok, 1 partial/failed, 2 bad input, 69 unreachable, 75 locked,
# 78 configuration incomplete. The JSON result is kept as a build artifact.
#   OPTSYNC_HOME=/srv/optsync COMPANY="Demo Sp. z o.o." bash examples/ci/run-pass.sh
set -uo pipefail
: "${COMPANY:?set COMPANY to the company to synchronize}"
out="${ARTIFACTS:-.}/optsync-pass.json"
optsync run --company "$COMPANY" --wait "${WAIT:-120}" --json > "$out"
code=$?
status=$(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' "$out" 2>/dev/null || echo none)
echo "optsync pass of $COMPANY: status $status, exit $code"
if [ "$code" -ne 0 ]; then
  optsync logs --filter sync --company "$COMPANY" --level warning --limit 20 >&2 || true
fi
exit "$code"
