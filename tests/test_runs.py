"""End to end: ``python ind_alert.py`` run as a user runs it, against loopback IND and Pushover.

Every test starts the real script in a scratch directory (the ``run`` fixture) and looks only at what
a user or the workflow can see: exit codes, stdout and stderr lines, the pushes Pushover received, the
requests IND received, the bytes of ``state/seen.json`` and the GitHub job summary.

The script reads the real clock, so slot dates are built relative to today in Amsterdam (``day(n)``).
Nothing here waits for real: the Pushover retry wait is recorded (``patch_sleep=True``), and no test
lets IND hang (that path is bounded by the script's 20 s read timeout, which is far too slow here).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path

import pytest
from conftest import FAKE_TOKEN, FAKE_USER, Run
from fakes import (
    HTML_MAINTENANCE,
    NAME,
    XSSI_PREFIX,
    FakeIND,
    FakePushover,
    ScriptResult,
    Workdir,
    alert_toml,
    configure,
    day,
    ind_body,
    label,
    lines,
    ok,
    problems,
    read_state,
    sent_to_you,
    slot_starting,
    spec_id,
    strip_xssi,
    summary_rows,
)

REPO = Path(__file__).resolve().parent.parent
BIO_URL = "https://oap.ind.nl/oap/en/#/BIO"
ASKED = {"product": "BIO", "persons": 1}  # the kind its pushed slots are recorded for


def moved(body: str, first_offset: int) -> tuple[str, list[tuple[str, str, str]]]:
    """A recorded IND body with its dates moved so its first slot falls ``first_offset`` days from today,
    and its slots listed in reverse (IND's order is not guaranteed).

    Returns the new body (recorded keys, ``parts`` and prefix kept) and its slots as specs.
    """
    doc = json.loads(strip_xssi(body))
    shift = day(first_offset) - date.fromisoformat(doc["data"][0]["date"])
    for item in doc["data"]:
        item["date"] = (date.fromisoformat(item["date"]) + shift).isoformat()
    doc["data"].reverse()
    specs = [(item["date"], item["startTime"], item["endTime"]) for item in doc["data"]]
    return XSSI_PREFIX + json.dumps(doc, separators=(",", ":")), specs


def write_sent_state(workdir: Workdir, sent: Mapping[str, Sequence[tuple[str, str, str]]], **top: object) -> bytes:
    """A state file as the script writes it, with these slots already pushed to the default recipient."""
    alerts = {name: {"sent": {"you": sorted(spec_id(s) for s in specs)}} for name, specs in sent.items()}
    doc = {"version": 2, "alerts": alerts, **top}
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    workdir.state.parent.mkdir(parents=True, exist_ok=True)
    workdir.state.write_text(text, encoding="utf-8")
    return text.encode()


def push_for(pushover: FakePushover, text: str) -> dict[str, str]:
    """The one delivered push whose message contains ``text``."""
    found = [form for form in pushover.delivered if text in form["message"]]
    assert len(found) == 1, f"{len(found)} pushes contain {text!r}: {pushover.delivered}"
    return found[0]


# =========================================================================== the watcher: first run and after


def test_it_pushes_new_slots_on_the_first_run(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, load_fixture: Callable[[str], str]
) -> None:
    body, specs = moved(load_fixture("slots-bio-am-1p.txt"), 1)
    ind.set_raw("AM", "BIO", 1, 200, body)
    configure(workdir, alert_toml(priority=1, sound="siren"))

    result = ok(run())

    assert len(pushover.delivered) == 1
    push = pushover.delivered[0]
    assert push["title"] == "IND Amsterdam: Biometrics: 6 new slots"
    assert push["message"].split("\n") == [label(s) for s in sorted(specs)]
    assert push["url"] == BIO_URL
    assert push["url_title"] == "Book at IND (IND Amsterdam)"
    assert push["priority"] == "1"
    assert push["sound"] == "siren"
    assert (push["token"], push["user"]) == (FAKE_TOKEN, FAKE_USER)
    assert f"{NAME}: 6 open, 6 match, 6 new, pushed" in lines(result.stdout)
    assert "Pushover quota: 8999 of 10000 messages left this month" in lines(result.stdout)
    assert result.stderr == ""
    assert sent_to_you(workdir, NAME) == sorted(spec_id(s) for s in specs)


def test_one_new_slot_gives_a_plain_push_and_a_sorted_indented_state_file(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    spec = slot_starting(3, "11:06", "11:13")
    ind.set_slots("AM", "BIO", 1, [spec])
    configure(workdir)

    ok(run())

    push = pushover.delivered[0]
    assert push["title"] == "IND Amsterdam: Biometrics: 1 new slot"
    assert push["message"] == label(spec)
    assert push["priority"] == "0"
    assert "sound" not in push
    assert "retry" not in push and "expire" not in push
    text = workdir.state.read_text(encoding="utf-8")
    doc = json.loads(text)
    assert doc["version"] == 3
    assert text == json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert doc["alerts"] == {
        NAME: {"sent": {"you": [spec_id(spec)]}, "history": {day(0).isoformat(): spec[0]}, "asked": ASKED}
    }
    assert sorted(os.listdir(workdir.state.parent)) == [".seen.json.lock", "seen.json"]  # no temp file left behind


def test_a_second_identical_run_pushes_nothing_and_leaves_the_state_file_untouched(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15"), slot_starting(4, "13:40")])
    configure(workdir)
    ok(run())
    before = workdir.state.read_bytes()
    mtime = workdir.state.stat().st_mtime_ns

    result = ok(run())

    assert len(pushover.delivered) == 1
    assert f"{NAME}: 2 open, 2 match, 0 new, ok" in lines(result.stdout)
    assert workdir.state.read_bytes() == before
    assert workdir.state.stat().st_mtime_ns == mtime
    assert sorted(os.listdir(workdir.state.parent)) == [".seen.json.lock", "seen.json"]  # the lock file stays


def test_a_slot_is_known_by_its_date_and_times_even_when_ind_changes_its_key(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    known, fresh = slot_starting(2, "09:15"), slot_starting(4, "13:40")
    ind.set_slots("AM", "BIO", 1, [known])
    configure(workdir)
    ok(run())
    ind.set_slots("AM", "BIO", 1, [known, fresh], key_salt="keys IND chose on a later poll")

    ok(run())

    assert [p["message"] for p in pushover.delivered] == [label(known), label(fresh)]
    assert sent_to_you(workdir, NAME) == sorted([spec_id(known), spec_id(fresh)])


def test_a_slot_that_disappears_and_reappears_is_pushed_again(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    cancelled, booked = slot_starting(3, "10:00"), slot_starting(5, "14:20")
    configure(workdir)
    ind.set_slots("AM", "BIO", 1, [cancelled, booked])
    ok(run())
    ind.set_slots("AM", "BIO", 1, [booked])
    gone = ok(run())
    assert sent_to_you(workdir, NAME) == [spec_id(booked)]
    ind.set_slots("AM", "BIO", 1, [cancelled, booked])

    ok(run())

    assert f"{NAME}: 1 open, 1 match, 0 new, ok" in lines(gone.stdout)
    assert [p["message"] for p in pushover.delivered] == [f"{label(cancelled)}\n{label(booked)}", label(cancelled)]
    assert pushover.delivered[1]["title"] == "IND Amsterdam: Biometrics: 1 new slot"
    assert sent_to_you(workdir, NAME) == sorted([spec_id(cancelled), spec_id(booked)])


def test_past_slots_and_alerts_removed_from_the_config_are_pruned(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    yesterday, known, fresh = slot_starting(-1, "09:00"), slot_starting(2, "09:00"), slot_starting(6, "15:30")
    write_sent_state(workdir, {NAME: [yesterday, known], "Removed alert": [slot_starting(3, "08:00")]})
    ind.set_slots("AM", "BIO", 1, [yesterday, known, fresh])  # a stale answer still listing yesterday
    configure(workdir)

    result = ok(run())

    assert f"{NAME}: 2 open, 2 match, 1 new, pushed" in lines(result.stdout)
    assert [p["message"] for p in pushover.delivered] == [label(fresh)]
    assert read_state(workdir)["alerts"] == {
        NAME: {
            "sent": {"you": sorted([spec_id(known), spec_id(fresh)])},
            "history": {day(0).isoformat(): known[0]},
            "asked": ASKED,
        }
    }


def test_a_recorded_answer_whose_slots_are_all_past_pushes_nothing(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, load_fixture: Callable[[str], str]
) -> None:
    body = load_fixture("slots-bio-am-1p.txt")
    assert max(item["date"] for item in json.loads(strip_xssi(body))["data"]) < day(0).isoformat()
    ind.set_raw("AM", "BIO", 1, 200, body)
    configure(workdir)

    result = ok(run())

    assert pushover.messages == []
    assert f"{NAME}: 0 open, 0 match, 0 new, ok" in lines(result.stdout)
    assert read_state(workdir)["alerts"] == {NAME: {"sent": {}, "history": {day(0).isoformat(): None}}}


def test_an_answer_without_the_xssi_prefix_is_read_too(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    spec = slot_starting(2, "09:15")
    item = {"key": "0" * 32, "date": spec[0], "startTime": spec[1], "endTime": spec[2], "parts": 1}
    ind.set_raw("AM", "BIO", 1, 200, json.dumps({"status": "OK", "data": [item]}))
    configure(workdir)

    ok(run())

    assert [p["message"] for p in pushover.delivered] == [label(spec)]


def test_alerts_sharing_desk_product_and_persons_make_one_ind_request(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    morning, afternoon, for_two = slot_starting(2, "09:00"), slot_starting(2, "14:00"), slot_starting(3, "10:00")
    ind.set_slots("AM", "BIO", 1, [morning, afternoon])
    ind.set_slots("AM", "BIO", 2, [for_two])
    configure(
        workdir,
        alert_toml("Mornings", latest="12:00"),
        alert_toml("Afternoons", earliest="12:00"),
        alert_toml("For two", persons=2),
    )

    result = ok(run())

    assert ind.hits("AM", "BIO", 1) == 1
    assert ind.hits("AM", "BIO", 2) == 1
    assert ind.desk_hits("BIO") == 1  # the desk list too is asked once, for all alerts of the product
    assert len(ind.requests) == 3
    assert len(pushover.delivered) == 3
    assert push_for(pushover, label(morning))["message"] == label(morning)
    assert push_for(pushover, label(afternoon))["message"] == label(afternoon)
    assert push_for(pushover, label(for_two))["title"] == "IND Amsterdam: Biometrics (2 persons): 1 new slot"
    assert "Mornings: 2 open, 1 match, 1 new, pushed" in lines(result.stdout)
    assert "Afternoons: 2 open, 1 match, 1 new, pushed" in lines(result.stdout)
    assert "For two: 1 open, 1 match, 1 new, pushed" in lines(result.stdout)


def test_ind_requests_are_polite_and_have_no_slash_before_the_query(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    configure(workdir, alert_toml(persons=3))

    ok(run())

    desks, request = ind.requests  # the desks offering the product first, then the slots
    assert desks.path == "/oap/api/desks/"
    assert desks.query == {"productKey": "BIO"}
    assert request.path == "/oap/api/desks/AM/slots"
    assert request.query == {"productKey": "BIO", "persons": "3"}
    for sent in (desks, request):
        assert sent.headers["accept"] == "application/json"
        assert sent.headers["oap-locale"] == "en"
        assert "ind-alert" in sent.headers["user-agent"]


def test_a_trailing_slash_on_ind_api_url_is_tolerated(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15")])
    configure(workdir)

    result = run(env={"IND_API_URL": ind.url + "/"})

    assert ok(result).stderr == ""
    assert [r.path for r in ind.requests] == ["/oap/api/desks/", "/oap/api/desks/AM/slots"]
    assert len(pushover.delivered) == 1


def test_distinct_ind_requests_run_at_most_four_at_a_time(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    queries = [(desk, product) for desk in ("AM", "DH", "ZW", "DB") for product in ("BIO", "DOC")]
    ind.gather = 4  # each answer waits until 4 requests are in flight: concurrency seen, not timed
    configure(workdir, *(alert_toml(f"{desk} {product}", desk, product) for desk, product in queries))

    ok(run())

    assert [ind.hits(desk, product, 1) for desk, product in queries] == [1] * 8
    assert ind.max_in_flight == 4
    assert ind.gathered == 2  # both rounds of 4 met: never fewer at once (else a round times out)


def test_a_long_list_of_slots_is_cut_to_pushovers_limit_with_a_count_of_the_rest(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    specs = [slot_starting(offset, f"{hour:02d}:00") for offset in range(1, 11) for hour in range(8, 16)]
    ind.set_slots("AM", "BIO", 1, specs)
    configure(workdir)

    ok(run())

    push = pushover.delivered[0]
    *shown, more = push["message"].split("\n")
    everything = [label(s) for s in sorted(specs)]
    assert push["title"] == "IND Amsterdam: Biometrics: 80 new slots"
    assert len(push["message"]) <= 1024
    assert shown == everything[: len(shown)]
    assert more == f"+{80 - len(shown)} more"
    one_more = "\n".join([*everything[: len(shown) + 1], f"+{80 - len(shown) - 1} more"])
    assert len(one_more) > 1024  # as many lines as fit
    assert len(sent_to_you(workdir, NAME)) == 80


# =========================================================================== filters


# Slots as (days from today, start time) and dates as days from today: turned into dates inside the test,
# from Amsterdam's today at that moment, never when the tests are collected.
WEEK = [(offset, "10:00") for offset in range(1, 8)]

FILTER_CASES = [
    pytest.param(
        {"days_ahead": 3},
        [(1, "10:00"), (3, "10:00"), (4, "10:00")],
        [(1, "10:00"), (3, "10:00")],
        id="days_ahead counts whole Amsterdam days, the last one included",
    ),
    pytest.param(
        {"after": 3, "before": 5},
        [(2, "10:00"), (3, "10:00"), (5, "16:00"), (6, "10:00")],
        [(3, "10:00"), (5, "16:00")],
        id="after and before are inclusive dates",
    ),
    pytest.param({"weekdays": ["sat", "Sunday"]}, WEEK, "the weekend", id="weekdays keep only the named days"),
    pytest.param(
        {"earliest": "09:00", "latest": "12:00"},
        [(2, "08:59"), (2, "09:00"), (2, "12:00"), (2, "12:01")],
        [(2, "09:00"), (2, "12:00")],
        id="earliest and latest bound the start time, both included",
    ),
    pytest.param(
        {"days_ahead": 2, "earliest": "13:00"},
        [(1, "09:00"), (1, "13:00"), (5, "14:00")],
        [(1, "13:00")],
        id="filters combine",
    ),
]


@pytest.mark.parametrize(("keys", "offered", "pushed"), FILTER_CASES)
def test_filters_choose_which_open_slots_are_pushed(
    ind: FakeIND,
    pushover: FakePushover,
    workdir: Workdir,
    run: Run,
    keys: dict[str, object],
    offered: list[tuple[int, str]],
    pushed: list[tuple[int, str]] | str,
) -> None:
    keys = {key: day(value) if key in ("after", "before") else value for key, value in keys.items()}
    offered_slots = [slot_starting(offset, start) for offset, start in offered]
    if pushed == "the weekend":
        pushed = [(offset, start) for offset, start in offered if day(offset).weekday() >= 5]
    pushed_slots = [slot_starting(offset, start) for offset, start in pushed]
    ind.set_slots("AM", "BIO", 1, offered_slots)
    configure(workdir, alert_toml(**keys))

    result = ok(run())

    expected = [[label(s) for s in pushed_slots]] if pushed_slots else []
    assert [p["message"].split("\n") for p in pushover.delivered] == expected
    new = f"{len(pushed_slots)} new, pushed" if pushed_slots else "0 new, ok"
    assert f"{NAME}: {len(offered_slots)} open, {len(pushed_slots)} match, {new}" in lines(result.stdout)
    assert sent_to_you(workdir, NAME) == sorted(spec_id(s) for s in pushed_slots)


# =========================================================================== IND failures


HTML_ERROR = "<html><body><h1>Error</h1></body></html>"
IND_FAILURES: dict[str, tuple[int | None, str, int]] = {
    # kind: (HTTP status or None for a dropped connection, body, requests: a drop or 5xx is retried once)
    "the connection drops": (None, "", 2),
    "HTTP 500 twice": (500, HTML_ERROR, 2),
    "HTTP 404": (404, HTML_ERROR, 1),
    "a maintenance page": (200, HTML_MAINTENANCE, 1),
    "broken JSON": (200, XSSI_PREFIX + '{"status":"OK","data":[{"da', 1),
    "an empty body": (200, "", 1),
    "status ERROR": (200, ind_body({"status": "ERROR", "errorCode": "E42", "data": []}), 1),
    "a slot without its start time": (
        200,
        ind_body({"status": "OK", "data": [{"key": "a" * 32, "date": "{day}", "endTime": "09:10"}]}),
        1,
    ),
    "data that is not a list": (200, ind_body({"status": "OK", "data": {}}), 1),
}
# What the run line and the summary call each failure: down, a web page (maintenance or a block), or changed.
IND_FAILURE_STATUS = {
    "the connection drops": "IND unreachable",
    "HTTP 500 twice": "IND unreachable",
    "a maintenance page": "IND sent a web page",
}


def make_ind_fail(ind: FakeIND, kind: str, desk: str = "AM", product: str = "BIO") -> int:
    """Make IND fail this way for one query; return how many requests the script should make."""
    status, body, attempts = IND_FAILURES[kind]
    body = body.replace('"{day}"', f'"{day(2).isoformat()}"')  # a date computed now, not at collection
    if status is None:
        ind.set_drop(desk, product, 1)
    else:
        ind.set_raw(desk, product, 1, status, body)
    return attempts


@pytest.mark.parametrize("kind", IND_FAILURES)
def test_an_ind_failure_is_a_warning_never_no_slots_and_the_other_alerts_go_on(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, kind: str
) -> None:
    attempts = make_ind_fail(ind, kind)
    already, other = slot_starting(2, "09:15"), slot_starting(3, "11:00")
    ind.set_slots("DH", "DOC", 1, [other])
    write_sent_state(workdir, {"Broken": [already]})
    configure(workdir, alert_toml("Broken"), alert_toml("Fine", "DH", "DOC"))

    result = ok(run())

    assert ind.hits("AM", "BIO", 1) == attempts
    warnings = problems(result)
    assert len(warnings) == 1
    assert "Broken" in warnings[0] and "IND" in warnings[0]
    assert f"Broken: {IND_FAILURE_STATUS.get(kind, 'IND API changed?')}" in lines(result.stdout)
    assert "Fine: 1 open, 1 match, 1 new, pushed" in lines(result.stdout)
    assert [p["message"] for p in pushover.delivered] == [label(other)]
    assert sent_to_you(workdir, "Broken") == [spec_id(already)]
    assert sent_to_you(workdir, "Fine") == [spec_id(other, "DH")]


def test_failed_ind_checks_record_nothing_as_sent_and_a_second_one_leaves_the_state_byte_identical(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    desks = ["AM", "DH", "ZW", "DB", "6b425ff9f87de136a36b813cccf26e23"]
    places = [(desk, product) for desk in desks for product in ("BIO", "DOC")]
    kinds = list(zip(IND_FAILURES, places, strict=False))
    for kind, (desk, product) in kinds:
        make_ind_fail(ind, kind, desk, product)
    configure(workdir, *(alert_toml(kind, desk, product) for kind, (desk, product) in kinds))

    first = ok(run())
    after_first = workdir.state.read_bytes() if workdir.state.exists() else None
    second = ok(run())

    for kind in IND_FAILURES:
        assert sent_to_you(workdir, kind) == []
        assert f"{kind}: {IND_FAILURE_STATUS.get(kind, 'IND API changed?')}" in lines(first.stdout)
        assert len([w for w in problems(second) if w.startswith(f"warning: {kind}: ")]) == 1
    assert pushover.messages == []
    assert (workdir.state.read_bytes() if workdir.state.exists() else None) == after_first


def test_one_ind_error_then_an_answer_is_retried_within_the_run(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_raw("AM", "BIO", 1, 500, "<html><body>500</body></html>", once=True)
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15")])
    configure(workdir)

    result = ok(run())

    assert ind.hits("AM", "BIO", 1) == 2
    assert result.stderr == ""
    assert [p["message"] for p in pushover.delivered] == [label(slot_starting(2, "09:15"))]


# =========================================================================== Pushover outcomes


PUSHOVER_FAILURES: dict[str, Callable[[FakePushover], None]] = {
    "HTTP 503": lambda pushover: pushover.queue("messages", 503),
    "HTTP 429 over quota": lambda pushover: pushover.queue("messages", 429),
    "a dropped connection": lambda pushover: pushover.drop_next("messages"),
}


@pytest.mark.parametrize("kind", PUSHOVER_FAILURES)
def test_a_passing_pushover_failure_is_retried_once_then_delivered_by_the_next_run(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, kind: str
) -> None:
    specs = [slot_starting(2, "09:15"), slot_starting(4, "13:40")]
    ind.set_slots("AM", "BIO", 1, specs)
    configure(workdir)
    PUSHOVER_FAILURES[kind](pushover)
    PUSHOVER_FAILURES[kind](pushover)

    failed = ok(run(patch_sleep=True))

    assert failed.sleeps == [5.0]
    assert len(pushover.messages) == 2
    assert pushover.delivered == []
    warnings = problems(failed)
    assert len(warnings) == 1 and "Pushover" in warnings[0] and "retry" in warnings[0]
    assert f"{NAME}: 2 open, 2 match, 2 new, push failed" in lines(failed.stdout)
    assert sent_to_you(workdir, NAME) == []

    recovered = ok(run(patch_sleep=True))

    assert recovered.sleeps == []
    assert [p["message"] for p in pushover.delivered] == ["\n".join(label(s) for s in specs)]
    assert len(pushover.messages) == 3
    assert sent_to_you(workdir, NAME) == sorted(spec_id(s) for s in specs)


def test_a_pushover_error_then_success_in_the_same_run_delivers_once_and_marks_the_slots(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15")])
    configure(workdir)
    pushover.queue("messages", 502)

    result = ok(run(patch_sleep=True))

    assert result.sleeps == [5.0]
    assert len(pushover.messages) == 2
    assert len(pushover.delivered) == 1
    assert result.stderr == ""
    assert sent_to_you(workdir, NAME) == [spec_id(slot_starting(2, "09:15"))]
    assert ok(run(patch_sleep=True)).sleeps == []
    assert len(pushover.messages) == 2


def test_a_200_answer_without_status_1_is_not_a_delivery(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15")])
    configure(workdir)
    pushover.queue("messages", 200, {"status": 0, "request": "x"})
    pushover.queue("messages", 200, {"status": 0, "request": "y"})

    result = ok(run(patch_sleep=True))

    assert len(problems(result)) == 1
    assert f"{NAME}: 1 open, 1 match, 1 new, push failed" in lines(result.stdout)
    assert sent_to_you(workdir, NAME) == []


def test_a_rejected_token_fails_the_run_without_repeating_or_printing_it(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    pushover.token = "aAnotherApplicationTokenValue0"  # ours is not this app's token
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15")])
    ind.set_slots("DH", "DOC", 1, [slot_starting(3, "10:00")])
    configure(workdir, alert_toml(), alert_toml("Den Haag documents", "DH", "DOC"))

    result = run(patch_sleep=True)

    assert result.returncode == 1
    assert len(pushover.validations) == 1  # found before any push is tried with it
    assert pushover.messages == []
    assert result.sleeps == []
    errors = problems(result, "error")
    assert errors == ["error: Pushover rejected the application token: check the PUSHOVER_TOKEN secret"]
    assert FAKE_TOKEN not in result.output
    assert f"{NAME}: 1 open, 1 match, 1 new, push failed" in lines(result.stdout)
    assert "Den Haag documents: 1 open, 1 match, 1 new, push failed" in lines(result.stdout)
    assert sent_to_you(workdir, NAME) == [] and sent_to_you(workdir, "Den Haag documents") == []
    assert FAKE_TOKEN not in workdir.state.read_text(encoding="utf-8")

    again = run(patch_sleep=True)  # the same day, the same secret: failed again, Pushover not asked again

    assert again.returncode == 1
    assert problems(again, "error") == errors
    assert len(pushover.validations) == 1 and pushover.messages == []


def test_a_rejected_user_key_fails_the_run_without_repeating_or_printing_it(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    pushover.users = {"uSomeoneElsesUserKey0000000000"}
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15")])
    ind.set_slots("DH", "DOC", 1, [slot_starting(3, "10:00")])
    configure(workdir, alert_toml(), alert_toml("Den Haag documents", "DH", "DOC"))

    result = run(patch_sleep=True)

    assert result.returncode == 1
    assert pushover.messages == []
    assert result.sleeps == []
    errors = problems(result, "error")
    assert errors == ["error: recipient you: Pushover rejected the user key in PUSHOVER_USER: check that secret"]
    assert FAKE_USER not in result.output and FAKE_TOKEN not in result.output
    assert sent_to_you(workdir, NAME) == [] and sent_to_you(workdir, "Den Haag documents") == []


def test_a_low_monthly_quota_is_shown_and_warned_about(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    pushover.remaining = 900  # 9 % of 10,000
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15")])
    configure(workdir)

    result = ok(run())

    assert "Pushover quota: 899 of 10000 messages left this month" in lines(result.stdout)
    warnings = problems(result)
    assert len(warnings) == 1
    assert "quota" in warnings[0] and "899 of 10000" in warnings[0]
    assert len(pushover.delivered) == 1  # above 5 %: no extra push about it


# =========================================================================== config errors


CONFIG_ERRORS = [
    pytest.param(None, ["alerts.toml not found"], id="missing file"),
    pytest.param('[[alert]]\nname = "Amsterdam\n', ["alerts.toml is not valid TOML"], id="invalid TOML"),
    pytest.param(alert_toml(days_ahed=14), ['unknown key "days_ahed"', 'did you mean "days_ahead"'], id="unknown key"),
    pytest.param(
        alert_toml(desk="Amsterdm"), ['unknown desk "Amsterdm"', 'did you mean "Amsterdam"'], id="unknown desk"
    ),
    pytest.param(alert_toml(desk="RO"), ['desk "RO" is retired', "Expatcenter Rotterdam"], id="retired desk RO"),
    pytest.param(alert_toml(product="XYZ"), ['unknown product "XYZ"', "DOC, BIO, VAA or TKV"], id="unknown product"),
    pytest.param(alert_toml(persons=0), ["persons", "1 to 6", "not 0"], id="persons 0"),
    pytest.param(alert_toml(persons=7), ["persons", "1 to 6", "not 7"], id="persons 7"),
    pytest.param(alert_toml(earliest="9am"), ["earliest", '"09:30"', "9am"], id="bad earliest"),
    pytest.param(alert_toml(after="2026-12-01"), ["after", "TOML date"], id="date quoted"),
    pytest.param(
        alert_toml(after=date(2026, 12, 31), before=date(2026, 12, 1)),
        ["after (2026-12-31) is later than before (2026-12-01)"],
        id="after later than before",
    ),
    pytest.param(alert_toml(priority=2), ["priority", "-2 to 1"], id="priority 2"),
    pytest.param(alert_toml() + "\n" + alert_toml(desk="DH"), [f'name "{NAME}" is used twice'], id="duplicate names"),
    pytest.param("# nothing here yet\n", ["no alerts"], id="no alerts"),
]


@pytest.mark.parametrize(("config", "says"), CONFIG_ERRORS)
def test_a_config_error_exits_2_with_one_line_naming_the_problem(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, config: str | None, says: list[str]
) -> None:
    if config is not None:
        workdir.write_config(config)

    result = run()

    assert result.returncode == 2
    assert result.stdout == ""
    assert len(lines(result.stderr)) == 1, result.stderr
    assert result.stderr.startswith("error: ")
    for words in says:
        assert words in result.stderr
    assert ind.requests == [] and pushover.messages == []
    assert not workdir.state.exists()


def test_desks_and_products_can_be_named_in_any_case(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    utrecht = "fa24ccf0acbc76a7793765937eaee440"
    ind.set_slots(utrecht, "BIO", 1, [slot_starting(2, "09:15")])
    configure(
        workdir,
        alert_toml("By name", desk="Amsterdam", product="biometrics"),
        alert_toml("Expat", desk="expatcenter utrecht", product="Biometrics"),
        alert_toml("Lower key", desk="dh", product="doc"),
    )

    result = ok(run())

    assert ind.hits("AM", "BIO", 1) == 1
    assert ind.hits(utrecht, "BIO", 1) == 1
    assert ind.hits("DH", "DOC", 1) == 1
    assert sorted(ind.unmatched) == [("AM", "BIO", 1), ("DH", "DOC", 1)]  # requests run concurrently
    assert (
        push_for(pushover, label(slot_starting(2, "09:15")))["title"] == "Expatcenter Utrecht: Biometrics: 1 new slot"
    )
    assert "Expat: 1 open, 1 match, 1 new, pushed" in lines(result.stdout)


def test_config_and_state_paths_can_be_chosen(ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run) -> None:
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15")])
    workdir.write_config(alert_toml(), name="conf/mine.toml")

    ok(run("--config", "conf/mine.toml", "--state", "deep/er/seen.json"))

    doc = json.loads((workdir / "deep/er/seen.json").read_text(encoding="utf-8"))
    assert doc["alerts"][NAME]["sent"]["you"] == [spec_id(slot_starting(2, "09:15"))]
    assert not workdir.state.exists()


# =========================================================================== secrets and dry run


@pytest.mark.parametrize("variable", ["PUSHOVER_TOKEN", "PUSHOVER_USER"])
def test_a_missing_secret_exits_2_naming_the_variable(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, variable: str
) -> None:
    configure(workdir)

    result = run(env={variable: None})

    assert result.returncode == 2
    assert problems(result, "error") == lines(result.stderr)
    assert len(lines(result.stderr)) == 1 and variable in result.stderr
    assert ind.requests == [] and pushover.messages == [] and pushover.validations == []
    assert not workdir.state.exists()


def test_a_dry_run_needs_no_secrets_prints_what_it_would_push_and_changes_nothing(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    known, fresh = slot_starting(2, "09:15"), slot_starting(5, "14:00")
    ind.set_slots("AM", "BIO", 1, [fresh, known])
    before = write_sent_state(workdir, {NAME: [known]})
    configure(workdir)

    result = ok(run("--dry-run", env={"PUSHOVER_TOKEN": None, "PUSHOVER_USER": None}))

    out = lines(result.stdout)
    assert "IND Amsterdam: Biometrics: 1 new slot" in result.stdout
    assert f"  {label(fresh)}" in out
    assert label(known) not in result.stdout
    assert f"{NAME}: 2 open, 2 match, 1 new, dry run" in out
    assert pushover.messages == [] and pushover.validations == []
    assert workdir.state.read_bytes() == before
    assert ind.hits("AM", "BIO", 1) == 1


def test_a_dry_run_writes_no_state_file(ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run) -> None:
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15")])
    configure(workdir)

    ok(run("--dry-run"))

    assert not workdir.state.exists()
    assert not workdir.state.parent.exists()
    assert pushover.messages == []


# =========================================================================== the state file


CORRUPT_STATES = [
    pytest.param('{"version": 1, "alerts": {', "not JSON", id="not JSON"),
    pytest.param('{\n  "alerts": {},\n  "version": 99\n}\n', "version 99", id="unknown version"),
    pytest.param('{"version": 1, "alerts": []}\n', "alerts is not an object", id="alerts not a table"),
    pytest.param(
        '{"version": 1, "alerts": {"x": {"sent": {"default": ["tomorrow morning"]}}}}\n',
        "malformed slot",
        id="bad slot",
    ),
]


@pytest.mark.parametrize(("text", "why"), CORRUPT_STATES)
def test_a_corrupt_state_file_is_refused_and_left_untouched(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, text: str, why: str
) -> None:
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15")])
    workdir.write("state/seen.json", text)
    before = workdir.state.read_bytes()
    configure(workdir)

    result = run()

    assert result.returncode == 2
    errors = problems(result, "error")
    assert errors == lines(result.stderr) and len(errors) == 1
    assert "state/seen.json" in errors[0] and why in errors[0] and "untouched" in errors[0]
    assert workdir.state.read_bytes() == before
    assert pushover.messages == []


def test_a_state_path_through_a_file_is_refused_as_unreadable(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15")])
    configure(workdir)
    workdir.write("state", "I am a file, not a directory\n")

    result = run()

    assert result.returncode == 2
    assert len(problems(result, "error")) == 1 and "state/seen.json" in result.stderr
    assert pushover.messages == []
    assert (workdir / "state").read_text() == "I am a file, not a directory\n"


@pytest.mark.skipif(not Path("/proc/self/fdinfo").is_dir(), reason="needs Linux procfs")
def test_a_state_that_cannot_be_saved_exits_1_with_one_clear_line(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    # A directory nobody can create files in, root included: a procfs one.
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15")])
    configure(workdir)

    result = run("--state", "/proc/self/fdinfo/seen.json")

    assert result.returncode == 1
    assert pushover.delivered == []  # a push that cannot be recorded would go out again on every run
    errors = problems(result, "error")
    assert errors == lines(result.stderr)
    expected = (
        "error: /proc/self/fdinfo/seen.json cannot be written (No such file or directory): nothing is pushed"
        " until it can be, so no slot is pushed twice"
    )
    assert errors == [expected]


def test_a_state_directory_without_write_permission_exits_1(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15")])
    configure(workdir)
    state_dir = workdir / "state"
    state_dir.mkdir()
    state_dir.chmod(0o555)
    try:
        if os.access(state_dir, os.W_OK):
            pytest.skip("this user may write to a read-only directory (root): see the procfs test")
        result = run()
    finally:
        state_dir.chmod(0o755)

    assert result.returncode == 1
    errors = problems(result, "error")
    assert len(errors) == 1 and "could not be saved" in errors[0]
    assert os.listdir(state_dir) == []


def test_a_failed_save_is_reported_in_one_line_even_when_the_temp_file_cannot_be_removed(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    # The state file's own name fits in 255 bytes, the temp file next to it (".NAME.PID.tmp") does not:
    # writing it fails, and so does removing it.
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15")])
    configure(workdir)

    result = run("--state", f"state/{'s' * 245}.json")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = problems(result, "error")
    assert errors == lines(result.stderr)
    assert len(errors) == 1 and "cannot be written (File name too long)" in errors[0]
    assert pushover.delivered == []
    assert os.listdir(workdir / "state") == []


# =========================================================================== the other commands


def test_check_validates_each_user_key_and_sends_nothing(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    configure(workdir)

    result = ok(run("--check"))

    assert [(v["token"], v["user"]) for v in pushover.validations] == [(FAKE_TOKEN, FAKE_USER)]
    assert pushover.messages == [] and ind.requests == []
    assert "recipient you: ok" in lines(result.stdout)
    assert "alerts.toml: 1 alert, valid" in lines(result.stdout)
    assert not workdir.state.exists()


def test_check_fails_when_pushover_rejects_the_user_key(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    pushover.users = {"uSomeoneElsesUserKey0000000000"}
    configure(workdir)

    result = run("--check")

    assert result.returncode == 1
    assert len(pushover.validations) == 1
    errors = problems(result, "error")
    assert len(errors) == 1 and "user key" in errors[0]
    assert FAKE_USER not in result.output


def test_a_test_notification_delivers_one_push(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    configure(workdir, alert_toml(), alert_toml("Den Haag documents", "DH", "DOC"))

    result = ok(run("--test-notification"))

    assert len(pushover.delivered) == 1
    push = pushover.delivered[0]
    assert NAME in push["message"] and "Den Haag documents" in push["message"]
    assert push["url"] == BIO_URL
    assert "recipient you: test push delivered" in lines(result.stdout)
    assert ind.requests == []
    assert not workdir.state.exists()


def test_list_desks_prints_the_key_and_name_of_each_desk_offering_a_product(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, load_fixture: Callable[[str], str]
) -> None:
    body = load_fixture("desks-bio.txt")
    ind.set_desks_raw("BIO", 200, body)
    desks = [(d["key"], d["name"]) for d in json.loads(strip_xssi(body))["data"]]

    result = ok(run("--list-desks", "BIO", env={"PUSHOVER_TOKEN": None, "PUSHOVER_USER": None}))

    assert ind.desk_hits("BIO") == 1
    out = lines(result.stdout)
    for key, name in desks:
        assert [line for line in out if line.split()[:1] == [key] and line.rstrip().endswith(name)], (key, out)
    assert len(out) == len(desks) + 2  # a heading, one line per desk, then how to use them
    assert (
        out[-1] == 'In alerts.toml: desk = "Den Haag", a list like desk = ["Amsterdam", "Den Haag"], or desk = "any".'
    )


def test_version_and_help_say_what_the_script_is(workdir: Workdir, run: Run) -> None:
    version = ok(run("--version"))
    helped = ok(run("--help"))

    assert re.fullmatch(r"ind-alert \d+\.\d+\.\d+\n", version.stdout)
    for flag in ("--config", "--state", "--dry-run", "--check", "--test-notification", "--list-desks", "--verbose"):
        assert flag in helped.stdout
    assert "--version" in helped.stdout


# =========================================================================== secrets never shown


def test_no_secret_appears_in_any_output_even_with_verbose(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15")])
    configure(workdir)
    results = [run("-v")]
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15"), slot_starting(3, "09:15")])
    pushover.queue("messages", 503)
    pushover.queue("messages", 503)
    results.append(run("-v", patch_sleep=True))
    pushover.token = "aAnotherApplicationTokenValue0"
    results.append(run("-v", patch_sleep=True))
    results.append(run("--check", "-v"))

    assert [r.returncode for r in results] == [0, 0, 1, 1]
    assert len(pushover.messages) == 4 and len(pushover.validations) == 2  # the first run's check and --check
    for result in results:
        assert result.output.strip()
        assert FAKE_TOKEN not in result.output
        assert FAKE_USER not in result.output
    state = workdir.state.read_text(encoding="utf-8")
    assert FAKE_TOKEN not in state and FAKE_USER not in state


# =========================================================================== GitHub Actions (issue 3)


def scheduled_env(workdir: Workdir) -> dict[str, str | None]:
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(workdir / "summary.md"),
        "GITHUB_OUTPUT": str(workdir / "output.txt"),
        "GITHUB_REPOSITORY": "alice/ind-alert",
        "GITHUB_EVENT_NAME": "schedule",
    }


def step_outputs(workdir: Workdir) -> list[str]:
    """The ``name=value`` lines the script handed to the workflow's next steps."""
    path = workdir / "output.txt"
    return lines(path.read_text(encoding="utf-8")) if path.exists() else []


def assert_no_secret(result: ScriptResult, workdir: Workdir) -> None:
    summary = (workdir / "summary.md").read_text(encoding="utf-8") if (workdir / "summary.md").exists() else ""
    for secret in (FAKE_TOKEN, FAKE_USER):
        assert secret not in result.output
        assert secret not in summary
        assert secret not in "\n".join(step_outputs(workdir))


def test_the_job_summary_has_a_row_per_alert_and_ind_failures_are_warning_annotations(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    earliest, later = slot_starting(2, "09:15"), slot_starting(6, "10:30")
    ind.set_slots("AM", "BIO", 1, [later, earliest])
    ind.set_raw("DH", "DOC", 1, 503, HTML_MAINTENANCE)
    configure(
        workdir,
        alert_toml(),
        alert_toml("Quiet", "ZW", "VAA", persons=2),
        alert_toml("Den Haag documents", "DH", "DOC"),
    )

    result = ok(run(env=scheduled_env(workdir)))

    rows = summary_rows(workdir / "summary.md")
    assert [row["Alert"] for row in rows] == [NAME, "Quiet", "Den Haag documents"]
    assert rows[0] == {
        "Alert": NAME,
        "Desk": "IND Amsterdam",
        "Appointment": "Biometrics",
        "Persons": "1",
        "Earliest matching slot": label(earliest),
        "New": "2",
        "Status": "pushed",
    }
    assert rows[1]["Desk"] == "IND Zwolle" and rows[1]["Appointment"] == "Residence endorsement sticker"
    assert (rows[1]["Persons"], rows[1]["New"], rows[1]["Status"]) == ("2", "0", "ok")
    assert (rows[2]["Desk"], rows[2]["New"], rows[2]["Status"]) == ("IND Den Haag", "0", "IND unreachable")
    assert [o for o in step_outputs(workdir) if o.startswith("commit_message=")] == [
        "commit_message=2 new slots pushed"
    ]
    annotations = [line for line in lines(result.stderr) if line.startswith("::warning::")]
    assert len(annotations) == 1 and "Den Haag documents" in annotations[0] and "IND" in annotations[0]
    assert all(line.startswith("::") for line in lines(result.stderr))
    assert_no_secret(result, workdir)


def test_a_failed_push_shows_in_the_summary_and_as_a_warning_annotation(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15")])
    configure(workdir)
    pushover.queue("messages", 500)
    pushover.queue("messages", 500)

    result = ok(run(env=scheduled_env(workdir), patch_sleep=True))

    (row,) = summary_rows(workdir / "summary.md")
    assert (row["Earliest matching slot"], row["Status"]) == (label(slot_starting(2, "09:15")), "push failed")
    annotations = problems(result)
    assert len(annotations) == 1 and annotations[0].startswith("::warning::") and "Pushover" in annotations[0]
    assert step_outputs(workdir) == []  # nothing was pushed, so no commit message
    assert_no_secret(result, workdir)


def test_a_rejected_token_is_an_error_annotation_that_never_shows_it(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    pushover.token = "aAnotherApplicationTokenValue0"
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15")])
    configure(workdir)

    result = run(env=scheduled_env(workdir), patch_sleep=True)

    assert result.returncode == 1
    (row,) = summary_rows(workdir / "summary.md")
    assert row["Status"] == "push failed"
    errors = problems(result, "error")
    assert len(errors) == 1 and errors[0].startswith("::error::") and "application token" in errors[0]
    assert_no_secret(result, workdir)


# =========================================================================== fresh copies (issue 7)


def test_a_scheduled_run_without_secrets_ends_green_with_one_notice_and_does_nothing_else(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    configure(workdir)
    env = {**scheduled_env(workdir), "PUSHOVER_TOKEN": None, "PUSHOVER_USER": None}

    result = ok(run(env=env))

    assert result.stdout == ""
    (notice,) = lines(result.stderr)
    assert notice.startswith("::notice::")
    assert "README" in notice and "PUSHOVER_TOKEN" in notice and "PUSHOVER_USER" in notice
    assert ind.requests == [] and pushover.messages == [] and pushover.validations == []
    assert not workdir.state.exists() and not workdir.state.parent.exists()
    assert step_outputs(workdir) == []
    assert not (workdir / "summary.md").exists()


def test_a_scheduled_run_with_only_one_secret_is_an_error_naming_the_other(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    configure(workdir)

    result = run(env={**scheduled_env(workdir), "PUSHOVER_USER": None})

    assert result.returncode == 2
    errors = problems(result, "error")
    assert len(errors) == 1 and "PUSHOVER_USER" in errors[0]
    assert ind.requests == [] and pushover.messages == []


def test_a_manual_run_without_secrets_fails_with_the_guidance(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    configure(workdir)
    env = {**scheduled_env(workdir), "GITHUB_EVENT_NAME": "workflow_dispatch", "PUSHOVER_TOKEN": None}

    result = run(env={**env, "PUSHOVER_USER": None})

    assert result.returncode == 2, result.output
    errors = problems(result, "error")
    assert len(errors) == 1 and errors[0].startswith("::error::")
    assert "README" in errors[0] and "PUSHOVER_TOKEN" in errors[0] and "PUSHOVER_USER" in errors[0]
    assert ind.requests == [] and pushover.messages == []
    assert not workdir.state.exists()


def test_state_written_by_another_repository_is_not_trusted_and_every_open_slot_is_pushed_again(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    specs = [slot_starting(2, "09:15"), slot_starting(4, "13:40")]
    ind.set_slots("AM", "BIO", 1, specs)
    configure(workdir)
    ok(run(env={"GITHUB_REPOSITORY": "alice/ind-alert"}))
    assert read_state(workdir)["repository"] == "alice/ind-alert"

    copied = ok(run(env={"GITHUB_REPOSITORY": "bob/ind-alert"}))
    again = ok(run(env={"GITHUB_REPOSITORY": "bob/ind-alert"}))

    everything = "\n".join(label(s) for s in specs)
    assert [p["message"] for p in pushover.delivered] == [everything, everything]
    notices = problems(copied, "notice")
    assert len(notices) == 1
    assert "alice/ind-alert" in notices[0] and "bob/ind-alert" in notices[0]
    assert f"{NAME}: 2 open, 2 match, 2 new, pushed" in lines(copied.stdout)
    assert read_state(workdir)["repository"] == "bob/ind-alert"
    assert sent_to_you(workdir, NAME) == sorted(spec_id(s) for s in specs)
    assert again.stderr == ""


def test_the_state_file_in_this_checkout_is_read_as_it_is(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    shipped = (REPO / "state" / "seen.json").read_bytes()
    configure(workdir)
    env = {"GITHUB_REPOSITORY": "alice/ind-alert"}

    # Empty as released, or a copy's own state: the script reads it and a dry run leaves it alone.
    workdir.state.parent.mkdir()
    shutil.copyfile(REPO / "state" / "seen.json", workdir.state)
    ok(run("--dry-run", env=env))
    assert workdir.state.read_bytes() == shipped

    # A state whose only slot was booked keeps no slot, only the day's history point and secret check.
    write_sent_state(workdir, {NAME: [slot_starting(2, "09:15")]}, repository="alice/ind-alert")
    ok(run(env=env))
    assert set(read_state(workdir)) == {"alerts", "repository", "validated", "version"}
    assert read_state(workdir)["alerts"] == {NAME: {"sent": {}, "history": {day(0).isoformat(): None}}}
    assert pushover.messages == []
