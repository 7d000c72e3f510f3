#!/usr/bin/env python3
"""ind-alert: a push notification the moment a sooner IND appointment opens.

Each run asks the IND appointment API for the free slots of every alert in
alerts.toml, keeps the ones that match, pushes the slots nobody was told about
yet (one push per alert and recipient) and records them in the state file.

Environment:
  PUSHOVER_TOKEN     Pushover application token (not needed for --dry-run)
  PUSHOVER_USER      Pushover user or group key (when alerts.toml has no [recipients])
  IND_API_URL        IND API base URL (default https://oap.ind.nl/oap/api)
  PUSHOVER_API_URL   Pushover API base URL (default https://api.pushover.net/1)
  IND_ALERT_STATE    state location when --state is not given: a path or s3://bucket/key
  IND_ALERT_CONFIG   alerts file when --config is not given: a path or s3://bucket/key
  IND_ALERT_STAMP    1: every line starts with the Amsterdam time, as in --watch (for a cron log)
  AWS_LAMBDA_FUNCTION_NAME  set by AWS Lambda: lambda_handler() then requires s3:// state
  AWS_*              credentials, region and AWS_ENDPOINT_URL_S3 for s3:// state (read by boto3)
  GITHUB_*           read when running in GitHub Actions (summary, annotations, repository, outputs)
  GITHUB_TOKEN       in GitHub Actions: reads this workflow's run history (GITHUB_API_URL) for the cadence
  Recipients in alerts.toml name further variables (pushover_user_env, apprise_url_env).

Exit codes:
  0  the run did its job; passing outside failures are warnings, retried next run; or another run held
     the state file's lock for 15 s and this one ended without checking (a warning)
  1  a failure to act on: Pushover rejected the token, a key or a request, a recipient no push has reached
     for blind_after_minutes, the state could not be saved, or an unexpected error (reported in one line;
     -v adds the traceback)
  2  usage or config error (the shipped example alert not yet edited too), missing secret, unreadable state
  130  interrupted (Ctrl-C, SIGINT); every push delivered until then is recorded
  143  --watch stopped by SIGTERM (systemctl stop, docker stop) after its current check

On AWS Lambda the handler is ind_alert.lambda_handler: exit 0 returns a summary, 1 and 2 raise RunFailed.
"""

from __future__ import annotations

import sys

if sys.version_info < (3, 10):  # noqa: UP036 - first, so an old Python gets one line, not a traceback
    sys.exit(f"ind-alert needs Python 3.10 or newer, this is {sys.version.split()[0]}: see README, The two commands")

import argparse
import contextlib
import dataclasses
import difflib
import enum
import hashlib
import hmac
import itertools
import json
import logging
import math
import os
import queue
import re
import secrets
import socket
import stat
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any, Literal, NoReturn, Protocol

import requests
import requests.adapters
import urllib3
from dateutil import tz

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 (Ubuntu 22.04): the same parser, from PyPI
    import tomli as tomllib

# ------------------------------------------------------------------ constants

VERSION = "1.0.0"
IND_API_URL = "https://oap.ind.nl/oap/api"
PUSHOVER_API_URL = "https://api.pushover.net/1"
BOOKING_URL = "https://oap.ind.nl/oap/en/#/{product}"
USER_AGENT = f"ind-alert/{VERSION} (appointment notifier; polls every few minutes)"
AMSTERDAM = tz.gettz("Europe/Amsterdam")
STATE_VERSION = 3  # 2: slot ids name their desk ("AM 2026-12-01 09:00-09:10"); 3: optional "unreached"
DEFAULT_CONFIG = "alerts.toml"
DEFAULT_STATE = "state/seen.json"
DEFAULT_INTERVAL = 120.0  # seconds between checks in --watch

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0
FETCH_DEADLINE = 50.0  # a run ends within 60 s even if IND never answers
RUN_DEADLINE = 90.0  # everything a run waits on (IND, Pushover, Apprise, S3) ends by then
SAVE_GRACE = 5.0  # seconds at the end of a run kept for saving the state: nothing else waits into them
SIDE_WAIT, SIDE_SHARE = 10.0, 0.25  # the secret check and each emergency cancel: at most 10 s and 1/4 of what is left
PUSH_SHARE = 0.5  # one push waits at most half of what is left, so a recipient that drips leaves time to the others
MAX_BODY = 2_000_000  # bytes of an answer, decompressed: IND and Pushover answer a few kB
MAX_PARALLEL = 4  # IND requests at once: polite, and fast enough
MAX_PERSONS = 6  # IND books at most six people in one appointment
MAX_ANY_DESKS = 40  # desks `desk = "any"` asks at most: IND lists about 17, and each is one request a run
STATE_ROOM = 100_000  # bytes a state keeps free under MAX_BODY before a run pushes: a run's pushes fit in it
LOCK_TRIES = 150  # a run waits for another run on the same state file at most LOCK_TRIES * LOCK_POLL seconds
LOCK_POLL = 0.1
DESKS_EVERY = 3600.0  # in --watch, IND's desk lists are asked at most once an hour
HEALTHCHECK_WAIT = 15.0  # a ping gives up after this long
HEALTHCHECK_BODY = 100_000  # characters of a /fail ping's body: the convention allows 100 kB
PUSH_RETRY_WAIT = 5.0  # Pushover: retry a 5xx no sooner than 5 s later
QUOTA_WARN = 0.10
QUOTA_PUSH = 0.05
MESSAGE_LIMIT = 1024  # Pushover's limit for `message`
TITLE_LIMIT = 250
EMERGENCY_RETRY = 60  # seconds between repeats of a priority-2 push (Pushover: >= 30)
EMERGENCY_EXPIRE = 3600  # stop repeating after an hour (Pushover: <= 10800)
HISTORY_DAYS = 30  # points of "earliest slot" history kept per alert, one per Amsterdam day
CHART_DAYS = 42  # the slots-per-day chart covers at most six weeks
CADENCE_DAYS = 7  # the cadence figures cover the last week of checks
MAX_CHECKS = 5040  # check times a Lambda state keeps: a week of checks every 2 minutes
LIFETIME_DAYS = 30  # slot lifetimes are kept for 30 days
MAX_LIFETIMES = 300  # ... and at most this many closed slots
CADENCE_WAIT = 5.0  # seconds the run history (GitHub's Actions API) may take, beside IND's answers
SLOW_EVERY = 7 * 86400  # a push saying the watcher is too slow goes out at most once a week
FAST_GAP = 120  # seconds between checks of a watcher on AWS Lambda or your own machine
MIN_SAMPLE = 5  # slot lifetimes needed before a verdict

PRODUCTS = {
    "DOC": "Collect residence document",
    "BIO": "Biometrics",
    "VAA": "Residence endorsement sticker",
    "TKV": "Return visa",
}
PRODUCT_NAMES = {
    "collect residence document": "DOC",
    "residence document": "DOC",
    "collect residence permit": "DOC",
    "residence permit": "DOC",
    "document": "DOC",
    "biometrics": "BIO",
    "residence endorsement sticker": "VAA",
    "endorsement sticker": "VAA",
    "sticker": "VAA",
    "return visa": "TKV",
}
DESKS = {
    "AM": "IND Amsterdam",
    "DH": "IND Den Haag",
    "ZW": "IND Zwolle",
    "DB": "IND Den Bosch",
    "6b425ff9f87de136a36b813cccf26e23": "IND Haarlem",
    "e1afaa1ca15c1778e972efb79ce63633": "IND Rijswijk (temporary)",
    "87d19bfc2e1b572ac3aab17032ed11dc": "IND Brabanthallen, Den Bosch",
    "fa24ccf0acbc76a7793765937eaee440": "Expatcenter Utrecht",
    "0c127eb6d9fe1ced413d2112305e75f6": "Expatcenter Groningen",
    "6c5280823686521552efe85094e607cf": "Expatcenter Maastricht",
    "b084907207cfeea941cd9698821fd894": "Expatcenter Wageningen",
    "0588ef4088c08f53294eb60bab55c81e": "Expatcenter Eindhoven",
    "5e325f444aeb56bb0270a61b4a0403eb": "Expatcenter Den Haag",
    "f0ef3c8f0973875936329d713a68c5f3": "Expatcenter Rotterdam",
    "3535aca0fb9a2e8e8015f768fb3fa69d": "Expatcenter Enschede",
    "284b189314071dcd571df5bb262a31db": "Expatcenter Amsterdam",
    "0d85a757c13105ba0c26c3d177a7a884": "Expatcenter Nijmegen",
}
RETIRED_DESKS = {"RO": "Expatcenter Rotterdam", "UT": "Expatcenter Utrecht"}
# What people type: city names, English and Dutch forms. A name that fits two desks lists both.
DESK_ALIASES: dict[str, tuple[str, ...]] = {
    "the hague": ("DH", "5e325f444aeb56bb0270a61b4a0403eb"),
    "hague": ("DH", "5e325f444aeb56bb0270a61b4a0403eb"),
    "'s-gravenhage": ("DH", "5e325f444aeb56bb0270a61b4a0403eb"),
    "s-gravenhage": ("DH", "5e325f444aeb56bb0270a61b4a0403eb"),
    "'s-hertogenbosch": ("DB",),
    "s-hertogenbosch": ("DB",),
    "hertogenbosch": ("DB",),
    "den bosch leeghwaterlaan": ("DB",),
    "leeghwaterlaan": ("DB",),
    "brabanthallen": ("87d19bfc2e1b572ac3aab17032ed11dc",),
    "rotterdam": ("f0ef3c8f0973875936329d713a68c5f3",),
    "utrecht": ("fa24ccf0acbc76a7793765937eaee440",),
    "groningen": ("0c127eb6d9fe1ced413d2112305e75f6",),
    "maastricht": ("6c5280823686521552efe85094e607cf",),
    "wageningen": ("b084907207cfeea941cd9698821fd894",),
    "eindhoven": ("0588ef4088c08f53294eb60bab55c81e",),
    "enschede": ("3535aca0fb9a2e8e8015f768fb3fa69d",),
    "nijmegen": ("0d85a757c13105ba0c26c3d177a7a884",),
}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = {
    name: number
    for number, full in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
    for name in (full, full[:3])
}

log = logging.getLogger("ind_alert")
NOTICE = 25  # between INFO and WARNING: shown without -v, not a problem
logging.addLevelName(NOTICE, "NOTICE")


def notice(message: str) -> None:
    log.log(NOTICE, message)


# --------------------------------------------------------------------- errors


class AlertError(Exception):
    """An error with a one-line message that says what to fix, and an exit code."""

    exit_code = 2


class ConfigError(AlertError):
    """alerts.toml, a flag or the environment is wrong (exit 2)."""


class StateError(AlertError):
    """The state could not be read, saved, or reached for a moment: one of the three below."""


class StateUnreadable(StateError):
    """The state (or an s3:// alerts file) is unreadable or not a valid state: left untouched (exit 2)."""


class StateUnsaved(StateError):
    """The state could not be saved, or a save could not be rehearsed: nothing more is pushed (exit 1)."""

    exit_code = 1


class StateOutOfReach(StateError):
    """The state's store cannot be reached for a moment: nothing checked, nothing lost (exit 0, a warning)."""

    exit_code = 0


class Failure(enum.Enum):
    """Why IND could not be checked for an alert or one of its desks; the value is its words (run line, summary)."""

    UNREACHABLE = "IND unreachable"
    WEB_PAGE = "IND sent a web page"
    API_CHANGED = "IND API changed?"
    REFUSED = "IND refused this machine"
    RATE_LIMITED = "IND is rate-limiting"
    UNREADABLE = "IND answer unreadable"
    NOT_OFFERED = "desk does not offer this"
    NONE_OFFERS = "no desk offers this"


class Rejected(enum.Enum):
    """Which secret Pushover called invalid."""

    TOKEN = "token"
    USER = "user"


RETRY_NEXT_RUN = "will retry next run"


