"""ind-alert on AWS Lambda (issue 13): lambda_handler against the loopback fakes and moto's S3 server.

Each invocation runs in its own Python process, as a Lambda container does: a small launcher imports
ind_alert from the package directory and calls ``lambda_handler({}, context)``, printing the result, or
the error type and message as Lambda records them. State and config live in S3 (moto's server on
loopback, found through ``AWS_ENDPOINT_URL_S3``). The function's role policy is the CloudFormation
template's; the package the template deploys is tested in test_aws_stack.py.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from fakes import SCRIPT, FakeIND, FakePushover, label, start_script, wait_until

# Optional backends: without them (a plain `pip install pytest responses`) these tests skip, saying why.
boto3 = pytest.importorskip("boto3", reason="the Lambda tests need boto3: pip install -r tests/requirements.txt")
pytest.importorskip("moto.server", reason="the Lambda tests need moto: pip install -r tests/requirements.txt")
from botocore.exceptions import ClientError  # noqa: E402 - after the skip

REPO = SCRIPT.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
import ind_alert  # noqa: E402 - after the path is set, as in test_s3.py

REGION = "eu-west-1"
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"  # AWS's documentation example keys: valid for no account
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
STATE_KEY = "ind-alert/seen.json"
LOCK_KEY = STATE_KEY + ".lock"
CONFIG_KEY = "ind-alert/alerts.toml"
ALERT = "Amsterdam biometrics"
CONFIG = f'[[alert]]\nname = "{ALERT}"\ndesk = "AM"\nproduct = "BIO"\n'

# Calls the handler the way Lambda's Python runtime does, and prints what Lambda would record.
LAUNCHER = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import ind_alert

    class Context:
        aws_request_id = "00000000-0000-0000-0000-000000000000"
        def get_remaining_time_in_millis(self):
            return 90_000

    try:
        result = ind_alert.lambda_handler({}, Context())
    except Exception as exc:
        print("LAMBDA " + json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}))
        sys.exit(3)
    print("LAMBDA " + json.dumps(result))
    """
)


def slot_at_nine(ahead: int, start: str = "09:00", end: str = "09:10") -> tuple[str, str, str]:
    """A slot `ahead` days from today in Amsterdam (computed when the test runs)."""
    return ((datetime.now(ind_alert.AMSTERDAM).date() + timedelta(days=ahead)).isoformat(), start, end)


# ------------------------------------------------------------------ S3 on loopback


# s3_endpoint (moto's server on loopback, one per module) is a fixture of conftest.py.


