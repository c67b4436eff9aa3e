"""Microbenchmarks of the core's hot functions (pytest-benchmark).

CI runs them in a short mode (`--benchmark-disable` checks they work);
a person compares against a stored baseline:

    pytest benches/test_micro.py --benchmark-autosave
    pytest benches/test_micro.py --benchmark-compare
"""

from __future__ import annotations

import pytest

from scanbridge import _core

KEY = bytes([0x12, 0x34, 0x56, 0x78])


def frames(n: int, size: int) -> bytes:
    one = _core.encode_frame(2, b"x" * size, KEY)
    return one * n


@pytest.mark.parametrize("size", [64, 4096, 1 << 20])
def test_unmask(benchmark, size: int) -> None:
    data = bytes(range(256)) * (size // 256) or b"a" * size
    out = benchmark(_core.apply_mask, data, KEY)
    assert _core.apply_mask(out, KEY) == data


@pytest.mark.parametrize("size", [16, 256, 65536])
def test_encode_frame(benchmark, size: int) -> None:
    payload = b"p" * size
    out = benchmark(_core.encode_frame, 2, payload)
    assert out.endswith(payload)


@pytest.mark.parametrize(("count", "size"), [(1000, 64), (100, 4096)])
def test_parse_frames(benchmark, count: int, size: int) -> None:
    stream = frames(count, size)
    n = benchmark(_core.count_messages, stream)
    assert n == count


@pytest.mark.parametrize("text", ["ascii " * 1000, "κόσμε 𝄞 " * 500])
def test_utf8_validate(benchmark, text: str) -> None:
    data = text.encode()
    assert benchmark(_core.is_valid_utf8, data)
    assert not _core.is_valid_utf8(data + b"\xff")


@pytest.mark.parametrize("size", [256, 65536])
def test_deflate(benchmark, size: int) -> None:
    data = (b'{"event_type":"scan","scan_code":"4006381333931","seq":%d}' * 4000)[:size]
    out = benchmark(_core.deflate_message, data)
    assert len(out) < len(data)
    assert _core.inflate_message(out) == data


def test_inflate(benchmark) -> None:
    data = b'{"event_type":"scan","scan_code":"4006381333931"}' * 1000
    packed = _core.deflate_message(data)
    assert benchmark(_core.inflate_message, packed) == data


def test_hid_decode(benchmark) -> None:
    stream = b"".join(
        _core.encode_keystrokes(f"CODE-{i:05d}", "de", start=i * 0.1) for i in range(100)
    )

    def decode() -> int:
        return len(_core.KeyboardDecoder(layout="de").feed(stream))

    assert benchmark(decode) == 100


class _Members:
    """A real core server with N upgraded loopback connections in one room."""

    def __init__(self, n: int, extensions: str = "") -> None:
        import base64
        import os
        import socket
        import time

        self.core = _core.Server(max_queue_bytes=64 * 1024 * 1024)
        self.core.add_endpoint(["/m"], "python")
        _, _, port = self.core.listen("127.0.0.1", 0)
        self.socks = []
        key = base64.b64encode(os.urandom(16)).decode()
        req = (
            f"GET /m HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            + (f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else "")
            + "\r\n"
        ).encode()
        conns: list[int] = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(req)
            s.setblocking(False)
            self.socks.append(s)
        deadline = time.monotonic() + 30
        while len(conns) < n and time.monotonic() < deadline:
            events, _ = self.core.poll()
            conns += [e.conn for e in events if isinstance(e, _core.OpenEvent)]
        assert len(conns) == n
        for c in conns:
            self.core.join(c, "room")
        self.drain()

    def drain(self) -> None:
        self.core.flush()
        for s in self.socks:
            try:
                while s.recv(1 << 20):
                    pass
            except BlockingIOError:
                pass

    def close(self) -> None:
        for s in self.socks:
            s.close()


def test_fanout_enqueue_1000_members(benchmark) -> None:
    """Frame once, queue to 1000 members (the kernel writes are not timed)."""
    m = _Members(1000)
    try:
        msg = '["EVENT",{"sender":"bench","room":"room","message":"x"}]'
        result = benchmark.pedantic(
            m.core.publish, args=("room", msg), setup=m.drain, rounds=50, iterations=1
        )
        assert result == (1000, 0)
    finally:
        m.close()


def test_fanout_enqueue_1000_deflate_members(benchmark) -> None:
    """The same to 1000 members that agreed permessage-deflate (as browsers do): the
    event is compressed once, not once per member (shared compressors)."""
    m = _Members(1000, extensions="permessage-deflate; client_max_window_bits")
    try:
        msg = '["EVENT",{"sender":"bench","room":"room","message":"' + "scan " * 40 + '"}]'
        result = benchmark.pedantic(
            m.core.publish, args=("room", msg), setup=m.drain, rounds=50, iterations=1
        )
        assert result == (1000, 0)
    finally:
        m.close()
