#!/usr/bin/env bash
# Posts a note on a GitLab merge request, or updates the one posted before.
#
#   gitlab-note.sh COMMENT.md
#
# The note whose body starts with the comment's first line (its marker) is edited, so a merge
# request has one plan note. Needs curl and jq, and in the environment GitLab's CI_API_V4_URL,
# CI_PROJECT_ID and CI_MERGE_REQUEST_IID, and GITLAB_TOKEN: a project access token with the
# `api` scope (the job token cannot write notes).
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: $0 COMMENT.md" >&2
    exit 1
fi
comment=$1
api=${CI_API_V4_URL:?run in a GitLab merge request pipeline}
notes="$api/projects/${CI_PROJECT_ID:?}/merge_requests/${CI_MERGE_REQUEST_IID:?}/notes"
token=${GITLAB_TOKEN:?set GITLAB_TOKEN to a project access token with the api scope}
marker=$(head -n 1 "$comment")

existing=$(curl --fail --silent --show-error --header "PRIVATE-TOKEN: $token" "$notes?per_page=100" |
    jq -r --arg marker "$marker" '[.[] | select(.body | startswith($marker)) | .id][0] // empty')
body=$(jq -cn --rawfile body "$comment" '{body: $body}')
if [ -n "$existing" ]; then
    curl --fail --silent --show-error --request PUT --header "PRIVATE-TOKEN: $token" \
        --header "Content-Type: application/json" --data "$body" "$notes/$existing" >/dev/null
    echo "updated note $existing" >&2
else
    curl --fail --silent --show-error --request POST --header "PRIVATE-TOKEN: $token" \
        --header "Content-Type: application/json" --data "$body" "$notes" >/dev/null
    echo "added a note" >&2
fi
