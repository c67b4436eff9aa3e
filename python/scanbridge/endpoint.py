"""Endpoints: a class whose callbacks see one path's WebSocket sessions."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .http import Request, Response
    from .session import Session

log = logging.getLogger("scanbridge.endpoint")


class Endpoint:
    """Subclass and override what you need; each callback may be sync or async.

    One instance serves every session of its path. Callbacks for one session
    run in order: the next starts when the previous (async) one finished.
    """

    path: str = ""

    def on_upgrade(self, request: Request) -> Response | list[tuple[str, str]] | None:
        """Decide on an upgrade before the 101 (auth, extra response headers).

        Return None to accept, a list of headers to accept with them, or a
        Response to refuse. May be async. Only endpoints that override it
        are asked (the others are accepted in Rust).
        """
        return None

    async def on_connect(self, session: Session) -> Any:
        return None

    async def on_text(self, session: Session, text: str) -> Any:
        return None

    async def on_binary(self, session: Session, data: bytes) -> Any:
        return None

    async def on_close(self, session: Session, code: int, reason: str) -> Any:
        return None

    async def on_error(self, session: Session, exc: BaseException) -> Any:
        log.error("error in endpoint %s, session %s: %r", self.path, session.id, exc, exc_info=exc)
