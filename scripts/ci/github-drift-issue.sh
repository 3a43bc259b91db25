#!/usr/bin/env bash
# Opens an issue for drift, or updates the open one.
#
#   github-drift-issue.sh ISSUE.md
#
# The open issue labelled esxnet-drift gets ISSUE.md as its body and a comment saying drift was
# found again; without one, an issue is opened. Needs the gh CLI with GH_TOKEN and
# GITHUB_REPOSITORY (as in GitHub Actions); the token needs `issues: write`.
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: $0 ISSUE.md" >&2
    exit 1
fi
issue=$1
label=${ESXNET_DRIFT_LABEL:-esxnet-drift}
export GH_REPO=${GITHUB_REPOSITORY:?set GITHUB_REPOSITORY to OWNER/NAME}

existing=$(gh issue list --state open --label "$label" --json number --jq '.[0].number // empty')
if [ -n "$existing" ]; then
    gh issue edit "$existing" --body-file "$issue" >/dev/null
    gh issue comment "$existing" --body "Drift found again by run ${GITHUB_RUN_ID:-(local)}: the description is up to date." >/dev/null
    echo "updated issue #$existing" >&2
else
    gh label create "$label" --force --description "Hosts differ from the manifests (esxnet drift)" >/dev/null
    gh issue create --title "esxnet: the hosts differ from the manifests" --label "$label" --body-file "$issue" >/dev/null
    echo "opened an issue labelled $label" >&2
fi
