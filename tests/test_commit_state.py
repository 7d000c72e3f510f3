"""Tests for .github/commit-state.sh against real git repositories.

Each test has a bare "GitHub" remote and shallow clones of it, like the checkout in the workflow. The
script runs as a subprocess with an environment built from scratch, so nothing from the developer's git
configuration or from the CI runner leaks in.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / ".github" / "commit-state.sh"
STATE = "state/seen.json"
OLD_STATE = '{"alerts": {}}\n'
NEW_STATE = '{"alerts": {"bio-amsterdam": ["2026-08-03 09:00-09:10"]}}\n'
DAY = 86400
TOKEN = "ghs_fakeTokenForTests0123456789"


def git(cwd: Path, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@dataclass
class Repos:
    """A bare remote plus helpers to clone it, inspect it and run the script."""

    root: Path
    remote: Path
    env: dict[str, str]

    def clone(self, name: str, identity: bool = True) -> Path:
        path = self.root / name
        git(self.root, "clone", "--quiet", "--depth", "1", f"file://{self.remote}", name, env=self.env)
        if identity:
            git(path, "config", "user.name", f"Developer {name}", env=self.env)
            git(path, "config", "user.email", f"{name}@example.org", env=self.env)
        return path

    def commit_file(self, clone: Path, name: str, text: str, message: str, push: bool = True) -> None:
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        (clone / name).write_text(text)
        git(clone, "add", name, env=self.env)
        git(clone, "commit", "--quiet", "-m", message, env=self.env)
        if push:
            git(clone, "push", "--quiet", "origin", "HEAD:main", env=self.env)

    def run(self, clone: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(SCRIPT), *args],
            check=False,
            cwd=clone,
            env={**self.env, **env},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
        )

    def subjects(self) -> list[str]:
        """Commit subjects on the remote's main, newest first."""
        return git(self.remote, "log", "--format=%s", "main", env=self.env).splitlines()

    def remote_file(self, name: str) -> str:
        return git(self.remote, "show", f"main:{name}", env=self.env) + "\n"

    def head(self) -> str:
        return git(self.remote, "rev-parse", "main", env=self.env)


