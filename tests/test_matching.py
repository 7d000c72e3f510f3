"""Which slots an alert wants, which are urgent, which each recipient has not had yet, and what is
forgotten when a slot is gone: the pure core, as tables."""

from __future__ import annotations

import sys
from datetime import date, datetime, timezone
from datetime import time as dtime
from pathlib import Path
from typing import Any

import pytest
from records import NEXT_MONTH, NEXT_WEEK, NOW, TOMORROW, alert, at

# The script is a module at the repository root, not a package: make it importable however pytest is run.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


import ind_alert  # noqa: E402
from ind_alert import AlertState, Emergency, Recipient, Slot  # noqa: E402


@pytest.mark.parametrize(
    ("changes", "slot", "now", "expected"),
    [
        pytest.param({}, at("2027-06-01", "09:00"), NOW, True, id="a future slot matches an alert without filters"),
        pytest.param({}, at("2026-10-05", "07:50"), NOW, False, id="a slot that already started never matches"),
        pytest.param({}, at("2026-10-01", "09:00"), NOW, False, id="a slot on a past day never matches"),
        pytest.param(
            {"days_ahead": 14, "after": date(2026, 1, 1)},
            at("2026-10-05", "07:59"),
            NOW,
            False,
            id="a past slot never matches even when every filter would take it",
        ),
        pytest.param({"days_ahead": 3}, at("2026-10-08", "16:00"), NOW, True, id="the last day of days_ahead counts"),
        pytest.param({"days_ahead": 3}, at("2026-10-09", "08:00"), NOW, False, id="the day after days_ahead is out"),
        pytest.param({"days_ahead": 0}, at("2026-10-05", "15:00"), NOW, True, id="days_ahead 0 means later today"),
        pytest.param({"days_ahead": 0}, at("2026-10-06", "08:00"), NOW, False, id="days_ahead 0 excludes tomorrow"),
        pytest.param(
            {"days_ahead": 0},
            at("2026-10-05", "09:00"),
            datetime(2026, 10, 4, 22, 30, tzinfo=timezone.utc),
            True,
            id="just after midnight in Amsterdam today is already the new day though UTC is still yesterday",
        ),
        pytest.param(
            {"days_ahead": 1},
            at("2026-10-06", "09:00"),
            datetime(2026, 10, 4, 22, 30, tzinfo=timezone.utc),
            True,
            id="days_ahead counts from the Amsterdam date not the UTC date",
        ),
        pytest.param(
            {"days_ahead": 1},
            at("2026-10-07", "09:00"),
            datetime(2026, 10, 4, 22, 30, tzinfo=timezone.utc),
            False,
            id="days_ahead from the Amsterdam date still ends a day later",
        ),
        pytest.param(
            {"days_ahead": 0},
            at("2026-10-06", "09:00"),
            datetime(2026, 10, 5, 21, 30, tzinfo=timezone.utc),
            False,
            id="late evening in Amsterdam the next day is still tomorrow",
        ),
        pytest.param(
            {"days_ahead": 0},
            at("2026-10-26", "09:00"),
            datetime(2026, 10, 25, 23, 30, tzinfo=timezone.utc),
            True,
            id="after the switch to winter time days are still Amsterdam days",
        ),
        pytest.param({"after": date(2026, 10, 7)}, at("2026-10-07", "09:00"), NOW, True, id="after is inclusive"),
        pytest.param({"after": date(2026, 10, 8)}, at("2026-10-07", "09:00"), NOW, False, id="before after is out"),
        pytest.param({"before": date(2026, 10, 7)}, at("2026-10-07", "16:00"), NOW, True, id="before is inclusive"),
        pytest.param({"before": date(2026, 10, 6)}, at("2026-10-07", "09:00"), NOW, False, id="after before is out"),
        pytest.param(
            {"weekdays": frozenset({0, 4})}, at("2026-10-12", "09:00"), NOW, True, id="a slot on a listed weekday"
        ),
        pytest.param(
            {"weekdays": frozenset({0, 4})}, at("2026-10-13", "09:00"), NOW, False, id="a slot on another weekday"
        ),
        pytest.param({"earliest": dtime(9, 0)}, at("2026-10-06", "09:00"), NOW, True, id="earliest is inclusive"),
        pytest.param({"earliest": dtime(9, 1)}, at("2026-10-06", "09:00"), NOW, False, id="a start before earliest"),
        pytest.param({"latest": dtime(12, 0)}, at("2026-10-06", "12:00"), NOW, True, id="latest is inclusive"),
        pytest.param({"latest": dtime(11, 59)}, at("2026-10-06", "12:00"), NOW, False, id="a start after latest"),
        pytest.param(
            {"latest": dtime(12, 0)},
            at("2026-10-06", "11:55", "12:05"),
            NOW,
            True,
            id="latest is about the start so a slot may end after it",
        ),
        pytest.param(
            {"days_ahead": 14, "weekdays": frozenset({1}), "earliest": dtime(13, 0), "latest": dtime(14, 0)},
            at("2026-10-06", "13:40", "13:50"),
            NOW,
            True,
            id="a slot passing every filter matches",
        ),
        pytest.param(
            {"days_ahead": 14, "weekdays": frozenset({1}), "earliest": dtime(13, 0), "latest": dtime(14, 0)},
            at("2026-10-20", "13:40", "13:50"),
            NOW,
            False,
            id="one failing filter is enough to exclude a slot",
        ),
    ],
)
def test_matches(changes: dict[str, Any], slot: Slot, now: datetime, expected: bool) -> None:
    assert ind_alert.matches(alert(**changes), slot, now) is expected


