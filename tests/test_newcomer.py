"""The first five minutes (issue 15): the README's building blocks, run as a new
user runs them: the installed ``scanbridge`` command in a subprocess. Every
problem a user can cause at start is one line, checked by its exact text, and
exit code 2 (no traceback); ``--scanner stdin`` takes a file or ``/dev/null`` as
standard input (uvloop aborted the process on both, exit -6); help texts are
whole and each command lists only its own options.

Plus, in-process, what makes those lines possible: a failed ``App.start``
leaves nothing bound and can be retried, and ``stop()`` ends its tasks.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scanbridge.app import App
from scanbridge.config import Config, ConfigError, PortConfig
from scanbridge.http import Response

_BIN = Path(sys.executable).with_name("scanbridge")
#: The installed console script (what `make run` and the README run).
SCANBRIDGE = [str(_BIN)] if _BIN.exists() else [shutil.which("scanbridge") or "scanbridge"]
LISTEN_RE = re.compile(r"listening on ws://127\.0\.0\.1:(\d+)")


def run(*args: str, timeout: float = 30, **kw: Any) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANBRIDGE_")}
    return subprocess.run(
        [*SCANBRIDGE, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=kw.pop("stdin", subprocess.DEVNULL),
        env={**env, **kw.pop("env", {})},
        **kw,
    )


def one_error_line(r: subprocess.CompletedProcess[str]) -> str:
    """The run failed with exit code 2 and exactly one 'config error' line, no traceback."""
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    errors = [line for line in r.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, r.stderr
    assert errors[0].startswith("config error: "), r.stderr
    return errors[0]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port some other program listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    yield s.getsockname()[1]
    s.close()


# ------------------------------------------------------------------ errors at start


def test_busy_port_is_one_line(busy_port: int) -> None:
    r = run("serve", "--port", str(busy_port), "--journal", ":memory:")
    assert one_error_line(r) == (
        f"config error: port={busy_port} is in use: cannot listen on 127.0.0.1:{busy_port}: "
        "Address already in use; stop what listens there or choose another port (0 picks a "
        "free one)"
    )


def test_busy_port_of_an_extra_listener_is_one_line(busy_port: int, tmp_path: Path) -> None:
    config = tmp_path / "ports.toml"
    config.write_text(f'[[ports]]\nalias = "scanners"\nport = {busy_port}\n')
    r = run("serve", "--port", "0", "--journal", ":memory:", "--config", str(config))
    assert one_error_line(r) == (
        f"config error: ports[0].port={busy_port} is in use: cannot listen on "
        f"127.0.0.1:{busy_port}: Address already in use; stop what listens there or choose "
        "another port (0 picks a free one)"
    )


def test_busy_port_with_workers_is_one_line(busy_port: int) -> None:
    r = run(
        "serve",
        "--port",
        str(busy_port),
        "--workers",
        "2",
        "--redis-url",
        "redis://127.0.0.1:1",
        "--no-streams",
    )
    assert one_error_line(r).startswith(f"config error: port={busy_port} is in use: ")


def test_address_the_host_does_not_have_is_one_line() -> None:
    # 192.0.2.1 (TEST-NET-1) is never assigned to a host.
    r = run("serve", "--host", "192.0.2.1", "--token", "t", "--journal", ":memory:")
    assert one_error_line(r) == (
        "config error: host='192.0.2.1' is not an address of this host: cannot listen on "
        "192.0.2.1:9998: Cannot assign requested address; use one of its addresses "
        "(127.0.0.1, ::1, or 0.0.0.0 for all)"
    )


def test_host_name_is_one_line() -> None:
    r = run("serve", "--host", "scanner.example", "--token", "t", "--journal", ":memory:")
    assert one_error_line(r) == (
        "config error: host='scanner.example' is not an IP address: listen on one of this "
        "host's addresses (127.0.0.1, ::1, 0.0.0.0 for all, or localhost)"
    )


def test_readme_port_80_example() -> None:
    r = run("serve", "--port", "80")
    assert one_error_line(r) == (
        "config error: port=80 (from --port) is not allowed: must be an integer in "
        "[1024, 65535] (or 0 to pick a free port)"
    )


def test_bogus_scanner_lists_the_sources() -> None:
    r = run("serve", "--scanner", "bogus")
    assert one_error_line(r) == (
        "config error: --scanner='bogus' is not a scanner source: use one of evdev, hidraw, "
        "ble, replay, stdin, demo (SOURCE[:key=value,...])"
    )


def test_bad_interval_names_the_key_and_what_is_allowed() -> None:
    r = run("serve", "--scanner", "demo:interval=abc")
    assert one_error_line(r) == (
        "config error: interval='abc' (from --scanner) is not a number > 0"
    )


def test_bad_boolean_is_an_error_not_false() -> None:
    r = run("serve", "--scanner", "evdev:grab=junk")
    assert one_error_line(r) == (
        "config error: grab='junk' (from --scanner) is not a boolean "
        "(1/true/yes/on or 0/false/no/off)"
    )
    r = run("check-config", env={"SCANBRIDGE_ECHO": "junk"})
    assert one_error_line(r) == (
        "config error: echo='junk' (from SCANBRIDGE_ECHO) is not a boolean "
        "(1/true/yes/on or 0/false/no/off)"
    )


def test_unknown_scanner_key_suggests_the_right_one() -> None:
    r = run("serve", "--scanner", "demo:intervall=2")
    assert one_error_line(r) == (
        "config error: unknown key 'intervall' in --scanner: did you mean 'interval'?"
    )


def test_config_barcode_jpg_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "port.jpg"
    r = run("config-barcode", "--set", "port=9999", "--key", "K", "--out", str(out))
    assert one_error_line(r) == (
        f"config error: --out='{out}' is not a file type I can write: use a name ending "
        "in .png, .svg, .svgz, .pdf, .eps"
    )
    assert not out.exists()
    png = tmp_path / "port.png"
    r = run("config-barcode", "--set", "port=9999", "--key", "K", "--out", str(png))
    assert r.returncode == 0 and png.read_bytes().startswith(b"\x89PNG"), r.stderr


def test_config_barcode_set_reads_values_by_type() -> None:
    r = run("config-barcode", "--set", "port=abc", "--key", "K")
    assert one_error_line(r) == (
        "config error: port='abc' (from --set) is not an integer in [1024, 65535] "
        "(or 0 to pick a free port)"
    )


def test_debug_shows_the_traceback_too() -> None:
    r = run("--debug", "serve", "--scanner", "bogus")
    assert r.returncode == 2 and "Traceback" in r.stderr
    assert r.stderr.rstrip().endswith("(SOURCE[:key=value,...])")


# ------------------------------------------------------------------ help texts


def test_main_help_shows_whole_descriptions() -> None:
    r = run("--help", env={"COLUMNS": "80"})
    assert r.returncode == 0, r.stderr
    commands = r.stdout.split("Commands:", 1)[1].strip().splitlines()
    assert len(commands) == 6, r.stdout
    for line in commands:
        assert not line.rstrip().endswith("..."), line
        assert line.rstrip().endswith("."), line
    assert "config-barcode  Make a signed configuration barcode." in r.stdout


def test_config_barcode_help_has_only_its_own_options() -> None:
    r = run("config-barcode", "--help")
    assert r.returncode == 0, r.stderr
    flags = set(re.findall(r"^\s+(--[a-z-]+)", r.stdout, re.M))
    assert flags == {"--set", "--out", "--key", "--valid-for", "--config"}, flags


def test_serve_help_has_the_server_flags() -> None:
    r = run("serve", "--help")
    flags = set(re.findall(r"--[a-z-]+", r.stdout))
    assert {"--host", "--port", "--scanner", "--journal", "--workers", "--redis-url"} <= flags


# ------------------------------------------------------------------ a running server


class Server:
    def __init__(self, *args: str, stdin: Any) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCANBRIDGE_")}
        self.proc = subprocess.Popen(
            [*SCANBRIDGE, "serve", "--port", "0", *args],
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**env, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 20
        while True:
            line = self.proc.stderr.readline()
            if line:
                self.lines.append(line)
                m = LISTEN_RE.search(line)
                if m:
                    self.port = int(m.group(1))
                    return
            elif self.proc.poll() is not None:
                raise AssertionError(f"exit {self.proc.returncode}: {''.join(self.lines)}")
            assert time.monotonic() < deadline, "".join(self.lines)

    def get(self, path: str) -> Any:
        url = f"http://127.0.0.1:{self.port}{path}"
        with urllib.request.urlopen(url, timeout=5) as r:
            body = r.read()
        return json.loads(body) if path.startswith(("/admin/api", "/api")) else body.decode()

    def wait_for(self, what: str, cond: Any, timeout: float = 10) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, f"server died ({self.proc.returncode})"
            value = cond()
            if value:
                return value
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)

    def stop(self) -> str:
        """SIGTERM; the exit code must be 0. Returns everything it printed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)
        assert self.proc.stderr is not None
        out = "".join(self.lines) + self.proc.stderr.read()
        assert rc == 0, f"exit {rc}: {out}"
        return out


