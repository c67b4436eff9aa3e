//! A lobby endpoint (`/lobby`, PROTOCOLS.md 2.2) over loopback: JOINED and
//! LEFT notices, BROADCAST, RTCSIGNAL, `?lobbyId=` and disconnects.

mod util;

use scanbridge_core::io::Kind;
use serde_json::{json, Value};
use util::{endpoint, Client, TestServer};

fn lobby_server() -> TestServer {
    TestServer::start(&[("/lobby", endpoint(Kind::Lobby, "lobby"))])
}

/// JOIN `lobby` and return this socket's id (from the JOINED it gets too).
fn join(c: &mut Client, lobby: &str) -> String {
    c.send_json(&json!(["JOIN", lobby]));
    let got = c.recv_json();
    assert_eq!(got[0], "JOINED", "{got}");
    id_of(&got)
}

fn id_of(notice: &Value) -> String {
    notice[1]
        .as_str()
        .unwrap_or_else(|| panic!("no socket id: {notice}"))
        .to_string()
}

#[test]
fn joined_left_and_broadcast() {
    let s = lobby_server();
    let mut a = s.client("/lobby");
    let mut b = s.client("/lobby");
    let a_id = join(&mut a, "L");
    let b_id = join(&mut b, "L");
    assert_ne!(a_id, b_id);
    assert_eq!(a.recv_json(), json!(["JOINED", b_id]));

    // BROADCAST goes to every member, the sender too.
    b.send_json(&json!(["BROADCAST", {"message": {"text": "hi", "n": [1]}}]));
    let want = json!(["MESSAGE", {"from": b_id, "message": {"text": "hi", "n": [1]}}]);
    assert_eq!(b.recv_json(), want);
    assert_eq!(a.recv_json(), want);

    // LEFT goes to the members that remain.
    b.send_json(&json!(["LEAVE", "L"]));
    assert_eq!(a.recv_json(), json!(["LEFT", b_id]));
    // b is out: a's broadcast reaches a alone, and b may not broadcast.
    a.send_json(&json!(["BROADCAST", {"message": 2}]));
    assert_eq!(a.recv_json()[1]["message"], 2);
    b.send_json(&json!(["BROADCAST", {"message": 3}]));
    let err = b.recv_json();
    assert_eq!(err[0], "ERROR", "{err}");
    assert_eq!(err[1]["code"], "INVALID_FIELD", "{err}");
}

#[test]
fn rtcsignal_goes_to_its_target_only() {
    let s = lobby_server();
    let mut a = s.client("/lobby");
    let mut b = s.client("/lobby");
    let mut c = s.client("/lobby");
    let a_id = join(&mut a, "L");
    let b_id = join(&mut b, "L");
    assert_eq!(a.recv_json(), json!(["JOINED", b_id]));
    let c_id = join(&mut c, "L");
    assert_eq!(a.recv_json(), json!(["JOINED", c_id]));
    assert_eq!(b.recv_json(), json!(["JOINED", c_id]));

    let signal = json!({"to": b_id, "type": "offer", "sdp": "v=0"});
    a.send_json(&json!(["RTCSIGNAL", signal]));
    assert_eq!(b.recv_json(), json!(["RTCSIGNAL", signal]));
    // The signal was handled before c broadcasts, so a copy for c would
    // come before c's own MESSAGE.
    c.send_json(&json!(["BROADCAST", {"message": "c"}]));
    assert_eq!(c.recv_json()[1]["from"], c_id);
    assert_eq!(a.recv_json()[1]["from"], c_id);
    assert_eq!(b.recv_json()[1]["from"], c_id);
    // An unknown target is an error for the sender alone.
    a.send_json(&json!(["RTCSIGNAL", {"to": "nobody"}]));
    let err = a.recv_json();
    assert_eq!(err[0], "ERROR", "{err}");
    assert_eq!(err[1]["code"], "INVALID_FIELD", "{err}");
    // Signals need no shared lobby, only the target's id.
    let mut d = s.client("/lobby");
    d.send_json(&json!(["RTCSIGNAL", {"to": a_id, "from": "d"}]));
    assert_eq!(
        a.recv_json(),
        json!(["RTCSIGNAL", {"to": a_id, "from": "d"}])
    );
}

#[test]
fn lobby_id_on_connect_joins_and_lists_peers() {
    let s = lobby_server();
    let mut a = s.client("/lobby");
    let a_id = join(&mut a, "L");
    let mut b = s.client("/lobby?lobbyId=L");
    // The newcomer hears who is there; the others hear JOINED.
    assert_eq!(b.recv_json(), json!(["PEERS", [a_id]]));
    let b_id = id_of(&a.recv_json());
    assert_ne!(b_id, a_id);
    b.send_json(&json!(["BROADCAST", {"message": null}]));
    assert_eq!(
        a.recv_json(),
        json!(["MESSAGE", {"from": b_id, "message": null}])
    );
}

#[test]
fn a_disconnect_is_announced_as_left() {
    let s = lobby_server();
    let mut a = s.client("/lobby");
    let mut b = s.client("/lobby");
    join(&mut a, "L");
    let b_id = join(&mut b, "L");
    assert_eq!(a.recv_json(), json!(["JOINED", b_id]));
    b.drop_connection();
    assert_eq!(a.recv_json(), json!(["LEFT", b_id]));
}

#[test]
fn joining_another_lobby_leaves_the_first() {
    let s = lobby_server();
    let mut a = s.client("/lobby");
    let mut b = s.client("/lobby");
    join(&mut a, "one");
    let b_id = join(&mut b, "one");
    assert_eq!(a.recv_json(), json!(["JOINED", b_id]));
    assert_eq!(join(&mut b, "two"), b_id);
    assert_eq!(a.recv_json(), json!(["LEFT", b_id]));
}
