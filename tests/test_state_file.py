"""The state file: its exact bytes, what is refused, upgrades, merging two runs, and saving it safely."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from records import FULL_STATE, NEXT_MONTH, NEXT_WEEK, TOMORROW

# The script is a module at the repository root, not a package: make it importable however pytest is run.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


import ind_alert  # noqa: E402
from ind_alert import AlertState, Emergency, State, StateError  # noqa: E402


def test_the_state_survives_a_round_trip_through_json() -> None:
    text = ind_alert.state_to_json(FULL_STATE)
    assert ind_alert.state_from_json(text, "seen.json") == FULL_STATE
    assert ind_alert.state_to_json(ind_alert.state_from_json(text, "seen.json")) == text


def test_the_state_file_has_sorted_keys_two_space_indent_and_a_trailing_newline() -> None:
    text = ind_alert.state_to_json(FULL_STATE)
    doc = json.loads(text)
    assert text == json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert text.endswith("}\n")
    assert not text.endswith("\n\n")
    assert '\n  "alerts": {\n' in text
    assert doc["version"] == 3
    assert doc["alerts"]["Amsterdam biometrics"]["sent"]["me"] == sorted([TOMORROW.id, NEXT_WEEK.id])


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(State(), id="an empty state"),
        pytest.param(State(repository="someone/ind-alert"), id="an empty state claims no repository"),
        pytest.param(
            State({"gone": AlertState(sent={"me": frozenset()})}, "someone/ind-alert"),
            id="an alert with nothing sent is not written",
        ),
    ],
)
def test_an_empty_state_has_one_canonical_form(state: State) -> None:
    text = ind_alert.state_to_json(state)
    assert text == '{\n  "alerts": {},\n  "version": 3\n}\n'
    assert json.loads(text) == {"alerts": {}, "version": 3}


def test_the_state_file_in_this_checkout_is_a_state_the_script_reads() -> None:
    # Empty in the project's release, full of pushed slots in a copy in use: valid either way. That the
    # release ships it empty is checked by .ci/run, not here, so a user's copy stays green.
    text = (ROOT / "state" / "seen.json").read_text(encoding="utf-8")
    assert isinstance(ind_alert.state_from_json(text, "state/seen.json"), State)


def test_a_non_ascii_alert_name_is_written_readably() -> None:
    state = State(
        {"Den Haag: ophalen verblijfsdocument, één persoon": AlertState(sent={"me": frozenset({TOMORROW.id})})}
    )
    text = ind_alert.state_to_json(state)
    assert "één" in text
    assert ind_alert.state_from_json(text, "x") == state


@pytest.mark.parametrize(
    ("text", "why"),
    [
        pytest.param("", "not JSON", id="an empty file is refused"),
        pytest.param('{"version": 2, "alerts": {', "not JSON", id="a truncated file is refused"),
        pytest.param("<<<<<<< HEAD\n", "not JSON", id="a merge conflict is refused"),
        pytest.param("[" * 100_000, "not JSON", id="a deeply nested document is refused"),
        pytest.param("[]", "not a JSON object", id="a list is refused"),
        pytest.param('{"alerts": {}}', "no version this ind-alert reads (3)", id="a file without a version is refused"),
        pytest.param('{"version": 4, "alerts": {}}', "version 4 is newer", id="a newer version is refused"),
        pytest.param('{"version": "1", "alerts": {}}', "no version", id="a version as text is refused"),
        pytest.param('{"version": true, "alerts": {}}', "no version", id="a version true is refused"),
        pytest.param('{"version": 2.0, "alerts": {}}', "no version", id="a version as a float is refused"),
        pytest.param('{"version": 2, "alerts": {}, "seen": []}', "unknown keys", id="an unknown key is refused"),
        pytest.param('{"version": 2, "alerts": {}, "alerts": {}}', '"alerts" appears twice', id="a key twice"),
        pytest.param(
            '{"version": 2, "alerts": {"a": {"sent": {"me": [], "me": []}}}}',
            '"me" appears twice',
            id="a key twice deep inside is refused",
        ),
        pytest.param('{"version": 2}', "alerts is not an object", id="a file without alerts is refused"),
        pytest.param('{"version": 2, "alerts": []}', "alerts is not an object", id="alerts as a list are refused"),
        pytest.param(
            '{"version": 2, "alerts": {"a": {"sent": {"me": ["AM 2026-10-05 9:00-9:10"]}}}}',
            "malformed slot",
            id="a malformed slot id is refused",
        ),
        pytest.param(
            '{"version": 2, "alerts": {"a": {"sent": {"me": ["2026-10-05 09:00-09:10"]}}}}',
            "malformed slot",
            id="a version-1 slot id in a version-2 file is refused",
        ),
        pytest.param(
            '{"version": 2, "alerts": {"a": {"sent": {"me": "AM 2026-10-05 09:00-09:10"}}}}',
            "is not a list",
            id="a slot id that is not in a list is refused",
        ),
        pytest.param(
            '{"version": 2, "alerts": {"a": {"sent": ["AM 2026-10-05 09:00-09:10"]}}}',
            "sent is not an object",
            id="sent slots without recipients are refused",
        ),
        pytest.param(
            '{"version": 2, "alerts": {"a": {"emergencies": {"t": {"slots": []}}}}}',
            "bad emergency",
            id="an emergency without expiry is refused",
        ),
        pytest.param(
            '{"version": 2, "alerts": {"a": {"failing_since": "yesterday"}}}',
            "failing_since is not a time",
            id="a failing_since that is not a time is refused",
        ),
        pytest.param(
            '{"version": 2, "alerts": {"a": {"failing_since": "12"}}}',
            "failing_since is not a time",
            id="a failing_since as text is refused",
        ),
        pytest.param(
            '{"version": 2, "alerts": {"a": {"failing_since": 1e400}}}',
            "failing_since is not a time",
            id="a failing_since too large for a float is refused",
        ),
        pytest.param(
            '{"version": 2, "alerts": {"a": {"failing_since": Infinity}}}',
            "Infinity is not a number",
            id="Infinity is refused",
        ),
        pytest.param(
            '{"version": 2, "alerts": {"a": {"failing_since": ' + "9" * 5000 + "}}}",
            "not JSON",
            id="a huge integer is refused",
        ),
        pytest.param(
            '{"version": 2, "alerts": {"a": {"failing_since": 99999999999999999999}}}',
            "failing_since is not a time",
            id="a time beyond any clock is refused",
        ),
        pytest.param(
            '{"version": 2, "alerts": {"a": {"blind_notified": "false"}}}',
            "blind_notified is not true or false",
            id="blind_notified as text is refused",
        ),
        pytest.param(
            '{"version": 2, "alerts": {"a": {"sent": {}, "seen": []}}}',
            "unknown keys",
            id="an unknown key inside an alert is refused",
        ),
        pytest.param(
            '{"version": 2, "alerts": {"a": {"history": {"2026-11-31": null}}}}',
            "history has a malformed date",
            id="a history day that does not exist is refused",
        ),
        pytest.param('{"version": 2, "alerts": {}, "quota_notified": "x"}', "quota_notified", id="a bad quota"),
        pytest.param('{"version": 2, "alerts": {}, "validated": {}}', "bad validated", id="a bad validation"),
    ],
)
def test_an_unreadable_state_is_refused_never_read_as_empty(text: str, why: str) -> None:
    with pytest.raises(StateError) as caught:
        ind_alert.state_from_json(text, "state/seen.json")
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert "state/seen.json" in message
    assert why in message
    assert "left untouched" in message


def test_merging_two_states_keeps_every_slot_either_run_pushed() -> None:
    ours = State(
        {
            "a": AlertState(
                sent={"me": frozenset({TOMORROW.id}), "partner": frozenset({NEXT_WEEK.id})},
                emergencies={"t1": Emergency(frozenset({TOMORROW.id}), 100)},
            ),
            "b": AlertState(sent={"me": frozenset({NEXT_MONTH.id})}),
        },
        repository="me/ours",
        quota_notified=10,
    )
    theirs = State(
        {
            "a": AlertState(
                sent={"me": frozenset({NEXT_WEEK.id}), "sms": frozenset({TOMORROW.id})},
                emergencies={"t2": Emergency(frozenset({NEXT_WEEK.id}), 200)},
            ),
            "c": AlertState(sent={"me": frozenset({TOMORROW.id})}),
        },
        repository="me/theirs",
        quota_notified=20,
    )
    merged = ind_alert.merge_states(ours, theirs)
    assert dict(merged.alerts["a"].sent) == {
        "me": frozenset({TOMORROW.id, NEXT_WEEK.id}),
        "partner": frozenset({NEXT_WEEK.id}),
        "sms": frozenset({TOMORROW.id}),
    }
    assert dict(merged.alerts["a"].emergencies) == {
        "t1": Emergency(frozenset({TOMORROW.id}), 100),
        "t2": Emergency(frozenset({NEXT_WEEK.id}), 200),
    }
    assert merged.alerts["b"] == ours.alerts["b"]
    assert merged.alerts["c"] == theirs.alerts["c"]
    assert merged.quota_notified == 20
    assert merged.repository == "me/ours"


def test_merging_with_an_empty_state_changes_nothing() -> None:
    assert ind_alert.state_to_json(ind_alert.merge_states(FULL_STATE, State())) == ind_alert.state_to_json(FULL_STATE)


@pytest.mark.parametrize(
    ("ours", "theirs", "kept"),
    [
        pytest.param(None, "theirs", "theirs", id="only the other run checked the secrets today"),
        pytest.param("ours", None, "ours", id="only ours did"),
        pytest.param("ours", "theirs", "ours", id="both did: ours, the newer"),
    ],
)
def test_merging_keeps_the_days_secret_check_either_run_made(ours: str | None, theirs: str | None, kept: str) -> None:
    """Catches a merge that loses the day's Pushover check (the next run would ask Pushover again)."""
    checks = {name: ind_alert.Validation(f"fp-{name}", f"key-{name}", "2026-11-23") for name in ("ours", "theirs")}
    merged = ind_alert.merge_states(
        State(validated=checks[ours] if ours else None), State(validated=checks[theirs] if theirs else None)
    )
    assert merged.validated == checks[kept]


