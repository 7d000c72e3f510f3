#!/usr/bin/env bash
# Builds the Lambda package (default build/ind-alert.zip): ind_alert.py, alerts.toml and the pinned,
# hash-checked requirements of .github/requirements/ (base.txt, s3.txt: boto3 comes with the package, so
# the runtime's own boto3, whatever its version, is never the one used). Pure-Python wheels only: the
# same zip runs on x86_64 and arm64. Used by deploy.sh, the deploy workflow and tests/test_aws_stack.py.
#
# PYTHON names the interpreter (default python3.12, else python3). With the runtime's Python (3.12) the
# compiled files go in too: Lambda cannot write them into the read-only package, and a cold start imports
# in about half the time with them.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-build/ind-alert.zip}"
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
  if python3.12 -c "" >/dev/null 2>&1; then python=python3.12; else python=python3; fi
fi
version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

# The shipped example alert stops every real run (exit 2): a package holding it would fail every invocation.
if grep -Eq '^[[:space:]]*example[[:space:]]*=[[:space:]]*true' alerts.toml; then
  echo "error: alerts.toml still holds the shipped example alert (example = true): edit it to the appointment you need and delete that line, then deploy again" >&2
  exit 2
fi

locks=(-r .github/requirements/base.txt -r .github/requirements/s3.txt)
wheels=(--platform any --implementation py)
# Apprise needs the compiled PyYAML: then the package is for x86_64 functions only.
if grep -Eq '^[^#]*\bapprise_url_env[[:space:]]*=' alerts.toml; then
  locks+=(-r .github/requirements/apprise.txt)
  wheels=(--platform manylinux2014_x86_64 --implementation cp)
fi

package="$(mktemp -d)"
trap 'rm -rf "$package"' EXIT
PIP_ROOT_USER_ACTION=ignore "$python" -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes --only-binary=:all: \
  "${wheels[@]}" --python-version 3.12 --target "$package" "${locks[@]}"
cp ind_alert.py alerts.toml "$package/"
# botocore carries the models of every AWS service (nine tenths of the package); ind-alert uses S3, and
# boto3 may ask STS and SSO for credentials elsewhere than Lambda. The rest goes.
find "$package/botocore/data" -mindepth 1 -maxdepth 1 -type d \
  ! -name s3 ! -name sts ! -name sso ! -name sso-oidc -exec rm -rf {} +
rm -rf "$package/bin"
if [[ "$version" == 3.12 ]]; then
  # Checked by hash, not by file times, which unzipping does not keep.
  "$python" -m compileall -q -f --invalidation-mode unchecked-hash "$package"
else
  echo "build: $python is Python $version, not the runtime's 3.12: the package has no compiled files" \
    "(a cold start imports more slowly; the deploy workflow builds with 3.12)" >&2
fi
mkdir -p "$(dirname "$out")"
rm -f "$out"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
(cd "$package" && "$python" -m zipfile -c "$out" .)
echo "$out"
