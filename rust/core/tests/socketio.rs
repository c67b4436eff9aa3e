//! Socket.IO clients (Engine.IO v4 and v3 over the websocket transport,
//! PROTOCOLS.md 2.4) on the same rooms as plain `/layout` clients.

mod util;

use scanbridge_core::io::Kind;
use serde_json::{json, Value};
use util::rooms::{clients, join, notify};
use util::{endpoint, Client, TestServer};

fn server() -> TestServer {
    TestServer::start(&[
        ("/layout", endpoint(Kind::Rooms, "layout")),
        ("/lobby", endpoint(Kind::Lobby, "lobby")),
        ("/socket.io/", endpoint(Kind::SocketIo, "")),
    ])
}

/// The JSON of an Engine.IO `open` packet (`0{...}`).
fn open_packet(c: &mut Client) -> Value {
    let t = c.recv_text();
    let body = t
        .strip_prefix('0')
        .unwrap_or_else(|| panic!("not open: {t}"));
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {t}"))
}

/// An event packet of namespace `ns`: `42/<ns>,<array>`, the array parsed.
fn event(c: &mut Client, ns: &str) -> Value {
    let t = c.recv_text();
    let prefix = format!("42/{ns},");
    let body = t
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("not {prefix}: {t}"));
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {t}"))
}

fn emit(c: &mut Client, ns: &str, args: &Value) {
    c.send_text(&format!("42/{ns},{args}"));
}

/// Connect with EIO=4, read the open packet and connect to /layout.
fn layout_client(s: &TestServer) -> (Client, String) {
    let mut c = s.client("/socket.io/?EIO=4&transport=websocket");
    let open = open_packet(&mut c);
    let sid = open["sid"].as_str().expect("sid").to_string();
    c.send_text("40/layout,");
    let t = c.recv_text();
    let body = t
        .strip_prefix("40/layout,")
        .unwrap_or_else(|| panic!("not a connect: {t}"));
    let connect: Value = serde_json::from_str(body).unwrap();
    assert!(connect["sid"].is_string(), "{t}");
    (c, sid)
}

#[test]
fn open_packet_and_namespace_connect() {
    let s = server();
    let mut c = s.client("/socket.io/?EIO=4&transport=websocket");
    let open = open_packet(&mut c);
    assert!(
        open["sid"].as_str().is_some_and(|s| !s.is_empty()),
        "{open}"
    );
    assert_eq!(open["upgrades"], json!([]));
    assert!(open["pingInterval"].as_u64().is_some(), "{open}");
    assert!(open["pingTimeout"].as_u64().is_some(), "{open}");

    c.send_text("40/layout,");
    let t = c.recv_text();
    assert!(t.starts_with("40/layout,{\"sid\":"), "{t}");
    // A namespace that is not served is refused with a CONNECT_ERROR.
    c.send_text("40/nope,");
    let t = c.recv_text();
    assert!(t.starts_with("44/nope,"), "{t}");
    // Engine.IO ping (and probe): pong with the same data.
    c.send_text("2probe");
    assert_eq!(c.recv_text(), "3probe");
}

#[test]
fn eio3_clients_are_connected_to_the_default_namespace_at_once() {
    let s = server();
    let mut c = s.client("/socket.io/?EIO=3&transport=websocket");
    let open = open_packet(&mut c);
    assert!(open["sid"].is_string(), "{open}");
    assert_eq!(c.recv_text(), "40");
    // v3 connects carry no sid.
    c.send_text("40/layout,");
    assert_eq!(c.recv_text(), "40/layout,");
}

#[test]
fn notify_from_a_plain_client_reaches_a_socketio_member() {
    let s = server();
    let (mut sio, _) = layout_client(&s);
    emit(
        &mut sio,
        "layout",
        &json!(["JOIN", {"room": "r", "name": "sio"}]),
    );
    emit(&mut sio, "layout", &json!(["CLIENTS", {"room": "r"}]));
    assert_eq!(
        event(&mut sio, "layout"),
        json!(["CLIENTS", {"room": "r", "clients": ["sio"]}])
    );

    let mut plain = s.client("/layout");
    join(&mut plain, "r", "plain");
    assert_eq!(clients(&mut plain, "r"), ["plain", "sio"]);
    notify(&mut plain, "r", json!({"n": 1}));
    assert_eq!(
        event(&mut sio, "layout"),
        json!(["EVENT", {"sender": "plain", "room": "r", "message": {"n": 1}}])
    );

    // And back: a Socket.IO NOTIFY (payload as a JSON string, as the
    // original clients emit it) reaches the plain member.
    emit(
        &mut sio,
        "layout",
        &json!(["NOTIFY", r#"{"room":"r","message":"hello"}"#]),
    );
    assert_eq!(
        plain.recv_json(),
        json!(["EVENT", {"sender": "sio", "room": "r", "message": "hello"}])
    );
}

#[test]
fn socketio_errors_come_as_events_of_the_namespace() {
    let s = server();
    let (mut sio, _) = layout_client(&s);
    emit(&mut sio, "layout", &json!(["JOIN", {"room": "r"}]));
    let err = event(&mut sio, "layout");
    assert_eq!(err[0], "ERROR", "{err}");
    assert_eq!(err[1]["code"], "MISSING_FIELD", "{err}");
}

#[test]
fn disconnecting_a_namespace_leaves_its_rooms() {
    let s = server();
    let (mut sio, _) = layout_client(&s);
    emit(
        &mut sio,
        "layout",
        &json!(["JOIN", {"room": "r", "name": "sio"}]),
    );
    emit(&mut sio, "layout", &json!(["CLIENTS", {"room": "r"}]));
    assert_eq!(event(&mut sio, "layout")[1]["clients"], json!(["sio"]));
    let mut plain = s.client("/layout");
    join(&mut plain, "r", "plain");
    assert_eq!(clients(&mut plain, "r"), ["plain", "sio"]);
    sio.send_text("41/layout,");
    // Input is handled in order: once this reconnect is answered, the
    // disconnect before it was handled too.
    sio.send_text("40/layout,");
    assert!(sio.recv_text().starts_with("40/layout,"));
    assert_eq!(clients(&mut plain, "r"), ["plain"]);
}

#[test]
fn socketio_lobby_broadcast() {
    let s = server();
    let mut sio = s.client("/socket.io/?EIO=4&transport=websocket");
    let sid = open_packet(&mut sio)["sid"].as_str().unwrap().to_string();
    sio.send_text("40/lobby,");
    assert!(sio.recv_text().starts_with("40/lobby,"));
    emit(&mut sio, "lobby", &json!(["JOIN", "L"]));
    assert_eq!(event(&mut sio, "lobby"), json!(["JOINED", sid]));

    let mut plain = s.client("/lobby");
    plain.send_json(&json!(["JOIN", "L"]));
    let joined = plain.recv_json();
    assert_eq!(event(&mut sio, "lobby"), joined);
    plain.send_json(&json!(["BROADCAST", {"message": "to all"}]));
    let msg = plain.recv_json();
    assert_eq!(msg[1]["message"], "to all");
    assert_eq!(event(&mut sio, "lobby"), msg);
}
