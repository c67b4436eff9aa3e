//! Keyboard layouts as a keyboard-wedge scanner *types* them.
//!
//! A scanner in keyboard mode is configured for a "keyboard country": it
//! turns every character of a code into the key presses that produce that
//! character on a host with that layout. What the host's own layout is does
//! not matter here: we decode the scanner's key presses with the scanner's
//! layout, so the result is the scanned text whatever the host uses.
//!
//! Layouts: `us`, `uk`, `de` (QWERTZ) and `fr` (AZERTY, where the digits
//! are on the Shift level of the top row). Every layout has four levels per
//! key: plain, Shift, AltGr, Shift+AltGr. Keycodes are Linux keycodes
//! (`linux/input-event-codes.h`, re-exported as constants in [`keys`]).
//!
//! - Caps Lock affects letters only (keys whose plain symbol is a lowercase
//!   letter and whose Shift symbol is its uppercase, umlauts included).
//! - AltGr is `KEY_RIGHTALT` on layouts that have one (`uk`, `de`, `fr`);
//!   Ctrl+Alt is accepted as AltGr as on Windows. On `us`, right Alt is Alt.
//! - Numpad: Num Lock is assumed on, so `KEY_KP0`..`KEY_KP9` are digits and
//!   `KEY_KPDOT` is the layout's keypad decimal (`,` on `de`).
//! - Dead keys (`de`: `^` `´` `` ` ``; `fr`: `^` `¨` and AltGr `~` `` ` ``)
//!   behave as on Windows: dead key + space gives the spacing accent, dead
//!   key + a vowel it composes with gives the composed letter (see
//!   [`compose`]), dead key + anything else gives the accent then that
//!   character. Scanners that target such hosts send exactly that.
//! - Characters a layout cannot type are sent by scanners as Alt+numpad
//!   codes; that is handled by the decoder, not here.
use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

/// Linux keycodes used by the layouts (values from
/// `linux/input-event-codes.h`).
pub mod keys {
    pub const KEY_ESC: u16 = 1;
    pub const KEY_1: u16 = 2;
    pub const KEY_2: u16 = 3;
    pub const KEY_3: u16 = 4;
    pub const KEY_4: u16 = 5;
    pub const KEY_5: u16 = 6;
    pub const KEY_6: u16 = 7;
    pub const KEY_7: u16 = 8;
    pub const KEY_8: u16 = 9;
    pub const KEY_9: u16 = 10;
    pub const KEY_0: u16 = 11;
    pub const KEY_MINUS: u16 = 12;
    pub const KEY_EQUAL: u16 = 13;
    pub const KEY_BACKSPACE: u16 = 14;
    pub const KEY_TAB: u16 = 15;
    pub const KEY_Q: u16 = 16;
    pub const KEY_W: u16 = 17;
    pub const KEY_E: u16 = 18;
    pub const KEY_R: u16 = 19;
    pub const KEY_T: u16 = 20;
    pub const KEY_Y: u16 = 21;
    pub const KEY_U: u16 = 22;
    pub const KEY_I: u16 = 23;
    pub const KEY_O: u16 = 24;
    pub const KEY_P: u16 = 25;
    pub const KEY_LEFTBRACE: u16 = 26;
    pub const KEY_RIGHTBRACE: u16 = 27;
    pub const KEY_ENTER: u16 = 28;
    pub const KEY_LEFTCTRL: u16 = 29;
    pub const KEY_A: u16 = 30;
    pub const KEY_S: u16 = 31;
    pub const KEY_D: u16 = 32;
    pub const KEY_F: u16 = 33;
    pub const KEY_G: u16 = 34;
    pub const KEY_H: u16 = 35;
    pub const KEY_J: u16 = 36;
    pub const KEY_K: u16 = 37;
    pub const KEY_L: u16 = 38;
    pub const KEY_SEMICOLON: u16 = 39;
    pub const KEY_APOSTROPHE: u16 = 40;
    pub const KEY_GRAVE: u16 = 41;
    pub const KEY_LEFTSHIFT: u16 = 42;
    pub const KEY_BACKSLASH: u16 = 43;
    pub const KEY_Z: u16 = 44;
    pub const KEY_X: u16 = 45;
    pub const KEY_C: u16 = 46;
    pub const KEY_V: u16 = 47;
    pub const KEY_B: u16 = 48;
    pub const KEY_N: u16 = 49;
    pub const KEY_M: u16 = 50;
    pub const KEY_COMMA: u16 = 51;
    pub const KEY_DOT: u16 = 52;
    pub const KEY_SLASH: u16 = 53;
    pub const KEY_RIGHTSHIFT: u16 = 54;
    pub const KEY_KPASTERISK: u16 = 55;
    pub const KEY_LEFTALT: u16 = 56;
    pub const KEY_SPACE: u16 = 57;
    pub const KEY_CAPSLOCK: u16 = 58;
    pub const KEY_NUMLOCK: u16 = 69;
    pub const KEY_KP7: u16 = 71;
    pub const KEY_KP8: u16 = 72;
    pub const KEY_KP9: u16 = 73;
    pub const KEY_KPMINUS: u16 = 74;
    pub const KEY_KP4: u16 = 75;
    pub const KEY_KP5: u16 = 76;
    pub const KEY_KP6: u16 = 77;
    pub const KEY_KPPLUS: u16 = 78;
    pub const KEY_KP1: u16 = 79;
    pub const KEY_KP2: u16 = 80;
    pub const KEY_KP3: u16 = 81;
    pub const KEY_KP0: u16 = 82;
    pub const KEY_KPDOT: u16 = 83;
    pub const KEY_102ND: u16 = 86;
    pub const KEY_KPENTER: u16 = 96;
    pub const KEY_RIGHTCTRL: u16 = 97;
    pub const KEY_KPSLASH: u16 = 98;
    pub const KEY_RIGHTALT: u16 = 100;
    pub const KEY_KPEQUAL: u16 = 117;
    pub const KEY_LEFTMETA: u16 = 125;
    pub const KEY_RIGHTMETA: u16 = 126;
}

