"""Job-progress sockets and /api/compute-jobs (PROTOCOLS.md section 3), against a real
in-process server with real clients: websockets, urllib and a raw socket."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from typing import Any

import jwt
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus
from wsraw import CLOSE, PING, RawWS

from scanbridge import App, Config
from scanbridge.config import JobsConfig

SECRET = "test-secret-0123456789-0123456789-abcdef"
WS_PATH = "/insightservices/ws/v1/compute/messages"
ALT_PATH = "/api/compute-job-messages"


def token(exp_in: float = 60.0, *, secret: str = SECRET, alg: str = "HS256", **claims: Any) -> str:
    return jwt.encode({"sub": "tester", "exp": time.time() + exp_in, **claims}, secret, alg)


def bearer(tok: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {tok}")]


async def http(
    app: App, method: str, path: str, body: Any = None, tok: str | None = ""
) -> tuple[int, Any, dict[str, str]]:
    """(status, JSON body, headers); ``tok=""`` means a fresh valid token, None none."""
    if tok == "":
        tok = token()
    url = f"http://127.0.0.1:{app.port}{path}"
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if tok is not None:
        headers["Authorization"] = f"Bearer {tok}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)

    def go() -> tuple[int, Any, dict[str, str]]:
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read() or b"null"), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null"), dict(e.headers)

    return await asyncio.to_thread(go)


async def recv_json(ws: Any, timeout: float = 5.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def refused(url: str, headers: list[tuple[str, str]] | None = None) -> Any:
    with pytest.raises(InvalidStatus) as ei:
        async with websockets.connect(url, additional_headers=headers or [], open_timeout=5):
            pass
    return ei.value.response


def make_app(**jobs: Any) -> App:
    jobs.setdefault("jwt_secret", SECRET)
    return App(Config(port=0, journal=":memory:", jobs=JobsConfig(**jobs)))


@pytest.fixture
async def app():
    a = make_app()
    await a.start()
    yield a
    await a.stop(timeout=2)


def ws_url(app: App, path: str = WS_PATH) -> str:
    return f"ws://127.0.0.1:{app.port}{path}"


# ---- the upgrade ------------------------------------------------------------------


async def test_upgrade_without_token_is_401(app: App) -> None:
    resp = await refused(ws_url(app))
    assert resp.status_code == 401
    body = json.loads(resp.body)
    assert body["reason"] == "missing" and "bearer token" in body["error"]
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_upgrade_with_bad_signature_is_401(app: App) -> None:
    resp = await refused(ws_url(app), bearer(token(secret="another-secret-of-32-bytes-at-least!")))
    assert resp.status_code == 401
    body = json.loads(resp.body)
    assert body["reason"] == "bad_signature" and "signature" in body["error"]
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


async def test_upgrade_with_expired_token_is_401(app: App) -> None:
    resp = await refused(ws_url(app, ALT_PATH), bearer(token(-5)))
    assert resp.status_code == 401
    assert json.loads(resp.body) == {"error": "token has expired", "reason": "expired"}


async def test_upgrade_with_garbage_or_exp_less_token_is_401(app: App) -> None:
    resp = await refused(ws_url(app), bearer("not-a-jwt"))
    assert resp.status_code == 401 and json.loads(resp.body)["reason"] == "malformed"
    no_exp = jwt.encode({"sub": "x"}, SECRET, "HS256")
    resp = await refused(ws_url(app), bearer(no_exp))
    assert resp.status_code == 401 and "exp" in json.loads(resp.body)["error"]
    resp = await refused(ws_url(app), [("Authorization", "Basic dTpw")])
    assert resp.status_code == 401 and json.loads(resp.body)["reason"] == "malformed"


async def test_connection_id_on_101_and_query_token(app: App) -> None:
    ids = set()
    async with websockets.connect(ws_url(app), additional_headers=bearer(token())) as ws:
        ids.add(ws.response.headers["connection-id"])
    async with websockets.connect(f"{ws_url(app, ALT_PATH)}?token={token()}") as ws:
        ids.add(ws.response.headers["connection-id"])
    assert len(ids) == 2
    for cid in ids:
        assert len(cid) == 36 and cid.count("-") == 4


async def test_no_key_configured_is_401_naming_it() -> None:
    a = App(Config(port=0, journal=":memory:"))
    await a.start()
    try:
        resp = await refused(ws_url(a), bearer(token()))
        assert resp.status_code == 401
        body = json.loads(resp.body)
        assert body["reason"] == "no_key" and "no JWT key is configured" in body["error"]
        status, body, _ = await http(a, "GET", "/api/compute-jobs/x")
        assert status == 401 and "no JWT key" in body["error"]
    finally:
        await a.stop(timeout=2)


async def test_jobs_disabled_mounts_nothing() -> None:
    a = App(Config(port=0, journal=":memory:", jobs=JobsConfig(enabled=False, jwt_secret=SECRET)))
    assert a.jobs is None
    await a.start()
    try:
        resp = await refused(ws_url(a), bearer(token()))
        assert resp.status_code == 404
        status, _, _ = await http(a, "GET", "/api/compute-jobs/x")
        assert status == 404
    finally:
        await a.stop(timeout=2)


async def test_rs256_public_key_pem_text_and_file(tmp_path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    path = tmp_path / "jwt.pub.pem"
    path.write_bytes(pem)
    rs = jwt.encode({"exp": time.time() + 60}, key, "RS256")
    for public in (pem.decode(), str(path)):
        a = App(Config(port=0, journal=":memory:", jobs=JobsConfig(jwt_public_key=public)))
        await a.start()
        try:
            async with websockets.connect(ws_url(a), additional_headers=bearer(rs)) as ws:
                assert ws.response.headers["connection-id"]
            # An HS256 token is not accepted when only a public key is configured.
            resp = await refused(ws_url(a), bearer(token()))
            assert resp.status_code == 401
            assert json.loads(resp.body)["reason"] == "bad_signature"
            # Signed by another RSA key: bad signature.
            other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            forged = jwt.encode({"exp": time.time() + 60}, other, "RS256")
            resp = await refused(ws_url(a), bearer(forged))
            assert json.loads(resp.body)["reason"] == "bad_signature"
        finally:
            await a.stop(timeout=2)


def test_unusable_public_key_is_a_config_error(tmp_path) -> None:
    from scanbridge import ConfigError

    with pytest.raises(ConfigError, match="jwt_public_key"):
        App(Config(port=0, jobs=JobsConfig(jwt_public_key=str(tmp_path / "missing.pem"))))


# ---- REST and pushes ----------------------------------------------------------------


async def test_rest_updates_reach_the_socket(app: App) -> None:
    async with websockets.connect(ws_url(app), additional_headers=bearer(token())) as ws:
        cid = ws.response.headers["connection-id"]
        status, job, headers = await http(
            app, "POST", "/api/compute-jobs", {"id": "job-1", "connectionId": cid}
        )
        assert status == 201, job
        assert job["id"] == "job-1" and job["connectionId"] == cid and job["status"] == "QUEUED"
        assert headers["Location"] == "/api/compute-jobs/job-1"

        status, body, _ = await http(
            app,
            "POST",
            "/api/compute-jobs/job-1/status",
            {"status": "RUNNING", "executionAttempts": 1, "progress": 0.25},
        )
        assert status == 200 and body["delivered"] == 1
        msg = await recv_json(ws)
        assert msg == {
            "messageType": "JOB_STATUS_UPDATED",
            "computeJobId": "job-1",
            "messagePayload": {"status": "RUNNING", "executionAttempts": 1, "progress": 0.25},
        }

        status, body, _ = await http(
            app, "POST", "/api/compute-jobs/job-1/runlog", {"lines": ["one", "two"]}
        )
        assert status == 200 and body["endLines"] == 2
        msg = await recv_json(ws)
        assert msg["messageType"] == "RUNLOG_UPDATED" and msg["computeJobId"] == "job-1"
        assert msg["messagePayload"] == {"lines": ["one", "two"], "endLines": 2}
        await http(app, "POST", "/api/compute-jobs/job-1/runlog", {"lines": ["three"]})
        msg = await recv_json(ws)
        assert msg["messagePayload"] == {"lines": ["three"], "endLines": 3}

        status, body, _ = await http(
            app, "POST", "/api/compute-jobs/job-1/app-messages", {"message": {"ask": "ok?"}}
        )
        assert status == 200 and body["messageId"] == 1
        msg = await recv_json(ws)
        assert msg["messageType"] == "APP_MESSAGE"
        assert msg["messagePayload"] == {"messageId": 1, "message": {"ask": "ok?"}}

        status, job, _ = await http(app, "GET", "/api/compute-jobs/job-1")
        assert status == 200
        assert job["status"] == "RUNNING" and job["executionAttempts"] == 1
        assert job["runLogLines"] == 3 and job["appMessages"] == 1


async def test_rest_errors(app: App) -> None:
    status, body, headers = await http(
        app, "POST", "/api/compute-jobs", {"connectionId": "c"}, None
    )
    assert status == 401 and body["reason"] == "missing" and "WWW-Authenticate" in headers
    status, body, _ = await http(app, "GET", "/api/compute-jobs/x", tok=token(-5))
    assert status == 401 and body["reason"] == "expired"

    status, job, _ = await http(app, "POST", "/api/compute-jobs", {"connectionId": "c"})
    assert status == 201 and len(job["id"]) == 36  # a UUID when no id is given
    status, _, _ = await http(app, "POST", "/api/compute-jobs", {"id": "dup", "connectionId": "c"})
    assert status == 201
    status, body, _ = await http(
        app, "POST", "/api/compute-jobs", {"id": "dup", "connectionId": "c"}
    )
    assert status == 409 and "exists" in body["error"]

    status, body, _ = await http(app, "POST", "/api/compute-jobs", {"id": "x"})
    assert status == 400 and body["field"] == "connectionId"
    status, body, _ = await http(
        app, "POST", "/api/compute-jobs", {"id": "a/b", "connectionId": "c"}
    )
    assert status == 400 and body["field"] == "id"
    status, body, _ = await http(app, "POST", "/api/compute-jobs", [1])
    assert status == 400
    status, body, _ = await http(app, "POST", "/api/compute-jobs/dup/status", {"status": 5})
    assert status == 400 and body["field"] == "status"
    status, body, _ = await http(
        app, "POST", "/api/compute-jobs/dup/status", {"status": "X", "executionAttempts": -1}
    )
    assert status == 400 and body["field"] == "executionAttempts"
    status, body, _ = await http(app, "POST", "/api/compute-jobs/dup/runlog", {"lines": [1]})
    assert status == 400 and body["field"] == "lines"
    status, body, _ = await http(app, "POST", "/api/compute-jobs/dup/app-messages", {})
    assert status == 400 and body["field"] == "message"

    for path in ("", "/status", "/runlog", "/app-messages"):
        method = "GET" if not path else "POST"
        status, body, _ = await http(app, method, f"/api/compute-jobs/nope{path}", {"status": "X"})
        assert status == 404 and "nope" in body["error"]


async def test_subscribe_on_a_new_socket_catches_up(app: App) -> None:
    job = await app.jobs.create("job-s", "gone-connection", status="RUNNING", executionAttempts=2)
    assert job.id == "job-s"
    await app.jobs.append_runlog("job-s", ["l1", "l2", "l3", "l4"])
    await app.jobs.send_app_message("job-s", "hello")
    async with websockets.connect(ws_url(app), additional_headers=bearer(token())) as ws:
        sub = {"computeJobId": "job-s", "lastRunLogLine": 2, "lastAppMessageId": 1}
        await ws.send(
            json.dumps({"messageType": "SUBSCRIBE", "messagePayload": {"subscriptions": [sub]}})
        )
        msg = await recv_json(ws)
        assert msg["messageType"] == "CURRENT_JOB_STATUS" and msg["computeJobId"] == "job-s"
        assert msg["messagePayload"]["status"] == "RUNNING"
        assert msg["messagePayload"]["executionAttempts"] == 2
        msg = await recv_json(ws)
        assert msg["messageType"] == "RUNLOG_UPDATED"
        assert msg["messagePayload"] == {"lines": ["l3", "l4"], "endLines": 4}
        # Later updates reach the subscriber too.
        await app.jobs.update_status("job-s", "COMPLETED")
        msg = await recv_json(ws)
        assert msg["messageType"] == "JOB_STATUS_UPDATED"
        assert msg["messagePayload"]["status"] == "COMPLETED"
        # An unknown job in a subscription: ERROR naming it, socket stays open.
        await ws.send(
            json.dumps(
                {
                    "messageType": "SUBSCRIBE",
                    "messagePayload": {"subscriptions": [{"computeJobId": "nope"}]},
                }
            )
        )
        msg = await recv_json(ws)
        assert msg["messageType"] == "ERROR" and msg["computeJobId"] == "nope"
        assert msg["messagePayload"]["code"] == "UNKNOWN_JOB"
    # A second new socket with lastRunLogLine 0 gets all lines and the app message.
    async with websockets.connect(ws_url(app), additional_headers=bearer(token())) as ws:
        await ws.send(
            json.dumps(
                {
                    "messageType": "SUBSCRIBE",
                    "messagePayload": {"subscriptions": [{"computeJobId": "job-s"}]},
                }
            )
        )
        kinds = [await recv_json(ws) for _ in range(3)]
        assert [m["messageType"] for m in kinds] == [
            "CURRENT_JOB_STATUS",
            "RUNLOG_UPDATED",
            "APP_MESSAGE",
        ]
        assert kinds[1]["messagePayload"]["lines"] == ["l1", "l2", "l3", "l4"]
        assert kinds[2]["messagePayload"] == {"messageId": 1, "message": "hello"}


async def test_python_api_and_app_message_response_hook(app: App) -> None:
    got: asyncio.Queue[tuple[str, Any, str]] = asyncio.Queue()

    @app.jobs.on_app_message_response
    async def hook(job_id: str, payload: Any, session: Any) -> None:
        await got.put((job_id, payload, session.data["connection_id"]))

    async with websockets.connect(ws_url(app), additional_headers=bearer(token())) as ws:
        cid = ws.response.headers["connection-id"]
        await app.jobs.create("py-1", cid)
        with pytest.raises(ValueError, match="exists"):
            await app.jobs.create("py-1", cid)
        with pytest.raises(KeyError):
            await app.jobs.update_status("nope", "RUNNING")
        assert await app.jobs.send_app_message("py-1", {"q": 1}) == 1
        msg = await recv_json(ws)
        assert msg["messageType"] == "APP_MESSAGE"
        await ws.send(
            json.dumps(
                {
                    "messageType": "APP_MESSAGE_RESPONSE",
                    "computeJobId": "py-1",
                    "messagePayload": {"messageId": 1, "answer": "yes"},
                }
            )
        )
        job_id, payload, conn = await asyncio.wait_for(got.get(), 5)
        assert (job_id, payload, conn) == ("py-1", {"messageId": 1, "answer": "yes"}, cid)
        assert await app.jobs.append_runlog("py-1", "a\nb") == 2
        msg = await recv_json(ws)
        assert msg["messagePayload"] == {"lines": ["a", "b"], "endLines": 2}


async def test_bad_messages_get_error_and_socket_stays_open(app: App) -> None:
    async with websockets.connect(ws_url(app), additional_headers=bearer(token())) as ws:
        await ws.send("{not json")
        msg = await recv_json(ws)
        assert msg["messageType"] == "ERROR" and msg["messagePayload"]["code"] == "BAD_JSON"
        await ws.send(json.dumps({"messageType": "NOPE", "messagePayload": {}}))
        msg = await recv_json(ws)
        assert msg["messagePayload"]["code"] == "UNKNOWN_MESSAGE_TYPE"
        assert "NOPE" in msg["messagePayload"]["message"]
        await ws.send("[1, 2]")
        assert (await recv_json(ws))["messageType"] == "ERROR"
        await ws.send(b"\x00")
        assert (await recv_json(ws))["messageType"] == "ERROR"
        await ws.send(json.dumps({"messageType": "SUBSCRIBE", "messagePayload": {}}))
        assert (await recv_json(ws))["messageType"] == "ERROR"
        await ws.send(json.dumps({"messageType": "APP_MESSAGE_RESPONSE", "messagePayload": {}}))
        assert (await recv_json(ws))["messageType"] == "ERROR"
        pong = await ws.ping()
        await asyncio.wait_for(pong, 5)


# ---- token expiry -------------------------------------------------------------------


async def closed_code(ws: Any, timeout: float) -> tuple[int | None, float]:
    """Wait for the server's close; (code, seconds waited)."""
    t0 = time.monotonic()
    with pytest.raises(ConnectionClosed) as ei:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    return (ei.value.rcvd.code if ei.value.rcvd else None), time.monotonic() - t0


