"""One deadline, shared fairly, and kept (issue 22, section 3).

The run's deadline is shortened the way Lambda shortens it: ``main(argv, env, deadline)`` in-process,
against the loopback fakes of ``fakes.py``; a fake that drips (``drip``: seconds a byte) never finishes
an answer within it. No test sleeps: each waits only for what it checks (``wait_until``).
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FAKE_USER
from fakes import AppriseServer, FakeIND, FakePushover, Workdir, label, slot, slot_id, wait_until

import ind_alert

DEADLINE = 3.0  # seconds a run here may wait on others: a dripping answer (0.2 s a byte, 400+ bytes) outlasts it
DRIP = 0.2

RECIPIENTS = """
[recipients.me]
pushover_user_env = "PUSHOVER_USER"

[recipients.phone]
apprise_url_env = "APPRISE_URL"
"""

ALERT = """
[[alert]]
name = "Amsterdam DOC"
desk = "AM"
product = "DOC"
"""


@pytest.fixture
def env(ind: FakeIND, pushover: FakePushover, secrets: dict[str, str], apprise_server: AppriseServer) -> dict[str, str]:
    return {"IND_API_URL": ind.url, "PUSHOVER_API_URL": pushover.url, **secrets, "APPRISE_URL": apprise_server.url}


def check(workdir: Workdir, env: dict[str, str], capsys: Any, deadline: float = DEADLINE) -> tuple[int, str]:
    """One run in this process with a short deadline: its exit code and what it printed."""
    code = ind_alert.main(["--config", str(workdir / "alerts.toml"), "--state", str(workdir.state)], env, deadline)
    out = capsys.readouterr()
    return code, out.out + out.err


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def settled() -> Iterator[None]:
    """Threads and open files as before the test, once the test is done: nothing it started is left waiting."""
    threads = threading.active_count()
    files = open_files() if os.path.isdir("/proc/self/fd") else None
    yield
    wait_until(lambda: threading.active_count() <= threads, timeout=10, what="the reading threads to end")
    if files is not None:
        wait_until(lambda: open_files() <= files, timeout=10, what="the sockets to close")


def delivered_apprise_lines(apprise_server: AppriseServer) -> list[str]:
    return [line for post in apprise_server.delivered for line in str(post["message"]).splitlines()[:-1]]


# ------------------------------------------------------------------ side work gets a share


def test_a_dripping_pushover_leaves_ind_its_time_and_the_slot_reaches_the_other_recipient(
    workdir: Workdir, ind: FakeIND, pushover: FakePushover, apprise_server: AppriseServer, env: dict[str, str], capsys
) -> None:
    workdir.write_config(RECIPIENTS + ALERT)
    ind.set_slots("AM", "DOC", 1, [slot(5)])
    pushover.drip = DRIP  # the day's secret check drips first, then every push would

    code, output = check(workdir, env, capsys)

    assert pushover.validations, "the secrets were not checked"
    assert ind.hits("AM", "DOC", 1) == 1
    assert delivered_apprise_lines(apprise_server) == [label(slot(5))]
    assert "IND unreachable" not in output and "IND did not answer" not in output, output
    assert "the Pushover secrets could not be checked" in output
    alert = workdir.read_state()["alerts"]["Amsterdam DOC"]
    assert "failing_since" not in alert  # no outage was recorded: IND answered
    assert alert["sent"] == {"phone": [slot_id(5)]}  # the Pushover push waits for the next run
    assert code == 0, output


def test_a_push_that_drips_leaves_the_next_recipient_its_time(
    workdir: Workdir, ind: FakeIND, pushover: FakePushover, apprise_server: AppriseServer, env: dict[str, str], capsys
) -> None:
    workdir.write_config(RECIPIENTS + ALERT)
    ind.set_slots("AM", "DOC", 1, [slot(5)])
    pushover.queue("messages", 200, drip=DRIP)  # the secret check answers; the push to "me" drips

    code, output = check(workdir, env, capsys)

    assert [m["user"] for m in pushover.messages] == [FAKE_USER]
    assert delivered_apprise_lines(apprise_server) == [label(slot(5))]
    assert workdir.read_state()["alerts"]["Amsterdam DOC"]["sent"] == {"phone": [slot_id(5)]}
    assert "recipient me: " in output and "will retry next run" in output, output
    assert code == 0, output


def test_an_emergency_cancel_that_drips_waits_only_its_share(
    workdir: Workdir, ind: FakeIND, pushover: FakePushover, apprise_server: AppriseServer, env: dict[str, str], capsys
) -> None:
    workdir.write_config(RECIPIENTS + ALERT)
    ind.set_slots("AM", "DOC", 1, [slot(6)])  # the urgent slot of day 5 is gone: its emergency is cancelled
    expires = int(ind_alert.time.time()) + 3000
    emergency = {"slots": [slot_id(5)], "expires": expires}
    state = {
        "version": 3,
        "alerts": {"Amsterdam DOC": {"sent": {"me": [slot_id(5)]}, "emergencies": {"t1": emergency}}},
    }
    workdir.write("state/seen.json", json.dumps(state))
    pushover.queue("cancel", 200, drip=DRIP)

    code, output = check(workdir, env, capsys)

    assert pushover.cancels == ["t1"]
    assert delivered_apprise_lines(apprise_server) == [label(slot(6))]
    alert = workdir.read_state()["alerts"]["Amsterdam DOC"]
    assert alert["emergencies"] == {"t1": emergency}  # not cancelled: asked again next run
    assert "could not cancel an emergency push" in output, output
    assert code == 0, output


# ------------------------------------------------------------------ one deadline, its parts, one thread


def test_a_part_of_a_deadline_never_outlasts_it_and_giving_it_up_leaves_the_whole_going() -> None:
    whole = ind_alert.Deadline(1.0)
    part = whole.part(10.0, 2.0)  # asks for more than the whole has

    assert part.end <= whole.end
    assert whole.part(10.0, keep=0.5).end < whole.end - 0.4  # its last half second kept
    part.abort()
    assert not whole.given_up and whole.left() > 0


def test_a_call_within_the_deadline_its_thread_already_waits_under_runs_on_that_thread() -> None:
    deadline, other = ind_alert.Deadline(30.0), ind_alert.Deadline(30.0)

    def threads() -> tuple[threading.Thread, threading.Thread, threading.Thread]:
        same = ind_alert.within(deadline, threading.current_thread)
        return threading.current_thread(), same, ind_alert.within(other, threading.current_thread)

    outer, same, own = ind_alert.within(deadline, threads)

    assert same is outer  # a push waits on one thread, not on one inside another
    assert own is not outer and outer is not threading.current_thread()


# ------------------------------------------------------------------ giving up ends the wait


def test_giving_up_on_a_dripping_pushover_ends_its_reading_thread_and_closes_the_socket(
    pushover: FakePushover, settled: None
) -> None:
    pushover.drip = DRIP
    client = ind_alert.PushoverClient(pushover.url, "azGDORePK8gMaC0QOYAMyEEuzJnyUi", patient=False)
    client.deadline = ind_alert.Deadline(0.5)

    with pytest.raises(ind_alert.NotifyError, match="did not answer in the time"):
        client.validate(FAKE_USER)

    wait_until(lambda: pushover.drips == 0, timeout=10, what="the client to close its end")
    client.session.close()


def test_giving_up_on_an_answer_whose_head_drips_ends_the_wait_too(pushover: FakePushover, settled: None) -> None:
    pushover.drip_head = DRIP  # not even the status line arrives in time: there is no response to close
    client = ind_alert.PushoverClient(pushover.url, "azGDORePK8gMaC0QOYAMyEEuzJnyUi", patient=False)
    client.deadline = ind_alert.Deadline(0.5)

    with pytest.raises(ind_alert.NotifyError, match="did not answer in the time"):
        client.validate(FAKE_USER)

    wait_until(lambda: pushover.drips == 0, timeout=10, what="the client to close its end")
    client.session.close()


def test_giving_up_on_a_dripping_ind_ends_every_worker_and_closes_their_sockets(ind: FakeIND, settled: None) -> None:
    ind.drip = DRIP
    queries = [ind_alert.Query(desk, "DOC", 1) for desk in ("AM", "DH", "ZW")]

    results = ind_alert.fetch_all(ind.url, queries, deadline=ind_alert.Deadline(0.5))

    assert all(isinstance(r, ind_alert.SourceError) for r in results.values())
    assert {str(r) for r in results.values()} == {"IND did not answer within 0.5 s"}  # the deadline as given
    wait_until(lambda: ind.drips == 0, timeout=10, what="the workers to close their ends")


def test_a_run_against_a_dripping_ind_leaves_nothing_behind(
    workdir: Workdir, ind: FakeIND, env: dict[str, str], capsys, settled: None
) -> None:
    workdir.write_config(RECIPIENTS + ALERT)
    ind.drip = DRIP

    check(workdir, env, capsys)
    check(workdir, env, capsys)  # as in --watch: a second cycle adds nothing to wait on

    assert ind.hits("AM", "DOC", 1) >= 2
    wait_until(lambda: ind.drips == 0, timeout=10, what="the run's sockets to close")


# ------------------------------------------------------------------ S3 waits for what the run has left


class SlowS3:
    """An S3 client that answers at once: what is checked is how long each call was allowed to wait."""

    def __init__(self) -> None:
        self.body = b""

    def get_object(self, **args: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        if not self.body:
            raise ClientError(
                {"Error": {"Code": "NoSuchKey"}, "ResponseMetadata": {"HTTPStatusCode": 404}}, "GetObject"
            )
        return {"Body": io.BytesIO(self.body), "ETag": '"1"'}

    def put_object(self, **args: Any) -> dict[str, Any]:
        self.body = args["Body"]
        return {"ETag": '"2"'}


def test_every_s3_call_waits_only_what_the_run_has_left_and_the_save_keeps_the_grace(
    workdir: Workdir, ind: FakeIND, pushover: FakePushover, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("botocore")
    config = ind_alert.parse_config(ind_alert.tomllib.loads(ALERT))
    ind.set_slots("AM", "DOC", 1, [slot(5)])
    store = ind_alert.S3Store("bucket", "seen.json", SlowS3())
    allowed: list[tuple[bool, float]] = []
    wait = ind_alert.S3Store.wait

    def recorded(self: ind_alert.S3Store) -> ind_alert.Deadline:
        deadline = wait(self)
        allowed.append((self.saving, deadline.left()))
        return deadline

    monkeypatch.setattr(ind_alert.S3Store, "wait", recorded)
    runner = ind_alert.runner_for(config, env, store=store, deadline=DEADLINE)

    assert runner.run() == 0
    assert len(pushover.delivered) == 1
    grace = min(ind_alert.SAVE_GRACE, DEADLINE * ind_alert.SIDE_SHARE)
    saves = [left for saving, left in allowed if saving]
    others = [left for saving, left in allowed if not saving]
    assert saves and others  # a load, the rehearsal; the save after the push
    assert max(saves) <= DEADLINE
    assert max(others) <= DEADLINE - grace


def test_a_lambda_lease_waits_only_until_the_function_s_timeout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("botocore")
    allowed: list[float] = []

    class Lease:
        lock = ind_alert.S3Store("bucket", "seen.json.lock", SlowS3())

        @classmethod
        def take(cls, store: ind_alert.S3Store, seconds: float) -> Lease:
            allowed.append(store.wait().left())
            return cls()

        def release(self) -> None:
            allowed.append(self.lock.wait().left())

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 20_000

    monkeypatch.setattr(ind_alert, "S3Lease", Lease)
    monkeypatch.setattr(ind_alert, "s3_client", lambda what="state": SlowS3())
    monkeypatch.setattr(ind_alert, "main", lambda argv, env, deadline: 0)
    monkeypatch.setenv("IND_ALERT_STATE", "s3://bucket/seen.json")

    assert ind_alert.lambda_handler({}, Context())["exit_code"] == 0
    assert len(allowed) == 2
    assert all(left <= 20 - 1.0 for left in allowed), allowed  # never a fresh FETCH_DEADLINE (50 s)


# ------------------------------------------------------------------ a save re-writes only what changed


def many_alerts(count: int) -> ind_alert.State:
    alerts = {
        f"alert {n}": ind_alert.AlertState(sent={"you": frozenset({slot_id(n % 30 + 1)})}, history={"2026-01-01": None})
        for n in range(count)
    }
    return ind_alert.State(alerts=alerts, repository="owner/repo", quota_told=frozenset({"you"}))


def reference_json(state: ind_alert.State) -> str:
    """The state's text as json.dumps writes the whole document at once."""
    doc = json.loads(ind_alert.state_to_json(state))
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_a_save_after_one_change_writes_that_alert_anew_and_the_bytes_stay_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = many_alerts(40)
    texts: ind_alert.AlertTexts = {}  # what a store keeps between its saves
    first = ind_alert.state_to_json(state, texts)
    assert first == reference_json(state)
    made: list[str] = []
    doc = ind_alert.alert_doc
    monkeypatch.setattr(ind_alert, "alert_doc", lambda a: made.append("x") or doc(a))

    changed = dict(state.alerts)
    changed["alert 7"] = ind_alert.AlertState(sent={"you": frozenset({slot_id(9), slot_id(10)})})
    second = ind_alert.state_to_json(ind_alert.State(alerts=changed, repository="owner/repo"), texts)

    assert len(made) == 1
    assert json.loads(second)["alerts"]["alert 7"]["sent"] == {"you": sorted([slot_id(9), slot_id(10)])}
    assert "quota_told" not in json.loads(second)
    assert (
        second
        == json.dumps(
            {
                "version": ind_alert.STATE_VERSION,
                "repository": "owner/repo",
                "alerts": {name: ind_alert.alert_doc(a) for name, a in changed.items()},
            },
            indent=2,
            sort_keys=True,
            ensure_ascii=False,
        )
        + "\n"
    )


