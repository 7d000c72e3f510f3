"""Watch mode, the blind-watcher alert and the Pushover quota notice (issue 6).

Most tests wire ind_alert's own parts the way ``dispatch()`` does, against the loopback fakes, but with
a fake clock and a fake wait: hours of watching pass in milliseconds and nothing sleeps. A few run
``python ind_alert.py --watch`` as a subprocess, exactly as a service manager would, and signal it.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Run, Start
from fakes import HTML_MAINTENANCE, SCRIPT, FakeIND, FakePushover, Workdir, wait_until

# ind_alert.py is a script beside tests/, not an installed package: make it importable under plain
# `pytest` too, not only `python -m pytest` from the repository root.
if str(SCRIPT.parent) not in sys.path:
    sys.path.insert(0, str(SCRIPT.parent))
ind_alert = importlib.import_module("ind_alert")

START = datetime(2026, 10, 1, 8, 0, tzinfo=ind_alert.AMSTERDAM).timestamp()  # Thu 1 Oct 2026, 08:00
MINUTE = 60.0

SLOT_A = ("2026-10-05", "09:00", "09:10")
SLOT_B = ("2026-10-06", "13:40", "13:50")
SLOT_C = ("2026-10-07", "11:06", "11:13")
LABEL_A, LABEL_B, LABEL_C = "Mon 5 Oct 09:00", "Tue 6 Oct 13:40", "Wed 7 Oct 11:06"
ID_A, ID_B, ID_C = "AM 2026-10-05 09:00-09:10", "AM 2026-10-06 13:40-13:50", "DH 2026-10-07 11:06-11:13"

AMSTERDAM_DOC = "Amsterdam documents"
AMSTERDAM_CONFIG = f"""
[[alert]]
name = "{AMSTERDAM_DOC}"
desk = "AM"
product = "DOC"
"""
DEN_HAAG_BIO = "Den Haag biometrics"
DEN_HAAG_CONFIG = f"""
[[alert]]
name = "{DEN_HAAG_BIO}"
desk = "DH"
product = "BIO"
"""
NEW_SLOTS_TITLE = "IND Amsterdam: Collect residence document: 1 new slot"
# What the state keeps of an alert with nothing pushed: the day's one history point (nothing open).
ONLY_TODAYS_HISTORY = {AMSTERDAM_DOC: {"sent": {}, "history": {"2026-10-01": None}}}


def slots_next_month() -> list[tuple[str, str, str]]:
    """Two slots a month after the real today, for runs as a process (they use the real clock)."""
    day = datetime.now(ind_alert.AMSTERDAM).date() + timedelta(days=30)  # Amsterdam's today, not the host's
    return [(day.isoformat(), "09:00", "09:10"), ((day + timedelta(days=1)).isoformat(), "13:40", "13:50")]


# ----------------------------------------------------------------- harness


@dataclass
class Clock:
    """The time every Runner sees; only tests move it."""

    now: float = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Watcher:
    """ind_alert's parts wired as dispatch() wires them, with a fake clock and Pushover retry sleep."""

    env: dict[str, str]
    workdir: Workdir
    clock: Clock = field(default_factory=Clock)
    push_sleeps: list[float] = field(default_factory=list)

    @property
    def state_path(self) -> Path:
        return self.workdir.state

    def options(self, interval: float = 120.0) -> Any:
        return ind_alert.Options(config=self.workdir.config, state=str(self.state_path), watch=True, interval=interval)

    def make(self, config: Any) -> Any:
        client = ind_alert.pushover_client(config, self.env)
        client.sleep = self.push_sleeps.append
        store = ind_alert.FileStore(self.state_path)
        return ind_alert.runner_for(config, self.env, store=store, pushover=client, clock=self.clock)

    def run_at(self, minutes: float) -> int:
        """One single run (as the scheduled workflow does) `minutes` after START."""
        self.clock.now = START + minutes * MINUTE
        return int(self.make(ind_alert.load_config(self.workdir.config)).run())

    def state(self) -> dict[str, Any]:
        return json.loads(self.state_path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]

    def alert_state(self, name: str) -> dict[str, Any]:
        return self.state()["alerts"].get(name, {})  # type: ignore[no-any-return]


