"""Recipients across runs: editing who gets an alert, and the watcher's own notices to several people.

Every test runs ``python ind_alert.py`` as a subprocess against the loopback fakes, twice or more in the
same work dir, rewriting ``alerts.toml`` or the state in between the way a user (or the passing of time)
would. "Now" is the script's real clock, so slot dates and outage starts are computed inside each test.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import FAKE_USER, Run
from fakes import FakeIND, FakePushover, Workdir

AMSTERDAM = ZoneInfo("Europe/Amsterdam")

# More Pushover user keys of the real shape (30 alphanumerics), valid for no account.
PARTNER_USER = "gznej3rKEVAvPUxu9vvNnqpmZpokzF"
SMS_USER = "kQ7wT2vN9xR4mB6pL1sD8fH3jC5gZ0"

ALERT = "Amsterdam DOC"
DOC_TITLE = "IND Amsterdam: Collect residence document"

ME = """
[recipients.me]
pushover_user_env = "PUSHOVER_USER"
"""
PARTNER = """
[recipients.partner]
pushover_user_env = "PUSHOVER_USER_PARTNER"
"""


@pytest.fixture
def env(ind: FakeIND, pushover: FakePushover, secrets: dict[str, str]) -> dict[str, str]:
    """The usual environment plus the partner's and the urgent-only phone's Pushover keys."""
    assert pushover.users is not None
    pushover.users |= {PARTNER_USER, SMS_USER}
    return {
        "IND_API_URL": ind.url,
        "PUSHOVER_API_URL": pushover.url,
        **secrets,
        "PUSHOVER_USER_PARTNER": PARTNER_USER,
        "PUSHOVER_USER_SMS": SMS_USER,
    }


# ------------------------------------------------------------------ helpers


def day(offset: int) -> date:
    return datetime.now(AMSTERDAM).date() + timedelta(days=offset)


def slot(offset: int, start: str = "10:00", end: str = "10:10") -> tuple[str, str, str]:
    """An IND slot ``offset`` days from today (Amsterdam)."""
    return (day(offset).isoformat(), start, end)


def slot_id(offset: int, start: str = "10:00", end: str = "10:10") -> str:
    """How the state file names that slot at the Amsterdam desk."""
    return f"AM {day(offset).isoformat()} {start}-{end}"


def label(offset: int, start: str = "10:00") -> str:
    """How a push lists that slot: "Tue 24 Nov 10:00"."""
    d = day(offset)
    return f"{d:%a} {d.day} {d:%b} {start}"


def alert(notify: list[str] | None = None, extra: str = "") -> str:
    """The Amsterdam DOC alert, with a notify list when given."""
    lines = f'[[alert]]\nname = "{ALERT}"\ndesk = "AM"\nproduct = "DOC"\n'
    if notify is not None:
        lines += f"notify = {json.dumps(notify)}\n"
    return "\n" + lines + extra


def who_got(pushover: FakePushover, since: int = 0) -> list[tuple[str, str, str]]:
    """(user key, title, message) of every delivered push from the ``since``-th on, in order."""
    return [(m["user"], m["title"], m["message"]) for m in pushover.delivered[since:]]


def state(workdir: Workdir) -> dict[str, Any]:
    doc = json.loads(workdir.state.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def sent(workdir: Workdir) -> dict[str, list[str]]:
    return dict(state(workdir)["alerts"][ALERT]["sent"])


def seed_state(workdir: Workdir, alerts: dict[str, Any], **top: Any) -> None:
    workdir.state.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"version": 2, "alerts": alerts, **top}, indent=2, sort_keys=True) + "\n"
    workdir.state.write_text(text, encoding="utf-8")


def problems(result: Any) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith(("warning:", "error:"))]


# ------------------------------------------------------------------ notify shrinks, grows, loses a recipient


def test_a_recipient_dropped_from_notify_gets_nothing_more_and_its_record_is_dropped(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    """Catches a removed recipient still being pushed, or its "already sent" record kept in the state."""
    workdir.write_config(ME + PARTNER + alert(["me", "partner"]))
    ind.set_slots("AM", "DOC", 1, [slot(21)])
    first = run()
    assert first.returncode == 0, first.output
    assert sent(workdir) == {"me": [slot_id(21)], "partner": [slot_id(21)]}

    workdir.write_config(ME + PARTNER + alert(["me"]))
    ind.set_slots("AM", "DOC", 1, [slot(21), slot(22)])
    second = run()

    assert second.returncode == 0, second.output
    assert problems(second) == []
    assert who_got(pushover, 2) == [(FAKE_USER, f"{DOC_TITLE}: 1 new slot", label(22))]
    assert sent(workdir) == {"me": [slot_id(21), slot_id(22)]}


def test_a_recipient_added_to_notify_gets_every_open_slot_and_the_others_only_the_new_one(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    """Catches a newcomer missing the slots already open, a slot that closed meanwhile being pushed, or
    the first recipient's record being replaced instead of extended."""
    workdir.write_config(ME + PARTNER + alert(["me"]))
    ind.set_slots("AM", "DOC", 1, [slot(21), slot(22)])
    first = run()
    assert first.returncode == 0, first.output
    assert who_got(pushover) == [(FAKE_USER, f"{DOC_TITLE}: 2 new slots", f"{label(21)}\n{label(22)}")]

    workdir.write_config(ME + PARTNER + alert(["me", "partner"]))
    ind.set_slots("AM", "DOC", 1, [slot(22), slot(23)])  # the first slot was booked meanwhile
    second = run()

    assert second.returncode == 0, second.output
    assert who_got(pushover, 1) == [
        (FAKE_USER, f"{DOC_TITLE}: 1 new slot", label(23)),
        (PARTNER_USER, f"{DOC_TITLE}: 2 new slots", f"{label(22)}\n{label(23)}"),
    ]
    assert sent(workdir) == {"me": [slot_id(22), slot_id(23)], "partner": [slot_id(22), slot_id(23)]}

    third = run()
    assert third.returncode == 0, third.output
    assert len(pushover.messages) == 3


