//! Linux `struct input_event` records (64-bit layout) and an encoder that
//! turns text into the key events a keyboard-wedge scanner would send.
//!
//! A record is 24 bytes, little-endian:
//!
//! ```text
//! tv_sec: i64 | tv_usec: i64 | type: u16 | code: u16 | value: i32
//! ```
//!
//! [`EventParser`] takes the byte stream of an evdev device, a recording or
//! a FIFO in chunks of any size and keeps a partial record between calls.
//!
//! [`encode_keystrokes`] is the reverse of the decoder: text to key presses
//! for a layout (Shift, AltGr, dead keys, Ctrl+letter for control
//! characters, Alt+numpad codes for what the layout cannot type), with
//! timestamps and a configurable gap between keys. Tests, demos and the
//! replay tool use it to make recorded streams.
use super::cp1252;
use super::decoder::Terminator;
use super::keymap::{self, keys::*, Layout};
use std::fmt;

/// Size of one record.
pub const EVENT_SIZE: usize = 24;

/// Event types.
pub const EV_SYN: u16 = 0;
pub const EV_KEY: u16 = 1;
pub const EV_MSC: u16 = 4;

/// `EV_SYN` codes.
pub const SYN_REPORT: u16 = 0;
pub const SYN_DROPPED: u16 = 3;

/// `EV_MSC` code carrying the hardware scan code.
pub const MSC_SCAN: u16 = 4;

/// `EV_KEY` values.
pub const KEY_UP: i32 = 0;
pub const KEY_DOWN: i32 = 1;
pub const KEY_REPEAT: i32 = 2;

/// One input event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct InputEvent {
    pub tv_sec: i64,
    pub tv_usec: i64,
    pub kind: u16,
    pub code: u16,
    pub value: i32,
}

impl InputEvent {
    /// An event at `time_us` microseconds.
    pub fn at(time_us: i64, kind: u16, code: u16, value: i32) -> Self {
        InputEvent {
            tv_sec: time_us.div_euclid(1_000_000),
            tv_usec: time_us.rem_euclid(1_000_000),
            kind,
            code,
            value,
        }
    }

    /// A key event (`value`: [`KEY_UP`], [`KEY_DOWN`] or [`KEY_REPEAT`]).
    pub fn key(time_us: i64, code: u16, value: i32) -> Self {
        Self::at(time_us, EV_KEY, code, value)
    }

    /// A `SYN_REPORT`.
    pub fn syn(time_us: i64) -> Self {
        Self::at(time_us, EV_SYN, SYN_REPORT, 0)
    }

    /// The timestamp in microseconds (saturating: never overflows).
    pub fn time_us(&self) -> i64 {
        self.tv_sec
            .saturating_mul(1_000_000)
            .saturating_add(self.tv_usec)
    }

    /// Parse one record.
    pub fn from_bytes(b: &[u8; EVENT_SIZE]) -> Self {
        let i64_at = |o: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[o..o + 8]);
            i64::from_le_bytes(a)
        };
        InputEvent {
            tv_sec: i64_at(0),
            tv_usec: i64_at(8),
            kind: u16::from_le_bytes([b[16], b[17]]),
            code: u16::from_le_bytes([b[18], b[19]]),
            value: i32::from_le_bytes([b[20], b[21], b[22], b[23]]),
        }
    }

    /// The record's bytes.
    pub fn to_bytes(&self) -> [u8; EVENT_SIZE] {
        let mut b = [0u8; EVENT_SIZE];
        b[0..8].copy_from_slice(&self.tv_sec.to_le_bytes());
        b[8..16].copy_from_slice(&self.tv_usec.to_le_bytes());
        b[16..18].copy_from_slice(&self.kind.to_le_bytes());
        b[18..20].copy_from_slice(&self.code.to_le_bytes());
        b[20..24].copy_from_slice(&self.value.to_le_bytes());
        b
    }
}

/// Incremental parser: feed bytes in any chunking, get whole events.
#[derive(Clone, Debug, Default)]
pub struct EventParser {
    partial: [u8; EVENT_SIZE],
    len: usize,
}

