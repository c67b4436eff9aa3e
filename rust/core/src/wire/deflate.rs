//! RFC 7692 permessage-deflate: extension negotiation (server and client side)
//! and the per-direction compressor ([`Deflater`]) / decompressor
//! ([`Inflater`]).
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
//!
//! # Negotiation decisions
//!
//! * **Malformed header → handshake failure.** RFC 6455 section 4.2.1 says a
//!   server MUST answer a handshake that does not match its description with
//!   an error (e.g. 400), and the description includes the
//!   `Sec-WebSocket-Extensions` grammar of section 9.1. So a header that
//!   cannot be tokenized as `1#( token *( ";" token [ "=" ( token /
//!   quoted-string ) ] ) )` makes [`negotiate`] return `Err`. Empty list
//!   elements (`a, , b`) are ignored as RFC 7230 section 7 requires.
//! * **Unacceptable offer → declined, never failed.** RFC 7692 section 7.1
//!   says a server MUST *decline* an offer with an unknown parameter, an
//!   invalid value, a duplicated parameter, or a configuration it does not
//!   support. Those offers are skipped and the next permessage-deflate offer
//!   is tried; if none is acceptable the extension is simply not used.
//! * **`server_max_window_bits=8` is declined.** zlib (and zlib-rs) cannot
//!   compress with a 256-byte window: raw deflate with 8 window bits is
//!   refused, and silently compressing with 9 bits would break the promise
//!   made to the client, whose decompressor may reject distances beyond 256.
//!   Section 7.1 explicitly lets the server decline a configuration it does
//!   not support, and clients that want a small window usually send a
//!   fallback offer, which is then picked instead.
//! * **`client_max_window_bits=8` is accepted.** It only constrains the
//!   client's compressor; data made with a 256-byte window inflates fine with
//!   a larger window, so the [`Inflater`] uses 9 bits.
//! * `client_max_window_bits` with a value is echoed (it is then binding on
//!   the client). Without a value it is not answered, so the client may use
//!   up to 15 bits: zlib-rs allocates a 32 KiB inflate window whatever the
//!   size, so a smaller client window would save no memory here. Without
//!   the parameter in the offer the response never mentions it (section
//!   7.1.2.2).
//! * `client_no_context_takeover` is echoed when offered, which lets the
//!   [`Inflater`] free its stream between messages.
//!
//! On the client side ([`client_accept`]) every violation in the server's
//! response fails the connection, as section 7.1 requires of clients. If the
//! server limits our window to 8 bits, the [`Deflater`] falls back to stored
//! (uncompressed) DEFLATE blocks, which are valid for any window size.

use std::borrow::Cow;
use std::fmt;
use std::io;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The registered extension token.
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// The empty stored block that ends every sync-flushed message: stripped by
/// the sender, appended again by the receiver (RFC 7692 section 7.2).
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The smallest window size the RFC allows in negotiation.
pub const MIN_WINDOW_BITS: u8 = 8;
/// The largest (and default) window size.
pub const MAX_WINDOW_BITS: u8 = 15;
/// The smallest window zlib accepts for raw deflate streams.
const ZLIB_MIN_WINDOW_BITS: u8 = 9;

/// Server-side policy for permessage-deflate.
#[derive(Clone, Debug)]
pub struct DeflateConfig {
    /// Whether the extension is offered at all. Default `true`.
    pub enabled: bool,
    /// The largest window (9..=15, default 15) the server compresses with;
    /// announced as `server_max_window_bits` when below 15. Values outside
    /// 9..=15 are clamped.
    pub server_max_window_bits: u8,
    /// Always agree `server_no_context_takeover`, even when the client does
    /// not ask for it (saves the compressor memory between messages at the
    /// price of compression ratio). Default `false`.
    pub server_no_context_takeover: bool,
    /// zlib compression level 0..=9 (default 1: fastest). Clamped to 9.
    pub level: u32,
    /// Messages shorter than this are sent uncompressed (RSV1 clear), which
    /// RFC 7692 section 6 allows per message. Default 32.
    pub min_size: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            enabled: true,
            server_max_window_bits: MAX_WINDOW_BITS,
            server_no_context_takeover: false,
            level: 1,
            min_size: 32,
        }
    }
}

impl DeflateConfig {
    /// Whether a message of `len` bytes is worth compressing under this
    /// policy (otherwise send it with RSV1 clear).
    pub fn should_compress(&self, len: usize) -> bool {
        len >= self.min_size
    }
}

/// What was agreed for one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message.
    pub client_no_context_takeover: bool,
    /// Window the server compresses with (the client inflates with this).
    pub server_max_window_bits: u8,
    /// Window the client compresses with (the server inflates with this).
    pub client_max_window_bits: u8,
}

impl Default for DeflateParams {
    /// What a bare `permessage-deflate` agreement means.
    fn default() -> Self {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
        }
    }
}

impl DeflateParams {
    /// The server's compressor for outgoing messages.
    pub fn server_deflater(&self, level: u32) -> Deflater {
        Deflater::new(
            self.server_max_window_bits,
            self.server_no_context_takeover,
            level,
        )
    }

    /// The server's decompressor for incoming messages.
    pub fn server_inflater(&self) -> Inflater {
        Inflater::new(self.client_max_window_bits, self.client_no_context_takeover)
    }

    /// The client's compressor for outgoing messages.
    pub fn client_deflater(&self, level: u32) -> Deflater {
        Deflater::new(
            self.client_max_window_bits,
            self.client_no_context_takeover,
            level,
        )
    }

    /// The client's decompressor for incoming messages.
    pub fn client_inflater(&self) -> Inflater {
        Inflater::new(self.server_max_window_bits, self.server_no_context_takeover)
    }
}

// ---------------------------------------------------------------------------
// Sec-WebSocket-Extensions parsing (RFC 6455 section 9.1)
// ---------------------------------------------------------------------------

/// One element of an extension list: `name *( ";" param )`.
#[derive(Debug)]
struct Extension<'a> {
    name: &'a [u8],
    params: Vec<Param<'a>>,
}

/// `name [ "=" value ]`; a quoted value is already unescaped.
#[derive(Debug)]
struct Param<'a> {
    name: &'a [u8],
    value: Option<Cow<'a, [u8]>>,
}

