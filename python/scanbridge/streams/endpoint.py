"""The Streams API WebSocket endpoint at `/` and `/streams`."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from ..auth import request_token
from ..endpoint import Endpoint
from ..http import Request, Response
from ..session import Session
from . import messages as m

if TYPE_CHECKING:
    from .service import StreamsService


class StreamsEndpoint(Endpoint):
    def __init__(self, service: StreamsService) -> None:
        self.service = service
        # Without a token the core accepts upgrades without asking Python.
        self.asks_upgrade = service.config.token is not None

    def on_upgrade(self, request: Request) -> Response | None:
        expected = self.service.config.token
        given = request_token(request)
        if expected is not None and (
            given is None or not hmac.compare_digest(given.encode(), expected.encode())
        ):
            return Response.json(
                {"error": "a valid token is required (Authorization: Bearer, ?token= or Basic)"},
                401,
            )
        return None

    def on_connect(self, session: Session) -> None:
        # Synchronous on purpose: replay and joining the live room happen
        # in one step, so no event falls between them.
        self.service.connect(session)

    async def on_text(self, session: Session, text: str) -> None:
        await self.service.command(session, text)

    async def on_binary(self, session: Session, data: bytes) -> None:
        await session.send_text(
            m.encode(
                m.error_event(
                    None, "ERROR_INVALID_COMMAND", "commands are JSON text messages, not binary"
                )
            ).decode()
        )
