"""Exact boundaries, and the watch loop as ``python ind_alert.py --watch`` runs it.

Each boundary is tested at the boundary and one step either side: a one-day window, ``days_ahead = 0``,
a message of exactly Pushover's 1024 characters, the blind push exactly ``blind_after_minutes`` after the
first failure, ``urgent_priority``'s range and the last ``per_slot`` message at ``max_messages``.

Watch mode waits on an Event, not on ``time.sleep``. Its process runs here through a small launcher
(``WATCH_LAUNCHER``) that turns the wait between checks into ``time.sleep``, which ``patch_sleep`` records
(``result.sleeps``) and ends after ``stop_after_sleeps`` (that wait is then a SIGTERM, exit 0), and moves
the script's monotonic clock by the time waited, so hours of watching pass at once. ``hold_first`` keeps
the process in its first wait until the test lets it go, so a test can act between two checks.
Checks that need an exact "now" run the Runner in process with an injected clock, as tests/test_watch.py
does; dates are computed from today's Amsterdam date inside each test.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import pytest
from conftest import Run
from fakes import (
    HTML_MAINTENANCE,
    MONTHS,
    SCRIPT,
    WEEKDAYS,
    FakeIND,
    FakePushover,
    RunningScript,
    Workdir,
    day,
    label,
    seed_state,
    sent_to_you,
    start_script,
    wait_until,
)

if str(SCRIPT.parent) not in sys.path:
    sys.path.insert(0, str(SCRIPT.parent))
ind_alert = importlib.import_module("ind_alert")

AMSTERDAM = ind_alert.AMSTERDAM
NAME = "Amsterdam documents"
CONFIG = f'[[alert]]\nname = "{NAME}"\ndesk = "AM"\nproduct = "DOC"\n'
TITLE = "IND Amsterdam: Collect residence document"
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")  # watch mode stamps every line


def spec_on(on: date, start: str) -> tuple[str, str, str]:
    """A ten-minute IND slot on a day, as ``FakeIND.set_slots`` takes it."""
    begin = datetime.combine(on, dtime.fromisoformat(start))
    return (on.isoformat(), start, f"{begin + timedelta(minutes=10):%H:%M}")


def slot_id_on(on: date, start: str) -> str:
    _, begin, end = spec_on(on, start)
    return f"AM {on.isoformat()} {begin}-{end}"


def stamp_at(on: date, hour: int, minute: int = 0) -> float:
    """The timestamp of an Amsterdam wall-clock time."""
    return datetime.combine(on, dtime(hour, minute), AMSTERDAM).timestamp()


def stderr_lines(text: str, level: str) -> list[str]:
    """The stderr lines of one level (``error``, ``warning``), without watch mode's time stamp."""
    plain = [STAMP.sub("", line) for line in text.splitlines()]
    return [line for line in plain if line.startswith(f"{level}: ")]


# ----------------------------------------------------------------- in process, with an exact clock


def check_at(env: Mapping[str, str], workdir: Workdir, when: float) -> int:
    """One run of the config in ``workdir`` as the scheduled workflow does, its clock saying ``when``."""
    config = ind_alert.load_config(workdir.config)
    client = ind_alert.pushover_client(config, env)
    client.sleep = lambda seconds: None
    store = ind_alert.FileStore(workdir.state)
    return int(ind_alert.runner_for(config, env, store=store, pushover=client, clock=lambda: when).run())


# ----------------------------------------------------------------- watch mode as a process

