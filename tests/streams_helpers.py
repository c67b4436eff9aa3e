"""Helpers for the Streams API end-to-end tests: clients, commands, HTTP and CLI calls.

Every wait is bounded. Sync clients (websockets.sync) talk to servers in
subprocesses; async clients talk to an App running in the test's own loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import strict_client
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as sync_connect

from scanbridge.config import TRUE_WORDS

SCANBRIDGE = [sys.executable, "-m", "scanbridge"]
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def assert_header(ev: dict[str, Any], *, journaled: bool = True) -> None:
    """The fields every server-to-client event carries (PROTOCOLS.md 1)."""
    assert ev["api_version"] == "1.0", ev
    assert isinstance(ev["event_type"], str) and not ev["event_type"].endswith("!"), ev
    assert isinstance(ev["event_id"], str) and UUID_RE.match(ev["event_id"]), ev
    tc = ev["time_created"]
    assert isinstance(tc, int) and not isinstance(tc, bool), ev
    assert abs(tc - now_ms()) < 60_000, f"time_created {tc} is not Unix ms close to now"
    if journaled:
        assert isinstance(ev["seq"], int) and not isinstance(ev["seq"], bool) and ev["seq"] > 0


def command(event_type: str, **fields: Any) -> tuple[str, str]:
    """(event_id, JSON text) of a well-formed command."""
    eid = str(uuid.uuid4())
    msg = {
        "api_version": "1.0",
        "event_type": event_type,
        "event_id": eid,
        "time_created": now_ms(),
        **fields,
    }
    return eid, json.dumps(msg)


# ------------------------------------------------------------------ sync client


def field_set(url: str) -> tuple[bool, bool]:
    """(strict, acks) for a Streams URL: a connection without ?ext=1 or ?since= gets
    the documented field set, which every event must keep to (strict_client)."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)

    def on(name: str) -> bool:  # the server reads flags with the configuration's words
        return query.get(name, [""])[0].strip().lower() in TRUE_WORDS

    ext = on("ext") or on("watch") or "since" in query
    return not ext, on("acks")


def check_greeting(ev: dict[str, Any]) -> dict[str, Any]:
    """The first event of every Streams connection: an unsolicited gateway_state."""
    assert ev.get("event_type") == "gateway_state", f"first event is not gateway_state: {ev}"
    assert "event_reference_id" not in ev, ev
    return ev


class Client:
    """A sync Streams client with bounded reads; ``strict``: every event is checked
    against ProGlove's field tables (tests/strict_client.py)."""

    def __init__(self, ws: ClientConnection, strict: bool = False, acks: bool = False) -> None:
        self.ws = ws
        self.strict = strict
        self.acks = acks
        #: The gateway_state every client gets first (PROTOCOLS.md 1.1).
        self.greeting: dict[str, Any] | None = None

    def _read(self, timeout: float) -> dict[str, Any]:
        msg = self.ws.recv(timeout=timeout)
        assert isinstance(msg, str), f"binary frame from the Streams API: {msg!r}"
        ev = json.loads(msg)
        if self.strict:
            strict_client.validate(ev, acks=self.acks)
        return ev

    def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        if self.greeting is None:
            self.greeting = check_greeting(self._read(timeout))
        return self._read(timeout)

    def next_of(self, *types: str, timeout: float = 5.0) -> dict[str, Any]:
        """The next event of one of `types`, skipping others (e.g. scanner_state)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {types} event within {timeout}s")
            ev = self.recv(left)
            if ev.get("event_type") in types:
                return ev

    def scans(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        return [self.next_of("scan", timeout=deadline - time.monotonic()) for _ in range(n)]

    def no_event(self, types: tuple[str, ...] = ("scan",), within: float = 0.3) -> None:
        """Nothing of `types` arrives within `within` seconds."""
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            try:
                ev = self.recv(left)
            except TimeoutError:
                return
            assert ev.get("event_type") not in types, f"unexpected event {ev}"

    def send(self, text: str) -> None:
        self.ws.send(text)

    def close(self) -> None:
        self.ws.close()


@contextlib.contextmanager
def connect(url: str, **kw: Any) -> Iterator[Client]:
    """`with connect(url) as client:` a sync Streams client (handshake bounded by 5 s)."""
    strict, acks = field_set(url)
    with sync_connect(url, open_timeout=5, close_timeout=2, **kw) as ws:
        yield Client(ws, strict, acks)


# ------------------------------------------------------------------ async client


class AsyncClient:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        # The field set from the request the client sent (so no test can forget it).
        request = getattr(ws, "request", None)
        path = getattr(request, "path", None) or getattr(ws, "path", "/")
        self.strict, self.acks = field_set(path)
        self.greeting: dict[str, Any] | None = None

    async def _read(self, timeout: float) -> dict[str, Any]:
        ev = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        if self.strict:
            strict_client.validate(ev, acks=self.acks)
        return ev

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        if self.greeting is None:
            self.greeting = check_greeting(await self._read(timeout))
        return await self._read(timeout)

    async def next_of(self, *types: str, timeout: float = 5.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                ev = await self.recv(timeout)
                if ev.get("event_type") in types:
                    return ev


# ------------------------------------------------------------------ HTTP and CLI


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request; HTTP errors are answers, not exceptions."""
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def post_scan(base: str, code: str, device_serial: str | None = None) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"code": code}
    if device_serial is not None:
        body["device_serial"] = device_serial
    status, _, data = http(
        "POST",
        base + "/api/scans",
        json.dumps(body).encode(),
        {"Content-Type": "application/json"},
    )
    return status, json.loads(data)


def cli(
    *args: str, timeout: float = 20.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SCANBRIDGE, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def cli_scan(base: str, code: str, device_serial: str | None = None) -> dict[str, Any]:
    """`scanbridge scan CODE --server URL`; returns the JSON it printed."""
    args = ["scan", code, "--server", base]
    if device_serial:
        args += ["--device-serial", device_serial]
    r = cli(*args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def make_fifo(path: os.PathLike[str] | str) -> str:
    os.mkfifo(path)
    return os.fspath(path)


def write_fifo(path: str, data: bytes, timeout: float = 5.0) -> None:
    """Open the FIFO as a writer (waiting, bounded, for the server's reader), write, close."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError:  # ENXIO: no reader yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    try:
        os.set_blocking(fd, True)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def wait_output(
    proc: subprocess.Popen[bytes], pattern: str, timeout: float = 15.0
) -> re.Match[str]:
    """Read proc's stderr (raw, bounded by `timeout`) until `pattern` matches a line."""
    import select

    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    buf = ""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], min(left, 0.2))
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk.decode(errors="replace")
            m = rx.search(buf)
            if m:
                return m
        elif proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"no {pattern!r} within {timeout}s; output: {buf}")
