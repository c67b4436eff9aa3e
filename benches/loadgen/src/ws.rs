//! Minimal WebSocket client protocol: URL, fixed upgrade request, response
//! check, frame encoder (masked with a zero key) and a streaming frame
//! decoder that never buffers payloads.

use std::net::{SocketAddr, SocketAddrV4, ToSocketAddrs};

pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// Fixed key from RFC 6455 section 1.3, and its expected accept value.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const ACCEPT: &[u8] = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

pub struct Url {
    pub addr: SocketAddrV4,
    /// wss:// (TLS)
    pub tls: bool,
    /// host without the port (TLS server name)
    pub host: String,
    pub host_header: String,
    pub path: String,
}

pub fn parse_url(url: &str) -> Result<Url, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("ws://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("wss://") {
        (true, r)
    } else {
        return Err(format!("only ws:// and wss:// URLs are supported: {url}"));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rfind(':') {
        Some(i) => (
            &authority[..i],
            authority[i + 1..].parse::<u16>().map_err(|_| format!("bad port in {url}"))?,
        ),
        None => (authority, if tls { 443 } else { 80 }),
    };
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .find_map(|a| match a {
            SocketAddr::V4(v4) => Some(v4),
            _ => None,
        })
        .ok_or_else(|| format!("no IPv4 address for {host}"))?;
    Ok(Url { addr, tls, host: host.to_string(), host_header: authority.to_string(), path: path.to_string() })
}

/// The permessage-deflate offer (RFC 7692): no context takeover either way,
/// so every message is compressed on its own.
pub const DEFLATE_OFFER: &str =
    "permessage-deflate; client_no_context_takeover; server_no_context_takeover; client_max_window_bits";

pub fn upgrade_request(url: &Url, deflate: bool) -> Vec<u8> {
    let ext = if deflate { format!("Sec-WebSocket-Extensions: {DEFLATE_OFFER}\r\n") } else { String::new() };
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n{}\r\n",
        url.path, url.host_header, KEY, ext
    )
    .into_bytes()
}

/// Whether the 101 response's headers accept permessage-deflate.
pub fn accepts_deflate(head: &[u8]) -> bool {
    let lower = head.to_ascii_lowercase();
    lower
        .split(|&b| b == b'\n')
        .any(|l| l.starts_with(b"sec-websocket-extensions:") && find(l, b"permessage-deflate").is_some())
}

/// One message compressed for permessage-deflate: raw deflate, sync flush,
/// the trailing 00 00 ff ff removed (RFC 7692 7.2.1).
pub fn deflate_message(payload: &[u8]) -> Vec<u8> {
    let mut c = flate2::Compress::new(flate2::Compression::default(), false);
    let mut out = Vec::with_capacity(payload.len() + 64);
    loop {
        let before = c.total_in() as usize;
        c.compress_vec(&payload[before..], &mut out, flate2::FlushCompress::Sync).expect("deflate");
        if c.total_in() as usize == payload.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity().max(64));
    }
    if out.ends_with(&[0, 0, 0xff, 0xff]) {
        out.truncate(out.len() - 4);
    }
    out
}

/// `encode_frame` with RSV1 set (a compressed message).
pub fn encode_frame_rsv1(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    let start = out.len();
    encode_frame(out, opcode, payload);
    out[start] |= 0x40;
}

