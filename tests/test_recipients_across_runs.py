"""Recipients across runs: editing who gets an alert, and the watcher's own notices to several people.

Every test runs ``python ind_alert.py`` as a subprocess against the loopback fakes, twice or more in the
same work dir, rewriting ``alerts.toml`` or the state in between the way a user (or the passing of time)
would. "Now" is the script's real clock, so slot dates and outage starts are computed inside each test.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from typing import Any

import pytest
from conftest import FAKE_USER, Run
from fakes import (
    AMSTERDAM,
    HTML_MAINTENANCE,
    SCRIPT,
    FakeIND,
    FakePushover,
    Workdir,
    label,
    seed_state,
    sent_by_recipient,
    slot,
    slot_id,
)

# The script is a module beside tests/, not a package: make it importable however pytest is run.
if str(SCRIPT.parent) not in sys.path:
    sys.path.insert(0, str(SCRIPT.parent))

import ind_alert
from ind_alert import AlertState, State, StateError

# More Pushover user keys of the real shape (30 alphanumerics), valid for no account.
PARTNER_USER = "gznej3rKEVAvPUxu9vvNnqpmZpokzF"
SMS_USER = "kQ7wT2vN9xR4mB6pL1sD8fH3jC5gZ0"
# The partner's key once the rejected one was replaced.
FIXED_PARTNER_USER = "Vb4nM8qW2eR6tY0uI3oP7aS1dF5gH9"

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
SMS = """
[recipients.sms]
pushover_user_env = "PUSHOVER_USER_SMS"
only_urgent = true
"""
# Everyone, and an alert with urgency, so that the urgent-only phone is one of its recipients.
EVERYONE = ME + PARTNER + SMS
URGENT_ALERT = "urgent_within_days = 2\n"


@pytest.fixture
def env(ind: FakeIND, pushover: FakePushover, secrets: dict[str, str]) -> dict[str, str]:
    """The usual environment plus the partner's and the urgent-only phone's Pushover keys."""
    assert pushover.users is not None
    pushover.users |= {PARTNER_USER, SMS_USER, FIXED_PARTNER_USER}
    return {
        "IND_API_URL": ind.url,
        "PUSHOVER_API_URL": pushover.url,
        **secrets,
        "PUSHOVER_USER_PARTNER": PARTNER_USER,
        "PUSHOVER_USER_SMS": SMS_USER,
    }


# ------------------------------------------------------------------ helpers


def doc_alert_toml(notify: list[str] | None = None, extra: str = "") -> str:
    """The Amsterdam DOC alert, with a notify list when given."""
    lines = f'[[alert]]\nname = "{ALERT}"\ndesk = "AM"\nproduct = "DOC"\n'
    if notify is not None:
        lines += f"notify = {json.dumps(notify)}\n"
    return "\n" + lines + extra


def who_got(pushover: FakePushover, since: int = 0) -> list[tuple[str, str, str]]:
    """(user key, title, message) of every delivered push from the ``since``-th on, in order."""
    return [(m["user"], m["title"], m["message"]) for m in pushover.delivered[since:]]


def stamp(seconds: int) -> str:
    """How the notices write a moment: "Mon 23 Nov 08:41", Amsterdam time."""
    return f"{datetime.fromtimestamp(seconds, AMSTERDAM):%a %d %b %H:%M}"


def warnings_and_errors(result: Any) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith(("warning:", "error:"))]


# ------------------------------------------------------------------ notify shrinks, grows, loses a recipient


def test_a_recipient_dropped_from_notify_gets_nothing_more_and_its_record_is_dropped(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    """Catches a removed recipient still being pushed, or its "already sent" record kept in the state."""
    workdir.write_config(ME + PARTNER + doc_alert_toml(["me", "partner"]))
    ind.set_slots("AM", "DOC", 1, [slot(21)])
    first = run()
    assert first.returncode == 0, first.output
    assert sent_by_recipient(workdir, ALERT) == {"me": [slot_id(21)], "partner": [slot_id(21)]}

    workdir.write_config(ME + PARTNER + doc_alert_toml(["me"]))
    ind.set_slots("AM", "DOC", 1, [slot(21), slot(22)])
    second = run()

    assert second.returncode == 0, second.output
    assert warnings_and_errors(second) == []
    assert who_got(pushover, 2) == [(FAKE_USER, f"{DOC_TITLE}: 1 new slot", label(slot(22)))]
    assert sent_by_recipient(workdir, ALERT) == {"me": [slot_id(21), slot_id(22)]}


def test_a_recipient_added_to_notify_gets_every_open_slot_and_the_others_only_the_new_one(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    """Catches a newcomer missing the slots already open, a slot that closed meanwhile being pushed, or
    the first recipient's record being replaced instead of extended."""
    workdir.write_config(ME + PARTNER + doc_alert_toml(["me"]))
    ind.set_slots("AM", "DOC", 1, [slot(21), slot(22)])
    first = run()
    assert first.returncode == 0, first.output
    assert who_got(pushover) == [(FAKE_USER, f"{DOC_TITLE}: 2 new slots", f"{label(slot(21))}\n{label(slot(22))}")]

    workdir.write_config(ME + PARTNER + doc_alert_toml(["me", "partner"]))
    ind.set_slots("AM", "DOC", 1, [slot(22), slot(23)])  # the first slot was booked meanwhile
    second = run()

    assert second.returncode == 0, second.output
    assert who_got(pushover, 1) == [
        (FAKE_USER, f"{DOC_TITLE}: 1 new slot", label(slot(23))),
        (PARTNER_USER, f"{DOC_TITLE}: 2 new slots", f"{label(slot(22))}\n{label(slot(23))}"),
    ]
    assert sent_by_recipient(workdir, ALERT) == {
        "me": [slot_id(22), slot_id(23)],
        "partner": [slot_id(22), slot_id(23)],
    }

    third = run()
    assert third.returncode == 0, third.output
    assert len(pushover.messages) == 3