class SourceError(AlertError):
    """IND could not be asked or answered nonsense: never read as "no slots".

    status names the cause in the run line and the summary; retry_after is IND's Retry-After, in seconds.
    """

    def __init__(self, message: str, status: Failure = Failure.UNREACHABLE, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class NotifyError(AlertError):
    """A push was not delivered (exit 1). Permanent errors must never be sent again as they were.

    later: a passing failure, tried again next run; its words say so, or what to do now (words).
    """

    exit_code = 1

    def __init__(
        self, message: str, permanent: bool = False, rejected: Rejected | None = None, later: bool = False
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.rejected = rejected  # which secret Pushover called invalid, when it said so
        self.later = later

    def words(self, then: str = RETRY_NEXT_RUN) -> str:
        """The message, and for a passing failure what happens next: retried next run, or `then`."""
        message = str(self.args[0])
        return f"{message}; {then}" if self.later else message

    def __str__(self) -> str:
        return self.words()


def cause(exc: BaseException) -> str:
    """Why something failed, in words for the user: never a Python class name (-v shows the traceback)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, UnicodeError):
        return "not valid text"
    kind = type(exc).__name__  # read, never shown: requests', botocore's and Python's own kinds alike
    if "Timeout" in kind:
        return "no answer in time"
    if "Connection" in kind or "Endpoint" in kind or "SSL" in kind or "Proxy" in kind:
        return "the connection failed"
    if "IncompleteRead" in kind:
        return "the answer was cut short"
    if isinstance(exc, (ValueError, KeyError, TypeError)):
        return "malformed"
    return "an unforeseen failure"


# -------------------------------------------------------------------- records


@dataclass(frozen=True, order=True)
class Slot:
    start: datetime
    end: datetime
    desk: str

    @property
    def id(self) -> str:
        """A slot is known by its desk, date and times: IND's own key may not be stable."""
        return f"{self.desk} {self.start:%Y-%m-%d %H:%M}-{self.end:%H:%M}"

    def label(self) -> str:
        start = self.start.replace(tzinfo=None)  # the same wall clock; strftime skips dateutil's slow DST lookup
        return f"{start:%a} {start.day} {start:%b %H:%M}"


@dataclass(frozen=True)
class Answer:
    """IND's open slots for one query, earliest first.

    complete: every entry in the answer was read. Only a complete answer shows a slot pushed before to be
    gone: an entry that could not be read may be that slot.
    """

    slots: tuple[Slot, ...]
    complete: bool = True


@dataclass(frozen=True)
class Query:
    desk: str
    product: str
    persons: int


@dataclass(frozen=True)
class Kind:
    """What an alert asks IND for besides its desks. IND's slots sit on a fixed grid, so slots of another
    product or number of persons have the same ids: what was pushed is known by the kind it was asked for."""

    product: str
    persons: int


@dataclass(frozen=True)
class Recipient:
    name: str
    pushover_user_env: str | None = None
    apprise_url_env: str | None = None
    only_urgent: bool = False
    per_slot: bool = False  # one message per new slot (a public channel) instead of one digest
    max_messages: int = 10  # per_slot: at most this many messages a run; the last lists the rest

    @property
    def env(self) -> str:
        return self.pushover_user_env or self.apprise_url_env or ""


DEFAULT_RECIPIENT = Recipient("you", pushover_user_env="PUSHOVER_USER")  # when alerts.toml has no [recipients]
LEGACY_RECIPIENT = "default"  # its name in states written before it was "you"


@dataclass(frozen=True)
class Alert:
    name: str
    desk: tuple[str, ...]  # desk keys; () means every desk that offers the product, as IND lists them
    product: str
    persons: int = 1
    days_ahead: int | None = None
    after: date | None = None
    before: date | None = None
    weekdays: frozenset[int] | None = None
    earliest: dtime | None = None
    latest: dtime | None = None
    priority: int = 0
    sound: str | None = None
    notify: tuple[str, ...] = ()
    urgent_within_days: int | None = None
    urgent_priority: int = 1
    blind_after_minutes: int = 60
    booked: date | None = None  # the appointment already held: only slots before it match
    example: bool = False  # the shipped example, not yet edited: a real run refuses it

    def __post_init__(self) -> None:
        if isinstance(self.desk, str):  # one desk, as written in alerts.toml
            object.__setattr__(self, "desk", (self.desk,))

    @property
    def kind(self) -> Kind:
        return Kind(self.product, self.persons)

    @property
    def any_desk(self) -> bool:
        return not self.desk

    @property
    def several(self) -> bool:
        """Whether pushes and the summary name the desk of each slot."""
        return len(self.desk) != 1


@dataclass(frozen=True)
class Config:
    alerts: tuple[Alert, ...]
    recipients: Mapping[str, Recipient]

    def recipients_of(self, alert: Alert) -> list[Recipient]:
        return [self.recipients[name] for name in alert.notify]


@dataclass(frozen=True)
class Push:
    title: str
    message: str
    url: str
    url_title: str
    priority: int = 0
    sound: str | None = None
    tag: str | None = None

    @classmethod
    def about(cls, title: str, message: str, product: str) -> Push:
        """A push about the watcher itself (test, blind, checking again), linking the booking page."""
        url = BOOKING_URL.format(product=product)
        return cls(title[:TITLE_LIMIT], message[:MESSAGE_LIMIT], url, "IND booking page")


@dataclass(frozen=True)
class Emergency:
    """A priority-2 push that repeats until acknowledged; cancelled when its slots are gone."""

    slots: frozenset[str]
    expires: int


@dataclass(frozen=True)
class AlertState:
    sent: Mapping[str, frozenset[str]] = field(default_factory=dict)  # recipient -> slot ids
    emergencies: Mapping[str, Emergency] = field(default_factory=dict)  # tag -> emergency
    failing_since: int | None = None  # unix time of the first failed check in a row
    blind_notified: bool = False  # the blind push went out: to everyone it is for, or to blind_told
    history: Mapping[str, str | None] = field(default_factory=dict)  # Amsterdam day -> earliest matching date
    blind_told: frozenset[str] = frozenset()  # when not everyone: who was told it is blind, not yet it checks again
    asked: Kind | None = None  # the kind sent and emergencies were pushed for; None: the configured one


class Trouble(enum.Enum):
    """What a problem Pushover found is about, and so what a run leaves out."""

    TOKEN = "token"  # the application token: nothing is sent with it this run
    RECIPIENT = "recipient"  # a recipient's key or request: nothing is sent to it this run
    SOUND = "sound"  # an alert's sound: its pushes go out with the default sound


@dataclass(frozen=True)
class Problem:
    """Something Pushover rejected when asked before it was needed; detail never holds a secret's value."""

    kind: Trouble
    subject: str  # the recipient or alert it is about ("" for the token)
    detail: str

    def text(self, run: bool = True) -> str:
        """Its line; run: in a run, where a bad sound is left out of the pushes (not so in --check)."""
        if self.kind is Trouble.RECIPIENT:
            return f"recipient {self.subject}: {self.detail}"
        if self.kind is Trouble.SOUND:
            return f'alert "{self.subject}": {self.detail}' + ("; pushed without it" if run else "")
        return self.detail


@dataclass(frozen=True)
class Validation:
    """What Pushover said of the secrets and sounds, remembered without anything a secret can be guessed from."""

    fingerprint: str  # keyed hash of the secrets and sounds, with a random key kept beside it
    key: str
    day: str  # Amsterdam day of the check: at most one check per day for the same secrets
    problems: tuple[Problem, ...] = ()  # what Pushover rejected, in words that name no value


@dataclass(frozen=True)
class Unreached:
    """A recipient every push to which has failed since a time: blind, like an IND outage, after a while."""

    since: int  # unix time of the first failed push in a row
    told: frozenset[str] = frozenset()  # the other recipients told that it is not reached


@dataclass(frozen=True)
class Sighting:
    """One slot of a watched desk and product: when it was first seen and when first seen gone (unix times).

    Its start lies between before and seen, its end between last and gone: the checks around each sighting.
    """

    product: str
    slot: str  # slot id, desk first
    seen: int
    before: int | None = None  # the check before the first sighting; None: open at the desk's first check
    last: int | None = None  # the last check that saw it, when known
    gone: int | None = None  # the first check that found it gone; None: still open

    @property
    def desk(self) -> str:
        return self.slot.split(" ")[0]


@dataclass(frozen=True)
class Lifetimes:
    """How long slots stay open: the watched desks (product and desk key -> since when) and their slots."""

    watched: Mapping[str, int] = field(default_factory=dict)  # "BIO AM" -> first check that tracked it
    slots: tuple[Sighting, ...] = ()
    warned: int | None = None  # when the "too slow" push last went out


@dataclass(frozen=True)
class State:
    alerts: Mapping[str, AlertState] = field(default_factory=dict)
    repository: str | None = None
    quota_notified: int | None = None  # X-Limit-App-Reset of the quota period already warned about
    validated: Validation | None = None
    quota_told: frozenset[str] = frozenset()  # when not everyone was warned about that period: who was
    unreached: Mapping[str, Unreached] = field(default_factory=dict)  # recipient -> since when no push reached it
    lifetimes: Lifetimes = field(default_factory=Lifetimes)
    checks: tuple[int, ...] = ()  # on AWS Lambda: the last week's check times, oldest first


def told(notified: bool, names: frozenset[str], everyone: set[str]) -> set[str]:
    """Who got a notice, as the state keeps it: nobody, the names kept, or (none kept) everyone it is for."""
    return set(names or everyone) if notified else set()


def told_record(reached: set[str], everyone: set[str]) -> tuple[bool, frozenset[str]]:
    """How the state keeps who got a notice: whether anyone did, and who when that is not everyone."""
    reached = reached & everyone  # a recipient no longer configured is not waited for
    if everyone <= reached:
        return True, frozenset()
    return bool(reached), frozenset(reached)


# ------------------------------------------------------------------ lines out


class Redact(logging.Filter):
    """Replace every known secret in log records, as a last line of defence."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({*self.secrets, *(s for s in secrets if len(s) >= 4)}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.scrub(record.getMessage())
        record.args = None
        return True

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def clip(self, text: str, limit: int) -> str:
        """Scrub, then cut to limit characters, hiding a secret's beginning that the cut (ours or another's) left."""
        text = self.scrub(text)[:limit]
        for secret in self.secrets:
            for size in range(min(len(secret) - 1, len(text)), 3, -1):
                if text.endswith(secret[:size]):
                    return text[:-size] + "***"
        return text


def redactor() -> Redact:
    """This process's secrets: the filter setup_logging put on the log's handler. Every line that leaves, on
    stderr, stdout, the summary or the healthcheck, goes through it."""
    found = (f for handler in log.handlers for f in handler.filters if isinstance(f, Redact))
    return next(found, None) or Redact(())


CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")  # terminal escapes, bidi
COMMAND = re.compile(r"(^|\r)(\s*):(?=:)", re.MULTILINE)  # a line starting "::" is a GitHub workflow command


def clean(text: str) -> str:
    """Text from outside (IND, alerts.toml, error bodies) made safe to print: no terminal escapes, and no
    line that GitHub Actions would run as a workflow command (::stop-commands:: would hide every error)."""
    return COMMAND.sub(r"\1\2: ", CONTROL.sub("?", text))


def one_line(text: str) -> str:
    """A line break in outside text (an alert or desk name) shown as a space: it never forges a line."""
    return text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")


def clip(text: str, limit: int) -> str:
    return redactor().clip(text, limit)


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def stamping() -> bool:
    """--watch or IND_ALERT_STAMP=1 (a cron log): lines start with the Amsterdam time; GitHub adds its own.
    The log handler's Formatter keeps it, for stdout's lines too."""
    return any(isinstance(h.formatter, Formatter) and h.formatter.stamp for h in log.handlers)


def stamped(line: str) -> str:
    return f"{datetime.now(AMSTERDAM):%Y-%m-%d %H:%M:%S} {line}" if stamping() else line


def say(text: str) -> None:
    """Print a line on stdout, scrubbed and cleaned like the log; a closed stdout is not an error."""
    with contextlib.suppress(OSError, ValueError):
        print(stamped(clean(one_line(redactor().scrub(text)))), flush=True)


class Formatter(logging.Formatter):
    """Plain lines; in GitHub Actions warnings and errors become annotations."""

    def __init__(self, github: bool, stamp: bool = False) -> None:
        super().__init__()
        self.github = github
        self.stamp = stamp  # every line starts with the Amsterdam time (stamping)

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno > logging.DEBUG and not self.github:  # a traceback (-v) keeps its lines; an
            message = one_line(message)  # annotation escapes them
        message = clean(message)
        if record.levelno < NOTICE:
            return stamped(message)
        level = {NOTICE: "notice", logging.WARNING: "warning"}.get(record.levelno, "error")
        if self.github:
            escaped = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            return f"::{level}::{escaped}"
        return stamped(f"{level}: {message}")


def is_secret_var(name: str) -> bool:
    return name.startswith(("PUSHOVER_", "AWS_SECRET", "AWS_SESSION", "AWS_ACCESS_KEY")) or name.endswith(
        ("_URL", "_TOKEN", "_KEY")
    )


def setup_logging(verbose: bool, env: Mapping[str, str]) -> Redact:
    redact = Redact(v for k, v in env.items() if is_secret_var(k))
    handler = logging.StreamHandler(sys.stderr)
    # --watch stamps its lines too when it starts (stamp_lines)
    handler.setFormatter(Formatter(env.get("GITHUB_ACTIONS") == "true", env.get("IND_ALERT_STAMP") == "1"))
    handler.addFilter(redact)
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG if verbose else NOTICE)
    return redact


# -------------------------------------------------------------- config values


def suggest(word: str, choices: Iterable[str]) -> str:
    near = difflib.get_close_matches(word, list(choices), n=1)
    return f' (did you mean "{near[0]}"?)' if near else ""


def reject_unknown(table: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    allowed = sorted(allowed)
    for key in table:
        if key not in allowed:
            raise ConfigError(f'{where}: unknown key "{key}"{suggest(key, allowed)}')


DESK_CUTOFF = 0.8  # difflib's 0.6 offers "eindhoven" for "Leiden": a wrong city is worse than none


def near_desk(wanted: str) -> str:
    """A desk whose name is close to what was typed, spelt as IND spells it ("" when none is close)."""
    forms: dict[str, str] = {}
    for name in DESKS.values():
        for form in (name, name.removeprefix("IND ")):
            forms.setdefault(form.casefold(), form)
    for alias, keys in DESK_ALIASES.items():
        if len(keys) == 1:
            forms.setdefault(alias, DESKS[keys[0]])
    near = difflib.get_close_matches(wanted, list(forms), n=1, cutoff=DESK_CUTOFF)
    return f' (did you mean "{forms[near[0]]}"?)' if near else ""


def resolve_desk(value: str, where: str) -> str:
    wanted = " ".join(value.strip().casefold().replace("expat center", "expatcenter").split())
    if re.fullmatch(r"[0-9a-f]{32}", wanted):  # a desk IND lists that the table lacks: checked against IND's list
        return wanted
    if wanted in DESK_ALIASES:
        keys = DESK_ALIASES[wanted]
        if len(keys) > 1:
            either = " or ".join(f'"{DESKS[k]}"' for k in keys)
            raise ConfigError(f'{where}: desk "{value.strip()}" could be {either}: write which one')
        return keys[0]
    for key, name in DESKS.items():
        names = {key.casefold(), name.casefold(), name.casefold().removeprefix("ind ")}
        if wanted in names:
            return key
    if value.upper() in RETIRED_DESKS:
        raise ConfigError(f'{where}: desk "{value}" is retired; use "{RETIRED_DESKS[value.upper()]}"')
    raise ConfigError(f'{where}: unknown desk "{value}"{near_desk(wanted)}; run --list-desks')


def resolve_desks(value: Any, where: str) -> tuple[str, ...]:
    """desk = "Den Haag", a list of desks, or "any" (every desk IND lists for the product: the empty tuple)."""
    if isinstance(value, str) and value.strip().casefold() == "any":
        return ()
    if isinstance(value, str) and value.strip():
        return (resolve_desk(value, where),)
    if value == []:
        raise ConfigError(f'{where}: the desk list is empty: name at least one desk, or use desk = "any"')
    if not isinstance(value, list):
        raise ConfigError(f'{where}: desk must name a desk, a list of desks like ["Amsterdam", "Den Haag"], or "any"')
    desks: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(f"{where}: every desk in the list must be a desk name in quotes")
        key = resolve_desk(item, where)
        if key in desks:
            raise ConfigError(f'{where}: desk "{item.strip()}" is listed twice')
        desks.append(key)
    return tuple(desks)


def resolve_product(value: str, where: str) -> str:
    if value.upper() in PRODUCTS:
        return value.upper()
    if value.strip().casefold() in PRODUCT_NAMES:
        return PRODUCT_NAMES[value.strip().casefold()]
    choices = [*PRODUCTS, *PRODUCT_NAMES]
    raise ConfigError(f'{where}: unknown product "{value}"{suggest(value, choices)}; use DOC, BIO, VAA or TKV')


def toml_kind(value: Any) -> str:
    kinds = [(bool, "true/false"), (int, "a number"), (float, "a number"), (str, "text"), (list, "a list")]
    kinds += [(dict, "a table"), (datetime, "a date-time"), (date, "a date"), (dtime, "a time")]
    return next((name for kind, name in kinds if isinstance(value, kind)), "this value")


def _typed(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        # Name the kind, not the value: a recipient's value may be a secret pasted in the wrong place.
        raise ConfigError(f"{where}: {key} must be {what}, not {toml_kind(value)}")
    return value


URGENT_HINT = ": for a push that repeats until acknowledged, set urgent_priority = 2 with urgent_within_days"


def _int(table: Mapping[str, Any], key: str, where: str, low: int, high: int) -> int | None:
    value = table.get(key)
    if isinstance(value, float):  # shown as written: "not 1.5" says what is wrong, "not a number" does not
        raise ConfigError(f"{where}: {key} must be a whole number from {low} to {high}, not {value}")
    if isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]+", value.strip()):
        raise ConfigError(f'{where}: {key} = "{value}" is in quotes: remove the quotes ({key} = {value.strip()})')
    value = _typed(table, key, int, where, f"a whole number from {low} to {high}")
    if value is not None and not low <= value <= high:
        hint = URGENT_HINT if key == "priority" and value == 2 else ""
        raise ConfigError(f"{where}: {key} must be a whole number from {low} to {high}, not {value}{hint}")
    return value  # type: ignore[no-any-return]


def _int_or(default: int, table: Mapping[str, Any], key: str, where: str, low: int, high: int) -> int:
    value = _int(table, key, where, low, high)
    return default if value is None else value


def _clock(table: Mapping[str, Any], key: str, where: str) -> dtime | None:
    value = table.get(key)
    if value is None or isinstance(value, dtime):  # "09:30" in quotes, or a TOML time like 09:30:00
        return None if value is None else value.replace(tzinfo=None)
    value = _typed(table, key, str, where, 'a time like "09:30"')
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ConfigError(f'{where}: {key} must be a time like "09:30", not "{value}"')
    return dtime(int(match[1]), int(match[2]))


LAST_DATE = date(2100, 1, 1)


def _date(table: Mapping[str, Any], key: str, where: str) -> date | None:
    value = table.get(key)
    if isinstance(value, date) and not isinstance(value, datetime) and value >= LAST_DATE:
        # IND books months ahead; a date near the calendar's end would overflow every date computed from it.
        raise ConfigError(f"{where}: {key} must be a date before {LAST_DATE}, not {value}")
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, datetime):
        raise ConfigError(f"{where}: {key} must be a date without a time: write {key} = {value:%Y-%m-%d}")
    shown = f'"{value}"' if isinstance(value, str) else toml_kind(value)
    raise ConfigError(f"{where}: {key} must be a TOML date like 2026-12-01 (no quotes), not {shown}")


# --------------------------------------------------------------------- config


ALERT_KEYS = tuple(f.name for f in dataclasses.fields(Alert))  # the file's keys are the record's fields
RECIPIENT_KEYS = tuple(f.name for f in dataclasses.fields(Recipient) if f.name != "name")


def parse_alert(table: Mapping[str, Any], where: str, recipients: Mapping[str, Recipient]) -> Alert:
    reject_unknown(table, ALERT_KEYS, where)
    for key in ("name", "desk", "product"):
        if table.get(key) is None or (isinstance(table[key], str) and not table[key].strip()):
            raise ConfigError(f"{where}: {key} is required (see README)")
    for key in ("name", "product"):
        if not isinstance(table[key], str):
            raise ConfigError(f"{where}: {key} must be text in quotes")
    weekdays = _typed(table, "weekdays", list, where, 'a list like ["mon", "fri"]')
    if weekdays == []:
        raise ConfigError(f'{where}: the weekdays list is empty: name a day like "mon", or leave weekdays out')
    if weekdays is not None:
        for day in weekdays:
            if not isinstance(day, str) or day.strip().casefold() not in DAY_NAMES:
                shown = f'"{day}"' if isinstance(day, str) else toml_kind(day)
                raise ConfigError(f'{where}: weekdays must name days like "mon" or "friday", not {shown}')
    notify = _typed(table, "notify", list, where, 'a list of recipient names like ["me"]')
    if notify is not None:
        if not notify:
            raise ConfigError(f"{where}: notify is empty: name at least one recipient")
        for name in notify:
            if not isinstance(name, str) or name not in recipients:
                raise ConfigError(f'{where}: notify names unknown recipient "{name}"{suggest(str(name), recipients)}')
    alert = Alert(
        name=table["name"].strip(),
        desk=resolve_desks(table["desk"], where),
        product=resolve_product(table["product"], where),
        persons=_int_or(1, table, "persons", where, 1, MAX_PERSONS),
        days_ahead=_int(table, "days_ahead", where, 0, 3650),
        after=_date(table, "after", where),
        before=_date(table, "before", where),
        weekdays=None if weekdays is None else frozenset(DAY_NAMES[d.strip().casefold()] for d in weekdays),
        earliest=_clock(table, "earliest", where),
        latest=_clock(table, "latest", where),
        priority=_int_or(0, table, "priority", where, -2, 1),
        sound=_typed(table, "sound", str, where, "a Pushover sound name"),
        notify=tuple(notify) if notify is not None else tuple(recipients),
        urgent_within_days=_int(table, "urgent_within_days", where, 0, 365),
        urgent_priority=_int_or(1, table, "urgent_priority", where, -2, 2),
        blind_after_minutes=_int_or(60, table, "blind_after_minutes", where, 1, 10080),
        booked=_date(table, "booked", where),
        example=bool(_typed(table, "example", bool, where, "true or false")),
    )
    if alert.after and alert.before and alert.after > alert.before:
        raise ConfigError(f"{where}: after ({alert.after}) is later than before ({alert.before})")
    if alert.after and alert.booked and alert.after >= alert.booked:
        raise ConfigError(f"{where}: after ({alert.after}) is not before booked ({alert.booked}): no slot could match")
    if alert.earliest and alert.latest and alert.earliest > alert.latest:
        raise ConfigError(f"{where}: earliest ({alert.earliest:%H:%M}) is later than latest ({alert.latest:%H:%M})")
    return alert


OWN_SECRETS = ("PUSHOVER_TOKEN", "HEALTHCHECK_URL", "GITHUB_TOKEN")  # and AWS_*: never sent to a recipient


def parse_recipient(name: str, table: Any, where: str) -> Recipient:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table with pushover_user_env or apprise_url_env")
    reject_unknown(table, RECIPIENT_KEYS, where)
    pushover = _typed(table, "pushover_user_env", str, where, "the name of an environment variable")
    apprise = _typed(table, "apprise_url_env", str, where, "the name of an environment variable")
    if (pushover is None) == (apprise is None):
        raise ConfigError(f"{where}: set exactly one of pushover_user_env or apprise_url_env")
    if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", pushover or apprise or ""):
        # Never echo the value: it may be a key or URL pasted here by mistake.
        raise ConfigError(
            f"{where}: name an environment variable in capitals (like PUSHOVER_USER_PARTNER), not the secret itself"
        )
    var = pushover or apprise or ""
    if var in OWN_SECRETS or var.startswith("AWS_"):
        raise ConfigError(f"{where}: {var} is one of ind-alert's own secrets: name this recipient's own variable")
    only_urgent = _typed(table, "only_urgent", bool, where, "true or false")
    per_slot = _typed(table, "per_slot", bool, where, "true or false")
    max_messages = _int(table, "max_messages", where, 1, 100)
    if max_messages is not None and not per_slot:
        raise ConfigError(f"{where}: max_messages only applies with per_slot = true")
    return Recipient(name, pushover, apprise, bool(only_urgent), bool(per_slot), max_messages or 10)


def parse_config(doc: Mapping[str, Any], source: str = DEFAULT_CONFIG) -> Config:
    """Build a Config from parsed TOML. Unknown keys anywhere are errors."""
    reject_unknown(doc, ("alert", "defaults", "recipients"), source)
    raw_recipients = doc.get("recipients", {})
    if not isinstance(raw_recipients, dict):
        raise ConfigError(f"{source}: recipients must be tables like [recipients.me]")
    recipients = {
        name: parse_recipient(name, table, f"{source} [recipients.{name}]") for name, table in raw_recipients.items()
    } or {DEFAULT_RECIPIENT.name: DEFAULT_RECIPIENT}
    defaults = doc.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ConfigError(f"{source}: defaults must be a table: [defaults]")
    reject_unknown(defaults, [k for k in ALERT_KEYS if k != "name"], f"{source} [defaults]")
    # Checked on their own, so a bad value in [defaults] is reported there, not against every alert.
    parse_alert({"name": "defaults", "desk": "AM", "product": "DOC", **defaults}, f"{source} [defaults]", recipients)
    raw_alerts = doc.get("alert", [])
    if isinstance(raw_alerts, dict):
        raise ConfigError(f"{source}: write [[alert]] with two brackets on each side; [alert] makes a single table")
    if not isinstance(raw_alerts, list) or not raw_alerts:
        raise ConfigError(f"{source}: no alerts: add an [[alert]] with name, desk and product (see README)")
    alerts: list[Alert] = []
    for number, table in enumerate(raw_alerts, 1):
        where = f"{source} alert {number}"
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: must be a table: [[alert]]")
        if isinstance(table.get("name"), str):
            where = f'{source} alert "{table["name"]}"'
        alert = parse_alert({**defaults, **table}, where, recipients)
        if any(a.name == alert.name for a in alerts):
            raise ConfigError(f'{where}: name "{alert.name}" is used twice; alert names must be unique')
        alerts.append(alert)
    return Config(tuple(alerts), recipients)


def legacy_desks(config: Config) -> dict[str, str]:
    """Each alert's desk: a version-1 state's slot ids, which name no desk, belong to it."""
    return {a.name: a.desk[0] for a in config.alerts if a.desk}


class NotAFile(Exception):
    """A path that names a folder, a pipe or a device: reading it could wait for ever or never end."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


FILE_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_file(path: Path, limit: int = MAX_BODY) -> bytes:
    """At most limit + 1 bytes of a regular file (more than limit: the file is too large).

    Anything else is NotAFile, found without reading or waiting: a named pipe is opened non-blocking and a
    link to /dev/zero is looked at, not read. FileNotFoundError and other OSErrors pass to the caller.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # Windows has no named pipes to wait on
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotAFile(next((kind for test, kind in FILE_KINDS if test(mode)), "not a regular file"))
    with os.fdopen(fd, "rb") as file:
        return file.read(limit + 1)


UTF8_BOM = b"\xef\xbb\xbf"  # Windows Notepad's "UTF-8 with BOM": TOML has no place for it, so it is skipped


def config_text(data: bytes, path: str) -> str:
    """The alerts file's text: UTF-8, with or without a byte-order mark; anything else is named as such."""
    try:
        text = data.removeprefix(UTF8_BOM).decode("utf-8")
    except UnicodeDecodeError:
        text = "\x00"
    if "\x00" in text or text.startswith("\ufeff"):  # UTF-16 (a NUL in every other byte), or a second mark
        raise ConfigError(
            f"{path} is not saved as UTF-8 (it looks like UTF-16 or Latin-1): save it as UTF-8 in your editor"
        )
    return text


# ---------------------------------------------------------- waiting on others


def shut_socket(sock: Any) -> None:
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def shut(response: requests.Response) -> None:
    """End a read another thread is blocked in: the socket is shut down, so its recv returns at once.

    The socket is the connection's, or, once http.client has handed it to the answer (a server that
    closes after answering), the answer's own file's.
    """
    connection = getattr(response.raw, "_connection", None)
    body = getattr(getattr(getattr(response.raw, "_fp", None), "fp", None), "raw", None)
    for sock in (getattr(connection, "sock", None), getattr(body, "_sock", None)):
        shut_socket(sock)


READING = threading.local()  # .watch: what this thread's requests tell their socket to (Deadline.reading)


class Deadline:
    """One end time for everything a run waits on, so no server can hold a run open.

    A run makes one and hands it, or parts of it (part), to every wait. It also knows the answers being
    read under it (holding), so giving up ends those reads (abort): a server that drips its answer leaves
    no thread and no open socket behind.
    """

    def __init__(self, seconds: float, parent: Deadline | None = None) -> None:
        self.seconds = seconds  # as asked, for the words: "did not answer within 50 s"
        self.end = time.monotonic() + seconds
        if parent is not None:  # a part never outlasts what it is a part of
            self.end = min(self.end, parent.end)
        self.answers: set[requests.Response] = set()
        self.sockets: set[Any] = set()
        self.given_up = False
        self.guard = threading.Lock()

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def timeout(self) -> tuple[float, float]:
        """A requests timeout (connect, read) that never reaches past the deadline."""
        left = max(self.left(), 0.01)
        return min(CONNECT_TIMEOUT, left), min(READ_TIMEOUT, left)

    def part(self, most: float, share: float = 1.0, keep: float = 0.0) -> Deadline:
        """A deadline inside this one: at most `most` seconds and `share` of what is left, less the last
        `keep` seconds (kept for other work). Giving it up (abort) ends only what is read under the part."""
        return Deadline(min(most, self.left() * share - keep), self)

    @contextlib.contextmanager
    def holding(self, response: requests.Response) -> Iterator[requests.Response]:
        """Read a response under this deadline: abort() (or a deadline already passed) ends the read."""
        with self.guard:
            self.answers.add(response)
        try:
            if self.left() <= 0:
                shut(response)
            yield response
        finally:
            with self.guard:
                self.answers.discard(response)

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Requests this thread makes meanwhile (on a watched_session) tell this deadline their socket
        before they wait for the answer's first line, so abort() ends even an answer whose head drips."""
        mine: list[Any] = []

        def watch(sock: Any) -> None:
            with self.guard:
                self.sockets.add(sock)
                mine.append(sock)
                given_up = self.given_up
            if given_up:
                shut_socket(sock)

        saved, READING.watch = getattr(READING, "watch", None), watch
        try:
            yield
        finally:
            READING.watch = saved
            with self.guard:
                self.sockets.difference_update(mine)

    def abort(self) -> None:
        """Give up: every answer still being read under this deadline is cut off."""
        with self.guard:
            self.given_up = True
            answers, sockets = list(self.answers), list(self.sockets)
        for response in answers:
            shut(response)
        for sock in sockets:
            shut_socket(sock)


class TimedOut(Exception):
    """The deadline passed while waiting on another service."""


BOUND = threading.local()  # .deadline: the deadline a within thread runs its call under


def within(deadline: Deadline, call: Callable[[], Any]) -> Any:
    """Run a call that waits on another service, giving up when the deadline passes.

    The call runs on a daemon thread: a server that drips a byte at a time cannot hold the run (or the
    process) open. Its exception, if any, is raised here. Giving up aborts what the call reads under the
    deadline (Deadline.holding), so its thread ends too. A call made on a thread that within already runs
    under this same deadline runs right there: the wait that started that thread gives up for both.
    """
    if deadline.left() <= 0:
        raise TimedOut
    if getattr(BOUND, "deadline", None) is deadline:
        return call()
    box: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()

    def run() -> None:
        BOUND.deadline = deadline
        try:
            box.put((True, call()))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            box.put((False, exc))

    threading.Thread(target=run, daemon=True).start()
    try:
        ok, value = box.get(timeout=deadline.left())
    except queue.Empty:
        deadline.abort()
        raise TimedOut from None
    if not ok:
        raise value
    return value


def tell_reading(sock: Any) -> None:
    """Hand a socket about to wait for an answer to the thread's reading deadline (Deadline.reading), if any."""
    if (watch := getattr(READING, "watch", None)) is not None:
        watch(sock)


class WatchedHTTP(urllib3.connection.HTTPConnection):
    """A connection that tells the thread's reading deadline its socket before it waits for an answer."""

    def getresponse(self) -> urllib3.response.HTTPResponse:  # type: ignore[override]  # as urllib3 declares it
        tell_reading(self.sock)
        return super().getresponse()


class WatchedHTTPS(urllib3.connection.HTTPSConnection):
    def getresponse(self) -> urllib3.response.HTTPResponse:  # type: ignore[override]  # as urllib3 declares it
        tell_reading(self.sock)
        return super().getresponse()


class WatchedPool(urllib3.HTTPConnectionPool):
    ConnectionCls = WatchedHTTP


class WatchedTLSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPS


class WatchedAdapter(requests.adapters.HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": WatchedPool, "https": WatchedTLSPool}


def watched_session() -> requests.Session:
    """A Session whose requests can be cut off by the Deadline they are read under (Deadline.reading)."""
    session = requests.Session()
    adapter = WatchedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class TooLarge(Exception):
    """An answer larger than MAX_BODY bytes (decompressed)."""


def read_body(response: requests.Response, limit: int = MAX_BODY) -> str:
    """The body of a streamed response, refused past limit bytes after decompression (a gzip bomb)."""
    chunks, size = [], 0
    for chunk in response.iter_content(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks).decode(response.encoding or "utf-8", errors="replace")


# ---------------------------------------------------------------- IND answers


XSSI_PREFIX = re.compile(r"^\)\]\}',?\s*")  # Angular's anti-XSSI prefix, tolerated when absent
IND_HEADERS = {"Accept": "application/json", "oap-locale": "en", "User-Agent": USER_AGENT}
API_CHANGED = Failure.API_CHANGED
CHANGED_HINT = "IND may have changed its API (see README, Troubleshooting)"


def ind_data(body: str) -> list[Any]:
    """The `data` list of an IND answer; anything but an OK envelope is a SourceError."""
    text = XSSI_PREFIX.sub("", body.lstrip("\ufeff"), count=1)
    if text.lstrip().startswith("<"):
        raise SourceError(
            "IND answered with a web page instead of data (maintenance, or a block page for this machine)",
            Failure.WEB_PAGE,
        )
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise SourceError(f"IND answered something that is not JSON; {CHANGED_HINT}", API_CHANGED) from None
    if not isinstance(doc, dict) or doc.get("status") != "OK":
        status = doc.get("status") if isinstance(doc, dict) else None
        detail = next((doc[k] for k in ("errorCode", "error") if isinstance(doc, dict) and k in doc), None)
        error = f" ({clip(str(detail), 60)})" if detail is not None else ""
        raise SourceError(f"IND answered status {clip(str(status), 40)}{error} instead of OK", API_CHANGED)
    data = doc.get("data")
    if not isinstance(data, list):
        raise SourceError(f"IND's answer has no data list; {CHANGED_HINT}", API_CHANGED)
    return data


IND_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
IND_CLOCK = re.compile(r"[0-9]{2}:[0-9]{2}")


def ind_day(value: Any) -> date:
    """A date exactly as IND writes it (YYYY-MM-DD): Python 3.11+ would also read other ISO forms."""
    if not isinstance(value, str) or not IND_DAY.fullmatch(value):
        raise ValueError("not an IND date")
    return date.fromisoformat(value)


def ind_clock(value: Any) -> dtime:
    """A time exactly as IND writes it (HH:MM): never "08:15Z" or "11:00:30", on every Python."""
    if not isinstance(value, str) or not IND_CLOCK.fullmatch(value):
        raise ValueError("not an IND time")
    return dtime.fromisoformat(value)


def parse_slots(body: str, desk: str, where: str = "") -> Answer:
    """The open slots in an IND answer, earliest first.

    A malformed slot is skipped with a warning, not allowed to hide the valid ones beside it, and makes the
    answer incomplete; an answer in which no slot is valid is a SourceError, never "no slots".
    """
    data = ind_data(body)
    slots, valid = set(), 0
    for item in data:
        try:
            day, start, end = ind_day(item["date"]), ind_clock(item["startTime"]), ind_clock(item["endTime"])
        except (KeyError, TypeError, ValueError):
            continue
        slots.add(Slot(datetime.combine(day, start, AMSTERDAM), datetime.combine(day, end, AMSTERDAM), desk))
        valid += 1
    if data and not slots:
        raise SourceError(f"IND's answer has no slot with a valid date and time; {CHANGED_HINT}", API_CHANGED)
    if skipped := len(data) - valid:
        log.warning(f"IND's answer{where} had {plural(skipped, 'malformed slot')}, skipped; {CHANGED_HINT}")
    return Answer(tuple(sorted(slots)), complete=not skipped)


def retry_after(response: requests.Response) -> float | None:
    """IND's Retry-After in seconds (a number or an HTTP date), at most an hour."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():  # "²" is a digit to str.isdigit, not to float()
        return min(float(value), 3600.0)
    with contextlib.suppress(TypeError, ValueError, OverflowError):
        from email.utils import parsedate_to_datetime

        return min(max((parsedate_to_datetime(value).timestamp() - time.time()), 0.0), 3600.0)
    return None


def refusal(response: requests.Response) -> SourceError:
    """An HTTP error from IND, named by its likely cause: a block, rate limiting, an outage or a changed API."""
    code = response.status_code
    if code == 403:
        return SourceError("IND refused this machine (HTTP 403)", Failure.REFUSED, retry_after(response))
    if code == 429:
        return SourceError("IND is rate-limiting this machine (HTTP 429)", Failure.RATE_LIMITED, retry_after(response))
    if code >= 500:
        return SourceError(f"IND answered HTTP {code} (an outage on their side)")
    return SourceError(f"IND answered HTTP {code}; {CHANGED_HINT}", API_CHANGED)


# ----------------------------------------------------------------- IND client


def ind_get(session: requests.Session, url: str, params: Mapping[str, str | int], deadline: Deadline) -> str:
    """GET an IND resource, retrying once after a connection error or 5xx, both under the deadline."""
    for attempt in (1, 2):
        try:
            with (
                deadline.reading(),
                session.get(url, params=params, headers=IND_HEADERS, timeout=deadline.timeout(), stream=True) as got,
                deadline.holding(got) as response,
            ):
                if response.status_code >= 500 and attempt == 1:
                    continue
                if response.status_code != 200:
                    raise refusal(response)
                return read_body(response)
        except requests.exceptions.SSLError:
            # Never turn verification off: a proxy or a wrong clock is the usual cause.
            raise SourceError("IND's TLS certificate could not be verified (check the clock or proxy)") from None
        except TooLarge:
            raise SourceError(
                f"IND's answer is larger than {MAX_BODY // 1_000_000} MB; {CHANGED_HINT}", Failure.UNREADABLE
            ) from None
        except requests.RequestException as exc:
            if attempt == 1 and deadline.left() > 0:
                continue
            # The text only tells a dropped connection from no connection at all; it is never shown.
            if isinstance(exc, requests.Timeout):
                what = "timed out"
            elif isinstance(exc, requests.ConnectionError) and "aborted" in str(exc).lower():
                what = "reset the connection"
            else:
                what = "could not be reached"
            raise SourceError(f"IND {what}") from None
    raise AssertionError("unreachable")


def fetch_slots(session: requests.Session, base_url: str, query: Query, deadline: Deadline) -> Answer:
    # No slash before "?": the /slots/? form stopped working in August 2024.
    url = f"{base_url}/desks/{query.desk}/slots"
    body = ind_get(session, url, {"productKey": query.product, "persons": query.persons}, deadline)
    return parse_slots(body, query.desk, f" for {DESKS.get(query.desk, query.desk)} ({query.product})")


FetchResult = Answer | SourceError
Desks = list[tuple[str, str]]  # (key, name) of the desks IND lists for a product


def unreadable(exc: BaseException) -> SourceError:
    """Any other failure of one query: that query's failure, told in one honest line."""
    return SourceError(f"IND's answer could not be read ({cause(exc)})", Failure.UNREADABLE)


def fetch_desks(session: requests.Session, base_url: str, product: str, deadline: Deadline) -> Desks:
    """The desks that offer a product now, as IND lists them: (key, name), by key."""
    data = ind_data(ind_get(session, f"{base_url}/desks/", {"productKey": product}, deadline))
    desks = []
    for item in data:
        key, name = (item.get("key"), item.get("name")) if isinstance(item, dict) else (None, None)
        if not isinstance(key, str) or not re.fullmatch(DESK_KEY, key) or not isinstance(name, str):
            raise SourceError(f"IND's desk list was not in the expected shape; {CHANGED_HINT}", API_CHANGED)
        desks.append((key, clean(name).strip()[:80] or key))
    return sorted(desks)


def fetch_all(
    base_url: str,
    queries: Sequence[Any],
    *,
    deadline: Deadline,
    fetch: Callable[[requests.Session, str, Any, Deadline], Any] = fetch_slots,
    workers: int = MAX_PARALLEL,
) -> dict[Any, Any]:
    """Ask IND once per distinct query, a few at a time, and give up on what is unanswered at the deadline
    (a part of the run's: giving up on it aborts what is still being read under it, and nothing else).

    A query is a Query (its slots, by fetch_slots) or a product (its desks, with fetch=fetch_desks). Every
    failure of a query, whatever it is, becomes that query's SourceError: the others go on. Worker threads
    are daemons so that a request IND never answers cannot hold the run open.
    """
    queries = list(dict.fromkeys(queries))
    todo: queue.SimpleQueue[Any] = queue.SimpleQueue()
    for query in queries:
        todo.put(query)
    done: queue.SimpleQueue[tuple[Any, Any]] = queue.SimpleQueue()
    stop, until = threading.Event(), deadline

    def work() -> None:
        with watched_session() as session:
            while not stop.is_set():
                try:
                    query = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    done.put((query, fetch(session, base_url, query, until)))
                except SourceError as exc:
                    done.put((query, exc.with_traceback(None)))  # its frames hold the answer read so far
                except Exception as exc:  # noqa: BLE001 - one bad answer affects one query
                    done.put((query, unreadable(exc)))

    for _ in range(min(workers, len(queries))):
        threading.Thread(target=work, daemon=True).start()
    results: dict[Any, Any] = {}
    try:
        while len(results) < len(queries):
            query, result = done.get(timeout=until.left())
            results[query] = result
    except queue.Empty:
        until.abort()  # what is still being read ends now: no thread or socket outlives the run
    finally:
        stop.set()
    for query in queries:
        results.setdefault(query, SourceError(f"IND did not answer within {until.seconds:g} s"))
    return results


def list_desks(base_url: str, product: str, deadline: Deadline) -> Desks:
    """fetch_desks for one product, on its own (--list-desks), in what is left of the deadline."""
    result = fetch_all(base_url, [product], fetch=fetch_desks, deadline=deadline.part(deadline.left()))
    if isinstance(result[product], SourceError):
        raise result[product]
    return result[product]  # type: ignore[no-any-return]


def desk_name(desk: str, names: Mapping[str, str]) -> str:
    """A desk's name as IND lists it when it answered, else from the bundled table."""
    return names.get(desk) or DESKS.get(desk) or desk


def short_desk(desk: str, names: Mapping[str, str]) -> str:
    return desk_name(desk, names).removeprefix("IND ")


def capped_desks(alert: Alert, keys: Sequence[str]) -> tuple[str, ...]:
    """At most MAX_ANY_DESKS of the desks IND lists: the ones ind-alert knows first, then by key."""
    if len(keys) <= MAX_ANY_DESKS:
        return tuple(keys)
    log.warning(
        f'{alert.name}: IND lists {len(keys)} desks for {PRODUCTS[alert.product].lower()}; desk = "any" checks'
        f" at most {MAX_ANY_DESKS}, so {len(keys) - MAX_ANY_DESKS} are not checked: name the desks you want"
        " (--list-desks)"
    )
    return tuple(sorted(keys, key=lambda key: (key not in DESKS, key))[:MAX_ANY_DESKS])


@dataclass
class DeskLists:
    """IND's desk list for each product in use: asked once a run, and in --watch at most once an hour.

    It gives the desks "any" means, the names to show (IND's first, the bundled table's otherwise), and
    the desk check: a desk that no longer offers the product.
    """

    lists: dict[str, Desks | SourceError] = field(default_factory=dict)  # product -> what IND lists
    asked: float | None = None  # time.monotonic() when they were asked
    names: dict[str, str] = field(default_factory=lambda: dict(DESKS))  # desk key -> name

    def refresh(self, base: str, products: Sequence[str], deadline: Deadline) -> None:
        fresh = self.asked is not None and time.monotonic() - self.asked < DESKS_EVERY
        if fresh and all(isinstance(self.lists.get(p), list) for p in products):
            return
        self.lists, self.asked = fetch_all(base, products, fetch=fetch_desks, deadline=deadline), time.monotonic()
        self.names = dict(DESKS)
        for product in products:
            listed = self.lists[product]
            if isinstance(listed, list):
                self.names.update(listed)
            else:
                log.warning(
                    f"IND's list of desks for {PRODUCTS[product]} could not be read ({listed});"
                    " slots are checked as usual"
                )

    def listed(self, product: str) -> Desks | None:
        listed = self.lists.get(product)
        return listed if isinstance(listed, list) else None

    def desks_of(self, alert: Alert) -> tuple[str, ...]:
        """The desks to ask for an alert: its own, or for "any" every desk IND lists for the product."""
        if not alert.any_desk:
            return alert.desk
        listed = self.listed(alert.product)
        if listed is not None:
            return capped_desks(alert, [key for key, _ in listed])
        log.warning(f"{alert.name}: without IND's list of desks, every desk ind-alert knows is checked")
        return tuple(DESKS)

    def failures(self, alert: Alert, answers: Mapping[str, FetchResult]) -> dict[str, SourceError]:
        """The desks of an alert that could not be checked: IND failed, or the desk no longer offers it."""
        failed = {d: r for d, r in answers.items() if isinstance(r, SourceError)}
        for desk, error in failed.items():
            where = f" ({short_desk(desk, self.names)})" if alert.several else ""
            log.warning(f"{alert.name}{where}: {error}; state kept, will retry next run")
        listed = self.listed(alert.product)
        offering = {key for key, _ in listed or ()}
        for desk in answers:
            if listed is None or desk in offering or desk in failed:
                continue
            others = ", ".join(short_desk(key, self.names) for key, _ in listed) or "none"
            what = f"{desk_name(desk, self.names)} does not offer {PRODUCTS[alert.product].lower()} now"
            log.warning(f"{alert.name}: {what}; desks that do: {others}")
            answer = answers[desk]
            if isinstance(answer, Answer) and not answer.slots:  # slots it does return are pushed: lists change back
                failed[desk] = SourceError(what, Failure.NOT_OFFERED)
        return failed


# ------------------------------------------------------------ filter and diff


def today(now: datetime) -> date:
    return now.astimezone(AMSTERDAM).date()


def matches(alert: Alert, slot: Slot, now: datetime) -> bool:
    """Whether an open slot is one the alert asks for. Days are counted in Amsterdam."""
    day, start = slot.start.date(), slot.start.time()
    return (
        slot.start > now
        and (alert.days_ahead is None or day <= today(now) + timedelta(days=alert.days_ahead))
        and (alert.after is None or day >= alert.after)
        and (alert.before is None or day <= alert.before)
        and (alert.booked is None or day < alert.booked)
        and (alert.weekdays is None or day.weekday() in alert.weekdays)
        and (alert.earliest is None or start >= alert.earliest)
        and (alert.latest is None or start <= alert.latest)
    )


def dates_passed(alert: Alert, now: datetime) -> str | None:
    """What to fix when no slot can match any more because the alert's dates are past; None while one can."""
    day = today(now)
    if alert.booked is not None and alert.booked <= day and (alert.before is None or alert.before >= alert.booked):
        return (
            f"booked = {alert.booked} is not after today, so no slot can be earlier: set booked to the date"
            " of the appointment you hold now, or delete the alert"
        )
    if alert.before is not None and alert.before < day:
        return (
            f"before = {alert.before} has passed, so no slot can match: change before (and after) in"
            " alerts.toml, or delete the alert"
        )
    return None


def is_urgent(alert: Alert, slot: Slot, now: datetime) -> bool:
    within = alert.urgent_within_days
    return within is not None and slot.start.date() <= today(now) + timedelta(days=within)


def unsent(
    alert: Alert, recipient: Recipient, matching: Sequence[Slot], sent: frozenset[str], now: datetime
) -> list[Slot]:
    """The matching slots this recipient was not told about yet (only urgent ones if it asks for that)."""
    return [s for s in matching if s.id not in sent and (not recipient.only_urgent or is_urgent(alert, s, now))]


def past_history(history: Mapping[str, str | None], day: date) -> dict[str, str | None]:
    """The points up to day: a later one was written by a clock that was ahead."""
    return {d: p for d, p in history.items() if d <= day.isoformat()}


def prune_history(history: Mapping[str, str | None]) -> dict[str, str | None]:
    """The last HISTORY_DAYS points, oldest first (ISO dates sort as text)."""
    return dict(sorted(history.items())[-HISTORY_DAYS:])


def record_history(history: Mapping[str, str | None], day: date, earliest: Slot | None) -> dict[str, str | None]:
    """Add the day's point (the earliest matching date, None if none) unless the day has one already.

    Only the first successful check of an Amsterdam day counts, so later runs that day change nothing.
    """
    history = past_history(history, day)
    if day.isoformat() in history:
        return dict(history)
    first = (day - timedelta(days=HISTORY_DAYS - 1)).isoformat()
    kept = {d: p for d, p in history.items() if d >= first}
    kept[day.isoformat()] = earliest.start.date().isoformat() if earliest else None
    return prune_history(kept)


def forget_gone(alert_state: AlertState, open_ids: set[str]) -> AlertState:
    """Keep only the sent slots that are still open, so a slot that reopens is pushed again."""
    sent = {name: ids & open_ids for name, ids in alert_state.sent.items()}
    return dataclasses.replace(alert_state, sent={name: ids for name, ids in sent.items() if ids})


def not_known_gone(alert_state: AlertState, answered: set[str], now: datetime) -> set[str]:
    """The pushed slots not known to be gone: a slot is gone only when a complete answer for its desk (one of
    answered) no longer lists it, or when it has begun. A desk that failed, was not asked this run or
    answered with an entry it could not read keeps its slots, so they are not pushed again when it is back."""
    ids = {i for sent in alert_state.sent.values() for i in sent}
    ids |= {i for emergency in alert_state.emergencies.values() for i in emergency.slots}
    clock = f"{now.astimezone(AMSTERDAM):%Y-%m-%d %H:%M}"  # an id is "desk YYYY-MM-DD HH:MM-HH:MM", Amsterdam
    return {i for i in ids if i.split(" ", 1)[0] not in answered and i.split(" ", 1)[1][:16] > clock}


def for_kind(alert_state: AlertState, kind: Kind) -> AlertState:
    """An alert's state for the kind it asks for now. What was pushed for another kind does not count (its
    slots may have the same ids), and that kind's emergency pushes are to be cancelled: the empty slot set
    is never open. A record that names no kind (an older state) was pushed for this one."""
    if alert_state.asked in (None, kind):
        return dataclasses.replace(alert_state, asked=kind)
    emergencies = {tag: Emergency(frozenset(), e.expires) for tag, e in alert_state.emergencies.items()}
    return dataclasses.replace(alert_state, sent={}, emergencies=emergencies, asked=kind)


# ------------------------------------------------------------- message format


def fit(lines: Sequence[str], limit: int) -> str:
    """The lines joined, or as many of the first as fit with a "+N more" line, within limit characters.

    Linear in the number of lines: a burst of thousands of slots costs no more than reading them.
    """
    message = "\n".join(lines)
    if len(message) <= limit:
        return message
    shown, length = 0, -1  # length of the first `shown` lines joined
    for count, line in enumerate(lines, 1):
        length += len(line) + 1
        if length + len(f"\n+{len(lines) - count} more") > limit:
            break
        shown = count
    return "\n".join([*lines[:shown], f"+{len(lines) - shown} more"])


def sooner(booked: date, slot: Slot) -> str:
    """How much a slot gains on the appointment held: "19 days earlier than your 15 Jan appointment"."""
    return f"{plural((booked - slot.start.date()).days, 'day')} earlier than your {booked.day} {booked:%b} appointment"


def format_push(
    alert: Alert, slots: Sequence[Slot], now: datetime, names: Mapping[str, str] = DESKS, edit_url: str = ""
) -> Push:
    """The push for new slots: title with desk and type, one line per slot, earliest first.

    An alert for several desks gets one push for all of them, each line naming its desk. With booked, the
    first line says how much sooner the earliest is, and edit_url (a GitHub copy's alerts.toml, opened in
    the browser) ends the message, so "I booked it" is said from the phone.
    """
    slots = sorted(slots)
    persons = f" ({alert.persons} persons)" if alert.persons > 1 else ""
    what = f"{PRODUCTS[alert.product]}{persons}: {plural(len(slots), 'new slot')}"
    if alert.several:
        title = f"{what} at {plural(len({s.desk for s in slots}), 'desk')}"
        lines = [f"{s.label()} · {short_desk(s.desk, names)}" for s in slots]
        book = "Book at IND"
    else:
        title = f"{desk_name(alert.desk[0], names)}: {what}"
        lines = [s.label() for s in slots]
        book = f"Book at IND ({desk_name(alert.desk[0], names)})"
    tail = ""
    if alert.booked:
        lines.insert(0, sooner(alert.booked, slots[0]))
        tail = f"\nBooked one? Set booked to its date: {edit_url}" if edit_url else ""
    urgent = [s for s in slots if is_urgent(alert, s, now)]
    message = fit(lines, MESSAGE_LIMIT - len(tail)) + tail
    return alert_push(alert, title, message, book, bool(urgent), str([s.id for s in urgent]))


def alert_push(alert: Alert, title: str, message: str, book: str, urgent: bool, tag_of: str) -> Push:
    """A push about new slots: the alert's priority (its urgent one when a slot is urgent) and sound; an
    emergency push carries a tag made from tag_of, by which it is cancelled when its slots are gone."""
    priority = alert.urgent_priority if urgent else alert.priority
    tag = None
    if priority == 2:
        digest = hashlib.sha256(f"{alert.name}\n{alert.product} {alert.persons}\n{tag_of}".encode()).hexdigest()
        tag = f"ind-alert-{digest[:16]}"
    return Push(
        title=title[:TITLE_LIMIT],
        message=message[:MESSAGE_LIMIT],
        url=BOOKING_URL.format(product=alert.product),
        url_title=book[:100],
        priority=priority,
        sound=alert.sound,
        tag=tag,
    )


def slot_push(alert: Alert, slot: Slot, rest: Sequence[Slot], now: datetime, names: Mapping[str, str] = DESKS) -> Push:
    """A per_slot message for a public channel: desk, type, date and time, link; never the alert's name.

    ``rest`` are further new slots this message stands for ("+N more: …", cut to fit, in linear time).
    """
    persons = f", {alert.persons} persons" if alert.persons > 1 else ""
    what = f"{PRODUCTS[alert.product]}{persons}"
    desk = desk_name(slot.desk, names)
    title = f"{desk}: {what}: {slot.label()}"
    message = (
        f"{desk} · {what}\n{slot.start:%A} {slot.start.day} {slot.start:%B %Y}, "
        f"{slot.start:%H:%M}-{slot.end:%H:%M}\nChoose {desk} on the IND booking page."
    )
    if rest:
        more = f"\n+{len(rest)} more: "
        labels = [f"{s.label()} · {short_desk(s.desk, names)}" if alert.several else s.label() for s in rest]
        room, shown = MESSAGE_LIMIT - len(message + more + ", …"), 0
        for label in labels:
            room -= len(label) + (2 if shown else 0)
            if room < 0:
                break
            shown += 1
        message += more + ", ".join(labels[:shown]) + (", …" if shown < len(labels) else "")
        title += f" (+{len(rest)} more)"
    urgent = is_urgent(alert, slot, now) or any(is_urgent(alert, s, now) for s in rest)
    return alert_push(alert, title, message, f"Book at IND ({desk})", urgent, slot.id)


def pushes_for(
    alert: Alert,
    recipient: Recipient,
    slots: Sequence[Slot],
    now: datetime,
    names: Mapping[str, str] = DESKS,
    edit_url: str = "",
) -> list[tuple[Push, list[Slot]]]:
    """The messages telling a recipient about new slots, each with the slots it counts as delivered.

    One digest, or for a per_slot recipient one message per slot, earliest first, at most max_messages:
    the last of them then stands for all the rest.
    """
    slots = sorted(slots)
    if not recipient.per_slot:
        return [(format_push(alert, slots, now, names, edit_url), slots)]
    cap = recipient.max_messages
    single = slots if len(slots) <= cap else slots[: cap - 1]
    out = [(slot_push(alert, s, [], now, names), [s]) for s in single]
    if len(slots) > cap:
        last, rest = slots[cap - 1], slots[cap:]
        out.append((slot_push(alert, last, rest, now, names), [last, *rest]))
    return out


def edit_url(env: Mapping[str, str]) -> str:
    """In GitHub Actions, the page where alerts.toml is edited in the browser (from a phone, too)."""
    repository, branch = env.get("GITHUB_REPOSITORY"), env.get("GITHUB_REF_NAME")
    if not repository or not branch or not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
        return ""
    return f"https://github.com/{repository}/edit/{urllib.parse.quote(branch)}/alerts.toml"


# ------------------------------------------------------------------- Pushover


class Channel(Protocol):
    name: str

    def send(self, push: Push) -> None:
        """Deliver the push or raise NotifyError."""

    def check(self) -> None:
        """Confirm the channel can deliver, sending nothing, or raise NotifyError."""


TOKEN_REJECTED = "Pushover rejected the application token: check the PUSHOVER_TOKEN secret"
TOKEN_QUOTED = "Pushover rejected the application token: PUSHOVER_TOKEN is in quotes: paste it again without them"
TOKEN_SWAPPED = (
    "Pushover rejected the application token, and accepts the two swapped: PUSHOVER_TOKEN holds the user key and"
    " PUSHOVER_USER the application token: swap the two secrets' values"
)


def quoted(value: str) -> bool:
    return len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'"


def user_rejected(var: str, value: str) -> str:
    """A rejected user key's words: its variable, and quotes around it when it has them (never its value)."""
    if quoted(value):
        return f"Pushover rejected the user key in {var}: it is in quotes: paste it again without them"
    return f"Pushover rejected the user key in {var}: check that secret"


def pushover_problem(status: int, body: Mapping[str, Any]) -> str:
    """What Pushover rejected, in words that never include the rejected value."""
    if body.get("token") == "invalid":
        return TOKEN_REJECTED
    if body.get("user") == "invalid":
        return "Pushover rejected the user key"
    errors = body.get("errors")
    detail = clip("; ".join(str(e) for e in errors), 200) if isinstance(errors, list) else "no details"
    return f"Pushover refused the request (HTTP {status}: {detail})"


QUOTA_GONE = "Pushover's monthly message quota is used up (HTTP 429)"
# Since 1 May 2026 the quota is the account's, shared by its applications: another token adds nothing.
QUOTA_SHARED = "shared by all of the account's applications: fewer or narrower alerts, or a longer interval"


def top_level_status(text: str) -> Any:
    """The value of "status" in a JSON object's own top level, read without recursion (None if absent)."""
    depth, i, key = 0, 0, None
    decoder = json.JSONDecoder()
    while i < len(text):
        char = text[i]
        if char == '"':
            string, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
            rest = text[i:].lstrip()
            key = string if depth == 1 and rest.startswith(":") else None
            continue
        if char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
        elif depth == 1 and key == "status" and char not in " \t\r\n:":
            with contextlib.suppress(ValueError):
                return decoder.raw_decode(text, i)[0] if char not in "{[" else None
            return None
        i += 1
    return None


def pushover_json(text: str) -> dict[str, Any] | None:
    """The answer's JSON object; {} for JSON of another shape; None when it is not JSON (a web page).

    An object nested too deep to parse still shows its own top-level status (accepted or not).
    """
    try:
        body = json.loads(text)
    except RecursionError:
        return {"status": top_level_status(text)}
    except ValueError:
        return None
    return body if isinstance(body, dict) else {}


@dataclass
class PushoverClient:
    """Pushover's message API: one error type, permanent for 4xx, one retry otherwise."""

    api_url: str
    token: str = field(repr=False)
    session: requests.Session = field(default_factory=lambda: watched_session(), repr=False)
    sleep: Callable[[float], None] = time.sleep
    quota: tuple[int, int, int] | None = None  # limit, remaining, reset (unix time)
    token_rejected: bool = False
    quota_gone: bool = False  # a 429 with no message left this month: not asked again this run
    silent: bool = False  # Pushover gave no answer in the time it had: not asked again this run
    deadline: Deadline = field(default_factory=lambda: Deadline(RUN_DEADLINE), repr=False)
    patient: bool = True  # retry once after PUSH_RETRY_WAIT; not for a person waiting on --check

    def request(self, method: str, path: str, form: Mapping[str, str | int]) -> tuple[int, dict[str, Any] | None]:
        """One call, bounded by the run's deadline and MAX_BODY: (HTTP status, JSON object or None).

        Redirects are never followed: Pushover never sends one, and following it would hand the token and
        the user key to another host.
        """
        data = {"token": self.token, **form}

        def call() -> tuple[int, dict[str, Any] | None]:
            url = f"{self.api_url}{path}"
            args: dict[str, Any] = {"params": data} if method == "GET" else {"data": data}
            deadline = self.deadline
            with (
                deadline.reading(),
                self.session.request(
                    method, url, timeout=deadline.timeout(), stream=True, allow_redirects=False, **args
                ) as got,
                deadline.holding(got) as response,
            ):
                self.read_quota(response)
                code = response.status_code
                try:
                    return code, pushover_json(read_body(response))
                except TooLarge:
                    if 400 <= code < 500 and code != 429:  # a refusal is permanent whatever its body
                        return code, {}
                    raise

        return within(self.deadline, call)  # type: ignore[no-any-return]

    def post(self, path: str, form: Mapping[str, str | int], method: str = "POST") -> dict[str, Any]:
        if self.token_rejected:
            raise NotifyError("not sent: Pushover rejected the application token earlier in this run", permanent=True)
        if self.quota_gone:
            raise NotifyError(f"not sent: {QUOTA_GONE}", later=True)
        if self.silent:
            raise NotifyError("not sent: Pushover did not answer earlier in this run", later=True)
        for attempt in (1, 2):
            try:
                status, body = self.request(method, path, form)
            except requests.exceptions.SSLError:
                raise NotifyError(
                    "Pushover's TLS certificate could not be verified (check the clock or proxy)"
                ) from None
            except TimedOut:
                self.silent = True  # a Pushover that drips would take every push's time: the others get it
                raise NotifyError("Pushover did not answer in the time this run had for it", later=True) from None
            except (requests.RequestException, TooLarge):
                problem = "Pushover could not be reached"
            except Exception as exc:  # noqa: BLE001 - an answer we cannot read is a failed send, not a crash
                problem = f"Pushover's answer could not be read ({cause(exc)})"
            else:
                if 300 <= status < 400:
                    problem = (
                        f"the Pushover address answered with a redirect (HTTP {status}), which Pushover never"
                        " sends; it was not followed: check PUSHOVER_API_URL and this machine's network"
                    )
                    break
                if 400 <= status < 500 and status != 429:
                    # Permanent: repeating it gets a shared runner IP blocked.
                    self.token_rejected = (body or {}).get("token") == "invalid"
                    user = (body or {}).get("user") == "invalid"
                    rejected = Rejected.TOKEN if self.token_rejected else Rejected.USER if user else None
                    raise NotifyError(pushover_problem(status, body or {}), permanent=True, rejected=rejected)
                if status == 200 and body is not None and body.get("status") == 1:
                    return body
                if status == 429 and self.quota and self.quota[1] == 0:
                    self.quota_gone = True  # no retry, and nothing more asked of Pushover this run
                    raise NotifyError(QUOTA_GONE, later=True)
                if body is None and status == 200:
                    problem = (
                        f"the answer (HTTP {status}) was not Pushover's: a web page from a captive portal,"
                        " proxy or outage"
                    )
                else:
                    problem = f"Pushover answered HTTP {status}"
            if attempt == 1 and self.patient and self.deadline.left() > PUSH_RETRY_WAIT:
                self.sleep(PUSH_RETRY_WAIT)
            else:
                break
        raise NotifyError(problem, later=True)

    def read_quota(self, response: requests.Response) -> None:
        with contextlib.suppress(KeyError, ValueError):
            limit, remaining, reset = (
                int(response.headers[f"X-Limit-App-{name}"][:20]) for name in ("Limit", "Remaining", "Reset")
            )
            if 0 <= remaining <= limit and 0 <= reset < MAX_TIME:  # anything else is not a quota we can use
                self.quota = limit, remaining, reset

    def begin(self, deadline: Deadline) -> None:
        """A new run: only its quota is reported, and a token rejected before is tried again."""
        self.quota, self.token_rejected, self.quota_gone, self.silent = None, False, False, False
        self.deadline = deadline

    @contextlib.contextmanager
    def waiting(self, deadline: Deadline) -> Iterator[None]:
        """Calls made meanwhile end by this deadline (a share of the run's), not the run's own."""
        saved, self.deadline = self.deadline, deadline
        try:
            yield
        finally:
            self.deadline = saved

    def message(self, user: str, push: Push) -> None:
        form: dict[str, str | int] = {
            "user": user,
            "title": push.title,
            "message": push.message,
            "url": push.url,
            "url_title": push.url_title,
            "priority": push.priority,
        }
        if push.sound:
            form["sound"] = push.sound
        if push.priority == 2:
            form.update(retry=EMERGENCY_RETRY, expire=EMERGENCY_EXPIRE)
        if push.tag:
            form["tags"] = push.tag
        self.post("/messages.json", form)

    def validate(self, user: str) -> None:
        self.post("/users/validate.json", {"user": user})

    def cancel(self, tag: str) -> None:
        self.post(f"/receipts/cancel_by_tag/{tag}.json", {})

    def sounds(self) -> set[str]:
        """The sounds this application may use: Pushover's own and the account's custom ones."""
        listed = self.post("/sounds.json", {}, method="GET").get("sounds")
        if not isinstance(listed, dict):
            raise NotifyError("Pushover's list of sounds was not in the expected shape", later=True)
        return set(map(str, listed))


# ------------------------------------------------------------------- notifier


@dataclass
class PushoverChannel:
    name: str
    client: PushoverClient
    user: str = field(repr=False)

    def send(self, push: Push) -> None:
        self.client.message(self.user, push)

    def check(self) -> None:
        self.client.validate(self.user)


class AppriseChannel:
    """Any other service (Telegram, ntfy, e-mail, SMS…) through an Apprise URL kept in the environment.

    Built before anything is sent, so a missing Apprise or a bad URL stops the run before the first push.
    """

    def __init__(self, recipient: Recipient, url: str) -> None:
        self.name = recipient.name
        try:
            import apprise
        except ImportError:
            raise ConfigError(f"recipient {self.name} needs Apprise: pip install apprise") from None
        # Apprise logs payloads and URLs (with their tokens) at DEBUG; we report failures ourselves.
        logging.getLogger("apprise").setLevel(logging.CRITICAL + 1)
        self.notifier = apprise.Apprise()
        if not self.notifier.add(url):
            raise ConfigError(f"recipient {self.name}: {recipient.env} does not hold a valid Apprise URL")
        if len(self.notifier) > 1:  # what was delivered is kept per recipient: one that failed would repeat
            raise ConfigError(
                f"recipient {self.name}: {recipient.env} holds {len(self.notifier)} Apprise URLs:"
                " make one recipient per URL"
            )

    def send(self, push: Push) -> None:
        if not self.notifier.notify(title=push.title, body=f"{push.message}\n{push.url}"):
            raise NotifyError("Apprise could not deliver", later=True)

    def check(self) -> None:
        """The URL was checked when the channel was built; Apprise has no way to check without sending."""


def secret_vars(config: Config) -> list[str]:
    """The environment variables the configured recipients need, in a stable order."""
    names = [r.env for r in config.recipients.values()]
    if any(r.pushover_user_env for r in config.recipients.values()):
        names.insert(0, "PUSHOVER_TOKEN")
    return names


def build_channels(config: Config, env: Mapping[str, str], client: PushoverClient | None) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    for recipient in config.recipients.values():
        secret = env.get(recipient.env, "")
        if recipient.pushover_user_env:
            assert client is not None
            channels[recipient.name] = PushoverChannel(recipient.name, client, secret)
        else:
            channels[recipient.name] = AppriseChannel(recipient, secret)
    return channels


# ------------------------------------------------------- checking the secrets


def token_problem(client: PushoverClient, users: Mapping[str, tuple[str, str]]) -> str:
    """The words for a rejected token, sharpened by its look only now that Pushover has refused it: in quotes,
    or swapped with PUSHOVER_USER (asked of Pushover with the two swapped, which it then accepts)."""
    if quoted(client.token):
        return TOKEN_QUOTED
    user = next((key for var, key in users.values() if var == "PUSHOVER_USER"), "")
    # Today a user key starts with u (a group key with g) and a token with a: only a pair that looks swapped
    # is asked again, swapped, and only Pushover accepting it so says they are.
    if user[:1] == "a" and client.token[:1] in ("u", "g"):
        swapped = PushoverClient(client.api_url, user, client.session, patient=False, deadline=client.deadline)
        with contextlib.suppress(NotifyError):
            swapped.validate(client.token)
            return TOKEN_SWAPPED
    return TOKEN_REJECTED


def pushover_problems(
    client: PushoverClient, users: Mapping[str, tuple[str, str]], sounds: Mapping[str, str]
) -> list[Problem]:
    """What Pushover would reject, asked before it is needed: the token, each user key, each alert's sound.

    users maps a recipient to (its variable, its key); sounds maps an alert to its sound. Returns the
    problems, in words that name the secret's variable or the alert, never a value. A passing failure
    (Pushover down) raises NotifyError.
    """
    problems = []
    for name, (var, user) in users.items():
        try:
            client.validate(user)
        except NotifyError as exc:
            if not exc.permanent:
                raise
            if client.token_rejected:
                return [Problem(Trouble.TOKEN, "", token_problem(client, users))]
            if exc.rejected is Rejected.USER:
                problems.append(Problem(Trouble.RECIPIENT, name, user_rejected(var, user)))
            else:  # refused for another reason: the key may be fine, so say what Pushover said
                problems.append(Problem(Trouble.RECIPIENT, name, str(exc)))
    if sounds:
        known = client.sounds()
        for alert, sound in sounds.items():
            if sound not in known:
                choices = ", ".join(sorted(known))
                problems.append(Problem(Trouble.SOUND, alert, f'Pushover has no sound "{sound}" (yours: {choices})'))
    return problems


def fingerprint(key: str, token: str, users: Mapping[str, tuple[str, str]], sounds: Mapping[str, str]) -> str:
    """A short keyed hash of what was checked: it tells a change, and nothing can be guessed back from it
    without the random key, which is kept beside it in the state."""
    text = json.dumps([token, sorted(users.items()), sorted(sounds.items())])
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()[:16]


def checked_secrets(
    client: PushoverClient, config: Config, env: Mapping[str, str], record: Validation | None, now: datetime
) -> tuple[Validation | None, dict[str, tuple[str, str]], dict[str, str]]:
    """Find a rejected token, user key or sound now, not when the first slot arrives.

    Pushover is asked at most once per Amsterdam day for the same secrets and sounds, and again as soon as
    they change; what it said is kept in the state (the returned record), so a rejected secret fails every
    run without asking again. Returns the record (None when Pushover could not be asked: a warning), the
    Pushover users and the alerts' sounds it covers.
    """
    users = {r.name: (r.env, env.get(r.env, "")) for r in config.recipients.values() if r.pushover_user_env}
    sounds = {a.name: a.sound for a in config.alerts if a.sound}
    day = today(now).isoformat()
    key = record.key if record else secrets.token_hex(16)
    mark = fingerprint(key, client.token, users, sounds)
    if not record or record.fingerprint != mark or record.day != day:
        try:
            record = Validation(mark, key, day, tuple(pushover_problems(client, users, sounds)))
        except NotifyError as exc:
            log.warning(f"the Pushover secrets could not be checked ({exc})")
            return None, users, sounds
    return record, users, sounds


# ----------------------------------------------------------------- state text


DESK_KEY = r"[A-Za-z0-9]{2,64}"  # "AM", or 32 hex digits; IND's own form for a new desk is not known
SLOT_ID = re.compile(rf"{DESK_KEY} \d{{4}}-\d{{2}}-\d{{2}} \d{{2}}:\d{{2}}-\d{{2}}:\d{{2}}")
LEGACY_SLOT_ID = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}-\d{2}:\d{2}")  # version 1: no desk
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_TIME = 2**35  # unix seconds (the year 3058): beyond any date a state holds, within every clock function


def lifetimes_doc(lifetimes: Lifetimes) -> dict[str, Any]:
    slots = [[s.product, s.slot, s.seen, s.before, s.last, s.gone] for s in lifetimes.slots]
    doc: dict[str, Any] = {"watched": dict(lifetimes.watched), "slots": slots}
    if lifetimes.warned is not None:
        doc["warned"] = lifetimes.warned
    return doc


def nested_json(value: Any, depth: int) -> str:
    """json.dumps(value, indent=2, sort_keys=True) as it reads nested `depth` levels deep in a larger dump."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).replace("\n", "\n" + "  " * depth)


def alert_doc(a: AlertState) -> dict[str, Any]:
    """An alert's part of the state; {"sent": {}} when there is nothing to keep (it is then left out)."""
    doc: dict[str, Any] = {"sent": {r: sorted(ids) for r, ids in a.sent.items() if ids}}
    if a.emergencies:
        doc["emergencies"] = {t: {"slots": sorted(e.slots), "expires": e.expires} for t, e in a.emergencies.items()}
    if a.failing_since is not None:
        doc["failing_since"] = a.failing_since
    if a.blind_notified:
        doc["blind_notified"] = True
    if a.blind_told:
        doc["blind_told"] = sorted(a.blind_told)
    if a.history:
        doc["history"] = dict(a.history)
    if a.asked and (doc["sent"] or a.emergencies):  # what was pushed is known by what was asked
        doc["asked"] = {"product": a.asked.product, "persons": a.asked.persons}
    return doc


# An alert's text in the state, kept while its AlertState is the same object (records are never changed in
# place): a store's save after one push writes that alert's text anew, not every alert's, so a run stays linear.
AlertTexts = dict[str, tuple[AlertState, str | None]]


def alert_text(name: str, a: AlertState, texts: AlertTexts) -> str | None:
    """The state's `"name": {...}` line for one alert (None when it keeps nothing), from texts if there."""
    cached = texts.get(name)
    if cached is not None and cached[0] is a:
        return cached[1]
    doc = alert_doc(a)
    text = None if doc == {"sent": {}} else f"    {json.dumps(name, ensure_ascii=False)}: {nested_json(doc, 2)}"
    texts[name] = (a, text)
    return text


def state_to_json(state: State, texts: AlertTexts | None = None) -> str:
    """The state's text: exactly json.dumps(indent=2, sort_keys=True) of its document, alert by alert.

    texts: the alerts' texts of the last call, kept by a store between its saves."""
    texts = {} if texts is None else texts
    for gone in texts.keys() - state.alerts.keys():
        del texts[gone]
    entries = [t for name in sorted(state.alerts) if (t := alert_text(name, state.alerts[name], texts)) is not None]
    out: dict[str, Any] = {"version": STATE_VERSION}
    if state.quota_notified is not None:
        out["quota_notified"] = state.quota_notified
    if state.quota_told:
        out["quota_told"] = sorted(state.quota_told)
    if state.unreached:
        out["unreached"] = {n: {"since": u.since, "told": sorted(u.told)} for n, u in state.unreached.items()}
    if v := state.validated:
        problems = [{"kind": p.kind.value, "subject": p.subject, "detail": p.detail} for p in v.problems]
        out["validated"] = {"fingerprint": v.fingerprint, "key": v.key, "day": v.day, "problems": problems}
    if state.lifetimes.watched or state.lifetimes.slots:
        out["lifetimes"] = lifetimes_doc(state.lifetimes)
    if state.checks:  # the last time, then the gaps before it: a third of the bytes of the times themselves
        out["checks"] = {"last": state.checks[-1], "gaps": [b - a for a, b in itertools.pairwise(state.checks)]}
    if state.repository and (entries or len(out) > 1):
        out["repository"] = state.repository  # an empty state belongs to no one
    fields = {name: nested_json(value, 1) for name, value in out.items()}
    fields["alerts"] = "{\n" + ",\n".join(entries) + "\n  }" if entries else "{}"
    return "{\n" + ",\n".join(f'  "{name}": {fields[name]}' for name in sorted(fields)) + "\n}\n"


# ------------------------------------------------------------ reading a state


class Invalid(ValueError):
    """A state document that does not have the exact shape this version writes."""


def strict_json(text: str) -> Any:
    """JSON as written by a program: a key twice, NaN or Infinity is refused, not silently read."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            raise Invalid(f'the key "{next(k for k in keys if keys.count(k) > 1)}" appears twice')
        return dict(items)

    def constant(name: str) -> Any:
        raise Invalid(f"{name} is not a number")

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except Invalid:
        raise
    except (ValueError, RecursionError):
        raise Invalid("not JSON") from None


def expect(ok: bool, why: str) -> None:
    if not ok:
        raise Invalid(why)


def is_int(value: Any, low: int = 0, high: int = MAX_TIME) -> bool:
    return type(value) is int and low <= value <= high


def is_day(value: Any) -> bool:
    if not isinstance(value, str) or not ISO_DAY.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def slot_ids(value: Any, where: str, desk: str | None) -> frozenset[str]:
    """A list of slot ids; a version-1 id (no desk) gets the alert's desk."""
    expect(isinstance(value, list), f"{where} is not a list")
    ids = []
    for item in value:
        if desk is not None and isinstance(item, str) and LEGACY_SLOT_ID.fullmatch(item):
            item = f"{desk} {item}"
        expect(isinstance(item, str) and bool(SLOT_ID.fullmatch(item)), f"{where} has a malformed slot")
        ids.append(item)
    return frozenset(ids)


def recipient_names(value: Any, where: str) -> frozenset[str]:
    """A list of recipient names."""
    expect(isinstance(value, list) and all(isinstance(n, str) for n in value), f"{where} is not a list of names")
    return frozenset(value)


PRODUCT_KEY = re.compile(r"[A-Z]{2,16}")  # IND's product keys: "BIO", "DOC"; a state may name one retired since


def kind_from(doc: Any, where: str) -> Kind:
    ok = isinstance(doc, dict) and set(doc) == {"product", "persons"} and isinstance(doc["product"], str)
    ok = ok and bool(PRODUCT_KEY.fullmatch(doc["product"])) and is_int(doc["persons"], 1, MAX_PERSONS)
    expect(ok, f"{where}: asked is not a product and a number of persons")
    return Kind(doc["product"], doc["persons"])


def alert_state_from(name: str, doc: Any, desk: str | None) -> AlertState:
    """One alert's state, checked key by key. desk is set when reading version 1 (its ids name no desk)."""
    where = f'alert "{name}"'
    expect(isinstance(doc, dict), f"{where} is not an object")
    extra = set(doc) - {"sent", "emergencies", "failing_since", "blind_notified", "blind_told", "history", "asked"}
    expect(not extra, f"{where} has unknown keys {sorted(extra)}")
    sent = doc.get("sent", {})
    expect(isinstance(sent, dict), f"{where}: sent is not an object")
    emergencies = doc.get("emergencies", {})
    expect(isinstance(emergencies, dict), f"{where}: emergencies is not an object")
    for emergency in emergencies.values():
        expect(isinstance(emergency, dict) and set(emergency) == {"slots", "expires"}, f"{where}: bad emergency")
        expect(is_int(emergency["expires"]), f"{where}: emergency expiry is not a time")
    failing = doc.get("failing_since")
    expect(failing is None or is_int(failing), f"{where}: failing_since is not a time")
    blind = doc.get("blind_notified", False)
    expect(isinstance(blind, bool), f"{where}: blind_notified is not true or false")
    history = doc.get("history", {})
    expect(isinstance(history, dict), f"{where}: history is not an object")
    for day, earliest in history.items():
        expect(is_day(day) and (earliest is None or is_day(earliest)), f"{where}: history has a malformed date")
    asked = kind_from(doc["asked"], where) if "asked" in doc else None
    return AlertState(
        sent={r: slot_ids(ids, f"{where} sent to {r}", desk) for r, ids in sent.items()},
        emergencies={
            t: Emergency(slot_ids(e["slots"], f"{where} emergency", desk), e["expires"]) for t, e in emergencies.items()
        },
        failing_since=failing,
        blind_notified=blind,
        history=prune_history(history),
        blind_told=recipient_names(doc.get("blind_told", []), f"{where}: blind_told"),
        asked=asked,
    )


def problem_from(doc: Any) -> Problem:
    """A problem as the state keeps it: its kind, subject and detail, never its printed line."""
    expect(isinstance(doc, dict) and set(doc) == {"kind", "subject", "detail"}, "bad validated problem")
    expect(all(isinstance(doc[k], str) for k in doc), "bad validated problem")
    kinds = {t.value: t for t in Trouble}
    expect(doc["kind"] in kinds, "bad validated problem kind")
    return Problem(kinds[doc["kind"]], doc["subject"], doc["detail"])


def validation_from(doc: Any) -> Validation | None:
    """The day's secret check. One kept as printed lines (written before problems were records) is not read
    back: the check is simply made again, once."""
    expect(isinstance(doc, dict) and set(doc) == {"fingerprint", "key", "day", "problems"}, "bad validated record")
    expect(all(isinstance(doc[k], str) for k in ("fingerprint", "key")), "bad validated record")
    expect(is_day(doc["day"]), "bad validated day")
    problems = doc["problems"]
    expect(isinstance(problems, list), "bad validated problems")
    if problems and all(isinstance(p, str) for p in problems):
        return None
    return Validation(doc["fingerprint"], doc["key"], doc["day"], tuple(map(problem_from, problems)))


def unreached_from(doc: Any) -> dict[str, Unreached]:
    expect(isinstance(doc, dict), "unreached is not an object")
    for name, entry in doc.items():
        expect(isinstance(entry, dict) and set(entry) == {"since", "told"}, f"unreached {name} is malformed")
        expect(is_int(entry["since"]), f"unreached {name}: since is not a time")
    return {n: Unreached(e["since"], recipient_names(e["told"], f"unreached {n}: told")) for n, e in doc.items()}


WATCHED_KEY = re.compile(rf"[A-Z]{{3}} {DESK_KEY}")  # product and desk: "BIO AM"


def lifetimes_from(doc: Any) -> Lifetimes:
    expect(
        isinstance(doc, dict) and {"watched", "slots"} <= set(doc) <= {"watched", "slots", "warned"}, "bad lifetimes"
    )
    watched, slots, warned = doc["watched"], doc["slots"], doc.get("warned")
    expect(isinstance(watched, dict), "lifetimes: watched is not an object")
    for key, since in watched.items():
        expect(
            bool(WATCHED_KEY.fullmatch(key)) and key[:3] in PRODUCTS and is_int(since), "lifetimes: bad watched desk"
        )
    expect(isinstance(slots, list), "lifetimes: slots is not a list")
    sightings = []
    for item in slots:
        expect(isinstance(item, list) and len(item) == 6, "lifetimes: a slot is malformed")
        product, slot, seen, *times = item
        expect(isinstance(product, str) and product in PRODUCTS, "lifetimes: a slot has an unknown product")
        expect(isinstance(slot, str) and bool(SLOT_ID.fullmatch(slot)), "lifetimes: a slot is malformed")
        expect(is_int(seen) and all(t is None or is_int(t) for t in times), "lifetimes: a slot time is not a time")
        sightings.append(Sighting(product, slot, seen, *times))
    expect(warned is None or is_int(warned), "lifetimes: warned is not a time")
    return Lifetimes(watched, tuple(sightings), warned)


def checks_from(doc: Any) -> tuple[int, ...]:
    """Check times from the last one and the gaps before it."""
    expect(isinstance(doc, dict) and set(doc) == {"last", "gaps"} and is_int(doc["last"]), "bad checks")
    gaps = doc["gaps"]
    expect(isinstance(gaps, list) and len(gaps) < MAX_CHECKS and all(is_int(g) for g in gaps), "bad checks gaps")
    times = [doc["last"]]
    for gap in reversed(gaps):
        times.append(times[-1] - gap)
    expect(times[-1] >= 0, "checks go back before 1970")
    return tuple(reversed(times))


def writable_text(state: State) -> bool:
    """Whether the state can be written back: JSON's escapes can spell a lone surrogate, which UTF-8 cannot."""
    try:
        state_to_json(state).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def state_from_json(
    text: str, where: str, legacy_desks: Mapping[str, str] | None = None, refused: type[AlertError] = StateUnreadable
) -> State:
    """Parse a state document; anything unexpected is refused (as `refused`), never read as empty.

    A version-1 document (slot ids without a desk) is upgraded: its ids belong to the alert's one desk, which
    legacy_desks gives by alert name; an alert no longer configured has nothing to keep.
    """
    try:
        doc = strict_json(text)
        expect(isinstance(doc, dict), "not a JSON object")
        version = doc.get("version")
        if is_int(version, STATE_VERSION + 1):
            raise Invalid(f"version {version} is newer than this ind-alert reads ({STATE_VERSION}): update it")
        expect(is_int(version, 1, STATE_VERSION), f"no version this ind-alert reads ({STATE_VERSION})")
        known = {"version", "alerts", "repository", "quota_notified", "quota_told", "validated", "unreached"}
        extra = set(doc) - known - {"lifetimes", "checks"}
        expect(not extra, f"unknown keys {sorted(extra)}")
        expect(isinstance(doc.get("alerts"), dict), "alerts is not an object")
        repository, quota = doc.get("repository"), doc.get("quota_notified")
        expect(repository is None or isinstance(repository, str), "repository is not a name")
        expect(quota is None or is_int(quota), "quota_notified is not a time")
        desks = legacy_desks or {}
        alerts = {
            name: alert_state_from(name, a, desks.get(name, "AM") if version == 1 else None)
            for name, a in doc["alerts"].items()
        }
        if version == 1:  # an alert no longer configured has nothing to keep, and no desk to give its ids
            alerts = {name: a for name, a in alerts.items() if name in desks}
        validated = validation_from(doc["validated"]) if "validated" in doc else None
        told = recipient_names(doc.get("quota_told", []), "quota_told")
        state = State(alerts, repository, quota, validated, told, unreached_from(doc.get("unreached", {})))
        if "lifetimes" in doc:
            state = dataclasses.replace(state, lifetimes=lifetimes_from(doc["lifetimes"]))
        if "checks" in doc:
            state = dataclasses.replace(state, checks=checks_from(doc["checks"]))
        expect(writable_text(state), "it holds text that is not Unicode (a lone surrogate like \\ud800)")
        return state
    except Invalid as exc:
        raise refused(
            f"{where} is not a valid ind-alert state ({exc}); it was left untouched: fix or move it away"
        ) from None


# ------------------------------------------------------------- merging states


def merge_states(ours: State, theirs: State) -> State:
    """Combine two runs' states: a slot pushed by either run counts as pushed.

    History is the union of both; for a day both recorded, the stored point (theirs) wins: it was saved
    first, so it is the day's first successful check. Where the runs asked for different kinds (alerts.toml
    changed between them), ours counts: their pushes were of another kind, and their emergencies are to be
    cancelled (for_kind).
    """
    alerts = dict(theirs.alerts)
    for name, mine in ours.alerts.items():
        other = alerts.get(name, AlertState())
        if mine.asked and other.asked and mine.asked != other.asked:
            other = for_kind(other, mine.asked)
        recipients = set(mine.sent) | set(other.sent)
        # Our check is the newer one, but a blind push either run sent must still get its "checking again".
        blind = mine.blind_notified or other.blind_notified
        told_lists = [a.blind_told for a in (mine, other) if a.blind_notified]
        failing = [t for t in (mine.failing_since, other.failing_since) if t is not None]
        alerts[name] = AlertState(
            sent={r: mine.sent.get(r, frozenset()) | other.sent.get(r, frozenset()) for r in recipients},
            emergencies={**other.emergencies, **mine.emergencies},
            failing_since=min(failing) if failing and (mine.failing_since is not None or blind) else None,
            blind_notified=blind,
            history=prune_history({**mine.history, **other.history}),
            blind_told=told_by_either(told_lists),
            asked=mine.asked or other.asked,
        )
    quota = max((q for q in (ours.quota_notified, theirs.quota_notified) if q is not None), default=None)
    quota_told = told_by_either(
        [s.quota_told for s in (ours, theirs) if quota is not None and s.quota_notified == quota]
    )
    unreached = dict(theirs.unreached)
    for name, ours_u in ours.unreached.items():  # kept while either run kept it: a later run that reaches it drops it
        theirs_u = unreached.get(name, ours_u)
        unreached[name] = Unreached(min(ours_u.since, theirs_u.since), ours_u.told | theirs_u.told)
    return State(
        alerts,
        ours.repository,
        quota,
        ours.validated or theirs.validated,
        quota_told,
        unreached,
        merge_lifetimes(ours.lifetimes, theirs.lifetimes),
        tuple(sorted({*ours.checks, *theirs.checks}))[-MAX_CHECKS:],
    )


def merge_lifetimes(ours: Lifetimes, theirs: Lifetimes) -> Lifetimes:
    """Both runs' sightings; of one slot seen at the same time by both, the one that saw it go wins."""
    watched = dict(theirs.watched)
    for key, since in ours.watched.items():
        watched[key] = min(since, watched.get(key, since))
    by_key: dict[tuple[str, str, int], Sighting] = {}
    for sighting in (*theirs.slots, *ours.slots):
        same = (sighting.product, sighting.slot, sighting.seen)
        if same not in by_key or by_key[same].gone is None:
            by_key[same] = sighting
    warned = max((w for w in (ours.warned, theirs.warned) if w is not None), default=None)
    return Lifetimes(watched, tuple(sorted(by_key.values(), key=lambda s: (s.seen, s.product, s.slot))), warned)


def told_by_either(told_lists: Sequence[frozenset[str]]) -> frozenset[str]:
    """Who two runs told of the same notice: everyone (no names) when either told everyone, else both's."""
    return frozenset() if any(not told for told in told_lists) else frozenset().union(*told_lists)


def merge_texts(ours: str, theirs: str) -> str:
    """Two state files merged (.github/commit-state.sh, after another run pushed its own): a slot pushed by
    either run counts as pushed. Raises StateUnreadable when either is not a valid state."""
    merged = merge_states(state_from_json(ours, "this run's state"), state_from_json(theirs, "the pushed state"))
    return state_to_json(merged)


# ----------------------------------------------------------------- state file


class Store(Protocol):
    """Where the state lives. It remembers what it loaded, so save() writes only a change, safely."""

    @property
    def location(self) -> str: ...

    def load(self) -> State: ...

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Held for a whole run, so two runs on one state never push the same slot (StateLocked if taken)."""

    def bind(self, run: Deadline, grace: float) -> None:
        """Wait no longer than this run has left: every call but a save leaves the last `grace` seconds
        to the save."""

    def writable(self) -> None:
        """Rehearse a save before a run's first push: write the state's own bytes the way save() does, and
        raise StateUnsaved (exit 1) when that fails, so a push that could not be recorded is never made."""

    def save(self, state: State) -> State | None:
        """Write the state if its text differs from what was loaded or last saved.

        Returns the state now stored (another run's, merged in, where it wrote meanwhile), or None when
        there was nothing to write. The caller goes on from the returned state, or a later save loses
        what the merge brought in.
        """


NOT_UNTIL_WRITABLE = "nothing is pushed until it can be, so no slot is pushed twice"


def state_bytes(text: str, location: str, room: int = 0) -> bytes:
    """The bytes a store writes; refused (exit 1) past MAX_BODY - room, as no run could read them back."""
    data = text.encode("utf-8")
    if len(data) > MAX_BODY - room:
        raise StateUnsaved(
            f"{location} is {len(data) / 1e6:.1f} MB, and a run reads back at most {MAX_BODY / 1e6:g} MB:"
            " nothing is pushed until it is smaller; fewer alerts, or narrower ones (before, after, weekdays),"
            " keep fewer slots"
        )
    return data


def sync_folder(folder: Path) -> None:
    """fsync a folder, so a rename in it survives a power cut (POSIX; Windows cannot open a folder so)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(target: Path, data: bytes, rename: bool = True) -> None:
    """data as target: a temporary file beside it, fsynced, renamed over it, and the folder fsynced.

    A reader sees the old file or the new one, and after a power cut the new one is there in full.
    rename=False writes and syncs the temporary file only, then removes it (rehearsing a first save).
    """
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if rename:
            os.replace(tmp, target)
            sync_folder(target.parent)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


class StateLocked(StateOutOfReach):
    """Another run holds the state file's lock: this one ends without checking (exit 0), the other checks."""


@contextlib.contextmanager
def file_lock(path: Path, state: Path) -> Iterator[None]:
    """An advisory lock (flock) on path for as long as the block runs, waiting for it a bounded time.

    Where the lock file cannot be made (no fcntl on Windows, a folder nobody may write) the run goes on
    without it: where the folder refuses a lock file it refuses the state's temporary file too, so that
    run pushes nothing (see Store.writable).
    """
    try:
        import fcntl

        path.parent.mkdir(parents=True, exist_ok=True)  # a first run creates the folder its save needs
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except (ImportError, OSError):
        yield
        return
    try:
        for attempt in range(LOCK_TRIES):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == LOCK_TRIES - 1:
                    raise StateLocked(
                        f"another ind-alert run is using {state} (it holds {path.name}) and did not finish within"
                        f" {LOCK_TRIES * LOCK_POLL:g} s: this run ends without checking; the other one checks"
                    ) from None
                time.sleep(LOCK_POLL)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def unchanged(text: str, loaded: str | None) -> bool:
    """Nothing to write: the text is what was loaded, or an empty state where there was none."""
    return text == loaded or (loaded is None and text == state_to_json(State()))


@dataclass
class FileStore:
    path: Path
    legacy_desks: Mapping[str, str] = field(default_factory=dict)
    loaded: str | None = None
    texts: AlertTexts = field(default_factory=dict, repr=False)  # state_to_json's, between saves

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def target(self) -> Path:
        """The file written: a symlinked state file is written through to the file it points at."""
        return Path(os.path.realpath(self.path))

    def load(self) -> State:
        try:
            data = read_file(self.path)
            text = data.decode("utf-8")
        except FileNotFoundError:
            self.loaded = None
            return State()
        except NotAFile as exc:
            raise StateUnreadable(
                f"{self.path} is {exc.kind}, not a file: pass --state with a state file's path; it was left untouched"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise StateUnreadable(f"{self.path} cannot be read ({cause(exc)}); it was left untouched") from None
        if len(data) > MAX_BODY:
            raise StateUnreadable(
                f"{self.path} is over 2 MB, not an ind-alert state; it was left untouched: move it away"
            )
        state = state_from_json(text, str(self.path), self.legacy_desks)
        self.loaded = text
        return state

    def bind(self, run: Deadline, grace: float) -> None:
        """A file is written locally: nothing to bound (the lock has its own LOCK_TRIES)."""

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """The lock file sits beside the state's path as given (a link's, not its target's: never in /dev)."""
        return file_lock(self.path.with_name(f".{self.path.name}.lock"), self.path)

    def writable(self) -> None:
        """The rehearsal: the loaded bytes written back as a save writes them (a full disk, a file-size limit,
        a state file another user owns in a sticky folder all fail here); with no file yet, the empty state
        is written to the temporary file and removed."""
        target = self.target
        try:
            read_only = not target.stat().st_mode & 0o222
        except OSError:  # a missing file is created; any other problem shows below
            read_only = False
        if read_only:  # read-only on purpose: respected even by root
            raise StateUnsaved(f"{self.path} is read-only: make it writable (chmod u+w) so pushes can be recorded")
        text = state_to_json(State()) if self.loaded is None else self.loaded
        data = state_bytes(text, self.location, STATE_ROOM)
        try:
            write_durably(target, data, rename=self.loaded is not None)
        except OSError as exc:
            raise StateUnsaved(f"{self.path} cannot be written ({cause(exc)}): {NOT_UNTIL_WRITABLE}") from None

    def save(self, state: State) -> State | None:
        text = state_to_json(state, self.texts)
        if unchanged(text, self.loaded):
            return None
        data = state_bytes(text, self.location)
        try:
            write_durably(self.target, data)
        except OSError as exc:
            raise StateUnsaved(f"state could not be saved to {self.path} ({cause(exc)})") from None
        self.loaded = text
        return state


# ------------------------------------------------------------------- S3 state


@dataclass
class S3Store:
    """State as one S3 object, written with conditional requests so overlapping runs lose nothing."""

    bucket: str
    key: str
    client: Any = field(repr=False)
    legacy_desks: Mapping[str, str] = field(default_factory=dict)
    attempts: int = 5
    needs: str = "s3:GetObject, s3:PutObject and s3:ListBucket"  # for the access-denied message
    loaded: str | None = None  # the text and ETag last read or written: the condition of the next write
    etag: str | None = None
    run: Deadline | None = None  # the run's deadline (bind); without one, each call gets FETCH_DEADLINE
    unreadable: type[AlertError] = StateUnreadable  # what an object that cannot be read is (config: ConfigError)
    grace: float = 0.0
    saving: bool = False
    texts: AlertTexts = field(default_factory=dict, repr=False)  # state_to_json's, between saves

    @classmethod
    def from_url(cls, url: str, what: str = "state", legacy_desks: Mapping[str, str] | None = None) -> S3Store:
        """The object at s3://bucket/key; `what` ("state" or "config") names it in errors."""
        match = re.fullmatch(r"s3://([^/]+)/(.+)", url)
        if not match:
            example = "path/seen.json" if what == "state" else "alerts.toml"
            raise ConfigError(f'{what} "{url}" must look like s3://bucket/{example}')
        unreadable = StateUnreadable if what == "state" else ConfigError
        return cls(match[1], match[2], s3_client(what), legacy_desks or {}, unreadable=unreadable)

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def bind(self, run: Deadline, grace: float) -> None:
        self.run, self.grace = run, grace

    def wait(self) -> Deadline:
        """What one S3 request may wait: what the run has left (a save may use the grace), at most FETCH_DEADLINE."""
        if self.run is None:  # bound to no run (an s3:// config, a lease off Lambda): each call on its own
            return Deadline(FETCH_DEADLINE)
        return self.run.part(FETCH_DEADLINE, keep=0.0 if self.saving else self.grace)

    def call(self, method: str, **args: Any) -> Any:
        """An S3 request, bounded by the run's deadline like every other wait."""
        return within(self.wait(), lambda: getattr(self.client, method)(Bucket=self.bucket, **args))

    def read(self, failed: type[AlertError] | None = None) -> tuple[str | None, str | None]:
        """The object's text and ETag; (None, None) when there is no object.

        A failure is `failed` when given; else StateOutOfReach when it passes, or self.unreadable."""
        from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, IncompleteReadError
        from botocore.exceptions import ConnectionError as NetworkError

        try:

            def get() -> tuple[bytes, Any]:
                response = self.client.get_object(Bucket=self.bucket, Key=self.key)
                return response["Body"].read(MAX_BODY + 1), response.get("ETag")

            body, etag = within(self.wait(), get)
        except (BotoCoreError, ClientError, TimedOut) as exc:
            error = exc.response if isinstance(exc, ClientError) else {}
            if error.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None, None
            # A network failure or an S3 5xx passes: nothing is checked this run, and nothing lost.
            passing = isinstance(exc, NetworkError | HTTPClientError | IncompleteReadError | TimedOut)
            passing = passing or error.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500
            refused = failed or (StateOutOfReach if passing else self.unreadable)
            raise refused(s3_words(self, exc, passing)) from None
        if not isinstance(etag, str) or len(body) > MAX_BODY:
            what = "answered without an ETag or with over 2 MB"
            raise (failed or self.unreadable)(f"{self.location}: S3 {what}; it was left untouched")
        try:
            return body.decode("utf-8"), etag
        except UnicodeDecodeError:
            return "\ufffd", etag

    def current_etag(self) -> str | None:
        """The object's ETag, or None when it is missing or S3 cannot be asked."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return str(self.call("head_object", Key=self.key)["ETag"])
        except (BotoCoreError, ClientError, TimedOut):
            return None

    def load(self, failed: type[AlertError] | None = None) -> State:
        text, etag = self.read(failed)
        refused = failed or StateUnreadable
        state = State() if text is None else state_from_json(text, self.location, self.legacy_desks, refused)
        self.loaded, self.etag = text, etag
        return state

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """No lock: conditional writes keep both runs' records (a slot can be pushed twice only when two
        schedulers' runs overlap); Lambda, where invocations can overlap, takes an S3Lease instead."""
        return contextlib.nullcontext()

    def writable(self) -> None:
        """The rehearsal: the loaded bytes (or, with no object yet, the empty state) put under the save's own
        condition, so a missing s3:PutObject, a read-only key or a store without conditional writes shows
        before a push. A failed condition passes: another run wrote, which proves the write, and save merges."""
        from botocore.exceptions import BotoCoreError, ClientError

        text = state_to_json(State()) if self.loaded is None else self.loaded
        body = state_bytes(text, self.location, STATE_ROOM)
        condition = {"IfMatch": self.etag} if self.etag else {"IfNoneMatch": "*"}
        try:
            response = self.call("put_object", Key=self.key, Body=body, ContentType="application/json", **condition)
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") in (404, 409, 412):
                return
            raise StateUnsaved(f"{s3_words(self, exc)}; {NOT_UNTIL_WRITABLE}") from None
        except (BotoCoreError, TimedOut) as exc:
            what = "did not answer" if isinstance(exc, TimedOut) else f"could not be reached ({cause(exc)})"
            raise StateUnsaved(f"S3 {what} for a trial write of {self.location}: {NOT_UNTIL_WRITABLE}") from None
        self.loaded, self.etag = text, response.get("ETag")
        if not self.etag:
            self.load(StateUnsaved)

    def save(self, state: State) -> State | None:
        self.saving = True  # the grace kept at the run's end is the save's
        try:
            return self.put_state(state)
        finally:
            self.saving = False

    def put_state(self, state: State) -> State | None:
        from botocore.exceptions import BotoCoreError, ClientError

        for _ in range(self.attempts):
            text = state_to_json(state, self.texts)
            if unchanged(text, self.loaded):  # loaded is None exactly when there was no object (and no ETag)
                return None
            body = state_bytes(text, self.location)
            condition = {"IfMatch": self.etag} if self.etag else {"IfNoneMatch": "*"}
            try:
                response = self.call("put_object", Key=self.key, Body=body, ContentType="application/json", **condition)
                self.loaded, self.etag = text, response.get("ETag")
                if not self.etag:  # without it the next write could not be conditional: read it back
                    self.load(StateUnsaved)
                return state
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status not in (404, 409, 412):  # 404: deleted meanwhile, so create it again
                    raise StateUnsaved(s3_words(self, exc)) from None
            except (BotoCoreError, TimedOut) as exc:
                what = "did not answer" if isinstance(exc, TimedOut) else f"could not be reached ({cause(exc)})"
                raise StateUnsaved(f"S3 {what} while saving {self.location}; it keeps its last save") from None
            # Another run wrote first: take its state in, then try again on top of it.
            theirs = self.load(StateUnsaved)  # a store that cannot be read back now cannot be saved to
            state = merge_states(state, theirs)
        raise StateUnsaved(f"{self.location} kept changing during this run; it will be retried next run")


def s3_words(store: S3Store, exc: Exception, passing: bool = False) -> str:
    """One line that says what to fix, from the error code only (AWS texts can carry request details)."""
    from botocore.exceptions import ClientError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (see .github/docs/state.md)"
    if isinstance(exc, TimedOut):
        return f"S3 did not answer for {store.location} before the run's deadline" + (
            "; will retry next run" if passing else ""
        )
    if not isinstance(exc, ClientError):
        then = "will retry next run" if passing else "check AWS_REGION and AWS_ENDPOINT_URL_S3"
        return f"S3 could not be reached for {store.location} ({cause(exc)}); {then}"
    code = str(exc.response.get("Error", {}).get("Code", "unknown"))
    denied = f"S3 denied access to {store.location}: allow {store.needs} (see .github/docs/state.md)"
    return {
        "AccessDenied": denied,
        "403": denied,
        "NoSuchBucket": f"S3 bucket {store.bucket} does not exist: check the name and AWS_REGION",
        "InvalidAccessKeyId": "S3 rejected the AWS access key: check AWS_ACCESS_KEY_ID",
        "SignatureDoesNotMatch": "S3 rejected the AWS secret key: check AWS_SECRET_ACCESS_KEY",
        "NotImplemented": f"the S3 store of {store.location} has no conditional writes (If-Match), which"
        " ind-alert needs so two runs lose nothing: use AWS S3 or a store that has them",
    }.get(code, f"S3 answered {clip(code, 40)} for {store.location}" + ("; will retry next run" if passing else ""))


def s3_client(what: str = "state") -> Any:
    """A boto3 S3 client configured from the environment, as the AWS CLI would be."""
    try:
        import boto3
        from botocore.config import Config as BotoConfig
    except ImportError:
        raise ConfigError(f"S3 {what} needs boto3: pip install boto3") from None
    timeouts = BotoConfig(connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT, retries={"max_attempts": 3})
    # Like the credentials, the region comes from the environment; boto3 reads only AWS_DEFAULT_REGION.
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if os.environ.get(var) and not re.fullmatch(r"[a-z0-9-]+", os.environ[var]):
            raise ConfigError(f"{var} must be a region name like eu-west-1, without spaces: check its value")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
    try:
        client = boto3.client("s3", region_name=region, config=timeouts)
    except Exception as exc:  # noqa: BLE001 - boto3 raises many kinds for a bad setting
        raise ConfigError(
            f"S3 client could not be set up ({cause(exc)}): check AWS_REGION, AWS_PROFILE,"
            " AWS_ENDPOINT_URL_S3 and AWS_MAX_ATTEMPTS"
        ) from None
    conditional_writes(client)
    return client


CONDITIONAL_BOTOCORE = "1.35.70"  # the first botocore whose PutObject takes IfMatch (IfNoneMatch came earlier)


def conditional_writes(client: Any) -> None:
    """Refuse a boto3 that cannot make S3 conditional writes: it would fail every save after the pushes
    went out, and the same slots would be pushed again on every run. Read from the client's own service
    model, so a patched or backported botocore counts for what it can do, not for its version number."""
    shape = client.meta.service_model.operation_model("PutObject").input_shape
    if {"IfMatch", "IfNoneMatch"} <= set(shape.members):
        return
    import botocore

    raise ConfigError(
        f"the installed botocore {clip(str(getattr(botocore, '__version__', '?')), 20)} cannot make the"
        f" conditional writes S3 state needs: pip install -U boto3 (botocore {CONDITIONAL_BOTOCORE} or newer)"
    )


# ------------------------------------------------------------------- S3 lease


class LeaseHeld(AlertError):
    """Another invocation is checking right now: this one ends quietly (exit 0)."""

    exit_code = 0


@dataclass
class S3Lease:
    """A short lease beside the state (`<key>.lock`), so overlapping Lambda invocations never push twice.

    Conditional writes keep the state whole, but two runs that both read it before either wrote would both
    push. The lock object holds an expiry; it is created with If-None-Match, an expired one is taken over
    with If-Match on its ETag, and it is deleted at the end. The expiry covers a run killed by its timeout.
    """

    lock: S3Store

    @classmethod
    def take(cls, store: S3Store, seconds: float, clock: Callable[[], float] = time.time) -> S3Lease:
        lock = cls(
            dataclasses.replace(store, key=f"{store.key}.lock", needs="s3:GetObject, s3:PutObject and s3:DeleteObject")
        )
        body = json.dumps({"expires": int(clock() + seconds)}).encode()
        if lock.put(body, IfNoneMatch="*"):  # the usual case: no lease, one request
            return lock
        text, etag = lock.lock.read()
        expires = lease_expiry(text or "")
        if text is not None and expires > clock():
            until = time.strftime("%H:%M:%S", time.gmtime(expires))
            raise LeaseHeld(
                f"another check holds {lock.lock.location} until {until} UTC: this invocation ends without checking"
            )
        if text is None or etag is None or not lock.put(body, IfMatch=etag):  # another check was quicker
            raise LeaseHeld(f"another check took {lock.lock.location} just now: this invocation ends without checking")
        return lock

    def put(self, body: bytes, **condition: str) -> bool:
        """Write the lock object under the condition; False when the condition failed."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.lock.call("put_object", Key=self.lock.key, Body=body, **condition)
            return True
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") in (404, 409, 412):
                return False
            raise StateUnsaved(s3_words(self.lock, exc)) from None
        except (BotoCoreError, TimedOut) as exc:
            raise StateUnsaved(s3_words(self.lock, exc)) from None

    def release(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.lock.call("delete_object", Key=self.lock.key)
        except (BotoCoreError, ClientError, TimedOut) as exc:
            log.warning(f"{s3_words(self.lock, exc)}; the lease ends by itself at its expiry")


def lease_expiry(text: str) -> float:
    """The expiry a lock object holds; an unreadable one counts as expired (only ind-alert writes it)."""
    try:
        return float(json.loads(text)["expires"])
    except (ValueError, TypeError, KeyError):
        return 0.0


# ------------------------------------------------ where config and state live


def s3_config_text(url: str) -> str:
    """alerts.toml kept in S3, so it can change without redeploying. Out of reach for a moment: a warning."""
    store = S3Store.from_url(url, "config")
    store.needs = "s3:GetObject"
    text, _ = store.read()  # unreadable: a ConfigError; out of reach for a moment: StateOutOfReach
    if text is None:
        raise ConfigError(f"{url} not found: upload your alerts.toml there (see .github/docs/aws.md)")
    return text


def open_store(location: str, legacy_desks: Mapping[str, str] | None = None) -> Store:
    if location.startswith("s3://"):
        return S3Store.from_url(location, "state", legacy_desks)
    return FileStore(Path(location), legacy_desks or {})


def load_config(location: str | Path) -> Config:
    """The alerts file at a path or an s3://bucket/key URL."""
    path = str(location)
    if path.startswith("s3://"):
        text = s3_config_text(path).removeprefix("\ufeff")  # a byte-order mark, as for a file
    else:
        try:
            data = read_file(Path(path))
        except FileNotFoundError:
            if path == DEFAULT_CONFIG:
                raise ConfigError(f"{path} not found: create it (see README) or pass --config PATH") from None
            raise ConfigError(f"{path} not found: check the path given by --config or IND_ALERT_CONFIG") from None
        except NotAFile as exc:
            raise ConfigError(f"{path} is {exc.kind}, not a file: pass --config with your alerts.toml") from None
        except OSError as exc:
            raise ConfigError(f"{path} cannot be read ({exc.strerror or 'refused by the system'})") from None
        if len(data) > MAX_BODY:
            raise ConfigError(f"{path} is over 2 MB, not an alerts file (one is a few kB): check --config")
        text = config_text(data, path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path} is not valid TOML: nested too deeply") from None
    return parse_config(doc, str(path))


# -------------------------------------------------------------------- in time
# How often this watcher really looks, and how long slots stay open. GitHub's own run history gives the
# first without a write per run; slot lifetimes change the state only when a slot appears or goes.

ACTIONS_API_URL = "https://api.github.com"
GITHUB_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


@dataclass(frozen=True)
class Cadence:
    """The times this watcher checked (unix, oldest first, this check included), or why they are unknown."""

    checks: tuple[int, ...] = ()
    source: str = ""  # where the times come from, in words
    unknown: str | None = None  # why they are not known, in a few words
    kept: bool = True  # False: this watcher keeps no check times at all, so it records no lifetimes either

    def previous(self, now: int) -> int | None:
        """The check before this one, when known."""
        return max((t for t in self.checks if t < now), default=None)


def workflow_file(env: Mapping[str, str]) -> str:
    """The running workflow's file name, from GITHUB_WORKFLOW_REF ("owner/repo/.github/workflows/x.yml@ref")."""
    name = env.get("GITHUB_WORKFLOW_REF", "").split("@")[0].rsplit("/", 1)[-1]
    return name if re.fullmatch(r"[A-Za-z0-9._-]+\.ya?ml", name) else "ind-alert.yml"


def run_times(doc: Any, current: str) -> tuple[list[int], int]:
    """The start times of the runs in one page of the Actions API's list, and how many runs it listed.

    The running run itself (GITHUB_RUN_ID) is left out, and so are runs that never checked (cancelled,
    skipped). Raises Invalid on any other shape.
    """
    expect(isinstance(doc, dict) and isinstance(doc.get("workflow_runs"), list), "no workflow_runs")
    times = []
    for run in doc["workflow_runs"]:
        expect(isinstance(run, dict), "a run is not an object")
        if str(run.get("id")) == current or run.get("conclusion") in ("cancelled", "skipped"):
            continue
        stamp = run.get("run_started_at") or run.get("created_at")
        expect(isinstance(stamp, str) and bool(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)), "no time")
        times.append(int(datetime.fromisoformat(stamp[:-1] + "+00:00").timestamp()))
    return times, len(doc["workflow_runs"])


def github_cadence(env: Mapping[str, str], now: int) -> Cadence:
    """This workflow's scheduled runs of the last week, from the Actions API (at most two pages of 100)."""
    base = (env.get("GITHUB_API_URL") or ACTIONS_API_URL).rstrip("/")
    url = f"{base}/repos/{env['GITHUB_REPOSITORY']}/actions/workflows/{workflow_file(env)}/runs"
    week_ago = datetime.fromtimestamp(now - CADENCE_DAYS * 86400, tz.UTC)
    headers = {**GITHUB_HEADERS, "User-Agent": USER_AGENT, "Authorization": f"Bearer {env['GITHUB_TOKEN']}"}
    times: list[int] = []
    try:
        for page in (1, 2):
            params = {"event": "schedule", "created": f">={week_ago:%Y-%m-%d}", "per_page": "100", "page": str(page)}
            with requests.get(url, params=params, headers=headers, timeout=(3, CADENCE_WAIT), stream=True) as answer:
                if answer.status_code in (401, 403, 404):
                    return Cadence(unknown=f"the Actions API refused (HTTP {answer.status_code}): needs actions: read")
                if answer.status_code != 200:
                    return Cadence(unknown=f"the Actions API answered HTTP {answer.status_code}")
                found, listed = run_times(strict_json(read_body(answer)), env.get("GITHUB_RUN_ID", ""))
            times += found
            if listed < 100:
                break
    except requests.Timeout:
        return Cadence(unknown="the Actions API did not answer in time")
    except requests.RequestException:
        return Cadence(unknown="the Actions API is out of reach")
    except (ValueError, TooLarge):  # Invalid is a ValueError
        return Cadence(unknown="the Actions API answered in an unexpected form")
    recent = sorted({t for t in times if now - CADENCE_DAYS * 86400 < t < now} | {now})
    return Cadence(tuple(recent), "GitHub's run history")


class RunHistory:
    """github_cadence in a background thread, started before IND is asked: it never delays the check."""

    def __init__(self, env: Mapping[str, str], now: int) -> None:
        self.result: Cadence | None = None
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self.read, args=(env, now), daemon=True)
        self.thread.start()

    def read(self, env: Mapping[str, str], now: int) -> None:
        try:
            self.result = github_cadence(env, now)
        except Exception:  # noqa: BLE001 - a failing history must never fail the check
            self.result = Cadence(unknown="the Actions API failed")

    def wait(self) -> Cadence:
        """The history, waiting at most CADENCE_WAIT seconds from the start in all."""
        self.thread.join(max(0.0, CADENCE_WAIT - (time.monotonic() - self.started)))
        return self.result or Cadence(unknown="the Actions API did not answer in time")


def recent_checks(times: Iterable[int], now: int) -> tuple[int, ...]:
    """The check times of the last week, now included, at most MAX_CHECKS."""
    return tuple(sorted({t for t in times if now - CADENCE_DAYS * 86400 < t < now} | {now}))[-MAX_CHECKS:]


@dataclass(frozen=True)
class Gaps:
    """What a cadence says: checks in the last 24 hours and 7 days, and the gaps between them (seconds)."""

    day: int
    week: int
    median: float | None = None
    p90: float | None = None
    longest: float | None = None


def nearest_rank(values: Sequence[float], share: float) -> float:
    """The share-th percentile of sorted values (nearest rank)."""
    return values[max(0, math.ceil(share * len(values)) - 1)]


def middle(values: Sequence[float]) -> float:
    """The median of sorted values."""
    half = len(values) // 2
    return values[half] if len(values) % 2 else (values[half - 1] + values[half]) / 2


def gap_figures(checks: Sequence[int], now: int) -> Gaps:
    times = sorted(t for t in checks if now - CADENCE_DAYS * 86400 < t <= now)
    gaps = sorted(float(b - a) for a, b in itertools.pairwise(times))
    day = sum(1 for t in times if t > now - 86400)
    if not gaps:
        return Gaps(day, len(times))
    return Gaps(day, len(times), middle(gaps), nearest_rank(gaps, 0.9), gaps[-1])


# ------------------------------------------------------------- slot lifetimes


def watched_key(product: str, desk: str) -> str:
    return f"{product} {desk}"


def slot_start(slot_id: str) -> float:
    """When a slot begins, from its id ("AM 2026-12-01 09:00-09:10"), Amsterdam time."""
    start = datetime.strptime(slot_id.split(" ", 1)[1][:16], "%Y-%m-%d %H:%M").replace(tzinfo=AMSTERDAM)
    return start.timestamp()


def prune_sightings(slots: Iterable[Sighting], now: int) -> tuple[Sighting, ...]:
    """Open slots all; closed ones of the last LIFETIME_DAYS, the newest MAX_LIFETIMES."""
    slots = sorted(slots, key=lambda s: (s.seen, s.product, s.slot))
    closed = [s for s in slots if s.gone is not None and s.gone > now - LIFETIME_DAYS * 86400][-MAX_LIFETIMES:]
    kept = {id(s) for s in closed}
    return tuple(s for s in slots if s.gone is None or id(s) in kept)


def track(
    lifetimes: Lifetimes, watched: set[str], answered: Mapping[str, set[str]], now: int, previous: int | None
) -> Lifetimes:
    """The sightings after a check. watched: every product-desk key the alerts watch; answered: for the keys
    whose every query answered, the ids of the matching slots open now; previous: the check before, if known.

    Returns lifetimes itself when nothing appeared or went, so a quiet check changes no byte of the state.
    """
    since = {k: v for k, v in lifetimes.watched.items() if k in watched}
    changed = since != dict(lifetimes.watched)
    slots: list[Sighting] = []
    still_open: dict[str, set[str]] = {}
    for s in lifetimes.slots:
        key = watched_key(s.product, s.desk)
        if s.gone is None and key not in since:  # no longer watched: its end will not be seen
            changed = True
        elif s.gone is not None or key not in answered or s.slot in answered[key]:
            slots.append(s)  # closed, or its desk did not answer (not known to be gone), or still open
            if s.gone is None:
                still_open.setdefault(key, set()).add(s.slot)
        else:
            changed = True
            if slot_start(s.slot) > now:  # gone before its time: taken (a slot whose time came is just past)
                last = None if previous is None else max(previous, s.seen)  # earlier: the run that first saw it
                slots.append(dataclasses.replace(s, last=last, gone=now))
    for key, ids in sorted(answered.items()):
        first = key not in since  # its open slots have no known start
        if first and ids:  # a desk is recorded with its first slot: a check that finds none writes nothing
            since[key], changed = now, True
        for slot in sorted(ids - still_open.get(key, set())):
            slots.append(Sighting(key.split(" ")[0], slot, now, None if first else previous))
            changed = True
    return Lifetimes(since, prune_sightings(slots, now), lifetimes.warned) if changed else lifetimes


def share_seen(lifetimes: Sequence[float], gap: float) -> float:
    """The share of slots with these lifetimes that a watcher checking every gap seconds sees at least once."""
    return sum(min(1.0, life / gap) for life in lifetimes) / len(lifetimes) if gap > 0 else 1.0


@dataclass(frozen=True)
class Verdict:
    """What the recorded slots of one desk and product say, for this watcher's cadence."""

    product: str
    desk: str
    count: int  # closed slots with a known start, last LIFETIME_DAYS
    median: float = 0.0  # seconds: the median of each lifetime's middle
    low: float = 0.0  # the median of the lower bounds (last sighting - first sighting)
    high: float = 0.0  # the median of the upper bounds (first seen gone - the check before the first sighting)
    gap: float | None = None  # this watcher's median gap
    share: float | None = None  # the share of such slots this watcher sees
    fast: float = 1.0  # the share a FAST_GAP watcher would see
    once: int = 0  # of count, the slots seen at one check only: gone by the next

    @property
    def blurred(self) -> bool:
        """Most slots were gone by the next check: they last less than a gap, which is all the data can say."""
        return self.gap is not None and self.gap > FAST_GAP and self.once * 3 > self.count * 2

    @property
    def slow(self) -> bool:
        """Clearly too slow: most slots gone by its next check, or under half of them seen where a fast
        watcher would see far more."""
        if self.count < MIN_SAMPLE:
            return False
        return self.blurred or (self.share is not None and self.share < 0.5 and self.fast > self.share + 0.25)


def verdict(lifetimes: Lifetimes, key: str, gap: float | None, now: int) -> Verdict:
    product, desk = key.split(" ", 1)
    bounds = []
    for s in lifetimes.slots:
        recent = s.seen > now - LIFETIME_DAYS * 86400
        if watched_key(s.product, s.desk) == key and s.gone is not None and s.before is not None and recent:
            bounds.append((float(s.last - s.seen if s.last is not None else 0), float(s.gone - s.before)))
    if not bounds:
        return Verdict(product, desk, 0, gap=gap)
    mids = sorted((lo + hi) / 2 for lo, hi in bounds)
    lows, highs = sorted(lo for lo, _ in bounds), sorted(hi for _, hi in bounds)
    share = share_seen(mids, gap) if gap else None
    once = sum(1 for lo, _ in bounds if lo == 0)
    fast = share_seen(mids, FAST_GAP)
    return Verdict(product, desk, len(bounds), middle(mids), middle(lows), middle(highs), gap, share, fast, once)


def appeared(lifetimes: Lifetimes, keys: set[str], now: int) -> list[datetime]:
    """When new slots appeared at these keys in the last LIFETIME_DAYS (first sightings after an earlier check)."""
    return [
        datetime.fromtimestamp(s.seen, AMSTERDAM)
        for s in lifetimes.slots
        if s.before is not None and watched_key(s.product, s.desk) in keys and s.seen > now - LIFETIME_DAYS * 86400
    ]


def minutes(seconds: float) -> str:
    """A duration in words: "12 min", "1 h 05 min", "under a minute"."""
    if seconds < 60:
        return "under a minute"
    whole = round(seconds / 60)
    return f"{whole} min" if whole < 60 else f"{whole // 60} h {whole % 60:02d} min"


def how_many(share: float) -> str:
    if share >= 0.9:
        words = "nearly all of them"
    elif share >= 0.65:
        words = "most of them"
    elif share >= 0.35:
        words = "roughly half of them"
    else:
        words = f"about 1 in {max(2, round(1 / share)) if share > 0 else 'many'}"
    return f"{words} ({round(share * 100)}%)"


def cadence_line(cadence: Cadence, now: int) -> str:
    if cadence.unknown:
        return f"Cadence unknown ({cadence.unknown})."
    g = gap_figures(cadence.checks, now)
    checked = f"This watcher checked {plural(g.day, 'time')} in the last 24 hours and {g.week} in 7 days"
    if g.median is None or g.p90 is None or g.longest is None:
        return f"{checked}: no gap between checks yet ({cadence.source})."
    gaps = f"median {minutes(g.median)}, 90% within {minutes(g.p90)}, longest {minutes(g.longest)}"
    return f"{checked}; between checks: {gaps} ({cadence.source})."


def verdict_line(v: Verdict, place: str) -> str:
    """One desk and product's verdict in words; place is its name, made safe for where it is shown."""
    if v.count < MIN_SAMPLE:
        seen = plural(v.count, "slot")
        return f"{place}: {seen} seen to open and close so far: too few to say how long slots stay open."
    within = f"median of {v.count}, last {LIFETIME_DAYS} days; each known to within the checks around it:"
    within += f" {minutes(v.low)} to {minutes(v.high)}"
    fast = "A 2-minute watcher (AWS Lambda or your own machine)"
    if v.gap is not None and v.blurred:
        return (
            f"{place}: {v.once} of {v.count} slots were gone by the next check ({within}): they stay open less"
            f" than the {minutes(v.gap)} between checks, so this watcher misses many. {fast} would see far more."
        )
    life = f"{place}: slots stayed open about {minutes(v.median)} ({within})"
    if v.gap is None or v.share is None:
        return f"{life}; how many this watcher sees is unknown without its cadence."
    sees = f"this watcher checks every {minutes(v.gap)}: it sees {how_many(v.share)}"
    return f"{life}; {sees}. {fast} would see {how_many(v.fast)}."


CAVEAT = (
    "A lifetime is known only to within the gaps around its first and last sighting; slots open at the first"
    " check have no known start; slots that open and close between two checks are never seen, so a slow"
    " watcher's figures lean long."
)


# ---------------------------------------------------------------- run records


@dataclass(frozen=True)
class Options:
    config: str  # a path or s3://bucket/key
    state: str
    dry_run: bool = False
    check: bool = False
    test_notification: bool = False
    list_desks: str | None = None
    watch: bool = False
    interval: float = DEFAULT_INTERVAL
    verbose: bool = False


class Status(enum.Enum):
    """What an alert that could be checked did in a run; the value is its words (run line, summary)."""

    OK = "ok"
    PUSHED = "pushed"
    PUSH_FAILED = "push failed"
    DRY_RUN = "dry run"
    DATES_PASSED = "dates passed"
    SECRET_REJECTED = "secret rejected"


@dataclass
class Outcome:
    """What one alert did in a run: for the per-alert line and the job summary."""

    alert: Alert
    status: Status = Status.OK
    open: int = 0
    matching: int = 0
    new: int = 0
    earliest: Slot | None = None
    failure: Failure | None = None  # why IND could not be checked for this alert
    desks: tuple[str, ...] = ()  # the desks checked (for "any": the ones IND lists)
    failed_desks: int = 0
    earliest_by_desk: dict[str, Slot] = field(default_factory=dict)
    slots: Sequence[Slot] = ()  # the open matching slots, for the pictures
    history: Mapping[str, str | None] = field(default_factory=dict)
    answered: tuple[str, ...] = ()  # the desks that answered
    tracked: Sequence[Slot] = ()  # the open slots whose lifetimes are recorded: matching, days_ahead aside
    appeared: Sequence[datetime] = ()  # when new matching slots appeared at its desks, last 30 days

    @property
    def failed(self) -> bool:
        return self.failure is not None

    @property
    def words(self) -> str:
        """Its status in words: why it failed, or what it did."""
        return self.failure.value if self.failure else self.status.value

    def line(self) -> str:
        """The run's one line for this alert, e.g. "Amsterdam: 12 open, 3 match, 1 new, pushed"."""
        if self.failed:
            return f"{self.alert.name}: {self.words}"
        failed = f" ({self.failed_desks} of {len(self.desks)} desks failed)" if self.failed_desks else ""
        return f"{self.alert.name}: {self.open} open, {self.matching} match, {self.new} new, {self.words}{failed}"


def adopt(alert_state: AlertState, implicit: bool) -> AlertState:
    """The implicit recipient was called "default" before it was "you": what it was sent stays sent.

    A state merged from runs on both sides of the rename has both names: what either was sent stays sent.
    """
    sent = dict(alert_state.sent)
    if not implicit or LEGACY_RECIPIENT not in sent:
        return alert_state
    sent[DEFAULT_RECIPIENT.name] = sent.pop(LEGACY_RECIPIENT) | sent.get(DEFAULT_RECIPIENT.name, frozenset())
    return dataclasses.replace(alert_state, sent=sent)


def claim(state: State, env: Mapping[str, str]) -> State:
    """State written by another repository (a fork's parent, a template) is not ours to trust."""
    repository = env.get("GITHUB_REPOSITORY") or None
    if repository and state.repository and state.repository != repository:
        notice(
            f"the state was written by {state.repository}, not {repository}: starting fresh,"
            " so every open matching slot is pushed once"
        )
        return State(repository=repository)
    return dataclasses.replace(state, repository=repository or state.repository)


def asked_now(alert: Alert, loaded: State, implicit: bool) -> AlertState:
    """An alert's stored state, for the kind it asks for now and the recipients' names now."""
    alert_state = loaded.alerts.get(alert.name, AlertState())
    current = for_kind(alert_state, alert.kind)
    if any(alert_state.sent.values()) and not current.sent:
        persons = plural(alert.persons, "person")
        notice(
            f"{alert.name}: now asks for {PRODUCTS[alert.product].lower()} for {persons}, so its open"
            " matching slots are pushed afresh"
        )
    return adopt(current, implicit)


# --------------------------------------------------------------------- output


def append_to(env: Mapping[str, str], var: str, text: str) -> None:
    """Append to a file GitHub Actions names in the environment (the summary, the step outputs)."""
    if env.get(var):
        try:
            with open(env[var], "a", encoding="utf-8") as out:
                out.write(redactor().scrub(text))
        except OSError:
            log.warning(f"could not write {var}")


def github_output(env: Mapping[str, str], name: str, value: str) -> None:
    """Hand a value to the workflow's next steps (steps.<id>.outputs.<name>)."""
    append_to(env, "GITHUB_OUTPUT", f"{name}={value}\n")


def table_cell(text: str) -> str:
    """One Markdown table cell: a newline or a | in an alert name must not break the table."""
    text = redactor().scrub(text)  # before any escaping, which would hide a secret from the last scrub
    return CONTROL.sub(" ", text.replace("\r", " ").replace("\n", " ")).replace("|", "\\|")


def markdown_text(text: str) -> str:
    """User text made inert in Markdown: no HTML, links, emphasis, code fences or table breaks."""
    text = " ".join(CONTROL.sub(" ", redactor().scrub(text)).split())  # scrubbed first: escaping hides a secret
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~:])", r"\\\1", text)