def test_a_recipient_removed_from_the_config_is_forgotten_and_the_others_go_on(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    """Catches a crash, an error or a lost slot when a whole [recipients.NAME] table and its secret go."""
    workdir.write_config(ME + PARTNER + alert())
    ind.set_slots("AM", "DOC", 1, [slot(21)])
    first = run()
    assert first.returncode == 0, first.output
    assert sent(workdir) == {"me": [slot_id(21)], "partner": [slot_id(21)]}
    checked = len(pushover.validations)

    workdir.write_config(ME + alert())
    ind.set_slots("AM", "DOC", 1, [slot(21), slot(22)])
    second = run(env={"PUSHOVER_USER_PARTNER": None})

    assert second.returncode == 0, second.output
    assert problems(second) == []
    assert who_got(pushover, 2) == [(FAKE_USER, f"{DOC_TITLE}: 1 new slot", label(22))]
    assert [v["user"] for v in pushover.validations[checked:]] == [FAKE_USER]  # the changed secrets, once
    assert sent(workdir) == {"me": [slot_id(21), slot_id(22)]}
    saved = workdir.state.read_bytes()

    third = run(env={"PUSHOVER_USER_PARTNER": None})

    assert third.returncode == 0, third.output
    assert len(pushover.messages) == 3
    assert workdir.state.read_bytes() == saved


def test_a_removed_recipient_is_kept_while_ind_fails_and_dropped_at_the_next_answer(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    """Catches a failed check rewriting who was sent what, and a stale recipient surviving the next check."""
    workdir.write_config(ME + PARTNER + alert(["me", "partner"]))
    ind.set_slots("AM", "DOC", 1, [slot(21)])
    assert run().returncode == 0

    workdir.write_config(ME + PARTNER + alert(["me"]))
    ind.set_raw("AM", "DOC", 1, status=500, body="<html>down</html>")
    down = run(patch_sleep=True)

    assert down.returncode == 0, down.output
    assert sent(workdir) == {"me": [slot_id(21)], "partner": [slot_id(21)]}

    ind.set_slots("AM", "DOC", 1, [slot(21)])
    back = run()

    assert back.returncode == 0, back.output
    assert len(pushover.messages) == 2
    assert sent(workdir) == {"me": [slot_id(21)]}


# ------------------------------------------------------------------ the recipient once called "default"


def test_a_state_that_still_calls_the_single_user_default_pushes_nothing_again(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    """Catches the renaming of "default" to "you" being skipped or applied to a [recipients] config."""
    workdir.write_config(alert())
    seed_state(workdir, {ALERT: {"sent": {"default": [slot_id(21)]}}})
    ind.set_slots("AM", "DOC", 1, [slot(21), slot(22)])

    result = run()

    assert result.returncode == 0, result.output
    assert who_got(pushover) == [(FAKE_USER, f"{DOC_TITLE}: 1 new slot", label(22))]
    assert sent(workdir) == {"you": [slot_id(21), slot_id(22)]}


def test_a_merged_state_with_both_default_and_you_pushes_neither_s_slots_again(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    """Catches "default" being ignored, or overwriting "you", in a state that has both: two runs' states
    merged while one ind-alert still wrote "default" (commit-state.sh, or a shared S3 state)."""
    workdir.write_config(alert())
    seed_state(workdir, {ALERT: {"sent": {"default": [slot_id(21)], "you": [slot_id(22)]}}})
    ind.set_slots("AM", "DOC", 1, [slot(21), slot(22), slot(23)])

    result = run()

    assert result.returncode == 0, result.output
    assert who_got(pushover) == [(FAKE_USER, f"{DOC_TITLE}: 1 new slot", label(23))]
    assert sent(workdir) == {"you": [slot_id(21), slot_id(22), slot_id(23)]}


def test_a_recipient_named_default_in_a_recipients_table_is_not_renamed(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    """Catches "default" being adopted as "you" when a [recipients] table names its own recipients."""
    workdir.write_config('[recipients.default]\npushover_user_env = "PUSHOVER_USER_PARTNER"\n' + ME + alert())
    seed_state(workdir, {ALERT: {"sent": {"default": [slot_id(21)]}}})
    ind.set_slots("AM", "DOC", 1, [slot(21), slot(22)])

    result = run()

    assert result.returncode == 0, result.output
    assert who_got(pushover) == [
        (PARTNER_USER, f"{DOC_TITLE}: 1 new slot", label(22)),
        (FAKE_USER, f"{DOC_TITLE}: 2 new slots", f"{label(21)}\n{label(22)}"),
    ]
    assert sent(workdir) == {"default": [slot_id(21), slot_id(22)], "me": [slot_id(21), slot_id(22)]}
