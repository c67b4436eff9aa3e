"""Keyboard-wedge scanners end to end: recorded `input_event` streams through the
replay source (a FIFO read like a live device, or a file replayed once) to Streams
clients, decoded with the scanner's layout (PROTOCOLS.md section 1, `scan`)."""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ServerProcess, start_server
from streams_helpers import assert_header, connect, make_fifo, write_fifo

from scanbridge._core import encode_keystrokes

# One scanner per FIFO, so each test reads only its own device's scans.
SCANNERS = {
    "US-1": "layout=us",
    "DE-1": "layout=de",
    "HAND-US": "layout=us",
    "HAND-DE": "layout=de",
    "BURST-1": "layout=us",
    "NT-1": "layout=us,inter_key_timeout=0.4",
    "W2-1": "layout=de",
}


@pytest.fixture(scope="module")
def fifo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict]]:
    d = tmp_path_factory.mktemp("fifos")
    fifos = {serial: make_fifo(d / f"{serial}.fifo") for serial in SCANNERS}
    args: list[str] = []
    for serial, opts in SCANNERS.items():
        args += ["--scanner", f"replay:path={fifos[serial]},{opts},device_serial={serial}"]
    s = start_server("--port", "0", "--log-level", "warning", *args)
    yield s, fifos
    s.stop()


def scans_from(client, serial: str, n: int, timeout: float = 5.0) -> list[dict]:
    """The next n scans of `serial` (others' scans and state events skipped)."""
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        ev = client.next_of("scan", timeout=max(0.01, deadline - time.monotonic()))
        if ev["device_serial"] == serial:
            out.append(ev)
    return out


@pytest.mark.parametrize(
    ("serial", "layout", "codes"),
    [
        ("US-1", "us", ["Hello, World!", "{[]}\\|~", "a-Z_09 +=\"';:<>?/.,`!@#$%^&*()"]),
        ("DE-1", "de", ["Grüße@€1", "{[]}\\|~", "Zoll yz ÄÖÜäöü ß?=&/()'#*+-_<>°^"]),
    ],
)
def test_recorded_streams_decode_exactly(
    fifo_server: tuple[ServerProcess, dict], serial: str, layout: str, codes: list[str]
) -> None:
    server, fifos = fifo_server
    with connect(server.url + "/?ext=1") as c:
        for code in codes:
            write_fifo(fifos[serial], encode_keystrokes(code, layout=layout))
            (ev,) = scans_from(c, serial, 1)
            assert_header(ev)
            assert ev["scan_code"] == code
            assert ev["device_serial"] == serial
            assert "scan_bytes" not in ev  # valid UTF-8, no raw copy needed


# Independent of encode_keystrokes: events as a Linux keyboard sends them, built here
# from the evdev key codes of the physical keys (with EV_MSC scan codes, which a
# decoder must ignore).
EV_SYN, EV_KEY, EV_MSC = 0, 1, 4
KEY = {
    "1": 2, "2": 3, "3": 4, "7": 8, "8": 9, "9": 10, "0": 11, "minus": 12, "equal": 13,
    "h": 35, "q": 16, "w": 17, "e": 18, "r": 19, "t": 20, "y": 21, "u": 22, "o": 24, "p": 25,
    "leftbrace": 26, "rightbrace": 27, "enter": 28, "a": 30, "s": 31, "d": 32, "l": 38,
    "semicolon": 39, "apostrophe": 40, "grave": 41, "leftshift": 42, "backslash": 43,
    "z": 44, "c": 46, "comma": 51, "dot": 52, "slash": 53, "space": 57, "rightalt": 100,
    "102nd": 86,
}  # fmt: skip


def key_events(strokes: list[tuple[str, ...]], t0: float = 1000.0, gap: float = 0.003) -> bytes:
    """Each stroke is (modifier..., key): modifiers down, key down and up, modifiers up."""
    out = bytearray()
    t = t0

    def ev(type_: int, code: int, value: int) -> None:
        sec = int(t)
        out.extend(struct.pack("<qqHHi", sec, int((t - sec) * 1e6), type_, code, value))

    def press(name: str, value: int) -> None:
        ev(EV_MSC, 4, 0x70000 + KEY[name])  # MSC_SCAN, like a USB keyboard
        ev(EV_KEY, KEY[name], value)
        ev(EV_SYN, 0, 0)

    for stroke in strokes:
        *mods, key = stroke
        for mod in mods:
            press(mod, 1)
        press(key, 1)
        t += gap / 2
        press(key, 0)
        for mod in reversed(mods):
            press(mod, 0)
        t += gap / 2
    return bytes(out)


