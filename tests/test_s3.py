"""State in S3 (issue 4), against a real S3 HTTP endpoint: moto's S3 server on loopback.

The script runs as a subprocess, exactly as a user runs it, and finds the server through the standard
``AWS_ENDPOINT_URL_S3``; nothing in boto3 is patched. Every bucket is versioned, so "no write" is
provable: a PUT of identical bytes keeps the ETag, but it always adds a version.

Denied access comes from moto's own IAM simulation (switched on with ``POST /moto-api/reset-auth``),
so S3 answers with the real ``AccessDenied`` error for a user whose policy does not cover the key.
The race between two runs is played in-process, with two ``Runner``s over two ``S3Store``s on one key,
so the interleaving is exact rather than left to timing.
"""

from __future__ import annotations

import http.client
import importlib
import io
import json
import os
import socket
import struct
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from conftest import Run
from fakes import SCRIPT, FakeIND, FakePushover, Workdir, label, spec_id

# Optional backends: without them (a plain `pip install pytest responses`) these tests skip, saying why.
boto3 = pytest.importorskip("boto3", reason="the S3 tests need boto3: pip install -r tests/requirements.txt")
pytest.importorskip("moto.server", reason="the S3 tests need moto: pip install -r tests/requirements.txt")
from botocore.exceptions import ClientError  # noqa: E402 - after the skip

# ind_alert.py is a script beside tests/, not an installed package: make it importable under plain
# `pytest` too, not only `python -m pytest` from the repository root.
if str(SCRIPT.parent) not in sys.path:
    sys.path.insert(0, str(SCRIPT.parent))
ind_alert = importlib.import_module("ind_alert")
from records import FULL_STATE  # noqa: E402

from ind_alert import StateError  # noqa: E402

REGION = "eu-west-1"
# AWS's documentation example keys: the real shape, valid for no account.
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
KEY = "state/seen.json"

ALERT = "Amsterdam biometrics"
ASKED = {"product": "BIO", "persons": 1}
CONFIG = f"""
[[alert]]
name = "{ALERT}"
desk = "AM"
product = "BIO"
"""

SlotSpec = tuple[str, str, str]


def iso_day(ahead: int) -> str:
    """A date `ahead` days after today in Amsterdam: script runs use the real clock."""
    return (datetime.now(ind_alert.AMSTERDAM).date() + timedelta(days=ahead)).isoformat()


SLOTS = ((10, "09:00", "09:10"), (10, "09:10", "09:20"), (11, "13:40", "13:50"))  # days ahead, start, end


def spec(n: int) -> SlotSpec:
    """Slot ``n`` of SLOTS, dated from Amsterdam's today now: never when the tests are collected."""
    ahead, start, end = SLOTS[n]
    return (iso_day(ahead), start, end)


def line_counts(pushover: FakePushover) -> Counter[str]:
    """How often each message line was delivered, over every delivered push."""
    return Counter(line for form in pushover.delivered for line in form.get("message", "").splitlines())


def slots_doc(text: str | bytes) -> dict[str, Any]:
    """A stored state document without the day's record of the Pushover secret check."""
    doc = json.loads(text)
    assert isinstance(doc, dict)
    doc.pop("validated", None)
    return doc


def state_doc(*slots: SlotSpec, history: str | None = None) -> dict[str, Any]:
    """The state document that records these slots as pushed to the default recipient.

    ``history``: the earliest slot date a run recorded for today (a run records one point a day).
    """
    doc: dict[str, Any] = {"sent": {"you": sorted(spec_id(s) for s in slots)}}
    if slots:
        doc["asked"] = ASKED  # the kind the slots were pushed for
    if history:
        doc["history"] = {iso_day(0): history}
    return {"version": ind_alert.STATE_VERSION, "alerts": {ALERT: doc}}


# ------------------------------------------------------------------ S3 on loopback


# s3_endpoint (moto's server on loopback, one per module) is a fixture of conftest.py.


@pytest.fixture(scope="module")
def s3(s3_endpoint: str) -> Any:
    """A boto3 client of the server for setting up and inspecting buckets (not the script's)."""
    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


@pytest.fixture
def bucket(s3: Any) -> str:
    """A new, empty, versioned bucket."""
    name = f"ind-alert-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture
def s3_env(s3_endpoint: str, tmp_path: Path) -> dict[str, str]:
    """What a user sets for S3 state; hermetic: no ~/.aws files, never the EC2 metadata service."""
    return {
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.fixture
def config(workdir: Workdir) -> Path:
    return workdir.write_config(CONFIG)


@dataclass(frozen=True)
class Stored:
    """One look at the state object: any write changes version_id, even with the same bytes."""

    etag: str
    last_modified: datetime
    version_id: str
    content_type: str
    body: bytes


def stored(s3: Any, bucket: str, key: str = KEY) -> Stored | None:
    try:
        got = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchKey":
            return None
        raise
    return Stored(got["ETag"], got["LastModified"], got["VersionId"], got["ContentType"], got["Body"].read())


def version_count(s3: Any, bucket: str, key: str = KEY) -> int:
    listing = s3.list_object_versions(Bucket=bucket, Prefix=key)
    return sum(1 for v in listing.get("Versions", []) if v["Key"] == key)


def put_state(s3: Any, bucket: str, body: str | bytes, key: str = KEY) -> Stored:
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode() if isinstance(body, str) else body)
    found = stored(s3, bucket, key)
    assert found is not None
    return found


def url(bucket: str, key: str = KEY) -> str:
    return f"s3://{bucket}/{key}"


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


# ------------------------------------------------------------------ IAM


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
def iam_user(iam: Any) -> Callable[[list[dict[str, Any]]], tuple[str, str]]:
    """``iam_user(statements)`` → (access key id, secret) of a new user with exactly that policy."""

    def make(statements: list[dict[str, Any]]) -> tuple[str, str]:
        name = f"ind-alert-{uuid.uuid4().hex[:8]}"
        iam.create_user(UserName=name)
        policy = json.dumps({"Version": "2012-10-17", "Statement": statements})
        iam.put_user_policy(UserName=name, PolicyName="ind-alert-state", PolicyDocument=policy)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    return make