@pytest.fixture(scope="module")
def s3(s3_endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


@pytest.fixture(scope="module")
def iam(s3_endpoint: str) -> Any:
    return boto3.client(
        "iam",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


@pytest.fixture
def iam_enforced(s3_endpoint: str) -> Callable[[], AbstractContextManager[None]]:
    """``with iam_enforced():`` the server checks signatures and IAM policies (moto's reset-auth)."""

    def reset_auth(count: str) -> None:
        with requests.Session() as session:
            session.trust_env = False
            session.post(f"{s3_endpoint}/moto-api/reset-auth", data=count.encode(), timeout=10).raise_for_status()

    @contextmanager
    def enforced() -> Iterator[None]:
        reset_auth("0")
        try:
            yield
        finally:
            reset_auth("inf")

    return enforced


@pytest.fixture
def bucket(s3: Any) -> str:
    """A new bucket holding the alerts file."""
    name = f"ind-alert-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=name, Key=CONFIG_KEY, Body=CONFIG.encode())
    return name


@pytest.fixture
def lambda_env(
    s3_endpoint: str, bucket: str, ind: FakeIND, pushover: FakePushover, secrets: dict[str, str], tmp_path: Path
) -> dict[str, str]:
    """The function's environment variables as the README sets them, plus what Lambda itself sets."""
    return {
        "AWS_LAMBDA_FUNCTION_NAME": "ind-alert",
        "IND_ALERT_STATE": f"s3://{bucket}/{STATE_KEY}",
        "IND_ALERT_CONFIG": f"s3://{bucket}/{CONFIG_KEY}",
        **secrets,
        "IND_API_URL": ind.url,
        "PUSHOVER_API_URL": pushover.url,
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.fixture
def launcher(tmp_path: Path) -> Path:
    path = tmp_path / "invoke.py"
    path.write_text(LAUNCHER, encoding="utf-8")
    return path


class Invocation:
    """One finished invocation: what Lambda records, and the function's log (stdout and stderr)."""

    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.stdout, self.stderr = proc.stdout, proc.stderr
        records = [line for line in proc.stdout.splitlines() if line.startswith("LAMBDA ")]
        assert len(records) == 1, proc.stdout + proc.stderr
        self.result: dict[str, Any] = json.loads(records[0].removeprefix("LAMBDA "))
        self.failed = proc.returncode == 3
        assert proc.returncode in (0, 3), proc.stderr

    @property
    def log(self) -> str:
        return self.stdout + self.stderr


def invoke(launcher: Path, env: dict[str, str], package: Path = REPO, cwd: Path | None = None) -> Invocation:
    with start_script([str(package)], env, cwd=cwd or launcher.parent, script=launcher) as running:
        result = running.finish(timeout=60)
    return Invocation(result)


def stored_bytes(s3: Any, bucket: str, key: str) -> bytes | None:
    try:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchKey":
            return None
        raise


def sent_in_s3(s3: Any, bucket: str) -> list[str]:
    body = stored_bytes(s3, bucket, STATE_KEY)
    assert body is not None
    return list(json.loads(body)["alerts"][ALERT]["sent"]["you"])


def delivered_lines(pushover: FakePushover) -> list[str]:
    return [line for form in pushover.delivered for line in form.get("message", "").splitlines()]


# ------------------------------------------------------------------ the handler


def test_a_new_slot_is_pushed_once_across_two_invocations(
    launcher: Path, lambda_env: dict[str, str], ind: FakeIND, pushover: FakePushover, s3: Any, bucket: str
) -> None:
    new = slot_at_nine(10)
    ind.set_slots("AM", "BIO", 1, [new])

    first = invoke(launcher, lambda_env)
    second = invoke(launcher, lambda_env)

    assert not first.failed and not second.failed
    assert first.result["exit_code"] == 0 and first.result["checked"] is True
    assert f"{ALERT}: 1 open, 1 match, 1 new, pushed" in first.stdout
    assert f"{ALERT}: 1 open, 1 match, 0 new, ok" in second.stdout
    assert delivered_lines(pushover) == [label(new)]
    assert sent_in_s3(s3, bucket) == [f"AM {new[0]} {new[1]}-{new[2]}"]
    assert ind.hits("AM", "BIO", 1) == 2
    assert stored_bytes(s3, bucket, LOCK_KEY) is None  # the lease is released after each check


def test_a_rejected_token_raises_so_lambda_records_an_error(
    launcher: Path, lambda_env: dict[str, str], ind: FakeIND, pushover: FakePushover, s3: Any, bucket: str
) -> None:
    ind.set_slots("AM", "BIO", 1, [slot_at_nine(5)])
    pushover.token = "a-different-token-than-the-function-has"

    run = invoke(launcher, lambda_env)

    assert run.failed
    assert run.result["errorType"] == "RunFailed"
    assert run.result["errorMessage"] == "ind-alert needs fixing (exit 1): see the error above in this log"
    assert "error: Pushover rejected the application token: check the PUSHOVER_TOKEN secret" in run.stderr
    assert lambda_env["PUSHOVER_TOKEN"] not in run.log
    assert lambda_env["PUSHOVER_USER"] not in run.log
    assert pushover.delivered == []
    stored_state = stored_bytes(s3, bucket, STATE_KEY)
    assert stored_state is not None
    assert json.loads(stored_state)["alerts"][ALERT]["sent"] == {}  # nothing marked as pushed
    assert stored_bytes(s3, bucket, LOCK_KEY) is None


def test_an_ind_outage_returns_normally_with_a_warning(
    launcher: Path, lambda_env: dict[str, str], ind: FakeIND, pushover: FakePushover, s3: Any, bucket: str
) -> None:
    ind.set_raw("AM", "BIO", 1, 503, "<html><body>Service Unavailable</body></html>")

    run = invoke(launcher, lambda_env)

    assert not run.failed
    assert run.result["exit_code"] == 0
    assert f"{ALERT}: IND unreachable" in run.stdout
    assert re.search(
        rf"^warning: {ALERT}: IND answered HTTP 503 \(an outage on their side\); state kept", run.stderr, re.MULTILINE
    ), run.stderr
    assert pushover.messages == []
    body = stored_bytes(s3, bucket, STATE_KEY)
    assert body is not None and "failing_since" in json.loads(body)["alerts"][ALERT]  # the outage is recorded


def test_two_overlapping_invocations_lose_nothing_and_push_nothing_twice(
    launcher: Path, lambda_env: dict[str, str], ind: FakeIND, pushover: FakePushover, s3: Any, bucket: str
) -> None:
    """The first invocation holds the lease while IND keeps its answer back; the second starts then."""
    new = slot_at_nine(7)
    ind.set_slots("AM", "BIO", 1, [new], hold=True, once=True)
    ind.set_slots("AM", "BIO", 1, [new])

    with start_script([str(REPO)], lambda_env, cwd=launcher.parent, script=launcher) as first:
        wait_until(lambda: ind.hits("AM", "BIO", 1) == 1, timeout=30, what="the first invocation to ask IND")
        assert stored_bytes(s3, bucket, LOCK_KEY) is not None
        second = invoke(launcher, lambda_env)
        ind.release_hangs()
        first_run = Invocation(first.finish(timeout=60))

    assert not second.failed and second.result["checked"] is False
    assert re.fullmatch(
        rf"notice: another check holds s3://{bucket}/{LOCK_KEY} until \d\d:\d\d:\d\d UTC: "
        "this invocation ends without checking\n",
        second.stderr,
    )
    assert second.stdout.count("\n") == 1  # no per-alert line: it did not check
    assert ind.hits("AM", "BIO", 1) == 1  # the second never asked IND
    assert not first_run.failed and first_run.result["checked"] is True
    assert delivered_lines(pushover) == [label(new)]
    assert sent_in_s3(s3, bucket) == [f"AM {new[0]} {new[1]}-{new[2]}"]
    assert stored_bytes(s3, bucket, LOCK_KEY) is None

    third = invoke(launcher, lambda_env)  # the next scheduled one checks as usual, and pushes nothing again
    assert f"{ALERT}: 1 open, 1 match, 0 new, ok" in third.stdout
    assert delivered_lines(pushover) == [label(new)]


def test_an_expired_lease_is_taken_over(
    launcher: Path, lambda_env: dict[str, str], ind: FakeIND, pushover: FakePushover, s3: Any, bucket: str
) -> None:
    """A function killed by its timeout leaves its lock object behind; it must not block checks forever."""
    s3.put_object(Bucket=bucket, Key=LOCK_KEY, Body=json.dumps({"expires": int(time.time()) - 1}).encode())
    ind.set_slots("AM", "BIO", 1, [slot_at_nine(3)])

    run = invoke(launcher, lambda_env)

    assert run.result["checked"] is True
    assert len(pushover.delivered) == 1
    assert stored_bytes(s3, bucket, LOCK_KEY) is None


def test_an_expired_lease_taken_by_two_at_once_goes_to_one(
    lambda_env: dict[str, str], s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both read the expired lock; the other invocation writes first, so our If-Match write must lose."""
    for name, value in lambda_env.items():
        monkeypatch.setenv(name, value)
    s3.put_object(Bucket=bucket, Key=LOCK_KEY, Body=b"not even JSON")  # unreadable counts as expired
    store = ind_alert.S3Store.from_url(lambda_env["IND_ALERT_STATE"])
    real = store.client

    class Racing:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def get_object(self, **kwargs: Any) -> Any:
            got = real.get_object(**kwargs)
            real.put_object(Bucket=bucket, Key=LOCK_KEY, Body=json.dumps({"expires": time.time() + 60}).encode())
            return got

    store.client = Racing()

    with pytest.raises(ind_alert.LeaseHeld, match=r"another check took s3://\S+\.lock just now"):
        ind_alert.S3Lease.take(store, 60)
    body = stored_bytes(s3, bucket, LOCK_KEY)
    assert body is not None and json.loads(body)["expires"] > time.time()  # the other one's lease stands


def test_file_state_on_lambda_is_refused_in_one_line(
    launcher: Path, lambda_env: dict[str, str], ind: FakeIND, pushover: FakePushover
) -> None:
    run = invoke(launcher, {**lambda_env, "IND_ALERT_STATE": "state/seen.json"})

    assert run.failed and run.result["errorType"] == "RunFailed"
    assert run.stderr.splitlines() == [
        "error: on AWS Lambda the state must be in S3: set IND_ALERT_STATE=s3://bucket/key (see .github/docs/aws.md)"
    ]
    assert ind.hits("AM", "BIO", 1) == 0


def test_a_missing_config_object_is_named_in_one_line(
    launcher: Path, lambda_env: dict[str, str], ind: FakeIND, pushover: FakePushover, s3: Any, bucket: str
) -> None:
    missing = f"s3://{bucket}/ind-alert/missing.toml"

    run = invoke(launcher, {**lambda_env, "IND_ALERT_CONFIG": missing})

    assert run.failed and "exit 2" in run.result["errorMessage"]
    assert run.stderr.splitlines() == [
        f"error: {missing} not found: upload your alerts.toml there (see .github/docs/aws.md)"
    ]
    assert stored_bytes(s3, bucket, LOCK_KEY) is None  # released on the way out


def test_the_packaged_alerts_file_is_used_without_ind_alert_config(
    launcher: Path, lambda_env: dict[str, str], ind: FakeIND, pushover: FakePushover, tmp_path: Path
) -> None:
    """Lambda's working directory need not be the package: the file beside ind_alert.py is found."""
    package = tmp_path / "task"
    package.mkdir()
    shutil.copy(SCRIPT, package)
    (package / "alerts.toml").write_text(CONFIG.replace(ALERT, "Packaged"), encoding="utf-8")
    env = {k: v for k, v in lambda_env.items() if k != "IND_ALERT_CONFIG"}

    run = invoke(launcher, env, package=package, cwd=tmp_path)

    assert run.result["config"] == str(package / "alerts.toml")
    assert "Packaged: 0 open, 0 match, 0 new, ok" in run.stdout


def test_the_cli_reads_an_s3_config_too(
    lambda_env: dict[str, str], ind: FakeIND, pushover: FakePushover, bucket: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in lambda_env.items() if k not in ("IND_ALERT_CONFIG", "AWS_LAMBDA_FUNCTION_NAME")}
    ind.set_slots("AM", "BIO", 1, [slot_at_nine(4)])

    with start_script(["--config", f"s3://{bucket}/{CONFIG_KEY}", "--dry-run"], env, cwd=tmp_path) as running:
        result = running.finish()

    assert result.returncode == 0, result.stderr
    assert f"{ALERT}: 1 open, 1 match, 1 new, dry run" in result.stdout


def test_logging_does_not_pile_up_in_a_warm_container(
    lambda_env: dict[str, str], ind: FakeIND, pushover: FakePushover, monkeypatch: pytest.MonkeyPatch, capfd: Any
) -> None:
    """Lambda calls the handler again in the same process, with its own handler on the root logger."""
    ind.set_raw("AM", "BIO", 1, 503, "")
    for name, value in lambda_env.items():
        monkeypatch.setenv(name, value)
    runtime = logging.StreamHandler(sys.stdout)  # what Lambda's runtime installs
    root = logging.getLogger()
    root.addHandler(runtime)
    try:
        for _ in range(3):
            assert ind_alert.lambda_handler({}, None)["exit_code"] == 0
    finally:
        root.removeHandler(runtime)
    out, err = capfd.readouterr()
    warnings = [line for line in (out + err).splitlines() if "IND answered HTTP 503" in line]
    assert len(warnings) == 3, out + err  # one per invocation: no handler added twice, nothing propagated


def template_role_policy(bucket: str) -> str:
    """The function role's policy from the CloudFormation template, resolved for `bucket`."""
    cfn_yaml = pytest.importorskip(
        "cfnlint.decode.cfn_yaml", reason="needs cfn-lint: pip install -r tests/requirements.txt"
    )
    text = (REPO / ".github" / "aws" / "ind-alert.yml").read_text(encoding="utf-8")
    role = json.loads(json.dumps(cfn_yaml.loads(text)))["Resources"]["FunctionRole"]["Properties"]
    (policy,) = role["Policies"]
    names = {"AWS::Partition": "aws", "Bucket": bucket, "AWS::Region": REGION, "AWS::AccountId": "123456789012"}
    log_group = f"arn:aws:logs:{REGION}:123456789012:log-group:/aws/lambda/ind-alert:*"

    def resolve(value: Any) -> Any:
        if isinstance(value, dict) and "Fn::Sub" in value:
            return re.sub(r"\$\{([^}]+)\}", lambda m: names[m[1]], value["Fn::Sub"])
        if value == {"Fn::GetAtt": ["LogGroup", "Arn"]}:
            return log_group
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    return json.dumps(resolve(policy["PolicyDocument"]))


def test_the_template_s_role_policy_allows_everything_the_function_does(
    launcher: Path,
    lambda_env: dict[str, str],
    ind: FakeIND,
    pushover: FakePushover,
    s3: Any,
    bucket: str,
    iam: Any,
    iam_enforced: Callable[[], AbstractContextManager[None]],
) -> None:
    """Read the config, create, read, take over and delete the lock, read and write the state."""
    policy = template_role_policy(bucket)
    name = f"ind-alert-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="ind-alert", PolicyDocument=policy)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    env = {**lambda_env, "AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
    ind.set_slots("AM", "BIO", 1, [slot_at_nine(6)])

    with iam_enforced():
        first = invoke(launcher, env)
    s3.put_object(Bucket=bucket, Key=LOCK_KEY, Body=b'{"expires": 0}')  # as a killed function leaves it
    with iam_enforced():
        second = invoke(launcher, env)

    for run in (first, second):
        assert not run.failed and run.result["checked"] is True, run.log
        assert "warning" not in run.stderr and "error" not in run.stderr, run.stderr
    assert f"{ALERT}: 1 open, 1 match, 1 new, pushed" in first.stdout
    assert f"{ALERT}: 1 open, 1 match, 0 new, ok" in second.stdout
    assert stored_bytes(s3, bucket, LOCK_KEY) is None
    assert len(pushover.delivered) == 1


# The deployment package: tests/test_aws_stack.py builds it with .github/aws/build.sh and runs it.


# ------------------------------------------------------------------ alerts.toml in S3, watch mode


def test_watch_mode_reads_an_s3_config_again_only_when_its_etag_changes(
    lambda_env: dict[str, str], s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch, capfd: Any
) -> None:
    for name, value in lambda_env.items():
        monkeypatch.setenv(name, value)
    ind_alert.setup_logging(False, {})
    location = f"s3://{bucket}/{CONFIG_KEY}"
    made: list[list[str]] = []

    class Runner:
        health = None
        store = ind_alert.FileStore(Path("unused"))

        def __init__(self, config: Any) -> None:
            self.config = config
            self.recent: list[int] = []  # the check times a watch keeps across config changes
            made.append([a.name for a in config.alerts])

        def check(self) -> None:  # a check that found the state out of reach: nothing to report
            return None

    edits = {
        1: CONFIG + '[[alert]]\nname = "Den Haag"\ndesk = "DH"\nproduct = "DOC"\n',  # a good edit
        3: "[[alert]\nname = ",  # a bad edit: reported once, the last good config kept
    }
    cycles: list[int] = []

    def wait(seconds: float) -> bool:
        cycles.append(len(cycles) + 1)
        if cycles[-1] in edits:
            s3.put_object(Bucket=bucket, Key=CONFIG_KEY, Body=edits[cycles[-1]].encode())
        return len(cycles) == 5

    opts = ind_alert.Options(config=location, state="unused", watch=True)
    assert ind_alert.watch(opts, Runner, wait, lambda low, high: 1.0) == 0  # type: ignore[arg-type]

    assert made == [[ALERT], [ALERT, "Den Haag"]]
    err = capfd.readouterr().err
    assert err.count(f"notice: {location} changed: now watching 2 alerts") == 1
    assert err.count("is not valid TOML") == 1
    assert err.count("(still running with the previous config)") == 1


class Context:
    """What Lambda passes as the context: only the remaining time is read."""

    def __init__(self, millis: int) -> None:
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


@pytest.mark.parametrize(
    ("context", "deadline"),
    [
        pytest.param(Context(30_000), 22.0, id="a 30 s timeout leaves the check 22 s"),
        pytest.param(Context(12_000), 10.0, id="never less than 10 s"),
        pytest.param(Context(600_000), 90.0, id="never more than a run outside Lambda"),
        pytest.param(None, 90.0, id="no context: a run's own deadline"),
    ],
)
def test_a_check_on_lambda_ends_before_the_function_s_timeout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, context: Context | None, deadline: float
) -> None:
    asked: list[float] = []

    def main(argv: list[str], env: dict[str, str], given: float) -> int:
        asked.append(given)
        return 0

    monkeypatch.setattr(ind_alert, "main", main)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    monkeypatch.setenv("IND_ALERT_STATE", str(tmp_path / "seen.json"))

    assert ind_alert.lambda_handler({}, context)["exit_code"] == 0
    assert asked == [deadline]
