"""Unit tests for ind_alert.py: its HTTP edges against strict ``responses`` mocks, its pure core as
tables, and one in-process run of ``main()`` at ``-v`` that must leak no secret.

No test touches the network (an unmatched request fails inside ``responses``) or sleeps for real.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests
import responses
from conftest import FAKE_TOKEN, FAKE_USER
from fakes import HTML_MAINTENANCE, XSSI_PREFIX, ind_body, load_fixture, strip_xssi

# The script is a module at the repository root, not a package: make it importable however pytest is run.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import ind_alert  # noqa: E402
from ind_alert import (  # noqa: E402
    Alert,
    AlertState,
    ConfigError,
    Emergency,
    NotifyError,
    Push,
    PushoverClient,
    Query,
    Recipient,
    Slot,
    SourceError,
    State,
    StateError,
)

IND = "https://oap.ind.nl/oap/api"
PUSHOVER = "https://api.pushover.net/1"
SLOTS_URL = f"{IND}/desks/AM/slots?productKey=BIO&persons=1"
AMS = ind_alert.AMSTERDAM
JSON = "application/json; charset=utf-8"
AM_BIO = Query("AM", "BIO", 1)
DH_DOC = Query("DH", "DOC", 2)
# The fixture's slots, earliest first, as ind-alert identifies them (date + times).
FIXTURE_IDS = [
    "AM 2026-10-05 09:00-09:10",
    "AM 2026-10-05 09:10-09:20",
    "AM 2026-10-06 13:40-13:50",
    "AM 2026-10-07 11:06-11:13",
    "AM 2026-10-12 15:20-15:30",
    "AM 2026-11-02 08:50-09:00",
]


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    """Strict mock: an unmatched request is a ConnectionError, an unused mock fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


def query_url(query: Query) -> str:
    return f"{IND}/desks/{query.desk}/slots?productKey={query.product}&persons={query.persons}"


def slots_json() -> str:
    """The fixture body without its anti-XSSI prefix."""
    return strip_xssi(load_fixture("slots-bio-am-1p.txt"))


def at(day: str, start: str, end: str | None = None, desk: str = "AM") -> Slot:
    """A slot on ``day`` (YYYY-MM-DD) from ``start`` (HH:MM) in Amsterdam time; 10 minutes unless ``end``."""
    begin = datetime.combine(date.fromisoformat(day), dtime.fromisoformat(start), AMS)
    finish = datetime.combine(begin.date(), dtime.fromisoformat(end), AMS) if end else begin + timedelta(minutes=10)
    return Slot(begin, finish, desk)


def alert(**changes: Any) -> Alert:
    return Alert(**{"name": "Amsterdam biometrics", "desk": "AM", "product": "BIO", **changes})


def form(call: Any) -> dict[str, str]:
    """The urlencoded body of a recorded request as a dict (each field once)."""
    body = call.request.body
    text = body.decode() if isinstance(body, bytes) else body
    pairs = parse_qsl(text, keep_blank_values=True)
    assert len(pairs) == len({k for k, _ in pairs}), f"a form field was sent twice: {pairs}"
    return dict(pairs)


# ======================================================================================= IND: fetch_slots


def test_slots_are_asked_at_the_exact_url_with_the_polite_headers_and_a_timeout(
    rsps: responses.RequestsMock, session: requests.Session
) -> None:
    rsps.get(SLOTS_URL, body=load_fixture("slots-bio-am-1p.txt"), content_type=JSON)
    ind_alert.fetch_slots(session, IND, AM_BIO)
    request = rsps.calls[0].request
    assert request.url == SLOTS_URL  # no slash before "?": /slots/? stopped working in Aug 2024
    assert request.method == "GET"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["oap-locale"] == "en"
    assert request.headers["User-Agent"].startswith("ind-alert/")
    assert "python-requests" not in request.headers["User-Agent"]
    timeout = request.req_kwargs["timeout"]
    assert timeout is not None
    assert all(t is not None and 0 < t <= 60 for t in (timeout if isinstance(timeout, tuple) else (timeout,)))
    assert request.req_kwargs["verify"] is not False  # TLS is always verified (True or a CA bundle path)


def test_the_fixture_is_parsed_into_sorted_amsterdam_slots(
    rsps: responses.RequestsMock, session: requests.Session
) -> None:
    rsps.get(SLOTS_URL, body=load_fixture("slots-bio-am-1p.txt"), content_type=JSON)
    answer = ind_alert.fetch_slots(session, IND, AM_BIO)
    assert answer.complete
    slots = list(answer.slots)
    assert [s.id for s in slots] == FIXTURE_IDS
    assert slots == sorted(slots)
    assert all(isinstance(s, Slot) for s in slots)
    first, last = slots[0], slots[-1]
    assert first.start == datetime(2026, 10, 5, 7, 0, tzinfo=timezone.utc)  # 09:00 summer time
    assert first.end == datetime(2026, 10, 5, 7, 10, tzinfo=timezone.utc)
    assert last.start == datetime(2026, 11, 2, 7, 50, tzinfo=timezone.utc)  # 08:50 winter time
    assert first.start.utcoffset() == timedelta(hours=2)
    assert last.start.utcoffset() == timedelta(hours=1)
    assert all(s.start.tzinfo is AMS for s in slots)


def test_slots_in_any_order_come_back_earliest_first_and_once(
    rsps: responses.RequestsMock, session: requests.Session
) -> None:
    data = json.loads(slots_json())["data"]
    shuffled = [data[3], data[5], data[0], data[4], data[1], data[2], data[0]]  # and one twice
    rsps.get(SLOTS_URL, body=ind_body({"status": "OK", "data": shuffled}), content_type=JSON)
    assert [s.id for s in ind_alert.fetch_slots(session, IND, AM_BIO).slots] == FIXTURE_IDS


def test_a_key_that_changes_between_polls_does_not_change_the_slot(
    rsps: responses.RequestsMock, session: requests.Session
) -> None:
    data = json.loads(slots_json())["data"]
    rekeyed = [{**item, "key": "0" * 32} for item in data]
    rsps.get(SLOTS_URL, body=ind_body({"status": "OK", "data": rekeyed}), content_type=JSON)
    assert [s.id for s in ind_alert.fetch_slots(session, IND, AM_BIO).slots] == FIXTURE_IDS


def test_an_empty_slot_list_is_no_slots(rsps: responses.RequestsMock, session: requests.Session) -> None:
    rsps.get(SLOTS_URL, body=load_fixture("slots-empty.txt"), content_type=JSON)
    assert ind_alert.fetch_slots(session, IND, AM_BIO) == ind_alert.Answer(())


@pytest.mark.parametrize(
    "prefix",
    [
        pytest.param("", id="a body without the prefix is accepted"),
        pytest.param(")]}'\n", id="a prefix without the comma is accepted"),
        pytest.param(")]}',", id="a prefix without the newline is accepted"),
        pytest.param(")]}',\r\n", id="a prefix with a CRLF is accepted"),
        pytest.param("\ufeff" + XSSI_PREFIX, id="a byte order mark before the prefix is accepted"),
        pytest.param("\ufeff", id="a byte order mark without the prefix is accepted"),
    ],
)
def test_the_anti_xssi_prefix_is_stripped_tolerantly(
    prefix: str, rsps: responses.RequestsMock, session: requests.Session
) -> None:
    rsps.get(SLOTS_URL, body=(prefix + slots_json()).encode("utf-8"), content_type=JSON)
    assert [s.id for s in ind_alert.fetch_slots(session, IND, AM_BIO).slots] == FIXTURE_IDS


def test_one_500_is_retried_and_the_second_answer_counts(
    rsps: responses.RequestsMock, session: requests.Session
) -> None:
    rsps.get(SLOTS_URL, status=500, body="Internal Server Error")
    rsps.get(SLOTS_URL, body=load_fixture("slots-bio-am-1p.txt"), content_type=JSON)
    assert [s.id for s in ind_alert.fetch_slots(session, IND, AM_BIO).slots] == FIXTURE_IDS
    assert len(rsps.calls) == 2