@pytest.fixture
def iam_enforced(s3_endpoint: str) -> Callable[[], AbstractContextManager[None]]:
    """``with iam_enforced():`` the server checks signatures and IAM policies (moto's reset-auth)."""

    def reset_auth(count: str) -> None:
        with requests.Session() as session:
            session.trust_env = False  # loopback only, whatever proxy the environment names
            session.post(f"{s3_endpoint}/moto-api/reset-auth", data=count.encode(), timeout=10).raise_for_status()

    @contextmanager
    def enforced() -> Iterator[None]:
        reset_auth("0")  # from the next request on, every request is authenticated and authorized
        try:
            yield
        finally:
            reset_auth("inf")

    return enforced


def as_user(s3_env: dict[str, str], key_id: str, secret: str) -> dict[str, str]:
    return {**s3_env, "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret}


def allow(actions: list[str], resource: str) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resource}


# ------------------------------------------------------------------ the endpoint itself


def test_the_endpoint_enforces_conditional_writes(s3: Any, bucket: str) -> None:
    """The race tests below mean something only if the server answers 412 to a failed precondition."""
    created = s3.put_object(Bucket=bucket, Key=KEY, Body=b"{}", IfNoneMatch="*")
    with pytest.raises(ClientError) as exists:
        s3.put_object(Bucket=bucket, Key=KEY, Body=b"{}", IfNoneMatch="*")
    with pytest.raises(ClientError) as stale:
        s3.put_object(Bucket=bucket, Key=KEY, Body=b"{}", IfMatch='"0123456789abcdef0123456789abcdef"')
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"{ }", IfMatch=created["ETag"])
    for failed in (exists.value, stale.value):
        assert failed.response["ResponseMetadata"]["HTTPStatusCode"] == 412
        assert failed.response["Error"]["Code"] == "PreconditionFailed"


# ------------------------------------------------------------------ runs as a user runs them


def test_the_first_run_creates_the_object_with_the_pushed_slots(
    run: Run, config: Path, ind: FakeIND, pushover: FakePushover, s3: Any, bucket: str, s3_env: dict[str, str]
) -> None:
    ind.set_slots("AM", "BIO", 1, [spec(1), spec(0)])

    result = run("--state", url(bucket), env=s3_env)

    assert result.returncode == 0, result.stderr
    assert f"{ALERT}: 2 open, 2 match, 2 new, pushed" in result.stdout
    assert len(pushover.delivered) == 1
    assert line_counts(pushover)[label(spec(0))] == 1
    assert line_counts(pushover)[label(spec(1))] == 1
    found = stored(s3, bucket)
    assert found is not None
    expected = state_doc(spec(0), spec(1), history=iso_day(10))
    assert slots_doc(found.body) == expected
    assert found.body.decode() == json.dumps(json.loads(found.body), indent=2, sort_keys=True) + "\n"
    assert found.content_type == "application/json"
    assert version_count(s3, bucket) == 2  # the rehearsal before the push (the empty state), then the save
    assert not (config.parent / "state").exists()  # nothing written locally


def test_an_idle_run_leaves_the_object_as_it_is(
    run: Run, config: Path, ind: FakeIND, pushover: FakePushover, s3: Any, bucket: str, s3_env: dict[str, str]
) -> None:
    ind.set_slots("AM", "BIO", 1, [spec(0), spec(1)])
    assert run("--state", url(bucket), env=s3_env).returncode == 0
    before = stored(s3, bucket)

    result = run("--state", url(bucket), env=s3_env)

    assert result.returncode == 0, result.stderr
    assert f"{ALERT}: 2 open, 2 match, 0 new, ok" in result.stdout
    assert len(pushover.delivered) == 1  # the first run's push only
    after = stored(s3, bucket)
    assert after == before  # same ETag, LastModified, version and bytes: no PUT at all, not even a rehearsal
    assert version_count(s3, bucket) == 2  # the first run's rehearsal and save


def test_ind_alert_state_chooses_s3_when_no_state_flag_is_given(
    run: Run, config: Path, ind: FakeIND, pushover: FakePushover, s3: Any, bucket: str, s3_env: dict[str, str]
) -> None:
    ind.set_slots("AM", "BIO", 1, [spec(0)])

    result = run(env={**s3_env, "IND_ALERT_STATE": url(bucket)})

    assert result.returncode == 0, result.stderr
    found = stored(s3, bucket)
    assert found is not None
    assert slots_doc(found.body) == state_doc(spec(0), history=iso_day(10))
    assert not (config.parent / "state").exists()


def test_a_missing_object_starts_empty_and_nothing_is_written_when_nothing_is_new(
    run: Run, config: Path, ind: FakeIND, pushover: FakePushover, s3: Any, bucket: str, s3_env: dict[str, str]
) -> None:
    ind.set_slots("AM", "BIO", 1, [])

    result = run("--state", url(bucket), env=s3_env)
    idle = run("--state", url(bucket), env=s3_env)

    assert result.returncode == 0, result.stderr
    assert idle.returncode == 0, idle.stderr
    assert f"{ALERT}: 0 open, 0 match, 0 new, ok" in result.stdout
    found = stored(s3, bucket)
    assert found is not None
    # Only the day's history point ("nothing open today") is written, once.
    assert json.loads(found.body)["alerts"] == {ALERT: {"sent": {}, "history": {iso_day(0): None}}}
    assert version_count(s3, bucket) == 1
    first = found
    assert pushover.messages == []

    assert run("--state", url(bucket), env=s3_env).returncode == 0
    assert stored(s3, bucket) == first  # the same day, nothing new: nothing written


def test_a_dry_run_reads_the_object_and_never_writes_it(
    run: Run, config: Path, ind: FakeIND, pushover: FakePushover, s3: Any, bucket: str, s3_env: dict[str, str]
) -> None:
    before = put_state(s3, bucket, json.dumps(state_doc(spec(0))))
    ind.set_slots("AM", "BIO", 1, [spec(0), spec(2)])

    result = run("--dry-run", "--state", url(bucket), env=s3_env)

    assert result.returncode == 0, result.stderr
    assert label(spec(2)) in result.stdout
    assert label(spec(0)) not in result.stdout  # already pushed, as the object says
    assert stored(s3, bucket) == before
    assert pushover.messages == []


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("{ this is not json", "not JSON"),
        ('{"version": 99, "alerts": {}}', "version 99"),
        ("[]", "not a JSON object"),
        (b"\xff\xfe not utf-8", "not JSON"),
    ],
    ids=["not-json", "unknown-version", "not-an-object", "not-utf8"],
)
def test_an_unreadable_object_is_refused_with_exit_2_and_left_as_it_is(
    run: Run,
    config: Path,
    ind: FakeIND,
    pushover: FakePushover,
    s3: Any,
    bucket: str,
    s3_env: dict[str, str],
    body: str | bytes,
    why: str,
) -> None:
    before = put_state(s3, bucket, body)
    ind.set_slots("AM", "BIO", 1, [spec(0)])

    result = run("--state", url(bucket), env=s3_env)

    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert f"{url(bucket)} is not a valid ind-alert state" in lines[0]
    assert why in lines[0]
    assert "untouched" in lines[0]
    assert stored(s3, bucket) == before
    assert version_count(s3, bucket) == 1
    assert pushover.messages == []  # nothing is pushed on top of a state nobody can read


