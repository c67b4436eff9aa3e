"""The "nothing lost" journal of Streams API events (PROTOCOLS.md 1.3).

Every event is appended here before it is sent.  :meth:`Journal.append_many`
gives each event its ``seq`` (strictly increasing, never reused, also across
restarts, pruning and crashes after a failure), encodes it once with msgspec
and returns the exact bytes to send, so a replay sends byte-for-byte what the
live client got.

**It fails closed.**  An append either commits (the rows are in the database
and the seqs are taken) or raises :class:`~scanbridge.errors.JournalUnavailable`
with SQLite's own error text (nothing stored, no seq consumed).  A seq is
taken from memory only after its row committed, and at open from what the
database durably holds, so a SIGKILL after a failure cannot hand out a seq
that a client already saw.  A journal path that cannot be used at all (a
directory, below a regular file, read-only, unwritable) raises
:class:`~scanbridge.errors.JournalError` from the constructor: the server
refuses to start.  Keeping events in memory while the disk fails is the
caller's decision (:mod:`scanbridge.journal_writer` holds scanner scans in a
bounded buffer and retries); this class never pretends.

Storage is an embedded SQLite database (stdlib :mod:`sqlite3`) in WAL mode;
``synchronous`` is ``"normal"`` by default (a commit survives a crash or
SIGKILL of the process; a power loss or kernel crash may lose the last
commits) or ``"full"`` (the WAL is synced on every commit, so a commit also
survives a power loss; about 2 ms per commit on this project's test machine,
shared by all the events of a group commit).  One journal file belongs to one process
(a second opener gets JournalError: see :meth:`Journal._take_ownership`).  Reads
(replay at connect, stats) use their own connection, so they do not wait
for a commit in progress.

Table ``events(seq INTEGER PRIMARY KEY AUTOINCREMENT, kind, created,
delivered, data)``.  ``AUTOINCREMENT`` makes SQLite keep the highest seq ever
inserted in ``sqlite_sequence``, also after every row was pruned, so a
reopened journal continues after it.

Bounds: ``max_events``, ``max_age`` (seconds) and ``max_bytes`` (bytes of
encoded events); the oldest events go first.  An event larger than
:attr:`Journal.max_event_bytes` (a share of ``max_bytes``) is refused with
:class:`~scanbridge.errors.EventTooLarge`.

A file that is not a database (or is malformed) is logged loudly, whatever
rows can still be read are salvaged, the file (and its ``-wal`` / ``-shm``)
is moved aside to ``<path>.corrupt-<UTC timestamp>`` and a fresh journal is
created holding the salvaged rows.  **Seq choice**: the fresh journal
continues after ``max(highest salvaged seq, clock() in milliseconds)``: the
highest seq the broken file held cannot be known, and restarting at 0 would
hand out seqs a client already saw.  A millisecond clock floor is higher than
any seq a journal with fewer than 1000 appends per second on average could
have reached, stays far below 2**53 (exact in JavaScript), and makes
``since(old_seq)`` report the gap as it should.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import msgspec

from .errors import EventTooLarge, JournalError, JournalUnavailable

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

_INSERT = "INSERT INTO events (seq, kind, created, data, event_id) VALUES (?, ?, ?, ?, ?)"
_INSERT_FULL = (
    "INSERT OR IGNORE INTO events (seq, kind, created, delivered, data) VALUES (?, ?, ?, ?, ?)"
)
_SINCE = "SELECT seq, data FROM events WHERE seq > ? AND seq <= ? ORDER BY seq"
_UNDELIVERED = (
    "SELECT seq, data FROM events WHERE kind = 'scan' AND delivered = 0 AND created > ? "
    "AND seq <= ? ORDER BY seq"
)
_HIGH_WATER = "SELECT seq FROM sqlite_sequence WHERE name = 'events'"
_MAX_SEQ = "SELECT max(seq) FROM events"

_SQLITE_MAGIC = b"SQLite format 3\x00"
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
_CHUNK = 500  # bound parameters per statement (SQLite's old limit is 999)
_PRUNE_EVERY_MAX = 1024
#: Seqs marked delivered while the database failed, applied with the next commit.
_PENDING_DELIVERED_MAX = 100_000

Synchronous = Literal["normal", "full"]


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


def _why(exc: BaseException) -> str:
    """SQLite's (or the OS's) own words for a failure, one line."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return str(exc).strip() or type(exc).__name__


