//! JSON codec for the rooms (`/layout`, `/bus`) and lobbies (`/lobby`)
//! namespaces (PROTOCOLS.md section 2).
//!
//! Client messages are text frames holding a JSON array `[TYPE, payload]`.
//! [`parse_room_command`] and [`parse_lobby_command`] turn one into a
//! command that borrows from the frame text: room names, names and ids are
//! `Cow::Borrowed` unless they contain JSON escapes, and the opaque JSON
//! values the server relays (a NOTIFY/BROADCAST `message`, a whole
//! RTCSIGNAL object) are `Cow::Borrowed(&RawValue)`: the exact bytes the
//! client sent, never re-serialized.
//!
//! Clients of the original (Socket.IO) service sent the payload as a
//! *string holding JSON* (`["JOIN", "{\"room\":\"r\",\"name\":\"n\"}"]`);
//! that form is accepted too. Its fields live in the unescaped inner
//! string, so the command comes back owned (`Cow::Owned`, the raw values as
//! `Box<RawValue>` holding the inner text unchanged). When the inner string
//! has no escapes at all it is still borrowed.
//!
//! Decisions (where the seed and PROTOCOLS.md leave room):
//! - Types are case-sensitive, as Socket.IO event names were in the
//!   original: `"join"` is [`ErrorCode::UnknownType`].
//! - The array must have exactly two elements.
//! - An object payload may carry other keys (ignored); a repeated key takes
//!   its last value (JavaScript `JSON.parse`); a key whose value is `null`
//!   counts as absent.
//! - NOTIFY / BROADCAST without `message` (or with `"message": null`) carry
//!   `null`: the original relayed `message: undefined` without complaint, so
//!   receivers still get their EVENT/MESSAGE, with a null message.
//! - Room names, names, lobby ids and RTCSIGNAL `to` are non-empty strings of
//!   at most [`MAX_ROOM_BYTES`] / [`MAX_NAME_BYTES`] / [`MAX_ID_BYTES`] bytes
//!   (UTF-8). A lobby id (`["JOIN", id]`, `["LEAVE", id]`) may also be an
//!   integer, taken in its decimal form (`7` and `"7"` are the same lobby,
//!   as in the original, where Socket.IO room names were JavaScript object
//!   keys); a string payload there *is* the id (it is not parsed as JSON).
//! - Numbers inside relayed values are never converted: `1e400` or
//!   `0.1000000000000000000001` travel exactly as sent.
//!
//! Encoders append compact JSON with keys in the documented order to a
//! `Vec<u8>` (the caller frames it once and fans the bytes out).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Longest room name accepted, in bytes.
pub const MAX_ROOM_BYTES: usize = 256;
/// Longest client name (JOIN `name`) accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// Longest lobby id or RTCSIGNAL `to` accepted, in bytes.
pub const MAX_ID_BYTES: usize = 256;

/// A client message on `/layout` or `/bus`.
#[derive(Debug, Clone)]
pub enum RoomCommand<'a> {
    /// `["JOIN", {"room": r, "name": n}]`
    Join {
        room: Cow<'a, str>,
        name: Cow<'a, str>,
    },
    /// `["LEAVE", {"room": r}]`
    Leave { room: Cow<'a, str> },
    /// `["NOTIFY", {"room": r, "message": m}]`; `message` is the raw JSON
    /// text (`null` when absent).
    Notify {
        room: Cow<'a, str>,
        message: Cow<'a, RawValue>,
    },
    /// `["CLIENTS", {"room": r}]`
    Clients { room: Cow<'a, str> },
}

impl RoomCommand<'_> {
    /// The message type as sent (`"JOIN"`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            RoomCommand::Join { .. } => "JOIN",
            RoomCommand::Leave { .. } => "LEAVE",
            RoomCommand::Notify { .. } => "NOTIFY",
            RoomCommand::Clients { .. } => "CLIENTS",
        }
    }

    /// The room the command is about.
    pub fn room(&self) -> &str {
        match self {
            RoomCommand::Join { room, .. }
            | RoomCommand::Leave { room }
            | RoomCommand::Notify { room, .. }
            | RoomCommand::Clients { room } => room,
        }
    }

    /// Detach from the frame text.
    pub fn into_owned(self) -> RoomCommand<'static> {
        match self {
            RoomCommand::Join { room, name } => RoomCommand::Join {
                room: owned_str(room),
                name: owned_str(name),
            },
            RoomCommand::Leave { room } => RoomCommand::Leave {
                room: owned_str(room),
            },
            RoomCommand::Notify { room, message } => RoomCommand::Notify {
                room: owned_str(room),
                message: owned_raw(message),
            },
            RoomCommand::Clients { room } => RoomCommand::Clients {
                room: owned_str(room),
            },
        }
    }
}

