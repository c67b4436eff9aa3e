use super::*;
use proptest::prelude::*;
use serde_json::json;

#[test]
fn a_lone_surrogate_string_payload_is_an_error_not_a_panic() {
    // Found by fuzzing: serde_json's raw scan accepts "\ud800" but cannot
    // decode it; this was an unreachable!() reachable from one frame.
    for text in [r#"["JOIN","\ud800"]"#, r#"["NOTIFY","\udfff"]"#] {
        assert_eq!(room_err(text).code, ErrorCode::InvalidJson, "{text}");
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
    assert_eq!(e.code.as_str(), code, "{e}");
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
    let out = enc(|o| encode_event(o, "s", "r", raw(r#"{"a":[1,2,{"b":null}],"s":"\u00e9\n"}"#)));
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
            prop_assert_eq!(res.unwrap_err().code, ErrorCode::InvalidField);
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