class Journal:
    """Append-only, pruned journal of encoded Streams events (see the module doc).

    ``path`` None (or ``":memory:"``) keeps the journal in an in-memory SQLite
    database; otherwise parent directories are created.  ``clock`` returns Unix
    time in seconds (injectable for tests).  Thread-safe: the writer thread
    appends while the event loop reads.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        *,
        max_events: int = 100_000,
        max_age: float = 86_400.0,
        max_bytes: int = 256 * 1024 * 1024,
        synchronous: Synchronous = "normal",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_events < 1:
            raise ValueError(f"max_events is {max_events}, it must be at least 1")
        if max_age <= 0:
            raise ValueError(f"max_age is {max_age}, it must be more than 0 seconds")
        if max_bytes < 1024 * 1024:
            raise ValueError(f"max_bytes is {max_bytes}, it must be at least 1048576 (1 MiB)")
        if synchronous not in ("normal", "full"):
            raise ValueError(f"synchronous is {synchronous!r}, it must be 'normal' or 'full'")
        self._path: Path | None = (
            None if path is None or os.fspath(path) == ":memory:" else Path(path)
        )
        self.max_events = max_events
        self.max_age = max_age
        self.max_bytes = max_bytes
        #: The largest encoded event accepted: 1/16 of max_bytes (at least 64 KiB),
        #: at most 1 MiB.
        self.max_event_bytes = min(max_bytes // 16, 1024 * 1024)
        self.synchronous = synchronous
        self._clock = clock
        self._encoder = msgspec.json.Encoder()
        # _wlock guards the write connection and every counter; _rlock the read
        # connection (the same connection for an in-memory journal).
        self._wlock = threading.RLock()
        self._rlock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._owner_fd: int | None = None
        self._healthy = True
        self._last_error = ""
        self._corrupt_seen = False
        self._closed = False
        self._last_seq = 0
        self._bytes = 0
        self._pending_delivered: set[int] = set()
        self._appends = 0
        self.failures = 0
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
        """False from a failed write until the next successful one."""
        return self._healthy

    @property
    def last_error(self) -> str:
        """SQLite's words for the last failure ("" when none)."""
        return self._last_error

    def _connect(self) -> sqlite3.Connection:
        """Open and set up the database; returns the connection (raises on failure)."""
        target = ":memory:" if self._path is None else str(self._path)
        if self._path is not None:
            for parent in reversed(self._path.parents):
                if parent.exists() and not parent.is_dir():
                    raise NotADirectoryError(20, "Not a directory", str(parent))
            self._path.parent.mkdir(parents=True, exist_ok=True)
            if self._path.is_dir():
                raise IsADirectoryError(21, "is a directory", str(self._path))
        conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False, timeout=2.0)
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchone()
            conn.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
            conn.executescript(_SCHEMA)
            self._migrate(conn)
            high = self._read_high_water(conn)
        except BaseException:
            conn.close()
            raise
        self._last_seq = max(self._last_seq, high)
        return conn

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        """Add the ``event_id`` column (for ``?after=``) to a journal made before it."""
        columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
        if "event_id" not in columns:
            conn.execute("ALTER TABLE events ADD COLUMN event_id TEXT")
        conn.execute("CREATE INDEX IF NOT EXISTS events_event_id ON events(event_id)")

    def _open_reader(self) -> None:
        if self._path is None:
            self._rconn = self._conn
            return
        try:
            rconn = sqlite3.connect(
                str(self._path), isolation_level=None, check_same_thread=False, timeout=2.0
            )
            rconn.execute("PRAGMA query_only = ON")
        except sqlite3.Error as exc:
            log.warning("journal: no separate read connection (%s); reads share the writer's", exc)
            self._rconn = self._conn
            return
        self._rconn = rconn

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
        if self._path is None or not self._path.is_file():
            return None
        try:
            with open(self._path, "rb") as f:
                head = f.read(len(_SQLITE_MAGIC))
        except OSError:
            return None  # unreadable: _connect reports it
        if head and head != _SQLITE_MAGIC:
            return "file is not a database (no SQLite header)"
        return None

    def _take_ownership(self) -> None:
        """One journal file belongs to one process: hold ``flock(LOCK_EX)`` on
        ``<path>.lock`` until :meth:`close` (the kernel drops it when the process
        dies, so a crash leaves nothing stale).  Another holder: JournalError.

        A lock file that cannot be made (a read-only directory...) is passed
        over: SQLite, which needs that directory for its ``-wal`` too, reports
        the real problem next."""
        if self._path is None:
            return
        lock_path = self._path.with_name(self._path.name + ".lock")
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = b""
            with contextlib.suppress(OSError):
                holder = os.pread(fd, 32, 0).strip()
            os.close(fd)
            who = f" (pid {holder.decode()})" if holder.isdigit() else ""
            raise JournalError(
                self._path,
                f"cannot be used: another process{who} has it open; a journal belongs "
                "to one server (give each its own journal)",
            ) from None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._owner_fd = fd

    def _release_ownership(self) -> None:
        fd, self._owner_fd = self._owner_fd, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor drops the flock

    def _open(self) -> None:
        """Open, salvage a corrupt file, and prove a write works; else JournalError."""
        self._take_ownership()
        try:
            self._open_database()
        except BaseException:
            self._release_ownership()
            raise

    def _open_database(self) -> None:
        try:
            try:
                problem = self._header_problem()
                if problem is not None:
                    self._conn = self._replace_corrupt(problem, salvage=False)
                else:
                    self._conn = self._connect()
                self._write_test()
            except sqlite3.Error as exc:
                if self._path is None or not _is_corruption(exc):
                    raise
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                self._conn = self._replace_corrupt(str(exc), salvage=True)
                self._write_test()
        except (sqlite3.Error, OSError) as exc:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            why = _why(exc)
            hint = self._os_reason()
            if hint and hint not in why:
                why = f"{why} ({hint})"
            raise JournalError(self._path or ":memory:", f"cannot be used: {why}") from exc
        self._open_reader()

    def _os_reason(self) -> str | None:
        """The operating system's words when SQLite only says "unable to open"."""
        if self._path is None:
            return None
        existed = self._path.exists()
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            return exc.strerror
        os.close(fd)
        if not existed:
            with contextlib.suppress(OSError):
                self._path.unlink()
        return None

    def _write_test(self) -> None:
        """A real transaction that reaches the disk, and the byte count (reads every row)."""
        conn = self._conn
        assert conn is not None
        with self._transaction(conn):
            self._set_high_water(conn, self._last_seq)
        self._bytes = self._count_bytes(conn)

    @staticmethod
    def _count_bytes(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT coalesce(sum(length(data)), 0) FROM events").fetchone()[0])

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

    def _replace_corrupt(self, reason: str, *, salvage: bool) -> sqlite3.Connection:
        """Move a corrupt database aside and start a fresh one (see the module doc).

        Returns the fresh database's connection (the caller keeps it as ``self._conn``);
        raises (sqlite3.Error / OSError) when it cannot.
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
        self._last_seq = max(self._last_seq, high, self._clock_floor())
        os.replace(self._path, aside)
        for suffix in ("-wal", "-shm"):
            side = Path(f"{self._path}{suffix}")
            if side.exists():
                os.replace(side, Path(f"{aside}{suffix}"))
        conn = self._connect()
        try:
            with self._transaction(conn):
                if rows:
                    conn.executemany(_INSERT_FULL, rows)
                # Record the floor so that a reopen continues after it even if no
                # event is appended before the next restart.
                self._set_high_water(conn, self._last_seq)
        except BaseException:
            conn.close()
            raise
        return conn

    # ------------------------------------------------------------- failure mode

    @staticmethod
    @contextmanager
    def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back if anything in it raises."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            Journal._rollback(conn)
            raise

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        """Roll back if a transaction is open (SQLite may have rolled back itself,
        e.g. on a full disk: then there is nothing to do, and nothing to log)."""
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def _fail(self, op: str, exc: BaseException) -> JournalUnavailable:
        """Record a failed write; logs once per episode with SQLite's own words."""
        self.failures += 1
        if _is_corruption(exc):
            self._corrupt_seen = True
        why = _why(exc)
        self._last_error = why
        if self._healthy:
            log.critical(
                "JOURNAL FAILED to %s %s: %s; nothing more is acknowledged until it can store",
                op,
                self._path or ":memory:",
                why,
            )
            self._healthy = False
        else:
            log.debug("journal still failing to %s: %s", op, why)
        # A connection that failed is reopened for the next attempt (a remount,
        # a replaced file or a corrupt database need a fresh one).
        if self._path is not None and self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.close()
            except sqlite3.Error:
                pass
        return JournalUnavailable(self._path or ":memory:", why)

    def _writable(self) -> sqlite3.Connection:
        """The write connection, reopened after a failure (raises sqlite3.Error/OSError)."""
        if self._closed:
            raise sqlite3.ProgrammingError("the journal is closed")
        conn = self._conn
        if conn is None:
            if self._corrupt_seen and self._path is not None:
                conn = self._replace_corrupt("the database is malformed", salvage=True)
            else:
                conn = self._connect()
            self._conn = conn
            if self._path is not None:
                # Keep the reader on the same file (it may have been replaced).
                with self._rlock:
                    old, self._rconn = self._rconn, None
                    if old is not None and old is not conn:
                        old.close()
                    self._open_reader()
            self._bytes = self._count_bytes(conn)
        return conn

    def _recovered(self) -> None:
        if not self._healthy:
            self._healthy = True
            log.warning("journal %s stores again", self._path or ":memory:")

    # --------------------------------------------------------------- appending

    def encode(self, event: dict[str, Any], seq: int) -> bytes:
        """The bytes of ``event`` with its seq, as :meth:`append_many` stores them."""
        event["seq"] = seq
        return self._encoder.encode(event)

    def append_many(self, events: list[dict[str, Any]]) -> list[tuple[int, bytes]]:
        """Journal ``events`` in one transaction; returns (seq, bytes) for each.

        Sets ``event["seq"]``.  All or nothing: on a storage failure raises
        :class:`JournalUnavailable` (no seq taken, the events' ``seq`` keys
        removed); an event larger than :attr:`max_event_bytes` raises
        :class:`EventTooLarge` before anything is written.
        """
        if not events:
            return []
        with self._wlock:
            seq = self._last_seq
            out: list[tuple[int, bytes]] = []
            rows: list[tuple[int, str, float, bytes, str | None]] = []
            created = self._clock()
            added = 0
            for event in events:
                seq += 1
                data = self.encode(event, seq)
                if len(data) > self.max_event_bytes:
                    for e in events:
                        e.pop("seq", None)
                    raise EventTooLarge(
                        self._path or ":memory:",
                        f"an event of {len(data)} bytes is larger than the "
                        f"{self.max_event_bytes} bytes one event may take",
                    )
                out.append((seq, data))
                eid = event.get("event_id")
                rows.append(
                    (
                        seq,
                        str(event.get("event_type", "")),
                        created,
                        data,
                        eid if isinstance(eid, str) else None,
                    )
                )
                added += len(data)
            try:
                conn = self._writable()
                with self._transaction(conn):
                    conn.executemany(_INSERT, rows)
                    with self._rlock:
                        marks = list(self._pending_delivered)
                    if marks:
                        self._update_delivered(conn, marks)
            except (sqlite3.Error, OSError) as exc:
                for e in events:
                    e.pop("seq", None)
                raise self._fail("append to", exc) from exc
            if marks:
                with self._rlock:
                    self._pending_delivered.difference_update(marks)
            self._last_seq = seq
            self._bytes += added
            self._recovered()
            before = self._appends
            self._appends += len(events)
            if (
                self._appends // self._prune_every != before // self._prune_every
                or self._bytes > self.max_bytes
            ):
                self._prune()
            return out

    def append(self, event: dict[str, Any]) -> tuple[int, bytes]:
        """Journal one event: set ``event["seq"]``, store it, return (seq, bytes)."""
        return self.append_many([event])[0]

    def probe(self) -> None:
        """Check the database can store again (a write that changes nothing).

        Raises :class:`JournalUnavailable` while it cannot.
        """
        with self._wlock:
            try:
                conn = self._writable()
                with self._transaction(conn):
                    self._set_high_water(conn, self._last_seq)
            except (sqlite3.Error, OSError) as exc:
                raise self._fail("write to", exc) from exc
            self._recovered()

    @staticmethod
    def _update_delivered(conn: sqlite3.Connection, seqs: list[int]) -> None:
        for i in range(0, len(seqs), _CHUNK):
            chunk = seqs[i : i + _CHUNK]
            conn.execute(
                f"UPDATE events SET delivered = 1 WHERE seq IN ({','.join('?' * len(chunk))})",
                chunk,
            )

    def mark_delivered(self, seqs: Iterable[int]) -> None:
        """Record that the events ``seqs`` reached at least one client.

        Not an acknowledgement of anything: when the database cannot store, the
        seqs wait (bounded) for the next successful commit.
        """
        todo = [int(s) for s in seqs]
        if not todo:
            return
        self.note_delivered(todo)
        with self._wlock:
            if self._healthy:
                try:
                    conn = self._writable()
                    with self._transaction(conn):
                        self._update_delivered(conn, todo)
                except (sqlite3.Error, OSError) as exc:
                    self._fail("mark events delivered in", exc)
                else:
                    self._pending_delivered.difference_update(todo)

    def note_delivered(self, seqs: Iterable[int]) -> None:
        """Hide ``seqs`` from :meth:`undelivered` at once; :meth:`mark_delivered`
        (e.g. on the writer thread) or the next commit stores it (bounded)."""
        with self._rlock:
            pending = self._pending_delivered
            for seq in seqs:
                if len(pending) >= _PENDING_DELIVERED_MAX:
                    break
                pending.add(int(seq))

    # ------------------------------------------------------------------ reading

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection | None]:
        if self._rconn is None or self._rconn is self._conn or self._path is None:
            with self._wlock:
                yield self._rconn if self._rconn is not None else self._conn
        else:
            with self._rlock:
                yield self._rconn

    def _read_failed(self, exc: sqlite3.Error) -> None:
        log.error("journal: cannot read %s: %s", self._path or ":memory:", _why(exc))
        if _is_corruption(exc):
            # The next write moves the file aside and salvages what it can.
            with self._wlock:
                self._fail("read", exc)

    def since(self, seq: int, upto: int | None = None) -> tuple[bool, list[tuple[int, bytes]]]:
        """Events after ``seq`` (up to ``upto``, default the last), in order, and
        whether some are missing.

        ``gap`` is True when the journal no longer holds ``seq + 1`` (pruned or
        lost) although ``seq + 1 <= upto``, and when ``seq`` is beyond the last
        seq this journal ever gave (the client saw events of a journal that was
        lost): a resume never ends in silence.  ``since(last_seq())`` is
        ``(False, [])``.  Negative seqs count as 0 (seqs start at 1).
        """
        seq = max(int(seq), 0)
        last = self._last_seq
        upto = last if upto is None else min(upto, last)
        if seq > last:
            return True, []
        if seq >= upto:
            return False, []
        rows: list[tuple[int, bytes]] = []
        with self._reading() as conn:
            if conn is not None:
                try:
                    rows = [(int(s), bytes(d)) for s, d in conn.execute(_SINCE, (seq, upto))]
                except sqlite3.Error as exc:
                    self._read_failed(exc)
        gap = not rows or rows[0][0] > seq + 1
        return gap, rows

    def undelivered(self, ttl: float, upto: int | None = None) -> list[tuple[int, bytes]]:
        """Scan events never marked delivered and younger than ``ttl`` seconds, in order."""
        cutoff = self._clock() - ttl
        upto = self._last_seq if upto is None else upto
        rows: list[tuple[int, bytes]] = []
        with self._reading() as conn:
            if conn is not None:
                try:
                    rows = [
                        (int(s), bytes(d)) for s, d in conn.execute(_UNDELIVERED, (cutoff, upto))
                    ]
                except sqlite3.Error as exc:
                    self._read_failed(exc)
        with self._rlock:
            if self._pending_delivered:
                pending = set(self._pending_delivered)
                rows = [row for row in rows if row[0] not in pending]
        return rows

    def seq_of(self, event_id: str) -> int | None:
        """The seq of the event with ``event_id``, or None when the journal does not
        hold it (pruned, from a lost journal, or never sent)."""
        with self._reading() as conn:
            if conn is None:
                return None
            try:
                row = conn.execute(
                    "SELECT seq FROM events WHERE event_id = ? LIMIT 1", (event_id,)
                ).fetchone()
                if row is None:  # rows written before the event_id column existed
                    row = conn.execute(
                        "SELECT seq FROM events WHERE event_id IS NULL AND data LIKE ? LIMIT 1",
                        (f'%"event_id":"{event_id}"%',),
                    ).fetchone()
            except sqlite3.Error as exc:
                self._read_failed(exc)
                return None
        return None if row is None else int(row[0])

    def last_seq(self) -> int:
        """The seq of the newest event stored (0 for a new journal)."""
        return self._last_seq

    # ------------------------------------------------------------------ pruning

    def prune(self) -> int:
        """Drop events beyond ``max_events`` / ``max_bytes`` (oldest first) or older
        than ``max_age``.  Returns the number of events removed."""
        with self._wlock:
            if not self._healthy or self._conn is None:
                return 0
            return self._prune()

    def _prune(self) -> int:
        conn = self._conn
        if conn is None:
            return 0
        removed = freed = 0
        try:
            with self._transaction(conn):
                cut = self._prune_cut(conn)
                if cut:
                    freed = conn.execute(
                        "SELECT coalesce(sum(length(data)), 0) FROM events WHERE seq <= ?", (cut,)
                    ).fetchone()[0]
                    removed = conn.execute("DELETE FROM events WHERE seq <= ?", (cut,)).rowcount
        except (sqlite3.Error, OSError) as exc:
            self._fail("prune", exc)
            return 0
        self._bytes -= int(freed)
        return removed

    def _prune_cut(self, conn: sqlite3.Connection) -> int:
        """The highest seq to delete so that age, count and bytes are within bounds."""
        cutoff = self._clock() - self.max_age
        # By age: creation times grow with seq, so walk from the oldest end.
        row = conn.execute(
            "SELECT seq FROM events WHERE created > ? ORDER BY seq LIMIT 1", (cutoff,)
        ).fetchone()
        cut = self._last_seq if row is None else int(row[0]) - 1
        # By count: cheap test first, exact cut only when it may be needed.
        lo, hi = conn.execute("SELECT min(seq), max(seq) FROM events").fetchone()
        if lo is not None and hi - lo + 1 > self.max_events:
            row = conn.execute(
                "SELECT seq FROM events ORDER BY seq DESC LIMIT 1 OFFSET ?", (self.max_events,)
            ).fetchone()
            if row is not None:
                cut = max(cut, int(row[0]))
        # By bytes: walk the oldest rows until enough is freed.
        excess = self._bytes - self.max_bytes
        if excess > 0:
            freed = conn.execute(
                "SELECT coalesce(sum(length(data)), 0) FROM events WHERE seq <= ?", (cut,)
            ).fetchone()[0]
            for seq, n in conn.execute(
                "SELECT seq, length(data) FROM events WHERE seq > ? ORDER BY seq", (cut,)
            ):
                if freed >= excess:
                    break
                cut = int(seq)
                freed += int(n)
        return cut

    # -------------------------------------------------------------------- stats

    def stats(self) -> dict[str, int]:
        """``events`` held, ``first_seq`` / ``last_seq`` (0 when none), ``bytes`` of
        events, ``file_bytes`` on disk (database plus WAL file; 0 in memory),
        ``healthy`` (1/0) and ``failures`` (failed writes so far)."""
        count = 0
        first = 0
        with self._reading() as conn:
            if conn is not None:
                try:
                    n, lo = conn.execute("SELECT count(*), min(seq) FROM events").fetchone()
                    count = int(n)
                    first = int(lo) if lo is not None else 0
                except sqlite3.Error:
                    pass
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
            "bytes": self._bytes,
            "file_bytes": size,
            "healthy": int(self._healthy),
            "failures": self.failures,
        }

    def close(self) -> None:
        """Close the database."""
        with self._wlock, self._rlock:
            if self._closed:
                return
            self._closed = True
            for conn in {id(c): c for c in (self._rconn, self._conn) if c is not None}.values():
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._conn = self._rconn = None
            self._release_ownership()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "memory" if self._path is None else str(self._path)
        return f"<Journal {where} last_seq={self._last_seq} healthy={self._healthy}>"
