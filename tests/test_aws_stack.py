"""The AWS stack (issue 23): the CloudFormation template, the package its build script makes, and the boto3 check.

The template is created against moto's CloudFormation in this process; the resource types moto cannot
create are listed in MOTO_CANNOT_CREATE and checked by reading the template. The package is built by
``.github/aws/build.sh``, the script the deploy workflow runs, with the runtime's Python (3.12) when this
machine has it, and run by a clean interpreter against the loopback fakes and moto's S3 server.
"""

# ruff: noqa: F811 - the fixtures shared with test_lambda.py are imported, then named as test arguments
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeIND, FakePushover, build_package, label, script_env, start_script

boto3 = pytest.importorskip("boto3", reason="the AWS tests need boto3: pip install -r tests/requirements.txt")
moto = pytest.importorskip("moto", reason="the AWS tests need moto: pip install -r tests/requirements.txt")
cfn_yaml = pytest.importorskip(
    "cfnlint.decode.cfn_yaml", reason="needs cfn-lint: pip install -r tests/requirements.txt"
)

from test_lambda import (  # noqa: E402 - after the skips; the fixtures are shared with the Lambda tests
    ALERT,
    REPO,
    STATE_KEY,
    bucket,  # noqa: F401 - a fixture
    delivered_lines,
    invoke,
    lambda_env,  # noqa: F401 - a fixture
    launcher,  # noqa: F401 - a fixture
    s3,  # noqa: F401 - a fixture
    slot_at_nine,
    stored_bytes,
)

import ind_alert  # noqa: E402

TEMPLATE = REPO / ".github" / "aws" / "ind-alert.yml"
BUILD = REPO / ".github" / "aws" / "build.sh"
REGION = "eu-west-1"
# What moto 5.2's CloudFormation skips (it warns and creates the rest): read from the template below.
MOTO_CANNOT_CREATE = {
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Scheduler::Schedule",
    "AWS::CloudWatch::Alarm",
    "AWS::SNS::Subscription",
    "AWS::IAM::OIDCProvider",
}
OLD_BOTO = ("boto3==1.34.162", "botocore==1.34.162", "s3transfer==0.10.4")  # as Lambda's runtimes shipped in 2024
OLD_BOTO_LINE = (
    "error: the installed botocore 1.34.162 cannot make the conditional writes S3 state needs:"
    f" pip install -U boto3 (botocore {ind_alert.CONDITIONAL_BOTOCORE} or newer)"
)


def template() -> dict[str, Any]:
    return dict(json.loads(json.dumps(cfn_yaml.loads(TEMPLATE.read_text(encoding="utf-8")))))


# ------------------------------------------------------------------ the stack in moto


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, Any]]:
    """The stack created from the template with a GitHub repository, in moto; its clients and outputs."""
    with moto.mock_aws():
        session = boto3.Session(
            region_name=REGION, aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="secret"
        )
        cloudformation = session.client("cloudformation")
        parameters = {
            "PushoverToken": "the-token",
            "PushoverUser": "the-user",
            "AlarmEmail": "owner@example.org",
            "GitHubRepository": "someone/ind-alert",
            "CreateGitHubOIDCProvider": "false",  # moto has no OIDC provider type: read from the template
        }
        with pytest.warns(UserWarning, match="not supported by moto's CloudFormation"):
            cloudformation.create_stack(
                StackName="ind-alert",
                TemplateBody=TEMPLATE.read_text(encoding="utf-8"),
                Capabilities=["CAPABILITY_IAM"],
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            )
        described = cloudformation.describe_stacks(StackName="ind-alert")["Stacks"][0]
        yield {
            "status": described["StackStatus"],
            "outputs": {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]},
            "lambda": session.client("lambda"),
            "iam": session.client("iam"),
            "s3": session.client("s3"),
            "logs": session.client("logs"),
        }


def test_moto_skips_exactly_the_types_checked_by_reading_the_template() -> None:
    from moto.cloudformation.parsing import get_model_map

    types = {resource["Type"] for resource in template()["Resources"].values()}
    assert types - set(get_model_map()) == MOTO_CANNOT_CREATE


