//! Close codes (RFC 6455 7.4) and close frame payloads.

pub const NORMAL: u16 = 1000;
pub const GOING_AWAY: u16 = 1001;
pub const PROTOCOL_ERROR: u16 = 1002;
pub const UNSUPPORTED_DATA: u16 = 1003;
pub const NO_STATUS: u16 = 1005;
pub const ABNORMAL: u16 = 1006;
pub const INVALID_DATA: u16 = 1007;
pub const POLICY: u16 = 1008;
pub const TOO_BIG: u16 = 1009;
pub const SERVER_ERROR: u16 = 1011;

/// Codes a peer may put on the wire: the registered ones that are not
/// reserved for local use (1004-1006, 1015), and the 3000-4999 ranges.
pub fn is_valid_wire_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Why a connection is being failed: a code and a short reason for the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseError {
    pub code: u16,
    pub reason: &'static str,
}

impl CloseError {
    pub const fn new(code: u16, reason: &'static str) -> Self {
        Self { code, reason }
    }
    pub const fn protocol(reason: &'static str) -> Self {
        Self::new(PROTOCOL_ERROR, reason)
    }
}

impl std::fmt::Display for CloseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.reason)
    }
}

/// Parse a received close payload: `None` code means the peer sent none (1005).
pub fn parse_close_payload(payload: &[u8]) -> Result<(Option<u16>, &str), CloseError> {
    match payload.len() {
        0 => Ok((None, "")),
        1 => Err(CloseError::protocol("close frame with a 1-byte payload")),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            if !is_valid_wire_code(code) {
                return Err(CloseError::protocol("invalid close code"));
            }
            let reason = std::str::from_utf8(&payload[2..])
                .map_err(|_| CloseError::new(INVALID_DATA, "close reason is not UTF-8"))?;
            Ok((Some(code), reason))
        }
    }
}

/// Build a close payload; the reason is cut (on a character boundary) to fit 123 bytes.
pub fn close_payload(code: u16, reason: &str, out: &mut Vec<u8>) {
    if code == NO_STATUS {
        return;
    }
    out.extend_from_slice(&code.to_be_bytes());
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&reason.as_bytes()[..end]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        for c in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
        ] {
            assert!(is_valid_wire_code(c), "{c}");
        }
        for c in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!is_valid_wire_code(c), "{c}");
        }
    }

    #[test]
    fn payloads() {
        assert_eq!(parse_close_payload(b""), Ok((None, "")));
        assert!(parse_close_payload(b"\x03").is_err());
        assert_eq!(parse_close_payload(b"\x03\xe8bye"), Ok((Some(1000), "bye")));
        assert_eq!(
            parse_close_payload(b"\x03\xed").unwrap_err().code,
            PROTOCOL_ERROR
        );
        assert_eq!(
            parse_close_payload(b"\x03\xe8\xff").unwrap_err().code,
            INVALID_DATA
        );
        let mut out = Vec::new();
        close_payload(1001, &"é".repeat(100), &mut out);
        assert!(out.len() <= 125);
        assert!(std::str::from_utf8(&out[2..]).is_ok());
        let mut out = Vec::new();
        close_payload(NO_STATUS, "x", &mut out);
        assert!(out.is_empty());
    }
}
