"""Recipients, urgency and Apprise channels (issue 5), end to end.

Every test runs ``python ind_alert.py`` as a subprocess against loopback fakes: IND and Pushover from
``fakes.py``, and here a small HTTP server standing in for whatever an Apprise ``json://`` URL points at.
"Now" is the script's real clock, so slot dates are built relative to today in Amsterdam.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from conftest import FAKE_TOKEN, FAKE_USER, Run
from fakes import (
    APPRISE_TOKEN,
    HTML_MAINTENANCE,
    AppriseServer,
    FakeIND,
    FakePushover,
    Workdir,
    label,
    seed_state,
    sent_by_recipient,
    slot,
    slot_id,
)

# A second key of the real shape (30 alphanumerics): the partner's Pushover user key.
PARTNER_USER = "gznej3rKEVAvPUxu9vvNnqpmZpokzF"
# The path segment of the phone's Apprise URL: a token as a real service URL would carry one.

RECIPIENTS = """
[recipients.me]
pushover_user_env = "PUSHOVER_USER"

[recipients.partner]
pushover_user_env = "PUSHOVER_USER_PARTNER"

[recipients.phone]
apprise_url_env = "APPRISE_URL"
"""

AMSTERDAM_DOC = """
[[alert]]
name = "Amsterdam DOC"
desk = "AM"
product = "DOC"
"""

DOC_TITLE = "IND Amsterdam: Collect residence document"


# ------------------------------------------------------------------ the Apprise endpoint


@pytest.fixture
def env(ind: FakeIND, pushover: FakePushover, secrets: dict[str, str], apprise_server: AppriseServer) -> dict[str, str]:
    """The usual environment plus the partner's Pushover key and the phone's Apprise URL."""
    pushover.users.add(PARTNER_USER)
    return {
        "IND_API_URL": ind.url,
        "PUSHOVER_API_URL": pushover.url,
        **secrets,
        "PUSHOVER_USER_PARTNER": PARTNER_USER,
        "APPRISE_URL": apprise_server.url,
    }


# ------------------------------------------------------------------ helpers


def pushes_to(pushover: FakePushover, user: str) -> list[dict[str, str]]:
    return [m for m in pushover.delivered if m.get("user") == user]


def apprise_lines(post: dict[str, Any]) -> list[str]:
    """The slot lines of an Apprise body: the push's message, then the booking link on its own line."""
    lines = str(post["message"]).splitlines()
    assert lines[-1].startswith("https://oap.ind.nl/"), post
    return lines[:-1]


# ------------------------------------------------------------------ routing


def test_each_recipient_receives_exactly_the_slots_its_routing_says(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover, apprise_server: AppriseServer
) -> None:
    workdir.write_config(
        RECIPIENTS
        + """
        [[alert]]
        name = "Amsterdam DOC"
        desk = "AM"
        product = "DOC"
        notify = ["me", "partner", "phone"]

        [[alert]]
        name = "Den Haag BIO"
        desk = "DH"
        product = "BIO"
        notify = ["partner"]
        """
    )
    ind.set_slots("AM", "DOC", 1, [slot(22, "11:00", "11:10"), slot(21)])
    ind.set_slots("DH", "BIO", 1, [slot(23, "09:00", "09:15")])

    result = run()

    assert result.returncode == 0, result.output
    assert len(pushover.delivered) == 3
    [mine] = pushes_to(pushover, FAKE_USER)
    assert mine["title"] == f"{DOC_TITLE}: 2 new slots"
    assert mine["message"].splitlines() == [label(slot(21)), label(slot(22, "11:00"))]
    partners = sorted(pushes_to(pushover, PARTNER_USER), key=lambda m: m["title"])
    assert [m["title"] for m in partners] == [f"{DOC_TITLE}: 2 new slots", "IND Den Haag: Biometrics: 1 new slot"]
    assert partners[0]["message"].splitlines() == [label(slot(21)), label(slot(22, "11:00"))]
    assert partners[1]["message"].splitlines() == [label(slot(23, "09:00"))]
    [phone] = apprise_server.delivered
    assert apprise_server.paths == [f"/{APPRISE_TOKEN}"]
    assert phone["title"] == f"{DOC_TITLE}: 2 new slots"
    assert apprise_lines(phone) == [label(slot(21)), label(slot(22, "11:00"))]
    assert sent_by_recipient(workdir, "Den Haag BIO") == {"partner": [slot_id(23, "09:00", "09:15", "DH")]}


