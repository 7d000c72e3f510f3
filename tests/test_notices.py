"""Loud when nobody is being told, no secret on the run page, and the right words: end to end.

A recipient no push has reached for blind_after_minutes fails the run like an IND outage; a failed check is
never drawn as "no slots"; Pushover is never followed to another host; and each odd answer is told for
what it is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import requests
from conftest import Run
from fakes import (
    HTML_MAINTENANCE,
    NAME,
    AppriseServer,
    FakeHealthcheck,
    FakeIND,
    FakePushover,
    Workdir,
    alert_toml,
    configure,
    day,
    label,
    lines,
    ok,
    problems,
    read_state,
    sent_to_you,
    slot_starting,
    spec_id,
)

import ind_alert

TWO_RECIPIENTS = """
[recipients.you]
pushover_user_env = "PUSHOVER_USER"

[recipients.partner]
apprise_url_env = "APPRISE_PARTNER"
"""


@pytest.fixture
def monitor() -> Iterator[FakeHealthcheck]:
    with FakeHealthcheck() as fake:
        yield fake


def backdate_unreached(workdir: Workdir, name: str, seconds: int) -> None:
    """The recipient's first failed push happened `seconds` earlier than the state says."""
    doc = read_state(workdir)
    doc["unreached"][name]["since"] -= seconds
    workdir.state.write_text(json.dumps(doc), encoding="utf-8")


# ============================================================ 5. loud when nobody is being told


def test_a_recipient_no_push_reached_for_blind_after_minutes_fails_the_run_pings_fail_and_the_others_are_told_once(
    ind: FakeIND,
    pushover: FakePushover,
    apprise_server: AppriseServer,
    workdir: Workdir,
    run: Run,
    monitor: FakeHealthcheck,
) -> None:
    spec = slot_starting(3, "09:15")
    ind.set_slots("AM", "BIO", 1, [spec])
    workdir.write_config(TWO_RECIPIENTS + alert_toml(notify=["you", "partner"], blind_after_minutes=60))
    env = {"APPRISE_PARTNER": apprise_server.url, "HEALTHCHECK_URL": monitor.url}
    for _ in range(2):
        pushover.queue("messages", 503)  # "you" is not reached: the push and its retry

    first = ok(run(env=env, patch_sleep=True))  # one failed push: a passing failure
    since = read_state(workdir)["unreached"]["you"]["since"]
    assert abs(since - time.time()) < 600
    backdate_unreached(workdir, "you", 3600)  # it has failed for an hour
    for _ in range(4):
        pushover.queue("messages", 503)
    second = run(env=env, patch_sleep=True)
    third = run(env=env, patch_sleep=True)

    assert problems(first, "error") == []
    assert [second.returncode, third.returncode] == [1, 1]
    [error] = problems(second, "error")
    assert error.startswith("error: recipient you: no push has reached it since ")
    assert error.endswith(
        ", so it hears of no slot: see the warnings above (a used-up Pushover quota, a failing service),"
        " or the README's troubleshooting table"
    )
    assert [kind for kind, _, _ in monitor.pings] == ["ok", "fail", "fail"]
    told = [m for m in apprise_server.delivered if m["title"] == "ind-alert cannot reach you"]
    assert len(told) == 1  # once, though the third run failed too
    assert "No push has reached you since" in told[0]["message"]
    assert read_state(workdir)["unreached"]["you"]["told"] == ["partner"]

    fourth = ok(run(env=env, patch_sleep=True))  # the push reaches "you" again

    assert problems(fourth, "error") == []
    assert "unreached" not in read_state(workdir)
    assert sent_to_you(workdir, NAME) == [spec_id(spec)]
    assert monitor.pings[-1][0] == "ok"