def test_two_500s_are_a_source_error_after_exactly_two_requests(
    rsps: responses.RequestsMock, session: requests.Session
) -> None:
    rsps.get(SLOTS_URL, status=500, body="Internal Server Error")
    rsps.get(SLOTS_URL, status=503, body="Service Unavailable")
    with pytest.raises(SourceError, match="503") as caught:
        ind_alert.fetch_slots(session, IND, AM_BIO)
    assert len(rsps.calls) == 2
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(requests.ConnectionError, id="a refused connection twice is a source error"),
        pytest.param(requests.ConnectTimeout, id="a connect timeout twice is a source error"),
        pytest.param(requests.ReadTimeout, id="a read timeout twice is a source error"),
    ],
)
def test_a_network_error_twice_is_a_source_error_without_the_url(
    error: type[requests.RequestException], rsps: responses.RequestsMock, session: requests.Session
) -> None:
    leak = f"HTTPSConnectionPool(host='oap.ind.nl', port=443): Max retries exceeded with url: {SLOTS_URL}"
    rsps.get(SLOTS_URL, body=error(leak))
    rsps.get(SLOTS_URL, body=error(leak))
    with pytest.raises(SourceError) as caught:
        ind_alert.fetch_slots(session, IND, AM_BIO)
    assert len(rsps.calls) == 2
    text = str(caught.value)
    assert "IND" in text
    assert "http" not in text.lower()
    assert "oap.ind.nl" not in text
    assert caught.value.__suppress_context__  # raised "from None": no chained traceback with the URL


def test_a_network_error_then_an_answer_is_retried_into_slots(
    rsps: responses.RequestsMock, session: requests.Session
) -> None:
    rsps.get(SLOTS_URL, body=requests.ConnectionError("connection reset"))
    rsps.get(SLOTS_URL, body=load_fixture("slots-bio-am-1p.txt"), content_type=JSON)
    assert len(ind_alert.fetch_slots(session, IND, AM_BIO).slots) == 6
    assert len(rsps.calls) == 2


@pytest.mark.parametrize(
    "status",
    [
        pytest.param(404, id="a 404 is a source error at once without a retry"),
        pytest.param(403, id="a 403 is a source error at once without a retry"),
        pytest.param(429, id="a 429 is a source error at once without a retry"),
    ],
)
def test_a_non_5xx_error_status_is_not_retried(
    status: int, rsps: responses.RequestsMock, session: requests.Session
) -> None:
    rsps.get(SLOTS_URL, status=status, body="Not Found", headers={"Location": f"{IND}/elsewhere"})
    with pytest.raises(SourceError, match=str(status)):
        ind_alert.fetch_slots(session, IND, AM_BIO)
    assert len(rsps.calls) == 1


def test_a_certificate_error_is_reported_as_such_and_not_retried(
    rsps: responses.RequestsMock, session: requests.Session
) -> None:
    rsps.get(SLOTS_URL, body=requests.exceptions.SSLError(f"certificate verify failed for {SLOTS_URL}"))
    with pytest.raises(SourceError, match="certificate") as caught:
        ind_alert.fetch_slots(session, IND, AM_BIO)
    assert len(rsps.calls) == 1
    assert "http" not in str(caught.value).lower()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(HTML_MAINTENANCE, id="a maintenance web page is an error not no slots"),
        pytest.param(XSSI_PREFIX + HTML_MAINTENANCE, id="a web page behind the prefix is an error"),
        pytest.param(XSSI_PREFIX + '{"status":"OK","data":[', id="broken json is an error"),
        pytest.param("", id="an empty body is an error"),
        pytest.param(ind_body({"status": "ERROR", "data": []}), id="a status other than ok is an error"),
        pytest.param(ind_body({"errorCode": 500, "error": "x"}), id="an envelope without status is an error"),
        pytest.param(ind_body({"data": []}), id="a missing status is an error"),
        pytest.param(ind_body({"status": "OK"}), id="a missing data field is an error"),
        pytest.param(ind_body({"status": "OK", "data": {}}), id="data that is not a list is an error"),
        pytest.param(ind_body({"status": "OK", "data": None}), id="null data is an error"),
        pytest.param(ind_body([]), id="a json list instead of an object is an error"),
        pytest.param(ind_body({"status": "OK", "data": ["x"]}), id="a slot that is not an object is an error"),
        pytest.param(
            ind_body({"status": "OK", "data": [{"date": "2026-10-05", "endTime": "09:10"}]}),
            id="a slot without a start time is an error",
        ),
        pytest.param(
            ind_body({"status": "OK", "data": [{"startTime": "09:00", "endTime": "09:10"}]}),
            id="a slot without a date is an error",
        ),
        pytest.param(
            ind_body({"status": "OK", "data": [{"date": "05-10-2026", "startTime": "09:00", "endTime": "09:10"}]}),
            id="a slot with a malformed date is an error",
        ),
        pytest.param(
            ind_body({"status": "OK", "data": [{"date": "2026-10-05", "startTime": 900, "endTime": "09:10"}]}),
            id="a slot with a numeric time is an error",
        ),
    ],
)
def test_an_unexpected_answer_is_a_source_error_never_an_empty_list(
    body: str, rsps: responses.RequestsMock, session: requests.Session
) -> None:
    rsps.get(SLOTS_URL, body=body, content_type="text/html" if "html" in body.lower() else JSON)
    with pytest.raises(SourceError) as caught:
        ind_alert.fetch_slots(session, IND, AM_BIO)
    assert "IND" in str(caught.value)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        pytest.param(
            {"status": "NOK", "errorCode": "E1002", "error": "desk closed"},
            "IND answered status NOK (E1002) instead of OK",
            id="the error code is named",
        ),
        pytest.param({"errorCode": 500, "error": "x"}, "IND answered status None (500) instead of OK", id="no status"),
        pytest.param({"error": "desk closed"}, "IND answered status None (desk closed) instead of OK", id="error only"),
        pytest.param({"status": "ERROR", "data": []}, "IND answered status ERROR instead of OK", id="no detail"),
    ],
)
def test_an_error_envelope_is_named_by_its_status_and_error_code(doc: dict[str, Any], message: str) -> None:
    """Catches the detail being dropped (or "(None)" shown) when IND answers its error envelope."""
    with pytest.raises(SourceError) as caught:
        ind_alert.ind_data(ind_body(doc))
    assert str(caught.value) == message
    assert caught.value.status == ind_alert.API_CHANGED


def refused(status: int, retry_after: str | None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return response


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        pytest.param(None, None, id="none"),
        pytest.param("", None, id="empty"),
        pytest.param("soon", None, id="neither seconds nor a date"),
        pytest.param("120", 120.0, id="seconds"),
        pytest.param(" 120 ", 120.0, id="seconds with blanks"),
        pytest.param("3600", 3600.0, id="an hour"),
        pytest.param("86400", 3600.0, id="a day: at most an hour"),
        pytest.param("Thu, 01 Jan 2099 00:01:30 GMT", 90.0, id="an HTTP date 90 s ahead"),
        pytest.param("Wed, 31 Dec 2098 23:59:00 GMT", 0.0, id="an HTTP date in the past"),
        pytest.param("Fri, 01 Jan 2100 00:00:00 GMT", 3600.0, id="an HTTP date a year ahead: at most an hour"),
    ],
)
def test_retry_after_reads_seconds_or_an_http_date_capped_at_an_hour(
    monkeypatch: pytest.MonkeyPatch, header: str | None, seconds: float | None
) -> None:
    now = datetime(2099, 1, 1, tzinfo=timezone.utc).timestamp()
    monkeypatch.setattr(ind_alert.time, "time", lambda: now)
    assert ind_alert.retry_after(refused(429, header)) == seconds


@pytest.mark.parametrize(
    ("status", "kept"), [(403, 120.0), (429, 120.0), (503, None), (404, None)], ids=["403", "429", "503", "404"]
)
def test_only_a_refusal_carries_inds_retry_after(status: int, kept: float | None) -> None:
    """A block or a rate limit asks the watch to wait; an outage or a changed API does not."""
    assert ind_alert.refusal(refused(status, "120")).retry_after == kept


# ======================================================================================= IND: fetch_all


@pytest.fixture
def new_threads() -> Iterator[None]:
    """Join the threads a test started (fetch_all's daemon workers) so none outlives its mocks."""
    before = set(threading.enumerate())
    yield
    for thread in set(threading.enumerate()) - before:
        thread.join(timeout=5)


