"""In time: how often the watcher really looks, and how long slots stay open.

The end-to-end tests run ind_alert.py as GitHub Actions would, once per check, each with its wall clock
moved to the check's time (tests/clock, as tests/midnight.py does), against the fake IND, whose slots open
and close at known times, and a loopback stand-in for GitHub's Actions API, which lists the runs so far.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import Run, Start
from fakes import TESTS_DIR, FakeActions, FakeIND, FakePushover, Reply, Workdir, day, wait_until
from test_availability_charts import mermaid_blocks, parse_chart

import ind_alert

NAME = "Amsterdam biometrics"
CONFIG = f'[[alert]]\nname = "{NAME}"\ndesk = "AM"\nproduct = "BIO"\n'
GITHUB_TOKEN = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"  # the shape of an Actions token, valid nowhere
PLACE = "IND Amsterdam, biometrics"
MINUTE = 60


@pytest.fixture
def actions() -> Iterator[FakeActions]:
    fake = FakeActions()
    try:
        yield fake
    finally:
        fake.close()


def github_env(actions: FakeActions, workdir: Workdir, run_id: int, shift: float | None = None) -> dict[str, str]:
    """The variables a scheduled run of the workflow has, the Actions API pointed at the stand-in."""
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "schedule",
        "GITHUB_REPOSITORY": "alice/ind-alert",
        "GITHUB_WORKFLOW_REF": "alice/ind-alert/.github/workflows/ind-alert.yml@refs/heads/main",
        "GITHUB_RUN_ID": str(run_id),
        "GITHUB_TOKEN": GITHUB_TOKEN,
        "GITHUB_API_URL": actions.url,
        "GITHUB_STEP_SUMMARY": str(workdir.path / f"summary-{run_id}.md"),
    }
    if shift is not None:  # the script's wall clock moved by shift seconds (tests/clock/sitecustomize.py)
        env["IND_ALERT_CLOCK_SHIFT"] = str(shift)
        env["PYTHONPATH"] = str(TESTS_DIR / "clock")
    return env


def run_summary(workdir: Workdir, run_id: int) -> str:
    return (workdir.path / f"summary-{run_id}.md").read_text(encoding="utf-8")


def duration(words: str) -> float:
    """Minutes from the script's words: "12 min", "1 h 05 min", "under a minute"."""
    if words == "under a minute":
        return 0.5
    hours = re.fullmatch(r"(\d+) h (\d+) min", words)
    if hours:
        return int(hours[1]) * 60 + int(hours[2])
    found = re.fullmatch(r"(\d+) min", words)
    assert found, words
    return int(found[1])


def middle(values: Sequence[float]) -> float:
    ordered = sorted(values)
    half = len(ordered) // 2
    return ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2


# A slot: (opens, lifetime), in minutes from the first check. Ids are distinct: one slot a time of day.
Scenario = tuple[Sequence[int], Sequence[tuple[int, int]]]
EVERY_2 = ([2] * 29, [(1, 3), (5, 3), (9, 8), (13, 8), (20, 25), (30, 3), (33, 8), (3, 90), (-10, 30)])
EVERY_20 = (
    [20] * 11,
    [(5, 25), (30, 25), (50, 90), (70, 90), (100, 25), (130, 90), (150, 25), (175, 25), (10, 3), (45, 8)],
)
IRREGULAR = (
    [2, 7, 31, 3, 15, 58, 4, 20, 11, 9, 2, 40, 5],
    [(1, 3), (4, 8), (10, 25), (12, 90), (41, 25), (117, 8), (121, 25), (150, 3), (155, 90), (161, 3)],
)


def slot_spec(index: int) -> tuple[str, str, str]:
    """Slot number index: a distinct time on a day well ahead, whatever the moved clock's date."""
    hour, minute = divmod(index * 10, 60)
    return (day(20).isoformat(), f"{8 + hour:02d}:{minute:02d}", f"{8 + hour:02d}:{minute + 5:02d}")


