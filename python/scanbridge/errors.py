"""scanbridge's exceptions: one base class, typed subclasses.

Catch :class:`ScanbridgeError` for anything scanbridge raises on purpose.
"""

from __future__ import annotations

__all__ = [
    "DeflateError",
    "EventTooLarge",
    "JournalError",
    "JournalUnavailable",
    "QueueFull",
    "RoomError",
    "ScanRefused",
    "ScanbridgeError",
    "TlsConfigError",
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


# Raised by the Rust core (scanbridge._core imports these classes: they are
# defined here only).


class QueueFull(ScanbridgeError):
    """A message did not fit a connection's outbound queue (``max_queue_bytes``):
    it was not queued, and the core closes that connection with 1008."""


class TlsConfigError(ScanbridgeError, ValueError):
    """A certificate or private key cannot be used (unreadable file, not PEM, no
    certificate, no key, key not matching the certificate): the message says
    which file or value and what is wrong."""


class DeflateError(ScanbridgeError, ValueError):
    """permessage-deflate failed: a server's extension response breaks RFC 7692
    (the client must fail the connection), or data does not (de)compress."""


class RoomError(ScanbridgeError, ValueError):
    """A room operation was given something it cannot publish (a message that
    is not one JSON value)."""
