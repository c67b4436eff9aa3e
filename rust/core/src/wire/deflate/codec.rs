//! The permessage-deflate compressor ([`Deflater`]) and decompressor
//! ([`Inflater`]) for one direction of one connection.
//!
//! # Wire format in one paragraph
//!
//! A compressed message has RSV1 set on its first frame. Its payload (the
//! concatenated payloads of all its frames) is raw DEFLATE data (no zlib
//! header) produced by compressing the whole message and flushing with a
//! *sync flush*, which ends the data with an empty stored block
//! `00 00 ff ff`; those four bytes are removed before sending (RFC 7692
//! section 7.2.1) and the receiver appends them again before inflating
//! (section 7.2.2). Unless "no context takeover" was agreed for a direction,
//! the LZ77 window carries over from one message to the next, so each
//! direction needs one long-lived compression stream.

use std::fmt;
use std::io;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::{MAX_WINDOW_BITS, MIN_WINDOW_BITS, ZLIB_MIN_WINDOW_BITS};

/// The empty stored block that ends every sync-flushed message: stripped by
/// the sender, appended again by the receiver (RFC 7692 section 7.2).
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

// ---------------------------------------------------------------------------
// Compression
// ---------------------------------------------------------------------------

/// Compressor for one direction of one connection.
///
/// The zlib stream (~256 KiB with 15 window bits) is allocated on the first
/// message, not on construction, and dropped after every message when no
/// context takeover applies, so idle connections cost nothing.
pub struct Deflater {
    stream: Option<Compress>,
    window_bits: u8,
    no_context_takeover: bool,
    level: u32,
    /// Keep the stream allocated between messages (reset, not dropped):
    /// for a compressor shared by many connections, see [`Deflater::shared`].
    keep: bool,
}

impl fmt::Debug for Deflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deflater")
            .field("window_bits", &self.window_bits)
            .field("no_context_takeover", &self.no_context_takeover)
            .field("level", &self.level)
            .field("allocated", &self.stream.is_some())
            .finish()
    }
}

