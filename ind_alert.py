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
  AWS_*              credentials, region and AWS_ENDPOINT_URL_S3 for s3:// state (read by boto3)
  GITHUB_*           read when running in GitHub Actions (summary, annotations, repository, outputs)
  Recipients in alerts.toml name further variables (pushover_user_env, apprise_url_env).

Exit codes:
  0  the run did its job; passing outside failures are warnings, retried next run
  1  a failure to act on: Pushover rejected the token, a key or a request, or the state could not be saved
  2  usage or config error, missing secret, unreadable state
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import hashlib
import json
import logging
import math
import os
import queue
import re
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any, Protocol

import requests
from dateutil import tz

# ---------------------------------------------------------------- constants

VERSION = "1.0.0"
IND_API_URL = "https://oap.ind.nl/oap/api"
PUSHOVER_API_URL = "https://api.pushover.net/1"
BOOKING_URL = "https://oap.ind.nl/oap/en/#/{product}"
USER_AGENT = f"ind-alert/{VERSION} (appointment notifier; polls every few minutes)"
AMSTERDAM = tz.gettz("Europe/Amsterdam")
STATE_VERSION = 1
DEFAULT_CONFIG = "alerts.toml"
DEFAULT_STATE = "state/seen.json"

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0
FETCH_DEADLINE = 50.0  # a run ends within 60 s even if IND never answers
MAX_PARALLEL = 4  # IND requests at once: polite, and fast enough
PUSH_RETRY_WAIT = 5.0  # Pushover: retry a 5xx no sooner than 5 s later
QUOTA_WARN = 0.10
QUOTA_PUSH = 0.05
MESSAGE_LIMIT = 1024  # Pushover's limit for `message`
TITLE_LIMIT = 250
EMERGENCY_RETRY = 60  # seconds between repeats of a priority-2 push (Pushover: >= 30)
EMERGENCY_EXPIRE = 3600  # stop repeating after an hour (Pushover: <= 10800)
HISTORY_DAYS = 30  # points of "earliest slot" history kept per alert, one per Amsterdam day
CHART_DAYS = 42  # the slots-per-day chart covers at most six weeks

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
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

log = logging.getLogger("ind_alert")
NOTICE = 25  # between INFO and WARNING: shown without -v, not a problem
logging.addLevelName(NOTICE, "NOTICE")


def notice(message: str) -> None:
    log.log(NOTICE, message)


# ------------------------------------------------------------------- errors


class AlertError(Exception):
    """An error with a one-line message that says what to fix, and an exit code."""

    exit_code = 2


class ConfigError(AlertError):
    """alerts.toml, a flag or the environment is wrong (exit 2)."""


class StateError(AlertError):
    """The state could not be read (exit 2), saved (exit 1), or reached for a moment (exit 0, a warning)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class SourceError(AlertError):
    """IND could not be asked or answered nonsense: never read as "no slots"."""


class NotifyError(AlertError):
    """A push was not delivered. Permanent errors must never be sent again as they were."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.exit_code = 1


# ------------------------------------------------------------------ records


@dataclass(frozen=True, order=True)
class Slot:
    start: datetime
    end: datetime

    @property
    def id(self) -> str:
        """A slot is known by its date and times: IND's own key may not be stable."""
        return f"{self.start:%Y-%m-%d %H:%M}-{self.end:%H:%M}"

    def label(self) -> str:
        return f"{self.start:%a} {self.start.day} {self.start:%b %H:%M}"


@dataclass(frozen=True)
class Query:
    desk: str
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


DEFAULT_RECIPIENT = Recipient("default", pushover_user_env="PUSHOVER_USER")


@dataclass(frozen=True)
class Alert:
    name: str
    desk: str
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

    @property
    def query(self) -> Query:
        return Query(self.desk, self.product, self.persons)

    @property
    def desk_name(self) -> str:
        return DESKS[self.desk]


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
        return cls(title, message[:MESSAGE_LIMIT], BOOKING_URL.format(product=product), "IND booking page")


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
    blind_notified: bool = False
    history: Mapping[str, str | None] = field(default_factory=dict)  # Amsterdam day -> earliest matching date


@dataclass(frozen=True)
class State:
    alerts: Mapping[str, AlertState] = field(default_factory=dict)
    repository: str | None = None
    quota_notified: int | None = None  # X-Limit-App-Reset of the quota period already warned about


# ------------------------------------------------------------------- config


def suggest(word: str, choices: Iterable[str]) -> str:
    near = difflib.get_close_matches(word, list(choices), n=1)
    return f' (did you mean "{near[0]}"?)' if near else ""


