"""Messages that name the right cause, and what a run must keep: end to end, against the loopback fakes.

A user acts on the line ind-alert prints, so each test asserts the whole line the README's Troubleshooting
table promises, next to the look-alike case it must not be confused with: a rejected Pushover user key
against another refusal, IND's maintenance page against a broken answer. Then: an Apprise-only setup needs
no Pushover secret, a run outside GitHub keeps the repository the state belongs to, and a ``|`` or a line
break in a name cannot break the job summary's table.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Run
from fakes import (
    APPRISE_TOKEN,
    HTML_MAINTENANCE,
    NAME,
    XSSI_PREFIX,
    AppriseServer,
    FakeIND,
    FakePushover,
    Workdir,
    alert_toml,
    configure,
    label,
    lines,
    ok,
    problems,
    read_state,
    sent_to_you,
    slot_starting,
    spec_id,
)

# Pushover's own answers: the token and user ones as Pushover words them (tests/fakes.py), the others
# shaped like them with invented texts.
USER_INVALID = {
    "user": "invalid",
    "errors": ["user identifier is not a valid user, group, or subscribed user key"],
    "status": 0,
    "request": "5042853c-402d-4a18-abcb-168734a801de",
}
TOKEN_AND_USER_INVALID = {
    "token": "invalid",
    "user": "invalid",
    "errors": ["application token is invalid", "user identifier is not a valid user, group, or subscribed user key"],
    "status": 0,
    "request": "5042853c-402d-4a18-abcb-168734a801de",
}
REFUSED = {"errors": ["request could not be processed"], "status": 0, "request": "5042853c-402d-4a18-abcb-168734a801de"}
BLANK_MESSAGE = {
    "message": "invalid",
    "errors": ["message cannot be blank"],
    "status": 0,
    "request": "5042853c-402d-4a18-abcb-168734a801de",
}


# ============================================================ 1. Pushover: the user key or something else


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        pytest.param(
            400,
            USER_INVALID,
            "error: recipient you: Pushover rejected the user key in PUSHOVER_USER: check that secret",
            id="user key",
        ),
        pytest.param(
            400,
            REFUSED,
            "error: recipient you: Pushover refused the request (HTTP 400: request could not be processed)",
            id="another refusal",
        ),
        pytest.param(
            403,
            {"errors": ["forbidden"], "status": 0},
            "error: recipient you: Pushover refused the request (HTTP 403: forbidden)",
            id="another 4xx",
        ),
        pytest.param(
            400,
            TOKEN_AND_USER_INVALID,
            "error: recipient you: Pushover rejected the application token: check the PUSHOVER_TOKEN secret",
            id="token and user key: the token first",
        ),
    ],
)
def test_check_names_a_rejected_user_key_only_when_pushover_said_so(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, status: int, body: dict[str, Any], expected: str
) -> None:
    """--check must not send someone to copy a good user key again when Pushover refused something else,
    nor call a rejected key a vague refusal (the answer's `user: "invalid"` is what tells them apart)."""
    pushover.queue("validate", status, body)
    configure(workdir)

    result = run("--check")

    assert result.returncode == 1
    assert problems(result, "error") == [expected]
    assert len(pushover.validations) == 1
    assert pushover.messages == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            USER_INVALID,
            "error: recipient you: Pushover rejected the user key in PUSHOVER_USER: check that secret",
            id="user key",
        ),
        pytest.param(
            REFUSED,
            "error: recipient you: Pushover refused the request (HTTP 400: request could not be processed)",
            id="another refusal",
        ),
    ],
)
def test_the_daily_secret_check_names_a_rejected_user_key_only_when_pushover_said_so(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, body: dict[str, Any], expected: str
) -> None:
    """A normal run asks users/validate.json first: a refusal that is not about the key must not be
    reported as a rejected key in PUSHOVER_USER (the user would replace a secret that is fine)."""
    pushover.queue("validate", 400, body)
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15")])
    configure(workdir)

    result = run(patch_sleep=True)

    assert result.returncode == 1
    assert problems(result, "error") == [expected]
    assert len(pushover.validations) == 1
    assert pushover.messages == []  # nothing is sent to a recipient whose check failed
    assert f"{NAME}: 1 open, 1 match, 1 new, push failed" in lines(result.stdout)
    assert sent_to_you(workdir, NAME) == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            USER_INVALID,
            "error: recipient you: Pushover rejected the user key in PUSHOVER_USER: check that secret",
            id="user key",
        ),
        pytest.param(
            BLANK_MESSAGE,
            "error: recipient you: Pushover refused the request (HTTP 400: message cannot be blank)",
            id="a message problem",
        ),
    ],
)
def test_a_refused_push_names_a_rejected_user_key_only_when_pushover_said_so(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, body: dict[str, Any], expected: str
) -> None:
    """The key passed the day's check, then a push is refused: the line says whether the key or the
    message was refused, and the push is not repeated."""
    pushover.queue("messages", 400, body)
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15")])
    configure(workdir)

    result = run(patch_sleep=True)

    assert result.returncode == 1
    assert problems(result, "error") == [expected]
    assert len(pushover.messages) == 1 and pushover.delivered == []
    assert result.sleeps == []
    assert f"{NAME}: 1 open, 1 match, 1 new, push failed" in lines(result.stdout)
    assert sent_to_you(workdir, NAME) == []