/// A client message on `/lobby`.
#[derive(Debug, Clone)]
pub enum LobbyCommand<'a> {
    /// `["JOIN", id]`
    Join { lobby: Cow<'a, str> },
    /// `["LEAVE", id]`
    Leave { lobby: Cow<'a, str> },
    /// `["BROADCAST", {"message": m}]`; `message` raw (`null` when absent).
    Broadcast { message: Cow<'a, RawValue> },
    /// `["RTCSIGNAL", {"to": target, ...}]`; `signal` is the whole object,
    /// unchanged, to relay as `["RTCSIGNAL", signal]`.
    RtcSignal {
        to: Cow<'a, str>,
        signal: Cow<'a, RawValue>,
    },
}

impl LobbyCommand<'_> {
    /// The message type as sent (`"JOIN"`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            LobbyCommand::Join { .. } => "JOIN",
            LobbyCommand::Leave { .. } => "LEAVE",
            LobbyCommand::Broadcast { .. } => "BROADCAST",
            LobbyCommand::RtcSignal { .. } => "RTCSIGNAL",
        }
    }

    /// Detach from the frame text.
    pub fn into_owned(self) -> LobbyCommand<'static> {
        match self {
            LobbyCommand::Join { lobby } => LobbyCommand::Join {
                lobby: owned_str(lobby),
            },
            LobbyCommand::Leave { lobby } => LobbyCommand::Leave {
                lobby: owned_str(lobby),
            },
            LobbyCommand::Broadcast { message } => LobbyCommand::Broadcast {
                message: owned_raw(message),
            },
            LobbyCommand::RtcSignal { to, signal } => LobbyCommand::RtcSignal {
                to: owned_str(to),
                signal: owned_raw(signal),
            },
        }
    }
}

fn owned_str(s: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(s.into_owned())
}

fn owned_raw(r: Cow<'_, RawValue>) -> Cow<'static, RawValue> {
    Cow::Owned(r.into_owned())
}

/// The `code` of an `["ERROR", {...}]` reply (PROTOCOLS.md 2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The frame is not JSON, or a string payload does not hold JSON.
    InvalidJson,
    /// Valid JSON of the wrong shape: not a two-element array, TYPE not a
    /// string, payload of the wrong kind (e.g. a number where an object is
    /// needed).
    InvalidMessage,
    /// TYPE is a string but not a type of this namespace.
    UnknownType,
    /// A required field is absent (or `null`).
    MissingField,
    /// A field has the wrong type, is empty or is too long.
    InvalidField,
    /// A JOIN past the rooms one connection may be in
    /// (`ServerConfig::max_rooms_per_connection`).
    TooManyRooms,
}

impl ErrorCode {
    /// The code as it goes on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "INVALID_JSON",
            Self::InvalidMessage => "INVALID_MESSAGE",
            Self::UnknownType => "UNKNOWN_TYPE",
            Self::MissingField => "MISSING_FIELD",
            Self::InvalidField => "INVALID_FIELD",
            Self::TooManyRooms => "TOO_MANY_ROOMS",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a client message was refused; sent back as
/// `["ERROR", {"code": code, "message": message}]` (see
/// [`ProtocolError::encode`]), the connection staying open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: ErrorCode,
    /// Human-readable, names what was wrong (type and field).
    pub message: String,
}