use keys::*;

/// Keycodes below this have an entry in a layout's table.
const TABLE_LEN: usize = 128;

/// What one key produces at one level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sym {
    /// Nothing (the key is unknown or has nothing at this level).
    None,
    /// A character.
    Char(char),
    /// A dead key; the `char` is its spacing form (`^`, `´`, `` ` ``, `¨`, `~`).
    Dead(char),
}

/// The modifier state a symbol is looked up with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Modifiers {
    pub shift: bool,
    pub caps_lock: bool,
    pub altgr: bool,
}

/// Level index: 0 plain, 1 Shift, 2 AltGr, 3 Shift+AltGr.
pub type Level = u8;

/// One layout: a table from keycode and level to [`Sym`], and the reverse
/// (character to key stroke) used by the encoder.
pub struct Layout {
    name: &'static str,
    has_altgr: bool,
    table: Vec<[Sym; 4]>,
    reverse: HashMap<char, (u16, Level)>,
    dead: HashMap<char, (u16, Level)>,
}

impl fmt::Debug for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Layout").field("name", &self.name).finish()
    }
}

/// The error for a layout name that is not one of [`layout_names`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownLayout(pub String);

impl fmt::Display for UnknownLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown keyboard layout {:?} (known: {})",
            self.0,
            layout_names().join(", ")
        )
    }
}

impl std::error::Error for UnknownLayout {}

const LAYOUT_NAMES: [&str; 4] = ["us", "uk", "de", "fr"];

/// The names of the layouts, in a stable order.
pub fn layout_names() -> &'static [&'static str] {
    &LAYOUT_NAMES
}

