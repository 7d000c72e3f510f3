"""Availability at a glance and public channels (issue 12).

The run page's Mermaid charts are parsed back and compared with the slots the fake IND offered; the
30-day history is driven by an injected clock across 40 days; per_slot recipients post to a loopback
Apprise ``json://`` endpoint. Runs as a process use the real clock, so dates are built from today in
Amsterdam inside each test.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Run
from fakes import AMSTERDAM, SCRIPT, AppriseServer, FakeIND, FakePushover, Workdir, day

if str(SCRIPT.parent) not in sys.path:
    sys.path.insert(0, str(SCRIPT.parent))
ind_alert = importlib.import_module("ind_alert")

# An alert name a user might type, with everything that could break out of Markdown or Mermaid.
HOSTILE_NAME = 'Amsterdam <img src=x> ```] "x" --> %%{init}%% | `DOC`'


def slots_on(offsets: dict[int, int]) -> list[tuple[str, str, str]]:
    """``{days from today: how many slots}`` as IND slots, one an hour from 09:00."""
    return [
        (day(offset).isoformat(), f"{9 + k:02d}:00", f"{9 + k:02d}:10")
        for offset, count in offsets.items()
        for k in range(count)
    ]


@dataclass
class Chart:
    """A Mermaid xychart-beta block read back: title, x labels, y range and the one data series."""

    title: str
    labels: list[str]
    y_max: int
    kind: str
    values: list[int]
    source: str = field(repr=False)


def mermaid_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```mermaid\n(.*?)\n```$", markdown, flags=re.DOTALL | re.MULTILINE)


def parse_chart(block: str) -> Chart:
    """Parse a block strictly: exactly the lines ind_alert writes, nothing else (no injected lines)."""
    lines = block.split("\n")
    assert len(lines) == 6, block
    init = re.fullmatch(r"%%\{init: (.*)\}%%", lines[0])
    assert init, lines[0]
    assert set(json.loads(init.group(1))) == {"xyChart", "themeVariables"}
    assert lines[1] == "xychart-beta"
    title = re.fullmatch(r'    title "([A-Za-z0-9 ,-]+)"', lines[2])
    axis = re.fullmatch(r"    x-axis \[(.*)\]", lines[3])
    y = re.fullmatch(r'    y-axis "[a-z]+" 0 --> (\d+)', lines[4])
    data = re.fullmatch(r"    (bar|line) \[([\d, ]*)\]", lines[5])
    assert title and axis and y and data, block
    labels = json.loads(f"[{axis.group(1)}]")
    assert all(re.fullmatch(r"\d{1,2}( [A-Z][a-z]{2})?\u200b*", label) for label in labels), labels
    assert len(set(labels)) == len(labels), "Mermaid merges equal labels into one bar"
    values = [int(v) for v in data.group(2).split(", ")]
    assert len(values) == len(labels)
    return Chart(title.group(1), labels, int(y.group(1)), data.group(1), values, block)


@pytest.fixture
def env(
    ind: FakeIND, pushover: FakePushover, secrets: dict[str, str], apprise_server: AppriseServer, workdir: Workdir
) -> dict[str, str]:
    return {
        "IND_API_URL": ind.url,
        "PUSHOVER_API_URL": pushover.url,
        **secrets,
        "APPRISE_URL": apprise_server.url,
        "GITHUB_STEP_SUMMARY": str(workdir.path / "summary.md"),
    }


def summary(workdir: Workdir) -> str:
    return (workdir.path / "summary.md").read_text(encoding="utf-8")


def alert_config(name: str = "Amsterdam DOC", extra: str = "") -> str:
    return f"""
