"""A pushing run killed with SIGKILL at random moments, many times: no slot is ever lost, and each kill
repeats at most the one push that was in flight when it landed. Between the kills, some runs meet a store
that refuses the write (a full disk; an S3 key that may be read, not written): they push nothing (exit 1),
so they repeat nothing and lose nothing either.

Pushover cannot tell a repeated message from a new one, so no protocol on our side can do better than
"at most the push in flight": the fake records a push when it arrives and answers it a little later, so a
kill in that window leaves a delivered push the script never heard about.
"""

from __future__ import annotations

import random
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeIND, FakePushover, Workdir, full_disk, run_script, start_script, wait_until

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import ind_alert  # noqa: E402

QUERIES = [(desk, product) for desk in ("AM", "DH", "ZW", "DB") for product in ("BIO", "DOC")]
KILLS = 30
PUSH_DELAY = 0.03  # seconds the fake Pushover holds each answer: the window in which a push is in flight


def alerts_toml() -> str:
    return "".join(
        f'[[alert]]\nname = "{desk} {product}"\ndesk = "{desk}"\nproduct = "{product}"\n' for desk, product in QUERIES
    )


def title_of(desk: str, product: str) -> str:
    return f"{ind_alert.DESKS[desk]}: {ind_alert.PRODUCTS[product]}:"


@dataclass
class Store:
    """Where the runs keep their state, and how a run's write is made to fail: ``refuse(True)`` for the
    next run, ``refuse(False)`` after it."""

    args: list[str]
    env: dict[str, str]
    launcher: Path | None = None  # a full disk for the runs started with it
    proxy: Any = None

    def refused(self, on: bool) -> dict[str, Any]:
        if self.proxy is not None:
            self.proxy.answer.clear()
            if on:
                self.proxy.answer["PUT"] = "403 AccessDenied"
            return {}
        return {"script": self.launcher} if on and self.launcher else {}


