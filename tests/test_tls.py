"""wss://: the self-signed `--https` mode and a certificate given with --ssl-certfile."""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from conftest import ServerProcess, start_server
from websockets.asyncio.client import connect as ws_connect
from wsraw import BINARY, PING, PONG, TEXT, RawWS, build_frame, text_of_size

MIB16 = 16 * 1024 * 1024
FINGERPRINT_RE = re.compile(r"\b((?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2})\b")


def no_verify() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def served_cert_der(server: ServerProcess) -> bytes:
    with (
        socket.create_connection((server.host, server.port), timeout=5) as sock,
        no_verify().wrap_socket(sock, server_hostname=server.host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der
    return der


@pytest.fixture(scope="module")
def https_server() -> Iterator[ServerProcess]:
    s = start_server("--echo", "--port", "0", "--https", "--log-level", "info")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def cert_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A fresh self-signed certificate for 127.0.0.1 (IP SAN) made with openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=scanbridge test",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


@pytest.fixture(scope="module")
def certfile_server(cert_files: tuple[Path, Path]) -> Iterator[ServerProcess]:
    cert, key = cert_files
    s = start_server(
        "--echo", "--port", "0", "--https", "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)
    )
    yield s
    s.stop()


# -- self-signed --https -------------------------------------------------------------------------


def test_https_listens_on_wss(https_server: ServerProcess) -> None:
    assert https_server.scheme == "wss"
    assert https_server.url.startswith("wss://127.0.0.1:")


def test_https_prints_sha256_fingerprint_of_served_cert(https_server: ServerProcess) -> None:
    text = "".join(https_server.lines)
    m = FINGERPRINT_RE.search(text)
    assert m, text
    assert "SHA-256" in text or "sha256" in text.lower()
    printed = m.group(1).upper()
    actual = ":".join(f"{b:02X}" for b in hashlib.sha256(served_cert_der(https_server)).digest())
    assert printed == actual


def test_pinned_self_signed_cert_verifies(https_server: ServerProcess, tmp_path: Path) -> None:
    """Fetch the certificate, trust exactly it, and verify the chain (no hostname)."""
    pem = ssl.DER_cert_to_PEM_cert(served_cert_der(https_server))
    (tmp_path / "pinned.pem").write_text(pem)
    ctx = ssl.create_default_context(cafile=str(tmp_path / "pinned.pem"))
    ctx.check_hostname = False
    with RawWS.connect(https_server.host, https_server.port, ssl_context=ctx) as ws:
        ws.echo(TEXT, "vérifié".encode())


def test_each_https_start_makes_a_new_certificate(https_server: ServerProcess) -> None:
    other = start_server("--echo", "--port", "0", "--https", "--log-level", "warning")
    try:
        assert served_cert_der(other) != served_cert_der(https_server)
        m = FINGERPRINT_RE.search("".join(other.lines))
        assert m, other.lines  # printed at warning level too
    finally:
        assert other.stop() == 0


@pytest.mark.parametrize("compression", [None, "deflate"])
async def test_websockets_over_wss(compression: str | None, https_server: ServerProcess) -> None:
    async with ws_connect(
        https_server.url + "/echo", ssl=no_verify(), compression=compression, max_size=None
    ) as ws:
        for msg in [
            "héllo wss ✓",
            b"\x00\x01\xfe\xff",
            "",
            b"",
            "ü" * 70000,
            bytes(range(256)) * 300,
        ]:
            await ws.send(msg)
            assert await asyncio.wait_for(ws.recv(), 10) == msg
        await ws.send(["frag", "mented"])
        assert await asyncio.wait_for(ws.recv(), 10) == "fragmented"
        await asyncio.wait_for(await ws.ping(b"tls"), 5)


@pytest.mark.parametrize("kind", ["text", "binary"])
async def test_websockets_16mib_over_wss(kind: str, https_server: ServerProcess) -> None:
    block = random.Random(16).randbytes(4096)
    msg: str | bytes = text_of_size(MIB16) if kind == "text" else block * 4096
    async with ws_connect(https_server.url + "/echo", ssl=no_verify(), max_size=None) as ws:
        await ws.send(msg)
        assert await asyncio.wait_for(ws.recv(), 30) == msg


@pytest.mark.parametrize("compress", [0, 15])
async def test_aiohttp_over_wss(compress: int, https_server: ServerProcess) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            https_server.url + "/echo", ssl=no_verify(), compress=compress, max_msg_size=0
        ) as ws,
    ):
        assert ws.compress == compress
        await ws.send_str("aiohttp über TLS")
        msg = await ws.receive(10)
        assert (msg.type, msg.data) == (aiohttp.WSMsgType.TEXT, "aiohttp über TLS")
        await ws.send_bytes(b"\x00" * 65536)
        msg = await ws.receive(10)
        assert (msg.type, msg.data) == (aiohttp.WSMsgType.BINARY, b"\x00" * 65536)
        big = bytes(range(256)) * (MIB16 // 256)
        await ws.send_bytes(big)
        msg = await ws.receive(30)
        assert msg.type == aiohttp.WSMsgType.BINARY
        assert msg.data == big


def test_raw_frames_over_tls(https_server: ServerProcess) -> None:
    """TLS records split at odd places: 1-byte writes, two frames per write."""
    with RawWS.connect(https_server.host, https_server.port, ssl_context=no_verify()) as ws:
        frames = build_frame(TEXT, "€ tls".encode()) + build_frame(PING, b"p")
        for b in frames:
            ws.send_raw(bytes([b]))
        assert ws.recv_message() == (TEXT, "€ tls".encode())
        f = ws.recv_frame()
        assert (f.opcode, f.payload) == (PONG, b"p")
        ws.send_raw(build_frame(BINARY, b"a") + build_frame(BINARY, b"b"))
        assert ws.recv_message() == (BINARY, b"a")
        assert ws.recv_message() == (BINARY, b"b")


def test_protocol_error_over_tls_is_1002(https_server: ServerProcess) -> None:
    ctx = no_verify()
    with RawWS.connect(https_server.host, https_server.port, ssl_context=ctx) as healthy:
        with RawWS.connect(https_server.host, https_server.port, ssl_context=ctx) as bad:
            bad.send_raw(build_frame(TEXT, b"x", mask=False))
            assert bad.expect_close().close_code == 1002
        healthy.echo(TEXT, b"unaffected")


def test_close_handshake_over_tls(https_server: ServerProcess) -> None:
    with RawWS.connect(https_server.host, https_server.port, ssl_context=no_verify()) as ws:
        ws.send_close(4321, b"bye")
        assert ws.expect_close().close_code == 4321


def test_plaintext_client_on_tls_port_does_not_hurt(https_server: ServerProcess) -> None:
    with RawWS.connect(https_server.host, https_server.port, ssl_context=no_verify()) as healthy:
        with socket.create_connection((https_server.host, https_server.port), timeout=5) as s:
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n")
            s.settimeout(5)
            try:
                data = s.recv(65536)
                while data and b"HTTP/1.1 101" not in data:
                    data = s.recv(65536)
            except ConnectionResetError:
                data = b""
            assert b"101" not in data
        healthy.echo(TEXT, b"still fine")


# -- --ssl-certfile / --ssl-keyfile ---------------------------------------------------------


def verifying_context(cert: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(cert))
    assert ctx.check_hostname
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    return ctx


def test_certfile_is_the_served_certificate(
    certfile_server: ServerProcess, cert_files: tuple[Path, Path]
) -> None:
    pem = cert_files[0].read_text()
    assert served_cert_der(certfile_server) == ssl.PEM_cert_to_DER_cert(pem)
    assert certfile_server.scheme == "wss"


async def test_websockets_verifies_certfile(
    certfile_server: ServerProcess, cert_files: tuple[Path, Path]
) -> None:
    ctx = verifying_context(cert_files[0])
    async with ws_connect(certfile_server.url + "/echo", ssl=ctx, max_size=None) as ws:
        for msg in ["verified ✓", b"\xff" * 1000, "ß" * 40000]:
            await ws.send(msg)
            assert await asyncio.wait_for(ws.recv(), 10) == msg


async def test_aiohttp_verifies_certfile(
    certfile_server: ServerProcess, cert_files: tuple[Path, Path]
) -> None:
    ctx = verifying_context(cert_files[0])
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(certfile_server.url + "/echo", ssl=ctx) as ws,
    ):
        await ws.send_str("vérifié")
        assert (await ws.receive(10)).data == "vérifié"
        await ws.send_bytes(b"\x01\x02")
        assert (await ws.receive(10)).data == b"\x01\x02"


