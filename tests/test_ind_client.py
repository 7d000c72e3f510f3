"""The IND client in process: the exact requests it makes, how it reads slots and desk lists, retries
and errors, and the queries of one run in parallel, against strict ``responses`` mocks."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from fakes import HTML_MAINTENANCE, XSSI_PREFIX, ind_body, load_fixture
from records import AMS, IND, JSON, SLOTS_URL, slots_json

# The script is a module at the repository root, not a package: make it importable however pytest is run.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


import ind_alert  # noqa: E402
from ind_alert import Alert, Query, Slot, SourceError  # noqa: E402

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
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


def query_url(query: Query) -> str:
    return f"{IND}/desks/{query.desk}/slots?productKey={query.product}&persons={query.persons}"


# ======================================================================================= IND: fetch_slots


def test_slots_are_asked_at_the_exact_url_with_the_polite_headers_and_a_timeout(
    rsps: responses.RequestsMock, session: requests.Session
) -> None:
    rsps.get(SLOTS_URL, body=load_fixture("slots-bio-am-1p.txt"), content_type=JSON)
    ind_alert.fetch_slots(session, IND, AM_BIO, ind_alert.Deadline(ind_alert.FETCH_DEADLINE))
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
    answer = ind_alert.fetch_slots(session, IND, AM_BIO, ind_alert.Deadline(ind_alert.FETCH_DEADLINE))
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
    assert [
        s.id for s in ind_alert.fetch_slots(session, IND, AM_BIO, ind_alert.Deadline(ind_alert.FETCH_DEADLINE)).slots
    ] == FIXTURE_IDS


def test_a_key_that_changes_between_polls_does_not_change_the_slot(
    rsps: responses.RequestsMock, session: requests.Session
) -> None:
    data = json.loads(slots_json())["data"]
    rekeyed = [{**item, "key": "0" * 32} for item in data]
    rsps.get(SLOTS_URL, body=ind_body({"status": "OK", "data": rekeyed}), content_type=JSON)
    assert [
        s.id for s in ind_alert.fetch_slots(session, IND, AM_BIO, ind_alert.Deadline(ind_alert.FETCH_DEADLINE)).slots
    ] == FIXTURE_IDS


def test_an_empty_slot_list_is_no_slots(rsps: responses.RequestsMock, session: requests.Session) -> None:
    rsps.get(SLOTS_URL, body=load_fixture("slots-empty.txt"), content_type=JSON)
    assert ind_alert.fetch_slots(
        session, IND, AM_BIO, ind_alert.Deadline(ind_alert.FETCH_DEADLINE)
    ) == ind_alert.Answer(())


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
    assert [
        s.id for s in ind_alert.fetch_slots(session, IND, AM_BIO, ind_alert.Deadline(ind_alert.FETCH_DEADLINE)).slots
    ] == FIXTURE_IDS


def test_one_500_is_retried_and_the_second_answer_counts(
    rsps: responses.RequestsMock, session: requests.Session
) -> None:
    rsps.get(SLOTS_URL, status=500, body="Internal Server Error")
    rsps.get(SLOTS_URL, body=load_fixture("slots-bio-am-1p.txt"), content_type=JSON)
    assert [
        s.id for s in ind_alert.fetch_slots(session, IND, AM_BIO, ind_alert.Deadline(ind_alert.FETCH_DEADLINE)).slots
    ] == FIXTURE_IDS
    assert len(rsps.calls) == 2


def test_two_500s_are_a_source_error_after_exactly_two_requests(
    rsps: responses.RequestsMock, session: requests.Session
) -> None:
    rsps.get(SLOTS_URL, status=500, body="Internal Server Error")
    rsps.get(SLOTS_URL, status=503, body="Service Unavailable")
    with pytest.raises(SourceError, match="503") as caught:
        ind_alert.fetch_slots(session, IND, AM_BIO, ind_alert.Deadline(ind_alert.FETCH_DEADLINE))
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
        ind_alert.fetch_slots(session, IND, AM_BIO, ind_alert.Deadline(ind_alert.FETCH_DEADLINE))
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
    assert len(ind_alert.fetch_slots(session, IND, AM_BIO, ind_alert.Deadline(ind_alert.FETCH_DEADLINE)).slots) == 6
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
        ind_alert.fetch_slots(session, IND, AM_BIO, ind_alert.Deadline(ind_alert.FETCH_DEADLINE))
    assert len(rsps.calls) == 1


def test_a_certificate_error_is_reported_as_such_and_not_retried(
    rsps: responses.RequestsMock, session: requests.Session
) -> None:
    rsps.get(SLOTS_URL, body=requests.exceptions.SSLError(f"certificate verify failed for {SLOTS_URL}"))
    with pytest.raises(SourceError, match="certificate") as caught:
        ind_alert.fetch_slots(session, IND, AM_BIO, ind_alert.Deadline(ind_alert.FETCH_DEADLINE))
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
        ind_alert.fetch_slots(session, IND, AM_BIO, ind_alert.Deadline(ind_alert.FETCH_DEADLINE))
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
    results = ind_alert.fetch_all(IND, [AM_BIO, DH_DOC, AM_BIO, DH_DOC, AM_BIO], deadline=ind_alert.Deadline(1.0))
    assert sorted(call.request.url for call in rsps.calls) == sorted([query_url(AM_BIO), query_url(DH_DOC)])
    assert set(results) == {AM_BIO, DH_DOC}
    assert [s.id for s in results[AM_BIO].slots] == FIXTURE_IDS
    assert results[DH_DOC] == ind_alert.Answer(())


def test_a_failing_query_does_not_affect_the_others(rsps: responses.RequestsMock) -> None:
    broken = Query("ZW", "VAA", 1)
    rsps.get(query_url(AM_BIO), body=load_fixture("slots-bio-am-1p.txt"), content_type=JSON)
    rsps.get(query_url(broken), status=404, body="Not Found")
    rsps.get(query_url(DH_DOC), body=HTML_MAINTENANCE, content_type="text/html")
    results = ind_alert.fetch_all(IND, [AM_BIO, broken, DH_DOC], deadline=ind_alert.Deadline(ind_alert.FETCH_DEADLINE))
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
        results = ind_alert.fetch_all(IND, [AM_BIO, DH_DOC], deadline=ind_alert.Deadline(0.2))
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
    results = ind_alert.fetch_all(IND, queries, deadline=ind_alert.Deadline(ind_alert.FETCH_DEADLINE), **kwargs)  # type: ignore[arg-type]
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
    desks = ind_alert.list_desks(IND, "BIO", ind_alert.Deadline(ind_alert.FETCH_DEADLINE))
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
        ind_alert.list_desks(IND, "BIO", ind_alert.Deadline(ind_alert.FETCH_DEADLINE))


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