def write_summary(
    env: Mapping[str, str],
    outcomes: Sequence[Outcome],
    dry_run: bool,
    now: datetime,
    names: Mapping[str, str] = DESKS,
    in_time: Sequence[str] = (),
) -> None:
    """A Markdown table on the GitHub Actions run page: the watcher works even when nothing is new.

    Below it, for each alert with several desks, the earliest slot at each desk (where to travel for it),
    then whether the watcher is in time (in_time: Markdown lines), then each alert's pictures.
    """
    rows = [
        "## ind-alert" + (" (dry run)" if dry_run else ""),
        "",
        "| Alert | Desk | Appointment | Persons | Earliest matching slot | New | Status |",
        "|---|---|---|---|---|---|---|",
    ]
    details = []
    for o in outcomes:
        a = o.alert
        desk = plural(len(o.desks), "desk") if a.several else markdown_text(desk_name(a.desk[0], names))
        earliest = o.earliest.label() if o.earliest else "—"
        if o.earliest and a.several:
            earliest += f" · {markdown_text(short_desk(o.earliest.desk, names))}"
        status = o.words + (f" ({o.failed_desks} of {len(o.desks)} desks failed)" if o.failed_desks else "")
        cells = [PRODUCTS[a.product], str(a.persons), str(o.new), status]
        product, persons, new, status = (table_cell(c) for c in cells)
        rows.append(f"| {markdown_text(a.name)} | {desk} | {product} | {persons} | {earliest} | {new} | {status} |")
        if a.several and o.earliest_by_desk:
            details += ["", f"**{markdown_text(a.name)}**: earliest matching slot per desk", ""]
            details += ["| Desk | Earliest matching slot |", "|---|---|"]
            for slot in sorted(o.earliest_by_desk.values()):
                details.append(f"| {markdown_text(short_desk(slot.desk, names))} | {slot.label()} |")
    rows += [*details, ""]
    if in_time:
        rows += ["### In time?", "", in_time[0], "", *(f"- {line}" for line in in_time[1:]), ""]
    for o in outcomes:
        rows += summary_pictures(o, now)
    append_to(env, "GITHUB_STEP_SUMMARY", cut_summary(rows))


