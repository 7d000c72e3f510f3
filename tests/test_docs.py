"""The documentation, checked against the script: every pointer lands, every link resolves, and the docs
name every key, flag, variable and exit code that exists and nothing that does not."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Run
from fakes import Workdir

import ind_alert

REPO = Path(__file__).resolve().parent.parent
SCRIPT = (REPO / "ind_alert.py").read_text(encoding="utf-8")
DOCS = sorted([REPO / "README.md", REPO / ".github" / "CONTRIBUTING.md", *(REPO / ".github" / "docs").glob("*.md")])
REFERENCE = (REPO / ".github" / "docs" / "reference.md").read_text(encoding="utf-8")
# Written beside this reorganisation; linked before it lands.
NOT_YET = {REPO / "tests" / "README.md"}


def headings(path: Path) -> list[str]:
    """A Markdown file's headings, outside fenced code."""
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL | re.MULTILINE)
    return [h.strip().strip("`") for h in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE)]


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def section(path: Path, heading: str) -> str:
    """The text under a heading, to the next heading of the same or a higher level."""
    text = path.read_text(encoding="utf-8")
    start = re.search(rf"^(#+) {re.escape(heading)}\n", text, re.MULTILINE)
    assert start, f"{path.name} has no heading {heading!r}"
    end = re.compile(rf"^#{{1,{len(start[1])}}} ", re.MULTILINE).search(text, start.end())
    return text[start.end() : end.start() if end else len(text)]


# ------------------------------------------------------------------ the script's own pointers

# Every way the script points at the docs; a new way must be added here, or the test below fails.
POINTER = re.compile(
    r"README(?:'s (?P<table>[a-z]+) table"  # "the README's troubleshooting table"
    r"|, (?P<section>[A-Z][\w ?']*[\w?])"  # "README, What cadence to expect"
    r"|(?P<file>\.md)?(?=[)\"\s.]| and))"  # "(see README)", "See README.md"
    r"|(?P<doc>\.github/docs/[\w-]+\.md)"
)


def pointers() -> list[tuple[str, re.Match[str]]]:
    found = []
    for line in SCRIPT.splitlines():
        for hit in re.finditer(r"README|\.github/docs/", line):
            match = POINTER.match(line, hit.start())
            assert match, f"a pointer this test does not understand: {line.strip()}"
            found.append((line.strip(), match))
    return found


def test_every_pointer_the_script_prints_lands_on_a_heading_or_a_file_that_exists() -> None:
    found = pointers()
    assert len(found) >= 10
    readme = [h.lower() for h in headings(REPO / "README.md")]
    for line, match in found:
        if match["table"]:
            assert match["table"] in readme, line
            assert "|---|---|" in section(REPO / "README.md", match["table"].capitalize()), line
        elif match["section"]:
            assert match["section"].lower() in readme, line
        elif match["doc"]:
            assert (REPO / match["doc"]).is_file(), line


def test_the_python_version_pointer_lands_where_the_version_is_said() -> None:
    [line] = [line for line, match in pointers() if "3.10 or newer" in line]
    assert "README, The two commands" in line
    assert "Python 3.10 or newer" in section(REPO / "README.md", "The two commands")


# ------------------------------------------------------------------ links between the documents


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(REPO)) for d in DOCS])
def test_every_relative_link_and_anchor_resolves(doc: Path) -> None:
    text = re.sub(r"^```.*?^```", "", doc.read_text(encoding="utf-8"), flags=re.DOTALL | re.MULTILINE)
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert links
    for link in links:
        if re.match(r"https?://|mailto:", link):
            continue
        path, _, fragment = link.partition("#")
        target = (doc.parent / path).resolve() if path else doc
        if target in NOT_YET and not target.exists():
            continue
        assert target.exists(), f"{doc.name}: {link}"
        if fragment:
            assert fragment in [anchor(h) for h in headings(target)], f"{doc.name}: {link}"


def test_the_readme_is_a_quarter_hour_read_and_the_reference_moved_out() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.split()) < 6000
    for moved in ("## Exit codes", "## Environment variables", "## The state file", "## Choices we made"):
        assert moved not in readme


# ------------------------------------------------------------------ the reference names what exists


def documented(table_heading: str) -> set[str]:
    """The first column of the reference's table under that heading, each `name` in it."""
    rows = re.findall(
        r"^\| ([^|]+) \|", section(REPO / ".github" / "docs" / "reference.md", table_heading), re.MULTILINE
    )
    return {name for row in rows for name in re.findall(r"`([^`]+)`", row)}


