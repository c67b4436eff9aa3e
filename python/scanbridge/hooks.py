"""One way to run user hooks (sync or async functions): every hook runner uses it.

A hook that raises is logged with its traceback and counted as "no opinion";
it never stops the caller.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

__all__ = ["call_hook"]

_FAILED = object()


async def call_hook(hook: Callable[..., Any], *args: Any, log: logging.Logger, what: str) -> Any:
    """Call ``hook(*args)``, awaiting its result if it is awaitable; returns the
    result, or :data:`FAILED` after logging ``"<what> hook <hook> failed"``."""
    try:
        result = hook(*args)
        if inspect.isawaitable(result):
            result = await result
    except Exception:
        log.exception("%s hook %r failed", what, hook)
        return FAILED
    return result


FAILED = _FAILED
"""What :func:`call_hook` returns when the hook raised (it was logged)."""