SUMMARY_LIMIT = 1_000_000  # bytes of a job summary: GitHub refuses one over 1 MiB, and the whole page with it
SUMMARY_CUT = "*The summary was cut here: it would be over GitHub's 1 MiB limit. Every alert's line is in the log.*"


def cut_summary(rows: Sequence[str]) -> str:
    """The summary's text, cut at a whole line below SUMMARY_LIMIT with a note saying so (an open chart is
    closed first)."""
    text = "\n".join(rows) + "\n"
    if len(text.encode("utf-8")) <= SUMMARY_LIMIT:
        return text
    room, kept, fenced = SUMMARY_LIMIT - len(SUMMARY_CUT.encode()) - 16, [], False
    for line in text.split("\n"):
        room -= len(line.encode("utf-8")) + 1
        if room < 0:
            break
        kept.append(line)
        fenced ^= line.startswith("```")  # a chart opens and closes with one; user text never starts a line so
    return "\n".join([*kept, *(["```"] if fenced else []), "", SUMMARY_CUT]) + "\n"


# ------------------------------------------------------------------- pictures
# Pure functions drawing an alert's availability: Mermaid charts for the run page, text for a terminal.
# Only dates and numbers go inside a Mermaid block; the user's alert name stays outside it, escaped.


def chart_window(alert: Alert, now: datetime) -> tuple[date, date] | None:
    """The days the slots-per-day chart covers: the alert's range, at most CHART_DAYS from its start."""
    start = max(today(now), alert.after or today(now))
    end = start + timedelta(days=CHART_DAYS - 1)
    if alert.days_ahead is not None:
        end = min(end, today(now) + timedelta(days=alert.days_ahead))
    if alert.before is not None:
        end = min(end, alert.before)
    return (start, end) if start <= end else None