def reject_unknown(table: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    allowed = sorted(allowed)
    for key in table:
        if key not in allowed:
            raise ConfigError(f'{where}: unknown key "{key}"{suggest(key, allowed)}')


def resolve_desk(value: str, where: str) -> str:
    wanted = value.strip().casefold()
    for key, name in DESKS.items():
        names = {key.casefold(), name.casefold(), name.casefold().removeprefix("ind ")}
        if wanted in names:
            return key
    if value.upper() in RETIRED_DESKS:
        raise ConfigError(f'{where}: desk "{value}" is retired; use "{RETIRED_DESKS[value.upper()]}"')
    choices = [*DESKS, *DESKS.values(), *(n.removeprefix("IND ") for n in DESKS.values())]
    raise ConfigError(f'{where}: unknown desk "{value}"{suggest(value, choices)}; run --list-desks')


def resolve_product(value: str, where: str) -> str:
    if value.upper() in PRODUCTS:
        return value.upper()
    if value.strip().casefold() in PRODUCT_NAMES:
        return PRODUCT_NAMES[value.strip().casefold()]
    choices = [*PRODUCTS, *PRODUCT_NAMES]
    raise ConfigError(f'{where}: unknown product "{value}"{suggest(value, choices)}; use DOC, BIO, VAA or TKV')


def _typed(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ConfigError(f"{where}: {key} must be {what}, not {value!r}")
    return value


def _int(table: Mapping[str, Any], key: str, where: str, low: int, high: int) -> int | None:
    value = _typed(table, key, int, where, f"a whole number from {low} to {high}")
    if value is not None and not low <= value <= high:
        raise ConfigError(f"{where}: {key} must be a whole number from {low} to {high}, not {value}")
    return value  # type: ignore[no-any-return]


def _int_or(default: int, table: Mapping[str, Any], key: str, where: str, low: int, high: int) -> int:
    value = _int(table, key, where, low, high)
    return default if value is None else value


def _clock(table: Mapping[str, Any], key: str, where: str) -> dtime | None:
    value = _typed(table, key, str, where, 'a time like "09:30"')
    if value is None:
        return None
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ConfigError(f'{where}: {key} must be a time like "09:30", not {value!r}')
    return dtime(int(match[1]), int(match[2]))


def _date(table: Mapping[str, Any], key: str, where: str) -> date | None:
    value = table.get(key)
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    raise ConfigError(f"{where}: {key} must be a TOML date like 2026-12-01 (no quotes), not {value!r}")


ALERT_KEYS = tuple(f.name for f in dataclasses.fields(Alert))  # the file's keys are the record's fields
RECIPIENT_KEYS = tuple(f.name for f in dataclasses.fields(Recipient) if f.name != "name")


def parse_alert(table: Mapping[str, Any], where: str, recipients: Mapping[str, Recipient]) -> Alert:
    reject_unknown(table, ALERT_KEYS, where)
    for key in ("name", "desk", "product"):
        if not isinstance(table.get(key), str) or not table[key].strip():
            raise ConfigError(f"{where}: {key} is required (see README)")
    weekdays = _typed(table, "weekdays", list, where, 'a list like ["mon", "fri"]')
    if weekdays is not None:
        for day in weekdays:
            if not isinstance(day, str) or day.casefold()[:3] not in WEEKDAYS:
                raise ConfigError(f'{where}: weekdays must name days like "mon" or "friday", not {day!r}')
    notify = _typed(table, "notify", list, where, 'a list of recipient names like ["me"]')
    if notify is not None:
        if not notify:
            raise ConfigError(f"{where}: notify is empty: name at least one recipient")
        for name in notify:
            if not isinstance(name, str) or name not in recipients:
                raise ConfigError(f'{where}: notify names unknown recipient "{name}"{suggest(str(name), recipients)}')
    alert = Alert(
        name=table["name"].strip(),
        desk=resolve_desk(table["desk"], where),
        product=resolve_product(table["product"], where),
        persons=_int_or(1, table, "persons", where, 1, 6),
        days_ahead=_int(table, "days_ahead", where, 0, 3650),
        after=_date(table, "after", where),
        before=_date(table, "before", where),
        weekdays=None if weekdays is None else frozenset(WEEKDAYS.index(d.casefold()[:3]) for d in weekdays),
        earliest=_clock(table, "earliest", where),
        latest=_clock(table, "latest", where),
        priority=_int_or(0, table, "priority", where, -2, 1),
        sound=_typed(table, "sound", str, where, "a Pushover sound name"),
        notify=tuple(notify) if notify is not None else tuple(recipients),
        urgent_within_days=_int(table, "urgent_within_days", where, 0, 365),
        urgent_priority=_int_or(1, table, "urgent_priority", where, -2, 2),
        blind_after_minutes=_int_or(60, table, "blind_after_minutes", where, 1, 10080),
    )
    if alert.after and alert.before and alert.after > alert.before:
        raise ConfigError(f"{where}: after ({alert.after}) is later than before ({alert.before})")
    if alert.earliest and alert.latest and alert.earliest > alert.latest:
        raise ConfigError(f"{where}: earliest ({alert.earliest:%H:%M}) is later than latest ({alert.latest:%H:%M})")
    return alert


def parse_recipient(name: str, table: Any, where: str) -> Recipient:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table with pushover_user_env or apprise_url_env")
    reject_unknown(table, RECIPIENT_KEYS, where)
    pushover = _typed(table, "pushover_user_env", str, where, "the name of an environment variable")
    apprise = _typed(table, "apprise_url_env", str, where, "the name of an environment variable")
    if (pushover is None) == (apprise is None):
        raise ConfigError(f"{where}: set exactly one of pushover_user_env or apprise_url_env")
    if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", pushover or apprise):
        # Never echo the value: it may be a key or URL pasted here by mistake.
        raise ConfigError(
            f"{where}: name an environment variable in capitals (like PUSHOVER_USER_PARTNER), not the secret itself"
        )
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
    } or {"default": DEFAULT_RECIPIENT}
    defaults = doc.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ConfigError(f"{source}: defaults must be a table: [defaults]")
    reject_unknown(defaults, [k for k in ALERT_KEYS if k != "name"], f"{source} [defaults]")
    raw_alerts = doc.get("alert", [])
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


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path} not found: create it (see README) or pass --config PATH") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} cannot be read: {type(exc).__name__}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return parse_config(doc, str(path))


# --------------------------------------------------------------- IND client

XSSI_PREFIX = re.compile(r"^\)\]\}',?\s*")  # Angular's anti-XSSI prefix, tolerated when absent
IND_HEADERS = {"Accept": "application/json", "oap-locale": "en", "User-Agent": USER_AGENT}


def ind_data(body: str) -> list[Any]:
    """The `data` list of an IND answer; anything but an OK envelope is a SourceError."""
    text = XSSI_PREFIX.sub("", body.lstrip("\ufeff"), count=1)
    if text.lstrip().startswith("<"):
        raise SourceError("IND answered with a web page instead of data (maintenance or a block page?)")
    try:
        doc = json.loads(text)
    except ValueError:
        raise SourceError("IND answered something that is not JSON") from None
    if not isinstance(doc, dict) or doc.get("status") != "OK":
        status = doc.get("status") if isinstance(doc, dict) else None
        raise SourceError(f"IND answered status {str(status)[:40]!r} instead of OK")
    data = doc.get("data")
    if not isinstance(data, list):
        raise SourceError("IND answer has no data list")
    return data


def parse_slots(body: str) -> list[Slot]:
    """The open slots in an IND answer, earliest first. Anything unexpected is a SourceError."""
    slots = set()
    for item in ind_data(body):
        try:
            day = date.fromisoformat(item["date"])
            start = dtime.fromisoformat(item["startTime"])
            end = dtime.fromisoformat(item["endTime"])
        except (KeyError, TypeError, ValueError):
            raise SourceError("IND answer has a slot with a missing or malformed date or time") from None
        slots.add(Slot(datetime.combine(day, start, AMSTERDAM), datetime.combine(day, end, AMSTERDAM)))
    return sorted(slots)


