"""The job-progress socket (Xpress Insight style), PROTOCOLS.md section 3."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from ..endpoint import Endpoint
from .service import (
    APP_MESSAGE_RESPONSE,
    ERROR,
    SUBSCRIBE,
    UPDATE_TOKEN,
    JobService,
    message,
    send,
)
from .tokens import Token, TokenError, refusal

if TYPE_CHECKING:
    from ..http import Request, Response
    from ..session import Session

log = logging.getLogger("scanbridge.jobs")

PATHS = ("/insightservices/ws/v1/compute/messages", "/api/compute-job-messages")

#: Close code when the token expires without UPDATE_TOKEN.
TOKEN_EXPIRED = 4001

#: An accepted upgrade whose connection never opened is forgotten after this long.
_PENDING_TTL = 60.0


class JobSocketEndpoint(Endpoint):
    """Authenticated on upgrade (JWT), ``connection-id`` on the 101, closed with
    4001 when its token expires, ERROR for anything it does not understand."""

    def __init__(self, service: JobService) -> None:
        self.service = service
        self.path = PATHS[0]
        # (listener, remote) -> (connection id, token, accepted at): the Request
        # of on_upgrade and the Session of on_connect are one TCP connection.
        self._pending: dict[tuple[int, tuple[str, int]], tuple[str, Token, float]] = {}
        self._warned_no_key = False

    # ---- lifecycle ----------------------------------------------------------

    def on_upgrade(self, request: Request) -> Response | list[tuple[str, str]] | None:
        try:
            token = self.service.auth.token(request)
        except TokenError as e:
            if e.reason == "no_key" and not self._warned_no_key:
                self._warned_no_key = True
                log.warning("job sockets refuse every upgrade: %s", e.message)
            return refusal(e)
        now = time.monotonic()
        if self._pending:
            for k in [k for k, v in self._pending.items() if now - v[2] > _PENDING_TTL]:
                del self._pending[k]
        cid = str(uuid.uuid4())
        self._pending[(request.listener, request.remote)] = (cid, token, now)
        return [("connection-id", cid)]

    def on_connect(self, session: Session) -> None:
        entry = self._pending.pop((session.listener, session.remote), None)
        if entry is None:  # cannot happen unless the App stops asking on_upgrade
            log.error("job socket %s opened without an accepted upgrade", session.id)
            _close(session, 1011, "no accepted upgrade for this connection")
            return
        cid, token, _ = entry
        session.data["connection_id"] = cid
        session.data["jobs"] = set()
        self.service.connections[cid] = session
        self._schedule_expiry(session, token)

    def on_close(self, session: Session, code: int, reason: str) -> None:
        timer = session.data.pop("expiry_timer", None)
        if timer is not None:
            timer.cancel()
        self.service.forget_session(session)

    def _schedule_expiry(self, session: Session, token: Token) -> None:
        old = session.data.pop("expiry_timer", None)
        if old is not None:
            old.cancel()
        expires = token.expires_at(self.service.config().token_max_age)
        session.data["token_expires"] = expires
        delay = max(expires - time.time(), 0.0)
        loop = asyncio.get_running_loop()
        session.data["expiry_timer"] = loop.call_later(delay, self._expire, session)

    def _expire(self, session: Session) -> None:
        session.data.pop("expiry_timer", None)
        if not session.closed:
            _close(session, TOKEN_EXPIRED, "token expired")

    # ---- messages -----------------------------------------------------------

    def on_binary(self, session: Session, data: bytes) -> None:
        _error(session, "BAD_MESSAGE", "binary messages are not supported; send JSON text")

    async def on_text(self, session: Session, text: str) -> None:
        try:
            msg = json.loads(text)
        except ValueError as e:
            _error(session, "BAD_JSON", f"message is not valid JSON: {e}")
            return
        if not isinstance(msg, dict):
            _error(session, "BAD_MESSAGE", "message must be a JSON object")
            return
        mtype = msg.get("messageType")
        payload = msg.get("messagePayload")
        if mtype == UPDATE_TOKEN:
            self._update_token(session, payload)
        elif mtype == SUBSCRIBE:
            self._subscribe(session, payload)
        elif mtype == APP_MESSAGE_RESPONSE:
            await self._app_message_response(session, msg, payload)
        elif not isinstance(mtype, str):
            _error(session, "BAD_MESSAGE", "message has no string messageType")
        else:
            _error(
                session,
                "UNKNOWN_MESSAGE_TYPE",
                f"unknown messageType {mtype!r} (expected {UPDATE_TOKEN}, {SUBSCRIBE} "
                f"or {APP_MESSAGE_RESPONSE})",
                messageType=mtype,
            )

    def _update_token(self, session: Session, payload: Any) -> None:
        raw = payload.get("token") if isinstance(payload, dict) else None
        if not isinstance(raw, str) or not raw:
            _error(
                session,
                "INVALID_TOKEN",
                "UPDATE_TOKEN needs messagePayload.token (a JWT)",
                reason="missing",
            )
            return
        try:
            token = self.service.verifier.verify(raw)
        except TokenError as e:
            _error(session, "INVALID_TOKEN", e.message, reason=e.reason)
            return
        self._schedule_expiry(session, token)

    def _subscribe(self, session: Session, payload: Any) -> None:
        subs = payload.get("subscriptions") if isinstance(payload, dict) else None
        if not isinstance(subs, list):
            _error(session, "BAD_MESSAGE", "SUBSCRIBE needs messagePayload.subscriptions (a list)")
            return
        for i, sub in enumerate(subs):
            where = f"subscriptions[{i}]"
            if not isinstance(sub, dict) or not isinstance(sub.get("computeJobId"), str):
                _error(session, "BAD_MESSAGE", f"{where} needs a string computeJobId")
                continue
            job_id = sub["computeJobId"]
            last_line = _count(sub.get("lastRunLogLine", 0))
            last_msg = _count(sub.get("lastAppMessageId", 0))
            if last_line is None or last_msg is None:
                _error(
                    session,
                    "BAD_MESSAGE",
                    f"{where}: lastRunLogLine and lastAppMessageId must be integers >= 0",
                    job_id,
                )
                continue
            job = self.service.get(job_id)
            if job is None:
                _error(session, "UNKNOWN_JOB", f"no compute job {job_id!r}", job_id)
                continue
            self.service.subscribe(session, job, last_line, last_msg)

    async def _app_message_response(self, session: Session, msg: dict, payload: Any) -> None:
        job_id = msg.get("computeJobId")
        if job_id is None and isinstance(payload, dict):
            job_id = payload.get("computeJobId")
        if not isinstance(job_id, str):
            _error(session, "BAD_MESSAGE", "APP_MESSAGE_RESPONSE needs a computeJobId")
            return
        if self.service.get(job_id) is None:
            _error(session, "UNKNOWN_JOB", f"no compute job {job_id!r}", job_id)
            return
        await self.service.app_message_response(job_id, payload, session)


def _count(v: Any) -> int | None:
    if v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        return None
    return v


def _error(session: Session, code: str, text: str, job_id: str | None = None, **extra: Any) -> None:
    send(session, message(ERROR, {"code": code, "message": text, **extra}, job_id))


def _close(session: Session, code: int, reason: str) -> None:
    session.close_nowait(code, reason)
