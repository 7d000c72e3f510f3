"""The loopback fakes behave like the services they stand in for (checked with requests)."""

from __future__ import annotations

import json
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import FAKE_TOKEN, FAKE_USER, Run, Start
from fakes import (
    HTML_MAINTENANCE,
    XSSI_PREFIX,
    FakeIND,
    FakePushover,
    Workdir,
    ind_body,
    run_script,
    script_env,
    start_script,
    strip_xssi,
    wait_until,
)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # no proxy from the environment between us and loopback
        yield session


def slots_url(ind: FakeIND, desk: str = "AM", product: str = "BIO", persons: int = 1) -> str:
    return f"{ind.url}/desks/{desk}/slots?productKey={product}&persons={persons}"


def ind_json(response: requests.Response) -> dict[str, Any]:
    assert response.text.startswith(XSSI_PREFIX)
    doc = json.loads(strip_xssi(response.text))
    assert isinstance(doc, dict)
    return doc


# --------------------------------------------------------------------------- IND


def test_slots_are_served_in_the_real_shape_behind_the_xssi_prefix(ind: FakeIND, http: requests.Session) -> None:
    ind.set_slots("AM", "BIO", 1, [("2026-10-07", "11:06", "11:13"), ("2026-10-05", "09:00", "09:10")])

    doc = ind_json(http.get(slots_url(ind), timeout=5))

    assert doc["status"] == "OK"
    data = doc["data"]
    assert [(s["date"], s["startTime"], s["endTime"], s["parts"]) for s in data] == [
        ("2026-10-07", "11:06", "11:13", 1),
        ("2026-10-05", "09:00", "09:10", 1),
    ]
    assert all(re.fullmatch(r"[0-9a-f]{32}", s["key"]) for s in data)


def test_slot_keys_are_deterministic_unless_salted(ind: FakeIND, http: requests.Session) -> None:
    slot = ("2026-10-05", "09:00", "09:10")

    def key() -> str:
        return str(ind_json(http.get(slots_url(ind), timeout=5))["data"][0]["key"])

    ind.set_slots("AM", "BIO", 1, [slot])
    first = key()
    ind.set_slots("AM", "BIO", 1, [slot])
    assert key() == first
    ind.set_slots("AM", "BIO", 1, [slot], key_salt="next poll")
    assert key() != first


def test_slot_dicts_are_sent_as_given_apart_from_key_and_parts(ind: FakeIND, http: requests.Session) -> None:
    ind.set_slots("AM", "BIO", 1, [{"date": "2026-10-05", "startTime": "09:00"}])

    (slot,) = ind_json(http.get(slots_url(ind), timeout=5))["data"]

    assert set(slot) == {"key", "date", "startTime", "parts"}


def test_both_base_urls_work_but_a_slash_before_the_query_is_a_404(ind: FakeIND, http: requests.Session) -> None:
    ind.set_slots("AM", "BIO", 1, [("2026-10-05", "09:00", "09:10")])

    assert http.get(f"{ind.root}/desks/AM/slots?productKey=BIO&persons=1", timeout=5).status_code == 200
    assert http.get(f"{ind.url}/desks/AM/slots/?productKey=BIO&persons=1", timeout=5).status_code == 404
    assert ind.hits("AM", "BIO", 1) == 1


def test_malformed_queries_are_refused(ind: FakeIND, http: requests.Session) -> None:
    assert http.get(f"{ind.url}/desks/AM/slots?productKey=BIO", timeout=5).status_code == 400
    assert http.get(f"{ind.url}/desks/AM/slots?productKey=BIO&persons=7", timeout=5).status_code == 400
    assert http.get(f"{ind.url}/desks/AM/slots?persons=1", timeout=5).status_code == 400


def test_unconfigured_queries_get_no_slots_and_are_listed(ind: FakeIND, http: requests.Session) -> None:
    response = http.get(slots_url(ind, "DH", "DOC", 2), timeout=5)

    assert response.text == XSSI_PREFIX + '{"status":"OK","data":[]}'
    assert ind.unmatched == [("DH", "DOC", 2)]


def test_the_default_for_unconfigured_queries_can_be_strict(ind: FakeIND, http: requests.Session) -> None:
    ind.set_default(404, "<html>Not Found</html>")

    assert http.get(slots_url(ind), timeout=5).status_code == 404


