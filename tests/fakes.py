"""Loopback fakes of the IND appointment API and the Pushover API, and a script runner.

Used by the pytest fixtures in ``conftest.py`` and by ``python tests/benchmark.py``, so this
module is stdlib only and must not import pytest. Each fake is a real HTTP server on
127.0.0.1 (a free port) serving from a daemon thread: the script under test talks to it
exactly as it talks to the real service, through ``IND_API_URL`` / ``PUSHOVER_API_URL``.

Shapes follow shared/REFERENCE.md. Error texts the fakes invent are marked as such.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self is Python 3.11+; only the type checker reads it

TESTS_DIR = Path(__file__).resolve().parent
FIXTURES_DIR = TESTS_DIR / "fixtures"
SCRIPT = TESTS_DIR.parent / "ind_alert.py"

DRIP_PADDING = 400  # bytes of spaces after a dripping answer's body

# Angular's anti-XSSI prefix: every real IND body starts with it.
XSSI_PREFIX = ")]}',\n"

HTML_MAINTENANCE = (
    "<!DOCTYPE html><html><head><title>Onderhoud - IND</title></head>"
    "<body><h1>Wij zijn bezig met onderhoud</h1>"
    "<p>We are carrying out maintenance. Please try again later.</p></body></html>"
)

# The only variables a script run inherits from the outer environment. Everything else
# (GITHUB_*, PUSHOVER_*, IND_*, AWS_*, proxies, ...) is dropped so runs are hermetic.
_KEPT_ENV = ("PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR", "TEMP", "TMP", "IND_ALERT_CLOCK_SHIFT")  # midnight.py
_DROPPED_PYTHON_ENV = ("PYTHONSTARTUP", "PYTHONINSPECT", "PYTHONBREAKPOINT")


def load_fixture(name: str) -> str:
    """Return the text of ``tests/fixtures/<name>`` (bodies keep their ``)]}',`` prefix)."""
    return (FIXTURES_DIR / name).read_text(encoding="utf-8")


EXAMPLE_LINE = re.compile(r"^example = true.*\n", re.MULTILINE)


def as_edited(alerts_toml: str) -> str:
    """The shipped alerts.toml once its user has made the alert theirs and deleted the line example = true."""
    edited, count = EXAMPLE_LINE.subn("", alerts_toml)
    assert count == 1, "the shipped alerts.toml has no line example = true to delete"
    return edited


def ind_body(payload: object) -> str:
    """Render ``payload`` as an IND body: the anti-XSSI prefix, then compact JSON."""
    return XSSI_PREFIX + json.dumps(payload, separators=(",", ":"))


def strip_xssi(body: str) -> str:
    """Remove the anti-XSSI prefix the way REFERENCE.md asks clients to (tolerantly)."""
    return re.sub(r"^\)\]\}',?\s*", "", body)


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class Reply:
    """One scripted answer of a fake.

    ``delay`` seconds pass before answering (on top of the fake's global ``delay``).
    ``hang`` waits until ``release_hangs()`` or ``close()``, then drops the connection.
    ``hold`` waits the same way, then answers normally (to order two clients exactly).
    ``drop`` closes the connection without sending a status line.
    ``drip`` sends the body one byte every ``drip`` seconds (the fake's own ``drip`` when 0).
    """

    status: int = 200
    body: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hang: bool = False
    hold: bool = False
    drop: bool = False
    drip: float = 0.0


class Request(NamedTuple):
    """A request as a fake received it.

    ``path`` is raw (still percent-encoded, without the query), ``query`` keeps the last
    value of each name, ``headers`` has lower-cased names.
    """

    path: str
    query: dict[str, str]
    headers: dict[str, str]


