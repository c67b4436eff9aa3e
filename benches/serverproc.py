"""Start a `scanbridge serve` for a bench script, learn its port, stop it."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

LISTEN_RE = re.compile(r"listening on wss?://[^:\s]+:(\d+)")


@contextmanager
def scanbridge_server(command: list[str], timeout: float = 15.0) -> Iterator[int]:
    """Run `command` (a `scanbridge serve ... --port 0`), yield its port, then stop it.
    Raises RuntimeError when it does not say it is listening within `timeout`."""
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        port = None
        deadline = time.monotonic() + timeout
        while port is None and time.monotonic() < deadline:
            line = server.stderr.readline()
            if not line and server.poll() is not None:
                break
            m = LISTEN_RE.search(line)
            if m:
                port = int(m.group(1))
        if port is None:
            raise RuntimeError(f"server did not start: {' '.join(command)}")
        yield port
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
