#!/usr/bin/env bash
# Creates or updates the ind-alert stack (.github/aws/ind-alert.yml) with the AWS CLI: from AWS CloudShell,
# any machine where `aws` is logged in, or .github/workflows/deploy-aws.yml. Builds the package
# (build.sh), uploads it and alerts.toml to the stack's bucket, and points the function at them.
#
# The first time it asks for the Pushover token and user key and the e-mail that hears about failures
# (or reads PUSHOVER_TOKEN, PUSHOVER_USER, ALARM_EMAIL). Later runs keep every setting unless one of those
# variables, or INTERVAL_MINUTES, is set. STACK names the stack (default ind-alert).
set -euo pipefail
cd "$(dirname "$0")/../.."
stack="${STACK:-ind-alert}"
template=.github/aws/ind-alert.yml
say() { echo "deploy: $*" >&2; }
resource() { # the name of one of the stack's resources
  aws cloudformation describe-stack-resource --stack-name "$stack" --logical-resource-id "$1" --output text \
    --query StackResourceDetail.PhysicalResourceId
}
ask() { # ask NAME PROMPT [secret]: the variable, or a prompt when there is a terminal
  if [[ -z "${!1:-}" ]]; then
    [[ -t 0 ]] || { say "set $1 (the first deploy needs it)"; exit 2; }
    if [[ -n "${3:-}" ]]; then read -rsp "$2: " "$1"; echo >&2; else read -rp "$2: " "$1"; fi
  fi
}

status="$(aws cloudformation describe-stacks --stack-name "$stack" --query 'Stacks[0].StackStatus' \
  --output text 2>/dev/null || echo NONE)"
case "$status" in
  ROLLBACK_COMPLETE | ROLLBACK_FAILED | DELETE_FAILED)
    say "the stack $stack could not be created ($status; its events in the CloudFormation console say why):" \
      "aws cloudformation delete-stack --stack-name $stack, then run this again"
    exit 1 ;;
  *_IN_PROGRESS) say "the stack $stack is busy ($status): run this again when it is done"; exit 1 ;;
esac

settings=()
[[ -z "${PUSHOVER_TOKEN:-}" ]] || settings+=("PushoverToken=$PUSHOVER_TOKEN")
[[ -z "${PUSHOVER_USER:-}" ]] || settings+=("PushoverUser=$PUSHOVER_USER")
[[ -z "${ALARM_EMAIL:-}" ]] || settings+=("AlarmEmail=$ALARM_EMAIL")
[[ -z "${INTERVAL_MINUTES:-}" ]] || settings+=("IntervalMinutes=$INTERVAL_MINUTES")

if [[ "$status" == NONE ]]; then
  ask PUSHOVER_TOKEN "Pushover application token" secret
  ask PUSHOVER_USER "Pushover user key" secret
  ask ALARM_EMAIL "E-mail address for failed checks"
  settings=("PushoverToken=$PUSHOVER_TOKEN" "PushoverUser=$PUSHOVER_USER" "AlarmEmail=$ALARM_EMAIL")
  [[ -z "${INTERVAL_MINUTES:-}" ]] || settings+=("IntervalMinutes=$INTERVAL_MINUTES")
  # The GitHub copy this was cloned from may deploy later changes (the deploy role trusts only it).
  origin="$(git remote get-url origin 2>/dev/null || true)"
  if [[ "$origin" =~ github\.com[:/]([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)$ ]]; then
    repo="${BASH_REMATCH[1]%.git}"
    branch="$(git branch --show-current 2>/dev/null || true)"
    branch="${branch:-main}"
    oidc=true  # an account has at most one provider for GitHub: use it when it is there
    if aws iam list-open-id-connect-providers --output text | grep -q 'oidc-provider/token.actions.githubusercontent.com'; then
      oidc=false
    fi
    settings+=("GitHubRepository=$repo" "GitHubBranch=$branch" "CreateGitHubOIDCProvider=$oidc")
  fi
  say "creating the stack $stack (about 2 minutes)"
  aws cloudformation deploy --stack-name "$stack" --template-file "$template" --capabilities CAPABILITY_IAM \
    --parameter-overrides "${settings[@]}"
  settings=()
fi

bucket="$(resource Bucket)"
package="$(bash .github/aws/build.sh build/ind-alert.zip)"
key="code/$(sha256sum "$package" | cut -c1-64).zip"
aws s3 cp --only-show-errors "$package" "s3://$bucket/$key"
aws s3 cp --only-show-errors alerts.toml "s3://$bucket/ind-alert/alerts.toml"
say "deploying $(du -k "$package" | cut -f1) KB of code and your alerts.toml"
aws cloudformation deploy --stack-name "$stack" --template-file "$template" --capabilities CAPABILITY_IAM \
  --no-fail-on-empty-changeset --parameter-overrides "CodeKey=$key" "${settings[@]}"

if [[ "${GITHUB_ACTIONS:-}" != true ]]; then
  say "checking once now; the log of that check:"
  function="$(resource Function)"
  aws lambda invoke --function-name "$function" --log-type Tail --query LogResult --output text \
    build/result.json | base64 --decode >&2
  say "the result: $(cat build/result.json)"
  role="$(aws cloudformation describe-stacks --stack-name "$stack" --output text \
    --query "Stacks[0].Outputs[?OutputKey=='DeployRole'].OutputValue")"
  if [[ "$role" == arn:* ]]; then
    region="$(aws configure get region || true)"
    say "to stop GitHub's own checks and deploy from GitHub, set the repository variable IND_ALERT_ON_AWS to:"
    echo "${AWS_REGION:-$region} $role $stack"
  fi
fi