def test_a_missing_bucket_is_named(
    run: Run, config: Path, ind: FakeIND, pushover: FakePushover, s3_env: dict[str, str]
) -> None:
    missing = f"ind-alert-missing-{uuid.uuid4().hex[:8]}"

    result = run("--state", url(missing), env=s3_env)

    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert f"bucket {missing} does not exist" in lines[0]
    assert pushover.messages == []


def test_missing_aws_credentials_say_which_variables_to_set(
    run: Run, config: Path, ind: FakeIND, pushover: FakePushover, bucket: str, s3_env: dict[str, str]
) -> None:
    result = run("--state", url(bucket), env={**s3_env, "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None})

    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert "AWS_ACCESS_KEY_ID" in lines[0]
    assert "AWS_SECRET_ACCESS_KEY" in lines[0]


@pytest.fixture
def without_boto3(workdir: Workdir) -> dict[str, str]:
    """PYTHONPATH naming a boto3 that fails to import, as when it is not installed."""
    workdir.write("stub/boto3/__init__.py", 'raise ModuleNotFoundError("No module named \'boto3\'", name="boto3")\n')
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(workdir / "stub"), os.environ.get("PYTHONPATH")]))}


def test_without_boto3_an_s3_state_says_how_to_install_it(
    run: Run, config: Path, ind: FakeIND, pushover: FakePushover, s3_env: dict[str, str], without_boto3: dict[str, str]
) -> None:
    result = run("--state", "s3://some-bucket/state/seen.json", env={**s3_env, **without_boto3})

    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert "pip install boto3" in lines[0]
    assert ind.requests == []
    assert pushover.messages == []


def test_without_boto3_a_state_file_still_works(
    run: Run, config: Path, workdir: Workdir, ind: FakeIND, pushover: FakePushover, without_boto3: dict[str, str]
) -> None:
    """boto3 is imported only when an s3:// state is used."""
    ind.set_slots("AM", "BIO", 1, [spec(0)])

    result = run(env=without_boto3)

    assert result.returncode == 0, result.stderr
    assert slots_doc(workdir.state.read_text()) == state_doc(spec(0), history=iso_day(10))


def test_the_aws_secret_key_never_appears_in_the_output_at_verbose(
    run: Run, config: Path, ind: FakeIND, pushover: FakePushover, bucket: str, s3_env: dict[str, str]
) -> None:
    ind.set_slots("AM", "BIO", 1, [spec(0)])

    first = run("-v", "--state", url(bucket), env=s3_env)
    idle = run("-v", "--state", url(bucket), env=s3_env)

    assert first.returncode == idle.returncode == 0
    assert f"state saved to {url(bucket)}" in first.stderr  # -v really said more
    for result in (first, idle):
        assert SECRET_KEY not in result.output


# ------------------------------------------------------------------ IAM: what the user must fix


def test_a_least_privilege_policy_for_the_one_key_is_enough(
    run: Run,
    config: Path,
    ind: FakeIND,
    pushover: FakePushover,
    s3: Any,
    bucket: str,
    s3_env: dict[str, str],
    iam_user: Callable[[list[dict[str, Any]]], tuple[str, str]],
    iam_enforced: Callable[[], AbstractContextManager[None]],
) -> None:
    # s3:ListBucket: without it, real S3 answers a missing object with 403 instead of 404 (moto does not).
    key_id, secret = iam_user(
        [
            allow(["s3:GetObject", "s3:PutObject"], f"arn:aws:s3:::{bucket}/{KEY}"),
            allow(["s3:ListBucket"], f"arn:aws:s3:::{bucket}"),
        ]
    )
    env = as_user(s3_env, key_id, secret)
    ind.set_slots("AM", "BIO", 1, [spec(0)])

    with iam_enforced():
        first = run("--state", url(bucket), env=env)
        idle = run("--state", url(bucket), env=env)

    assert first.returncode == 0, first.stderr
    assert idle.returncode == 0, idle.stderr
    found = stored(s3, bucket)
    assert found is not None
    assert slots_doc(found.body) == state_doc(spec(0), history=iso_day(10))
    assert version_count(s3, bucket) == 2  # the first run's rehearsal and save; the idle run writes nothing
    assert len(pushover.delivered) == 1


def test_denied_access_to_the_object_is_one_line_saying_what_to_allow(
    run: Run,
    config: Path,
    ind: FakeIND,
    pushover: FakePushover,
    s3: Any,
    bucket: str,
    s3_env: dict[str, str],
    iam_user: Callable[[list[dict[str, Any]]], tuple[str, str]],
    iam_enforced: Callable[[], AbstractContextManager[None]],
) -> None:
    # A policy written for another key: the usual mistake.
    key_id, secret = iam_user([allow(["s3:GetObject", "s3:PutObject"], f"arn:aws:s3:::{bucket}/state/other.json")])
    before = put_state(s3, bucket, json.dumps(state_doc(spec(0))))
    ind.set_slots("AM", "BIO", 1, [spec(0), spec(1)])

    with iam_enforced():
        result = run("-v", "--state", url(bucket), env=as_user(s3_env, key_id, secret))

    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert f"denied access to {url(bucket)}" in lines[0]
    assert "s3:GetObject" in lines[0]
    assert secret not in result.output
    assert pushover.messages == []
    assert stored(s3, bucket) == before


