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