def test_raw_failures_are_served_verbatim(ind: FakeIND, http: requests.Session) -> None:
    ind.set_raw("AM", "BIO", 1, 503, HTML_MAINTENANCE)
    ind.set_raw("DH", "BIO", 1, 200, ind_body({"status": "ERROR"}))

    maintenance = http.get(slots_url(ind), timeout=5)
    envelope = http.get(slots_url(ind, "DH"), timeout=5)

    assert (maintenance.status_code, maintenance.text) == (503, HTML_MAINTENANCE)
    assert maintenance.headers["Content-Type"].startswith("text/html")
    assert envelope.text == ')]}\',\n{"status":"ERROR"}'


def test_once_replies_come_first_then_the_sticky_one(ind: FakeIND, http: requests.Session) -> None:
    ind.set_slots("AM", "BIO", 1, [])
    ind.set_raw("AM", "BIO", 1, 500, "oops", once=True)

    assert [http.get(slots_url(ind), timeout=5).status_code for _ in range(3)] == [500, 200, 200]
    assert ind.hits("AM", "BIO", 1) == 3
    assert ind.unused() == []


def test_fixture_bodies_can_be_served(ind: FakeIND, http: requests.Session, load_fixture: Callable[[str], str]) -> None:
    ind.set_raw("AM", "BIO", 1, body=load_fixture("slots-bio-am-1p.txt"))

    data = ind_json(http.get(slots_url(ind), timeout=5))["data"]

    assert data[0]["key"] == "6284e2f0bf3dcb816618b965b4ae74d1"


def test_desks_are_listed_per_product(ind: FakeIND, http: requests.Session) -> None:
    ind.set_desks("BIO", [("AM", "IND Amsterdam"), ("DH", "IND Den Haag")])

    doc = ind_json(http.get(f"{ind.url}/desks/?productKey=BIO", timeout=5))

    assert doc["data"] == [
        {"key": "AM", "version": 1, "name": "IND Amsterdam"},
        {"key": "DH", "version": 1, "name": "IND Den Haag"},
    ]
    assert ind.desk_hits("BIO") == 1


def test_requests_are_recorded_with_query_and_lowercased_headers(ind: FakeIND, http: requests.Session) -> None:
    http.get(slots_url(ind), headers={"oap-locale": "en", "User-Agent": "ind-alert/test"}, timeout=5)

    (request,) = ind.requests
    assert request.path == "/oap/api/desks/AM/slots"
    assert request.query == {"productKey": "BIO", "persons": "1"}
    assert request.headers["user-agent"] == "ind-alert/test"
    assert request.headers["oap-locale"] == "en"


def test_a_hanging_query_never_answers(ind: FakeIND, http: requests.Session) -> None:
    ind.set_hang("AM", "BIO", 1)

    with pytest.raises(requests.ReadTimeout):
        http.get(slots_url(ind), timeout=(5, 0.1))


def test_released_hangs_and_drops_end_in_a_connection_error(ind: FakeIND, http: requests.Session) -> None:
    ind.set_hang("AM", "BIO", 1)
    ind.set_drop("DH", "BIO", 1)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            http.get(slots_url(ind), timeout=5)
        except requests.RequestException as exc:
            errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    while ind.hits("AM", "BIO", 1) == 0:
        time.sleep(0.005)
    ind.release_hangs()
    caller.join(timeout=5)

    assert len(errors) == 1 and isinstance(errors[0], requests.ConnectionError)
    with pytest.raises(requests.ConnectionError):
        http.get(slots_url(ind, "DH"), timeout=5)


def test_the_global_delay_is_added_to_every_answer(ind: FakeIND, http: requests.Session) -> None:
    ind.delay = 0.05
    started = time.monotonic()

    http.get(slots_url(ind), timeout=5)

    assert time.monotonic() - started >= 0.05


def test_close_ends_the_server_thread_and_is_idempotent() -> None:
    fake = FakeIND()
    fake.set_hang("AM", "BIO", 1)
    fake.close()
    fake.close()

    assert not any(t.name == "FakeIND-serve" and t.is_alive() for t in threading.enumerate())


# --------------------------------------------------------------------------- Pushover


def send(http: requests.Session, pushover: FakePushover, **form: str) -> requests.Response:
    data = {"token": FAKE_TOKEN, "user": FAKE_USER, "message": "2 slots at IND Amsterdam", **form}
    return http.post(f"{pushover.url}/messages.json", data=data, timeout=5)


def test_a_message_is_accepted_with_the_quota_headers(pushover: FakePushover, http: requests.Session) -> None:
    pushover.remaining = 42

    response = send(http, pushover, title="IND: Biometrics", priority="1")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == 1 and re.fullmatch(r"[0-9a-f-]{36}", body["request"])
    assert response.headers["X-Limit-App-Limit"] == "10000"
    assert response.headers["X-Limit-App-Remaining"] == "41"
    assert int(response.headers["X-Limit-App-Reset"]) > time.time()
    assert pushover.messages == pushover.delivered
    assert pushover.messages[0]["title"] == "IND: Biometrics"


