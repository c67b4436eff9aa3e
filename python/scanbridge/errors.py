"""scanbridge's exceptions: one base class, typed subclasses.

Catch :class:`ScanbridgeError` for anything scanbridge raises on purpose.
The classes here are the ones raised across subsystems (and by the Rust core);
an exception that belongs to one subsystem is defined there and derives from
:class:`ScanbridgeError` too: ``session.SessionClosed``,
``client.HandshakeError`` / ``ConnectionClosed``, ``http.HTTPError``,
``auth.CredentialError``, ``jobs.TokenError`` / ``JobError`` / ``UnknownJob``,
``streams.messages.CommandError``, ``scanners.ble.BleUnavailable``.
(tests/test_errors.py checks that no exception class is left out.)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConfigError",
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


# ------------------------------------------------------------ configuration

_MAX_VALUE_REPR = 200


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


def _one_line(text: str) -> str:
    return " ".join(text.split("\n")).replace("\r", " ")


def _value_repr(value: object) -> str:
    text = repr(value)
    if len(text) > _MAX_VALUE_REPR:
        text = text[: _MAX_VALUE_REPR - 3] + "..."
    return _one_line(text)


class ConfigError(ScanbridgeError, ValueError):
    """A bad configuration value, file or key.

    ``str(err)`` is one line, e.g. ``config error: port=80 (from --port) is not
    allowed: must be an integer in [1024, 65535] (or 0 to pick a free port)``.
    """

    def __init__(
        self,
        problem: str,
        *,
        key: str | None = None,
        value: object = _MISSING,
        source: str | None = None,
    ) -> None:
        self.problem = problem
        self.key = key
        self.value = value
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        text = "config error: "
        if self.key is not None:
            text += self.key
            if self.value is not _MISSING:
                text += "=" + _value_repr(self.value)
            if self.source:
                text += f" (from {self.source})"
            text += " "
        return _one_line(text + self.problem)

    def __str__(self) -> str:
        return self._render()

    def within(self, *, prefix: str = "", source: str | None = None) -> ConfigError:
        """The same error with ``prefix`` before its key and ``source`` if it had none."""
        return ConfigError(
            self.problem,
            key=None if self.key is None else prefix + self.key,
            value=self.value,
            source=self.source or source,
        )