# Run by fakes' launcher (``script=``), which has already made time.sleep record and return at once.
WATCH_LAUNCHER = """
import os, runpy, sys, threading, time

SCRIPT = {script!r}
_hold = os.environ.pop("_WATCH_HOLD", "")
_waits = [0]
_shift = [0.0]
_monotonic = time.monotonic
_Event = threading.Event


class _Stop(_Event):
    # The watch's stop event: its wait between checks becomes time.sleep and moves the clock on.
    def wait(self, timeout=None):
        if timeout is None or threading.current_thread() is not threading.main_thread():
            return super().wait(timeout)
        _waits[0] += 1
        try:
            time.sleep(timeout)
        except KeyboardInterrupt:  # stop_after_sleeps: this wait is a SIGTERM
            return True
        _shift[0] += timeout
        if _hold and _waits[0] == 1:
            open(os.path.join(_hold, "held"), "w").close()
            while not os.path.exists(os.path.join(_hold, "go")):
                _Event().wait(0.01)
        return self.is_set()


threading.Event = _Stop
time.monotonic = lambda: _monotonic() + _shift[0]
sys.argv[0] = SCRIPT
sys.path[0] = os.path.dirname(SCRIPT)
runpy.run_path(SCRIPT, run_name="__main__")
"""


class Watcher:
    """Starts ``python ind_alert.py --watch …`` through ``WATCH_LAUNCHER``; kills what is left at teardown."""

    def __init__(self, env: Mapping[str, str], workdir: Workdir, launch: Path) -> None:
        self.env, self.workdir, self.launch = dict(env), workdir, launch
        self.script = launch / "watch_launcher.py"
        self.script.write_text(WATCH_LAUNCHER.format(script=str(SCRIPT)), encoding="utf-8")
        self.started: list[RunningScript] = []

    def start(self, *args: str, stop_after_sleeps: int, hold_first: bool = False) -> RunningScript:
        """The N-th wait (``stop_after_sleeps``) ends the watch as a SIGTERM would."""
        extra = {"_WATCH_HOLD": str(self.launch)} if hold_first else {}
        running = start_script(
            ["--watch", *args],
            {**self.env, **extra},
            cwd=self.workdir.path,
            patch_sleep=True,
            stop_after_sleeps=stop_after_sleeps,
            script=self.script,
        )
        self.started.append(running)
        return running

    def in_first_wait(self) -> None:
        """Return once a ``hold_first`` watcher has checked once and sits in its first wait."""
        wait_until((self.launch / "held").exists, what="the watcher's first wait")

    def go_on(self) -> None:
        (self.launch / "go").touch()

    def close(self) -> None:
        for running in self.started:
            running.close()


@pytest.fixture
def watcher(env: dict[str, str], workdir: Workdir, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watcher]:
    started = Watcher(env, workdir, tmp_path_factory.mktemp("watch-launch"))
    yield started
    started.close()


# =========================================================================== watch mode


BROKEN_STATES = {
    # what replaces the state file ("" for a directory): the one error line
    "broken JSON": (
        '{"version": 2, "alerts": {',
        "is not a valid ind-alert state (not JSON); it was left untouched: fix or move it away",
    ),
    "a schema-invalid state": (
        json.dumps({"version": 2, "alerts": {NAME: {"failing_since": "12"}}}),
        f'is not a valid ind-alert state (alert "{NAME}": failing_since is not a time);'
        + " it was left untouched: fix or move it away",
    ),
    "a directory in its place": (
        "",
        "is a folder, not a file: pass --state with a state file's path; it was left untouched",
    ),
}


@pytest.mark.parametrize("breakage", BROKEN_STATES)
def test_a_state_that_becomes_unreadable_while_watching_stops_the_watch_with_exit_2_and_one_line(
    watcher: Watcher, ind: FakeIND, pushover: FakePushover, workdir: Workdir, breakage: str
) -> None:
    """A state file broken between two checks must end the watch (exit 2), not be warned about every cycle."""
    workdir.write_config(CONFIG)
    ind.set_slots("AM", "DOC", 1, [spec_on(day(5), "09:00")])
    running = watcher.start("--interval", "60", stop_after_sleeps=3, hold_first=True)
    watcher.in_first_wait()
    assert sent_to_you(workdir, NAME) == [slot_id_on(day(5), "09:00")]
    text, error = BROKEN_STATES[breakage]
    if text:
        workdir.state.write_text(text, encoding="utf-8")
    else:
        workdir.state.unlink()
        workdir.state.mkdir()

    watcher.go_on()
    result = running.finish(timeout=30)

    assert result.returncode == 2, result.stderr
    assert stderr_lines(result.stderr, "error") == [f"error: state/seen.json {error}"]
    assert stderr_lines(result.stderr, "warning") == []
    assert "Traceback" not in result.stderr
    assert len(result.sleeps) == 1  # the second check stopped it: no further wait
    assert ind.hits("AM", "DOC", 1) == 1  # and it asked IND nothing more
    assert len(pushover.delivered) == 1
    if text:
        assert workdir.state.read_text(encoding="utf-8") == text


