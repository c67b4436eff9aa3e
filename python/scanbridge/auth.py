"""Endpoint authentication: password hashes, Bearer and Basic credentials.

An auth object is checked before a WebSocket upgrade (``@app.endpoint(path,
auth=...)``): ``authorize(request)`` returns None to let the request through or
a 401 :class:`~scanbridge.http.Response` with a ``WWW-Authenticate`` header and
a JSON body ``{"error": ..., "reason": "missing" | "malformed" | "wrong"}``.
The same objects give the client side its header: ``auth.header()`` ->
``("Authorization", "...")``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import inspect
import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from .errors import ScanbridgeError
from .http import Request, Response

__all__ = [
    "BasicAuth",
    "BearerAuth",
    "CredentialError",
    "bearer_token",
    "hash_password",
    "request_token",
    "unauthorized",
    "verify_password",
]

# scrypt cost: n=2**14, r=8, p=1 (16 MiB, tens of milliseconds).
SCRYPT_N = 1 << 14
SCRYPT_R = 8
SCRYPT_P = 1
_SALT_BYTES = 16
_HASH_BYTES = 32
# Hashes come from trusted configuration, but a typo must not eat all memory.
_MAX_SCRYPT_MEM = 1 << 30


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    text = text.strip()
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    need = 128 * r * (n + p + 2)
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=length, maxmem=need + (1 << 20))


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$n$r$p$salt_b64$hash_b64`` with a random 16-byte salt (stdlib scrypt)."""
    if not isinstance(password, str):
        raise TypeError("password must be a str")
    salt = os.urandom(_SALT_BYTES)
    digest = _scrypt(password.encode(), salt, n, r, p, _HASH_BYTES)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, hashed: str) -> bool:
    """True when ``password`` matches ``hashed`` (constant-time comparison).

    Accepts ``scrypt$n$r$p$salt_b64$hash_b64`` (from :func:`hash_password`) and
    Django's ``pbkdf2_sha256$iterations$salt$hash_b64``. A malformed or unknown
    hash never matches.
    """
    if not isinstance(password, str) or not isinstance(hashed, str):
        return False
    parts = hashed.strip().split("$")
    try:
        if parts[0] == "scrypt" and len(parts) == 6:
            n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
            if n < 2 or n & (n - 1) or r < 1 or p < 1 or 128 * r * (n + p + 2) > _MAX_SCRYPT_MEM:
                return False
            salt, expected = _unb64(parts[4]), _unb64(parts[5])
            if not expected:
                return False
            got = _scrypt(password.encode(), salt, n, r, p, len(expected))
        elif parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            iterations = int(parts[1])
            if not 1 <= iterations <= 10_000_000:
                return False
            expected = _unb64(parts[3])
            if not expected:
                return False
            got = hashlib.pbkdf2_hmac(
                "sha256", password.encode(), parts[2].encode(), iterations, len(expected)
            )
        else:
            return False
    except (ValueError, binascii.Error, MemoryError):
        return False
    return hmac.compare_digest(got, expected)


def unauthorized(
    challenge: str, message: str, reason: str, status: int = 401, **extra: Any
) -> Response:
    """A 401 with ``WWW-Authenticate: challenge`` and ``{"error", "reason"}``."""
    resp = Response.json({"error": message, "reason": reason, **extra}, status)
    resp.headers.append(("WWW-Authenticate", challenge))
    return resp


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _credentials(request: Any, scheme: str) -> tuple[str | None, str | None]:
    """(credentials, problem) from ``Authorization: <scheme> <credentials>``.

    (None, None) when there is no Authorization header at all.
    """
    value = request.headers.get("authorization")
    if value is None:
        return None, None
    got_scheme, _, cred = value.strip().partition(" ")
    if got_scheme.lower() != scheme.lower():
        return None, f"Authorization header is not {scheme} ({got_scheme or 'empty'})"
    cred = cred.strip()
    if not cred:
        return None, f"Authorization header has no {scheme} credentials"
    return cred, None


