"""The Streams journal: seqs, replay, undelivered scans, pruning and failure modes."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from scanbridge.errors import EventTooLarge, JournalError, JournalUnavailable
from scanbridge.journal import Journal, default_journal_path


class Clock:
    """A settable clock (Unix seconds)."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def scan(n: int = 0) -> dict[str, Any]:
    return {"api_version": "1.0", "event_type": "scan", "scan_code": f"code-{n}"}


def state() -> dict[str, Any]:
    return {"api_version": "1.0", "event_type": "scanner_state", "device_serial": "S"}


def seqs(rows: list[tuple[int, bytes]]) -> list[int]:
    return [seq for seq, _ in rows]


def journal_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == "scanbridge.journal" and r.levelno >= logging.ERROR
    ]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "journal.sqlite3"


def test_append_assigns_increasing_seq_and_returns_encoded_bytes(path: Path) -> None:
    with Journal(path) as j:
        events = [scan(i) for i in range(5)]
        results = [j.append(e) for e in events]
        assert [seq for seq, _ in results] == [1, 2, 3, 4, 5]
        for event, (seq, data) in zip(events, results, strict=True):
            assert event["seq"] == seq
            assert data == msgspec.json.encode(event)
            assert msgspec.json.decode(data)["seq"] == seq
        assert j.last_seq() == 5
        assert path.parent.is_dir()  # parent directories were created


def test_wal_mode_on_disk(path: Path) -> None:
    with Journal(path) as j:
        j.append(scan())
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_replay_bytes_are_the_sent_bytes(path: Path) -> None:
    with Journal(path) as j:
        sent = [j.append(scan(i)) for i in range(3)]
        gap, rows = j.since(0)
        assert not gap
        assert rows == sent


def test_reopen_continues_seq(path: Path) -> None:
    with Journal(path) as j:
        for i in range(3):
            j.append(scan(i))
    with Journal(path) as j:
        assert j.last_seq() == 3
        assert j.append(scan())[0] == 4
        assert seqs(j.since(0)[1]) == [1, 2, 3, 4]


def test_one_journal_file_has_one_owner(path: Path) -> None:
    with Journal(path) as j:
        j.append(scan(1))
        with pytest.raises(JournalError) as err:
            Journal(path)
        assert err.value.reason == (
            f"cannot be used: another process (pid {os.getpid()}) has it open;"
            " a journal belongs to one server (give each its own journal)"
        )
        assert j.append(scan(2))[0] == 2  # the owner is not disturbed
    with Journal(path) as j:  # closed: free again
        assert j.last_seq() == 2
    with Journal(":memory:") as a, Journal(":memory:") as b:  # memory has no owner
        assert a.append(scan())[0] == b.append(scan())[0] == 1


def test_seq_never_reused_after_everything_was_pruned(path: Path) -> None:
    clock = Clock()
    with Journal(path, max_age=10.0, clock=clock) as j:
        for i in range(4):
            j.append(scan(i))
        clock.now += 60
        assert j.prune() == 4
        assert j.stats()["events"] == 0
        assert j.last_seq() == 4
    with Journal(path, max_age=10.0, clock=clock) as j:
        assert j.last_seq() == 4
        assert j.append(scan())[0] == 5


def test_since_without_gap(path: Path) -> None:
    with Journal(path) as j:
        assert j.since(0) == (False, [])
        for i in range(6):
            j.append(scan(i))
        gap, rows = j.since(3)
        assert not gap
        assert seqs(rows) == [4, 5, 6]
        assert msgspec.json.decode(rows[0][1])["scan_code"] == "code-3"
        assert j.since(6) == (False, [])
        assert j.since(100) == (True, [])  # beyond the end: a lost journal, never silence
        assert seqs(j.since(-7)[1]) == [1, 2, 3, 4, 5, 6]


def test_since_with_gap_after_pruning(path: Path) -> None:
    with Journal(path, max_events=10) as j:
        for i in range(25):
            j.append(scan(i))
        j.prune()
        assert j.stats()["first_seq"] == 16
        gap, rows = j.since(3)
        assert gap
        assert seqs(rows) == list(range(16, 26))
        # seq + 1 is still held: no gap.
        gap, rows = j.since(15)
        assert not gap
        assert seqs(rows)[0] == 16
        assert j.since(25) == (False, [])


def test_since_gap_when_everything_after_seq_was_pruned(path: Path) -> None:
    clock = Clock()
    with Journal(path, max_age=5.0, clock=clock) as j:
        for i in range(3):
            j.append(scan(i))
        clock.now += 10
        j.prune()
        assert j.since(1) == (True, [])


