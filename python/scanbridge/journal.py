"""The "nothing lost" journal of Streams API events (PROTOCOLS.md 1.3).

Every event is appended here before it is sent.  :meth:`Journal.append`
gives the event its ``seq`` (strictly increasing, never reused, also across
restarts and pruning), encodes it once with msgspec and returns the exact
bytes to send, so a replay sends byte-for-byte what the live client got.

Storage is an embedded SQLite database (stdlib :mod:`sqlite3`) in WAL mode
with ``synchronous=NORMAL``: a commit survives a crash of the process (it is
in the WAL), only a power loss can lose the last few commits.  One journal
file belongs to one process (seqs are assigned in memory).

Table ``events(seq INTEGER PRIMARY KEY AUTOINCREMENT, kind, created,
delivered, data)``.  ``AUTOINCREMENT`` makes SQLite keep the highest seq ever
inserted in ``sqlite_sequence``, also after every row was pruned, so a
reopened journal continues after it.

Robustness ("a full disk or a broken journal is logged loudly and scans still
flow live"):

* Any :class:`sqlite3.Error` while writing starts a *failure episode*: one
  ERROR on the ``scanbridge.journal`` logger (not one per event),
  :attr:`Journal.healthy` turns False, and events go to an in-memory ring
  (at most ``max_events``, oldest dropped first) so seqs keep increasing and
  live delivery goes on.  :meth:`Journal.since`, :meth:`Journal.undelivered`
  and :meth:`Journal.stats` see the ring too.
* While unhealthy, every ``retry_interval`` seconds (checked by
  :meth:`~Journal.append` and :meth:`~Journal.prune`, which the host calls on
  a timer) the journal reopens the database and writes the ring into it; on
  success the episode ends (one WARNING) and the ring is empty again.
  :meth:`~Journal.close` makes one last attempt.
* A file that is not a database (or is malformed) at open is logged loudly,
  whatever rows can still be read are salvaged, the file (and its ``-wal`` /
  ``-shm``) is moved aside to ``<path>.corrupt-<UTC timestamp>`` and a fresh
  journal is created holding the salvaged rows.  **Seq choice**: the fresh
  journal continues after ``max(highest salvaged seq, clock() in
  milliseconds)``.  The highest seq the broken file held cannot be known
  (the damage may have hit exactly the newest rows), and restarting at 0
  would hand out seqs a client already saw, so a client that reconnects with
  ``?since=`` would silently drop new scans as duplicates.  A millisecond
  clock floor is higher than any seq a journal with fewer than 1000 appends
  per second on average could have reached, stays far below 2**53 (exact in
  JavaScript), and makes ``since(old_seq)`` report the gap
  (``ERROR_REPLAY_GAP``) as it should.  The same floor is used when the
  database cannot be opened at all and its last seq cannot be read.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import msgspec

__all__ = ["Journal", "default_journal_path"]

log = logging.getLogger("scanbridge.journal")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    created REAL NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_undelivered ON events(seq)
    WHERE kind = 'scan' AND delivered = 0;
"""

_INSERT = "INSERT INTO events (seq, kind, created, data) VALUES (?, ?, ?, ?)"
_INSERT_FULL = (
    "INSERT OR IGNORE INTO events (seq, kind, created, delivered, data) VALUES (?, ?, ?, ?, ?)"
)
_SINCE = "SELECT seq, data FROM events WHERE seq > ? ORDER BY seq"
_UNDELIVERED = (
    "SELECT seq, data FROM events WHERE kind = 'scan' AND delivered = 0 AND created > ? "
    "ORDER BY seq"
)
_HIGH_WATER = "SELECT seq FROM sqlite_sequence WHERE name = 'events'"
_MAX_SEQ = "SELECT max(seq) FROM events"

_SQLITE_MAGIC = b"SQLite format 3\x00"
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
_CHUNK = 500  # bound parameters per statement (SQLite's old limit is 999)
_PRUNE_EVERY_MAX = 1024


def default_journal_path() -> Path:
    """Where the journal lives by default: the user's data directory.

    ``$XDG_DATA_HOME/scanbridge/journal.sqlite3`` when ``XDG_DATA_HOME`` is an
    absolute path (the XDG spec says to ignore relative ones), else
    ``~/.local/share/scanbridge/journal.sqlite3``; on Windows
    ``%LOCALAPPDATA%\\scanbridge\\journal.sqlite3``.
    """
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "scanbridge" / "journal.sqlite3"
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / "scanbridge" / "journal.sqlite3"