def run_scenario(
    run: Run, workdir: Workdir, ind: FakeIND, actions: FakeActions, scenario: Scenario
) -> tuple[list[float], dict[int, tuple[float, float]], int]:
    """Run one check per time of the scenario; returns the check times, each slot's true open and close
    times (unix) and the last run's id."""
    gaps, slots = scenario
    offsets = [0]
    for gap in gaps:
        offsets.append(offsets[-1] + gap)
    base = int(time.time()) - (offsets[-1] + 5) * MINUTE  # the last check a few minutes ago
    checks = [base + m * MINUTE for m in offsets]
    truth = {i: (base + opens * MINUTE, base + (opens + life) * MINUTE) for i, (opens, life) in enumerate(slots)}
    workdir.write_config(CONFIG)
    for number, at in enumerate(checks, start=1):
        open_now = [slot_spec(i) for i, (opens, closes) in truth.items() if opens <= at < closes]
        ind.set_slots("AM", "BIO", 1, open_now)
        actions.runs = [(n, t) for n, t in enumerate(checks[:number], start=1)]
        result = run(env=github_env(actions, workdir, number, shift=at - time.time()))
        assert result.returncode == 0, result.output
        assert "::error::" not in result.output
    return checks, truth, len(checks)


def slot_index(slot_id: str) -> int:
    clock = slot_id.split(" ")[2][:5]
    hour, minute = (int(part) for part in clock.split(":"))
    return ((hour - 8) * 60 + minute) // 10


@pytest.mark.parametrize("scenario", [EVERY_2, EVERY_20, IRREGULAR], ids=["every 2 min", "every 20 min", "irregular"])
def test_what_the_run_page_reports_brackets_the_true_lifetimes_and_gaps(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover, actions: FakeActions, scenario: Scenario
) -> None:
    checks, truth, last_run = run_scenario(run, workdir, ind, actions, scenario)

    # The state: each slot's start lies between the check before its first sighting and that sighting, its
    # end between its last sighting and the check that found it gone.
    doc = json.loads(workdir.state.read_text(encoding="utf-8"))
    sightings = doc["lifetimes"]["slots"]
    seen_slots = {slot_index(s[1]) for s in sightings}
    ever_open = {i for i, (o, c) in truth.items() if any(o <= t < c for t in checks)}
    assert seen_slots == ever_open  # every slot open at a check, and no other
    known = []
    for _product, slot_id, seen, before, last, gone in sightings:
        opens, closes = truth[slot_index(slot_id)]
        if before is None:  # open when the desk's first slot was recorded: no known start
            assert seen == min(s[2] for s in sightings) and opens <= seen
        else:
            assert before < opens <= seen
        if gone is not None:
            assert last is not None and last < closes <= gone
            if before is not None:
                known.append((opens, closes, (last - seen) / MINUTE, (gone - before) / MINUTE))
    assert len(known) >= ind_alert.MIN_SAMPLE

    # The run page: the cadence is the true one ...
    page = run_summary(workdir, last_run)
    true_gaps = sorted((b - a) / MINUTE for a, b in itertools.pairwise(checks))
    cadence = re.search(
        r"This watcher checked (\d+) times in the last 24 hours and (\d+) in 7 days; between checks: median (.+?),"
        r" 90% within (.+?), longest (.+?) \(GitHub's run history\)\.",
        page,
    )
    assert cadence, page
    assert int(cadence[1]) == int(cadence[2]) == len(checks)
    assert abs(duration(cadence[3]) - middle(true_gaps)) <= 1
    assert abs(duration(cadence[5]) - true_gaps[-1]) <= 1
    assert true_gaps[0] - 1 <= duration(cadence[4]) <= true_gaps[-1] + 1

    # ... and the lifetimes it reports bracket the true lifetimes of the slots it could time.
    verdict = re.search(
        rf"{re.escape(PLACE)}: .*?\(median of (\d+), last 30 days; each known to within the checks around it:"
        r" (.+?) to (.+?)\)",
        page,
    )
    assert verdict, page
    assert int(verdict[1]) == len(known)
    true_median = middle([(closes - opens) / MINUTE for opens, closes, _, _ in known])
    assert duration(verdict[2]) - 1 <= true_median <= duration(verdict[3]) + 1
    assert middle([lo for *_, lo, _ in known]) <= true_median <= middle([hi for *_, hi in known])
    assert "slots open at the first check have no known start" in page
    assert GITHUB_TOKEN not in page
    chart = next(b for b in mermaid_blocks(page) if "New matching slots by hour of day" in b)
    assert parse_chart(chart).kind == "bar"
    appeared = sum(1 for s in sightings if s[3] is not None)
    assert sum(parse_chart(chart).values) == appeared and "By weekday: Mon " in page


