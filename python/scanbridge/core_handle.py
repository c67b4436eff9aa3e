"""The narrow handle subsystems get to the Rust core, instead of the whole App.

Every call that queues bytes schedules its own flush (one ``flush`` per loop
iteration, however many calls), so a subsystem cannot forget it.  A handle
outlives a stop and a restart of the core: calls made while no core runs do
nothing (and say so in their return value).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import _core

__all__ = ["CoreHandle"]


class CoreHandle:
    """Send, close, join and publish through the running core (see the module doc)."""

    __slots__ = ("_core", "_flush_scheduled", "_loop")

    def __init__(
        self,
        core: Callable[[], _core.Server | None],
        loop: Callable[[], asyncio.AbstractEventLoop | None],
    ) -> None:
        self._core = core
        self._loop = loop
        self._flush_scheduled = False

    @property
    def running(self) -> bool:
        return self._core() is not None

    @property
    def server(self) -> _core.Server | None:
        """The running core for read-only queries (stats, connections, rooms), or None."""
        return self._core()

    def flush_soon(self) -> None:
        """Write what was queued, once, at the end of this loop iteration."""
        loop = self._loop()
        if not self._flush_scheduled and loop is not None:
            self._flush_scheduled = True
            loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        core = self._core()
        if core is not None:
            core.flush()

    def send(self, conn: int, data: str | bytes) -> bool:
        """Queue a message to one connection; False if it is gone (or its queue full)."""
        core = self._core()
        if core is None:
            return False
        ok = core.send(conn, data)
        self.flush_soon()
        return ok

    def close(self, conn: int, code: int, reason: str) -> None:
        core = self._core()
        if core is not None:
            core.close(conn, code, reason)
            self.flush_soon()

    def join(self, conn: int, room: str) -> None:
        core = self._core()
        if core is not None:
            core.join(conn, room)

    def publish(self, room: str, text: str) -> int:
        """Send ``text`` to every member of ``room`` (framed once); returns how many
        members it was queued to (0 when no core runs)."""
        core = self._core()
        if core is None:
            return 0
        delivered, _ = core.publish(room, text)
        self.flush_soon()
        return int(delivered)

    def consumed(self, conn: int, nbytes: int) -> None:
        """Python is done with one message of ``conn``: the core may read more of it."""
        core = self._core()
        if core is not None:
            core.consumed(conn, nbytes)
