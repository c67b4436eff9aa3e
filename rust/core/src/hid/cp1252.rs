//! Windows-1252, the code page of Windows "Alt+0nnn" codes.
//!
//! Bytes 0x00-0x7F and 0xA0-0xFF are Latin-1 (the same code points in
//! Unicode); 0x80-0x9F hold typographic characters. The five bytes that
//! Windows-1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) map to the
//! C1 control of the same value, as Windows itself does.

#[rustfmt::skip]
const HIGH: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž', '\u{8f}',
    '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}', 'ž', 'Ÿ',
];

/// The character for a Windows-1252 byte.
pub fn decode(b: u8) -> char {
    match b {
        0x80..=0x9F => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// The Windows-1252 byte for a character, if it has one.
pub fn encode(c: char) -> Option<u8> {
    let cp = u32::from(c);
    if cp < 0x80 || (0xA0..=0xFF).contains(&cp) {
        return Some(cp as u8);
    }
    HIGH.iter().position(|&h| h == c).map(|i| 0x80 + i as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_byte() {
        for b in 0..=255u8 {
            assert_eq!(encode(decode(b)), Some(b), "{b:#x}");
        }
    }

    #[test]
    fn known_values() {
        assert_eq!(decode(0x80), '€');
        assert_eq!(decode(0xE4), 'ä');
        assert_eq!(decode(0x41), 'A');
        assert_eq!(decode(0x1D), '\u{1d}');
        assert_eq!(encode('€'), Some(0x80));
        assert_eq!(encode('é'), Some(0xE9));
        assert_eq!(encode('Ω'), None);
        assert_eq!(encode('😀'), None);
    }
}