def test_each_distinct_query_is_fetched_once(rsps: responses.RequestsMock) -> None:
    rsps.get(query_url(AM_BIO), body=load_fixture("slots-bio-am-1p.txt"), content_type=JSON)
    rsps.get(query_url(DH_DOC), body=load_fixture("slots-empty.txt"), content_type=JSON)
    # A duplicate awaited as a query of its own would never be answered: it would time out as a failure.
    results = ind_alert.fetch_all(IND, [AM_BIO, DH_DOC, AM_BIO, DH_DOC, AM_BIO], deadline=1.0)
    assert sorted(call.request.url for call in rsps.calls) == sorted([query_url(AM_BIO), query_url(DH_DOC)])
    assert set(results) == {AM_BIO, DH_DOC}
    assert [s.id for s in results[AM_BIO].slots] == FIXTURE_IDS
    assert results[DH_DOC] == ind_alert.Answer(())


def test_a_failing_query_does_not_affect_the_others(rsps: responses.RequestsMock) -> None:
    broken = Query("ZW", "VAA", 1)
    rsps.get(query_url(AM_BIO), body=load_fixture("slots-bio-am-1p.txt"), content_type=JSON)
    rsps.get(query_url(broken), status=404, body="Not Found")
    rsps.get(query_url(DH_DOC), body=HTML_MAINTENANCE, content_type="text/html")
    results = ind_alert.fetch_all(IND, [AM_BIO, broken, DH_DOC])
    assert [s.id for s in results[AM_BIO].slots] == FIXTURE_IDS
    assert isinstance(results[broken], SourceError)
    assert "404" in str(results[broken])
    assert isinstance(results[DH_DOC], SourceError)
    assert len(rsps.calls) == 3


def test_a_query_unanswered_at_the_deadline_is_a_source_error_and_the_others_still_count(
    rsps: responses.RequestsMock, new_threads: None
) -> None:
    release = threading.Event()

    def never_answers(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        release.wait(timeout=10)
        return 200, {}, load_fixture("slots-empty.txt")

    rsps.add_callback(responses.GET, query_url(DH_DOC), callback=never_answers)
    rsps.get(query_url(AM_BIO), body=load_fixture("slots-bio-am-1p.txt"), content_type=JSON)
    try:
        results = ind_alert.fetch_all(IND, [AM_BIO, DH_DOC], deadline=0.2)
    finally:
        release.set()  # let the worker finish before the mock is torn down (new_threads joins it)
    assert isinstance(results[DH_DOC], SourceError)
    assert "did not answer" in str(results[DH_DOC])
    assert [s.id for s in results[AM_BIO].slots] == FIXTURE_IDS


@pytest.mark.parametrize("workers", [pytest.param(2, id="two workers"), pytest.param(4, id="the default four")])
def test_no_more_than_workers_queries_are_in_flight_at_once(
    workers: int, rsps: responses.RequestsMock, new_threads: None
) -> None:
    queries = [Query(desk, "BIO", persons) for desk in ("AM", "DH") for persons in range(1, 6)]
    lock = threading.Lock()
    active = peak = 0
    threads: set[int] = set()
    all_in = threading.Event()

    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
            threads.add(threading.get_ident())
            if active == workers:
                all_in.set()
        # The first requests wait until `workers` are in flight together: proves they overlap.
        all_in.wait(timeout=3)
        with lock:
            active -= 1
        return 200, {}, load_fixture("slots-empty.txt")

    for desk in ("AM", "DH"):
        rsps.add_callback(responses.GET, f"{IND}/desks/{desk}/slots", callback=answer)
    kwargs = {} if workers == ind_alert.MAX_PARALLEL else {"workers": workers}
    results = ind_alert.fetch_all(IND, queries, **kwargs)  # type: ignore[arg-type]
    assert results == {query: ind_alert.Answer(()) for query in queries}
    assert all_in.is_set(), "the queries were never in flight together"
    assert peak == workers
    assert len(threads) <= workers
    assert len(rsps.calls) == len(queries)


def test_the_default_is_four_at_a_time_and_a_run_ends_within_a_minute() -> None:
    assert ind_alert.MAX_PARALLEL == 4
    assert ind_alert.FETCH_DEADLINE + ind_alert.CONNECT_TIMEOUT < 60


# ======================================================================================= IND: list_desks


def test_the_desks_of_a_product_are_listed_from_the_desks_endpoint(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{IND}/desks/?productKey=BIO", body=load_fixture("desks-bio.txt"), content_type=JSON)
    desks = ind_alert.list_desks(IND, "BIO")
    assert rsps.calls[0].request.url == f"{IND}/desks/?productKey=BIO"
    assert rsps.calls[0].request.headers["oap-locale"] == "en"
    expected = [
        ("AM", "IND Amsterdam"),
        ("DH", "IND Den Haag"),
        ("ZW", "IND Zwolle"),
        ("DB", "IND Den Bosch"),
        ("6b425ff9f87de136a36b813cccf26e23", "IND Haarlem"),
        ("fa24ccf0acbc76a7793765937eaee440", "Expatcenter Utrecht"),
    ]
    assert desks == sorted(expected)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(HTML_MAINTENANCE, id="a web page instead of the desk list is an error"),
        pytest.param(ind_body({"status": "ERROR", "data": []}), id="a desk list with status error is an error"),
        pytest.param(ind_body({"status": "OK", "data": [{"key": "AM"}]}), id="a desk without a name is an error"),
    ],
)
def test_a_malformed_desk_list_is_a_source_error(body: str, rsps: responses.RequestsMock) -> None:
    rsps.get(f"{IND}/desks/?productKey=BIO", body=body)
    with pytest.raises(SourceError):
        ind_alert.list_desks(IND, "BIO")


# ======================================================================================= Pushover client


PUSH = Push(
    title="IND Amsterdam: Biometrics: 1 new slot",
    message="Mon 5 Oct 09:00",
    url="https://oap.ind.nl/oap/en/#/BIO",
    url_title="Book at IND (IND Amsterdam)",
)
MESSAGES = f"{PUSHOVER}/messages.json"
QUOTA = {"X-Limit-App-Limit": "10000", "X-Limit-App-Remaining": "9876", "X-Limit-App-Reset": "1793491200"}
OK = {"status": 1, "request": "647d2300-702c-4b38-8b2f-d56326ae460b"}
TOKEN_INVALID = {"token": "invalid", "errors": ["application token is invalid"], "status": 0, "request": "r"}
USER_INVALID = {
    "user": "invalid",
    "errors": ["user identifier is not a valid user, group, or subscribed user key"],
    "status": 0,
    "request": "r",
}


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(sleeps: list[float]) -> Iterator[PushoverClient]:
    with requests.Session() as http:
        yield PushoverClient(PUSHOVER, FAKE_TOKEN, session=http, sleep=sleeps.append)


def test_a_message_sends_exactly_the_documented_form_fields(
    rsps: responses.RequestsMock, client: PushoverClient
) -> None:
    rsps.post(MESSAGES, json=OK, headers=QUOTA)
    client.message(FAKE_USER, PUSH)
    assert form(rsps.calls[0]) == {
        "token": FAKE_TOKEN,
        "user": FAKE_USER,
        "title": PUSH.title,
        "message": PUSH.message,
        "url": PUSH.url,
        "url_title": PUSH.url_title,
        "priority": "0",
    }
    assert rsps.calls[0].request.req_kwargs["timeout"] is not None


def test_a_sound_is_sent_only_when_the_alert_sets_one(rsps: responses.RequestsMock, client: PushoverClient) -> None:
    rsps.post(MESSAGES, json=OK)
    client.message(FAKE_USER, Push(**{**PUSH.__dict__, "sound": "siren", "priority": 1}))
    sent = form(rsps.calls[0])
    assert sent["sound"] == "siren"
    assert sent["priority"] == "1"
    assert {"retry", "expire", "tags"}.isdisjoint(sent)