def test_dry_run_prints_the_cadence_and_the_verdict(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover, actions: FakeActions
) -> None:
    workdir.write_config(CONFIG)
    ind.set_slots("AM", "BIO", 1, [slot_spec(0)])
    actions.runs = [(1, time.time() - 40 * MINUTE), (2, time.time() - 20 * MINUTE)]

    result = run("--dry-run", env=github_env(actions, workdir, 3))

    assert result.returncode == 0, result.output
    assert "This watcher checked 3 times in the last 24 hours and 3 in 7 days; between checks: median 20 min" in (
        result.stdout
    )
    assert f"{PLACE}: 0 slots seen to open and close so far: too few to say how long slots stay open." in result.stdout
    assert not workdir.state.exists()


def test_a_one_shot_run_on_this_machine_says_it_keeps_no_check_times_in_dry_run_only(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    workdir.write_config(CONFIG)
    ind.set_slots("AM", "BIO", 1, [slot_spec(0)])
    line = "Cadence unknown (a one-shot run on this machine keeps no check times: --watch does)."
    assert line in run("--dry-run").stdout
    checked = run()
    assert checked.returncode == 0 and line not in checked.stdout
    assert "lifetimes" not in json.loads(workdir.state.read_text())


def test_a_quiet_run_changes_no_byte_of_the_state_with_lifetimes_tracked(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover, actions: FakeActions
) -> None:
    workdir.write_config(CONFIG)
    first, second = time.time() - 30 * MINUTE, time.time() - 10 * MINUTE
    ind.set_slots("AM", "BIO", 1, [slot_spec(0), slot_spec(1)])
    actions.runs = [(1, first)]
    assert run(env=github_env(actions, workdir, 1, shift=first - time.time())).returncode == 0
    before = workdir.state.read_bytes()
    assert len(json.loads(before)["lifetimes"]["slots"]) == 2  # tracked

    actions.runs = [(1, first), (2, second)]
    result = run(env=github_env(actions, workdir, 2, shift=second - time.time()))

    assert result.returncode == 0, result.output
    assert workdir.state.read_bytes() == before
    assert "between checks: median 20 min" in run_summary(workdir, 2)


def test_a_check_that_finds_no_slot_records_no_lifetimes(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover, actions: FakeActions
) -> None:
    workdir.write_config(CONFIG)
    ind.set_slots("AM", "BIO", 1, [])
    actions.runs = [(1, time.time() - 20 * MINUTE), (2, time.time())]

    result = run(env=github_env(actions, workdir, 2))

    assert result.returncode == 0, result.output
    assert "lifetimes" not in json.loads(workdir.state.read_text())  # the day's secret check only
    assert "checked 2 times in the last 24 hours" in run_summary(workdir, 2)


def test_the_run_history_is_asked_with_the_token_for_this_workflows_scheduled_runs_of_the_week(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover, actions: FakeActions
) -> None:
    workdir.write_config(CONFIG)
    now = time.time()
    actions.runs = [(n, now - (200 - n) * 1800) for n in range(1, 201)]  # every 30 min for 100 hours
    actions.conclusions[199] = "cancelled"  # never checked

    result = run(env=github_env(actions, workdir, 200))

    assert result.returncode == 0, result.output
    asked = actions.requests
    assert [r.path for r in asked] == ["/repos/alice/ind-alert/actions/workflows/ind-alert.yml/runs"] * 2
    assert [r.query["page"] for r in asked] == ["1", "2"]
    assert {r.query["event"] for r in asked} == {"schedule"}
    assert {r.headers["authorization"] for r in asked} == {f"Bearer {GITHUB_TOKEN}"}
    # 199 earlier runs listed, one cancelled: 198 and this one; 46 and this one in the last 24 hours.
    assert "checked 47 times in the last 24 hours and 199 in 7 days" in run_summary(workdir, 200)
    assert "longest 1 h 00 min" in run_summary(workdir, 200)
    assert GITHUB_TOKEN not in result.output


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(500, "oops"), "the Actions API answered HTTP 500"),
        (
            Reply(403, '{"message": "Resource not accessible by integration"}'),
            "the Actions API refused (HTTP 403): needs actions: read",
        ),
        (Reply(200, "<html><body>Unicorn!</body></html>"), "the Actions API answered in an unexpected form"),
        (Reply(200, '{"workflow_runs": [{"id": 7}]}'), "the Actions API answered in an unexpected form"),
        (Reply(drop=True), "the Actions API is out of reach"),
    ],
    ids=["500", "403", "a web page", "a run without a time", "dropped"],
)
def test_a_failing_actions_api_never_fails_the_run(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover, actions: FakeActions, reply: Reply, reason: str
) -> None:
    workdir.write_config(CONFIG)
    ind.set_slots("AM", "BIO", 1, [slot_spec(0)])
    actions.reply = reply

    result = run(env=github_env(actions, workdir, 1))

    assert result.returncode == 0, result.output
    assert len(pushover.delivered) == 1
    assert f"Cadence unknown ({reason})." in run_summary(workdir, 1)
    assert "::error::" not in result.output and "Traceback" not in result.output
    assert "Cadence unknown" in result.stdout


