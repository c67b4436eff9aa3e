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

/// The longest close reason a close frame carries (125 bytes of control
/// payload, less the 2-byte code).
pub const MAX_REASON_BYTES: usize = 123;

/// Why a close that an application asked for cannot be sent as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseRequestError {
    /// The code may not be put on the wire (see [`is_valid_wire_code`]).
    Code(i64),
    /// The reason is longer than [`MAX_REASON_BYTES`] (its length in bytes).
    ReasonTooLong(usize),
}

impl std::fmt::Display for CloseRequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Code(code) => write!(
                f,
                "close code {code} may not be sent (use 1000-1003, 1007-1014, 3000-4999)"
            ),
            Self::ReasonTooLong(n) => write!(
                f,
                "close reason is {n} bytes, at most {MAX_REASON_BYTES} can be sent"
            ),
        }
    }
}

impl std::error::Error for CloseRequestError {}

/// The rule for a close an application asks for (a session, the client, the
/// admin API): a code that may be sent and a reason that fits the frame.
/// (A reason the server makes itself is cut to fit by [`close_payload`].)
pub fn check_close_request(code: i64, reason: &str) -> Result<(), CloseRequestError> {
    if !u16::try_from(code).is_ok_and(is_valid_wire_code) {
        return Err(CloseRequestError::Code(code));
    }
    if reason.len() > MAX_REASON_BYTES {
        return Err(CloseRequestError::ReasonTooLong(reason.len()));
    }
    Ok(())
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
    let mut end = reason.len().min(MAX_REASON_BYTES);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&reason.as_bytes()[..end]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_requests() {
        assert_eq!(check_close_request(1000, ""), Ok(()));
        assert_eq!(check_close_request(4999, &"é".repeat(61)), Ok(())); // 122 bytes
        assert_eq!(
            check_close_request(1005, ""),
            Err(CloseRequestError::Code(1005))
        );
        assert_eq!(
            check_close_request(-1, ""),
            Err(CloseRequestError::Code(-1))
        );
        assert_eq!(
            check_close_request(70_000, ""),
            Err(CloseRequestError::Code(70_000))
        );
        assert_eq!(
            check_close_request(1000, &"a".repeat(124)),
            Err(CloseRequestError::ReasonTooLong(124))
        );
        assert_eq!(
            CloseRequestError::ReasonTooLong(124).to_string(),
            "close reason is 124 bytes, at most 123 can be sent"
        );
    }

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
