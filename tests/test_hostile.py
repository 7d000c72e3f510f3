"""Hostile input, generated and hand-made: the config, the state document, IND's and Pushover's answers.

Each property says what a bad input may become: a ConfigError, a StateError (exit 2), a SourceError for that
one query, a NotifyError for that one push, and never anything else. Example counts are small and the
search is derandomized, so the file runs the same in CI every time.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import ind_alert  # noqa: E402
from ind_alert import ConfigError, NotifyError, PushoverClient, Query, SourceError, State, StateError  # noqa: E402

FAST = settings(
    max_examples=80, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
IND = "https://oap.ind.nl/oap/api"
PUSHOVER = "https://api.pushover.net/1"

# JSON values, with the keys and shapes the script looks for mixed in so the search reaches deep branches.
KEYS = st.sampled_from(
    [
        "version",
        "alerts",
        "sent",
        "default",
        "failing_since",
        "blind_notified",
        "history",
        "emergencies",
        "slots",
        "expires",
        "validated",
        "repository",
        "quota_notified",
        "status",
        "data",
        "date",
        "startTime",
        "endTime",
        "alert",
        "name",
        "desk",
        "product",
        "persons",
        "recipients",
        "defaults",
        "x",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["OK", "AM", "BIO", "2026-12-01", "09:00", "AM 2026-12-01 09:00-09:10"]),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(KEYS | st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=25,
)


def amsterdam_now() -> datetime:
    return datetime.now(ind_alert.AMSTERDAM)


# --------------------------------------------------------------------------- (a) the config


TOML_PIECES = st.sampled_from(
    [
        "[[alert]]\n",
        "[defaults]\n",
        "[recipients.me]\n",
        'name = "a"\n',
        'desk = "AM"\n',
        'product = "BIO"\n',
        "persons = 2\n",
        "persons = 99999999999999999999\n",
        'pushover_user_env = ""\n',
        'recipients = ["me"]\n',
        "before = 2026-13-01\n",
        'earliest_time = "25:00"\n',
        "x = [[[[1]]]]\n",
        "a.b.c = 1\n",
        '"\\u0000" = 1\n',
        "name = 1e400\n",
        'weekdays = ["mon", 1]\n',
        "= \n",
        "[alert]\n",
    ]
)


@FAST
@given(st.one_of(st.text(max_size=200), st.lists(TOML_PIECES, max_size=12).map("".join)))
def test_any_config_text_is_a_config_or_a_config_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "alerts.toml"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            config = ind_alert.load_config(path)
        except ConfigError as exc:
            assert exc.exit_code == 2
        else:
            assert config.alerts


@FAST
@given(st.dictionaries(st.sampled_from(["alert", "defaults", "recipients"]), JSON_VALUES, max_size=3))
def test_any_parsed_document_is_a_config_or_a_config_error(doc: dict[str, Any]) -> None:
    try:
        ind_alert.parse_config(doc)
    except ConfigError as exc:
        assert exc.exit_code == 2


# --------------------------------------------------------------------------- (b) the state document


def valid_state_doc() -> dict[str, Any]:
    return {
        "version": 2,
        "alerts": {"a": {"sent": {"default": ["AM 2026-12-01 09:00-09:10"]}, "failing_since": 1_700_000_000}},
    }


def mutate(doc: Any, path: list[Any], value: Any) -> Any:
    """doc with the value at path (followed as far as it leads) replaced by value."""
    if not path or not isinstance(doc, (dict, list)) or not doc:
        return value
    if isinstance(doc, dict):
        key = path[0] if path[0] in doc else sorted(doc)[len(str(path[0])) % len(doc)]
        return {**doc, key: mutate(doc[key], path[1:], value)}
    index = path[0] % len(doc) if isinstance(path[0], int) else 0
    return [*doc[:index], mutate(doc[index], path[1:], value), *doc[index + 1 :]]


STATE_TEXTS = st.one_of(
    st.text(max_size=80),
    JSON_VALUES.map(json.dumps),
    st.builds(
        lambda path, value: json.dumps(mutate(valid_state_doc(), path, value)),
        st.lists(KEYS | st.integers(0, 3), max_size=4),
        JSON_VALUES,
    ),
    st.sampled_from(
        [
            '{"version": 2, "alerts": {"a": {"failing_since": 1e400}}}',
            '{"version": 2, "alerts": {}, "x": Infinity}',
            '{"version": 2, "version": 2, "alerts": {}}',
            '{"version": 2, "alerts": {"a": {"failing_since": 1' + "0" * 5000 + "}}}",
            "[" * 100_000 + "]" * 100_000,
        ]
    ),
)


@FAST
@given(STATE_TEXTS)
def test_any_state_text_is_a_state_or_a_state_error(text: str) -> None:
    try:
        state = ind_alert.state_from_json(text, "state/seen.json", {"a": "AM"})
    except StateError as exc:
        assert exc.exit_code == 2
        assert "\n" not in str(exc)
    else:
        assert isinstance(state, State)
        # What is accepted can be written and read back to the same document (empty sets are dropped).
        written = ind_alert.state_to_json(state)
        assert ind_alert.state_to_json(ind_alert.state_from_json(written, "again")) == written


BAD_STATES = [
    '{"version": true, "alerts": {}}',
    '{"version": 1.0, "alerts": {}}',
    '{"version": 2, "alerts": {"AM biometrics": {"failing_since": 1e400}}}',
    '{"version": 2, "alerts": {"AM biometrics": {"failing_since": "12"}}}',
    '{"version": 2, "alerts": {"AM biometrics": {"blind_notified": "false"}}}',
    '{"version": 2, "alerts": {"AM biometrics": {"sent": {"default": {"x": 1}}}}}',
    '{"version": 2, "alerts": {"AM biometrics": {"surprise": 1}}}',
    '{"version": 2, "alerts": {}, "quota_notified": Infinity}',
    "[" * 200_000,
]


@pytest.mark.parametrize("text", BAD_STATES, ids=range(len(BAD_STATES)))
def test_a_bad_state_file_stops_the_run_with_exit_2_and_stays_byte_identical(run, workdir, ind, text: str) -> None:
    day = (amsterdam_now() + timedelta(days=5)).date().isoformat()
    ind.set_slots("AM", "BIO", 1, [(day, "09:00", "09:10")])
    workdir.write_config('[[alert]]\nname = "AM biometrics"\ndesk = "AM"\nproduct = "BIO"\n')
    state = workdir.write("state/seen.json", text)
    before = state.read_bytes()
    result = run()
    assert result.returncode == 2, result.output
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert state.read_bytes() == before


# --------------------------------------------------------------------------- (c) IND's answers


IND_BODIES = st.one_of(
    st.text(max_size=120),
    JSON_VALUES.map(json.dumps),
    st.builds(lambda data: json.dumps({"status": "OK", "data": data}), st.lists(JSON_VALUES, max_size=5)),
    st.builds(
        lambda items: ")]}',\n" + json.dumps({"status": "OK", "data": items}),
        st.lists(st.fixed_dictionaries({"date": SCALARS, "startTime": SCALARS, "endTime": SCALARS}), max_size=4),
    ),
    st.integers(1, 300_000).map(lambda n: '{"status":"OK","data":' + "[" * n + "]" * n + "}"),
)


@FAST
@given(IND_BODIES)
def test_any_ind_body_is_slots_or_a_source_error(body: str) -> None:
    try:
        slots = ind_alert.parse_slots(body, "AM")
    except SourceError:
        return
    assert all(isinstance(s, ind_alert.Slot) and s.desk == "AM" for s in slots)


HEADERS = st.dictionaries(
    st.sampled_from(["Retry-After", "Content-Type", "Content-Encoding", "Location", "X-Other"]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
    max_size=3,
)


@FAST
@given(st.integers(100, 599), HEADERS, st.binary(max_size=200) | IND_BODIES.map(lambda s: s.encode("utf-8", "replace")))
def test_any_ind_answer_affects_only_its_own_query(status: int, headers: dict[str, str], body: bytes) -> None:
    bad, good = Query("AM", "BIO", 1), Query("DH", "BIO", 1)
    day = (amsterdam_now() + timedelta(days=5)).date().isoformat()
    good_body = json.dumps({"status": "OK", "data": [{"date": day, "startTime": "09:00", "endTime": "09:10"}]})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(f"{IND}/desks/AM/slots", status=status, headers=headers, body=body)
        rsps.get(f"{IND}/desks/DH/slots", body=good_body)
        results = ind_alert.fetch_all(IND, [bad, good], deadline=20)
    assert isinstance(results[bad], (list, SourceError))
    assert isinstance(results[good], list) and len(results[good]) == 1


# --------------------------------------------------------------------------- (d) Pushover's answers


QUOTA_HEADERS = st.dictionaries(
    st.sampled_from(["X-Limit-App-Limit", "X-Limit-App-Remaining", "X-Limit-App-Reset", "Content-Type"]),
    st.one_of(
        st.integers(-(2**80), 2**80).map(str), st.text(max_size=25).map(lambda s: s.encode("ascii", "ignore").decode())
    ),
    max_size=4,
)
PUSHOVER_BODIES = st.one_of(
    st.binary(max_size=100),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.builds(
        lambda status, extra: json.dumps({"status": status, **extra}).encode(),
        SCALARS,
        st.dictionaries(KEYS, JSON_VALUES, max_size=3),
    ),
)


@FAST
@given(st.integers(100, 599), QUOTA_HEADERS, PUSHOVER_BODIES)
def test_any_pushover_answer_is_a_delivery_or_a_notify_error(status: int, headers: dict[str, str], body: bytes) -> None:
    client = PushoverClient(PUSHOVER, "azGDORePK8gMaC0QOYAMyEEuzJnyUi", sleep=lambda seconds: None)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(f"{PUSHOVER}/messages.json", status=status, headers=headers, body=body)
        try:
            answer = client.post("/messages.json", {"user": "uQiRzpo4DXghDmr9QzzfQu27cmVRsG", "message": "m"})
        except NotifyError as exc:
            assert "azGDORePK8" not in str(exc)
            return
    assert isinstance(answer, dict) and answer.get("status") == 1
    if client.quota is not None:
        # A quota the script keeps can be shown as a date without overflowing.
        limit, remaining, reset = client.quota
        assert 0 <= remaining <= limit
        datetime.fromtimestamp(reset, ind_alert.AMSTERDAM)
