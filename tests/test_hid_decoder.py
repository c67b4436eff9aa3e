"""Scanner decoding through scanbridge._core: keyboard-wedge `input_event`
streams and HID POS reports.

The "recorded" streams are built here with struct, independently of the
core's encoder, the way an evdev device delivers them: EV_MSC scan codes,
SYN_REPORTs, a modifier pressed around the key, autorepeat now and then.
"""

from __future__ import annotations

import random
import struct

import pytest

from scanbridge import _core

EV_SYN, EV_KEY, EV_MSC = 0, 1, 4
MSC_SCAN = 4

KEY = {
    "1": 2, "2": 3, "3": 4, "4": 5, "5": 6, "6": 7, "7": 8, "8": 9, "9": 10, "0": 11,
    "minus": 12, "equal": 13, "tab": 15,
    "q": 16, "w": 17, "e": 18, "r": 19, "t": 20, "y": 21, "u": 22, "i": 23, "o": 24,
    "p": 25, "leftbrace": 26, "rightbrace": 27, "enter": 28, "leftctrl": 29,
    "a": 30, "s": 31, "d": 32, "f": 33, "g": 34, "h": 35, "j": 36, "k": 37, "l": 38,
    "semicolon": 39, "apostrophe": 40, "grave": 41, "leftshift": 42, "backslash": 43,
    "z": 44, "x": 45, "c": 46, "v": 47, "b": 48, "n": 49, "m": 50,
    "comma": 51, "dot": 52, "slash": 53, "leftalt": 56, "space": 57,
    "kp7": 71, "kp8": 72, "kp9": 73, "kp4": 75, "kp5": 76, "kp6": 77,
    "kp1": 79, "kp2": 80, "kp3": 81, "kp0": 82, "102nd": 86, "kpenter": 96,
    "rightalt": 100,
}  # fmt: skip


