"""A throwaway redis-server on a free loopback port, for the backplane tests.

Nothing is saved (``--save "" --appendonly no``); its output goes to /dev/null so it
never holds a test's pipe open; ``stop()`` always ends it (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from conftest import free_port

REDIS_SERVER = shutil.which("redis-server")


def redis_command(port: int, *args: str, timeout: float = 2.0) -> bytes:
    """Send one command (RESP) and return the first reply line; raises OSError when down."""
    parts = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = a.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"".join(parts))
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = s.recv(4096)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            data += chunk
    return data.split(b"\r\n", 1)[0]


class RedisServer:
    """``redis-server --port P --bind 127.0.0.1``; can be stopped and started again."""

    def __init__(self, port: int | None = None) -> None:
        if REDIS_SERVER is None:
            pytest.skip("redis-server is not installed (Debian package redis-server)")
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="scanbridge-redis-")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self, *args: str) -> bytes:
        return redis_command(self.port, *args)

    def ping(self) -> bool:
        try:
            return self.command("PING") == b"+PONG"
        except OSError:
            return False

    def start(self, timeout: float = 10.0) -> None:
        assert REDIS_SERVER is not None
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir.name,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited {self.proc.returncode} on {self.port}")
            if self.ping():
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer PING on {self.port} in {timeout}s")

    def kill(self, timeout: float = 5.0) -> None:
        """SIGKILL (as a crash would): no goodbye to clients; waits until it is gone."""
        p = self.proc
        assert p is not None and p.poll() is None, "not running"
        p.kill()
        p.wait(timeout)
        self.proc = None

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts TCP connections (the kernel's backlog) but
        nothing is answered until :meth:`thaw`."""
        assert self.proc is not None and self.proc.poll() is None, "not running"
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)

    def stop(self, timeout: float = 5.0) -> None:
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(signal.SIGCONT)  # a frozen server could not act on SIGTERM
            p.terminate()
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.proc = None

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self._dir.cleanup()


@contextmanager
def running_redis() -> Iterator[RedisServer]:
    """A redis-server of its own (the test may stop and restart it); skips the test
    when redis-server is not installed."""
    r = RedisServer()
    try:
        r.start()
        yield r
    finally:
        r.close()


@pytest.fixture(name="redis")
def redis_fixture() -> Iterator[RedisServer]:
    """The ``redis`` fixture: a redis-server of the test's own (import
    ``redis_fixture`` into a test module to have it)."""
    with running_redis() as r:
        yield r


@asynccontextmanager
async def app_pair(start: Callable[[], Awaitable[Any]], stop_timeout: float) -> AsyncIterator[Any]:
    """Two servers ("processes") made by ``start``, as a tuple; both are stopped
    at the end (the first also when the second fails to start)."""
    a = await start()
    try:
        b = await start()
        try:
            yield a, b
        finally:
            await b.stop(timeout=stop_timeout)
    finally:
        await a.stop(timeout=stop_timeout)