def ind_get(session: requests.Session, url: str, params: Mapping[str, str | int]) -> str:
    """GET an IND resource, retrying once after a connection error or 5xx."""
    for attempt in (1, 2):
        try:
            response = session.get(url, params=params, headers=IND_HEADERS, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
        except requests.exceptions.SSLError:
            # Never turn verification off: a proxy or a wrong clock is the usual cause.
            raise SourceError("IND's TLS certificate could not be verified (check the clock or proxy)") from None
        except requests.RequestException as exc:
            if attempt == 1:
                continue
            what = "timed out" if isinstance(exc, requests.Timeout) else "could not be reached"
            raise SourceError(f"IND {what}") from None
        if response.status_code >= 500 and attempt == 1:
            continue
        if response.status_code != 200:
            raise SourceError(f"IND answered HTTP {response.status_code}")
        return response.text
    raise AssertionError("unreachable")


def fetch_slots(session: requests.Session, base_url: str, query: Query) -> list[Slot]:
    # No slash before "?": the /slots/? form stopped working in August 2024.
    url = f"{base_url}/desks/{query.desk}/slots"
    return parse_slots(ind_get(session, url, {"productKey": query.product, "persons": query.persons}))


FetchResult = list[Slot] | SourceError


def fetch_all(
    base_url: str, queries: Sequence[Query], *, deadline: float = FETCH_DEADLINE, workers: int = MAX_PARALLEL
) -> dict[Query, FetchResult]:
    """Ask IND once per distinct query, a few at a time, and give up on what is unanswered at the deadline.

    Worker threads are daemons so that a request IND never answers cannot hold the run open.
    """
    queries = list(dict.fromkeys(queries))
    todo: queue.SimpleQueue[Query] = queue.SimpleQueue()
    for query in queries:
        todo.put(query)
    done: queue.SimpleQueue[tuple[Query, FetchResult | Exception]] = queue.SimpleQueue()
    stop = threading.Event()

    def work() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    query = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    done.put((query, fetch_slots(session, base_url, query)))
                except Exception as exc:  # noqa: BLE001 - handed to the main thread, which re-raises bugs
                    done.put((query, exc))

    for _ in range(min(workers, len(queries))):
        threading.Thread(target=work, daemon=True).start()
    results: dict[Query, FetchResult] = {}
    end = time.monotonic() + deadline
    try:
        while len(results) < len(queries):
            query, result = done.get(timeout=max(0.0, end - time.monotonic()))
            if isinstance(result, Exception) and not isinstance(result, SourceError):
                raise result
            results[query] = result
    except queue.Empty:
        pass
    finally:
        stop.set()
    for query in queries:
        results.setdefault(query, SourceError(f"IND did not answer within {deadline:g} s"))
    return results


def list_desks(base_url: str, product: str) -> list[tuple[str, str]]:
    with requests.Session() as session:
        data = ind_data(ind_get(session, f"{base_url}/desks/", {"productKey": product}))
    try:
        return sorted((str(d["key"]), str(d["name"])) for d in data)
    except (KeyError, TypeError):
        raise SourceError("IND's desk list was not in the expected shape") from None


# ----------------------------------------------------------- filter and diff


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
        and (alert.weekdays is None or day.weekday() in alert.weekdays)
        and (alert.earliest is None or start >= alert.earliest)
        and (alert.latest is None or start <= alert.latest)
    )


def is_urgent(alert: Alert, slot: Slot, now: datetime) -> bool:
    within = alert.urgent_within_days
    return within is not None and slot.start.date() <= today(now) + timedelta(days=within)


def unsent(
    alert: Alert, recipient: Recipient, matching: Sequence[Slot], sent: frozenset[str], now: datetime
) -> list[Slot]:
    """The matching slots this recipient was not told about yet (only urgent ones if it asks for that)."""
    return [s for s in matching if s.id not in sent and (not recipient.only_urgent or is_urgent(alert, s, now))]


def record_history(history: Mapping[str, str | None], day: date, earliest: Slot | None) -> dict[str, str | None]:
    """Add the day's point (the earliest matching date, None if none) unless the day has one already.

    Only the first successful check of an Amsterdam day counts, so later runs that day change nothing.
    """
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


# ------------------------------------------------------------ message format


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def format_push(alert: Alert, slots: Sequence[Slot], now: datetime) -> Push:
    """The push for new slots: title with desk and type, one line per slot, earliest first."""
    slots = sorted(slots)
    persons = f" ({alert.persons} persons)" if alert.persons > 1 else ""
    title = f"{alert.desk_name}: {PRODUCTS[alert.product]}{persons}: {plural(len(slots), 'new slot')}"
    lines = [s.label() for s in slots]
    message = "\n".join(lines)
    if len(message) > MESSAGE_LIMIT:
        shown = len(lines)
        while shown and len("\n".join(lines[:shown]) + f"\n+{len(lines) - shown} more") > MESSAGE_LIMIT:
            shown -= 1
        message = "\n".join([*lines[:shown], f"+{len(lines) - shown} more"])
    urgent = [s for s in slots if is_urgent(alert, s, now)]
    priority = alert.urgent_priority if urgent else alert.priority
    tag = None
    if priority == 2:
        digest = hashlib.sha256(f"{alert.name}\n{[s.id for s in urgent]}".encode()).hexdigest()
        tag = f"ind-alert-{digest[:16]}"
    return Push(
        title=title[:TITLE_LIMIT],
        message=message,
        url=BOOKING_URL.format(product=alert.product),
        url_title=f"Book at IND ({alert.desk_name})"[:100],
        priority=priority,
        sound=alert.sound,
        tag=tag,
    )


def slot_push(alert: Alert, slot: Slot, rest: Sequence[Slot], now: datetime) -> Push:
    """A per_slot message for a public channel: desk, type, date and time, link; never the alert's name.

    ``rest`` are further new slots this message stands for ("+N more: …", cut to fit).
    """
    persons = f", {alert.persons} persons" if alert.persons > 1 else ""
    what = f"{PRODUCTS[alert.product]}{persons}"
    title = f"{alert.desk_name}: {what}: {slot.label()}"
    message = (
        f"{alert.desk_name} · {what}\n{slot.start:%A} {slot.start.day} {slot.start:%B %Y}, "
        f"{slot.start:%H:%M}-{slot.end:%H:%M}\nChoose {alert.desk_name} on the IND booking page."
    )
    if rest:
        more = f"\n+{len(rest)} more: "
        labels = [s.label() for s in rest]
        shown = len(labels)
        while shown and len(message + more + ", ".join(labels[:shown]) + ", …") > MESSAGE_LIMIT:
            shown -= 1
        message += more + ", ".join(labels[:shown]) + (", …" if shown < len(labels) else "")
        title += f" (+{len(rest)} more)"
    urgent = is_urgent(alert, slot, now) or any(is_urgent(alert, s, now) for s in rest)
    priority = alert.urgent_priority if urgent else alert.priority
    tag = None
    if priority == 2:
        digest = hashlib.sha256(f"{alert.name}\n{slot.id}".encode()).hexdigest()
        tag = f"ind-alert-{digest[:16]}"
    return Push(
        title=title[:TITLE_LIMIT],
        message=message[:MESSAGE_LIMIT],
        url=BOOKING_URL.format(product=alert.product),
        url_title=f"Book at IND ({alert.desk_name})"[:100],
        priority=priority,
        sound=alert.sound,
        tag=tag,
    )