# --------------------------------------------------------------------------- server core


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # the benchmark opens many connections at once

    def __init__(self, fake: _FakeServer) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.fake._connected(client_address, +1)  # in the serving thread: accepted in the kernel's order
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.fake._connected(client_address, -1)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # HTTP/1.0: one request per connection, so no handler thread outlives its answer.
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _dispatch(self) -> None:
        fake = self.server.fake
        split = urlsplit(self.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        headers = {name.lower(): value for name, value in self.headers.items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        fake._enter(Request(split.path, query, headers))
        self._left = False
        try:
            try:
                reply = fake._route(self.command, split.path, query, headers, body)
            except Exception as exc:  # noqa: BLE001 - a bug in the fake: answer 500, re-raised by close()
                fake._errors.append(exc)
                reply = Reply(500, f"fake server error: {exc!r}")
            fake._wait(reply)
            if reply.hang or reply.drop:
                self.close_connection = True
                return
            self._send(reply)
        except OSError:
            pass  # the client gave up (its timeout) before we answered
        finally:
            if not self._left:
                fake._leave()

    def _send(self, reply: Reply) -> None:
        data = reply.body.encode("utf-8")
        self.send_response(reply.status)
        names = {name.lower() for name in reply.headers}
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if "content-type" not in names:
            self.send_header("Content-Type", _guess_type(reply.body))
        # Answered: counted out before the client can see the answer and send its next request, so
        # max_in_flight never counts a finished request beside the next one.
        fake = self.server.fake
        drip = reply.drip or fake.drip
        if drip:
            data += b" " * DRIP_PADDING  # JSON allows it: long enough to outlast any deadline
        self.send_header("Content-Length", str(len(data)))
        fake._leave()
        self._left = True
        if fake.drip_head:  # the status line and headers drip too: the client never sees the answer start
            head = b"".join(self._headers_buffer) + b"\r\n"  # type: ignore[attr-defined]
            self._headers_buffer = []  # type: ignore[attr-defined]
            data = head + data
            drip = fake.drip_head
        else:
            self.end_headers()
        if self.command == "HEAD":
            return
        if not drip:
            self.wfile.write(data)
            return
        fake._dripping(+1)
        try:
            for byte in data:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                if fake._closing.wait(drip):
                    return
        finally:
            fake._dripping(-1)  # the client closed its end (a write failed) or the fake is closing


def _guess_type(body: str) -> str:
    if body.lstrip().startswith("<"):
        return "text/html; charset=utf-8"
    return "application/json; charset=utf-8"


class _FakeServer:
    """Lifecycle, recording, delays and hangs shared by both fakes."""

    name = "fake"
    base_path = ""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._release = threading.Event()
        self._requests: list[Request] = []
        self._errors: list[Exception] = []
        self._in_flight = 0
        self.max_in_flight = 0
        self._connections = 0  # accepted and not yet done with
        self._peers: set[Any] = set()  # every client address accepted so far
        #: Seconds every request waits before it is answered (the benchmark's latency).
        self.delay = 0.0
        #: Seconds between two bytes of every answer's body (0: sent at once): a server that drips.
        self.drip = 0.0
        self.drip_head = 0.0  # the same for the status line and headers: nothing of the answer arrives in time
        self.drips = 0  # answers being dripped right now: back to 0 once every client gave up and closed
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name=f"{self.name}-serve", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def root(self) -> str:
        """``http://127.0.0.1:PORT`` — also accepted as the API base."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The API base to put in the script's environment (real path prefix included)."""
        return self.root + self.base_path

    @property
    def requests(self) -> list[Request]:
        """Every request received so far, in arrival order (a snapshot copy)."""
        with self._lock:
            return list(self._requests)

    def settle(self, timeout: float = 10) -> None:
        """Wait until every connection made to this fake before the call is done with: a request a killed
        client had sent may still wait in the kernel's queue to be accepted, and is recorded only then.

        A probe connection goes through the same queue (first in, first out): once it is accepted, every
        earlier one is too, and then every handler is waited for. Not for a test holding a request open.
        """
        with self._lock:
            self._peers.clear()  # a port used again later cannot pass for the probe
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as probe:
            peer = probe.getsockname()
            wait_until(lambda: self._accepted(peer), timeout, f"{self.name} to accept every waiting connection")
        wait_until(self._idle, timeout, f"{self.name} to finish every accepted connection")

    def _accepted(self, peer: Any) -> bool:
        with self._lock:
            return peer in self._peers

    def _idle(self) -> bool:
        with self._lock:
            return self._connections == 0

    def release_hangs(self) -> None:
        """Let every request currently hanging go: its connection is dropped unanswered."""
        with self._lock:
            self._release.set()
            self._release = threading.Event()

    def close(self) -> None:
        """Stop serving, release hangs and delays, join the thread. Idempotent."""
        if self._closing.is_set():
            return
        self._closing.set()
        self.release_hangs()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        if self._errors:
            raise RuntimeError(f"{self.name} failed while serving") from self._errors[0]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Called from handler threads.

    def _enter(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _connected(self, peer: Any, change: int) -> None:
        with self._lock:
            self._connections += change
            if change > 0:
                self._peers.add(peer)

    def _dripping(self, change: int) -> None:
        with self._lock:
            self.drips += change

    def _wait(self, reply: Reply) -> None:
        seconds = self.delay + reply.delay
        if seconds > 0:
            self._closing.wait(seconds)
        if reply.hang or reply.hold:
            with self._lock:
                release = self._release
            release.wait()

    def _route(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> Reply:
        raise NotImplementedError

    def _strip_base(self, path: str) -> str:
        if self.base_path and (path + "/").startswith(self.base_path + "/"):
            return path[len(self.base_path) :]
        return path


# --------------------------------------------------------------------------- IND


SlotSpec = tuple[str, str, str] | Sequence[str] | Mapping[str, Any]
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NAME = "Amsterdam biometrics"  # the alert most end-to-end tests use: AM, BIO, 1 person


def day(offset: int) -> date:
    """Today in Amsterdam plus ``offset`` days, computed now: the script computes "today" when it runs."""
    return datetime.now(AMSTERDAM).date() + timedelta(days=offset)


def slot(offset: int, start: str = "10:00", end: str = "10:10") -> tuple[str, str, str]:
    """An IND slot ``offset`` days from today (Amsterdam)."""
    return (day(offset).isoformat(), start, end)


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def label(spec: Sequence[str]) -> str:
    """How a push shows a slot ``(date, start, end)``: "Tue 24 Nov 09:15", English names in any locale."""
    on = date.fromisoformat(spec[0])
    return f"{WEEKDAYS[on.weekday()]} {on.day} {MONTHS[on.month - 1]} {spec[1]}"


def slot_id(offset: int, start: str = "10:00", end: str = "10:10", desk: str = "AM") -> str:
    """How the state file names that slot."""
    return f"{desk} {day(offset).isoformat()} {start}-{end}"


def spec_id(spec: Sequence[str], desk: str = "AM") -> str:
    """How the state file names the slot ``(date, start, end)`` at ``desk``."""
    return f"{desk} {spec[0]} {spec[1]}-{spec[2]}"


_IndKey = tuple[str, str, str, int]  # (kind, desk, product, persons)


def slot_key(desk: str, product: str, persons: int, date: str, start: str, end: str, salt: str = "") -> str:
    """The deterministic fake 32-hex ``key`` ``FakeIND.set_slots`` gives a slot."""
    text = "|".join((salt, desk, product, str(persons), date, start, end))
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def slots_body(desk: str, product: str, persons: int, slots: Iterable[SlotSpec], key_salt: str = "") -> str:
    """The real-shape slots body (prefix included) for ``slots``, in the order given.

    A ``(date, start, end)`` tuple (or list) becomes ``{key, date, startTime, endTime, parts: 1}``.
    A mapping is sent as given, with ``key`` and ``parts`` added only when absent.
    """
    data: list[dict[str, Any]] = []
    for slot in slots:
        if not isinstance(slot, Mapping):
            date, start, end = slot
            key = slot_key(desk, product, persons, date, start, end, key_salt)
            data.append({"key": key, "date": date, "startTime": start, "endTime": end, "parts": 1})
        else:
            item = dict(slot)
            if "key" not in item:
                date, start, end = (str(item.get(k, "")) for k in ("date", "startTime", "endTime"))
                item["key"] = slot_key(desk, product, persons, date, start, end, key_salt)
            item.setdefault("parts", 1)
            data.append(item)
    return ind_body({"status": "OK", "data": data})


def desks_body(desks: Iterable[tuple[str, str]]) -> str:
    """The real-shape desks body (prefix included) for ``(key, name)`` pairs."""
    data = [{"key": key, "version": 1, "name": name} for key, name in desks]
    return ind_body({"status": "OK", "data": data})


EMPTY_OK = ind_body({"status": "OK", "data": []})

# What IND's desks list answers when a test does not say otherwise: every desk of the bundled table
# (shared/REFERENCE.md), as if each offered every product.
ALL_DESKS = [
    ("AM", "IND Amsterdam"),
    ("DH", "IND Den Haag"),
    ("ZW", "IND Zwolle"),
    ("DB", "IND Den Bosch"),
    ("6b425ff9f87de136a36b813cccf26e23", "IND Haarlem"),
    ("e1afaa1ca15c1778e972efb79ce63633", "IND Rijswijk (temporary)"),
    ("87d19bfc2e1b572ac3aab17032ed11dc", "IND Brabanthallen, Den Bosch"),
    ("fa24ccf0acbc76a7793765937eaee440", "Expatcenter Utrecht"),
    ("0c127eb6d9fe1ced413d2112305e75f6", "Expatcenter Groningen"),
    ("6c5280823686521552efe85094e607cf", "Expatcenter Maastricht"),
    ("b084907207cfeea941cd9698821fd894", "Expatcenter Wageningen"),
    ("0588ef4088c08f53294eb60bab55c81e", "Expatcenter Eindhoven"),
    ("5e325f444aeb56bb0270a61b4a0403eb", "Expatcenter Den Haag"),
    ("f0ef3c8f0973875936329d713a68c5f3", "Expatcenter Rotterdam"),
    ("3535aca0fb9a2e8e8015f768fb3fa69d", "Expatcenter Enschede"),
    ("284b189314071dcd571df5bb262a31db", "Expatcenter Amsterdam"),
    ("0d85a757c13105ba0c26c3d177a7a884", "Expatcenter Nijmegen"),
]


class FakeIND(_FakeServer):
    """The IND appointment API on loopback.

    Serves ``GET {url}/desks/{desk}/slots?productKey=P&persons=N`` and
    ``GET {url}/desks/?productKey=P``; ``url`` ends in ``/oap/api`` but requests without that
    prefix are served too. A trailing ``/slots/`` is a 404, as on the real server since
    Aug 2024. A missing ``productKey`` or ``persons`` outside 1..6 is a 400.

    Each query has a sticky reply (``set_*``) and optional one-shot replies (``once=True``,
    served first, FIFO). Queries nobody configured get ``default_slots`` / ``default_desks``
    (slots: ``{"status":"OK","data":[]}``; desks: every desk of ``ALL_DESKS``); unconfigured slot
    queries are listed in ``unmatched``.
    """

    name = "FakeIND"
    base_path = "/oap/api"

    def __init__(self) -> None:
        self._sticky: dict[_IndKey, Reply] = {}
        self._once: dict[_IndKey, deque[Reply]] = {}
        self._hits: Counter[_IndKey] = Counter()
        self._unmatched: list[tuple[str, str, int]] = []
        self.default_slots = Reply(200, EMPTY_OK)
        self.default_desks = Reply(200, desks_body(ALL_DESKS))
        #: Hold slot requests until this many are in flight (see ``_gather``); 0 answers at once.
        self.gather = 0
        self.gathered = 0  # rounds of ``gather`` requests answered together
        self._barrier: threading.Barrier | None = None
        super().__init__()

    # Configuration.

    def set_slots(
        self,
        desk: str,
        product: str,
        persons: int,
        slots: Iterable[SlotSpec],
        *,
        key_salt: str = "",
        delay: float = 0.0,
        hold: bool = False,
        once: bool = False,
    ) -> None:
        """Answer this query with these slots (see ``slots_body``); ``[]`` means none free.

        ``hold=True`` keeps each answer back until ``release_hangs()``.
        """
        body = slots_body(desk, product, persons, slots, key_salt)
        self._set(("slots", desk, product, persons), Reply(200, body, delay=delay, hold=hold), once)

    def set_raw(
        self,
        desk: str,
        product: str,
        persons: int,
        status: int = 200,
        body: str = "",
        *,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        once: bool = False,
    ) -> None:
        """Answer this query with exactly this status and body (failures, fixtures)."""
        reply = Reply(status, body, dict(headers or {}), delay=delay)
        self._set(("slots", desk, product, persons), reply, once)

    def set_hang(self, desk: str, product: str, persons: int, *, once: bool = False) -> None:
        """Never answer this query: wait for ``release_hangs()``/``close()``, then drop."""
        self._set(("slots", desk, product, persons), Reply(hang=True), once)

    def set_drop(self, desk: str, product: str, persons: int, *, once: bool = False) -> None:
        """Close the connection of this query without answering."""
        self._set(("slots", desk, product, persons), Reply(drop=True), once)

    def set_desks(self, product: str, desks: Iterable[tuple[str, str]], *, once: bool = False) -> None:
        """Answer ``/desks/?productKey=product`` with these ``(key, name)`` desks."""
        self._set(("desks", "", product, 0), Reply(200, desks_body(desks)), once)

    def set_desks_raw(
        self,
        product: str,
        status: int = 200,
        body: str = "",
        *,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        once: bool = False,
    ) -> None:
        """Answer the desks query with exactly this status and body."""
        reply = Reply(status, body, dict(headers or {}), delay=delay)
        self._set(("desks", "", product, 0), reply, once)

    def set_default(self, status: int = 200, body: str = EMPTY_OK, *, delay: float = 0.0) -> None:
        """What unconfigured slot queries get (e.g. ``404`` with HTML to be strict)."""
        self.default_slots = Reply(status, body, delay=delay)

    # Inspection.

    def hits(self, desk: str, product: str, persons: int) -> int:
        """How many well-formed requests this slots query received."""
        with self._lock:
            return self._hits[("slots", desk, product, persons)]

    def desk_hits(self, product: str) -> int:
        """How many requests the desks listing for ``product`` received."""
        with self._lock:
            return self._hits[("desks", "", product, 0)]

    @property
    def unmatched(self) -> list[tuple[str, str, int]]:
        """``(desk, product, persons)`` slot queries answered by ``default_slots``."""
        with self._lock:
            return list(self._unmatched)

    def unused(self) -> list[str]:
        """One-shot replies never served, as readable strings (empty when all were)."""
        with self._lock:
            return [
                f"{kind} {desk} {product} {persons}: {reply.status} {reply.body[:40]!r}"
                for (kind, desk, product, persons), replies in self._once.items()
                for reply in replies
            ]

    # Serving.

    def _set(self, key: _IndKey, reply: Reply, once: bool) -> None:
        with self._lock:
            if once:
                self._once.setdefault(key, deque()).append(reply)
            else:
                self._sticky[key] = reply

    def _take(self, key: _IndKey) -> Reply | None:
        with self._lock:
            self._hits[key] += 1
            queued = self._once.get(key)
            if queued:
                return queued.popleft()
            return self._sticky.get(key)

    def _gather(self) -> None:
        """With ``gather = N``: hold each slot request until N are in flight, then answer them together.

        Concurrency made observable without a clock: a client asking fewer than N at a time leaves a
        round waiting (the fake fails after 10 s); one asking more shows in ``max_in_flight``.
        """
        if not self.gather:
            return
        with self._lock:
            if self._barrier is None or self._barrier.parties != self.gather:
                self._barrier = threading.Barrier(self.gather, timeout=10)
            barrier = self._barrier
        if barrier.wait() == 0:
            with self._lock:
                self.gathered += 1

    def _route(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> Reply:
        rel = self._strip_base(path)
        if method != "GET":
            return Reply(405, "<html><body>405 Method Not Allowed</body></html>")
        product = query.get("productKey", "")
        if rel in ("/desks/", "/desks"):
            if not product:
                return Reply(400, ind_body({"status": "ERROR", "error": "productKey missing"}))
            return self._take(("desks", "", product, 0)) or self.default_desks
        match = re.fullmatch(r"/desks/([^/]+)/slots", rel)
        if match is None:
            return Reply(404, "<html><body><h1>404 Not Found</h1></body></html>")
        desk = unquote(match[1])
        self._gather()
        persons = query.get("persons", "")
        if not product or not persons.isdigit() or not 1 <= int(persons) <= 6:
            # Invented envelope: the real non-OK shape was never observed.
            return Reply(400, ind_body({"status": "ERROR", "error": "bad request"}))
        reply = self._take(("slots", desk, product, int(persons)))
        if reply is None:
            with self._lock:
                self._unmatched.append((desk, product, int(persons)))
            return self.default_slots
        return reply


# --------------------------------------------------------------------------- Pushover


ENDPOINTS = ("messages", "validate", "cancel", "sounds")
# Pushover's built-in sounds (pushover.net/api#sounds); an account may add its own.
BUILTIN_SOUNDS = {
    name: name.title()
    for name in [
        "pushover",
        "bike",
        "bugle",
        "cashregister",
        "classical",
        "cosmic",
        "falling",
        "gamelan",
        "incoming",
        "intermission",
        "magic",
        "mechanical",
        "pianobar",
        "siren",
        "spacealarm",
        "tugboat",
        "alien",
        "climb",
        "persistent",
        "echo",
        "updown",
        "vibrate",
        "none",
    ]
}

# Pushover's own texts for these two (REFERENCE.md); the others are invented.
TOKEN_INVALID = "application token is invalid"
USER_INVALID = "user identifier is not a valid user, group, or subscribed user key"
OVER_QUOTA = "application is over its message quota"  # invented


def _first_of_next_month() -> int:
    now = datetime.now(timezone.utc)
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return int(datetime(year, month, 1, tzinfo=timezone.utc).timestamp())


@dataclass(frozen=True)
class _Queued:
    """A scripted Pushover answer; ``None`` body/headers mean "the usual ones"."""

    status: int = 200
    body: str | None = None
    headers: Mapping[str, str] | None = None
    delay: float = 0.0
    drop: bool = False
    drip: float = 0.0


class FakePushover(_FakeServer):
    """The Pushover API on loopback (``url`` ends in ``/1``; no prefix works too).

    ``POST /messages.json``, ``/users/validate.json`` and
    ``/receipts/cancel_by_tag/{tag}.json``. Every POST form is recorded (``messages``,
    ``validations``, ``cancels``) whatever the answer. By default it answers like the real
    API: 200 ``{"status":1,"request":…}`` with ``X-Limit-App-*`` headers, ``remaining``
    counting down, 429 once it reaches 0, and 400 with Pushover's error shape for a wrong
    ``token``/``user`` (checked against ``token``/``users`` when set) or an invalid field.
    ``queue()`` scripts the next answers of an endpoint, FIFO, ahead of that default.
    """

    name = "FakePushover"
    base_path = "/1"

    def __init__(self) -> None:
        #: The accepted token and user/group keys; ``None`` accepts any non-empty value.
        self.token: str | None = None
        self.users: set[str] | None = None
        self.limit = 10_000
        self.remaining = 9_000
        self.reset = _first_of_next_month()
        self.devices = ["phone"]
        #: What GET sounds.json lists, and so which ``sound`` a message may carry.
        self.sounds: dict[str, str] = dict(BUILTIN_SOUNDS)
        self._sound_lists = 0
        self._queues: dict[str, deque[_Queued]] = {e: deque() for e in ENDPOINTS}
        self._messages: list[dict[str, str]] = []
        self._delivered: list[dict[str, str]] = []
        self._validations: list[dict[str, str]] = []
        self._cancels: list[str] = []
        self._emergencies: list[tuple[set[str], bool]] = []  # (tags, still repeating)
        self._counter = 0
        super().__init__()

    # Configuration.

    def queue(
        self,
        endpoint: str,
        status: int,
        body: str | Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        delay: float = 0.0,
        drip: float = 0.0,
    ) -> None:
        """Script the next answer of ``endpoint`` (``messages``/``validate``/``cancel``).

        ``body=None`` gives the usual body for ``status``: success for 200, Pushover's
        error shape (token invalid) for 4xx, quota text for 429, an HTML page for 5xx; a
        mapping is sent as JSON. ``headers=None`` gives the ``X-Limit-App-*`` headers on
        ``messages``; pass ``{}`` to send none. A 200 whose body has ``status`` 1 counts
        as delivered, unless it drips (``drip`` seconds a byte): that answer never arrives whole.
        """
        self._check_endpoint(endpoint)
        text = body if body is None or isinstance(body, str) else json.dumps(body)
        kept = dict(headers) if headers is not None else None
        with self._lock:
            self._queues[endpoint].append(_Queued(status, text, kept, delay, drip=drip))

    def drop_next(self, endpoint: str = "messages") -> None:
        """Close the next connection to ``endpoint`` without answering (after reading it)."""
        self._check_endpoint(endpoint)
        with self._lock:
            self._queues[endpoint].append(_Queued(drop=True))

    def unused(self) -> list[str]:
        """Queued answers never served, as readable strings (empty when all were)."""
        with self._lock:
            return [
                f"{endpoint}: {'drop' if q.drop else q.status}"
                for endpoint, queued in self._queues.items()
                for q in queued
            ]

    # Inspection.

    @property
    def messages(self) -> list[dict[str, str]]:
        """Every form POSTed to messages.json, including failed and dropped attempts."""
        with self._lock:
            return list(self._messages)

    @property
    def delivered(self) -> list[dict[str, str]]:
        """The message forms that got a 200 ``{"status":1}`` answer."""
        with self._lock:
            return list(self._delivered)

    @property
    def validations(self) -> list[dict[str, str]]:
        """Every form POSTed to users/validate.json."""
        with self._lock:
            return list(self._validations)

    @property
    def sound_lists(self) -> int:
        """How many times GET sounds.json was asked."""
        with self._lock:
            return self._sound_lists

    @property
    def cancels(self) -> list[str]:
        """The tag of every cancel_by_tag request (decoded), in order."""
        with self._lock:
            return list(self._cancels)

    # Serving.

    @staticmethod
    def _check_endpoint(endpoint: str) -> None:
        if endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {ENDPOINTS}, not {endpoint!r}")

    def _request_id(self) -> str:
        with self._lock:
            self._counter += 1
            return str(uuid.UUID(int=self._counter, version=4))

    def _limit_headers(self) -> dict[str, str]:
        with self._lock:
            remaining = max(self.remaining, 0)
        return {
            "X-Limit-App-Limit": str(self.limit),
            "X-Limit-App-Remaining": str(remaining),
            "X-Limit-App-Reset": str(self.reset),
        }

    def _json_body(self, payload: Mapping[str, Any]) -> str:
        return json.dumps({**payload, "request": self._request_id()})

    def _reply(self, endpoint: str, status: int, payload: Mapping[str, Any]) -> Reply:
        headers = self._limit_headers() if endpoint == "messages" else {}
        return Reply(status, self._json_body(payload), headers)

    def _error(self, endpoint: str, status: int, text: str, param: str = "") -> Reply:
        payload = {param: "invalid"} if param else {}
        return self._reply(endpoint, status, {**payload, "errors": [text], "status": 0})

    def _route(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> Reply:
        rel = self._strip_base(path)
        tag = ""
        if rel == "/messages.json":
            endpoint = "messages"
        elif rel == "/users/validate.json":
            endpoint = "validate"
        elif match := re.fullmatch(r"/receipts/cancel_by_tag/([^/]+)\.json", rel):
            endpoint, tag = "cancel", unquote(match[1])
        elif rel == "/sounds.json" and method == "GET":
            return self._list_sounds(query)
        else:
            return self._error("", 404, "not found")
        if method != "POST":
            return self._error("", 405, "only POST is supported")
        form = _parse_form(body, headers.get("content-type", ""))
        with self._lock:
            if endpoint == "messages":
                self._messages.append(form)
            elif endpoint == "validate":
                self._validations.append(form)
            else:
                self._cancels.append(tag)
            queue = self._queues[endpoint]
            queued = queue.popleft() if queue else None
        if queued is not None:
            return self._scripted(endpoint, queued, form)
        if endpoint == "messages":
            return self._send_message(form)
        if endpoint == "validate":
            return self._validate(form)
        return self._cancel(form, tag)

    def _scripted(self, endpoint: str, queued: _Queued, form: dict[str, str]) -> Reply:
        if queued.drop:
            return Reply(drop=True, delay=queued.delay)
        status = queued.status
        body = queued.body
        if body is None:
            body = self._usual_body(endpoint, status)
        if endpoint == "messages" and status == 200 and _status_is_1(body) and not queued.drip:
            self._deliver(form)
        if queued.headers is not None:
            headers = dict(queued.headers)
        else:
            headers = self._limit_headers() if endpoint == "messages" else {}
        return Reply(status, body, headers, delay=queued.delay, drip=queued.drip)

    def _usual_body(self, endpoint: str, status: int) -> str:
        if status == 200:
            extra: dict[str, Any] = {}
            if endpoint == "validate":
                extra = {"group": 0, "devices": self.devices}
            elif endpoint == "cancel":
                extra = {"canceled": 0}
            elif endpoint == "sounds":
                extra = {"sounds": self.sounds}
            return self._json_body({"status": 1, **extra})
        if status == 429:
            return self._json_body({"errors": [OVER_QUOTA], "status": 0})
        if 400 <= status < 500:
            return self._json_body({"token": "invalid", "errors": [TOKEN_INVALID], "status": 0})
        return f"<html><body><h1>{status} Server Error</h1></body></html>"

    def _credentials_error(self, endpoint: str, form: dict[str, str], user_text: str = USER_INVALID) -> Reply | None:
        token, user = form.get("token", ""), form.get("user", "")
        if not token or (self.token is not None and token != self.token):
            return self._error(endpoint, 400, TOKEN_INVALID, "token")
        if not user or (self.users is not None and user not in self.users):
            return self._error(endpoint, 400, user_text, "user")
        return None

    def _send_message(self, form: dict[str, str]) -> Reply:
        error = self._credentials_error("messages", form)
        if error is not None:
            return error
        problem = _message_problem(form, self.sounds)
        if problem is not None:
            param, text = problem
            return self._error("messages", 400, text, param)
        with self._lock:
            over_quota = self.remaining <= 0
        if over_quota:
            return self._error("messages", 429, OVER_QUOTA)
        receipt = self._deliver(form)
        extra = {"receipt": receipt} if receipt else {}
        return self._reply("messages", 200, {"status": 1, **extra})

    def _deliver(self, form: dict[str, str]) -> str:
        """Count a delivered message; return a receipt for an emergency one, else ""."""
        with self._lock:
            if self.drip:  # its answer never arrives whole: not delivered
                return ""
            self._delivered.append(form)
            self.remaining -= 1
            if form.get("priority", "").strip() != "2":
                return ""
            tags = {t.strip() for t in form.get("tags", "").split(",") if t.strip()}
            self._emergencies.append((tags, True))
            self._counter += 1
            digest = hashlib.md5(str(self._counter).encode(), usedforsecurity=False)
            return digest.hexdigest()[:30]

    def _list_sounds(self, query: dict[str, str]) -> Reply:
        with self._lock:
            self._sound_lists += 1
            queue = self._queues["sounds"]
            queued = queue.popleft() if queue else None
        if queued is not None:
            return self._scripted("sounds", queued, query)
        token = query.get("token", "")
        if not token or (self.token is not None and token != self.token):
            return self._error("sounds", 400, TOKEN_INVALID, "token")
        return self._reply("sounds", 200, {"status": 1, "sounds": self.sounds})

    def _validate(self, form: dict[str, str]) -> Reply:
        # Invented text: the real validate.json wording for a bad user is not recorded.
        error = self._credentials_error("validate", form, user_text="user key is invalid")
        if error is not None:
            return error
        return self._reply("validate", 200, {"status": 1, "group": 0, "devices": self.devices})

    def _cancel(self, form: dict[str, str], tag: str) -> Reply:
        token = form.get("token", "")
        if not token or (self.token is not None and token != self.token):
            return self._error("cancel", 400, TOKEN_INVALID, "token")
        with self._lock:
            canceled = 0
            for i, (tags, repeating) in enumerate(self._emergencies):
                if repeating and tag in tags:
                    self._emergencies[i] = (tags, False)
                    canceled += 1
        return self._reply("cancel", 200, {"status": 1, "canceled": canceled})


def _status_is_1(body: str) -> bool:
    try:
        payload = json.loads(body)
    except RecursionError:  # nested past Python's parser: its own top level says
        return body.replace(" ", "").startswith('{"status":1,')
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("status") == 1


def _parse_form(body: bytes, content_type: str) -> dict[str, str]:
    text = body.decode("utf-8", errors="replace")
    if content_type.startswith("application/json"):
        try:
            payload = json.loads(text)
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in payload.items()} if isinstance(payload, dict) else {}
    return dict(parse_qsl(text, keep_blank_values=True))


def _message_problem(form: dict[str, str], sounds: Mapping[str, str]) -> tuple[str, str] | None:
    """Field limits from REFERENCE.md; the error texts are invented."""
    message = form.get("message", "")
    if "sound" in form and form["sound"] not in sounds:
        return "sound", "sound is not a valid sound"
    if not message.strip():
        return "message", "message cannot be blank"
    limits = {"message": 1024, "title": 250, "url": 512, "url_title": 100}
    for param, most in limits.items():
        if len(form.get(param, "")) > most:
            return param, f"{param} is too long (maximum is {most} characters)"
    if form.get("html") == "1" and form.get("monospace") == "1":
        return "monospace", "html and monospace cannot both be set"
    priority = form.get("priority", "0") or "0"
    if priority not in ("-2", "-1", "0", "1", "2"):
        return "priority", "priority must be an integer from -2 to 2"
    if priority == "2":
        retry, expire = form.get("retry", ""), form.get("expire", "")
        if not retry.isdigit() or int(retry) < 30:
            return "retry", "retry must be at least 30 seconds for emergency priority"
        if not expire.isdigit() or int(expire) > 10800:
            return "expire", "expire must be at most 10800 seconds for emergency priority"
    return None


# --------------------------------------------------------------------------- script runs


class ScriptResult(subprocess.CompletedProcess[str]):
    """A finished script run. ``sleeps``: seconds asked of ``time.sleep`` (patched runs)."""

    def __init__(self, proc: subprocess.CompletedProcess[str], sleeps: list[float]) -> None:
        super().__init__(proc.args, proc.returncode, proc.stdout, proc.stderr)
        self.sleeps = sleeps

    @property
    def output(self) -> str:
        """stdout and stderr together, for "this never appears anywhere" checks."""
        return (self.stdout or "") + (self.stderr or "")


# Runs the script as `python script args` would, with time.sleep recording instead of
# sleeping. Its two variables are removed before the script starts, so it cannot see them.
_LAUNCHER = textwrap.dedent(
    """
    import os, runpy, sys, threading, time
    _log = os.environ.pop("_FAKES_SLEEP_LOG")
    _limit = int(os.environ.pop("_FAKES_SLEEP_LIMIT", "0"))
    _lock = threading.Lock()
    _count = [0]
    def _sleep(seconds):
        with _lock:
            with open(_log, "a", encoding="utf-8") as f:
                f.write(repr(float(seconds)) + "\\n")
            _count[0] += 1
            stop = _limit and _count[0] >= _limit
        if stop:
            raise KeyboardInterrupt
    time.sleep = _sleep
    sys.argv = sys.argv[1:]
    sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))
    runpy.run_path(sys.argv[0], run_name="__main__")
    """
)


def runtime_python() -> str:
    """Python 3.12 (Lambda's runtime) with pip when this machine has one, else the Python running the tests."""
    candidates = ["python3.12"]
    if pyenv := shutil.which("pyenv"):  # pyenv's python3.12 shim runs only where 3.12 is the chosen version
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False).stdout.strip()
        candidates += sorted(str(p) for p in Path(root or ".").glob("versions/3.12*/bin/python3.12"))
    for candidate in candidates:
        found = shutil.which(candidate)
        works = found and subprocess.run([found, "-m", "pip", "--version"], capture_output=True, check=False)
        if found and works and works.returncode == 0:
            return found
    return sys.executable


def build_package(repo: Path, work: Path) -> tuple[Path, str, subprocess.CompletedProcess[str]]:
    """The Lambda package, built by .github/aws/build.sh from a copy of the repository's files in `work`:
    the zip, the Python that built it, and the build's output."""
    copy = work / "repo"
    shutil.copytree(repo / ".github", copy / ".github", ignore=shutil.ignore_patterns("*.png"))
    shutil.copy(repo / "ind_alert.py", copy)
    (copy / "alerts.toml").write_text(as_edited((repo / "alerts.toml").read_text(encoding="utf-8")), encoding="utf-8")
    python = runtime_python()
    build = subprocess.run(
        ["bash", str(copy / ".github" / "aws" / "build.sh"), "out/ind-alert.zip"],
        env={**os.environ, "PYTHON": python},
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return copy / "out" / "ind-alert.zip", python, build


def script_env(env: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """A minimal copy of ``os.environ`` plus ``env`` (a ``None`` value removes the name)."""
    result = {
        name: value for name, value in os.environ.items() if name in _KEPT_ENV or name.startswith(("LC_", "PYTHON"))
    }
    for name in _DROPPED_PYTHON_ENV:
        result.pop(name, None)
    result["PYTHONIOENCODING"] = "utf-8"
    result["NO_PROXY"] = result["no_proxy"] = "127.0.0.1,localhost"
    for name, value in (env or {}).items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = value
    return result


class RunningScript:
    """A script started by ``start_script``: signal it, then ``finish()`` it.

    Usable as a context manager, which kills the process if it is still running.
    """

    def __init__(self, command: list[str], env: dict[str, str], cwd: str | os.PathLike[str] | None, tmp: Path) -> None:
        self._tmp = tmp
        self._log = tmp / "sleeps.txt"
        self.proc = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="backslashreplace",
        )

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    @property
    def sleeps(self) -> list[float]:
        """The durations asked of ``time.sleep`` so far (patched runs; live)."""
        try:
            return [float(line) for line in self._log.read_text(encoding="utf-8").split()]
        except FileNotFoundError:
            return []

    def send_signal(self, signum: int = signal.SIGTERM) -> None:
        """Signal the script (``SIGTERM`` as a service manager would, ``SIGINT`` for Ctrl-C)."""
        self.proc.send_signal(signum)

    def finish(self, timeout: float = 30, input: str | None = None) -> ScriptResult:
        """Wait for the script to exit (killing it after ``timeout``, which re-raises)."""
        try:
            stdout, stderr = self.proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.close()
            raise
        sleeps = self.sleeps
        self.close()
        return ScriptResult(subprocess.CompletedProcess(self.proc.args, self.proc.returncode, stdout, stderr), sleeps)

    def close(self) -> None:
        if self.running:
            self.proc.kill()
            self.proc.communicate()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def start_script(
    args: Sequence[str],
    env: Mapping[str, str | None] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    patch_sleep: bool = False,
    *,
    stop_after_sleeps: int | None = None,
    script: str | os.PathLike[str] = SCRIPT,
) -> RunningScript:
    """Start ``python ind_alert.py *args`` in the background (see ``run_script``).

    For ``--watch``, which waits on an Event rather than ``time.sleep``: start it, wait
    until the fakes saw the first check (``wait_until(lambda: ind.hits(...) >= 1)``), then
    ``send_signal()`` and ``finish()``.
    """
    full_env = script_env(env)
    tmp = Path(tempfile.mkdtemp(prefix="ind-alert-run-"))
    command = [sys.executable]
    if patch_sleep or stop_after_sleeps:
        command += ["-c", _LAUNCHER]
        full_env["_FAKES_SLEEP_LOG"] = str(tmp / "sleeps.txt")
        full_env["_FAKES_SLEEP_LIMIT"] = str(stop_after_sleeps or 0)
    command += [os.fspath(script), *args]
    try:
        return RunningScript(command, full_env, cwd, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def run_script(
    args: Sequence[str],
    env: Mapping[str, str | None] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    patch_sleep: bool = False,
    timeout: float = 30,
    *,
    stop_after_sleeps: int | None = None,
    input: str | None = None,
    script: str | os.PathLike[str] = SCRIPT,
) -> ScriptResult:
    """Run ``python ind_alert.py *args`` to the end and capture its output as text.

    The environment is ``script_env(env)``: nothing from the outer environment but PATH,
    HOME, LANG, LC_*, PYTHON*, SYSTEMROOT and temp-dir names. ``cwd=None`` inherits ours.
    Without ``patch_sleep`` the command is exactly ``sys.executable ind_alert.py *args``.
    With it, a launcher makes ``time.sleep`` return at once and records the durations in
    ``result.sleeps``; with ``stop_after_sleeps=N`` the N-th sleep raises
    KeyboardInterrupt. stdin is empty unless ``input`` is given. Past ``timeout`` the
    script is killed and ``subprocess.TimeoutExpired`` raised.
    """
    running = start_script(args, env, cwd, patch_sleep, stop_after_sleeps=stop_after_sleeps, script=script)
    return running.finish(timeout, input)


def wait_until(condition: Callable[[], object], timeout: float = 10, what: str = "the condition") -> None:
    """Poll ``condition`` every 10 ms until it is true; TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


# --------------------------------------------------------------------------- work dirs


class Workdir:
    """A scratch directory to run the script in (its cwd), with file helpers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.config = path / "alerts.toml"
        self.state = path / "state" / "seen.json"  # the script's default, relative to cwd

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def write(self, name: str, text: str) -> Path:
        """Write ``text`` (dedented, leading newline dropped) to ``name``; return its path."""
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return target

    def write_config(self, text: str, name: str = "alerts.toml") -> Path:
        """Write an alerts.toml (dedented) and return its path."""
        return self.write(name, text)

    def read_state(self) -> dict[str, Any]:
        """The state file the script saved, parsed."""
        doc = json.loads(self.state.read_text(encoding="utf-8"))
        assert isinstance(doc, dict)
        return doc


def seed_state(workdir: Workdir, alerts: dict[str, Any], **top: Any) -> None:
    """Write a version-2 state file with these alerts (and top-level keys) before a run."""
    workdir.state.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"version": 2, "alerts": alerts, **top}, indent=2, sort_keys=True) + "\n"
    workdir.state.write_text(text, encoding="utf-8")


def sent_to_you(workdir: Workdir, alert: str = NAME) -> list[str]:
    """The slot ids the state records as pushed to the default recipient for ``alert``; none without a state file."""
    if not workdir.state.exists():
        return []
    return list(workdir.read_state()["alerts"].get(alert, {}).get("sent", {}).get("you", []))


def sent_by_recipient(workdir: Workdir, alert: str) -> dict[str, list[str]]:
    """The slot ids the state records as pushed for ``alert``, per recipient."""
    return dict(workdir.read_state()["alerts"][alert]["sent"])


# --------------------------------------------------------------------------- healthchecks


class FakeHealthcheck(_FakeServer):
    """A healthchecks.io-style monitor: ``{url}`` is a success ping, ``{url}/fail`` a failure.

    Every ping is recorded as ``(kind, method, body)`` in ``pings``; ``status`` is what it answers.
    """

    name = "FakeHealthcheck"
    base_path = "/ping/0d9f5a5c-7a3b-4c1e-9a41-6f3f0c2b9e11"

    def __init__(self) -> None:
        self.status = 200
        self._pings: list[tuple[str, str, str]] = []
        super().__init__()

    @property
    def pings(self) -> list[tuple[str, str, str]]:
        with self._lock:
            return list(self._pings)

    def _route(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> Reply:
        rel = self._strip_base(path)
        kind = {"": "ok", "/": "ok", "/fail": "fail", "/start": "start"}.get(rel, f"unknown {rel}")
        with self._lock:
            self._pings.append((kind, method, body.decode("utf-8", errors="replace")))
        return Reply(self.status, "OK", {"Content-Type": "text/plain"})


# ------------------------------------------------------------------ GitHub's Actions API


def github_time(unix: float) -> str:
    """A time as the Actions API writes it: "2026-12-03T12:08:41Z"."""
    return datetime.fromtimestamp(int(unix), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeActions(_FakeServer):
    """The one list of GitHub's Actions API that ind-alert reads: a workflow's runs, newest first.

    ``runs`` holds ``(run id, start time)`` pairs; ``conclusions`` may name a run's conclusion (default
    "success"). ``reply`` scripts every answer instead (a 500, a web page, a hang). ``answer_when``, if set,
    holds each answer until it returns true (another fake saw its request, say). Requests are recorded
    with their headers (``requests``), the Authorization header included.
    """

    name = "FakeActions"

    def __init__(self) -> None:
        self.runs: list[tuple[int, float]] = []
        self.conclusions: dict[int, str] = {}
        self.reply: Reply | None = None
        self.answer_when: Callable[[], object] | None = None
        super().__init__()

    def _route(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> Reply:
        if method != "GET" or not re.fullmatch(r"/repos/[^/]+/[^/]+/actions/workflows/[^/]+/runs", path):
            return Reply(404, '{"message": "Not Found"}')
        condition = self.answer_when
        while condition is not None and not condition() and not self._closing.is_set():
            self._closing.wait(0.01)
        if self.reply is not None:
            return self.reply
        since = query.get("created", ">=1970-01-01").removeprefix(">=")
        runs = sorted(((i, t) for i, t in self.runs if github_time(t)[:10] >= since), key=lambda r: -r[1])
        per_page, page = int(query.get("per_page", "30")), int(query.get("page", "1"))
        listed = runs[(page - 1) * per_page : page * per_page]
        doc = {
            "total_count": len(runs),
            "workflow_runs": [
                {
                    "id": i,
                    "event": query.get("event", "schedule"),
                    "status": "completed",
                    "conclusion": self.conclusions.get(i, "success"),
                    "created_at": github_time(t - 3),
                    "run_started_at": github_time(t),
                }
                for i, t in listed
            ],
        }
        return Reply(200, json.dumps(doc))


# ------------------------------------------------------------------ Apprise

APPRISE_TOKEN = "tok3nSECRETvalue123"  # the secret last path segment of AppriseServer.url


class AppriseServer:
    """What a ``json://127.0.0.1:PORT/path`` Apprise URL posts to: records every POST, answers ``status``."""

    def __init__(self) -> None:
        self.status = 200
        self._lock = threading.Lock()
        self._posts: list[tuple[str, dict[str, Any], int]] = []  # (path, JSON body, status answered)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with owner._lock:
                    status = owner.status
                    owner._posts.append((self.path, body, status))
                data = b"{}"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The Apprise URL for the environment: its last path segment is a secret token."""
        return f"json://127.0.0.1:{self._server.server_address[1]}/{APPRISE_TOKEN}"

    @property
    def received(self) -> list[dict[str, Any]]:
        """Every POSTed JSON body, failed ones included."""
        with self._lock:
            return [body for _, body, _ in self._posts]

    @property
    def delivered(self) -> list[dict[str, Any]]:
        """The POSTed JSON bodies that were answered with success."""
        with self._lock:
            return [body for _, body, status in self._posts if 200 <= status < 300]

    @property
    def paths(self) -> list[str]:
        with self._lock:
            return [path for path, _, _ in self._posts]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def full_disk(folder: Path, room: int = 0) -> Path:
    """A launcher for ``start_script(..., script=...)`` that runs ind_alert.py as on a disk with ``room``
    bytes free: a file-size limit (RLIMIT_FSIZE) makes the kernel refuse each write past it (EFBIG) as a
    full disk refuses one (ENOSPC), for root too, with nothing mounted."""
    launcher = folder / "full_disk.py"
    launcher.write_text(
        "import resource, runpy, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a killed process\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({room}, {room}))\n"
        f"sys.argv[0] = {str(SCRIPT)!r}\n"
        f"runpy.run_path({str(SCRIPT)!r}, run_name='__main__')\n",
        encoding="utf-8",
    )
    return launcher


# --------------------------------------------------------------------------- slots and dates


def plus_ten(start: str) -> str:
    hours, minutes = map(int, start.split(":"))
    total = hours * 60 + minutes + 10
    return f"{total // 60:02d}:{total % 60:02d}"


def slot_starting(offset: int, start: str, end: str | None = None) -> tuple[str, str, str]:
    """A slot spec for ``FakeIND.set_slots``: ``offset`` days from today, ten minutes by default."""
    return (day(offset).isoformat(), start, end or plus_ten(start))


# --------------------------------------------------------------------------- config and state


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


def alert_toml(name: str = NAME, desk: str = "AM", product: str = "BIO", **keys: object) -> str:
    """One ``[[alert]]`` table in TOML."""
    table = {"name": name, "desk": desk, "product": product, **keys}
    return "[[alert]]\n" + "".join(f"{key} = {toml_value(value)}\n" for key, value in table.items())


def configure(workdir: Workdir, *alerts: str) -> None:
    workdir.write_config("\n".join(alerts or (alert_toml(),)))


def read_state(workdir: Workdir) -> dict[str, Any]:
    doc = json.loads(workdir.state.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


# --------------------------------------------------------------------------- output


def lines(text: str) -> list[str]:
    return text.splitlines()


def problems(result: ScriptResult, level: str = "warning") -> list[str]:
    """stderr lines of one level, plain (``warning: ...``) or as GitHub annotations (``::warning::...``)."""
    return [line for line in lines(result.stderr) if line.startswith((f"{level}: ", f"::{level}::"))]


def ok(result: ScriptResult) -> ScriptResult:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def summary_rows(path: Path) -> list[dict[str, str]]:
    """The job summary's table as one dict per row, keyed by the header cells."""
    table = [line for line in lines(path.read_text(encoding="utf-8")) if line.startswith("|")]
    split = [[cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in table]
    header, rows = split[0], split[2:]
    assert set(split[1]) == {"---"}
    return [dict(zip(header, row, strict=True)) for row in rows]