def test_a_run_that_pushes_to_every_alert_makes_each_alert_s_text_a_few_times_not_once_per_save(
    workdir: Workdir, ind: FakeIND, pushover: FakePushover, env: dict[str, str], capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    count = 30
    workdir.write_config(
        "".join(
            f'[[alert]]\nname = "a{n}"\ndesk = "AM"\nproduct = "DOC"\npersons = {n % 6 + 1}\n' for n in range(count)
        )
    )
    for n in range(6):
        ind.set_slots("AM", "DOC", n + 1, [slot(5)])
    made: list[str] = []
    doc = ind_alert.alert_doc
    monkeypatch.setattr(ind_alert, "alert_doc", lambda a: made.append("x") or doc(a))

    code, output = check(workdir, {k: v for k, v in env.items() if k != "APPRISE_URL"}, capsys, deadline=30)

    assert code == 0, output
    assert len(pushover.delivered) == count
    assert len(made) <= 4 * count  # once per save would be count * (count + 1) / 2


# ------------------------------------------------------------------ the job summary fits GitHub's limit


def test_a_summary_over_the_limit_is_cut_at_a_line_with_a_note(
    workdir: Workdir, ind: FakeIND, pushover: FakePushover, env: dict[str, str], capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ind_alert, "SUMMARY_LIMIT", 3000)
    workdir.write_config("".join(f'[[alert]]\nname = "a{n}"\ndesk = "AM"\nproduct = "DOC"\n' for n in range(20)))
    ind.set_slots("AM", "DOC", 1, [slot(5)])  # each alert draws its chart
    summary = workdir / "summary.md"

    code, output = check(workdir, {**env, "GITHUB_STEP_SUMMARY": str(summary)}, capsys, deadline=30)

    assert code == 0, output
    text = summary.read_text(encoding="utf-8")
    assert len(text.encode("utf-8")) <= 3000
    assert text.endswith(ind_alert.SUMMARY_CUT + "\n")
    assert text.count(ind_alert.SUMMARY_CUT) == 1
    assert sum(line.startswith("```") for line in text.splitlines()) % 2 == 0  # no chart left open
    assert text.startswith("## ind-alert\n")


def test_a_summary_under_the_limit_is_whole(
    workdir: Workdir, ind: FakeIND, pushover: FakePushover, env: dict[str, str], capsys
) -> None:
    workdir.write_config(ALERT)
    ind.set_slots("AM", "DOC", 1, [slot(5)])
    summary = workdir / "summary.md"

    check(workdir, {**env, "GITHUB_STEP_SUMMARY": str(summary)}, capsys, deadline=30)

    assert ind_alert.SUMMARY_CUT not in summary.read_text(encoding="utf-8")