impl EventParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes of an incomplete record held back from earlier calls.
    pub fn pending(&self) -> usize {
        self.len
    }

    /// Drop a held-back partial record.
    pub fn reset(&mut self) {
        self.len = 0;
    }

    /// Parse `bytes`, calling `f` for each complete event in order.
    pub fn feed(&mut self, mut bytes: &[u8], mut f: impl FnMut(InputEvent)) {
        if self.len > 0 {
            let take = (EVENT_SIZE - self.len).min(bytes.len());
            self.partial[self.len..self.len + take].copy_from_slice(&bytes[..take]);
            self.len += take;
            bytes = &bytes[take..];
            if self.len < EVENT_SIZE {
                return;
            }
            self.len = 0;
            f(InputEvent::from_bytes(&self.partial));
        }
        let mut chunks = bytes.chunks_exact(EVENT_SIZE);
        for c in &mut chunks {
            let mut rec = [0u8; EVENT_SIZE];
            rec.copy_from_slice(c);
            f(InputEvent::from_bytes(&rec));
        }
        let rest = chunks.remainder();
        self.partial[..rest.len()].copy_from_slice(rest);
        self.len = rest.len();
    }

    /// [`feed`](Self::feed) collecting into a `Vec`.
    pub fn feed_vec(&mut self, bytes: &[u8]) -> Vec<InputEvent> {
        let mut out = Vec::with_capacity(bytes.len() / EVENT_SIZE + 1);
        self.feed(bytes, |e| out.push(e));
        out
    }
}

/// Serialize events into records.
pub fn events_to_bytes(events: &[InputEvent]) -> Vec<u8> {
    let mut out = Vec::with_capacity(events.len() * EVENT_SIZE);
    for e in events {
        out.extend_from_slice(&e.to_bytes());
    }
    out
}

/// How [`encode_keystrokes`] lays out the key events in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Time of the first key press, in microseconds.
    pub start_us: i64,
    /// Time from one key stroke to the next, in microseconds (a key is
    /// released half-way). Negative values count as 0.
    pub gap_us: i64,
    /// Key pressed after the text, if any.
    pub terminator: Option<Terminator>,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            start_us: 0,
            gap_us: 2_000,
            terminator: Some(Terminator::Enter),
        }
    }
}

/// A character [`encode_keystrokes`] cannot produce with the layout, not
/// even as an Alt+numpad code (it is not in Windows-1252).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodeError {
    pub character: char,
    pub layout: &'static str,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "character {:?} (U+{:04X}) cannot be typed on layout {:?}, \
             not even as an Alt+numpad code (it is not in Windows-1252)",
            self.character,
            u32::from(self.character),
            self.layout
        )
    }
}

impl std::error::Error for EncodeError {}

/// One key stroke of the encoder's plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stroke {
    Key {
        code: u16,
        shift: bool,
        altgr: bool,
        ctrl: bool,
    },
    /// Alt held, `0` and the three digits of the Windows-1252 byte on the
    /// numpad, Alt released.
    AltCode(u8),
}

fn key_stroke(code: u16, level: u8, ctrl: bool) -> Stroke {
    Stroke::Key {
        code,
        shift: level & 1 != 0,
        altgr: level & 2 != 0,
        ctrl,
    }
}

fn plan_char(layout: &Layout, c: char, out: &mut Vec<Stroke>) -> Result<(), EncodeError> {
    let plain = |code| key_stroke(code, 0, false);
    match c {
        '\0' => {
            return Err(EncodeError {
                character: c,
                layout: layout.name(),
            })
        }
        '\n' | '\r' => {
            out.push(plain(KEY_ENTER));
            return Ok(());
        }
        '\t' => {
            out.push(plain(KEY_TAB));
            return Ok(());
        }
        _ => {}
    }
    if let Some((code, level)) = layout.key_for(c) {
        out.push(key_stroke(code, level, false));
        return Ok(());
    }
    // A spacing accent that is only a dead key: the accent, then space.
    if let Some((code, level)) = layout.dead_key_for(c) {
        out.push(key_stroke(code, level, false));
        out.push(plain(KEY_SPACE));
        return Ok(());
    }
    if let Some((accent, base)) = keymap::decompose(c) {
        if let (Some((dc, dl)), Some((bc, bl))) =
            (layout.dead_key_for(accent), layout.key_for(base))
        {
            out.push(key_stroke(dc, dl, false));
            out.push(key_stroke(bc, bl, false));
            return Ok(());
        }
    }
    // Control characters as Ctrl+key (GS = Ctrl+], as scanners send it),
    // when the key needs no AltGr.
    if u32::from(c) < 0x20 {
        let target = char::from(c as u8 | 0x40);
        let key = if target.is_ascii_uppercase() {
            layout.key_for(target.to_ascii_lowercase())
        } else {
            layout.key_for(target)
        };
        if let Some((code, level)) = key.filter(|&(_, l)| l & 2 == 0) {
            out.push(key_stroke(code, level, true));
            return Ok(());
        }
    }
    match cp1252::encode(c) {
        Some(b) => {
            out.push(Stroke::AltCode(b));
            Ok(())
        }
        _ => Err(EncodeError {
            character: c,
            layout: layout.name(),
        }),
    }
}