def scanner_state(server: Server) -> tuple[list[str], bool | None]:
    st = server.get("/admin/api/stats")
    codes = [s["code"] for s in reversed(st["recent_scans"]) if s["source"] == "stdin"]
    connected = next((d["connected"] for d in st["scanners"]), None)
    return codes, connected


def test_stdin_from_a_regular_file(tmp_path: Path) -> None:
    codes = tmp_path / "codes.txt"
    codes.write_text("4006381333931\nSSCC000000000042\n\nhttps://example.com/p/1\n")
    with codes.open("rb") as f:
        server = Server("--scanner", "stdin", "--journal", ":memory:", stdin=f)
    try:
        got = server.wait_for(
            "the file's scans, then the scanner disconnected",
            lambda: (s := scanner_state(server))[1] is False and len(s[0]) == 3 and s,
        )
        assert got[0] == ["4006381333931", "SSCC000000000042", "https://example.com/p/1"]
        time.sleep(0.3)  # still serving after the end of the input
        assert server.get("/healthz") == "ok"
    finally:
        out = server.stop()
    assert "stdin: end of input; scanner STDIN-0001 disconnected" in out


def test_stdin_from_dev_null() -> None:
    """What systemd and nohup give: the server runs on, the scanner is disconnected."""
    with open(os.devnull, "rb") as f:
        server = Server("--scanner", "stdin", "--journal", ":memory:", stdin=f)
    try:
        server.wait_for("the scanner disconnected", lambda: scanner_state(server)[1] is False)
        time.sleep(0.3)
        assert server.get("/healthz") == "ok"
        assert scanner_state(server)[0] == []
    finally:
        server.stop()