def test_denied_writing_is_a_failure_to_act_on_with_exit_1(
    run: Run,
    config: Path,
    ind: FakeIND,
    pushover: FakePushover,
    s3: Any,
    bucket: str,
    s3_env: dict[str, str],
    iam_user: Callable[[list[dict[str, Any]]], tuple[str, str]],
    iam_enforced: Callable[[], AbstractContextManager[None]],
) -> None:
    key_id, secret = iam_user(
        [allow(["s3:GetObject"], f"arn:aws:s3:::{bucket}/{KEY}"), allow(["s3:ListBucket"], f"arn:aws:s3:::{bucket}")]
    )
    ind.set_slots("AM", "BIO", 1, [spec(0)])

    with iam_enforced():
        result = run("--state", url(bucket), env=as_user(s3_env, key_id, secret))

    assert result.returncode == 1
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert f"denied access to {url(bucket)}" in lines[0]
    assert "s3:PutObject" in lines[0]
    assert stored(s3, bucket) is None
    assert pushover.delivered == []  # refused at the rehearsal, before the push: it would repeat every run


@pytest.mark.parametrize(
    ("which", "named"),
    [("secret", "AWS_SECRET_ACCESS_KEY"), ("key id", "AWS_ACCESS_KEY_ID")],
    ids=["wrong-secret", "unknown-key-id"],
)
def test_rejected_aws_credentials_name_the_variable_without_printing_it(
    run: Run,
    config: Path,
    ind: FakeIND,
    pushover: FakePushover,
    bucket: str,
    s3_env: dict[str, str],
    iam_user: Callable[[list[dict[str, Any]]], tuple[str, str]],
    iam_enforced: Callable[[], AbstractContextManager[None]],
    which: str,
    named: str,
) -> None:
    key_id, secret = iam_user([allow(["s3:GetObject", "s3:PutObject"], f"arn:aws:s3:::{bucket}/{KEY}")])
    if which == "secret":
        secret = "x" * 20 + secret[20:]
    else:
        key_id = "AKIA" + "Z" * 16

    with iam_enforced():
        result = run("-v", "--state", url(bucket), env=as_user(s3_env, key_id, secret))

    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert named in lines[0]
    assert secret not in result.output


# ------------------------------------------------------------------ the region


def test_the_standard_aws_region_variable_sets_the_client_region(
    monkeypatch: pytest.MonkeyPatch, s3_env: dict[str, str]
) -> None:
    """AWS_REGION is what the README, the workflow and the script's own messages name.

    boto3 reads only AWS_DEFAULT_REGION (boto/boto3#3620); with AWS_REGION alone its S3 client signs
    for us-east-1, which S3-compatible stores with another region refuse and real S3 answers with a
    redirect.
    """
    for name, value in s3_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)

    store = ind_alert.S3Store.from_url(url("some-bucket"))

    assert store.client.meta.region_name == REGION


# ------------------------------------------------------------------ overlapping runs


@dataclass
class LoadThen:
    """A Store that calls ``then()`` right after loading: another run fits between our load and save."""

    inner: Any
    then: Callable[[], None]

    @property
    def location(self) -> str:
        return str(self.inner.location)

    def load(self) -> Any:
        loaded = self.inner.load()
        self.then()
        return loaded

    def lock(self) -> Any:
        return self.inner.lock()

    def bind(self, run: Any, grace: float) -> None:
        self.inner.bind(run, grace)

    def writable(self) -> None:
        self.inner.writable()

    def save(self, state: Any) -> Any:
        return self.inner.save(state)


@pytest.fixture
def aws_environ(monkeypatch: pytest.MonkeyPatch, s3_env: dict[str, str]) -> None:
    """The AWS variables in this process, for S3Store.from_url as the script builds it."""
    for name, value in s3_env.items():
        monkeypatch.setenv(name, value)


def make_runner(ind: FakeIND, pushover: FakePushover, secrets: dict[str, str], store: Any) -> Any:
    """A Runner wired the way dispatch() wires a normal run."""
    config = ind_alert.parse_config(ind_alert.tomllib.loads(CONFIG))
    env = {"IND_API_URL": ind.url, "PUSHOVER_API_URL": pushover.url, **secrets}
    return ind_alert.runner_for(config, env, store=store)


@pytest.mark.parametrize("initial", ["no object yet", "an object exists"])
def test_two_overlapping_runs_record_both_slots_and_push_each_once(
    aws_environ: None, ind: FakeIND, pushover: FakePushover, secrets: dict[str, str], s3: Any, bucket: str, initial: str
) -> None:
    """Runs A and B read the same state; A saves between B's load and B's save; B must not lose A's slot."""
    already = [spec(0)] if initial == "an object exists" else []
    if already:
        put_state(s3, bucket, json.dumps(state_doc(*already), indent=2, sort_keys=True) + "\n")
    versions_before = version_count(s3, bucket)
    with FakeIND() as ind_b:
        ind.set_slots("AM", "BIO", 1, [*already, spec(1)])  # what run A sees
        ind_b.set_slots("AM", "BIO", 1, [*already, spec(2)])  # what run B sees, a moment later
        run_a = make_runner(ind, pushover, secrets, ind_alert.S3Store.from_url(url(bucket)))
        codes: list[int] = []
        run_b = make_runner(
            ind_b,
            pushover,
            secrets,
            LoadThen(ind_alert.S3Store.from_url(url(bucket)), lambda: codes.append(run_a.run())),
        )

        codes.append(run_b.run())

    assert codes == [0, 0]
    found = stored(s3, bucket)
    assert found is not None
    # Both runs record today's earliest slot (A: day 10, B without A's slot: day 10 or 11); A's stored one wins.
    assert slots_doc(found.body) == state_doc(*already, spec(1), spec(2), history=iso_day(10))
    # A's rehearsal and write, then B's merged write (B's rehearsal was refused: A had written).
    assert version_count(s3, bucket) == versions_before + 3
    lines = line_counts(pushover)
    assert lines[label(spec(1))] == 1
    assert lines[label(spec(2))] == 1
    assert lines[label(spec(0))] == 0
    assert len(pushover.delivered) == 2

    # A third run that sees all of them has nothing to push and nothing to write.
    ind.set_slots("AM", "BIO", 1, [*already, spec(1), spec(2)])
    assert make_runner(ind, pushover, secrets, ind_alert.S3Store.from_url(url(bucket))).run() == 0
    assert len(pushover.delivered) == 2
    assert stored(s3, bucket) == found