class Waits:
    """A fake wait(): records the seconds asked, moves the clock, acts between cycles, then stops.

    ``between[i]`` runs after cycle i+1; the wait after the last of them returns True (a SIGTERM).
    """

    def __init__(self, clock: Clock, between: list[Callable[[], object]]) -> None:
        self.clock = clock
        self.between = between
        self.asked: list[float] = []

    def __call__(self, seconds: float) -> bool:
        self.asked.append(seconds)
        self.clock.advance(seconds)
        if len(self.asked) > len(self.between):
            return True
        self.between[len(self.asked) - 1]()
        return False


def middle_jitter(low: float, high: float) -> float:
    return (low + high) / 2


@pytest.fixture
def watcher(env: dict[str, str], workdir: Workdir) -> Watcher:
    workdir.write_config(AMSTERDAM_CONFIG)
    return Watcher(env, workdir)


@pytest.fixture
def logs() -> Iterator[list[logging.LogRecord]]:
    """Every record of the ``ind_alert`` logger during the test, at any level."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    log = logging.getLogger("ind_alert")
    saved = (log.handlers[:], log.level, log.propagate)
    log.handlers[:] = [Keep()]
    log.setLevel(logging.DEBUG)
    log.propagate = False
    try:
        yield records
    finally:
        log.handlers[:] = saved[0]
        log.setLevel(saved[1])
        log.propagate = saved[2]


def warnings_about(records: list[logging.LogRecord], word: str) -> list[str]:
    return [r.getMessage() for r in records if r.levelno >= logging.WARNING and word in r.getMessage()]


def pushes_titled(pushover: FakePushover, word: str) -> list[dict[str, str]]:
    return [m for m in pushover.delivered if word in m.get("title", "").lower()]


# ------------------------------------------------------- watch, in process


def test_slots_that_appear_between_cycles_are_pushed_on_the_next_cycle_exactly_once(
    watcher: Watcher, ind: FakeIND, pushover: FakePushover
) -> None:
    ind.set_slots("AM", "DOC", 1, [SLOT_A])
    waits = Waits(watcher.clock, [lambda: ind.set_slots("AM", "DOC", 1, [SLOT_A, SLOT_B]), lambda: None, lambda: None])

    code = ind_alert.watch(watcher.options(), watcher.make, waits, middle_jitter)

    assert code == 0
    assert ind.hits("AM", "DOC", 1) == 4
    assert [(m["title"], m["message"]) for m in pushover.delivered] == [
        (NEW_SLOTS_TITLE, LABEL_A),
        (NEW_SLOTS_TITLE, LABEL_B),
    ]
    assert watcher.alert_state(AMSTERDAM_DOC)["sent"] == {"you": [ID_A, ID_B]}


def test_watch_waits_the_interval_with_jitter_of_at_most_ten_percent(
    watcher: Watcher, ind: FakeIND, pushover: FakePushover
) -> None:
    asked_bounds: list[tuple[float, float]] = []

    def extreme_jitter(low: float, high: float) -> float:
        asked_bounds.append((low, high))
        return low if len(asked_bounds) % 2 else high

    waits = Waits(watcher.clock, [lambda: None] * 3)

    assert ind_alert.watch(watcher.options(interval=120), watcher.make, waits, extreme_jitter) == 0

    assert asked_bounds == [(0.9, 1.1)] * 4
    assert waits.asked == pytest.approx([108.0, 132.0, 108.0, 132.0])
    assert watcher.clock.now == pytest.approx(START + 480.0)


def test_an_ind_outage_is_a_warning_and_the_watch_goes_on(
    watcher: Watcher, ind: FakeIND, pushover: FakePushover, logs: list[logging.LogRecord]
) -> None:
    ind.set_raw("AM", "DOC", 1, status=503, body=HTML_MAINTENANCE)
    waits = Waits(watcher.clock, [lambda: ind.set_slots("AM", "DOC", 1, [SLOT_A])])

    assert ind_alert.watch(watcher.options(), watcher.make, waits, middle_jitter) == 0

    assert len(waits.asked) == 2
    assert warnings_about(logs, AMSTERDAM_DOC)
    assert [m["message"] for m in pushover.delivered] == [LABEL_A]


def test_a_config_edited_to_something_invalid_is_reported_once_and_the_old_config_keeps_running(
    watcher: Watcher, ind: FakeIND, pushover: FakePushover, logs: list[logging.LogRecord]
) -> None:
    config = watcher.workdir.config
    ind.set_slots("AM", "DOC", 1, [SLOT_A])
    ind.set_slots("DH", "BIO", 1, [SLOT_C])
    hits_at_wait: list[int] = []

    def check_hits() -> None:
        hits_at_wait.append(ind.hits("AM", "DOC", 1))

    waits = Waits(
        watcher.clock,
        [
            lambda: config.write_text(AMSTERDAM_CONFIG + "days_ahed = 14\n", encoding="utf-8"),
            check_hits,
            lambda: ind.set_slots("AM", "DOC", 1, [SLOT_A, SLOT_B]),
            check_hits,
            lambda: config.write_text(DEN_HAAG_CONFIG, encoding="utf-8"),
            check_hits,
        ],
    )

    assert ind_alert.watch(watcher.options(), watcher.make, waits, middle_jitter) == 0

    errors = [r.getMessage() for r in logs if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert "days_ahed" in errors[0] and str(config) in errors[0]
    # The old alert was checked on every cycle of the bad edit, and the slot that opened then was pushed.
    assert hits_at_wait == [2, 4, 5]
    assert [m["message"] for m in pushover.delivered][:2] == [LABEL_A, LABEL_B]
    # The valid edit replaced it: the new alert is watched, the old one no longer asked for.
    assert ind.hits("AM", "DOC", 1) == 5
    assert ind.hits("DH", "BIO", 1) == 2
    assert [(m["title"], m["message"]) for m in pushover.delivered][2:] == [
        ("IND Den Haag: Biometrics: 1 new slot", LABEL_C)
    ]
    assert watcher.alert_state(DEN_HAAG_BIO)["sent"] == {"you": [ID_C]}


def test_a_rejected_pushover_token_stops_the_watch_with_exit_code_1(
    watcher: Watcher, ind: FakeIND, pushover: FakePushover, logs: list[logging.LogRecord]
) -> None:
    ind.set_slots("AM", "DOC", 1, [SLOT_A])
    pushover.queue("validate", 400)  # {"token": "invalid", ...}
    waits = Waits(watcher.clock, [lambda: None] * 5)

    code = ind_alert.watch(watcher.options(), watcher.make, waits, middle_jitter)

    assert code == 1
    assert waits.asked == []
    assert pushover.messages == []  # found by the check before any push
    assert any("token" in r.getMessage() for r in logs if r.levelno >= logging.ERROR)
    assert watcher.alert_state(AMSTERDAM_DOC).get("sent") == {}  # the slot stays unpushed, so unmarked


# ------------------------------------------------------ watch, as a process


def test_sigterm_during_a_cycle_finishes_it_and_exits_143_leaving_a_complete_state_file(
    start: Start, ind: FakeIND, pushover: FakePushover, workdir: Workdir
) -> None:
    workdir.write_config(AMSTERDAM_CONFIG)
    slots = slots_next_month()
    ind.set_slots("AM", "DOC", 1, slots, hold=True)  # IND answers only once the signal was sent
    running = start("--watch", "--interval", "86400")  # a day: were it waited, finish() would time out
    wait_until(lambda: ind.hits("AM", "DOC", 1) == 1, what="the first IND request")
    assert not workdir.state.exists()  # the cycle is still waiting for IND

    running.send_signal(signal.SIGTERM)
    ind.release_hangs()
    result = running.finish(timeout=60)

    assert result.returncode == 143, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.endswith("notice: stopped by SIGTERM: every push delivered until now is recorded")
    assert "Traceback" not in result.stderr
    assert ind.hits("AM", "DOC", 1) == 1
    assert len(pushover.delivered) == 1
    assert pushover.delivered[0]["title"] == "IND Amsterdam: Collect residence document: 2 new slots"
    state = json.loads(workdir.state.read_text(encoding="utf-8"))
    assert state["alerts"][AMSTERDAM_DOC]["sent"] == {"you": [f"AM {d} {start}-{end}" for d, start, end in slots]}
    assert sorted(workdir.state.parent.iterdir()) == [workdir.state.with_name(".seen.json.lock"), workdir.state]


def test_sigint_while_waiting_between_cycles_ends_the_watch_at_once(
    start: Start, ind: FakeIND, pushover: FakePushover, workdir: Workdir
) -> None:
    workdir.write_config(AMSTERDAM_CONFIG)
    ind.set_slots("AM", "DOC", 1, slots_next_month())
    running = start("--watch", "--interval", "86400")  # a day: were it waited, finish() would time out
    wait_until(workdir.state.exists, what="the first cycle to save the state")

    running.send_signal(signal.SIGINT)
    result = running.finish(timeout=60)

    assert result.returncode == 130, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.endswith("notice: stopped by Ctrl-C: every push delivered until now is recorded")
    assert "Traceback" not in result.stderr
    assert len(pushover.delivered) == 1


@pytest.mark.parametrize("interval", ["10", "29.5", "nan", "inf"])
def test_an_interval_under_30_seconds_or_not_a_number_is_refused_saying_the_minimum(
    run: Run, ind: FakeIND, workdir: Workdir, interval: str
) -> None:
    workdir.write_config(AMSTERDAM_CONFIG)

    try:
        result = run("--watch", "--interval", interval, timeout=20)  # a refusal takes well under a second
    except subprocess.TimeoutExpired:
        pytest.fail(f"--interval {interval} was accepted: {len(ind.requests)} IND requests in 20 s", pytrace=False)

    assert result.returncode == 2, result.output
    assert "--interval" in result.stderr and re.search(r"\b30\b", result.stderr), result.stderr
    assert ind.requests == []


def test_watch_waits_120_seconds_by_default() -> None:
    assert ind_alert.parse_args(["--watch"], {}).interval == 120.0


# ------------------------------------------------------ blind-watcher alert


def go_blind(watcher: Watcher, ind: FakeIND) -> None:
    """IND fails from START on; runs at 0 and 30 min push nothing, the run at 61 min the blind push."""
    ind.set_raw("AM", "DOC", 1, status=500, body=HTML_MAINTENANCE)
    for minutes in (0, 30, 61):
        assert watcher.run_at(minutes) == 0


def test_an_outage_shorter_than_blind_after_minutes_pushes_nothing(
    watcher: Watcher, ind: FakeIND, pushover: FakePushover
) -> None:
    ind.set_raw("AM", "DOC", 1, status=500, body=HTML_MAINTENANCE)

    for minutes in (0, 20, 40, 59):
        assert watcher.run_at(minutes) == 0

    assert pushover.messages == []
    assert watcher.alert_state(AMSTERDAM_DOC).get("failing_since") == START
    assert not watcher.alert_state(AMSTERDAM_DOC).get("blind_notified")


def test_an_outage_longer_than_blind_after_minutes_sends_one_push_saying_what_since_when_and_what_to_do(
    watcher: Watcher, ind: FakeIND, pushover: FakePushover
) -> None:
    go_blind(watcher, ind)

    assert len(pushover.delivered) == 1
    push = pushover.delivered[0]
    text = f"{push['title']}\n{push['message']}"
    assert AMSTERDAM_DOC in text and "IND" in push["title"]
    assert "08:00" in push["message"] and re.search(r"\b0?1 Oct\b", push["message"])  # since START
    assert "booking page" in push["message"]  # what the user can do meanwhile
    assert push["url"] == "https://oap.ind.nl/oap/en/#/DOC"
    assert watcher.alert_state(AMSTERDAM_DOC).get("blind_notified") is True


def test_more_failed_runs_after_the_blind_push_push_nothing_and_leave_the_state_file_untouched(
    watcher: Watcher, ind: FakeIND, pushover: FakePushover
) -> None:
    go_blind(watcher, ind)
    blind_state = watcher.state_path.read_bytes()
    written = watcher.state_path.stat().st_mtime_ns

    for minutes in range(65, 15 * 60, 53):  # the rest of that Amsterdam day (a new day checks the secrets)
        assert watcher.run_at(minutes) == 0

    assert len(pushover.messages) == 1
    assert watcher.state_path.read_bytes() == blind_state
    assert watcher.state_path.stat().st_mtime_ns == written


def test_the_state_changes_once_per_transition_not_on_every_failed_run(
    watcher: Watcher, ind: FakeIND, pushover: FakePushover
) -> None:
    ind.set_raw("AM", "DOC", 1, status=500, body=HTML_MAINTENANCE)
    snapshots = []
    for minutes in (0, 15, 30, 45, 61, 75, 90):
        watcher.run_at(minutes)
        snapshots.append(watcher.state_path.read_bytes())
    ind.set_slots("AM", "DOC", 1, [])
    for minutes in (95, 100):
        watcher.run_at(minutes)
        snapshots.append(watcher.state_path.read_bytes())

    changes = [i for i in range(1, len(snapshots)) if snapshots[i] != snapshots[i - 1]]
    assert changes == [4, 7]  # failing -> blind, blind -> checking again
    assert len(set(snapshots[:4])) == 1


def test_recovery_after_a_blind_push_sends_one_checking_again_push_and_clears_the_state(
    watcher: Watcher, ind: FakeIND, pushover: FakePushover
) -> None:
    go_blind(watcher, ind)
    ind.set_slots("AM", "DOC", 1, [])

    for minutes in (90, 95, 100):
        assert watcher.run_at(minutes) == 0

    assert len(pushover.delivered) == 2
    push = pushover.delivered[1]
    assert "checking again" in f"{push['title']} {push['message']}".lower()
    assert AMSTERDAM_DOC in f"{push['title']} {push['message']}"
    assert watcher.state()["alerts"] == ONLY_TODAYS_HISTORY


def test_a_short_blip_never_pushes(watcher: Watcher, ind: FakeIND, pushover: FakePushover) -> None:
    ind.set_raw("AM", "DOC", 1, status=200, body=HTML_MAINTENANCE, once=True)  # not retried, as a 5xx is
    ind.set_slots("AM", "DOC", 1, [])

    for minutes in (0, 5, 70, 200):
        assert watcher.run_at(minutes) == 0

    assert pushover.messages == []
    assert watcher.state()["alerts"] == ONLY_TODAYS_HISTORY


def test_blind_after_minutes_is_read_per_alert_and_from_defaults(
    watcher: Watcher, ind: FakeIND, pushover: FakePushover
) -> None:
    defaults = "[defaults]\nblind_after_minutes = 10\n"
    watcher.workdir.write_config(defaults + AMSTERDAM_CONFIG + DEN_HAAG_CONFIG + "blind_after_minutes = 90\n")
    ind.set_raw("AM", "DOC", 1, status=500, body=HTML_MAINTENANCE)
    ind.set_raw("DH", "BIO", 1, status=500, body=HTML_MAINTENANCE)

    pushed_by: dict[float, int] = {}
    for minutes in (0, 9, 11, 30, 89, 91, 120):
        watcher.run_at(minutes)
        pushed_by[minutes] = len(pushover.delivered)

    assert pushed_by == {0: 0, 9: 0, 11: 1, 30: 1, 89: 1, 91: 2, 120: 2}
    first, second = (m["message"] for m in pushover.delivered)
    assert AMSTERDAM_DOC in first and DEN_HAAG_BIO not in first
    assert DEN_HAAG_BIO in second and AMSTERDAM_DOC not in second


def test_a_blind_push_that_fails_transiently_is_sent_on_the_next_run(
    watcher: Watcher, ind: FakeIND, pushover: FakePushover
) -> None:
    ind.set_raw("AM", "DOC", 1, status=500, body=HTML_MAINTENANCE)
    watcher.run_at(0)
    pushover.queue("messages", 502)
    pushover.queue("messages", 502)

    assert watcher.run_at(61) == 0
    assert pushover.delivered == []
    assert watcher.push_sleeps == [5.0]
    assert not watcher.alert_state(AMSTERDAM_DOC).get("blind_notified")

    assert watcher.run_at(66) == 0
    watcher.run_at(71)
    assert len(pushover.messages) == 3 and len(pushover.delivered) == 1
    assert watcher.alert_state(AMSTERDAM_DOC).get("blind_notified") is True


def test_a_checking_again_push_that_fails_transiently_is_sent_on_the_next_run(
    watcher: Watcher, ind: FakeIND, pushover: FakePushover
) -> None:
    go_blind(watcher, ind)
    ind.set_slots("AM", "DOC", 1, [])
    pushover.queue("messages", 503)
    pushover.queue("messages", 503)

    assert watcher.run_at(90) == 0
    assert len(pushover.delivered) == 1
    assert watcher.alert_state(AMSTERDAM_DOC).get("blind_notified") is True

    watcher.run_at(95)
    watcher.run_at(100)
    assert len(pushover.delivered) == 2
    assert "checking again" in pushover.delivered[1]["title"].lower()
    assert watcher.state()["alerts"] == ONLY_TODAYS_HISTORY


# ------------------------------------------------------------------ quota


def test_a_quota_under_5_percent_is_pushed_once_per_period_and_warned_about_on_every_run(
    watcher: Watcher, ind: FakeIND, pushover: FakePushover, logs: list[logging.LogRecord]
) -> None:
    pushover.remaining = 450  # of 10,000: after the slot push 449 are left, 4.5 %
    first_period = pushover.reset

    ind.set_slots("AM", "DOC", 1, [SLOT_A])
    assert watcher.run_at(0) == 0
    assert len(pushes_titled(pushover, "quota")) == 1
    assert len(warnings_about(logs, "quota")) == 1
    assert "449" in warnings_about(logs, "quota")[0]
    assert watcher.state()["quota_notified"] == first_period

    ind.set_slots("AM", "DOC", 1, [SLOT_A, SLOT_B])
    assert watcher.run_at(5) == 0
    assert len(pushover.delivered) == 3  # slot A, quota, slot B: no second quota push
    assert len(pushes_titled(pushover, "quota")) == 1
    assert len(warnings_about(logs, "quota")) == 2

    pushover.reset = first_period + 31 * 24 * 3600
    ind.set_slots("AM", "DOC", 1, [SLOT_A, SLOT_B, SLOT_C])
    assert watcher.run_at(10) == 0
    assert len(pushes_titled(pushover, "quota")) == 2
    assert len(warnings_about(logs, "quota")) == 3
    assert watcher.state()["quota_notified"] == pushover.reset


def test_a_quota_between_5_and_10_percent_is_a_warning_without_a_push(
    watcher: Watcher, ind: FakeIND, pushover: FakePushover, logs: list[logging.LogRecord]
) -> None:
    pushover.remaining = 700
    ind.set_slots("AM", "DOC", 1, [SLOT_A])

    assert watcher.run_at(0) == 0

    assert [m["message"] for m in pushover.delivered] == [LABEL_A]
    assert len(warnings_about(logs, "quota")) == 1
    assert "quota_notified" not in watcher.state()