impl ProtocolError {
    /// An error with `code`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Append `["ERROR", {"code": .., "message": ..}]` to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_error(out, self.code.as_str(), &self.message);
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ProtocolError {}

// ---------------------------------------------------------------------------
// Parsing

/// Parse a client message of `/layout` or `/bus`.
pub fn parse_room_command(text: &str) -> Result<RoomCommand<'_>, ProtocolError> {
    let (ty, payload) = envelope(text)?;
    let ty: &'static str = match &*ty {
        "JOIN" => "JOIN",
        "LEAVE" => "LEAVE",
        "NOTIFY" => "NOTIFY",
        "CLIENTS" => "CLIENTS",
        other => return Err(unknown_type(other, "JOIN, LEAVE, NOTIFY, CLIENTS")),
    };
    match payload_object(ty, payload)? {
        Object::Borrowed(obj) => room_from_object(ty, obj),
        Object::Owned(obj) => room_from_object(ty, &obj).map(RoomCommand::into_owned),
    }
}

/// Parse a client message of `/lobby`.
pub fn parse_lobby_command(text: &str) -> Result<LobbyCommand<'_>, ProtocolError> {
    let (ty, payload) = envelope(text)?;
    let ty: &'static str = match &*ty {
        "JOIN" => {
            return Ok(LobbyCommand::Join {
                lobby: lobby_id("JOIN", payload)?,
            })
        }
        "LEAVE" => {
            return Ok(LobbyCommand::Leave {
                lobby: lobby_id("LEAVE", payload)?,
            })
        }
        "BROADCAST" => "BROADCAST",
        "RTCSIGNAL" => "RTCSIGNAL",
        other => return Err(unknown_type(other, "JOIN, LEAVE, BROADCAST, RTCSIGNAL")),
    };
    match payload_object(ty, payload)? {
        Object::Borrowed(obj) => lobby_from_object(ty, obj),
        Object::Owned(obj) => lobby_from_object(ty, &obj).map(LobbyCommand::into_owned),
    }
}

fn room_from_object<'b>(
    ty: &'static str,
    obj: &'b RawValue,
) -> Result<RoomCommand<'b>, ProtocolError> {
    let [room, name, message] = pick(obj, ["room", "name", "message"])?;
    let room = required_str(ty, "room", room, MAX_ROOM_BYTES)?;
    Ok(match ty {
        "JOIN" => RoomCommand::Join {
            room,
            name: required_str(ty, "name", name, MAX_NAME_BYTES)?,
        },
        "LEAVE" => RoomCommand::Leave { room },
        "NOTIFY" => RoomCommand::Notify {
            room,
            message: Cow::Borrowed(message.unwrap_or(RawValue::NULL)),
        },
        _ => RoomCommand::Clients { room },
    })
}

fn lobby_from_object<'b>(
    ty: &'static str,
    obj: &'b RawValue,
) -> Result<LobbyCommand<'b>, ProtocolError> {
    if ty == "BROADCAST" {
        let [message] = pick(obj, ["message"])?;
        Ok(LobbyCommand::Broadcast {
            message: Cow::Borrowed(message.unwrap_or(RawValue::NULL)),
        })
    } else {
        let [to] = pick(obj, ["to"])?;
        Ok(LobbyCommand::RtcSignal {
            to: required_str(ty, "to", to, MAX_ID_BYTES)?,
            signal: Cow::Borrowed(obj),
        })
    }
}

/// Split `[TYPE, payload]`: TYPE decoded (borrowed unless escaped), payload
/// raw. Validates the whole text as JSON in the same single pass.
fn envelope(text: &str) -> Result<(Cow<'_, str>, &RawValue), ProtocolError> {
    let shape: Shape<'_> = serde_json::from_str(text).map_err(|e| {
        ProtocolError::new(
            ErrorCode::InvalidJson,
            format!("message is not valid JSON: {e}"),
        )
    })?;
    let (ty, payload) = match shape {
        Shape::Pair(ty, payload) => (ty, payload),
        Shape::Arity(n) => {
            return Err(ProtocolError::new(
                ErrorCode::InvalidMessage,
                format!("message must be a two-element array [TYPE, payload], got {n} element(s)"),
            ))
        }
        Shape::NotArray(kind) => {
            return Err(ProtocolError::new(
                ErrorCode::InvalidMessage,
                format!("message must be a JSON array [TYPE, payload], got {kind}"),
            ))
        }
    };
    match decode_str(ty) {
        Some(ty) => Ok((ty, payload)),
        None => Err(ProtocolError::new(
            ErrorCode::InvalidMessage,
            format!(
                "message TYPE (first element) must be a string, got {}",
                kind(ty)
            ),
        )),
    }
}