def make_repos(root: Path, initial_age_days: int = 0) -> Repos:
    home = root / "home"
    home.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "LANG": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(home / "gitconfig"),
    }
    remote = root / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(remote)], check=True, env=env)
    repos = Repos(root, remote, env)

    seed = root / "seed"
    seed.mkdir()
    git(seed, "init", "--quiet", "-b", "main", env=env)
    git(seed, "config", "user.name", "Seed", env=env)
    git(seed, "config", "user.email", "seed@example.org", env=env)
    (seed / "alerts.toml").write_text('[[alert]]\nproduct = "BIO"\n')
    (seed / "state").mkdir()
    (seed / STATE).write_text(OLD_STATE)
    git(seed, "add", ".", env=env)
    date = f"@{int(time.time()) - initial_age_days * DAY} +0000"
    dated = {**env, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    git(seed, "commit", "--quiet", "-m", "initial", env=dated)
    git(seed, "push", "--quiet", str(remote), "main", env=env)
    return repos


@pytest.fixture
def repos(tmp_path: Path) -> Repos:
    return make_repos(tmp_path)


def pre_push_hook(clone: Path, other: Path, every_time: bool) -> None:
    """Make `other` push a commit to the remote while `clone` is about to push, so its push is rejected."""
    hook = clone / ".git" / "hooks" / "pre-push"
    once = "" if every_time else f'[ -e "{clone}/.git/raced" ] && exit 0\ntouch "{clone}/.git/raced"\n'
    hook.write_text(
        "#!/bin/sh\n"
        "unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE\n" + once + f'cd "{other}" || exit 1\n'
        "date +%s%N >> notes.txt\n"
        "git add notes.txt && git commit --quiet -m 'other: concurrent push' "
        "&& git push --quiet origin HEAD:main\n"
    )
    hook.chmod(0o755)


# --- committing state ----------------------------------------------------------------------------


def test_it_commits_and_pushes_a_changed_state(repos: Repos) -> None:
    run = repos.clone("run")
    (run / STATE).write_text(NEW_STATE)

    done = repos.run(run)

    assert done.returncode == 0, done.stderr
    assert repos.subjects() == ["state: update seen slots", "initial"]
    assert repos.remote_file(STATE) == NEW_STATE


def test_it_commits_a_state_file_that_git_does_not_track_yet(repos: Repos) -> None:
    run = repos.clone("run")
    git(run, "rm", "--quiet", STATE, env=repos.env)
    git(run, "commit", "--quiet", "-m", "no state yet", env=repos.env)
    git(run, "push", "--quiet", "origin", "HEAD:main", env=repos.env)
    (run / "state").mkdir(exist_ok=True)
    (run / STATE).write_text(NEW_STATE)

    done = repos.run(run)

    assert done.returncode == 0, done.stderr
    assert repos.subjects()[0] == "state: update seen slots"
    assert repos.remote_file(STATE) == NEW_STATE


def test_it_commits_nothing_when_the_state_is_unchanged(repos: Repos) -> None:
    run = repos.clone("run")
    before = repos.head()

    done = repos.run(run)

    assert done.returncode == 0, done.stderr
    assert repos.head() == before
    assert "nothing to push" in done.stdout


def test_it_never_commits_the_deletion_of_the_state_file(repos: Repos) -> None:
    run = repos.clone("run")
    (run / STATE).unlink()
    before = repos.head()

    done = repos.run(run)

    assert done.returncode == 0, done.stderr
    assert repos.head() == before


def test_it_commits_only_the_state_file(repos: Repos) -> None:
    run = repos.clone("run")
    (run / STATE).write_text(NEW_STATE)
    (run / "alerts.toml").write_text("# edited by hand, not committed\n")
    other = repos.clone("other")
    repos.commit_file(other, "notes.txt", "meanwhile\n", "other: notes")

    done = repos.run(run)

    assert done.returncode == 0, done.stderr
    assert repos.subjects() == ["state: update seen slots", "other: notes", "initial"]
    assert repos.remote_file("alerts.toml") == '[[alert]]\nproduct = "BIO"\n'
    assert (run / "alerts.toml").read_text() == "# edited by hand, not committed\n"


def test_it_puts_the_summary_argument_in_the_commit_message(repos: Repos) -> None:
    run = repos.clone("run")
    (run / STATE).write_text(NEW_STATE)

    done = repos.run(run, "1 new slot for bio-amsterdam")

    assert done.returncode == 0, done.stderr
    assert repos.subjects()[0] == "state: 1 new slot for bio-amsterdam"


def test_it_commits_no_state_when_the_state_file_setting_is_empty(repos: Repos) -> None:
    run = repos.clone("run")
    (run / STATE).write_text(NEW_STATE)
    before = repos.head()

    done = repos.run(run, STATE_FILE="")

    assert done.returncode == 0, done.stderr
    assert repos.head() == before


def test_it_commits_as_github_actions_bot_when_no_identity_is_configured(repos: Repos) -> None:
    run = repos.clone("run", identity=False)
    (run / STATE).write_text(NEW_STATE)

    done = repos.run(run)

    assert done.returncode == 0, done.stderr
    author = git(repos.remote, "log", "-1", "--format=%an <%ae>|%cn <%ce>", "main", env=repos.env)
    bot = "github-actions[bot] <41898283+github-actions[bot]@users.noreply.github.com>"
    assert author == f"{bot}|{bot}"


# --- other pushes landing meanwhile -------------------------------------------------------------


def test_it_rebases_onto_a_push_that_changed_another_file(repos: Repos) -> None:
    run = repos.clone("run")
    other = repos.clone("other")
    repos.commit_file(other, "alerts.toml", '[[alert]]\nproduct = "DOC"\n', "config: watch DOC")
    (run / STATE).write_text(NEW_STATE)

    done = repos.run(run)

    assert done.returncode == 0, done.stderr
    assert repos.subjects() == ["state: update seen slots", "config: watch DOC", "initial"]
    assert repos.remote_file("alerts.toml") == '[[alert]]\nproduct = "DOC"\n'
    assert repos.remote_file(STATE) == NEW_STATE


def test_it_keeps_this_runs_state_when_a_concurrent_push_changed_the_same_file(repos: Repos) -> None:
    run = repos.clone("run")
    other = repos.clone("other")
    repos.commit_file(other, STATE, '{"alerts": {"older": []}}\n', "state: from another run")
    (run / STATE).write_text(NEW_STATE)

    done = repos.run(run)

    assert done.returncode == 0, done.stderr
    assert repos.subjects() == ["state: update seen slots", "state: from another run", "initial"]
    assert repos.remote_file(STATE) == NEW_STATE
    assert "keeping this run's version" in done.stdout


def test_it_retries_when_a_push_lands_between_its_pull_and_its_push(repos: Repos) -> None:
    run = repos.clone("run")
    other = repos.clone("other")
    pre_push_hook(run, other, every_time=False)
    (run / STATE).write_text(NEW_STATE)

    done = repos.run(run)

    assert done.returncode == 0, done.stderr
    assert repos.subjects() == ["state: update seen slots", "other: concurrent push", "initial"]
    assert repos.remote_file(STATE) == NEW_STATE
    assert "push attempt 1 of 5 failed" in done.stdout


def test_it_gives_up_after_the_configured_number_of_push_attempts(repos: Repos) -> None:
    run = repos.clone("run")
    other = repos.clone("other")
    pre_push_hook(run, other, every_time=True)
    (run / STATE).write_text(NEW_STATE)

    done = repos.run(run, PUSH_ATTEMPTS="2")

    assert done.returncode == 1
    assert "failed 2 times" in done.stderr
    assert repos.subjects() == ["other: concurrent push"] * 2 + ["initial"]


# --- no keep-alive commits -----------------------------------------------------------------------


@pytest.mark.parametrize("state_file", [STATE, ""])
def test_it_never_pushes_an_empty_commit_however_old_the_newest_commit(tmp_path: Path, state_file: str) -> None:
    repos = make_repos(tmp_path, initial_age_days=90)
    run = repos.clone("run")
    before = repos.head()

    done = repos.run(run, STATE_FILE=state_file)

    assert done.returncode == 0, done.stderr
    assert repos.head() == before
    assert "nothing to push" in done.stdout


@pytest.mark.parametrize(("name", "value"), [("PUSH_ATTEMPTS", "0"), ("PUSH_ATTEMPTS", "many")])
def test_it_rejects_a_setting_that_is_not_a_number(repos: Repos, name: str, value: str) -> None:
    run = repos.clone("run")
    (run / STATE).write_text(NEW_STATE)
    before = repos.head()

    done = repos.run(run, **{name: value})

    assert done.returncode == 1
    assert name in done.stderr
    assert repos.head() == before


# --- pushing with a token -----------------------------------------------------------------------


class GitHTTPHandler(BaseHTTPRequestHandler):
    """Smart-HTTP git server (git http-backend) that asks for the token like GitHub does."""

    server: GitHTTPServer

    def do_GET(self) -> None:
        self.serve()

    def do_POST(self) -> None:
        self.serve()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def serve(self) -> None:
        auth = self.headers.get("Authorization")
        self.server.authorizations.append(auth)
        if auth != self.server.expected_authorization:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path, _, query = self.path.partition("?")
        env = {
            **self.server.git_env,
            "GIT_PROJECT_ROOT": str(self.server.project_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": "x-access-token",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        out = subprocess.run(["git", "http-backend"], check=False, input=body, env=env, capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode().split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            else:
                headers.append((key, value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class GitHTTPServer(ThreadingHTTPServer):
    def __init__(self, project_root: Path, git_env: dict[str, str]) -> None:
        super().__init__(("127.0.0.1", 0), GitHTTPHandler)
        self.project_root = project_root
        self.git_env = git_env
        secret = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
        self.expected_authorization = f"Basic {secret}"
        self.authorizations: list[str | None] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def http_server(repos: Repos) -> Iterator[GitHTTPServer]:
    server = GitHTTPServer(repos.root, repos.env)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_it_pushes_with_the_token_and_never_shows_or_stores_it(repos: Repos, http_server: GitHTTPServer) -> None:
    run = repos.clone("run")
    git(run, "remote", "set-url", "origin", f"{http_server.url}/remote.git", env=repos.env)
    (run / STATE).write_text(NEW_STATE)

    done = repos.run(run, GITHUB_TOKEN=TOKEN, GITHUB_SERVER_URL=http_server.url)

    assert done.returncode == 0, done.stderr
    assert repos.remote_file(STATE) == NEW_STATE
    assert http_server.expected_authorization in http_server.authorizations
    assert TOKEN not in done.stdout + done.stderr
    for path in (run / ".git").rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_it_offers_the_token_to_the_github_server_only(repos: Repos, http_server: GitHTTPServer) -> None:
    run = repos.clone("run")
    git(run, "remote", "set-url", "origin", f"{http_server.url}/remote.git", env=repos.env)
    (run / STATE).write_text(NEW_STATE)
    before = repos.head()

    done = repos.run(run, GITHUB_TOKEN=TOKEN, GITHUB_SERVER_URL="https://github.com", PUSH_ATTEMPTS="1")

    assert done.returncode == 1
    assert repos.head() == before
    assert http_server.authorizations and not any(http_server.authorizations)


# ------------------------------------------------------------------ two runs' states, merged


REPO = Path(__file__).resolve().parent.parent


def sent_state_text(sent: dict[str, list[str]], version: int = 2) -> str:
    """A valid state file as ind_alert.py writes it: each alert's slots pushed to the default recipient."""
    alerts = {name: {"sent": {"default": sorted(ids)}} for name, ids in sent.items() if ids}
    return json.dumps({"version": version, "alerts": alerts}, indent=2, sort_keys=True) + "\n"


@pytest.fixture
def script_repos(repos: Repos) -> Repos:
    """The remote holds ind_alert.py and a valid state with two alerts, as a user's copy does."""
    seed = repos.clone("script-seed")
    (seed / "ind_alert.py").write_text((REPO / "ind_alert.py").read_text(encoding="utf-8"), encoding="utf-8")
    git(seed, "add", "ind_alert.py", env=repos.env)
    base = {"Amsterdam": ["AM 2030-01-07 09:00-09:10"], "Zwolle": ["ZW 2030-01-08 09:00-09:10"]}
    repos.commit_file(seed, STATE, sent_state_text(base), "the script and its state")
    return repos


def test_two_runs_whose_states_git_merges_cleanly_push_the_states_merged_by_the_script(script_repos: Repos) -> None:
    repos = script_repos
    run, other = repos.clone("run"), repos.clone("other")
    theirs = sent_state_text(
        {
            "Amsterdam": ["AM 2030-01-07 09:00-09:10"],
            "Zwolle": ["ZW 2030-01-08 09:00-09:10", "ZW 2030-01-09 10:00-10:10"],
        }
    )
    ours = sent_state_text(
        {
            "Amsterdam": ["AM 2030-01-07 09:00-09:10", "AM 2030-01-07 11:00-11:10"],
            "Zwolle": ["ZW 2030-01-08 09:00-09:10"],
        }
    )
    repos.commit_file(other, STATE, theirs, "state: from another run")
    (run / STATE).write_text(ours)

    done = repos.run(run, PYTHON=sys.executable)

    assert done.returncode == 0, done.stderr
    assert "merged both runs' states" in done.stdout
    pushed = repos.remote_file(STATE)
    sent = {name: a["sent"]["default"] for name, a in json.loads(pushed)["alerts"].items()}
    assert sent == {
        "Amsterdam": ["AM 2030-01-07 09:00-09:10", "AM 2030-01-07 11:00-11:10"],
        "Zwolle": ["ZW 2030-01-08 09:00-09:10", "ZW 2030-01-09 10:00-10:10"],
    }
    assert pushed == sent_state_text(sent, version=3)  # the script's own form, not git's line-by-line mix
    assert repos.subjects()[:2] == ["state: update seen slots", "state: from another run"]


def test_a_conflict_between_two_runs_states_keeps_what_either_pushed(script_repos: Repos) -> None:
    repos = script_repos
    run, other = repos.clone("run"), repos.clone("other")
    repos.commit_file(other, STATE, sent_state_text({"Amsterdam": ["AM 2030-01-07 13:00-13:10"]}), "state: other")
    (run / STATE).write_text(sent_state_text({"Amsterdam": ["AM 2030-01-07 11:00-11:10"]}))

    done = repos.run(run, PYTHON=sys.executable)

    assert done.returncode == 0, done.stderr
    sent = json.loads(repos.remote_file(STATE))["alerts"]["Amsterdam"]["sent"]["default"]
    assert sent == ["AM 2030-01-07 11:00-11:10", "AM 2030-01-07 13:00-13:10"]


def test_a_state_file_named_with_a_leading_dot_slash_is_the_same_file(repos: Repos) -> None:
    run = repos.clone("run")
    (run / STATE).write_text(NEW_STATE)

    done = repos.run(run, STATE_FILE=f"./{STATE}")

    assert done.returncode == 0, done.stderr
    assert repos.remote_file(STATE) == NEW_STATE
    assert repos.subjects()[0] == "state: update seen slots"


def test_a_pushed_state_that_cannot_be_merged_is_one_line_that_says_why_never_a_traceback(script_repos: Repos) -> None:
    repos = script_repos
    run, other = repos.clone("run"), repos.clone("other")
    repos.commit_file(other, STATE, '{"version": 2, "alerts": {}, "alerts": {}}\n', "state: broken by hand")
    ours = sent_state_text({"Amsterdam": ["AM 2030-01-07 11:00-11:10"]})
    (run / STATE).write_text(ours)

    done = repos.run(run, PYTHON=sys.executable)

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    [line] = [line for line in done.stdout.splitlines() if "could not merge" in line]
    assert line == (
        "commit-state: could not merge the other run's state/seen.json (the pushed state is not a valid"
        ' ind-alert state (the key "alerts" appears twice); it was left untouched: fix or move it away);'
        " keeping this run's version"
    )
    assert repos.remote_file(STATE) == ours
