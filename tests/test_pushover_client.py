"""The Pushover client in process: the form it posts, delivery, retries, and which refusals are
permanent, against strict ``responses`` mocks."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests
import responses
from conftest import FAKE_TOKEN, FAKE_USER
from records import MESSAGES, OK, PUSHOVER, QUOTA, USER_INVALID

# The script is a module at the repository root, not a package: make it importable however pytest is run.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


from ind_alert import NotifyError, Push, PushoverClient  # noqa: E402


def form(call: Any) -> dict[str, str]:
    """The urlencoded body of a recorded request as a dict (each field once)."""
    body = call.request.body
    text = body.decode() if isinstance(body, bytes) else body
    pairs = parse_qsl(text, keep_blank_values=True)
    assert len(pairs) == len({k for k, _ in pairs}), f"a form field was sent twice: {pairs}"
    return dict(pairs)


# ======================================================================================= Pushover client


PUSH = Push(
    title="IND Amsterdam: Biometrics: 1 new slot",
    message="Mon 5 Oct 09:00",
    url="https://oap.ind.nl/oap/en/#/BIO",
    url_title="Book at IND (IND Amsterdam)",
)


TOKEN_INVALID = {"token": "invalid", "errors": ["application token is invalid"], "status": 0, "request": "r"}


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