fn unknown_type(ty: &str, known: &str) -> ProtocolError {
    let mut message = String::from("unknown message type ");
    push_json_str_string(&mut message, truncated(ty, 64));
    message.push_str(" (expected one of ");
    message.push_str(known);
    if known.split(", ").any(|k| k.eq_ignore_ascii_case(ty)) {
        message.push_str("; types are case-sensitive");
    }
    message.push(')');
    ProtocolError::new(ErrorCode::UnknownType, message)
}

/// The payload object of a command: borrowed from the frame, or parsed from
/// the unescaped contents of a string payload.
enum Object<'a> {
    Borrowed(&'a RawValue),
    Owned(Box<RawValue>),
}

fn payload_object<'a>(ty: &str, payload: &'a RawValue) -> Result<Object<'a>, ProtocolError> {
    match first_byte(payload) {
        b'{' => return Ok(Object::Borrowed(payload)),
        b'"' => {}
        _ => {
            return Err(ProtocolError::new(
                ErrorCode::InvalidMessage,
                format!(
                    "{ty} payload must be an object (or a string holding a JSON object), got {}",
                    kind(payload)
                ),
            ))
        }
    }
    let bad_json = |e: serde_json::Error| {
        ProtocolError::new(
            ErrorCode::InvalidJson,
            format!("{ty} payload string does not hold valid JSON: {e}"),
        )
    };
    let obj = match decode_str(payload) {
        Some(Cow::Borrowed(s)) => Object::Borrowed(serde_json::from_str(s).map_err(bad_json)?),
        Some(Cow::Owned(s)) => Object::Owned(RawValue::from_string(s).map_err(bad_json)?),
        // A string serde_json's raw scan accepts but cannot decode (a lone
        // surrogate escape such as "\ud800").
        None => {
            return Err(ProtocolError::new(
                ErrorCode::InvalidJson,
                format!("{ty} payload is not a valid JSON string"),
            ))
        }
    };
    let inner = match &obj {
        Object::Borrowed(r) => *r,
        Object::Owned(r) => &**r,
    };
    if first_byte(inner) != b'{' {
        return Err(ProtocolError::new(
            ErrorCode::InvalidMessage,
            format!(
                "{ty} payload string must hold a JSON object, got {}",
                kind(inner)
            ),
        ));
    }
    Ok(obj)
}

/// A lobby id: a string payload taken as is (not parsed as JSON), or an
/// integer in decimal.
fn lobby_id<'a>(ty: &str, payload: &'a RawValue) -> Result<Cow<'a, str>, ProtocolError> {
    let id = match first_byte(payload) {
        b'"' => decode_str(payload),
        b'-' | b'0'..=b'9' => {
            let text = payload.get();
            text.parse::<i64>()
                .map(|n| n.to_string())
                .or_else(|_| text.parse::<u64>().map(|n| n.to_string()))
                .ok()
                .map(Cow::Owned)
        }
        _ => None,
    };
    match id {
        Some(id) => check_str(ty, "lobby id", id, MAX_ID_BYTES),
        None => Err(ProtocolError::new(
            ErrorCode::InvalidMessage,
            format!(
                "{ty} payload must be a lobby id (a string or an integer), got {}",
                if first_byte(payload) == b'-' || first_byte(payload).is_ascii_digit() {
                    "a non-integer number"
                } else {
                    kind(payload)
                }
            ),
        )),
    }
}

fn required_str<'a>(
    ty: &str,
    field: &str,
    value: Option<&'a RawValue>,
    max: usize,
) -> Result<Cow<'a, str>, ProtocolError> {
    let Some(value) = value else {
        return Err(ProtocolError::new(
            ErrorCode::MissingField,
            format!("{ty} needs \"{field}\" (a non-empty string)"),
        ));
    };
    match decode_str(value) {
        Some(s) => check_str(ty, &format!("\"{field}\""), s, max),
        None => Err(ProtocolError::new(
            ErrorCode::InvalidField,
            format!("{ty} \"{field}\" must be a string, got {}", kind(value)),
        )),
    }
}

