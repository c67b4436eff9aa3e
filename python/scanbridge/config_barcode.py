"""Configuration barcodes: a QR code whose text is a versioned, HMAC-signed config change.

Text: ``SBCFG1.<payload>.<signature>`` where payload is base64url (no padding)
of JSON ``{"v": 1, "set": {key: value, ...}, "iat": unix_seconds, "exp":
unix_seconds}`` and the signature is base64url HMAC-SHA256 of
``SBCFG1.<payload>`` with the configured ``config_barcode_key``. A scanner
that reads one changes the server's configuration; it is never published as
a scan.

A barcode is refused (and the reason logged) once ``exp`` has passed, when
it was issued more than :data:`MAX_CLOCK_SKEW` seconds in the future, or
when it has no ``iat`` / ``exp``. Within its lifetime it can be read again
(a change is idempotent).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import os
import time
from typing import TYPE_CHECKING, Any, TypeGuard

import msgspec

from .config import Config, ConfigError

if TYPE_CHECKING:
    from .host import ConfigHost
    from .scan import Scan

log = logging.getLogger("scanbridge.config_barcode")

PREFIX = "SBCFG1."
#: Keys a barcode may change while the server runs, each applied everywhere it
#: acts (App.apply_config). Not settable: ``allowed_origins``,
#: ``idle_timeout`` and ``ping_interval``, which the Rust core takes once at
#: start (the binding cannot change them), so a barcode would only have
#: changed the Python (HTTP) side.
SETTABLE = ("port", "undelivered_ttl", "log_level")
#: Lifetime of a barcode unless ``valid_for`` says otherwise (24 h).
DEFAULT_VALID_FOR = 24 * 3600.0
#: A barcode issued later than this many seconds from now is refused.
MAX_CLOCK_SKEW = 300.0
#: Unix times beyond this (year 2500) are not plausible.
_MAX_TIME = 16_725_225_600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _when(t: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def _is_time(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_TIME


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, key: str = "--valid-for") -> float:
    """``90s``, ``30m``, ``24h``, ``7d`` or plain seconds, as seconds (>= 1)."""
    word = text.strip().lower()
    unit = _UNITS.get(word[-1:], 0)
    number = word[:-1] if unit else word
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        seconds = math.nan
    if not 1 <= seconds <= _MAX_TIME:
        raise ConfigError(
            "is not allowed: must be a duration of at least 1 s such as 3600, 90m, 24h or 7d",
            key=key,
            value=text,
        )
    return seconds


def make_config_text(
    changes: dict[str, Any],
    key: str,
    *,
    now: float | None = None,
    valid_for: float = DEFAULT_VALID_FOR,
) -> str:
    """The signed text for a configuration barcode, valid ``valid_for`` seconds from ``now``."""
    if not (isinstance(valid_for, int | float) and 1 <= valid_for <= _MAX_TIME):
        raise ConfigError(
            "is not allowed: must be a duration of at least 1 s", key="valid_for", value=valid_for
        )
    bad = [k for k in changes if k not in SETTABLE]
    if bad:
        raise ConfigError(
            f"cannot be set by barcode (settable: {', '.join(SETTABLE)})",
            key=bad[0],
            value=changes[bad[0]],
        )
    if not key:
        raise ConfigError("is required to sign a configuration barcode", key="config_barcode_key")
    Config(**changes)  # validate values (port range etc.)
    iat = int(time.time() if now is None else now)
    exp = iat + math.ceil(valid_for)
    doc = {"v": 1, "set": changes, "iat": iat, "exp": exp}
    payload = _b64(json.dumps(doc, separators=(",", ":")).encode())
    head = PREFIX + payload
    sig = _b64(hmac.new(key.encode(), head.encode(), hashlib.sha256).digest())
    return f"{head}.{sig}"


def parse_config_text(text: str, key: str, *, now: float | None = None) -> dict[str, Any]:
    """The changes in a signed text; ValueError (saying why) when it is malformed,
    badly signed, expired, issued in the future or without ``iat`` / ``exp``."""
    if not text.startswith(PREFIX):
        raise ValueError("not a configuration barcode")
    try:
        payload, sig = text[len(PREFIX) :].split(".")
    except ValueError:
        raise ValueError("malformed configuration barcode") from None
    expected = hmac.new(key.encode(), (PREFIX + payload).encode(), hashlib.sha256).digest()
    try:
        given = _unb64(sig)
    except ValueError:
        raise ValueError("malformed signature") from None
    if not hmac.compare_digest(given, expected):
        raise ValueError("bad signature")
    try:
        doc = json.loads(_unb64(payload))
    except (ValueError, RecursionError):
        raise ValueError("malformed payload") from None
    if not isinstance(doc, dict) or doc.get("v") != 1 or not isinstance(doc.get("set"), dict):
        version = doc.get("v") if isinstance(doc, dict) else None
        raise ValueError(f"unsupported configuration barcode version {version!r}")
    iat, exp = doc.get("iat"), doc.get("exp")
    if not (_is_time(iat) and _is_time(exp)):
        raise ValueError(
            "no valid issue time and expiry (iat, exp): make a new one with "
            "scanbridge config-barcode"
        )
    now = time.time() if now is None else now
    if iat > now + MAX_CLOCK_SKEW:
        raise ValueError(f"issued in the future ({_when(iat)}; now {_when(int(now))})")
    if exp <= iat:
        raise ValueError(f"expires ({_when(exp)}) before it was issued ({_when(iat)})")
    if now >= exp:
        raise ValueError(f"expired at {_when(exp)} (issued {_when(iat)})")
    return dict(doc["set"])


#: File types ``--out`` can write, by extension (what segno writes that prints well).
OUT_FORMATS = ("png", "svg", "svgz", "pdf", "eps")


def out_format(out: str) -> str:
    """The format of ``--out FILE`` by its extension; :class:`ConfigError` if not one of
    :data:`OUT_FORMATS`."""
    name = os.path.basename(out)
    ext = name.rpartition(".")[2].lower() if "." in name else ""
    if ext not in OUT_FORMATS:
        raise ConfigError(
            "is not a file type I can write: use a name ending in "
            + ", ".join("." + f for f in OUT_FORMATS),
            key="--out",
            value=out,
        )
    return ext


def render(text: str, out: str, scale: int = 8) -> None:
    """Write the QR code (format by the file's extension, :data:`OUT_FORMATS`) with segno."""
    import segno

    kind = out_format(out)
    try:
        segno.make_qr(text, error="m").save(out, kind=kind, scale=scale, border=4)
    except OSError as e:
        raise ConfigError(f"cannot be written: {e.strerror or e}", key="--out", value=out) from None


def handle_config_barcode(app: ConfigHost, scan: Scan) -> bool:
    """True when `scan` is a configuration barcode: applied if well signed, else dropped."""
    if not scan.code.startswith(PREFIX):
        return False
    key = app.config.config_barcode_key
    if not key:
        log.warning(
            "configuration barcode from %s ignored: no config_barcode_key is set",
            scan.device_serial,
        )
        return True
    try:
        changes = parse_config_text(scan.code, key)
        bad = [k for k in changes if k not in SETTABLE]
        if bad:
            raise ValueError(f"{bad[0]!r} cannot be set by barcode")
        new = msgspec.structs.replace(app.config, **changes)
        new.validate()
    except (ValueError, ConfigError, TypeError) as e:
        log.error("configuration barcode from %s refused: %s", scan.device_serial, e)
        return True
    log.warning("configuration barcode from %s: applying %s", scan.device_serial, changes)
    app.apply_config(new, changes)
    return True