def slots_per_day(slots: Iterable[Slot], first: date, last: date) -> list[tuple[date, int]]:
    counts = [0] * ((last - first).days + 1)
    for slot in slots:
        if first <= slot.start.date() <= last:
            counts[(slot.start.date() - first).days] += 1
    return [(first + timedelta(days=i), n) for i, n in enumerate(counts)]


def trend(history: Mapping[str, str | None]) -> list[tuple[date, int | None]]:
    """History as (check day, days until the earliest slot), None where nothing was open."""
    points = []
    for day, point in sorted(history.items()):
        checked = date.fromisoformat(day)
        points.append((checked, None if point is None else (date.fromisoformat(point) - checked).days))
    return points


def day_label(day: date) -> str:
    return f"{day.day} {day:%b}"


def axis_labels(days: Sequence[date]) -> list[str]:
    """Short x-axis labels: "23", "24", …, "1 Dec", "2", … (the title names the first and last day).

    Mermaid merges equal labels into one bar, so a day number seen before (six weeks span two 23rds)
    gets an invisible zero-width space: it looks the same and stays its own bar.
    """
    labels: list[str] = []
    for i, day in enumerate(days):
        label = day_label(day) if day.day == 1 and i else str(day.day)
        while label in labels:
            label += "\u200b"
        labels.append(label)
    return labels


