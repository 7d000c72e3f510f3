"""Mutation testing for ind_alert.py: plant small bugs one at a time and see whether a test notices.

    python tests/mutate.py [--limit N] [--seed S] [--jobs J] [--timeout SECONDS] [--tests PATH ...] [--only NAME ...]

Each mutant flips one comparison (< and >=, == and !=, in and not in, ...), swaps and/or, drops a `not`,
or moves a small whole number by one, inside the functions that decide what is pushed and recorded (the
pure core and the Runner). It runs in a copy of the repository, so the working tree is never touched.
A mutant is killed when the chosen tests fail (or time out); a surviving one is printed with its line:
a bug no test would catch, or a change that is no bug at all (an equivalent mutant).
Not part of .ci/run nor of the tests workflow: a full run takes about 30 minutes with --jobs 2. Stdlib only.
"""

from __future__ import annotations

import argparse
import ast
import queue
import random
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FAST_TESTS = [  # the pure core first: most mutants are killed there, in seconds
    "tests/test_matching.py", "tests/test_push_text.py", "tests/test_config.py", "tests/test_state_file.py",
    "tests/test_ind_client.py", "tests/test_pushover_client.py", "tests/test_output.py",
    "tests/test_service_answers.py", "tests/test_time_boundaries.py", "tests/test_recipients_across_runs.py",
    "tests/test_error_messages.py", "tests/test_emergency.py", "tests/test_pushed_by_query.py",
    "tests/test_in_time.py",
]  # fmt: skip
# Where a planted bug would change what a user is pushed or what the state remembers.
TARGETS = {
    "matches", "is_urgent", "unsent", "forget_gone", "fit", "format_push", "parse_slots", "ind_data",
    "retry_after", "refusal", "alert_state_from", "state_from_json", "merge_states", "slot_ids", "is_int",
    "record_history", "prune_history", "pushes_for", "checked_secrets", "resolve_desks", "parse_alert",
    "Runner", "Run", "check_all", "check_alert", "read_answers", "push_new", "check_secrets", "judge",
    "cancel_emergencies", "recover", "is_blind", "blind_alerts", "blind_recipients", "watch_quota", "too_slow",
    "DeskLists", "adopt", "told", "told_record", "told_by_either", "pushover_problem",
    "not_known_gone", "for_kind", "kind_from",
}  # fmt: skip
SWAPS: dict[type, type] = {
    ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.And: ast.Or, ast.Or: ast.And,
}  # fmt: skip


@dataclass(frozen=True)
class Mutant:
    line: int
    what: str
    index: int  # which mutation site, in walk order


def sites(tree: ast.AST, only: set[str]) -> list[tuple[ast.AST, int, str]]:
    """Every mutation inside the target functions and classes: (node, operator index, description).

    Operators are shared singletons in a parsed tree, so a comparison or and/or is changed by giving its
    node a new operator, never by changing the operator object itself.
    """
    found: list[tuple[ast.AST, int, str]] = []
    for top in ast.walk(tree):
        if not isinstance(top, ast.FunctionDef | ast.ClassDef) or top.name not in only:
            continue
        for node in ast.walk(top):
            if isinstance(node, ast.Compare):
                for i, op in enumerate(node.ops):
                    if type(op) in SWAPS:
                        found.append((node, i, f"{top.name}: {type(op).__name__} -> {SWAPS[type(op)].__name__}"))
            elif isinstance(node, ast.BoolOp):
                found.append((node, 0, f"{top.name}: {type(node.op).__name__} -> {SWAPS[type(node.op)].__name__}"))
            elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
                found.append((node, 0, f"{top.name}: drop 'not'"))
            elif isinstance(node, ast.Constant) and type(node.value) is int and 0 <= node.value <= 10:
                found.append((node, 0, f"{top.name}: {node.value} -> {node.value + 1}"))
    return found


def mutated(source: str, index: int, only: set[str]) -> tuple[str, int, str]:
    """The source with mutation `index` applied: (text, line, description)."""
    tree = ast.parse(source)
    node, op, what = sites(tree, only)[index]
    line = getattr(node, "lineno", 0)
    if isinstance(node, ast.Compare):
        node.ops[op] = SWAPS[type(node.ops[op])]()
    elif isinstance(node, ast.BoolOp):
        node.op = SWAPS[type(node.op)]()
    elif isinstance(node, ast.UnaryOp):  # not x -> bool(x)
        node.op = ast.UAdd()
        node.operand = ast.Call(ast.Name("bool", ast.Load()), [node.operand], [])
    elif isinstance(node, ast.Constant):
        node.value += 1
    return ast.unparse(ast.fix_missing_locations(tree)), line, what


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--limit", type=int, default=0, help="test this many mutants, chosen at random (0: all)")
    parser.add_argument("--seed", type=int, default=15, help="seed of that choice (default 15)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds a test run may take (default 120)")
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested at once, each in its own copy")
    parser.add_argument("--tests", nargs="+", default=FAST_TESTS, help="test files to run against each mutant")
    parser.add_argument("--only", nargs="+", default=sorted(TARGETS), help="functions and classes to mutate")
    args = parser.parse_args(argv)
    source = (REPO / "ind_alert.py").read_text(encoding="utf-8")
    only = set(args.only)
    count = len(sites(ast.parse(source), only))
    chosen = list(range(count))
    if args.limit:
        chosen = sorted(random.Random(args.seed).sample(chosen, min(args.limit, count)))
    print(f"{count} mutation sites in {len(only)} functions and classes; testing {len(chosen)}", flush=True)
    survivors: list[Mutant] = []
    with tempfile.TemporaryDirectory(prefix="ind-alert-mutants-") as tmp:
        copies: queue.Queue[Path] = queue.Queue()
        for n in range(args.jobs):  # one copy of the repository per job
            copy = Path(tmp) / f"repo-{n}"
            shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(".git", ".venv", "node_modules", "__pycache__"))
            copies.put(copy)

        def killed(index: int) -> tuple[bool, int, str]:
            text, line, what = mutated(source, index, only)
            copy = copies.get()
            try:
                (copy / "ind_alert.py").write_text(text, encoding="utf-8")
                command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *args.tests]
                try:
                    result = subprocess.run(command, cwd=copy, capture_output=True, timeout=args.timeout, check=False)
                    return result.returncode != 0, line, what
                except subprocess.TimeoutExpired:
                    return True, line, what
            finally:
                copies.put(copy)

        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            for done, (index, (dead, line, what)) in enumerate(zip(chosen, pool.map(killed, chosen), strict=True), 1):
                if not dead:
                    survivors.append(Mutant(line, what, index))
                print(f"  [{done}/{len(chosen)}] {'killed  ' if dead else 'SURVIVED'} line {line}: {what}", flush=True)
    score = 1 - len(survivors) / len(chosen) if chosen else 1.0
    print(f"\nmutation score: {score:.0%} ({len(chosen) - len(survivors)} of {len(chosen)} killed)")
    for mutant in survivors:
        print(f"  survived: ind_alert.py:{mutant.line} {mutant.what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