def pushes_for(
    alert: Alert, recipient: Recipient, slots: Sequence[Slot], now: datetime
) -> list[tuple[Push, list[Slot]]]:
    """The messages telling a recipient about new slots, each with the slots it counts as delivered.

    One digest, or for a per_slot recipient one message per slot, earliest first, at most max_messages:
    the last of them then stands for all the rest.
    """
    slots = sorted(slots)
    if not recipient.per_slot:
        return [(format_push(alert, slots, now), slots)]
    cap = recipient.max_messages
    single = slots if len(slots) <= cap else slots[: cap - 1]
    out = [(slot_push(alert, s, [], now), [s]) for s in single]
    if len(slots) > cap:
        last, rest = slots[cap - 1], slots[cap:]
        out.append((slot_push(alert, last, rest, now), [last, *rest]))
    return out


# ----------------------------------------------------------------- notifier


class Channel(Protocol):
    name: str

    def send(self, push: Push) -> None:
        """Deliver the push or raise NotifyError."""

    def check(self) -> None:
        """Confirm the channel can deliver, sending nothing, or raise NotifyError."""


def pushover_problem(status: int, body: Mapping[str, Any]) -> str:
    """What Pushover rejected, in words that never include the rejected value."""
    if body.get("token") == "invalid":
        return "Pushover rejected the application token: check the PUSHOVER_TOKEN secret"
    if body.get("user") == "invalid":
        return "Pushover rejected the user key"
    errors = body.get("errors")
    detail = "; ".join(str(e) for e in errors)[:200] if isinstance(errors, list) else "no details"
    return f"Pushover refused the request (HTTP {status}: {detail})"


@dataclass
class PushoverClient:
    """Pushover's message API: one error type, permanent for 4xx, one retry otherwise."""

    api_url: str
    token: str = field(repr=False)
    session: requests.Session = field(default_factory=requests.Session, repr=False)
    sleep: Callable[[float], None] = time.sleep
    quota: tuple[int, int, int] | None = None  # limit, remaining, reset (unix time)
    token_rejected: bool = False

    def post(self, path: str, form: Mapping[str, str | int]) -> dict[str, Any]:
        if self.token_rejected:
            raise NotifyError("not sent: Pushover rejected the application token earlier in this run", permanent=True)
        data = {"token": self.token, **form}
        for attempt in (1, 2):
            try:
                response = self.session.post(
                    f"{self.api_url}{path}", data=data, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)
                )
            except requests.exceptions.SSLError:
                raise NotifyError(
                    "Pushover's TLS certificate could not be verified (check the clock or proxy)"
                ) from None
            except requests.RequestException:
                problem = "Pushover could not be reached"
            else:
                self.read_quota(response)
                body = self.json(response)
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    # Permanent: repeating it gets a shared runner IP blocked.
                    self.token_rejected = body.get("token") == "invalid"
                    raise NotifyError(pushover_problem(response.status_code, body), permanent=True)
                if response.status_code == 200 and body.get("status") == 1:
                    return body
                problem = f"Pushover answered HTTP {response.status_code}"
            if attempt == 1:
                self.sleep(PUSH_RETRY_WAIT)
        raise NotifyError(f"{problem}; will retry next run")

    @staticmethod
    def json(response: requests.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def read_quota(self, response: requests.Response) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.quota = (
                int(response.headers["X-Limit-App-Limit"]),
                int(response.headers["X-Limit-App-Remaining"]),
                int(response.headers["X-Limit-App-Reset"]),
            )

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

    def send(self, push: Push) -> None:
        if not self.notifier.notify(title=push.title, body=f"{push.message}\n{push.url}"):
            raise NotifyError("Apprise could not deliver; will retry next run")

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


# -------------------------------------------------------------- state store


SLOT_ID = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}-\d{2}:\d{2}")


