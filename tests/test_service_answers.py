"""What IND lists, what Pushover accepts, and what a monitor hears: end to end, against the loopback fakes.

Never silently blind: a rejected secret or sound is found before a slot arrives, a desk that stopped
offering a product is named, a partial or refused answer is told apart, and a watcher that needs its
user says so to a dead-man's switch. Several desks in one alert share one push.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FAKE_TOKEN, FAKE_USER, Run
from fakes import (
    NAME,
    FakeHealthcheck,
    FakeIND,
    FakePushover,
    Workdir,
    alert_toml,
    configure,
    day,
    ind_body,
    label,
    lines,
    ok,
    problems,
    read_state,
    sent_to_you,
    slot_starting,
    spec_id,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ZWOLLE_ONLY_DOC = [("AM", "IND Amsterdam"), ("DH", "IND Den Haag")]  # IND's BIO list without Zwolle
NEW_DESK = "9f4c2a7e1b3d4c5e8a6b7c9d0e1f2a3b"  # a desk IND lists and the bundled table does not know


def first_table_rows(path: Path) -> list[dict[str, str]]:
    """The main table of a job summary, as dicts keyed by its header."""
    text = path.read_text(encoding="utf-8")
    table = text[text.index("\n|") + 1 :].split("\n\n")[0].splitlines()  # the first table only
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in row.strip("|").split(" | ")), strict=True)) for row in table[2:]]


# ============================================================ 1. secrets and sounds, before they are needed


def test_a_run_checks_the_token_and_user_key_once_a_day_before_any_slot_arrives(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    configure(workdir)

    ok(run())
    ok(run())

    assert pushover.validations == [{"token": FAKE_TOKEN, "user": FAKE_USER}]  # once, though nothing was new
    assert pushover.sound_lists == 0  # no alert sets a sound
    record = read_state(workdir)["validated"]
    text = workdir.state.read_text(encoding="utf-8")
    for secret in (FAKE_TOKEN, FAKE_USER):
        assert secret not in text
        assert hashlib.sha256(secret.encode()).hexdigest()[:16] not in text  # no plain hash either
    assert record["problems"] == [] and len(record["fingerprint"]) == 16


def test_a_changed_secret_or_config_is_checked_again_the_same_day(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    configure(workdir)
    ok(run())
    assert pushover.users is not None
    pushover.users.add("uAnotherUserKeyOfTheSameOwner0")

    ok(run(env={"PUSHOVER_USER": "uAnotherUserKeyOfTheSameOwner0"}))
    configure(workdir, alert_toml(sound="siren"))
    ok(run())

    assert [v["user"] for v in pushover.validations] == [FAKE_USER, "uAnotherUserKeyOfTheSameOwner0", FAKE_USER]
    assert pushover.sound_lists == 1


def test_an_unknown_sound_fails_every_run_but_the_slot_is_pushed_without_it(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15")])
    configure(workdir, alert_toml(sound="sirene"))

    first = run()
    second = run()

    expected = (
        f'error: alert "{NAME}": Pushover has no sound "sirene" (yours: {", ".join(sorted(pushover.sounds))});'
        " pushed without it"
    )
    assert [first.returncode, second.returncode] == [1, 1]
    assert problems(first, "error") == problems(second, "error") == [expected]
    assert pushover.sound_lists == 1  # the second run did not ask again
    [push] = pushover.delivered
    assert "sound" not in push and push["message"] == label(slot_starting(2, "09:15"))
    assert sent_to_you(workdir, NAME) == [spec_id(slot_starting(2, "09:15"))]


def test_a_custom_sound_of_the_account_is_accepted(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    pushover.sounds["doorbell"] = "Doorbell (custom)"
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15")])
    configure(workdir, alert_toml(sound="doorbell"))

    ok(run())

    assert pushover.delivered[0]["sound"] == "doorbell"


def test_check_names_an_unknown_sound_and_exits_1(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    configure(workdir, alert_toml(sound="sirene"))

    result = run("--check")

    assert result.returncode == 1
    assert any('Pushover has no sound "sirene"' in line for line in problems(result, "error"))
    assert pushover.messages == [] and ind.requests == []


def test_a_pushover_outage_during_the_check_is_a_warning_and_pushes_still_go(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15")])
    configure(workdir)
    pushover.queue("validate", 503)
    pushover.queue("validate", 503)

    result = ok(run(patch_sleep=True))

    assert any("Pushover secrets could not be checked" in w for w in problems(result))
    assert len(pushover.delivered) == 1
    assert "validated" not in read_state(workdir)  # asked again next run


# ============================================================ 2. desks come from IND


def test_a_desk_that_no_longer_offers_the_product_is_named_and_counts_as_failed(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_desks("BIO", ZWOLLE_ONLY_DOC)
    configure(workdir, alert_toml("Zwolle biometrics", "ZW", blind_after_minutes=1))

    result = ok(run())

    assert problems(result) == [
        "warning: Zwolle biometrics: IND Zwolle does not offer biometrics now; desks that do: Amsterdam, Den Haag"
    ]
    assert "Zwolle biometrics: desk does not offer this" in lines(result.stdout)
    assert "failing_since" in read_state(workdir)["alerts"]["Zwolle biometrics"]
    assert ind.hits("ZW", "BIO", 1) == 1  # still asked: desk lists change back


def test_slots_from_a_desk_ind_does_not_list_are_still_pushed(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_desks("BIO", ZWOLLE_ONLY_DOC)
    ind.set_slots("ZW", "BIO", 1, [slot_starting(2, "09:15")])
    configure(workdir, alert_toml("Zwolle biometrics", "ZW"))

    result = ok(run())

    assert len(problems(result)) == 1
    assert "Zwolle biometrics: 1 open, 1 match, 1 new, pushed" in lines(result.stdout)


def test_without_ind_s_desk_list_slots_are_checked_as_usual(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_desks_raw("BIO", 500, "<html>down</html>")
    ind.set_slots("AM", "BIO", 1, [slot_starting(2, "09:15")])
    configure(workdir)

    result = ok(run())

    assert any("list of desks for Biometrics could not be read" in w for w in problems(result))
    assert f"{NAME}: 1 open, 1 match, 1 new, pushed" in lines(result.stdout)


def test_a_new_desk_is_accepted_by_its_key_and_named_as_ind_names_it(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_desks("BIO", [*ZWOLLE_ONLY_DOC, (NEW_DESK, "IND Service Point Goes")])
    ind.set_slots(NEW_DESK, "BIO", 1, [slot_starting(2, "09:15")])
    configure(workdir, alert_toml("Goes", NEW_DESK))

    ok(run())

    assert pushover.delivered[0]["title"] == "IND Service Point Goes: Biometrics: 1 new slot"
    assert sent_to_you(workdir, "Goes") == [spec_id(slot_starting(2, "09:15"), NEW_DESK)]


# ============================================================ 3. a partial answer is not thrown away


def test_a_malformed_slot_is_skipped_and_the_valid_one_beside_it_pushed(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    good = slot_starting(2, "09:15")
    data = [{"date": good[0], "startTime": good[1], "endTime": good[2]}, {"date": good[0], "startTime": "9 am"}]
    ind.set_raw("AM", "BIO", 1, 200, ind_body({"status": "OK", "data": data}))
    configure(workdir)

    result = ok(run())

    skipped = (
        "warning: IND's answer for IND Amsterdam (BIO) had 1 malformed slot, skipped;"
        " IND may have changed its API (see README, Troubleshooting)"
    )
    assert problems(result) == [skipped]
    assert pushover.delivered[0]["message"] == label(good)


# ============================================================ 4. blocked, down or changed


@pytest.mark.parametrize(
    ("status", "line", "summary"),
    [
        (403, "IND refused this machine (HTTP 403)", "IND refused this machine"),
        (429, "IND is rate-limiting this machine (HTTP 429)", "IND is rate-limiting"),
    ],
)
def test_a_refusal_is_told_apart_from_an_outage_and_passes(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, status: int, line: str, summary: str
) -> None:
    ind.set_raw("AM", "BIO", 1, status, "<html>no</html>", headers={"Retry-After": "120"})
    configure(workdir)
    summary_file = workdir / "summary.md"

    result = ok(run(env={"GITHUB_STEP_SUMMARY": str(summary_file)}))

    assert problems(result) == [f"warning: {NAME}: {line}; state kept, will retry next run"]
    assert f"{NAME}: {summary}" in lines(result.stdout)
    assert first_table_rows(summary_file)[0]["Status"] == summary
    assert ind.hits("AM", "BIO", 1) == 1  # a refusal is not retried at once


# ============================================================ 5. a dead-man's switch


@pytest.fixture
def monitor() -> Iterator[FakeHealthcheck]:
    with FakeHealthcheck() as fake:
        yield fake


def test_a_run_that_did_its_job_pings_the_healthcheck(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, monitor: FakeHealthcheck
) -> None:
    configure(workdir)

    result = ok(run(env={"HEALTHCHECK_URL": monitor.url}))

    assert [kind for kind, _, _ in monitor.pings] == ["ok"]
    assert monitor.url not in result.output


def test_a_run_that_needs_its_user_pings_fail_with_its_error_lines_and_no_secret(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, monitor: FakeHealthcheck
) -> None:
    pushover.token = "aAnotherApplicationTokenValue0"
    configure(workdir)

    result = run(env={"HEALTHCHECK_URL": monitor.url})

    assert result.returncode == 1
    [(kind, method, body)] = monitor.pings
    assert (kind, method) == ("fail", "POST")
    assert body == "error: Pushover rejected the application token: check the PUSHOVER_TOKEN secret"
    assert FAKE_TOKEN not in body and monitor.url not in result.output


def test_a_passing_ind_outage_is_an_ok_ping_until_the_alert_is_blind(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, monitor: FakeHealthcheck
) -> None:
    ind.set_raw("AM", "BIO", 1, 500, "<html>down</html>")
    configure(workdir, alert_toml(blind_after_minutes=60))
    ok(run(env={"HEALTHCHECK_URL": monitor.url}))
    state = read_state(workdir)
    state["alerts"][NAME]["failing_since"] -= 3600  # the outage began an hour ago
    workdir.state.write_text(json.dumps(state), encoding="utf-8")

    ok(run(env={"HEALTHCHECK_URL": monitor.url}))

    assert [kind for kind, _, _ in monitor.pings] == ["ok", "fail"]
    assert "IND checks have failed since" in monitor.pings[1][2]


def test_a_monitor_that_cannot_be_reached_never_fails_the_run(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, monitor: FakeHealthcheck
) -> None:
    monitor.status = 500
    configure(workdir)

    result = ok(run(env={"HEALTHCHECK_URL": monitor.url}))

    assert problems(result) == [
        "warning: the healthcheck could not be pinged: check HEALTHCHECK_URL (the run itself went on)"
    ]


def test_a_dry_run_or_a_check_never_pings(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run, monitor: FakeHealthcheck
) -> None:
    configure(workdir)

    ok(run("--dry-run", env={"HEALTHCHECK_URL": monitor.url}))
    ok(run("--check", env={"HEALTHCHECK_URL": monitor.url}))

    assert monitor.pings == []


# ============================================================ 6. state that cannot quietly go wrong


def test_a_state_with_a_key_twice_is_refused_and_left_untouched(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    configure(workdir)
    text = '{"version": 2, "alerts": {}, "alerts": {"x": {}}}\n'
    workdir.state.parent.mkdir()
    workdir.state.write_text(text, encoding="utf-8")

    result = run()

    assert result.returncode == 2
    refused = (
        'error: state/seen.json is not a valid ind-alert state (the key "alerts" appears twice);'
        " it was left untouched: fix or move it away"
    )
    assert problems(result, "error") == [refused]
    assert workdir.state.read_text(encoding="utf-8") == text


# ============================================================ several desks in one alert


def two_desks(**keys: object) -> str:
    return alert_toml("Biometrics nearby", desk=["Amsterdam", "Den Haag"], **keys)  # type: ignore[arg-type]


def test_one_push_lists_the_new_slots_of_every_desk_earliest_first(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_slots("AM", "BIO", 1, [slot_starting(3, "09:15")])
    ind.set_slots("DH", "BIO", 1, [slot_starting(2, "14:00"), slot_starting(4, "08:30")])
    configure(workdir, two_desks())

    result = ok(run())

    [push] = pushover.delivered
    assert push["title"] == "Biometrics: 3 new slots at 2 desks"
    assert push["message"].splitlines() == [
        f"{label(slot_starting(2, '14:00'))} · Den Haag",
        f"{label(slot_starting(3, '09:15'))} · Amsterdam",
        f"{label(slot_starting(4, '08:30'))} · Den Haag",
    ]
    assert push["url_title"] == "Book at IND"
    assert "Biometrics nearby: 3 open, 3 match, 3 new, pushed" in lines(result.stdout)


def test_the_same_time_at_two_desks_is_two_slots_both_pushed_and_remembered(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    same = slot_starting(2, "09:15")
    ind.set_slots("AM", "BIO", 1, [same])
    ind.set_slots("DH", "BIO", 1, [same])
    configure(workdir, two_desks())

    ok(run())
    ok(run())

    [push] = pushover.delivered  # the second run pushes nothing again
    assert len(push["message"].splitlines()) == 2
    assert sent_to_you(workdir, "Biometrics nearby") == sorted([spec_id(same, "AM"), spec_id(same, "DH")])


def test_one_desk_failing_neither_stops_nor_forgets_the_other(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    known, fresh = slot_starting(2, "09:15"), slot_starting(3, "10:00")
    ind.set_slots("AM", "BIO", 1, [known])
    ind.set_slots("DH", "BIO", 1, [fresh])
    configure(workdir, two_desks())
    ok(run())
    ind.set_raw("AM", "BIO", 1, 500, "<html>down</html>")
    ind.set_slots("DH", "BIO", 1, [fresh, slot_starting(4, "11:00")])

    result = ok(run())

    assert "Biometrics nearby: 2 open, 2 match, 1 new, pushed (1 of 2 desks failed)" in lines(result.stdout)
    assert pushover.delivered[-1]["message"] == f"{label(slot_starting(4, '11:00'))} · Den Haag"
    assert spec_id(known, "AM") in sent_to_you(workdir, "Biometrics nearby")  # kept: not known to be gone


def test_any_desk_asks_exactly_the_desks_ind_lists_for_the_product(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_desks("BIO", [("AM", "IND Amsterdam"), (NEW_DESK, "IND Service Point Goes")])
    ind.set_slots(NEW_DESK, "BIO", 1, [slot_starting(2, "09:15")])
    configure(workdir, alert_toml("Anywhere", desk="any"))

    ok(run())

    asked = sorted(r.path for r in ind.requests if r.path.endswith("/slots"))
    assert asked == sorted([f"/oap/api/desks/{NEW_DESK}/slots", "/oap/api/desks/AM/slots"])
    assert pushover.delivered[0]["message"] == f"{label(slot_starting(2, '09:15'))} · Service Point Goes"


def test_the_summary_shows_the_earliest_slot_of_each_desk(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    ind.set_slots("AM", "BIO", 1, [slot_starting(3, "09:15"), slot_starting(5, "09:15")])
    ind.set_slots("DH", "BIO", 1, [slot_starting(2, "14:00")])
    configure(workdir, two_desks())
    summary = workdir / "summary.md"

    ok(run(env={"GITHUB_STEP_SUMMARY": str(summary)}))

    row = first_table_rows(summary)[0]
    assert (row["Desk"], row["Earliest matching slot"]) == ("2 desks", f"{label(slot_starting(2, '14:00'))} · Den Haag")
    text = summary.read_text(encoding="utf-8")
    assert f"| Amsterdam | {label(slot_starting(3, '09:15'))} |" in text
    assert f"| Den Haag | {label(slot_starting(2, '14:00'))} |" in text


@pytest.mark.parametrize(
    ("desk", "message"),
    [
        ([], 'the desk list is empty: name at least one desk, or use desk = "any"'),
        (["Amsterdam", "AM"], 'desk "AM" is listed twice'),
        (["Amsterdam", "Zwole"], 'unknown desk "Zwole" (did you mean "Zwolle"?)'),
        (["Amsterdam", 5], "every desk in the list must be a desk name in quotes"),
        (["Amsterdam", " "], "every desk in the list must be a desk name in quotes"),
    ],
)
def test_a_desk_list_is_checked_entry_by_entry(workdir: Workdir, run: Run, desk: list[str], message: str) -> None:
    configure(workdir, alert_toml(desk=desk))  # type: ignore[arg-type]

    result = run("--check")

    assert result.returncode == 2
    assert message in problems(result, "error")[0]


def upgrade_and_check(ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run) -> dict[str, Any]:
    """Run on an older state that knows two of IND's open slots: only the third, new one is pushed, all
    three are recorded, and the saved state is version 3; the saved state as read back."""
    ind.set_slots("AM", "BIO", 1, [("2030-03-04", "09:00", "09:10"), ("2030-03-05", "11:06", "11:13")])
    ind.set_slots("DH", "DOC", 1, [("2030-03-04", "09:00", "09:10"), ("2030-03-06", "10:00", "10:10")])

    ok(run(env={"GITHUB_REPOSITORY": "someone/ind-alert"}))

    [push] = pushover.delivered  # only the one slot that is really new
    assert push["message"] == "Wed 6 Mar 10:00"
    state = read_state(workdir)
    assert state["version"] == 3
    assert sent_to_you(workdir, NAME) == ["AM 2030-03-04 09:00-09:10", "AM 2030-03-05 11:06-11:13"]
    assert sent_to_you(workdir, "Den Haag documents") == ["DH 2030-03-04 09:00-09:10", "DH 2030-03-06 10:00-10:10"]
    return state  # type: ignore[no-any-return]


def test_a_state_from_the_previous_version_upgrades_with_no_repeat_push(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    # A real state file written by the previous version (slot ids without their desk), for this config.
    configure(workdir, alert_toml(), alert_toml("Den Haag documents", "Den Haag", "DOC"))
    workdir.state.parent.mkdir()
    shutil.copyfile(FIXTURES / "state-v1.json", workdir.state)

    upgrade_and_check(ind, pushover, workdir, run)


def test_a_state_written_by_the_last_release_upgrades_once_with_no_slot_pushed_again_and_none_forgotten(
    ind: FakeIND, pushover: FakePushover, workdir: Workdir, run: Run
) -> None:
    # A state file as the last release (state version 2) writes it, for this config.
    configure(workdir, alert_toml(), alert_toml("Den Haag documents", "Den Haag", "DOC"))
    workdir.state.parent.mkdir()
    written = json.loads((FIXTURES / "state-v2.json").read_text(encoding="utf-8"))
    yesterday = day(-1).isoformat()  # history is kept for 30 Amsterdam days: date it now
    written["alerts"]["Amsterdam biometrics"]["history"] = {yesterday: "2030-03-04"}
    workdir.state.write_text(json.dumps(written, indent=2), encoding="utf-8")

    state = upgrade_and_check(ind, pushover, workdir, run)

    assert state["quota_notified"] == 1900000000
    assert state["alerts"]["Amsterdam biometrics"]["history"][yesterday] == "2030-03-04"
    upgraded, written_at = workdir.state.read_bytes(), workdir.state.stat().st_mtime_ns

    ok(run(env={"GITHUB_REPOSITORY": "someone/ind-alert"}))

    assert len(pushover.delivered) == 1  # nothing pushed again
    assert workdir.state.read_bytes() == upgraded  # the upgrade is written once
    assert workdir.state.stat().st_mtime_ns == written_at