def test_an_alert_without_notify_goes_to_every_recipient(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover, apprise_server: AppriseServer
) -> None:
    workdir.write_config(RECIPIENTS + AMSTERDAM_DOC)
    ind.set_slots("AM", "DOC", 1, [slot(21)])

    result = run()

    assert result.returncode == 0, result.output
    assert [m["user"] for m in pushover.delivered] == [FAKE_USER, PARTNER_USER]
    assert all(m["message"] == label(slot(21)) for m in pushover.delivered)
    [phone] = apprise_server.delivered
    assert apprise_lines(phone) == [label(slot(21))]
    assert sent_by_recipient(workdir, "Amsterdam DOC") == {
        "me": [slot_id(21)],
        "partner": [slot_id(21)],
        "phone": [slot_id(21)],
    }


def test_without_a_recipients_table_pushover_user_alone_works_as_before(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover, apprise_server: AppriseServer
) -> None:
    workdir.write_config(AMSTERDAM_DOC)
    ind.set_slots("AM", "DOC", 1, [slot(21)])

    result = run(env={"PUSHOVER_USER_PARTNER": None, "APPRISE_URL": None})

    assert result.returncode == 0, result.output
    [push] = pushover.delivered
    assert push["user"] == FAKE_USER
    assert push["message"] == label(slot(21))
    assert push["priority"] == "0"
    assert apprise_server.received == []
    assert sent_by_recipient(workdir, "Amsterdam DOC") == {"you": [slot_id(21)]}


# ------------------------------------------------------------------ per-recipient delivery


def test_a_failing_apprise_recipient_is_retried_alone_on_the_next_run(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover, apprise_server: AppriseServer
) -> None:
    workdir.write_config(RECIPIENTS + AMSTERDAM_DOC)
    ind.set_slots("AM", "DOC", 1, [slot(21), slot(22)])
    apprise_server.status = 500

    first = run(patch_sleep=True)

    assert first.returncode == 0, first.output
    assert "recipient phone" in first.stderr
    assert apprise_server.url not in first.output
    assert APPRISE_TOKEN not in first.output
    assert sorted(m["user"] for m in pushover.delivered) == sorted([FAKE_USER, PARTNER_USER])
    assert len(apprise_server.received) == 1  # one digest, not retried within the run
    assert apprise_server.delivered == []
    assert sent_by_recipient(workdir, "Amsterdam DOC") == {
        "me": [slot_id(21), slot_id(22)],
        "partner": [slot_id(21), slot_id(22)],
    }

    apprise_server.status = 200
    second = run(patch_sleep=True)

    assert second.returncode == 0, second.output
    assert len(pushover.messages) == 2, "a Pushover recipient got a duplicate"
    [phone] = apprise_server.delivered
    assert apprise_lines(phone) == [label(slot(21)), label(slot(22))]
    assert sent_by_recipient(workdir, "Amsterdam DOC") == {
        "me": [slot_id(21), slot_id(22)],
        "partner": [slot_id(21), slot_id(22)],
        "phone": [slot_id(21), slot_id(22)],
    }


def test_a_rejected_partner_key_fails_the_run_but_not_the_other_recipients(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover, apprise_server: AppriseServer
) -> None:
    workdir.write_config(RECIPIENTS + AMSTERDAM_DOC)
    ind.set_slots("AM", "DOC", 1, [slot(21)])
    pushover.users.discard(PARTNER_USER)

    result = run(patch_sleep=True)

    assert result.returncode == 1, result.output
    assert "partner" in result.stderr
    assert PARTNER_USER not in result.output
    assert [v["user"] for v in pushover.validations].count(PARTNER_USER) == 1
    assert [m for m in pushover.messages if m["user"] == PARTNER_USER] == [], "found before a push was tried"
    assert [m["user"] for m in pushover.delivered] == [FAKE_USER]
    assert len(apprise_server.delivered) == 1
    assert sent_by_recipient(workdir, "Amsterdam DOC") == {"me": [slot_id(21)], "phone": [slot_id(21)]}