/// What may appear (unescaped or after a backslash) in a quoted-string:
/// HTAB, SP, visible ASCII and obs-text (RFC 7230 section 3.2.6).
fn is_qdtext(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

/// RFC 7230 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Why a `Sec-WebSocket-Extensions` value, or a permessage-deflate offer or
/// response in it, is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NegotiationError {
    /// The text does not match the RFC 6455 section 9.1 grammar: what was
    /// expected, at which byte, and the value (lossy UTF-8, at most 120 chars).
    Malformed {
        what: &'static str,
        pos: usize,
        value: String,
    },
    /// A parameter permessage-deflate does not define.
    UnknownParameter(String),
    /// A parameter given twice.
    DuplicateParameter(String),
    /// A parameter's value is missing, present where none is allowed, or not
    /// a window size 8..=15.
    InvalidValue { name: String, value: String },
    /// An offer asks for `server_max_window_bits` zlib cannot compress with.
    UnsupportedServerWindowBits(u8),
    /// Client side: the response accepted no extension.
    NoExtension,
    /// Client side: the response accepted more than one extension.
    SeveralExtensions,
    /// Client side: the response accepted an extension that was not offered.
    NotOffered(String),
    /// Client side: the response's `client_max_window_bits` exceeds the offer.
    WindowBitsOverOffer { bits: u8, offered: u8 },
}

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use NegotiationError::*;
        match self {
            Malformed { what, pos, value } => write!(
                f,
                "malformed Sec-WebSocket-Extensions header: {what} at byte {pos} of {value:?}"
            ),
            UnknownParameter(name) => write!(f, "permessage-deflate: unknown parameter {name}"),
            DuplicateParameter(name) => {
                write!(f, "permessage-deflate: duplicate parameter {name}")
            }
            InvalidValue { name, value } => {
                write!(f, "permessage-deflate: invalid value {value:?} for {name}")
            }
            UnsupportedServerWindowBits(bits) => write!(
                f,
                "server_max_window_bits={bits} is not supported (zlib cannot compress with it)"
            ),
            NoExtension => f.write_str("the server accepted no extension"),
            SeveralExtensions => f.write_str("the server accepted more than one extension"),
            NotOffered(name) => write!(
                f,
                "the server accepted extension {name:?}, which was not offered"
            ),
            WindowBitsOverOffer { bits, offered } => write!(
                f,
                "permessage-deflate: client_max_window_bits={bits} exceeds the offered {offered}"
            ),
        }
    }
}

impl std::error::Error for NegotiationError {}

/// The message a refused handshake answers with (`HttpError::new(400, e)`).
impl From<NegotiationError> for String {
    fn from(e: NegotiationError) -> String {
        e.to_string()
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// A possibly empty run of token characters.
    fn token(&mut self) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    fn error(&self, what: &'static str) -> NegotiationError {
        NegotiationError::Malformed {
            what,
            pos: self.pos,
            value: String::from_utf8_lossy(self.s).chars().take(120).collect(),
        }
    }

    /// A quoted-string starting at the opening quote, unescaped.
    fn quoted_string(&mut self) -> Result<Cow<'a, [u8]>, NegotiationError> {
        debug_assert_eq!(self.peek(), Some(b'"'));
        self.pos += 1;
        let start = self.pos;
        let mut unescaped: Option<Vec<u8>> = None;
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated quoted string")),
                Some(b'"') => {
                    let raw = &self.s[start..self.pos];
                    self.pos += 1;
                    return Ok(match unescaped {
                        Some(v) => Cow::Owned(v),
                        None => Cow::Borrowed(raw),
                    });
                }
                Some(b'\\') => {
                    let buf = unescaped.get_or_insert_with(|| self.s[start..self.pos].to_vec());
                    self.pos += 1;
                    match self.peek() {
                        Some(b) if is_qdtext(b) => {
                            buf.push(b);
                            self.pos += 1;
                        }
                        _ => return Err(self.error("bad escape in quoted string")),
                    }
                }
                Some(b) if is_qdtext(b) => {
                    if let Some(buf) = unescaped.as_mut() {
                        buf.push(b);
                    }
                    self.pos += 1;
                }
                Some(_) => return Err(self.error("control character in quoted string")),
            }
        }
    }
}

/// Parse one header value (a comma-separated extension list), appending its
/// elements to `out`. Errors only for text that does not match the grammar.
fn parse_extension_list<'a>(
    value: &'a [u8],
    out: &mut Vec<Extension<'a>>,
) -> Result<(), NegotiationError> {
    let mut c = Cursor { s: value, pos: 0 };
    loop {
        c.skip_ows();
        match c.peek() {
            None => return Ok(()),
            Some(b',') => {
                c.pos += 1; // empty list element
                continue;
            }
            Some(_) => {}
        }
        let name = c.token();
        if name.is_empty() {
            return Err(c.error("expected an extension name"));
        }
        let mut params = Vec::new();
        loop {
            c.skip_ows();
            match c.peek() {
                None => break,
                Some(b',') => {
                    c.pos += 1;
                    break;
                }
                Some(b';') => {
                    c.pos += 1;
                    c.skip_ows();
                    let pname = c.token();
                    if pname.is_empty() {
                        return Err(c.error("expected a parameter name"));
                    }
                    c.skip_ows();
                    let value = if c.peek() == Some(b'=') {
                        c.pos += 1;
                        c.skip_ows();
                        if c.peek() == Some(b'"') {
                            Some(c.quoted_string()?)
                        } else {
                            let v = c.token();
                            if v.is_empty() {
                                return Err(c.error("expected a parameter value"));
                            }
                            Some(Cow::Borrowed(v))
                        }
                    } else {
                        None
                    };
                    params.push(Param { name: pname, value });
                }
                Some(_) => return Err(c.error("unexpected character")),
            }
        }
        out.push(Extension { name, params });
    }
}

/// The parameters of one permessage-deflate offer or response, checked for
/// syntax (known names, no duplicates, valid values) but not yet for policy.
#[derive(Debug, Default, PartialEq, Eq)]
struct RawParams {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value (only allowed in offers).
    client_max_window_bits: Option<Option<u8>>,
}

