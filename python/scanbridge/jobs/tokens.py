"""JWT bearer tokens for the job sockets and REST (HS256 secret or RS256 public key)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..auth import CredentialError, bearer_token, unauthorized
from ..config import ConfigError, JobsConfig
from ..errors import ScanbridgeError
from ..http import Request, Response

NO_KEY = "no JWT key is configured (set [jobs] jwt_secret or jwt_public_key)"


class TokenError(ScanbridgeError):
    """A token that is not accepted; ``reason`` is one of
    ``missing``, ``malformed``, ``bad_signature``, ``expired``, ``invalid``, ``no_key``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(slots=True)
class Token:
    raw: str
    claims: dict[str, Any]
    exp: float

    def expires_at(self, max_age: float, now: float | None = None) -> float:
        """Unix time when a socket using this token must close: ``exp``, at most
        ``max_age`` seconds from now."""
        now = time.time() if now is None else now
        return min(self.exp, now + max_age)


def load_public_key(value: str) -> str:
    """PEM text as is, or the text of the PEM file ``value`` names."""
    if "-----BEGIN" in value:
        return value
    try:
        return Path(value).expanduser().read_text("ascii")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(
            f"is neither PEM text nor a readable PEM file: {e}",
            key="jobs.jwt_public_key",
            value=value,
        ) from None


class TokenVerifier:
    """Checks tokens against the current ``config.jobs`` (read on each call)."""

    def __init__(self, get_config: Callable[[], JobsConfig]) -> None:
        self._get_config = get_config
        self._pem_cache: tuple[str, Any] | None = None

    def _keys(self) -> dict[str, Any]:
        cfg = self._get_config()
        keys: dict[str, Any] = {}
        if cfg.jwt_secret:
            keys["HS256"] = cfg.jwt_secret
        if cfg.jwt_public_key:
            keys["RS256"] = self._public_key(cfg.jwt_public_key)
        return keys

    def _public_key(self, value: str) -> Any:
        if self._pem_cache is not None and self._pem_cache[0] == value:
            return self._pem_cache[1]
        try:
            from cryptography.hazmat.primitives.serialization import load_pem_public_key
        except ImportError:
            raise ConfigError(
                "needs the 'cryptography' package (pip install cryptography)",
                key="jobs.jwt_public_key",
                value="...",
            ) from None

        pem = load_public_key(value)
        try:
            key = load_pem_public_key(pem.encode())
        except ValueError as e:
            raise ConfigError(
                f"is not a PEM public key: {e}", key="jobs.jwt_public_key", value=value[:40]
            ) from None
        self._pem_cache = (value, key)
        return key

    def check_config(self) -> None:
        """Raise ConfigError now for an unusable public key (rather than at first use)."""
        self._keys()

    @property
    def configured(self) -> bool:
        cfg = self._get_config()
        return bool(cfg.jwt_secret or cfg.jwt_public_key)

    def verify(self, raw: str) -> Token:
        import jwt

        try:
            keys = self._keys()
        except ConfigError as e:
            raise TokenError("no_key", f"the JWT public key is not usable: {e}") from None
        if not keys:
            raise TokenError("no_key", NO_KEY)
        try:
            header = jwt.get_unverified_header(raw)
        except jwt.DecodeError as e:
            raise TokenError("malformed", f"token is not a JWT: {e}") from None
        alg = header.get("alg")
        if alg not in keys:
            allowed = " or ".join(sorted(keys))
            raise TokenError(
                "bad_signature", f"token algorithm {alg!r} is not accepted ({allowed})"
            )
        try:
            claims = jwt.decode(
                raw,
                keys[alg],
                algorithms=[alg],
                options={"require": ["exp"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("expired", "token has expired") from None
        except jwt.InvalidSignatureError:
            raise TokenError("bad_signature", "token signature is not valid") from None
        except jwt.MissingRequiredClaimError as e:
            raise TokenError("invalid", f"token is not valid: {e}") from None
        except jwt.DecodeError as e:
            raise TokenError("malformed", f"token is not a valid JWT: {e}") from None
        except jwt.InvalidTokenError as e:
            raise TokenError("invalid", f"token is not valid: {e}") from None
        exp = claims.get("exp")
        if not isinstance(exp, int | float):
            raise TokenError("invalid", "token 'exp' is not a number")
        return Token(raw, claims, float(exp))


def _challenge(error: str | None = None, description: str | None = None) -> str:
    c = 'Bearer realm="scanbridge"'
    if error:
        c += f', error="{error}"'
    if description:
        c += ', error_description="{}"'.format(description.replace('"', "'"))
    return c


def refusal(err: TokenError) -> Response:
    """The 401 for a refused token: JSON ``{"error", "reason"}`` and WWW-Authenticate."""
    if err.reason == "missing":
        return unauthorized(_challenge(), err.message, err.reason)
    code = "invalid_request" if err.reason == "malformed" else "invalid_token"
    return unauthorized(_challenge(code, err.message), err.message, err.reason)


class JWTAuth:
    """Bearer auth whose tokens are JWTs checked by a :class:`TokenVerifier`.

    ``authorize(request)`` fits ``@app.endpoint(auth=...)``; ``token(request)``
    returns the verified :class:`Token` or raises :class:`TokenError`.
    """

    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier

    def token(self, request: Request) -> Token:
        try:
            raw = bearer_token(request)
        except CredentialError as e:
            raise TokenError(e.reason, e.message) from None
        return self.verifier.verify(raw)

    def authorize(self, request: Request) -> Response | None:
        try:
            self.token(request)
        except TokenError as e:
            return refusal(e)
        return None
