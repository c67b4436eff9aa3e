"""The narrow handle subsystems get to the Rust core, instead of the whole App.

Every call that queues bytes schedules its own flush (one ``flush`` per loop
iteration, however many calls), so a subsystem cannot forget it.  A handle
outlives a stop and a restart of the core: calls made while no core runs do
nothing (and say so in their return value).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from . import _core

__all__ = ["CoreHandle", "CoreQueries"]


class CoreQueries(Protocol):
    """What a subsystem may ask the running core without changing it (the
    admin page, /metrics): ``CoreHandle.queries``. ``_core.Server`` has these."""

    def stats(self) -> dict[str, int]: ...
    def connection_ids(self) -> list[int]: ...
    def connection_info(self, conn: int) -> dict[str, Any] | None: ...
    def connection_count(self) -> int: ...
    def endpoint_paths(self) -> list[str]: ...
    def rooms(self) -> list[tuple[str, int]]: ...
    def rooms_of(self, conn: int) -> list[str]: ...
    def namespace_rooms(self, namespace: str) -> list[tuple[str, list[str]]]: ...
    def room_member_names(self, namespace: str, room: str) -> list[str]: ...


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
    def queries(self) -> CoreQueries | None:
        """The running core, for questions only (stats, connections, rooms), or None.
        Each run is another object: compare it to tell a restart."""
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

    def publish_event(
        self, namespace: str, room: str, sender: str, message: str, exclude: int | None = None
    ) -> int:
        """``["EVENT", {sender, room, message}]`` to a room of a namespace
        (``message`` is JSON text), but ``exclude``; returns how many members
        it was queued to (0 when no core runs)."""
        core = self._core()
        if core is None:
            return 0
        delivered, _ = core.publish_event(namespace, room, sender, message, exclude=exclude)
        self.flush_soon()
        return int(delivered)

    def room_member_names(self, namespace: str, room: str) -> list[str]:
        core = self._core()
        return [] if core is None else list(core.room_member_names(namespace, room))

    def reply_clients(self, conn: int, namespace: str, room: str, names: list[str]) -> bool:
        """Answer a CLIENTS of ``conn`` with ``names`` (encoded and framed by the core)."""
        core = self._core()
        if core is None or not core.reply_clients(conn, namespace, room, names):
            return False
        self.flush_soon()
        return True

    def set_backplane(self, on: bool) -> bool:
        """Report room traffic for a backplane (RoomForward/Membership/Clients events)."""
        core = self._core()
        if core is None:
            return False
        core.set_backplane(on)
        return True

    def accept(self, conn: int, headers: list[tuple[str, str]]) -> list[_core.Event]:
        """Accept an upgrade that was asked about (with extra response headers);
        returns the events that follow at once (its OpenEvent)."""
        core = self._core()
        if core is None:
            return []
        _, events = core.accept(conn, headers)
        self.flush_soon()
        return events

    def respond(self, conn: int, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """Answer an HTTP request (or refuse an upgrade) with a response."""
        core = self._core()
        if core is not None:
            core.respond(conn, status, headers, body)
            self.flush_soon()
