"""Emergency pushes (priority 2) over their whole life: sent, recorded, expired, cancelled or not.

Most tests run ``python ind_alert.py`` against the loopback fakes, as a user meets the behaviour; the
second that an emergency expires in and the bounds of ``urgent_priority`` are checked in-process.
Slot dates are built relative to today in Amsterdam: tomorrow is urgent (``urgent_within_days = 2``),
ten days ahead is not.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from conftest import FAKE_TOKEN, FAKE_USER, Run
from fakes import AMSTERDAM, AppriseServer, FakeIND, FakePushover, Workdir, slot, slot_id

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import ind_alert  # noqa: E402
from ind_alert import AlertState, ConfigError, Emergency, PushoverClient  # noqa: E402

ALERT = "Amsterdam DOC"
PUSHOVER = "https://api.pushover.net/1"

URGENT_ALERT = """
[[alert]]
name = "Amsterdam DOC"
desk = "AM"
product = "DOC"
urgent_within_days = 2
urgent_priority = 2
"""

# Pushover's answer to a cancel it will never accept: the receipt or tag is unknown to it.
RECEIPT_NOT_FOUND = {"receipt": "not found", "errors": ["receipt not found; may be invalid or expired"], "status": 0}


# ------------------------------------------------------------------ helpers


def stored_alert(workdir: Workdir) -> dict[str, Any]:
    doc = workdir.read_state()["alerts"][ALERT]
    assert isinstance(doc, dict)
    return doc


def expire_emergencies(workdir: Workdir, seconds_ago: int) -> None:
    """Move every recorded emergency's expiry into the past, as if that long had passed since it expired."""
    doc = workdir.read_state()
    for record in doc["alerts"][ALERT]["emergencies"].values():
        record["expires"] = int(time.time()) - seconds_ago
    workdir.state.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")


@pytest.fixture
def emergency(run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover) -> str:
    """A first run that pushed tomorrow's (urgent) and a later (not urgent) slot as an emergency; its tag."""
    workdir.write_config(URGENT_ALERT)
    ind.set_slots("AM", "DOC", 1, [slot(1), slot(10)])
    result = run()
    assert result.returncode == 0, result.output
    [push] = pushover.delivered
    assert push["priority"] == "2", push
    return push["tags"]


# ------------------------------------------------------------------ an Apprise endpoint


# ------------------------------------------------------------------ what is sent and recorded