def test_the_policy_allows_exactly_the_objects_the_function_s_environment_names(stack: dict[str, Any]) -> None:
    assert stack["status"] == "CREATE_COMPLETE"
    function = stack["lambda"].get_function(FunctionName=stack["outputs"]["Function"])
    variables = function["Configuration"]["Environment"]["Variables"]
    role = function["Configuration"]["Role"].rsplit("/", 1)[1]
    document = stack["iam"].get_role_policy(RoleName=role, PolicyName="ind-alert")["PolicyDocument"]
    if isinstance(document, str):  # moto 5.2 keeps a policy made by CloudFormation as Python's repr of it
        document = ast.literal_eval(document)

    def arn(url: str) -> str:
        return "arn:aws:s3:::" + url.removeprefix("s3://")

    state, config = variables["IND_ALERT_STATE"], variables["IND_ALERT_CONFIG"]
    objects = {
        s["Resource"]: sorted([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        for s in document["Statement"]
        if s["Resource"].startswith("arn:aws:s3:::") and "/" in s["Resource"]
    }
    assert objects == {
        arn(state): ["s3:GetObject", "s3:PutObject"],
        arn(state) + ".lock": [  # S3Lease's object: the state's key plus .lock
            "s3:DeleteObject",
            "s3:GetObject",
            "s3:PutObject",
        ],
        arn(config): ["s3:GetObject"],
    }
    bucket = state.removeprefix("s3://").split("/")[0]
    assert bucket == stack["outputs"]["Bucket"] and config.startswith(f"s3://{bucket}/")
    stack["s3"].head_bucket(Bucket=bucket)
    others = [s for s in document["Statement"] if s["Resource"] not in objects]
    assert [(s["Action"], s["Resource"]) for s in others] == [
        ("s3:ListBucket", f"arn:aws:s3:::{bucket}"),  # so a state not written yet reads as "not found"
        (
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            f"arn:aws:logs:{REGION}:123456789012:log-group:/aws/lambda/ind-alert",
        ),
    ]
    assert variables["PUSHOVER_TOKEN"] == "the-token" and variables["PUSHOVER_USER"] == "the-user"
    assert "HEALTHCHECK_URL" not in variables  # not given: not set


def test_the_function_runs_one_check_at_a_time_on_python_3_12(stack: dict[str, Any]) -> None:
    function = stack["lambda"].get_function(FunctionName="ind-alert")
    assert function["Concurrency"] == {"ReservedConcurrentExecutions": 1}
    assert function["Configuration"]["Runtime"] == "python3.12"
    assert function["Configuration"]["Timeout"] == 30
    groups = stack["logs"].describe_log_groups(logGroupNamePrefix="/aws/lambda/ind-alert")["logGroups"]
    assert [(g["logGroupName"], g["retentionInDays"]) for g in groups] == [("/aws/lambda/ind-alert", 30)]


def test_the_packaged_handler_is_used_once_the_code_is_uploaded() -> None:
    properties = template()["Resources"]["Function"]["Properties"]
    assert properties["Handler"] == {"Fn::If": ["HasCode", "ind_alert.lambda_handler", "index.handler"]}
    assert properties["Code"]["Fn::If"][1] == {"S3Bucket": {"Ref": "Bucket"}, "S3Key": {"Ref": "CodeKey"}}


def test_the_deploy_role_trusts_only_the_repository_s_branch(stack: dict[str, Any]) -> None:
    role = stack["iam"].get_role(RoleName=stack["outputs"]["DeployRole"].rsplit("/", 1)[1])["Role"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"] == {
        "Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    }
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": "repo:someone/ind-alert:ref:refs/heads/main",
        }
    }


def test_what_moto_cannot_create_reads_right_in_the_template() -> None:
    parsed = template()
    resources, parameters = parsed["Resources"], parsed["Parameters"]
    # The schedule: every IntervalMinutes (2 by default, less refused), on time, never retried.
    schedule = resources["Schedule"]["Properties"]
    assert schedule["ScheduleExpression"] == {"Fn::Sub": "rate(${IntervalMinutes} minutes)"}
    assert (parameters["IntervalMinutes"]["Default"], parameters["IntervalMinutes"]["MinValue"]) == (2, 2)
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["Target"]["Arn"] == {"Fn::GetAtt": ["Function", "Arn"]}
    assert schedule["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 0
    assert schedule["State"] == {"Fn::If": ["IsPaused", "DISABLED", "ENABLED"]}
    # No asynchronous retries of a failed invocation.
    invoke_config = resources["FunctionInvokeConfig"]["Properties"]
    assert invoke_config == {
        "FunctionName": {"Ref": "Function"},
        "Qualifier": "$LATEST",
        "MaximumRetryAttempts": 0,
        "MaximumEventAgeInSeconds": 60,
    }
    # A failed check e-mails the owner.
    alarm = resources["ErrorAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Dimensions"]) == (
        "AWS/Lambda",
        "Errors",
        [{"Name": "FunctionName", "Value": {"Ref": "Function"}}],
    )
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert resources["AlarmSubscription"]["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }
    # GitHub's OIDC provider, unless the account has one.
    provider = resources["GitHubOIDCProvider"]
    assert provider["Condition"] == "CreatesOIDCProvider"
    assert provider["Properties"] == {
        "Url": "https://token.actions.githubusercontent.com",
        "ClientIdList": ["sts.amazonaws.com"],
    }
    # Secrets are masked; the bucket and its state outlive the stack.
    assert parameters["PushoverToken"]["NoEcho"] is True and parameters["PushoverUser"]["NoEcho"] is True
    assert resources["Bucket"]["DeletionPolicy"] == "Retain"


# ------------------------------------------------------------------ the package


def test_the_package_built_by_the_deploy_script_runs_on_a_clean_interpreter(
    lambda_env: dict[str, str], ind: FakeIND, pushover: FakePushover, s3: Any, bucket: str, tmp_path: Path
) -> None:
    """Built by build.sh, as the workflow builds it; run as Lambda does: unpacked, nothing else on the path."""
    package, python, build = build_package(REPO, tmp_path)
    assert build.returncode == 0, build.stderr
    with zipfile.ZipFile(package) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "task")
    assert {"ind_alert.py", "alerts.toml", "boto3/__init__.py", "botocore/data/s3/2006-03-01/service-2.json.gz"} <= set(
        names
    )
    assert not any(n.startswith("botocore/data/ec2/") for n in names)  # only the models it uses
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"], capture_output=True, check=False
    )
    if version.stdout.strip() == b"True":  # with the runtime's Python the compiled files go in, checked by hash
        compiled = [n for n in names if n.startswith("__pycache__/ind_alert.cpython-312")]
        assert len(compiled) == 1
        with zipfile.ZipFile(package) as archive:
            assert int.from_bytes(archive.read(compiled[0])[4:8], "little") == 1
    else:
        assert "the package has no compiled files" in build.stderr
    example = ind_alert.load_config(REPO / "alerts.toml").alerts[0]
    new = slot_at_nine(2)
    ind.set_slots(example.desk[0], example.product, example.persons, [new])
    env = script_env({k: v for k, v in lambda_env.items() if k != "IND_ALERT_CONFIG"})
    env.pop("PYTHONPATH", None)
    code = (
        "import json, sys; sys.path[:0] = [sys.argv[1]]; import ind_alert, requests, dateutil, boto3, botocore;"
        "print(json.dumps([ind_alert.lambda_handler({}, None), ind_alert.__file__,"
        " requests.__file__, dateutil.__file__, boto3.__file__, botocore.__file__]))"
    )
    task = tmp_path / "task"

    clean = subprocess.run(
        [python, "-I", "-S", "-c", code, str(task)],
        check=False,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert clean.returncode == 0, clean.stderr
    result, *files = json.loads(clean.stdout.splitlines()[-1])
    assert result["checked"] is True and result["config"] == str(task / "alerts.toml")
    assert all(f.startswith(str(task) + os.sep) for f in files), files
    assert delivered_lines(pushover) == [label(new)]


# ------------------------------------------------------------------ a boto3 without conditional writes


@pytest.fixture(scope="session")
def old_boto(request: pytest.FixtureRequest) -> Path:
    """boto3 and botocore 1.34 in a folder to put first on PYTHONPATH; installed once, kept in pytest's cache."""
    cache = Path(request.config.cache.mkdir("boto3-1.34"))
    folder = cache / "site"
    if not (folder / "botocore" / "__init__.py").exists():
        scratch = cache / f"scratch-{os.getpid()}"
        shutil.rmtree(scratch, ignore_errors=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--only-binary=:all:"]  # noqa: RUF005
            + ["--disable-pip-version-check", "--target", str(scratch), *OLD_BOTO],
            check=True,
            capture_output=True,
            timeout=300,
        )
        try:
            scratch.rename(folder)  # whole or not at all, when two test workers install at once
        except OSError:
            shutil.rmtree(scratch, ignore_errors=True)
    return folder


def test_with_a_botocore_before_conditional_writes_a_run_pushes_nothing_and_exits_2(
    old_boto: Path,
    lambda_env: dict[str, str],
    ind: FakeIND,
    pushover: FakePushover,
    s3: Any,
    bucket: str,
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in lambda_env.items() if k != "AWS_LAMBDA_FUNCTION_NAME"}
    ind.set_slots("AM", "BIO", 1, [slot_at_nine(3)])

    with start_script([], {**env, "PYTHONPATH": str(old_boto)}, cwd=tmp_path) as running:
        result = running.finish()

    assert result.returncode == 2
    assert result.stderr.splitlines() == [OLD_BOTO_LINE]
    assert pushover.delivered == [] and ind.hits("AM", "BIO", 1) == 0
    assert stored_bytes(s3, bucket, STATE_KEY) is None


def test_with_a_botocore_before_conditional_writes_lambda_records_an_error_and_pushes_nothing(
    old_boto: Path, launcher: Path, lambda_env: dict[str, str], ind: FakeIND, pushover: FakePushover
) -> None:
    ind.set_slots("AM", "BIO", 1, [slot_at_nine(3)])

    run = invoke(launcher, {**lambda_env, "PYTHONPATH": str(old_boto)})

    assert (
        run.failed and run.result["errorMessage"] == "ind-alert needs fixing (exit 2): see the error above in this log"
    )
    assert run.stderr.splitlines() == [OLD_BOTO_LINE]
    assert pushover.delivered == [] and ind.hits("AM", "BIO", 1) == 0


def test_the_installed_botocore_makes_conditional_writes(
    lambda_env: dict[str, str], ind: FakeIND, pushover: FakePushover, tmp_path: Path
) -> None:
    env = {k: v for k, v in lambda_env.items() if k != "AWS_LAMBDA_FUNCTION_NAME"}
    ind.set_slots("AM", "BIO", 1, [slot_at_nine(3)])

    with start_script([], env, cwd=tmp_path) as running:
        result = running.finish()

    assert result.returncode == 0, result.stderr
    assert f"{ALERT}: 1 open, 1 match, 1 new, pushed" in result.stdout


# ------------------------------------------------------------------ the workflows


def workflow(name: str) -> dict[str, Any]:
    yaml = pytest.importorskip("yaml", reason="needs PyYAML: pip install -r tests/requirements.txt")
    return dict(yaml.safe_load((REPO / ".github" / "workflows" / name).read_text(encoding="utf-8")))


def test_github_s_schedule_stands_down_while_lambda_checks_and_the_deploy_runs_only_then() -> None:
    check = workflow("ind-alert.yml")["jobs"]["check"]
    deploy = workflow("deploy-aws.yml")
    assert check["if"] == "${{ vars.IND_ALERT_ON_AWS == '' || inputs.test_notification }}"
    assert deploy["jobs"]["deploy"]["if"].startswith("${{ vars.IND_ALERT_ON_AWS != '' && ")
    assert deploy[True]["push"]["paths"] == ["alerts.toml", "ind_alert.py"]  # YAML reads the key `on` as True
    assert deploy["permissions"] == {}
    assert deploy["jobs"]["deploy"]["permissions"] == {"contents": "read", "id-token": "write"}
    steps = deploy["jobs"]["deploy"]["steps"]
    assert all(re.fullmatch(r"[\w./-]+@[0-9a-f]{40}", step["uses"]) for step in steps if "uses" in step)
    assert any(step.get("run") == "bash .github/aws/deploy.sh" for step in steps)


def test_the_package_is_not_built_while_alerts_toml_holds_the_shipped_example(tmp_path: Path) -> None:
    """Every invocation of such a package would stop at the example: the build says so instead."""
    copy = tmp_path / "repo"
    shutil.copytree(REPO / ".github", copy / ".github", ignore=shutil.ignore_patterns("*.png"))
    for name in ("ind_alert.py", "alerts.toml"):
        shutil.copy(REPO / name, copy)

    build = subprocess.run(
        ["bash", str(copy / ".github" / "aws" / "build.sh"), "out/ind-alert.zip"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert build.returncode == 2
    assert build.stderr.strip().splitlines() == [
        (
            "error: alerts.toml still holds the shipped example alert (example = true): edit it to the"
            " appointment you need and delete that line, then deploy again"
        )
    ]
    assert not (copy / "out").exists()
