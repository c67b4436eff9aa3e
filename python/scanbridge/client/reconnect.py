"""Reconnecting a client session: a new connection after an exponential
backoff with jitter (:func:`~scanbridge.retry.backoff_delay`), until one opens,
the session closes or ``max_retries`` attempts failed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..retry import backoff_delay
from .errors import HandshakeError
from .handshake import open_connection
from .options import Options
from .protocol import Connection

__all__ = ["reopen"]

log = logging.getLogger("scanbridge.client")


async def reopen(
    opts: Options, session_id: str, closing: Callable[[], bool], wake: asyncio.Event
) -> Connection | None:
    """A new connection for the session ``session_id``, or None when it gave up
    or ``closing()`` became true (``wake`` is set then, to cut a backoff short)."""
    attempt = 0
    while not closing():
        if opts.max_retries is not None and attempt >= opts.max_retries:
            log.warning(
                "client session %s: giving up on %s after %d attempts",
                session_id,
                opts.url,
                attempt,
            )
            return None
        delay = backoff_delay(attempt, opts.backoff_base, opts.backoff_cap)
        attempt += 1
        try:
            async with asyncio.timeout(delay):
                await wake.wait()
        except TimeoutError:
            pass
        if closing():
            return None
        try:
            conn = await open_connection(opts)
        except (OSError, HandshakeError, TimeoutError) as e:
            log.info(
                "client session %s: reconnect %d to %s failed: %s",
                session_id,
                attempt,
                opts.url,
                e,
            )
            continue
        if closing():
            await conn.close(1000, "", opts.close_timeout)
            return None
        return conn
    return None