def _is_corruption(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return (code & 0xFF) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text


class _Held:
    """An event held in memory while the database is broken."""

    __slots__ = ("created", "data", "delivered", "kind")

    def __init__(self, kind: str, created: float, data: bytes) -> None:
        self.kind = kind
        self.created = created
        self.data = data
        self.delivered = False


class Journal:
    """Append-only, pruned journal of encoded Streams events (see the module doc).

    ``path`` None (or ``":memory:"``) keeps the journal in an in-memory SQLite
    database; otherwise parent directories are created.  ``max_events`` and
    ``max_age`` (seconds) bound what :meth:`prune` keeps; ``clock`` returns
    Unix time in seconds (injectable for tests); ``retry_interval`` is how
    often a broken journal tries to reopen its database.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        *,
        max_events: int = 100_000,
        max_age: float = 86_400.0,
        clock: Callable[[], float] = time.time,
        retry_interval: float = 5.0,
    ) -> None:
        if max_events < 1:
            raise ValueError(f"max_events is {max_events}, it must be at least 1")
        if max_age <= 0:
            raise ValueError(f"max_age is {max_age}, it must be more than 0 seconds")
        self._path: Path | None = (
            None if path is None or os.fspath(path) == ":memory:" else Path(path)
        )
        self.max_events = max_events
        self.max_age = max_age
        self._clock = clock
        self._retry_interval = retry_interval
        self._encoder = msgspec.json.Encoder()
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._healthy = True
        self._corrupt_seen = False
        self._closed = False
        self._last_seq = 0
        self._next_retry = 0.0
        self._ring: dict[int, _Held] = {}
        self._ring_overflowed = False
        self._pending_delivered: set[int] = set()
        self._appends = 0
        # Between two prunes the journal may hold up to max_events + _prune_every rows.
        self._prune_every = max(1, min(_PRUNE_EVERY_MAX, max_events // 8))
        self._open()

    # ------------------------------------------------------------------ opening

    @property
    def path(self) -> Path | None:
        """The database file, or None for an in-memory journal."""
        return self._path

    @property
    def healthy(self) -> bool:
        """False while events are kept in memory because the database failed."""
        return self._healthy

    def _connect(self) -> sqlite3.Connection:
        """Open and set up the database; returns the connection (raises on failure)."""
        target = ":memory:" if self._path is None else str(self._path)
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False, timeout=2.0)
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchone()
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            high = self._read_high_water(conn)
        except BaseException:
            conn.close()
            raise
        self._last_seq = max(self._last_seq, high)
        return conn

    @staticmethod
    def _read_high_water(conn: sqlite3.Connection) -> int:
        row = conn.execute(_HIGH_WATER).fetchone()
        high = int(row[0]) if row and row[0] is not None else 0
        row = conn.execute(_MAX_SEQ).fetchone()
        if row and row[0] is not None:
            high = max(high, int(row[0]))
        return high

    @staticmethod
    def _set_high_water(conn: sqlite3.Connection, seq: int) -> None:
        """Make ``sqlite_sequence`` remember ``seq`` (it has no unique key on name)."""
        cur = conn.execute(
            "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'events'", (seq,)
        )
        if cur.rowcount == 0:
            conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('events', ?)", (seq,))

    def _clock_floor(self) -> int:
        return int(self._clock() * 1000)

    def _header_problem(self) -> str | None:
        """Why the file is certainly not a SQLite database, checked before SQLite
        touches it (SQLite would delete a stale ``-wal`` we want to keep)."""
        if self._path is None:
            return None
        try:
            with open(self._path, "rb") as f:
                head = f.read(len(_SQLITE_MAGIC))
        except OSError:
            return None  # missing or unreadable: _connect reports it
        if head and head != _SQLITE_MAGIC:
            return "file is not a database (no SQLite header)"
        return None

    def _open(self) -> None:
        problem = self._header_problem()
        if problem is not None:
            self._replace_corrupt(problem, salvage=False)
            return
        try:
            self._conn = self._connect()
            return
        except sqlite3.Error as exc:
            if self._path is not None and _is_corruption(exc):
                self._replace_corrupt(str(exc), salvage=True)
                return
            failure: BaseException = exc
        except OSError as exc:
            failure = exc
        # The database cannot be opened: keep going in memory, retry later.
        high = self._read_only_high_water()
        self._last_seq = max(self._last_seq, high if high is not None else self._clock_floor())
        self._fail("open", failure)

    def _read_only_high_water(self) -> int | None:
        """Best effort: the last seq of a database we cannot open for writing."""
        if self._path is None or not self._path.is_file():
            return None  # e.g. its volume is not mounted: the past is unknown
        try:
            conn = sqlite3.connect(f"{self._path.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error:
            return None
        try:
            return self._read_high_water(conn)
        except sqlite3.Error:
            return None
        finally:
            conn.close()

    def _salvage(self) -> tuple[int, list[tuple[int, str, float, int, bytes]]]:
        """Read whatever a corrupt database still gives: (highest seq, rows)."""
        assert self._path is not None
        high = 0
        rows: list[tuple[int, str, float, int, bytes]] = []
        try:
            conn = sqlite3.connect(f"{self._path.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error:
            return high, rows
        try:
            try:
                row = conn.execute(_HIGH_WATER).fetchone()
                if row and isinstance(row[0], int):
                    high = row[0]
            except sqlite3.Error:
                pass
            try:
                cursor = conn.execute(
                    "SELECT seq, kind, created, delivered, data FROM events ORDER BY seq"
                )
                for seq, kind, created, delivered, data in cursor:
                    if isinstance(seq, int) and isinstance(data, bytes):
                        rows.append((seq, str(kind), float(created), int(delivered), data))
            except (sqlite3.Error, TypeError, ValueError):
                pass
        finally:
            conn.close()
        if rows:
            high = max(high, rows[-1][0])
        return high, rows

    def _replace_corrupt(self, reason: str, *, salvage: bool) -> None:
        """Move a corrupt database aside and start a fresh one (see the module doc).

        Sets ``self._conn`` on success; on failure stays in a failure episode.
        """
        assert self._path is not None
        self._corrupt_seen = False
        high, rows = self._salvage() if salvage else (0, [])
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self._clock()))
        aside = Path(f"{self._path}.corrupt-{stamp}")
        n = 1
        while aside.exists():
            n += 1
            aside = Path(f"{self._path}.corrupt-{stamp}-{n}")
        log.error(
            "JOURNAL CORRUPT: %s is not a usable SQLite database (%s); moving it to %s "
            "and starting a fresh journal (%d events salvaged)",
            self._path,
            reason,
            aside,
            len(rows),
        )
        try:
            os.replace(self._path, aside)
            for suffix in ("-wal", "-shm"):
                side = Path(f"{self._path}{suffix}")
                if side.exists():
                    os.replace(side, Path(f"{aside}{suffix}"))
        except OSError as move_exc:
            self._last_seq = max(self._last_seq, high, self._clock_floor())
            self._fail("move the corrupt journal aside", move_exc)
            return
        self._last_seq = max(self._last_seq, high, self._clock_floor())
        try:
            conn = self._connect()
            if rows:
                conn.execute("BEGIN")
                conn.executemany(_INSERT_FULL, rows)
                conn.execute("COMMIT")
            # Record the floor so that a reopen continues after it even if no
            # event is appended before the next restart.
            self._set_high_water(conn, self._last_seq)
        except (sqlite3.Error, OSError) as open_exc:
            self._conn = None
            self._fail("create a fresh journal", open_exc)
            return
        self._conn = conn

    # ------------------------------------------------------------- failure mode

    def _fail(self, op: str, exc: BaseException) -> None:
        """Enter (or stay in) a failure episode; logs once per episode."""
        if self._path is not None and _is_corruption(exc):
            self._corrupt_seen = True
        if self._healthy:
            log.error(
                "JOURNAL FAILED to %s (%s: %s); events are kept in memory only and "
                "live delivery goes on; retrying every %.0f s",
                op,
                type(exc).__name__,
                exc,
                self._retry_interval,
            )
            self._healthy = False
            self._next_retry = self._clock() + self._retry_interval
        else:
            log.debug("journal still failing to %s: %s", op, exc)

    def _hold(self, seq: int, kind: str, created: float, data: bytes) -> None:
        self._ring[seq] = _Held(kind, created, data)
        if len(self._ring) > self.max_events:
            del self._ring[next(iter(self._ring))]
            if not self._ring_overflowed:
                self._ring_overflowed = True
                log.warning(
                    "journal memory ring is full (%d events); dropping the oldest",
                    self.max_events,
                )

    def _maybe_recover(self) -> None:
        if self._healthy or self._closed or self._clock() < self._next_retry:
            return
        self._recover()

    def _recover(self) -> bool:
        """Reopen the database and write the ring into it; True when healthy again.

        A database found corrupt (at open, or by any earlier failure) is moved
        aside and replaced as at start-up.
        """
        self._next_retry = self._clock() + self._retry_interval
        old, self._conn = self._conn, None
        if old is not None:
            if self._path is None and not self._corrupt_seen:
                # In-memory journal: keep the database if the connection still works.
                try:
                    old.execute("SELECT 1").fetchone()
                    self._conn = old
                except sqlite3.Error:
                    pass
            if self._conn is None:
                try:
                    old.close()
                except sqlite3.Error:
                    pass
        for attempt in (1, 2):
            try:
                if self._conn is None:
                    if self._corrupt_seen and self._path is not None:
                        self._replace_corrupt("the database is malformed", salvage=True)
                        if self._conn is None:
                            return False
                    else:
                        self._conn = self._connect()
                self._flush_ring(self._conn)
                break
            except sqlite3.Error as exc:
                self._fail("reopen the journal", exc)
                if attempt == 2 or not self._corrupt_seen or self._path is None:
                    return False  # a connection that opened is kept for reading
                if self._conn is not None:
                    try:
                        self._conn.close()
                    except sqlite3.Error:
                        pass
                    self._conn = None
            except OSError as exc:
                self._fail("reopen the journal", exc)
                return False
        written = len(self._ring)
        self._ring.clear()
        self._ring_overflowed = False
        self._healthy = True
        log.warning("journal recovered; %d events held in memory were written to it", written)
        return True

    def _flush_ring(self, conn: sqlite3.Connection) -> None:
        rows = [
            (
                seq,
                held.kind,
                held.created,
                int(held.delivered or seq in self._pending_delivered),
                held.data,
            )
            for seq, held in self._ring.items()
        ]
        conn.execute("BEGIN")
        try:
            conn.executemany(_INSERT_FULL, rows)
            self._update_delivered(conn, list(self._pending_delivered))
            conn.execute("COMMIT")
        except BaseException:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise
        self._pending_delivered.clear()

    @staticmethod
    def _update_delivered(conn: sqlite3.Connection, seqs: list[int]) -> None:
        for i in range(0, len(seqs), _CHUNK):
            chunk = seqs[i : i + _CHUNK]
            conn.execute(
                f"UPDATE events SET delivered = 1 WHERE seq IN ({','.join('?' * len(chunk))})",
                chunk,
            )

    # --------------------------------------------------------------- public API

    def append(self, event: dict[str, Any]) -> tuple[int, bytes]:
        """Journal ``event``: set ``event["seq"]``, store it, return (seq, encoded bytes).

        The bytes are the msgspec JSON encoding of ``event`` including its
        seq; send exactly these.  Never raises for a storage failure (see the
        module doc); raises only if ``event`` cannot be encoded.
        """
        with self._lock:
            seq = self._last_seq + 1
            event["seq"] = seq
            data = self._encoder.encode(event)
            self._last_seq = seq
            kind = str(event.get("event_type", ""))
            created = self._clock()
            conn = self._conn
            if self._healthy and conn is not None:
                try:
                    conn.execute(_INSERT, (seq, kind, created, data))
                except sqlite3.Error as exc:
                    self._hold(seq, kind, created, data)
                    self._fail("append", exc)
            else:
                self._hold(seq, kind, created, data)
                self._maybe_recover()
            self._appends += 1
            if self._appends % self._prune_every == 0:
                self._prune()
            return seq, data

    def since(self, seq: int) -> tuple[bool, list[tuple[int, bytes]]]:
        """Events after ``seq``, in order, and whether some are missing.

        ``gap`` is True when the journal no longer holds ``seq + 1`` (pruned or
        lost) although ``seq + 1 <= last_seq()``.  ``since(last_seq())`` is
        ``(False, [])``; so is a ``seq`` beyond the last one.  Negative seqs
        count as 0 (seqs start at 1).
        """
        with self._lock:
            seq = max(int(seq), 0)
            if seq >= self._last_seq:
                return False, []
            rows: list[tuple[int, bytes]] = []
            conn = self._conn
            if conn is not None:
                try:
                    rows = [(int(s), bytes(d)) for s, d in conn.execute(_SINCE, (seq,))]
                except sqlite3.Error as exc:
                    self._fail("read", exc)
                    rows = []
            if self._ring:
                top = rows[-1][0] if rows else seq
                rows.extend((s, held.data) for s, held in self._ring.items() if s > top)
            gap = not rows or rows[0][0] > seq + 1
            return gap, rows

    def undelivered(self, ttl: float) -> list[tuple[int, bytes]]:
        """Scan events never marked delivered and younger than ``ttl`` seconds, in order."""
        with self._lock:
            cutoff = self._clock() - ttl
            rows: list[tuple[int, bytes]] = []
            conn = self._conn
            if conn is not None:
                try:
                    rows = [(int(s), bytes(d)) for s, d in conn.execute(_UNDELIVERED, (cutoff,))]
                except sqlite3.Error as exc:
                    self._fail("read", exc)
                    rows = []
            if self._pending_delivered:
                rows = [row for row in rows if row[0] not in self._pending_delivered]
            if self._ring:
                top = rows[-1][0] if rows else 0
                rows.extend(
                    (s, held.data)
                    for s, held in self._ring.items()
                    if s > top
                    and held.kind == "scan"
                    and not held.delivered
                    and held.created > cutoff
                    and s not in self._pending_delivered
                )
            return rows

    def mark_delivered(self, seqs: Iterable[int]) -> None:
        """Record that the events ``seqs`` reached at least one client."""
        with self._lock:
            todo: list[int] = []
            for seq in seqs:
                held = self._ring.get(seq)
                if held is not None:
                    held.delivered = True
                else:
                    todo.append(int(seq))
            if not todo:
                return
            conn = self._conn
            if self._healthy and conn is not None:
                try:
                    conn.execute("BEGIN")
                    try:
                        self._update_delivered(conn, todo)
                        conn.execute("COMMIT")
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                    return
                except sqlite3.Error as exc:
                    self._fail("mark events delivered", exc)
            # Applied when the database is back; bounded like the ring.
            if len(self._pending_delivered) < self.max_events:
                self._pending_delivered.update(todo)

    def last_seq(self) -> int:
        """The seq of the newest event ever appended (0 for a new journal)."""
        with self._lock:
            return self._last_seq

    def prune(self) -> int:
        """Drop events beyond ``max_events`` (oldest first) or older than ``max_age``.

        Returns the number of events removed.  Called by :meth:`append` every
        few appends and by the host on a timer; a broken journal also retries
        its database here.
        """
        with self._lock:
            return self._prune()

    def _prune(self) -> int:
        self._maybe_recover()
        removed = 0
        cutoff = self._clock() - self.max_age
        if self._ring:
            for seq in [s for s, held in self._ring.items() if held.created <= cutoff]:
                del self._ring[seq]
                removed += 1
        conn = self._conn
        if not self._healthy or conn is None:
            return removed
        try:
            # By age: creation times grow with seq, so walk from the oldest end.
            row = conn.execute(
                "SELECT seq FROM events WHERE created > ? ORDER BY seq LIMIT 1", (cutoff,)
            ).fetchone()
            if row is None:
                removed += conn.execute("DELETE FROM events").rowcount
            else:
                removed += conn.execute("DELETE FROM events WHERE seq < ?", (row[0],)).rowcount
            # By count: cheap test first, exact cut only when it may be needed.
            lo, hi = conn.execute("SELECT min(seq), max(seq) FROM events").fetchone()
            if lo is not None and hi - lo + 1 > self.max_events:
                row = conn.execute(
                    "SELECT seq FROM events ORDER BY seq DESC LIMIT 1 OFFSET ?",
                    (self.max_events,),
                ).fetchone()
                if row is not None:
                    removed += conn.execute("DELETE FROM events WHERE seq <= ?", (row[0],)).rowcount
        except sqlite3.Error as exc:
            self._fail("prune", exc)
        return removed

    def stats(self) -> dict[str, int]:
        """``events`` held, ``first_seq`` / ``last_seq`` (0 when none), ``bytes`` on disk
        (database plus WAL file; 0 in memory), ``healthy`` (1/0) and ``memory_events``
        (events held in memory while the database is broken)."""
        with self._lock:
            count = 0
            first = 0
            conn = self._conn
            if conn is not None:
                try:
                    n, lo = conn.execute("SELECT count(*), min(seq) FROM events").fetchone()
                    count = int(n)
                    first = int(lo) if lo is not None else 0
                except sqlite3.Error as exc:
                    self._fail("read", exc)
            if self._ring:
                count += len(self._ring)
                ring_first = next(iter(self._ring))
                first = ring_first if first == 0 else min(first, ring_first)
            size = 0
            if self._path is not None:
                for p in (self._path, Path(f"{self._path}-wal")):
                    try:
                        size += p.stat().st_size
                    except OSError:
                        pass
            return {
                "events": count,
                "first_seq": first,
                "last_seq": self._last_seq,
                "bytes": size,
                "healthy": int(self._healthy),
                "memory_events": len(self._ring),
            }

    def close(self) -> None:
        """Close the database (one last attempt to write held events first)."""
        with self._lock:
            if self._closed:
                return
            if not self._healthy:
                self._recover()
            self._closed = True
            conn, self._conn = self._conn, None
            if conn is not None:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            if self._ring:
                log.error("journal closed with %d events it could not store", len(self._ring))

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "memory" if self._path is None else str(self._path)
        return f"<Journal {where} last_seq={self._last_seq} healthy={self._healthy}>"
