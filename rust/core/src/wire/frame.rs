//! RFC 6455 section 5.2 frame headers: parsing and encoding.

use super::close::CloseError;
use super::mask::apply_mask;

pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// The largest header: 2 bytes, 8 bytes of length, 4 bytes of mask.
pub const MAX_HEADER: usize = 14;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameHeader {
    pub fin: bool,
    pub rsv1: bool,
    pub rsv2: bool,
    pub rsv3: bool,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub len: u64,
}

impl FrameHeader {
    pub fn is_control(&self) -> bool {
        self.opcode & 0x8 != 0
    }
}

/// Parse a header from the start of `buf`. `Ok(None)`: not enough bytes yet.
/// Checks only what the header alone can tell (opcode, control frame rules,
/// length encoding); the reader checks the rest against its state.
pub fn parse_header(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, CloseError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let b0 = buf[0];
    let b1 = buf[1];
    let opcode = b0 & 0x0f;
    let masked = b1 & 0x80 != 0;
    let len7 = (b1 & 0x7f) as u64;
    let (len, mut pos) = match len7 {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let l = u64::from_be_bytes(buf[2..10].try_into().unwrap());
            if l >> 63 != 0 {
                return Err(CloseError::protocol("frame length has the high bit set"));
            }
            (l, 10)
        }
        l => (l, 2),
    };
    let mask = if masked {
        if buf.len() < pos + 4 {
            return Ok(None);
        }
        let m = [buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]];
        pos += 4;
        Some(m)
    } else {
        None
    };
    let h = FrameHeader {
        fin: b0 & 0x80 != 0,
        rsv1: b0 & 0x40 != 0,
        rsv2: b0 & 0x20 != 0,
        rsv3: b0 & 0x10 != 0,
        opcode,
        mask,
        len,
    };
    match opcode {
        OP_CONT | OP_TEXT | OP_BINARY => {}
        OP_CLOSE | OP_PING | OP_PONG => {
            if !h.fin {
                return Err(CloseError::protocol("fragmented control frame"));
            }
            if len > 125 {
                return Err(CloseError::protocol("control frame longer than 125 bytes"));
            }
        }
        _ => return Err(CloseError::protocol("reserved opcode")),
    }
    Ok(Some((h, pos)))
}

/// Append a frame header. `mask` is for client frames.
#[inline]
pub fn encode_header(
    out: &mut Vec<u8>,
    fin: bool,
    rsv1: bool,
    opcode: u8,
    len: usize,
    mask: Option<[u8; 4]>,
) {
    let b0 = (fin as u8) << 7 | (rsv1 as u8) << 6 | (opcode & 0x0f);
    let mbit = if mask.is_some() { 0x80 } else { 0 };
    if len < 126 {
        out.extend_from_slice(&[b0, mbit | len as u8]);
    } else if len <= 0xffff {
        let l = (len as u16).to_be_bytes();
        out.extend_from_slice(&[b0, mbit | 126, l[0], l[1]]);
    } else {
        out.extend_from_slice(&[b0, mbit | 127]);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    if let Some(m) = mask {
        out.extend_from_slice(&m);
    }
}

/// Size of the header `encode_header` writes.
#[inline]
pub fn header_len(len: usize, masked: bool) -> usize {
    let base = if len < 126 {
        2
    } else if len <= 0xffff {
        4
    } else {
        10
    };
    base + if masked { 4 } else { 0 }
}

/// Append a whole unmasked (server) frame.
#[inline]
pub fn encode_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], rsv1: bool) {
    out.reserve(header_len(payload.len(), false) + payload.len());
    encode_header(out, true, rsv1, opcode, payload.len(), None);
    out.extend_from_slice(payload);
}

/// Append a whole masked (client) frame.
pub fn encode_masked_frame(
    out: &mut Vec<u8>,
    opcode: u8,
    payload: &[u8],
    rsv1: bool,
    key: [u8; 4],
) {
    out.reserve(header_len(payload.len(), true) + payload.len());
    encode_header(out, true, rsv1, opcode, payload.len(), Some(key));
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        for len in [0usize, 1, 125, 126, 65535, 65536, 1 << 20] {
            for mask in [None, Some([1, 2, 3, 4])] {
                let mut out = Vec::new();
                encode_header(&mut out, true, false, OP_BINARY, len, mask);
                assert_eq!(out.len(), header_len(len, mask.is_some()));
                let (h, n) = parse_header(&out).unwrap().unwrap();
                assert_eq!(n, out.len());
                assert_eq!(h.len as usize, len);
                assert_eq!(h.mask, mask);
                assert!(h.fin);
                // Any prefix is "need more".
                for i in 0..out.len() {
                    assert_eq!(parse_header(&out[..i]).unwrap(), None);
                }
            }
        }
    }

    #[test]
    fn header_errors() {
        assert!(parse_header(&[0x83, 0x00]).is_err()); // reserved opcode 3
        assert!(parse_header(&[0x09, 0x00]).is_err()); // fragmented ping
        assert!(parse_header(&[0x89, 0x7e, 0x00, 0x7e]).is_err()); // ping of 126
        let mut big = vec![0x82, 0x7f];
        big.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert!(parse_header(&big).is_err());
    }

    #[test]
    fn rfc_examples() {
        let mut out = Vec::new();
        encode_frame(&mut out, OP_TEXT, b"Hello", false);
        assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        let mut out = Vec::new();
        encode_masked_frame(&mut out, OP_TEXT, b"Hello", false, [0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(
            out,
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
    }
}