async def test_token_expiry_closes_4001_and_invalid_update_changes_nothing(app: App) -> None:
    async with websockets.connect(ws_url(app), additional_headers=bearer(token(2))) as ws:
        await ws.send(
            json.dumps({"messageType": "UPDATE_TOKEN", "messagePayload": {"token": "bad"}})
        )
        msg = await recv_json(ws)
        assert msg["messageType"] == "ERROR"
        assert msg["messagePayload"]["code"] == "INVALID_TOKEN"
        bad_sig = token(60, secret="another-secret-of-32-bytes-at-least!")
        await ws.send(
            json.dumps({"messageType": "UPDATE_TOKEN", "messagePayload": {"token": bad_sig}})
        )
        msg = await recv_json(ws)
        assert msg["messagePayload"]["reason"] == "bad_signature"
        code, waited = await closed_code(ws, 5)
        assert code == 4001 and waited < 4
        assert ws.close_reason == "token expired"


async def test_update_token_keeps_the_socket_alive(app: App) -> None:
    async with websockets.connect(ws_url(app), additional_headers=bearer(token(1.5))) as ws:
        await asyncio.sleep(0.5)
        await ws.send(
            json.dumps({"messageType": "UPDATE_TOKEN", "messagePayload": {"token": token(3)}})
        )
        await asyncio.sleep(1.8)  # past the first token's expiry
        await ws.send("?")  # still open: answered with ERROR
        assert (await recv_json(ws))["messageType"] == "ERROR"
        code, waited = await closed_code(ws, 5)  # the second token expires in ~0.7 s
        assert code == 4001 and waited < 3


