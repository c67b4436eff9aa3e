"""Endpoints: a class whose callbacks see one path's WebSocket sessions."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeAlias

    from .http import Request, Response
    from .session import Session

    #: What on_upgrade decides: accept (None), accept with these headers, or refuse.
    UpgradeAnswer: TypeAlias = Response | list[tuple[str, str]] | None

log = logging.getLogger("scanbridge.endpoint")


class Endpoint:
    """Subclass and override what you need; each callback may be sync or async.

    One instance serves every session of its path. Callbacks for one session
    run in order: the next starts when the previous (async) one finished.

    The session callbacks are typed ``-> Awaitable[None] | None`` because the
    dispatcher awaits whatever awaitable they return and accepts None: an
    override may be a plain ``def`` or an ``async def``. The defaults here are
    plain functions that do nothing (nothing to await, no task spawned).
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
        return None

    def on_text(self, session: Session, text: str) -> Awaitable[None] | None:
        return None

    def on_binary(self, session: Session, data: bytes) -> Awaitable[None] | None:
        return None

    def on_close(self, session: Session, code: int, reason: str) -> Awaitable[None] | None:
        return None

    def on_error(self, session: Session, exc: BaseException) -> Awaitable[None] | None:
        log.error("error in endpoint %s, session %s: %r", self.path, session.id, exc, exc_info=exc)
        return None