def mermaid_axis(days: Sequence[date]) -> list[str]:
    """The chart's opening lines, wide enough for six weeks of days."""
    config = {
        "xyChart": {"width": max(600, 28 * len(days)), "height": 320, "xAxis": {"labelFontSize": 12}},
        "themeVariables": {"xyChart": {"plotColorPalette": "#3b6fb6"}},
    }
    return ["```mermaid", f"%%{{init: {json.dumps(config)}}}%%", "xychart-beta"]


def mermaid_chart(kind: str, title: str, unit: str, points: Sequence[tuple[date, int]], floor: int = 0) -> str:
    """A Mermaid xychart-beta chart (kind "bar" or "line") of a number per day: only dates and numbers."""
    days = [d for d, _ in points]
    return "\n".join(
        [
            *mermaid_axis(days),
            f'    title "{title}, {day_label(days[0])} to {day_label(days[-1])}"',
            "    x-axis [" + ", ".join(f'"{label}"' for label in axis_labels(days)) + "]",
            f'    y-axis "{unit}" 0 --> {max(max(n for _, n in points), floor)}',
            f"    {kind} [" + ", ".join(str(n) for _, n in points) + "]",
            "```",
        ]
    )


def mermaid_bars(counts: Sequence[tuple[date, int]]) -> str:
    """A bar chart of open matching slots per day."""
    return mermaid_chart("bar", "Open matching slots per day", "slots", counts)


def mermaid_trend(points: Sequence[tuple[date, int]]) -> str:
    """A line chart of days until the earliest slot, per check day."""
    return mermaid_chart("line", "Days until the earliest matching slot", "days", points, floor=1)


def by_hour(times: Iterable[datetime]) -> list[int]:
    counts = [0] * 24
    for moment in times:
        counts[moment.hour] += 1
    return counts


def by_weekday(times: Iterable[datetime]) -> list[int]:
    counts = [0] * 7
    for moment in times:
        counts[moment.weekday()] += 1
    return counts


def weekday_counts(times: Sequence[datetime]) -> str:
    """ "Mon 3, Tue 0, …" """
    return ", ".join(f"{name.capitalize()} {n}" for name, n in zip(WEEKDAYS, by_weekday(times), strict=True))


def mermaid_hours(times: Sequence[datetime]) -> str:
    """A bar chart of when new matching slots appeared, by Amsterdam hour of day: only numbers inside."""
    counts = by_hour(times)
    return "\n".join(
        [
            "```mermaid",
            mermaid_axis([date.min] * 24)[1],
            "xychart-beta",
            f'    title "New matching slots by hour of day, Amsterdam time, last {LIFETIME_DAYS} days"',
            "    x-axis [" + ", ".join(f'"{h}"' for h in range(24)) + "]",
            f'    y-axis "slots" 0 --> {max(max(counts), 1)}',
            "    bar [" + ", ".join(str(n) for n in counts) + "]",
            "```",
        ]
    )


def summary_pictures(outcome: Outcome, now: datetime) -> list[str]:
    """The Markdown under the table for one alert: slots per day, then the 30-day trend."""
    alert = outcome.alert
    out = [f"### {markdown_text(alert.name)}", ""]
    window = chart_window(alert, now)
    counts = slots_per_day(outcome.slots, *window) if window else []
    if outcome.failed:  # never drawn as "no slots"
        out.append(f"IND could not be checked this run ({markdown_text(outcome.words)}): no slots to draw.")
    elif not any(n for _, n in counts):
        last = f" until {day_label(window[1])}" if window else ""
        out.append(f"No matching slot is open{last}.")
    else:
        out.append(mermaid_bars(counts))
    out.append("")
    points = trend(outcome.history)
    numbers = [(d, n) for d, n in points if n is not None]
    if len(numbers) >= 2:
        out.append(mermaid_trend(numbers))
        if gaps := [d for d, n in points if n is None]:
            out += ["", "No matching slot was open on " + ", ".join(day_label(d) for d in gaps) + "."]
    elif points:
        out.append(f"Days until the earliest matching slot, {text_trend(points)} (a chart from two such days on).")
    out.append("")
    if outcome.appeared:
        out += [mermaid_hours(outcome.appeared), "", f"By weekday: {weekday_counts(outcome.appeared)}.", ""]
    return out


def text_calendar(counts: Sequence[tuple[date, int]]) -> list[str]:
    """One line per ISO week: "w48  Mo 2   Tu 0   We 5 …"; days outside the window left blank."""
    lines: list[str] = []
    week: int | None = None
    cells: list[str] = []
    for day, n in counts:
        number = day.isocalendar().week
        if number != week:
            if cells:
                lines.append("  ".join([f"w{week:02d}", *cells]).rstrip())
            week, cells = number, ["     "] * day.weekday()
        cells.append(f"{day:%a}"[:2] + f" {n:<2}")
    if cells:
        lines.append("  ".join([f"w{week:02d}", *cells]).rstrip())
    return lines


