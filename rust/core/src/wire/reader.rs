//! The incoming half of a WebSocket connection: bytes in any chunking to
//! whole messages, with every RFC 6455 check on the way.
//!
//! `FrameReader::feed` consumes all the bytes it is given. A frame that is
//! complete in the input and needs no reassembly is unmasked in place and
//! handed out without a copy; partial frames and fragmented messages are
//! gathered in the reader's own buffer, which exists only while needed.
//! Text is validated as it arrives, so invalid UTF-8 fails the connection as
//! soon as the bytes allow.

use super::close::{parse_close_payload, CloseError, INVALID_DATA, TOO_BIG};
use super::deflate::{InflateError, Inflater};
use super::frame::{
    parse_header, FrameHeader, MAX_HEADER, OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT,
};
use super::mask::apply_mask;
use super::utf8::{validate, Utf8Validator};

/// One thing the peer said.
#[derive(Debug, PartialEq, Eq)]
pub enum Message<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
    Ping(&'a [u8]),
    Pong(&'a [u8]),
    /// A close frame: its code (`None` when the frame had no payload) and reason.
    Close(Option<u16>, &'a str),
}

/// Keep reassembly buffers up to this size between messages; free larger ones.
const KEEP_CAPACITY: usize = 64 * 1024;

#[derive(Debug, Clone, Copy)]
struct Partial {
    h: FrameHeader,
    remaining: u64,
    offset: usize,
}

#[derive(Debug)]
pub struct FrameReader {
    hdr: [u8; MAX_HEADER],
    hdr_len: u8,
    partial: Option<Partial>,
    /// Opcode of the fragmented message in progress, `OP_CONT` when none.
    msg_op: u8,
    msg_compressed: bool,
    msg: Vec<u8>,
    ctrl: Vec<u8>,
    utf8: Utf8Validator,
    inflater: Option<Box<Inflater>>,
    inflated: Vec<u8>,
    closed: bool,
    /// The first error: every later `feed` returns it again (the partial
    /// message it interrupted is never finished). Boxed: connections keep
    /// a reader each, and errors are rare.
    failed: Option<Box<CloseError>>,
    /// Largest message (after decompression) accepted; larger: close 1009.
    pub max_message: usize,
    /// Server side: client frames must be masked. Client side: must not be.
    pub expect_masked: bool,
}

impl FrameReader {
    pub fn new(max_message: usize, expect_masked: bool) -> Self {
        Self {
            hdr: [0; MAX_HEADER],
            hdr_len: 0,
            partial: None,
            msg_op: OP_CONT,
            msg_compressed: false,
            msg: Vec::new(),
            ctrl: Vec::new(),
            utf8: Utf8Validator::new(),
            inflater: None,
            inflated: Vec::new(),
            closed: false,
            failed: None,
            max_message,
            expect_masked,
        }
    }

    /// Accept RSV1 (permessage-deflate) messages and inflate them with this.
    pub fn set_inflater(&mut self, inflater: Inflater) {
        self.inflater = Some(Box::new(inflater));
    }

    /// True once a close frame was read; later input is ignored.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// True while a frame or message is partly received.
    pub fn in_message(&self) -> bool {
        self.partial.is_some() || self.hdr_len != 0 || self.msg_op != OP_CONT
    }

    /// The error this reader failed with, if it did.
    pub fn error(&self) -> Option<CloseError> {
        self.failed.as_deref().copied()
    }

    /// Consume `input` (which is unmasked in place) and report each complete
    /// message to `sink`. An error means the connection must be failed with
    /// that close code; the messages before it were delivered. The first
    /// error is latched: every later call returns it and reads nothing (a
    /// message cut by the error is never completed by later input).
    #[inline]
    pub fn feed<F: FnMut(Message<'_>)>(
        &mut self,
        input: &mut [u8],
        sink: &mut F,
    ) -> Result<(), CloseError> {
        self.feed_some(input, &mut |m| {
            sink(m);
            true
        })
        .map(|_| ())
    }

    /// Like [`feed`](Self::feed), but `sink` says whether to go on: after it
    /// returns `false` the reader stops at the end of that frame and returns
    /// how many bytes of `input` it consumed. The rest of `input` is
    /// untouched (not unmasked): feed it later, before newer bytes.
    pub fn feed_some<F: FnMut(Message<'_>) -> bool>(
        &mut self,
        input: &mut [u8],
        sink: &mut F,
    ) -> Result<usize, CloseError> {
        if let Some(e) = self.failed.as_deref() {
            return Err(*e);
        }
        let go = std::cell::Cell::new(true);
        let mut s = |m: Message<'_>| {
            if !sink(m) {
                go.set(false);
            }
        };
        let r = self.feed_inner(input, &mut s, &go);
        if let Err(e) = r {
            self.failed = Some(Box::new(e));
            // Nothing of the interrupted message survives.
            self.partial = None;
            self.hdr_len = 0;
            self.msg_op = OP_CONT;
            self.msg = Vec::new();
            self.ctrl = Vec::new();
            self.inflated = Vec::new();
        }
        r
    }

    fn feed_inner<F: FnMut(Message<'_>)>(
        &mut self,
        input: &mut [u8],
        sink: &mut F,
        go: &std::cell::Cell<bool>,
    ) -> Result<usize, CloseError> {
        let mut pos = 0;
        while pos < input.len() && !self.closed && go.get() {
            if let Some(mut p) = self.partial {
                let n = (input.len() - pos).min(p.remaining as usize);
                let chunk = &mut input[pos..pos + n];
                if let Some(m) = p.h.mask {
                    apply_mask(chunk, m, p.offset);
                }
                pos += n;
                p.offset += n;
                p.remaining -= n as u64;
                self.absorb(&p.h, chunk)?;
                if p.remaining == 0 {
                    self.partial = None;
                    self.end_frame(&p.h, sink)?;
                } else {
                    self.partial = Some(p);
                }
                continue;
            }
            let h = if self.hdr_len == 0 {
                match parse_header(&input[pos..])? {
                    Some((h, n)) => {
                        pos += n;
                        h
                    }
                    None => {
                        let rest = input.len() - pos;
                        self.hdr[..rest].copy_from_slice(&input[pos..]);
                        self.hdr_len = rest as u8;
                        pos = input.len();
                        break;
                    }
                }
            } else {
                let have = self.hdr_len as usize;
                let take = (MAX_HEADER - have).min(input.len() - pos);
                self.hdr[have..have + take].copy_from_slice(&input[pos..pos + take]);
                match parse_header(&self.hdr[..have + take])? {
                    Some((h, n)) => {
                        pos += n - have;
                        self.hdr_len = 0;
                        h
                    }
                    None => {
                        self.hdr_len = (have + take) as u8;
                        pos += take;
                        continue;
                    }
                }
            };
            self.check_header(&h)?;
            let len = h.len as usize;
            let whole = input.len() - pos >= len;
            if whole && h.fin && (h.is_control() || h.opcode != OP_CONT) {
                // Fast path: the whole frame is here and it is a whole message.
                let payload = &mut input[pos..pos + len];
                pos += len;
                if let Some(m) = h.mask {
                    apply_mask(payload, m, 0);
                }
                if h.is_control() {
                    self.control(h.opcode, payload, sink)?;
                } else {
                    deliver(
                        &mut self.inflater,
                        &mut self.inflated,
                        self.max_message,
                        h.opcode,
                        h.rsv1,
                        payload,
                        sink,
                    )?;
                }
                continue;
            }
            if !h.is_control() && h.opcode != OP_CONT {
                self.msg_op = h.opcode;
                self.msg_compressed = h.rsv1;
                self.msg.clear();
                self.utf8.reset();
            }
            if len == 0 {
                self.end_frame(&h, sink)?;
            } else {
                self.partial = Some(Partial {
                    h,
                    remaining: h.len,
                    offset: 0,
                });
            }
        }
        Ok(pos)
    }

    fn check_header(&self, h: &FrameHeader) -> Result<(), CloseError> {
        if h.mask.is_some() != self.expect_masked {
            return Err(CloseError::protocol(if self.expect_masked {
                "client frame is not masked"
            } else {
                "server frame is masked"
            }));
        }
        if h.rsv2 || h.rsv3 {
            return Err(CloseError::protocol(
                "reserved bit set without an extension",
            ));
        }
        if h.rsv1 && (self.inflater.is_none() || h.is_control() || h.opcode == OP_CONT) {
            return Err(CloseError::protocol(
                "reserved bit set without an extension",
            ));
        }
        match h.opcode {
            OP_CONT if self.msg_op == OP_CONT => {
                Err(CloseError::protocol("continuation frame without a message"))
            }
            OP_TEXT | OP_BINARY if self.msg_op != OP_CONT => Err(CloseError::protocol(
                "new message inside a fragmented message",
            )),
            OP_CONT | OP_TEXT | OP_BINARY => {
                let have = if h.opcode == OP_CONT {
                    self.msg.len() as u64
                } else {
                    0
                };
                let compressed = if h.opcode == OP_CONT {
                    self.msg_compressed
                } else {
                    h.rsv1
                };
                // The limit is on the message, which for permessage-deflate is the
                // inflated data (checked while inflating); on the wire allow for
                // deflate's overhead on incompressible data.
                let max = self.max_message as u64;
                let limit = if compressed {
                    max + max / 64 + 1024
                } else {
                    max
                };
                if have + h.len > limit {
                    Err(CloseError::new(TOO_BIG, "message too big"))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    fn absorb(&mut self, h: &FrameHeader, chunk: &[u8]) -> Result<(), CloseError> {
        if h.is_control() {
            self.ctrl.extend_from_slice(chunk);
            return Ok(());
        }
        if self.msg.is_empty() && self.msg.capacity() < chunk.len() {
            // First piece of a message: size the buffer for the whole frame.
            self.msg
                .reserve(h.len.min(self.max_message as u64) as usize);
        }
        self.msg.extend_from_slice(chunk);
        if self.msg_op == OP_TEXT && !self.msg_compressed {
            self.utf8
                .feed(chunk)
                .map_err(|_| CloseError::new(INVALID_DATA, "invalid UTF-8 in text"))?;
        }
        Ok(())
    }

    fn end_frame<F: FnMut(Message<'_>)>(
        &mut self,
        h: &FrameHeader,
        sink: &mut F,
    ) -> Result<(), CloseError> {
        if h.is_control() {
            let ctrl = std::mem::take(&mut self.ctrl);
            let r = self.control(h.opcode, &ctrl, sink);
            self.ctrl = ctrl;
            self.ctrl.clear();
            return r;
        }
        if !h.fin {
            return Ok(());
        }
        let op = self.msg_op;
        self.msg_op = OP_CONT;
        if op == OP_TEXT && !self.msg_compressed {
            self.utf8
                .finish()
                .map_err(|_| CloseError::new(INVALID_DATA, "invalid UTF-8 in text"))?;
            // Already validated piece by piece.
            sink(Message::Text(unsafe {
                std::str::from_utf8_unchecked(&self.msg)
            }));
        } else {
            deliver(
                &mut self.inflater,
                &mut self.inflated,
                self.max_message,
                op,
                self.msg_compressed,
                &self.msg,
                sink,
            )?;
        }
        if self.msg.capacity() > KEEP_CAPACITY {
            self.msg = Vec::new();
        } else {
            self.msg.clear();
        }
        Ok(())
    }

    fn control<F: FnMut(Message<'_>)>(
        &mut self,
        op: u8,
        payload: &[u8],
        sink: &mut F,
    ) -> Result<(), CloseError> {
        match op {
            OP_PING => sink(Message::Ping(payload)),
            OP_PONG => sink(Message::Pong(payload)),
            OP_CLOSE => {
                let (code, reason) = parse_close_payload(payload)?;
                self.closed = true;
                sink(Message::Close(code, reason));
            }
            _ => unreachable!("parse_header rejects other opcodes"),
        }
        Ok(())
    }
}

/// Hand out one complete data message, inflating and validating it as needed.
fn deliver<F: FnMut(Message<'_>)>(
    inflater: &mut Option<Box<Inflater>>,
    inflated: &mut Vec<u8>,
    max_message: usize,
    op: u8,
    compressed: bool,
    data: &[u8],
    sink: &mut F,
) -> Result<(), CloseError> {
    let data = if compressed {
        let inf = inflater
            .as_mut()
            .expect("RSV1 accepted only with an inflater");
        inflated.clear();
        inf.decompress(data, max_message, inflated)
            .map_err(|e| match e {
                InflateError::TooBig => {
                    CloseError::new(TOO_BIG, "message too big after decompression")
                }
                InflateError::Corrupt(_) => CloseError::protocol("invalid compressed data"),
            })?;
        &inflated[..]
    } else {
        data
    };
    if op == OP_TEXT {
        validate(data).map_err(|_| CloseError::new(INVALID_DATA, "invalid UTF-8 in text"))?;
        sink(Message::Text(unsafe {
            std::str::from_utf8_unchecked(data)
        }));
    } else {
        sink(Message::Binary(data));
    }
    if compressed && inflated.capacity() > KEEP_CAPACITY {
        *inflated = Vec::new();
    }
    Ok(())
}

#[cfg(test)]
mod tests;