S, G = "leftshift", "rightalt"
HAND = {
    # On a German keyboard: Y and Z are swapped, umlauts on the US punctuation keys,
    # @ € { [ ] } \ | ~ with AltGr.
    ("HAND-DE", "yZ@€äöüß{[]}\\|~#'-_<>?1"): [
        ("z",), (S, "y"), (G, "q"), (G, "e"), ("apostrophe",), ("semicolon",),
        ("leftbrace",), ("minus",), (G, "7"), (G, "8"), (G, "9"), (G, "0"),
        (G, "minus"), (G, "102nd"), (G, "rightbrace"), ("backslash",), (S, "backslash"),
        ("slash",), (S, "slash"), ("102nd",), (S, "102nd"), (S, "minus"), ("1",),
        ("enter",),
    ],
    ("HAND-US", 'Hello, World!@{}|"~'): [
        (S, "h"), ("e",), ("l",), ("l",), ("o",), ("comma",), ("space",), (S, "w"),
        ("o",), ("r",), ("l",), ("d",), (S, "1"), (S, "2"), (S, "leftbrace"),
        (S, "rightbrace"), (S, "backslash"), (S, "apostrophe"), (S, "grave"),
        ("enter",),
    ],
}  # fmt: skip


@pytest.mark.parametrize(("serial", "code"), list(HAND))
def test_hand_built_key_events_decode(
    fifo_server: tuple[ServerProcess, dict], serial: str, code: str
) -> None:
    server, fifos = fifo_server
    with connect(server.url) as c:
        write_fifo(fifos[serial], key_events(HAND[serial, code]))
        (ev,) = scans_from(c, serial, 1)
        assert ev["scan_code"] == code


def test_two_codes_in_one_burst_arrive_in_order(fifo_server: tuple[ServerProcess, dict]) -> None:
    server, fifos = fifo_server
    burst = encode_keystrokes("FIRST-001") + encode_keystrokes("SECOND-002", start=0.1)
    with connect(server.url + "/?ext=1") as c:
        write_fifo(fifos["BURST-1"], burst)
        a, b = scans_from(c, "BURST-1", 2)
        assert (a["scan_code"], b["scan_code"]) == ("FIRST-001", "SECOND-002")
        assert a["seq"] < b["seq"]


def test_code_without_terminator_arrives_after_the_inter_key_timeout(
    fifo_server: tuple[ServerProcess, dict],
) -> None:
    server, fifos = fifo_server
    with connect(server.url) as c:
        t0 = time.monotonic()
        write_fifo(fifos["NT-1"], encode_keystrokes("NOTERM42", terminator=None))
        # inter_key_timeout=0.4: not before it ...
        c.no_event(within=0.2)
        (ev,) = scans_from(c, "NT-1", 1, timeout=5)
        waited = time.monotonic() - t0
        assert ev["scan_code"] == "NOTERM42"
        assert waited >= 0.35, f"arrived after {waited:.3f}s, before the inter-key timeout"


def test_a_second_writer_after_the_first_closed(fifo_server: tuple[ServerProcess, dict]) -> None:
    server, fifos = fifo_server
    with connect(server.url) as c:
        write_fifo(fifos["W2-1"], encode_keystrokes("Erster", layout="de"))
        assert scans_from(c, "W2-1", 1)[0]["scan_code"] == "Erster"
        time.sleep(0.2)  # the first writer is gone for a while
        write_fifo(fifos["W2-1"], encode_keystrokes("Zweiter", layout="de"))
        assert scans_from(c, "W2-1", 1)[0]["scan_code"] == "Zweiter"
        # and a third, writing its code in two pieces
        data = encode_keystrokes("Dritter", layout="de")
        write_fifo(fifos["W2-1"], data[:100])
        write_fifo(fifos["W2-1"], data[100:])
        assert scans_from(c, "W2-1", 1)[0]["scan_code"] == "Dritter"


def test_replay_file_is_replayed_once(tmp_path: Path) -> None:
    path = tmp_path / "recorded.bin"
    path.write_bytes(
        encode_keystrokes("Straße 1", layout="de")
        + encode_keystrokes("€5@Kasse", layout="de", start=0.5)
    )
    s = start_server(
        "--port",
        "0",
        "--log-level",
        "warning",
        "--scanner",
        f"replay:path={path},layout=de,device_serial=FILE-1",
    )
    try:
        # Read at start-up with nobody connected: the first client gets them.
        with connect(s.url) as c:
            got = scans_from(c, "FILE-1", 2)
            assert [e["scan_code"] for e in got] == ["Straße 1", "€5@Kasse"]
            assert all(e["device_serial"] == "FILE-1" for e in got)
            c.no_event(within=0.5)
        # The whole journal holds each code once: the file is not read again.
        with connect(f"{s.url}/?since=0") as c:
            events = []
            while True:
                try:
                    events.append(c.recv(timeout=0.5))
                except TimeoutError:
                    break
        scans = [e["scan_code"] for e in events if e["event_type"] == "scan"]
        assert scans == ["Straße 1", "€5@Kasse"]
        states = [e for e in events if e["event_type"] == "scanner_state"]
        assert [e["device_connected_state"] for e in states] == ["STATE_CONNECTED"]
    finally:
        s.stop()