def test_a_queued_500_comes_first_then_the_default_success(pushover: FakePushover, http: requests.Session) -> None:
    pushover.queue("messages", 500)

    first, second = send(http, pushover), send(http, pushover)

    assert first.status_code == 500 and "X-Limit-App-Remaining" in first.headers
    assert second.status_code == 200
    assert len(pushover.messages) == 2
    assert len(pushover.delivered) == 1


def test_queued_bodies_and_headers_are_sent_as_given(pushover: FakePushover, http: requests.Session) -> None:
    pushover.queue("messages", 200, {"status": 0}, headers={})

    response = send(http, pushover)

    assert response.json() == {"status": 0}
    assert "X-Limit-App-Limit" not in response.headers
    assert pushover.delivered == []


def test_a_dropped_connection_is_a_connection_error(pushover: FakePushover, http: requests.Session) -> None:
    pushover.drop_next()

    with pytest.raises(requests.ConnectionError):
        send(http, pushover)

    assert len(pushover.messages) == 1
    assert pushover.delivered == []
    assert send(http, pushover).status_code == 200


def test_settle_waits_for_a_push_a_gone_client_left_in_the_queue(pushover: FakePushover) -> None:
    # A killed run's last push: sent whole, its sender gone, its connection not yet accepted (the fake's
    # serving thread is slow on a loaded machine). settle() returns only once that push is recorded.
    form = f"token={FAKE_TOKEN}&user={FAKE_USER}&message=2+slots".encode()
    head = "POST /1/messages.json HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    request = (head + f"Content-Length: {len(form)}\r\n\r\n").encode() + form
    accepting = threading.Event()  # the serving thread takes nothing in until settle() has probed
    process, accepted = pushover._server.process_request, pushover._accepted

    def slow_to_accept(*args: Any) -> None:
        assert accepting.wait(10), "settle() never waited for the queue"
        process(*args)

    def probed(peer: Any) -> bool:
        accepting.set()
        return accepted(peer)

    pushover._server.process_request = slow_to_accept  # type: ignore[method-assign]
    pushover._accepted = probed  # type: ignore[method-assign]
    try:
        with socket.create_connection(("127.0.0.1", pushover.port)) as gone:
            gone.sendall(request)
        pushover.settle()
        assert len(pushover.delivered) == 1
    finally:
        accepting.set()


def test_a_wrong_token_or_user_gets_pushovers_error_shape(pushover: FakePushover, http: requests.Session) -> None:
    bad_token = send(http, pushover, token="x" * 30)
    bad_user = send(http, pushover, user="x" * 30)

    assert bad_token.status_code == 400
    assert bad_token.json()["token"] == "invalid"
    assert bad_token.json()["errors"] == ["application token is invalid"]
    assert bad_user.status_code == 400 and bad_user.json()["user"] == "invalid"
    assert pushover.delivered == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("message", "x" * 1025),
        ("title", "x" * 251),
        ("priority", "3"),
        ("retry", "10"),  # priority 2 needs retry >= 30
    ],
)
def test_invalid_fields_are_refused(pushover: FakePushover, http: requests.Session, field: str, value: str) -> None:
    extra = {"priority": "2", "expire": "3600"} if field == "retry" else {}

    response = send(http, pushover, **{**extra, field: value})

    assert response.status_code == 400
    assert response.json()[field] == "invalid"


def test_an_emergency_message_gets_a_receipt_and_can_be_cancelled_by_tag(
    pushover: FakePushover, http: requests.Session
) -> None:
    sent = send(http, pushover, priority="2", retry="60", expire="3600", tags="ind-alert,bio")
    cancel = http.post(f"{pushover.url}/receipts/cancel_by_tag/bio.json", data={"token": FAKE_TOKEN}, timeout=5)
    again = http.post(f"{pushover.url}/receipts/cancel_by_tag/bio.json", data={"token": FAKE_TOKEN}, timeout=5)

    assert len(sent.json()["receipt"]) == 30
    assert cancel.json()["canceled"] == 1
    assert again.json()["canceled"] == 0
    assert pushover.cancels == ["bio", "bio"]


def test_user_keys_are_validated(pushover: FakePushover, http: requests.Session) -> None:
    url = f"{pushover.url}/users/validate.json"

    good = http.post(url, data={"token": FAKE_TOKEN, "user": FAKE_USER}, timeout=5)
    bad = http.post(url, data={"token": FAKE_TOKEN, "user": "g" * 30}, timeout=5)

    assert good.json()["devices"] == ["phone"]
    assert bad.status_code == 400 and bad.json()["user"] == "invalid"
    assert [form["user"] for form in pushover.validations] == [FAKE_USER, "g" * 30]