[[alert]]
name = {json.dumps(name)}
desk = "AM"
product = "DOC"
{extra}
"""


# ------------------------------------------------------------------ the run page


def test_the_summary_charts_open_matching_slots_per_day_as_the_fake_offered_them(
    run: Run, workdir: Workdir, ind: FakeIND
) -> None:
    workdir.write_config(alert_config(HOSTILE_NAME, "days_ahead = 20"))
    offered = {1: 2, 3: 1, 4: 5, 9: 1, 20: 3, 21: 4}  # day 21 is past days_ahead: not drawn, not counted
    ind.set_slots("AM", "DOC", 1, slots_on(offered))

    result = run("--dry-run")

    assert result.returncode == 0, result.stderr
    text = summary(workdir)
    blocks = mermaid_blocks(text)
    assert len(blocks) == 1  # slots per day; no trend chart from one day of history
    chart = parse_chart(blocks[0])
    span = f"{day(0).day} {day(0):%b} to {day(20).day} {day(20):%b}"
    assert (chart.kind, chart.title) == ("bar", f"Open matching slots per day, {span}")
    assert len(chart.values) == 21  # today and the 20 days ahead
    assert chart.values == [offered.get(i, 0) if i <= 20 else 0 for i in range(21)]
    assert chart.y_max == 5
    assert chart.labels[0] == str(day(0).day)
    # The user's name is shown, escaped, outside the chart; nothing of it reaches Mermaid or raw HTML.
    assert "<img" not in text and "Amsterdam" not in blocks[0]
    assert "### Amsterdam &lt;img src=x&gt; \\`\\`\\`\\]" in text
    assert "Days until the earliest matching slot, " in text


def test_six_weeks_at_most_and_repeated_day_numbers_stay_separate_bars(
    run: Run, workdir: Workdir, ind: FakeIND
) -> None:
    workdir.write_config(alert_config())
    offered = {2: 1, 31: 2, 41: 3, 42: 7}  # day 42 is the 43rd day: past the six weeks drawn
    ind.set_slots("AM", "DOC", 1, slots_on(offered))

    result = run("--dry-run")

    assert result.returncode == 0, result.stderr
    chart = parse_chart(mermaid_blocks(summary(workdir))[0])
    assert len(chart.values) == 42
    assert chart.values == [offered.get(i, 0) for i in range(42)]
    assert chart.y_max == 3


def test_nothing_open_is_one_line_and_no_empty_chart(run: Run, workdir: Workdir, ind: FakeIND) -> None:
    workdir.write_config(alert_config(extra="days_ahead = 10"))
    ind.set_slots("AM", "DOC", 1, slots_on({30: 2}))  # open, but outside the alert's range

    result = run("--dry-run")

    assert result.returncode == 0, result.stderr
    text = summary(workdir)
    assert mermaid_blocks(text) == []
    assert f"No matching slot is open until {day(10).day} {day(10):%b}." in text
    assert f"no matching slot is open until {day(10).day} {day(10):%b}" in result.stdout


def test_dry_run_prints_a_week_per_line_calendar_and_the_trend(run: Run, workdir: Workdir, ind: FakeIND) -> None:
    workdir.write_config(alert_config(extra="days_ahead = 13"))
    offered = {1: 2, 2: 1, 8: 4}
    ind.set_slots("AM", "DOC", 1, slots_on(offered))

    result = run("--dry-run")

    assert result.returncode == 0, result.stderr
    weeks = re.findall(r"^    (w\d\d .*)$", result.stdout, flags=re.MULTILINE)
    cells = [cell for line in weeks for cell in re.findall(r"([A-Z][a-z]) (\d+)", line)]
    assert [n for _, n in cells] == [str(offered.get(i, 0)) for i in range(14)]
    assert [name for name, _ in cells] == [f"{day(i):%a}"[:2] for i in range(14)]
    assert [line.split()[0] for line in weeks] == sorted({f"w{day(i).isocalendar().week:02d}" for i in range(14)})
    assert f"days until the earliest slot, {day(0).day} {day(0):%b}: 1" in result.stdout


# ------------------------------------------------------------------ history


@dataclass
class Clock:
    now: float

    def __call__(self) -> float:
        return self.now


def runner(config_path: Path, state_path: Path, env: dict[str, str], clock: Clock) -> Any:
    config = ind_alert.load_config(config_path)
    return ind_alert.runner_for(config, env, store=ind_alert.FileStore(state_path), clock=clock)


def history(state_path: Path, name: str = "Amsterdam DOC") -> dict[str, Any]:
    doc = json.loads(state_path.read_text(encoding="utf-8"))
    return dict(doc["alerts"].get(name, {}).get("history", {}))


def test_history_keeps_the_first_successful_check_of_each_day_and_30_days_at_most(
    workdir: Workdir, ind: FakeIND, env: dict[str, str]
) -> None:
    workdir.write_config(alert_config())
    start = datetime.now(AMSTERDAM).replace(hour=8, minute=0, second=0, microsecond=0)
    clock = Clock(start.timestamp())
    expected: dict[str, str | None] = {}
    for n in range(40):
        morning = start + timedelta(days=n)
        first = morning.date() + timedelta(days=40 - n)  # the earliest slot comes closer every day
        clock.now = morning.timestamp()
        if n % 7 == 3:  # IND fails at the first check of the day: that check records nothing
            ind.set_raw("AM", "DOC", 1, status=500, body="oops")
            assert runner(workdir.config, workdir.state, env, clock).run() == 0
            assert morning.date().isoformat() not in history(workdir.state)
        if n % 5 == 4:
            ind.set_slots("AM", "DOC", 1, [])  # nothing open at the day's first check
            expected[morning.date().isoformat()] = None
        else:
            ind.set_slots("AM", "DOC", 1, [(first.isoformat(), "09:00", "09:10")])
            expected[morning.date().isoformat()] = first.isoformat()
        assert runner(workdir.config, workdir.state, env, clock).run() == 0
        # A later check the same day sees a sooner slot: the day's point stays the first one.
        clock.now = (morning + timedelta(hours=6)).timestamp()
        ind.set_slots("AM", "DOC", 1, [((morning + timedelta(days=1)).date().isoformat(), "09:00", "09:10")])
        assert runner(workdir.config, workdir.state, env, clock).run() == 0

    kept = history(workdir.state)
    assert len(kept) == 30
    assert kept == dict(sorted(expected.items())[-30:])


def test_an_idle_run_on_the_same_day_writes_nothing(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    workdir.write_config(alert_config())
    ind.set_slots("AM", "DOC", 1, slots_on({5: 1}))
    assert run().returncode == 0
    before = workdir.state.stat()
    assert history(workdir.state) == {day(0).isoformat(): day(5).isoformat()}

    result = run("-v")

    assert result.returncode == 0, result.stderr
    after = workdir.state.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert "state saved" not in result.stderr
    assert len(pushover.delivered) == 1


def test_an_alert_that_left_the_config_keeps_no_history(run: Run, workdir: Workdir, ind: FakeIND) -> None:
    workdir.write_config(alert_config("Old") + alert_config("Kept"))
    ind.set_slots("AM", "DOC", 1, slots_on({5: 1}))
    assert run().returncode == 0
    assert history(workdir.state, "Old") and history(workdir.state, "Kept")

    workdir.write_config(alert_config("Kept"))
    assert run().returncode == 0

    doc = json.loads(workdir.state.read_text(encoding="utf-8"))
    assert list(doc["alerts"]) == ["Kept"]


@pytest.mark.parametrize(
    ("history_doc", "why"),
    [
        ({"2026-13-01": "2026-12-01"}, "key not a date"),
        ({"yesterday": None}, "key not ISO"),
        ({"2026-11-23": "soon"}, "value not a date"),
        ({"2026-11-23": 9}, "value a number"),
        (["2026-11-23"], "not an object"),
    ],
)
def test_a_malformed_history_is_refused_never_read_as_empty(history_doc: Any, why: str) -> None:
    text = json.dumps({"version": ind_alert.STATE_VERSION, "alerts": {"A": {"sent": {}, "history": history_doc}}})
    with pytest.raises(ind_alert.StateError, match=r'alert "A": history (has a malformed date|is not an object)'):
        ind_alert.state_from_json(text, "seen.json")


def test_history_round_trips_keeps_30_points_and_merges_with_the_stored_point_winning() -> None:
    points = {(date(2026, 1, 1) + timedelta(days=i)).isoformat(): None if i % 3 else "2026-03-01" for i in range(35)}
    text = json.dumps({"version": ind_alert.STATE_VERSION, "alerts": {"A": {"sent": {}, "history": points}}})
    state = ind_alert.state_from_json(text, "seen.json")
    assert state.alerts["A"].history == dict(sorted(points.items())[-30:])
    assert ind_alert.state_from_json(ind_alert.state_to_json(state), "x") == state

    ours = ind_alert.State({"A": ind_alert.AlertState(history={"2026-02-01": "2026-03-01", "2026-02-02": None})})
    theirs = ind_alert.State({"A": ind_alert.AlertState(history={"2026-02-02": "2026-02-20", "2026-01-31": None})})
    merged = ind_alert.merge_states(ours, theirs).alerts["A"].history
    assert merged == {"2026-01-31": None, "2026-02-01": "2026-03-01", "2026-02-02": "2026-02-20"}


def test_no_history_key_is_written_for_an_alert_without_points() -> None:
    state = ind_alert.State({"A": ind_alert.AlertState(sent={"me": frozenset({"2026-12-01 09:00-09:10"})})})
    assert "history" not in json.loads(ind_alert.state_to_json(state))["alerts"]["A"]


# ------------------------------------------------------------------ public channels

PUBLIC = """
[recipients.public]
apprise_url_env = "APPRISE_URL"
per_slot = true
max_messages = 3
"""


def test_per_slot_sends_one_message_per_slot_and_the_last_lists_the_rest(
    run: Run, workdir: Workdir, ind: FakeIND, apprise_server: AppriseServer
) -> None:
    workdir.write_config(PUBLIC + alert_config("Private: my family's DOC"))
    offered = slots_on({3: 2, 6: 1, 7: 1, 9: 1})  # five new slots, three messages at most
    ind.set_slots("AM", "DOC", 1, offered)

    result = run()

    assert result.returncode == 0, result.stderr
    posts = apprise_server.delivered
    assert len(posts) == 3
    first, second, last = (str(p["message"]) for p in posts)
    assert f"{day(3):%A} {day(3).day} {day(3):%B %Y}, 09:00-09:10" in first
    assert f"{day(3):%A} {day(3).day} {day(3):%B %Y}, 10:00-10:10" in second
    assert f"{day(6):%A} {day(6).day} {day(6):%B %Y}, 09:00-09:10" in last
    more = f"+2 more: {day(7):%a} {day(7).day} {day(7):%b} 09:00, {day(9):%a} {day(9).day} {day(9):%b} 09:00"
    assert more in last
    for post in posts:
        assert "IND Amsterdam" in post["title"] and "Collect residence document" in post["message"]
        assert str(post["message"]).splitlines()[-1] == "https://oap.ind.nl/oap/en/#/DOC"
        assert "Private" not in json.dumps(post) and "family" not in json.dumps(post)
    sent = json.loads(workdir.state.read_text(encoding="utf-8"))["alerts"]["Private: my family's DOC"]["sent"]
    assert sorted(sent["public"]) == sorted(f"AM {d} {s}-{e}" for d, s, e in offered)

    assert run().returncode == 0  # nothing new: nothing posted again
    assert len(apprise_server.received) == 3


def test_per_slot_under_the_cap_sends_each_slot_alone(
    run: Run, workdir: Workdir, ind: FakeIND, apprise_server: AppriseServer
) -> None:
    workdir.write_config(PUBLIC + alert_config())
    ind.set_slots("AM", "DOC", 1, slots_on({3: 1, 4: 1, 5: 1}))

    assert run().returncode == 0

    assert len(apprise_server.delivered) == 3
    assert not any("more" in str(p["message"]) for p in apprise_server.delivered)


def test_a_failed_per_slot_post_marks_nothing_after_it_and_the_next_run_sends_it(
    run: Run, workdir: Workdir, ind: FakeIND, apprise_server: AppriseServer
) -> None:
    workdir.write_config(PUBLIC + alert_config())
    ind.set_slots("AM", "DOC", 1, slots_on({3: 1, 4: 1}))
    apprise_server.status = 500

    result = run()

    assert result.returncode == 0
    assert len(apprise_server.received) == 1  # stops at the first failure
    assert not workdir.state.exists() or "sent" not in json.loads(workdir.state.read_text(encoding="utf-8"))[
        "alerts"
    ].get("Amsterdam DOC", {}).get("sent", {}).get("public", [])
    apprise_server.status = 200
    assert run().returncode == 0
    assert len(apprise_server.delivered) == 2


def test_max_messages_without_per_slot_is_a_config_error(run: Run, workdir: Workdir) -> None:
    workdir.write_config('[recipients.me]\npushover_user_env = "PUSHOVER_USER"\nmax_messages = 3\n' + alert_config())

    result = run("--dry-run")

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: alerts.toml [recipients.me]: max_messages only applies with per_slot = true"
    ]


def test_pushes_for_cuts_the_rest_list_to_fit_a_message() -> None:
    alert = ind_alert.Alert("A", "AM", "DOC")
    now = datetime.now(AMSTERDAM)
    start = now.replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=1)
    slots = [
        ind_alert.Slot(start + timedelta(minutes=10 * i), start + timedelta(minutes=10 * i + 5), "AM")
        for i in range(300)
    ]
    recipient = ind_alert.Recipient("public", apprise_url_env="X", per_slot=True, max_messages=2)

    pushes = ind_alert.pushes_for(alert, recipient, slots, now)

    assert [len(covered) for _, covered in pushes] == [1, 299]
    last = pushes[-1][0]
    assert len(last.message) <= ind_alert.MESSAGE_LIMIT
    assert "+298 more: " in last.message and last.message.endswith(", …")


# ------------------------------------------------------------------ rendered with the real Mermaid CLI

MERMAID_DIR = Path(__file__).parent / "mermaid"


def mermaid_cli() -> tuple[str, str] | None:
    """The Mermaid CLI and a browser for it, if both are here (CI installs them; see .ci/run)."""
    local = MERMAID_DIR / "node_modules" / ".bin" / "mmdc"
    mmdc = os.environ.get("MMDC") or (str(local) if local.exists() else shutil.which("mmdc"))
    browsers = [os.environ.get("MERMAID_BROWSER", ""), "/usr/bin/chromium", "/usr/bin/google-chrome"]
    browser = next((b for b in browsers if b and Path(b).exists()), None)
    return (mmdc, browser) if mmdc and browser else None


@pytest.mark.skipif(
    mermaid_cli() is None and not os.environ.get("MERMAID_REQUIRED"),
    reason="Mermaid CLI or Chromium not installed (CI installs them)",
)
def test_the_summary_charts_render_with_the_real_mermaid_cli(
    run: Run, workdir: Workdir, ind: FakeIND, tmp_path: Path
) -> None:
    tools = mermaid_cli()
    assert tools, "MERMAID_REQUIRED is set but the Mermaid CLI or Chromium is missing"
    mmdc, browser = tools
    workdir.write_config(alert_config(HOSTILE_NAME, "days_ahead = 27"))
    ind.set_slots("AM", "DOC", 1, slots_on({1: 2, 3: 1, 4: 5, 9: 1, 20: 3}))
    yesterday = day(-1).isoformat()
    points = {(day(-29 + i)).isoformat(): day(20 - i // 2).isoformat() for i in range(29)}
    workdir.state.parent.mkdir(parents=True, exist_ok=True)
    now = int(time.time())
    appeared = [
        ["DOC", f"AM {day(30)} 0{i}:00-0{i}:10", now - 3600 * i, now - 3600 * i - 600, None, None] for i in range(5)
    ]
    workdir.state.write_text(
        json.dumps(
            {
                "version": ind_alert.STATE_VERSION,
                "alerts": {HOSTILE_NAME: {"sent": {}, "history": points}},
                "lifetimes": {"watched": {"DOC AM": now - 86400}, "slots": appeared},  # the third chart
            }
        ),
        encoding="utf-8",
    )
    assert yesterday in points
    assert run().returncode == 0
    blocks = mermaid_blocks(summary(workdir))
    assert [parse_chart(b).kind for b in blocks] == ["bar", "line", "bar"]
    config = tmp_path / "puppeteer.json"
    args = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]
    args += ["--disable-component-update", "--disable-sync", "--no-first-run"]
    config.write_text(json.dumps({"executablePath": browser, "args": args}), encoding="utf-8")
    markdown = tmp_path / "summary.md"
    markdown.write_text(summary(workdir), encoding="utf-8")

    done = subprocess.run(
        [mmdc, "-q", "-p", str(config), "-i", str(markdown), "-o", str(tmp_path / "out.md"), "-e", "svg"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    svgs = sorted(tmp_path.glob("out-*.svg"))
    assert len(svgs) == 3
    bars = svgs[0].read_text(encoding="utf-8")
    assert "Open matching slots per day" in bars and "Syntax error" not in bars
    assert "Days until the earliest matching slot" in svgs[1].read_text(encoding="utf-8")
    assert "New matching slots by hour of day" in svgs[2].read_text(encoding="utf-8")
