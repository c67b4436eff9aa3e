"""ConfigError: every configuration problem, as one line naming the key, the
value, where it came from and what is allowed. Defined in
:mod:`scanbridge.errors` with the other exceptions; named here for the
configuration modules."""

from ..errors import ConfigError

__all__ = ["ConfigError"]