def test_without_a_token_the_cadence_is_unknown_and_nothing_is_asked(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover, actions: FakeActions
) -> None:
    workdir.write_config(CONFIG)
    result = run(env={**github_env(actions, workdir, 1), "GITHUB_TOKEN": None})
    assert result.returncode == 0, result.output
    assert "Cadence unknown (the check step has no GITHUB_TOKEN)." in run_summary(workdir, 1)
    assert actions.requests == []


def test_the_run_history_is_read_while_ind_is_asked_not_before(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover, actions: FakeActions
) -> None:
    """The Actions API answers only once IND was asked: a history read before the check would wait for an
    answer that never comes, and the run page would say the cadence is unknown."""
    workdir.write_config(CONFIG)
    ind.set_slots("AM", "BIO", 1, [slot_spec(0)])
    actions.runs = [(1, time.time() - 20 * MINUTE), (2, time.time())]
    actions.answer_when = lambda: ind.hits("AM", "BIO", 1) >= 1

    result = run(env=github_env(actions, workdir, 2))

    assert result.returncode == 0, result.output
    assert "checked 2 times in the last 24 hours" in run_summary(workdir, 2)


def test_an_actions_api_that_never_answers_delays_no_push(
    start: Start, workdir: Workdir, ind: FakeIND, pushover: FakePushover, actions: FakeActions
) -> None:
    workdir.write_config(CONFIG)
    ind.set_slots("AM", "BIO", 1, [slot_spec(0)])
    actions.reply = Reply(hold=True)  # answers only when the test ends

    with start(env=github_env(actions, workdir, 1)) as script:
        wait_until(lambda: pushover.delivered, what="the push")
        assert len(actions.requests) == 1  # asked, and still unanswered when the slot went out
        result = script.finish()

    assert result.returncode == 0, result.output
    assert "Cadence unknown (the Actions API did not answer in time)." in run_summary(workdir, 1)
    assert json.loads(workdir.state.read_text())["lifetimes"]["slots"][0][3] is None  # start unknown, not guessed


