//! HTTP/1.1 requests (RFC 9112) and the WebSocket opening handshake
//! (RFC 6455 section 4), server side.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use sha1::{Digest, Sha1};

use crate::glob::glob_match;

const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Most header lines a request may carry.
pub const MAX_HEADERS: usize = 64;

/// A parsed request head. Header names are lowercase.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    /// Bytes of the request head (request line and headers).
    pub head_len: usize,
    /// Bytes of body announced by Content-Length.
    pub content_length: usize,
}

/// Why a request is refused before any WebSocket exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    pub status: u16,
    pub message: String,
    pub headers: Vec<(String, String)>,
}

impl HttpError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            headers: Vec::new(),
        }
    }
}

impl Request {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header (a header may be repeated).
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// True when a comma-separated header contains `token` (case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.header_all(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Asks for a WebSocket upgrade (whether or not the request is valid).
    pub fn wants_upgrade(&self) -> bool {
        self.has_token("upgrade", "websocket")
    }

    /// Check the upgrade request; returns the `Sec-WebSocket-Accept` value.
    pub fn check_upgrade(&self) -> Result<String, HttpError> {
        if self.method != "GET" {
            return Err(HttpError::new(405, "a WebSocket upgrade must use GET"));
        }
        if !self.has_token("connection", "upgrade") {
            return Err(HttpError::new(400, "missing 'Connection: Upgrade'"));
        }
        if self.header("sec-websocket-version").map(str::trim) != Some("13") {
            let mut e = HttpError::new(
                426,
                "unsupported Sec-WebSocket-Version: only 13 is supported",
            );
            e.headers
                .push(("Sec-WebSocket-Version".into(), "13".into()));
            return Err(e);
        }
        let key = self
            .header("sec-websocket-key")
            .map(str::trim)
            .ok_or_else(|| HttpError::new(400, "missing Sec-WebSocket-Key"))?;
        match B64.decode(key) {
            Ok(k) if k.len() == 16 => Ok(accept_key(key)),
            _ => Err(HttpError::new(
                400,
                "Sec-WebSocket-Key is not 16 bytes of base64",
            )),
        }
    }

    /// The first subprotocol the client offers that the server supports.
    pub fn select_subprotocol(&self, supported: &[String]) -> Option<String> {
        if supported.is_empty() {
            return None;
        }
        self.header_all("sec-websocket-protocol")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .find(|p| supported.iter().any(|s| s == p))
            .map(str::to_string)
    }

    /// Origin policy: requests without an Origin pass; others must match a pattern.
    pub fn origin_allowed(&self, patterns: &[String]) -> bool {
        match self.header("origin") {
            None => true,
            Some(o) => patterns.iter().any(|p| glob_match(p, o.trim())),
        }
    }
}

/// Parse a request head from the start of `buf`. `Ok(None)`: incomplete.
pub fn parse_request(buf: &[u8]) -> Result<Option<Request>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HttpError::new(431, "too many headers"))
        }
        Err(e) => return Err(HttpError::new(400, format!("malformed request: {e}"))),
    };
    if req.version != Some(1) {
        return Err(HttpError::new(505, "only HTTP/1.1 is supported"));
    }
    let target = req.path.unwrap_or("/");
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target, ""),
    };
    let mut out = Request {
        method: req.method.unwrap_or("").to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers: Vec::with_capacity(req.headers.len()),
        head_len,
        content_length: 0,
    };
    let mut length: Option<usize> = None;
    let mut chunked: Option<bool> = None;
    for h in req.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        let value = String::from_utf8_lossy(h.value).into_owned();
        if name == "content-length" {
            for v in content_lengths(&value)? {
                if length.is_some_and(|l| l != v) {
                    return Err(HttpError::new(
                        400,
                        "Content-Length is given twice with different values",
                    ));
                }
                length = Some(v);
            }
        } else if name == "transfer-encoding" {
            // (the last coding of the last header is the final one)
            let last = value.rsplit(',').next().unwrap_or("").trim();
            chunked = Some(last.eq_ignore_ascii_case("chunked"));
        }
        out.headers.push((name, value));
    }
    match (chunked, length) {
        // RFC 9112 6.1: a sender must not send both, and a request with
        // both is an attempt at request smuggling.
        (Some(_), Some(_)) => Err(HttpError::new(
            400,
            "Content-Length and Transfer-Encoding together",
        )),
        (Some(true), None) => Err(HttpError::new(
            411,
            "chunked request bodies are not supported: send Content-Length",
        )),
        // RFC 9112 6.3: the length of the body cannot be determined.
        (Some(false), None) => Err(HttpError::new(
            400,
            "Transfer-Encoding without chunked as its final coding",
        )),
        (None, length) => {
            out.content_length = length.unwrap_or(0);
            Ok(Some(out))
        }
    }
}