# ------------------------------------------------------------------ urgency


def test_slots_within_urgent_within_days_go_out_with_urgent_priority_and_later_ones_with_the_alerts(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    workdir.write_config(
        """
        [[alert]]
        name = "Amsterdam soon"
        desk = "AM"
        product = "DOC"
        priority = -1
        urgent_within_days = 2

        [[alert]]
        name = "Den Haag later"
        desk = "DH"
        product = "DOC"
        priority = -1
        urgent_within_days = 2
        """
    )
    ind.set_slots("AM", "DOC", 1, [slot(1)])
    ind.set_slots("DH", "DOC", 1, [slot(21)])

    result = run(env={"PUSHOVER_USER_PARTNER": None, "APPRISE_URL": None})

    assert result.returncode == 0, result.output
    priorities = {m["message"]: m["priority"] for m in pushover.delivered}
    assert priorities == {label(slot(1)): "1", label(slot(21)): "-1"}


def test_urgent_within_days_and_urgent_priority_can_be_defaults(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    workdir.write_config(
        """
        [defaults]
        urgent_within_days = 2
        urgent_priority = 1

        [[alert]]
        name = "Amsterdam DOC"
        desk = "AM"
        product = "DOC"
        """
    )
    ind.set_slots("AM", "DOC", 1, [slot(1)])

    result = run(env={"PUSHOVER_USER_PARTNER": None, "APPRISE_URL": None})

    assert result.returncode == 0, result.output
    [push] = pushover.delivered
    assert push["priority"] == "1"
    assert "tags" not in push and "retry" not in push


def test_urgent_within_days_as_a_default_alone_gives_priority_1(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    workdir.write_config(
        """
        [defaults]
        urgent_within_days = 2

        [[alert]]
        name = "Amsterdam DOC"
        desk = "AM"
        product = "DOC"
        """
    )
    ind.set_slots("AM", "DOC", 1, [slot(21), slot(1)])

    result = run(env={"PUSHOVER_USER_PARTNER": None, "APPRISE_URL": None})

    assert result.returncode == 0, result.output
    [push] = pushover.delivered
    assert push["priority"] == "1"
    assert push["message"].splitlines() == [label(slot(1)), label(slot(21))]


def test_urgent_priority_0_is_kept_not_turned_into_the_default(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    workdir.write_config(AMSTERDAM_DOC + "priority = -1\nurgent_within_days = 2\nurgent_priority = 0\n")
    ind.set_slots("AM", "DOC", 1, [slot(1)])

    result = run(env={"PUSHOVER_USER_PARTNER": None, "APPRISE_URL": None})

    assert result.returncode == 0, result.output
    [push] = pushover.delivered
    assert push["priority"] == "0"


def test_an_only_urgent_recipient_gets_only_urgent_slots(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover, apprise_server: AppriseServer
) -> None:
    workdir.write_config(
        """
        [recipients.me]
        pushover_user_env = "PUSHOVER_USER"

        [recipients.sms]
        apprise_url_env = "APPRISE_URL"
        only_urgent = true

        [[alert]]
        name = "Amsterdam DOC"
        desk = "AM"
        product = "DOC"
        urgent_within_days = 2
        """
    )
    ind.set_slots("AM", "DOC", 1, [slot(21), slot(1)])

    first = run()
    second = run()

    assert first.returncode == 0, first.output
    assert second.returncode == 0, second.output
    [mine] = pushover.delivered
    assert mine["message"].splitlines() == [label(slot(1)), label(slot(21))]
    [sms] = apprise_server.delivered
    assert sms["title"] == f"{DOC_TITLE}: 1 new slot"
    assert apprise_lines(sms) == [label(slot(1))]
    assert sent_by_recipient(workdir, "Amsterdam DOC") == {"me": [slot_id(1), slot_id(21)], "sms": [slot_id(1)]}


def test_an_only_urgent_recipient_gets_a_slot_when_it_becomes_urgent(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    workdir.write_config(
        """
        [recipients.me]
        pushover_user_env = "PUSHOVER_USER"

        [recipients.partner]
        pushover_user_env = "PUSHOVER_USER_PARTNER"
        only_urgent = true

        [[alert]]
        name = "Amsterdam DOC"
        desk = "AM"
        product = "DOC"
        urgent_within_days = 2
        """
    )
    # Pushed to "me" days ago, when it was not urgent yet; the urgent-only partner was not told.
    seed_state(workdir, {"Amsterdam DOC": {"sent": {"me": [slot_id(1)]}}})
    ind.set_slots("AM", "DOC", 1, [slot(1)])

    result = run(env={"APPRISE_URL": None})

    assert result.returncode == 0, result.output
    [push] = pushover.delivered
    assert push["user"] == PARTNER_USER
    assert push["message"] == label(slot(1))
    assert push["priority"] == "1"
    assert sent_by_recipient(workdir, "Amsterdam DOC") == {"me": [slot_id(1)], "partner": [slot_id(1)]}


# ------------------------------------------------------------------ emergency


EMERGENCY_CONFIG = """
[recipients.me]
pushover_user_env = "PUSHOVER_USER"

[recipients.partner]
pushover_user_env = "PUSHOVER_USER_PARTNER"

[[alert]]
name = "Amsterdam DOC"
desk = "AM"
product = "DOC"
urgent_within_days = 2
urgent_priority = 2
"""


@pytest.fixture
def emergency(run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover) -> str:
    """A first run that sent an emergency push for tomorrow's slot to two people; its tag."""
    workdir.write_config(EMERGENCY_CONFIG)
    ind.set_slots("AM", "DOC", 1, [slot(1)])
    result = run(env={"APPRISE_URL": None})
    assert result.returncode == 0, result.output
    tags = {m.get("tags", "") for m in pushover.delivered}
    assert len(pushover.delivered) == 2 and len(tags) == 1, pushover.delivered
    return tags.pop()


def test_an_emergency_push_repeats_within_pushovers_limits_and_is_recorded(
    emergency: str, workdir: Workdir, pushover: FakePushover
) -> None:
    assert emergency
    for push in pushover.delivered:
        assert push["priority"] == "2"
        assert int(push["retry"]) >= 30
        assert int(push["expire"]) <= 10800
        assert push["tags"] == emergency
    recorded = workdir.read_state()["alerts"]["Amsterdam DOC"]["emergencies"]
    assert list(recorded) == [emergency]
    assert recorded[emergency]["slots"] == [slot_id(1)]


def test_an_emergency_push_is_cancelled_by_tag_when_its_slot_is_gone(
    emergency: str, run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    ind.set_slots("AM", "DOC", 1, [])

    result = run(env={"APPRISE_URL": None})

    assert result.returncode == 0, result.output
    assert pushover.cancels == [emergency]
    assert len(pushover.messages) == 2
    assert "emergencies" not in workdir.read_state()["alerts"].get("Amsterdam DOC", {})


def test_an_emergency_push_is_not_cancelled_while_its_slot_is_open(
    emergency: str, run: Run, workdir: Workdir, pushover: FakePushover
) -> None:
    before = workdir.state.read_text(encoding="utf-8")

    result = run(env={"APPRISE_URL": None})

    assert result.returncode == 0, result.output
    assert pushover.cancels == []
    assert len(pushover.messages) == 2
    assert workdir.state.read_text(encoding="utf-8") == before


def test_an_emergency_push_is_not_cancelled_when_ind_fails(
    emergency: str, run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    ind.set_raw("AM", "DOC", 1, 503, HTML_MAINTENANCE)

    result = run(env={"APPRISE_URL": None})

    assert result.returncode == 0, result.output
    assert pushover.cancels == []
    assert list(workdir.read_state()["alerts"]["Amsterdam DOC"]["emergencies"]) == [emergency]


# ------------------------------------------------------------------ config errors


def test_a_missing_recipient_secret_stops_the_run_naming_its_variable(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover, apprise_server: AppriseServer
) -> None:
    workdir.write_config(RECIPIENTS + AMSTERDAM_DOC)
    ind.set_slots("AM", "DOC", 1, [slot(21)])

    result = run(env={"PUSHOVER_USER_PARTNER": None})

    assert result.returncode == 2, result.output
    assert "PUSHOVER_USER_PARTNER" in result.stderr
    assert pushover.messages == []
    assert apprise_server.received == []
    assert not workdir.state.exists()


def test_notify_naming_an_unknown_recipient_is_refused_with_a_suggestion(run: Run, workdir: Workdir) -> None:
    workdir.write_config(RECIPIENTS + AMSTERDAM_DOC + 'notify = ["me", "partnr"]\n')

    result = run()

    assert result.returncode == 2, result.output
    assert '"partnr"' in result.stderr
    assert 'did you mean "partner"' in result.stderr


def test_a_recipient_with_both_a_pushover_key_and_an_apprise_url_is_refused(run: Run, workdir: Workdir) -> None:
    workdir.write_config(
        """
        [recipients.me]
        pushover_user_env = "PUSHOVER_USER"
        apprise_url_env = "APPRISE_URL"
        """
        + AMSTERDAM_DOC
    )

    result = run()

    assert result.returncode == 2, result.output
    assert "recipients.me" in result.stderr
    assert "pushover_user_env" in result.stderr and "apprise_url_env" in result.stderr


# ------------------------------------------------------------------ Apprise missing or misconfigured


@pytest.fixture
def no_apprise(tmp_path: Path) -> dict[str, str]:
    """A PYTHONPATH on which ``import apprise`` fails, as where it is not installed."""
    stub = tmp_path / "no-apprise" / "apprise"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text('raise ImportError("no apprise")\n', encoding="utf-8")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(stub.parent), os.environ.get("PYTHONPATH")]))}


def test_without_apprise_installed_an_apprise_recipient_says_pip_install_apprise(
    run: Run,
    workdir: Workdir,
    ind: FakeIND,
    pushover: FakePushover,
    apprise_server: AppriseServer,
    no_apprise: dict[str, str],
) -> None:
    workdir.write_config(RECIPIENTS + AMSTERDAM_DOC)
    ind.set_slots("AM", "DOC", 1, [slot(21)])

    first = run(env=no_apprise)

    assert first.returncode == 2, first.output
    assert "pip install apprise" in first.stderr
    assert "phone" in first.stderr
    assert "Traceback" not in first.output

    # Once Apprise is installed, nobody is told twice about the same slot.
    second = run()

    assert second.returncode == 0, second.output
    assert sorted(m["user"] for m in pushover.delivered) == sorted([FAKE_USER, PARTNER_USER]), "pushed twice"
    assert len(apprise_server.delivered) == 1


def test_without_apprise_installed_the_error_comes_even_when_nothing_is_new(
    run: Run, workdir: Workdir, no_apprise: dict[str, str]
) -> None:
    workdir.write_config(RECIPIENTS + AMSTERDAM_DOC)

    result = run(env=no_apprise)

    assert result.returncode == 2, result.output
    assert "pip install apprise" in result.stderr


def test_without_apprise_installed_a_pushover_only_config_still_works(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover, no_apprise: dict[str, str]
) -> None:
    workdir.write_config(AMSTERDAM_DOC)
    ind.set_slots("AM", "DOC", 1, [slot(21)])

    result = run(env=no_apprise)

    assert result.returncode == 0, result.output
    assert len(pushover.delivered) == 1


def test_an_invalid_apprise_url_is_refused_without_printing_it(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover
) -> None:
    workdir.write_config(RECIPIENTS + AMSTERDAM_DOC)
    ind.set_slots("AM", "DOC", 1, [slot(21)])
    bad_url = f"notaservice://{APPRISE_TOKEN}"

    first = run("-v", env={"APPRISE_URL": bad_url})

    assert first.returncode == 2, first.output
    assert "phone" in first.stderr
    assert "Apprise URL" in first.stderr
    assert APPRISE_TOKEN not in first.output
    assert "notaservice" not in first.output

    # Fixed, the next run tells nobody twice.
    second = run()

    assert second.returncode == 0, second.output
    assert sorted(m["user"] for m in pushover.delivered) == sorted([FAKE_USER, PARTNER_USER]), "pushed twice"


def test_check_refuses_an_invalid_apprise_url_without_printing_it(
    run: Run, workdir: Workdir, apprise_server: AppriseServer
) -> None:
    workdir.write_config(RECIPIENTS + AMSTERDAM_DOC)

    result = run("--check", env={"APPRISE_URL": f"notaservice://{APPRISE_TOKEN}"})

    assert result.returncode == 2, result.output
    assert "phone" in result.stderr
    assert APPRISE_TOKEN not in result.output
    assert apprise_server.received == []


# ------------------------------------------------------------------ --check and --test-notification


def test_check_validates_every_recipient_and_sends_nothing(
    run: Run, workdir: Workdir, pushover: FakePushover, apprise_server: AppriseServer
) -> None:
    workdir.write_config(RECIPIENTS + AMSTERDAM_DOC)

    result = run("--check")

    assert result.returncode == 0, result.output
    assert sorted(v["user"] for v in pushover.validations) == sorted([FAKE_USER, PARTNER_USER])
    assert pushover.messages == []
    assert apprise_server.received == []
    for name in ("me", "partner", "phone"):
        assert f"recipient {name}: ok" in result.stdout
    assert not workdir.state.exists()


def test_check_names_the_recipient_whose_key_pushover_rejects(
    run: Run, workdir: Workdir, pushover: FakePushover
) -> None:
    workdir.write_config(RECIPIENTS + AMSTERDAM_DOC)
    pushover.users.discard(PARTNER_USER)

    result = run("--check")

    assert result.returncode == 1, result.output
    assert "recipient partner" in result.stderr
    assert "recipient me: ok" in result.stdout
    assert PARTNER_USER not in result.output


def test_test_notification_sends_one_push_to_every_recipient(
    run: Run, workdir: Workdir, pushover: FakePushover, apprise_server: AppriseServer
) -> None:
    workdir.write_config(RECIPIENTS + AMSTERDAM_DOC)

    result = run("--test-notification")

    assert result.returncode == 0, result.output
    assert sorted(m["user"] for m in pushover.delivered) == sorted([FAKE_USER, PARTNER_USER])
    assert len(pushover.messages) == 2
    [post] = apprise_server.received
    assert post["title"] == pushover.delivered[0]["title"]
    assert "Amsterdam DOC" in post["message"]
    assert not workdir.state.exists()


# ------------------------------------------------------------------ secrets


def test_no_key_or_apprise_url_appears_in_verbose_output(
    run: Run, workdir: Workdir, ind: FakeIND, pushover: FakePushover, apprise_server: AppriseServer
) -> None:
    workdir.write_config(RECIPIENTS + AMSTERDAM_DOC)
    ind.set_slots("AM", "DOC", 1, [slot(21), slot(1)])
    apprise_server.status = 500

    checked, delivered, tested = run("--check", "-v"), run("-v", patch_sleep=True), run("--test-notification", "-v")

    assert checked.returncode == 0, checked.output
    assert delivered.returncode == 0, delivered.output
    assert tested.returncode == 1, "a test push that did not arrive must not look like success"
    assert len(pushover.delivered) == 4 and len(apprise_server.received) == 2
    for result in (checked, delivered, tested):
        for secret in (FAKE_TOKEN, FAKE_USER, PARTNER_USER, apprise_server.url, APPRISE_TOKEN):
            assert secret not in result.output, f"{result.args[-2:]} printed a secret"
