"""What was pushed is known by what was asked.

IND's slots sit on a fixed grid, so a slot of another product or number of persons has the same id
(desk, date, times): an alert's state names the kind its slots were pushed for, and changing the
alert's product or persons starts it afresh. A slot is forgotten (and pushed again when it reopens)
only when a complete, successful answer for its desk no longer lists it: a desk that was not asked
this run, failed, or answered with an entry that could not be read keeps what it had.

End to end over several runs against the loopback IND and Pushover, then the state's new key in the
loader and in merge_states.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import Run
from fakes import (
    NAME,
    FakeIND,
    FakePushover,
    Workdir,
    alert_toml,
    configure,
    label,
    ok,
    problems,
    read_state,
    sent_to_you,
    slot_starting,
    spec_id,
)

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import ind_alert  # noqa: E402
from ind_alert import AlertState, Emergency, Kind, State, StateError  # noqa: E402

ANY = "Amsterdam, any desk"
HAARLEM = "6b425ff9f87de136a36b813cccf26e23"
NEW_DESK = "0123456789abcdef0123456789abcdef"  # a desk IND lists that ind-alert's table does not know


def messages(pushover: FakePushover) -> list[str]:
    return [form["message"] for form in pushover.delivered]


def asked(workdir: Workdir, name: str = NAME) -> object:
    return read_state(workdir)["alerts"][name].get("asked")


# =========================================================================== product and persons


def test_changing_the_product_or_persons_pushes_the_new_kinds_slots_at_the_same_times(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    spec = slot_starting(4, "09:00")
    for product in ("BIO", "VAA"):
        for persons in (1, 2):
            ind.set_slots("AM", product, persons, [spec])
    configure(workdir, alert_toml())

    ok(run())
    assert messages(pushover) == [label(spec)]
    assert asked(workdir) == {"product": "BIO", "persons": 1}

    configure(workdir, alert_toml(product="VAA"))
    result = ok(run())
    assert messages(pushover) == [label(spec)] * 2  # the sticker slot at the same time is new
    assert [p["title"] for p in pushover.delivered][-1] == "IND Amsterdam: Residence endorsement sticker: 1 new slot"
    assert any(
        f"{NAME}: now asks for residence endorsement sticker for 1 person, so its open matching slots are pushed"
        " afresh" in line
        for line in problems(result, "notice")
    ), result.stderr
    assert asked(workdir) == {"product": "VAA", "persons": 1}
    assert sent_to_you(workdir, NAME) == [spec_id(spec)]

    ok(run())  # the same kind again: nothing new
    assert len(pushover.delivered) == 2

    configure(workdir, alert_toml(product="VAA", persons=2))
    ok(run())
    assert len(pushover.delivered) == 3
    assert asked(workdir) == {"product": "VAA", "persons": 2}

    configure(workdir, alert_toml())  # back to the first kind: it starts afresh too
    ok(run())
    ok(run())
    assert len(pushover.delivered) == 4
    assert asked(workdir) == {"product": "BIO", "persons": 1}


def test_a_state_that_names_no_kind_is_taken_as_the_configured_one_and_nothing_is_pushed_again(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    spec = slot_starting(4, "09:00")
    ind.set_slots("AM", "VAA", 2, [spec])
    workdir.state.parent.mkdir()
    written = {"version": 3, "alerts": {NAME: {"sent": {"you": [spec_id(spec)]}}}}  # a state from before the key
    workdir.state.write_text(json.dumps(written, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    configure(workdir, alert_toml(product="VAA", persons=2))

    result = ok(run())

    assert pushover.delivered == []
    assert problems(result, "notice") == []
    assert asked(workdir) == {"product": "VAA", "persons": 2}  # recorded once, so a later change is seen
    before = workdir.state.read_bytes()
    ok(run())
    assert workdir.state.read_bytes() == before  # a quiet run writes nothing


def test_an_emergency_push_of_the_old_kind_is_cancelled_and_the_new_kind_rings_with_its_own_tag(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    spec = slot_starting(1, "09:00")
    ind.set_slots("AM", "DOC", 1, [spec])
    ind.set_slots("AM", "VAA", 1, [spec])
    urgent = {"urgent_within_days": 2, "urgent_priority": 2}
    configure(workdir, alert_toml(product="DOC", **urgent))
    ok(run())
    [first] = pushover.delivered
    assert first["priority"] == "2"
    old_tag = first["tags"]

    configure(workdir, alert_toml(product="VAA", **urgent))
    ok(run())

    assert pushover.cancels == [old_tag]  # its slot is of a kind no longer asked for: it stops ringing
    second = pushover.delivered[-1]
    assert second["priority"] == "2" and second["tags"] != old_tag
    emergencies = read_state(workdir)["alerts"][NAME]["emergencies"]
    assert list(emergencies) == [second["tags"]]
    assert emergencies[second["tags"]]["slots"] == [spec_id(spec)]


# =========================================================================== desks not asked this run


def test_a_desk_the_desk_list_leaves_out_for_a_run_keeps_its_pushed_slots(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    here, there = slot_starting(4, "09:00"), slot_starting(5, "10:00")
    ind.set_desks("BIO", [("AM", "IND Amsterdam"), (HAARLEM, "IND Haarlem")])
    ind.set_slots("AM", "BIO", 1, [here])
    ind.set_slots(HAARLEM, "BIO", 1, [there])
    configure(workdir, alert_toml(ANY, desk="any"))
    ok(run())
    assert len(pushover.delivered) == 1
    assert sent_to_you(workdir, ANY) == sorted([spec_id(here), spec_id(there, HAARLEM)])

    ind.set_desks("BIO", [("AM", "IND Amsterdam")], once=True)  # Haarlem is not asked this run
    ok(run())
    assert ind.hits(HAARLEM, "BIO", 1) == 1
    assert sent_to_you(workdir, ANY) == sorted([spec_id(here), spec_id(there, HAARLEM)])

    ok(run())  # listed again: its slot was pushed already
    assert len(pushover.delivered) == 1
    assert ind.hits(HAARLEM, "BIO", 1) == 2


def test_a_desk_not_asked_because_the_desk_list_failed_keeps_its_pushed_slots(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    there = slot_starting(5, "10:00")
    ind.set_desks("BIO", [("AM", "IND Amsterdam"), (NEW_DESK, "IND Somewhere new")])
    ind.set_slots(NEW_DESK, "BIO", 1, [there])
    configure(workdir, alert_toml(ANY, desk="any"))
    ok(run())
    assert len(pushover.delivered) == 1

    for _ in (1, 2):  # the first attempt and its retry
        ind.set_desks_raw("BIO", 503, "<html><body>503</body></html>", once=True)
    ok(run())  # every desk ind-alert knows is asked, not the new one
    assert ind.hits(NEW_DESK, "BIO", 1) == 1
    assert sent_to_you(workdir, ANY) == [spec_id(there, NEW_DESK)]

    ok(run())
    assert len(pushover.delivered) == 1


def test_a_desk_whose_answer_failed_keeps_its_pushed_slots(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    here, there = slot_starting(4, "09:00"), slot_starting(5, "10:00")
    ind.set_slots("AM", "BIO", 1, [here])
    ind.set_slots("DH", "BIO", 1, [there])
    configure(workdir, alert_toml(desk=["AM", "DH"]))
    ok(run())
    for _ in (1, 2):
        ind.set_raw("DH", "BIO", 1, 503, "<html><body>503</body></html>", once=True)
    ok(run())
    ok(run())
    assert len(pushover.delivered) == 1
    assert sent_to_you(workdir, NAME) == sorted([spec_id(here), spec_id(there, "DH")])


# =========================================================================== an answer that is not complete


def test_a_pushed_slot_malformed_in_one_answer_is_not_pushed_again_but_one_gone_from_a_complete_answer_is(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    first, second = slot_starting(4, "09:00"), slot_starting(5, "10:00")
    ind.set_slots("AM", "BIO", 1, [first, second])
    configure(workdir)
    ok(run())
    assert len(pushover.delivered) == 1

    broken = {"date": second[0], "startTime": "10", "endTime": second[2]}  # the second slot, unreadable
    ind.set_slots("AM", "BIO", 1, [first, broken], once=True)
    result = ok(run())
    assert any("malformed slot" in line for line in problems(result)), result.stderr
    assert sent_to_you(workdir, NAME) == sorted([spec_id(first), spec_id(second)])

    ok(run())  # readable again: it was pushed already
    assert len(pushover.delivered) == 1

    ind.set_slots("AM", "BIO", 1, [first], once=True)  # a complete answer without it: it is gone
    ok(run())
    assert sent_to_you(workdir, NAME) == [spec_id(first)]
    ok(run())  # it reopened: pushed again
    assert messages(pushover)[-1] == label(second)
    assert len(pushover.delivered) == 2


# =========================================================================== the state's "asked" key


def one_alert_state_text(record: dict[str, object]) -> str:
    return json.dumps({"version": 3, "alerts": {"a": {"sent": {"you": ["AM 2030-03-04 09:00-09:10"]}, **record}}})


def test_the_loader_reads_the_kind_and_writes_it_back_only_beside_pushed_slots() -> None:
    state = ind_alert.state_from_json(one_alert_state_text({"asked": {"product": "VAA", "persons": 3}}), "s")
    assert state.alerts["a"].asked == Kind("VAA", 3)
    assert json.loads(ind_alert.state_to_json(state))["alerts"]["a"]["asked"] == {"product": "VAA", "persons": 3}
    quiet = State({"a": AlertState(asked=Kind("VAA", 3), history={"2030-03-01": None})})
    assert "asked" not in json.loads(ind_alert.state_to_json(quiet))["alerts"]["a"]
    assert ind_alert.state_to_json(State({"a": AlertState(asked=Kind("BIO", 1))})) == ind_alert.state_to_json(State())
    pending = State({"a": AlertState(emergencies={"t": Emergency(frozenset(), 5)}, asked=Kind("BIO", 1))})
    assert json.loads(ind_alert.state_to_json(pending))["alerts"]["a"]["asked"] == {"product": "BIO", "persons": 1}


@pytest.mark.parametrize(
    "value",
    [
        None,
        "BIO",
        [],
        {"product": "BIO"},
        {"persons": 1},
        {"product": "BIO", "persons": 1, "desk": "AM"},
        {"product": "BIO", "persons": 0},
        {"product": "BIO", "persons": 7},
        {"product": "BIO", "persons": True},
        {"product": "BIO", "persons": 1.0},
        {"product": "bio", "persons": 1},
        {"product": "", "persons": 1},
        {"product": 1, "persons": 1},
    ],
)
def test_the_loader_refuses_a_malformed_kind(value: object) -> None:
    with pytest.raises(StateError, match="asked is not a product and a number of persons"):
        ind_alert.state_from_json(one_alert_state_text({"asked": value}), "s")


BIO, VAA = Kind("BIO", 1), Kind("VAA", 1)
MINE, THEIRS, BOTH = "AM 2030-03-04 09:00-09:10", "AM 2030-03-05 09:00-09:10", "AM 2030-03-06 09:00-09:10"


def pushed(kind: Kind | None, *ids: str, tag: str | None = None) -> State:
    emergencies = {tag: Emergency(frozenset(ids), 10)} if tag else {}
    return State({"a": AlertState(sent={"you": frozenset(ids)}, emergencies=emergencies, asked=kind)})


def test_two_runs_of_the_same_kind_merge_their_pushes() -> None:
    merged = ind_alert.merge_states(pushed(BIO, MINE, BOTH), pushed(BIO, THEIRS, BOTH)).alerts["a"]
    assert merged.sent == {"you": frozenset({MINE, THEIRS, BOTH})}
    assert merged.asked == BIO


@pytest.mark.parametrize(("ours", "theirs"), [(None, BIO), (BIO, None)], ids=["ours names none", "theirs names none"])
def test_a_record_that_names_no_kind_merges_as_the_other_runs_kind(ours: Kind | None, theirs: Kind | None) -> None:
    merged = ind_alert.merge_states(pushed(ours, MINE), pushed(theirs, THEIRS)).alerts["a"]
    assert merged.sent == {"you": frozenset({MINE, THEIRS})}
    assert merged.asked == BIO


def test_runs_of_different_kinds_merge_as_ours_and_their_emergencies_are_left_to_cancel() -> None:
    merged = ind_alert.merge_states(pushed(VAA, MINE, tag="ours"), pushed(BIO, THEIRS, tag="theirs")).alerts["a"]
    assert merged.asked == VAA
    assert merged.sent == {"you": frozenset({MINE})}  # their slots were of another kind
    assert merged.emergencies == {"ours": Emergency(frozenset({MINE}), 10), "theirs": Emergency(frozenset(), 10)}


def test_merge_texts_keeps_the_kind_as_the_commit_script_writes_it() -> None:
    ours = ind_alert.state_to_json(pushed(VAA, MINE))
    theirs = ind_alert.state_to_json(pushed(BIO, THEIRS))
    merged = json.loads(ind_alert.merge_texts(ours, theirs))
    assert merged["alerts"]["a"] == {"sent": {"you": [MINE]}, "asked": {"product": "VAA", "persons": 1}}


# =========================================================================== the pure pieces


def test_for_kind_drops_another_kinds_pushes_and_leaves_its_emergencies_to_cancel() -> None:
    before = pushed(BIO, MINE, tag="t").alerts["a"]
    assert ind_alert.for_kind(before, BIO) == before
    assert ind_alert.for_kind(pushed(None, MINE).alerts["a"], VAA).sent == {"you": frozenset({MINE})}
    after = ind_alert.for_kind(before, VAA)
    assert (after.sent, after.emergencies, after.asked) == ({}, {"t": Emergency(frozenset(), 10)}, VAA)


def test_only_a_complete_answer_for_its_desk_or_its_start_shows_a_pushed_slot_gone() -> None:
    now = ind_alert.datetime(2030, 3, 5, 9, 30, tzinfo=ind_alert.AMSTERDAM)
    later = {"DH 2030-03-06 09:00-09:10", "DH 2030-03-05 09:40-09:50"}
    ids = {"AM 2030-03-06 09:00-09:10", "DH 2030-03-05 09:30-09:40", *later}
    state = AlertState(sent={"you": frozenset(ids)})
    # AM answered completely (its slot, not listed, is gone); DH did not: its later slots are kept, its begun one not.
    assert ind_alert.not_known_gone(state, {"AM"}, now) == later
    assert ind_alert.not_known_gone(state, {"AM", "DH"}, now) == set()


def test_an_answer_with_a_malformed_entry_is_not_complete() -> None:
    good = {"date": "2030-03-05", "startTime": "10:00", "endTime": "10:10"}
    body = json.dumps({"status": "OK", "data": [good, {**good, "startTime": "10"}]})
    assert not ind_alert.parse_slots(body, "AM").complete
    assert ind_alert.parse_slots(json.dumps({"status": "OK", "data": [good]}), "AM").complete
    assert ind_alert.parse_slots(json.dumps({"status": "OK", "data": []}), "AM") == ind_alert.Answer(())