def text_trend(points: Sequence[tuple[date, int | None]]) -> str:
    """Days until the earliest slot per check day, oldest first: "25 Oct to 23 Nov: 14 12 - 9"; - is none open."""
    numbers = " ".join("-" if n is None else str(n) for _, n in points)
    span = day_label(points[0][0]) + ("" if len(points) == 1 else " to " + day_label(points[-1][0]))
    return f"{span}: {numbers}"


def print_pictures(outcome: Outcome, now: datetime) -> None:
    """The pictures as text, for --dry-run in a terminal."""
    window = chart_window(outcome.alert, now)
    counts = slots_per_day(outcome.slots, *window) if window else []
    if outcome.failed:
        say(f"  IND could not be checked this run ({outcome.words}): no slots to show")
    else:
        if any(n for _, n in counts):
            say(f"  open matching slots per day, {day_label(counts[0][0])} to {day_label(counts[-1][0])}:")
            for line in text_calendar(counts):
                say(f"    {line}")
        else:
            say("  no matching slot is open" + (f" until {day_label(window[1])}" if window else ""))
    if points := trend(outcome.history):
        say(f"  days until the earliest slot, {text_trend(points)}")
    if outcome.appeared:
        hours = " ".join(f"{h:02d}h {n}" for h, n in enumerate(by_hour(outcome.appeared)) if n)
        say(f"  new matching slots by hour (Amsterdam), last {LIFETIME_DAYS} days: {hours}")
        say(f"  by weekday: {weekday_counts(outcome.appeared)}")


# ---------------------------------------------------------------- healthcheck


class Healthcheck(logging.Handler):
    """The optional HEALTHCHECK_URL (healthchecks.io and monitors of the same shape): told after each run.

    A run that did its job pings the URL; one that needs the user (exit code not 0, an alert blind past
    blind_after_minutes, an unconfigured copy) pings URL/fail with the run's warning and error lines as
    the body. The monitor alerts when pings stop: the watcher stopped running. A ping never fails a run.
    """

    def __init__(self, url: str) -> None:
        super().__init__(logging.WARNING)
        base, mark, query = url.strip().partition("?")
        self.url = base.rstrip("/") + mark + query
        self.lines: list[str] = []
        self.blind = False

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(redactor().scrub(clean(f"{record.levelname.lower()}: {record.getMessage()}")))

    def ping(self, ok: bool, deadline: Deadline) -> None:
        body = "\n".join(self.lines)[-HEALTHCHECK_BODY:].encode("utf-8", "replace")
        self.lines.clear()

        def send() -> int:
            url = self.url if ok else fail_url(self.url)
            headers = {"User-Agent": USER_AGENT, "Content-Type": "text/plain; charset=utf-8"}
            # stream: only the status is read, so a body that drips keeps no thread waiting for it
            with requests.post(url, data=body, headers=headers, timeout=(CONNECT_TIMEOUT, 10.0), stream=True) as got:
                return got.status_code

        try:
            status = within(deadline, send)
        except Exception:  # noqa: BLE001 - the monitor is a helper: never a reason for a run to fail
            status = 0
        if not 200 <= status < 300:
            log.warning("the healthcheck could not be pinged: check HEALTHCHECK_URL (the run itself went on)")
            self.lines.clear()  # told now; not the next ping's news


def fail_url(url: str) -> str:
    """The /fail form of a ping URL: into the path, before a query (healthchecks.io's ?create=1)."""
    base, mark, query = url.partition("?")
    return f"{base.rstrip('/')}/fail{mark}{query}"


# ------------------------------------------------------------------------ run


@dataclass
class Result:
    """What one run did, for its caller to tell: the lines, the summary, the exit code, the next wait."""

    outcomes: list[Outcome]
    in_time: list[str]  # the cadence and verdict lines
    in_time_markdown: list[str]  # the same, names escaped for Markdown
    failed: bool  # something needs fixing
    retry_after: float  # the longest Retry-After IND asked for in this run
    blind: bool  # an alert or a recipient is blind: the dead-man's switch is told
    now: datetime

    @property
    def code(self) -> int:
        """0, or 1 when something needs fixing (a rejected secret, an unsaved state, a blind recipient)."""
        return 1 if self.failed else 0


@dataclass
class Run:
    """One run's mutable state: what it found, pushed and saved. A Runner makes a fresh one for every check.

    Every delivered push is saved at once, so nothing that goes wrong afterwards (an error, a kill, a full
    deadline) can make the next run push it again.
    """

    runner: Runner
    deadline: Deadline
    state: State = field(default_factory=State)
    outcomes: list[Outcome] = field(default_factory=list)
    disabled: set[str] = field(default_factory=set)  # recipients that failed permanently this run
    frozen: bool = False  # the state could not be saved: push nothing more, or it goes out again next run
    failed: bool = False  # something needs fixing: the run ends with exit 1
    bad_sounds: set[str] = field(default_factory=set)  # alerts whose sound Pushover does not know
    tried: dict[str, bool] = field(default_factory=dict)  # recipient -> whether a push this run reached it
    rehearsed: bool = False  # the store's write was rehearsed this run (Store.writable)
    in_time: list[str] = field(default_factory=list)  # this run's cadence and verdict lines, for the summary
    in_time_markdown: list[str] = field(default_factory=list)  # the same, names escaped for Markdown

    @property
    def config(self) -> Config:
        return self.runner.config

    @property
    def dry_run(self) -> bool:
        return self.runner.dry_run

    @property
    def pushover(self) -> PushoverClient | None:
        return self.runner.pushover

    def fetch_deadline(self, share: float = 1.0) -> Deadline:
        """IND's part of the run's deadline: most of the run's time (what is left is for the pushes), or
        `share` of that."""
        most = min(FETCH_DEADLINE, self.runner.deadline_seconds * FETCH_DEADLINE / RUN_DEADLINE)
        return self.deadline.part(most * share, share)

    def record(self, alert: Alert, alert_state: AlertState, delivered: bool = False) -> None:
        """Keep an alert's new state; save it at once when a push was delivered."""
        self.state = dataclasses.replace(self.state, alerts={**self.state.alerts, alert.name: alert_state})
        if delivered:
            self.save()

    def save(self) -> None:
        if self.dry_run or self.frozen:
            return
        store = self.runner.store
        try:
            if saved := store.save(self.state):
                self.state = saved  # it may hold another run's pushes too: keep them in later saves
                log.info(f"state saved to {store.location}")
        except StateUnsaved as exc:
            log.error(f"{exc}; nothing more is pushed this run, so nothing is pushed twice")
            self.failed = self.frozen = True

    def ready_to_push(self) -> bool:
        """Before a run's first push, the store rehearses its write: a push that could not be recorded would
        go out again on every run, so when the rehearsal fails nothing is pushed (exit 1)."""
        if not self.rehearsed and not self.frozen:
            self.rehearsed = True
            try:
                self.runner.store.writable()
            except StateUnsaved as exc:
                log.error(str(exc))
                self.failed = self.frozen = True
        return not self.frozen

    def deliver(self, recipient: Recipient, push: Push, notice: bool = False) -> bool:
        """Send a push; a failure is logged and makes the run fail or warn, never raised.

        A refused slot push stops that recipient for the run; a refused notice does not: what Pushover
        refused is the notice (a title, say), and the slot pushes must still be tried.
        """
        if recipient.name in self.disabled or not self.ready_to_push():
            return False
        self.tried[recipient.name] = self.tried.get(recipient.name, False)
        share = self.deadline.part(self.deadline.left(), PUSH_SHARE)
        try:  # one thread: the Pushover client's calls under the same share run on it (within)
            with self.pushover.waiting(share) if self.pushover else contextlib.nullcontext():
                within(share, lambda: self.runner.channels[recipient.name].send(push))
            self.tried[recipient.name] = True
            return True
        except NotifyError as exc:
            if exc.permanent:
                env = self.runner.env
                user = recipient.env, env.get(recipient.env, "")
                words = user_rejected(*user) if exc.rejected is Rejected.USER else exc
                log.error(f"recipient {recipient.name}: {words}")
                self.failed = True
                if not notice:
                    self.disabled.add(recipient.name)  # never repeat a rejected request
            else:
                log.warning(f"recipient {recipient.name}: {exc}")
        except TimedOut:
            if recipient.pushover_user_env and self.pushover:
                self.pushover.silent = True  # its other recipients are not kept waiting the same way
            log.warning(f"recipient {recipient.name}: no answer in the time this run had for it; {RETRY_NEXT_RUN}")
        except Exception as exc:  # noqa: BLE001 - an unknown failure is an undelivered push, retried next run
            log.warning(f"recipient {recipient.name}: the push failed ({cause(exc)}); {RETRY_NEXT_RUN}")
        return False

    def audience(self, alerts: Iterable[Alert]) -> set[str]:
        """Who gets notices about these alerts: their recipients, not the urgent-only ones."""
        return {r.name for a in alerts for r in self.config.recipients_of(a) if not r.only_urgent}

    def broadcast(self, names: Iterable[str], push: Push) -> set[str]:
        """Send a notice to each of these recipients (one failing stops no other); the ones it reached."""
        if self.dry_run:
            say(f"would push: {push.title}")
            return set()
        return {name for name in sorted(names) if self.deliver(self.config.recipients[name], push, notice=True)}


@dataclass
class Runner:
    """What outlives one check: the config, the store, the channels and IND's desk lists (in --watch, asked
    once an hour), and this process's check times. Each check gets its own Run (begin). Outside things are
    passed in."""

    config: Config
    store: Store
    env: Mapping[str, str]
    channels: Mapping[str, Channel]
    pushover: PushoverClient | None
    dry_run: bool = False
    clock: Callable[[], float] = time.time
    deadline_seconds: float = RUN_DEADLINE
    desks: DeskLists = field(default_factory=DeskLists)  # kept across --watch cycles: asked once an hour
    health: Healthcheck | None = None  # told whether an alert is blind, for the dead-man's switch
    recent: list[int] = field(default_factory=list)  # --watch: the times of this process's checks
    watching: bool = False

    def begin(self) -> Run:
        """A fresh run: its one deadline, and nothing found yet. The store is bound to the whole of it; the
        run's own waits end before the save's grace, the deadline's last seconds."""
        whole = Deadline(self.deadline_seconds)
        grace = min(SAVE_GRACE, self.deadline_seconds * SIDE_SHARE)
        self.store.bind(whole, grace)
        deadline = whole.part(self.deadline_seconds, keep=grace)
        if self.pushover:  # watch mode reuses the client: only this run's quota, a bad token asked again
            self.pushover.begin(deadline)
        return Run(self, deadline)

    def check(self) -> Result:
        """One check under the state's lock: no other run on it pushes meanwhile (a dry run writes nothing)."""
        with contextlib.nullcontext() if self.dry_run else self.store.lock():
            return check_all(self.begin())

    def run(self) -> int:
        """One check, told (report): its exit code."""
        return report(self.check(), self)


def report(result: Result, runner: Runner) -> int:
    """A run's lines, pictures (--dry-run), job summary and step output; its exit code."""
    for outcome in result.outcomes:
        say(outcome.line())
        if runner.dry_run:
            print_pictures(outcome, result.now)
    for line in result.in_time:
        say(line)
    write_summary(runner.env, result.outcomes, runner.dry_run, result.now, runner.desks.names, result.in_time_markdown)
    pushed = sum(o.new for o in result.outcomes if o.status is Status.PUSHED)
    if pushed and not runner.dry_run:
        github_output(runner.env, "commit_message", f"{plural(pushed, 'new slot')} pushed")
    return result.code


# ------------------------------------------------------------------ one check
# One run's steps, in the order check_all takes them.


def check_secrets(run: Run, now: datetime) -> None:
    """The day's check of the Pushover secrets and sounds (checked_secrets): its problems fail the run
    (exit 1) while pushes still go where they can, to the other recipients and without a bad sound."""
    pushover = run.pushover
    if pushover is None or run.dry_run:
        return
    with pushover.waiting(run.deadline.part(SIDE_WAIT, SIDE_SHARE)):  # IND's time is IND's
        record, users, sounds = checked_secrets(pushover, run.config, run.runner.env, run.state.validated, now)
    if record is None:
        return
    run.state = dataclasses.replace(run.state, validated=record)
    for problem in record.problems:
        log.error(problem.text())
        run.failed = True
        if problem.kind is Trouble.TOKEN:
            pushover.token_rejected = True  # nothing more is sent with it this run
            run.disabled |= set(users)
        elif problem.kind is Trouble.RECIPIENT and problem.subject in users:
            run.disabled.add(problem.subject)
        elif problem.kind is Trouble.SOUND and problem.subject in sounds:
            run.bad_sounds.add(problem.subject)


def start_cadence(run: Run, now: int) -> Callable[[], Cadence]:
    """Where this watcher's check times come from: GitHub's run history (read beside IND's answers), the
    state on AWS Lambda (the only place a write per check costs no commit), this process in --watch."""
    runner, env = run.runner, run.runner.env
    if env.get("GITHUB_ACTIONS") == "true":
        if not (env.get("GITHUB_TOKEN") and env.get("GITHUB_REPOSITORY")):
            return lambda: Cadence(unknown="the check step has no GITHUB_TOKEN")
        return RunHistory(env, now).wait
    if env.get("AWS_LAMBDA_FUNCTION_NAME") and runner.store.location.startswith("s3://"):
        if not run.dry_run:
            run.state = dataclasses.replace(run.state, checks=recent_checks(run.state.checks, now))
        checks = recent_checks(run.state.checks, now)
        return lambda: Cadence(checks, "the check times in the state")
    if runner.watching:
        runner.recent[:] = recent_checks(runner.recent, now)
        return lambda: Cadence(tuple(runner.recent), "this --watch")
    return lambda: Cadence(unknown="a one-shot run on this machine keeps no check times: --watch does", kept=False)


def judge(run: Run, now: datetime, cadence: Cadence) -> None:
    """Record which slots appeared and went, then say whether this watcher is in time for them."""
    stamp = int(now.timestamp())
    watched: set[str] = set()
    answered: dict[str, set[str]] = {}
    failed: set[str] = set()
    for o in run.outcomes:
        for desk in o.desks:
            key = watched_key(o.alert.product, desk)
            watched.add(key)
            if desk in o.answered:
                answered.setdefault(key, set())
            else:
                failed.add(key)
        for slot in o.tracked:
            answered.setdefault(watched_key(o.alert.product, slot.desk), set()).add(slot.id)
    answered = {k: ids for k, ids in answered.items() if k not in failed}
    lifetimes = run.state.lifetimes
    if cadence.kept:  # without check times no start or end could be bracketed
        lifetimes = track(lifetimes, watched, answered, stamp, cadence.previous(stamp))
        run.state = dataclasses.replace(run.state, lifetimes=lifetimes)
    for o in run.outcomes:
        o.appeared = appeared(lifetimes, {watched_key(o.alert.product, d) for d in o.desks}, stamp)
    if not cadence.kept and not run.dry_run:
        return  # a one-shot run on this machine: its lines only in --dry-run
    gap = None if cadence.unknown else gap_figures(cadence.checks, stamp).median
    verdicts = [verdict(lifetimes, key, gap, stamp) for key in sorted(watched)]
    verdicts = [v for v in verdicts if v.count or len(watched) <= 3]  # "any": the desks with slots only
    run.in_time = [cadence_line(cadence, stamp)]
    run.in_time_markdown = [run.in_time[0]]  # our words only: no name in it
    for v in verdicts:
        place = f"{desk_name(v.desk, run.runner.desks.names)}, {PRODUCTS[v.product].lower()}"
        run.in_time.append(verdict_line(v, place))
        run.in_time_markdown.append(verdict_line(v, markdown_text(place)))
    if any(v.count for v in verdicts):
        run.in_time.append(CAVEAT)
        run.in_time_markdown.append(CAVEAT)
    too_slow(run, [v for v in verdicts if v.slow], stamp)


def cancel_emergencies(run: Run, alert: Alert, current: AlertState, open_ids: set[str], now: datetime) -> AlertState:
    """Stop the phone ringing for an emergency push whose slots someone else booked."""
    kept = {}
    for tag, emergency in current.emergencies.items():
        if emergency.expires <= now.timestamp():
            continue
        if emergency.slots & open_ids or run.dry_run or run.pushover is None:
            kept[tag] = emergency
            continue
        try:
            with run.pushover.waiting(run.deadline.part(SIDE_WAIT, SIDE_SHARE)):
                run.pushover.cancel(tag)
            log.info(f"{alert.name}: the urgent slot is gone; emergency push cancelled")
        except NotifyError as exc:
            log.warning(f"{alert.name}: could not cancel an emergency push: {exc}")
            if not exc.permanent:
                kept[tag] = emergency
    return dataclasses.replace(current, emergencies=kept)


def read_answers(outcome: Outcome, answers: Mapping[str, FetchResult], failed: int, now: datetime) -> list[Slot]:
    """Fill an outcome from the answers of an alert's desks (failed of them could not be checked); the open
    slots, earliest first."""
    alert = outcome.alert
    outcome.failed_desks = failed
    result = sorted(s for r in answers.values() if isinstance(r, Answer) for s in r.slots)
    open_slots = [s for s in result if s.start > now]
    matching = [s for s in open_slots if matches(alert, s, now)]
    outcome.open, outcome.matching = len(open_slots), len(matching)
    outcome.earliest = matching[0] if matching else None
    for slot in reversed(matching):
        outcome.earliest_by_desk[slot.desk] = slot
    outcome.slots = matching
    # days_ahead moves with the date: a slot entering the window at midnight did not just open.
    steady = dataclasses.replace(alert, days_ahead=None)
    outcome.tracked = [s for s in open_slots if matches(steady, s, now)]
    return open_slots


def push_new(run: Run, alert: Alert, current: AlertState, outcome: Outcome, now: datetime) -> list[Status]:
    """Push each recipient the matching slots it was not told about, saving after every delivered push."""
    statuses: list[Status] = []
    names, url = run.runner.desks.names, edit_url(run.runner.env)
    for recipient in run.config.recipients_of(alert):
        slots = unsent(alert, recipient, outcome.slots, current.sent.get(recipient.name, frozenset()), now)
        if not slots:
            continue
        outcome.new = max(outcome.new, len(slots))
        for push, covered in pushes_for(alert, recipient, slots, now, names, url):
            if alert.name in run.bad_sounds:  # pushed with the default sound rather than not at all
                push = dataclasses.replace(push, sound=None)
            if run.dry_run:
                say(f"would push to {recipient.name}: {push.title}")
                for text in push.message.split("\n"):
                    say(f"  {text}")
                statuses.append(Status.DRY_RUN)
                continue
            if not run.deliver(recipient, push):
                statuses.append(Status.PUSH_FAILED)
                break  # the rest waits for the next run
            done = current.sent.get(recipient.name, frozenset()) | {s.id for s in covered}
            emergencies = dict(current.emergencies)
            if push.tag and recipient.pushover_user_env:  # only Pushover repeats, and only it can cancel
                urgent = frozenset(s.id for s in covered if is_urgent(alert, s, now))
                emergencies[push.tag] = Emergency(urgent, int(now.timestamp()) + EMERGENCY_EXPIRE)
            current = dataclasses.replace(current, sent={**current.sent, recipient.name: done}, emergencies=emergencies)
            run.record(alert, current, delivered=True)
            statuses.append(Status.PUSHED)
    return statuses


def check_alert(run: Run, alert: Alert, answers: Mapping[str, FetchResult], now: datetime) -> None:
    previous = run.state.alerts[alert.name]
    outcome = Outcome(alert, desks=tuple(answers))
    run.outcomes.append(outcome)
    passed = dates_passed(alert, now)
    if passed:  # every run, until the dates are changed: such an alert would otherwise say "ok" for ever
        log.warning(f'alert "{alert.name}": {passed}')
    failed = run.runner.desks.failures(alert, answers)
    if len(failed) == len(answers):  # nothing could be checked: never read as "no slots"
        first = next(iter(failed.values()), None)
        outcome.failure = first.status if first else Failure.NONE_OFFERS
        if not first:
            log.warning(f"{alert.name}: IND lists no desk for {PRODUCTS[alert.product].lower()} now")
        # A start later than now was written by a clock that was ahead: the outage starts now.
        failing = min(previous.failing_since or int(now.timestamp()), int(now.timestamp()))
        outcome.history = past_history(previous.history, today(now))
        run.record(alert, dataclasses.replace(previous, failing_since=failing, history=outcome.history))
        return
    # Only a complete answer can show a slot gone: a desk that failed or had an unreadable entry keeps it.
    outcome.answered = tuple(d for d, r in answers.items() if isinstance(r, Answer) and r.complete and d not in failed)
    open_slots = read_answers(outcome, answers, len(failed), now)
    outcome.history = record_history(previous.history, today(now), outcome.earliest)
    previous = dataclasses.replace(previous, history=outcome.history)
    recipients = run.config.recipients_of(alert)
    kept = {r.name: previous.sent[r.name] for r in recipients if r.name in previous.sent}
    open_ids = {s.id for s in open_slots} | not_known_gone(previous, set(outcome.answered), now)
    current = forget_gone(dataclasses.replace(previous, sent=kept), open_ids)
    current = cancel_emergencies(run, alert, current, open_ids, now)
    run.record(alert, current)
    current = recover(run, alert, current)
    statuses = push_new(run, alert, current, outcome, now)
    outcome.status = Status.PUSH_FAILED if Status.PUSH_FAILED in statuses else (statuses or [Status.OK])[0]
    if outcome.status is Status.OK and passed:
        outcome.status = Status.DATES_PASSED
    elif outcome.status is Status.OK and any(r.name in run.disabled for r in recipients):
        outcome.status = Status.SECRET_REJECTED  # nothing new now, and nothing new could be pushed either


def check_all(run: Run) -> Result:
    """Fetch, diff, push, save: every alert, then the notices and whether the watcher is in time."""
    runner, config = run.runner, run.config
    now = datetime.fromtimestamp(runner.clock(), AMSTERDAM)
    loaded = claim(runner.store.load(), runner.env)
    implicit = config.recipients.get(DEFAULT_RECIPIENT.name) == DEFAULT_RECIPIENT
    alerts = {a.name: asked_now(a, loaded, implicit) for a in config.alerts}
    run.state = dataclasses.replace(loaded, alerts=alerts)
    check_secrets(run, now)
    cadence = start_cadence(run, int(now.timestamp()))  # before IND is asked, beside it
    try:
        base = (runner.env.get("IND_API_URL") or IND_API_URL).rstrip("/")
        runner.desks.refresh(base, sorted({a.product for a in config.alerts}), run.fetch_deadline(0.5))
        plan = {a.name: runner.desks.desks_of(a) for a in config.alerts}
        queries = [Query(d, a.product, a.persons) for a in config.alerts for d in plan[a.name]]
        results = fetch_all(base, queries, deadline=run.fetch_deadline())
        for alert in config.alerts:
            answers = {d: results[Query(d, alert.product, alert.persons)] for d in plan[alert.name]}
            check_alert(run, alert, answers, now)
        blind_alerts(run, now)
        watch_quota(run)
        deaf = blind_recipients(run, now) if not run.dry_run else False
        retry = max([r.retry_after or 0.0 for r in results.values() if isinstance(r, SourceError)] or [0.0])
        blind = deaf or any(is_blind(run.state, a, now) for a in config.alerts)
        if runner.health:
            runner.health.blind = blind
        judge(run, now, cadence())  # after the pushes: the run history never delays one
    finally:
        run.save()  # whatever went wrong, what was delivered is recorded first
    return Result(run.outcomes, run.in_time, run.in_time_markdown, run.failed, retry, blind, now)


# -------------------------------------------------------------------- notices
# The notices: pushes about ind-alert itself (an alert gone blind and checking again, a recipient no push
# reaches, the Pushover quota running out). Each goes to every recipient of its alerts except the urgent-only
# ones, once: who was told is kept in the state until everyone has been.


def recover(run: Run, alert: Alert, current: AlertState) -> AlertState:
    everyone = run.audience([alert])
    waiting = told(current.blind_notified, current.blind_told, everyone) & everyone
    if waiting:
        since = ""
        if current.failing_since is not None:  # not known to those told after the others
            since = f" (it failed since {datetime.fromtimestamp(current.failing_since, AMSTERDAM):%a %d %b %H:%M})"
        push = Push.about(
            f"ind-alert is checking again: {alert.name}",
            f"IND answers again{since}. Slots are pushed as usual.",
            alert.product,
        )
        reached = run.broadcast(waiting, push)
        if reached != waiting:
            if reached:  # the outage is over; the others are told next run, and only they
                notified, names = told_record(waiting - reached, everyone)
                current = dataclasses.replace(current, failing_since=None, blind_notified=notified, blind_told=names)
                run.record(alert, current, delivered=True)
            return current
    current = dataclasses.replace(current, failing_since=None, blind_notified=False, blind_told=frozenset())
    run.record(alert, current, bool(waiting))
    return current


def is_blind(state: State, alert: Alert, now: datetime) -> bool:
    """Whether every check of the alert has failed for blind_after_minutes or longer."""
    since = state.alerts[alert.name].failing_since
    return since is not None and now.timestamp() - since >= alert.blind_after_minutes * 60