/// The values of one Content-Length header (RFC 9112 6.3, RFC 9110 8.6):
/// one or more comma-separated `1*DIGIT`, each with optional whitespace.
/// Any other form is an unrecoverable framing error (400, and the
/// connection closes). A number too large for `usize` is `usize::MAX`
/// (then refused with 413 as too large a body).
fn content_lengths(value: &str) -> Result<impl Iterator<Item = usize> + '_, HttpError> {
    let bad = || HttpError::new(400, "bad Content-Length: not a decimal number");
    let ows: &[char] = &[' ', '\t'];
    for part in value.split(',') {
        let p = part.trim_matches(ows);
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
    }
    Ok(value.split(',').map(move |part| {
        let p = part.trim_matches(ows);
        // Leading zeros are allowed; the value is digits only (checked above).
        p.parse::<usize>().unwrap_or(usize::MAX)
    }))
}

/// The first value of a query parameter, percent-decoded (`+` is a space).
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `Sec-WebSocket-Accept` for a client key.
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(GUID);
    B64.encode(h.finalize())
}

/// Append the 101 response.
pub fn write_101(
    out: &mut Vec<u8>,
    accept: &str,
    subprotocol: Option<&str>,
    extensions: Option<&str>,
    extra: &[(String, String)],
) {
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
    );
    out.extend_from_slice(accept.as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(p) = subprotocol {
        push_header(out, "Sec-WebSocket-Protocol", p);
    }
    if let Some(e) = extensions {
        push_header(out, "Sec-WebSocket-Extensions", e);
    }
    for (n, v) in extra {
        push_header(out, n, v);
    }
    out.extend_from_slice(b"Server: scanbridge\r\n\r\n");
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    // Header injection guard: no CR/LF inside names or values.
    let clean = |s: &str| s.replace(['\r', '\n'], " ");
    out.extend_from_slice(clean(name).as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(clean(value).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Reason phrase for the statuses scanbridge sends.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Append a whole HTTP response; the connection closes after it.
pub fn write_response(out: &mut Vec<u8>, status: u16, headers: &[(String, String)], body: &[u8]) {
    out.extend_from_slice(format!("HTTP/1.1 {} {}\r\n", status, reason_phrase(status)).as_bytes());
    let mut has_type = false;
    for (n, v) in headers {
        if n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("connection") {
            continue;
        }
        has_type |= n.eq_ignore_ascii_case("content-type");
        push_header(out, n, v);
    }
    if !has_type && !body.is_empty() {
        push_header(out, "Content-Type", "text/plain; charset=utf-8");
    }
    push_header(out, "Content-Length", &body.len().to_string());
    out.extend_from_slice(b"Connection: close\r\nServer: scanbridge\r\n\r\n");
    out.extend_from_slice(body);
}

/// Append the response for a refused request.
pub fn write_error(out: &mut Vec<u8>, e: &HttpError) {
    let body = format!("{}\n", e.message);
    write_response(out, e.status, &e.headers, body.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &[u8] = b"GET /chat?x=1 HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://localhost:3000\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

    #[test]
    fn rfc_accept_key() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn parses_upgrade() {
        for i in 0..REQ.len() {
            assert!(parse_request(&REQ[..i]).unwrap().is_none());
        }
        let r = parse_request(REQ).unwrap().unwrap();
        assert_eq!(r.path, "/chat");
        assert_eq!(r.query, "x=1");
        assert_eq!(r.head_len, REQ.len());
        assert!(r.wants_upgrade());
        assert_eq!(r.check_upgrade().unwrap(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(
            r.select_subprotocol(&["superchat".into()]).as_deref(),
            Some("superchat")
        );
        assert_eq!(r.select_subprotocol(&["x".into()]), None);
        assert!(r.origin_allowed(&["http://localhost:*".into()]));
        assert!(!r.origin_allowed(&["https://example.com".into()]));
    }

    #[test]
    fn refuses_bad_upgrades() {
        let bad_version = String::from_utf8_lossy(REQ).replace("Version: 13", "Version: 8");
        let e = parse_request(bad_version.as_bytes())
            .unwrap()
            .unwrap()
            .check_upgrade()
            .unwrap_err();
        assert_eq!(e.status, 426);
        assert_eq!(
            e.headers,
            vec![("Sec-WebSocket-Version".into(), "13".into())]
        );
        let no_key = String::from_utf8_lossy(REQ)
            .replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "");
        assert_eq!(
            parse_request(no_key.as_bytes())
                .unwrap()
                .unwrap()
                .check_upgrade()
                .unwrap_err()
                .status,
            400
        );
        let post = String::from_utf8_lossy(REQ).replace("GET", "POST");
        assert_eq!(
            parse_request(post.as_bytes())
                .unwrap()
                .unwrap()
                .check_upgrade()
                .unwrap_err()
                .status,
            405
        );
        assert_eq!(parse_request(b"GARBAGE\r\n\r\n").unwrap_err().status, 400);
        assert_eq!(
            parse_request(b"GET / HTTP/1.0\r\n\r\n").unwrap_err().status,
            505
        );
    }

    fn post(headers: &str) -> Result<Option<Request>, HttpError> {
        parse_request(format!("POST /api HTTP/1.1\r\nHost: x\r\n{headers}\r\n").as_bytes())
    }

    /// Issue 12 (RFC 9112 6.3, request smuggling): a request whose body
    /// length is ambiguous is refused with 400 (and the connection closes).
    #[test]
    fn ambiguous_body_lengths_are_refused() {
        for h in [
            "Content-Length: 5\r\nContent-Length: 6\r\n",
            "Content-Length: 5, 6\r\n",
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
            "Content-Length: 0\r\nTransfer-Encoding: gzip, chunked\r\n",
            "Transfer-Encoding: chunked, gzip\r\n",
            "Transfer-Encoding: identity\r\n",
            "Content-Length: abc\r\n",
            "Content-Length: +5\r\n",
            "Content-Length: -5\r\n",
            "Content-Length: 5x\r\n",
            "Content-Length: 0x10\r\n",
            "Content-Length: 1_0\r\n",
            "Content-Length: \r\n",
            "Content-Length: 5,\r\n",
            "Content-Length: 5 5\r\n",
            "Content-Length: ５\r\n",
        ] {
            let e = post(h).expect_err(h);
            assert_eq!(e.status, 400, "{h:?}: {e:?}");
        }
        // Chunked alone: not supported, but well-formed (411).
        assert_eq!(
            post("Transfer-Encoding: chunked\r\n").unwrap_err().status,
            411
        );
    }

    #[test]
    fn body_lengths_that_agree_are_accepted() {
        let len = |h: &str| post(h).unwrap().unwrap().content_length;
        assert_eq!(len(""), 0);
        assert_eq!(len("Content-Length: 5\r\n"), 5);
        assert_eq!(len("content-length:   007  \r\n"), 7);
        assert_eq!(len("Content-Length: 5\r\nContent-Length: 5\r\n"), 5);
        assert_eq!(len("Content-Length: 5, 5\r\n"), 5);
        // Too large for a number: refused later as too large (413).
        assert_eq!(
            len("Content-Length: 99999999999999999999999999\r\n"),
            usize::MAX
        );
    }

    #[test]
    fn query_params() {
        assert_eq!(
            query_param("a=1&lobbyId=x%20y&b", "lobbyId").as_deref(),
            Some("x y")
        );
        assert_eq!(
            query_param("lobbyId=a+b%2", "lobbyId").as_deref(),
            Some("a b%2")
        );
        assert_eq!(query_param("b", "b").as_deref(), Some(""));
        assert_eq!(query_param("a=1", "lobbyId"), None);
        assert_eq!(query_param("x=%C3%A9", "x").as_deref(), Some("é"));
    }

    #[test]
    fn responses() {
        let mut out = Vec::new();
        write_101(
            &mut out,
            "abc",
            Some("chat"),
            None,
            &[("connection-id".into(), "x\r\ny".into())],
        );
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(s.contains("Sec-WebSocket-Protocol: chat\r\n"));
        assert!(s.contains("connection-id: x  y\r\n"));
        assert!(s.ends_with("\r\n\r\n"));
        let mut out = Vec::new();
        write_response(&mut out, 404, &[], b"nope");
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(s.contains("Content-Length: 4\r\n"));
        assert!(s.ends_with("\r\n\r\nnope"));
    }
}