impl Deflater {
    /// `window_bits` is the agreed window (clamped to 8..=15; with 8 the
    /// output is made of stored blocks only, see [`Deflater::is_store_only`]),
    /// `level` the zlib level (clamped to 0..=9).
    pub fn new(window_bits: u8, no_context_takeover: bool, level: u32) -> Self {
        Deflater {
            stream: None,
            window_bits: window_bits.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS),
            no_context_takeover,
            level: level.min(9),
            keep: false,
        }
    }

    /// A no-context-takeover compressor that keeps its zlib stream between
    /// messages and resets it (clearing the hash heads) instead of
    /// allocating and zeroing a new ~256 KiB stream per message. With no
    /// context takeover a message's output depends only on the message, the
    /// window and the level, so one such compressor serves every connection
    /// that agreed these.
    pub fn shared(window_bits: u8, level: u32) -> Self {
        Deflater {
            keep: true,
            ..Deflater::new(window_bits, true, level)
        }
    }

    /// The agreed window size.
    pub fn window_bits(&self) -> u8 {
        self.window_bits
    }

    /// Whether the stream is reset after every message.
    pub fn no_context_takeover(&self) -> bool {
        self.no_context_takeover
    }

    /// Whether a zlib stream is currently allocated.
    pub fn is_allocated(&self) -> bool {
        self.stream.is_some()
    }

    /// True when the agreed window is 8 bits, which zlib cannot compress
    /// with: [`Deflater::compress`] then emits stored (uncompressed) blocks,
    /// valid for any window but a few bytes larger than the input, so callers
    /// should rather send such messages uncompressed (RSV1 clear).
    pub fn is_store_only(&self) -> bool {
        self.window_bits < ZLIB_MIN_WINDOW_BITS
    }

    /// Drop the zlib stream now to free its memory (e.g. for an idle
    /// connection). Always allowed for a compressor: the next message simply
    /// does not refer to earlier ones.
    pub fn release(&mut self) {
        self.stream = None;
    }

    fn new_stream(&self) -> Compress {
        let (level, bits) = if self.is_store_only() {
            (Compression::none(), ZLIB_MIN_WINDOW_BITS)
        } else {
            (Compression::new(self.level), self.window_bits)
        };
        Compress::new_with_window_bits(level, false, bits)
    }

    /// Compress one whole message payload, appending to `out` without the
    /// trailing `00 00 ff ff` (RFC 7692 section 7.2.1). An empty message
    /// becomes the single byte `00` (an empty stored block once the tail is
    /// appended). On error `out` is left as it was and the stream is reset.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let start = out.len();
        let result = self.compress_inner(input, out, start);
        if result.is_err() {
            out.truncate(start);
            self.stream = None;
        } else if self.no_context_takeover {
            match self.stream.as_mut() {
                Some(s) if self.keep => s.reset(),
                _ => self.stream = None,
            }
        }
        result
    }

    fn compress_inner(&mut self, input: &[u8], out: &mut Vec<u8>, start: usize) -> io::Result<()> {
        if self.stream.is_none() {
            self.stream = Some(self.new_stream());
        }
        let stream = self.stream.as_mut().expect("stream was just created");
        let mut consumed = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve((input.len() - consumed) / 2 + 256);
            }
            let spare = out.capacity() - out.len();
            let (in_before, len_before) = (stream.total_in(), out.len());
            let status = stream
                .compress_vec(&input[consumed..], out, FlushCompress::Sync)
                .map_err(io::Error::other)?;
            let used = (stream.total_in() - in_before) as usize;
            let produced = out.len() - len_before;
            consumed += used;
            // zlib's rule: the flush is complete once all input is consumed
            // and the call returned with output space left over.
            if consumed == input.len() && produced < spare {
                break;
            }
            if status == Status::BufError && used == 0 && produced == 0 {
                if consumed == input.len() {
                    break;
                }
                return Err(io::Error::other("deflate made no progress"));
            }
        }
        if out[start..].ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        } else {
            debug_assert!(
                out.len() == start,
                "sync flush output must end with 00 00 ff ff"
            );
        }
        if out.len() == start {
            // Nothing left (empty message on an already flushed stream): an
            // empty payload would make the receiver read the appended tail as
            // a block header, so send the header of an empty stored block.
            out.push(0x00);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Decompression
// ---------------------------------------------------------------------------

/// Why a message could not be decompressed. Either way the connection must
/// be failed (1009 for `TooBig`, 1007/1002 for `Corrupt`): the decompression
/// context is lost.
#[derive(Debug, PartialEq, Eq)]
pub enum InflateError {
    /// The decompressed message would exceed the size limit.
    TooBig,
    /// The payload is not valid DEFLATE data (or refers beyond the agreed
    /// window).
    Corrupt(String),
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InflateError::TooBig => f.write_str("decompressed message too big"),
            InflateError::Corrupt(msg) => write!(f, "invalid compressed data: {msg}"),
        }
    }
}

impl std::error::Error for InflateError {}

/// Decompressor for one direction of one connection. Lazily allocated like
/// [`Deflater`], and dropped after every message when the peer does not take
/// over its context.
pub struct Inflater {
    stream: Option<Decompress>,
    window_bits: u8,
    no_context_takeover: bool,
}

impl fmt::Debug for Inflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inflater")
            .field("window_bits", &self.window_bits)
            .field("no_context_takeover", &self.no_context_takeover)
            .field("allocated", &self.stream.is_some())
            .finish()
    }
}

/// First output reservation when `out` has no spare room.
const MIN_INFLATE_RESERVE: usize = 256;

impl Inflater {
    /// `window_bits` is the window the peer agreed to compress with; 8 (and
    /// anything below) is inflated with 9, as a larger window is always safe.
    pub fn new(window_bits: u8, no_context_takeover: bool) -> Self {
        Inflater {
            stream: None,
            window_bits: window_bits.clamp(ZLIB_MIN_WINDOW_BITS, MAX_WINDOW_BITS),
            no_context_takeover,
        }
    }

    /// The window size the stream is created with (9..=15).
    pub fn window_bits(&self) -> u8 {
        self.window_bits
    }

    /// Whether the stream is reset after every message.
    pub fn no_context_takeover(&self) -> bool {
        self.no_context_takeover
    }

    /// Whether a zlib stream is currently allocated.
    pub fn is_allocated(&self) -> bool {
        self.stream.is_some()
    }