def test_the_watch_waits_the_interval_with_random_jitter_of_at_most_ten_percent(
    watcher: Watcher, ind: FakeIND, pushover: FakePushover, workdir: Workdir
) -> None:
    """The CLI must hand watch() a real random jitter: every wait exactly --interval would poll IND in lockstep."""
    workdir.write_config(CONFIG)

    result = watcher.start("--interval", "60", stop_after_sleeps=12).finish(timeout=60)

    assert result.returncode == 0, result.stderr
    assert len(result.sleeps) == 12
    assert all(54.0 <= seconds <= 66.0 for seconds in result.sleeps), result.sleeps
    assert len(set(result.sleeps)) > 1, result.sleeps
    assert ind.hits("AM", "DOC", 1) == 12


@pytest.mark.parametrize(
    ("status", "retry_after", "first_wait"),
    [
        pytest.param(429, "900", 900.0, id="rate-limited for 15 minutes: waits 15 minutes"),
        pytest.param(403, "7200", 3600.0, id="refused for two hours: waits at most an hour"),
        pytest.param(429, "30", None, id="a Retry-After shorter than the interval: the interval"),
    ],
)
def test_the_watch_waits_at_least_as_long_as_ind_asks_then_its_interval_again(
    watcher: Watcher,
    ind: FakeIND,
    pushover: FakePushover,
    workdir: Workdir,
    status: int,
    retry_after: str,
    first_wait: float | None,
) -> None:
    """IND's Retry-After on a refusal must reach the wait before the next check (polling a rate limit
    sooner prolongs it), capped at an hour, and only for that one wait."""
    workdir.write_config(CONFIG)
    ind.set_raw("AM", "DOC", 1, status, "<html>slow down</html>", headers={"Retry-After": retry_after}, once=True)

    result = watcher.start("--interval", "60", stop_after_sleeps=3).finish(timeout=60)

    assert result.returncode == 0, result.stderr
    assert len(result.sleeps) == 3
    waited = [line for line in result.stderr.splitlines() if "IND asked to wait" in line]
    if first_wait is None:
        assert all(54.0 <= seconds <= 66.0 for seconds in result.sleeps), result.sleeps
        assert waited == []
    else:
        assert result.sleeps[0] == first_wait
        assert all(54.0 <= seconds <= 66.0 for seconds in result.sleeps[1:]), result.sleeps
        assert [STAMP.sub("", line) for line in waited] == [
            f"notice: IND asked to wait {first_wait:.0f} s before the next check: waiting that long"
        ]
    assert ind.hits("AM", "DOC", 1) == 3


@pytest.mark.parametrize(
    ("interval", "waits", "desk_lists"),
    [
        pytest.param("600", 5, 1, id="six checks within the hour ask IND's desk list once"),
        pytest.param("4200", 3, 4, id="checks more than an hour apart ask it every time"),
    ],
)
def test_the_watch_asks_inds_desk_lists_at_most_once_an_hour(
    watcher: Watcher, ind: FakeIND, pushover: FakePushover, workdir: Workdir, interval: str, waits: int, desk_lists: int
) -> None:
    """The desk list is kept for an hour of watching: not asked every check, nor kept forever."""
    workdir.write_config(CONFIG)

    result = watcher.start("--interval", interval, stop_after_sleeps=waits + 1).finish(timeout=60)

    assert result.returncode == 0, result.stderr
    assert ind.hits("AM", "DOC", 1) == waits + 1
    assert ind.desk_hits("DOC") == desk_lists


