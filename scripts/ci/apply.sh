#!/usr/bin/env bash
# Applies the manifests of the main branch and writes the outcome.
#
#   apply.sh MANIFESTS REPORT.json [SUMMARY.md]
#
# Runs `esxnet apply --auto-approve --output json` into REPORT.json, and its outcome as Markdown
# into SUMMARY.md (for a job summary). Exits as esxnet apply does: 0 converged, 1 not.
set -euo pipefail
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 MANIFESTS REPORT.json [SUMMARY.md]" >&2
    exit 1
fi
manifests=$1 report=$2 summary=${3:-}
esxnet=${ESXNET:-esxnet}

status=0
# shellcheck disable=SC2086 # ESXNET_APPLY_FLAGS is a list of flags
"$esxnet" apply "$manifests" --auto-approve --output json ${ESXNET_APPLY_FLAGS:-} >"$report" || status=$?
if [ -n "$summary" ] && [ -s "$report" ]; then
    # One report merges into itself: the same Markdown a sharded apply gets.
    "$esxnet" report merge "$report" --output markdown >"$summary" || true
fi
if [ "$status" -ne 0 ]; then
    echo "esxnet apply failed (exit $status)" >&2
    exit 1
fi
echo "esxnet apply: converged" >&2