def test_an_emergency_push_carries_retry_expire_and_its_tag(
    rsps: responses.RequestsMock, client: PushoverClient
) -> None:
    rsps.post(MESSAGES, json={**OK, "receipt": "rLqVuqTRh62UzxtmqiaLzQmVcPgiCy"})
    client.message(FAKE_USER, Push(**{**PUSH.__dict__, "priority": 2, "tag": "ind-alert-0123456789abcdef"}))
    sent = form(rsps.calls[0])
    assert set(sent) == {"token", "user", "title", "message", "url", "url_title", "priority", "retry", "expire", "tags"}
    assert sent["priority"] == "2"
    assert sent["tags"] == "ind-alert-0123456789abcdef"
    assert int(sent["retry"]) >= 30  # Pushover's minimum
    assert int(sent["expire"]) <= 10800  # Pushover's maximum


def test_a_200_with_status_1_is_delivered_and_the_quota_is_read(
    rsps: responses.RequestsMock, client: PushoverClient, sleeps: list[float]
) -> None:
    rsps.post(MESSAGES, json=OK, headers=QUOTA)
    client.message(FAKE_USER, PUSH)
    assert client.quota == (10000, 9876, 1793491200)
    assert len(rsps.calls) == 1
    assert sleeps == []


def test_a_200_with_status_0_is_not_a_delivery(rsps: responses.RequestsMock, client: PushoverClient) -> None:
    rsps.post(MESSAGES, json={"status": 0, "request": "r"})
    with pytest.raises(NotifyError):
        client.message(FAKE_USER, PUSH)


def test_a_rejected_token_is_permanent_sent_once_and_named_without_its_value(
    rsps: responses.RequestsMock, client: PushoverClient, sleeps: list[float]
) -> None:
    rsps.post(MESSAGES, status=400, json=TOKEN_INVALID, headers=QUOTA)
    with pytest.raises(NotifyError) as caught:
        client.message(FAKE_USER, PUSH)
    assert caught.value.permanent
    assert caught.value.exit_code == 1
    assert len(rsps.calls) == 1
    assert sleeps == []
    text = str(caught.value)
    assert "application token" in text
    assert FAKE_TOKEN not in text
    assert FAKE_USER not in text


def test_after_a_rejected_token_no_further_request_is_made(
    rsps: responses.RequestsMock, client: PushoverClient
) -> None:
    rsps.post(MESSAGES, status=400, json=TOKEN_INVALID)
    with pytest.raises(NotifyError):
        client.message(FAKE_USER, PUSH)
    # The mock stays registered: a second request would be answered, and counted.
    for again in (lambda: client.message("uQiRzpo4DXghDmr9QzzfQu27cmVRsX", PUSH), lambda: client.validate(FAKE_USER)):
        with pytest.raises(NotifyError) as caught:
            again()
        assert caught.value.permanent
        assert FAKE_TOKEN not in str(caught.value)
    assert len(rsps.calls) == 1


def test_a_rejected_user_key_is_permanent_and_named_without_its_value(
    rsps: responses.RequestsMock, client: PushoverClient, sleeps: list[float]
) -> None:
    rsps.post(MESSAGES, status=400, json=USER_INVALID)
    with pytest.raises(NotifyError) as caught:
        client.message(FAKE_USER, PUSH)
    assert caught.value.permanent
    assert len(rsps.calls) == 1
    assert sleeps == []
    text = str(caught.value)
    assert "user key" in text
    assert FAKE_USER not in text
    assert FAKE_TOKEN not in text


def test_a_rejected_user_key_does_not_stop_pushes_to_other_users(
    rsps: responses.RequestsMock, client: PushoverClient
) -> None:
    other = "gznej3rKEVAvPUxu9vvNnqpmZpokzF"
    rsps.post(MESSAGES, status=400, json=USER_INVALID)
    rsps.post(MESSAGES, json=OK)
    with pytest.raises(NotifyError):
        client.message(FAKE_USER, PUSH)
    client.message(other, PUSH)
    assert [form(c)["user"] for c in rsps.calls] == [FAKE_USER, other]


def test_any_other_4xx_is_permanent_and_never_repeated(rsps: responses.RequestsMock, client: PushoverClient) -> None:
    rsps.post(MESSAGES, status=400, json={"message": "cannot be blank", "errors": ["message cannot be blank"]})
    with pytest.raises(NotifyError, match="HTTP 400") as caught:
        client.message(FAKE_USER, PUSH)
    assert caught.value.permanent
    assert len(rsps.calls) == 1


def test_a_500_then_a_200_is_delivered_after_waiting_at_least_five_seconds(
    rsps: responses.RequestsMock, client: PushoverClient, sleeps: list[float]
) -> None:
    rsps.post(MESSAGES, status=500, body="Internal Server Error")
    rsps.post(MESSAGES, json=OK)
    client.message(FAKE_USER, PUSH)
    assert len(rsps.calls) == 2
    assert len(sleeps) == 1
    assert sleeps[0] >= 5
    assert form(rsps.calls[0]) == form(rsps.calls[1])


def test_two_500s_are_a_transient_failure_after_exactly_two_requests(
    rsps: responses.RequestsMock, client: PushoverClient, sleeps: list[float]
) -> None:
    rsps.post(MESSAGES, status=500, body="Internal Server Error")
    rsps.post(MESSAGES, status=502, body="Bad Gateway")
    with pytest.raises(NotifyError) as caught:
        client.message(FAKE_USER, PUSH)
    assert not caught.value.permanent
    assert len(rsps.calls) == 2
    assert len(sleeps) == 1
    assert sleeps[0] >= 5
    assert FAKE_TOKEN not in str(caught.value)


def test_a_dropped_connection_then_a_200_is_delivered(
    rsps: responses.RequestsMock, client: PushoverClient, sleeps: list[float]
) -> None:
    rsps.post(MESSAGES, body=requests.ConnectionError(f"Connection aborted: {MESSAGES}?token={FAKE_TOKEN}"))
    rsps.post(MESSAGES, json=OK)
    client.message(FAKE_USER, PUSH)
    assert len(rsps.calls) == 2
    assert len(sleeps) == 1
    assert sleeps[0] >= 5


def test_two_dropped_connections_are_transient_and_never_show_the_url(
    rsps: responses.RequestsMock, client: PushoverClient
) -> None:
    leak = f"Connection aborted: {MESSAGES}?token={FAKE_TOKEN}"
    rsps.post(MESSAGES, body=requests.ConnectionError(leak))
    rsps.post(MESSAGES, body=requests.ConnectionError(leak))
    with pytest.raises(NotifyError) as caught:
        client.message(FAKE_USER, PUSH)
    assert not caught.value.permanent
    assert "http" not in str(caught.value).lower()
    assert FAKE_TOKEN not in str(caught.value)
    assert caught.value.__suppress_context__ or caught.value.__context__ is None


def test_a_429_with_the_quota_used_up_is_not_retried_and_is_transient(
    rsps: responses.RequestsMock, client: PushoverClient, sleeps: list[float]
) -> None:
    over_quota = {**QUOTA, "X-Limit-App-Remaining": "0"}
    rsps.post(MESSAGES, status=429, json={"status": 0, "errors": ["quota exceeded"]}, headers=over_quota)
    with pytest.raises(NotifyError) as caught:
        client.message(FAKE_USER, PUSH)
    assert not caught.value.permanent
    assert len(rsps.calls) == 1
    assert sleeps == []
    assert client.quota == (10000, 0, 1793491200)
    with pytest.raises(NotifyError, match=r"^not sent: Pushover's monthly message quota is used up"):
        client.message(FAKE_USER, PUSH)  # nothing more is asked of Pushover this run
    assert len(rsps.calls) == 1


def test_a_429_with_messages_left_is_retried_once_then_transient(
    rsps: responses.RequestsMock, client: PushoverClient, sleeps: list[float]
) -> None:
    rsps.post(MESSAGES, status=429, json={"status": 0, "errors": ["slow down"]}, headers=QUOTA)
    rsps.post(MESSAGES, status=429, json={"status": 0, "errors": ["slow down"]}, headers=QUOTA)
    with pytest.raises(NotifyError) as caught:
        client.message(FAKE_USER, PUSH)
    assert not caught.value.permanent
    assert len(rsps.calls) == 2
    assert len(sleeps) == 1


