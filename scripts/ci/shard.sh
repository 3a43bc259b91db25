#!/usr/bin/env bash
# One shard of a sharded plan, drift or apply, for a CI matrix or a Kubernetes Indexed Job.
#
#   shard.sh plan|drift|apply MANIFESTS OUT_DIR [I N]
#
# The shard is I of N (from 1); without them, ESXNET_SHARD_INDEX (from 1) or a Kubernetes
# Indexed Job's JOB_COMPLETION_INDEX (from 0), and ESXNET_SHARD_COUNT. Writes
# OUT_DIR/COMMAND-I-of-N.json for `merge.sh`. Exits 0 when the result was written (changes and
# drift are for the merge to report), 1 when esxnet failed.
set -euo pipefail
if [ $# -ne 3 ] && [ $# -ne 5 ]; then
    echo "usage: $0 plan|drift|apply MANIFESTS OUT_DIR [I N]" >&2
    exit 1
fi
command=$1 manifests=$2 out=$3
esxnet=${ESXNET:-esxnet}
if [ $# -eq 5 ]; then
    index=$4 count=$5
elif [ -n "${ESXNET_SHARD_INDEX:-}" ]; then
    index=$ESXNET_SHARD_INDEX count=${ESXNET_SHARD_COUNT:?set ESXNET_SHARD_COUNT}
elif [ -n "${JOB_COMPLETION_INDEX:-}" ]; then
    index=$((JOB_COMPLETION_INDEX + 1)) count=${ESXNET_SHARD_COUNT:?set ESXNET_SHARD_COUNT}
else
    echo "$0: give I N, or set ESXNET_SHARD_INDEX (or JOB_COMPLETION_INDEX) and ESXNET_SHARD_COUNT" >&2
    exit 1
fi
case $command in
plan) flags=(--detailed-exitcode) ;;
drift) flags=() ;;
apply) flags=(--auto-approve) ;;
*) echo "$0: the command is plan, drift or apply, not $command" >&2; exit 1 ;;
esac

mkdir -p "$out"
result="$out/$command-$index-of-$count.json"
status=0
"$esxnet" "$command" "$manifests" --shard "$index/$count" --output json "${flags[@]}" >"$result" || status=$?
case $status in
0 | 2) echo "esxnet $command shard $index/$count: written to $result (exit $status)" >&2 ;;
*)
    echo "esxnet $command shard $index/$count failed (exit $status)" >&2
    # A result with the errors in it still merges (and fails the merge); nothing else does.
    [ -s "$result" ] || rm -f "$result"
    exit 1
    ;;
esac
