"""scanbridge's exceptions: one base class, typed subclasses.

Catch :class:`ScanbridgeError` for anything scanbridge raises on purpose.
"""

from __future__ import annotations

__all__ = [
    "EventTooLarge",
    "JournalError",
    "JournalUnavailable",
    "ScanRefused",
    "ScanbridgeError",
]


class ScanbridgeError(Exception):
    """Base class of every error scanbridge raises on purpose."""


class JournalError(ScanbridgeError):
    """The journal cannot be used: ``path`` and ``reason`` say where and why.

    Raised at start for an unusable journal path (a directory, below a regular
    file, read-only, unwritable); the server then refuses to start.
    """

    def __init__(self, path: object, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"journal {path}: {reason}")


class JournalUnavailable(JournalError):
    """An append failed (disk full, I/O error, read-only): nothing was stored.

    The event got no seq and must not be acknowledged (``POST /api/scans``
    answers 503).  ``reason`` is SQLite's own error text.
    """


class EventTooLarge(JournalError):
    """An event is larger than the journal accepts (a share of ``journal_max_bytes``)."""


class ScanRefused(ScanbridgeError):
    """A scan that cannot be published as it is (an empty code, or one over 2000
    characters: refused where it enters, never cut)."""
