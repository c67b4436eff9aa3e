"""The listening ports of a server: the main one, ``[[ports]]`` and the admin port.

:class:`Listeners` opens them on the core, names them by alias (the admin API
enables and disables them), moves the main one to another port at run time
(configuration barcodes) and turns a port that cannot be opened into the
one-line :class:`~scanbridge.config.ConfigError` of :func:`listen_error`.
"""

from __future__ import annotations

import errno
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import _core
from .config import ConfigError

if TYPE_CHECKING:
    from .config import PortConfig

__all__ = ["ListenerInfo", "Listeners", "listen_error"]

log = logging.getLogger("scanbridge")

_OS_ERROR_RE = re.compile(r"\s*\(os error (\d+)\)$")


@dataclass(slots=True)
class ListenerInfo:
    """A listening port as the admin API shows it."""

    alias: str
    host: str
    port: int
    tls: bool
    enabled: bool


def listen_error(
    exc: Exception, host: str, port: int, *, host_key: str = "host", port_key: str = "port"
) -> ConfigError:
    """The one-line :class:`ConfigError` for a listener that cannot be opened
    (the core's ``OSError``/``ValueError``, or a Python ``OSError``)."""
    if isinstance(exc, ValueError):  # not an IP address
        return ConfigError(
            "is not an IP address: listen on one of this host's addresses "
            "(127.0.0.1, ::1, 0.0.0.0 for all, or localhost)",
            key=host_key,
            value=host,
        )
    text = str(exc)
    code = getattr(exc, "errno", None)
    m = _OS_ERROR_RE.search(text)
    if m:
        code = int(m.group(1))
        text = text[: m.start()]
    reason = getattr(exc, "strerror", None) or text.rsplit(": ", 1)[-1]
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if code == errno.EADDRINUSE:
        return ConfigError(
            f"is in use: cannot listen on {where}: {reason}; stop what listens there "
            "or choose another port (0 picks a free one)",
            key=port_key,
            value=port,
        )
    if code == errno.EADDRNOTAVAIL:
        return ConfigError(
            f"is not an address of this host: cannot listen on {where}: {reason}; "
            "use one of its addresses (127.0.0.1, ::1, or 0.0.0.0 for all)",
            key=host_key,
            value=host,
        )
    return ConfigError(f"cannot listen on {where}: {reason}", key=port_key, value=port)


class Listeners:
    """The listeners of one server, by the core's listener id."""

    def __init__(self, host: str, port: int) -> None:
        #: listener id -> what the admin API shows.
        self.info: dict[int, ListenerInfo] = {}
        #: The main listener's address (the configured one until it is bound).
        self.host = host
        self.port = port
        self._pems: tuple[bytes, bytes] | None = None

    def open_main(
        self,
        core: _core.Server,
        host: str,
        port: int,
        pems: tuple[bytes, bytes] | None,
        *,
        reuse_port: bool = False,
    ) -> None:
        """Open the main listener (alias ``default``)."""
        kw: dict[str, Any] = {"reuse_port": reuse_port}
        if pems:
            kw.update(cert_pem=pems[0], key_pem=pems[1])
        try:
            lid, bound_host, bound_port = core.listen(host, port, **kw)
        except (OSError, ValueError) as e:
            raise listen_error(e, host, port) from None
        self._pems = pems
        self.info = {lid: ListenerInfo("default", bound_host, bound_port, bool(pems), True)}
        self.host, self.port = bound_host, bound_port

    def open_port(self, core: _core.Server, index: int, pc: PortConfig) -> None:
        """Open one ``[[ports]]`` listener (index -1: the admin port), closed again
        at once when not enabled."""
        kw: dict[str, Any] = {}
        if pc.ssl_certfile and pc.ssl_keyfile:
            try:
                kw["cert_pem"], kw["key_pem"] = _core.load_pem_files(
                    pc.ssl_certfile, pc.ssl_keyfile
                )
            except (OSError, ValueError) as e:
                raise ConfigError(
                    f"cannot be used: {e}",
                    key=f"ports[{index}].ssl_certfile",
                    value=pc.ssl_certfile,
                ) from None
        elif pc.https:
            cert, key, fp = _core.self_signed_cert(
                sorted({"localhost", "127.0.0.1", "::1", pc.host})
            )
            kw["cert_pem"], kw["key_pem"] = cert.encode(), key.encode()
            log.warning("port %s: self-signed certificate, SHA-256 fingerprint %s", pc.alias, fp)
        if pc.access == "deny":
            kw["allow"] = list(pc.allow)
        elif pc.deny:
            kw["deny"] = list(pc.deny)
        if pc.idle_timeout:
            kw["idle_timeout"] = pc.idle_timeout
        try:
            lid, host, port = core.listen(pc.host, pc.port, **kw)
        except (OSError, ValueError) as e:
            prefix = "admin." if index < 0 else f"ports[{index}]."
            raise listen_error(
                e, pc.host, pc.port, host_key=prefix + "host", port_key=prefix + "port"
            ) from None
        if not pc.enabled:
            core.set_listener_enabled(lid, False)
        self.info[lid] = ListenerInfo(pc.alias, host, port, "cert_pem" in kw, pc.enabled)
        log.info(
            "port %s listening on %s:%d%s",
            pc.alias,
            host,
            port,
            "" if pc.enabled else " (disabled)",
        )

    def id_of(self, alias: str) -> int | None:
        """The core's id of the listener with this alias."""
        return next((lid for lid, i in self.info.items() if i.alias == alias), None)

    def alias_of(self, listener: int) -> str:
        info = self.info.get(listener)
        return info.alias if info else str(listener)

    def set_enabled(self, core: _core.Server, alias: str, enabled: bool) -> ListenerInfo:
        """Enable or disable a listener by alias (KeyError when there is none)."""
        for lid, info in self.info.items():
            if info.alias == alias:
                core.set_listener_enabled(lid, enabled)
                info.enabled = enabled
                return info
        raise KeyError(alias)

    def rebind(self, core: _core.Server, port: int) -> bool:
        """Move the main listener to ``port``; open connections stay. False (and
        logged) when it cannot."""
        old = [lid for lid, *_ in core.listeners()]
        kw: dict[str, Any] = {}
        if self._pems:
            kw = {"cert_pem": self._pems[0], "key_pem": self._pems[1]}
        try:
            new_lid, _, bound = core.listen(self.host, port, **kw)
        except OSError as e:
            log.error("cannot move to port %d: %s; staying on %d", port, e, self.port)
            return False
        for lid in old:
            info = self.info.get(lid)
            if info is None or info.alias == "default":
                core.set_listener_enabled(lid, False)
                self.info.pop(lid, None)
        self.info[new_lid] = ListenerInfo("default", self.host, bound, bool(self._pems), True)
        log.warning("now listening on port %d (was %d)", bound, self.port)
        self.port = bound
        return True

    def clear(self, host: str, port: int) -> None:
        """Forget every listener (after a stop or a failed start)."""
        self.info = {}
        self.host, self.port = host, port