def test_an_emergency_repeats_every_minute_for_an_hour_and_the_state_records_its_urgent_slot_and_expiry(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    """Catches a wrong retry or expire sent to Pushover, a non-urgent slot recorded as the emergency's
    (it would be cancelled for a slot that never made the phone ring), or an expiry not an hour ahead."""
    workdir.write_config(URGENT_ALERT)
    ind.set_slots("AM", "DOC", 1, [slot(1), slot(10)])
    before = int(time.time())

    result = run()

    after = int(time.time())
    assert result.returncode == 0, result.output
    [push] = pushover.delivered
    assert (push["priority"], push["retry"], push["expire"]) == ("2", "60", "3600")
    assert push["tags"].startswith("ind-alert-")
    [(tag, record)] = stored_alert(workdir)["emergencies"].items()
    assert tag == push["tags"]
    assert record["slots"] == [slot_id(1)]
    assert before + 3600 <= record["expires"] <= after + 3600


def test_an_expired_emergency_whose_slot_is_gone_is_forgotten_without_a_cancel(
    emergency: str, run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    """Catches a cancel sent for an emergency Pushover already stopped repeating (expiry check flipped),
    or an expired record kept in the state for ever."""
    expire_emergencies(workdir, seconds_ago=60)
    ind.set_slots("AM", "DOC", 1, [slot(10)])

    result = run()

    assert result.returncode == 0, result.output
    assert pushover.cancels == []
    assert "emergencies" not in stored_alert(workdir)
    assert stored_alert(workdir)["sent"] == {"you": [slot_id(10)]}
    assert len(pushover.messages) == 1


def test_an_expired_emergency_whose_slot_is_still_open_is_forgotten_and_not_pushed_again(
    emergency: str, run: Run, workdir: Workdir, pushover: FakePushover
) -> None:
    """Catches an expired emergency kept (to be cancelled hours later) or its slots pushed once more."""
    expire_emergencies(workdir, seconds_ago=1)

    result = run()

    assert result.returncode == 0, result.output
    assert pushover.cancels == []
    assert "emergencies" not in stored_alert(workdir)
    assert stored_alert(workdir)["sent"] == {"you": [slot_id(1), slot_id(10)]}
    assert len(pushover.messages) == 1


def test_an_emergency_is_forgotten_from_its_expiry_second_on_and_cancelled_one_second_before(tmp_path: Path) -> None:
    """Catches the expiry compared the wrong way round or one second off (< for <=): Pushover stops
    repeating at `expires`, so a cancel then is a request for nothing."""
    now = datetime.now(AMSTERDAM).replace(microsecond=0)
    gone = {"AM 2000-01-01 10:00-10:10"}  # the ids of the open slots: the emergency's slot is not among them
    tag = "ind-alert-0123456789abcdef"
    records = {
        "ind-alert-aaaaaaaaaaaaaaaa": Emergency(frozenset({slot_id(1)}), int(now.timestamp())),
        tag: Emergency(frozenset({slot_id(1)}), int(now.timestamp()) + 1),
    }
    sleeps: list[float] = []
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps, requests.Session() as http:
        rsps.post(f"{PUSHOVER}/receipts/cancel_by_tag/{tag}.json", json={"status": 1, "request": "r"})
        runner = make_runner(tmp_path, PushoverClient(PUSHOVER, FAKE_TOKEN, session=http, sleep=sleeps.append))
        after = ind_alert.cancel_emergencies(
            runner.begin(), runner.config.alerts[0], AlertState(emergencies=records), gone, now
        )
        assert [call.request.url for call in rsps.calls] == [f"{PUSHOVER}/receipts/cancel_by_tag/{tag}.json"]
    assert after.emergencies == {}
    assert sleeps == []


def make_runner(tmp_path: Path, pushover: PushoverClient | None, dry_run: bool = False) -> ind_alert.Runner:
    config = ind_alert.parse_config(ind_alert.tomllib.loads(URGENT_ALERT), "alerts.toml")
    store = ind_alert.FileStore(tmp_path / "seen.json")
    return ind_alert.runner_for(config, {}, ind_alert.Options("", "", dry_run=dry_run), store=store, pushover=pushover)


# ------------------------------------------------------------------ cancelling when the slot is gone


def test_a_cancel_pushover_refuses_for_good_is_forgotten_and_never_sent_again(
    emergency: str, run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    """Catches a permanently refused cancel kept in the state: it would be sent again on every run."""
    ind.set_slots("AM", "DOC", 1, [slot(10)])
    pushover.queue("cancel", 404, RECEIPT_NOT_FOUND)

    second = run()

    assert second.returncode == 0, second.output
    assert pushover.cancels == [emergency]
    assert second.stderr.splitlines() == [
        (
            f"warning: {ALERT}: could not cancel an emergency push: Pushover refused the request "
            "(HTTP 404: receipt not found; may be invalid or expired)"
        )
    ]
    assert "emergencies" not in stored_alert(workdir)

    third = run()

    assert third.returncode == 0, third.output
    assert pushover.cancels == [emergency]
    assert "emergencies" not in stored_alert(workdir)
    assert len(pushover.messages) == 1


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param("503", id="Pushover answers 503"),
        pytest.param("429", id="Pushover answers 429"),
        pytest.param("drop", id="Pushover drops the connection"),
    ],
)
def test_a_cancel_that_fails_for_a_moment_is_kept_and_sent_again_next_run(
    failure: str, emergency: str, run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    """Catches a passing cancel failure treated as final: the phone would ring for an hour for a slot
    someone else booked. The record stays as it was (same slots, same expiry) until the cancel gets through."""
    recorded = stored_alert(workdir)["emergencies"]
    ind.set_slots("AM", "DOC", 1, [slot(10)])
    for _ in range(2):  # the first try and its one retry 5 s later
        if failure == "drop":
            pushover.drop_next("cancel")
        else:
            pushover.queue("cancel", int(failure))

    second = run(patch_sleep=True)

    assert second.returncode == 0, second.output
    assert pushover.cancels == [emergency, emergency]
    assert second.sleeps == [5.0]
    assert stored_alert(workdir)["emergencies"] == recorded

    third = run()

    assert third.returncode == 0, third.output
    assert pushover.cancels == [emergency, emergency, emergency]
    assert "emergencies" not in stored_alert(workdir)
    assert len(pushover.messages) == 1


def test_a_dry_run_neither_cancels_nor_forgets_an_emergency_whose_slot_is_gone(
    emergency: str, run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    """Catches a dry run that cancels (or tries to, with no Pushover client, and crashes) or that
    changes the state."""
    before = workdir.state.read_text(encoding="utf-8")
    ind.set_slots("AM", "DOC", 1, [slot(10)])

    result = run("--dry-run")

    assert result.returncode == 0, result.output
    assert pushover.cancels == []
    assert workdir.state.read_text(encoding="utf-8") == before


def test_an_emergency_is_kept_when_no_recipient_uses_pushover_any_more(
    emergency: str, run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover, apprise_server: AppriseServer
) -> None:
    """Catches the cancel tried without a Pushover client (a crash) once the config names only an
    Apprise recipient: the record is kept until it expires or Pushover is configured again."""
    recorded = stored_alert(workdir)["emergencies"]
    workdir.write_config('[recipients.phone]\napprise_url_env = "APPRISE_URL"\n' + URGENT_ALERT)
    ind.set_slots("AM", "DOC", 1, [slot(10)])

    result = run(env={"APPRISE_URL": apprise_server.url})

    assert result.returncode == 0, result.output
    assert pushover.cancels == []
    assert stored_alert(workdir)["emergencies"] == recorded
    assert [post["title"] for post in apprise_server.received] == [
        "IND Amsterdam: Collect residence document: 1 new slot"
    ]


@pytest.mark.parametrize(
    ("dry_run", "with_client"),
    [
        pytest.param(False, False, id="a run without a Pushover client"),
        pytest.param(True, False, id="a dry run without a Pushover client"),
        pytest.param(True, True, id="a dry run given a Pushover client"),
    ],
)
def test_an_emergency_whose_slot_is_gone_is_kept_without_a_cancel_when_nothing_may_be_sent(
    tmp_path: Path, dry_run: bool, with_client: bool
) -> None:
    """Catches the cancel condition with an `and` for an `or`, or missing one of its parts: with no
    Pushover client there is nobody to ask, and a dry run sends nothing even when it could."""
    now = datetime.now(AMSTERDAM)
    records = {"ind-alert-0123456789abcdef": Emergency(frozenset({slot_id(1)}), int(now.timestamp()) + 600)}
    sleeps: list[float] = []
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps, requests.Session() as http:
        client = PushoverClient(PUSHOVER, FAKE_TOKEN, session=http, sleep=sleeps.append) if with_client else None
        runner = make_runner(tmp_path, client, dry_run=dry_run)
        after = ind_alert.cancel_emergencies(
            runner.begin(), runner.config.alerts[0], AlertState(emergencies=records), set(), now
        )
        assert [call.request.url for call in rsps.calls] == []
    assert after.emergencies == records
    assert sleeps == []


# ------------------------------------------------------------------ Apprise recipients


def test_an_apprise_recipient_of_an_urgent_alert_records_no_emergency_and_nothing_is_cancelled(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover, apprise_server: AppriseServer
) -> None:
    """Catches an emergency recorded for an Apprise push: Apprise cannot repeat or cancel it, and the
    record would make the next runs send Pushover a cancel for a push it never had."""
    workdir.write_config('[recipients.phone]\napprise_url_env = "APPRISE_URL"\n' + URGENT_ALERT)
    ind.set_slots("AM", "DOC", 1, [slot(1)])
    env = {"APPRISE_URL": apprise_server.url}

    first = run(env=env)

    assert first.returncode == 0, first.output
    assert len(apprise_server.received) == 1
    assert sorted(stored_alert(workdir)) == ["asked", "history", "sent"]  # no emergencies
    assert stored_alert(workdir)["sent"] == {"phone": [slot_id(1)]}

    ind.set_slots("AM", "DOC", 1, [])
    second = run(env=env)

    assert second.returncode == 0, second.output
    assert pushover.requests == []
    assert "emergencies" not in workdir.read_state()["alerts"].get(ALERT, {})


def test_only_the_pushover_recipients_emergency_is_recorded_and_cancelled_beside_an_apprise_one(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover, apprise_server: AppriseServer
) -> None:
    """Catches the Apprise recipient's push (one per slot here, so its own tag) recorded as an emergency
    beside the Pushover one, and so a cancel sent for it."""
    workdir.write_config(
        '[recipients.me]\npushover_user_env = "PUSHOVER_USER"\n\n'
        '[recipients.phone]\napprise_url_env = "APPRISE_URL"\nper_slot = true\n' + URGENT_ALERT
    )
    ind.set_slots("AM", "DOC", 1, [slot(1)])
    env = {"APPRISE_URL": apprise_server.url}

    first = run(env=env)

    assert first.returncode == 0, first.output
    [push] = pushover.delivered
    assert push["user"] == FAKE_USER
    assert len(apprise_server.received) == 1
    recorded = stored_alert(workdir)["emergencies"]
    assert list(recorded) == [push["tags"]]
    assert recorded[push["tags"]]["slots"] == [slot_id(1)]

    ind.set_slots("AM", "DOC", 1, [])
    second = run(env=env)

    assert second.returncode == 0, second.output
    assert pushover.cancels == [push["tags"]]
    assert "emergencies" not in workdir.read_state()["alerts"].get(ALERT, {})


# ------------------------------------------------------------------ the bounds of urgent_priority


def urgent_config(extra: str) -> ind_alert.Config:
    return ind_alert.parse_config(
        ind_alert.tomllib.loads(URGENT_ALERT.replace("urgent_priority = 2\n", extra)), "alerts.toml"
    )


@pytest.mark.parametrize("value", [pytest.param(-2, id="-2, the lowest"), pytest.param(2, id="2, the highest")])
def test_urgent_priority_accepts_both_ends_of_pushovers_range(value: int) -> None:
    """Catches either bound of urgent_priority moved inwards: -2 (silent) or 2 (emergency) refused."""
    assert urgent_config(f"urgent_priority = {value}\n").alerts[0].urgent_priority == value


@pytest.mark.parametrize("value", [pytest.param(-3, id="-3, below"), pytest.param(3, id="3, above")])
def test_urgent_priority_outside_pushovers_range_is_refused_with_the_range(value: int) -> None:
    """Catches either bound of urgent_priority moved outwards: Pushover would refuse every urgent push."""
    with pytest.raises(ConfigError) as caught:
        urgent_config(f"urgent_priority = {value}\n")
    assert caught.value.exit_code == 2
    assert str(caught.value) == (
        f'alerts.toml alert "{ALERT}": urgent_priority must be a whole number from -2 to 2, not {value}'
    )


def test_urgent_priority_is_1_when_not_set() -> None:
    """Catches a wrong default: 2 would ring the phone for an hour, 0 would stay silent in quiet hours."""
    assert urgent_config("").alerts[0].urgent_priority == 1
