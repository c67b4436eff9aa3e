"""Shared fixtures: real scanbridge servers on loopback, started and stopped by the tests."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

SCANBRIDGE = [sys.executable, "-m", "scanbridge"]
LISTEN_RE = re.compile(r"listening on (wss?)://([^:\s]+|\[[^\]]+\]):(\d+)")


@dataclass
class ServerProcess:
    proc: subprocess.Popen[str]
    scheme: str
    host: str
    port: int
    lines: list[str]

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def http_url(self) -> str:
        return f"{'https' if self.scheme == 'wss' else 'http'}://{self.host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def output(self) -> str:
        """Everything the server printed (after it stopped)."""
        rest = self.proc.stderr.read() if self.proc.stderr else ""
        return "".join(self.lines) + (rest or "")


def start_server(
    *args: str, timeout: float = 15.0, env: dict[str, str] | None = None
) -> ServerProcess:
    """Run `scanbridge serve ARGS` and wait for its 'listening on' line."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.Popen(
        [*SCANBRIDGE, "serve", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
    )
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stderr is not None
    os.set_blocking(proc.stderr.fileno(), True)
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited {proc.returncode}: {''.join(lines)}")
            time.sleep(0.01)
            continue
        lines.append(line)
        m = LISTEN_RE.search(line)
        if m:
            return ServerProcess(proc, m.group(1), m.group(2), int(m.group(3)), lines)
    proc.kill()
    raise RuntimeError(f"server did not start in {timeout}s: {''.join(lines)}")


@pytest.fixture(scope="session")
def echo_server() -> Iterator[ServerProcess]:
    """One `scanbridge serve --echo --port 0` for the whole session."""
    s = start_server("--echo", "--port", "0", "--log-level", "warning")
    yield s
    s.stop()


@pytest.fixture
def fresh_echo_server() -> Iterator[ServerProcess]:
    """A server of its own, for tests that stop or break it."""
    s = start_server("--echo", "--port", "0", "--log-level", "warning")
    yield s
    s.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
