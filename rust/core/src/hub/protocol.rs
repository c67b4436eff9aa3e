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
//!   original: `"join"` is [`ProtocolError::UNKNOWN_TYPE`].
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

/// Why a client message was refused; sent back as
/// `["ERROR", {"code": code, "message": message}]` (see
/// [`ProtocolError::encode`]), the connection staying open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    /// One of the associated constants below.
    pub code: &'static str,
    /// Human-readable, names what was wrong (type and field).
    pub message: String,
}

impl ProtocolError {
    /// The frame is not JSON, or a string payload does not hold JSON.
    pub const INVALID_JSON: &'static str = "INVALID_JSON";
    /// Valid JSON of the wrong shape: not a two-element array, TYPE not a
    /// string, payload of the wrong kind (e.g. a number where an object is
    /// needed).
    pub const INVALID_MESSAGE: &'static str = "INVALID_MESSAGE";
    /// TYPE is a string but not a type of this namespace.
    pub const UNKNOWN_TYPE: &'static str = "UNKNOWN_TYPE";
    /// A required field is absent (or `null`).
    pub const MISSING_FIELD: &'static str = "MISSING_FIELD";
    /// A field has the wrong type, is empty or is too long.
    pub const INVALID_FIELD: &'static str = "INVALID_FIELD";
    /// A JOIN past the rooms one connection may be in
    /// (`ServerConfig::max_rooms_per_connection`).
    pub const TOO_MANY_ROOMS: &'static str = "TOO_MANY_ROOMS";