/// `1*DIGIT` without leading zeros, in 8..=15 (RFC 7692 section 7.1.2).
fn parse_window_bits(value: &[u8]) -> Option<u8> {
    match value {
        [d @ b'8'..=b'9'] => Some(d - b'0'),
        [b'1', d @ b'0'..=b'5'] => Some(10 + d - b'0'),
        _ => None,
    }
}

/// Check the parameters of one offer (`is_offer`) or response. `Err` carries
/// the reason, used to decline an offer or to fail a response.
fn parse_deflate_params(
    params: &[Param<'_>],
    is_offer: bool,
) -> Result<RawParams, NegotiationError> {
    let mut raw = RawParams::default();
    let mut seen = [false; 4];
    for p in params {
        let name = String::from_utf8_lossy(p.name).to_ascii_lowercase();
        let idx = match name.as_str() {
            "server_no_context_takeover" => 0,
            "client_no_context_takeover" => 1,
            "server_max_window_bits" => 2,
            "client_max_window_bits" => 3,
            _ => return Err(NegotiationError::UnknownParameter(name)),
        };
        if std::mem::replace(&mut seen[idx], true) {
            return Err(NegotiationError::DuplicateParameter(name));
        }
        let value = p.value.as_deref();
        let bad_value = || NegotiationError::InvalidValue {
            name: name.clone(),
            value: value
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
                .into_owned(),
        };
        match idx {
            0 | 1 => {
                if value.is_some() {
                    return Err(bad_value());
                }
                if idx == 0 {
                    raw.server_no_context_takeover = true;
                } else {
                    raw.client_no_context_takeover = true;
                }
            }
            2 => {
                let bits = value.and_then(parse_window_bits).ok_or_else(bad_value)?;
                raw.server_max_window_bits = Some(bits);
            }
            _ => {
                raw.client_max_window_bits = Some(match value {
                    None if is_offer => None,
                    _ => Some(value.and_then(parse_window_bits).ok_or_else(bad_value)?),
                });
            }
        }
    }
    Ok(raw)
}

/// The response for one offer, or why it is declined.
fn accept_offer(
    params: &[Param<'_>],
    cfg: &DeflateConfig,
) -> Result<(DeflateParams, String), NegotiationError> {
    let offer = parse_deflate_params(params, true)?;
    let ours = cfg
        .server_max_window_bits
        .clamp(ZLIB_MIN_WINDOW_BITS, MAX_WINDOW_BITS);
    let server_bits = match offer.server_max_window_bits {
        Some(bits) if bits < ZLIB_MIN_WINDOW_BITS => {
            return Err(NegotiationError::UnsupportedServerWindowBits(bits))
        }
        Some(bits) => bits.min(ours),
        None => ours,
    };
    let client_bits = offer.client_max_window_bits.flatten();
    let agreed = DeflateParams {
        server_no_context_takeover: offer.server_no_context_takeover
            || cfg.server_no_context_takeover,
        client_no_context_takeover: offer.client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits.unwrap_or(MAX_WINDOW_BITS),
    };
    let mut response = String::from(EXTENSION_NAME);
    if agreed.server_no_context_takeover {
        response.push_str("; server_no_context_takeover");
    }
    if agreed.client_no_context_takeover {
        response.push_str("; client_no_context_takeover");
    }
    if offer.server_max_window_bits.is_some() || server_bits < MAX_WINDOW_BITS {
        response.push_str(&format!("; server_max_window_bits={server_bits}"));
    }
    if let Some(bits) = client_bits {
        response.push_str(&format!("; client_max_window_bits={bits}"));
    }
    Ok((agreed, response))
}

/// Server side: parse every `Sec-WebSocket-Extensions` header value the
/// client sent (there may be several headers, each a comma-separated list of
/// offers) and pick the first acceptable permessage-deflate offer.
///
/// Returns the agreed parameters and the exact value for the response's
/// `Sec-WebSocket-Extensions` header, or `Ok(None)` when deflate is disabled
/// or no offer is present / acceptable (unacceptable offers are declined as
/// RFC 7692 section 7.1 requires). `Err` only when a header value does not
/// match the RFC 6455 section 9.1 grammar: the handshake must then fail with
/// 400 (RFC 6455 section 4.2.1). With `cfg.enabled == false` the headers are
/// not looked at.
pub fn negotiate(
    header_values: &[&[u8]],
    cfg: &DeflateConfig,
) -> Result<Option<(DeflateParams, String)>, NegotiationError> {
    if !cfg.enabled {
        return Ok(None);
    }
    let mut extensions = Vec::new();
    for value in header_values {
        parse_extension_list(value, &mut extensions)?;
    }
    for ext in &extensions {
        if !ext.name.eq_ignore_ascii_case(EXTENSION_NAME.as_bytes()) {
            continue;
        }
        match accept_offer(&ext.params, cfg) {
            Ok(accepted) => return Ok(Some(accepted)),
            Err(reason) => log::debug!("declining permessage-deflate offer: {reason}"),
        }
    }
    Ok(None)
}

/// Client side: the value for the request's `Sec-WebSocket-Extensions`
/// header.
///
/// `client_max_window_bits`: `None` offers the parameter without a value
/// (we accept whatever limit the server picks), `Some(n)` promises to
/// compress with at most `n` bits (clamped to 8..=15).
/// `client_no_context_takeover` promises to reset our compressor after
/// every message. Pass the same two arguments to [`client_accept`].
pub fn client_offer(
    client_max_window_bits: Option<u8>,
    client_no_context_takeover: bool,
) -> String {
    let mut offer = String::from(EXTENSION_NAME);
    if client_no_context_takeover {
        offer.push_str("; client_no_context_takeover");
    }
    match client_max_window_bits {
        None => offer.push_str("; client_max_window_bits"),
        Some(bits) => offer.push_str(&format!(
            "; client_max_window_bits={}",
            bits.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS)
        )),
    }
    offer
}

/// Client side: check the server's `Sec-WebSocket-Extensions` response value
/// against the offer made with [`client_offer`] (same arguments) and return
/// the agreed parameters. Any violation is an `Err`: the client must then
/// fail the connection (RFC 7692 section 7.1, RFC 6455 section 4.1). That
/// includes an extension we did not offer and a response without
/// permessage-deflate.
pub fn client_accept(
    response_value: &[u8],
    client_max_window_bits: Option<u8>,
    client_no_context_takeover: bool,
) -> Result<DeflateParams, NegotiationError> {
    let mut extensions = Vec::new();
    parse_extension_list(response_value, &mut extensions)?;
    let ext = match extensions.as_slice() {
        [] => return Err(NegotiationError::NoExtension),
        [ext] => ext,
        _ => return Err(NegotiationError::SeveralExtensions),
    };
    if !ext.name.eq_ignore_ascii_case(EXTENSION_NAME.as_bytes()) {
        return Err(NegotiationError::NotOffered(
            String::from_utf8_lossy(ext.name).into_owned(),
        ));
    }
    let resp = parse_deflate_params(&ext.params, false)?;
    let offered = client_max_window_bits.map(|b| b.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS));
    let client_bits = match (resp.client_max_window_bits.flatten(), offered) {
        (Some(bits), Some(limit)) if bits > limit => {
            return Err(NegotiationError::WindowBitsOverOffer {
                bits,
                offered: limit,
            })
        }
        (Some(bits), _) => bits,
        (None, Some(limit)) => limit,
        (None, None) => MAX_WINDOW_BITS,
    };
    Ok(DeflateParams {
        server_no_context_takeover: resp.server_no_context_takeover,
        client_no_context_takeover: client_no_context_takeover || resp.client_no_context_takeover,
        server_max_window_bits: resp.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS),
        client_max_window_bits: client_bits,
    })
}

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
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cfg() -> DeflateConfig {
        DeflateConfig::default()
    }

    /// Negotiate a single header value with the default config.
    fn neg(value: &str) -> Option<(DeflateParams, String)> {
        negotiate(&[value.as_bytes()], &cfg()).expect("header should parse")
    }

    fn params(snct: bool, cnct: bool, sbits: u8, cbits: u8) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: sbits,
            client_max_window_bits: cbits,
        }
    }

    // ---- negotiation ------------------------------------------------------

    #[test]
    fn bare_offer() {
        let (p, resp) = neg("permessage-deflate").unwrap();
        assert_eq!(p, DeflateParams::default());
        assert_eq!(resp, "permessage-deflate");
    }

    #[test]
    fn no_offer_or_other_extensions() {
        assert_eq!(negotiate(&[], &cfg()), Ok(None));
        assert_eq!(neg(""), None);
        assert_eq!(neg("x-webkit-deflate-frame"), None);
        assert_eq!(neg("foo; bar=1, baz"), None);
    }

    #[test]
    fn disabled_config_never_negotiates() {
        let c = DeflateConfig {
            enabled: false,
            ..cfg()
        };
        assert_eq!(negotiate(&[b"permessage-deflate"], &c), Ok(None));
        // Not even a malformed header matters then.
        assert_eq!(negotiate(&[b"\"broken"], &c), Ok(None));
    }

    #[test]
    fn server_no_context_takeover_param() {
        let (p, resp) = neg("permessage-deflate; server_no_context_takeover").unwrap();
        assert_eq!(p, params(true, false, 15, 15));
        assert_eq!(resp, "permessage-deflate; server_no_context_takeover");
        // Forced by config even when not asked.
        let c = DeflateConfig {
            server_no_context_takeover: true,
            ..cfg()
        };
        let (p, resp) = negotiate(&[b"permessage-deflate"], &c).unwrap().unwrap();
        assert_eq!(p, params(true, false, 15, 15));
        assert_eq!(resp, "permessage-deflate; server_no_context_takeover");
        // With a value: declined.
        assert_eq!(
            neg("permessage-deflate; server_no_context_takeover=1"),
            None
        );
    }

    #[test]
    fn client_no_context_takeover_param() {
        let (p, resp) = neg("permessage-deflate; client_no_context_takeover").unwrap();
        assert_eq!(p, params(false, true, 15, 15));
        assert_eq!(resp, "permessage-deflate; client_no_context_takeover");
        assert_eq!(
            neg("permessage-deflate; client_no_context_takeover=\"x\""),
            None
        );
    }

    #[test]
    fn server_max_window_bits_param() {
        for bits in 9..=15u8 {
            let (p, resp) = neg(&format!(
                "permessage-deflate; server_max_window_bits={bits}"
            ))
            .unwrap();
            assert_eq!(p, params(false, false, bits, 15));
            assert_eq!(
                resp,
                format!("permessage-deflate; server_max_window_bits={bits}")
            );
        }
        // 8 cannot be honoured by zlib: declined.
        assert_eq!(neg("permessage-deflate; server_max_window_bits=8"), None);
        // A value is required in an offer.
        assert_eq!(neg("permessage-deflate; server_max_window_bits"), None);
    }

    #[test]
    fn server_max_window_bits_config() {
        let c = DeflateConfig {
            server_max_window_bits: 12,
            ..cfg()
        };
        let run = |v: &str| negotiate(&[v.as_bytes()], &c).unwrap().unwrap();
        // Announced even when the client did not ask.
        let (p, resp) = run("permessage-deflate");
        assert_eq!(p.server_max_window_bits, 12);
        assert_eq!(resp, "permessage-deflate; server_max_window_bits=12");
        // The smaller of the offer and the config.
        assert_eq!(
            run("permessage-deflate; server_max_window_bits=14").1,
            "permessage-deflate; server_max_window_bits=12"
        );
        assert_eq!(
            run("permessage-deflate; server_max_window_bits=10").1,
            "permessage-deflate; server_max_window_bits=10"
        );
        // Out-of-range config values are clamped to what zlib can do.
        let c8 = DeflateConfig {
            server_max_window_bits: 8,
            ..cfg()
        };
        let (p, _) = negotiate(&[b"permessage-deflate"], &c8).unwrap().unwrap();
        assert_eq!(p.server_max_window_bits, 9);
    }

    #[test]
    fn client_max_window_bits_param() {
        // Without a value: supported, but no limit is imposed or answered.
        let (p, resp) = neg("permessage-deflate; client_max_window_bits").unwrap();
        assert_eq!(p, params(false, false, 15, 15));
        assert_eq!(resp, "permessage-deflate");
        // With a value: binding on the client, echoed; 8 is fine to inflate.
        for bits in 8..=15u8 {
            let (p, resp) = neg(&format!(
                "permessage-deflate; client_max_window_bits={bits}"
            ))
            .unwrap();
            assert_eq!(p, params(false, false, 15, bits));
            assert_eq!(
                resp,
                format!("permessage-deflate; client_max_window_bits={bits}")
            );
            assert!(p.server_inflater().window_bits() >= 9);
        }
    }

    #[test]
    fn all_parameters_together() {
        let (p, resp) = neg(
            "permessage-deflate; client_max_window_bits=10; server_max_window_bits=11; \
             client_no_context_takeover; server_no_context_takeover",
        )
        .unwrap();
        assert_eq!(p, params(true, true, 11, 10));
        assert_eq!(
            resp,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=11; client_max_window_bits=10"
        );
    }

    #[test]
    fn invalid_values_are_declined() {
        for v in [
            "server_max_window_bits=7",
            "server_max_window_bits=16",
            "server_max_window_bits=08",
            "server_max_window_bits=015",
            "server_max_window_bits=abc",
            "server_max_window_bits=\"\"",
            "server_max_window_bits=\" 9\"",
            "server_max_window_bits=-9",
            "client_max_window_bits=7",
            "client_max_window_bits=0",
            "client_max_window_bits=100",
            "client_max_window_bits=\"1 0\"",
            "server_no_context_takeover=true",
            "client_no_context_takeover=0",
            "unknown_param",
            "unknown_param=1",
            "x-server_max_window_bits=10",
        ] {
            assert_eq!(neg(&format!("permessage-deflate; {v}")), None, "{v}");
        }
    }

    #[test]
    fn duplicate_parameters_are_declined() {
        for v in [
            "server_no_context_takeover; server_no_context_takeover",
            "client_no_context_takeover; client_no_context_takeover",
            "server_max_window_bits=10; server_max_window_bits=10",
            "client_max_window_bits; client_max_window_bits=10",
            "client_max_window_bits=10; CLIENT_MAX_WINDOW_BITS=10",
        ] {
            assert_eq!(neg(&format!("permessage-deflate; {v}")), None, "{v}");
        }
    }

    #[test]
    fn first_acceptable_offer_wins() {
        // Autobahn 13.7: the 8-bit offer is declined, the next one accepted.
        let (p, resp) = neg(
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=8; \
             client_max_window_bits, permessage-deflate; server_no_context_takeover; \
             client_max_window_bits, permessage-deflate; client_max_window_bits",
        )
        .unwrap();
        assert_eq!(p, params(true, false, 15, 15));
        assert_eq!(resp, "permessage-deflate; server_no_context_takeover");
        // An invalid offer followed by a plain one.
        let (p, _) =
            neg("permessage-deflate; foo, permessage-deflate; client_max_window_bits=9").unwrap();
        assert_eq!(p, params(false, false, 15, 9));
        // The first of two acceptable offers.
        let (p, _) =
            neg("permessage-deflate; server_max_window_bits=10, permessage-deflate").unwrap();
        assert_eq!(p.server_max_window_bits, 10);
    }

    #[test]
    fn several_header_lines() {
        let headers: [&[u8]; 3] = [
            b"x-foo",
            b"permessage-deflate; bogus",
            b"permessage-deflate; client_no_context_takeover, permessage-deflate",
        ];
        let (p, _) = negotiate(&headers, &cfg()).unwrap().unwrap();
        assert_eq!(p, params(false, true, 15, 15));
    }

    #[test]
    fn whitespace_quotes_and_case() {
        let (p, resp) = neg(
            "  PerMessage-Deflate ;client_max_window_bits = \"10\"\t;  Server_No_Context_Takeover  ",
        )
        .unwrap();
        assert_eq!(p, params(true, false, 15, 10));
        assert_eq!(
            resp,
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=10"
        );
        // Escapes inside quoted strings are undone.
        let (p, _) = neg(r#"permessage-deflate; server_max_window_bits="1\2""#).unwrap();
        assert_eq!(p.server_max_window_bits, 12);
        // Empty list elements are ignored.
        assert!(neg(" , ,permessage-deflate,, ").is_some());
        // Quoted values with arbitrary content in other extensions are fine.
        assert!(neg(r#"x-foo; a="b, c; d", permessage-deflate"#).is_some());
    }

    #[test]
    fn malformed_headers_fail_the_handshake() {
        for v in [
            "permessage-deflate; client_max_window_bits=\"10",
            "permessage-deflate; x=\"a\\",
            "permessage-deflate; =5",
            "permessage-deflate;",
            "permessage-deflate; a=",
            ";permessage-deflate",
            "permessage-deflate client_max_window_bits",
            "perm@ssage-deflate",
            "permessage-deflate; a b",
            "permessage-deflate; a=b c",
            "permessage-deflate; a=\"b\"c",
            "x-foo=1, permessage-deflate",
            "permessage-deflate; a=\"\x01\"",
            "permessage-dé",
        ] {
            let err = negotiate(&[v.as_bytes()], &cfg()).unwrap_err();
            assert!(
                matches!(err, NegotiationError::Malformed { .. }),
                "{v}: {err}"
            );
            assert!(
                err.to_string()
                    .starts_with("malformed Sec-WebSocket-Extensions header: "),
                "{v}: {err}"
            );
        }
        // A malformed second header fails even after an acceptable offer.
        assert!(negotiate(&[b"permessage-deflate", b"\"x"], &cfg()).is_err());
    }

    #[test]
    fn client_offer_values() {
        assert_eq!(
            client_offer(None, false),
            "permessage-deflate; client_max_window_bits"
        );
        assert_eq!(
            client_offer(Some(12), true),
            "permessage-deflate; client_no_context_takeover; client_max_window_bits=12"
        );
        assert_eq!(
            client_offer(Some(3), false),
            "permessage-deflate; client_max_window_bits=8"
        );
    }

    #[test]
    fn client_accept_valid_responses() {
        assert_eq!(
            client_accept(b"permessage-deflate", None, false),
            Ok(DeflateParams::default())
        );
        assert_eq!(
            client_accept(
                b"permessage-deflate; server_no_context_takeover; server_max_window_bits=8; \
                  client_max_window_bits=9",
                None,
                false
            ),
            Ok(params(true, false, 8, 9))
        );
        // Our own promises hold even when the server does not repeat them.
        assert_eq!(
            client_accept(b"permessage-deflate", Some(11), true),
            Ok(params(false, true, 15, 11))
        );
        assert_eq!(
            client_accept(
                b"Permessage-Deflate; client_max_window_bits=\"10\"",
                Some(11),
                false
            ),
            Ok(params(false, false, 15, 10))
        );
        // The server may ask for client_no_context_takeover on its own.
        assert_eq!(
            client_accept(
                b"permessage-deflate; client_no_context_takeover",
                None,
                false
            ),
            Ok(params(false, true, 15, 15))
        );
    }

    #[test]
    fn client_accept_rejects_bad_responses() {
        for v in [
            "",
            "x-foo",
            "permessage-deflate, permessage-deflate",
            "permessage-deflate, x-foo",
            "permessage-deflate; foo",
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; client_max_window_bits=12",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; \"",
        ] {
            assert!(client_accept(v.as_bytes(), Some(11), false).is_err(), "{v}");
        }
    }

    #[test]
    fn client_and_server_agree() {
        for (bits, nct) in [
            (None, false),
            (Some(9), true),
            (Some(15), false),
            (Some(8), true),
        ] {
            for server_bits in [9, 12, 15] {
                let c = DeflateConfig {
                    server_max_window_bits: server_bits,
                    ..cfg()
                };
                let offer = client_offer(bits, nct);
                let (server_view, response) = negotiate(&[offer.as_bytes()], &c).unwrap().unwrap();
                let client_view = client_accept(response.as_bytes(), bits, nct).unwrap();
                assert_eq!(server_view, client_view, "{offer} -> {response}");
            }
        }
    }

    // ---- compression --------------------------------------------------------

    fn inflate_all(inf: &mut Inflater, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        inf.decompress(payload, usize::MAX, &mut out).unwrap();
        out
    }

    fn deflate(def: &mut Deflater, msg: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        def.compress(msg, &mut out).unwrap();
        out
    }

    #[test]
    fn rfc7692_hello_vectors() {
        // 7.2.3.1: "Hello" in one message, also split over two frames.
        let mut inf = Inflater::new(15, false);
        assert_eq!(
            inflate_all(&mut inf, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]),
            b"Hello"
        );
        let frames: Vec<u8> = [&[0xf2, 0x48, 0xcd][..], &[0xc9, 0xc9, 0x07, 0x00]].concat();
        assert_eq!(
            inflate_all(&mut Inflater::new(15, false), &frames),
            b"Hello"
        );

        // 7.2.3.2: the second "Hello" refers to the first through the window.
        let mut inf = Inflater::new(15, false);
        assert_eq!(
            inflate_all(&mut inf, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]),
            b"Hello"
        );
        assert_eq!(
            inflate_all(&mut inf, &[0xf2, 0x00, 0x11, 0x00, 0x00]),
            b"Hello"
        );

        // 7.2.3.3: a stored block.
        assert_eq!(
            inflate_all(
                &mut Inflater::new(15, false),
                &[0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00]
            ),
            b"Hello"
        );

        // 7.2.3.4: a block with BFINAL set; the stream restarts afterwards.
        let mut inf = Inflater::new(15, false);
        let bfinal = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        assert_eq!(inflate_all(&mut inf, &bfinal), b"Hello");
        assert!(!inf.is_allocated());
        assert_eq!(inflate_all(&mut inf, &bfinal), b"Hello");

        // 7.2.3.5: two DEFLATE blocks in one message.
        assert_eq!(
            inflate_all(
                &mut Inflater::new(15, false),
                &[0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00]
            ),
            b"Hello"
        );
    }

    #[test]
    fn hello_compresses_like_the_rfc() {
        // Any valid stream would do, and exact bytes may change with the
        // zlib-rs version; today they match RFC 7692 byte for byte.
        let mut def = Deflater::new(15, false, 6);
        assert_eq!(
            deflate(&mut def, b"Hello"),
            [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00] // 7.2.3.1
        );
        assert_eq!(
            deflate(&mut def, b"Hello"),
            [0xf2, 0x00, 0x11, 0x00, 0x00] // 7.2.3.2
        );
        let mut store = Deflater::new(15, false, 0);
        assert_eq!(
            deflate(&mut store, b"Hello"),
            [0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00] // 7.2.3.3
        );
    }

    #[test]
    fn empty_message() {
        for nct in [false, true] {
            let mut def = Deflater::new(15, nct, 1);
            let mut inf = Inflater::new(15, nct);
            // Fresh stream, then empty after data, then data after empty.
            for msg in [&b""[..], b"some data here", b"", b"", b"more data"] {
                let out = deflate(&mut def, msg);
                if msg.is_empty() {
                    assert_eq!(out, [0x00]);
                }
                assert_eq!(inflate_all(&mut inf, &out), msg);
            }
        }
    }

    #[test]
    fn round_trip_with_and_without_context_takeover() {
        let messages: Vec<Vec<u8>> = (0..50)
            .map(|i| {
                format!("{{\"seq\":{i},\"scanner\":\"front-door\",\"code\":\"4006381333931\"}}")
                    .into_bytes()
            })
            .collect();
        for nct in [false, true] {
            for bits in 9..=15 {
                let mut def = Deflater::new(bits, nct, 6);
                let mut inf = Inflater::new(bits, nct);
                for m in &messages {
                    let c = deflate(&mut def, m);
                    assert_eq!(&inflate_all(&mut inf, &c), m);
                    assert_eq!(def.is_allocated(), !nct);
                    assert_eq!(inf.is_allocated(), !nct);
                }
            }
        }
    }

    #[test]
    fn context_takeover_shrinks_repeated_messages() {
        let msg = b"{\"type\":\"scan\",\"device\":\"honeywell-1900\",\"symbology\":\"EAN-13\"}";
        let mut def = Deflater::new(15, false, 1);
        let first = deflate(&mut def, msg);
        let second = deflate(&mut def, msg);
        assert!(
            second.len() * 2 < first.len(),
            "{} vs {}",
            second.len(),
            first.len()
        );
        let mut inf = Inflater::new(15, false);
        assert_eq!(inflate_all(&mut inf, &first), msg);
        assert_eq!(inflate_all(&mut inf, &second), msg);

        // Without context takeover every message is compressed alone.
        let mut def = Deflater::new(15, true, 1);
        let a = deflate(&mut def, msg);
        let b = deflate(&mut def, msg);
        assert_eq!(a, b);
        assert_eq!(a, first);
    }

    #[test]
    fn lazy_allocation_and_release() {
        let mut def = Deflater::new(15, false, 1);
        let inf = Inflater::new(15, false);
        assert!(!def.is_allocated());
        assert!(!inf.is_allocated());
        let a = deflate(&mut def, b"abcabcabcabc");
        assert!(def.is_allocated());
        // Releasing the compressor is always legal: the next message is
        // compressed without history and still inflates on the same stream.
        def.release();
        assert!(!def.is_allocated());
        let b = deflate(&mut def, b"abcabcabcabc");
        assert_eq!(a, b);
        let mut inf = Inflater::new(15, false);
        assert_eq!(inflate_all(&mut inf, &a), b"abcabcabcabc");
        assert_eq!(inflate_all(&mut inf, &b), b"abcabcabcabc");
    }

    /// Deterministic incompressible bytes (xorshift).
    fn noise(len: usize, mut seed: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    }

    #[test]
    fn large_messages_grow_the_output() {
        let data = noise(1 << 20, 7);
        let mut def = Deflater::new(15, false, 1);
        let mut out = Vec::with_capacity(16); // much smaller than needed
        def.compress(&data, &mut out).unwrap();
        assert!(out.len() > data.len()); // incompressible: a little overhead
        let mut inf = Inflater::new(15, false);
        let mut back = Vec::new();
        inf.decompress(&out, data.len(), &mut back).unwrap();
        assert_eq!(back, data);

        // Highly compressible, output much larger than the input.
        let text = b"barcode ".repeat(200_000);
        let c = deflate(&mut def, &text);
        assert!(c.len() < text.len() / 50);
        assert_eq!(inflate_all(&mut inf, &c), text);
    }

    #[test]
    fn appends_to_existing_output() {
        let mut def = Deflater::new(15, false, 1);
        let mut out = b"HDR".to_vec();
        def.compress(b"payload payload", &mut out).unwrap();
        assert_eq!(&out[..3], b"HDR");
        let mut inf = Inflater::new(15, false);
        let mut back = b"xy".to_vec();
        inf.decompress(&out[3..], 100, &mut back).unwrap();
        assert_eq!(back, b"xypayload payload");
    }

    #[test]
    fn too_big_stops_a_bomb_early() {
        let bomb = deflate(&mut Deflater::new(15, true, 9), &vec![0u8; 10 << 20]);
        assert!(bomb.len() < 20_000, "{}", bomb.len());
        let limit = 1 << 20;
        let mut inf = Inflater::new(15, false);
        let mut out = Vec::new();
        assert_eq!(
            inf.decompress(&bomb, limit, &mut out),
            Err(InflateError::TooBig)
        );
        assert!(out.is_empty());
        assert!(
            out.capacity() <= limit + 1,
            "allocated {} for a {} limit",
            out.capacity(),
            limit
        );
        assert!(!inf.is_allocated());
    }

    /// A raw DEFLATE stream with its final block (BFINAL): the inflater sees
    /// StreamEnd together with the last bytes.
    fn final_block(msg: &[u8]) -> Vec<u8> {
        let mut c = Compress::new(Compression::fast(), false);
        let mut out = Vec::with_capacity(msg.len() + 64);
        c.compress_vec(msg, &mut out, FlushCompress::Finish)
            .unwrap();
        out
    }

    #[test]
    fn limit_holds_when_the_stream_ends_on_the_byte_past_it() {
        // Found by fuzzing: StreamEnd was returned before the limit check, so a
        // final block one byte over max_message was accepted.
        let msg = vec![b'z'; 1001];
        let c = final_block(&msg);
        let mut out = Vec::new();
        assert_eq!(
            Inflater::new(15, true).decompress(&c, 1000, &mut out),
            Err(InflateError::TooBig)
        );
        assert!(out.is_empty());
        let mut out = Vec::new();
        Inflater::new(15, true)
            .decompress(&c, 1001, &mut out)
            .unwrap();
        assert_eq!(out, msg);
    }

    #[test]
    fn limit_is_exact_and_counts_existing_output() {
        let msg = vec![b'a'; 1000];
        let c = deflate(&mut Deflater::new(15, true, 1), &msg);
        let mut out = Vec::new();
        Inflater::new(15, true)
            .decompress(&c, 1000, &mut out)
            .unwrap();
        assert_eq!(out, msg);
        let mut out = Vec::new();
        assert_eq!(
            Inflater::new(15, true).decompress(&c, 999, &mut out),
            Err(InflateError::TooBig)
        );
        let mut out = vec![0u8; 10];
        assert_eq!(
            Inflater::new(15, true).decompress(&c, 1005, &mut out),
            Err(InflateError::TooBig)
        );
        assert_eq!(out.len(), 10);
        let mut out = vec![0u8; 10];
        Inflater::new(15, true)
            .decompress(&c, 1010, &mut out)
            .unwrap();
        assert_eq!(out.len(), 1010);
        // A limit of zero still admits an empty message.
        let empty = deflate(&mut Deflater::new(15, true, 1), b"");
        Inflater::new(15, true)
            .decompress(&empty, 0, &mut Vec::new())
            .unwrap();
    }

    #[test]
    fn corrupt_data() {
        let mut inf = Inflater::new(15, false);
        let mut out = Vec::new();
        // BFINAL=1, BTYPE=11: reserved block type.
        match inf.decompress(&[0xff, 0xff, 0xff], 1 << 20, &mut out) {
            Err(InflateError::Corrupt(msg)) => assert!(!msg.is_empty()),
            other => panic!("{other:?}"),
        }
        assert!(out.is_empty());
        // A stored block whose length check fails.
        assert!(matches!(
            Inflater::new(15, false).decompress(&[0x00, 0x05, 0x00, 0x00, 0x00], 100, &mut out),
            Err(InflateError::Corrupt(_))
        ));
    }

    #[test]
    fn compressor_respects_its_window() {
        // The second message repeats the start of the first, 2000 bytes
        // back: reachable with a 15-bit window, not with a 9-bit one.
        let first = noise(2000, 3);
        let second = first[..200].to_vec();
        let mut def = Deflater::new(15, false, 6);
        let mut inf = Inflater::new(15, false);
        let c1 = deflate(&mut def, &first);
        let c2 = deflate(&mut def, &second);
        assert!(c2.len() < 50, "{}", c2.len());
        assert_eq!(inflate_all(&mut inf, &c1), first);
        assert_eq!(inflate_all(&mut inf, &c2), second);

        let mut def = Deflater::new(9, false, 6);
        let mut inf = Inflater::new(9, false);
        let c1 = deflate(&mut def, &first);
        let c2 = deflate(&mut def, &second);
        assert!(c2.len() > 200, "{}", c2.len());
        assert_eq!(inflate_all(&mut inf, &c1), first);
        assert_eq!(inflate_all(&mut inf, &c2), second);
        // Within the window, context takeover still works with 9 bits.
        let c3 = deflate(&mut def, &second);
        assert!(c3.len() < 50, "{}", c3.len());
        assert_eq!(inflate_all(&mut inf, &c3), second);
    }

    /// Check that `payload` (+ tail) is a sequence of stored blocks only.
    fn only_stored_blocks(payload: &[u8]) -> bool {
        let data = [payload, &TAIL[..]].concat();
        let mut i = 0;
        while i < data.len() {
            // Byte-aligned header: BFINAL=0, BTYPE=00, zero padding.
            if data[i] != 0 || i + 5 > data.len() {
                return false;
            }
            let len = u16::from_le_bytes([data[i + 1], data[i + 2]]) as usize;
            let nlen = u16::from_le_bytes([data[i + 3], data[i + 4]]) as usize;
            if len != !nlen & 0xffff {
                return false;
            }
            i += 5 + len;
        }
        i == data.len()
    }

    #[test]
    fn eight_bit_window_uses_stored_blocks() {
        let mut def = Deflater::new(8, false, 9);
        assert!(def.is_store_only());
        let mut inf = Inflater::new(8, false);
        assert_eq!(inf.window_bits(), 9);
        for msg in [
            b"Hello Hello Hello Hello".to_vec(),
            vec![7u8; 100_000],
            vec![],
        ] {
            let c = deflate(&mut def, &msg);
            assert!(only_stored_blocks(&c), "{:02x?}", &c[..c.len().min(16)]);
            assert_eq!(inflate_all(&mut inf, &c), msg);
        }
        assert!(!Deflater::new(9, false, 1).is_store_only());
    }

    #[test]
    fn params_build_matching_streams() {
        let p = params(true, false, 10, 12);
        let mut server_out = p.server_deflater(1);
        let mut client_in = p.client_inflater();
        let mut client_out = p.client_deflater(1);
        let mut server_in = p.server_inflater();
        assert_eq!(server_out.window_bits(), 10);
        assert!(server_out.no_context_takeover());
        assert_eq!(server_in.window_bits(), 12);
        assert!(!server_in.no_context_takeover());
        for i in 0..5 {
            let msg = format!("message number {i} message number {i}");
            let c = deflate(&mut server_out, msg.as_bytes());
            assert_eq!(inflate_all(&mut client_in, &c), msg.as_bytes());
            let c = deflate(&mut client_out, msg.as_bytes());
            assert_eq!(inflate_all(&mut server_in, &c), msg.as_bytes());
        }
    }

    #[test]
    fn config_defaults() {
        let c = DeflateConfig::default();
        assert!(c.enabled);
        assert_eq!(c.server_max_window_bits, 15);
        assert!(!c.server_no_context_takeover);
        assert_eq!(c.level, 1);
        assert_eq!(c.min_size, 32);
        assert!(!c.should_compress(31));
        assert!(c.should_compress(32));
    }

    fn message_strategy() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..3000),
            // Low-entropy data exercises back-references.
            proptest::collection::vec(0u8..4, 0..6000),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn prop_round_trip(
            messages in proptest::collection::vec(message_strategy(), 1..6),
            bits in 9u8..=15,
            no_context_takeover in any::<bool>(),
            level in 0u32..=9,
        ) {
            let mut def = Deflater::new(bits, no_context_takeover, level);
            let mut inf = Inflater::new(bits, no_context_takeover);
            for m in &messages {
                let mut c = Vec::new();
                def.compress(m, &mut c).unwrap();
                prop_assert!(!c.is_empty());
                let mut back = Vec::new();
                inf.decompress(&c, m.len(), &mut back).unwrap();
                prop_assert_eq!(&back, m);
            }
        }

        #[test]
        fn prop_negotiate_never_panics(header in "[ -~]{0,80}") {
            let _ = negotiate(&[header.as_bytes()], &DeflateConfig::default());
            let _ = client_accept(header.as_bytes(), None, false);
        }
    }

    #[test]
    fn shared_deflater_output_matches_a_fresh_one_per_message() {
        let msgs: Vec<Vec<u8>> = (0..50)
            .map(|i| format!("{{\"seq\":{i},\"text\":\"{}\"}}", "abc".repeat(i)).into_bytes())
            .collect();
        for bits in [9u8, 12, 15] {
            let mut shared = Deflater::shared(bits, 1);
            for m in &msgs {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                shared.compress(m, &mut a).unwrap();
                assert!(shared.is_allocated(), "kept between messages");
                Deflater::new(bits, true, 1).compress(m, &mut b).unwrap();
                assert_eq!(a, b, "bits {bits}");
                let mut inf = Inflater::new(bits, true);
                let mut plain = Vec::new();
                inf.decompress(&a, usize::MAX, &mut plain).unwrap();
                assert_eq!(&plain, m);
            }
        }
    }
}