@dataclass
class RivalWritesFirst:
    """The real client, except that another run writes the key just before each of our PUTs."""

    client: Any
    bucket: str
    puts: int = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def put_object(self, **kwargs: Any) -> Any:
        self.puts += 1
        rival = (iso_day(20 + self.puts), "10:00", "10:10")
        self.client.put_object(Bucket=self.bucket, Key=KEY, Body=json.dumps(state_doc(rival)).encode())
        return self.client.put_object(**kwargs)


def test_a_save_that_keeps_losing_the_race_gives_up_after_its_attempts_with_exit_1(
    aws_environ: None, s3: Any, bucket: str
) -> None:
    store = ind_alert.S3Store.from_url(url(bucket))
    rival = RivalWritesFirst(store.client, bucket)
    store.client, store.attempts = rival, 3
    ours = ind_alert.state_from_json(json.dumps(state_doc(spec(0))), "test")

    with pytest.raises(ind_alert.StateError) as failed:
        store.save(ours)

    assert failed.value.exit_code == 1
    assert url(bucket) in str(failed.value)
    assert rival.puts == 3
    found = stored(s3, bucket)
    assert found is not None
    assert slots_doc(found.body) == state_doc((iso_day(23), "10:00", "10:10"))  # theirs, never overwritten
    assert version_count(s3, bucket) == 3


# ------------------------------------------------------------------ merge_states


def alert_state_record(sent: dict[str, set[str]] | None = None, **fields: Any) -> Any:
    return ind_alert.AlertState(sent={r: frozenset(ids) for r, ids in (sent or {}).items()}, **fields)


def merged(ours: dict[str, Any], theirs: dict[str, Any], **state: Any) -> Any:
    return ind_alert.merge_states(ind_alert.State(ours, **state), ind_alert.State(theirs))


# merge_states compares slot ids as text: any three distinct ones will do.
A_ID, B_ID, C_ID = "AM 2026-12-03 09:00-09:10", "AM 2026-12-03 09:10-09:20", "AM 2026-12-04 13:40-13:50"


def test_merge_counts_a_slot_pushed_by_either_run_as_pushed() -> None:
    ours = {ALERT: alert_state_record({"me": {A_ID, B_ID}})}
    theirs = {ALERT: alert_state_record({"me": {B_ID, C_ID}})}

    for result in (merged(ours, theirs), merged(theirs, ours)):
        assert result.alerts[ALERT].sent == {"me": {A_ID, B_ID, C_ID}}


def test_merge_keeps_the_recipients_and_alerts_of_both_runs() -> None:
    ours = {ALERT: alert_state_record({"me": {A_ID}}), "only ours": alert_state_record({"me": {C_ID}})}
    theirs = {ALERT: alert_state_record({"partner": {B_ID}}), "only theirs": alert_state_record({"me": {B_ID}})}

    result = merged(ours, theirs)

    assert result.alerts[ALERT].sent == {"me": {A_ID}, "partner": {B_ID}}
    assert result.alerts["only ours"].sent == {"me": {C_ID}}
    assert result.alerts["only theirs"].sent == {"me": {B_ID}}


def test_merge_keeps_the_emergency_pushes_of_both_runs() -> None:
    mine = ind_alert.Emergency(frozenset({A_ID}), 2_000)
    other = ind_alert.Emergency(frozenset({B_ID}), 3_000)

    result = merged(
        {ALERT: alert_state_record(emergencies={"t1": mine})}, {ALERT: alert_state_record(emergencies={"t2": other})}
    )

    assert result.alerts[ALERT].emergencies == {"t1": mine, "t2": other}


def test_merge_keeps_the_latest_quota_notice_and_our_repository() -> None:
    ours = ind_alert.State({}, "me/fork", 1_700_000_000)
    theirs = ind_alert.State({}, "me/fork", 1_800_000_000)

    result = ind_alert.merge_states(ours, theirs)

    assert result.quota_notified == 1_800_000_000
    assert result.repository == "me/fork"
    assert ind_alert.merge_states(ind_alert.State(), ind_alert.State()).quota_notified is None


def test_merge_does_not_send_a_blind_push_twice_when_the_other_run_sent_it() -> None:
    ours = {ALERT: alert_state_record(failing_since=2_000)}
    theirs = {ALERT: alert_state_record(failing_since=1_000, blind_notified=True)}

    result = merged(ours, theirs).alerts[ALERT]

    assert result.blind_notified is True
    assert result.failing_since == 1_000


def test_merge_after_the_other_runs_blind_push_still_leads_to_one_checking_again_push() -> None:
    """Run B sent the blind push; run A, which had loaded the state before that, saw IND answer again.

    A did not know about the blind push, so it sent no "checking again" push. The merge must keep the
    blind push on record, so that the next successful run sends that one push (issue 6: "When checks
    succeed again, send one 'checking again' push"). Dropping it leaves the user believing the watcher
    is still blind.
    """
    ours = {ALERT: alert_state_record()}  # recovered: no failing_since, no blind push known
    theirs = {ALERT: alert_state_record(failing_since=1_000, blind_notified=True)}

    result = merged(ours, theirs).alerts[ALERT]

    assert result.blind_notified is True


def test_a_merged_state_is_written_and_read_back_unchanged() -> None:
    ours = {ALERT: alert_state_record({"default": {A_ID}}, failing_since=5)}
    theirs = {ALERT: alert_state_record({"default": {B_ID}}), "other": alert_state_record({"default": {C_ID}})}
    result = merged(ours, theirs, quota_notified=7)

    text = ind_alert.state_to_json(result)

    assert ind_alert.state_to_json(ind_alert.state_from_json(text, "merged")) == text


# ------------------------------------------------------------------ S3 out of reach for a moment


class FlakyClient:
    """An S3 client whose reads fail with the given errors first, then reach the real endpoint."""

    def __init__(self, inner: Any, *errors: Exception) -> None:
        self.inner, self.errors = inner, list(errors)

    def get_object(self, **kwargs: Any) -> Any:
        if self.errors:
            raise self.errors.pop(0)
        return self.inner.get_object(**kwargs)

    def put_object(self, **kwargs: Any) -> Any:
        return self.inner.put_object(**kwargs)


def unreachable() -> Exception:
    from botocore.exceptions import EndpointConnectionError

    return EndpointConnectionError(endpoint_url="http://127.0.0.1:9")


def s3_busy() -> Exception:
    body = {"Error": {"Code": "SlowDown", "Message": "busy"}, "ResponseMetadata": {"HTTPStatusCode": 503}}
    return ClientError(body, "GetObject")  # type: ignore[arg-type]