def state_to_json(state: State) -> str:
    alerts: dict[str, Any] = {}
    for name, a in state.alerts.items():
        doc: dict[str, Any] = {"sent": {r: sorted(ids) for r, ids in a.sent.items() if ids}}
        if a.emergencies:
            doc["emergencies"] = {t: {"slots": sorted(e.slots), "expires": e.expires} for t, e in a.emergencies.items()}
        if a.failing_since is not None:
            doc["failing_since"] = a.failing_since
        if a.blind_notified:
            doc["blind_notified"] = True
        if a.history:
            doc["history"] = dict(a.history)
        if doc != {"sent": {}}:
            alerts[name] = doc
    out: dict[str, Any] = {"version": STATE_VERSION, "alerts": alerts}
    if state.quota_notified is not None:
        out["quota_notified"] = state.quota_notified
    if state.repository and (alerts or state.quota_notified is not None):
        out["repository"] = state.repository  # an empty state belongs to no one
    return json.dumps(out, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def unchanged(text: str, loaded: str | None) -> bool:
    """Nothing to write: the text is what was loaded, or an empty state where there was none."""
    return text == loaded or (loaded is None and text == state_to_json(State()))


def state_from_json(text: str, where: str) -> State:
    """Parse a state document; anything unexpected is refused, never read as empty."""

    def bad(why: str) -> StateError:
        return StateError(f"{where} is not a valid ind-alert state ({why}); it was left untouched: fix or move it away")

    try:
        doc = json.loads(text)
    except ValueError:
        raise bad("not JSON") from None
    if not isinstance(doc, dict):
        raise bad("not a JSON object")
    if doc.get("version") != STATE_VERSION:
        raise bad(f"version {doc.get('version')!r}, this ind-alert reads version {STATE_VERSION}")
    if extra := set(doc) - {"version", "alerts", "repository", "quota_notified"}:
        raise bad(f"unknown keys {sorted(extra)}")
    try:
        alerts = {}
        for name, a in doc["alerts"].items():
            sent = {r: frozenset(ids) for r, ids in a.get("sent", {}).items()}
            if not all(isinstance(i, str) and SLOT_ID.fullmatch(i) for ids in sent.values() for i in ids):
                raise bad(f'alert "{name}" has a malformed slot')
            emergencies = {
                str(tag): Emergency(frozenset(map(str, e["slots"])), int(e["expires"]))
                for tag, e in a.get("emergencies", {}).items()
            }
            failing = a.get("failing_since")
            history = a.get("history", {})
            if not isinstance(history, dict) or not all(
                is_iso_date(day) and (point is None or is_iso_date(point)) for day, point in history.items()
            ):
                raise bad(f'alert "{name}" has a malformed history')
            alerts[str(name)] = AlertState(
                sent,
                emergencies,
                None if failing is None else int(failing),
                bool(a.get("blind_notified")),
                prune_history(history),
            )
        quota = doc.get("quota_notified")
        repository = doc.get("repository")
        return State(alerts, None if repository is None else str(repository), None if quota is None else int(quota))
    except (AttributeError, KeyError, TypeError, ValueError):
        raise bad("unexpected shape") from None


def is_iso_date(value: Any) -> bool:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def prune_history(history: Mapping[str, str | None]) -> dict[str, str | None]:
    """The last HISTORY_DAYS points, oldest first (ISO dates sort as text)."""
    return dict(sorted(history.items())[-HISTORY_DAYS:])


def merge_states(ours: State, theirs: State) -> State:
    """Combine two runs' states: a slot pushed by either run counts as pushed.

    History is the union of both; for a day both recorded, the stored point (theirs) wins: it was saved
    first, so it is the day's first successful check.
    """
    alerts = dict(theirs.alerts)
    for name, mine in ours.alerts.items():
        other = alerts.get(name, AlertState())
        recipients = set(mine.sent) | set(other.sent)
        # Our check is the newer one, but a blind push either run sent must still get its "checking again".
        blind = mine.blind_notified or other.blind_notified
        failing = [t for t in (mine.failing_since, other.failing_since) if t is not None]
        alerts[name] = AlertState(
            sent={r: mine.sent.get(r, frozenset()) | other.sent.get(r, frozenset()) for r in recipients},
            emergencies={**other.emergencies, **mine.emergencies},
            failing_since=min(failing) if failing and (mine.failing_since is not None or blind) else None,
            blind_notified=blind,
            history=prune_history({**mine.history, **other.history}),
        )
    quota = max((q for q in (ours.quota_notified, theirs.quota_notified) if q is not None), default=None)
    return State(alerts, ours.repository, quota)


class Store(Protocol):
    """Where the state lives. load() returns the state and a version token for save()."""

    @property
    def location(self) -> str: ...

    def load(self) -> tuple[State, Any]: ...

    def save(self, state: State, token: Any) -> bool:
        """Write the state if its text differs from what was loaded; True when written."""


@dataclass
class FileStore:
    path: Path

    @property
    def location(self) -> str:
        return str(self.path)

    def load(self) -> tuple[State, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return State(), None
        except (OSError, UnicodeDecodeError) as exc:
            raise StateError(f"{self.path} cannot be read ({type(exc).__name__}); it was left untouched") from None
        return state_from_json(text, str(self.path)), text

    def save(self, state: State, token: Any) -> bool:
        text = state_to_json(state)
        if unchanged(text, token):
            return False
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, self.path)  # atomic: a reader sees the old file or the new one
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise StateError(
                f"state could not be saved to {self.path} ({exc.strerror or type(exc).__name__})", 1
            ) from None
        return True


def open_store(location: str) -> Store:
    if location.startswith("s3://"):
        return S3Store.from_url(location)
    return FileStore(Path(location))


# --------------------------------------------------------------------- run


@dataclass(frozen=True)
class Options:
    config: Path
    state: str
    dry_run: bool = False
    check: bool = False
    test_notification: bool = False
    list_desks: str | None = None
    watch: bool = False
    interval: float = 120.0
    verbose: bool = False


@dataclass
class Outcome:
    """What one alert did in a run: for the per-alert line and the job summary."""

    alert: Alert
    status: str = "ok"
    open: int = 0
    matching: int = 0
    new: int = 0
    earliest: Slot | None = None
    slots: Sequence[Slot] = ()  # the open matching slots, for the pictures
    history: Mapping[str, str | None] = field(default_factory=dict)

    def line(self) -> str:
        """The run's one line for this alert, e.g. "Amsterdam: 12 open, 3 match, 1 new, pushed"."""
        if self.status == "IND unreachable":
            return f"{self.alert.name}: {self.status}"
        return f"{self.alert.name}: {self.open} open, {self.matching} match, {self.new} new, {self.status}"


@dataclass
class Runner:
    """One check of every alert: fetch, diff, push, save. Outside things are passed in."""

    config: Config
    store: Store
    env: Mapping[str, str]
    channels: Mapping[str, Channel]
    pushover: PushoverClient | None
    dry_run: bool = False
    clock: Callable[[], float] = time.time
    exit_code: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    disabled: set[str] = field(default_factory=set)  # recipients that failed permanently this run

    def run(self) -> int:
        self.exit_code, self.outcomes, self.disabled = 0, [], set()
        if self.pushover:  # watch mode reuses the client: report only this run's quota, retry a bad token
            self.pushover.quota, self.pushover.token_rejected = None, False
        now = datetime.fromtimestamp(self.clock(), AMSTERDAM)
        state, token = self.store.load()
        state = self.claim(state)
        results = fetch_all(
            (self.env.get("IND_API_URL") or IND_API_URL).rstrip("/"), [a.query for a in self.config.alerts]
        )
        alerts: dict[str, AlertState] = {}
        for alert in self.config.alerts:
            previous = state.alerts.get(alert.name, AlertState())
            alerts[alert.name] = self.check_alert(alert, results[alert.query], previous, now)
        alerts = self.blind_alerts(alerts, now)
        new_state = State(alerts, state.repository, state.quota_notified)
        new_state = self.watch_quota(new_state)
        for outcome in self.outcomes:
            print(outcome.line())
            if self.dry_run:
                print_pictures(outcome, now)
        write_summary(self.env, self.outcomes, self.dry_run, now)
        if not self.dry_run:
            self.save(new_state, token)
            pushed = sum(o.new for o in self.outcomes if o.status == "pushed")
            if pushed:
                github_output(self.env, "commit_message", f"{plural(pushed, 'new slot')} pushed")
        return self.exit_code

    def claim(self, state: State) -> State:
        """State written by another repository (a fork's parent, a template) is not ours to trust."""
        repository = self.env.get("GITHUB_REPOSITORY") or None
        if repository and state.repository and state.repository != repository:
            notice(
                f"the state was written by {state.repository}, not {repository}: starting fresh,"
                " so every open matching slot is pushed once"
            )
            return State(repository=repository)
        return dataclasses.replace(state, repository=repository or state.repository)

    def check_alert(self, alert: Alert, result: FetchResult, previous: AlertState, now: datetime) -> AlertState:
        outcome = Outcome(alert)
        self.outcomes.append(outcome)
        if isinstance(result, SourceError):
            outcome.status = "IND unreachable"
            log.warning(f"{alert.name}: {result}; state kept, will retry next run")
            outcome.history = previous.history
            return dataclasses.replace(previous, failing_since=previous.failing_since or int(now.timestamp()))
        open_slots = [s for s in result if s.start > now]
        matching = [s for s in open_slots if matches(alert, s, now)]
        outcome.open, outcome.matching = len(open_slots), len(matching)
        outcome.earliest = matching[0] if matching else None
        outcome.slots = matching
        outcome.history = record_history(previous.history, today(now), outcome.earliest)
        previous = dataclasses.replace(previous, history=outcome.history)
        recipients = self.config.recipients_of(alert)
        kept = {r.name: previous.sent[r.name] for r in recipients if r.name in previous.sent}
        open_ids = {s.id for s in open_slots}
        current = forget_gone(dataclasses.replace(previous, sent=kept), open_ids)
        current = self.cancel_emergencies(alert, current, open_ids, now)
        current = self.recover(alert, current, now)
        sent = dict(current.sent)
        emergencies = dict(current.emergencies)
        statuses = []
        for recipient in recipients:
            slots = unsent(alert, recipient, matching, sent.get(recipient.name, frozenset()), now)
            if not slots:
                continue
            outcome.new = max(outcome.new, len(slots))
            for push, covered in pushes_for(alert, recipient, slots, now):
                if self.dry_run:
                    print(f"would push to {recipient.name}: {push.title}\n  " + push.message.replace("\n", "\n  "))
                    statuses.append("dry run")
                    continue
                if not self.deliver(recipient, push):
                    statuses.append("push failed")
                    break  # the rest waits for the next run
                sent[recipient.name] = sent.get(recipient.name, frozenset()) | {s.id for s in covered}
                if push.tag and recipient.pushover_user_env:  # only Pushover repeats, and only it can cancel
                    urgent = frozenset(s.id for s in covered if is_urgent(alert, s, now))
                    emergencies[push.tag] = Emergency(urgent, int(now.timestamp()) + EMERGENCY_EXPIRE)
                statuses.append("pushed")
        outcome.status = "push failed" if "push failed" in statuses else (statuses[0] if statuses else "ok")
        return dataclasses.replace(current, sent=sent, emergencies=emergencies)

    def deliver(self, recipient: Recipient, push: Push) -> bool:
        """Send a push; a failure is logged and turned into the exit code, never raised."""
        if recipient.name in self.disabled:
            return False
        try:
            self.channels[recipient.name].send(push)
            return True
        except NotifyError as exc:
            if exc.permanent:
                log.error(f"recipient {recipient.name}: {exc}")
                self.exit_code = 1
                self.disabled.add(recipient.name)  # never repeat a rejected request
            else:
                log.warning(f"recipient {recipient.name}: {exc}")
            return False

    def cancel_emergencies(self, alert: Alert, current: AlertState, open_ids: set[str], now: datetime) -> AlertState:
        """Stop the phone ringing for an emergency push whose slots someone else booked."""
        kept = {}
        for tag, emergency in current.emergencies.items():
            if emergency.expires <= now.timestamp():
                continue
            if emergency.slots & open_ids or self.dry_run or self.pushover is None:
                kept[tag] = emergency
                continue
            try:
                self.pushover.cancel(tag)
                log.info(f"{alert.name}: the urgent slot is gone; emergency push cancelled")
            except NotifyError as exc:
                log.warning(f"{alert.name}: could not cancel an emergency push: {exc}")
                if not exc.permanent:
                    kept[tag] = emergency
        return dataclasses.replace(current, emergencies=kept)

    def broadcast(self, alerts: Sequence[Alert], push: Push) -> bool:
        """Send a notice about these alerts to their recipients (not the urgent-only ones)."""
        names = {r.name for a in alerts for r in self.config.recipients_of(a) if not r.only_urgent}
        if self.dry_run:
            print(f"would push: {push.title}")
            return False
        delivered = [
            self.deliver(self.config.recipients[name], push) for name in sorted(names)
        ]  # every one, no short cut
        return all(delivered)

    def recover(self, alert: Alert, current: AlertState, now: datetime) -> AlertState:
        if current.blind_notified:
            since = datetime.fromtimestamp(current.failing_since or 0, AMSTERDAM)
            push = Push.about(
                f"ind-alert is checking again: {alert.name}",
                f"IND answers again (it failed since {since:%a %d %b %H:%M}). Slots are pushed as usual.",
                alert.product,
            )
            if not self.broadcast([alert], push):
                return current
        return dataclasses.replace(current, failing_since=None, blind_notified=False)

    def blind_alerts(self, alerts: dict[str, AlertState], now: datetime) -> dict[str, AlertState]:
        """One push when an alert's checks have all failed for blind_after_minutes."""
        blind = [
            a
            for a in self.config.alerts
            if (s := alerts[a.name]).failing_since is not None
            and not s.blind_notified
            and now.timestamp() - s.failing_since >= a.blind_after_minutes * 60
        ]
        if not blind:
            return alerts
        since = datetime.fromtimestamp(min(alerts[a.name].failing_since or 0 for a in blind), AMSTERDAM)
        push = Push.about(
            f"ind-alert is blind: {plural(len(blind), 'alert')} cannot check IND",
            f"Every check since {since:%a %d %b %H:%M} failed for: {', '.join(a.name for a in blind)}.\n"
            "No push does not mean no slots. Check the booking page yourself; if IND's site works"
            " but this persists, see the README's troubleshooting table.",
            blind[0].product,
        )
        log.warning(f"IND checks have failed since {since:%Y-%m-%d %H:%M} for: {', '.join(a.name for a in blind)}")
        if self.broadcast(blind, push):
            for alert in blind:
                alerts[alert.name] = dataclasses.replace(alerts[alert.name], blind_notified=True)
        return alerts

    def watch_quota(self, state: State) -> State:
        if self.pushover is None or self.pushover.quota is None:
            return state
        limit, remaining, reset = self.pushover.quota
        print(f"Pushover quota: {remaining} of {limit} messages left this month")
        if remaining >= limit * QUOTA_WARN:
            return state
        until = time.strftime("%Y-%m-%d", time.gmtime(reset))
        log.warning(f"Pushover quota is low: {remaining} of {limit} messages left until {until}")
        if remaining >= limit * QUOTA_PUSH or state.quota_notified == reset:
            return state
        push = Push(
            title="ind-alert: Pushover quota almost used up",
            message=f"{remaining} of {limit} messages left this month. Fewer alerts or a longer interval will help.",
            url="https://pushover.net/apps",
            url_title="Pushover applications",
        )
        if self.broadcast(self.config.alerts, push):
            return dataclasses.replace(state, quota_notified=reset)
        return state

    def save(self, state: State, token: Any) -> None:
        try:
            if self.store.save(state, token):
                log.info(f"state saved to {self.store.location}")
        except StateError as exc:
            log.error(str(exc))
            self.exit_code = max(self.exit_code, exc.exit_code)


# ------------------------------------------------------------------ output


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


class Formatter(logging.Formatter):
    """Plain lines; in GitHub Actions warnings and errors become annotations."""

    def __init__(self, github: bool) -> None:
        super().__init__()
        self.github = github

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno < NOTICE:
            return message
        level = {NOTICE: "notice", logging.WARNING: "warning"}.get(record.levelno, "error")
        if self.github:
            escaped = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            return f"::{level}::{escaped}"
        return f"{level}: {message}"


def setup_logging(verbose: bool, env: Mapping[str, str]) -> Redact:
    redact = Redact(v for k, v in env.items() if is_secret_var(k))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(Formatter(env.get("GITHUB_ACTIONS") == "true"))
    handler.addFilter(redact)
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG if verbose else NOTICE)
    return redact