@pytest.fixture(params=["state file", "full disk", "S3 refusing writes"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "state file":
        yield Store([], {})
    elif request.param == "full disk":
        yield Store([], {}, launcher=full_disk(tmp_path))
    else:
        boto3 = pytest.importorskip("boto3", reason="needs boto3: pip install -r tests/requirements.txt")
        from test_s3 import ACCESS_KEY, KEY, REGION, SECRET_KEY, S3Proxy

        endpoint = request.getfixturevalue("s3_endpoint")
        bucket = f"ind-alert-{uuid.uuid4().hex[:12]}"
        keys = {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY}
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION, **keys)
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        proxy = S3Proxy(endpoint, f"/{bucket}/{KEY}")
        env = {
            "AWS_ENDPOINT_URL_S3": proxy.url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        try:
            yield Store(["--state", f"s3://{bucket}/{KEY}"], env, proxy=proxy)
        finally:
            proxy.close()


@pytest.mark.parametrize("seed", [16])
def test_kill_9_loses_no_slot_and_repeats_at_most_the_push_in_flight(
    ind: FakeIND, pushover: FakePushover, secrets: dict[str, str], workdir: Workdir, seed: int, store: Store
) -> None:
    rng = random.Random(seed)
    workdir.write_config(alerts_toml())
    env = {"IND_API_URL": ind.url, "PUSHOVER_API_URL": pushover.url, **secrets, **store.env}
    faulty = store.launcher is not None or store.proxy is not None
    refusals = 0
    pushover.delay = PUSH_DELAY
    first = datetime.now(ind_alert.AMSTERDAM).date() + timedelta(days=3)
    offered: dict[tuple[str, str], list[tuple[str, str, str]]] = {q: [] for q in QUERIES}
    labels: dict[tuple[str, str], set[str]] = {q: set() for q in QUERIES}

    def open_one_more_slot(round_number: int) -> None:
        day = first + timedelta(days=round_number)
        for n, (desk, product) in enumerate(QUERIES):
            start = datetime.combine(day, datetime.min.time()).replace(hour=8, minute=n * 2)
            slot = (day.isoformat(), f"{start:%H:%M}", f"{start + timedelta(minutes=2):%H:%M}")
            offered[desk, product].append(slot)
            labels[desk, product].add(f"{start:%a} {start.day} {start:%b %H:%M}")
            ind.set_slots(desk, product, 1, offered[desk, product])

    runs: list[tuple[int, int, bool]] = []  # (first delivery, end of deliveries, killed)
    kills = 0
    round_number = 0
    while kills < KILLS:
        open_one_more_slot(round_number)  # every run has pushes to make
        round_number += 1
        before = len(pushover.delivered)
        if faulty and rng.random() < 0.3:  # this run's write is refused: it must push nothing at all
            result = run_script(store.args, env, cwd=workdir.path, **store.refused(True))
            store.refused(False)
            pushover.settle()
            assert result.returncode == 1, result.output
            assert len(pushover.delivered) == before, result.output
            refusals += 1
            runs.append((before, before, False))
            continue
        with start_script(store.args, env, cwd=workdir.path) as running:
            # Let a random number of pushes through, then kill a random moment later: before the first
            # push, between two, or while one is in flight.
            wanted = before + rng.randint(0, len(QUERIES) - 1)
            wait_until(lambda n=wanted: len(pushover.delivered) >= n or not running.running, timeout=30)
            time.sleep(rng.uniform(0, PUSH_DELAY * 1.5))
            killed = running.running
            if killed:
                running.proc.send_signal(signal.SIGKILL)
                kills += 1
            result = running.finish()
        # A push the killed run had just sent is the fake's to take in yet: under load it can be recorded
        # only after the run is gone, and then counted as the next run's (a refused write "pushing" one).
        # Each run's pushes are counted once the fake holds every request the run made, never by a clock.
        pushover.settle()
        assert killed or result.returncode == 0, result.output
        runs.append((before, len(pushover.delivered), killed))

    # Then runs to completion: the last one has nothing left to push.
    for _ in range(2):
        before = len(pushover.delivered)
        result = run_script(store.args, env, cwd=workdir.path)
        pushover.settle()
        assert result.returncode == 0, result.output
        runs.append((before, len(pushover.delivered), False))
    assert refusals >= 3 or not faulty  # the refused writes did happen, between the kills
    assert runs[-1][0] == runs[-1][1], "a completed run left pushes for the next"

    delivered = pushover.delivered
    # No slot lost: every slot ever offered reached the recipient in some push of its alert.
    for (desk, product), wanted_labels in labels.items():
        got = {
            line
            for form in delivered
            if form["title"].startswith(title_of(desk, product))
            for line in form["message"].splitlines()
        }
        assert wanted_labels <= got, f"{desk} {product}: never delivered {sorted(wanted_labels - got)}"

    # At most the push in flight is repeated: a slot reaches the recipient again only as often as a kill
    # landed while a push holding it was in flight (the killed run's last push, which the fake recorded
    # but whose answer the script may never have read). Its repeat can come in any later run.
    def items(form: dict[str, str]) -> set[tuple[str, str]]:
        alert = ": ".join(form["title"].split(": ")[:2])
        return {(alert, line) for line in form["message"].splitlines()}

    copies: Counter[tuple[str, str]] = Counter(item for form in delivered for item in items(form))
    in_flight: Counter[tuple[str, str]] = Counter(
        item for start, end, killed in runs if killed and end > start for item in items(delivered[end - 1])
    )
    for item, count in copies.items():
        assert count - 1 <= in_flight[item], f"{item}: delivered {count} times, in flight at {in_flight[item]} kills"
    repeated_pushes = sum(1 for n, form in enumerate(delivered) if any(copies_before(delivered[:n], items(form))))
    assert repeated_pushes <= kills == KILLS
    # The kills did land mid-run: some runs were cut short with pushes still to make.
    assert repeated_pushes >= 1


def copies_before(earlier: list[dict[str, str]], wanted: set[tuple[str, str]]) -> list[bool]:
    return [
        any(": ".join(f["title"].split(": ")[:2]) == alert and line in f["message"].splitlines() for f in earlier)
        for alert, line in wanted
    ]
