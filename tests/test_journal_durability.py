"""Nothing acknowledged is lost (issue 11): real servers, real filesystems, SIGKILL.

A small tmpfs (mounted by the test, which runs as root) is a disk that fills
up; a read-only remount is a disk that goes read-only.  Every scan answered
2xx must be in the journal after SIGKILL and restart, seqs are unique and
increasing, refused scans were answered 503, a journal that cannot be used
stops the start with one line and exit 2.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ServerProcess, start_server
from streams_helpers import cli, connect, http, post_scan

QUIET = ("--log-level", "warning")


def _mount(point: Path, size: str) -> None:
    point.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")


@contextlib.contextmanager
def tmpfs(point: Path, size: str) -> Iterator[Path]:
    _mount(point, size)
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def _kill(s: ServerProcess) -> None:
    s.proc.send_signal(signal.SIGKILL)
    s.proc.wait(10)


def _replay_all(url: str) -> list[dict]:
    """Every event a ?since=0 client gets (bounded)."""
    out: list[dict] = []
    with connect(url + "/?since=0") as c:
        while True:
            try:
                ev = c.recv(0.5)
            except TimeoutError:
                return out
            if "seq" in ev:
                out.append(ev)


def _fill(point: Path) -> Path:
    """Fill the filesystem to the last byte."""
    filler = point / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for size in (65536, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:  # ends with ENOSPC: the filesystem is bounded
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


@pytest.mark.parametrize("kind", ["directory", "below-a-file", "read-only"])
def test_unusable_journal_refuses_to_start(tmp_path: Path, kind: str) -> None:
    if kind == "directory":
        journal = tmp_path / "j.sqlite3"
        journal.mkdir()
        reason = "directory"
    elif kind == "below-a-file":
        (tmp_path / "file").write_text("x")
        journal = tmp_path / "file" / "j.sqlite3"
        reason = "Not a directory"
    else:
        point = tmp_path / "ro"
        _mount(point, "1m")
        subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True)
        journal = point / "j.sqlite3"
        reason = "Read-only file system"
    try:
        r = cli("serve", "--port", "0", "--journal", str(journal), *QUIET)
    finally:
        if kind == "read-only":
            subprocess.run(["umount", "-l", str(tmp_path / "ro")], capture_output=True)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert str(journal) in lines[0] and reason in lines[0], lines[0]
    assert "Traceback" not in r.stderr


def test_a_journal_in_use_by_another_server_refuses_to_start(tmp_path: Path) -> None:
    # One journal file belongs to one process: two servers given the same
    # --journal used to share it (seqs, replay and pruning of two servers in
    # one file; two starting at once failed with "database is locked").
    journal = tmp_path / "j.sqlite3"
    first = start_server("--port", "0", "--journal", str(journal), *QUIET)
    try:
        r = cli("serve", "--port", "0", "--journal", str(journal), *QUIET)
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip().splitlines() == [
            f"config error: journal={str(journal)!r} cannot be used: another process"
            f" (pid {first.proc.pid}) has it open; a journal belongs to one server"
            " (give each its own journal)"
        ]
        assert post_scan(first.http_url, "STILL-MINE")[0] == 201
    finally:
        _kill(first)  # the kernel drops the lock of a killed process
    second = start_server("--port", "0", "--journal", str(journal), *QUIET)
    try:
        assert [e["scan_code"] for e in _replay_all(second.url) if "scan_code" in e] == [
            "STILL-MINE"
        ]
    finally:
        second.stop()


def test_memory_journal_is_said_at_start(tmp_path: Path) -> None:
    s = start_server("--port", "0", "--journal", ":memory:", "--log-level", "info")
    try:
        assert any("journal: in memory only" in line for line in s.lines), s.lines
    finally:
        s.stop()


def test_disk_full_answers_503_and_sigkill_loses_nothing_acknowledged(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small", "1m") as point:
        journal = point / "j.sqlite3"
        s = start_server("--port", "0", "--journal", str(journal), *QUIET)
        acked: dict[int, str] = {}
        refused = 0
        try:
            for i in range(400):
                code = f"FULL-{i:04d}-" + "x" * 1900
                status, body = post_scan(s.http_url, code)
                if status == 201:
                    acked[body["seq"]] = code
                else:
                    assert status == 503, (status, body)
                    assert "journal" in body["error"] and "full" in body["error"], body
                    refused += 1
            assert refused > 0 and acked, (refused, len(acked))
            status, _, text = http("GET", s.http_url + "/healthz")
            assert status == 503 and b"full" in text
            metrics = http("GET", s.http_url + "/metrics")[2].decode()
            assert "scanbridge_journal_healthy 0" in metrics
            assert f"scanbridge_journal_refused_total {refused}" in metrics
        finally:
            _kill(s)
        # Free the disk (another file on it) and restart: every 2xx is there.
        s = start_server("--port", "0", "--journal", str(journal), *QUIET)
        try:
            events = _replay_all(s.url)
            got = {ev["seq"]: ev["scan_code"] for ev in events if ev["event_type"] == "scan"}
            assert got == acked, (len(got), len(acked))
            seqs = [ev["seq"] for ev in events]
            assert seqs == sorted(set(seqs))
        finally:
            s.stop()


def test_full_disk_refuses_then_recovers_and_seq_is_never_reused(
    tmp_path: Path,
) -> None:
    # A read-only remount of a filesystem with a file open for writing is refused
    # by Linux (EBUSY) unless the kernel forces it, so the failure at run time is
    # a full disk here; a read-only journal at start is tested above.
    with tmpfs(tmp_path / "disk", "2m") as point:
        journal = point / "j.sqlite3"
        s = start_server("--port", "0", "--journal", str(journal), *QUIET)
        acked: list[int] = []
        try:
            for i in range(5):
                status, body = post_scan(s.http_url, f"RW-{i}")
                assert status == 201
                acked.append(body["seq"])
            filler = _fill(point)
            refused = 0
            for i in range(60):
                status, body = post_scan(s.http_url, f"FULL-{i}-" + "z" * 1900)
                if status == 201:
                    acked.append(body["seq"])  # the WAL had room for this one
                else:
                    assert status == 503, body
                    refused += 1
            assert refused > 0
            assert http("GET", s.http_url + "/healthz")[0] == 503
            filler.unlink()
            deadline = time.monotonic() + 10
            while True:  # the next append reopens the database
                status, body = post_scan(s.http_url, "BACK")
                if status == 201:
                    acked.append(body["seq"])
                    break
                assert time.monotonic() < deadline, body
                time.sleep(0.2)
            assert http("GET", s.http_url + "/healthz")[0] == 200
        finally:
            _kill(s)
        s = start_server("--port", "0", "--journal", str(journal), *QUIET)
        try:
            status, body = post_scan(s.http_url, "AFTER-RESTART")
            assert status == 201
            assert body["seq"] > max(acked)
            # A client that saw a later seq (of a lost journal) is told, never silent.
            with connect(f"{s.url}/?since={body['seq'] + 1000}") as c:
                ev = c.next_of("errors")
                assert ev["error_code"] == "ERROR_REPLAY_GAP"
            replay = [ev["seq"] for ev in _replay_all(s.url) if ev["event_type"] == "scan"]
            assert replay == [*acked, body["seq"]]
        finally:
            s.stop()


def test_scanner_events_are_held_while_the_disk_is_full_and_sent_in_order_after(
    tmp_path: Path,
) -> None:
    with tmpfs(tmp_path / "hold", "2m") as point:
        journal = point / "j.sqlite3"
        s = start_server(
            "--port",
            "0",
            "--journal",
            str(journal),
            "--scanner",
            "demo:device_serial=HOLD-1,interval=0.05",
            *QUIET,
        )
        try:
            with connect(s.url + "/?since=0") as c:
                first = c.next_of("scan")
                filler = _fill(point)
                ev = c.next_of("errors", timeout=10)
                assert ev["error_severity"] == "CRITICAL", ev
                assert "journal" in ev["error_message"], ev
                time.sleep(1.0)  # scans made now are held, not sent
                metrics = http("GET", s.http_url + "/metrics")[2].decode()
                held = [
                    line
                    for line in metrics.splitlines()
                    if line.startswith("scanbridge_journal_held_events ")
                ]
                assert held and int(held[0].split()[1]) > 5, held
                assert http("GET", s.http_url + "/healthz")[0] == 503
                filler.unlink()
                # Everything held arrives, in seq order, no seq skipped.
                seqs = [first["seq"]]
                deadline = time.monotonic() + 10
                recovered = False
                while time.monotonic() < deadline and (not recovered or len(seqs) < 40):
                    ev = c.recv(5)
                    if ev["event_type"] == "errors" and ev["error_code"] == "ERROR_OK":
                        recovered = True
                    elif ev["event_type"] == "scan":
                        seqs.append(ev["seq"])
                assert recovered
                assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
            assert http("GET", s.http_url + "/healthz")[0] == 200
        finally:
            s.stop()


def test_journal_writes_leave_the_event_loop(tmp_path: Path) -> None:
    """Many concurrent POSTs are stored with fewer commits than scans (group commit)."""
    import asyncio

    from scanbridge import App, Config

    async def main() -> dict:
        app = App(Config(port=0, journal=str(tmp_path / "j.sqlite3"), log_level="warning"))
        await app.start()
        try:
            assert app.streams is not None
            scans = await asyncio.gather(*(app.inject_scan(f"G-{i}") for i in range(200)))
            assert [s.seq for s in scans] == list(range(1, 201))
            return app.streams.journal_stats()
        finally:
            await app.stop()

    stats = asyncio.run(main())
    assert stats["stored"] == 200
    assert stats["commits"] < 100, stats


def test_check_json_error_body_on_503(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "tiny", "1m") as point:
        journal = point / "j.sqlite3"
        s = start_server("--port", "0", "--journal", str(journal), *QUIET)
        try:
            _fill(point)
            status, headers, body = http(
                "POST",
                s.http_url + "/api/scans",
                json.dumps({"code": "y" * 1900}).encode(),
                {"Content-Type": "application/json"},
            )
            assert status == 503
            assert headers.get("Content-Type", "").startswith("application/json")
            assert "journal" in json.loads(body)["error"]
        finally:
            _kill(s)
        os.sync()


def test_kill_and_term_during_posts_lose_nothing_acknowledged(tmp_path: Path) -> None:
    """SIGKILL and SIGTERM, twice each, while scans are posted one after another:
    every 2xx is stored once, nothing is duplicated, seqs have no gap.  A POST
    whose answer was lost is retried with the same event_id (a safe retry)."""
    import http.client
    import threading
    import uuid

    journal = str(tmp_path / "j.sqlite3")
    s = start_server("--port", "0", "--journal", journal, *QUIET)
    port = s.port
    acked: dict[str, int] = {}
    sent = 0
    stop = threading.Event()

    def poster() -> None:
        nonlocal sent
        i = 0
        deadline = time.monotonic() + 60
        while not stop.is_set() and i < 1000 and time.monotonic() < deadline:
            code = f"K-{i:04d}"
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                eid = str(uuid.uuid5(uuid.NAMESPACE_URL, code))
                body = json.dumps({"code": code, "event_id": eid})
                conn.request("POST", "/api/scans", body, {"Content-Type": "x"})
                resp = conn.getresponse()
                body = resp.read()
                conn.close()
            except OSError:
                time.sleep(0.02)  # the server is down: the same code again
                continue
            if resp.status in (200, 201):
                acked[code] = json.loads(body)["seq"]
            i += 1
            sent = i

    t = threading.Thread(target=poster)
    t.start()
    try:
        for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGKILL, signal.SIGTERM):
            before = sent
            deadline = time.monotonic() + 20
            while sent < before + 150 and time.monotonic() < deadline:
                time.sleep(0.01)
            s.proc.send_signal(sig)
            s.proc.wait(10)
            s = start_server("--port", str(port), "--journal", journal, *QUIET)
        t.join(60)
    finally:
        stop.set()
        t.join(5)
    try:
        events = [ev for ev in _replay_all(s.url) if ev["event_type"] == "scan"]
    finally:
        s.stop()
    codes = [ev["scan_code"] for ev in events]
    assert len(codes) == len(set(codes)), "a scan was stored twice"
    stored = {ev["scan_code"]: ev["seq"] for ev in events}
    missing = [code for code in acked if code not in stored]
    assert not missing, f"{len(missing)} acknowledged scans lost, e.g. {missing[:3]}"
    assert all(stored[code] == seq for code, seq in acked.items())
    seqs = [ev["seq"] for ev in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "a gap in the seqs"
    assert len(acked) >= 600, len(acked)


def test_a_retried_post_with_its_event_id_is_not_stored_twice(tmp_path: Path) -> None:
    import uuid

    s = start_server("--port", "0", "--journal", str(tmp_path / "j.sqlite3"), *QUIET)
    try:
        eid = str(uuid.uuid4())
        body = json.dumps({"code": "ONCE", "event_id": eid}).encode()
        headers = {"Content-Type": "application/json"}
        status, _, first = http("POST", s.http_url + "/api/scans", body, headers)
        assert status == 201 and json.loads(first)["event_id"] == eid
        status, _, again = http("POST", s.http_url + "/api/scans", body, headers)
        assert status == 200 and json.loads(again)["seq"] == json.loads(first)["seq"]
        bad = json.dumps({"code": "X", "event_id": "42"}).encode()
        assert http("POST", s.http_url + "/api/scans", bad, headers)[0] == 400
        scans = [ev for ev in _replay_all(s.url) if ev["event_type"] == "scan"]
        assert [ev["event_id"] for ev in scans] == [eid]
    finally:
        s.stop()
