"""Hand-made frames over raw sockets: RFC 6455 framing rules and their close codes.

Every malformed input must get its close code, after which the server ends the TCP
connection (without waiting for our close reply), and a healthy connection opened
before the bad one, in the middle of a fragmented message, must not notice anything.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator

import pytest
from conftest import ServerProcess, start_server
from wsraw import BINARY, CLOSE, CONT, PING, PONG, TEXT, RawWS, build_frame, close_payload

F = build_frame


def assert_fails(
    server: ServerProcess, frames: list[bytes], code: int, *, extensions: str | None = None
) -> RawWS:
    """Send `frames` (one write each) on a new connection; expect close `code` then EOF.

    A second connection, opened first and left in the middle of a fragmented text
    message, must finish its message and keep echoing afterwards."""
    with RawWS.connect(server.host, server.port) as healthy:
        healthy.echo(BINARY, b"before")
        healthy.send_frame(TEXT, b"hal", fin=False)
        with RawWS.connect(server.host, server.port, extensions=extensions) as bad:
            for frame in frames:
                bad.send_raw(frame)
            close = bad.expect_close(5)
            assert close.close_code == code, (close.close_code, close.close_reason)
            # A close reason, if any, is valid UTF-8 and fits a control frame.
            close.close_reason.decode("utf-8")
            assert len(close.payload) <= 125
        healthy.send_frame(CONT, "lo ✓".encode())
        assert healthy.recv_message() == (TEXT, "hallo ✓".encode())
        healthy.echo(TEXT, "after ✓".encode())
        healthy.send_frame(PING, b"still alive")
        pong = healthy.recv_frame()
        assert (pong.opcode, pong.payload) == (PONG, b"still alive")
    return bad


@pytest.fixture(scope="module")
def small_server() -> Iterator[ServerProcess]:
    s = start_server(
        "--echo", "--port", "0", "--log-level", "warning", "--max-message-bytes", "1000"
    )
    yield s
    s.stop()


# -- invalid UTF-8 -> 1007 ---------------------------------------------------------------

BAD_UTF8 = {
    "ff": b"hello \xff world",
    "lone-continuation": b"\x80",
    "overlong-slash": b"\xc0\xaf",
    "overlong-3byte": b"\xe0\x80\xaf",
    "surrogate": b"\xed\xa0\x80",
    "above-10ffff": b"\xf4\x90\x80\x80",
    "f5": b"\xf5\x80\x80\x80",
    "truncated-at-end": "ok €".encode()[:-1],
}


@pytest.mark.parametrize("data", BAD_UTF8.values(), ids=BAD_UTF8.keys())
def test_invalid_utf8_text_is_1007(data: bytes, echo_server: ServerProcess) -> None:
    assert_fails(echo_server, [F(TEXT, data)], 1007)


def test_invalid_utf8_fails_before_the_final_fragment(echo_server: ServerProcess) -> None:
    """A valid start, a byte that opens a 2-byte sequence, then one that cannot follow
    it: the close must come although the message is not finished."""
    frames = [
        F(TEXT, "κόσμε ".encode(), fin=False),
        F(CONT, b"\xce", fin=False),  # incomplete, still fine
        F(CONT, b"\x28abc", fin=False),  # 0xCE 0x28 is invalid
    ]
    assert_fails(echo_server, frames, 1007)


def test_invalid_utf8_in_first_fragment_fails_at_once(echo_server: ServerProcess) -> None:
    assert_fails(echo_server, [F(TEXT, b"ab\xf8cd", fin=False)], 1007)


def test_utf8_cut_in_last_fragment_is_1007(echo_server: ServerProcess) -> None:
    frames = [F(TEXT, b"ab", fin=False), F(CONT, b"\xe2\x82", fin=False), F(CONT, b"")]
    assert_fails(echo_server, frames, 1007)


def test_utf8_character_split_across_fragments_echoes(echo_server: ServerProcess) -> None:
    data = "€😀ä".encode()
    with RawWS.connect(echo_server.host, echo_server.port) as ws:
        for i in range(len(data)):
            ws.send_raw(F(TEXT, data[:i], fin=False) + F(CONT, data[i:]))
            assert ws.recv_message() == (TEXT, data)
        # Byte by byte, one fragment each.
        ws.send_raw(F(TEXT, data[:1], fin=False))
        ws.send_raw(b"".join(F(CONT, data[i : i + 1], fin=False) for i in range(1, len(data))))
        ws.send_raw(F(CONT, b""))
        assert ws.recv_message() == (TEXT, data)


# -- framing errors -> 1002 ------------------------------------------------------------------

PROTOCOL_ERRORS: dict[str, list[bytes]] = {
    "rsv1": [F(TEXT, b"hi", rsv=4)],
    "rsv2": [F(TEXT, b"hi", rsv=2)],
    "rsv3": [F(TEXT, b"hi", rsv=1)],
    "rsv1-binary": [F(BINARY, b"hi", rsv=4)],
    "rsv2-ping": [F(PING, b"hi", rsv=2)],
    "unmasked-text": [F(TEXT, b"hi", mask=False)],
    "unmasked-ping": [F(PING, b"hi", mask=False)],
    "unmasked-close": [F(CLOSE, close_payload(1000), mask=False)],
    **{f"opcode-{op:#x}": [F(op, b"x")] for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF)},
    "opcode-3-empty": [F(3)],
    "fragmented-ping": [F(PING, b"a", fin=False)],
    "fragmented-pong": [F(PONG, b"a", fin=False)],
    "fragmented-close": [F(CLOSE, close_payload(1000), fin=False)],
    "ping-126": [F(PING, b"p" * 126)],
    "pong-126": [F(PONG, b"p" * 126)],
    "close-126": [F(CLOSE, close_payload(1000, b"r" * 124))],
    "ping-64bit-length": [F(PING, b"p" * 70000)],
    "continuation-without-start": [F(CONT, b"x")],
    "final-continuation-without-start": [F(CONT, b"x", fin=False)],
    "continuation-after-finished-message": [F(TEXT, b"a"), F(CONT, b"b")],
    "text-inside-fragmented-text": [F(TEXT, b"a", fin=False), F(TEXT, b"b")],
    "binary-inside-fragmented-text": [F(TEXT, b"a", fin=False), F(BINARY, b"b")],
    "text-inside-fragmented-binary": [F(BINARY, b"a", fin=False), F(TEXT, b"b", fin=False)],
    "length-high-bit-set": [struct.pack("!BBQ", 0x82, 0xFF, 1 << 63) + b"\x00\x00\x00\x00"],
    "close-1-byte": [F(CLOSE, b"\x03")],
    **{f"close-code-{c}": [F(CLOSE, close_payload(c))] for c in (0, 999, 1004, 1005, 1006, 1015)},
    **{f"close-code-{c}": [F(CLOSE, close_payload(c))] for c in (1016, 2000, 2999, 5000, 65535)},
    "close-code-1005-with-reason": [F(CLOSE, close_payload(1005, b"why"))],
}


@pytest.mark.parametrize("frames", PROTOCOL_ERRORS.values(), ids=PROTOCOL_ERRORS.keys())
def test_protocol_error_is_1002(frames: list[bytes], echo_server: ServerProcess) -> None:
    assert_fails(echo_server, frames, 1002)


def test_rsv1_on_control_frame_with_deflate_is_1002(echo_server: ServerProcess) -> None:
    """With permessage-deflate negotiated RSV1 is still forbidden on control frames."""
    bad = assert_fails(echo_server, [F(PING, b"x", rsv=4)], 1002, extensions="permessage-deflate")
    ext = bad.response.header("sec-websocket-extensions") or ""
    assert ext.startswith("permessage-deflate"), ext


def test_rsv1_on_continuation_with_deflate_is_1002(echo_server: ServerProcess) -> None:
    frames = [F(BINARY, b"", rsv=4, fin=False), F(CONT, b"", rsv=4)]
    assert_fails(echo_server, frames, 1002, extensions="permessage-deflate")


def test_close_reason_invalid_utf8_is_1007(echo_server: ServerProcess) -> None:
    assert_fails(echo_server, [F(CLOSE, close_payload(1000, b"bye \xff"))], 1007)


def test_close_reason_truncated_utf8_is_1007(echo_server: ServerProcess) -> None:
    assert_fails(echo_server, [F(CLOSE, close_payload(1000, "€".encode()[:2]))], 1007)


# -- message size -> 1009 ---------------------------------------------------------------------


@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_message_over_limit_is_1009(opcode: int, small_server: ServerProcess) -> None:
    assert_fails(small_server, [F(opcode, b"x" * 1001)], 1009)


@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_fragmented_message_over_limit_is_1009(opcode: int, small_server: ServerProcess) -> None:
    frames = [F(opcode, b"x" * 500, fin=False), F(CONT, b"x" * 500, fin=False), F(CONT, b"x")]
    assert_fails(small_server, frames, 1009)


def test_many_small_fragments_over_limit_is_1009(small_server: ServerProcess) -> None:
    frames = [F(BINARY, b"", fin=False)]
    frames += [F(CONT, b"y" * 10, fin=False) for _ in range(100)]
    frames += [F(CONT, b"y")]
    assert_fails(small_server, [b"".join(frames)], 1009)


def test_message_at_limit_echoes(small_server: ServerProcess) -> None:
    with RawWS.connect(small_server.host, small_server.port) as ws:
        ws.echo(BINARY, b"\x00" * 1000)
        ws.echo(TEXT, "é".encode() * 500)
        ws.send_raw(F(TEXT, b"a" * 600, fin=False) + F(CONT, b"b" * 400))
        assert ws.recv_message() == (TEXT, b"a" * 600 + b"b" * 400)
        ws.send_frame(PING, b"p" * 125)  # control frames do not count against the limit
        f = ws.recv_frame()
        assert (f.opcode, f.payload) == (PONG, b"p" * 125)


# -- valid framing ----------------------------------------------------------------------------


def test_one_byte_tcp_writes(echo_server: ServerProcess) -> None:
    small = [F(TEXT, "déjà vu".encode()), F(BINARY, bytes(range(200))), F(PING, b"pp")]
    big = F(BINARY, bytes(range(256)) * 300)  # 64-bit length header
    with RawWS.connect(echo_server.host, echo_server.port) as ws:
        for i, b in enumerate(b"".join(small) + big[:200]):
            ws.send_raw(bytes([b]))
            if i % 16 == 0:
                time.sleep(0.001)  # let the server see partial headers
        for i in range(200, len(big), 4096):
            ws.send_raw(big[i : i + 4096])
        assert ws.recv_message() == (TEXT, "déjà vu".encode())
        assert ws.recv_message() == (BINARY, bytes(range(200)))
        f = ws.recv_frame()
        assert (f.opcode, f.payload) == (PONG, b"pp")
        assert ws.recv_message() == (BINARY, bytes(range(256)) * 300)


def test_two_frames_in_one_tcp_write(echo_server: ServerProcess) -> None:
    with RawWS.connect(echo_server.host, echo_server.port) as ws:
        ws.send_raw(F(TEXT, b"first") + F(BINARY, b"second"))
        assert ws.recv_message() == (TEXT, b"first")
        assert ws.recv_message() == (BINARY, b"second")
        # Many at once, with a close at the end: all echoes come before the close.
        ws.send_raw(
            b"".join(F(TEXT, str(i).encode()) for i in range(100)) + F(CLOSE, close_payload(1000))
        )
        for i in range(100):
            assert ws.recv_message() == (TEXT, str(i).encode())
        assert ws.expect_close().close_code == 1000


def test_ping_between_fragments_gets_pong_first(echo_server: ServerProcess) -> None:
    with RawWS.connect(echo_server.host, echo_server.port) as ws:
        ws.send_frame(TEXT, b"frag", fin=False)
        ws.send_frame(PING, b"in the middle")
        f = ws.recv_frame()
        assert (f.opcode, f.payload) == (PONG, b"in the middle")
        ws.send_frame(CONT, b"ment", fin=False)
        ws.send_raw(F(PING, b"again") + F(CONT, b"ed"))
        f = ws.recv_frame()
        assert (f.fin, f.opcode, f.payload) == (True, PONG, b"again")
        assert ws.recv_message() == (TEXT, b"fragmented")


@pytest.mark.parametrize("size", [0, 1, 125])
def test_pong_echoes_ping_payload(size: int, echo_server: ServerProcess) -> None:
    data = bytes(range(size))
    with RawWS.connect(echo_server.host, echo_server.port) as ws:
        ws.send_frame(PING, data)
        f = ws.recv_frame()
        assert (f.fin, f.rsv, f.opcode, f.masked, f.payload) == (True, 0, PONG, False, data)


def test_unsolicited_pong_is_ignored(echo_server: ServerProcess) -> None:
    with RawWS.connect(echo_server.host, echo_server.port) as ws:
        ws.send_raw(F(PONG, b"nobody asked") + F(PONG) + F(TEXT, b"next"))
        f = ws.recv_frame()
        assert (f.opcode, f.payload) == (TEXT, b"next")


def test_empty_and_control_only_traffic(echo_server: ServerProcess) -> None:
    with RawWS.connect(echo_server.host, echo_server.port) as ws:
        ws.echo(TEXT, b"")
        ws.echo(BINARY, b"")
        ws.send_raw(F(BINARY, b"", fin=False) + F(CONT, b"", fin=False) + F(CONT, b""))
        assert ws.recv_message() == (BINARY, b"")


def test_server_frames_are_unmasked_and_use_minimal_lengths(echo_server: ServerProcess) -> None:
    with RawWS.connect(echo_server.host, echo_server.port) as ws:
        for size, header in ((125, 2), (126, 4), (65535, 4), (65536, 10)):
            ws.send_frame(BINARY, b"z" * size)
            deadline = time.monotonic() + 5
            ws._fill(header, deadline)
            b1 = ws.buf[1]
            assert b1 & 0x80 == 0, "masked server frame"
            assert b1 & 0x7F == {2: size, 4: 126, 10: 127}[header]
            assert ws.recv_message() == (BINARY, b"z" * size)


def test_close_between_fragments_is_answered(echo_server: ServerProcess) -> None:
    with RawWS.connect(echo_server.host, echo_server.port) as ws:
        ws.send_raw(F(TEXT, b"unfinished", fin=False) + F(CLOSE, close_payload(1000, b"bye")))
        assert ws.expect_close().close_code == 1000


def test_data_after_close_is_ignored(echo_server: ServerProcess) -> None:
    with RawWS.connect(echo_server.host, echo_server.port) as ws:
        ws.send_raw(F(CLOSE, close_payload(1000)) + F(TEXT, b"too late") + F(PING, b"p"))
        f = ws.recv_frame()
        assert f.opcode == CLOSE, f
        assert f.close_code == 1000
        assert ws.wait_eof(5) == b""


# -- the upgrade request itself ---------------------------------------------------------------


def _upgrade_request(path: str = "/echo", version: str = "13", key: str | None = None) -> bytes:
    key = key if key is not None else "dGhlIHNhbXBsZSBub25jZQ=="
    key_line = f"Sec-WebSocket-Key: {key}\r\n" if key else ""
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\n{key_line}Sec-WebSocket-Version: {version}\r\n\r\n"
    ).encode()


def _read_until(sock: socket.socket, marker: bytes, timeout: float = 5.0) -> bytes:
    deadline = time.monotonic() + timeout
    data = b""
    while marker not in data:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_frames_in_the_same_write_as_the_upgrade(echo_server: ServerProcess) -> None:
    with socket.create_connection((echo_server.host, echo_server.port), timeout=5) as sock:
        sock.sendall(_upgrade_request() + F(TEXT, b"pipelined") + F(BINARY, b"too"))
        head = _read_until(sock, b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 "), head
        assert b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head  # RFC 6455 1.3 sample key
        expected = b"\x81\x09pipelined\x82\x03too"
        rest = head.split(b"\r\n\r\n", 1)[1]
        while len(rest) < len(expected):
            rest += _read_until(sock, expected[-3:])
        assert rest == expected


def test_upgrade_request_in_one_byte_writes(echo_server: ServerProcess) -> None:
    with socket.create_connection((echo_server.host, echo_server.port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i, b in enumerate(_upgrade_request()):
            sock.sendall(bytes([b]))
            if i % 8 == 0:
                time.sleep(0.0005)
        head = _read_until(sock, b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 "), head
        sock.sendall(F(TEXT, b"ok"))
        assert _read_until(sock, b"ok").endswith(b"\x81\x02ok")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (_upgrade_request(key=""), b"400"),
        (_upgrade_request(key="dG9vIHNob3J0"), b"400"),  # decodes to 9 bytes, not 16
        (_upgrade_request(version="8"), b"426"),
        (_upgrade_request(path="/no-such-endpoint"), b"404"),
    ],
    ids=["no-key", "short-key", "version-8", "unknown-path"],
)
def test_bad_upgrade_is_refused_with_http_status(
    request_bytes: bytes, status: bytes, echo_server: ServerProcess
) -> None:
    with socket.create_connection((echo_server.host, echo_server.port), timeout=5) as sock:
        sock.sendall(request_bytes)
        head = _read_until(sock, b"\r\n\r\n")
        assert head.split(b" ")[1] == status, head
        if status == b"426":
            assert b"sec-websocket-version: 13" in head.lower()