def test_default_trust_store_rejects_the_test_cert(certfile_server: ServerProcess) -> None:
    """The client really verifies: without our CA, the handshake fails."""
    with (
        pytest.raises(ssl.SSLCertVerificationError),
        socket.create_connection((certfile_server.host, certfile_server.port), timeout=5) as s,
    ):
        ssl.create_default_context().wrap_socket(s, server_hostname="127.0.0.1")


def test_wrong_hostname_is_rejected(
    certfile_server: ServerProcess, cert_files: tuple[Path, Path]
) -> None:
    ctx = verifying_context(cert_files[0])
    with (
        pytest.raises(ssl.SSLCertVerificationError),
        socket.create_connection((certfile_server.host, certfile_server.port), timeout=5) as s,
    ):
        ctx.wrap_socket(s, server_hostname="not-this-host.example")


def test_close_notify_with_the_last_data_ends_the_connection(https_server: ServerProcess) -> None:
    """A client sends its last frame and TLS close_notify in one TCP segment and keeps
    the TCP connection open (a TLS half-close): the server must see the end of the
    stream at once, not wait for another socket event that will never come."""
    ctx = no_verify()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with socket.create_connection((https_server.host, https_server.port), timeout=5) as raw:

        def pump() -> None:
            data = outgoing.read()
            if data:
                raw.sendall(data)

        # handshake over memory BIOs
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                pump()
                incoming.write(raw.recv(65536))
        pump()
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        tls.write(
            (
                f"GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        pump()
        head = b""
        while b"\r\n\r\n" not in head:
            try:
                head += tls.read(65536)
            except ssl.SSLWantReadError:
                incoming.write(raw.recv(65536))
        assert b" 101 " in head.split(b"\r\n", 1)[0], head
        # the last frame and close_notify, produced together, sent in one write
        tls.write(build_frame(TEXT, b"last words", mask=True))
        try:
            tls.unwrap()
        except ssl.SSLWantReadError:
            pass
        raw.sendall(outgoing.read())
        # the server ends the connection (1006: no close frame) within a few seconds,
        # not at a timeout; what it had queued (the echo) still goes out first
        raw.settimeout(3.0)
        while chunk := raw.recv(65536):
            incoming.write(chunk)
        incoming.write_eof()
        plain = b""
        try:
            while data := tls.read(65536):
                plain += data
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLWantReadError):
            pass
        assert plain.startswith(b"\x81\x0alast words"), plain