def is_secret_var(name: str) -> bool:
    return name.startswith(("PUSHOVER_", "AWS_SECRET", "AWS_SESSION")) or name.endswith(("_URL", "_TOKEN", "_KEY"))


def append_to(env: Mapping[str, str], var: str, text: str) -> None:
    """Append to a file GitHub Actions names in the environment (the summary, the step outputs)."""
    if env.get(var):
        try:
            with open(env[var], "a", encoding="utf-8") as out:
                out.write(text)
        except OSError:
            log.warning(f"could not write {var}")


def github_output(env: Mapping[str, str], name: str, value: str) -> None:
    """Hand a value to the workflow's next steps (steps.<id>.outputs.<name>)."""
    append_to(env, "GITHUB_OUTPUT", f"{name}={value}\n")


def write_summary(env: Mapping[str, str], outcomes: Sequence[Outcome], dry_run: bool, now: datetime) -> None:
    """A Markdown table on the GitHub Actions run page: the watcher works even when nothing is new."""
    rows = [
        "## ind-alert" + (" (dry run)" if dry_run else ""),
        "",
        "| Alert | Desk | Appointment | Persons | Earliest matching slot | New | Status |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        earliest = o.earliest.label() if o.earliest else "—"
        cells = [
            markdown_text(o.alert.name),
            o.alert.desk_name,
            PRODUCTS[o.alert.product],
            str(o.alert.persons),
            earliest,
            str(o.new),
        ]
        cells.append(o.status)
        rows.append("| " + " | ".join(cells[:1] + [c.replace("|", "\\|") for c in cells[1:]]) + " |")
    rows.append("")
    for o in outcomes:
        rows += summary_pictures(o, now)
    append_to(env, "GITHUB_STEP_SUMMARY", "\n".join(rows) + "\n")


# ---------------------------------------------------------------- pictures
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


def mermaid_bars(counts: Sequence[tuple[date, int]]) -> str:
    """A Mermaid xychart-beta bar chart of open matching slots per day."""
    top = max(n for _, n in counts)
    days = [d for d, _ in counts]
    return "\n".join(
        [
            *mermaid_axis(days),
            f'    title "Open matching slots per day, {day_label(days[0])} to {day_label(days[-1])}"',
            "    x-axis [" + ", ".join(f'"{label}"' for label in axis_labels(days)) + "]",
            f'    y-axis "slots" 0 --> {top}',
            "    bar [" + ", ".join(str(n) for _, n in counts) + "]",
            "```",
        ]
    )


def mermaid_trend(points: Sequence[tuple[date, int]]) -> str:
    """A Mermaid xychart-beta line chart of days until the earliest slot, per check day."""
    top = max(max(n for _, n in points), 1)
    days = [d for d, _ in points]
    return "\n".join(
        [
            *mermaid_axis(days),
            f'    title "Days until the earliest matching slot, {day_label(days[0])} to {day_label(days[-1])}"',
            "    x-axis [" + ", ".join(f'"{label}"' for label in axis_labels(days)) + "]",
            f'    y-axis "days" 0 --> {top}',
            "    line [" + ", ".join(str(n) for _, n in points) + "]",
            "```",
        ]
    )


def markdown_text(text: str) -> str:
    """User text made inert in Markdown: no HTML, links, emphasis, code fences or table breaks."""
    text = " ".join(text.split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~:])", r"\\\1", text)


