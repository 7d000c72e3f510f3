"""What a new user trips over: the home-server guide as written, the workflows they never edit, old Pythons."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import Run, Start
from fakes import FakeIND, FakePushover, Workdir, as_edited, wait_until

import ind_alert

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def fenced(language: str, containing: str) -> str:
    """The README's fenced block of that language that contains the text."""
    blocks = re.findall(rf"```{language}\n(.*?)```", README, re.DOTALL)
    [block] = [b for b in blocks if containing in b]
    return str(block)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's home with the checkout and its virtual environment, made the README's way."""
    home = tmp_path_factory.mktemp("home")
    checkout = home / "ind-alert"
    checkout.mkdir()
    for name in ("ind_alert.py", "alerts.toml", "requirements.txt"):
        shutil.copy(REPO / name, checkout / name)
    assert "nano alerts.toml" in fenced("sh", "delete the line example = true")  # the guide's edit, made here
    alerts = checkout / "alerts.toml"
    alerts.write_text(as_edited(alerts.read_text(encoding="utf-8")), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "venv", ".venv"], cwd=checkout, check=True)
    pip = subprocess.run(
        [".venv/bin/pip", "install", "--quiet", "--disable-pip-version-check", "-r", "requirements.txt"],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    if pip.returncode != 0:
        pytest.skip(f"pip could not install requirements.txt into a new virtual environment: {pip.stderr[-300:]}")
    (home / ".config" / "ind-alert").mkdir(parents=True)
    (home / ".local" / "state").mkdir(parents=True)
    return home


def write_env_file(home: Path, ind: FakeIND, pushover: FakePushover) -> Path:
    """The secrets file as the guide says: KEY=value lines, mode 600, outside the checkout."""
    env_file = home / ".config" / "ind-alert" / "env"
    env_file.write_text(
        "PUSHOVER_TOKEN=azGDORePK8gMaC0QOYAMyEEuzJnyUi\nPUSHOVER_USER=uQiRzpo4DXghDmr9QzzfQu27cmVRsG\n"
        f"IND_API_URL={ind.url}\nPUSHOVER_API_URL={pushover.url}\n",
        encoding="utf-8",
    )
    env_file.chmod(0o600)
    return env_file


def test_the_systemd_unit_of_the_guide_runs_the_watch_with_its_own_python(home: Path) -> None:
    unit = fenced("ini", "ExecStart=")
    keys = dict(re.findall(r"^(\w+)=(.*)$", unit, re.MULTILINE))
    user_home = f"/home/{keys['User']}"
    assert keys["EnvironmentFile"].startswith(f"{user_home}/.config/")  # secrets outside the checkout
    command = keys["ExecStart"].replace(user_home, str(home)).split()
    assert command[0].endswith("/.venv/bin/python")  # not the system Python, where pip install is refused
    with FakeIND() as ind, FakePushover() as pushover:
        soon = (datetime.now(ZoneInfo("Europe/Amsterdam")).date() + timedelta(days=3)).isoformat()
        ind.set_slots("AM", "DOC", 1, [(soon, "09:00", "09:10")])  # the shipped alerts.toml: 14 days ahead
        env_file = write_env_file(home, ind, pushover)
        env = dict(line.split("=", 1) for line in env_file.read_text(encoding="utf-8").splitlines())
        running = subprocess.Popen(
            command,
            cwd=keys["WorkingDirectory"].replace(user_home, str(home)),
            env={"PATH": "/usr/bin:/bin", **env},  # what systemd gives: no virtual environment activated
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_until(lambda: len(pushover.delivered) == 1 or running.poll() is not None, 30, "the first push")
        finally:
            running.terminate()
            _, err = running.communicate(timeout=30)
    assert running.returncode == 143, err  # SIGTERM, as systemctl stop sends: the unit counts it a success
    assert keys["SuccessExitStatus"] == "143"
    assert "No module named" not in err
    assert len(pushover.delivered) == 1
    assert (home / ".local" / "state" / "ind-alert.json").is_file()  # the state outside the checkout: git pull works
    assert not (home / "ind-alert" / "state").exists()


def test_the_cron_line_of_the_guide_runs_with_its_own_python_and_logs_outside_the_checkout(home: Path) -> None:
    line = fenced("cron", "ind_alert.py").strip()
    schedule, command = line.split(" ", 5)[:5], line.split(" ", 5)[5]
    assert schedule == ["*/5", "*", "*", "*", "*"]
    with FakeIND() as ind, FakePushover() as pushover:
        write_env_file(home, ind, pushover)
        done = subprocess.run(
            ["/bin/sh", "-c", command],
            env={"HOME": str(home), "PATH": "/usr/bin:/bin"},  # cron's environment
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    log = (home / ".local" / "state" / "ind-alert.log").read_text(encoding="utf-8")
    assert "open" in log and "No module named" not in log
    assert log and all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", line) for line in log.splitlines())
    assert not list((home / "ind-alert").glob("*.log"))
    assert "--state $HOME/.local/state/ind-alert.json" in command
    assert not (home / "ind-alert" / "state").exists()


def test_secrets_and_logs_are_never_added_by_git_add_all(tmp_path: Path) -> None:
    ignore = (REPO / ".gitignore").read_text(encoding="utf-8")
    subprocess.run(["git", "init", "--quiet", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text(ignore, encoding="utf-8")
    for name in (".env", ".env.systemd", "ind-alert.log", "logs/run.txt", ".venv/bin/python", "alerts.toml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x", encoding="utf-8")
    subprocess.run(["git", "add", "-A"], cwd=tmp_path, check=True)
    added = subprocess.run(
        ["git", "diff", "--cached", "--name-only"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert sorted(added.stdout.split()) == [".gitignore", "alerts.toml"]


def test_a_python_older_than_3_10_gets_one_line_naming_it() -> None:
    # The check is the first statement after the __future__ import: run those lines with an old version.
    source = (REPO / "ind_alert.py").read_text(encoding="utf-8")
    head = source[: source.index("import argparse")]
    probe = "import sys\nsys.version_info = (3, 9, 18)\nsys.version = '3.9.18 (main)'\n" + head.replace(
        "from __future__ import annotations\n", ""
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert done.stderr == "ind-alert needs Python 3.10 or newer, this is 3.9.18: see README, The two commands\n"


def test_python_3_10_gets_the_tomli_backport_and_the_tests_run_on_3_10_to_3_13() -> None:
    requirements = (REPO / "requirements.txt").read_text(encoding="utf-8")
    assert re.search(r'^tomli>=[\d.]+; python_version < "3.11"', requirements, re.MULTILINE)
    workflow = (REPO / ".github" / "workflows" / "tests.yml").read_text(encoding="utf-8")
    assert 'python-version: ["3.10", "3.11", "3.12", "3.13"]' in workflow


def test_the_schedule_asks_for_every_5_minutes_off_the_full_hour() -> None:
    workflow = (REPO / ".github" / "workflows" / "ind-alert.yml").read_text(encoding="utf-8")
    [cron] = re.findall(r'cron: "([^"]+)"', workflow)
    minutes = cron.split()[0]
    assert minutes == "3-58/5"  # 3, 8, ... 58: never minute 0, GitHub's busiest


def test_the_tests_workflow_starts_no_run_for_an_alerts_toml_edit_and_skips_the_release_check_in_a_copy() -> None:
    workflow = (REPO / ".github" / "workflows" / "tests.yml").read_text(encoding="utf-8")
    assert workflow.count('paths-ignore: ["alerts.toml", "state/**", "README.md"]') == 2
    assert "SHIPPED_STATE_CHECK: ${{ github.event.repository.is_template && '1' || '0' }}" in workflow
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert 'if [[ "${SHIPPED_STATE_CHECK:-1}" != 0 ]]' in ci


@pytest.mark.skipif(os.name != "posix", reason="the guide is for Linux and macOS")
def test_the_guide_never_puts_secrets_or_logs_in_the_checkout() -> None:
    guide = README[README.index("## Running it on your own machine") : README.index("### Moving from GitHub")]
    assert "~/.config/ind-alert/env" in guide and "install -m 600" in guide
    assert ". ./.env" not in guide and ".env.systemd" not in guide
    assert "python3 ind_alert.py" not in guide and "/usr/bin/python3" not in guide


# ------------------------------------------------------------------ what people type and see


def one_alert(**keys: str) -> str:
    table = {"name": '"Biometrics"', "desk": '"AM"', "product": '"BIO"', **keys}
    return "[[alert]]\n" + "".join(f"{k} = {v}\n" for k, v in table.items())


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("Rotterdam", "f0ef3c8f0973875936329d713a68c5f3"),
        ("utrecht", "fa24ccf0acbc76a7793765937eaee440"),
        ("'s-Hertogenbosch", "DB"),
        ("Den Bosch Leeghwaterlaan", "DB"),
        ("Expat Center Groningen", "0c127eb6d9fe1ced413d2112305e75f6"),
        ("Den Haag", "DH"),  # the name IND gives its own desk, accepted since the start
    ],
)
def test_desk_names_people_type_are_understood(typed: str, key: str) -> None:
    config = ind_alert.parse_config(ind_alert.tomllib.loads(one_alert(desk=f'"{typed}"')))
    assert config.alerts[0].desk == (key,)


def test_a_city_with_two_desks_names_both_instead_of_guessing() -> None:
    with pytest.raises(ind_alert.ConfigError) as caught:
        ind_alert.parse_config(ind_alert.tomllib.loads(one_alert(desk='"The Hague"')))
    assert str(caught.value) == (
        'alerts.toml alert "Biometrics": desk "The Hague" could be "IND Den Haag" or "Expatcenter Den Haag":'
        " write which one"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('weekdays = ["monkey"]', 'weekdays must name days like "mon" or "friday", not "monkey"'),
        ('weekdays = ["mo"]', 'weekdays must name days like "mon" or "friday", not "mo"'),
        ("weekdays = [1]", 'weekdays must name days like "mon" or "friday", not a number'),
        ("after = 2026-12-01T09:00:00", "after must be a date without a time: write after = 2026-12-01"),
        ('after = "2026-12-01"', 'after must be a TOML date like 2026-12-01 (no quotes), not "2026-12-01"'),
        ("earliest = 9", 'earliest must be a time like "09:30", not a number'),
        ('earliest = "9 am"', 'earliest must be a time like "09:30", not "9 am"'),
    ],
)
def test_a_wrong_value_is_named_without_a_python_repr(line: str, message: str) -> None:
    key = line.split(" = ")[0]
    with pytest.raises(ind_alert.ConfigError) as caught:
        ind_alert.parse_config(ind_alert.tomllib.loads(one_alert(**{key: line.split(" = ", 1)[1]})))
    assert str(caught.value) == f'alerts.toml alert "Biometrics": {message}'
    assert not re.search(r"datetime\.|\(\d|'", str(caught.value).replace("'s", ""))


def test_days_and_times_are_read_in_the_forms_people_write() -> None:
    text = one_alert(weekdays='["Monday", "TUE", "wed"]', earliest="08:30:00", latest='"12:00"')
    alert = ind_alert.parse_config(ind_alert.tomllib.loads(text)).alerts[0]
    assert alert.weekdays == frozenset({0, 1, 2})
    assert (alert.earliest, alert.latest) == (ind_alert.dtime(8, 30), ind_alert.dtime(12, 0))


def test_one_bracket_and_a_bad_default_are_reported_where_they_are() -> None:
    with pytest.raises(ind_alert.ConfigError) as single:
        ind_alert.parse_config(ind_alert.tomllib.loads('[alert]\nname = "x"\ndesk = "AM"\nproduct = "BIO"\n'))
    assert "write [[alert]] with two brackets" in str(single.value)
    with pytest.raises(ind_alert.ConfigError) as defaults:
        ind_alert.parse_config(ind_alert.tomllib.loads("[defaults]\npersons = 9\n\n" + one_alert()))
    assert str(defaults.value) == "alerts.toml [defaults]: persons must be a whole number from 1 to 6, not 9"


def test_usage_errors_are_annotations_in_github_actions(workdir: Workdir, run: Run) -> None:
    both = run("--dry-run", "--check", env={"GITHUB_ACTIONS": "true"})
    lonely = run("--interval", "60", "--dry-run")

    assert both.returncode == lonely.returncode == 2
    assert (
        both.stderr.splitlines()[-1] == "::error::ind_alert.py: argument --check: not allowed with argument --dry-run"
    )
    assert lonely.stderr.splitlines()[-1] == (
        "error: ind_alert.py: --interval only applies to --watch: add --watch, or leave --interval out"
    )


def test_check_offline_says_what_failed_and_what_to_do_without_waiting(workdir: Workdir, run: Run) -> None:
    workdir.write_config(one_alert())

    result = run("--check", env={"PUSHOVER_API_URL": "http://127.0.0.1:9/1"}, patch_sleep=True)

    assert result.returncode == 1
    assert result.sleeps == []
    assert result.stderr == (
        "error: recipient you: Pushover could not be reached; check this machine's internet connection and try again\n"
    )
    assert "valid" not in result.stdout


def test_list_desks_without_ind_prints_the_bundled_table(workdir: Workdir, run: Run) -> None:
    result = run("--list-desks", "BIO", env={"IND_API_URL": "http://127.0.0.1:9/oap/api"})

    assert result.returncode == 1
    assert "ind-alert's own table, which may be out of date" in result.stderr
    assert "  AM                                 IND Amsterdam" in result.stdout.splitlines()


def test_watch_says_what_it_watches_and_stamps_every_line(
    workdir: Workdir, start: Start, ind: FakeIND, pushover: FakePushover
) -> None:
    workdir.write_config(one_alert())
    running = start("--watch", "--interval", "30")
    wait_until(lambda: ind.hits("AM", "BIO", 1) >= 1, 20, "the first check")
    wait_until(lambda: running.running and len(pushover.validations) >= 1, 20, "the secret check")
    running.send_signal()
    result = running.finish(timeout=30)

    assert result.returncode == 143, result.stderr
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
    assert re.fullmatch(
        stamp + r"notice: watching 1 alert every 30 s \(±10%\), state in state/seen\.json; Ctrl-C or SIGTERM stops",
        result.stderr.splitlines()[0],
    )
    assert all(re.match(stamp, line) for line in result.stdout.splitlines() + result.stderr.splitlines())
    assert any(line.endswith("Biometrics: 0 open, 0 match, 0 new, ok") for line in result.stdout.splitlines())


# ------------------------------------------------------------------ the GitHub steps and updating, as written


def readme_section(heading: str) -> str:
    start = README.index(f"\n{heading}\n")
    level = heading.split(" ")[0]
    ends = [README.find(f"\n{h} ", start + 1) for h in ("#", "##", "###")[: len(level)]]
    return README[start : min([e for e in ends if e != -1] or [len(README)])]


def test_the_github_steps_name_the_secrets_the_boxes_the_job_and_the_step_the_workflow_has() -> None:
    steps = README[README.index("## Set it up on GitHub") : README.index("### Where to look")]
    workflow = (REPO / ".github" / "workflows" / "ind-alert.yml").read_text(encoding="utf-8")
    secrets = re.findall(
        r"^\| `([A-Z_]+)` \|", readme_section("### 4. Add them to your repository as secrets"), re.MULTILINE
    )
    assert secrets == ["PUSHOVER_TOKEN", "PUSHOVER_USER"]
    assert all(f"{name}: ${{{{ secrets.{name} }}}}" in workflow for name in secrets)
    assert re.search(r"^name: ind-alert$", workflow, re.MULTILINE) and "click **ind-alert**" in steps
    descriptions = re.findall(r'description: "([^"]+)"', workflow)
    ticked = re.findall(r"tick(?:ed)? only \*\*([^*]+)\*\*|with \*\*([^*]+)\*\*\s+ticked", " ".join(steps.split()))
    assert sorted(box for pair in ticked for box in pair if box) == sorted(descriptions)
    assert "name: Check and notify" in workflow and "- name: Check IND appointments" in workflow
    assert "job **Check and notify**, step **Check IND appointments**" in " ".join(steps.split())
    assert "keep **Commit directly to the `main` branch**" in " ".join(steps.split())
    assert "`example = true`" in steps and as_edited((REPO / "alerts.toml").read_text(encoding="utf-8"))


def git(*args: str, cwd: Path) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1"}
    who = {"GIT_AUTHOR_NAME": "u", "GIT_AUTHOR_EMAIL": "u@example.org", "GIT_COMMITTER_NAME": "u"}
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**env, **who, "GIT_COMMITTER_EMAIL": "u@example.org"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def shell(commands: str, cwd: Path, **replace: str) -> None:
    """The README's commands, each line as written, with its placeholders filled in."""
    for line in commands.strip().splitlines():
        line = line.split("   #")[0].strip()
        for placeholder, value in replace.items():
            line = line.replace(placeholder, value)
        for command in line.split(" && "):
            if command.startswith("cd "):
                cwd = cwd / command[3:] if not command[3:].startswith("/") else Path(command[3:])
                continue
            assert command.startswith("git "), command
            git(*shlex.split(command)[1:], cwd=cwd)


