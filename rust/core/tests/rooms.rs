//! A rooms endpoint (`/layout`, PROTOCOLS.md 2.1) over loopback: JOIN,
//! LEAVE, NOTIFY, CLIENTS and ERROR between real clients, and the host's
//! `publish_event` into the same rooms.

mod util;

use scanbridge_core::io::Kind;
use serde_json::json;
use util::rooms::{clients, join, leave, notify};
use util::{endpoint, eventually, TestServer};

fn rooms_server() -> TestServer {
    TestServer::start(&[
        ("/layout", endpoint(Kind::Rooms, "layout")),
        ("/bus", endpoint(Kind::Rooms, "bus")),
    ])
}

#[test]
fn notify_reaches_the_other_member_as_event_with_the_sender_name() {
    let s = rooms_server();
    let mut alice = s.client("/layout");
    let mut bob = s.client("/layout");
    join(&mut alice, "r1", "alice");
    assert_eq!(clients(&mut alice, "r1"), ["alice"]);
    join(&mut bob, "r1", "bob");
    assert_eq!(clients(&mut bob, "r1"), ["alice", "bob"]);

    notify(&mut alice, "r1", json!({"x": 1, "s": "é"}));
    assert_eq!(
        bob.recv_json(),
        json!(["EVENT", {"sender": "alice", "room": "r1", "message": {"x": 1, "s": "é"}}])
    );
    // Not to the sender: its next message is the answer to its next request.
    assert_eq!(clients(&mut alice, "r1"), ["alice", "bob"]);

    notify(&mut bob, "r1", json!("plain string"));
    assert_eq!(
        alice.recv_json(),
        json!(["EVENT", {"sender": "bob", "room": "r1", "message": "plain string"}])
    );
}

