//! [`KeyboardDecoder`]: the key events of a keyboard-wedge scanner to codes.
//!
//! The decoder reads `input_event` records (see [`super::input_event`]),
//! tracks Shift, Caps Lock, Ctrl, Alt and AltGr from presses and releases,
//! maps every key press to a character with the scanner's layout (see
//! [`super::keymap`]) and cuts the character stream into codes:
//!
//! - a configured terminator key (Enter, keypad Enter, Tab) ends a code;
//! - a pause of `inter_key_timeout_us` ends a code: when the next key comes
//!   that late, or when the host calls [`KeyboardDecoder::flush_idle`] on a
//!   timer;
//! - [`KeyboardDecoder::flush`] ends it at once (end of stream, or a
//!   timer on the host's clock); [`KeyboardDecoder::reset`] forgets all
//!   state for a new stream.
//!
//! So a burst "A1⏎B2⏎" gives two scans, in order. Codes shorter than
//! `min_length` characters are dropped. With `max_avg_gap_us` set, a code
//! whose keys came slower than that on average (a person typing) is still
//! returned, with `human: true`, so the host can ignore or log it; a code
//! of a single key stroke counts as human too, as there is no gap to judge.
//!
//! Other rules:
//!
//! - Autorepeat (value 2) is ignored, as are `EV_MSC`, unknown keycodes and
//!   keys that give nothing at the current level. `SYN_DROPPED` (the kernel
//!   lost events) releases all modifiers, since their releases may be lost.
//! - Enter, keypad Enter and Tab that are not terminators are part of the
//!   code, as `'\n'` and `'\t'`.
//! - Ctrl+key gives the control character of the key's character
//!   (Ctrl+] = GS, 0x1D, as scanners send GS1 separators); Ctrl+Alt is
//!   AltGr, as on Windows.
//! - Alt+numpad codes: with Alt held (left Alt, or right Alt on layouts
//!   without AltGr) the numpad digits are collected and, when Alt is
//!   released, give the character whose Windows-1252 byte is the number
//!   modulo 256. The byte goes to [`DecodedScan::raw`] as it is, the
//!   character to [`DecodedScan::text`]. Codes without a leading zero are
//!   read as Windows-1252 too (Windows would use the OEM code page, which
//!   scanners' "Alt mode" does not rely on); code 0 gives nothing.
//! - Dead keys compose as described in [`super::keymap`]; a dead key left
//!   pending when the code ends gives its spacing accent.
//! - A code longer than [`MAX_CODE_BYTES`] is cut there and continues as
//!   a new code.
//!
//! No input makes the decoder panic: arbitrary bytes are just unknown or
//! meaningless events.
use super::cp1252;
use super::input_event::{EventParser, InputEvent, EV_KEY, EV_SYN, KEY_DOWN, KEY_UP, SYN_DROPPED};
use super::keymap::{self, keys::*, Layout, Modifiers, Sym, UnknownLayout};
use std::fmt;

/// Longest code, in bytes of [`DecodedScan::raw`].
pub const MAX_CODE_BYTES: usize = 64 * 1024;

/// A key that ends a code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Terminator {
    Enter,
    KeypadEnter,
    Tab,
}

/// The error for a terminator name that is not one of [`Terminator::ALL`]'s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownTerminator(pub String);

impl fmt::Display for UnknownTerminator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<&str> = Terminator::ALL.iter().map(|t| t.name()).collect();
        write!(
            f,
            "unknown terminator {:?} (known: {})",
            self.0,
            known.join(", ")
        )
    }
}

impl std::error::Error for UnknownTerminator {}

impl Terminator {
    pub const ALL: [Terminator; 3] = [Terminator::Enter, Terminator::KeypadEnter, Terminator::Tab];

    /// The key's Linux keycode.
    pub fn keycode(self) -> u16 {
        match self {
            Terminator::Enter => KEY_ENTER,
            Terminator::KeypadEnter => KEY_KPENTER,
            Terminator::Tab => KEY_TAB,
        }
    }

    /// `"enter"`, `"kp_enter"` or `"tab"`.
    pub fn name(self) -> &'static str {
        match self {
            Terminator::Enter => "enter",
            Terminator::KeypadEnter => "kp_enter",
            Terminator::Tab => "tab",
        }
    }

    /// Parse a name (case-insensitive; `"keypad_enter"` and `"kpenter"` are
    /// accepted for `"kp_enter"`).
    pub fn from_name(name: &str) -> Result<Terminator, UnknownTerminator> {
        match name.trim().to_ascii_lowercase().as_str() {
            "enter" | "return" => Ok(Terminator::Enter),
            "kp_enter" | "keypad_enter" | "kpenter" => Ok(Terminator::KeypadEnter),
            "tab" => Ok(Terminator::Tab),
            _ => Err(UnknownTerminator(name.to_string())),
        }
    }
}