/// A layout by name (`"us"`, `"uk"`, `"de"`, `"fr"`; case-insensitive;
/// `"gb"` is accepted for `"uk"`).
pub fn layout(name: &str) -> Result<&'static Layout, UnknownLayout> {
    static LAYOUTS: OnceLock<[Layout; 4]> = OnceLock::new();
    let all = LAYOUTS.get_or_init(|| {
        [
            Layout::build("us", false, US, '.'),
            Layout::build("uk", true, UK, '.'),
            Layout::build("de", true, DE, ','),
            Layout::build("fr", true, FR, '.'),
        ]
    });
    let lower = name.trim().to_ascii_lowercase();
    let wanted = if lower == "gb" { "uk" } else { lower.as_str() };
    all.iter()
        .find(|l| l.name == wanted)
        .ok_or_else(|| UnknownLayout(name.to_string()))
}

impl Layout {
    /// The layout's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether right Alt is AltGr on this layout (otherwise it is Alt).
    pub fn has_altgr(&self) -> bool {
        self.has_altgr
    }

    /// The symbol `code` gives with `mods`. Caps Lock inverts Shift for
    /// letters only.
    pub fn sym(&self, code: u16, mods: Modifiers) -> Sym {
        let Some(levels) = self.table.get(usize::from(code)) else {
            return Sym::None;
        };
        let shift = mods.shift ^ (mods.caps_lock && is_letter_key(levels));
        levels[usize::from(shift) + 2 * usize::from(mods.altgr)]
    }

    /// The key and level that type `c` directly (no dead key, no Alt code),
    /// preferring the main block over the numpad and lower levels.
    pub fn key_for(&self, c: char) -> Option<(u16, Level)> {
        self.reverse.get(&c).copied()
    }

    /// The dead key whose spacing form is `accent`, if the layout has one.
    pub fn dead_key_for(&self, accent: char) -> Option<(u16, Level)> {
        self.dead.get(&accent).copied()
    }

    fn build(
        name: &'static str,
        has_altgr: bool,
        specific: &[(u16, [Sym; 4])],
        kp_decimal: char,
    ) -> Layout {
        let mut table = vec![[Sym::None; 4]; TABLE_LEN];
        let mut set = |code: u16, levels: [Sym; 4]| {
            if let Some(slot) = table.get_mut(usize::from(code)) {
                *slot = levels;
            }
        };
        for (code, c) in QWERTY_LETTERS {
            set(code, letter(c));
        }
        set(KEY_SPACE, [C(' '), C(' '), C(' '), C(' ')]);
        set(KEY_ESC, [C('\u{1b}'), N, N, N]);
        for &(code, levels) in specific {
            set(code, levels);
        }
        for (code, c) in KEYPAD {
            set(code, [C(c), C(c), N, N]);
        }
        set(KEY_KPDOT, [C(kp_decimal), C(kp_decimal), N, N]);

        let mut reverse = HashMap::new();
        let mut dead = HashMap::new();
        // Main block first (digits on `fr` are Shift+top row, as the
        // scanner types them), the numpad only for what is left.
        let keypad: Vec<u16> = KEYPAD.iter().map(|&(k, _)| k).chain([KEY_KPDOT]).collect();
        for pass_keypad in [false, true] {
            for (code, levels) in table.iter().enumerate() {
                let code = code as u16;
                if keypad.contains(&code) != pass_keypad {
                    continue;
                }
                for (level, sym) in levels.iter().enumerate() {
                    match *sym {
                        Sym::Char(c) => {
                            reverse.entry(c).or_insert((code, level as Level));
                        }
                        Sym::Dead(c) => {
                            dead.entry(c).or_insert((code, level as Level));
                        }
                        Sym::None => {}
                    }
                }
            }
        }
        Layout {
            name,
            has_altgr,
            table,
            reverse,
            dead,
        }
    }
}

fn is_letter_key(levels: &[Sym; 4]) -> bool {
    match (levels[0], levels[1]) {
        (Sym::Char(lo), Sym::Char(up)) => {
            lo.is_lowercase() && {
                let mut u = lo.to_uppercase();
                u.next() == Some(up) && u.next().is_none()
            }
        }
        _ => false,
    }
}