def test_a_watcher_too_slow_for_its_slots_warns_every_run_and_pushes_once_a_week(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover, actions: FakeActions
) -> None:
    workdir.write_config(CONFIG)
    now = int(time.time())
    hour = 3600
    # Six slots, each seen at one hourly check and gone at the next: they last less than an hour.
    slots = [
        ["BIO", f"AM {day(-3)} 09:{10 * i:02d}-09:{10 * i + 5:02d}", now - hour * (10 - i), None, None, None]
        for i in range(6)
    ]
    for s in slots:
        s[3], s[4], s[5] = s[2] - hour, s[2], s[2] + hour
    state = {"version": 3, "alerts": {}, "lifetimes": {"watched": {"BIO AM": now - 20 * hour}, "slots": slots}}
    workdir.state.parent.mkdir(parents=True, exist_ok=True)
    workdir.state.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    actions.runs = [(n, now - (12 - n) * hour) for n in range(1, 13)]

    first = run(env=github_env(actions, workdir, 12))
    second = run(env=github_env(actions, workdir, 13))

    for result in (first, second):
        assert result.returncode == 0, result.output
        assert "::warning::this watcher is too slow for the slots at IND Amsterdam (biometrics)" in result.output
    assert [m["title"] for m in pushover.delivered] == ["ind-alert is too slow for these slots"]
    assert "(it checks every 1 h 00 min)" in pushover.delivered[0]["message"]  # the gap it was judged by
    assert json.loads(workdir.state.read_text())["lifetimes"]["warned"] >= now
    page = run_summary(workdir, 13)
    assert f"{PLACE}: 6 of 6 slots were gone by the next check" in page
    assert "less than the 1 h 00 min between checks, so this watcher misses many" in page


# ------------------------------------------------------------------ the state, in-process


def sighting(slot: str = "AM 2026-12-20 09:00-09:05", seen: int = 1000, **times: int | None) -> ind_alert.Sighting:
    return ind_alert.Sighting("BIO", slot, seen, times.get("before"), times.get("last"), times.get("gone"))


def test_track_records_a_slot_when_it_appears_and_when_it_goes_and_nothing_in_between() -> None:
    track, slot = ind_alert.track, "AM 2099-12-20 09:00-09:05"
    empty = ind_alert.Lifetimes()
    assert track(empty, {"BIO AM"}, {"BIO AM": set()}, 1000, 900) is empty  # nothing open: nothing written
    first = track(empty, {"BIO AM"}, {"BIO AM": {slot}}, 1000, 900)
    assert first.slots == (sighting(slot, 1000),)  # open at the desk's first recorded check: no known start
    quiet = track(first, {"BIO AM"}, {"BIO AM": {slot}}, 1200, 1000)
    assert quiet is first
    other = "AM 2099-12-20 10:00-10:05"
    later = track(quiet, {"BIO AM"}, {"BIO AM": {other}}, 1400, 1200)
    assert later.slots == (sighting(slot, 1000, last=1200, gone=1400), sighting(other, 1400, before=1200))
    failed = track(later, {"BIO AM"}, {}, 1600, 1400)  # the desk did not answer: nothing is known to be gone
    assert failed is later
    dropped = track(later, set(), {}, 1800, 1600)  # no alert watches the desk any more
    assert dropped.watched == {} and dropped.slots == (sighting(slot, 1000, last=1200, gone=1400),)


def test_a_slot_whose_time_came_is_not_counted_as_taken() -> None:
    past = "AM 2000-01-01 09:00-09:05"
    tracked = ind_alert.Lifetimes({"BIO AM": 10}, (sighting(past, 100, before=50),))
    now = int(time.time())
    assert ind_alert.track(tracked, {"BIO AM"}, {"BIO AM": set()}, now, now - 120).slots == ()


def test_closed_slots_are_kept_30_days_and_300_at_most() -> None:
    now = 100 * 86400
    closed = [sighting(seen=now - 40 * 86400 + i, gone=now - 40 * 86400 + i + 60) for i in range(10)]
    closed += [sighting(seen=now - 86400 + i, before=0, gone=now - 86400 + i + 60) for i in range(400)]
    kept = ind_alert.prune_sightings([*closed, sighting(seen=5)], now)
    assert len(kept) == 301 and kept[0] == sighting(seen=5)  # the open one stays, whatever its age
    assert min(s.seen for s in kept[1:]) == now - 86400 + 100


def top_level_state_text(**top: Any) -> str:
    return json.dumps({"version": 3, "alerts": {}, **top})


