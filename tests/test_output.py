"""What the script prints: secrets redacted, the log formats, the missing-secret guidance, and a verbose
run in process that must show no secret."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests
import responses
from conftest import FAKE_TOKEN, FAKE_USER
from fakes import ind_body, load_fixture
from records import (
    AMS,
    BASE,
    IND,
    JSON,
    MESSAGES,
    OK,
    PUSHOVER,
    QUOTA,
    SLOTS_URL,
    USER_INVALID,
    parsed_config,
    slots_json,
)

# The script is a module at the repository root, not a package: make it importable however pytest is run.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import ind_alert  # noqa: E402
from ind_alert import ConfigError, PushoverClient  # noqa: E402

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