def test_a_429_with_the_monthly_quota_used_up_is_not_retried_and_nothing_more_is_asked_of_pushover_that_run(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    pushover.remaining = 0
    ind.set_slots("AM", "BIO", 1, [slot_starting(3, "09:15")])
    ind.set_slots("DH", "BIO", 1, [slot_starting(4, "09:15")])
    configure(workdir, alert_toml(), alert_toml("Den Haag biometrics", "DH"))

    result = ok(run(patch_sleep=True))

    assert len(pushover.messages) == 1  # no retry of the 429, and no push for the second alert
    assert result.sleeps == []
    assert problems(result) == [
        "warning: recipient you: Pushover's monthly message quota is used up (HTTP 429); will retry next run",
        (
            "warning: recipient you: not sent: Pushover's monthly message quota is used up (HTTP 429);"
            " will retry next run"
        ),
        "warning: Pushover quota is low: 0 of 10000 messages left until "
        + time.strftime("%Y-%m-%d", time.gmtime(pushover.reset))
        + " (shared by all of the account's applications: fewer or narrower alerts, or a longer interval)",
        (
            "warning: recipient you: not sent: Pushover's monthly message quota is used up (HTTP 429);"
            " will retry next run"
        ),  # the quota notice, not sent either
    ]
    assert "unreached" in read_state(workdir)


@pytest.mark.parametrize("query", ["?create=1", "?status=up&msg=OK"])
def test_a_failing_run_pings_fail_in_the_path_before_the_healthcheck_urls_query(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, monitor: FakeHealthcheck, query: str
) -> None:
    configure(workdir)
    ok(run(env={"HEALTHCHECK_URL": monitor.url + query}))
    ind.set_slots("AM", "BIO", 1, [slot_starting(3, "09:15")])
    pushover.queue("messages", 400, {"errors": ["message is invalid"], "status": 0})

    assert run(env={"HEALTHCHECK_URL": monitor.url + query}).returncode == 1

    assert [kind for kind, _, _ in monitor.pings] == ["ok", "fail"]
    assert [r.query for r in monitor.requests] == [dict(p.split("=") for p in query[1:].split("&"))] * 2


def blind_state(workdir: Workdir, name: str) -> None:
    """A state in which the alert went blind an hour ago and everyone was told."""
    doc = {
        "version": 2,
        "alerts": {name: {"sent": {}, "failing_since": int(time.time()) - 3600, "blind_notified": True}},
    }
    workdir.state.parent.mkdir(parents=True, exist_ok=True)
    workdir.state.write_text(json.dumps(doc), encoding="utf-8")


def test_a_long_alert_name_is_cut_in_every_title_so_the_checking_again_push_and_the_slot_push_both_go_out(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    name = ("Biometrics for the whole family " * 8).strip()  # over 250 characters
    spec = slot_starting(3, "09:15")
    ind.set_slots("AM", "BIO", 1, [spec])
    configure(workdir, alert_toml(name))
    blind_state(workdir, name)

    result = ok(run())

    assert problems(result, "error") == []
    titles = [m["title"] for m in pushover.delivered]
    assert [len(t) <= 250 for t in titles] == [True, True]
    assert titles[0].startswith("ind-alert is checking again: Biometrics for the whole family")
    assert sent_to_you(workdir, name) == [spec_id(spec)]


def test_a_notice_pushover_refuses_never_keeps_the_slot_push_after_it_from_being_tried(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    spec = slot_starting(3, "09:15")
    ind.set_slots("AM", "BIO", 1, [spec])
    configure(workdir)
    blind_state(workdir, NAME)
    pushover.queue("messages", 400, {"errors": ["title is too long"], "status": 0})  # the checking-again push

    result = run()

    assert result.returncode == 1  # a refused request is a failure to act on
    assert problems(result, "error") == [
        "error: recipient you: Pushover refused the request (HTTP 400: title is too long)"
    ]
    assert [m["message"] for m in pushover.delivered] == [label(spec)]
    assert sent_to_you(workdir, NAME) == [spec_id(spec)]


def test_a_future_outage_start_or_history_point_from_a_clock_that_was_ahead_is_taken_as_now(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ahead = int(time.time()) + 30 * 86400
    future = day(20).isoformat()
    doc = {"version": 2, "alerts": {NAME: {"sent": {}, "failing_since": ahead, "history": {future: None}}}}
    workdir.state.parent.mkdir(parents=True, exist_ok=True)
    workdir.state.write_text(json.dumps(doc), encoding="utf-8")
    ind.set_raw("AM", "BIO", 1, 500, HTML_MAINTENANCE)
    configure(workdir, alert_toml(blind_after_minutes=60))

    ok(run())
    since = read_state(workdir)["alerts"][NAME]["failing_since"]
    assert since <= time.time()
    doc = read_state(workdir)
    doc["alerts"][NAME]["failing_since"] = since - 3600  # an hour of real outage since then
    workdir.state.write_text(json.dumps(doc), encoding="utf-8")
    ok(run())
    ind.set_slots("AM", "BIO", 1, [])
    ok(run())

    titles = [m["title"] for m in pushover.delivered]
    assert titles == ["ind-alert is blind: 1 alert cannot check IND", f"ind-alert is checking again: {NAME}"]
    assert future not in read_state(workdir)["alerts"][NAME].get("history", {})


FAILED_CHECKS = {
    "refused": (403, "Forbidden"),
    "rate-limited": (429, ""),
    "a web page": (200, HTML_MAINTENANCE),
    "API changed": (200, '{"status": "NOPE"}'),
}


@pytest.mark.parametrize("status,body", FAILED_CHECKS.values(), ids=FAILED_CHECKS.keys())
def test_a_failed_check_is_never_shown_as_no_matching_slot_on_the_run_page_or_in_a_dry_run(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, status: int, body: str
) -> None:
    ind.set_raw("AM", "BIO", 1, status, body)
    configure(workdir, alert_toml(days_ahead=30))
    summary = workdir / "summary.md"

    dry = ok(run("--dry-run"))
    ok(run(env={"GITHUB_STEP_SUMMARY": str(summary)}))

    text = summary.read_text(encoding="utf-8")
    assert "no matching slot" not in (dry.stdout + text).lower()
    assert "IND could not be checked this run (" in text
    assert any(line.startswith("  IND could not be checked this run (") for line in lines(dry.stdout))


# ============================================================ 6. secrets and what reaches the run page


def test_a_secret_with_markdown_characters_never_reaches_the_run_page(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCY-EXAMPLE:KEY"
    configure(workdir, alert_toml(f"leak {secret}"))
    summary = workdir / "summary.md"

    ok(run(env={"GITHUB_STEP_SUMMARY": str(summary), "AWS_SECRET_ACCESS_KEY": secret}))

    text = summary.read_text(encoding="utf-8")
    assert "K7MDENG" not in text and "EXAMPLE" not in text
    assert "leak \\*\\*\\*" in text


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_from_the_pushover_address_is_a_failed_push_never_followed(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, monitor: FakeHealthcheck, status: int
) -> None:
    spec = slot_starting(3, "09:15")
    ind.set_slots("AM", "BIO", 1, [spec])
    configure(workdir)
    pushover.queue("messages", status, "", {"Location": monitor.url})

    result = ok(run())

    assert monitor.requests == []  # neither the token nor the user key went to the other host
    assert problems(result) == [
        (
            f"warning: recipient you: the Pushover address answered with a redirect (HTTP {status}), which Pushover"
            " never sends; it was not followed: check PUSHOVER_API_URL and this machine's network; will retry next run"
        )
    ]
    assert sent_to_you(workdir, NAME) == []


@pytest.mark.parametrize("var", ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PUSHOVER_TOKEN", "HEALTHCHECK_URL"])
def test_a_recipient_that_names_one_of_ind_alerts_own_secrets_is_refused_in_one_line(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, var: str
) -> None:
    workdir.write_config(f'[recipients.me]\npushover_user_env = "{var}"\n\n' + alert_toml(notify=["me"]))

    result = run(env={var: "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"})

    assert result.returncode == 2
    assert problems(result, "error") == [
        (
            f"error: alerts.toml [recipients.me]: {var} is one of ind-alert's own secrets:"
            " name this recipient's own variable"
        )
    ]
    assert pushover.requests == [] and ind.requests == []


def test_a_desk_name_from_ind_reaches_the_run_page_escaped_like_an_alert_name(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    spec = slot_starting(2, "09:15")
    ind.set_slots("AM", "BIO", 1, [spec])
    ind.set_desks("BIO", [("AM", 'IND <img src="https://tracker.example/p.gif"> [site](https://evil.example)')])
    configure(workdir)
    summary = workdir / "summary.md"

    ok(run(env={"GITHUB_STEP_SUMMARY": str(summary)}))

    text = summary.read_text(encoding="utf-8")
    assert "<img" not in text and "](" not in text
    assert "&lt;img" in text


def test_a_line_break_in_an_alert_or_desk_name_never_forges_a_line_on_stdout_or_in_the_log(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_raw("AM", "BIO", 1, 500, HTML_MAINTENANCE)
    ind.set_desks("BIO", [("AM", "IND Amsterdam\rerror: forged")])
    configure(workdir, alert_toml("Amsterdam\nerror: forged\r\nwarning: forged"))

    result = ok(run("--dry-run"))
    again = ok(run())

    for output in (result.stdout, result.stderr, again.stdout, again.stderr):
        forged = [line for line in output.replace("\r", "\n").split("\n") if line.startswith(("error:", "warning:"))]
        assert all(not line.startswith(("error: forged", "warning: forged")) for line in forged), output
    assert "Amsterdam error: forged warning: forged: IND unreachable" in lines(again.stdout)


def test_two_apprise_urls_in_one_secret_are_refused_with_one_line_saying_make_one_recipient_per_url(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    pytest.importorskip("apprise")
    workdir.write_config('[recipients.chat]\napprise_url_env = "APPRISE_CHAT"\n\n' + alert_toml(notify=["chat"]))

    result = run(env={"APPRISE_CHAT": "json://127.0.0.1:9/a, json://127.0.0.1:9/b"})

    assert result.returncode == 2
    assert lines(result.stderr) == [
        "error: recipient chat: APPRISE_CHAT holds 2 Apprise URLs: make one recipient per URL"
    ]
    assert ind.requests == []


# ============================================================ 7. the right words


def test_list_desks_with_an_empty_product_lists_nothing_checks_nothing_and_writes_no_state(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_slots("AM", "BIO", 1, [slot_starting(3, "09:15")])
    configure(workdir)

    result = run("--list-desks", "")

    assert result.returncode == 2
    assert [line for line in lines(result.stderr) if line.startswith("error: ")] == [
        line for line in lines(result.stderr) if "--list-desks" in line
    ]
    assert pushover.requests == [] and not workdir.state.exists()
    assert all("/slots" not in r.path for r in ind.requests)


def test_a_refusal_with_a_body_over_2_mb_is_permanent_and_never_sent_again_that_run(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_slots("AM", "BIO", 1, [slot_starting(3, "09:15")])
    configure(workdir)
    pushover.queue("messages", 400, "x" * 2_100_000)

    result = run(patch_sleep=True)

    assert result.returncode == 1
    assert problems(result, "error") == ["error: recipient you: Pushover refused the request (HTTP 400: no details)"]
    assert len(pushover.messages) == 1 and result.sleeps == []


def test_a_retry_after_in_non_ascii_digits_is_ignored_and_the_429_told_as_rate_limiting(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_raw("AM", "BIO", 1, 429, "", headers={"Retry-After": "²"})
    configure(workdir)

    result = ok(run())

    assert f"{NAME}: IND is rate-limiting" in lines(result.stdout)
    assert "ValueError" not in result.output


def test_a_captive_portals_page_with_status_200_is_told_as_not_pushovers_answer(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_slots("AM", "BIO", 1, [slot_starting(3, "09:15")])
    configure(workdir)
    for _ in range(2):
        pushover.queue("messages", 200, "<html><body>Sign in to the hotel Wi-Fi</body></html>")

    result = ok(run(patch_sleep=True))

    assert problems(result) == [
        (
            "warning: recipient you: the answer (HTTP 200) was not Pushover's: a web page from a captive portal,"
            " proxy or outage; will retry next run"
        )
    ]
    assert sent_to_you(workdir, NAME) == []


def test_an_accepted_push_whose_answer_nests_too_deep_to_parse_counts_as_delivered_and_is_not_pushed_again(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    spec = slot_starting(3, "09:15")
    ind.set_slots("AM", "BIO", 1, [spec])
    configure(workdir)
    pushover.queue("messages", 200, '{"status": 1, "extra": ' + "[" * 100_000 + "]" * 100_000 + "}")

    ok(run(patch_sleep=True))
    ok(run(patch_sleep=True))

    assert len(pushover.messages) == 1
    assert sent_to_you(workdir, NAME) == [spec_id(spec)]


@pytest.mark.parametrize("value", ["eu-west-1 ", " eu-west-1", "eu west 1"])
def test_an_aws_region_with_a_space_is_a_one_line_config_error(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, value: str
) -> None:
    pytest.importorskip("boto3")
    configure(workdir)

    result = run("--state", "s3://bucket/seen.json", env={"AWS_REGION": value})

    assert result.returncode == 2
    assert lines(result.stderr) == [
        "error: AWS_REGION must be a region name like eu-west-1, without spaces: check its value"
    ]


def test_a_top_level_status_is_read_however_deep_the_rest_is_nested() -> None:
    deep = "[" * 50_000 + "]" * 50_000
    assert ind_alert.top_level_status('{"status": 1, "a": ' + deep + "}") == 1
    assert ind_alert.top_level_status('{"a": ' + deep + ', "status": 0}') == 0
    assert ind_alert.top_level_status('{"a": {"status": 1}, "b": ' + deep + "}") is None


def test_retry_after_reads_only_ascii_seconds() -> None:
    response = requests.Response()
    response.headers["Retry-After"] = "²"
    assert ind_alert.retry_after(response) is None
    response.headers["Retry-After"] = "120"
    assert ind_alert.retry_after(response) == 120.0