def a_repository(path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text, encoding="utf-8")
    git("init", "--quiet", "--initial-branch=main", cwd=path)
    git("add", "-A", cwd=path)
    git("commit", "--quiet", "-m", "first", cwd=path)
    return path


def test_a_home_checkout_made_the_readmes_way_updates_with_its_git_pull(tmp_path: Path) -> None:
    shipped = {n: (REPO / n).read_text(encoding="utf-8") for n in ("ind_alert.py", "alerts.toml", "state/seen.json")}
    copy = a_repository(tmp_path / "copy", shipped)  # the user's copy on GitHub
    git("config", "receive.denyCurrentBranch", "ignore", cwd=copy)
    guide = fenced("sh", "delete the line example = true")
    clone = guide.splitlines()[0].split(" && ")[0]
    assert clone == "git clone <your copy> ~/ind-alert"
    git("clone", "--quiet", str(copy), "ind-alert", cwd=tmp_path)
    checkout = tmp_path / "ind-alert"
    alerts = checkout / "alerts.toml"
    edited = as_edited(alerts.read_text(encoding="utf-8"))
    alerts.write_text(edited, encoding="utf-8")  # nano alerts.toml
    [commit] = [line for line in guide.splitlines() if line.startswith("git commit")]
    shell(commit, checkout)
    [check] = [line.split("#")[0].split() for line in guide.splitlines() if line.endswith("# one check")]
    assert check[1:] == ["ind_alert.py", "--state", "~/.local/state/ind-alert.json"]
    # The workflow of the copy commits its state, and the project's next version arrives.
    (copy / "state" / "seen.json").write_text('{"changed": "by the workflow"}\n', encoding="utf-8")
    (copy / "ind_alert.py").write_text(shipped["ind_alert.py"] + "# the next version\n", encoding="utf-8")
    git("commit", "--quiet", "-am", "state: 1 new slot pushed", cwd=copy)

    [update] = re.findall(r"\*\*A home checkout\*\*: `([^`]+)`", README)
    shell(update, tmp_path, **{"~/ind-alert": "ind-alert"})

    assert (checkout / "ind_alert.py").read_text(encoding="utf-8").endswith("# the next version\n")
    assert alerts.read_text(encoding="utf-8") == edited  # the user's alert kept
    assert git("status", "--porcelain", cwd=checkout) == ""