#[test]
fn payload_may_be_a_string_holding_json() {
    // Clients of the original service sent the payload as a JSON string.
    let s = rooms_server();
    let mut a = s.client("/layout");
    let mut b = s.client("/layout");
    a.send_json(&json!(["JOIN", r#"{"room":"r","name":"a"}"#]));
    assert_eq!(clients(&mut a, "r"), ["a"]);
    b.send_json(&json!(["JOIN", r#"{"room":"r","name":"b"}"#]));
    assert_eq!(clients(&mut b, "r"), ["a", "b"]);
    a.send_json(&json!(["NOTIFY", r#"{"room":"r","message":{"k":[1,2]}}"#]));
    assert_eq!(
        b.recv_json(),
        json!(["EVENT", {"sender": "a", "room": "r", "message": {"k": [1, 2]}}])
    );
}

#[test]
fn clients_lists_the_names_of_that_room_only() {
    let s = rooms_server();
    let mut a = s.client("/layout");
    let mut b = s.client("/layout");
    let mut c = s.client("/layout");
    join(&mut a, "kitchen", "tv 1");
    assert_eq!(clients(&mut a, "kitchen"), ["tv 1"]);
    join(&mut b, "kitchen", "tv \"2\"");
    assert_eq!(clients(&mut b, "kitchen"), ["tv \"2\"", "tv 1"]);
    join(&mut c, "hall", "tv 3");
    assert_eq!(clients(&mut c, "hall"), ["tv 3"]);
    // Asking needs no membership; an empty room has no names.
    assert_eq!(clients(&mut c, "kitchen"), ["tv \"2\"", "tv 1"]);
    assert!(clients(&mut c, "empty").is_empty());
}

#[test]
fn leave_stops_delivery() {
    let s = rooms_server();
    let mut a = s.client("/layout");
    let mut b = s.client("/layout");
    join(&mut a, "r", "a");
    assert_eq!(clients(&mut a, "r"), ["a"]);
    join(&mut b, "r", "b");
    assert_eq!(clients(&mut b, "r"), ["a", "b"]);
    notify(&mut a, "r", json!(1));
    assert_eq!(b.recv_json()[1]["message"], 1);

    leave(&mut b, "r");
    assert_eq!(clients(&mut b, "r"), ["a"]);
    notify(&mut a, "r", json!(2));
    // a's CLIENTS answer comes after its NOTIFY was handled, so an EVENT
    // for b would already be queued ahead of anything b asks for next.
    assert_eq!(clients(&mut a, "r"), ["a"]);
    assert_eq!(clients(&mut b, "r"), ["a"]);

    // Joining again restores delivery.
    join(&mut b, "r", "b");
    assert_eq!(clients(&mut b, "r"), ["a", "b"]);
    notify(&mut a, "r", json!(3));
    assert_eq!(b.recv_json()[1]["message"], 3);
}

#[test]
fn notify_needs_no_membership_and_is_unknown_before_a_join() {
    let s = rooms_server();
    let mut member = s.client("/layout");
    let mut outsider = s.client("/layout");
    join(&mut member, "r", "m");
    assert_eq!(clients(&mut member, "r"), ["m"]);
    notify(&mut outsider, "r", json!({"hi": true}));
    assert_eq!(
        member.recv_json(),
        json!(["EVENT", {"sender": "unknown", "room": "r", "message": {"hi": true}}])
    );
    // After a JOIN elsewhere, NOTIFYs to other rooms carry that name.
    join(&mut outsider, "other", "o");
    notify(&mut outsider, "r", json!(2));
    assert_eq!(member.recv_json()[1]["sender"], "o");
}

#[test]
fn bad_commands_get_an_error_and_the_connection_stays() {
    let s = rooms_server();
    let mut c = s.client("/layout");
    let cases = [
        ("not json", "INVALID_JSON"),
        (r#"{"JOIN": 1}"#, "INVALID_MESSAGE"),
        (r#"["DANCE", {"room": "r"}]"#, "UNKNOWN_TYPE"),
        (r#"["JOIN", {"room": "r"}]"#, "MISSING_FIELD"),
        (r#"["JOIN", {"room": 5, "name": "n"}]"#, "INVALID_FIELD"),
    ];
    for (text, code) in cases {
        c.send_text(text);
        let reply = c.recv_json();
        assert_eq!(reply[0], "ERROR", "{text}: {reply}");
        assert_eq!(reply[1]["code"], code, "{text}: {reply}");
        assert!(reply[1]["message"].is_string(), "{reply}");
    }
    c.send_binary(b"[\"JOIN\"]");
    let reply = c.recv_json();
    assert_eq!(reply[1]["code"], "INVALID_MESSAGE", "{reply}");
    // Still open, and none of those joined anything.
    assert!(clients(&mut c, "r").is_empty());
    join(&mut c, "r", "n");
    assert_eq!(clients(&mut c, "r"), ["n"]);
}

#[test]
fn namespaces_do_not_mix() {
    let s = rooms_server();
    let mut on_layout = s.client("/layout");
    let mut on_bus = s.client("/bus");
    let mut sender = s.client("/layout");
    join(&mut on_layout, "r", "l");
    assert_eq!(clients(&mut on_layout, "r"), ["l"]);
    join(&mut on_bus, "r", "b");
    assert_eq!(clients(&mut on_bus, "r"), ["b"]);
    notify(&mut sender, "r", json!("for layout"));
    assert_eq!(on_layout.recv_json()[1]["message"], "for layout");
    // Handled by now (see `leave_stops_delivery`): /bus got nothing.
    assert_eq!(clients(&mut sender, "r"), ["l"]);
    assert_eq!(clients(&mut on_bus, "r"), ["b"]);
}

#[test]
fn a_peer_that_disconnects_leaves_its_rooms() {
    let s = rooms_server();
    let mut stays = s.client("/layout");
    let mut goes = s.client("/layout");
    join(&mut stays, "r", "stays");
    assert_eq!(clients(&mut stays, "r"), ["stays"]);
    join(&mut goes, "r", "goes");
    join(&mut goes, "r2", "goes");
    assert_eq!(clients(&mut goes, "r"), ["goes", "stays"]);
    goes.drop_connection();

    // The server notices the end on a later poll; ask until it has.
    eventually("CLIENTS without the closed peer", || {
        clients(&mut stays, "r") == ["stays"]
    });
    assert!(clients(&mut stays, "r2").is_empty());
    assert!(s
        .with(|srv| srv.room_member_names("layout", "r2"))
        .is_empty());
    // Publishing to the room now reaches the one member left, and only it.
    let r = s.with(|srv| srv.publish_event("layout", "r", "host", "\"anyone?\"", None));
    assert_eq!(r.expect("valid JSON"), (1, 0));
    assert_eq!(stays.recv_json()[1]["message"], "anyone?");
}

#[test]
fn host_publish_event_reaches_members() {
    let s = rooms_server();
    let mut a = s.client("/layout");
    let mut b = s.client("/layout");
    join(&mut a, "r", "a");
    assert_eq!(clients(&mut a, "r"), ["a"]);
    join(&mut b, "r", "b");
    assert_eq!(clients(&mut b, "r"), ["a", "b"]);

    let r = s.with(|srv| srv.publish_event("layout", "r", "POST", r#"{"k":"v"}"#, None));
    assert_eq!(r.expect("valid JSON"), (2, 0));
    let want = json!(["EVENT", {"sender": "POST", "room": "r", "message": {"k": "v"}}]);
    assert_eq!(a.recv_json(), want);
    assert_eq!(b.recv_json(), want);

    // Not JSON: refused, nothing sent.
    assert!(s
        .with(|srv| srv.publish_event("layout", "r", "POST", "{nope", None))
        .is_err());
    // Another namespace's room of the same name has no members.
    let r = s.with(|srv| srv.publish_event("bus", "r", "POST", "1", None));
    assert_eq!(r.expect("valid JSON"), (0, 0));
    assert_eq!(clients(&mut a, "r"), ["a", "b"]);
    let names = s.with(|srv| srv.namespace_rooms("layout"));
    assert_eq!(names.len(), 1);
    assert_eq!(names[0].0, "r");
}