/// The character a dead key (`accent`, its spacing form) followed by `base`
/// composes to, e.g. `('^', 'e')` -> `'ê'`.
pub fn compose(accent: char, base: char) -> Option<char> {
    COMPOSE
        .iter()
        .find(|&&(a, b, _)| a == accent && b == base)
        .map(|&(_, _, c)| c)
}

/// The dead key and base character that compose to `c`, if any.
pub fn decompose(c: char) -> Option<(char, char)> {
    COMPOSE
        .iter()
        .find(|&&(_, _, r)| r == c)
        .map(|&(a, b, _)| (a, b))
}

#[rustfmt::skip]
const COMPOSE: &[(char, char, char)] = &[
    ('^', 'a', 'â'), ('^', 'e', 'ê'), ('^', 'i', 'î'), ('^', 'o', 'ô'), ('^', 'u', 'û'),
    ('^', 'A', 'Â'), ('^', 'E', 'Ê'), ('^', 'I', 'Î'), ('^', 'O', 'Ô'), ('^', 'U', 'Û'),
    ('´', 'a', 'á'), ('´', 'e', 'é'), ('´', 'i', 'í'), ('´', 'o', 'ó'), ('´', 'u', 'ú'),
    ('´', 'y', 'ý'), ('´', 'A', 'Á'), ('´', 'E', 'É'), ('´', 'I', 'Í'), ('´', 'O', 'Ó'),
    ('´', 'U', 'Ú'), ('´', 'Y', 'Ý'),
    ('`', 'a', 'à'), ('`', 'e', 'è'), ('`', 'i', 'ì'), ('`', 'o', 'ò'), ('`', 'u', 'ù'),
    ('`', 'A', 'À'), ('`', 'E', 'È'), ('`', 'I', 'Ì'), ('`', 'O', 'Ò'), ('`', 'U', 'Ù'),
    ('¨', 'a', 'ä'), ('¨', 'e', 'ë'), ('¨', 'i', 'ï'), ('¨', 'o', 'ö'), ('¨', 'u', 'ü'),
    ('¨', 'y', 'ÿ'), ('¨', 'A', 'Ä'), ('¨', 'E', 'Ë'), ('¨', 'I', 'Ï'), ('¨', 'O', 'Ö'),
    ('¨', 'U', 'Ü'),
    ('~', 'a', 'ã'), ('~', 'n', 'ñ'), ('~', 'o', 'õ'), ('~', 'A', 'Ã'), ('~', 'N', 'Ñ'),
    ('~', 'O', 'Õ'),
];

const N: Sym = Sym::None;

#[allow(non_snake_case)]
const fn C(c: char) -> Sym {
    Sym::Char(c)
}

#[allow(non_snake_case)]
const fn D(c: char) -> Sym {
    Sym::Dead(c)
}

const fn letter(c: char) -> [Sym; 4] {
    [C(c), C(c.to_ascii_uppercase()), N, N]
}

const QWERTY_LETTERS: [(u16, char); 26] = [
    (KEY_Q, 'q'),
    (KEY_W, 'w'),
    (KEY_E, 'e'),
    (KEY_R, 'r'),
    (KEY_T, 't'),
    (KEY_Y, 'y'),
    (KEY_U, 'u'),
    (KEY_I, 'i'),
    (KEY_O, 'o'),
    (KEY_P, 'p'),
    (KEY_A, 'a'),
    (KEY_S, 's'),
    (KEY_D, 'd'),
    (KEY_F, 'f'),
    (KEY_G, 'g'),
    (KEY_H, 'h'),
    (KEY_J, 'j'),
    (KEY_K, 'k'),
    (KEY_L, 'l'),
    (KEY_Z, 'z'),
    (KEY_X, 'x'),
    (KEY_C, 'c'),
    (KEY_V, 'v'),
    (KEY_B, 'b'),
    (KEY_N, 'n'),
    (KEY_M, 'm'),
];