def record(t_us: int, kind: int, code: int, value: int) -> bytes:
    return struct.pack("<qqHHi", t_us // 1_000_000, t_us % 1_000_000, kind, code, value)


class Recorder:
    """Key strokes as an evdev keyboard reports them."""

    def __init__(self, start_us: int = 1_700_000_000_000_000, gap_us: int = 3_000) -> None:
        self.t = start_us
        self.gap = gap_us
        self.out = bytearray()

    def _key(self, code: int, value: int) -> None:
        self.out += record(self.t, EV_MSC, MSC_SCAN, 0x70000 + code)
        self.out += record(self.t, EV_KEY, code, value)
        self.out += record(self.t, EV_SYN, 0, 0)

    def stroke(self, key: str, *mods: str, repeat: bool = False) -> Recorder:
        for m in mods:
            self._key(KEY[m], 1)
        self._key(KEY[key], 1)
        if repeat:
            self._key(KEY[key], 2)
        self.t += self.gap // 2
        self._key(KEY[key], 0)
        for m in reversed(mods):
            self._key(KEY[m], 0)
        self.t += self.gap - self.gap // 2
        return self

    def type(self, keys: str) -> Recorder:
        for k in keys:
            self.stroke(k)
        return self

    def bytes(self) -> bytes:
        return bytes(self.out)


def us_recording() -> tuple[bytes, str]:
    r = Recorder()
    r.stroke("a", "leftshift").type("b1").stroke("1", "leftshift").stroke("2", "leftshift")
    r.stroke("minus", "leftshift").stroke("apostrophe", "leftshift").stroke("slash")
    r.stroke("z", repeat=True).stroke("enter")
    return r.bytes(), 'Ab1!@_"/z'


def de_recording() -> tuple[bytes, str]:
    # "Größe@€{}\|~#" on a German (QWERTZ) scanner.
    r = Recorder()
    r.stroke("g", "leftshift").stroke("r").stroke("semicolon").stroke("minus").stroke("e")
    r.stroke("q", "rightalt").stroke("e", "rightalt")
    r.stroke("7", "rightalt").stroke("0", "rightalt")
    r.stroke("minus", "rightalt").stroke("102nd", "rightalt").stroke("rightbrace", "rightalt")
    r.stroke("backslash").stroke("y").stroke("z", "leftshift")
    r.stroke("kpenter")
    return r.bytes(), "Größe@€{}\\|~#zY"


def scans(result: list[tuple[str, bytes, float, float, bool]]) -> list[str]:
    return [s.text for s in result]


def test_layouts_and_unknown_layout() -> None:
    assert _core.layouts() == ["us", "uk", "de", "fr"]
    with pytest.raises(ValueError, match=r'"dvorak".*us, uk, de, fr'):
        _core.KeyboardDecoder(layout="dvorak")
    with pytest.raises(ValueError, match="dvorak"):
        _core.encode_keystrokes("x", layout="dvorak")
    with pytest.raises(ValueError, match="space"):
        _core.KeyboardDecoder(terminators=("space",))
    with pytest.raises(ValueError, match="inter_key_timeout"):
        _core.KeyboardDecoder(inter_key_timeout=-1)


def test_recorded_us_stream() -> None:
    data, text = us_recording()
    d = _core.KeyboardDecoder()
    (scan,) = d.feed(data)
    assert scan.text == text
    assert scan.raw == text.encode()
    assert scan.first_ts == pytest.approx(1_700_000_000.0)
    assert scan.last_ts > scan.first_ts
    assert scan.human is False
    assert not d.pending
    assert d.flush() == []


def test_recorded_de_stream_with_altgr() -> None:
    data, text = de_recording()
    d = _core.KeyboardDecoder(layout="de")
    assert d.layout == "de"
    assert scans(d.feed(data)) == [text]
    # The same keys read with the wrong layout give something else.
    assert scans(_core.KeyboardDecoder(layout="us").feed(data)) != [text]


@pytest.mark.parametrize(
    ("layout", "text"),
    [
        ("us", "Hello, World! #42 [a]{b} ~`|\\"),
        ("uk", 'Price: £9.99 "q" @home #1 ~ \\|'),
        ("de", "Größe: 5€ @home {[x]} \\ | ~ ÄÖÜ ß ^ ° é"),
        ("fr", "Prix: 1234,50€ @ # à é è ç ù { } [ ] | \\ ^ ê"),
    ],
)
def test_encode_decode_round_trip(layout: str, text: str) -> None:
    data = _core.encode_keystrokes(text, layout=layout, start=10.0, gap=0.004)
    assert len(data) % 24 == 0
    (scan,) = _core.KeyboardDecoder(layout=layout).feed(data)
    assert scan.text == text
    assert scan.raw == text.encode()
    assert scan.first_ts == pytest.approx(10.0)


def test_fr_digits_are_shifted() -> None:
    data = _core.encode_keystrokes("1", layout="fr", terminator=None)
    codes = [struct.unpack_from("<qqHHi", data, off)[3:] for off in range(0, len(data), 24)]
    assert (KEY["leftshift"], 1) in codes
    assert (KEY["1"], 1) in codes


def test_two_codes_in_one_burst() -> None:
    data = _core.encode_keystrokes("A1\nB2")
    result = _core.KeyboardDecoder().feed(data)
    assert scans(result) == ["A1", "B2"]
    assert result[0].last_ts < result[1].first_ts


def test_code_without_terminator_comes_out_on_flush_idle() -> None:
    data = _core.encode_keystrokes("4006381333931", start=100.0, gap=0.002, terminator=None)
    d = _core.KeyboardDecoder(inter_key_timeout=0.05)
    assert d.feed(data) == []
    assert d.pending
    last = 100.0 + 12 * 0.002
    assert d.flush_idle(last + 0.01) == []
    (scan,) = d.flush_idle(last + 0.1)
    assert scan.text == "4006381333931"
    assert scan.first_ts == pytest.approx(100.0)
    assert scan.last_ts == pytest.approx(last)
    assert not d.pending
    assert d.flush_idle(last + 1.0) == []


def test_flush_mid_stream_and_reset() -> None:
    data = _core.encode_keystrokes("AB", terminator=None) + _core.encode_keystrokes("CD", start=1.0)
    d = _core.KeyboardDecoder()
    # A timer on the host's clock may fire between any two reads, even in
    # the middle of a record: flush() ends the code and loses nothing.
    # The cut is inside the record of the D press (Enter is the last 4
    # records, D's release, Shift's release and their SYNs the 5 before).
    cut = len(data) - 4 * 24 - 5 * 24 - 7
    got = d.feed(data[:cut]) + d.flush() + d.feed(data[cut:])
    assert scans(got) == ["AB", "C", "D"]
    d = _core.KeyboardDecoder()
    d.feed(_core.encode_keystrokes("xy", terminator=None)[:-30])
    assert d.pending
    d.reset()
    assert not d.pending
    assert d.flush() == []
    assert scans(d.feed(_core.encode_keystrokes("ok"))) == ["ok"]


def test_min_length_and_human() -> None:
    d = _core.KeyboardDecoder(min_length=3)
    assert scans(d.feed(_core.encode_keystrokes("ab\nabc\n"))) == ["abc"]
    d = _core.KeyboardDecoder(max_avg_gap=0.03, inter_key_timeout=1.0)
    fast = _core.encode_keystrokes("SCAN123", gap=0.003)
    slow = _core.encode_keystrokes("typed", start=50.0, gap=0.2)
    result = d.feed(fast + slow)
    assert [(s.text, s.human) for s in result] == [("SCAN123", False), ("typed", True)]


def test_terminators_tab_and_enter_inside() -> None:
    d = _core.KeyboardDecoder(terminators=["tab"])
    data = _core.encode_keystrokes("line1\nline2", terminator="tab")
    assert scans(d.feed(data)) == ["line1\nline2"]
    d = _core.KeyboardDecoder(terminators=("enter", "kp_enter", "tab"))
    data = _core.encode_keystrokes("x", terminator="kp_enter")
    data += _core.encode_keystrokes("y", start=0.1, terminator="tab")
    assert scans(d.feed(data)) == ["x", "y"]


def test_alt_codes_give_raw_bytes() -> None:
    data = _core.encode_keystrokes("Café €5", layout="us")
    (scan,) = _core.KeyboardDecoder().feed(data)
    assert scan.text == "Café €5"
    # é and € were typed as Alt+0233 and Alt+0128: raw holds those bytes.
    assert scan.raw == b"Caf\xe9 \x805"
    assert scan.raw.decode("cp1252") == scan.text
    with pytest.raises(ValueError, match="Windows-1252"):
        _core.encode_keystrokes("Ω")


def test_gs1_group_separator() -> None:
    code = "0104012345678901\x1d10LOT42\x1d21SERIAL"
    for layout in _core.layouts():
        data = _core.encode_keystrokes(code, layout=layout)
        assert scans(_core.KeyboardDecoder(layout=layout).feed(data)) == [code], layout


@pytest.mark.parametrize("recording", [us_recording, de_recording])
def test_every_split_point(recording) -> None:
    data, text = recording()
    layout = "us" if recording is us_recording else "de"
    data = data + _core.encode_keystrokes("Z9", layout=layout, start=1_800_000_000.0)
    whole = _core.KeyboardDecoder(layout=layout).feed(data)
    assert scans(whole) == [text, "Z9"]
    for split in range(len(data) + 1):
        d = _core.KeyboardDecoder(layout=layout)
        got = d.feed(data[:split]) + d.feed(data[split:])
        assert got == whole, split


def test_byte_at_a_time() -> None:
    data, text = de_recording()
    d = _core.KeyboardDecoder(layout="de")
    got = []
    for i in range(len(data)):
        got += d.feed(data[i : i + 1])
    assert scans(got) == [text]


def test_garbage_never_raises() -> None:
    rng = random.Random(1234)
    for layout in _core.layouts():
        d = _core.KeyboardDecoder(layout=layout, max_avg_gap=0.01)
        for _ in range(200):
            d.feed(rng.randbytes(rng.randrange(0, 300)))
            d.flush_idle(rng.uniform(-1e12, 1e12))
        # Plausible-looking key events with random codes and values.
        events = b"".join(
            record(rng.randrange(0, 10**12), EV_KEY, rng.randrange(0, 300), rng.randrange(-1, 4))
            for _ in range(3000)
        )
        for s in d.feed(events) + d.flush():
            assert isinstance(s.text, str) and isinstance(s.raw, bytes)
    d = _core.KeyboardDecoder()
    d.feed(b"")
    assert d.flush_idle(1e300) == []
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            d.flush_idle(bad)


# HID POS ------------------------------------------------------------------

# Report 2 laid out as Access-IS readers document it (ID, length, 3 AIM
# identifier bytes, 56 data bytes, vendor byte, reserved, flags with bit 0
# "continued"), with the HID POS 1.02 usages; output report 4 with good-read
# beep, error beep and good-read LED. The same descriptor as the core's tests.
POS_DESCRIPTOR = bytes(
    [
        0x05, 0x8C, 0x09, 0x02, 0xA1, 0x01, 0x09, 0x12, 0xA1, 0x02,
        0x85, 0x02, 0x15, 0x00, 0x26, 0xFF, 0x00, 0x75, 0x08, 0x95, 0x01,
        0x05, 0x01, 0x09, 0x3B, 0x81, 0x02,
        0x05, 0x8C, 0x95, 0x03, 0x09, 0xFB, 0x09, 0xFC, 0x09, 0xFD, 0x81, 0x02,
        0x95, 0x38, 0x09, 0xFE, 0x82, 0x02, 0x01,
        0x06, 0x00, 0xFF, 0x95, 0x01, 0x09, 0x01, 0x81, 0x02, 0x81, 0x03,
        0x05, 0x8C, 0x25, 0x01, 0x75, 0x01, 0x09, 0xFF, 0x81, 0x02,
        0x75, 0x07, 0x81, 0x03, 0xC0,
        0x85, 0x04, 0x75, 0x01, 0x95, 0x01,
        0x09, 0x86, 0x91, 0x02, 0x09, 0x85, 0x91, 0x02, 0x09, 0x7D, 0x91, 0x02,
        0x75, 0x05, 0x91, 0x03, 0xC0,
    ]
)  # fmt: skip


def pos_report(aim: bytes, data: bytes, continued: bool = False) -> bytes:
    return bytes([2, len(data)]) + aim + data.ljust(56, b"\0") + bytes([0x78, 0, int(continued)])


def test_hid_pos_single_and_multi_report() -> None:
    p = _core.HidPosParser(POS_DESCRIPTOR)
    assert p.report_id == 2
    assert p.feed_report(pos_report(b"]E0", b"4006381333931")) == _core.PosScan(
        "]E0", b"4006381333931"
    )
    long = bytes(range(1, 121))
    assert p.feed_report(pos_report(b"]Q1", long[:56], True)) is None
    assert p.pending
    assert p.feed_report(pos_report(b"]Q1", long[56:112], True)) is None
    assert p.feed_report(pos_report(b"]Q1", long[112:])) == _core.PosScan("]Q1", long)
    assert not p.pending
    assert p.feed_report(bytes([4, 1])) is None
    assert p.feed_report(pos_report(b"\0\0\0", b"NOAIM")) == _core.PosScan(None, b"NOAIM")


def test_hid_pos_feedback_reports() -> None:
    p = _core.HidPosParser(POS_DESCRIPTOR)
    assert p.beep_report() == bytes([4, 0b101])
    assert p.error_report() == bytes([4, 0b010])
    no_output = bytes([0x05, 0x8C, 0x75, 0x08, 0x95, 0x10, 0x09, 0xFE, 0x81, 0x02])
    p = _core.HidPosParser(no_output)
    assert p.report_id == 0
    assert p.beep_report() is None
    assert p.feed_report(b"hello".ljust(16, b"\0")) == _core.PosScan(None, b"hello")


def test_hid_pos_bad_descriptors_and_garbage() -> None:
    with pytest.raises(ValueError, match="0x8C:0xFE"):
        _core.HidPosParser(b"")
    with pytest.raises(ValueError, match="truncated"):
        _core.HidPosParser(b"\x05")
    rng = random.Random(99)
    for _ in range(500):
        try:
            _core.HidPosParser(rng.randbytes(rng.randrange(0, 100)))
        except ValueError:
            pass
    p = _core.HidPosParser(POS_DESCRIPTOR)
    for _ in range(500):
        result = p.feed_report(rng.randbytes(rng.randrange(0, 80)))
        assert result is None or isinstance(result.data, bytes)


def test_symbology_names() -> None:
    assert _core.symbology_name("]C0") == "CODE 128"
    assert _core.symbology_name("]E0") == "EAN-13"
    assert _core.symbology_name("]E4") == "EAN-8"
    assert _core.symbology_name("]Q1") == "QR CODE"
    assert _core.symbology_name("]d2") == "DATA MATRIX"
    assert _core.symbology_name("]I0") == "INTERLEAVED 2 OF 5"
    assert _core.symbology_name("]e0") == "GS1 DATABAR"
    assert _core.symbology_name("]X0") is None
    assert _core.symbology_name("nonsense") is None
    assert _core.symbology_name("]E0", b"012345678905") == "UPC-A"