def test_a_recipient_removed_from_the_config_is_forgotten_and_the_others_go_on(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    """Catches a crash, an error or a lost slot when a whole [recipients.NAME] table and its secret go."""
    workdir.write_config(ME + PARTNER + doc_alert_toml())
    ind.set_slots("AM", "DOC", 1, [slot(21)])
    first = run()
    assert first.returncode == 0, first.output
    assert sent_by_recipient(workdir, ALERT) == {"me": [slot_id(21)], "partner": [slot_id(21)]}
    checked = len(pushover.validations)

    workdir.write_config(ME + doc_alert_toml())
    ind.set_slots("AM", "DOC", 1, [slot(21), slot(22)])
    second = run(env={"PUSHOVER_USER_PARTNER": None})

    assert second.returncode == 0, second.output
    assert warnings_and_errors(second) == []
    assert who_got(pushover, 2) == [(FAKE_USER, f"{DOC_TITLE}: 1 new slot", label(slot(22)))]
    assert [v["user"] for v in pushover.validations[checked:]] == [FAKE_USER]  # the changed secrets, once
    assert sent_by_recipient(workdir, ALERT) == {"me": [slot_id(21), slot_id(22)]}
    saved = workdir.state.read_bytes()

    third = run(env={"PUSHOVER_USER_PARTNER": None})

    assert third.returncode == 0, third.output
    assert len(pushover.messages) == 3
    assert workdir.state.read_bytes() == saved


def test_a_removed_recipient_is_kept_while_ind_fails_and_dropped_at_the_next_answer(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    """Catches a failed check rewriting who was sent what, and a stale recipient surviving the next check."""
    workdir.write_config(ME + PARTNER + doc_alert_toml(["me", "partner"]))
    ind.set_slots("AM", "DOC", 1, [slot(21)])
    assert run().returncode == 0

    workdir.write_config(ME + PARTNER + doc_alert_toml(["me"]))
    ind.set_raw("AM", "DOC", 1, status=500, body="<html>down</html>")
    down = run(patch_sleep=True)

    assert down.returncode == 0, down.output
    assert sent_by_recipient(workdir, ALERT) == {"me": [slot_id(21)], "partner": [slot_id(21)]}

    ind.set_slots("AM", "DOC", 1, [slot(21)])
    back = run()

    assert back.returncode == 0, back.output
    assert len(pushover.messages) == 2
    assert sent_by_recipient(workdir, ALERT) == {"me": [slot_id(21)]}


# ------------------------------------------------------------------ the recipient once called "default"


def test_a_state_that_still_calls_the_single_user_default_pushes_nothing_again(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    """Catches the renaming of "default" to "you" being skipped or applied to a [recipients] config."""
    workdir.write_config(doc_alert_toml())
    seed_state(workdir, {ALERT: {"sent": {"default": [slot_id(21)]}}})
    ind.set_slots("AM", "DOC", 1, [slot(21), slot(22)])

    result = run()

    assert result.returncode == 0, result.output
    assert who_got(pushover) == [(FAKE_USER, f"{DOC_TITLE}: 1 new slot", label(slot(22)))]
    assert sent_by_recipient(workdir, ALERT) == {"you": [slot_id(21), slot_id(22)]}


def test_a_merged_state_with_both_default_and_you_pushes_neither_s_slots_again(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    """Catches "default" being ignored, or overwriting "you", in a state that has both: two runs' states
    merged while one ind-alert still wrote "default" (commit-state.sh, or a shared S3 state)."""
    workdir.write_config(doc_alert_toml())
    seed_state(workdir, {ALERT: {"sent": {"default": [slot_id(21)], "you": [slot_id(22)]}}})
    ind.set_slots("AM", "DOC", 1, [slot(21), slot(22), slot(23)])

    result = run()

    assert result.returncode == 0, result.output
    assert who_got(pushover) == [(FAKE_USER, f"{DOC_TITLE}: 1 new slot", label(slot(23)))]
    assert sent_by_recipient(workdir, ALERT) == {"you": [slot_id(21), slot_id(22), slot_id(23)]}


def test_a_recipient_named_default_in_a_recipients_table_is_not_renamed(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    """Catches "default" being adopted as "you" when a [recipients] table names its own recipients."""
    workdir.write_config('[recipients.default]\npushover_user_env = "PUSHOVER_USER_PARTNER"\n' + ME + doc_alert_toml())
    seed_state(workdir, {ALERT: {"sent": {"default": [slot_id(21)]}}})
    ind.set_slots("AM", "DOC", 1, [slot(21), slot(22)])

    result = run()

    assert result.returncode == 0, result.output
    assert who_got(pushover) == [
        (PARTNER_USER, f"{DOC_TITLE}: 1 new slot", label(slot(22))),
        (FAKE_USER, f"{DOC_TITLE}: 2 new slots", f"{label(slot(21))}\n{label(slot(22))}"),
    ]
    assert sent_by_recipient(workdir, ALERT) == {
        "default": [slot_id(21), slot_id(22)],
        "me": [slot_id(21), slot_id(22)],
    }


# ------------------------------------------------------------------ notices to several recipients


BLIND_TITLE = "ind-alert is blind: 1 alert cannot check IND"
CHECKING_TITLE = f"ind-alert is checking again: {ALERT}"
QUOTA_TITLE = "ind-alert: Pushover quota almost used up"
REJECTED_PARTNER = (
    "error: recipient partner: Pushover rejected the user key in PUSHOVER_USER_PARTNER: check that secret"
)


def blind_message(since: int) -> str:
    return (
        f"Every check since {stamp(since)} failed for: {ALERT}.\n"
        "No push does not mean no slots. Check the booking page yourself; if IND's site works"
        " but this persists, see the README's troubleshooting table."
    )


def checking_message(since: int | None) -> str:
    """The "checking again" text; without the outage's start for those told on a later run than the others
    (the outage ended when the first of them was told)."""
    if since is None:
        return "IND answers again. Slots are pushed as usual."
    return f"IND answers again (it failed since {stamp(since)}). Slots are pushed as usual."


def quota_message(remaining: int) -> str:
    return (
        f"{remaining} of 10000 messages left this month (shared by all of the account's applications:"
        " fewer or narrower alerts, or a longer interval)."
    )


def test_the_blind_push_reaches_each_recipient_once_even_while_one_key_is_rejected(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    """Catches the blind push going to the urgent-only recipient, being repeated to those who got it on
    every run while one recipient's key is rejected, or never reaching that one once its key is fixed."""
    workdir.write_config(EVERYONE + doc_alert_toml(extra=URGENT_ALERT))
    since = int(time.time()) - 61 * 60  # every check has failed for 61 minutes; blind after 60
    seed_state(workdir, {ALERT: {"failing_since": since}})
    ind.set_raw("AM", "DOC", 1, status=500, body=HTML_MAINTENANCE)
    assert pushover.users is not None
    pushover.users.discard(PARTNER_USER)

    first = run(patch_sleep=True)

    assert first.returncode == 1, first.output
    assert REJECTED_PARTNER in warnings_and_errors(first)
    assert who_got(pushover) == [(FAKE_USER, BLIND_TITLE, blind_message(since))]
    assert pushover.delivered[0]["url"] == "https://oap.ind.nl/oap/en/#/DOC"
    assert [m["user"] for m in pushover.messages] == [FAKE_USER]  # the rejected key is not tried again
    assert workdir.read_state()["alerts"][ALERT] == {
        "sent": {},
        "failing_since": since,
        "blind_notified": True,
        "blind_told": ["me"],
    }

    second = run(patch_sleep=True)

    assert second.returncode == 1, second.output
    assert REJECTED_PARTNER in warnings_and_errors(second)
    assert len(pushover.messages) == 1, "the blind push went out again"

    fixed = run(env={"PUSHOVER_USER_PARTNER": FIXED_PARTNER_USER}, patch_sleep=True)

    assert fixed.returncode == 0, fixed.output
    assert who_got(pushover, 1) == [(FIXED_PARTNER_USER, BLIND_TITLE, blind_message(since))]
    assert workdir.read_state()["alerts"][ALERT] == {"sent": {}, "failing_since": since, "blind_notified": True}

    still_down = run(env={"PUSHOVER_USER_PARTNER": FIXED_PARTNER_USER}, patch_sleep=True)

    assert still_down.returncode == 0, still_down.output
    assert warnings_and_errors(still_down) == [
        f"warning: {ALERT}: IND answered HTTP 500 (an outage on their side); state kept, will retry next run"
    ]
    assert len(pushover.messages) == 2

    ind.set_slots("AM", "DOC", 1, [])
    back = run(env={"PUSHOVER_USER_PARTNER": FIXED_PARTNER_USER})

    assert back.returncode == 0, back.output
    assert who_got(pushover, 2) == [
        (FAKE_USER, CHECKING_TITLE, checking_message(since)),
        (FIXED_PARTNER_USER, CHECKING_TITLE, checking_message(since)),
    ]
    assert SMS_USER not in [m["user"] for m in pushover.messages]


def test_the_checking_again_push_is_retried_for_the_one_recipient_it_failed_for(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    """Catches a "checking again" push that failed for one recipient being sent twice to the others, never
    sent to that one, sent to the urgent-only recipient, or the outage left on record after it."""
    workdir.write_config(EVERYONE + doc_alert_toml(extra=URGENT_ALERT))
    since = int(time.time()) - 3 * 3600
    seed_state(workdir, {ALERT: {"failing_since": since, "blind_notified": True}})
    ind.set_slots("AM", "DOC", 1, [])
    pushover.queue("messages", 200)  # me (recipients are told in name order)
    pushover.queue("messages", 503)  # partner, and its retry 5 s later
    pushover.queue("messages", 503)

    first = run(patch_sleep=True)

    assert first.returncode == 0, first.output
    assert warnings_and_errors(first) == ["warning: recipient partner: Pushover answered HTTP 503; will retry next run"]
    assert who_got(pushover) == [(FAKE_USER, CHECKING_TITLE, checking_message(since))]
    assert [m["user"] for m in pushover.messages] == [FAKE_USER, PARTNER_USER, PARTNER_USER]
    assert first.sleeps == [5.0]

    second = run(patch_sleep=True)

    assert second.returncode == 0, second.output
    assert who_got(pushover, 1) == [(PARTNER_USER, CHECKING_TITLE, checking_message(None))]
    doc = workdir.read_state()["alerts"][ALERT]
    assert set(doc) == {"sent", "history"} and doc["sent"] == {}

    third = run(patch_sleep=True)

    assert third.returncode == 0, third.output
    assert len(pushover.messages) == 4


@pytest.mark.parametrize(
    ("left", "warned", "pushed"),
    [
        pytest.param(1000, False, False, id="10 % left: nothing to say"),
        pytest.param(999, True, False, id="under 10 %: a warning in the log only"),
        pytest.param(500, True, False, id="5 % left: still only the log"),
        pytest.param(499, True, True, id="under 5 %: a push to the phone too"),
    ],
)
def test_the_quota_warns_under_10_percent_and_pushes_only_under_5(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover, left: int, warned: bool, pushed: bool
) -> None:
    """Catches the quota push going out at the warning threshold, or either threshold being off by one."""
    workdir.write_config(ME + doc_alert_toml())
    pushover.remaining = left + 1  # the slot push uses one
    ind.set_slots("AM", "DOC", 1, [slot(21)])

    result = run(patch_sleep=True)

    assert result.returncode == 0, result.output
    assert f"Pushover quota: {left} of 10000 messages left this month" in result.stdout
    warnings = [line for line in warnings_and_errors(result) if "quota" in line]
    low = f"warning: Pushover quota is low: {left} of 10000 messages left"
    assert [line.split(" until ")[0] for line in warnings] == ([low] if warned else [])
    quota = [(user, title) for user, title, _ in who_got(pushover) if title == QUOTA_TITLE]
    assert quota == ([(FAKE_USER, QUOTA_TITLE)] if pushed else [])
    assert ("quota_notified" in workdir.read_state()) is pushed


def test_the_quota_push_is_retried_for_the_one_recipient_it_failed_for(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    """Catches the monthly quota push going to the urgent-only recipient, being repeated to those who got
    it, or never reaching the one it failed for."""
    workdir.write_config(EVERYONE + doc_alert_toml(extra=URGENT_ALERT))
    pushover.remaining = 450  # of 10,000: under 5 % after the first push
    ind.set_slots("AM", "DOC", 1, [slot(21)])  # not urgent: the phone gets no slot push
    pushover.queue("messages", 200)  # the slot to me, then to the partner
    pushover.queue("messages", 200)
    pushover.queue("messages", 200)  # the quota push to me
    pushover.queue("messages", 503)  # ... and to the partner, twice
    pushover.queue("messages", 503)

    first = run(patch_sleep=True)

    assert first.returncode == 0, first.output
    assert "warning: recipient partner: Pushover answered HTTP 503; will retry next run" in warnings_and_errors(first)
    slot_push = f"{DOC_TITLE}: 1 new slot"
    assert who_got(pushover) == [
        (FAKE_USER, slot_push, label(slot(21))),
        (PARTNER_USER, slot_push, label(slot(21))),
        (FAKE_USER, QUOTA_TITLE, quota_message(448)),
    ]
    assert len(pushover.messages) == 5
    assert (workdir.read_state()["quota_notified"], workdir.read_state()["quota_told"]) == (pushover.reset, ["me"])

    ind.set_slots("AM", "DOC", 1, [slot(21), slot(22)])
    second = run(patch_sleep=True)

    assert second.returncode == 0, second.output
    assert who_got(pushover, 3) == [
        (FAKE_USER, slot_push, label(slot(22))),
        (PARTNER_USER, slot_push, label(slot(22))),
        (PARTNER_USER, QUOTA_TITLE, quota_message(445)),
    ]
    assert workdir.read_state()["quota_notified"] == pushover.reset
    assert "quota_told" not in workdir.read_state()

    ind.set_slots("AM", "DOC", 1, [slot(21), slot(22), slot(23)])
    third = run(patch_sleep=True)

    assert third.returncode == 0, third.output
    assert who_got(pushover, 6) == [(FAKE_USER, slot_push, label(slot(23))), (PARTNER_USER, slot_push, label(slot(23)))]
    assert SMS_USER not in [m["user"] for m in pushover.messages]


# ------------------------------------------------------------------ who was told, in the state file


def test_who_was_told_survives_a_round_trip_through_the_state_file() -> None:
    """Catches the names of those already told being lost on save, so they are told again."""
    state = State(
        {ALERT: AlertState(failing_since=1_790_000_000, blind_notified=True, blind_told=frozenset({"me"}))},
        quota_notified=1_793_491_200,
        quota_told=frozenset({"partner", "me"}),
    )
    text = ind_alert.state_to_json(state)
    assert json.loads(text)["alerts"][ALERT]["blind_told"] == ["me"]
    assert json.loads(text)["quota_told"] == ["me", "partner"]
    assert ind_alert.state_from_json(text, "seen.json") == state


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"version": 2, "alerts": {"a": {"blind_notified": true, "blind_told": "me"}}}', id="a name"),
        pytest.param('{"version": 2, "alerts": {"a": {"blind_notified": true, "blind_told": [1]}}}', id="a number"),
        pytest.param('{"version": 2, "alerts": {}, "quota_notified": 5, "quota_told": {"me": true}}', id="an object"),
    ],
)
def test_who_was_told_must_be_a_list_of_names(text: str) -> None:
    """Catches a malformed list of who was told being read as someone (or no one) instead of refused."""
    with pytest.raises(StateError, match="is not a list of names"):
        ind_alert.state_from_json(text, "seen.json")


@pytest.mark.parametrize(
    ("mine", "theirs", "expected"),
    [
        pytest.param(frozenset(), frozenset({"me"}), frozenset(), id="one run told everyone"),
        pytest.param(frozenset({"me"}), frozenset({"partner"}), frozenset({"me", "partner"}), id="each told one"),
    ],
)
def test_two_runs_states_merged_keep_everyone_either_told(
    mine: frozenset[str], theirs: frozenset[str], expected: frozenset[str]
) -> None:
    """Catches a merge (commit-state.sh, S3) forgetting who the other run told, so they are told twice."""
    ours = State({ALERT: AlertState(failing_since=5, blind_notified=True, blind_told=mine)}, None, 7, None, mine)
    other = State({ALERT: AlertState(failing_since=5, blind_notified=True, blind_told=theirs)}, None, 7, None, theirs)

    result = ind_alert.merge_states(ours, other)

    assert result.alerts[ALERT].blind_told == expected
    assert (result.quota_notified, result.quota_told) == (7, expected)


def test_a_merge_keeps_who_was_told_of_the_latest_quota_period_only() -> None:
    """Catches names told about last month's quota counting as told about this month's."""
    ours = State(quota_notified=7, quota_told=frozenset({"me"}))
    older = State(quota_notified=3, quota_told=frozenset({"partner"}))

    assert ind_alert.merge_states(ours, older).quota_told == frozenset({"me"})
    assert ind_alert.merge_states(older, ours).quota_told == frozenset({"me"})