    /// An error with one of the codes above.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Append `["ERROR", {"code": .., "message": ..}]` to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_error(out, self.code, &self.message);
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
            ProtocolError::INVALID_JSON,
            format!("message is not valid JSON: {e}"),
        )
    })?;
    let (ty, payload) = match shape {
        Shape::Pair(ty, payload) => (ty, payload),
        Shape::Arity(n) => {
            return Err(ProtocolError::new(
                ProtocolError::INVALID_MESSAGE,
                format!("message must be a two-element array [TYPE, payload], got {n} element(s)"),
            ))
        }
        Shape::NotArray(kind) => {
            return Err(ProtocolError::new(
                ProtocolError::INVALID_MESSAGE,
                format!("message must be a JSON array [TYPE, payload], got {kind}"),
            ))
        }
    };
    match decode_str(ty) {
        Some(ty) => Ok((ty, payload)),
        None => Err(ProtocolError::new(
            ProtocolError::INVALID_MESSAGE,
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
    ProtocolError::new(ProtocolError::UNKNOWN_TYPE, message)
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
                ProtocolError::INVALID_MESSAGE,
                format!(
                    "{ty} payload must be an object (or a string holding a JSON object), got {}",
                    kind(payload)
                ),
            ))
        }
    }
    let bad_json = |e: serde_json::Error| {
        ProtocolError::new(
            ProtocolError::INVALID_JSON,
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
                ProtocolError::INVALID_JSON,
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
            ProtocolError::INVALID_MESSAGE,
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
            ProtocolError::INVALID_MESSAGE,
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
            ProtocolError::MISSING_FIELD,
            format!("{ty} needs \"{field}\" (a non-empty string)"),
        ));
    };
    match decode_str(value) {
        Some(s) => check_str(ty, &format!("\"{field}\""), s, max),
        None => Err(ProtocolError::new(
            ProtocolError::INVALID_FIELD,
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
            ProtocolError::INVALID_FIELD,
            format!("{ty} {what} must not be empty"),
        ))
    } else if s.len() > max {
        Err(ProtocolError::new(
            ProtocolError::INVALID_FIELD,
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
            ProtocolError::INVALID_JSON,
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
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn a_lone_surrogate_string_payload_is_an_error_not_a_panic() {
        // Found by fuzzing: serde_json's raw scan accepts "\ud800" but cannot
        // decode it; this was an unreachable!() reachable from one frame.
        for text in [r#"["JOIN","\ud800"]"#, r#"["NOTIFY","\udfff"]"#] {
            assert_eq!(room_err(text).code, ProtocolError::INVALID_JSON, "{text}");
        }
        assert!(parse_lobby_command(r#"["BROADCAST","\ud800"]"#).is_err());
    }

    fn room_ok(text: &str) -> RoomCommand<'_> {
        parse_room_command(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn room_err(text: &str) -> ProtocolError {
        match parse_room_command(text) {
            Ok(c) => panic!("{text}: accepted as {c:?}"),
            Err(e) => e,
        }
    }

    fn lobby_ok(text: &str) -> LobbyCommand<'_> {
        parse_lobby_command(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn lobby_err(text: &str) -> ProtocolError {
        match parse_lobby_command(text) {
            Ok(c) => panic!("{text}: accepted as {c:?}"),
            Err(e) => e,
        }
    }

    /// `[ty, payload]` with the payload object sent as a string holding JSON.
    fn stringly(ty: &str, payload: serde_json::Value) -> String {
        json!([ty, payload.to_string()]).to_string()
    }

    #[allow(clippy::ptr_arg)] // the point is to look at the Cow variant
    fn borrowed<T: ?Sized + ToOwned>(c: &Cow<'_, T>) -> bool {
        matches!(c, Cow::Borrowed(_))
    }

    fn assert_err(e: &ProtocolError, code: &str, needles: &[&str]) {
        assert_eq!(e.code, code, "{e}");
        for n in needles {
            assert!(e.message.contains(n), "{e:?} should mention {n}");
        }
    }

    fn enc(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = b"prefix|".to_vec();
        f(&mut out);
        let s = String::from_utf8(out).unwrap();
        s.strip_prefix("prefix|").expect("appends").to_owned()
    }

    fn raw(s: &str) -> &RawValue {
        serde_json::from_str(s).unwrap()
    }

    // ---- rooms: valid commands ---------------------------------------------

    #[test]
    fn room_join_object() {
        match room_ok(r#"["JOIN",{"room":"lobby-1","name":"tv"}]"#) {
            RoomCommand::Join { room, name } => {
                assert_eq!((&*room, &*name), ("lobby-1", "tv"));
                assert!(borrowed(&room) && borrowed(&name));
            }
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn room_join_string_payload() {
        let text = stringly("JOIN", json!({"room": "r \"1\"", "name": "n\u{e9}"}));
        let cmd = room_ok(&text);
        assert_eq!(cmd.type_name(), "JOIN");
        match cmd {
            RoomCommand::Join { room, name } => {
                assert_eq!((&*room, &*name), ("r \"1\"", "n\u{e9}"));
                assert!(!borrowed(&room) && !borrowed(&name));
            }
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn room_leave_object_and_string() {
        for text in [
            r#"["LEAVE",{"room":"r"}]"#.to_owned(),
            stringly("LEAVE", json!({"room": "r"})),
            r#" [ "LEAVE" , { "room" : "r" } ] "#.to_owned(),
        ] {
            match room_ok(&text) {
                RoomCommand::Leave { room } => assert_eq!(room, "r"),
                c => panic!("{c:?}"),
            }
        }
    }

    #[test]
    fn room_clients_object_and_string() {
        for text in [
            r#"["CLIENTS",{"room":"r"}]"#.to_owned(),
            stringly("CLIENTS", json!({"room": "r"})),
        ] {
            let cmd = room_ok(&text);
            assert_eq!((cmd.type_name(), cmd.room()), ("CLIENTS", "r"));
            assert!(matches!(cmd, RoomCommand::Clients { .. }));
        }
    }

    #[test]
    fn room_notify_object_keeps_raw_message() {
        let text =
            r#"["NOTIFY",{"message": {"a" : [1, 2.50, {"b":null}], "s":"\u00e9\n"} ,"room":"r"}]"#;
        match room_ok(text) {
            RoomCommand::Notify { room, message } => {
                assert_eq!(room, "r");
                assert!(borrowed(&message));
                assert_eq!(
                    message.get(),
                    r#"{"a" : [1, 2.50, {"b":null}], "s":"\u00e9\n"}"#
                );
            }
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn room_notify_string_payload() {
        let text = stringly("NOTIFY", json!({"room": "r", "message": "hi"}));
        match room_ok(&text) {
            RoomCommand::Notify { room, message } => {
                assert_eq!(room, "r");
                assert_eq!(message.get(), r#""hi""#);
                assert!(!borrowed(&message));
            }
            c => panic!("{c:?}"),
        }
        // The inner text is carried as written, spacing and number forms kept.
        let inner = r#"{"room":"r","message": {"x": 1e400, "y":  -0.0}}"#;
        let text = json!(["NOTIFY", inner]).to_string();
        match room_ok(&text) {
            RoomCommand::Notify { message, .. } => {
                assert_eq!(message.get(), r#"{"x": 1e400, "y":  -0.0}"#)
            }
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn room_notify_message_kinds() {
        for m in [
            r#""text""#,
            "0",
            "-1.5e-3",
            "1e400",
            "123456789012345678901234567890",
            "true",
            "false",
            "[]",
            r#"[1,"2",[3]]"#,
            "{}",
        ] {
            let text = format!(r#"["NOTIFY",{{"room":"r","message":{m}}}]"#);
            match room_ok(&text) {
                RoomCommand::Notify { message, .. } => assert_eq!(message.get(), m),
                c => panic!("{c:?}"),
            }
        }
    }

    #[test]
    fn room_notify_missing_or_null_message_is_null() {
        for text in [
            r#"["NOTIFY",{"room":"r"}]"#.to_owned(),
            r#"["NOTIFY",{"room":"r","message":null}]"#.to_owned(),
            stringly("NOTIFY", json!({"room": "r"})),
        ] {
            match room_ok(&text) {
                RoomCommand::Notify { room, message } => {
                    assert_eq!(room, "r");
                    assert_eq!(message.get(), "null");
                }
                c => panic!("{c:?}"),
            }
        }
    }

    #[test]
    fn room_extra_keys_ignored_last_duplicate_wins_escaped_keys() {
        let text = r#"["JOIN",{"x":{"room":"no"},"room":"a","name":"n","room":"b","z":[1]}]"#;
        match room_ok(text) {
            RoomCommand::Join { room, name } => assert_eq!((&*room, &*name), ("b", "n")),
            c => panic!("{c:?}"),
        }
        let text = r#"["JOIN",{"r\u006fom":"a\/b","n\u0061me":"\ud83d\ude00"}]"#;
        match room_ok(text) {
            RoomCommand::Join { room, name } => {
                assert_eq!((&*room, &*name), ("a/b", "\u{1f600}"));
                assert!(!borrowed(&room));
            }
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn room_into_owned_detaches() {
        let owned = {
            let text = String::from(r#"["NOTIFY",{"room":"r","message":[1]}]"#);
            room_ok(&text).into_owned()
        };
        match owned {
            RoomCommand::Notify { room, message } => {
                assert_eq!((&*room, message.get()), ("r", "[1]"))
            }
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn room_limits() {
        let max = "r".repeat(MAX_ROOM_BYTES);
        let text = json!(["JOIN", {"room": max, "name": "n".repeat(MAX_NAME_BYTES)}]).to_string();
        assert!(matches!(room_ok(&text), RoomCommand::Join { .. }));
        // Bytes, not chars: 128 two-byte chars fit, one more byte does not.
        let text = json!(["LEAVE", {"room": "\u{e9}".repeat(128)}]).to_string();
        room_ok(&text);
        let text = json!(["LEAVE", {"room": format!("x{}", "\u{e9}".repeat(128))}]).to_string();
        assert_err(
            &room_err(&text),
            "INVALID_FIELD",
            &["\"room\"", "too long", "257"],
        );
        let text = json!(["JOIN", {"room": "r", "name": "n".repeat(MAX_NAME_BYTES + 1)}]);
        assert_err(
            &room_err(&text.to_string()),
            "INVALID_FIELD",
            &["JOIN", "\"name\"", "too long", "256"],
        );
    }

    // ---- rooms: errors -----------------------------------------------------

    #[test]
    fn invalid_json() {
        for text in [
            "",
            "   ",
            "[",
            r#"["JOIN","#,
            r#"["JOIN",{"room":"r","name":"n"}"#,
            r#"["JOIN",{"room":"r","name":"n"}] x"#,
            r#"["JOIN",{"room":"r",}]"#,
            r#"["JOIN",{'room':'r'}]"#,
            r#"["JOIN",{"room":"\x"}]"#,
            "[\"JOIN\",{\"room\":\"a\u{1}b\"}]",
            "nul",
            "[1e400,{}]x",
        ] {
            assert_err(&room_err(text), "INVALID_JSON", &["not valid JSON"]);
            assert_err(&lobby_err(text), "INVALID_JSON", &["not valid JSON"]);
        }
    }

    #[test]
    fn not_an_array() {
        for (text, kind) in [
            (r#"{"JOIN":{"room":"r"}}"#, "an object"),
            (r#""JOIN""#, "a string"),
            ("5", "a number"),
            ("-5.5", "a number"),
            ("null", "null"),
            ("true", "a boolean"),
        ] {
            assert_err(&room_err(text), "INVALID_MESSAGE", &["array", kind]);
            assert_err(&lobby_err(text), "INVALID_MESSAGE", &["array", kind]);
        }
    }

    #[test]
    fn wrong_arity() {
        for (text, n) in [
            ("[]", "got 0"),
            (r#"["CLIENTS"]"#, "got 1"),
            (r#"["JOIN",{"room":"r","name":"n"},null]"#, "got 3"),
            (r#"["JOIN",{},{},{},[1,[2]]]"#, "got 5"),
        ] {
            assert_err(&room_err(text), "INVALID_MESSAGE", &["two-element", n]);
            assert_err(&lobby_err(text), "INVALID_MESSAGE", &["two-element", n]);
        }
    }

    #[test]
    fn type_not_a_string() {
        for (text, kind) in [
            (r#"[1,{"room":"r"}]"#, "a number"),
            (r#"[null,{"room":"r"}]"#, "null"),
            (r#"[["JOIN"],{"room":"r"}]"#, "an array"),
        ] {
            assert_err(&room_err(text), "INVALID_MESSAGE", &["TYPE", kind]);
            assert_err(&lobby_err(text), "INVALID_MESSAGE", &["TYPE", kind]);
        }
    }

    #[test]
    fn unknown_types() {
        let e = room_err(r#"["join",{"room":"r","name":"n"}]"#);
        assert_err(&e, "UNKNOWN_TYPE", &["\"join\"", "case-sensitive", "JOIN"]);
        let e = room_err(r#"["PUBLISH",{"room":"r"}]"#);
        assert_err(&e, "UNKNOWN_TYPE", &["\"PUBLISH\"", "NOTIFY"]);
        assert!(!e.message.contains("case-sensitive"));
        // Lobby types on a room namespace and the other way round.
        assert_err(
            &room_err(r#"["BROADCAST",{"message":1}]"#),
            "UNKNOWN_TYPE",
            &["BROADCAST"],
        );
        assert_err(
            &lobby_err(r#"["NOTIFY",{"room":"r"}]"#),
            "UNKNOWN_TYPE",
            &["NOTIFY"],
        );
        assert_err(
            &lobby_err(r#"["rtcsignal",{"to":"x"}]"#),
            "UNKNOWN_TYPE",
            &["case-sensitive"],
        );
        // Escaped type strings decode first; odd ones are quoted safely.
        room_ok(r#"["J\u004fIN",{"room":"r","name":"n"}]"#);
        let e = room_err(r#"["\"\n",{}]"#);
        assert!(e.message.contains(r#""\"\n""#), "{e}");
        let e = room_err(&json!(["X".repeat(1000), {}]).to_string());
        assert!(e.message.len() < 200, "{e}");
    }

    #[test]
    fn payload_of_wrong_kind() {
        for (text, kind) in [
            (r#"["JOIN",5]"#, "a number"),
            (r#"["LEAVE",null]"#, "null"),
            (r#"["NOTIFY",[{"room":"r"}]]"#, "an array"),
            (r#"["CLIENTS",true]"#, "a boolean"),
        ] {
            assert_err(
                &room_err(text),
                "INVALID_MESSAGE",
                &["payload", "object", kind],
            );
        }
        for (text, kind) in [
            (r#"["BROADCAST",5]"#, "a number"),
            (r#"["RTCSIGNAL",["x"]]"#, "an array"),
        ] {
            assert_err(
                &lobby_err(text),
                "INVALID_MESSAGE",
                &["payload", "object", kind],
            );
        }
    }

    #[test]
    fn string_payload_errors() {
        let e = room_err(r#"["JOIN","{\"room\":"]"#);
        assert_err(&e, "INVALID_JSON", &["JOIN payload string", "valid JSON"]);
        let e = room_err(r#"["JOIN","not json"]"#);
        assert_err(&e, "INVALID_JSON", &["JOIN payload string"]);
        let e = room_err(r#"["JOIN",""]"#);
        assert_err(&e, "INVALID_JSON", &["JOIN payload string"]);
        let e = room_err(r#"["JOIN","{} {}"]"#);
        assert_err(&e, "INVALID_JSON", &["JOIN payload string"]);
        let e = room_err(r#"["LEAVE","5"]"#);
        assert_err(
            &e,
            "INVALID_MESSAGE",
            &["LEAVE payload string", "object", "a number"],
        );
        let e = room_err(r#"["LEAVE","\"{\\\"room\\\":\\\"r\\\"}\""]"#);
        assert_err(&e, "INVALID_MESSAGE", &["a string"]);
        let e = lobby_err(r#"["BROADCAST","[1]"]"#);
        assert_err(
            &e,
            "INVALID_MESSAGE",
            &["BROADCAST payload string", "an array"],
        );
        // Field errors inside a string payload are reported as usual.
        let e = room_err(&stringly("JOIN", json!({"room": "r"})));
        assert_err(&e, "MISSING_FIELD", &["JOIN", "\"name\""]);
        // A string payload without escapes is parsed in place (trimmed).
        let e = room_err(r#"["NOTIFY", " {} "]"#);
        assert_err(&e, "MISSING_FIELD", &["NOTIFY", "\"room\""]);
        match lobby_ok(r#"["BROADCAST", " {} "]"#) {
            LobbyCommand::Broadcast { message } => assert_eq!(message.get(), "null"),
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn missing_fields() {
        for (text, needles) in [
            (r#"["JOIN",{"name":"n"}]"#, ["JOIN", "\"room\""]),
            (r#"["JOIN",{"room":"r"}]"#, ["JOIN", "\"name\""]),
            (r#"["JOIN",{"room":"r","name":null}]"#, ["JOIN", "\"name\""]),
            (r#"["LEAVE",{}]"#, ["LEAVE", "\"room\""]),
            (r#"["NOTIFY",{"message":1}]"#, ["NOTIFY", "\"room\""]),
            (r#"["CLIENTS",{"room":null}]"#, ["CLIENTS", "\"room\""]),
            (r#"["CLIENTS",{"Room":"r"}]"#, ["CLIENTS", "\"room\""]),
        ] {
            assert_err(&room_err(text), "MISSING_FIELD", &needles);
        }
        let e = lobby_err(r#"["RTCSIGNAL",{"sdp":"x"}]"#);
        assert_err(&e, "MISSING_FIELD", &["RTCSIGNAL", "\"to\""]);
    }

    #[test]
    fn ill_typed_fields() {
        for (text, needles) in [
            (
                r#"["JOIN",{"room":5,"name":"n"}]"#,
                ["\"room\"", "a number"],
            ),
            (
                r#"["JOIN",{"room":"r","name":{"first":"a"}}]"#,
                ["\"name\"", "an object"],
            ),
            (
                r#"["JOIN",{"room":"r","name":["n"]}]"#,
                ["\"name\"", "an array"],
            ),
            (r#"["LEAVE",{"room":true}]"#, ["\"room\"", "a boolean"]),
            (
                r#"["NOTIFY",{"room":1.5,"message":"m"}]"#,
                ["\"room\"", "a number"],
            ),
        ] {
            let e = room_err(text);
            assert_err(&e, "INVALID_FIELD", &needles);
            assert!(e.message.contains("must be a string"), "{e}");
        }
        let e = lobby_err(r#"["RTCSIGNAL",{"to":7}]"#);
        assert_err(&e, "INVALID_FIELD", &["RTCSIGNAL", "\"to\"", "a number"]);
    }

    #[test]
    fn empty_fields() {
        for (text, field) in [
            (r#"["JOIN",{"room":"","name":"n"}]"#, "\"room\""),
            (r#"["JOIN",{"room":"r","name":""}]"#, "\"name\""),
            (r#"["LEAVE",{"room":""}]"#, "\"room\""),
            (r#"["NOTIFY",{"room":"","message":1}]"#, "\"room\""),
            (r#"["CLIENTS",{"room":""}]"#, "\"room\""),
        ] {
            assert_err(
                &room_err(text),
                "INVALID_FIELD",
                &[field, "must not be empty"],
            );
        }
        let e = lobby_err(r#"["RTCSIGNAL",{"to":""}]"#);
        assert_err(&e, "INVALID_FIELD", &["\"to\"", "must not be empty"]);
    }

    #[test]
    fn error_encodes_and_displays() {
        let e = room_err(r#"["JOIN",{"room":"r"}]"#);
        assert_eq!(e.to_string(), format!("MISSING_FIELD: {}", e.message));
        let mut out = Vec::new();
        e.encode(&mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            json!(["ERROR", {"code": "MISSING_FIELD", "message": e.message}])
        );
    }

    // ---- lobby -------------------------------------------------------------

    #[test]
    fn lobby_join_and_leave() {
        match lobby_ok(r#"["JOIN","lobby-7"]"#) {
            LobbyCommand::Join { lobby } => {
                assert_eq!(lobby, "lobby-7");
                assert!(borrowed(&lobby));
            }
            c => panic!("{c:?}"),
        }
        match lobby_ok(r#"["LEAVE","lobby-7"]"#) {
            LobbyCommand::Leave { lobby } => assert_eq!(lobby, "lobby-7"),
            c => panic!("{c:?}"),
        }
        // A string payload is the id itself, not JSON to parse.
        match lobby_ok(r#"["JOIN","{\"id\":1}"]"#) {
            LobbyCommand::Join { lobby } => assert_eq!(lobby, r#"{"id":1}"#),
            c => panic!("{c:?}"),
        }
        for (text, id) in [
            (r#"["JOIN",7]"#, "7"),
            (r#"["JOIN",-3]"#, "-3"),
            (r#"["LEAVE",0]"#, "0"),
            (r#"["JOIN",-0]"#, "0"),
            (r#"["JOIN",18446744073709551615]"#, "18446744073709551615"),
        ] {
            let cmd = lobby_ok(text);
            match &cmd {
                LobbyCommand::Join { lobby } | LobbyCommand::Leave { lobby } => {
                    assert_eq!(lobby, id)
                }
                c => panic!("{c:?}"),
            }
        }
    }

    #[test]
    fn lobby_join_errors() {
        for (text, code, needles) in [
            (
                r#"["JOIN",1.5]"#,
                "INVALID_MESSAGE",
                &["JOIN", "non-integer"][..],
            ),
            (r#"["JOIN",1e3]"#, "INVALID_MESSAGE", &["non-integer"][..]),
            (
                r#"["JOIN",18446744073709551616]"#,
                "INVALID_MESSAGE",
                &["non-integer"][..],
            ),
            (
                r#"["JOIN",{"lobbyId":"x"}]"#,
                "INVALID_MESSAGE",
                &["lobby id", "an object"][..],
            ),
            (
                r#"["LEAVE",null]"#,
                "INVALID_MESSAGE",
                &["LEAVE", "null"][..],
            ),
            (r#"["JOIN",[1]]"#, "INVALID_MESSAGE", &["an array"][..]),
            (
                r#"["JOIN",""]"#,
                "INVALID_FIELD",
                &["JOIN lobby id", "empty"][..],
            ),
            (
                r#"["LEAVE",""]"#,
                "INVALID_FIELD",
                &["LEAVE lobby id", "empty"][..],
            ),
        ] {
            assert_err(&lobby_err(text), code, needles);
        }
        let ok = json!(["JOIN", "l".repeat(MAX_ID_BYTES)]).to_string();
        lobby_ok(&ok);
        let long = json!(["JOIN", "l".repeat(MAX_ID_BYTES + 1)]).to_string();
        assert_err(
            &lobby_err(&long),
            "INVALID_FIELD",
            &["lobby id", "too long"],
        );
    }

    #[test]
    fn lobby_broadcast() {
        match lobby_ok(r#"["BROADCAST",{"message":{"k": [true, null]},"extra":1}]"#) {
            LobbyCommand::Broadcast { message } => {
                assert_eq!(message.get(), r#"{"k": [true, null]}"#);
                assert!(borrowed(&message));
            }
            c => panic!("{c:?}"),
        }
        match lobby_ok(&stringly("BROADCAST", json!({"message": "hi"}))) {
            LobbyCommand::Broadcast { message } => assert_eq!(message.get(), r#""hi""#),
            c => panic!("{c:?}"),
        }
        for text in [r#"["BROADCAST",{}]"#, r#"["BROADCAST",{"message":null}]"#] {
            match lobby_ok(text) {
                LobbyCommand::Broadcast { message } => assert_eq!(message.get(), "null"),
                c => panic!("{c:?}"),
            }
        }
    }

    #[test]
    fn lobby_rtcsignal_relays_whole_object() {
        let obj = r#"{ "to" : "peer-2", "type":"offer", "sdp":"v=0\r\n", "n": 1e400 }"#;
        let text = format!(r#"["RTCSIGNAL", {obj} ]"#);
        match lobby_ok(&text) {
            LobbyCommand::RtcSignal { to, signal } => {
                assert_eq!(to, "peer-2");
                assert!(borrowed(&to) && borrowed(&signal));
                assert_eq!(signal.get(), obj);
                let out = enc(|o| encode_rtcsignal(o, &signal));
                assert_eq!(out, format!(r#"["RTCSIGNAL",{obj}]"#));
            }
            c => panic!("{c:?}"),
        }
        let text = json!(["RTCSIGNAL", obj]).to_string();
        let cmd = lobby_ok(&text);
        assert_eq!(cmd.type_name(), "RTCSIGNAL");
        match cmd.into_owned() {
            LobbyCommand::RtcSignal { to, signal } => {
                assert_eq!(to, "peer-2");
                assert_eq!(signal.get(), obj.trim());
            }
            c => panic!("{c:?}"),
        }
    }

    // ---- encoders ----------------------------------------------------------

    #[test]
    fn encoders_exact_output() {
        let m = raw(r#"{"a": [1, 2,{"b":null}], "s":"\u00e9\n"}"#);
        assert_eq!(
            enc(|o| encode_event(o, "tv \"1\"", "r", m)),
            r#"["EVENT",{"sender":"tv \"1\"","room":"r","message":{"a": [1, 2,{"b":null}], "s":"\u00e9\n"}}]"#
        );
        assert_eq!(
            enc(|o| encode_clients(o, "r", &["a", "b\\c"])),
            r#"["CLIENTS",{"room":"r","clients":["a","b\\c"]}]"#
        );
        assert_eq!(
            enc(|o| encode_clients(o, "r", &[])),
            r#"["CLIENTS",{"room":"r","clients":[]}]"#
        );
        assert_eq!(
            enc(|o| encode_error(o, "INVALID_JSON", "bad\ttab")),
            r#"["ERROR",{"code":"INVALID_JSON","message":"bad\ttab"}]"#
        );
        assert_eq!(enc(|o| encode_peers(o, &[])), r#"["PEERS",[]]"#);
        assert_eq!(
            enc(|o| encode_peers(o, &["p1", "p2"])),
            r#"["PEERS",["p1","p2"]]"#
        );
        assert_eq!(enc(|o| encode_joined(o, "id-1")), r#"["JOINED","id-1"]"#);
        assert_eq!(enc(|o| encode_left(o, "id-1")), r#"["LEFT","id-1"]"#);
        assert_eq!(
            enc(|o| encode_message(o, "id-1", raw("1e400"))),
            r#"["MESSAGE",{"from":"id-1","message":1e400}]"#
        );
        assert_eq!(
            enc(|o| encode_rtcsignal(o, raw(r#"{"to":"x"}"#))),
            r#"["RTCSIGNAL",{"to":"x"}]"#
        );
    }

    #[derive(serde::Deserialize)]
    struct Event<'a> {
        sender: String,
        room: String,
        #[serde(borrow)]
        message: &'a RawValue,
    }

    #[test]
    fn event_round_trip_keeps_message_bytes() {
        for m in [
            r#"{"a":[1,2,{"b":null}],"s":"\u00e9\n"}"#,
            r#"{ "spaced" : [ 1 , 2 ] }"#,
            "1e400",
            "-0.000000000000000000000000001",
            "123456789012345678901234567890",
            r#""\ud83d\ude00 \/ \"""#,
            "null",
            "[]",
        ] {
            let text = format!(r#"["NOTIFY",{{"room":"r\"1","message":{m}}}]"#);
            let RoomCommand::Notify { room, message } = room_ok(&text) else {
                panic!()
            };
            let out = enc(|o| encode_event(o, "me", &room, &message));
            let (ty, ev): (String, Event<'_>) = serde_json::from_str(&out).unwrap();
            assert_eq!(
                (ty.as_str(), ev.sender.as_str(), ev.room.as_str()),
                ("EVENT", "me", "r\"1")
            );
            assert_eq!(ev.message.get(), m);
        }
        // Plain messages also decode as ordinary JSON.
        let out =
            enc(|o| encode_event(o, "s", "r", raw(r#"{"a":[1,2,{"b":null}],"s":"\u00e9\n"}"#)));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v,
            json!(["EVENT", {"sender": "s", "room": "r", "message": {"a": [1, 2, {"b": null}], "s": "\u{e9}\n"}}])
        );
    }

    #[test]
    fn escaper_matches_serde_json_for_every_char() {
        for c in (0u32..=0x10ffff).filter_map(char::from_u32) {
            let s = format!("a{c}b{c}");
            let mut out = Vec::new();
            push_json_str(&mut out, &s);
            assert_eq!(
                out,
                serde_json::to_vec(&s).unwrap(),
                "char U+{:04X}",
                c as u32
            );
        }
        let all: String = (0u32..=0x10ffff).filter_map(char::from_u32).collect();
        let mut out = Vec::new();
        push_json_str(&mut out, &all);
        assert_eq!(out, serde_json::to_vec(&all).unwrap());
        assert_eq!(enc(|o| push_json_str(o, "")), r#""""#);
        assert_eq!(
            enc(|o| push_json_str(o, "\u{1}\u{1f}\u{7f}\u{2028}")),
            "\"\\u0001\\u001f\u{7f}\u{2028}\""
        );
    }

    proptest! {
        #[test]
        fn prop_event_round_trip(sender in any::<String>(), room in any::<String>(), msg in any::<String>()) {
            let message = serde_json::value::to_raw_value(&msg).unwrap();
            let mut out = Vec::new();
            encode_event(&mut out, &sender, &room, &message);
            let (ty, ev): (String, Event<'_>) = serde_json::from_slice(&out).unwrap();
            prop_assert_eq!(ty, "EVENT");
            prop_assert_eq!(ev.sender, sender);
            prop_assert_eq!(ev.room, room);
            prop_assert_eq!(ev.message.get(), message.get());
            prop_assert_eq!(serde_json::from_str::<String>(ev.message.get()).unwrap(), msg);
        }

        #[test]
        fn prop_escaper_matches_serde_json(s in any::<String>()) {
            let mut out = Vec::new();
            push_json_str(&mut out, &s);
            prop_assert_eq!(out, serde_json::to_vec(&s).unwrap());
        }

        #[test]
        fn prop_other_encoders_round_trip(a in any::<String>(), b in any::<String>()) {
            let mut out = Vec::new();
            encode_clients(&mut out, &a, &[&b, &a]);
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            prop_assert_eq!(v, json!(["CLIENTS", {"room": a, "clients": [b, a]}]));
            out.clear();
            encode_error(&mut out, &a, &b);
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            prop_assert_eq!(v, json!(["ERROR", {"code": a, "message": b}]));
            out.clear();
            encode_peers(&mut out, &[&a, &b]);
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            prop_assert_eq!(v, json!(["PEERS", [a, b]]));
            out.clear();
            encode_message(&mut out, &a, &serde_json::value::to_raw_value(&b).unwrap());
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            prop_assert_eq!(v, json!(["MESSAGE", {"from": a, "message": b}]));
        }

        #[test]
        fn prop_commands_round_trip(
            room in "\\PC{1,64}",
            name in any::<String>(),
            msg in any::<String>(),
            stringly_sent in any::<bool>(),
        ) {
            let payload = json!({"room": room, "name": name, "message": msg});
            let text = if stringly_sent {
                stringly("NOTIFY", payload.clone())
            } else {
                json!(["NOTIFY", payload.clone()]).to_string()
            };
            let RoomCommand::Notify { room: r, message } = parse_room_command(&text).unwrap() else {
                panic!()
            };
            prop_assert_eq!(&*r, room.as_str());
            prop_assert_eq!(serde_json::from_str::<String>(message.get()).unwrap(), msg.clone());

            let text = if stringly_sent {
                stringly("JOIN", payload)
            } else {
                json!(["JOIN", payload]).to_string()
            };
            let res = parse_room_command(&text);
            if name.is_empty() || name.len() > MAX_NAME_BYTES || room.len() > MAX_ROOM_BYTES {
                prop_assert_eq!(res.unwrap_err().code, ProtocolError::INVALID_FIELD);
            } else {
                let RoomCommand::Join { room: r, name: n } = res.unwrap() else { panic!() };
                prop_assert_eq!((&*r, &*n), (room.as_str(), name.as_str()));
            }
        }

        #[test]
        fn prop_parsers_never_panic(text in any::<String>()) {
            let _ = parse_room_command(&text);
            let _ = parse_lobby_command(&text);
        }

        #[test]
        fn prop_parsers_never_panic_on_near_misses(
            ty in prop::sample::select(vec!["JOIN", "LEAVE", "NOTIFY", "CLIENTS", "BROADCAST", "RTCSIGNAL", "join"]),
            payload in prop::sample::select(vec![
                "{}", "null", "1", "\"\"", "\"{}\"", "[]", "{\"room\":1}", "{\"room\":\"r\",\"name\":\"\"}",
                "{\"to\":null}", "\"{\\\"room\\\":\\\"r\\\"}\"", "{\"message\":{}}", "-1", "1.0",
            ]),
        ) {
            let text = format!("[\"{ty}\",{payload}]");
            let _ = parse_room_command(&text);
            let _ = parse_lobby_command(&text);
        }
    }
}