@pytest.mark.parametrize(
    "lifetimes",
    [
        [],
        {"watched": {}},
        {"watched": {"BIO AM": 1}, "slots": [], "extra": 1},
        {"watched": {"XYZ AM": 1}, "slots": []},
        {"watched": {"BIO AM": "1"}, "slots": []},
        {"watched": {}, "slots": [["BIO", "AM 2026-12-20 09:00-09:05", 1, None, None]]},
        {"watched": {}, "slots": [["BIO", "not a slot", 1, None, None, None]]},
        {"watched": {}, "slots": [["BIO", "AM 2026-12-20 09:00-09:05", 1.5, None, None, None]]},
        {"watched": {}, "slots": [["BIO", "AM 2026-12-20 09:00-09:05", 1, True, None, None]]},
        {"watched": {}, "slots": [], "warned": -1},
    ],
)
def test_a_malformed_lifetimes_record_is_refused_never_read_as_empty(lifetimes: Any) -> None:
    with pytest.raises(ind_alert.StateError, match="is not a valid ind-alert state"):
        ind_alert.state_from_json(top_level_state_text(lifetimes=lifetimes), "state/seen.json")


@pytest.mark.parametrize("checks", [[1, 2], {"last": 5}, {"last": 5, "gaps": [-1]}, {"last": 5, "gaps": [6]}])
def test_malformed_check_times_are_refused(checks: Any) -> None:
    with pytest.raises(ind_alert.StateError, match="is not a valid ind-alert state"):
        ind_alert.state_from_json(top_level_state_text(checks=checks), "state/seen.json")


def test_lifetimes_and_check_times_round_trip_and_merge() -> None:
    ours = ind_alert.State(
        lifetimes=ind_alert.Lifetimes({"BIO AM": 50}, (sighting(seen=100, before=40, last=200, gone=300),), 7),
        checks=(100, 200, 300),
    )
    text = ind_alert.state_to_json(ours)
    assert json.loads(text)["checks"] == {"last": 300, "gaps": [100, 100]}
    assert ind_alert.state_from_json(text, "x") == ours
    theirs = ind_alert.State(
        lifetimes=ind_alert.Lifetimes(
            {"BIO AM": 40, "DOC DH": 60}, (sighting(seen=100, before=40), sighting("DH 2026-12-20 09:00-09:05", 250))
        ),
        checks=(250,),
    )
    merged = ind_alert.merge_states(theirs, ours)
    assert merged.lifetimes.watched == {"BIO AM": 40, "DOC DH": 60}
    assert merged.lifetimes.slots == (
        sighting(seen=100, before=40, last=200, gone=300),  # the run that saw it go wins
        sighting("DH 2026-12-20 09:00-09:05", 250),
    )
    assert merged.lifetimes.warned == 7 and merged.checks == (100, 200, 250, 300)
    assert ind_alert.state_to_json(ind_alert.State()) == '{\n  "alerts": {},\n  "version": 3\n}\n'


def test_the_gap_figures_and_the_words() -> None:
    now = 10 * 86400
    checks = [now - 8 * 86400, *(now - 86400 * 2 + 1200 * i for i in range(10)), now - 600, now]
    figures = ind_alert.gap_figures(checks, now)
    assert (figures.day, figures.week) == (2, 12)
    assert figures.median == 1200 and figures.longest == now - 600 - (now - 86400 * 2 + 1200 * 9)
    assert ind_alert.minutes(30) == "under a minute" and ind_alert.minutes(3900) == "1 h 05 min"
    assert ind_alert.how_many(0.97) == "nearly all of them (97%)"
    assert ind_alert.how_many(0.5) == "roughly half of them (50%)"
    assert ind_alert.how_many(0.1) == "about 1 in 10 (10%)"


