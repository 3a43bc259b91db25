#!/usr/bin/env bash
# The plan of a pull or merge request as a Markdown comment.
#
#   plan-comment.sh MANIFESTS COMMENT.md
#
# Writes COMMENT.md: a marker line that finds the comment again (so a pipeline updates one
# comment instead of adding one per push), then `esxnet plan --output markdown`. Exits 0 when
# the plan was made, with or without changes; 1 when it has errors (the comment says which) or
# esxnet failed. ESXNET is the binary (default: esxnet on PATH); the target comes from the
# manifests' Target documents or ESXNET_TARGET; extra flags from ESXNET_PLAN_FLAGS.
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 MANIFESTS COMMENT.md" >&2
    exit 1
fi
manifests=$1 comment=$2
esxnet=${ESXNET:-esxnet}
marker='<!-- esxnet-plan -->'

body=$(mktemp)
trap 'rm -f "$body"' EXIT
status=0
# shellcheck disable=SC2086 # ESXNET_PLAN_FLAGS is a list of flags
"$esxnet" plan "$manifests" --output markdown --detailed-exitcode ${ESXNET_PLAN_FLAGS:-} >"$body" || status=$?
{
    echo "$marker"
    cat "$body"
    if [ "$status" -eq 1 ]; then
        echo
        echo "**esxnet plan failed**: the job's log has the diagnostics."
    fi
} >"$comment"
case $status in
0) echo "esxnet plan: no changes" >&2 ;;
2) echo "esxnet plan: changes pending (see the comment)" >&2 ;;
*) echo "esxnet plan failed (exit $status)" >&2; exit 1 ;;
esac
