//! RFC 7692 permessage-deflate extension negotiation (server and client
//! side): the `Sec-WebSocket-Extensions` grammar, offers and responses.
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

use super::codec::{Deflater, Inflater};
use super::{MAX_WINDOW_BITS, MIN_WINDOW_BITS, ZLIB_MIN_WINDOW_BITS};

/// The registered extension token.
pub const EXTENSION_NAME: &str = "permessage-deflate";

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

#[cfg(test)]
mod tests;