def cut_short() -> Exception:
    from botocore.exceptions import IncompleteReadError

    return IncompleteReadError(actual_bytes=10, expected_bytes=900)  # the connection reset mid-answer


@pytest.mark.parametrize(
    "error", [unreachable, s3_busy, cut_short], ids=["a network failure", "an S3 5xx", "an answer cut short"]
)
def test_s3_out_of_reach_for_a_moment_is_a_warning_with_exit_0_and_nothing_pushed(
    aws_environ: None,
    ind: FakeIND,
    pushover: FakePushover,
    secrets: dict[str, str],
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: Callable[[], Exception],
    config: Path,
) -> None:
    ind.set_slots("AM", "BIO", 1, [(iso_day(3), "09:00", "09:10")])
    real = ind_alert.S3Store.from_url(url(bucket))
    monkeypatch.setattr(
        ind_alert,
        "open_store",
        lambda location, *_: ind_alert.S3Store(real.bucket, real.key, FlakyClient(real.client, error())),
    )
    env = {"IND_API_URL": ind.url, "PUSHOVER_API_URL": pushover.url, **secrets}

    code = ind_alert.main(["--config", str(config), "--state", url(bucket)], env=env)

    assert code == 0
    err = capsys.readouterr().err
    assert f"warning: S3 could not be reached for {url(bucket)}" in err or "warning: S3 answered SlowDown" in err
    assert "unforeseen" not in err
    assert "Traceback" not in err
    assert pushover.messages == []  # nothing is checked or pushed without the state
    assert ind.requests == []


def test_watch_mode_goes_on_when_s3_is_out_of_reach_for_a_moment(
    aws_environ: None, ind: FakeIND, pushover: FakePushover, secrets: dict[str, str], s3: Any, bucket: str, config: Path
) -> None:
    ind.set_slots("AM", "BIO", 1, [(iso_day(3), "09:00", "09:10")])
    real = ind_alert.S3Store.from_url(url(bucket))
    store = ind_alert.S3Store(real.bucket, real.key, FlakyClient(real.client, unreachable()))
    runner = make_runner(ind, pushover, secrets, store)
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return len(waits) == 2  # stop after the second cycle

    opts = ind_alert.Options(config=config, state=url(bucket), watch=True)
    code = ind_alert.watch(opts, lambda config: runner, wait, lambda low, high: 1.0)

    assert code == 0
    assert len(waits) == 2  # the failed cycle did not end the watch
    assert line_counts(pushover) == Counter({label((iso_day(3), "09:00", "09:10")): 1})
    assert (
        ALERT
        in json.loads(stored(boto3.client("s3", endpoint_url=real.client.meta.endpoint_url), bucket).body)["alerts"]
    )  # type: ignore[union-attr]


# ------------------------------------------------------------------ S3 misbehaving on the wire

# Hop-by-hop and length headers: the relay sets its own.
HOP_HEADERS = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "expect", "content-length"}


class S3Proxy(ThreadingHTTPServer):
    """A loopback stand-in at ``AWS_ENDPOINT_URL_S3`` that relays every request to moto and records it,
    except what a test scripts for the state object (``/bucket/key``):

    - ``answer["PUT"] = "reset"``: the connection is reset without an answer, as a dropped network does;
    - ``answer["PUT"] = "501 NotImplemented"``: S3's error document with that status and code, as a store
      without conditional writes answers one (any status and code);
    - ``answer["GET"] = "404"``: a bare 404 without a body, for which botocore's error code is ``"404"``
      (real S3 answers HEAD so, and a GET through some proxies and S3-compatible stores);
    - ``before_put()``: called before a PUT of the object is relayed, e.g. another run writing first.
    """

    daemon_threads = True

    def __init__(self, upstream: str, key_path: str) -> None:
        super().__init__(("127.0.0.1", 0), S3Relay)
        self.upstream = urlsplit(upstream)
        self.key_path = key_path
        self.answer: dict[str, str] = {}
        self.spared: Counter[str] = Counter()  # requests of a method relayed as they are before `answer` applies
        self.before_put: Callable[[], None] = lambda: None
        self.requests: list[str] = []  # "PUT", "GET", ... of the state object, in order
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=10)


class S3Relay(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: S3Proxy

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        proxy = self.server
        scripted = urlsplit(self.path).path == proxy.key_path
        if scripted:
            proxy.requests.append(self.command)
        answer = proxy.answer.get(self.command) if scripted else None
        if answer and proxy.spared[self.command] > 0:
            proxy.spared[self.command] -= 1
            answer = None
        if answer == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if answer == "404":
            self.send_response_only(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if answer and " " in answer:
            status, code = answer.split(" ", 1)
            error = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>no</Message></Error>"
            self.send_response_only(int(status))
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(error)))
            self.end_headers()
            self.wfile.write(error.encode())
            return
        if scripted and self.command == "PUT":
            proxy.before_put()
        upstream = http.client.HTTPConnection(proxy.upstream.hostname or "", proxy.upstream.port, timeout=10)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
            upstream.request(self.command, self.path, body=body, headers=headers)
            got = upstream.getresponse()
            data = got.read()
        finally:
            upstream.close()
        self.send_response_only(got.status, got.reason)
        for name, value in got.getheaders():
            if name.lower() not in HOP_HEADERS:
                self.send_header(name, value)
        length = got.getheader("Content-Length", "0") if self.command == "HEAD" else str(len(data))
        self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_HEAD = do_PUT = do_POST = do_DELETE = do_GET


@pytest.fixture
def proxy(s3_endpoint: str, bucket: str) -> Iterator[S3Proxy]:
    """An S3Proxy in front of moto for the state object of ``bucket``."""
    server = S3Proxy(s3_endpoint, f"/{bucket}/{KEY}")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def proxy_env(s3_env: dict[str, str], proxy: S3Proxy) -> dict[str, str]:
    """The user's S3 settings, with the endpoint at the proxy."""
    return {**s3_env, "AWS_ENDPOINT_URL_S3": proxy.url}


TWO_ALERTS = f"""
[[alert]]
name = "{ALERT}"
desk = "AM"
product = "BIO"

[[alert]]
name = "Den Haag biometrics"
desk = "DH"
product = "BIO"
"""


