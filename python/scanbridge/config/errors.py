"""ConfigError: every configuration problem, as one line naming the key, the
value, where it came from and what is allowed."""

from typing import Any

from ..errors import ScanbridgeError

__all__ = ["ConfigError"]

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

    def within(self, *, prefix: str = "", source: str | None = None) -> "ConfigError":
        """The same error with ``prefix`` before its key and ``source`` if it had none."""
        return ConfigError(
            self.problem,
            key=None if self.key is None else prefix + self.key,
            value=self.value,
            source=self.source or source,
        )
