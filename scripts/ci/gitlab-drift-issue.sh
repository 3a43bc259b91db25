#!/usr/bin/env bash
# Opens a GitLab issue for drift, or updates the open one.
#
#   gitlab-drift-issue.sh ISSUE.md
#
# The open issue labelled esxnet-drift gets ISSUE.md as its description; without one, an issue
# is opened. Needs curl and jq, GitLab's CI_API_V4_URL and CI_PROJECT_ID, and GITLAB_TOKEN (a
# project access token with the `api` scope).
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: $0 ISSUE.md" >&2
    exit 1
fi
issue=$1
label=${ESXNET_DRIFT_LABEL:-esxnet-drift}
issues="${CI_API_V4_URL:?run in a GitLab pipeline}/projects/${CI_PROJECT_ID:?}/issues"
token=${GITLAB_TOKEN:?set GITLAB_TOKEN to a project access token with the api scope}

existing=$(curl --fail --silent --show-error --header "PRIVATE-TOKEN: $token" \
    "$issues?state=opened&labels=$label&per_page=1" | jq -r '.[0].iid // empty')
body=$(jq -cn --rawfile description "$issue" --arg label "$label" \
    '{title: "esxnet: the hosts differ from the manifests", labels: $label, description: $description}')
if [ -n "$existing" ]; then
    curl --fail --silent --show-error --request PUT --header "PRIVATE-TOKEN: $token" \
        --header "Content-Type: application/json" --data "$body" "$issues/$existing" >/dev/null
    echo "updated issue #$existing" >&2
else
    curl --fail --silent --show-error --request POST --header "PRIVATE-TOKEN: $token" \
        --header "Content-Type: application/json" --data "$body" "$issues" >/dev/null
    echo "opened an issue labelled $label" >&2
fi