def test_stdin_from_a_pipe_still_works() -> None:
    r, w = os.pipe()
    try:
        server = Server("--scanner", "stdin", "--journal", ":memory:", stdin=r)
    finally:
        os.close(r)
    try:
        os.write(w, b"PIPED-1\n")
        server.wait_for("the piped scan", lambda: scanner_state(server)[0] == ["PIPED-1"])
        assert scanner_state(server)[1] is True
        os.close(w)
        w = -1
        server.wait_for("the scanner disconnected", lambda: scanner_state(server)[1] is False)
    finally:
        if w >= 0:
            os.close(w)
        server.stop()


def test_start_says_listening_once_and_where_the_journal_is(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite3"
    server = Server("--journal", str(journal), stdin=subprocess.DEVNULL)
    out = server.stop()
    assert len(re.findall("listening on", out)) == 1, out
    assert f"INFO scanbridge.streams: journal: {journal} (0 events, last seq 0)" in out
    server = Server("--journal", ":memory:", "--log-level", "warning", stdin=subprocess.DEVNULL)
    out = server.stop()
    assert len(re.findall("listening on", out)) == 1, out  # printed when not logged


# ------------------------------------------------------------------ App.start / stop


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


async def test_failed_start_leaves_nothing_bound_and_can_be_retried(tmp_path: Path) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    busy = blocker.getsockname()[1]
    with socket.socket() as probe:  # a port free now, for the main listener
        probe.bind(("127.0.0.1", 0))
        main_port = probe.getsockname()[1]
    journal = tmp_path / "j.sqlite3"
    app = App(
        Config(
            port=main_port,
            journal=str(journal),
            ports=[PortConfig(alias="extra", port=busy)],
        )
    )
    try:
        with pytest.raises(ConfigError, match=rf"^config error: ports\[0\]\.port={busy} is in use"):
            await app.start()
        # The main listener was opened before the extra one failed: closed again.
        assert await asyncio.to_thread(refused, main_port)
        assert app._core is None and app.streams is None and app.listeners == {}
        blocker.close()
        await app.start()  # the same App, once the port is free
        assert app.port == main_port and app.streams is not None
        assert await app.inject_scan("RETRY-1") is not None
        assert {i.alias for i in app.listeners.values()} == {"default", "extra"}
    finally:
        blocker.close()
        await app.stop(timeout=2)
    assert await asyncio.to_thread(refused, main_port)


async def test_stop_cancels_callbacks_still_running() -> None:
    app = App(Config(port=0, journal=":memory:"))
    started = asyncio.Event()
    cancelled = asyncio.Event()

    @app.route("GET", "/slow")
    async def slow(request: Any) -> Response:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Response.text("never")

    await app.start()

    def request() -> None:
        with socket.create_connection(("127.0.0.1", app.port), timeout=5) as s:
            s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                s.recv(100)
            except OSError:
                pass

    client = asyncio.create_task(asyncio.to_thread(request))
    await asyncio.wait_for(started.wait(), 5)
    t0 = time.monotonic()
    await app.stop(timeout=0.5)
    assert time.monotonic() - t0 < 3
    assert cancelled.is_set()
    assert not [t for t in app._tasks if not t.done()]
    await asyncio.wait_for(client, 5)
