#!/usr/bin/env bash
# Joins the shards' results that shard.sh wrote into one Markdown report and one exit code.
#
#   merge.sh OUT_DIR REPORT.md
#
# Exits as `esxnet report merge`: 0 nothing to do, 2 changes or drift, 1 errors, a failed
# apply, or a shard missing (its job died before writing its result).
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 OUT_DIR REPORT.md" >&2
    exit 1
fi
out=$1 report=$2
esxnet=${ESXNET:-esxnet}
shopt -s nullglob
results=("$out"/*.json)
if [ ${#results[@]} -eq 0 ]; then
    echo "$0: no results in $out: did every shard fail?" >&2
    exit 1
fi
status=0
"$esxnet" report merge "${results[@]}" --output markdown >"$report" || status=$?
exit "$status"