/// Numpad with Num Lock on (`KEY_KPDOT` is per layout).
const KEYPAD: [(u16, char); 15] = [
    (KEY_KP0, '0'),
    (KEY_KP1, '1'),
    (KEY_KP2, '2'),
    (KEY_KP3, '3'),
    (KEY_KP4, '4'),
    (KEY_KP5, '5'),
    (KEY_KP6, '6'),
    (KEY_KP7, '7'),
    (KEY_KP8, '8'),
    (KEY_KP9, '9'),
    (KEY_KPMINUS, '-'),
    (KEY_KPPLUS, '+'),
    (KEY_KPASTERISK, '*'),
    (KEY_KPSLASH, '/'),
    (KEY_KPEQUAL, '='),
];

#[rustfmt::skip]
const US: &[(u16, [Sym; 4])] = &[
    (KEY_1, [C('1'), C('!'), N, N]),
    (KEY_2, [C('2'), C('@'), N, N]),
    (KEY_3, [C('3'), C('#'), N, N]),
    (KEY_4, [C('4'), C('$'), N, N]),
    (KEY_5, [C('5'), C('%'), N, N]),
    (KEY_6, [C('6'), C('^'), N, N]),
    (KEY_7, [C('7'), C('&'), N, N]),
    (KEY_8, [C('8'), C('*'), N, N]),
    (KEY_9, [C('9'), C('('), N, N]),
    (KEY_0, [C('0'), C(')'), N, N]),
    (KEY_MINUS, [C('-'), C('_'), N, N]),
    (KEY_EQUAL, [C('='), C('+'), N, N]),
    (KEY_LEFTBRACE, [C('['), C('{'), N, N]),
    (KEY_RIGHTBRACE, [C(']'), C('}'), N, N]),
    (KEY_SEMICOLON, [C(';'), C(':'), N, N]),
    (KEY_APOSTROPHE, [C('\''), C('"'), N, N]),
    (KEY_GRAVE, [C('`'), C('~'), N, N]),
    (KEY_BACKSLASH, [C('\\'), C('|'), N, N]),
    (KEY_COMMA, [C(','), C('<'), N, N]),
    (KEY_DOT, [C('.'), C('>'), N, N]),
    (KEY_SLASH, [C('/'), C('?'), N, N]),
    // The ISO key next to left Shift, as X11's "pc" symbols give it.
    (KEY_102ND, [C('<'), C('>'), N, N]),
];

#[rustfmt::skip]
const UK: &[(u16, [Sym; 4])] = &[
    (KEY_1, [C('1'), C('!'), N, N]),
    (KEY_2, [C('2'), C('"'), N, N]),
    (KEY_3, [C('3'), C('£'), N, N]),
    (KEY_4, [C('4'), C('$'), C('€'), N]),
    (KEY_5, [C('5'), C('%'), N, N]),
    (KEY_6, [C('6'), C('^'), N, N]),
    (KEY_7, [C('7'), C('&'), N, N]),
    (KEY_8, [C('8'), C('*'), N, N]),
    (KEY_9, [C('9'), C('('), N, N]),
    (KEY_0, [C('0'), C(')'), N, N]),
    (KEY_MINUS, [C('-'), C('_'), N, N]),
    (KEY_EQUAL, [C('='), C('+'), N, N]),
    (KEY_LEFTBRACE, [C('['), C('{'), N, N]),
    (KEY_RIGHTBRACE, [C(']'), C('}'), N, N]),
    (KEY_SEMICOLON, [C(';'), C(':'), N, N]),
    (KEY_APOSTROPHE, [C('\''), C('@'), N, N]),
    (KEY_GRAVE, [C('`'), C('¬'), C('¦'), N]),
    (KEY_BACKSLASH, [C('#'), C('~'), N, N]),
    (KEY_COMMA, [C(','), C('<'), N, N]),
    (KEY_DOT, [C('.'), C('>'), N, N]),
    (KEY_SLASH, [C('/'), C('?'), N, N]),
    (KEY_102ND, [C('\\'), C('|'), N, N]),
    (KEY_A, [C('a'), C('A'), C('á'), C('Á')]),
    (KEY_E, [C('e'), C('E'), C('é'), C('É')]),
    (KEY_I, [C('i'), C('I'), C('í'), C('Í')]),
    (KEY_O, [C('o'), C('O'), C('ó'), C('Ó')]),
    (KEY_U, [C('u'), C('U'), C('ú'), C('Ú')]),
];