def test_undelivered_respects_ttl_kind_and_delivery(path: Path) -> None:
    clock = Clock(1000.0)
    with Journal(path, clock=clock) as j:
        j.append(scan(1))  # t=1000, seq 1
        clock.now = 1030.0
        j.append(scan(2))  # seq 2
        j.append(state())  # seq 3, not a scan
        clock.now = 1050.0
        j.append(scan(3))  # seq 4
        clock.now = 1060.0
        assert seqs(j.undelivered(60.0)) == [2, 4]  # seq 1 is exactly 60 s old
        assert seqs(j.undelivered(100.0)) == [1, 2, 4]
        assert seqs(j.undelivered(5.0)) == []
        j.mark_delivered([2])
        assert seqs(j.undelivered(100.0)) == [1, 4]
        rows = j.undelivered(100.0)
        assert msgspec.json.decode(rows[-1][1])["scan_code"] == "code-3"


def test_mark_delivered_persists_across_reopen(path: Path) -> None:
    clock = Clock()
    with Journal(path, clock=clock) as j:
        for i in range(5):
            j.append(scan(i))
        j.mark_delivered(iter([1, 3, 5]))
        j.mark_delivered([])
    with Journal(path, clock=clock) as j:
        assert seqs(j.undelivered(60.0)) == [2, 4]


def test_mark_delivered_many(path: Path) -> None:
    clock = Clock()
    with Journal(path, clock=clock) as j:
        for i in range(1200):
            j.append(scan(i))
        j.mark_delivered(range(1, 1200))  # more than one statement's worth
        assert seqs(j.undelivered(60.0)) == [1200]


def test_prune_by_count_keeps_newest(path: Path) -> None:
    with Journal(path, max_events=100) as j:
        for i in range(130):
            j.append(scan(i))
        j.prune()
        stats = j.stats()
        assert stats["events"] == 100
        assert stats["first_seq"] == 31
        assert stats["last_seq"] == 130
        assert j.prune() == 0


def test_prune_returns_rows_removed(path: Path) -> None:
    with Journal(path, max_events=1000) as j:
        for i in range(20):
            j.append(scan(i))
        j.max_events = 5
        assert j.prune() == 15
        assert seqs(j.since(0)[1]) == [16, 17, 18, 19, 20]


def test_append_prunes_automatically(path: Path) -> None:
    with Journal(path, max_events=8) as j:
        for i in range(200):
            j.append(scan(i))
        assert j.stats()["events"] <= 8 + 1
        assert j.last_seq() == 200


def test_prune_by_age(path: Path) -> None:
    clock = Clock(5000.0)
    with Journal(path, max_age=100.0, clock=clock) as j:
        for i in range(3):
            j.append(scan(i))  # t=5000
        clock.now = 5080.0
        for i in range(2):
            j.append(scan(i))  # t=5080
        clock.now = 5150.0
        assert j.prune() == 3
        assert seqs(j.since(0)[1]) == [4, 5]
        clock.now = 5181.0
        assert j.prune() == 2
        assert j.stats()["events"] == 0


def test_stats(path: Path) -> None:
    with Journal(path) as j:
        assert j.stats()["events"] == 0
        assert j.stats()["first_seq"] == 0
        for i in range(4):
            j.append(scan(i))
        stats = j.stats()
        assert stats["events"] == 4
        assert stats["first_seq"] == 1
        assert stats["last_seq"] == 4
        assert stats["bytes"] > 0
        assert stats["healthy"] == 1
        assert all(isinstance(v, int) for v in stats.values())


@pytest.mark.parametrize("where", [None, ":memory:"])
def test_in_memory_journal(where: str | None) -> None:
    clock = Clock()
    with Journal(where, clock=clock, max_events=3) as j:
        assert j.path is None
        for i in range(5):
            j.append(scan(i))
        j.prune()
        assert j.healthy
        assert j.stats()["file_bytes"] == 0
        assert j.stats()["events"] == 3
        gap, rows = j.since(0)
        assert gap
        assert seqs(rows) == [3, 4, 5]
        assert seqs(j.undelivered(10.0)) == [3, 4, 5]
    assert not Path(":memory:").exists()