def test_the_verdict_names_the_lifetime_the_cadence_and_the_faster_path() -> None:
    slots = tuple(
        sighting(f"AM 2026-12-20 09:{i:02d}-09:{i + 5:02d}", 1000 + i, before=400 + i, last=1600 + i, gone=2200 + i)
        for i in range(6)
    )
    lifetimes = ind_alert.Lifetimes({"BIO AM": 0}, slots)
    v = ind_alert.verdict(lifetimes, "BIO AM", 1200.0, 3000)
    assert (v.count, v.low, v.high, v.median) == (6, 600, 1800, 1200)
    line = ind_alert.verdict_line(v, PLACE)
    assert line == (
        f"{PLACE}: slots stayed open about 20 min (median of 6, last 30 days; each known to within the checks"
        " around it: 10 min to 30 min); this watcher checks every 20 min: it sees nearly all of them (100%)."
        " A 2-minute watcher (AWS Lambda or your own machine) would see nearly all of them (100%)."
    )
    assert not v.slow


def test_the_chart_of_new_slots_counts_them_by_amsterdam_hour_and_weekday() -> None:
    from datetime import datetime

    moments = [datetime(2026, 12, 7, 9, 5, tzinfo=ind_alert.AMSTERDAM)] * 2 + [
        datetime(2026, 12, 8, 23, 59, tzinfo=ind_alert.AMSTERDAM)
    ]
    chart = ind_alert.mermaid_hours(moments)
    bars = re.search(r"bar \[(.*)\]", chart)
    assert bars and [int(n) for n in bars[1].split(", ")][9] == 2 and bars[1].endswith("1")
    assert ind_alert.weekday_counts(moments).startswith("Mon 2, Tue 1, Wed 0")


class S3Like(ind_alert.FileStore):
    @property
    def location(self) -> str:
        return "s3://bucket/state.json"


def test_lambda_keeps_its_check_times_in_the_state_watch_in_memory_and_a_one_shot_run_none(tmp_path: Path) -> None:
    config = ind_alert.Config((), {})
    on_lambda = ind_alert.runner_for(
        config, {"AWS_LAMBDA_FUNCTION_NAME": "f"}, store=S3Like(tmp_path / "s.json")
    ).begin()
    on_lambda.state = ind_alert.State(checks=(400, 520))
    assert ind_alert.start_cadence(on_lambda, 1000)().checks == (400, 520, 1000)
    assert on_lambda.state.checks == (400, 520, 1000)  # saved with the state
    one_shot = ind_alert.runner_for(config, {}, store=ind_alert.FileStore(tmp_path / "s.json")).begin()
    assert not ind_alert.start_cadence(one_shot, 1000)().kept  # a file state on this machine: no check times
    watch = ind_alert.Options("", "", watch=True)
    watching = ind_alert.runner_for(config, {}, watch, store=ind_alert.FileStore(tmp_path / "s.json")).begin()
    ind_alert.start_cadence(watching, 1000)
    assert ind_alert.start_cadence(watching, 1120)().checks == (1000, 1120)  # --watch: this process's own checks
    assert watching.state.checks == ()


def test_a_slot_entering_days_ahead_at_midnight_is_not_taken_for_a_new_one(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover, actions: FakeActions
) -> None:
    from datetime import datetime, timedelta

    workdir.write_config(CONFIG + "days_ahead = 14\n")
    midnight = datetime.combine(day(1), datetime.min.time(), ind_alert.AMSTERDAM)
    before, after = midnight.timestamp() - 10 * MINUTE, midnight.timestamp() + 10 * MINUTE
    inside = ((midnight.date() + timedelta(days=3)).isoformat(), "09:00", "09:10")
    entering = ((midnight.date() + timedelta(days=14)).isoformat(), "09:00", "09:10")  # in the window after midnight
    ind.set_slots("AM", "BIO", 1, [inside, entering])
    actions.runs = [(1, before)]
    assert run(env=github_env(actions, workdir, 1, shift=before - time.time())).returncode == 0
    actions.runs = [(1, before), (2, after)]
    assert run(env=github_env(actions, workdir, 2, shift=after - time.time())).returncode == 0

    assert len(pushover.delivered) == 2  # the entering slot is pushed once it matches ...
    sightings = json.loads(workdir.state.read_text())["lifetimes"]["slots"]
    assert [s[2] < midnight.timestamp() for s in sightings] == [True, True]  # ... but it was open before