    /// Decompress one whole message payload (the concatenated payloads of
    /// its frames as received, without the `00 00 ff ff`, which this
    /// function appends itself), appending to `out`.
    ///
    /// `max_out` bounds `out.len()` (including what it already held): the
    /// output is produced in bounded steps and decompression stops with
    /// [`InflateError::TooBig`] as soon as one byte more than allowed comes
    /// out, so a decompression bomb never costs more than about `max_out`
    /// bytes of memory. On error `out` is truncated back to its original
    /// length and the stream is dropped.
    ///
    /// A message that ends the DEFLATE stream (a block with BFINAL set, RFC
    /// 7692 section 7.2.3.4) is accepted; whatever follows the final block is
    /// ignored and the next message starts a fresh stream.
    pub fn decompress(
        &mut self,
        input: &[u8],
        max_out: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), InflateError> {
        let start = out.len();
        let result = self.decompress_inner(input, max_out, out);
        match result {
            Err(_) => {
                out.truncate(start);
                self.stream = None;
            }
            Ok(stream_ended) => {
                if stream_ended || self.no_context_takeover {
                    if let Some(s) = self.stream.take() {
                        spare_inflaters::put(self.window_bits, s);
                    }
                }
            }
        }
        result.map(|_| ())
    }

    /// Returns whether the DEFLATE stream ended (BFINAL).
    fn decompress_inner(
        &mut self,
        input: &[u8],
        max_out: usize,
        out: &mut Vec<u8>,
    ) -> Result<bool, InflateError> {
        if out.len() > max_out {
            return Err(InflateError::TooBig);
        }
        // Producing `limit` bytes proves the message is too big.
        let limit = max_out.saturating_add(1);
        let window_bits = self.window_bits;
        let stream = self
            .stream
            .get_or_insert_with(|| spare_inflaters::take(window_bits));
        for (data, flush) in [
            (input, FlushDecompress::None),
            (&TAIL[..], FlushDecompress::Sync),
        ] {
            let mut pos = 0;
            loop {
                if out.len() >= limit {
                    return Err(InflateError::TooBig);
                }
                if out.capacity() == out.len() {
                    // Geometric growth, never past the limit.
                    let want = out
                        .len()
                        .max(input.len().saturating_mul(2))
                        .max(MIN_INFLATE_RESERVE)
                        .min(limit - out.len());
                    out.reserve_exact(want);
                }
                let avail = (out.capacity() - out.len()).min(limit - out.len());
                let len_before = out.len();
                let (in_before, out_before) = (stream.total_in(), stream.total_out());
                let result = stream.decompress_uninit(
                    &data[pos..],
                    &mut out.spare_capacity_mut()[..avail],
                    flush,
                );
                let produced = (stream.total_out() - out_before) as usize;
                let used = (stream.total_in() - in_before) as usize;
                assert!(produced <= avail, "inflate wrote past its output buffer");
                // SAFETY: the decompressor initialised exactly the first
                // `produced` bytes of the spare capacity it was given, and
                // `produced <= avail <= capacity - len`.
                unsafe { out.set_len(len_before + produced) };
                pos += used;
                match result {
                    Err(e) => return Err(InflateError::Corrupt(e.to_string())),
                    // The last byte of a stream may be the one past the limit.
                    Ok(Status::StreamEnd) if out.len() > max_out => {
                        return Err(InflateError::TooBig)
                    }
                    Ok(Status::StreamEnd) => return Ok(true),
                    Ok(Status::Ok | Status::BufError) => {}
                }
                // Done with this chunk once it is consumed and inflate stopped
                // with output space to spare (nothing more is pending).
                if pos == data.len() && produced < avail {
                    break;
                }
                if used == 0 && produced == 0 {
                    return Err(InflateError::Corrupt(
                        "inflate made no progress".to_string(),
                    ));
                }
            }
        }
        Ok(false)
    }
}

/// A stream a message is done with is reset and kept (one per window size
/// and thread) for the next message of any connection: no context is kept
/// across messages there, and a new stream costs an allocation and a zeroed
/// state and window per message.
mod spare_inflaters {
    use std::cell::RefCell;

    use flate2::Decompress;

    thread_local! {
        static SPARE: RefCell<[Option<Decompress>; 8]> = RefCell::new(Default::default());
    }

    fn index(window_bits: u8) -> usize {
        usize::from(window_bits.clamp(8, 15) - 8)
    }

    pub(super) fn take(window_bits: u8) -> Decompress {
        SPARE
            .with(|s| s.borrow_mut()[index(window_bits)].take())
            .unwrap_or_else(|| Decompress::new_with_window_bits(false, window_bits))
    }

    pub(super) fn put(window_bits: u8, mut d: Decompress) {
        d.reset(false);
        SPARE.with(|s| s.borrow_mut()[index(window_bits)] = Some(d));
    }
}

#[cfg(test)]
mod tests;
