"""Endpoints: a class whose callbacks see one path's WebSocket sessions."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Generator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeAlias

    from .http import Request, Response
    from .session import Session

    #: What on_upgrade decides: accept (None), accept with these headers, or refuse.
    UpgradeAnswer: TypeAlias = Response | list[tuple[str, str]] | None

log = logging.getLogger("scanbridge.endpoint")


class _Nothing:
    """What the default callbacks return: an awaitable that is already done.

    An override may call them either way, ``super().on_text(s, t)`` or
    ``await super().on_text(s, t)`` (the defaults were ``async def`` once);
    the dispatcher knows this object and neither awaits it nor spawns a task
    for it. One instance, reusable: awaiting it yields nothing and gives None.
    """

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        return
        yield  # a generator that finishes at once

    def __repr__(self) -> str:
        return "scanbridge.endpoint.NOTHING"


#: The already-done awaitable the default callbacks return.
NOTHING: Awaitable[None] = _Nothing()


class Endpoint:
    """Subclass and override what you need; each callback may be sync or async.

    One instance serves every session of its path. Callbacks for one session
    run in order: the next starts when the previous (async) one finished.

    The session callbacks are typed ``-> Awaitable[None] | None`` because the
    dispatcher awaits whatever awaitable they return and accepts None: an
    override may be a plain ``def`` or an ``async def``. The defaults do
    nothing and return ``NOTHING``, an awaitable that is already done: an
    override may ``await super().on_text(...)`` or call it plainly, and the
    dispatcher spawns no task for it.
    """

    path: str = ""

    def on_upgrade(self, request: Request) -> UpgradeAnswer | Awaitable[UpgradeAnswer]:
        """Decide on an upgrade before the 101 (auth, extra response headers).

        Return None to accept, a list of headers to accept with them, or a
        Response to refuse. May be async. Only endpoints that override it
        are asked (the others are accepted in Rust).
        """
        return None

    def on_connect(self, session: Session) -> Awaitable[None] | None:
        return NOTHING

    def on_text(self, session: Session, text: str) -> Awaitable[None] | None:
        return NOTHING

    def on_binary(self, session: Session, data: bytes) -> Awaitable[None] | None:
        return NOTHING

    def on_close(self, session: Session, code: int, reason: str) -> Awaitable[None] | None:
        return NOTHING

    def on_error(self, session: Session, exc: BaseException) -> Awaitable[None] | None:
        log.error("error in endpoint %s, session %s: %r", self.path, session.id, exc, exc_info=exc)
        return NOTHING