async def test_token_max_age_caps_the_socket_lifetime() -> None:
    a = make_app(token_max_age=1.0)
    await a.start()
    try:
        async with websockets.connect(ws_url(a), additional_headers=bearer(token(600))) as ws:
            code, waited = await closed_code(ws, 5)
            assert code == 4001 and waited < 3
    finally:
        await a.stop(timeout=2)


# ---- keep-alive ---------------------------------------------------------------------


def silent_peer(port: int, tok: str) -> tuple[int, int | None, float]:
    """Handshake, then only read: never answer a ping. (pings seen, close code, seconds)."""
    t0 = time.monotonic()
    ws = RawWS.connect("127.0.0.1", port, WS_PATH, headers=bearer(tok), timeout=5)
    with ws:
        assert ws.response.header("connection-id")
        pings = 0
        while True:
            try:
                f = ws.recv_frame(timeout=6)
            except TimeoutError:
                return pings, None, time.monotonic() - t0
            if f.opcode == PING:
                pings += 1
            elif f.opcode == CLOSE:
                return pings, f.close_code, time.monotonic() - t0


async def test_peer_that_never_answers_pings_is_closed_1001() -> None:
    a = make_app(ping_interval=0.5, idle_timeout=1.5)
    await a.start()
    try:
        silent = asyncio.create_task(asyncio.to_thread(silent_peer, a.port, token()))
        # A well-behaved client (websockets answers pings) stays open meanwhile.
        async with websockets.connect(ws_url(a), additional_headers=bearer(token())) as ws:
            pings, code, waited = await silent
            assert code == 1001, (pings, code, waited)
            assert pings >= 1
            assert 1.4 <= waited <= 4.0
            await ws.send("still here?")
            assert (await recv_json(ws))["messageType"] == "ERROR"
    finally:
        await a.stop(timeout=2)