def test_the_quota_running_out_gives_429(pushover: FakePushover, http: requests.Session) -> None:
    pushover.remaining = 1

    assert [send(http, pushover).status_code for _ in range(2)] == [200, 429]


def test_unserved_scripted_answers_are_reported() -> None:
    with FakePushover() as fake:
        fake.queue("validate", 500)
        fake.drop_next()

        assert fake.unused() == ["messages: drop", "validate: 500"]
    with pytest.raises(ValueError, match="endpoint"):
        fake.queue("message", 200)


# --------------------------------------------------------------------------- script runs


PROBE = """
import dataclasses, json, os, sys, time
from typing import Callable

@dataclasses.dataclass
class Client:
    sleep: Callable[[float], None] = time.sleep

first, second = (float(s) for s in os.environ["PROBE_SLEEPS"].split())
Client().sleep(first)  # bound when the class was defined, as ind_alert.py does
time.sleep(second)  # looked up at call time
print(json.dumps({"argv": sys.argv[1:], "env": dict(os.environ), "path0": sys.path[0]}))
sys.exit(3)
"""


@pytest.fixture
def probe(tmp_path: Path) -> Path:
    script = tmp_path / "probe.py"
    script.write_text(PROBE, encoding="utf-8")
    return script


def test_script_runs_are_hermetic(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_TOKEN", "PUSHOVER_TOKEN", "IND_ALERT_STATE", "AWS_SECRET_ACCESS_KEY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, "leaked")

    env = script_env({"PUSHOVER_USER": "u", "PATH": None})

    assert env["PUSHOVER_USER"] == "u"
    assert "PATH" not in env
    assert not [name for name, value in env.items() if value == "leaked"]


def test_patched_sleep_records_durations_and_hides_the_launcher(probe: Path, tmp_path: Path) -> None:
    env = {"IND_API_URL": "http://x", "PROBE_SLEEPS": "5 0.25"}
    result = run_script(["--check", "-v"], env, cwd=tmp_path, patch_sleep=True, script=probe)

    assert result.returncode == 3, result.stderr
    assert result.sleeps == [5.0, 0.25]
    out = json.loads(result.stdout)
    assert out["argv"] == ["--check", "-v"]
    assert out["path0"] == str(probe.parent)
    assert out["env"]["IND_API_URL"] == "http://x"
    assert not [name for name in out["env"] if name.startswith("_FAKES")]


def test_the_nth_patched_sleep_can_stop_the_script_like_ctrl_c(probe: Path) -> None:
    result = run_script([], {"PROBE_SLEEPS": "5 0.25"}, stop_after_sleeps=1, script=probe)

    assert result.sleeps == [5.0]
    assert "KeyboardInterrupt" in result.stderr


def test_unpatched_runs_are_plain_python(probe: Path) -> None:
    result = run_script([], {"PROBE_SLEEPS": "0 0"}, script=probe)

    assert result.returncode == 3
    assert result.sleeps == []
    assert result.args[1] == str(probe)


WAITER = """
import pathlib, signal, sys, threading
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
pathlib.Path(sys.argv[1]).touch()
stop.wait(30)
print("stopped" if stop.is_set() else "timed out")
"""


def test_a_started_script_runs_until_signalled(tmp_path: Path) -> None:
    script, ready = tmp_path / "waiter.py", tmp_path / "ready"
    script.write_text(WAITER, encoding="utf-8")

    with start_script([str(ready)], script=script) as running:
        wait_until(ready.exists, what="the waiter to start")
        assert running.running
        running.send_signal(signal.SIGTERM)
        result = running.finish(timeout=10)

    assert (result.returncode, result.stdout) == (0, "stopped\n")


def test_the_fixtures_point_the_script_at_the_fakes(
    env: dict[str, str], ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, start: Start
) -> None:
    config = workdir.write_config(
        """
        [[alert]]
        product = "BIO"
        """
    )

    assert env["IND_API_URL"] == ind.url and env["PUSHOVER_API_URL"] == pushover.url
    assert (env["PUSHOVER_TOKEN"], env["PUSHOVER_USER"]) == (FAKE_TOKEN, FAKE_USER)
    assert config.read_text() == '[[alert]]\nproduct = "BIO"\n'
    assert workdir.state == workdir / "state" / "seen.json"
    assert callable(run) and callable(start)
