//! Incremental UTF-8 validation that fails as soon as the bytes seen so far
//! cannot start a valid string (RFC 6455 8.1, Autobahn 6.x "fail fast").

/// Validates a text message fed in arbitrary pieces.
#[derive(Default, Debug, Clone)]
pub struct Utf8Validator {
    pending: [u8; 4],
    pending_len: u8,
}

/// The bytes are not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

impl Utf8Validator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forget any partial character.
    pub fn reset(&mut self) {
        self.pending_len = 0;
    }

    /// True when a character is split at the end of what was fed.
    pub fn is_incomplete(&self) -> bool {
        self.pending_len != 0
    }

    /// Validate the next piece. Errors as soon as an invalid byte is seen,
    /// including a truncated sequence that can never become valid.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), InvalidUtf8> {
        if self.pending_len != 0 {
            let p = self.pending_len as usize;
            let take = (4 - p).min(data.len());
            let mut tmp = [0u8; 8];
            tmp[..p].copy_from_slice(&self.pending[..p]);
            tmp[p..p + take].copy_from_slice(&data[..take]);
            match std::str::from_utf8(&tmp[..p + take]) {
                Ok(_) => {
                    self.pending_len = 0;
                    data = &data[take..];
                }
                Err(e) if e.error_len().is_some() => {
                    // The error may lie after the pending character completed.
                    if e.valid_up_to() >= p {
                        self.pending_len = 0;
                        data = &data[e.valid_up_to() - p..];
                    } else {
                        return Err(InvalidUtf8);
                    }
                }
                Err(e) => {
                    let v = e.valid_up_to();
                    if v >= p {
                        self.pending_len = 0;
                        data = &data[v - p..];
                    } else {
                        // Still one incomplete character: everything was consumed.
                        debug_assert_eq!(take, data.len());
                        self.pending[..p + take].copy_from_slice(&tmp[..p + take]);
                        self.pending_len = (p + take) as u8;
                        return Ok(());
                    }
                }
            }
        }
        if simdutf8::basic::from_utf8(data).is_ok() {
            return Ok(());
        }
        match simdutf8::compat::from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(InvalidUtf8),
            Err(e) => {
                let tail = &data[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len() as u8;
                Ok(())
            }
        }
    }

    /// The message ended: a pending partial character is an error.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let incomplete = self.pending_len != 0;
        self.pending_len = 0;
        if incomplete {
            Err(InvalidUtf8)
        } else {
            Ok(())
        }
    }
}

/// Validate a whole message at once.
#[inline]
pub fn validate(data: &[u8]) -> Result<(), InvalidUtf8> {
    simdutf8::basic::from_utf8(data)
        .map(|_| ())
        .map_err(|_| InvalidUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn feed_in_pieces(data: &[u8], cuts: &[usize]) -> Result<(), InvalidUtf8> {
        let mut v = Utf8Validator::new();
        let mut start = 0;
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
        cuts.sort();
        for c in cuts {
            v.feed(&data[start..c])?;
            start = c;
        }
        v.feed(&data[start..])?;
        v.finish()
    }

    #[test]
    fn fails_fast_on_first_bad_byte() {
        let mut v = Utf8Validator::new();
        // "κόσμε" then 0xed 0xa0 0x80 (a surrogate): invalid at the second byte.
        v.feed("κόσμε".as_bytes()).unwrap();
        v.feed(&[0xed]).unwrap();
        assert_eq!(v.feed(&[0xa0]), Err(InvalidUtf8));
        // F4 90 is beyond U+10FFFF: invalid before the sequence completes.
        let mut v = Utf8Validator::new();
        v.feed(&[0xf4]).unwrap();
        assert_eq!(v.feed(&[0x90]), Err(InvalidUtf8));
    }

    #[test]
    fn split_characters() {
        let s = "€𝄞ä".as_bytes();
        for i in 0..=s.len() {
            for j in i..=s.len() {
                assert_eq!(feed_in_pieces(s, &[i, j]), Ok(()), "cuts {i} {j}");
            }
        }
        let mut v = Utf8Validator::new();
        v.feed(&[0xe2, 0x82]).unwrap();
        assert!(v.is_incomplete());
        assert_eq!(v.finish(), Err(InvalidUtf8));
    }

    #[test]
    fn error_after_completed_pending() {
        let mut v = Utf8Validator::new();
        v.feed(&[0xe2]).unwrap();
        assert_eq!(v.feed(&[0x82, 0xac, 0xff]), Err(InvalidUtf8));
    }

    proptest! {
        #[test]
        fn agrees_with_std(data in proptest::collection::vec(any::<u8>(), 0..64),
                           cuts in proptest::collection::vec(any::<usize>(), 0..4)) {
            let expected = std::str::from_utf8(&data).is_ok();
            prop_assert_eq!(feed_in_pieces(&data, &cuts).is_ok(), expected);
        }

        #[test]
        fn valid_strings_pass(s in "\\PC*", cuts in proptest::collection::vec(any::<usize>(), 0..4)) {
            prop_assert!(feed_in_pieces(s.as_bytes(), &cuts).is_ok());
        }

        /// Fail-fast: if a prefix can't be extended to valid UTF-8, feeding it
        /// byte by byte errors no later than std reports the error position.
        #[test]
        fn fails_no_later_than_std(data in proptest::collection::vec(any::<u8>(), 0..32)) {
            if let Err(e) = std::str::from_utf8(&data) {
                if let Some(len) = e.error_len() {
                    // std's error covers the bad sequence; the byte that
                    // proves it bad is at most one further.
                    let end = (e.valid_up_to() + len + 1).min(data.len());
                    let mut v = Utf8Validator::new();
                    let mut failed = false;
                    for b in &data[..end] {
                        if v.feed(std::slice::from_ref(b)).is_err() { failed = true; break; }
                    }
                    prop_assert!(failed);
                }
            }
        }
    }
}
