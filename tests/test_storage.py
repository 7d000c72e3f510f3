"""Where the state and the alerts file are stored: nothing is pushed unless its record can be written, one
run at a time on a state file, and every input bounded.

The script runs as a subprocess against the loopback fakes, as a user runs it. A full disk is played with a
file-size limit (RLIMIT_FSIZE) set in the child before the script starts: the kernel then refuses every
write past it with EFBIG, as a full disk refuses one with ENOSPC, root included.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import Run
from fakes import SCRIPT, FakeIND, FakePushover, Workdir, full_disk, run_script, slot

if str(SCRIPT.parent) not in sys.path:
    sys.path.insert(0, str(SCRIPT.parent))
import ind_alert

fcntl = pytest.importorskip("fcntl", reason="the lock is POSIX flock")
resource = pytest.importorskip("resource", reason="the file-size limit is POSIX")

NAME = "Amsterdam biometrics"
CONFIG = f'[[alert]]\nname = "{NAME}"\ndesk = "AM"\nproduct = "BIO"\n'


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def known_state(*specs: tuple[str, str, str]) -> str:
    doc = {"version": 2, "alerts": {NAME: {"sent": {"you": sorted(f"AM {d} {s}-{e}" for d, s, e in specs)}}}}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


# ------------------------------------------------------------------ the rehearsal


@pytest.mark.parametrize("room", [0, 50], ids=["no state yet", "a state that cannot be rewritten"])
def test_a_full_disk_pushes_nothing_exits_1_in_one_line_and_the_next_run_pushes_once(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, env: dict[str, str], tmp_path: Path, room: int
) -> None:
    known, new = slot(2, "09:15"), slot(3, "10:00")
    workdir.write_config(CONFIG)
    if room:
        workdir.write("state/seen.json", known_state(known))
    before = workdir.state.read_bytes() if room else None
    ind.set_slots("AM", "BIO", 1, [known, new])

    result = run_script([], env, cwd=workdir.path, script=full_disk(tmp_path, room))

    assert result.returncode == 1, result.output
    assert errors(result.stderr) == [
        (
            "error: state/seen.json cannot be written (File too large): nothing is pushed until it can be,"
            " so no slot is pushed twice"
        )
    ]
    assert pushover.delivered == []
    assert (workdir.state.read_bytes() if room else workdir.state.exists()) == (before if room else False)
    assert sorted(p.name for p in workdir.state.parent.iterdir()) == [".seen.json.lock", *(["seen.json"] * bool(room))]

    again = run_script([], env, cwd=workdir.path)  # room on the disk again

    assert again.returncode == 0, again.output
    assert len(pushover.delivered) == 1
    assert f"AM {new[0]} {new[1]}-{new[2]}" in workdir.read_state()["alerts"][NAME]["sent"]["you"]


def test_a_run_with_nothing_to_push_writes_nothing_not_even_a_rehearsal(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, env: dict[str, str], tmp_path: Path
) -> None:
    known = slot(2, "09:15")
    workdir.write_config(CONFIG)
    ind.set_slots("AM", "BIO", 1, [known])
    assert run_script([], env, cwd=workdir.path).returncode == 0  # pushed, and today's secret check recorded
    mtime = workdir.state.stat().st_mtime_ns

    idle = run_script([], env, cwd=workdir.path, script=full_disk(tmp_path, 1))  # nothing to push: no write

    assert idle.returncode == 0, idle.output
    assert workdir.state.stat().st_mtime_ns == mtime


def test_a_state_too_close_to_the_2_mb_a_run_reads_pushes_nothing_and_says_so(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    workdir.write_config(CONFIG)
    ids = [f"AM 2031-{mo:02d}-{d:02d} {h:02d}:{m:02d}-{h:02d}:{m + 1:02d}" for mo in (1, 2) for d in range(1, 29)
           for h in range(24) for m in range(59)]  # fmt: skip

    def state_of(count: int) -> str:
        return json.dumps({"version": 2, "alerts": {NAME: {"sent": {"you": ids[:count]}}}}, indent=2) + "\n"

    per_id = len(state_of(2)) - len(state_of(1))
    big = state_of((ind_alert.MAX_BODY - ind_alert.STATE_ROOM // 2 - len(state_of(0))) // per_id)
    assert ind_alert.MAX_BODY - ind_alert.STATE_ROOM < len(big) <= ind_alert.MAX_BODY
    workdir.write("state/seen.json", big)
    ind.set_slots("AM", "BIO", 1, [slot(2, "09:15")])

    result = run()

    assert result.returncode == 1
    assert errors(result.stderr) == [
        (
            f"error: state/seen.json is {len(big) / 1e6:.1f} MB, and a run reads back at most 2 MB: nothing is pushed"
            " until it is smaller; fewer alerts, or narrower ones (before, after, weekdays), keep fewer slots"
        )
    ]
    assert pushover.delivered == []
    assert workdir.state.read_text(encoding="utf-8") == big


def test_a_save_never_writes_more_than_a_run_reads_back() -> None:
    with pytest.raises(ind_alert.StateError) as caught:
        ind_alert.state_bytes("x" * (ind_alert.MAX_BODY + 1), "s3://b/k")
    assert caught.value.exit_code == 1
    assert ind_alert.state_bytes("x" * ind_alert.MAX_BODY, "s3://b/k") == b"x" * ind_alert.MAX_BODY


# ------------------------------------------------------------------ a state that cannot be written back


@pytest.mark.parametrize(
    "doc",
    [
        {"version": 2, "alerts": {}, "quota_notified": 1, "quota_told": ["\ud800"]},
        {
            "version": 2,
            "alerts": {},
            "validated": {"fingerprint": "f", "key": "\udfff", "day": "2026-01-01", "problems": []},
        },
    ],
    ids=["quota_told", "validated.key"],
)
def test_a_state_holding_a_lone_surrogate_is_refused_on_load_and_left_untouched(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, doc: dict[str, Any]
) -> None:
    workdir.write_config(CONFIG)
    text = json.dumps(doc)  # ensure_ascii: the file holds the escape \ud800, which is valid JSON
    workdir.write("state/seen.json", text)
    ind.set_slots("AM", "BIO", 1, [slot(2, "09:15")])

    result = run()

    assert result.returncode == 2
    assert errors(result.stderr) == [
        (
            "error: state/seen.json is not a valid ind-alert state (it holds text that is not Unicode (a lone"
            " surrogate like \\ud800)); it was left untouched: fix or move it away"
        )
    ]
    assert pushover.delivered == []
    assert workdir.state.read_text(encoding="utf-8") == text


# ------------------------------------------------------------------ durability


def test_a_save_syncs_the_file_before_the_rename_and_the_folder_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ind_alert.FileStore(tmp_path / "state" / "seen.json")
    store.load()
    done: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        done.append("sync folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "sync file")
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        done.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    state = ind_alert.State(quota_notified=5)

    store.save(state)

    assert done == ["sync file", "rename", "sync folder"]
    assert store.load() == state


# ------------------------------------------------------------------ one run at a time


def test_a_run_that_finds_the_state_locked_waits_a_bounded_time_then_ends_without_checking(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    workdir.write_config(CONFIG)
    ind.set_slots("AM", "BIO", 1, [slot(2, "09:15")])
    workdir.state.parent.mkdir()
    with open(workdir.state.with_name(".seen.json.lock"), "w") as held:  # a --watch in the middle of a check
        fcntl.flock(held, fcntl.LOCK_EX)

        result = run(patch_sleep=True)

    assert result.returncode == 0
    assert result.stderr.splitlines()[-1] == (
        "warning: another ind-alert run is using state/seen.json (it holds .seen.json.lock) and did not finish"
        " within 15 s: this run ends without checking; the other one checks"
    )
    assert result.sleeps == [ind_alert.LOCK_POLL] * (ind_alert.LOCK_TRIES - 1)
    assert ind.hits("AM", "BIO", 1) == 0
    assert pushover.delivered == []
    assert not workdir.state.exists()


def test_a_run_waits_for_the_other_run_s_lock_and_then_reads_what_it_saved(tmp_path: Path) -> None:
    """The second run loads only once it holds the lock, so it sees what the first one recorded."""
    state = tmp_path / "seen.json"
    first = ind_alert.FileStore(state)
    second = ind_alert.FileStore(state)
    recorded = ind_alert.State(quota_notified=5)
    order: list[str] = []
    first_holds = threading.Event()

    def first_run() -> None:
        with first.lock():
            first_holds.set()
            first.load()
            first.save(recorded)
            order.append("first saved")

    with first.lock():  # the first run is still checking when the second one starts
        thread = threading.Thread(target=first_run)
        thread.start()
        thread.join(0.3)
        assert not first_holds.is_set()  # it waits
    thread.join(10)
    with second.lock():
        order.append("second loaded")
        assert second.load() == recorded
    assert order == ["first saved", "second loaded"]


# ------------------------------------------------------------------ bounded inputs


@pytest.mark.parametrize("what", ["state", "config"])
@pytest.mark.parametrize("kind", ["a named pipe", "a device", "a folder"])
def test_a_state_or_alerts_file_that_is_not_a_regular_file_is_refused_in_one_line_at_once(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, what: str, kind: str
) -> None:
    workdir.write_config(CONFIG)
    ind.set_slots("AM", "BIO", 1, [slot(2, "09:15")])
    path = workdir.path / ("odd.json" if what == "state" else "odd.toml")
    if kind == "a named pipe":
        os.mkfifo(path)  # nobody ever writes to it: reading it would wait for ever
    elif kind == "a device":
        path.symlink_to("/dev/zero")  # endless: reading it would fill the memory
    else:
        path.mkdir()

    result = run(f"--{what}", path.name, timeout=20)

    assert result.returncode == 2
    fix = (
        "pass --state with a state file's path; it was left untouched"
        if what == "state"
        else ("pass --config with your alerts.toml")
    )
    assert errors(result.stderr) == [f"error: {path.name} is {kind}, not a file: {fix}"]
    assert pushover.delivered == []


def test_an_alerts_file_over_2_mb_is_refused(workdir: Workdir, run: Run) -> None:
    workdir.write_config(CONFIG + "#" * ind_alert.MAX_BODY + "\n")

    result = run("--dry-run")

    assert result.returncode == 2
    assert errors(result.stderr) == [
        "error: alerts.toml is over 2 MB, not an alerts file (one is a few kB): check --config"
    ]


def test_desk_any_checks_at_most_40_desks_and_says_so(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    workdir.write_config(f'[[alert]]\nname = "{NAME}"\ndesk = "any"\nproduct = "BIO"\n')
    many = [(f"{n:032x}", f"Desk {n}") for n in range(5000)] + [("AM", "IND Amsterdam")]
    ind.set_desks("BIO", many)
    ind.set_slots("AM", "BIO", 1, [slot(2, "09:15")])

    result = run("--dry-run")

    assert result.returncode == 0, result.stderr
    assert (
        f'warning: {NAME}: IND lists 5001 desks for biometrics; desk = "any" checks at most 40, so 4961 are not'
        " checked: name the desks you want (--list-desks)"
    ) in result.stderr.splitlines()
    asked = [r for r in ind.requests if r.path.endswith("/slots")]
    assert len(asked) == ind_alert.MAX_ANY_DESKS
    assert ind.hits("AM", "BIO", 1) == 1  # a desk ind-alert knows comes first


@pytest.mark.parametrize(
    ("day", "start", "end"),
    [
        ("2031-05-06", "08:15Z", "08:25"),
        ("2031-05-06", "11:00:30", "11:10"),
        ("2031-05-06", "11:00", "11:10:00"),
        ("2031-05-06", "8:15", "8:25"),
        ("20310506", "08:15", "08:25"),
        ("2031-05-06T00:00", "08:15", "08:25"),
        ("2031-05-06", "08:15+01:00", "08:25"),
        ("2031-05-06", "\uff10\uff18:15", "08:25"),  # fullwidth digits
    ],
)
def test_ind_dates_and_times_are_read_only_in_the_forms_ind_writes(day: str, start: str, end: str) -> None:
    good = {"date": "2031-05-06", "startTime": "09:00", "endTime": "09:10", "parts": 1}
    body = json.dumps({"status": "OK", "data": [good, {"date": day, "startTime": start, "endTime": end, "parts": 1}]})

    answer = ind_alert.parse_slots(body, "AM")

    assert [s.id for s in answer.slots] == ["AM 2031-05-06 09:00-09:10"]  # the other one skipped as malformed
    assert not answer.complete  # so it shows no slot pushed before to be gone
