"""Pytest fixtures: loopback fakes of IND and Pushover, fake secrets, a scratch work dir.

The machinery lives in fakes.py (no pytest there) so tests/benchmark.py can use it too.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

import pytest
import responses
from _pytest.runner import runtestprotocol
from fakes import AppriseServer, FakeIND, FakePushover, RunningScript, ScriptResult, Workdir, run_script, start_script
from fakes import load_fixture as _load_fixture

# The example values of Pushover's own API docs: the real shape (30 alphanumerics), so a
# test that searches the output for them means something, yet valid for no account.
FAKE_TOKEN = "azGDORePK8gMaC0QOYAMyEEuzJnyUi"
FAKE_USER = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"


def _fail_if_unused(fake: FakeIND | FakePushover) -> None:
    unused = fake.unused()
    if unused:
        pytest.fail(f"{fake.name}: scripted answers never requested: {unused}", pytrace=False)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """An in-process main() points ind_alert's logger at this test's streams, with its secrets and line
    stamps: put it back, so the next test never logs into a closed stream or another test's setup."""
    module = sys.modules.get("ind_alert")
    if module is None:
        yield
        return
    logger = module.log
    saved = logger.handlers[:], logger.propagate, logger.level
    yield
    logger.handlers[:], logger.propagate, logger.level = saved


def _amsterdam_today() -> date:
    return datetime.now(ZoneInfo("Europe/Amsterdam")).date()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool:
    """A test that failed while midnight passed in Amsterdam runs once more, within one day.

    A test takes "today" while it runs, and the script it starts takes it again: across midnight the two
    differ by a day, and a test of `days_ahead` fails for no bug. Only a failure that straddled midnight is
    run again, and only once: its second result is the one reported.
    """
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    started = _amsterdam_today()
    reports = runtestprotocol(item, nextitem=nextitem, log=False)
    if any(report.failed for report in reports) and _amsterdam_today() != started:
        item._initrequest()  # type: ignore[attr-defined]  # fresh fixtures, as pytest-rerunfailures does
        item.user_properties.append(("run again", "midnight passed in Amsterdam during the first run"))
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
    for report in reports:
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 (and IAM) server on a free loopback port, one per test module that uses it.

    Skips when moto is not installed (it is optional: tests/requirements.txt).
    """
    moto_server = pytest.importorskip("moto.server", reason="needs moto: pip install -r tests/requirements.txt")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def ind() -> Iterator[FakeIND]:
    """A FakeIND; unserved ``once=True`` replies fail the test at teardown."""
    fake = FakeIND()
    try:
        yield fake
    finally:
        fake.close()
    _fail_if_unused(fake)


@pytest.fixture
def pushover(secrets: dict[str, str]) -> Iterator[FakePushover]:
    """A FakePushover accepting only the fake secrets; unserved ``queue()`` answers fail.

    Add other recipients' keys with ``pushover.users.add(key)``.
    """
    fake = FakePushover()
    fake.token = secrets["PUSHOVER_TOKEN"]
    fake.users = {secrets["PUSHOVER_USER"]}
    try:
        yield fake
    finally:
        fake.close()
    _fail_if_unused(fake)


@pytest.fixture
def apprise_server() -> Iterator[AppriseServer]:
    """A loopback endpoint for ``json://`` Apprise URLs (``.url``); skips when Apprise is not installed."""
    pytest.importorskip("apprise", reason="the Apprise tests need Apprise: pip install -r tests/requirements.txt")
    server = AppriseServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def secrets() -> dict[str, str]:
    """Fake Pushover credentials, keyed by their environment variable names."""
    return {"PUSHOVER_TOKEN": FAKE_TOKEN, "PUSHOVER_USER": FAKE_USER}


@pytest.fixture
def env(ind: FakeIND, pushover: FakePushover, secrets: dict[str, str]) -> dict[str, str]:
    """The script's environment: both APIs pointed at the fakes, fake secrets set."""
    return {"IND_API_URL": ind.url, "PUSHOVER_API_URL": pushover.url, **secrets}


@pytest.fixture
def workdir(tmp_path: Path) -> Workdir:
    """An empty directory for the script to run in: ``.write_config(text)``, ``.state``."""
    return Workdir(tmp_path)


@pytest.fixture
def load_fixture() -> Callable[[str], str]:
    """``load_fixture("slots-bio-am-1p.txt")`` → the file's text, prefix included."""
    return _load_fixture


class Run(Protocol):
    def __call__(
        self,
        *args: str,
        env: Mapping[str, str | None] | None = None,
        patch_sleep: bool = False,
        stop_after_sleeps: int | None = None,
        timeout: float = 30,
        input: str | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> ScriptResult: ...


@pytest.fixture
def run(env: dict[str, str], workdir: Workdir) -> Run:
    """``run("--check", "-v")``: ``python ind_alert.py --check -v`` in ``workdir`` with ``env``.

    ``env=`` is merged over the fixture's (a ``None`` value removes a name); the other
    keywords are those of ``fakes.run_script``.
    """
    base_env = env

    def _run(
        *args: str,
        env: Mapping[str, str | None] | None = None,
        patch_sleep: bool = False,
        stop_after_sleeps: int | None = None,
        timeout: float = 30,
        input: str | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> ScriptResult:
        return run_script(
            args,
            {**base_env, **(env or {})},
            cwd=workdir.path if cwd is None else cwd,
            patch_sleep=patch_sleep,
            timeout=timeout,
            stop_after_sleeps=stop_after_sleeps,
            input=input,
        )

    return _run


class Start(Protocol):
    def __call__(
        self,
        *args: str,
        env: Mapping[str, str | None] | None = None,
        patch_sleep: bool = False,
        stop_after_sleeps: int | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> RunningScript: ...


@pytest.fixture
def start(env: dict[str, str], workdir: Workdir) -> Iterator[Start]:
    """Like ``run`` but returns a ``RunningScript`` at once (for ``--watch``); killed at teardown."""
    base_env = env
    started: list[RunningScript] = []

    def _start(
        *args: str,
        env: Mapping[str, str | None] | None = None,
        patch_sleep: bool = False,
        stop_after_sleeps: int | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> RunningScript:
        running = start_script(
            args,
            {**base_env, **(env or {})},
            cwd=workdir.path if cwd is None else cwd,
            patch_sleep=patch_sleep,
            stop_after_sleeps=stop_after_sleeps,
        )
        started.append(running)
        return running

    yield _start
    for running in started:
        running.close()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    """Strict mock: an unmatched request is a ConnectionError, an unused mock fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock
