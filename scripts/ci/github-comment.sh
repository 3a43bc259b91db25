#!/usr/bin/env bash
# Posts a comment on a GitHub pull request, or updates the one posted before.
#
#   github-comment.sh PULL_REQUEST COMMENT.md
#
# The comment's first line is its marker (plan-comment.sh writes `<!-- esxnet-plan -->`): the
# pull request's comment that starts with it is edited, so a pull request has one plan comment
# however often it is pushed. Needs the gh CLI with GH_TOKEN and GITHUB_REPOSITORY (as in
# GitHub Actions); the token needs `pull-requests: write`.
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 PULL_REQUEST COMMENT.md" >&2
    exit 1
fi
pull_request=$1 comment=$2
repository=${GITHUB_REPOSITORY:?set GITHUB_REPOSITORY to OWNER/NAME}
marker=$(head -n 1 "$comment")
case $marker in
'<!--'*'-->') ;;
*) echo "$0: the first line of $comment is not a marker such as <!-- esxnet-plan -->" >&2; exit 1 ;;
esac

existing=$(gh api --paginate "repos/$repository/issues/$pull_request/comments" \
    --jq ".[] | select(.body | startswith(\"$marker\")) | .id" | head -n 1)
if [ -n "$existing" ]; then
    gh api --method PATCH "repos/$repository/issues/comments/$existing" -F "body=@$comment" >/dev/null
    echo "updated comment $existing on #$pull_request" >&2
else
    gh api --method POST "repos/$repository/issues/$pull_request/comments" -F "body=@$comment" >/dev/null
    echo "commented on #$pull_request" >&2
fi