#[rustfmt::skip]
const DE: &[(u16, [Sym; 4])] = &[
    (KEY_1, [C('1'), C('!'), N, N]),
    (KEY_2, [C('2'), C('"'), C('²'), N]),
    (KEY_3, [C('3'), C('§'), C('³'), N]),
    (KEY_4, [C('4'), C('$'), N, N]),
    (KEY_5, [C('5'), C('%'), N, N]),
    (KEY_6, [C('6'), C('&'), N, N]),
    (KEY_7, [C('7'), C('/'), C('{'), N]),
    (KEY_8, [C('8'), C('('), C('['), N]),
    (KEY_9, [C('9'), C(')'), C(']'), N]),
    (KEY_0, [C('0'), C('='), C('}'), N]),
    (KEY_MINUS, [C('ß'), C('?'), C('\\'), N]),
    (KEY_EQUAL, [D('´'), D('`'), N, N]),
    (KEY_Q, [C('q'), C('Q'), C('@'), N]),
    (KEY_E, [C('e'), C('E'), C('€'), N]),
    (KEY_Y, [C('z'), C('Z'), N, N]),
    (KEY_Z, [C('y'), C('Y'), N, N]),
    (KEY_M, [C('m'), C('M'), C('µ'), N]),
    (KEY_LEFTBRACE, [C('ü'), C('Ü'), N, N]),
    (KEY_RIGHTBRACE, [C('+'), C('*'), C('~'), N]),
    (KEY_SEMICOLON, [C('ö'), C('Ö'), N, N]),
    (KEY_APOSTROPHE, [C('ä'), C('Ä'), N, N]),
    (KEY_GRAVE, [D('^'), C('°'), N, N]),
    (KEY_BACKSLASH, [C('#'), C('\''), N, N]),
    (KEY_COMMA, [C(','), C(';'), N, N]),
    (KEY_DOT, [C('.'), C(':'), N, N]),
    (KEY_SLASH, [C('-'), C('_'), N, N]),
    (KEY_102ND, [C('<'), C('>'), C('|'), N]),
];