fn check_str<'a>(
    ty: &str,
    what: &str,
    s: Cow<'a, str>,
    max: usize,
) -> Result<Cow<'a, str>, ProtocolError> {
    if s.is_empty() {
        Err(ProtocolError::new(
            ErrorCode::InvalidField,
            format!("{ty} {what} must not be empty"),
        ))
    } else if s.len() > max {
        Err(ProtocolError::new(
            ErrorCode::InvalidField,
            format!("{ty} {what} is too long ({} bytes, at most {max})", s.len()),
        ))
    } else {
        Ok(s)
    }
}

/// Values of `keys` in the JSON object `obj` (which must be valid JSON
/// starting with `{`). Other keys are skipped; a repeated key takes its last
/// value; `null` counts as absent.
fn pick<'a, const N: usize>(
    obj: &'a RawValue,
    keys: [&'static str; N],
) -> Result<[Option<&'a RawValue>; N], ProtocolError> {
    struct Pick<const N: usize>([&'static str; N]);

    impl<'de, const N: usize> Visitor<'de> for Pick<N> {
        type Value = [Option<&'de RawValue>; N];

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = [None; N];
            while let Some(CowStr(key)) = map.next_key()? {
                match self.0.iter().position(|k| *k == key) {
                    Some(i) => {
                        let value: &'de RawValue = map.next_value()?;
                        out[i] = (value.get() != "null").then_some(value);
                    }
                    None => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(out)
        }
    }

    obj.deserialize_map(Pick(keys)).map_err(|e| {
        ProtocolError::new(
            ErrorCode::InvalidJson,
            format!("payload is not a valid JSON object: {e}"),
        )
    })
}

/// The top-level shape of a client message, found in one pass.
enum Shape<'a> {
    Pair(&'a RawValue, &'a RawValue),
    Arity(usize),
    NotArray(&'static str),
}

impl<'de> Deserialize<'de> for Shape<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ShapeVisitor;

        impl<'de> Visitor<'de> for ShapeVisitor {
            type Value = Shape<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON array [TYPE, payload]")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape<'de>, A::Error> {
                let Some(ty) = seq.next_element::<&'de RawValue>()? else {
                    return Ok(Shape::Arity(0));
                };
                let Some(payload) = seq.next_element::<&'de RawValue>()? else {
                    return Ok(Shape::Arity(1));
                };
                let mut n = 2;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(if n == 2 {
                    Shape::Pair(ty, payload)
                } else {
                    Shape::Arity(n)
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Shape::NotArray("an object"))
            }

            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Shape<'de>, E> {
                Ok(Shape::NotArray("a boolean"))
            }

            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Shape<'de>, E> {
                Ok(Shape::NotArray("a number"))
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Shape<'de>, E> {
                Ok(Shape::NotArray("a number"))
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Shape<'de>, E> {
                Ok(Shape::NotArray("a number"))
            }

            fn visit_str<E: de::Error>(self, _: &str) -> Result<Shape<'de>, E> {
                Ok(Shape::NotArray("a string"))
            }

            fn visit_unit<E: de::Error>(self) -> Result<Shape<'de>, E> {
                Ok(Shape::NotArray("null"))
            }
        }

        d.deserialize_any(ShapeVisitor)
    }
}

/// A JSON string, borrowed from the input when it has no escapes.
struct CowStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CowStrVisitor;

        impl<'de> Visitor<'de> for CowStrVisitor {
            type Value = CowStr<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<CowStr<'de>, E> {
                Ok(CowStr(Cow::Borrowed(s)))
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<CowStr<'de>, E> {
                Ok(CowStr(Cow::Owned(s.to_owned())))
            }

            fn visit_string<E: de::Error>(self, s: String) -> Result<CowStr<'de>, E> {
                Ok(CowStr(Cow::Owned(s)))
            }
        }

        d.deserialize_str(CowStrVisitor)
    }
}

/// The string a raw value holds; `None` when it is not a JSON string.
fn decode_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    if first_byte(raw) != b'"' {
        return None;
    }
    CowStr::deserialize(raw).ok().map(|s| s.0)
}

/// First byte of a raw value (never whitespace: serde_json trims it).
fn first_byte(raw: &RawValue) -> u8 {
    raw.get().as_bytes().first().copied().unwrap_or(b' ')
}

