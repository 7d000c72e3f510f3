"""What a push says: title, slot lines, the 1,024-character cut, links, priority and emergency tags."""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from records import AMS, NEXT_MONTH, NEXT_WEEK, NOW, TOMORROW, alert, at

# The script is a module at the repository root, not a package: make it importable however pytest is run.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


import ind_alert  # noqa: E402
from ind_alert import Slot  # noqa: E402

# ======================================================================================= message format


def days(first: int, count: int, start: str = "09:15") -> list[Slot]:
    """``count`` slots in November 2026 from the ``first`` on, at ``start``."""
    return [at(f"2026-11-{first + i:02d}", start) for i in range(count)]


def test_the_title_names_desk_appointment_type_and_how_many_new_slots() -> None:
    push = ind_alert.format_push(alert(), [TOMORROW, NEXT_WEEK], NOW)
    assert push.title == "IND Amsterdam: Biometrics: 2 new slots"
    assert ind_alert.format_push(alert(), [TOMORROW], NOW).title == "IND Amsterdam: Biometrics: 1 new slot"


@pytest.mark.parametrize(
    ("persons", "suffix"),
    [
        pytest.param(1, "", id="one person adds nothing to the title"),
        pytest.param(2, " (2 persons)", id="two persons are named in the title"),
        pytest.param(6, " (6 persons)", id="six persons are named in the title"),
    ],
)
def test_the_title_names_the_number_of_persons_when_more_than_one(persons: int, suffix: str) -> None:
    push = ind_alert.format_push(alert(persons=persons, desk="DH", product="DOC"), [TOMORROW], NOW)
    assert push.title == f"IND Den Haag: Collect residence document{suffix}: 1 new slot"


@pytest.mark.parametrize(
    ("slot", "label"),
    [
        pytest.param(at("2026-11-24", "09:15"), "Tue 24 Nov 09:15", id="weekday day month and start time"),
        pytest.param(at("2026-10-05", "09:00"), "Mon 5 Oct 09:00", id="a single digit day is not padded"),
        pytest.param(at("2026-10-25", "08:50", "09:00"), "Sun 25 Oct 08:50", id="the day summer time ends"),
        pytest.param(at("2026-12-31", "16:40", "16:47"), "Thu 31 Dec 16:40", id="the start time only"),
    ],
)
def test_a_slot_line_reads_weekday_date_and_start_time_in_amsterdam(slot: Slot, label: str) -> None:
    assert slot.label() == label
    far_past = datetime(2026, 1, 1, tzinfo=AMS)
    assert ind_alert.format_push(alert(), [slot], far_past).message == label


def test_slots_are_listed_earliest_first_whatever_order_they_come_in() -> None:
    push = ind_alert.format_push(alert(), [NEXT_MONTH, TOMORROW, NEXT_WEEK], NOW)
    assert push.message == "Tue 6 Oct 09:00\nMon 12 Oct 09:00\nMon 2 Nov 09:00"


def test_a_message_that_fits_1024_characters_is_not_cut() -> None:
    slots = days(10, 20) + days(10, 20, "10:15") + days(10, 20, "11:15")  # 60 lines of 16 characters
    message = ind_alert.format_push(alert(), slots, NOW).message
    assert len(message) == 60 * 17 - 1 <= 1024
    assert "more" not in message


def test_a_long_message_is_cut_to_1024_characters_ending_with_how_many_more() -> None:
    slots = days(10, 20) + days(10, 20, "10:15") + days(10, 20, "11:15") + [at("2026-11-30", "12:15")]
    push = ind_alert.format_push(alert(), slots, NOW)
    lines = push.message.split("\n")
    assert len(push.message) <= 1024
    assert lines[-1] == "+2 more"  # 59 lines and the note fit; 60 and the note would not
    assert lines[:-1] == [s.label() for s in sorted(slots)[:59]]
    assert push.title.endswith(": 61 new slots")


def test_a_very_long_message_shows_as_many_lines_as_fit() -> None:
    slots = [at(f"2027-{m:02d}-{d:02d}", f"{h:02d}:00") for m in range(1, 13) for d in range(10, 28) for h in (9, 14)]
    message = ind_alert.format_push(alert(), slots, NOW).message
    lines = message.split("\n")
    shown = len(lines) - 1
    assert len(message) <= 1024
    assert lines[-1] == f"+{len(slots) - shown} more"
    assert len(message) + 17 > 1024  # one more line would not have fitted
    assert lines[:-1] == [s.label() for s in sorted(slots)[:shown]]