@pytest.mark.parametrize(
    ("mine", "other", "failing_since"),
    [
        pytest.param(AlertState(failing_since=300), AlertState(), 300, id="our check failed: the outage goes on"),
        pytest.param(
            AlertState(failing_since=300), AlertState(failing_since=200), 200, id="both failed: since the first"
        ),
        pytest.param(
            AlertState(), AlertState(failing_since=200), None, id="our newer check answered: the outage is over"
        ),
        pytest.param(
            AlertState(),
            AlertState(failing_since=200, blind_notified=True),
            200,
            id="over, but the blind push went out: kept for its checking-again push",
        ),
    ],
)
def test_merging_keeps_an_outage_while_our_newer_check_still_fails_or_its_blind_push_awaits_an_answer(
    mine: AlertState, other: AlertState, failing_since: int | None
) -> None:
    merged = ind_alert.merge_states(State({"a": mine}), State({"a": other}))
    assert merged.alerts["a"].failing_since == failing_since


@pytest.fixture
def store(tmp_path: Path) -> ind_alert.FileStore:
    return ind_alert.FileStore(tmp_path / "state" / "seen.json")


def test_a_missing_state_file_loads_as_empty(store: ind_alert.FileStore) -> None:
    assert store.load() == State()
    assert store.loaded is None


