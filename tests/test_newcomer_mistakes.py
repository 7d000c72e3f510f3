"""The quiet mistakes a new user makes, made loud, and "I already have an appointment": end to end.

Each test makes the mistake where the user makes it (alerts.toml, a pasted secret, the workflow file, the
shipped example) and asserts the line the user then reads, next to what must not happen (a push, a state
written, an `ok` that is not true, a Python class name).
"""

from __future__ import annotations

import codecs
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
import yaml
from conftest import FAKE_TOKEN, FAKE_USER, Run, Start
from fakes import (
    NAME,
    FakeIND,
    FakePushover,
    Workdir,
    as_edited,
    configure,
    day,
    lines,
    ok,
    problems,
    summary_rows,
    wait_until,
)
from fakes import alert_toml as alert
from fakes import sent_to_you as sent
from fakes import slot_starting as slot

import ind_alert

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
RECIPIENTS_DOC = (REPO / ".github" / "docs" / "recipients.md").read_text(encoding="utf-8")
REFERENCE_DOC = (REPO / ".github" / "docs" / "reference.md").read_text(encoding="utf-8")
WORKFLOW = REPO / ".github" / "workflows" / "ind-alert.yml"
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "


def github(workdir: Workdir) -> dict[str, str]:
    """What GitHub Actions sets: annotations, a summary file, the repository and its branch."""
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(workdir / "summary.md"),
        "GITHUB_REPOSITORY": "someone/ind-alert",
        "GITHUB_REF_NAME": "main",
    }


def no_class_names(text: str) -> None:
    assert not re.search(r"\b[A-Z][A-Za-z]*(Error|Exception)\b", text), text
    assert "Traceback" not in text


# ================================================================ 1. the workflow and the quota, as written


def test_removing_the_hash_as_the_readme_says_leaves_a_valid_workflow_that_hands_over_the_secret(
    tmp_path: Path,
) -> None:
    told = re.search(r"remove the `#` in front of the line\s+`([^`]+)`", RECIPIENTS_DOC)
    assert told, "the extra-recipient instruction of .github/docs/recipients.md"
    wanted = told[1]
    text = WORKFLOW.read_text(encoding="utf-8")
    [line] = [ln for ln in text.splitlines() if ln.strip().lstrip("#").strip() == wanted]
    uncommented = text.replace(line, line.replace("#", "", 1), 1)  # exactly as told: the "#", nothing else
    doc = yaml.safe_load(uncommented)
    [step] = [s for s in doc["jobs"]["check"]["steps"] if s.get("name") == "Check IND appointments"]
    assert step["env"]["PUSHOVER_USER_PARTNER"] == "${{ secrets.PUSHOVER_USER_PARTNER }}"
    assert list(step["env"]).index("PUSHOVER_USER_PARTNER") == list(step["env"]).index("PUSHOVER_USER") + 1
    if shutil.which("actionlint"):  # the linter GitHub's own errors match: indentation included
        edited = tmp_path / ".github" / "workflows" / "ind-alert.yml"
        edited.parent.mkdir(parents=True)
        edited.write_text(uncommented, encoding="utf-8")
        linted = subprocess.run(["actionlint", str(edited)], capture_output=True, text=True, check=False)
        assert linted.returncode == 0, linted.stdout