#[rustfmt::skip]
const FR: &[(u16, [Sym; 4])] = &[
    (KEY_1, [C('&'), C('1'), N, N]),
    (KEY_2, [C('é'), C('2'), D('~'), N]),
    (KEY_3, [C('"'), C('3'), C('#'), N]),
    (KEY_4, [C('\''), C('4'), C('{'), N]),
    (KEY_5, [C('('), C('5'), C('['), N]),
    (KEY_6, [C('-'), C('6'), C('|'), N]),
    (KEY_7, [C('è'), C('7'), D('`'), N]),
    (KEY_8, [C('_'), C('8'), C('\\'), N]),
    (KEY_9, [C('ç'), C('9'), C('^'), N]),
    (KEY_0, [C('à'), C('0'), C('@'), N]),
    (KEY_MINUS, [C(')'), C('°'), C(']'), N]),
    (KEY_EQUAL, [C('='), C('+'), C('}'), N]),
    (KEY_Q, [C('a'), C('A'), N, N]),
    (KEY_W, [C('z'), C('Z'), N, N]),
    (KEY_E, [C('e'), C('E'), C('€'), N]),
    (KEY_A, [C('q'), C('Q'), N, N]),
    (KEY_Z, [C('w'), C('W'), N, N]),
    (KEY_SEMICOLON, [C('m'), C('M'), N, N]),
    (KEY_M, [C(','), C('?'), N, N]),
    (KEY_LEFTBRACE, [D('^'), D('¨'), N, N]),
    (KEY_RIGHTBRACE, [C('$'), C('£'), C('¤'), N]),
    (KEY_APOSTROPHE, [C('ù'), C('%'), N, N]),
    (KEY_GRAVE, [C('²'), N, N, N]),
    (KEY_BACKSLASH, [C('*'), C('µ'), N, N]),
    (KEY_COMMA, [C(';'), C('.'), N, N]),
    (KEY_DOT, [C(':'), C('/'), N, N]),
    (KEY_SLASH, [C('!'), C('§'), N, N]),
    (KEY_102ND, [C('<'), C('>'), N, N]),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn m(shift: bool, altgr: bool) -> Modifiers {
        Modifiers {
            shift,
            caps_lock: false,
            altgr,
        }
    }

    fn ch(l: &Layout, code: u16, shift: bool, altgr: bool) -> Option<char> {
        match l.sym(code, m(shift, altgr)) {
            Sym::Char(c) => Some(c),
            _ => None,
        }
    }

    #[test]
    fn names_and_lookup() {
        assert_eq!(layout_names(), &["us", "uk", "de", "fr"]);
        for n in layout_names() {
            assert_eq!(layout(n).unwrap().name(), *n);
        }
        assert_eq!(layout("GB").unwrap().name(), "uk");
        assert_eq!(layout(" De ").unwrap().name(), "de");
        let err = layout("xx").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown keyboard layout \"xx\" (known: us, uk, de, fr)"
        );
        assert!(!layout("us").unwrap().has_altgr());
        assert!(layout("de").unwrap().has_altgr());
    }

    #[test]
    fn us_basics() {
        let us = layout("us").unwrap();
        assert_eq!(ch(us, KEY_A, false, false), Some('a'));
        assert_eq!(ch(us, KEY_A, true, false), Some('A'));
        assert_eq!(ch(us, KEY_2, true, false), Some('@'));
        assert_eq!(ch(us, KEY_APOSTROPHE, true, false), Some('"'));
        assert_eq!(ch(us, KEY_A, false, true), None);
        assert_eq!(ch(us, 0, false, false), None);
        assert_eq!(ch(us, 999, false, false), None);
        assert_eq!(us.key_for('<'), Some((KEY_COMMA, 1)));
        assert_eq!(us.key_for('7'), Some((KEY_7, 0)));
        assert_eq!(us.key_for('*'), Some((KEY_8, 1)));
        assert_eq!(us.key_for('é'), None);
    }

    #[test]
    fn caps_lock_letters_only() {
        let de = layout("de").unwrap();
        let caps = Modifiers {
            shift: false,
            caps_lock: true,
            altgr: false,
        };
        let caps_shift = Modifiers {
            shift: true,
            ..caps
        };
        assert_eq!(de.sym(KEY_A, caps), Sym::Char('A'));
        assert_eq!(de.sym(KEY_A, caps_shift), Sym::Char('a'));
        assert_eq!(de.sym(KEY_SEMICOLON, caps), Sym::Char('Ö'));
        assert_eq!(de.sym(KEY_1, caps), Sym::Char('1'));
        assert_eq!(de.sym(KEY_MINUS, caps), Sym::Char('ß'));
        let fr = layout("fr").unwrap();
        // é/2 is not a letter key: Caps Lock leaves it alone.
        assert_eq!(fr.sym(KEY_2, caps), Sym::Char('é'));
    }

    #[test]
    fn uk_specials() {
        let uk = layout("uk").unwrap();
        assert_eq!(ch(uk, KEY_2, true, false), Some('"'));
        assert_eq!(ch(uk, KEY_3, true, false), Some('£'));
        assert_eq!(ch(uk, KEY_APOSTROPHE, true, false), Some('@'));
        assert_eq!(ch(uk, KEY_BACKSLASH, false, false), Some('#'));
        assert_eq!(ch(uk, KEY_BACKSLASH, true, false), Some('~'));
        assert_eq!(ch(uk, KEY_102ND, false, false), Some('\\'));
        assert_eq!(ch(uk, KEY_102ND, true, false), Some('|'));
        assert_eq!(ch(uk, KEY_4, false, true), Some('€'));
        assert_eq!(uk.key_for('\\'), Some((KEY_102ND, 0)));
    }

    #[test]
    fn de_specials() {
        let de = layout("de").unwrap();
        assert_eq!(ch(de, KEY_Y, false, false), Some('z'));
        assert_eq!(ch(de, KEY_Z, true, false), Some('Y'));
        assert_eq!(ch(de, KEY_MINUS, false, false), Some('ß'));
        assert_eq!(ch(de, KEY_MINUS, false, true), Some('\\'));
        assert_eq!(ch(de, KEY_Q, false, true), Some('@'));
        assert_eq!(ch(de, KEY_E, false, true), Some('€'));
        assert_eq!(ch(de, KEY_7, false, true), Some('{'));
        assert_eq!(ch(de, KEY_8, false, true), Some('['));
        assert_eq!(ch(de, KEY_9, false, true), Some(']'));
        assert_eq!(ch(de, KEY_0, false, true), Some('}'));
        assert_eq!(ch(de, KEY_102ND, false, true), Some('|'));
        assert_eq!(ch(de, KEY_RIGHTBRACE, false, true), Some('~'));
        assert_eq!(ch(de, KEY_LEFTBRACE, true, false), Some('Ü'));
        assert_eq!(ch(de, KEY_7, true, false), Some('/'));
        assert_eq!(ch(de, KEY_KPDOT, false, false), Some(','));
        assert_eq!(de.sym(KEY_GRAVE, m(false, false)), Sym::Dead('^'));
        assert_eq!(de.sym(KEY_EQUAL, m(false, false)), Sym::Dead('´'));
        assert_eq!(de.dead_key_for('^'), Some((KEY_GRAVE, 0)));
        assert_eq!(de.dead_key_for('`'), Some((KEY_EQUAL, 1)));
        assert_eq!(de.key_for('@'), Some((KEY_Q, 2)));
    }

    #[test]
    fn fr_specials() {
        let fr = layout("fr").unwrap();
        assert_eq!(ch(fr, KEY_1, false, false), Some('&'));
        assert_eq!(ch(fr, KEY_1, true, false), Some('1'));
        assert_eq!(ch(fr, KEY_0, false, true), Some('@'));
        assert_eq!(ch(fr, KEY_3, false, true), Some('#'));
        assert_eq!(ch(fr, KEY_Q, false, false), Some('a'));
        assert_eq!(ch(fr, KEY_A, false, false), Some('q'));
        assert_eq!(ch(fr, KEY_SEMICOLON, true, false), Some('M'));
        assert_eq!(ch(fr, KEY_M, false, false), Some(','));
        // Digits are typed with Shift on the top row, not on the numpad.
        assert_eq!(fr.key_for('1'), Some((KEY_1, 1)));
        assert_eq!(fr.key_for('0'), Some((KEY_0, 1)));
        assert_eq!(fr.key_for('.'), Some((KEY_COMMA, 1)));
        assert_eq!(ch(fr, KEY_KP5, false, false), Some('5'));
    }

    #[test]
    fn numpad_everywhere() {
        for n in layout_names() {
            let l = layout(n).unwrap();
            for (code, c) in KEYPAD {
                assert_eq!(ch(l, code, false, false), Some(c), "{n} {code}");
            }
        }
    }

    #[test]
    fn reverse_map_round_trips() {
        for n in layout_names() {
            let l = layout(n).unwrap();
            for (c, &(code, level)) in &l.reverse {
                let mods = m(level & 1 != 0, level & 2 != 0);
                assert_eq!(l.sym(code, mods), Sym::Char(*c), "{n} {c:?}");
            }
        }
    }

    #[test]
    fn compose_table() {
        assert_eq!(compose('^', 'e'), Some('ê'));
        assert_eq!(compose('´', 'E'), Some('É'));
        assert_eq!(compose('¨', 'u'), Some('ü'));
        assert_eq!(compose('^', 'x'), None);
        assert_eq!(decompose('ñ'), Some(('~', 'n')));
        assert_eq!(decompose('n'), None);
        for &(a, b, c) in COMPOSE {
            assert_eq!(compose(a, b), Some(c));
            assert_eq!(decompose(c), Some((a, b)));
        }
    }
}
