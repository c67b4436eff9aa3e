"""Journal appends off the event loop, with group commit and a bounded hold buffer.

The :class:`JournalWriter` owns one thread.  The event loop submits events
(:meth:`~JournalWriter.submit`); the thread takes every request queued so far
and appends them in one transaction (group commit: one WAL sync for the whole
batch), then hands the stored events back to the loop in seq order
(``on_stored``), where they are sent.  So "journaled, then sent" holds, and a
slow disk delays only the events that wait for it, never the sockets.

When the journal cannot store (disk full, I/O error, read-only remount):

* a request with ``hold=False`` (``POST /api/scans``, which can answer) fails
  at once with :class:`~scanbridge.errors.JournalUnavailable`: never a 2xx;
* a request with ``hold=True`` (a physical scanner, which cannot be asked to
  scan again) is kept in a bounded buffer (``hold_max_events`` /
  ``hold_max_bytes``; past the bound the newest are refused and counted) and
  retried every ``retry_interval`` seconds and before every new request; it
  is stored and sent, in its order, as soon as the journal can store again.

``on_health(ok, reason)`` is called on the loop at each change between
storing and failing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import EventTooLarge, JournalError, JournalUnavailable
from .journal import Journal

__all__ = ["JournalWriter", "Stored"]

log = logging.getLogger("scanbridge.journal")

#: Requests appended in one transaction at most.
MAX_BATCH = 512


@dataclass(slots=True)
class _Request:
    event: dict[str, Any]
    hold: bool
    token: Any
    future: asyncio.Future[tuple[int, bytes]] | None
    size: int = 0


@dataclass(slots=True)
class Stored:
    """An event the journal stored: what the loop sends."""

    seq: int
    data: bytes
    event: dict[str, Any]
    token: Any


@dataclass(slots=True)
class _Outcome:
    stored: list[tuple[_Request, Stored]] = field(default_factory=list)
    failed: list[tuple[_Request, JournalError]] = field(default_factory=list)


class JournalWriter:
    """Appends to ``journal`` on its own thread (see the module doc)."""

    def __init__(
        self,
        journal: Journal,
        *,
        loop: asyncio.AbstractEventLoop,
        on_stored: Callable[[list[Stored]], None],
        on_health: Callable[[bool, str], None] = lambda ok, reason: None,
        hold_max_events: int = 10_000,
        hold_max_bytes: int = 16 * 1024 * 1024,
        retry_interval: float = 1.0,
    ) -> None:
        self.journal = journal
        self._loop = loop
        self._on_stored = on_stored
        self._on_health = on_health
        self.hold_max_events = hold_max_events
        self.hold_max_bytes = hold_max_bytes
        self.retry_interval = retry_interval
        self._cond = threading.Condition()
        self._queue: deque[_Request] = deque()
        self._marks: list[int] = []
        self._prune_due = False
        self._held: deque[_Request] = deque()
        self._held_bytes = 0
        self._stopping = False
        self._failing = False
        self._next_retry = 0.0
        #: Scanner events refused because the hold buffer was full.
        self.held_dropped = 0
        #: Requests answered with JournalUnavailable (e.g. POST /api/scans -> 503).
        self.refused = 0
        #: Events stored so far, and transactions used for them.
        self.stored = 0
        self.commits = 0
        self._thread = threading.Thread(target=self._run, name="scanbridge-journal", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------- loop side

    @property
    def healthy(self) -> bool:
        """False while the journal cannot store (also while events are held)."""
        return not self._failing

    @property
    def held_events(self) -> int:
        return len(self._held)

    @property
    def held_bytes(self) -> int:
        return self._held_bytes

    def submit(
        self, event: dict[str, Any], *, hold: bool, token: Any = None
    ) -> asyncio.Future[tuple[int, bytes]]:
        """Queue ``event``; the future gets (seq, bytes) once it is stored and handed
        to ``on_stored``, or a :class:`JournalError` (with ``hold=True`` only when
        the hold buffer is full)."""
        fut: asyncio.Future[tuple[int, bytes]] = self._loop.create_future()
        req = _Request(event, hold, token, fut)
        with self._cond:
            if self._stopping:
                fut.set_exception(JournalUnavailable(self.journal.path, "the server is stopping"))
                return fut
            self._queue.append(req)
            self._cond.notify()
        return fut

    def mark_delivered(self, seqs: list[int]) -> None:
        """Record delivery: hidden from replays at once, stored on the thread."""
        self.journal.note_delivered(seqs)
        with self._cond:
            self._marks.extend(seqs)
            self._cond.notify()

    def prune(self) -> None:
        with self._cond:
            self._prune_due = True
            self._cond.notify()

    def stats(self) -> dict[str, int]:
        return {
            "held_events": len(self._held),
            "held_bytes": self._held_bytes,
            "held_dropped": self.held_dropped,
            "refused": self.refused,
            "stored": self.stored,
            "commits": self.commits,
        }

    async def close(self, timeout: float = 5.0) -> None:
        """Store what is queued (one last try for held events), then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        await asyncio.to_thread(self._thread.join, timeout)
        await asyncio.sleep(0)  # run the last deliveries the thread scheduled
        if self._thread.is_alive():
            log.error("journal writer did not stop within %.1f s", timeout)
        if self._held:
            log.critical(
                "journal: %d scanner events could not be stored before the stop and are lost",
                len(self._held),
            )

    # ----------------------------------------------------------- thread side

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    retry_due = bool(self._held) and time.monotonic() >= self._next_retry
                    if self._queue or self._marks or self._prune_due or retry_due:
                        break
                    if self._stopping:
                        return
                    wait = None
                    if self._held:
                        wait = max(0.0, self._next_retry - time.monotonic())
                    self._cond.wait(wait)
                reqs = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
                marks, self._marks = self._marks, []
                prune, self._prune_due = self._prune_due, False
                stopping = self._stopping
            try:
                if reqs or self._held:
                    self._append(reqs, final=stopping and not self._queue)
                if marks:
                    self.journal.mark_delivered(marks)
                if prune:
                    self.journal.prune()
            except Exception:  # a bug, not a storage failure: keep the thread alive
                log.exception("journal writer failed")
                for r in reqs:
                    self._finish(r, JournalUnavailable(self.journal.path, "internal error"))

    def _append(self, reqs: list[_Request], *, final: bool) -> None:
        reqs = self._check_sizes(reqs)
        held_attempt = bool(self._held) and (
            bool(reqs) or time.monotonic() >= self._next_retry or final
        )
        batch = (list(self._held) if held_attempt else []) + reqs
        if not held_attempt and self._held:
            # Held events go first: a new event must not overtake them.  Until
            # the retry is due, new events join the hold (or are refused).
            self._refuse_or_hold(reqs, JournalUnavailable(self.journal.path, self._reason()))
            return
        if not batch:
            return
        outcome = _Outcome()
        try:
            results = self.journal.append_many([r.event for r in batch])
        except JournalUnavailable as exc:
            self._failed(exc, reqs, outcome)
        else:
            self.commits += 1
            for r, (seq, data) in zip(batch, results, strict=True):
                self._stored_one(r, seq, data, outcome)
            if self._failing:
                self._failing = False
                self._loop.call_soon_threadsafe(self._on_health, True, "")
        if outcome.stored or outcome.failed:
            self._loop.call_soon_threadsafe(self._deliver, outcome)

    def _stored_one(self, r: _Request, seq: int, data: bytes, outcome: _Outcome) -> None:
        if self._held and self._held[0] is r:
            self._held.popleft()
            self._held_bytes -= r.size
        self.stored += 1
        outcome.stored.append((r, Stored(seq, data, r.event, r.token)))

    def _check_sizes(self, reqs: list[_Request]) -> list[_Request]:
        """Refuse events larger than the journal takes, before they join a batch."""
        limit = self.journal.max_event_bytes - 24  # room for the seq
        ok: list[_Request] = []
        for r in reqs:
            size = len(self.journal.encode(dict(r.event), 0))
            if size > limit:
                self._finish(
                    r,
                    EventTooLarge(
                        self.journal.path,
                        f"an event of {size} bytes is larger than the "
                        f"{self.journal.max_event_bytes} bytes one event may take",
                    ),
                )
            else:
                ok.append(r)
        return ok

    def _reason(self) -> str:
        return self.journal.last_error or "the journal cannot store"

    def _failed(self, exc: JournalUnavailable, reqs: list[_Request], outcome: _Outcome) -> None:
        self._next_retry = time.monotonic() + self.retry_interval
        if not self._failing:
            self._failing = True
            self._loop.call_soon_threadsafe(self._on_health, False, exc.reason)
        self._refuse_or_hold(reqs, exc, outcome)

    def _refuse_or_hold(
        self, reqs: list[_Request], exc: JournalError, outcome: _Outcome | None = None
    ) -> None:
        out = outcome if outcome is not None else _Outcome()
        for r in reqs:
            if r.hold:
                r.size = _approx_size(r.event)
                if (
                    len(self._held) < self.hold_max_events
                    and self._held_bytes + r.size <= self.hold_max_bytes
                ):
                    if not self._held:
                        log.critical(
                            "journal cannot store (%s): scanner events are held in memory "
                            "(at most %d events / %d bytes) and stored when it can again",
                            exc.reason,
                            self.hold_max_events,
                            self.hold_max_bytes,
                        )
                    self._held.append(r)
                    self._held_bytes += r.size
                    continue
                self.held_dropped += 1
                if self.held_dropped == 1 or self.held_dropped % 1000 == 0:
                    log.critical(
                        "journal hold buffer is full: %d scanner events refused so far",
                        self.held_dropped,
                    )
            else:
                self.refused += 1
            out.failed.append((r, exc))
        if outcome is None and out.failed:
            self._loop.call_soon_threadsafe(self._deliver, out)

    def _finish(self, r: _Request, exc: JournalError) -> None:
        self._loop.call_soon_threadsafe(self._deliver, _Outcome(failed=[(r, exc)]))

    # --------------------------------------------------------- back on loop

    def _deliver(self, outcome: _Outcome) -> None:
        if outcome.stored:
            try:
                self._on_stored([s for _, s in outcome.stored])
            finally:
                for r, s in outcome.stored:
                    if r.future is not None and not r.future.done():
                        r.future.set_result((s.seq, s.data))
        for r, exc in outcome.failed:
            if r.future is not None and not r.future.done():
                r.future.set_exception(exc)
                if r.hold:
                    r.future.exception()  # nobody awaits a held scan's future: no warning


def _approx_size(event: dict[str, Any]) -> int:
    """Memory an event held in the buffer takes, roughly (its text plus overhead)."""
    n = 200
    for v in event.values():
        if isinstance(v, str | bytes):
            n += len(v) + 50
        else:
            n += 50
    return n