def test_a_template_copy_takes_the_projects_files_and_keeps_its_alerts_and_state(tmp_path: Path) -> None:
    files = {
        "ind_alert.py": "v1\n",
        "requirements.txt": "requests\n",
        "README.md": "v1\n",
        ".github/workflows/ind-alert.yml": "v1\n",
        ".ci/run": "v1\n",
        "tests/test_x.py": "v1\n",
        ".gitignore": "v1\n",
        ".ruff.toml": "v1\n",
        "alerts.toml": "the example\n",
        "state/seen.json": "{}\n",
    }
    (tmp_path / "github").mkdir()
    (tmp_path / "work").mkdir()
    project = a_repository(tmp_path / "github" / "project", files)
    mine = {"alerts.toml": "mine\n", "state/seen.json": '{"mine": 1}\n'}
    copy = a_repository(tmp_path / "github" / "copy", {**files, **mine})
    git("config", "receive.denyCurrentBranch", "ignore", cwd=copy)
    for name in [n for n in files if n not in ("alerts.toml", "state/seen.json")]:
        (project / name).write_text("v2\n", encoding="utf-8")
    git("commit", "--quiet", "-am", "the next version", cwd=project)
    block = fenced("sh", "git fetch https://github.com/ORIGINAL-OWNER/ind-alert.git main")

    shell(
        block,
        tmp_path / "work",
        **{
            "https://github.com/YOUR-NAME/YOUR-COPY.git": str(copy),
            "https://github.com/ORIGINAL-OWNER/ind-alert.git": str(project),
            "YOUR-COPY": "copy",
        },
    )

    head = tmp_path / "work" / "copy"
    for name in files:
        assert (head / name).read_text(encoding="utf-8") == mine.get(name, "v2\n"), name
    git("fetch", "--quiet", cwd=head)
    assert git("status", "--porcelain", "--branch", cwd=head).strip() == "## main...origin/main"