def request_token(request: Any, query_param: str = "token") -> str | None:
    """A token from ``Authorization: Bearer``, Basic auth (its password) or
    ``?token=`` (browsers cannot set headers on a WebSocket); None when there is
    none.  The one token extraction for the Streams socket and the scan API."""
    token, _ = _credentials(request, "Bearer")
    if token is not None:
        return token
    basic, _ = _credentials(request, "Basic")
    if basic is not None:
        try:
            decoded = base64.b64decode(basic, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return request.query.get(query_param) or None


class CredentialError(ScanbridgeError):
    """No usable credentials: ``reason`` is ``missing`` or ``malformed``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def bearer_token(request: Any, query_param: str | None = "token") -> str:
    """The token of ``Authorization: Bearer <token>``, else of ``?<query_param>=``.

    Raises :class:`CredentialError` when there is none or it is malformed.
    """
    token, problem = _credentials(request, "Bearer")
    if problem is not None:
        raise CredentialError("malformed", problem)
    if token is None and query_param:
        q = request.query.get(query_param)
        if q is not None:
            if not q:
                raise CredentialError("malformed", f"?{query_param}= is empty")
            token = q
    if token is None:
        where = "Authorization: Bearer header"
        if query_param:
            where += f" or ?{query_param}="
        raise CredentialError("missing", f"missing bearer token ({where})")
    return token


class BearerAuth:
    """``Authorization: Bearer <token>`` (or ``?token=<token>``).

    ``BearerAuth("s3cret")`` accepts exactly that token (constant-time);
    ``BearerAuth(verify=fn)`` asks ``fn(token) -> bool`` (sync or async).
    With both, either one accepting is enough.
    """

    scheme = "Bearer"

    def __init__(
        self,
        token: str | None = None,
        *,
        verify: Callable[[str], bool | Awaitable[bool]] | None = None,
        realm: str = "scanbridge",
        query_param: str | None = "token",
    ) -> None:
        if token is None and verify is None:
            raise ValueError("BearerAuth needs a token or a verify function")
        if token is not None and (not isinstance(token, str) or not token):
            raise ValueError("BearerAuth token must be a non-empty str")
        self.token = token
        self.verify = verify
        self.realm = realm
        self.query_param = query_param

    def header(self) -> tuple[str, str]:
        """The client side: ``("Authorization", "Bearer <token>")``."""
        if self.token is None:
            raise ValueError("this BearerAuth has no token to send (it only verifies)")
        return ("Authorization", f"Bearer {self.token}")

    def _challenge(self, error: str | None = None, description: str | None = None) -> str:
        c = f'Bearer realm="{_quote(self.realm)}"'
        if error:
            c += f', error="{error}"'
        if description:
            c += f', error_description="{_quote(description)}"'
        return c

    def extract(self, request: Any) -> tuple[str | None, Response | None]:
        """(token, None) or (None, 401 response) for a missing or malformed token."""
        try:
            return bearer_token(request, self.query_param), None
        except CredentialError as e:
            if e.reason == "missing":
                return None, unauthorized(self._challenge(), e.message, e.reason)
            challenge = self._challenge("invalid_request", e.message)
            return None, unauthorized(challenge, e.message, e.reason)

    async def check(self, token: str) -> bool:
        """True when ``token`` is accepted."""
        if self.token is not None and hmac.compare_digest(token.encode(), self.token.encode()):
            return True
        if self.verify is not None:
            ok = self.verify(token)
            if inspect.isawaitable(ok):
                ok = await ok
            return bool(ok)
        return False

    async def authorize(self, request: Request) -> Response | None:
        token, refusal = self.extract(request)
        if refusal is not None:
            return refusal
        assert token is not None
        if await self.check(token):
            return None
        msg = "wrong bearer token"
        return unauthorized(self._challenge("invalid_token", msg), msg, "wrong")

    def __repr__(self) -> str:
        return f"BearerAuth(token={'***' if self.token else None}, verify={self.verify!r})"


class BasicAuth:
    """HTTP Basic: ``BasicAuth("user", password_hash=hash_password("pw"))`` on the
    server; ``BasicAuth("user", "pw").header()`` on the client.

    With both ``password`` and ``password_hash`` the hash is what the server checks.
    Successful checks of a hash are cached (by a SHA-256 of the credentials) so a
    reconnecting client does not pay for scrypt each time; hashing runs off the loop.
    """

    scheme = "Basic"
    _CACHE_SIZE = 64

    def __init__(
        self,
        user: str,
        password: str | None = None,
        *,
        password_hash: str | None = None,
        realm: str = "scanbridge",
    ) -> None:
        if not isinstance(user, str) or ":" in user:
            raise ValueError("BasicAuth user must be a str without ':'")
        if password is None and password_hash is None:
            raise ValueError("BasicAuth needs a password or a password_hash")
        if password_hash is not None and not password_hash.startswith(
            ("scrypt$", "pbkdf2_sha256$")
        ):
            raise ValueError(
                "password_hash must be 'scrypt$...' (hash_password) or 'pbkdf2_sha256$...'"
            )
        self.user = user
        self.password = password
        self.password_hash = password_hash
        self.realm = realm
        self._ok: OrderedDict[bytes, None] = OrderedDict()

    def header(self) -> tuple[str, str]:
        """The client side: ``("Authorization", "Basic base64(user:password)")``."""
        if self.password is None:
            raise ValueError("this BasicAuth has only a password hash, no password to send")
        raw = f"{self.user}:{self.password}".encode()
        return ("Authorization", "Basic " + base64.b64encode(raw).decode("ascii"))

    def _challenge(self) -> str:
        return f'Basic realm="{_quote(self.realm)}", charset="UTF-8"'

    async def check(self, user: str, password: str) -> bool:
        user_ok = hmac.compare_digest(user.encode(), self.user.encode())
        if self.password_hash is None:
            assert self.password is not None
            pw_ok = hmac.compare_digest(password.encode(), self.password.encode())
            return user_ok and pw_ok
        key = hashlib.sha256(f"{user}\0{password}".encode()).digest()
        if key in self._ok:
            self._ok.move_to_end(key)
            return True
        # Always hash, even for a wrong user: the timing tells nothing.
        pw_ok = await asyncio.to_thread(verify_password, password, self.password_hash)
        if user_ok and pw_ok:
            self._ok[key] = None
            while len(self._ok) > self._CACHE_SIZE:
                self._ok.popitem(last=False)
            return True
        return False

    async def authorize(self, request: Request) -> Response | None:
        cred, problem = _credentials(request, "Basic")
        if problem is None and cred is None:
            return unauthorized(self._challenge(), "missing Basic credentials", "missing")
        if cred is not None:
            try:
                decoded = base64.b64decode(cred, validate=True).decode("utf-8")
            except (ValueError, binascii.Error):
                problem = "Basic credentials are not base64 of UTF-8 'user:password'"
            else:
                if ":" not in decoded:
                    problem = "Basic credentials have no ':' between user and password"
        if problem is not None:
            return unauthorized(self._challenge(), problem, "malformed")
        user, _, password = decoded.partition(":")
        if await self.check(user, password):
            return None
        return unauthorized(self._challenge(), "wrong user or password", "wrong")

    def __repr__(self) -> str:
        return f"BasicAuth(user={self.user!r})"
