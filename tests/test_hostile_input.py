"""Hostile input, generated and hand-made: the config, the state document, IND's and Pushover's answers.

Each property says what a bad input may become: a ConfigError, a StateError (exit 2), a SourceError for that
one query, a NotifyError for that one push, and never anything else. Example counts are small and the
search is derandomized, so the file runs the same in CI every time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import fakes
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
        "asked",
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


def valid_v3_doc() -> dict[str, Any]:
    """A state with this version's optional keys, the kind its slots were pushed for among them."""
    alert = {
        "sent": {"you": ["AM 2026-12-01 09:00-09:10"]},
        "asked": {"product": "BIO", "persons": 2},
        "emergencies": {"ind-alert-0123456789abcdef": {"slots": ["AM 2026-12-01 09:00-09:10"], "expires": 5}},
    }
    return {"version": 3, "alerts": {"a": alert}, "unreached": {"you": {"since": 5, "told": []}}}


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
    st.builds(
        lambda path, value: json.dumps(mutate(valid_v3_doc(), path, value)),
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
        answer = ind_alert.parse_slots(body, "AM")
    except SourceError:
        return
    assert all(isinstance(s, ind_alert.Slot) and s.desk == "AM" for s in answer.slots)


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
        results = ind_alert.fetch_all(IND, [bad, good], deadline=ind_alert.Deadline(20))
    assert isinstance(results[bad], (ind_alert.Answer, SourceError))
    assert isinstance(results[good], ind_alert.Answer) and len(results[good].slots) == 1 and results[good].complete


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


CLOCK_JUMPS = st.lists(
    st.tuples(st.integers(-40 * 86400, 40 * 86400), st.booleans()), min_size=1, max_size=8
)  # (seconds the clock jumps, whether IND answered), run after run: a clock that was ahead, then corrected


@FAST
@given(CLOCK_JUMPS)
def test_no_time_a_clock_that_was_ahead_wrote_outlives_the_correction(jumps: list[tuple[int, bool]]) -> None:
    """Whatever the clock did, what the state keeps after a check is never later than that check's now."""
    config = ind_alert.parse_config({"alert": [{"name": "A", "desk": "AM", "product": "BIO"}]})
    [alert] = config.alerts
    runner = ind_alert.runner_for(config, {}, ind_alert.Options("", "", dry_run=True)).begin()
    runner.state = State({"A": ind_alert.AlertState()})
    clock = amsterdam_now().timestamp()
    for jump, answered in jumps:
        clock += jump
        now = datetime.fromtimestamp(clock, ind_alert.AMSTERDAM)
        outage = SourceError("IND answered HTTP 500 (an outage on their side)")
        answer: Any = ind_alert.Answer(()) if answered else outage
        ind_alert.check_alert(runner, alert, {"AM": answer}, now)
        kept = runner.state.alerts["A"]
        assert kept.failing_since is None or kept.failing_since <= now.timestamp()
        assert all(day <= ind_alert.today(now).isoformat() for day in kept.history)
        assert kept.failing_since is not None or answered


# --------------------------------------------------------------------------- one mechanism each, as a user meets it

TWO_ALERTS = (
    '[[alert]]\nname = "Amsterdam"\ndesk = "AM"\nproduct = "BIO"\n\n'
    '[[alert]]\nname = "Den Haag"\ndesk = "DH"\nproduct = "BIO"\n'
)


def soon(days: int = 5) -> str:
    return (amsterdam_now() + timedelta(days=days)).date().isoformat()


def no_traceback(result: Any) -> None:
    assert "Traceback" not in result.output, result.output
    assert "Error:" not in result.output.replace("::error::", ""), result.output


@pytest.mark.parametrize(
    "status, body, headers",
    [(200, '{"status":"OK","data":' + "[" * 200_000 + "]" * 200_000 + "}", {}), (302, "", {"Location": "http://[::1"})],
    ids=["nested-200000-deep", "redirect-to-invalid-url"],
)
def test_one_unreadable_ind_answer_affects_only_its_own_alert(
    run, workdir, ind, pushover, status: int, body: str, headers: dict[str, str]
) -> None:
    workdir.write_config(TWO_ALERTS)
    ind.set_raw("AM", "BIO", 1, status, body, headers=headers)
    ind.set_slots("DH", "BIO", 1, [(soon(), "09:00", "09:10")])
    result = run()
    no_traceback(result)
    assert [form["title"].split(":")[0] for form in pushover.delivered] == ["IND Den Haag"]
    assert "Amsterdam" in result.output
    saved = json.loads(workdir.state.read_text(encoding="utf-8"))
    assert saved["alerts"]["Den Haag"]["sent"]


@pytest.mark.parametrize("how", ["quota-reset-in-year-5000000", "stdout-cannot-encode-the-name", "stdout-closed"])
def test_whatever_happens_after_a_delivered_push_it_is_recorded_and_not_repeated(
    workdir, ind, pushover, env: dict[str, str], how: str
) -> None:
    name = "Amsterdam ✓ 生物認証" if how == "stdout-cannot-encode-the-name" else "Amsterdam"
    workdir.write_config(f'[[alert]]\nname = "{name}"\ndesk = "AM"\nproduct = "BIO"\n')
    ind.set_slots("AM", "BIO", 1, [(soon(), "09:00", "09:10")])
    extra: dict[str, str] = {}
    if how.startswith("quota"):
        quota = {"X-Limit-App-Limit": "10000", "X-Limit-App-Remaining": "1", "X-Limit-App-Reset": "9" * 20}
        pushover.queue("messages", 200, None, quota)
    if how.startswith("stdout-cannot"):
        extra["PYTHONIOENCODING"] = "ascii"
    if how == "stdout-closed":
        full = fakes.script_env({**env, **extra})
        proc = subprocess.run(
            ["sh", "-c", f'exec "{sys.executable}" "{fakes.SCRIPT}" >&-'],
            env=full,
            cwd=workdir.path,
            capture_output=False,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
    else:
        result = fakes.run_script([], {**env, **extra}, cwd=workdir.path)
        no_traceback(result)
        assert result.returncode == 0, result.output
    assert len(pushover.delivered) == 1
    again = fakes.run_script([], env, cwd=workdir.path)
    assert again.returncode == 0, again.output
    assert len(pushover.delivered) == 1, "the push went out again"


def test_an_unexpected_error_after_a_delivered_push_saves_first_then_one_line_and_exit_1(
    workdir, ind, pushover, env: dict[str, str], monkeypatch, capsys
) -> None:
    workdir.write_config('[[alert]]\nname = "Amsterdam"\ndesk = "AM"\nproduct = "BIO"\n')
    ind.set_slots("AM", "BIO", 1, [(soon(), "09:00", "09:10")])
    monkeypatch.chdir(workdir.path)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug after the push")

    monkeypatch.setattr(ind_alert, "write_summary", broken)
    summary = workdir / "summary.md"
    code = ind_alert.main([], {**env, "GITHUB_STEP_SUMMARY": str(summary)})
    err = capsys.readouterr().err
    logging_reset()
    assert code == 1
    assert "Traceback" not in err and "RuntimeError" not in err, err  # words for the user, never a class name
    unexpected = "error: unexpected error; what was pushed is recorded. Run with -v for details, and report it"
    assert err.splitlines().count(unexpected) == 1
    assert len(pushover.delivered) == 1
    assert json.loads(workdir.state.read_text(encoding="utf-8"))["alerts"]["Amsterdam"]["sent"]


def logging_reset() -> None:
    import logging

    for handler in list(logging.getLogger().handlers) + list(ind_alert.log.handlers):
        ind_alert.log.removeHandler(handler)
        logging.getLogger().removeHandler(handler)


NESTED_TOML = "x = " + "[" * 500 + "]" * 500 + "\n"


@pytest.mark.parametrize(
    "config, args, extra",
    [
        ('[recipients.me]\npushover_user_env = ""\n\n[[alert]]\nname = "a"\ndesk = "AM"\nproduct = "BIO"\n', [], {}),
        (NESTED_TOML, [], {}),
        (None, ["--watch", "--interval", "1e300"], {}),
        (None, ["--state", "s3://bucket/seen.json"], {"AWS_ENDPOINT_URL_S3": "http://[::1"}),
    ],
    ids=["empty-user-env", "toml-500-deep", "interval-1e300", "aws-endpoint"],
)
def test_an_input_error_is_one_line_and_exit_2(run, workdir, config, args, extra) -> None:
    workdir.write_config(config or '[[alert]]\nname = "a"\ndesk = "AM"\nproduct = "BIO"\n')
    aws = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE12", "AWS_SECRET_ACCESS_KEY": "x" * 40, **extra}
    result = run(*args, env=aws if extra else None, timeout=60)
    no_traceback(result)
    assert result.returncode == 2, result.output
    errors = result.stderr.strip().splitlines()
    if args[:1] == ["--watch"]:  # argparse's usage error: the usage, then one line saying what to fix
        errors = [line for line in errors if "error:" in line]
    assert len(errors) == 1, result.stderr


@pytest.mark.parametrize("extra", [{"AWS_MAX_ATTEMPTS": "lots"}], ids=["attempts"])
def test_a_harmless_aws_setting_does_not_stop_the_s3_client(run, workdir, extra: dict[str, str]) -> None:
    # A trailing space in the region is trimmed and the retry count is set by the script: the client is
    # built, and S3 (out of reach here) is only a warning.
    workdir.write_config('[[alert]]\nname = "a"\ndesk = "AM"\nproduct = "BIO"\n')
    aws = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE12", "AWS_SECRET_ACCESS_KEY": "x" * 40, **extra}
    aws["AWS_ENDPOINT_URL_S3"] = "http://127.0.0.1:9"  # a closed port: refused at once
    result = run("--state", "s3://bucket/seen.json", env=aws, timeout=60)
    no_traceback(result)
    assert "could not be set up" not in result.output
    assert "S3 could not be reached" in result.output, result.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write a read-only file")
def test_a_read_only_state_file_is_refused_before_any_push(run, workdir, ind, pushover) -> None:
    workdir.write_config('[[alert]]\nname = "a"\ndesk = "AM"\nproduct = "BIO"\n')
    ind.set_slots("AM", "BIO", 1, [(soon(), "09:00", "09:10")])
    state = workdir.write("state/seen.json", '{"version": 2, "alerts": {}}\n')
    state.chmod(0o444)
    before = state.read_bytes()
    result = run()
    no_traceback(result)
    assert result.returncode == 1
    assert pushover.delivered == []
    assert state.read_bytes() == before


def test_a_symlinked_state_file_is_written_through_to_its_target(run, workdir, ind, pushover) -> None:
    workdir.write_config('[[alert]]\nname = "a"\ndesk = "AM"\nproduct = "BIO"\n')
    ind.set_slots("AM", "BIO", 1, [(soon(), "09:00", "09:10")])
    target = workdir.write("elsewhere/seen.json", '{"version": 2, "alerts": {}}\n')
    (workdir / "state").mkdir()
    (workdir / "state" / "seen.json").symlink_to(target)
    result = run()
    assert result.returncode == 0, result.output
    assert (workdir / "state" / "seen.json").is_symlink()
    assert json.loads(target.read_text(encoding="utf-8"))["alerts"]["a"]["sent"]


def test_secrets_never_reach_stdout_or_the_summary_even_cut(run, workdir, ind, pushover, secrets) -> None:
    token = secrets["PUSHOVER_TOKEN"]
    # The alert's name holds the token; Pushover's error list holds it just where a 200-character cut falls.
    workdir.write_config(f'[[alert]]\nname = "leak {token}"\ndesk = "AM"\nproduct = "BIO"\n')
    ind.set_slots("AM", "BIO", 1, [(soon(), "09:00", "09:10")])
    for width in range(150, 200, 7):
        pushover.queue("messages", 400, {"status": 0, "errors": ["x" * width + token], "request": "r"})
    summary = workdir / "summary.md"
    outputs = []
    for _ in range(150, 200, 7):
        result = run(env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
        no_traceback(result)
        outputs.append(result.output)
    text = "\n".join(outputs) + summary.read_text(encoding="utf-8")
    assert token[:6] not in text, text


HOSTILE = "::stop-commands::pwned\x1b[2J\x1b]0;title\x07\u202e"


def test_workflow_commands_and_escapes_from_outside_are_neutralised(run, workdir, ind, pushover) -> None:
    name = json.dumps(HOSTILE + "\n::error::second line | x |")  # JSON escapes are TOML escapes too
    workdir.write_config(f'[[alert]]\nname = {name}\ndesk = "AM"\nproduct = "BIO"\n')
    ind.set_raw("AM", "BIO", 1, 500, HOSTILE + "\n::error::fake")
    ind.set_desks("BIO", [("AM", HOSTILE + "\n::warning::fake")])
    summary = workdir / "summary.md"
    github = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    results = [run(env=github), run("--dry-run", env=github), run("--list-desks", "BIO", env=github)]
    table = summary.read_text(encoding="utf-8")
    for text in [r.stdout for r in results] + [r.stderr for r in results] + [table]:
        no_traceback_text(text)
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text, text
        for line in text.splitlines():
            # The only workflow commands are the script's own, first on a line: never one from outside.
            command = line.lstrip()
            if command.startswith("::"):
                assert command.startswith(("::error::", "::warning::", "::notice::", "::debug::")), line
                assert not command.startswith(("::error::second", "::error::fake", "::warning::fake")), line
    assert results[2].returncode == 0, results[2].output
    # One table row per run (two runs wrote to the summary), however the name breaks lines.
    rows = [line for line in table.splitlines() if line.startswith("| ") and "Alert" not in line]
    assert len(rows) == 2, table


def no_traceback_text(text: str) -> None:
    assert "Traceback" not in text, text
