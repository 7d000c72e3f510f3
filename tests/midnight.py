"""Run the test suite with the clock moved to just before midnight in Amsterdam.

    python tests/midnight.py [--at HH:MM:SS] [--stress N] [pytest arguments ...]

Tests compute "today" while they run and the script computes it again when it runs; a test that mixes a
date taken before midnight with one taken after breaks only then. This moves the wall clock of every
Python process of the run (pytest, its workers, each ind_alert.py it starts, the fakes) by the same
amount, so the run starts at --at Amsterdam time (default 23:58:30) and midnight passes during it.
--stress N keeps N processes spinning on the CPU meanwhile, for the tests that could depend on timing.
Not part of .ci/run: a contributor's check. Needs time-machine (tests/requirements.txt).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def spin() -> None:
    while True:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--at", default="23:58:30", help="Amsterdam wall time the run starts at (HH:MM:SS)")
    parser.add_argument("--stress", type=int, default=0, help="busy processes to run alongside (default 0)")
    args, pytest_args = parser.parse_known_args(argv)
    now = datetime.now(AMSTERDAM)
    hour, minute, second = (int(part) for part in args.at.split(":"))
    start = now.replace(hour=hour, minute=minute, second=second, microsecond=0)
    shift = (start - now).total_seconds()
    env = dict(os.environ, IND_ALERT_CLOCK_SHIFT=str(shift))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE / "clock"), env.get("PYTHONPATH")]))
    check = "import datetime, zoneinfo; print(datetime.datetime.now(zoneinfo.ZoneInfo('Europe/Amsterdam')))"
    seen = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, check=True)
    print(f"clock moved by {shift:+.0f} s: the run starts at {seen.stdout.strip()} (Amsterdam)", flush=True)
    busy = [multiprocessing.Process(target=spin, daemon=True) for _ in range(args.stress)]
    for process in busy:
        process.start()
    try:
        quiet = ["-W", "ignore::pytest.PytestAssertRewriteWarning"]  # time_machine, loaded before pytest
        command = [sys.executable, "-m", "pytest", *quiet, *(pytest_args or ["-n", "auto", "-q"])]
        return subprocess.run(command, cwd=HERE.parent, env=env, check=False).returncode
    finally:
        for process in busy:
            process.terminate()


if __name__ == "__main__":
    sys.exit(main())