def test_corrupt_file_is_moved_aside_and_a_fresh_journal_started(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(1_700_000_000.0)
    with Journal(path, clock=clock) as j:
        for i in range(3):
            j.append(scan(i))
    garbage = b"this is not a database, just garbage " * 200
    path.write_bytes(garbage)
    Path(f"{path}-wal").write_bytes(b"stale wal")
    with caplog.at_level(logging.ERROR, logger="scanbridge.journal"):
        j = Journal(path, clock=clock)
    try:
        errors = journal_errors(caplog)
        assert len(errors) == 1
        assert "CORRUPT" in errors[0].getMessage()
        aside = [p for p in path.parent.iterdir() if ".corrupt-" in p.name]
        main_aside = [p for p in aside if not p.name.endswith(("-wal", "-shm"))]
        assert len(main_aside) == 1
        assert main_aside[0].read_bytes() == garbage
        assert any(p.name.endswith("-wal") for p in aside)
        assert j.healthy
        # Nothing could be recovered: seqs continue after the clock in ms, so
        # they are above anything the lost journal handed out.
        floor = int(clock.now * 1000)
        assert j.last_seq() == floor
        seq, _ = j.append(scan(9))
        assert seq == floor + 1
        gap, rows = j.since(3)
        assert gap
        assert seqs(rows) == [floor + 1]
    finally:
        j.close()
    with Journal(path, clock=clock) as j:
        assert j.last_seq() == floor + 1
        assert j.append(scan())[0] == floor + 2


def test_corrupt_file_floor_persists_without_appends(path: Path) -> None:
    clock = Clock(1_700_000_000.0)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x" * 4096)
    Journal(path, clock=clock).close()
    clock.now = 1.0  # even with a clock gone backwards the floor is remembered
    with Journal(path, clock=clock) as j:
        assert j.last_seq() == 1_700_000_000_000
        assert j.append(scan())[0] == 1_700_000_000_001


def test_garbage_after_a_valid_header_is_detected_at_open(path: Path) -> None:
    clock = Clock(1_700_000_000.0)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 8000)
    with Journal(path, clock=clock) as j:
        assert j.healthy
        assert j.append(scan())[0] == 1_700_000_000_001
    assert len(list(path.parent.glob("journal.sqlite3.corrupt-*"))) == 1


def _events_leaf_pages(path: Path) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'events' AND pagetype = 'leaf' ORDER BY pageno"
        ).fetchall()
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    except sqlite3.OperationalError:
        pytest.skip("this SQLite has no dbstat table")
    finally:
        conn.close()
    return [r[0] for r in rows] + [page_size]