def summary_pictures(outcome: Outcome, now: datetime) -> list[str]:
    """The Markdown under the table for one alert: slots per day, then the 30-day trend."""
    alert = outcome.alert
    out = [f"### {markdown_text(alert.name)}", ""]
    window = chart_window(alert, now)
    counts = slots_per_day(outcome.slots, *window) if window else []
    if outcome.status == "IND unreachable":
        out.append("IND could not be checked this run: no slots to draw.")
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
    if outcome.status != "IND unreachable":
        if any(n for _, n in counts):
            print(f"  open matching slots per day, {day_label(counts[0][0])} to {day_label(counts[-1][0])}:")
            for line in text_calendar(counts):
                print(f"    {line}")
        else:
            print("  no matching slot is open" + (f" until {day_label(window[1])}" if window else ""))
    if points := trend(outcome.history):
        print(f"  days until the earliest slot, {text_trend(points)}")


# ---------------------------------------------------------------- S3 state


@dataclass
class S3Store:
    """State as one S3 object, written with conditional requests so overlapping runs lose nothing."""

    bucket: str
    key: str
    client: Any = field(repr=False)
    attempts: int = 5

    @classmethod
    def from_url(cls, url: str) -> S3Store:
        match = re.fullmatch(r"s3://([^/]+)/(.+)", url)
        if not match:
            raise ConfigError(f'state "{url}" must look like s3://bucket/path/seen.json')
        try:
            import boto3
            from botocore.config import Config as BotoConfig
        except ImportError:
            raise ConfigError("S3 state needs boto3: pip install boto3") from None
        timeouts = BotoConfig(connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT, retries={"max_attempts": 3})
        # Like the credentials, the region comes from the environment; boto3 reads only AWS_DEFAULT_REGION.
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
        return cls(match[1], match[2], boto3.client("s3", region_name=region, config=timeouts))

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def explain(self, exc: Exception) -> str:
        """One line that says what to fix, from the error code only (AWS texts can carry request details)."""
        from botocore.exceptions import ClientError, NoCredentialsError

        if isinstance(exc, NoCredentialsError):
            return "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (see README)"
        if not isinstance(exc, ClientError):
            return f"S3 could not be reached for {self.location} ({type(exc).__name__}); will retry next run"
        code = str(exc.response.get("Error", {}).get("Code", "unknown"))
        denied = f"S3 denied access to {self.location}: allow s3:GetObject, s3:PutObject and s3:ListBucket (see README)"
        return {
            "AccessDenied": denied,
            "403": denied,
            "NoSuchBucket": f"S3 bucket {self.bucket} does not exist: check the name and AWS_REGION",
            "InvalidAccessKeyId": "S3 rejected the AWS access key: check AWS_ACCESS_KEY_ID",
            "SignatureDoesNotMatch": "S3 rejected the AWS secret key: check AWS_SECRET_ACCESS_KEY",
        }.get(code, f"S3 answered {code} for {self.location}")

    def load(self) -> tuple[State, Any]:
        from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
        from botocore.exceptions import ConnectionError as NetworkError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key)
            body, etag = response["Body"].read(), response["ETag"]
        except (BotoCoreError, ClientError) as exc:
            error = exc.response if isinstance(exc, ClientError) else {}
            if error.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return State(), (None, None)
            # A network failure or an S3 5xx passes: nothing is checked this run, and nothing lost.
            passing = isinstance(exc, NetworkError | HTTPClientError)
            passing = passing or error.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500
            raise StateError(self.explain(exc), exit_code=0 if passing else 2) from None
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = "\ufffd"
        return state_from_json(text, self.location), (text, etag)

    def save(self, state: State, token: Any) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        loaded, etag = token
        for _ in range(self.attempts):
            text = state_to_json(state)
            if unchanged(text, loaded):  # loaded is None exactly when there was no object (and no ETag)
                return False
            condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
            try:
                self.client.put_object(
                    Bucket=self.bucket, Key=self.key, Body=text.encode(), ContentType="application/json", **condition
                )
                return True
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status not in (404, 409, 412):  # 404: deleted meanwhile, so create it again
                    raise StateError(self.explain(exc), 1) from None
            except BotoCoreError as exc:
                raise StateError(self.explain(exc), 1) from None
            # Another run wrote first: take its state in, then try again on top of it.
            theirs, (loaded, etag) = self.load()
            state = merge_states(state, theirs)
        raise StateError(f"{self.location} kept changing during this run; it will be retried next run", 1)