fn digit_key(d: u8) -> u16 {
    match d {
        0 => KEY_KP0,
        1 => KEY_KP1,
        2 => KEY_KP2,
        3 => KEY_KP3,
        4 => KEY_KP4,
        5 => KEY_KP5,
        6 => KEY_KP6,
        7 => KEY_KP7,
        8 => KEY_KP8,
        _ => KEY_KP9,
    }
}

/// The key events a scanner configured for `layout` sends for `text`,
/// followed by the terminator key if any.
///
/// Stroke `i` (a character, or one key of a dead-key pair) is pressed at
/// `start_us + i * gap_us` and released half a gap later, each press and
/// release followed by a `SYN_REPORT`. Modifiers (left Shift, right Alt as
/// AltGr, left Ctrl) are pressed just before the key and released with it.
/// `'\n'` and `'\r'` are the Enter key, `'\t'` is Tab (so with the Enter
/// terminator, `"A\nB"` is two codes). Control characters are Ctrl+key
/// where the key needs no AltGr; characters the layout cannot type become
/// Alt+0nnn numpad codes (Windows-1252).
pub fn encode_events(
    text: &str,
    layout: &Layout,
    opts: &EncodeOptions,
) -> Result<Vec<InputEvent>, EncodeError> {
    let mut plan = Vec::with_capacity(text.len() + 1);
    for c in text.chars() {
        plan_char(layout, c, &mut plan)?;
    }
    if let Some(t) = opts.terminator {
        plan.push(key_stroke(t.keycode(), 0, false));
    }
    let gap = opts.gap_us.max(0);
    let half = gap / 2;
    let mut ev = Vec::with_capacity(plan.len() * 8);
    let mut push = |t: i64, code: u16, value: i32| {
        ev.push(InputEvent::key(t, code, value));
        ev.push(InputEvent::syn(t));
    };
    for (i, stroke) in plan.iter().enumerate() {
        let t = opts
            .start_us
            .saturating_add(gap.saturating_mul(i64::try_from(i).unwrap_or(i64::MAX)));
        let up = t.saturating_add(half);
        match *stroke {
            Stroke::Key {
                code,
                shift,
                altgr,
                ctrl,
            } => {
                let mods: Vec<u16> = [
                    (ctrl, KEY_LEFTCTRL),
                    (shift, KEY_LEFTSHIFT),
                    (altgr, KEY_RIGHTALT),
                ]
                .iter()
                .filter(|(on, _)| *on)
                .map(|&(_, k)| k)
                .collect();
                for &m in &mods {
                    push(t, m, KEY_DOWN);
                }
                push(t, code, KEY_DOWN);
                push(up, code, KEY_UP);
                for &m in mods.iter().rev() {
                    push(up, m, KEY_UP);
                }
            }
            Stroke::AltCode(b) => {
                let digits = [0, b / 100, (b / 10) % 10, b % 10];
                push(t, KEY_LEFTALT, KEY_DOWN);
                let step = half / 5;
                for (j, &d) in digits.iter().enumerate() {
                    let dt = t.saturating_add(step.saturating_mul(j as i64));
                    push(dt, digit_key(d), KEY_DOWN);
                    push(dt, digit_key(d), KEY_UP);
                }
                push(up, KEY_LEFTALT, KEY_UP);
            }
        }
    }
    Ok(ev)
}