def test_validate_posts_the_token_and_user_to_users_validate(
    rsps: responses.RequestsMock, client: PushoverClient
) -> None:
    rsps.post(f"{PUSHOVER}/users/validate.json", json={"status": 1, "group": 0, "devices": ["phone"]})
    client.validate(FAKE_USER)
    assert form(rsps.calls[0]) == {"token": FAKE_TOKEN, "user": FAKE_USER}


def test_a_user_key_that_does_not_validate_is_permanent(rsps: responses.RequestsMock, client: PushoverClient) -> None:
    rsps.post(f"{PUSHOVER}/users/validate.json", status=400, json=USER_INVALID)
    with pytest.raises(NotifyError, match="user key") as caught:
        client.validate(FAKE_USER)
    assert caught.value.permanent
    assert len(rsps.calls) == 1


def test_cancel_posts_only_the_token_to_cancel_by_tag(rsps: responses.RequestsMock, client: PushoverClient) -> None:
    rsps.post(f"{PUSHOVER}/receipts/cancel_by_tag/ind-alert-0123456789abcdef.json", json={"status": 1, "request": "r"})
    client.cancel("ind-alert-0123456789abcdef")
    assert form(rsps.calls[0]) == {"token": FAKE_TOKEN}


def test_the_client_never_shows_its_token_in_its_repr() -> None:
    assert FAKE_TOKEN not in repr(PushoverClient(PUSHOVER, FAKE_TOKEN, sleep=lambda _: None))


# ======================================================================================= filter and diff

# Monday 5 October 2026, 08:00 in Amsterdam (CEST, UTC+2).
NOW = datetime(2026, 10, 5, 8, 0, tzinfo=AMS)


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


TOMORROW = at("2026-10-06", "09:00")
NEXT_WEEK = at("2026-10-12", "09:00")
NEXT_MONTH = at("2026-11-02", "09:00")
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


# ======================================================================================= config


BASE = """
[[alert]]
name = "Amsterdam biometrics"
desk = "AM"
product = "BIO"
"""


def parsed_config(text: str) -> ind_alert.Config:
    return ind_alert.parse_config(ind_alert.tomllib.loads(text), "alerts.toml")


def test_the_smallest_config_gives_one_alert_for_the_default_recipient() -> None:
    parsed = parsed_config(BASE)
    assert parsed.alerts == (Alert("Amsterdam biometrics", "AM", "BIO", notify=("you",)),)
    assert parsed.recipients == {"you": ind_alert.DEFAULT_RECIPIENT}
    assert ind_alert.DEFAULT_RECIPIENT.pushover_user_env == "PUSHOVER_USER"


def test_every_key_of_an_alert_is_read() -> None:
    parsed = parsed_config("""
        [recipients.me]
        pushover_user_env = "PUSHOVER_USER"
        [recipients.sms]
        apprise_url_env = "SMS_URL"
        only_urgent = true

        [[alert]]
        name = "Den Haag: biometrics for two"
        desk = "Den Haag"
        product = "biometrics"
        persons = 2
        days_ahead = 14
        after = 2026-12-01
        before = 2026-12-31
        weekdays = ["mon", "Friday"]
        earliest = "8:00"
        latest = "12:30"
        priority = -1
        sound = "siren"
        notify = ["sms", "me"]
        urgent_within_days = 2
        urgent_priority = 2
        blind_after_minutes = 90
    """)
    assert parsed.alerts[0] == Alert(
        name="Den Haag: biometrics for two",
        desk="DH",
        product="BIO",
        persons=2,
        days_ahead=14,
        after=date(2026, 12, 1),
        before=date(2026, 12, 31),
        weekdays=frozenset({0, 4}),
        earliest=dtime(8, 0),
        latest=dtime(12, 30),
        priority=-1,
        sound="siren",
        notify=("sms", "me"),
        urgent_within_days=2,
        urgent_priority=2,
        blind_after_minutes=90,
    )
    assert parsed.recipients["sms"] == Recipient("sms", apprise_url_env="SMS_URL", only_urgent=True)
    assert [r.name for r in parsed.recipients_of(parsed.alerts[0])] == ["sms", "me"]


def test_the_defaults_table_applies_to_every_alert_unless_it_says_otherwise() -> None:
    parsed = parsed_config("""
        [defaults]
        days_ahead = 7
        persons = 2
        weekdays = ["mon"]

        [[alert]]
        name = "one"
        desk = "AM"
        product = "BIO"

        [[alert]]
        name = "two"
        desk = "DH"
        product = "DOC"
        days_ahead = 3
    """)
    one, two = parsed.alerts
    assert (one.days_ahead, one.persons, one.weekdays) == (7, 2, frozenset({0}))
    assert (two.days_ahead, two.persons, two.weekdays) == (3, 2, frozenset({0}))


@pytest.mark.parametrize(
    ("desk", "key"),
    [
        pytest.param("AM", "AM", id="a desk key"),
        pytest.param("am", "AM", id="a desk key in lower case"),
        pytest.param("Amsterdam", "AM", id="a desk name without IND"),
        pytest.param("IND AMSTERDAM", "AM", id="a desk name in upper case"),
        pytest.param(" den haag ", "DH", id="a desk name with spaces around it"),
        pytest.param("expatcenter utrecht", "fa24ccf0acbc76a7793765937eaee440", id="an expatcenter by name"),
        pytest.param("IND Brabanthallen, Den Bosch", "87d19bfc2e1b572ac3aab17032ed11dc", id="a name with a comma"),
        pytest.param("6B425FF9F87DE136A36B813CCCF26E23", "6b425ff9f87de136a36b813cccf26e23", id="a hex key in caps"),
    ],
)
def test_desks_are_known_by_key_or_name_in_any_case(desk: str, key: str) -> None:
    assert parsed_config(BASE.replace('desk = "AM"', f'desk = "{desk}"')).alerts[0].desk == (key,)


@pytest.mark.parametrize(
    ("product", "key"),
    [
        pytest.param("DOC", "DOC", id="a product key"),
        pytest.param("bio", "BIO", id="a product key in lower case"),
        pytest.param("Biometrics", "BIO", id="a product name"),
        pytest.param("RESIDENCE ENDORSEMENT STICKER", "VAA", id="a product name in upper case"),
        pytest.param("collect residence permit", "DOC", id="another name for collecting the document"),
        pytest.param("return visa", "TKV", id="the return visa by name"),
    ],
)
def test_products_are_known_by_key_or_name_in_any_case(product: str, key: str) -> None:
    assert parsed_config(BASE.replace('product = "BIO"', f'product = "{product}"')).alerts[0].product == key


def test_every_desk_of_the_reference_is_known() -> None:
    assert len(ind_alert.DESKS) == 17
    for key, name in ind_alert.DESKS.items():
        assert ind_alert.resolve_desk(key, "x") == key
        assert ind_alert.resolve_desk(name, "x") == key


def test_urgent_within_days_0_is_accepted_and_makes_todays_slots_urgent() -> None:
    parsed = parsed_config(BASE + "urgent_within_days = 0\n")
    assert parsed.alerts[0].urgent_within_days == 0
    assert ind_alert.is_urgent(parsed.alerts[0], at("2026-10-05", "15:00"), NOW)
    assert not ind_alert.is_urgent(parsed.alerts[0], TOMORROW, NOW)