# ============================================================ 1. IND: maintenance or a broken answer

WEB_PAGE = (
    f"warning: {NAME}: IND answered with a web page instead of data (maintenance, or a block page for this"
    " machine); state kept, will retry next run"
)
OUTAGE = f"warning: {NAME}: IND answered HTTP 503 (an outage on their side); state kept, will retry next run"
NOT_JSON = (
    f"warning: {NAME}: IND answered something that is not JSON; IND may have changed its API (see README,"
    " Troubleshooting); state kept, will retry next run"
)


@pytest.mark.parametrize(
    ("status", "body", "requests", "warning", "status_line"),
    [
        pytest.param(200, HTML_MAINTENANCE, 1, WEB_PAGE, "IND sent a web page", id="maintenance page, 200"),
        pytest.param(
            200, XSSI_PREFIX + HTML_MAINTENANCE, 1, WEB_PAGE, "IND sent a web page", id="maintenance page, prefixed"
        ),
        pytest.param(503, HTML_MAINTENANCE, 2, OUTAGE, "IND unreachable", id="maintenance page, 503"),
        pytest.param(
            200, XSSI_PREFIX + '{"status":"OK","data":[{"da', 1, NOT_JSON, "IND API changed?", id="truncated JSON"
        ),
    ],
)
def test_a_maintenance_page_and_a_broken_answer_are_told_apart(
    ind: FakeIND,
    pushover: FakePushover,
    workdir: Workdir,
    run: Run,
    status: int,
    body: str,
    requests: int,
    warning: str,
    status_line: str,
) -> None:
    """IND's maintenance page (nothing to do) must not read as "IND changed its API" (look for an update),
    nor a truncated JSON answer as maintenance: the README's table sends the user different ways."""
    ind.set_raw("AM", "BIO", 1, status, body)
    configure(workdir)

    result = ok(run())

    assert ind.hits("AM", "BIO", 1) == requests  # a 5xx is asked once more, an answer that came is not
    assert problems(result) == [warning]
    assert problems(result, "error") == []
    assert f"{NAME}: {status_line}" in lines(result.stdout)
    assert pushover.messages == []


# ============================================================ 2. Apprise alone needs no Pushover secret


APPRISE_ONLY = """
[recipients.phone]
apprise_url_env = "PHONE_URL"
"""
NO_PUSHOVER = {"PUSHOVER_TOKEN": None, "PUSHOVER_USER": None}


def test_an_apprise_only_config_runs_without_pushover_secrets(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, apprise_server: AppriseServer
) -> None:
    """PUSHOVER_TOKEN is needed only when a recipient uses Pushover: a Telegram-only (or ntfy-only) setup
    must push its slots and pass, with no complaint about a missing token."""
    spec = slot_starting(3, "10:00")
    ind.set_slots("AM", "BIO", 1, [spec])
    workdir.write_config(APPRISE_ONLY + alert_toml())

    result = ok(run(env={**NO_PUSHOVER, "PHONE_URL": apprise_server.url}))

    assert result.stderr == ""
    assert f"{NAME}: 1 open, 1 match, 1 new, pushed" in lines(result.stdout)
    assert apprise_server.paths == [f"/{APPRISE_TOKEN}"]
    [post] = apprise_server.delivered
    assert post["title"] == "IND Amsterdam: Biometrics: 1 new slot"
    assert str(post["message"]).splitlines() == [label(spec), "https://oap.ind.nl/oap/en/#/BIO"]
    assert pushover.validations == [] and pushover.messages == []
    assert read_state(workdir)["alerts"][NAME]["sent"] == {"phone": [spec_id(spec)]}


def test_check_of_an_apprise_only_config_needs_no_pushover_secrets(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, apprise_server: AppriseServer
) -> None:
    """--check of a setup without Pushover recipients asks for no Pushover secret and sends nothing."""
    workdir.write_config(APPRISE_ONLY + alert_toml())

    result = ok(run("--check", env={**NO_PUSHOVER, "PHONE_URL": apprise_server.url}))

    assert result.stderr == ""
    assert "recipient phone: ok" in lines(result.stdout)
    assert apprise_server.received == []
    assert pushover.validations == [] and pushover.messages == []