def test_a_desk_list_that_failed_is_asked_again_on_the_next_check_then_kept(
    watcher: Watcher, ind: FakeIND, pushover: FakePushover, workdir: Workdir
) -> None:
    """Within the hour only a list IND failed to give is asked again, and once it is read it is kept."""
    workdir.write_config(CONFIG)
    ind.set_desks_raw("DOC", 404, "<html><body>404</body></html>", once=True)

    result = watcher.start("--interval", "600", stop_after_sleeps=4).finish(timeout=60)

    assert result.returncode == 0, result.stderr
    assert ind.hits("AM", "DOC", 1) == 4
    assert ind.desk_hits("DOC") == 2


# =========================================================================== exact boundaries


def test_a_one_day_window_pushes_every_slot_of_that_day_and_none_of_the_days_around_it(
    run: Run, ind: FakeIND, pushover: FakePushover, workdir: Workdir
) -> None:
    """after == before is a valid one-day window, both ends inclusive, whole Amsterdam day."""
    the_day = day(4)
    workdir.write_config(CONFIG + f"after = {the_day}\nbefore = {the_day}\n")
    offered = [(day(3), "23:40"), (the_day, "00:00"), (the_day, "23:40"), (day(5), "00:00")]
    ind.set_slots("AM", "DOC", 1, [spec_on(on, start) for on, start in offered])

    result = run()

    assert result.returncode == 0, result.stderr
    assert [(p["title"], p["message"]) for p in pushover.delivered] == [
        (f"{TITLE}: 2 new slots", f"{label(spec_on(the_day, '00:00'))}\n{label(spec_on(the_day, '23:40'))}")
    ]
    assert f"{NAME}: 4 open, 2 match, 2 new, pushed" in result.stdout.splitlines()
    assert sent_to_you(workdir, NAME) == [slot_id_on(the_day, "00:00"), slot_id_on(the_day, "23:40")]


@pytest.mark.parametrize(
    ("days_ahead", "pushed"),
    [
        pytest.param(0, ["10:00", "23:40"], id="0 is the rest of today only"),
        pytest.param(1, ["10:00", "23:40", "tomorrow 00:00"], id="1 adds tomorrow"),
    ],
)
def test_days_ahead_0_means_the_rest_of_today_not_no_limit(
    env: dict[str, str], ind: FakeIND, pushover: FakePushover, workdir: Workdir, days_ahead: int, pushed: list[str]
) -> None:
    """days_ahead = 0 is "today" (README): read as no limit (0 is falsy) it would push every later day."""
    the_day, tomorrow = day(3), day(4)  # the check's clock says 08:00 on the_day
    workdir.write_config(CONFIG + f"days_ahead = {days_ahead}\n")
    offered = [(the_day, "07:50"), (the_day, "10:00"), (the_day, "23:40"), (tomorrow, "00:00"), (day(30), "09:00")]
    ind.set_slots("AM", "DOC", 1, [spec_on(on, start) for on, start in offered])

    assert check_at(env, workdir, stamp_at(the_day, 8)) == 0

    labels = [
        label(spec_on(tomorrow, "00:00")) if p == "tomorrow 00:00" else label(spec_on(the_day, p)) for p in pushed
    ]
    assert [(p["title"], p["message"]) for p in pushover.delivered] == [
        (f"{TITLE}: {len(pushed)} new slots", "\n".join(labels))
    ]


def first_day_with(digits: int) -> date:
    """The first day from 3 days ahead whose day of the month has this many digits (labels of 15 or 16)."""
    return next(day(n) for n in range(3, 40) if len(str(day(n).day)) == digits)