def test_an_explicit_urgent_priority_of_0_is_kept() -> None:
    # e.g. urgency only to route to an only_urgent recipient, without bypassing quiet hours.
    parsed = parsed_config(BASE + "urgent_within_days = 1\nurgent_priority = 0\n")
    assert parsed.alerts[0].urgent_priority == 0


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param(
            "days_ahed = 3", ['unknown key "days_ahed"', 'did you mean "days_ahead"'], id="a misspelt key is named"
        ),
        pytest.param(
            "[[alerts]]\nname='x'", ['unknown key "alerts"', 'did you mean "alert"'], id="a misspelt table is named"
        ),
        pytest.param("[defaults]\nname = 'x'", ['unknown key "name"', "[defaults]"], id="a name cannot be a default"),
        pytest.param(
            "[defaults]\ndays_ahed = 3",
            ['unknown key "days_ahed"', "[defaults]", 'did you mean "days_ahead"'],
            id="a misspelt default is named",
        ),
        pytest.param(
            "[recipients.me]\npushover_user_env = 'PUSHOVER_USER'\nonly_urgnt = true",
            ['unknown key "only_urgnt"', 'did you mean "only_urgent"', "[recipients.me]"],
            id="a misspelt recipient key is named",
        ),
    ],
)
def test_an_unknown_key_anywhere_is_an_error_that_names_it(extra: str, expected: list[str]) -> None:
    text = extra + "\n" + BASE if extra.startswith("[") else BASE + extra
    with pytest.raises(ConfigError) as caught:
        parsed_config(text)
    assert caught.value.exit_code == 2
    for part in expected:
        assert part in str(caught.value)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(
            'desk = "Amsterdm"',
            ['unknown desk "Amsterdm"', 'did you mean "Amsterdam"', "--list-desks"],
            id="an unknown desk is named with a suggestion",
        ),
        pytest.param('desk = "XX"', ['unknown desk "XX"', "--list-desks"], id="an unknown desk key points to the list"),
        pytest.param(
            'desk = "RO"',
            ['desk "RO" is retired', "Expatcenter Rotterdam"],
            id="the retired Rotterdam desk names its successor",
        ),
        pytest.param(
            'desk = "ut"',
            ["retired", "Expatcenter Utrecht"],
            id="the retired Utrecht desk names its successor in any case",
        ),
        pytest.param(
            'product = "biometric"',
            ['unknown product "biometric"', 'did you mean "biometrics"', "DOC, BIO, VAA or TKV"],
            id="an unknown product is named with a suggestion",
        ),
        pytest.param("persons = 0", ["persons", "1 to 6", "not 0"], id="zero persons is refused"),
        pytest.param("persons = 7", ["persons", "1 to 6", "not 7"], id="seven persons are refused"),
        pytest.param('persons = "2"', ["persons", "remove the quotes"], id="persons as text is refused"),
        pytest.param("persons = true", ["persons", "1 to 6"], id="persons as a boolean is refused"),
        pytest.param("days_ahead = -1", ["days_ahead"], id="a negative days_ahead is refused"),
        pytest.param('earliest = "9.30"', ["earliest", '"09:30"', "9.30"], id="a time with a dot is refused"),
        pytest.param('latest = "24:00"', ["latest", '"09:30"'], id="hour 24 is refused"),
        pytest.param('earliest = "09:60"', ["earliest"], id="minute 60 is refused"),
        pytest.param('earliest = "9am"', ["earliest"], id="am and pm are refused"),
        pytest.param("earliest = 930", ["earliest"], id="a time as a number is refused"),
        pytest.param('after = "2026-12-01"', ["after", "TOML date", "no quotes"], id="a date in quotes is refused"),
        pytest.param(
            "before = 2026-12-01T09:00:00",
            ["before must be a date without a time: write before = 2026-12-01"],
            id="a date and time is refused with the date form to write",
        ),
        pytest.param(
            "after = 2026-12-31\nbefore = 2026-12-01",
            ["after (2026-12-31) is later than before (2026-12-01)"],
            id="after later than before is refused",
        ),
        pytest.param(
            'earliest = "13:00"\nlatest = "12:00"',
            ["earliest (13:00) is later than latest (12:00)"],
            id="earliest later than latest is refused",
        ),
        pytest.param('weekdays = ["funday"]', ["weekdays", "funday"], id="an unknown weekday is refused"),
        pytest.param('weekdays = "mon"', ["weekdays", "list"], id="weekdays as text is refused"),
        pytest.param("priority = 2", ["priority", "-2 to 1"], id="priority 2 is only for urgent slots"),
        pytest.param("notify = []", ["notify is empty"], id="an empty notify list is refused"),
        pytest.param(
            'notify = ["PUSHOVER_USER"]', ['unknown recipient "PUSHOVER_USER"'], id="notify names recipients not keys"
        ),
    ],
)
def test_a_bad_alert_value_is_an_error_that_says_what_to_fix(line: str, expected: list[str]) -> None:
    text = BASE.replace('desk = "AM"\n', "") if line.startswith("desk") else BASE
    text = text.replace('product = "BIO"\n', "") if line.startswith("product") else text
    with pytest.raises(ConfigError) as caught:
        parsed_config(text + line + "\n")
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert 'alert "Amsterdam biometrics"' in message
    for part in expected:
        assert part in message


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("name", id="a missing name"),
        pytest.param("desk", id="a missing desk"),
        pytest.param("product", id="a missing product"),
    ],
)
def test_a_missing_required_key_is_an_error_that_names_it(key: str) -> None:
    lines = [line for line in BASE.splitlines() if not line.startswith(f"{key} =")]
    with pytest.raises(ConfigError) as caught:
        parsed_config("\n".join(lines))
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert f"{key} is required" in message
    resolve = {"desk": ind_alert.resolve_desk, "product": ind_alert.resolve_product}.get(key)
    if resolve is not None and f'{key} = "' in message:
        # An example in the message must itself be a valid value for that key.
        resolve(message.split(f'{key} = "', 1)[1].split('"', 1)[0], "the example")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", ["no alerts", "[[alert]]"], id="a config without alerts is refused"),
        pytest.param(
            BASE + BASE.replace('"AM"', '"DH"'),
            ['name "Amsterdam biometrics" is used twice'],
            id="a duplicate alert name is refused",
        ),
        pytest.param(
            '[recipients.partner]\npushover_user_env = "PUSHOVER_USER_PARTNER"\n' + BASE + 'notify = ["partnr"]\n',
            ['unknown recipient "partnr"', 'did you mean "partner"'],
            id="an unknown recipient is named with a suggestion",
        ),
        pytest.param(
            '[recipients.me]\npushover_user_env = "PUSHOVER_USER"\napprise_url_env = "TELEGRAM_URL"\n' + BASE,
            ["[recipients.me]", "exactly one of pushover_user_env or apprise_url_env"],
            id="a recipient with both channels is refused",
        ),
        pytest.param(
            "[recipients.me]\nonly_urgent = true\n" + BASE,
            ["[recipients.me]", "exactly one of pushover_user_env or apprise_url_env"],
            id="a recipient with no channel is refused",
        ),
        pytest.param(
            '[recipients.me]\npushover_user_env = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG-"\n' + BASE,
            ["name an environment variable in capitals", "not the secret itself"],
            id="a secret written where its variable name belongs is refused",
        ),
        pytest.param(
            '[recipients.me]\napprise_url_env = "SMS_URL"\nonly_urgent = "yes"\n' + BASE,
            ["only_urgent", "true or false"],
            id="only_urgent must be a boolean",
        ),
        pytest.param('recipients = ["me"]\n' + BASE, ["recipients must be tables"], id="recipients must be tables"),
    ],
)
def test_a_bad_config_is_an_error_that_says_what_to_fix(text: str, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        parsed_config(text)
    assert caught.value.exit_code == 2
    for part in expected:
        assert part in str(caught.value)


@pytest.mark.parametrize(
    "pasted",
    [
        pytest.param(FAKE_USER, id="a user key pasted as the variable name is never echoed"),
        pytest.param(f" {FAKE_USER} ", id="a user key pasted with spaces is never echoed"),
    ],
)
def test_a_user_key_pasted_where_its_variable_name_belongs_is_never_echoed(pasted: str) -> None:
    # Wherever it is caught (reading the config or checking the secrets), the key must not be printed.
    with pytest.raises(ConfigError) as caught:
        pasted_config = parsed_config(f'[recipients.me]\npushover_user_env = "{pasted}"\n' + BASE)
        ind_alert.require_secrets(pasted_config, {"PUSHOVER_TOKEN": FAKE_TOKEN})
    assert FAKE_USER not in str(caught.value)


def test_the_shipped_alerts_toml_is_valid() -> None:
    parsed = ind_alert.load_config(ROOT / "alerts.toml")
    assert parsed.alerts


# ======================================================================================= state


FULL_STATE = State(
    alerts={
        "Amsterdam biometrics": AlertState(
            sent={"me": frozenset({TOMORROW.id, NEXT_WEEK.id}), "partner": frozenset({TOMORROW.id})},
            emergencies={"ind-alert-0123456789abcdef": Emergency(frozenset({TOMORROW.id}), 1_790_003_600)},
            failing_since=1_790_000_000,
            blind_notified=True,
        ),
        "Den Haag sticker": AlertState(sent={"me": frozenset({NEXT_MONTH.id})}),
    },
    repository="someone/ind-alert",
    quota_notified=1_793_491_200,
)


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


# ======================================================================================= output


def record(message: str, *args: Any, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord("ind_alert", level, __file__, 1, message, args or None, None)


def test_redact_scrubs_every_secret_from_the_message_and_its_arguments() -> None:
    redact = ind_alert.Redact([FAKE_TOKEN, "abc", ""])
    redact.add([FAKE_USER])
    entry = record("token %s and user %s in %r", FAKE_TOKEN, FAKE_USER, {"k": FAKE_USER})
    assert redact.filter(entry) is True
    text = entry.getMessage()
    assert FAKE_TOKEN not in text
    assert FAKE_USER not in text
    assert text == "token *** and user *** in {'k': '***'}"
    assert "abc" in redact.scrub("abc")  # three characters are too short to be a secret worth hiding


def test_redact_hides_a_longer_secret_whole_even_when_it_contains_a_shorter_one() -> None:
    redact = ind_alert.Redact(["Pi8Ld", "Pi8LdQ9r7Kz"])
    assert redact.scrub("key Pi8LdQ9r7Kz") == "key ***"


def test_the_secret_variables_are_recognised_by_name() -> None:
    for name in ("PUSHOVER_TOKEN", "PUSHOVER_USER", "PUSHOVER_USER_PARTNER", "TELEGRAM_URL", "AWS_SECRET_ACCESS_KEY"):
        assert ind_alert.is_secret_var(name), name
    for name in ("PATH", "HOME", "GITHUB_EVENT_NAME", "GITHUB_REPOSITORY"):
        assert not ind_alert.is_secret_var(name), name


@pytest.mark.parametrize(
    ("github", "level", "message", "line"),
    [
        pytest.param(False, logging.INFO, "state saved", "state saved", id="info is a plain line"),
        pytest.param(False, logging.DEBUG, "50% done", "50% done", id="debug is a plain line"),
        pytest.param(False, ind_alert.NOTICE, "changed", "notice: changed", id="a notice is labelled"),
        pytest.param(False, logging.WARNING, "50% done", "warning: 50% done", id="a warning is labelled"),
        pytest.param(False, logging.ERROR, "no", "error: no", id="an error is labelled"),
        pytest.param(True, logging.INFO, "50%\nx", "50%\nx", id="info in github actions is not an annotation"),
        pytest.param(True, ind_alert.NOTICE, "hi", "::notice::hi", id="a notice becomes a notice annotation"),
        pytest.param(
            True, logging.WARNING, "50% left", "::warning::50%25 left", id="a percent sign is escaped in annotations"
        ),
        pytest.param(
            True, logging.ERROR, "one\ntwo\r\nthree", "::error::one%0Atwo%0D%0Athree", id="newlines are escaped"
        ),
        pytest.param(True, logging.ERROR, "%0A", "::error::%250A", id="an escape sequence in the text stays text"),
        pytest.param(True, logging.CRITICAL, "bad", "::error::bad", id="critical is an error annotation"),
    ],
)
def test_the_formatter(github: bool, level: int, message: str, line: str) -> None:
    assert ind_alert.Formatter(github).format(record(message, level=level)) == line


SCHEDULED = {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "schedule"}
DISPATCHED = {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "workflow_dispatch"}


@pytest.mark.parametrize(
    ("env", "error", "expected"),
    [
        pytest.param(
            SCHEDULED,
            ind_alert.NotConfigured,
            ["not configured yet", "PUSHOVER_TOKEN", "PUSHOVER_USER"],
            id="a scheduled run without any secret is a notice not a failure",
        ),
        pytest.param(
            {**SCHEDULED, "PUSHOVER_TOKEN": FAKE_TOKEN},
            ConfigError,
            ["PUSHOVER_USER is not set", "Settings > Secrets and variables > Actions"],
            id="a scheduled run with one secret missing is an error naming it",
        ),
        pytest.param(
            DISPATCHED,
            ConfigError,
            ["not configured yet", "PUSHOVER_TOKEN", "PUSHOVER_USER"],
            id="a manual run in actions without secrets is an error saying what to add",
        ),
        pytest.param(
            {**DISPATCHED, "PUSHOVER_USER": FAKE_USER},
            ConfigError,
            ["PUSHOVER_TOKEN is not set", "Settings > Secrets and variables > Actions"],
            id="in actions a missing secret points to the settings page",
        ),
        pytest.param(
            {"PUSHOVER_USER": FAKE_USER, "PUSHOVER_TOKEN": ""},
            ConfigError,
            ["PUSHOVER_TOKEN is not set", "set it in the environment"],
            id="locally an empty secret is a missing secret",
        ),
        pytest.param(
            {},
            ConfigError,
            ["PUSHOVER_TOKEN and PUSHOVER_USER are not set: set them in the environment"],
            id="locally nothing set: every missing secret is named at once",
        ),
        pytest.param(
            {"GITHUB_EVENT_NAME": "schedule"},
            ind_alert.NotConfigured,
            ["not configured yet"],
            id="a schedule event alone is enough to stay quiet",
        ),
    ],
)
def test_require_secrets(env: dict[str, str], error: type[Exception], expected: list[str]) -> None:
    with pytest.raises(ConfigError if error is ConfigError else ind_alert.AlertError) as caught:
        ind_alert.require_secrets(parsed_config(BASE), env)
    assert type(caught.value) is error
    assert caught.value.exit_code == (0 if error is ind_alert.NotConfigured else 2)
    for part in expected:
        assert part in str(caught.value)
    assert FAKE_TOKEN not in str(caught.value)
    assert FAKE_USER not in str(caught.value)


def test_require_secrets_is_quiet_when_every_secret_is_set() -> None:
    ind_alert.require_secrets(parsed_config(BASE), {"PUSHOVER_TOKEN": FAKE_TOKEN, "PUSHOVER_USER": FAKE_USER})


@pytest.mark.parametrize("env", [pytest.param(SCHEDULED, id="scheduled"), pytest.param(DISPATCHED, id="dispatched")])
def test_the_not_configured_guidance_names_the_variables_this_config_needs(env: dict[str, str]) -> None:
    couple = parsed_config(
        """
        [recipients.me]
        pushover_user_env = "PUSHOVER_USER_ME"
        [recipients.partner]
        apprise_url_env = "TELEGRAM_URL"
    """
        + BASE
    )
    with pytest.raises(ind_alert.AlertError) as caught:
        ind_alert.require_secrets(couple, env)
    message = str(caught.value)
    for name in ("PUSHOVER_TOKEN", "PUSHOVER_USER_ME", "TELEGRAM_URL"):
        assert name in message
    assert "PUSHOVER_USER," not in message and "PUSHOVER_USER " not in message


# ======================================================================================= main, in process


PARTNER = "gznej3rKEVAvPUxu9vvNnqpmZpokzF"
FRIEND = "aCxdXykvZGHp9bEcVNzTdrnpMyVS6q"
ALERTS_TOML = """
[recipients.me]
pushover_user_env = "PUSHOVER_USER"
[recipients.partner]
pushover_user_env = "PUSHOVER_USER_PARTNER"
[recipients.friend]
pushover_user_env = "PUSHOVER_USER_FRIEND"

[[alert]]
name = "Amsterdam biometrics"
desk = "Amsterdam"
product = "biometrics"
"""


def future_slots_body() -> tuple[str, list[str]]:
    """The fixture's six slots moved to the weeks ahead (main() reads the real clock)."""
    data = json.loads(slots_json())["data"]
    first = datetime.now(AMS).date() + timedelta(days=10)  # Amsterdam's today, as main() counts
    moved = [{**item, "date": (first + timedelta(days=i)).isoformat()} for i, item in enumerate(data)]
    ids = [f"AM {item['date']} {item['startTime']}-{item['endTime']}" for item in moved]
    return ind_body({"status": "OK", "data": moved}), ids


def test_a_verbose_run_pushes_survives_a_5xx_and_a_4xx_and_never_shows_a_secret(
    rsps: responses.RequestsMock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    (tmp_path / "alerts.toml").write_text(ALERTS_TOML, encoding="utf-8")
    state_path = tmp_path / "state" / "seen.json"
    body, ids = future_slots_body()
    rsps.get(SLOTS_URL, body=body, content_type=JSON)
    rsps.get(f"{IND}/desks/?productKey=BIO", body=load_fixture("desks-bio.txt"), content_type=JSON)

    answers = {
        FAKE_USER: [(200, QUOTA, json.dumps(OK))],
        PARTNER: [(500, {}, "Internal Server Error"), (503, {}, "Service Unavailable")],
    }

    def pushover(request: requests.PreparedRequest) -> tuple[int, Mapping[str, str], str]:
        fields = dict(parse_qsl(str(request.body)))
        assert fields["token"] == FAKE_TOKEN
        status, headers, text = answers[fields["user"]].pop(0)
        return status, {"Content-Type": "application/json", **headers}, text

    rsps.add_callback(responses.POST, MESSAGES, callback=pushover)

    def validate(request: requests.PreparedRequest) -> tuple[int, Mapping[str, str], str]:
        user = dict(parse_qsl(str(request.body)))["user"]
        return (400, {}, json.dumps(USER_INVALID)) if user == FRIEND else (200, {}, json.dumps(OK))

    rsps.add_callback(responses.POST, f"{PUSHOVER}/users/validate.json", callback=validate)

    # PushoverClient's sleep default was bound at import, so patching time.sleep cannot reach it: inject it.
    waits: list[float] = []
    real_sleeps: list[float] = []
    make_client = ind_alert.pushover_client

    def client_that_does_not_wait(config: ind_alert.Config, env: Mapping[str, str]) -> PushoverClient | None:
        made = make_client(config, env)
        assert made is not None
        made.sleep = waits.append
        return made

    monkeypatch.setattr(ind_alert, "pushover_client", client_that_does_not_wait)
    monkeypatch.setattr(ind_alert.time, "sleep", real_sleeps.append)

    # Capture the raw records before Redact sees them: the secrets must never be logged at all.
    setup = ind_alert.setup_logging

    def setup_and_capture(verbose: bool, env: Mapping[str, str]) -> ind_alert.Redact:
        redact = setup(verbose, env)
        ind_alert.log.handlers.insert(0, caplog.handler)
        return redact

    monkeypatch.setattr(ind_alert, "setup_logging", setup_and_capture)
    caplog.set_level(logging.DEBUG)

    env = {
        "PUSHOVER_TOKEN": FAKE_TOKEN,
        "PUSHOVER_USER": FAKE_USER,
        "PUSHOVER_USER_PARTNER": PARTNER,
        "PUSHOVER_USER_FRIEND": FRIEND,
        "PATH": os.environ.get("PATH", ""),
    }
    code = ind_alert.main(["--config", str(tmp_path / "alerts.toml"), "--state", str(state_path), "-v"], env=env)
    out, err = capsys.readouterr()
    logged = caplog.text

    assert code == 1, (out, err)  # a rejected user key is for the user to fix
    pushes = [c for c in rsps.calls if c.request.url == MESSAGES]
    # The friend's key was found rejected before any push: it is never pushed to.
    assert [dict(parse_qsl(str(c.request.body)))["user"] for c in pushes] == [FAKE_USER, PARTNER, PARTNER]
    assert all(answers[user] == [] for user in answers)
    assert waits and all(w >= 5 for w in waits)
    assert len(waits) == 1
    assert real_sleeps == []
    assert [c.request.url for c in rsps.calls if c.request.url.startswith(IND)] == [
        f"{IND}/desks/?productKey=BIO",
        SLOTS_URL,
    ]

    first = dict(parse_qsl(str(pushes[0].request.body)))
    assert first["title"] == "IND Amsterdam: Biometrics: 6 new slots"
    assert first["url"] == "https://oap.ind.nl/oap/en/#/BIO"
    assert len(first["message"].split("\n")) == 6

    assert "Amsterdam biometrics: 6 open, 6 match, 6 new, push failed" in out
    assert "Pushover quota: 9876 of 10000" in out
    assert "warning:" in err and "partner" in err
    assert "error:" in err and "user key" in err and "friend" in err

    saved = json.loads(state_path.read_text(encoding="utf-8"))
    assert saved["alerts"]["Amsterdam biometrics"]["sent"] == {"me": ids}  # only what was delivered

    for secret in (FAKE_TOKEN, FAKE_USER, PARTNER, FRIEND):
        assert secret not in out
        assert secret not in err
        assert secret not in logged
        assert secret not in state_path.read_text(encoding="utf-8")


class NoETagClient:
    """An S3 stand-in whose answer lacks the ETag that every conditional write depends on."""

    def get_object(self, **_: Any) -> dict[str, Any]:
        return {"Body": io.BytesIO(ind_alert.state_to_json(FULL_STATE).encode())}


def test_an_s3_answer_without_an_etag_is_refused_and_nothing_is_written() -> None:
    pytest.importorskip("botocore", reason="S3 state needs boto3: pip install -r tests/requirements.txt")
    store = ind_alert.S3Store("bucket", "seen.json", NoETagClient())
    with pytest.raises(StateError) as caught:
        store.load()
    assert caught.value.exit_code == 2
    assert str(caught.value) == (
        "s3://bucket/seen.json: S3 answered without an ETag or with over 2 MB; it was left untouched"
    )
    assert store.loaded is None and store.etag is None  # so no write can follow on a guess


@pytest.mark.parametrize(
    ("day", "start", "end"),
    [
        ("2030-03-04", "08:15Z", "08:25"),  # a zone suffix: Python 3.11+ would read it as 08:15 here
        ("2030-03-04", "11:00:30", "11:10"),  # seconds: one id for two different answers
        ("2030-03-04", "9:00", "09:10"),
        ("20300304", "09:00", "09:10"),  # the basic ISO form, read by Python 3.11+ only
        ("2030-W10-1", "09:00", "09:10"),
    ],
)
def test_ind_dates_and_times_are_read_only_in_the_forms_ind_writes(day: str, start: str, end: str) -> None:
    good = {"key": "a" * 32, "date": "2030-03-05", "startTime": "10:00", "endTime": "10:10", "parts": 1}
    odd = {**good, "date": day, "startTime": start, "endTime": end}
    body = ind_body({"status": "OK", "data": [good, odd]})

    assert [s.id for s in ind_alert.parse_slots(body, "AM").slots] == ["AM 2030-03-05 10:00-10:10"]


def test_an_empty_weekdays_list_is_refused_as_it_could_never_match() -> None:
    with pytest.raises(ConfigError) as caught:
        parsed_config(BASE + "weekdays = []\n")
    assert caught.value.exit_code == 2
    assert 'the weekdays list is empty: name a day like "mon", or leave weekdays out' in str(caught.value)


@pytest.mark.parametrize("key", ["after", "before"])
def test_a_date_at_the_calendars_end_is_refused_in_the_config_not_an_overflow_on_every_run(key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parsed_config(BASE + f"{key} = 9999-12-01\n")
    assert f"{key} must be a date before 2100-01-01, not 9999-12-01" in str(caught.value)
    with pytest.raises(ConfigError):
        parsed_config(BASE + f"{key} = 2100-01-01\n")
    assert parsed_config(BASE + f"{key} = 2099-12-31\n").alerts[0] is not None


def test_desk_any_asks_at_most_40_desks_the_known_ones_first_and_says_how_many_it_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    alert = Alert("Anywhere", (), "BIO")
    listed = [(f"{n:032x}", f"Desk {n}") for n in range(5000)] + [("AM", "IND Amsterdam")]
    desks = ind_alert.DeskLists(lists={"BIO": listed})

    with caplog.at_level(logging.WARNING, logger=ind_alert.log.name):
        asked = desks.desks_of(alert)

    assert len(asked) == 40 and asked[0] == "AM"
    assert [r.getMessage() for r in caplog.records] == [
        (
            'Anywhere: IND lists 5001 desks for biometrics; desk = "any" checks at most 40, so 4961 are not checked:'
            " name the desks you want (--list-desks)"
        )
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=ind_alert.log.name):
        exactly = ind_alert.DeskLists(lists={"BIO": listed[:40]}).desks_of(alert)
    assert exactly == tuple(k for k, _ in listed[:40]) and caplog.records == []