/// [`encode_events`] as `input_event` records.
pub fn encode_keystrokes(
    text: &str,
    layout: &Layout,
    opts: &EncodeOptions,
) -> Result<Vec<u8>, EncodeError> {
    Ok(events_to_bytes(&encode_events(text, layout, opts)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hid::keymap::layout;

    #[test]
    fn record_round_trip() {
        let e = InputEvent {
            tv_sec: 1_700_000_000,
            tv_usec: 123_456,
            kind: EV_KEY,
            code: KEY_A,
            value: KEY_DOWN,
        };
        let b = e.to_bytes();
        assert_eq!(&b[16..18], &[1, 0]);
        assert_eq!(&b[18..20], &[30, 0]);
        assert_eq!(&b[20..24], &[1, 0, 0, 0]);
        assert_eq!(InputEvent::from_bytes(&b), e);
        assert_eq!(e.time_us(), 1_700_000_000_123_456);
    }

    #[test]
    fn at_splits_negative_times() {
        let e = InputEvent::at(-1, EV_SYN, 0, 0);
        assert_eq!((e.tv_sec, e.tv_usec), (-1, 999_999));
        assert_eq!(e.time_us(), -1);
        let big = InputEvent {
            tv_sec: i64::MAX,
            tv_usec: i64::MAX,
            ..Default::default()
        };
        assert_eq!(big.time_us(), i64::MAX);
    }

    #[test]
    fn parser_any_chunking() {
        let events: Vec<InputEvent> = (0..5)
            .map(|i| InputEvent::key(i * 1000, KEY_A + i as u16, KEY_DOWN))
            .collect();
        let bytes = events_to_bytes(&events);
        for chunk in 1..=bytes.len() {
            let mut p = EventParser::new();
            let mut got = Vec::new();
            for c in bytes.chunks(chunk) {
                got.extend(p.feed_vec(c));
            }
            assert_eq!(got, events, "chunk {chunk}");
            assert_eq!(p.pending(), 0);
        }
        let mut p = EventParser::new();
        assert!(p.feed_vec(&bytes[..30]).len() == 1);
        assert_eq!(p.pending(), 6);
        p.reset();
        assert_eq!(p.pending(), 0);
    }

    #[test]
    fn encode_shift_and_timing() {
        let us = layout("us").unwrap();
        let opts = EncodeOptions {
            start_us: 1_000_000,
            gap_us: 4_000,
            terminator: Some(Terminator::Enter),
        };
        let ev = encode_events("aB", us, &opts).unwrap();
        let keys: Vec<(i64, u16, i32)> = ev
            .iter()
            .filter(|e| e.kind == EV_KEY)
            .map(|e| (e.time_us(), e.code, e.value))
            .collect();
        assert_eq!(
            keys,
            vec![
                (1_000_000, KEY_A, 1),
                (1_002_000, KEY_A, 0),
                (1_004_000, KEY_LEFTSHIFT, 1),
                (1_004_000, KEY_B, 1),
                (1_006_000, KEY_B, 0),
                (1_006_000, KEY_LEFTSHIFT, 0),
                (1_008_000, KEY_ENTER, 1),
                (1_010_000, KEY_ENTER, 0),
            ]
        );
        // Every key event is followed by a SYN_REPORT.
        assert_eq!(ev.len(), keys.len() * 2);
        assert!(ev.chunks(2).all(|p| p[1].kind == EV_SYN));
    }

    #[test]
    fn encode_altgr_dead_ctrl_altcode() {
        let de = layout("de").unwrap();
        let none = EncodeOptions {
            terminator: None,
            ..Default::default()
        };
        let presses = |text: &str, l| -> Vec<u16> {
            encode_events(text, l, &none)
                .unwrap()
                .iter()
                .filter(|e| e.kind == EV_KEY && e.value == KEY_DOWN)
                .map(|e| e.code)
                .collect()
        };
        assert_eq!(presses("@", de), vec![KEY_RIGHTALT, KEY_Q]);
        assert_eq!(presses("^", de), vec![KEY_GRAVE, KEY_SPACE]);
        assert_eq!(presses("é", de), vec![KEY_EQUAL, KEY_E]);
        assert_eq!(
            presses("\u{1d}", de),
            vec![KEY_LEFTALT, KEY_KP0, KEY_KP0, KEY_KP2, KEY_KP9]
        );
        let us = layout("us").unwrap();
        assert_eq!(presses("\u{1d}", us), vec![KEY_LEFTCTRL, KEY_RIGHTBRACE]);
        assert_eq!(presses("\u{1}", us), vec![KEY_LEFTCTRL, KEY_A]);
        assert_eq!(
            presses("é", us),
            vec![KEY_LEFTALT, KEY_KP0, KEY_KP2, KEY_KP3, KEY_KP3]
        );
        assert_eq!(
            presses("€", us),
            vec![KEY_LEFTALT, KEY_KP0, KEY_KP1, KEY_KP2, KEY_KP8]
        );
        let fr = layout("fr").unwrap();
        assert_eq!(presses("1", fr), vec![KEY_LEFTSHIFT, KEY_1]);
        assert_eq!(presses("ê", fr), vec![KEY_LEFTBRACE, KEY_E]);
        let err = encode_events("Ω", us, &none).unwrap_err();
        assert_eq!(err.character, 'Ω');
        assert!(err.to_string().contains("\"us\""));
        assert!(encode_events("\0", us, &none).is_err());
    }

    #[test]
    fn encode_terminators() {
        let us = layout("us").unwrap();
        for (t, k) in [
            (Terminator::Enter, KEY_ENTER),
            (Terminator::KeypadEnter, KEY_KPENTER),
            (Terminator::Tab, KEY_TAB),
        ] {
            let opts = EncodeOptions {
                terminator: Some(t),
                ..Default::default()
            };
            let ev = encode_events("", us, &opts).unwrap();
            assert_eq!(ev[0], InputEvent::key(0, k, KEY_DOWN));
        }
    }
}