def test_an_empty_state_is_not_written_where_there_was_no_file(store: ind_alert.FileStore) -> None:
    store.load()
    assert store.save(State()) is None
    assert not store.path.exists()


def test_a_changed_state_is_written_in_full_and_nothing_else_is_left_behind(store: ind_alert.FileStore) -> None:
    assert store.save(FULL_STATE) == FULL_STATE
    assert store.path.read_text(encoding="utf-8") == ind_alert.state_to_json(FULL_STATE)
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["seen.json"]
    assert store.load() == FULL_STATE
    assert store.loaded == ind_alert.state_to_json(FULL_STATE)


def test_an_unchanged_state_is_not_rewritten(store: ind_alert.FileStore) -> None:
    store.save(FULL_STATE)
    os.utime(store.path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    before = store.path.read_bytes(), store.path.stat().st_mtime_ns
    state = store.load()
    assert store.save(state) is None
    assert store.save(ind_alert.state_from_json(before[0].decode(), "x")) is None
    assert (store.path.read_bytes(), store.path.stat().st_mtime_ns) == before


def test_a_second_save_in_one_run_writes_only_what_changed_since_the_first(store: ind_alert.FileStore) -> None:
    store.load()
    assert store.save(FULL_STATE) == FULL_STATE
    assert store.save(FULL_STATE) is None  # the store remembers what it wrote, not only what it loaded
    assert store.save(State()) == State()
    assert store.path.read_text(encoding="utf-8") == ind_alert.state_to_json(State())


def test_a_symlinked_state_file_is_written_through_to_its_target(store: ind_alert.FileStore, tmp_path: Path) -> None:
    real = tmp_path / "elsewhere" / "seen.json"
    real.parent.mkdir()
    real.write_text(ind_alert.state_to_json(State()), encoding="utf-8")
    store.path.parent.mkdir(parents=True)
    store.path.symlink_to(real)
    store.load()
    store.writable()
    assert store.save(FULL_STATE) == FULL_STATE
    assert store.path.is_symlink()
    assert real.read_text(encoding="utf-8") == ind_alert.state_to_json(FULL_STATE)


def test_a_read_only_state_file_is_refused_before_anything_is_pushed(store: ind_alert.FileStore) -> None:
    store.save(FULL_STATE)
    store.path.chmod(0o444)
    with pytest.raises(StateError) as caught:
        store.writable()
    assert caught.value.exit_code == 1
    assert str(caught.value) == f"{store.path} is read-only: make it writable (chmod u+w) so pushes can be recorded"


def test_a_state_folder_that_cannot_be_created_is_refused_before_anything_is_pushed(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("a file where the folder should be", encoding="utf-8")
    store = ind_alert.FileStore(tmp_path / "state" / "seen.json")
    with pytest.raises(StateError) as caught:
        store.writable()
    assert caught.value.exit_code == 1
    assert "cannot be written" in str(caught.value)
    assert "nothing is pushed until it can be" in str(caught.value)


def test_a_version_1_state_is_upgraded_with_each_alert_s_desk_and_nothing_forgotten() -> None:
    legacy = {
        "version": 1,
        "alerts": {
            "Zwolle": {"sent": {"default": ["2026-12-01 09:00-09:10"]}, "failing_since": 1_790_000_000},
            "Gone": {"sent": {"default": ["2026-12-02 09:00-09:10"]}},
            "Urgent": {"emergencies": {"t": {"slots": ["2026-12-03 09:00-09:10"], "expires": 5}}},
        },
        "repository": "someone/ind-alert",
    }
    state = ind_alert.state_from_json(json.dumps(legacy), "x", {"Zwolle": "ZW", "Urgent": "AM"})
    assert state.alerts["Zwolle"] == AlertState(
        sent={"default": frozenset({"ZW 2026-12-01 09:00-09:10"})}, failing_since=1_790_000_000
    )
    assert state.alerts["Urgent"].emergencies == {"t": Emergency(frozenset({"AM 2026-12-03 09:00-09:10"}), 5)}
    assert "Gone" not in state.alerts  # an alert no longer in the config has nothing to keep
    assert json.loads(ind_alert.state_to_json(state))["version"] == ind_alert.STATE_VERSION


def test_an_existing_file_is_replaced_atomically_by_a_rename_in_the_same_directory(
    store: ind_alert.FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save(FULL_STATE)
    renames: list[tuple[Path, Path, str]] = []
    real_replace = os.replace

    def spy(src: Any, dst: Any) -> None:
        renames.append((Path(src), Path(dst), Path(dst).read_text(encoding="utf-8")))
        real_replace(src, dst)

    monkeypatch.setattr(ind_alert.os, "replace", spy)
    store.load()
    token = store.loaded
    assert store.save(State(repository="someone/ind-alert")) is not None
    [(src, dst, seen_by_reader)] = renames
    assert dst == store.path
    assert src.parent == store.path.parent
    assert src != dst
    assert seen_by_reader == token  # until the rename a reader sees the old file, whole
    assert store.path.read_text(encoding="utf-8") == ind_alert.state_to_json(State())
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["seen.json"]


def test_a_failed_save_leaves_the_old_file_and_no_temp_file_and_exits_1(
    store: ind_alert.FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save(FULL_STATE)
    old = store.path.read_bytes()

    def disk_full(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ind_alert.os, "replace", disk_full)
    with pytest.raises(StateError) as caught:
        store.save(State())
    assert caught.value.exit_code == 1
    assert "No space left on device" in str(caught.value)
    assert store.path.read_bytes() == old
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["seen.json"]


def test_an_unreadable_state_file_is_refused_and_left_untouched(store: ind_alert.FileStore) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(b"\xff\xfe{not json")
    with pytest.raises(StateError) as caught:
        store.load()
    assert caught.value.exit_code == 2
    assert store.path.read_bytes() == b"\xff\xfe{not json"


def checked_today(*problems: ind_alert.Problem) -> State:
    return State(validated=ind_alert.Validation("f" * 16, "k" * 32, "2026-12-03", problems))


def test_the_days_secret_check_keeps_its_problems_as_records_never_as_the_lines_it_prints() -> None:
    problems = (
        ind_alert.Problem(ind_alert.Trouble.RECIPIENT, "partner: two", "Pushover rejected the user key in X"),
        ind_alert.Problem(ind_alert.Trouble.SOUND, "Den Haag", 'Pushover has no sound "gong"'),
        ind_alert.Problem(ind_alert.Trouble.TOKEN, "", ind_alert.TOKEN_REJECTED),
    )
    text = ind_alert.state_to_json(checked_today(*problems))

    assert json.loads(text)["validated"]["problems"] == [
        {"kind": "recipient", "subject": "partner: two", "detail": "Pushover rejected the user key in X"},
        {"kind": "sound", "subject": "Den Haag", "detail": 'Pushover has no sound "gong"'},
        {"kind": "token", "subject": "", "detail": ind_alert.TOKEN_REJECTED},
    ]
    assert ind_alert.state_from_json(text, "seen.json") == checked_today(*problems)


def test_a_secret_check_kept_as_printed_lines_by_an_older_release_is_made_again_not_read_back() -> None:
    old = json.loads(ind_alert.state_to_json(checked_today()))
    old["validated"]["problems"] = ["recipient you: Pushover rejected the user key in PUSHOVER_USER: check that secret"]

    state = ind_alert.state_from_json(json.dumps(old), "seen.json")

    assert state.validated is None  # no Pushover answer is taken from words: the next run asks it again
    assert state == State()


@pytest.mark.parametrize(
    "problem",
    [
        {"kind": "planet", "subject": "", "detail": "x"},
        {"kind": "token", "subject": "", "detail": 1},
        {"kind": "token", "detail": "x"},
        {"kind": "token", "subject": "", "detail": "x", "more": "y"},
        ["token", "", "x"],
    ],
)
def test_a_malformed_problem_in_the_secret_check_is_refused(problem: Any) -> None:
    doc = json.loads(ind_alert.state_to_json(checked_today()))
    doc["validated"]["problems"] = [problem]

    with pytest.raises(StateError, match="not a valid ind-alert state"):
        ind_alert.state_from_json(json.dumps(doc), "seen.json")