def test_every_flag_is_documented_and_every_documented_flag_exists() -> None:
    parser_flags = set(re.findall(r'add_argument\(\s*"(-[\w-]+)"(?:, "(--[\w-]+)")?', SCRIPT))
    flags = {flag for pair in parser_flags for flag in pair if flag} | {"--help"}
    named = {re.split(r"[ \[]", name)[0] for name in documented("Command line") if name.startswith("-")}
    assert named == flags
    usage = subprocess.run(
        [sys.executable, str(REPO / "ind_alert.py"), "--help"], capture_output=True, text=True, check=False
    )
    assert all(flag in usage.stdout for flag in flags)


def env_reads() -> set[str]:
    """Every variable the script reads by name."""
    reads = set(re.findall(r'env(?:\.get\(|\[)"([A-Z][A-Z0-9_]+)"', SCRIPT))
    appends = set(re.findall(r'append_to\(env, "([A-Z_]+)"', SCRIPT))
    return reads | appends | {ind_alert.DEFAULT_RECIPIENT.pushover_user_env or ""}


def test_every_environment_variable_the_script_reads_is_documented_and_nothing_else() -> None:
    named = documented("Environment variables")
    reads = env_reads()
    assert reads - named == set()
    # The names documented besides the script's own reads: boto3's, and the recipients' own.
    others = {n for n in named - reads if not n.startswith("AWS_")}
    assert others == {"*names you choose*"} or others == set(), others
    scripts = (REPO / ".github" / "commit-state.sh").read_text(encoding="utf-8")
    for variable in re.findall(r"`([A-Z_]+)`", REFERENCE[REFERENCE.index("The state-commit script") :])[:8]:
        assert variable in scripts or variable in (REPO / ".ci" / "run").read_text(encoding="utf-8"), variable


def test_every_config_key_is_documented_and_every_documented_key_exists() -> None:
    reference = section(REPO / ".github" / "docs" / "reference.md", "alerts.toml")
    block = re.search(r"```toml\n(.*?)```", reference, re.DOTALL)
    assert block
    keys = set(re.findall(r"^(\w+) = ", block[1], re.MULTILINE)) | set(
        re.findall(r"^\| `(\w+)` \|", reference, re.MULTILINE)
    )
    tables = set(ind_alert.PRODUCTS) | set(ind_alert.DESKS)  # the appointment and desk tables' rows
    assert keys - tables == set(ind_alert.ALERT_KEYS)
    recipients = (REPO / ".github" / "docs" / "recipients.md").read_text(encoding="utf-8")
    assert set(re.findall(r"^\| `(\w+)` \|", recipients, re.MULTILINE)) == set(ind_alert.RECIPIENT_KEYS)
    for table in ("[[alert]]", "[defaults]", "[recipients.NAME]"):
        assert table in reference + recipients


def test_every_exit_code_is_documented_and_every_documented_code_exists() -> None:
    codes = {
        int(c)
        for c in re.findall(
            r"^\| (\d+) \|", section(REPO / ".github" / "docs" / "reference.md", "Exit codes"), re.MULTILINE
        )
    }
    assert codes == {0, 1, 2, 128 + signal.SIGINT, 128 + signal.SIGTERM}


# ------------------------------------------------------------------ the figures the docs state


def test_a_usage_error_prints_the_usage_then_one_error_line(workdir: Workdir, run: Run) -> None:
    """reference.md: "A usage error prints the usage, then one error: line saying what to fix"."""
    assert "error prints the usage, then one `error:` line" in " ".join(REFERENCE.split())
    result = run("--dry-run", "--check")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("usage: ind_alert.py ")
    assert [line for line in lines if not line.startswith(("usage:", " "))] == [lines[-1]]
    assert lines[-1].startswith("error: ")


def test_an_offline_dry_run_of_the_shipped_alert_warns_that_ind_could_not_be_reached_and_exits_0(
    workdir: Workdir, run: Run
) -> None:
    """README: "the dry run warns, per alert, that IND could not be reached, and exits 0"."""
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    assert "the dry run warns, per alert, that IND could not be reached, and exits 0" in readme
    workdir.write_config((REPO / "alerts.toml").read_text(encoding="utf-8"))
    result = run("--dry-run", env={"IND_API_URL": "http://127.0.0.1:9/oap/api"})
    assert result.returncode == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    [unreachable] = [line for line in warnings if "could not be reached; state kept" in line]
    assert unreachable.startswith("warning: Amsterdam: collect residence document: IND could not be reached")
    assert all("could not be reached" in line for line in warnings)  # the desk list's own warning says so too
    assert [line for line in result.stderr.splitlines() if line.startswith("notice:")] != []  # example = true