def test_a_low_quota_is_said_to_be_the_accounts_and_never_advises_a_second_token(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    pushover.remaining = 300  # under 5% of 10,000: a warning and one push about it
    ind.set_slots("AM", "BIO", 1, [slot(3, "09:00")])
    configure(workdir)

    result = ok(run())

    [warning] = [p for p in problems(result) if "quota" in p]
    assert "shared by all of the account's applications" in warning
    [notice] = [m for m in pushover.delivered if "quota" in m["title"]]
    assert "shared by all of the account's applications" in notice["message"]
    for text in (warning, notice["message"], README):
        assert "second application token" not in text and "second Pushover application token" not in text
    assert "10,000 a month per Pushover\naccount since 1 May 2026" in README


# ================================================================ 2. dates that can never match


@pytest.mark.parametrize(
    ("keys", "said"),
    [
        pytest.param({"before": day(-1)}, f"before = {day(-1)} has passed, so no slot can match", id="before"),
        pytest.param(
            {"after": day(-20), "before": day(-2)}, f"before = {day(-2)} has passed", id="an after-before range"
        ),
        pytest.param({"booked": day(0)}, f"booked = {day(0)} is not after today", id="booked today"),
    ],
)
def test_an_alert_whose_dates_have_passed_says_so_in_the_run_line_the_summary_and_an_annotation_every_run(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, keys: dict[str, Any], said: str
) -> None:
    ind.set_slots("AM", "BIO", 1, [slot(2, "09:00")])
    configure(workdir, alert(**keys))

    for _ in range(2):  # not once: on every run, until the dates are changed
        (workdir / "summary.md").unlink(missing_ok=True)
        result = ok(run(env=github(workdir)))
        assert f"{NAME}: 1 open, 0 match, 0 new, dates passed" in lines(result.stdout)
        [warning] = problems(result)
        assert warning.startswith(f'::warning::alert "{NAME}": {said}')
        [row] = summary_rows(workdir / "summary.md")
        assert row["Status"] == "dates passed"
    assert pushover.messages == []


def test_an_alert_with_dates_still_ahead_is_ok_and_warns_nothing(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    configure(workdir, alert(before=day(0), booked=day(1)))  # today still counts for before; booked is tomorrow

    result = ok(run())

    assert f"{NAME}: 0 open, 0 match, 0 new, ok" in lines(result.stdout)
    assert problems(result) == []


# ================================================================ 2. pasted secrets


def test_a_secret_pasted_with_a_newline_a_cr_or_spaces_is_used_without_them_and_named_once_never_shown(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_slots("AM", "BIO", 1, [slot(2, "09:00")])
    configure(workdir)

    result = ok(run(env={"PUSHOVER_TOKEN": f"{FAKE_TOKEN}\n", "PUSHOVER_USER": f"  {FAKE_USER}\r\n"}))

    assert len(pushover.delivered) == 1
    assert pushover.delivered[0]["user"] == FAKE_USER and pushover.validations[0]["token"] == FAKE_TOKEN
    notices = problems(result, "notice")
    assert [n.split(" has ")[0] for n in notices] == ["notice: PUSHOVER_TOKEN", "notice: PUSHOVER_USER"]
    assert all("space or line break around it" in n for n in notices)
    assert FAKE_TOKEN not in result.stdout + result.stderr and FAKE_USER not in result.stdout + result.stderr


def test_a_token_in_quotes_gets_its_own_message_after_pushover_refused_it(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    configure(workdir)

    result = run(env={"PUSHOVER_TOKEN": f'"{FAKE_TOKEN}"'})

    assert result.returncode == 1
    assert problems(result, "error") == [
        "error: Pushover rejected the application token: PUSHOVER_TOKEN is in quotes: paste it again without them"
    ]
    assert len(pushover.validations) == 1  # Pushover was asked: the quotes alone refuse nothing


def test_a_user_key_in_quotes_gets_its_own_message_naming_its_variable(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    configure(workdir)

    result = run("--check", env={"PUSHOVER_USER": f"'{FAKE_USER}'"})

    assert result.returncode == 1
    assert problems(result, "error") == [
        "error: recipient you: Pushover rejected the user key in PUSHOVER_USER: it is in quotes: paste it again"
        + " without them"
    ]


def test_a_token_and_user_key_swapped_are_named_swapped_once_pushover_accepts_them_the_other_way_round(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_slots("AM", "BIO", 1, [slot(2, "09:00")])
    configure(workdir)

    result = run(env={"PUSHOVER_TOKEN": FAKE_USER, "PUSHOVER_USER": FAKE_TOKEN})

    assert result.returncode == 1
    [error] = problems(result, "error")
    assert error == f"error: {ind_alert.TOKEN_SWAPPED}"
    assert pushover.messages == [] and sent(workdir) == []
    assert FAKE_TOKEN not in result.stderr and FAKE_USER not in result.stderr


def test_a_rejected_token_that_does_not_look_swapped_gets_the_plain_message_and_no_second_request(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    configure(workdir)

    result = run(env={"PUSHOVER_TOKEN": "a" + FAKE_TOKEN[1:-1] + "x"})

    assert result.returncode == 1
    assert problems(result, "error") == [f"error: {ind_alert.TOKEN_REJECTED}"]
    assert len(pushover.validations) == 1


def test_a_key_of_an_unusual_shape_is_never_refused_for_its_shape(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    """Pushover's format is Pushover's to change: a key it accepts is used, whatever it looks like."""
    pushover.token, pushover.users = "u-new-FORMAT-token", {"a.new.user.key.of.40.characters.or.more"}
    ind.set_slots("AM", "BIO", 1, [slot(2, "09:00")])
    configure(workdir)

    ok(run(env={"PUSHOVER_TOKEN": "u-new-FORMAT-token", "PUSHOVER_USER": "a.new.user.key.of.40.characters.or.more"}))

    assert len(pushover.delivered) == 1


def test_with_a_rejected_token_and_nothing_new_the_summary_does_not_say_ok(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    configure(workdir)

    result = run(env={**github(workdir), "PUSHOVER_TOKEN": "a" + FAKE_TOKEN[1:-1] + "x"})

    assert result.returncode == 1
    assert f"{NAME}: 0 open, 0 match, 0 new, secret rejected" in lines(result.stdout)
    [row] = summary_rows(workdir / "summary.md")
    assert row["Status"] == "secret rejected"


def test_a_pair_that_looks_swapped_but_is_refused_both_ways_gets_the_plain_message() -> None:
    """The look only decides whether Pushover is asked once more; only its yes says "swapped"."""
    with responses.RequestsMock() as mock:
        mock.post(
            "https://api.pushover.net/1/users/validate.json",
            status=400,
            json={"token": "invalid", "errors": ["application token is invalid"], "status": 0},
        )
        client = ind_alert.PushoverClient("https://api.pushover.net/1", FAKE_USER, patient=False)
        problem = ind_alert.token_problem(client, {"you": ("PUSHOVER_USER", FAKE_TOKEN)})
        assert len(mock.calls) == 1  # the swapped pair, asked once
    assert problem == ind_alert.TOKEN_REJECTED


# ================================================================ 2. how alerts.toml was saved


def test_an_alerts_file_with_a_utf8_byte_order_mark_is_read(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    workdir.config.write_bytes(codecs.BOM_UTF8 + alert().encode())

    result = ok(run("--dry-run"))

    assert f"{NAME}: 0 open, 0 match, 0 new, ok" in lines(result.stdout)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(alert().encode("utf-16"), id="UTF-16 with its mark"),
        pytest.param(alert().encode("utf-16-le"), id="UTF-16 without one"),
        pytest.param("# Café, Den Haag\n".encode("latin-1") + alert().encode(), id="Latin-1"),
    ],
)
def test_an_alerts_file_in_another_encoding_is_told_to_be_saved_as_utf8(
    workdir: Workdir, run: Run, data: bytes
) -> None:
    workdir.config.write_bytes(data)

    result = run("--dry-run")

    assert result.returncode == 2
    assert problems(result, "error") == [
        "error: alerts.toml is not saved as UTF-8 (it looks like UTF-16 or Latin-1): save it as UTF-8 in your editor"
    ]
    no_class_names(result.stderr)


def test_a_folder_named_as_the_alerts_file_is_named_a_folder(workdir: Workdir, run: Run) -> None:
    (workdir / "alerts.toml").mkdir()

    result = run("--dry-run")

    assert result.returncode == 2
    assert problems(result, "error") == [
        "error: alerts.toml is a folder, not a file: pass --config with your alerts.toml"
    ]
    no_class_names(result.stderr)


def test_a_missing_file_given_by_config_is_not_told_to_pass_config(workdir: Workdir, run: Run) -> None:
    result = run("--dry-run", "--config", "missing.toml")

    assert result.returncode == 2
    assert problems(result, "error") == [
        "error: missing.toml not found: check the path given by --config or IND_ALERT_CONFIG"
    ]


def test_the_causes_shown_to_a_user_are_words_never_class_names() -> None:
    for exc in (
        ValueError("x"),
        KeyError("x"),
        requests.ConnectionError(),
        requests.Timeout(),
        RuntimeError(),
        PermissionError(13, "Permission denied"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"),
    ):
        no_class_names(ind_alert.cause(exc))


# ================================================================ 2. the shipped example


def test_the_shipped_example_never_goes_live_when_the_secrets_are_added_and_says_what_to_edit(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    shutil.copy(REPO / "alerts.toml", workdir.config)
    example = ind_alert.load_config(workdir.config).alerts[0]
    ind.set_slots(example.desk[0], example.product, example.persons, [slot(2, "09:00")])

    result = run(env=github(workdir))

    assert result.returncode == 2
    assert problems(result, "error") == [
        f'::error::alert "{example.name}" is the shipped example (example = true): change it to the appointment'
        + " you need and delete the line example = true in alerts.toml; nothing is checked or pushed until then"
    ]
    assert pushover.messages == [] and not workdir.state.exists()
    assert "delete that line" in README[README.index("### 5. Say what you need") :][:800]


def test_a_dry_run_of_a_fresh_clone_checks_the_example_and_says_what_a_real_run_will_ask(
    ind: FakeIND, workdir: Workdir, run: Run
) -> None:
    shutil.copy(REPO / "alerts.toml", workdir.config)
    example = ind_alert.load_config(workdir.config).alerts[0]
    ind.set_slots(example.desk[0], example.product, example.persons, [slot(2, "09:00")])

    result = ok(run("--dry-run", env={"PUSHOVER_TOKEN": None, "PUSHOVER_USER": None}))

    [note] = problems(result, "notice")
    assert note.startswith(f'notice: alert "{example.name}" is the shipped example (example = true)')
    assert note.endswith("until then a real run stops here and pushes nothing")
    assert f"{example.name}: 1 open, 1 match, 1 new, dry run" in lines(result.stdout)


def test_the_example_once_edited_as_told_pushes(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    workdir.config.write_text(as_edited((REPO / "alerts.toml").read_text(encoding="utf-8")), encoding="utf-8")
    example = ind_alert.load_config(workdir.config).alerts[0]
    ind.set_slots(example.desk[0], example.product, example.persons, [slot(2, "09:00")])

    ok(run())

    assert len(pushover.delivered) == 1


def test_a_test_notification_works_before_the_example_is_edited(
    pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    shutil.copy(REPO / "alerts.toml", workdir.config)

    ok(run("--test-notification"))

    assert [m["title"] for m in pushover.delivered] == ["ind-alert test: notifications work"]


# ================================================================ 2. messages


@pytest.mark.parametrize(
    ("keys", "said"),
    [
        pytest.param({"days_ahead": 1.5}, "days_ahead must be a whole number from 0 to 3650, not 1.5", id="1.5"),
        pytest.param(
            {"days_ahead": "14"}, 'days_ahead = "14" is in quotes: remove the quotes (days_ahead = 14)', id="quoted"
        ),
        pytest.param(
            {"priority": 2},
            "priority must be a whole number from -2 to 1, not 2: for a push that repeats until acknowledged,"
            " set urgent_priority = 2 with urgent_within_days",
            id="priority 2",
        ),
        pytest.param({"desk": "Leiden"}, 'unknown desk "Leiden"; run --list-desks', id="no far-off desk"),
        pytest.param(
            {"desk": "Amsterdm"},
            'unknown desk "Amsterdm" (did you mean "Amsterdam"?); run --list-desks',
            id="a near one",
        ),
        pytest.param(
            {"desk": "Eindhovn"},
            'unknown desk "Eindhovn" (did you mean "Expatcenter Eindhoven"?); run --list-desks',
            id="in the desk's own spelling",
        ),
        pytest.param({"after": day(5), "booked": day(5)}, "is not before booked", id="after on booked"),
    ],
)
def test_a_config_mistake_gets_the_line_that_says_what_to_write(
    workdir: Workdir, run: Run, keys: dict[str, Any], said: str
) -> None:
    configure(workdir, alert(**keys))

    result = run("--dry-run")

    assert result.returncode == 2
    [error] = problems(result, "error")
    assert error.startswith(f'error: alerts.toml alert "{NAME}": ') and said in error


def test_list_desks_lists_inds_own_desks_first_then_by_name(ind: FakeIND, run: Run) -> None:
    ind.set_desks(
        "BIO",
        [
            ("0c127eb6d9fe1ced413d2112305e75f6", "Expatcenter Groningen"),
            ("ZW", "IND Zwolle"),
            ("AM", "IND Amsterdam"),
            ("284b189314071dcd571df5bb262a31db", "Expatcenter Amsterdam"),
            ("DH", "IND Den Haag"),
        ],
    )

    result = ok(run("--list-desks", "BIO"))

    names = [line.split()[-1] if "IND" in line else line.split(None, 1)[1] for line in lines(result.stdout)[1:-1]]
    assert names == ["Amsterdam", "Haag", "Zwolle", "Expatcenter Amsterdam", "Expatcenter Groningen"]


@pytest.mark.parametrize(("signum", "code", "name"), [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")])
def test_a_stopped_watch_says_so_in_one_line_and_exits_with_the_documented_code(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, start: Start, signum: int, code: int, name: str
) -> None:
    configure(workdir)
    running = start("--watch", "--interval", "86400")
    wait_until(lambda: ind.hits("AM", "BIO", 1) >= 1 and running.running, 20, "the first check")
    wait_until(workdir.state.exists, 20, "the first save")

    running.send_signal(signum)
    result = running.finish(timeout=30)

    assert result.returncode == code
    assert re.fullmatch(
        STAMP + f"notice: stopped by {name}: every push delivered until now is recorded", result.stderr.splitlines()[-1]
    )
    assert f"| {code} |" in REFERENCE_DOC  # its exit code table


def test_a_one_shot_run_stamps_its_lines_for_a_cron_log_when_asked(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    configure(workdir)

    result = ok(run(env={"IND_ALERT_STAMP": "1"}))
    plain = ok(run())

    assert result.stdout and all(re.match(STAMP, line) for line in lines(result.stdout))
    assert not any(re.match(STAMP, line) for line in lines(plain.stdout))
    assert "IND_ALERT_STAMP=1" in README


# ================================================================ 3. I already have an appointment


def test_booked_matches_only_slots_before_it_and_the_push_says_how_much_sooner_with_the_edit_link(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    booked = day(21)
    ind.set_slots("AM", "BIO", 1, [slot(2, "09:00"), slot(20, "09:00"), slot(21, "09:00"), slot(25, "09:00")])
    configure(workdir, alert(booked=booked))

    result = ok(run(env=github(workdir)))

    assert f"{NAME}: 4 open, 2 match, 2 new, pushed" in lines(result.stdout)
    [push] = pushover.delivered
    message = push["message"].split("\n")
    assert message[0] == f"19 days earlier than your {booked.day} {booked:%b} appointment"
    assert len(message) == 4  # the gain, two slots, the link
    assert (
        message[-1] == "Booked one? Set booked to its date: https://github.com/someone/ind-alert/edit/main/alerts.toml"
    )


def test_booked_off_github_pushes_no_edit_link_and_one_day_is_one_day(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    booked = day(3)
    ind.set_slots("AM", "BIO", 1, [slot(2, "09:00")])
    configure(workdir, alert(booked=booked))

    ok(run())

    [push] = pushover.delivered
    assert push["message"].split("\n")[0] == f"1 day earlier than your {booked.day} {booked:%b} appointment"
    assert "github.com" not in push["message"]


def test_the_readmes_two_line_change_moves_booked_to_the_new_appointment() -> None:
    block = re.search(r"```diff\n(-booked = [^\n]+)\n(\+booked = [^\n]+)\n```", README)
    assert block, "the README's two-line change"
    before = alert(booked=ind_alert.date.fromisoformat(block[1].split("= ")[1]))
    after = before.replace(block[1][1:], block[2][1:])
    old, new = (ind_alert.parse_config(ind_alert.tomllib.loads(t)).alerts[0].booked for t in (before, after))
    assert old and new and new < old


def test_the_readme_says_what_ind_allows_and_that_the_safe_order_is_not_verified() -> None:
    section = README[
        README.index("### I already have an appointment") : README.index("## Running it on your own machine")
    ]
    assert "cannot be moved, only cancelled" in section
    assert "not verified" in section and "does not advise an order" in section
    assert "https://github.com/OWNER/REPO/edit/BRANCH/alerts.toml" in section


def test_a_per_slot_recipient_is_not_told_about_the_appointment_held() -> None:
    now = ind_alert.datetime.now(ind_alert.AMSTERDAM)
    start = (now + ind_alert.timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    slot_ = ind_alert.Slot(start, start + ind_alert.timedelta(minutes=10), "AM")
    held = ind_alert.Alert("held", ("AM",), "BIO", booked=(now + ind_alert.timedelta(days=9)).date())
    public = ind_alert.Recipient("channel", apprise_url_env="CHANNEL_URL", per_slot=True)
    mine = ind_alert.Recipient("me", pushover_user_env="PUSHOVER_USER")

    [(for_public, _)] = ind_alert.pushes_for(held, public, [slot_], now, edit_url="https://github.com/a/b/edit/m/x")
    [(for_me, _)] = ind_alert.pushes_for(held, mine, [slot_], now, edit_url="https://github.com/a/b/edit/m/x")

    assert "earlier than your" not in for_public.message and "github.com" not in for_public.message
    assert for_me.message.startswith("7 days earlier than your")