# ============================================================ 3. the state keeps its repository


def test_a_run_outside_github_keeps_the_repository_the_state_belongs_to(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    """A local run (no GITHUB_REPOSITORY) must not erase which repository wrote the state: a copy of the
    repository would then inherit its "already pushed" slots instead of starting fresh."""
    spec = slot_starting(2, "09:15")
    ind.set_slots("AM", "BIO", 1, [spec])
    configure(workdir)
    ok(run(env={"GITHUB_REPOSITORY": "alice/ind-alert"}))

    local = ok(run(env={"GITHUB_REPOSITORY": None}))

    assert local.stderr == ""
    assert read_state(workdir)["repository"] == "alice/ind-alert"
    assert sent_to_you(workdir, NAME) == [spec_id(spec)]
    assert len(pushover.delivered) == 1  # the local run pushed nothing again

    copied = ok(run(env={"GITHUB_REPOSITORY": "bob/ind-alert"}))

    assert problems(copied, "notice") == [
        (
            "notice: the state was written by alice/ind-alert, not bob/ind-alert: starting fresh,"
            " so every open matching slot is pushed once"
        )
    ]
    assert read_state(workdir)["repository"] == "bob/ind-alert"
    assert [p["message"] for p in pushover.delivered] == [label(spec), label(spec)]


# ============================================================ 4. the job summary's table holds


def summary_table(workdir: Workdir) -> list[str]:
    """The lines of the job summary's first table, header included."""
    text = (workdir / "summary.md").read_text(encoding="utf-8")
    table = text[text.index("\n|") + 1 :].split("\n\n")[0]
    return table.splitlines()


HEADER = [
    "| Alert | Desk | Appointment | Persons | Earliest matching slot | New | Status |",
    "|---|---|---|---|---|---|---|",
]


def test_a_bar_or_a_line_break_in_an_alert_name_stays_inside_its_table_cell(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    """A `|` would start a new column and a newline end the row: the name is escaped onto one line."""
    spec = slot_starting(2, "09:15")
    ind.set_slots("AM", "BIO", 1, [spec])
    configure(workdir, alert_toml("Amsterdam | BIO"), alert_toml("first line\nsecond line", "AM", "BIO", persons=2))

    ok(run(env={"GITHUB_STEP_SUMMARY": str(workdir / "summary.md")}))

    assert summary_table(workdir) == [
        *HEADER,
        f"| Amsterdam \\| BIO | IND Amsterdam | Biometrics | 1 | {label(spec)} | 1 | pushed |",
        "| first line second line | IND Amsterdam | Biometrics | 2 | — | 0 | ok |",
    ]


def test_a_bar_or_a_line_break_in_a_desk_name_from_ind_stays_inside_its_table_cell(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    """Desk names come from IND's desk list: text from outside must not add columns or rows either."""
    spec = slot_starting(2, "09:15")
    ind.set_slots("AM", "BIO", 1, [spec])
    ind.set_desks("BIO", [("AM", "IND Amsterdam | Zuid\nAmstel")])
    configure(workdir)

    ok(run(env={"GITHUB_STEP_SUMMARY": str(workdir / "summary.md")}))

    assert summary_table(workdir) == [
        *HEADER,
        f"| {NAME} | IND Amsterdam \\| Zuid Amstel | Biometrics | 1 | {label(spec)} | 1 | pushed |",
    ]


# ============================================================ 5. the commit message the workflow uses


def test_the_commit_message_counts_the_slots_pushed_and_only_those(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    """The workflow commits the state with this message: it must count delivered pushes only, in the
    singular for one, and be left out when nothing was pushed (a dry run, a failed push, no new slot)."""
    output = workdir / "output.txt"
    first, second, third = slot_starting(2, "09:15"), slot_starting(3, "10:00"), slot_starting(4, "11:00")
    configure(workdir, alert_toml(), alert_toml("Den Haag biometrics", "DH", "BIO"))

    def commit_message(*args: str, **kwargs: Any) -> list[str]:
        output.unlink(missing_ok=True)
        ok(run(*args, env={"GITHUB_OUTPUT": str(output)}, **kwargs))
        text = output.read_text(encoding="utf-8") if output.exists() else ""
        return [line for line in lines(text) if line.startswith("commit_message=")]

    ind.set_slots("AM", "BIO", 1, [first, second])
    assert commit_message("--dry-run") == []
    assert commit_message() == ["commit_message=2 new slots pushed"]
    assert commit_message() == []  # nothing new
    ind.set_slots("DH", "BIO", 1, [third])
    pushover.queue("messages", 500)
    pushover.queue("messages", 500)
    assert commit_message(patch_sleep=True) == []  # the push failed: nothing was pushed
    assert commit_message() == ["commit_message=1 new slot pushed"]
    assert len(pushover.delivered) == 2