def test_a_network_failure_while_saving_exits_1_and_pushes_nothing_more(
    run: Run,
    workdir: Workdir,
    ind: FakeIND,
    pushover: FakePushover,
    s3: Any,
    bucket: str,
    proxy: S3Proxy,
    proxy_env: dict[str, str],
) -> None:
    """The read works, every write of the state is reset on the wire: the run must fail (exit 1) in one
    line, leave the object as it was, and push nothing after the push it could not record, or each later
    push would repeat on every run. The next run, with S3 back, pushes the unrecorded slot once more."""
    workdir.write_config(TWO_ALERTS)
    known, new_am, new_dh = (
        (iso_day(10), "09:00", "09:10"),
        (iso_day(10), "09:10", "09:20"),
        (iso_day(12), "11:00", "11:10"),
    )
    before = put_state(s3, bucket, json.dumps(state_doc(known), indent=2, sort_keys=True) + "\n")
    ind.set_slots("AM", "BIO", 1, [known, new_am])
    ind.set_slots("DH", "BIO", 1, [new_dh])
    proxy.answer["PUT"] = "reset"
    proxy.spared["PUT"] = 1  # the rehearsal before the first push goes through: the save after it fails

    result = run("--state", url(bucket), env=proxy_env, patch_sleep=True)  # botocore's retry pauses

    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        (
            f"error: S3 could not be reached (the connection failed) while saving {url(bucket)}; it keeps its last"
            " save; nothing more is pushed this run, so nothing is pushed twice"
        )
    ]
    assert f"{ALERT}: 2 open, 2 match, 1 new, pushed" in result.stdout.splitlines()
    assert "Den Haag biometrics: 1 open, 1 match, 1 new, push failed" in result.stdout.splitlines()
    assert line_counts(pushover) == Counter({label(new_am): 1})  # Den Haag's push never went out
    assert proxy.requests[0] == "GET"
    assert set(proxy.requests[1:]) == {"PUT"}  # every attempt was a write, none a merge after a conflict
    after = stored(s3, bucket)
    assert after is not None and after.body == before.body  # the rehearsal put back the same bytes
    assert version_count(s3, bucket) == 2
    assert not (workdir / "state").exists()  # not recorded anywhere else either

    proxy.answer.clear()
    again = run("--state", url(bucket), env=proxy_env)

    assert again.returncode == 0, again.stderr
    assert line_counts(pushover) == Counter({label(new_am): 2, label(new_dh): 1})
    found = stored(s3, bucket)
    assert found is not None
    assert json.loads(found.body)["alerts"][ALERT]["sent"] == {"you": [spec_id(known), spec_id(new_am)]}


@pytest.mark.parametrize("missing", ["NoSuchKey", "404"], ids=["moto's NoSuchKey", "a bare 404"])
def test_a_bare_404_on_the_first_read_is_no_state_yet_like_no_such_key(
    run: Run,
    config: Path,
    ind: FakeIND,
    pushover: FakePushover,
    s3: Any,
    bucket: str,
    proxy: S3Proxy,
    proxy_env: dict[str, str],
    missing: str,
) -> None:
    """S3 (or a store or proxy in front of it) can answer a missing object with a bare 404, error code "404"
    rather than "NoSuchKey". It must start empty as a first run does, not be refused as an S3 error."""
    first = (iso_day(10), "09:00", "09:10")
    ind.set_slots("AM", "BIO", 1, [first])
    if missing == "404":
        proxy.answer["GET"] = "404"

    result = run("--state", url(bucket), env=proxy_env)

    assert result.returncode == 0, result.stderr
    assert error_lines(result.stderr) == []
    assert f"{ALERT}: 1 open, 1 match, 1 new, pushed" in result.stdout.splitlines()
    assert line_counts(pushover) == Counter({label(first): 1})
    assert proxy.requests == ["GET", "PUT", "PUT"]  # the read, the rehearsal (If-None-Match), the save
    found = stored(s3, bucket)
    assert found is not None
    assert slots_doc(found.body) == state_doc(first, history=iso_day(10))
    assert version_count(s3, bucket) == 2


def test_a_write_that_keeps_conflicting_is_tried_5_times_then_exits_1(
    run: Run,
    config: Path,
    ind: FakeIND,
    pushover: FakePushover,
    s3: Any,
    bucket: str,
    proxy: S3Proxy,
    proxy_env: dict[str, str],
) -> None:
    """README: when another run wrote in between, ind-alert reads again, merges and tries again, up to 5
    times; then "s3://… kept changing during this run" and exit 1. Here another run writes just before each
    of our writes, so S3 refuses every one (412): exactly 5 writes, each after a fresh read, and the other
    run's last state stays as it wrote it."""
    ours = (iso_day(10), "09:00", "09:10")
    ind.set_slots("AM", "BIO", 1, [ours])
    rivals: list[SlotSpec] = []

    def rival_writes_first() -> None:
        rivals.append((iso_day(20 + len(rivals)), "10:00", "10:10"))
        s3.put_object(Bucket=bucket, Key=KEY, Body=json.dumps(state_doc(rivals[-1])).encode())

    proxy.before_put = rival_writes_first

    result = run("--state", url(bucket), env=proxy_env)

    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        (
            f"error: {url(bucket)} kept changing during this run; it will be retried next run;"
            " nothing more is pushed this run, so nothing is pushed twice"
        )
    ]
    assert proxy.requests.count("PUT") == 6  # the rehearsal (refused: the other run wrote) and 5 saves
    assert proxy.requests[:12] == ["GET", "PUT"] + ["PUT", "GET"] * 5  # every save after the first follows a read
    assert len(rivals) == 6
    found = stored(s3, bucket)
    assert found is not None
    assert json.loads(found.body) == state_doc(rivals[5])  # the other run's, never overwritten
    assert version_count(s3, bucket) == 6  # the other run's writes only
    assert line_counts(pushover) == Counter({label(ours): 1})


