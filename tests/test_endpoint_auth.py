"""Endpoint auth classes: BearerAuth / BasicAuth before the upgrade, password hashes."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
import websockets
from websockets.exceptions import InvalidStatus

import scanbridge
from scanbridge import App, BasicAuth, BearerAuth, Config, Endpoint, Session, hash_password
from scanbridge.auth import verify_password


class Echo(Endpoint):
    async def on_text(self, session: Session, text: str) -> None:
        await session.send_text(text)


@pytest.fixture
async def app():
    a = App(Config(port=0, journal=":memory:"))
    a.endpoint("/secure", auth=BearerAuth("t"))(Echo)
    a.endpoint("/basic", auth=BasicAuth("u", password_hash=hash_password("p")))(Echo)

    async def verify(tok: str) -> bool:
        return tok.startswith("ok-")

    a.endpoint("/verify", auth=BearerAuth(verify=verify))(Echo)
    await a.start()
    yield a
    await a.stop(timeout=2)


def url(app: App, path: str) -> str:
    return f"ws://127.0.0.1:{app.port}{path}"


async def refused(u: str, headers: list[tuple[str, str]] | None = None) -> tuple[Any, dict]:
    with pytest.raises(InvalidStatus) as ei:
        async with websockets.connect(u, additional_headers=headers or [], open_timeout=5):
            pass
    r = ei.value.response
    assert r.status_code == 401
    return r, json.loads(r.body)


async def accepted(u: str, headers: list[tuple[str, str]] | None = None) -> None:
    async with websockets.connect(u, additional_headers=headers or [], open_timeout=5) as ws:
        await ws.send("hi")
        assert await ws.recv() == "hi"


def basic(user: str, password: str) -> list[tuple[str, str]]:
    return [("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())]


async def test_bearer(app: App) -> None:
    r, body = await refused(url(app, "/secure"))
    assert body["reason"] == "missing"
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="scanbridge"'
    r, body = await refused(url(app, "/secure"), [("Authorization", "Bearer nope")])
    assert body == {"error": "wrong bearer token", "reason": "wrong"}
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    r, body = await refused(url(app, "/secure"), [("Authorization", "Token t")])
    assert body["reason"] == "malformed"
    assert 'error="invalid_request"' in r.headers["WWW-Authenticate"]
    _, body = await refused(url(app, "/secure?token=nope"))
    assert body["reason"] == "wrong"
    _, body = await refused(url(app, "/secure?token="))
    assert body["reason"] == "malformed"

    await accepted(url(app, "/secure"), [BearerAuth("t").header()])
    await accepted(url(app, "/secure"), [("authorization", "bearer t")])
    await accepted(url(app, "/secure?token=t"))


async def test_bearer_verify_function(app: App) -> None:
    _, body = await refused(url(app, "/verify"), [("Authorization", "Bearer bad")])
    assert body["reason"] == "wrong"
    await accepted(url(app, "/verify?token=ok-123"))


async def test_basic(app: App) -> None:
    r, body = await refused(url(app, "/basic"))
    assert body["reason"] == "missing"
    assert r.headers["WWW-Authenticate"].startswith('Basic realm="scanbridge"')
    r, body = await refused(url(app, "/basic"), basic("u", "wrong"))
    assert body == {"error": "wrong user or password", "reason": "wrong"}
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    _, body = await refused(url(app, "/basic"), basic("x", "p"))
    assert body["reason"] == "wrong"
    _, body = await refused(url(app, "/basic"), [("Authorization", "Basic %%%")])
    assert body["reason"] == "malformed"
    no_colon = base64.b64encode(b"up").decode()
    _, body = await refused(url(app, "/basic"), [("Authorization", f"Basic {no_colon}")])
    assert body["reason"] == "malformed"
    _, body = await refused(url(app, "/basic"), [("Authorization", "Bearer t")])
    assert body["reason"] == "malformed"

    await accepted(url(app, "/basic"), basic("u", "p"))
    await accepted(url(app, "/basic"), [BasicAuth("u", "p").header()])
    await accepted(url(app, "/basic"), basic("u", "p"))  # cached the second time


def test_header_methods() -> None:
    assert BearerAuth("abc").header() == ("Authorization", "Bearer abc")
    assert BasicAuth("u", "p").header() == ("Authorization", "Basic dTpw")
    with pytest.raises(ValueError):
        BasicAuth("u", password_hash=hash_password("p")).header()
    with pytest.raises(ValueError):
        BearerAuth(verify=lambda t: True).header()
    with pytest.raises(ValueError):
        BearerAuth()
    with pytest.raises(ValueError):
        BasicAuth("u")
    with pytest.raises(ValueError):
        BasicAuth("u", password_hash="plain-text")
    assert scanbridge.BearerAuth is BearerAuth


def test_hash_password_round_trip_and_rejects() -> None:
    h = hash_password("correct horse")
    scheme, n, r, p, salt, digest = h.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert base64.b64decode(salt + "==") and len(base64.b64decode(digest + "=")) == 32
    assert hash_password("correct horse") != h  # salted
    assert verify_password("correct horse", h)
    assert not verify_password("correct horsE", h)
    assert not verify_password("", h)
    # Tampered or malformed hashes never match (and do not raise).
    for bad in (
        h[:-2],
        h.replace("scrypt$", "bcrypt$"),
        "scrypt$3$8$1$AAAA$AAAA",  # n not a power of two
        "scrypt$16384$8$1$!!$AAAA",
        "scrypt$16384$8$1",
        "",
        "plain",
    ):
        assert not verify_password("correct horse", bad), bad


def test_verify_pbkdf2_sha256() -> None:
    digest = hashlib.pbkdf2_hmac("sha256", b"secret", b"saltsalt", 1000)
    h = f"pbkdf2_sha256$1000$saltsalt${base64.b64encode(digest).decode()}"
    assert verify_password("secret", h)
    assert not verify_password("Secret", h)
    assert not verify_password("secret", h.replace("$1000$", "$1001$"))
    assert not verify_password("secret", "pbkdf2_sha256$x$saltsalt$AAAA")