/// How a [`KeyboardDecoder`] splits and judges codes.
#[derive(Clone, Debug)]
pub struct DecoderConfig {
    /// The scanner's keyboard layout.
    pub layout: &'static Layout,
    /// Keys that end a code.
    pub terminators: Vec<Terminator>,
    /// A code ends when no key event comes for this long; 0 disables it.
    pub inter_key_timeout_us: u64,
    /// Shorter codes (in characters) are dropped.
    pub min_length: usize,
    /// If set, codes whose average time between key strokes is larger are
    /// marked [`DecodedScan::human`].
    pub max_avg_gap_us: Option<u64>,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig {
            layout: keymap::layout("us").expect("us layout exists"),
            terminators: vec![Terminator::Enter, Terminator::KeypadEnter],
            inter_key_timeout_us: 50_000,
            min_length: 1,
            max_avg_gap_us: None,
        }
    }
}

impl DecoderConfig {
    /// The default configuration with the named layout.
    pub fn with_layout(name: &str) -> Result<Self, UnknownLayout> {
        Ok(DecoderConfig {
            layout: keymap::layout(name)?,
            ..Default::default()
        })
    }
}

/// One decoded code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedScan {
    /// The code's text.
    pub text: String,
    /// The code's bytes: the UTF-8 of `text`, except that characters from
    /// Alt+numpad codes are their Windows-1252 byte.
    pub raw: Vec<u8>,
    /// Time of the code's first key stroke, in microseconds.
    pub first_us: i64,
    /// Time of its last key stroke (the terminator, if any).
    pub last_us: i64,
    /// The terminator that ended it; `None` for a pause or end of stream.
    pub terminator: Option<Terminator>,
    /// Typed slower than `max_avg_gap_us` on average.
    pub human: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct AltCode {
    value: u8,
    digits: u32,
}

/// The decoder state machine. See the module documentation.
#[derive(Clone, Debug)]
pub struct KeyboardDecoder {
    cfg: DecoderConfig,
    timeout: i64,
    parser: EventParser,
    shift_l: bool,
    shift_r: bool,
    ctrl_l: bool,
    ctrl_r: bool,
    alt_l: bool,
    alt_r: bool,
    caps: bool,
    alt_code: Option<AltCode>,
    dead: Option<char>,
    active: bool,
    text: String,
    raw: Vec<u8>,
    first_us: i64,
    last_us: i64,
    last_activity_us: i64,
    strokes: u64,
}

impl Default for KeyboardDecoder {
    fn default() -> Self {
        Self::new(DecoderConfig::default())
    }
}

impl KeyboardDecoder {
    pub fn new(cfg: DecoderConfig) -> Self {
        KeyboardDecoder {
            timeout: i64::try_from(cfg.inter_key_timeout_us).unwrap_or(i64::MAX),
            cfg,
            parser: EventParser::new(),
            shift_l: false,
            shift_r: false,
            ctrl_l: false,
            ctrl_r: false,
            alt_l: false,
            alt_r: false,
            caps: false,
            alt_code: None,
            dead: None,
            active: false,
            text: String::new(),
            raw: Vec::new(),
            first_us: 0,
            last_us: 0,
            last_activity_us: 0,
            strokes: 0,
        }
    }

    pub fn config(&self) -> &DecoderConfig {
        &self.cfg
    }

    /// Whether a code is in progress (it will come out with a terminator,
    /// [`flush_idle`](Self::flush_idle) or [`flush`](Self::flush)).
    pub fn pending(&self) -> bool {
        self.active
    }

    /// Time of the last key event of the code in progress.
    pub fn last_activity_us(&self) -> Option<i64> {
        self.active.then_some(self.last_activity_us)
    }

