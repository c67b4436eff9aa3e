"""Configuration barcodes: a QR code whose text is a versioned, HMAC-signed config change.

Text: ``SBCFG1.<payload>.<signature>`` where payload is base64url (no padding)
of JSON ``{"v": 1, "set": {key: value, ...}, "iat": unix_seconds}`` and the
signature is base64url HMAC-SHA256 of ``SBCFG1.<payload>`` with the
configured ``config_barcode_key``. A scanner that reads one changes the
server's configuration; it is never published as a scan.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from typing import TYPE_CHECKING, Any

import msgspec

from .config import Config, ConfigError

if TYPE_CHECKING:
    from .app import App
    from .scan import Scan

log = logging.getLogger("scanbridge.config_barcode")

PREFIX = "SBCFG1."
#: Keys a barcode may change while the server runs.
SETTABLE = (
    "port",
    "undelivered_ttl",
    "log_level",
    "allowed_origins",
    "idle_timeout",
    "ping_interval",
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_config_text(changes: dict[str, Any], key: str, *, now: float | None = None) -> str:
    """The signed text for a configuration barcode."""
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
    payload = _b64(
        json.dumps(
            {"v": 1, "set": changes, "iat": int(now or time.time())}, separators=(",", ":")
        ).encode()
    )
    head = PREFIX + payload
    sig = _b64(hmac.new(key.encode(), head.encode(), hashlib.sha256).digest())
    return f"{head}.{sig}"


def parse_config_text(text: str, key: str) -> dict[str, Any]:
    """The changes in a signed text; ValueError when it is malformed or badly signed."""
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
    except ValueError:
        raise ValueError("malformed payload") from None
    if not isinstance(doc, dict) or doc.get("v") != 1 or not isinstance(doc.get("set"), dict):
        raise ValueError(f"unsupported configuration barcode version {doc.get('v')!r}")
    return dict(doc["set"])


def render(text: str, out: str, scale: int = 8) -> None:
    """Write the QR code (PNG or SVG by the file's extension) with segno."""
    import segno

    segno.make_qr(text, error="m").save(out, scale=scale, border=4)


def handle_config_barcode(app: App, scan: Scan) -> bool:
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
    app._apply_config(new, changes)
    return True