@pytest.mark.parametrize(
    ("long_lines", "short_lines", "length"),
    [
        pytest.param(48, 13, 1023, id="1023 characters"),
        pytest.param(49, 12, 1024, id="exactly 1024 characters"),
        pytest.param(50, 11, 1025, id="1025 characters"),
    ],
)
def test_a_message_of_exactly_1024_characters_is_sent_whole_and_one_more_is_trimmed(
    run: Run, ind: FakeIND, pushover: FakePushover, workdir: Workdir, long_lines: int, short_lines: int, length: int
) -> None:
    """Pushover takes 1024 characters: a message of exactly that length must not lose its last line."""
    two_digits, one_digit = first_day_with(2), first_day_with(1)  # "Tue 13 Oct 09:00", "Fri 2 Oct 09:00"
    times = [f"{8 + k // 6:02d}:{k % 6 * 10:02d}" for k in range(max(long_lines, short_lines))]
    offered = [(two_digits, t) for t in times[:long_lines]] + [(one_digit, t) for t in times[:short_lines]]
    ind.set_slots("AM", "DOC", 1, [spec_on(on, start) for on, start in offered])
    workdir.write_config(CONFIG)
    labels = [label(spec_on(on, start)) for on, start in sorted(offered)]
    assert len("\n".join(labels)) == length

    result = run()

    assert result.returncode == 0, result.stderr
    [push] = pushover.delivered
    assert push["title"] == f"{TITLE}: 61 new slots"
    if length <= 1024:
        assert push["message"] == "\n".join(labels)
    else:
        assert push["message"] == "\n".join([*labels[:60], "+1 more"])
    assert len(sent_to_you(workdir, NAME)) == 61


def test_a_cut_message_whose_more_line_ends_exactly_at_1024_keeps_that_many_lines() -> None:
    """The lines kept with "+N more" may fill the 1024 characters exactly: one line less would be a bug."""
    lines = [f"line {i:02d} ".ljust(112, "x") for i in range(11)]  # 9 lines and "+2 more": 9 * 113 - 1 + 8

    message = ind_alert.fit(lines, 1024)

    assert message == "\n".join([*lines[:9], "+2 more"])
    assert len(message) == 1024


def test_when_not_even_the_first_line_fits_only_the_count_is_sent() -> None:
    """Never a line that breaks the limit: with none that fits, the message is "+N more" alone."""
    assert ind_alert.fit(["x" * 2000, "second"], 1024) == "+2 more"


def seed_alert_state(workdir: Workdir, alert_state: dict[str, Any]) -> None:
    seed_state(workdir, {NAME: alert_state})


@pytest.mark.parametrize(
    ("failing_for", "blind"),
    [
        pytest.param(44, False, id="one minute short of blind_after_minutes: nothing"),
        pytest.param(45, True, id="exactly blind_after_minutes: the blind push"),
        pytest.param(46, True, id="one minute past it: the blind push"),
    ],
)
def test_the_blind_push_goes_out_exactly_blind_after_minutes_after_the_first_failure(
    env: dict[str, str], ind: FakeIND, pushover: FakePushover, workdir: Workdir, failing_for: int, blind: bool
) -> None:
    """blind_after_minutes is "failed this long": a check exactly that long after the first failure is blind."""
    now = int(stamp_at(day(3), 8))
    since = now - failing_for * 60
    workdir.write_config(CONFIG + "blind_after_minutes = 45\n")
    seed_alert_state(workdir, {"failing_since": since})
    ind.set_raw("AM", "DOC", 1, status=500, body=HTML_MAINTENANCE)

    assert check_at(env, workdir, now) == 0

    state = json.loads(workdir.state.read_text(encoding="utf-8"))["alerts"][NAME]
    assert state["failing_since"] == since
    if not blind:
        assert pushover.delivered == []
        assert "blind_notified" not in state
        return
    shown = datetime.fromtimestamp(since, AMSTERDAM)
    when = f"{WEEKDAYS[shown.weekday()]} {shown.day:02d} {MONTHS[shown.month - 1]} {shown:%H:%M}"
    assert [(p["title"], p["message"]) for p in pushover.delivered] == [
        (
            "ind-alert is blind: 1 alert cannot check IND",
            (
                f"Every check since {when} failed for: {NAME}.\n"
                "No push does not mean no slots. Check the booking page yourself; if IND's site works"
                " but this persists, see the README's troubleshooting table."
            ),
        )
    ]
    assert state["blind_notified"] is True