/// "a number", "an object", ... for error messages.
fn kind(raw: &RawValue) -> &'static str {
    match first_byte(raw) {
        b'{' => "an object",
        b'[' => "an array",
        b'"' => "a string",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        _ => "a number",
    }
}

/// At most `max` bytes of `s`, cut on a char boundary.
fn truncated(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

// ---------------------------------------------------------------------------
// Encoding

/// Append `["EVENT",{"sender":..,"room":..,"message":<raw>}]`.
pub fn encode_event(out: &mut Vec<u8>, sender: &str, room: &str, message: &RawValue) {
    out.extend_from_slice(b"[\"EVENT\",{\"sender\":");
    push_json_str(out, sender);
    out.extend_from_slice(b",\"room\":");
    push_json_str(out, room);
    out.extend_from_slice(b",\"message\":");
    out.extend_from_slice(message.get().as_bytes());
    out.extend_from_slice(b"}]");
}

/// Append `["CLIENTS",{"room":..,"clients":[names]}]`.
pub fn encode_clients(out: &mut Vec<u8>, room: &str, names: &[&str]) {
    out.extend_from_slice(b"[\"CLIENTS\",{\"room\":");
    push_json_str(out, room);
    out.extend_from_slice(b",\"clients\":");
    push_json_str_array(out, names);
    out.extend_from_slice(b"}]");
}

/// Append `["ERROR",{"code":..,"message":..}]`.
pub fn encode_error(out: &mut Vec<u8>, code: &str, message: &str) {
    out.extend_from_slice(b"[\"ERROR\",{\"code\":");
    push_json_str(out, code);
    out.extend_from_slice(b",\"message\":");
    push_json_str(out, message);
    out.extend_from_slice(b"}]");
}

/// Append `["PEERS",[ids]]`.
pub fn encode_peers(out: &mut Vec<u8>, ids: &[&str]) {
    out.extend_from_slice(b"[\"PEERS\",");
    push_json_str_array(out, ids);
    out.push(b']');
}

/// Append `["JOINED",id]`.
pub fn encode_joined(out: &mut Vec<u8>, id: &str) {
    out.extend_from_slice(b"[\"JOINED\",");
    push_json_str(out, id);
    out.push(b']');
}

/// Append `["LEFT",id]`.
pub fn encode_left(out: &mut Vec<u8>, id: &str) {
    out.extend_from_slice(b"[\"LEFT\",");
    push_json_str(out, id);
    out.push(b']');
}

/// Append `["MESSAGE",{"from":..,"message":<raw>}]`.
pub fn encode_message(out: &mut Vec<u8>, from: &str, message: &RawValue) {
    out.extend_from_slice(b"[\"MESSAGE\",{\"from\":");
    push_json_str(out, from);
    out.extend_from_slice(b",\"message\":");
    out.extend_from_slice(message.get().as_bytes());
    out.extend_from_slice(b"}]");
}

/// Append `["RTCSIGNAL",<raw object>]`.
pub fn encode_rtcsignal(out: &mut Vec<u8>, signal: &RawValue) {
    out.extend_from_slice(b"[\"RTCSIGNAL\",");
    out.extend_from_slice(signal.get().as_bytes());
    out.push(b']');
}

fn push_json_str_array(out: &mut Vec<u8>, items: &[&str]) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_json_str(out, item);
    }
    out.push(b']');
}

/// Append `s` as a JSON string literal, byte-for-byte as serde_json writes
/// it: `"` and `\` escaped, control characters as `\b \t \n \f \r` or
/// `\u00XX`, everything else (DEL, non-ASCII, U+2028) verbatim.
pub fn push_json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut unicode = *b"\\u0000";
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x09 => b"\\t",
            0x0a => b"\\n",
            0x0c => b"\\f",
            0x0d => b"\\r",
            0x00..=0x1f => {
                unicode[4] = HEX[(b >> 4) as usize];
                unicode[5] = HEX[(b & 0xf) as usize];
                &unicode
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn push_json_str_string(out: &mut String, s: &str) {
    let mut buf = Vec::with_capacity(s.len() + 2);
    push_json_str(&mut buf, s);
    // push_json_str only adds ASCII around and within valid UTF-8.
    out.push_str(std::str::from_utf8(&buf).unwrap_or("\"?\""));
}

#[cfg(test)]
mod tests;
