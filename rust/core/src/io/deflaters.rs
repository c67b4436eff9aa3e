//! The server's compressors for connections that agreed
//! `server_no_context_takeover` (the server agrees it by default): such a
//! compressor keeps no state between messages, so one per window size
//! serves every connection. No connection holds a ~256 KiB zlib stream, no
//! stream is allocated per message, and a frame fanned out to a room is
//! compressed once per window size instead of once per member.

use std::io;

use crate::wire::deflate::Deflater;

/// Window sizes 8..=15.
const SIZES: usize = 8;

pub struct SharedDeflaters {
    level: u32,
    by_bits: [Option<Deflater>; SIZES],
}

impl SharedDeflaters {
    pub fn new(level: u32) -> Self {
        SharedDeflaters {
            level,
            by_bits: Default::default(),
        }
    }

    /// Compress one message for a connection with `window_bits` (8..=15),
    /// appending to `out` (RFC 7692 7.2.1: without the `00 00 ff ff` tail).
    pub fn compress(&mut self, window_bits: u8, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let i = usize::from(window_bits.clamp(8, 15) - 8);
        let level = self.level;
        self.by_bits[i]
            .get_or_insert_with(|| Deflater::shared(window_bits, level))
            .compress(input, out)
    }

    /// Drop every compressor (they are made again on use).
    pub fn clear(&mut self) {
        self.by_bits = Default::default();
    }

    /// Compressors allocated so far (each ~256 KiB at 15 bits).
    #[cfg(test)]
    pub fn allocated(&self) -> usize {
        self.by_bits
            .iter()
            .filter(|d| d.as_ref().is_some_and(Deflater::is_allocated))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_compressor_per_window_size() {
        let mut d = SharedDeflaters::new(1);
        let mut out = Vec::new();
        for _ in 0..3 {
            d.compress(15, b"hello hello hello hello", &mut out)
                .unwrap();
            d.compress(10, b"hello hello hello hello", &mut out)
                .unwrap();
        }
        assert_eq!(d.allocated(), 2);
    }
}