@pytest.mark.parametrize(
    ("second", "shown"),
    [
        pytest.param(51, "two lines", id="two lines and the note make exactly the limit"),
        pytest.param(52, "one line", id="one character more: the second line goes into the note"),
    ],
)
def test_fit_fills_the_limit_exactly_and_never_passes_it(second: int, shown: str) -> None:
    """Catches the count of what fits being off by one character, either way."""
    lines = ["a" * 40, "b" * second, "c" * 50]
    message = ind_alert.fit(lines, 100)
    if shown == "two lines":
        assert message == "\n".join([lines[0], lines[1], "+1 more"])
        assert len(message) == 100
    else:
        assert message == "\n".join([lines[0], "+2 more"])


def test_history_drops_points_older_than_30_days_even_with_days_missing() -> None:
    """Catches the 30-day window being off by a day: with gaps there are fewer than 30 points to cut to."""
    today = date(2026, 11, 23)
    old = {(today - timedelta(days=ago)).isoformat(): "2026-12-01" for ago in (30, 29, 3)}
    kept = ind_alert.record_history(old, today, at("2026-12-10", "09:00"))
    assert kept == {
        (today - timedelta(days=29)).isoformat(): "2026-12-01",
        (today - timedelta(days=3)).isoformat(): "2026-12-01",
        today.isoformat(): "2026-12-10",
    }
    assert ind_alert.record_history(kept, today, None) == kept  # the day's first check counts, not a later one


def test_the_push_links_the_booking_page_of_the_product_and_names_the_desk() -> None:
    push = ind_alert.format_push(alert(desk="fa24ccf0acbc76a7793765937eaee440", product="TKV"), [TOMORROW], NOW)
    assert push.url == "https://oap.ind.nl/oap/en/#/TKV"
    assert "Expatcenter Utrecht" in push.url_title
    assert len(push.url_title) <= 100
    assert len(push.title) <= 250


@pytest.mark.parametrize(
    ("changes", "slots", "priority", "tagged"),
    [
        pytest.param({}, [TOMORROW], 0, False, id="the default priority is 0 without a tag"),
        pytest.param({"priority": -1, "sound": "none"}, [TOMORROW], -1, False, id="the alert priority is used"),
        pytest.param(
            {"urgent_within_days": 1}, [TOMORROW, NEXT_WEEK], 1, False, id="an urgent slot raises the push to 1"
        ),
        pytest.param(
            {"urgent_within_days": 1, "priority": -1}, [NEXT_WEEK], -1, False, id="no urgent slot keeps the priority"
        ),
        pytest.param(
            {"urgent_within_days": 1, "urgent_priority": 2},
            [TOMORROW, NEXT_WEEK],
            2,
            True,
            id="an urgent emergency push carries a tag",
        ),
        pytest.param(
            {"urgent_within_days": 1, "urgent_priority": 2},
            [NEXT_WEEK],
            0,
            False,
            id="no urgent slot means no emergency and no tag",
        ),
    ],
)
def test_the_priority_follows_urgency_and_only_emergencies_are_tagged(
    changes: dict[str, Any], slots: list[Slot], priority: int, tagged: bool
) -> None:
    the_alert = alert(**changes)
    push = ind_alert.format_push(the_alert, slots, NOW)
    assert push.priority == priority
    assert push.sound == the_alert.sound
    assert (push.tag is not None) is tagged
    if tagged:
        assert push.tag is not None
        assert push.tag.startswith("ind-alert-")
        assert len(push.tag) <= 64


def test_the_emergency_tag_is_stable_for_the_same_input_and_differs_for_other_slots() -> None:
    emergency = alert(urgent_within_days=1, urgent_priority=2)
    first = ind_alert.format_push(emergency, [TOMORROW, NEXT_WEEK], NOW).tag
    assert first == ind_alert.format_push(emergency, [NEXT_WEEK, TOMORROW], NOW).tag
    assert first != ind_alert.format_push(emergency, [at("2026-10-06", "09:30")], NOW).tag
    other = alert(name="other", urgent_within_days=1, urgent_priority=2)
    assert first != ind_alert.format_push(other, [TOMORROW, NEXT_WEEK], NOW).tag