def blind_alerts(run: Run, now: datetime) -> None:
    """One push to each recipient when an alert's checks have all failed for blind_after_minutes."""
    alerts = run.state.alerts
    audiences = {a.name: run.audience([a]) for a in run.config.alerts if is_blind(run.state, a, now)}
    owed = {  # per blind alert: who has not been told yet
        name: everyone - told(alerts[name].blind_notified, alerts[name].blind_told, everyone)
        for name, everyone in audiences.items()
    }
    blind = [a for a in run.config.alerts if a.name in owed and (owed[a.name] or not alerts[a.name].blind_notified)]
    if not blind:
        return
    since = datetime.fromtimestamp(min(alerts[a.name].failing_since or 0 for a in blind), AMSTERDAM)
    push = Push.about(
        f"ind-alert is blind: {plural(len(blind), 'alert')} cannot check IND",
        f"Every check since {since:%a %d %b %H:%M} failed for: {', '.join(a.name for a in blind)}.\n"
        "No push does not mean no slots. Check the booking page yourself; if IND's site works"
        " but this persists, see the README's troubleshooting table.",
        blind[0].product,
    )
    log.warning(f"IND checks have failed since {since:%Y-%m-%d %H:%M} for: {', '.join(a.name for a in blind)}")
    reached = run.broadcast(set().union(*(owed[a.name] for a in blind)), push)
    for alert in blind:
        everyone = audiences[alert.name]
        notified, names = told_record((everyone - owed[alert.name]) | reached, everyone)
        run.record(alert, dataclasses.replace(alerts[alert.name], blind_notified=notified, blind_told=names))
    if reached:
        run.save()


def blind_recipients(run: Run, now: datetime) -> bool:
    """Keep since when no push reached each recipient; one nobody reached for blind_after_minutes (its
    alerts' shortest) fails the run, like an outage, and the other recipients are told once.
    Returns whether a recipient is that blind."""
    config = run.config
    unreached = {n: u for n, u in run.state.unreached.items() if n in config.recipients}
    stamp = int(now.timestamp())
    for name, reached in run.tried.items():
        if reached:
            unreached.pop(name, None)
        elif name not in unreached or unreached[name].since > stamp:  # a later time: a clock that was ahead
            unreached[name] = Unreached(stamp, unreached[name].told if name in unreached else frozenset())
    blind = False
    for name, entry in sorted(unreached.items()):
        alerts = [a for a in config.alerts if name in a.notify]
        minutes = min((a.blind_after_minutes for a in alerts), default=60)
        if stamp - entry.since < minutes * 60:
            continue
        blind = True
        since = datetime.fromtimestamp(entry.since, AMSTERDAM)
        log.error(
            f"recipient {name}: no push has reached it since {since:%Y-%m-%d %H:%M}, so it hears of no slot:"
            " see the warnings above (a used-up Pushover quota, a failing service),"
            " or the README's troubleshooting table"
        )
        run.failed = True
        owed = run.audience(alerts) - {name} - set(unreached) - entry.told
        if owed:
            push = Push.about(
                f"ind-alert cannot reach {name}",
                f"No push has reached {name} since {since:%a %d %b %H:%M}: {name} hears of no slot."
                f" Tell them, and book for them if it is urgent. See the README's troubleshooting table.",
                alerts[0].product if alerts else config.alerts[0].product,
            )
            entry = dataclasses.replace(entry, told=entry.told | run.broadcast(owed, push))
            unreached[name] = entry
    if unreached != run.state.unreached:
        run.state = dataclasses.replace(run.state, unreached=unreached)
    return blind


def watch_quota(run: Run) -> None:
    if run.pushover is None or run.pushover.quota is None:
        return
    limit, remaining, reset = run.pushover.quota
    say(f"Pushover quota: {remaining} of {limit} messages left this month")
    if remaining >= limit * QUOTA_WARN:
        return
    until = datetime.fromtimestamp(reset, AMSTERDAM).date()  # reset < MAX_TIME: always a date
    log.warning(f"Pushover quota is low: {remaining} of {limit} messages left until {until} ({QUOTA_SHARED})")
    everyone = run.audience(run.config.alerts)
    done = told(run.state.quota_notified == reset, run.state.quota_told, everyone)
    if remaining >= limit * QUOTA_PUSH or everyone <= done:  # everyone told (or no one to tell)
        return
    push = Push(
        title="ind-alert: Pushover quota almost used up",
        message=f"{remaining} of {limit} messages left this month ({QUOTA_SHARED}).",
        url="https://pushover.net/apps",
        url_title="Pushover applications",
    )
    reached = run.broadcast(everyone - done, push)
    notified, names = told_record(done | reached, everyone)
    if notified:
        run.state = dataclasses.replace(run.state, quota_notified=reset, quota_told=names)
        run.save()


def too_slow(run: Run, slow: Sequence[Verdict], now: int) -> None:
    """A warning on every run while the watcher misses most slots; a push about it at most once a week."""
    if not slow:
        return
    desks = run.runner.desks
    names = ", ".join(f"{desk_name(v.desk, desks.names)} ({PRODUCTS[v.product].lower()})" for v in slow)
    gap = max(v.gap or 0.0 for v in slow)
    log.warning(
        f"this watcher is too slow for the slots at {names}: most are gone or missed before it looks again."
        " Check every 2 minutes on AWS Lambda or your own machine (README, What cadence to expect)"
    )
    warned = run.state.lifetimes.warned
    if run.dry_run or (warned is not None and now - warned < SLOW_EVERY):
        return
    push = Push.about(
        "ind-alert is too slow for these slots",
        f"Slots at {names} are mostly gone or missed before this watcher looks again (it checks every"
        f" {minutes(gap)}). A 2-minute watcher (AWS Lambda or your own machine) would see far more:"
        " see the README, What cadence to expect.",
        slow[0].product,
    )
    if run.broadcast(run.audience(run.config.alerts), push):
        lifetimes = dataclasses.replace(run.state.lifetimes, warned=now)
        run.state = dataclasses.replace(run.state, lifetimes=lifetimes)
        run.save()


# ----------------------------------------------------------------- watch mode


MIN_INTERVAL = 30.0
MAX_INTERVAL = 86400.0


def watch(
    opts: Options,
    make: Callable[[Config], Runner],
    wait: Callable[[float], bool],
    jitter: Callable[[float, float], float],
) -> int:
    """Check, push, save, wait; repeat until wait() reports a stop (SIGTERM/SIGINT).

    alerts.toml is re-read when it changes; a bad edit is reported once and the last good config kept.
    An s3:// config is asked for its ETag each cycle (one HEAD request) and read again when it changed.
    """
    remote = S3Store.from_url(str(opts.config), "config") if str(opts.config).startswith("s3://") else None

    def stamp(previous: object = None) -> object:
        if remote is not None:
            return remote.current_etag() or previous  # S3 out of reach for a moment: nothing changed
        with contextlib.suppress(OSError):
            info = Path(opts.config).stat()
            return info.st_mtime_ns, info.st_size
        return None

    seen, runner = stamp(), make(load_config(opts.config))
    notice(
        f"watching {plural(len(runner.config.alerts), 'alert')} every {opts.interval:g} s (±10%),"
        f" state in {runner.store.location}; Ctrl-C or SIGTERM stops"
    )
    while True:
        try:
            result: Result | None = runner.check()
        except StateOutOfReach as exc:
            log.warning(str(exc))  # e.g. S3 unreachable for a moment: the watch goes on
            result = None
        code = report(result, runner) if result else 0
        if code:
            log.error("stopping: this needs fixing before watching can go on")
            return code
        if runner.health:
            runner.health.ping(not runner.health.blind, Deadline(HEALTHCHECK_WAIT))  # after the check: its own
        pause = opts.interval * jitter(0.9, 1.1)  # jitter: many watchers must not hit IND in lockstep
        if result and result.retry_after > pause:
            notice(f"IND asked to wait {result.retry_after:.0f} s before the next check: waiting that long")
            pause = result.retry_after
        if wait(pause):
            return 0
        if (current := stamp(seen)) != seen:
            try:
                recent, runner = runner.recent, make(load_config(opts.config))
                runner.recent = recent  # the check times go on across a config change
                notice(f"{opts.config} changed: now watching {plural(len(runner.config.alerts), 'alert')}")
            except ConfigError as exc:
                log.error(f"{exc} (still running with the previous config)")
            except StateOutOfReach as exc:  # an s3:// config out of reach for a moment: read it next cycle
                log.warning(f"{exc} (still running with the previous config)")
                continue
            seen = current


# ------------------------------------------------------------------------ CLI


class Parser(argparse.ArgumentParser):
    """argparse, whose usage errors are also ::error:: annotations in GitHub Actions (exit 2)."""

    github = False

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        line = clean(f"{self.prog}: {message}").replace("\n", " ")
        self.exit(2, f"::error::{line}\n" if self.github else f"error: {line}\n")


def parse_args(argv: Sequence[str] | None, env: Mapping[str, str]) -> Options:
    parser = Parser(
        prog="ind_alert.py",
        description="Push a notification when a sooner IND appointment opens.",
        epilog="Exit codes: 0 done, 1 failure to act on, 2 usage/config/state error."
        " See README.md and .github/docs/reference.md.",
    )
    parser.add_argument(
        "--config",
        default=env.get("IND_ALERT_CONFIG") or DEFAULT_CONFIG,
        help="alerts file or s3://bucket/key (default: $IND_ALERT_CONFIG or alerts.toml)",
    )
    parser.add_argument(
        "--state",
        default=env.get("IND_ALERT_STATE") or DEFAULT_STATE,
        help="state file or s3://bucket/key (default: $IND_ALERT_STATE or state/seen.json)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="ask IND, print what would be pushed, change nothing")
    mode.add_argument("--check", action="store_true", help="validate the config and the secrets, send nothing")
    mode.add_argument("--test-notification", action="store_true", help="send one test push to every recipient")
    mode.add_argument("--list-desks", nargs="?", const="ALL", metavar="PRODUCT", help="desks offering a product")
    mode.add_argument("--watch", action="store_true", help="keep checking, every --interval seconds")
    parser.add_argument("--interval", type=float, help="seconds between checks in --watch (default 120, min 30)")
    parser.add_argument("-v", "--verbose", action="store_true", help="say more on stderr (never secrets)")
    parser.add_argument("--version", action="version", version=f"ind-alert {VERSION}")
    parser.github = env.get("GITHUB_ACTIONS") == "true"
    args = parser.parse_args(argv)
    if args.interval is not None and not args.watch:
        parser.error("--interval only applies to --watch: add --watch, or leave --interval out")
    args.interval = DEFAULT_INTERVAL if args.interval is None else args.interval
    if not math.isfinite(args.interval) or args.interval < MIN_INTERVAL:
        parser.error(f"--interval must be at least {MIN_INTERVAL:.0f} seconds: IND is polled by many people")
    if args.interval > MAX_INTERVAL:
        parser.error(f"--interval must be at most {MAX_INTERVAL:.0f} seconds (a day)")
    return Options(**vars(args))  # the flags are the record's fields


class NotConfigured(AlertError):
    """A scheduled run in a copy without secrets: a notice, not a failure."""

    exit_code = 0


def require_secrets(config: Config, env: Mapping[str, str]) -> None:
    needed = secret_vars(config)
    missing = [name for name in needed if not env.get(name)]
    if not missing:
        return
    guide = f"add the secrets {' and '.join(needed)} (see README)"
    if len(missing) == len(needed) and env.get("GITHUB_EVENT_NAME") == "schedule":
        raise NotConfigured(f"ind-alert is not configured yet: {guide}")
    it = "it" if len(missing) == 1 else "them"
    if env.get("GITHUB_ACTIONS") == "true":
        where = f"add {it} in Settings > Secrets and variables > Actions"
        if len(missing) == len(needed):
            raise ConfigError(f"ind-alert is not configured yet: {guide}")
    else:
        where = f"set {it} in the environment"
    verb = "is" if len(missing) == 1 else "are"
    raise ConfigError(f"{' and '.join(missing)} {verb} not set: {where} (see README)")


def pushover_client(
    config: Config, env: Mapping[str, str], patient: bool = True, deadline: Deadline | None = None
) -> PushoverClient | None:
    """The Pushover client, when a recipient uses Pushover. patient=False: no retry after a pause (--check).
    deadline: what its calls wait under (--check's); a run's client gets each run's (PushoverClient.begin)."""
    if not any(r.pushover_user_env for r in config.recipients.values()):
        return None
    url = (env.get("PUSHOVER_API_URL") or PUSHOVER_API_URL).rstrip("/")
    client = PushoverClient(url, env["PUSHOVER_TOKEN"], patient=patient)
    if deadline is not None:
        client.deadline = deadline
    return client


def tidy_secrets(config: Config, env: Mapping[str, str]) -> dict[str, str]:
    """The environment with the recipients' secrets stripped of spaces and line breaks around them: GitHub
    keeps a pasted newline, and Pushover would reject the key for it (its keys are letters and digits).
    Each variable is named, never its value: once a run, as what is stripped once stays stripped."""
    tidy = dict(env)
    for name in secret_vars(config):
        value = env.get(name)
        if value is None or value == value.strip():
            continue
        tidy[name] = value.strip()
        notice(
            f"{name} has a space or line break around it (pasted with it?): ind-alert leaves it out;"
            " to tidy up, paste the secret again without it"
        )
    return tidy


# --------------------------------------------------- --check and --list-desks


NOW_WHAT = "check this machine's internet connection and try again"


def each_channel(
    config: Config, env: Mapping[str, str], act: Callable[[Channel], None], done: str, deadline: Deadline
) -> int:
    """--check and --test-notification: act on every recipient's channel, at once; 1 when any failed.

    Nothing is retried later here, so a failure says what to do now instead.
    """
    require_secrets(config, env)
    code = 0
    client = pushover_client(config, env, patient=False, deadline=deadline)
    users = {r.name: (r.env, env.get(r.env, "")) for r in config.recipients.values() if r.pushover_user_env}
    for name, channel in build_channels(config, env, client).items():
        try:
            act(channel)
            say(f"recipient {name}: {done}")
        except NotifyError as exc:
            if exc.rejected is Rejected.TOKEN and client is not None:
                log.error(f"recipient {name}: {token_problem(client, users)}")
            elif exc.rejected is Rejected.USER:
                var, key = users.get(name, ("", ""))
                log.error(f"recipient {name}: {user_rejected(var, key)}")
            else:
                log.error(f"recipient {name}: {exc.words(NOW_WHAT)}")
            code = 1
    return code


def check_sounds(config: Config, env: Mapping[str, str], deadline: Deadline) -> int:
    """--check: every alert's sound against the sounds Pushover lists for this token; 1 when one is unknown."""
    sounds = {a.name: a.sound for a in config.alerts if a.sound}
    client = pushover_client(config, env, patient=False, deadline=deadline)
    if not sounds or client is None:
        return 0
    try:
        problems = pushover_problems(client, {}, sounds)
    except NotifyError as exc:
        log.error(f"Pushover's list of sounds could not be read: {exc.words(NOW_WHAT)}")
        return 1
    for problem in problems:
        log.error(problem.text(run=False))
    if not problems:
        say(f"sounds: {', '.join(sorted(set(sounds.values())))} ok")
    return 1 if problems else 0


def trial_push(config: Config) -> Push:
    names = ", ".join(a.name for a in config.alerts)
    return Push.about(
        "ind-alert test: notifications work",
        f"You will be told here when a slot opens for: {names}",
        config.alerts[0].product,
    )


def desk_order(desk: tuple[str, str]) -> tuple[bool, str]:
    """--list-desks: IND's own desks first, then the expat centres, each by name."""
    return not desk[1].startswith("IND "), desk[1].casefold()


def print_desks(env: Mapping[str, str], product: str) -> int:
    products = list(PRODUCTS) if product == "ALL" else [resolve_product(product, "--list-desks")]
    base = (env.get("IND_API_URL") or IND_API_URL).rstrip("/")
    deadline = Deadline(FETCH_DEADLINE)
    for key in products:
        say(f"{key} ({PRODUCTS[key]}):")
        listed = list_desks(base, key, deadline)
        for desk, name in sorted(listed, key=desk_order):
            say(f"  {desk:<34} {name}")
    say('In alerts.toml: desk = "Den Haag", a list like desk = ["Amsterdam", "Den Haag"], or desk = "any".')
    return 0


def example_words(alert: Alert) -> str:
    return (
        f'alert "{alert.name}" is the shipped example (example = true): change it to the appointment you need'
        " and delete the line example = true in alerts.toml"
    )


def examples_noted(config: Config) -> None:
    """--dry-run checks the example as it is, and says what a real run will ask for."""
    for alert in config.alerts:
        if alert.example:
            notice(f"{example_words(alert)}; until then a real run stops here and pushes nothing")


def refuse_examples(config: Config) -> None:
    """The example must not go live the moment the secrets are added, before the user has edited it."""
    for alert in config.alerts:
        if alert.example:
            raise ConfigError(f"{example_words(alert)}; nothing is checked or pushed until then")


# ----------------------------------------------------------------------- main


def runner_for(
    config: Config,
    env: Mapping[str, str],
    opts: Options | None = None,
    *,
    store: Store | None = None,
    pushover: PushoverClient | Literal["env"] | None = "env",
    clock: Callable[[], float] = time.time,
    deadline: float = RUN_DEADLINE,
    health: Healthcheck | None = None,
) -> Runner:
    """The Runner for a config, its environment and the flags (none: a plain run), as dispatch makes it.

    store: opts.state's unless given. pushover: from the environment ("env"; none for --dry-run), a client
    given, or None: no Pushover client and no channels. A --dry-run runner has the whole RUN_DEADLINE and
    tells no healthcheck.
    """
    dry_run, watching = (opts.dry_run, opts.watch) if opts else (False, False)

    def opened() -> Store:
        assert opts is not None or store is not None, "a store, or the flags that name one"
        return store or open_store(opts.state if opts else "", legacy_desks(config))

    if dry_run:
        client = None if pushover == "env" else pushover
        return Runner(config, opened(), env, {}, client, dry_run=True, clock=clock, watching=watching)
    client = pushover_client(config, env) if pushover == "env" else pushover
    channels = build_channels(config, env, client) if pushover is not None else {}
    return Runner(
        config,
        opened(),
        env,
        channels,
        client,
        clock=clock,
        deadline_seconds=deadline,
        health=health,
        watching=watching,
    )


def dispatch(
    opts: Options,
    env: Mapping[str, str],
    redact: Redact,
    health: Healthcheck | None = None,
    deadline: float = RUN_DEADLINE,
) -> int:
    if opts.list_desks is not None:  # "" too: it asks for a list, never for a check
        try:
            return print_desks(env, opts.list_desks)
        except SourceError as exc:
            log.error(f"{exc}: IND's list could not be read. ind-alert's own table, which may be out of date:")
            for key, name in sorted(DESKS.items(), key=desk_order):
                say(f"  {key:<34} {name}")
            return 1
    config = load_config(opts.config)
    env = tidy_secrets(config, env)
    redact.add(env.get(name, "") for name in secret_vars(config))
    if opts.check:
        examples_noted(config)
        until = Deadline(RUN_DEADLINE)  # everything --check asks of Pushover
        code = max(each_channel(config, env, lambda c: c.check(), "ok", until), check_sounds(config, env, until))
        if not code:
            say(f"{opts.config}: {plural(len(config.alerts), 'alert')}, valid")
        return code
    if opts.test_notification:
        push = trial_push(config)
        return each_channel(config, env, lambda c: c.send(push), "test push delivered", Deadline(RUN_DEADLINE))

    def make(config: Config) -> Runner:
        tidy = tidy_secrets(config, env)  # a recipient added while watching: dispatch tidied the others
        redact.add(tidy.get(name, "") for name in secret_vars(config))
        if opts.dry_run:
            examples_noted(config)
        else:
            require_secrets(config, tidy)  # before the store: an unconfigured copy does nothing else
            refuse_examples(config)
        return runner_for(config, tidy, opts, deadline=deadline, health=health)

    if not opts.watch:
        return make(config).run()

    for handler in log.handlers:  # a watch's lines start with the time
        if isinstance(handler.formatter, Formatter):
            handler.formatter.stamp = True
    import random
    import signal

    stop, signals = threading.Event(), []

    def stopping(signum: int, _frame: object) -> None:
        signals.append(signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stopping)
    code = watch(opts, make, stop.wait, random.uniform)
    if code == 0 and signals:  # the check under way was finished first: 128 + the signal, as a shell reports it
        name = "Ctrl-C" if signals[0] == signal.SIGINT else "SIGTERM"
        notice(f"stopped by {name}: every push delivered until now is recorded")
        return 128 + signals[0]
    return code


def main(
    argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None, deadline: float = RUN_DEADLINE
) -> int:
    """The command line. deadline: how long a check may wait on others (Lambda gives less than a run has)."""
    env = dict(os.environ) if env is None else env
    for stream, errors in ((sys.stdout, "replace"), (sys.stderr, "backslashreplace")):
        with contextlib.suppress(AttributeError, ValueError):  # a console that cannot show a name still runs
            stream.reconfigure(errors=errors)  # type: ignore[union-attr]
    opts = parse_args(argv, env)
    redact = setup_logging(opts.verbose, env)
    checking = not (opts.dry_run or opts.check or opts.test_notification or opts.list_desks is not None)
    health = Healthcheck(env["HEALTHCHECK_URL"]) if env.get("HEALTHCHECK_URL") and checking else None
    if health:
        log.addHandler(health)
    code, configured = outcome_of(lambda: dispatch(opts, env, redact, health, deadline), env)
    if health and not (opts.watch and code == 0):  # a watch pings after each check
        health.ping(code == 0 and configured and not health.blind, Deadline(HEALTHCHECK_WAIT))
    with contextlib.suppress(OSError, ValueError, AttributeError):  # None when started with stdout closed
        sys.stdout.flush()  # a closed stdout: say nothing more at exit
    return code


def outcome_of(call: Callable[[], int], env: Mapping[str, str]) -> tuple[int, bool]:
    """The exit code of a command, and whether the copy is configured: every error is one line, here."""
    try:
        return call(), True
    except NotConfigured as exc:
        notice(str(exc))
        return 0, False
    except AlertError as exc:
        (log.error if exc.exit_code else log.warning)(str(exc))
        return exc.exit_code, True
    except KeyboardInterrupt:
        log.error("interrupted: every push delivered until now is recorded")
        return 130, True
    except Exception as exc:  # noqa: BLE001 - one clear line, never a traceback, for what nobody foresaw
        log.error("unexpected error; what was pushed is recorded. Run with -v for details, and report it")
        log.debug("".join(traceback.format_exception(exc)))  # scrubbed like every log line
        return 1, True


# ----------------------------------------------------------------- AWS Lambda


LEASE_SECONDS = 120.0  # the lease when Lambda does not say how long the invocation may run
LEASE_MARGIN = 5.0
LAMBDA_SPARE = 8.0  # seconds a check leaves before Lambda's timeout: the save and the pushes after IND
MIN_DEADLINE = 10.0


class RunFailed(AlertError):
    """A Lambda check that needs fixing (exit 1 or 2): raised so Lambda records an error to alarm on."""

    exit_code = 1


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """One check of every alert on AWS Lambda, exactly like `python ind_alert.py`; the event is not read.

    Config: $IND_ALERT_CONFIG, else the alerts.toml packaged beside this file. State: $IND_ALERT_STATE,
    which must be s3:// on Lambda (the package is read-only). Exit 0 returns a summary, warnings logged;
    exit 1 or 2 raises RunFailed after the log lines that say what to fix. An invocation that finds
    another one still checking (its lease in S3) logs one line and returns.
    """
    started = time.monotonic()
    env = dict(os.environ)
    config = env.get("IND_ALERT_CONFIG") or str(Path(__file__).with_name(DEFAULT_CONFIG))
    state = env.get("IND_ALERT_STATE", "")
    setup_logging(False, env)  # main() sets it up again: it replaces our handler, never adds one
    summary = {"exit_code": 0, "checked": False, "config": config, "state": state}
    lease = None
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    left = remaining() / 1000 if callable(remaining) else 0.0  # seconds until Lambda's timeout
    try:
        if env.get("AWS_LAMBDA_FUNCTION_NAME") and not state.startswith("s3://"):
            raise ConfigError(
                "on AWS Lambda the state must be in S3: set IND_ALERT_STATE=s3://bucket/key (see .github/docs/aws.md)"
            )
        if state.startswith("s3://"):
            store = S3Store.from_url(state)
            if left:  # the lease's requests, like the check's, end before Lambda's timeout
                store.bind(Deadline(left - LEASE_MARGIN), 0.0)
            lease = S3Lease.take(store, (left or LEASE_SECONDS) + LEASE_MARGIN)
        # Finish before Lambda's timeout: a killed check records no outage and so never says it is blind.
        left = remaining() / 1000 if callable(remaining) else 0.0  # asked again: the lease took its time
        deadline = min(RUN_DEADLINE, max(left - LAMBDA_SPARE, MIN_DEADLINE)) if left else RUN_DEADLINE
        code = main(["--config", config, "--state", state or DEFAULT_STATE], env, deadline)
    except LeaseHeld as exc:
        notice(str(exc))
        code = 0
    except AlertError as exc:
        (log.error if exc.exit_code else log.warning)(str(exc))
        code = exc.exit_code
    else:
        summary["checked"] = True
    finally:
        if lease is not None:
            if callable(remaining):  # the release too waits only for what Lambda has left
                lease.lock.bind(Deadline(remaining() / 1000 - 1.0), 0.0)
            lease.release()
        sys.stdout.flush()  # the per-alert lines belong to this invocation's log, not the next one's
    if code:
        raise RunFailed(f"ind-alert needs fixing (exit {code}): see the error above in this log")
    return {**summary, "seconds": round(time.monotonic() - started, 3)}


if __name__ == "__main__":
    exit_code = main()
    try:
        if sys.stdout is not None:  # None when started with stdout closed
            sys.stdout.flush()
    except (OSError, ValueError):  # stdout was closed or its reader went away: nothing more to say there
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(exit_code)