def test_a_conflict_merges_the_other_runs_whole_state_and_our_newer_check_wins_where_it_should(
    run: Run,
    workdir: Workdir,
    ind: FakeIND,
    pushover: FakePushover,
    s3: Any,
    bucket: str,
    proxy: S3Proxy,
    proxy_env: dict[str, str],
) -> None:
    """Another run writes between our read and our write, and its state differs in more than sent slots:
    another alert, an outage ours no longer sees, an emergency push, the day's secret check, the quota
    notice. The merge keeps all of it, except where direction matters (merge_states(ours, theirs)): the
    day's history point already stored (theirs) wins, our successful check clears its outage, and our
    secret check is kept. Swapped arguments bring back a stale outage, our later history point and the
    other run's rejected-key record."""
    # Den Haag first: it is checked (and succeeds) before the Amsterdam push whose save meets the conflict.
    workdir.write_config(
        f'[[alert]]\nname = "Den Haag biometrics"\ndesk = "DH"\nproduct = "BIO"\n\n'
        f'[[alert]]\nname = "{ALERT}"\ndesk = "AM"\nproduct = "BIO"\n'
    )
    known, new, theirs = (
        (iso_day(10), "09:00", "09:10"),
        (iso_day(10), "09:10", "09:20"),
        (iso_day(11), "13:40", "13:50"),
    )
    secret_key = "0123456789abcdef0123456789abcdef"
    initial = {
        "version": 2,
        "alerts": {ALERT: {"sent": {"you": [spec_id(known)]}, "history": {iso_day(-2): iso_day(12)}}},
        "validated": {"fingerprint": "checked yesterday", "key": secret_key, "day": iso_day(-1), "problems": []},
    }
    put_state(s3, bucket, json.dumps(initial, indent=2, sort_keys=True) + "\n")
    now = int(datetime.now(ind_alert.AMSTERDAM).timestamp())
    utrecht = {"sent": {"you": [f"UT {iso_day(15)} 10:00-10:10"]}, "history": {iso_day(-1): iso_day(15)}}
    emergency = {"slots": [spec_id(theirs)], "expires": now + 3600}
    rejected = "recipient you: Pushover rejected the user key in PUSHOVER_USER: check that secret"
    rival = {
        "version": 2,
        "alerts": {
            ALERT: {
                "sent": {"you": [spec_id(known), spec_id(theirs)]},
                "emergencies": {"rival-tag": emergency},
                "history": {iso_day(-2): iso_day(12), iso_day(0): iso_day(11)},
            },
            "Den Haag biometrics": {"sent": {}, "failing_since": now - 600},
            "Utrecht documents": utrecht,
        },
        "quota_notified": now + 86_400,
        "validated": {"fingerprint": "f" * 64, "key": secret_key, "day": iso_day(0), "problems": [rejected]},
    }
    writes: list[int] = []

    def rival_writes_once() -> None:
        writes.append(1)
        if len(writes) == 1:
            s3.put_object(Bucket=bucket, Key=KEY, Body=json.dumps(rival).encode())

    proxy.before_put = rival_writes_once
    ind.set_slots("DH", "BIO", 1, [])
    ind.set_slots("AM", "BIO", 1, [known, new])

    result = run("--state", url(bucket), env=proxy_env)

    assert result.returncode == 0, result.stderr
    assert error_lines(result.stderr) == []
    assert line_counts(pushover) == Counter({label(new): 1})
    # The rehearsal and our first save refused (412: the other run wrote first), then the merged state.
    assert proxy.requests.count("PUT") == 3
    found = stored(s3, bucket)
    assert found is not None
    merged = json.loads(found.body)
    ours_checked = merged.pop("validated")
    assert ours_checked.pop("fingerprint") != "f" * 64
    assert ours_checked == {"key": secret_key, "day": iso_day(0), "problems": []}  # our check, not theirs
    assert merged == {
        "version": ind_alert.STATE_VERSION,
        "alerts": {
            ALERT: {
                "sent": {"you": [spec_id(known), spec_id(new), spec_id(theirs)]},
                "emergencies": {"rival-tag": emergency},
                "history": {
                    iso_day(-2): iso_day(12),
                    iso_day(0): iso_day(11),
                },  # their point for today was stored first
                "asked": ASKED,
            },
            "Den Haag biometrics": {"sent": {}, "history": {iso_day(0): None}},  # our check is the newer one
            "Utrecht documents": utrecht,
        },
        "quota_notified": now + 86_400,
    }


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("501 NotImplemented", ("the S3 store of {url} has no conditional writes (If-Match), which ind-alert needs"
         " so two runs lose nothing: use AWS S3 or a store that has them")),
        ("403 AccessDenied", ("S3 denied access to {url}: allow s3:GetObject, s3:PutObject and s3:ListBucket"
         " (see .github/docs/state.md)")),
    ],
    ids=["no conditional writes", "a read-only key"],
)  # fmt: skip
def test_a_store_that_reads_but_refuses_the_write_pushes_nothing_and_exits_1_in_one_line(
    run: Run,
    config: Path,
    ind: FakeIND,
    pushover: FakePushover,
    s3: Any,
    bucket: str,
    proxy: S3Proxy,
    proxy_env: dict[str, str],
    answer: str,
    reason: str,
) -> None:
    """The rehearsal before the first push puts the loaded bytes under the save's condition: a store that
    refuses it is found before anything goes out, instead of the same slot being pushed on every run."""
    before = put_state(s3, bucket, json.dumps(state_doc(spec(0)), indent=2, sort_keys=True) + "\n")
    ind.set_slots("AM", "BIO", 1, [spec(0), spec(1)])
    proxy.answer["PUT"] = answer

    for _ in range(2):  # and the same on the next run: never a push that cannot be recorded
        result = run("--state", url(bucket), env=proxy_env)

        assert result.returncode == 1
        assert error_lines(result.stderr) == [
            f"error: {reason.format(url=url(bucket))}; nothing is pushed until it can be, so no slot is pushed twice"
        ]
        assert pushover.delivered == []
        assert stored(s3, bucket) == before
    assert proxy.requests == ["GET", "PUT"] * 2  # one trial write a run


class NoETagClient:
    """An S3 stand-in whose answer lacks the ETag that every conditional write depends on."""

    def get_object(self, **_: Any) -> dict[str, Any]:
        return {"Body": io.BytesIO(ind_alert.state_to_json(FULL_STATE).encode())}


def test_an_s3_answer_without_an_etag_is_refused_and_nothing_is_written() -> None:
    pytest.importorskip("botocore", reason="S3 state needs boto3: pip install -r tests/requirements.txt")
    store = ind_alert.S3Store("bucket", "seen.json", NoETagClient())
    with pytest.raises(StateError) as caught:
        store.load()
    assert caught.value.exit_code == 2
    assert str(caught.value) == (
        "s3://bucket/seen.json: S3 answered without an ETag or with over 2 MB; it was left untouched"
    )
    assert store.loaded is None and store.etag is None  # so no write can follow on a guess