# -------------------------------------------------------------- watch mode

MIN_INTERVAL = 30.0


def watch(
    opts: Options,
    make: Callable[[Config], Runner],
    wait: Callable[[float], bool],
    jitter: Callable[[float, float], float],
) -> int:
    """Check, push, save, wait; repeat until wait() reports a stop (SIGTERM/SIGINT).

    alerts.toml is re-read when it changes; a bad edit is reported once and the last good config kept.
    """

    def stamp() -> tuple[int, int] | None:
        with contextlib.suppress(OSError):
            info = opts.config.stat()
            return info.st_mtime_ns, info.st_size
        return None

    seen, runner = stamp(), make(load_config(opts.config))
    while True:
        try:
            code = runner.run()
        except StateError as exc:
            if exc.exit_code:
                raise
            log.warning(str(exc))  # e.g. S3 unreachable for a moment: the watch goes on
            code = 0
        if code:
            log.error("stopping: this needs fixing before watching can go on")
            return code
        if wait(opts.interval * jitter(0.9, 1.1)):  # jitter: many watchers must not hit IND in lockstep
            return 0
        if (current := stamp()) != seen:
            seen = current
            try:
                runner = make(load_config(opts.config))
                notice(f"{opts.config} changed: now watching {plural(len(runner.config.alerts), 'alert')}")
            except ConfigError as exc:
                log.error(f"{exc} (still running with the previous config)")


# --------------------------------------------------------------------- CLI


def parse_args(argv: Sequence[str] | None, env: Mapping[str, str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="ind_alert.py",
        description="Push a notification when a sooner IND appointment opens.",
        epilog="Exit codes: 0 done, 1 failure to act on, 2 usage/config/state error. See README.md.",
    )
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="alerts file (default: %(default)s)")
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
    parser.add_argument("--interval", type=float, default=120.0, help="seconds between checks in --watch (min 30)")
    parser.add_argument("-v", "--verbose", action="store_true", help="say more on stderr (never secrets)")
    parser.add_argument("--version", action="version", version=f"ind-alert {VERSION}")
    args = parser.parse_args(argv)
    if not math.isfinite(args.interval) or args.interval < MIN_INTERVAL:
        parser.error(f"--interval must be at least {MIN_INTERVAL:.0f} seconds: IND is polled by many people")
    return Options(**{**vars(args), "config": Path(args.config)})  # the flags are the record's fields


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
    if env.get("GITHUB_ACTIONS") == "true":
        where = "add it in Settings > Secrets and variables > Actions"
        if len(missing) == len(needed):
            raise ConfigError(f"ind-alert is not configured yet: {guide}")
    else:
        where = "set it in the environment"
    raise ConfigError(f"{missing[0]} is not set: {where} (see README)")


def pushover_client(config: Config, env: Mapping[str, str]) -> PushoverClient | None:
    if not any(r.pushover_user_env for r in config.recipients.values()):
        return None
    return PushoverClient((env.get("PUSHOVER_API_URL") or PUSHOVER_API_URL).rstrip("/"), env["PUSHOVER_TOKEN"])


def each_channel(config: Config, env: Mapping[str, str], act: Callable[[Channel], None], done: str) -> int:
    """Run act on every recipient's channel; report each; 1 when any failed."""
    require_secrets(config, env)
    code = 0
    for name, channel in build_channels(config, env, pushover_client(config, env)).items():
        try:
            act(channel)
            print(f"recipient {name}: {done}")
        except NotifyError as exc:
            log.error(f"recipient {name}: {exc}")
            code = 1
    return code


def trial_push(config: Config) -> Push:
    names = ", ".join(a.name for a in config.alerts)
    return Push.about(
        "ind-alert test: notifications work",
        f"You will be told here when a slot opens for: {names}",
        config.alerts[0].product,
    )


def print_desks(env: Mapping[str, str], product: str) -> int:
    products = list(PRODUCTS) if product == "ALL" else [resolve_product(product, "--list-desks")]
    base = (env.get("IND_API_URL") or IND_API_URL).rstrip("/")
    for key in products:
        print(f"{key} ({PRODUCTS[key]}):")
        for desk, name in list_desks(base, key):
            print(f"  {desk:<34} {name}")
    return 0


def dispatch(opts: Options, env: Mapping[str, str], redact: Redact) -> int:
    if opts.list_desks:
        try:
            return print_desks(env, opts.list_desks)
        except SourceError as exc:
            log.error(str(exc))
            return 1
    config = load_config(opts.config)
    redact.add(env.get(name, "") for name in secret_vars(config))
    if opts.check:
        code = each_channel(config, env, lambda c: c.check(), "ok")
        print(f"{opts.config}: {plural(len(config.alerts), 'alert')}, valid")
        return code
    if opts.test_notification:
        push = trial_push(config)
        return each_channel(config, env, lambda c: c.send(push), "test push delivered")

    def make(config: Config) -> Runner:
        redact.add(env.get(name, "") for name in secret_vars(config))
        if opts.dry_run:
            return Runner(config, open_store(opts.state), env, {}, None, dry_run=True)
        require_secrets(config, env)  # before the store: an unconfigured copy does nothing else
        client = pushover_client(config, env)
        return Runner(config, open_store(opts.state), env, build_channels(config, env, client), client)

    if not opts.watch:
        return make(config).run()
    import random
    import signal

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return watch(opts, make, stop.wait, random.uniform)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = dict(os.environ) if env is None else env
    opts = parse_args(argv, env)
    redact = setup_logging(opts.verbose, env)
    try:
        return dispatch(opts, env, redact)
    except NotConfigured as exc:
        notice(str(exc))
        github_output(env, "configured", "false")  # the workflow gives an unconfigured copy no heartbeat
        return 0
    except AlertError as exc:
        (log.error if exc.exit_code else log.warning)(str(exc))
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