    /// Feed raw `input_event` bytes, in any chunking.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<DecodedScan> {
        let mut out = Vec::new();
        let mut parser = std::mem::take(&mut self.parser);
        parser.feed(bytes, |ev| self.event(&ev, &mut out));
        self.parser = parser;
        out
    }

    /// Feed one event. At most one code ends per event.
    pub fn feed_event(&mut self, ev: &InputEvent) -> Option<DecodedScan> {
        let mut out = Vec::new();
        self.event(ev, &mut out);
        debug_assert!(out.len() <= 1);
        out.pop()
    }

    /// End the code in progress if its last key event is at least
    /// `inter_key_timeout_us` before `now_us` (same clock as the events).
    pub fn flush_idle(&mut self, now_us: i64) -> Vec<DecodedScan> {
        let mut out = Vec::new();
        if self.active && self.idle_expired(now_us) {
            self.finish(None, &mut out);
        }
        out
    }

    /// End the code in progress now (end of stream, or an idle timer on
    /// the host's own clock). Key state and a partial record are kept, so
    /// this is safe at any point of a stream.
    pub fn flush(&mut self) -> Vec<DecodedScan> {
        let mut out = Vec::new();
        self.finish(None, &mut out);
        out
    }

    /// Forget everything: the code in progress (not returned), a partial
    /// record, held modifiers and Caps Lock. For a new stream, e.g. after
    /// the device was re-opened.
    pub fn reset(&mut self) {
        self.parser.reset();
        self.release_modifiers();
        self.caps = false;
        self.dead = None;
        self.active = false;
        self.text.clear();
        self.raw.clear();
    }

    fn idle_expired(&self, now_us: i64) -> bool {
        self.timeout > 0 && now_us.saturating_sub(self.last_activity_us) >= self.timeout
    }

    fn release_modifiers(&mut self) {
        self.shift_l = false;
        self.shift_r = false;
        self.ctrl_l = false;
        self.ctrl_r = false;
        self.alt_l = false;
        self.alt_r = false;
        self.alt_code = None;
    }

    fn ctrl(&self) -> bool {
        self.ctrl_l || self.ctrl_r
    }

    /// Ctrl+Alt, which Windows treats as AltGr.
    fn altgr_emulated(&self) -> bool {
        self.ctrl() && self.alt_l
    }

    fn altgr(&self) -> bool {
        (self.alt_r && self.cfg.layout.has_altgr()) || self.altgr_emulated()
    }

    /// Alt held for an Alt+numpad code.
    fn alt_code_mode(&self) -> bool {
        !self.ctrl() && (self.alt_l || (self.alt_r && !self.cfg.layout.has_altgr()))
    }

    fn modifier_slot(&mut self, code: u16) -> Option<&mut bool> {
        Some(match code {
            KEY_LEFTSHIFT => &mut self.shift_l,
            KEY_RIGHTSHIFT => &mut self.shift_r,
            KEY_LEFTCTRL => &mut self.ctrl_l,
            KEY_RIGHTCTRL => &mut self.ctrl_r,
            KEY_LEFTALT => &mut self.alt_l,
            KEY_RIGHTALT => &mut self.alt_r,
            _ => return None,
        })
    }

    fn event(&mut self, ev: &InputEvent, out: &mut Vec<DecodedScan>) {
        match ev.kind {
            EV_KEY => self.key(ev.time_us(), ev.code, ev.value, out),
            EV_SYN if ev.code == SYN_DROPPED => self.release_modifiers(),
            _ => {}
        }
    }

    fn key(&mut self, t: i64, code: u16, value: i32, out: &mut Vec<DecodedScan>) {
        let down = match value {
            KEY_DOWN => true,
            KEY_UP => false,
            _ => return, // autorepeat and nonsense
        };
        if down && self.active && self.idle_expired(t) {
            self.finish(None, out);
        }
        let was_alt_code = self.alt_code_mode();
        if let Some(slot) = self.modifier_slot(code) {
            *slot = down;
            if was_alt_code && !self.alt_code_mode() {
                self.end_alt_code(t, out);
            }
            if self.active {
                self.last_activity_us = t;
            }
            return;
        }
        match code {
            KEY_CAPSLOCK => {
                if down {
                    self.caps = !self.caps;
                }
                return;
            }
            KEY_NUMLOCK | KEY_LEFTMETA | KEY_RIGHTMETA => return,
            _ => {}
        }
        if !down {
            if self.active {
                self.last_activity_us = t;
            }
            return;
        }
        if let Some(&term) = self.cfg.terminators.iter().find(|x| x.keycode() == code) {
            if self.active {
                self.stroke(t);
                self.finish(Some(term), out);
            }
            return;
        }
        if self.alt_code_mode() {
            if let Some(d) = keypad_digit(code) {
                self.stroke(t);
                let a = self.alt_code.get_or_insert_with(AltCode::default);
                a.value = a.value.wrapping_mul(10).wrapping_add(d);
                a.digits = a.digits.saturating_add(1);
            }
            return; // Alt+other key: a shortcut, not text
        }
        let sym = match code {
            KEY_ENTER | KEY_KPENTER => Sym::Char('\n'),
            KEY_TAB => Sym::Char('\t'),
            _ => self.cfg.layout.sym(
                code,
                Modifiers {
                    shift: self.shift_l || self.shift_r,
                    caps_lock: self.caps,
                    altgr: self.altgr(),
                },
            ),
        };
        if self.ctrl() && !self.altgr_emulated() {
            if let Sym::Char(c) = sym {
                if let Some(cc) = control_char(c) {
                    self.stroke(t);
                    self.push_dead_then(t, cc, None, out);
                }
            }
            return;
        }
        match sym {
            Sym::None => {}
            Sym::Char(c) => {
                self.stroke(t);
                match self.dead.take() {
                    Some(accent) => match keymap::compose(accent, c) {
                        Some(composed) => self.push(t, composed, None, out),
                        None => {
                            // Windows: dead key + space is the accent alone.
                            self.push(t, accent, None, out);
                            if c != ' ' {
                                self.push(t, c, None, out);
                            }
                        }
                    },
                    None => self.push(t, c, None, out),
                }
            }
            Sym::Dead(accent) => {
                self.stroke(t);
                match self.dead.take() {
                    Some(prev) => {
                        self.push(t, prev, None, out);
                        self.push(t, accent, None, out);
                    }
                    None => self.dead = Some(accent),
                }
            }
        }
    }

    /// A pending dead key gives its accent, then `c`.
    fn push_dead_then(&mut self, t: i64, c: char, byte: Option<u8>, out: &mut Vec<DecodedScan>) {
        if let Some(accent) = self.dead.take() {
            self.push(t, accent, None, out);
        }
        self.push(t, c, byte, out);
    }

    fn end_alt_code(&mut self, t: i64, out: &mut Vec<DecodedScan>) {
        if let Some(a) = self.alt_code.take() {
            if a.digits > 0 && a.value != 0 {
                self.push_dead_then(t, cp1252::decode(a.value), Some(a.value), out);
            }
        }
    }

    /// A key stroke of the code (starting one if none is in progress).
    fn stroke(&mut self, t: i64) {
        if !self.active {
            self.active = true;
            self.first_us = t;
            self.strokes = 0;
        }
        self.strokes = self.strokes.saturating_add(1);
        self.last_us = t;
        self.last_activity_us = t;
    }

    fn push(&mut self, t: i64, c: char, byte: Option<u8>, out: &mut Vec<DecodedScan>) {
        let len = byte.map_or(c.len_utf8(), |_| 1);
        if self.raw.len() + len > MAX_CODE_BYTES {
            let dead = self.dead.take();
            self.finish(None, out);
            self.stroke(t);
            self.dead = dead;
        }
        if !self.active {
            self.stroke(t);
        }
        self.text.push(c);
        match byte {
            Some(b) => self.raw.push(b),
            None => {
                let mut buf = [0u8; 4];
                self.raw
                    .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }

    fn finish(&mut self, terminator: Option<Terminator>, out: &mut Vec<DecodedScan>) {
        if !self.active {
            return;
        }
        // A pending dead key or Alt code completes the code (dropped in the
        // unlikely case that the code is already at its maximum length).
        if let Some(accent) = self.dead.take() {
            if self.raw.len() + accent.len_utf8() <= MAX_CODE_BYTES {
                self.text.push(accent);
                let mut buf = [0u8; 4];
                self.raw
                    .extend_from_slice(accent.encode_utf8(&mut buf).as_bytes());
            }
        }
        if let Some(a) = self.alt_code.take() {
            if a.digits > 0 && a.value != 0 && self.raw.len() < MAX_CODE_BYTES {
                self.text.push(cp1252::decode(a.value));
                self.raw.push(a.value);
            }
        }
        self.active = false;
        let text = std::mem::take(&mut self.text);
        let raw = std::mem::take(&mut self.raw);
        let n = text.chars().count();
        if n == 0 || n < self.cfg.min_length {
            return;
        }
        let human = match self.cfg.max_avg_gap_us {
            None => false,
            Some(max) => {
                if self.strokes < 2 {
                    true
                } else {
                    let span = self.last_us.saturating_sub(self.first_us).max(0) as u128;
                    let avg = span / u128::from(self.strokes - 1);
                    avg > u128::from(max)
                }
            }
        };
        out.push(DecodedScan {
            text,
            raw,
            first_us: self.first_us,
            last_us: self.last_us,
            terminator,
            human,
        });
    }
}

fn keypad_digit(code: u16) -> Option<u8> {
    Some(match code {
        KEY_KP0 => 0,
        KEY_KP1 => 1,
        KEY_KP2 => 2,
        KEY_KP3 => 3,
        KEY_KP4 => 4,
        KEY_KP5 => 5,
        KEY_KP6 => 6,
        KEY_KP7 => 7,
        KEY_KP8 => 8,
        KEY_KP9 => 9,
        _ => return None,
    })
}

/// Ctrl+`c`: letters and `@[\]^_` give their control character (NUL is
/// not produced).
fn control_char(c: char) -> Option<char> {
    let u = c.to_ascii_uppercase();
    match u {
        'A'..='Z' | '[' | '\\' | ']' | '^' | '_' => Some(char::from(u as u8 & 0x1f)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hid::input_event::{
        encode_events, encode_keystrokes, events_to_bytes, EncodeOptions, EVENT_SIZE, EV_MSC,
        MSC_SCAN,
    };
    use proptest::prelude::*;

    fn dec(layout: &str) -> KeyboardDecoder {
        KeyboardDecoder::new(DecoderConfig::with_layout(layout).unwrap())
    }

    fn enc(text: &str, layout: &str) -> Vec<u8> {
        encode_keystrokes(
            text,
            keymap::layout(layout).unwrap(),
            &EncodeOptions::default(),
        )
        .unwrap()
    }

    fn texts(scans: &[DecodedScan]) -> Vec<&str> {
        scans.iter().map(|s| s.text.as_str()).collect()
    }

    #[test]
    fn terminator_names() {
        for t in Terminator::ALL {
            assert_eq!(Terminator::from_name(t.name()), Ok(t));
        }
        assert_eq!(
            Terminator::from_name("KP_ENTER"),
            Ok(Terminator::KeypadEnter)
        );
        let e = Terminator::from_name("space").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown terminator \"space\" (known: enter, kp_enter, tab)"
        );
    }

    #[test]
    fn simple_code_with_enter() {
        let mut d = dec("us");
        let scans = d.feed(&enc("Hello-123", "us"));
        assert_eq!(scans.len(), 1);
        let s = &scans[0];
        assert_eq!(s.text, "Hello-123");
        assert_eq!(s.raw, b"Hello-123");
        assert_eq!(s.terminator, Some(Terminator::Enter));
        assert_eq!(s.first_us, 0);
        assert_eq!(s.last_us, 9 * 2_000);
        assert!(!s.human);
        assert!(!d.pending());
    }

    #[test]
    fn round_trip_per_layout() {
        let samples = [
            ("us", "ABC-abc_123 !@#$%^&*()[]{};:'\",.<>/?\\|`~+="),
            ("uk", "A\"£@#~\\|€ 123 é"),
            ("de", "Größe: 5€ @home {[x]} \\ | ~ ß ÄÖÜ äöü ^ ° é è ê"),
            ("fr", "Prix: 1234,50€ @ # à é è ç ù { } [ ] | \\ ^ ~ ê ë µ"),
        ];
        for (layout, text) in samples {
            let mut d = dec(layout);
            let scans = d.feed(&enc(text, layout));
            assert_eq!(texts(&scans), vec![text], "{layout}");
            assert_eq!(scans[0].raw, text.as_bytes(), "{layout}");
        }
    }

    #[test]
    fn de_altgr_by_hand() {
        // AltGr+Q, AltGr+E, Shift+2 ("), KEY_Y (z) on a German scanner.
        let mut ev = Vec::new();
        let mut t = 0;
        let mut key = |code, v| {
            ev.push(InputEvent::key(t, code, v));
            t += 1000;
        };
        key(KEY_RIGHTALT, 1);
        key(KEY_Q, 1);
        key(KEY_Q, 0);
        key(KEY_E, 1);
        key(KEY_E, 0);
        key(KEY_RIGHTALT, 0);
        key(KEY_LEFTSHIFT, 1);
        key(KEY_2, 1);
        key(KEY_2, 0);
        key(KEY_LEFTSHIFT, 0);
        key(KEY_Y, 1);
        key(KEY_Y, 0);
        key(KEY_KPENTER, 1);
        key(KEY_KPENTER, 0);
        let mut d = dec("de");
        let scans = d.feed(&events_to_bytes(&ev));
        assert_eq!(texts(&scans), vec!["@€\"z"]);
        assert_eq!(scans[0].terminator, Some(Terminator::KeypadEnter));
        // The same keys on a US scanner: right Alt is Alt, so Alt+Q is a
        // shortcut and gives nothing.
        let mut d = dec("us");
        assert_eq!(texts(&d.feed(&events_to_bytes(&ev))), vec!["@y"]);
    }

    #[test]
    fn ctrl_alt_is_altgr() {
        let ev = [
            InputEvent::key(0, KEY_LEFTCTRL, 1),
            InputEvent::key(0, KEY_LEFTALT, 1),
            InputEvent::key(1, KEY_Q, 1),
            InputEvent::key(2, KEY_Q, 0),
            InputEvent::key(3, KEY_LEFTALT, 0),
            InputEvent::key(3, KEY_LEFTCTRL, 0),
        ];
        let mut d = dec("de");
        d.feed(&events_to_bytes(&ev));
        assert_eq!(texts(&d.flush()), vec!["@"]);
    }

    #[test]
    fn fr_digits_need_shift() {
        let ev = [
            InputEvent::key(0, KEY_1, 1),
            InputEvent::key(1, KEY_1, 0),
            InputEvent::key(2, KEY_LEFTSHIFT, 1),
            InputEvent::key(3, KEY_1, 1),
            InputEvent::key(4, KEY_2, 1),
            InputEvent::key(5, KEY_LEFTSHIFT, 0),
            InputEvent::key(6, KEY_ENTER, 1),
        ];
        let mut d = dec("fr");
        assert_eq!(texts(&d.feed(&events_to_bytes(&ev))), vec!["&12"]);
    }

    #[test]
    fn several_codes_in_one_burst() {
        let mut d = dec("us");
        let scans = d.feed(&enc("A1\nB2\nC3", "us"));
        assert_eq!(texts(&scans), vec!["A1", "B2", "C3"]);
        assert!(scans
            .iter()
            .all(|s| s.terminator == Some(Terminator::Enter)));
        assert!(scans[0].last_us < scans[1].first_us);
    }

    #[test]
    fn no_terminator_idle_and_flush() {
        let us = keymap::layout("us").unwrap();
        let opts = EncodeOptions {
            start_us: 1_000_000,
            gap_us: 1_000,
            terminator: None,
        };
        let mut d = dec("us");
        assert!(d
            .feed(&encode_keystrokes("XYZ", us, &opts).unwrap())
            .is_empty());
        assert!(d.pending());
        let last_key = 1_000_000 + 2 * 1_000;
        // Release half a gap after the last press is the last activity.
        assert_eq!(d.last_activity_us(), Some(last_key + 500));
        assert!(d.flush_idle(last_key + 500 + 49_999).is_empty());
        let scans = d.flush_idle(last_key + 500 + 50_000);
        assert_eq!(texts(&scans), vec!["XYZ"]);
        assert_eq!(scans[0].terminator, None);
        assert_eq!((scans[0].first_us, scans[0].last_us), (1_000_000, last_key));
        assert!(!d.pending());
        assert!(d.flush_idle(i64::MAX).is_empty());

        let mut d = dec("us");
        d.feed(&encode_keystrokes("XYZ", us, &opts).unwrap());
        assert_eq!(texts(&d.flush()), vec!["XYZ"]);
        assert!(d.flush().is_empty());
    }

    #[test]
    fn a_late_key_starts_a_new_code() {
        let us = keymap::layout("us").unwrap();
        let mut bytes = encode_keystrokes(
            "AB",
            us,
            &EncodeOptions {
                terminator: None,
                ..Default::default()
            },
        )
        .unwrap();
        bytes.extend(
            encode_keystrokes(
                "CD",
                us,
                &EncodeOptions {
                    start_us: 500_000,
                    ..Default::default()
                },
            )
            .unwrap(),
        );
        let mut d = dec("us");
        let scans = d.feed(&bytes);
        assert_eq!(texts(&scans), vec!["AB", "CD"]);
        assert_eq!(scans[0].terminator, None);
        assert_eq!(scans[1].terminator, Some(Terminator::Enter));
    }

    #[test]
    fn timeout_zero_disables_idle_end() {
        let mut d = KeyboardDecoder::new(DecoderConfig {
            inter_key_timeout_us: 0,
            ..Default::default()
        });
        let us = keymap::layout("us").unwrap();
        let slow = EncodeOptions {
            gap_us: 10_000_000,
            terminator: None,
            ..Default::default()
        };
        assert!(d
            .feed(&encode_keystrokes("slow", us, &slow).unwrap())
            .is_empty());
        assert!(d.flush_idle(i64::MAX).is_empty());
        assert_eq!(texts(&d.flush()), vec!["slow"]);
    }

    #[test]
    fn min_length_drops_short_codes() {
        let mut d = KeyboardDecoder::new(DecoderConfig {
            min_length: 4,
            ..Default::default()
        });
        assert_eq!(texts(&d.feed(&enc("abc\nabcd\n\n", "us"))), vec!["abcd"]);
    }

    #[test]
    fn human_vs_scanner() {
        let cfg = DecoderConfig {
            max_avg_gap_us: Some(20_000),
            inter_key_timeout_us: 1_000_000,
            ..Default::default()
        };
        let us = keymap::layout("us").unwrap();
        let fast = EncodeOptions {
            gap_us: 3_000,
            ..Default::default()
        };
        let slow = EncodeOptions {
            start_us: 10_000_000,
            gap_us: 150_000,
            ..Default::default()
        };
        let mut d = KeyboardDecoder::new(cfg);
        let mut bytes = encode_keystrokes("4006381333931", us, &fast).unwrap();
        bytes.extend(encode_keystrokes("hello", us, &slow).unwrap());
        let scans = d.feed(&bytes);
        assert_eq!(texts(&scans), vec!["4006381333931", "hello"]);
        assert!(!scans[0].human);
        assert!(scans[1].human);
    }

    #[test]
    fn terminators_configurable() {
        let mut d = KeyboardDecoder::new(DecoderConfig {
            terminators: vec![Terminator::Tab],
            ..Default::default()
        });
        let us = keymap::layout("us").unwrap();
        let opts = EncodeOptions {
            terminator: Some(Terminator::Tab),
            ..Default::default()
        };
        let scans = d.feed(&encode_keystrokes("line1\nline2", us, &opts).unwrap());
        assert_eq!(texts(&scans), vec!["line1\nline2"]);
        assert_eq!(scans[0].terminator, Some(Terminator::Tab));
    }

    #[test]
    fn caps_lock() {
        let ev = [
            InputEvent::key(0, KEY_CAPSLOCK, 1),
            InputEvent::key(0, KEY_CAPSLOCK, 0),
            InputEvent::key(1, KEY_A, 1),
            InputEvent::key(2, KEY_1, 1),
            InputEvent::key(3, KEY_LEFTSHIFT, 1),
            InputEvent::key(4, KEY_B, 1),
            InputEvent::key(5, KEY_LEFTSHIFT, 0),
            InputEvent::key(6, KEY_CAPSLOCK, 1),
            InputEvent::key(7, KEY_C, 1),
            InputEvent::key(8, KEY_ENTER, 1),
        ];
        let mut d = dec("us");
        assert_eq!(texts(&d.feed(&events_to_bytes(&ev))), vec!["A1bc"]);
    }

    #[test]
    fn autorepeat_msc_and_unknown_ignored() {
        let ev = [
            InputEvent::at(0, EV_MSC, MSC_SCAN, 0x70004),
            InputEvent::key(0, KEY_A, 1),
            InputEvent::key(1, KEY_A, 2),
            InputEvent::key(2, KEY_A, 2),
            InputEvent::key(3, KEY_A, 0),
            InputEvent::key(4, 0x2ff, 1),
            InputEvent::key(5, 250, 1),
            InputEvent::key(6, KEY_B, 7),
            InputEvent::key(7, KEY_BACKSPACE, 1),
            InputEvent::at(8, 0x15, 0, 0),
            InputEvent::key(9, KEY_ENTER, 1),
        ];
        let mut d = dec("us");
        assert_eq!(texts(&d.feed(&events_to_bytes(&ev))), vec!["a"]);
    }

    #[test]
    fn numpad_digits() {
        let ev: Vec<InputEvent> = [
            KEY_KP1,
            KEY_KP2,
            KEY_KPDOT,
            KEY_KP5,
            KEY_KPMINUS,
            KEY_KPPLUS,
        ]
        .iter()
        .enumerate()
        .map(|(i, &k)| InputEvent::key(i as i64, k, 1))
        .chain([InputEvent::key(9, KEY_KPENTER, 1)])
        .collect();
        let bytes = events_to_bytes(&ev);
        assert_eq!(texts(&dec("us").feed(&bytes)), vec!["12.5-+"]);
        assert_eq!(texts(&dec("de").feed(&bytes)), vec!["12,5-+"]);
    }

    #[test]
    fn alt_codes() {
        let us = keymap::layout("us").unwrap();
        let mut d = dec("us");
        let scans = d.feed(&encode_keystrokes("Café €5", us, &EncodeOptions::default()).unwrap());
        assert_eq!(texts(&scans), vec!["Café €5"]);
        // é and € came as Alt codes: their Windows-1252 bytes.
        assert_eq!(scans[0].raw, b"Caf\xe9 \x805");

        // By hand: Alt+0228 (ä), Alt+65 (A, no leading zero), Alt+29 (GS),
        // Alt+321 (321 mod 256 = 65, A), Alt+0 (nothing).
        let mut ev = Vec::new();
        let mut t = 0;
        for digits in [&[0u16, 2, 2, 8][..], &[6, 5], &[2, 9], &[3, 2, 1], &[0]] {
            ev.push(InputEvent::key(t, KEY_LEFTALT, 1));
            for &dg in digits {
                let k = [
                    KEY_KP0, KEY_KP1, KEY_KP2, KEY_KP3, KEY_KP4, KEY_KP5, KEY_KP6, KEY_KP7,
                    KEY_KP8, KEY_KP9,
                ][dg as usize];
                t += 100;
                ev.push(InputEvent::key(t, k, 1));
                ev.push(InputEvent::key(t, k, 0));
            }
            t += 100;
            ev.push(InputEvent::key(t, KEY_LEFTALT, 0));
        }
        ev.push(InputEvent::key(t + 100, KEY_ENTER, 1));
        let scans = dec("de").feed(&events_to_bytes(&ev));
        assert_eq!(texts(&scans), vec!["äA\u{1d}A"]);
        assert_eq!(scans[0].raw, b"\xe4A\x1dA");
    }

    #[test]
    fn ctrl_control_chars() {
        let us = keymap::layout("us").unwrap();
        let gs1 = "0104012345678901\u{1d}10ABC\u{1d}21XYZ";
        let bytes = encode_keystrokes(gs1, us, &EncodeOptions::default()).unwrap();
        let scans = dec("us").feed(&bytes);
        assert_eq!(texts(&scans), vec![gs1]);
        assert_eq!(scans[0].raw, gs1.as_bytes());
        // Ctrl + digit gives nothing.
        let ev = [
            InputEvent::key(0, KEY_LEFTCTRL, 1),
            InputEvent::key(1, KEY_1, 1),
            InputEvent::key(2, KEY_LEFTCTRL, 0),
            InputEvent::key(3, KEY_1, 1),
        ];
        let mut d = dec("us");
        d.feed(&events_to_bytes(&ev));
        assert_eq!(texts(&d.flush()), vec!["1"]);
    }

    #[test]
    fn dead_keys() {
        let de = keymap::layout("de").unwrap();
        let opts = EncodeOptions::default();
        for text in ["^", "^^", "´e", "â", "É", "^x", "x^"] {
            let scans = dec("de").feed(&encode_keystrokes(text, de, &opts).unwrap());
            assert_eq!(texts(&scans), vec![text], "{text}");
        }
        // Dead key then a non-composing key, and two dead keys in a row.
        let ev = [
            InputEvent::key(0, KEY_GRAVE, 1),
            InputEvent::key(1, KEY_X, 1),
            InputEvent::key(2, KEY_GRAVE, 1),
            InputEvent::key(3, KEY_EQUAL, 1),
            InputEvent::key(4, KEY_GRAVE, 1),
            InputEvent::key(5, KEY_ENTER, 1),
        ];
        assert_eq!(texts(&dec("de").feed(&events_to_bytes(&ev))), vec!["^x^´^"]);
        // A pending dead key at flush.
        let mut d = dec("fr");
        d.feed(&events_to_bytes(&[InputEvent::key(0, KEY_LEFTBRACE, 1)]));
        assert_eq!(texts(&d.flush()), vec!["^"]);
    }

    #[test]
    fn syn_dropped_releases_modifiers() {
        let ev = [
            InputEvent::key(0, KEY_LEFTSHIFT, 1),
            InputEvent::at(1, EV_SYN, SYN_DROPPED, 0),
            InputEvent::key(2, KEY_A, 1),
            InputEvent::key(3, KEY_ENTER, 1),
        ];
        assert_eq!(texts(&dec("us").feed(&events_to_bytes(&ev))), vec!["a"]);
    }

    #[test]
    fn feed_event_one_at_a_time() {
        let us = keymap::layout("us").unwrap();
        let ev = encode_events("ab\ncd\n", us, &EncodeOptions::default()).unwrap();
        let mut d = dec("us");
        let got: Vec<String> = ev
            .iter()
            .filter_map(|e| d.feed_event(e))
            .map(|s| s.text)
            .collect();
        assert_eq!(got, vec!["ab", "cd"]);
    }

    #[test]
    fn flush_mid_stream_keeps_partial_record_and_keys() {
        let ev = [
            InputEvent::key(0, KEY_LEFTSHIFT, 1),
            InputEvent::key(1, KEY_A, 1),
            InputEvent::key(2, KEY_A, 0),
            InputEvent::key(3, KEY_B, 1),
            InputEvent::key(4, KEY_B, 0),
            InputEvent::key(5, KEY_LEFTSHIFT, 0),
            InputEvent::key(6, KEY_C, 1),
            InputEvent::key(7, KEY_ENTER, 1),
        ];
        let bytes = events_to_bytes(&ev);
        let mut d = dec("us");
        // Up to the middle of the B press, then a flush from a timer.
        assert!(d.feed(&bytes[..3 * EVENT_SIZE + 10]).is_empty());
        assert_eq!(texts(&d.flush()), vec!["A"]);
        assert_eq!(texts(&d.feed(&bytes[3 * EVENT_SIZE + 10..])), vec!["Bc"]);
    }

    #[test]
    fn reset_forgets_everything() {
        let ev = [
            InputEvent::key(0, KEY_CAPSLOCK, 1),
            InputEvent::key(1, KEY_LEFTSHIFT, 1),
            InputEvent::key(2, KEY_A, 1),
        ];
        let mut bytes = events_to_bytes(&ev);
        bytes.extend_from_slice(&[1, 2, 3]);
        let mut d = dec("us");
        assert!(d.feed(&bytes).is_empty());
        assert!(d.pending());
        d.reset();
        assert!(!d.pending());
        assert!(d.flush().is_empty());
        assert_eq!(texts(&d.feed(&enc("b", "us"))), vec!["b"]);
    }

    #[test]
    fn every_split_point() {
        let bytes = enc("Zürich Straße 5\n@\u{1d}€", "de");
        let whole = dec("de").feed(&bytes);
        assert_eq!(texts(&whole), vec!["Zürich Straße 5", "@\u{1d}€"]);
        for split in 0..=bytes.len() {
            let mut d = dec("de");
            let mut got = d.feed(&bytes[..split]);
            got.extend(d.feed(&bytes[split..]));
            assert_eq!(got, whole, "split at {split}");
        }
    }

    #[test]
    fn very_long_code_is_cut() {
        let mut d = KeyboardDecoder::default();
        let mut got = Vec::new();
        for i in 0..(MAX_CODE_BYTES + 10) as i64 {
            got.extend(d.feed_event(&InputEvent::key(i, KEY_A, 1)));
        }
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].raw.len(), MAX_CODE_BYTES);
        assert_eq!(d.flush()[0].text, "a".repeat(10));
    }

    #[test]
    fn times_going_backwards_or_extreme() {
        let ev = [
            InputEvent::key(i64::MAX, KEY_A, 1),
            InputEvent::key(i64::MIN, KEY_B, 1),
            InputEvent {
                tv_sec: i64::MIN,
                tv_usec: i64::MIN,
                kind: EV_KEY,
                code: KEY_C,
                value: 1,
            },
            InputEvent::key(0, KEY_ENTER, 1),
        ];
        let cfg = DecoderConfig {
            max_avg_gap_us: Some(1),
            ..Default::default()
        };
        let scans = KeyboardDecoder::new(cfg).feed(&events_to_bytes(&ev));
        assert_eq!(texts(&scans), vec!["abc"]);
    }

    fn arb_layout() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["us", "uk", "de", "fr"])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_never_panic(
            layout in arb_layout(),
            bytes in prop::collection::vec(any::<u8>(), 0..2048),
            split in any::<prop::sample::Index>(),
            now in any::<i64>(),
        ) {
            let mut cfg = DecoderConfig::with_layout(layout).unwrap();
            cfg.max_avg_gap_us = Some(1000);
            let mut d = KeyboardDecoder::new(cfg);
            let at = split.index(bytes.len() + 1);
            let mut scans = d.feed(&bytes[..at]);
            scans.extend(d.flush_idle(now));
            scans.extend(d.feed(&bytes[at..]));
            scans.extend(d.flush());
            for s in scans {
                prop_assert!(!s.text.is_empty());
                prop_assert!(s.raw.len() <= MAX_CODE_BYTES);
            }
        }

        #[test]
        fn arbitrary_key_events_never_panic(
            layout in arb_layout(),
            events in prop::collection::vec(
                (any::<i64>(), 0u16..260, -1i32..4), 0..300),
        ) {
            let ev: Vec<InputEvent> = events
                .iter()
                .map(|&(t, c, v)| InputEvent::key(t, c, v))
                .collect();
            let mut d = KeyboardDecoder::new(DecoderConfig::with_layout(layout).unwrap());
            d.feed(&events_to_bytes(&ev));
            d.flush();
        }

        #[test]
        fn encode_decode_round_trip(
            layout in arb_layout(),
            text in "[ -~äöüÄÖÜßéèàç€£§°µ\u{1d}]{1,40}",
            gap in 0i64..20_000,
            split in any::<prop::sample::Index>(),
        ) {
            let opts = EncodeOptions { start_us: 1_000, gap_us: gap, terminator: Some(Terminator::Enter) };
            let bytes = encode_keystrokes(&text, keymap::layout(layout).unwrap(), &opts).unwrap();
            let at = split.index(bytes.len() + 1);
            let mut d = KeyboardDecoder::new(DecoderConfig::with_layout(layout).unwrap());
            let mut scans = d.feed(&bytes[..at]);
            scans.extend(d.feed(&bytes[at..]));
            prop_assert_eq!(scans.len(), 1);
            prop_assert_eq!(&scans[0].text, &text);
            prop_assert_eq!(scans[0].terminator, Some(Terminator::Enter));
        }
    }
}
