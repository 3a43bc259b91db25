#!/usr/bin/env bash
# Drift detection for a scheduled job.
#
#   drift.sh MANIFESTS ISSUE.md
#
# Writes ISSUE.md (a marker line, then `esxnet drift --output markdown`) and exits as esxnet
# drift does: 0 in sync, 2 drift (open or update the issue), 1 error.
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 MANIFESTS ISSUE.md" >&2
    exit 1
fi
manifests=$1 issue=$2
esxnet=${ESXNET:-esxnet}
marker='<!-- esxnet-drift -->'

body=$(mktemp)
trap 'rm -f "$body"' EXIT
status=0
"$esxnet" drift "$manifests" --output markdown >"$body" || status=$?
{
    echo "$marker"
    cat "$body"
} >"$issue"
case $status in
0) echo "esxnet drift: the hosts match the manifests" >&2 ;;
2) echo "esxnet drift: drift found (see $issue)" >&2 ;;
*) echo "esxnet drift failed (exit $status)" >&2; exit 1 ;;
esac
exit "$status"
