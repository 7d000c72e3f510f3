"""Records of ind_alert.py and fixed answers shared by the in-process tests: slots, alerts, configs,
a full state, and the real IND and Pushover addresses the ``responses`` mocks stand in for."""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

from fakes import load_fixture, strip_xssi

# The script is a module at the repository root, not a package: make it importable however pytest is run.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import ind_alert  # noqa: E402
from ind_alert import Alert, AlertState, Emergency, Slot, State  # noqa: E402

IND = "https://oap.ind.nl/oap/api"
PUSHOVER = "https://api.pushover.net/1"
SLOTS_URL = f"{IND}/desks/AM/slots?productKey=BIO&persons=1"
AMS = ind_alert.AMSTERDAM
JSON = "application/json; charset=utf-8"


def slots_json() -> str:
    """The fixture body without its anti-XSSI prefix."""
    return strip_xssi(load_fixture("slots-bio-am-1p.txt"))


def at(day: str, start: str, end: str | None = None, desk: str = "AM") -> Slot:
    """A slot on ``day`` (YYYY-MM-DD) from ``start`` (HH:MM) in Amsterdam time; 10 minutes unless ``end``."""
    begin = datetime.combine(date.fromisoformat(day), dtime.fromisoformat(start), AMS)
    finish = datetime.combine(begin.date(), dtime.fromisoformat(end), AMS) if end else begin + timedelta(minutes=10)
    return Slot(begin, finish, desk)


def alert(**changes: Any) -> Alert:
    return Alert(**{"name": "Amsterdam biometrics", "desk": "AM", "product": "BIO", **changes})


MESSAGES = f"{PUSHOVER}/messages.json"
QUOTA = {"X-Limit-App-Limit": "10000", "X-Limit-App-Remaining": "9876", "X-Limit-App-Reset": "1793491200"}
OK = {"status": 1, "request": "647d2300-702c-4b38-8b2f-d56326ae460b"}
USER_INVALID = {
    "user": "invalid",
    "errors": ["user identifier is not a valid user, group, or subscribed user key"],
    "status": 0,
    "request": "r",
}


# ======================================================================================= filter and diff

# Monday 5 October 2026, 08:00 in Amsterdam (CEST, UTC+2).
NOW = datetime(2026, 10, 5, 8, 0, tzinfo=AMS)
TOMORROW = at("2026-10-06", "09:00")
NEXT_WEEK = at("2026-10-12", "09:00")
NEXT_MONTH = at("2026-11-02", "09:00")


# ======================================================================================= config


BASE = """
[[alert]]
name = "Amsterdam biometrics"
desk = "AM"
product = "BIO"
"""


def parsed_config(text: str) -> ind_alert.Config:
    return ind_alert.parse_config(ind_alert.tomllib.loads(text), "alerts.toml")


# ======================================================================================= state


FULL_STATE = State(
    alerts={
        "Amsterdam biometrics": AlertState(
            sent={"me": frozenset({TOMORROW.id, NEXT_WEEK.id}), "partner": frozenset({TOMORROW.id})},
            emergencies={"ind-alert-0123456789abcdef": Emergency(frozenset({TOMORROW.id}), 1_790_003_600)},
            failing_since=1_790_000_000,
            blind_notified=True,
        ),
        "Den Haag sticker": AlertState(sent={"me": frozenset({NEXT_MONTH.id})}),
    },
    repository="someone/ind-alert",
    quota_notified=1_793_491_200,
)