# =========================================================================== known surviving mutants


URGENT_SLOT_CONFIG = CONFIG + "urgent_within_days = 30\n"


@pytest.mark.parametrize("priority", [-2, 2])
def test_urgent_priority_takes_minus_2_and_2_and_an_urgent_push_goes_out_with_it(
    priority: int, workdir: Workdir
) -> None:
    """-2 and 2 are the ends of urgent_priority's range (README): both must be accepted and used."""
    workdir.write_config(URGENT_SLOT_CONFIG + f"urgent_priority = {priority}\n")
    alert = ind_alert.load_config(workdir.config).alerts[0]
    now = datetime.combine(day(3), dtime(8, 0), AMSTERDAM)
    slot = ind_alert.Slot(now + timedelta(days=1), now + timedelta(days=1, minutes=10), "AM")

    assert alert.urgent_priority == priority
    assert ind_alert.format_push(alert, [slot], now).priority == priority


@pytest.mark.parametrize("priority", [-3, 3])
def test_urgent_priority_outside_minus_2_to_2_is_a_config_error(priority: int, workdir: Workdir) -> None:
    """One step outside urgent_priority's range is refused with the range to use."""
    workdir.write_config(URGENT_SLOT_CONFIG + f"urgent_priority = {priority}\n")

    with pytest.raises(ind_alert.ConfigError) as caught:
        ind_alert.load_config(workdir.config)

    assert caught.value.exit_code == 2
    assert str(caught.value) == (
        f'{workdir.config} alert "{NAME}": urgent_priority must be a whole number from -2 to 2, not {priority}'
    )


FULL_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FULL_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        pytest.param(2, [[0], [1]], id="under max_messages: one message per slot"),
        pytest.param(3, [[0], [1], [2]], id="exactly max_messages: still one per slot, no summary"),
        pytest.param(4, [[0], [1], [2, 3]], id="one over: the last message is the third slot plus 1 more"),
        pytest.param(6, [[0], [1], [2, 3, 4, 5]], id="three over: the third slot plus 3 more"),
    ],
)
def test_per_slot_at_max_messages_the_last_message_is_the_cap_th_slot_and_the_rest(
    count: int, expected: list[list[int]]
) -> None:
    """With max_messages = 3 the 3rd message stands for the 3rd slot and every later one; none skipped or twice."""
    alert = ind_alert.Alert(NAME, "AM", "DOC")
    recipient = ind_alert.Recipient("public", apprise_url_env="PUBLIC_URL", per_slot=True, max_messages=3)
    now = datetime.combine(day(3), dtime(8, 0), AMSTERDAM)
    days = [day(4 + i) for i in range(count)]
    slots = [
        ind_alert.Slot(datetime.combine(d, dtime(9, 0), AMSTERDAM), datetime.combine(d, dtime(9, 10), AMSTERDAM), "AM")
        for d in days
    ]

    pushes = ind_alert.pushes_for(alert, recipient, list(reversed(slots)), now)

    assert [[slots.index(s) for s in covered] for _, covered in pushes] == expected
    for push, covered in pushes:
        first, rest = days[slots.index(covered[0])], [days[slots.index(s)] for s in covered[1:]]
        more = f" (+{len(rest)} more)" if rest else ""
        assert push.title == f"IND Amsterdam: Collect residence document: {label(spec_on(first, '09:00'))}{more}"
        lines = push.message.split("\n")
        full = f"{FULL_WEEKDAYS[first.weekday()]} {first.day} {FULL_MONTHS[first.month - 1]} {first.year}"
        assert lines[:3] == [
            "IND Amsterdam · Collect residence document",
            f"{full}, 09:00-09:10",
            "Choose IND Amsterdam on the IND booking page.",
        ]
        assert lines[3:] == (
            [f"+{len(rest)} more: " + ", ".join(label(spec_on(d, "09:00")) for d in rest)] if rest else []
        )