@pytest.mark.parametrize(
    ("within", "slot", "now", "expected"),
    [
        pytest.param(None, at("2026-10-05", "09:00"), NOW, False, id="no urgent_within_days means nothing is urgent"),
        pytest.param(0, at("2026-10-05", "17:00"), NOW, True, id="within 0 days means today"),
        pytest.param(0, at("2026-10-06", "08:00"), NOW, False, id="within 0 days excludes tomorrow"),
        pytest.param(2, at("2026-10-07", "16:00"), NOW, True, id="the last day of the urgent window is urgent"),
        pytest.param(2, at("2026-10-08", "08:00"), NOW, False, id="the day after the urgent window is not"),
        pytest.param(
            0,
            at("2026-10-05", "09:00"),
            datetime(2026, 10, 4, 22, 30, tzinfo=timezone.utc),
            True,
            id="urgency counts days in Amsterdam",
        ),
    ],
)
def test_is_urgent(within: int | None, slot: Slot, now: datetime, expected: bool) -> None:
    assert ind_alert.is_urgent(alert(urgent_within_days=within), slot, now) is expected


EVERYONE = Recipient("me", pushover_user_env="PUSHOVER_USER")


URGENT_ONLY = Recipient("sms", apprise_url_env="SMS_URL", only_urgent=True)


@pytest.mark.parametrize(
    ("recipient", "sent", "expected"),
    [
        pytest.param(EVERYONE, frozenset(), [TOMORROW, NEXT_WEEK, NEXT_MONTH], id="nothing sent yet means all"),
        pytest.param(EVERYONE, frozenset({NEXT_WEEK.id}), [TOMORROW, NEXT_MONTH], id="a sent slot is not sent again"),
        pytest.param(
            EVERYONE, frozenset({TOMORROW.id, NEXT_WEEK.id, NEXT_MONTH.id}), [], id="all sent means nothing new"
        ),
        pytest.param(URGENT_ONLY, frozenset(), [TOMORROW], id="an urgent only recipient gets only urgent slots"),
        pytest.param(URGENT_ONLY, frozenset({TOMORROW.id}), [], id="an urgent slot already sent is not sent again"),
    ],
)
def test_unsent(recipient: Recipient, sent: frozenset[str], expected: list[Slot]) -> None:
    matching = [TOMORROW, NEXT_WEEK, NEXT_MONTH]
    assert ind_alert.unsent(alert(urgent_within_days=2), recipient, matching, sent, NOW) == expected


def test_an_urgent_only_recipient_gets_nothing_when_the_alert_has_no_urgency() -> None:
    assert ind_alert.unsent(alert(), URGENT_ONLY, [TOMORROW], frozenset(), NOW) == []


@pytest.mark.parametrize(
    ("sent", "open_ids", "expected"),
    [
        pytest.param(
            {"me": frozenset({TOMORROW.id, NEXT_WEEK.id})},
            {TOMORROW.id, NEXT_WEEK.id, NEXT_MONTH.id},
            {"me": frozenset({TOMORROW.id, NEXT_WEEK.id})},
            id="slots still open are remembered",
        ),
        pytest.param(
            {"me": frozenset({TOMORROW.id, NEXT_WEEK.id})},
            {NEXT_WEEK.id},
            {"me": frozenset({NEXT_WEEK.id})},
            id="a slot gone from the answer is forgotten so it is pushed again when it reopens",
        ),
        pytest.param(
            {"me": frozenset({TOMORROW.id}), "partner": frozenset({NEXT_WEEK.id})},
            {NEXT_WEEK.id},
            {"partner": frozenset({NEXT_WEEK.id})},
            id="a recipient left with nothing is dropped",
        ),
        pytest.param({"me": frozenset({TOMORROW.id})}, set(), {}, id="no open slots forgets everything"),
    ],
)
def test_forget_gone(sent: dict[str, frozenset[str]], open_ids: set[str], expected: dict[str, frozenset[str]]) -> None:
    emergencies = {"ind-alert-x": Emergency(frozenset({TOMORROW.id}), 1_790_000_000)}
    before = AlertState(sent, emergencies, failing_since=None, blind_notified=False)
    after = ind_alert.forget_gone(before, open_ids)
    assert dict(after.sent) == expected
    assert after.emergencies == emergencies  # emergencies are cancelled elsewhere, not forgotten here