/// Looks for the end of the response headers in `buf`. Returns
/// Ok(Some(header_len)) when complete and valid, Ok(None) when more bytes
/// are needed, Err when the response is not a valid 101.
pub fn check_response(buf: &[u8], searched_from: usize) -> Result<Option<usize>, String> {
    let start = searched_from.saturating_sub(3);
    let end = match find(&buf[start..], b"\r\n\r\n") {
        Some(i) => start + i + 4,
        None => {
            if buf.len() > 16 * 1024 {
                return Err("response headers larger than 16 KiB".into());
            }
            return Ok(None);
        }
    };
    let head = &buf[..end];
    if !(head.starts_with(b"HTTP/1.1 101") || head.starts_with(b"HTTP/1.0 101")) {
        let line_end = find(head, b"\r\n").unwrap_or(head.len()).min(80);
        return Err(format!("not a 101 response: {}", String::from_utf8_lossy(&head[..line_end])));
    }
    if find(head, ACCEPT).is_none() {
        return Err("Sec-WebSocket-Accept missing or wrong".into());
    }
    Ok(Some(end))
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Appends one client frame (FIN set, mask bit set, mask key 00000000, so
/// the payload goes out as is).
pub fn encode_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    let len = payload.len();
    out.push(0x80 | opcode);
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xFFFF {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(payload);
}

pub fn encode_close(out: &mut Vec<u8>, code: u16) {
    encode_frame(out, OP_CLOSE, &code.to_be_bytes());
}

/// Largest payload prefix a decoded frame carries (control frames are at
/// most 125 bytes, so they are captured whole).
pub const CAPTURE_MAX: usize = 125;

/// One whole frame, reported once its last payload byte has arrived.
pub struct Frame<'a> {
    pub fin: bool,
    /// RSV1: compressed (permessage-deflate)
    pub rsv1: bool,
    pub opcode: u8,
    pub len: u64,
    /// The first min(len, capture limit) payload bytes.
    pub prefix: &'a [u8],
}

/// Streaming decoder for server frames. Payload bytes are skipped, not
/// stored, except for a captured prefix (whole control frames, and the
/// first `data_capture` bytes of data frames). Handles frames split across
/// reads, several frames per read, 7/16/64-bit lengths and (although
/// servers must not send them) masked frames.
pub struct Decoder {
    hdr: [u8; 14],
    hdr_len: usize,
    in_payload: bool,
    fin: bool,
    rsv1: bool,
    /// permessage-deflate negotiated: RSV1 allowed on data frames
    pub allow_rsv1: bool,
    opcode: u8,
    masked: bool,
    mask: [u8; 4],
    len: u64,
    remaining: u64,
    cap: [u8; CAPTURE_MAX],
    cap_len: usize,
    cap_want: usize,
    data_capture: usize,
}

pub enum DecodeError {
    Protocol(&'static str),
}

impl Decoder {
    pub fn new(data_capture: usize) -> Decoder {
        Decoder {
            hdr: [0; 14],
            hdr_len: 0,
            in_payload: false,
            fin: false,
            rsv1: false,
            allow_rsv1: false,
            opcode: 0,
            masked: false,
            mask: [0; 4],
            len: 0,
            remaining: 0,
            cap: [0; CAPTURE_MAX],
            cap_len: 0,
            cap_want: 0,
            data_capture: data_capture.min(CAPTURE_MAX),
        }
    }

    /// Header length implied by the first two header bytes.
    #[inline]
    fn header_len(b1: u8) -> usize {
        let mut n = 2;
        match b1 & 0x7F {
            126 => n += 2,
            127 => n += 8,
            _ => {}
        }
        if b1 & 0x80 != 0 {
            n += 4;
        }
        n
    }

    fn start_frame(&mut self, h: &[u8]) -> Result<(), DecodeError> {
        let b0 = h[0];
        let b1 = h[1];
        let rsv_ok = if self.allow_rsv1 { 0x40 } else { 0 };
        if b0 & 0x70 & !rsv_ok != 0 {
            return Err(DecodeError::Protocol("RSV bits set without extension"));
        }
        self.rsv1 = b0 & 0x40 != 0;
        self.fin = b0 & 0x80 != 0;
        self.opcode = b0 & 0x0F;
        self.masked = b1 & 0x80 != 0;
        let (len, mut off) = match b1 & 0x7F {
            126 => (u16::from_be_bytes([h[2], h[3]]) as u64, 4),
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&h[2..10]);
                (u64::from_be_bytes(b), 10)
            }
            n => (n as u64, 2),
        };
        if self.masked {
            self.mask.copy_from_slice(&h[off..off + 4]);
            off += 4;
        }
        let _ = off;
        let control = self.opcode & 0x8 != 0;
        if control && (len > 125 || !self.fin) {
            return Err(DecodeError::Protocol("bad control frame"));
        }
        self.len = len;
        self.remaining = len;
        self.cap_len = 0;
        self.cap_want = if control { len as usize } else { (len as usize).min(self.data_capture) };
        self.in_payload = true;
        Ok(())
    }

    fn finish_frame<F: FnMut(&Frame)>(&mut self, on_frame: &mut F) {
        if self.masked {
            for i in 0..self.cap_len {
                self.cap[i] ^= self.mask[i & 3];
            }
        }
        self.in_payload = false;
        self.hdr_len = 0;
        on_frame(&Frame {
            fin: self.fin,
            rsv1: self.rsv1,
            opcode: self.opcode,
            len: self.len,
            prefix: &self.cap[..self.cap_len],
        });
    }

    /// Feeds bytes; calls `on_frame` for every frame completed by them.
    pub fn feed<F: FnMut(&Frame)>(&mut self, mut data: &[u8], mut on_frame: F) -> Result<(), DecodeError> {
        while !data.is_empty() {
            if !self.in_payload {
                // Header: fast path when the whole header is in `data`.
                if self.hdr_len == 0 && data.len() >= 2 {
                    let need = Self::header_len(data[1]);
                    if data.len() >= need {
                        let (h, rest) = data.split_at(need);
                        self.start_frame(h)?;
                        data = rest;
                        if self.remaining == 0 {
                            self.finish_frame(&mut on_frame);
                        }
                        continue;
                    }
                }
                // Slow path: accumulate header bytes across reads.
                let need = if self.hdr_len >= 2 { Self::header_len(self.hdr[1]) } else { 2 };
                let take = (need - self.hdr_len).min(data.len());
                self.hdr[self.hdr_len..self.hdr_len + take].copy_from_slice(&data[..take]);
                self.hdr_len += take;
                data = &data[take..];
                if self.hdr_len >= 2 && self.hdr_len == Self::header_len(self.hdr[1]) {
                    let h = self.hdr;
                    self.start_frame(&h[..self.hdr_len])?;
                    if self.remaining == 0 {
                        self.finish_frame(&mut on_frame);
                    }
                }
                continue;
            }
            // Payload: skip, capturing a prefix.
            let take = (self.remaining.min(data.len() as u64)) as usize;
            if self.cap_len < self.cap_want {
                let c = (self.cap_want - self.cap_len).min(take);
                self.cap[self.cap_len..self.cap_len + c].copy_from_slice(&data[..c]);
                self.cap_len += c;
            }
            self.remaining -= take as u64;
            data = &data[take..];
            if self.remaining == 0 {
                self.finish_frame(&mut on_frame);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0x80 | opcode];
        let n = payload.len();
        if n < 126 {
            v.push(n as u8);
        } else if n <= 0xFFFF {
            v.push(126);
            v.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            v.push(127);
            v.extend_from_slice(&(n as u64).to_be_bytes());
        }
        v.extend_from_slice(payload);
        v
    }

    fn decode_in_chunks(bytes: &[u8], chunk: usize) -> Vec<(u8, u64, Vec<u8>)> {
        let mut d = Decoder::new(4);
        let mut out = Vec::new();
        for c in bytes.chunks(chunk) {
            d.feed(c, |f| out.push((f.opcode, f.len, f.prefix.to_vec()))).ok().unwrap();
        }
        out
    }

    #[test]
    fn frames_split_and_batched() {
        let mut stream = Vec::new();
        stream.extend(server_frame(OP_BINARY, &[7u8; 256]));
        stream.extend(server_frame(OP_TEXT, b"hi"));
        stream.extend(server_frame(OP_BINARY, &vec![1u8; 70000]));
        stream.extend(server_frame(OP_PING, b"p"));
        stream.extend(server_frame(OP_BINARY, b""));
        let want = vec![
            (OP_BINARY, 256, vec![7, 7, 7, 7]),
            (OP_TEXT, 2, b"hi".to_vec()),
            (OP_BINARY, 70000, vec![1, 1, 1, 1]),
            (OP_PING, 1, b"p".to_vec()),
            (OP_BINARY, 0, vec![]),
        ];
        for chunk in [1, 2, 3, 5, 13, 255, 4096, 1 << 20] {
            assert_eq!(decode_in_chunks(&stream, chunk), want, "chunk {chunk}");
        }
    }

    #[test]
    fn response_check() {
        let ok = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\nxx",
            std::str::from_utf8(ACCEPT).unwrap()
        );
        let b = ok.as_bytes();
        assert_eq!(check_response(&b[..10], 0).ok().unwrap(), None);
        assert_eq!(check_response(b, 10).ok().unwrap(), Some(b.len() - 2));
        assert!(check_response(b"HTTP/1.1 404 Not Found\r\n\r\n", 0).is_err());
    }

    #[test]
    fn encoder_lengths() {
        for n in [0usize, 125, 126, 65535, 65536] {
            let mut v = Vec::new();
            encode_frame(&mut v, OP_BINARY, &vec![0u8; n]);
            let hdr = if n < 126 { 6 } else if n <= 65535 { 8 } else { 14 };
            assert_eq!(v.len(), hdr + n);
            assert_eq!(v[0], 0x82);
            assert!(v[1] & 0x80 != 0);
        }
    }
}