def test_corruption_found_at_open_salvages_readable_events(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(1_700_000_000.0)
    with Journal(path, clock=clock) as j:
        for i in range(300):
            j.append({"event_type": "scan", "scan_code": "x" * 200, "n": i})
    *leaves, page_size = _events_leaf_pages(path)
    assert len(leaves) > 4
    bad = leaves[len(leaves) // 2]
    with open(path, "r+b") as f:  # smash one page in the middle of the table
        f.seek((bad - 1) * page_size)
        f.write(b"\xff" * page_size)
    with caplog.at_level(logging.ERROR, logger="scanbridge.journal"):
        j = Journal(path, clock=clock)  # reads every row: moves the file aside, salvages
    try:
        seq, _ = j.append(scan())
        assert j.healthy
        assert any("CORRUPT" in r.getMessage() for r in journal_errors(caplog))
        assert seq == int(clock.now * 1000) + 1  # fresh journal: after the clock floor
        gap, rows = j.since(0)
        assert not gap  # seq 1 was salvaged
        salvaged = [s for s in seqs(rows) if s <= 300]
        assert salvaged[0] == 1
        assert 10 < len(salvaged) < 300
        assert salvaged == list(range(1, len(salvaged) + 1))
        assert seqs(rows)[-1] == seq
    finally:
        j.close()
    assert len(list(path.parent.glob("journal.sqlite3.corrupt-*"))) >= 1


def test_failed_append_stores_nothing_and_takes_no_seq(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    j = Journal(path)
    try:
        j.append(scan(0))
        j.append(scan(1))
        assert j._conn is not None
        j._conn.close()  # the database goes away underneath
        event = scan(2)
        with caplog.at_level(logging.DEBUG, logger="scanbridge.journal"):
            with pytest.raises(JournalUnavailable) as err:
                j.append(event)
        assert "closed" in err.value.reason
        assert "seq" not in event  # no seq was taken
        assert not j.healthy
        assert j.last_seq() == 2
        assert len(journal_errors(caplog)) == 1
        # The next append reopens the database and continues right after seq 2.
        assert j.append(scan(3))[0] == 3
        assert j.healthy
    finally:
        j.close()
    with Journal(path) as j:
        assert seqs(j.since(0)[1]) == [1, 2, 3]


def test_disk_full_refuses_with_sqlites_reason_and_recovers(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    j = Journal(path)
    try:
        assert j._conn is not None
        pages = j._conn.execute("PRAGMA page_count").fetchone()[0]
        j._conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full
        big = "x" * 20_000
        with caplog.at_level(logging.ERROR, logger="scanbridge.journal"):
            with pytest.raises(JournalUnavailable) as err:
                j.append_many([{"event_type": "scan", "scan_code": big, "n": i} for i in range(5)])
        assert "full" in err.value.reason
        assert not j.healthy
        errors = journal_errors(caplog)
        assert len(errors) == 1
        assert "full" in errors[0].getMessage()
        assert "rollback" not in caplog.text  # the real cause, not the aftermath
        assert j.stats()["healthy"] == 0
        assert j.last_seq() == 0
        j.probe()  # a new connection has no page limit
        assert j.healthy
        assert seqs(j.append_many([scan(i) for i in range(3)])) == [1, 2, 3]
    finally:
        j.close()


def test_read_only_connection_refuses(path: Path) -> None:
    j = Journal(path)
    try:
        j.append(scan(0))
        assert j._conn is not None
        j._conn.execute("PRAGMA query_only = ON")  # writes now fail as on a read-only file
        with pytest.raises(JournalUnavailable, match="readonly"):
            j.append(scan(1))
        assert j.last_seq() == 1
        gap, rows = j.since(0)  # still readable
        assert (gap, seqs(rows)) == (False, [1])
    finally:
        j.close()


def test_unusable_locations_refuse_to_open(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(JournalError) as err:
        Journal(blocker / "journal.sqlite3")
    assert str(blocker) in str(err.value)
    assert "Not a directory" in err.value.reason or "File exists" in err.value.reason
    (tmp_path / "dir.sqlite3").mkdir()
    with pytest.raises(JournalError, match="directory"):
        Journal(tmp_path / "dir.sqlite3")


def test_append_after_close_refuses(path: Path) -> None:
    j = Journal(path)
    j.append(scan(0))
    j.close()
    j.close()  # idempotent
    with pytest.raises(JournalUnavailable, match="closed"):
        j.append(scan(1))


def test_byte_cap_drops_oldest_first(path: Path) -> None:
    mib = 1024 * 1024
    with Journal(path, max_bytes=mib) as j:
        assert j.max_event_bytes == 64 * 1024
        for i in range(300):
            j.append({"event_type": "scan", "scan_code": "x" * 10_000, "n": i})
        stats = j.stats()
        assert stats["bytes"] <= mib
        assert stats["events"] < 110
        gap, rows = j.since(0)
        assert gap and seqs(rows)[-1] == 300
        assert seqs(rows) == list(range(rows[0][0], 301))
        with pytest.raises(EventTooLarge, match="larger than"):
            j.append({"event_type": "scan", "scan_code": "y" * 70_000})
        assert j.last_seq() == 300
    with Journal(path, max_bytes=mib) as j:  # the count is read back at open
        assert j.stats()["bytes"] == stats["bytes"]


def test_mark_delivered_while_failing_is_applied_with_the_next_commit(path: Path) -> None:
    clock = Clock()
    j = Journal(path, clock=clock)
    try:
        j.append(scan(0))
        j.append(scan(1))
        assert j._conn is not None
        j._conn.close()
        with pytest.raises(JournalUnavailable):
            j.append(scan(2))
        j.mark_delivered([1])
        assert seqs(j.undelivered(60.0)) == [2]  # hidden at once
        j.append(scan(3))
    finally:
        j.close()
    with Journal(path, clock=clock) as j:
        assert seqs(j.undelivered(60.0)) == [2, 3]


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="max_events"):
        Journal(None, max_events=0)
    with pytest.raises(ValueError, match="max_age"):
        Journal(None, max_age=0)
    with pytest.raises(ValueError, match="max_bytes"):
        Journal(None, max_bytes=1000)


def test_default_journal_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if os.name == "nt":
        pytest.skip("POSIX layout")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_journal_path() == tmp_path / "xdg" / "scanbridge" / "journal.sqlite3"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home" / ".local" / "share" / "scanbridge" / "journal.sqlite3"
    assert default_journal_path() == expected
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_journal_path() == expected


def test_append_is_fast_enough_for_the_scan_path(path: Path) -> None:
    with Journal(path) as j:
        start = time.perf_counter()
        for i in range(5000):
            j.append(scan(i))
        elapsed = time.perf_counter() - start
        assert j.last_seq() == 5000
        assert elapsed < 5.0, f"5000 appends took {elapsed:.2f} s"
