//! A Python-kind endpoint driven through the host API, as the binding does:
//! `Open` / `Text` / `Binary` / `Close` reach the event sink; `send`,
//! `close`, `join`, `leave`, `publish` and `rooms_of` act on the sockets.

mod util;

use scanbridge_core::io::event::ConnId;
use scanbridge_core::io::{Kind, SendError};
use util::{endpoint, eventually, Client, Ev, Msg, TestServer};

fn py_server() -> TestServer {
    TestServer::start(&[
        ("/echo", endpoint(Kind::Echo, "")),
        ("/py", endpoint(Kind::Python, "")),
    ])
}

/// Connect to `/py` and wait for its `Open`; returns the client and its id.
fn open(s: &TestServer, path_and_query: &str) -> (Client, ConnId) {
    let c = s.client(path_and_query);
    match s.next_event() {
        Ev::Open {
            conn,
            endpoint,
            path,
        } => {
            assert_eq!(endpoint, 1);
            assert_eq!(path, "/py");
            (c, conn)
        }
        other => panic!("expected Open, got {other:?}"),
    }
}

#[test]
fn open_and_messages_reach_the_sink() {
    let s = py_server();
    let (mut c, id) = open(&s, "/py?token=1");
    c.send_text("hello");
    assert_eq!(
        s.next_event(),
        Ev::Text {
            conn: id,
            data: "hello".into()
        }
    );
    c.send_binary(&[0, 1, 2, 255]);
    assert_eq!(
        s.next_event(),
        Ev::Binary {
            conn: id,
            data: vec![0, 1, 2, 255]
        }
    );
    // Nothing is echoed in Rust: the client's next message is Python's.
    assert_eq!(
        s.with(move |srv| srv.send(id, false, b"from python")),
        Ok(())
    );
    assert_eq!(c.recv(), Msg::Text("from python".into()));
}

#[test]
fn echo_connections_are_not_reported() {
    let s = py_server();
    let mut e = s.client("/echo");
    e.send_text("x");
    assert_eq!(e.recv(), Msg::Text("x".into()));
    let (_c, _) = open(&s, "/py");
    // The Open of /py is the first event: the echo connection gave none.
    assert!(s.pending_events().is_empty());
}

#[test]
fn send_delivers_text_and_binary_in_order() {
    let s = py_server();
    let (mut c, id) = open(&s, "/py");
    let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    let big2 = big.clone();
    let r = s.with(move |srv| {
        [
            srv.send(id, false, "één".as_bytes()),
            srv.send(id, true, &big2),
            srv.send(id, false, b""),
        ]
    });
    assert_eq!(r, [Ok(()), Ok(()), Ok(())]);
    assert_eq!(c.recv(), Msg::Text("één".into()));
    assert_eq!(c.recv(), Msg::Binary(big));
    assert_eq!(c.recv(), Msg::Text(String::new()));
}

#[test]
fn client_close_is_reported_with_its_code() {
    let s = py_server();
    let (mut c, id) = open(&s, "/py");
    let (code, _) = c.close(4321, "done");
    assert_eq!(code, Some(4321));
    assert_eq!(
        s.next_event(),
        Ev::Close {
            conn: id,
            code: 4321,
            reason: "done".into()
        }
    );
    assert_eq!(
        s.with(move |srv| srv.send(id, false, b"late")),
        Err(SendError::NotOpen)
    );
}

#[test]
fn server_close_starts_the_handshake() {
    let s = py_server();
    let (mut c, id) = open(&s, "/py");
    assert!(s.with(move |srv| srv.close(id, 4000, "bye")));
    assert_eq!(c.recv_close(), (Some(4000), "bye".into()));
    c.send_close(4000, "");
    c.expect_eof();
    let ev = s.wait_event("Close", |e| matches!(e, Ev::Close { .. }));
    assert!(
        matches!(ev, Ev::Close { conn, code: 4000, .. } if conn == id),
        "{ev:?}"
    );
    // Closed: nothing more goes to it.
    assert_eq!(
        s.with(move |srv| srv.send(id, false, b"x")),
        Err(SendError::NotOpen)
    );
}

#[test]
fn a_dropped_connection_is_reported_as_1006() {
    let s = py_server();
    let (c, id) = open(&s, "/py");
    c.drop_connection();
    let ev = s.next_event();
    assert!(
        matches!(ev, Ev::Close { conn, code: 1006, .. } if conn == id),
        "{ev:?}"
    );
}

#[test]
fn join_publish_leave() {
    let s = py_server();
    let (mut a, a_id) = open(&s, "/py");
    let (mut b, b_id) = open(&s, "/py");
    let r = s.with(move |srv| {
        (
            srv.join(a_id, "news"),
            srv.join(b_id, "news"),
            srv.join(a_id, "news"),
            srv.rooms_of(a_id),
        )
    });
    // (a second JOIN of the same room is refused)
    assert_eq!(r, (true, true, false, vec!["news".to_string()]));

    let r = s.with(|srv| srv.publish("news", false, b"headline", None));
    assert_eq!(r, (2, 0));
    assert_eq!(a.recv(), Msg::Text("headline".into()));
    assert_eq!(b.recv(), Msg::Text("headline".into()));

    let r = s.with(move |srv| srv.publish("news", true, &[7, 7], Some(a_id)));
    assert_eq!(r, (1, 0));
    assert_eq!(b.recv(), Msg::Binary(vec![7, 7]));

    let r = s.with(move |srv| {
        let left = srv.leave(b_id, "news");
        (
            left,
            srv.rooms_of(b_id),
            srv.publish("news", false, b"2", None),
        )
    });
    assert_eq!(r, (true, Vec::<String>::new(), (1, 0)));
    assert_eq!(a.recv(), Msg::Text("2".into()));
    // b got nothing after it left: its next message is a direct send.
    assert_eq!(s.with(move |srv| srv.send(b_id, false, b"direct")), Ok(()));
    assert_eq!(b.recv(), Msg::Text("direct".into()));

    // A closed connection leaves its rooms.
    a.drop_connection();
    s.wait_event(
        "a's Close",
        |e| matches!(e, Ev::Close { conn, .. } if *conn == a_id),
    );
    eventually("the room to empty", || {
        let rooms = s.with(|srv| srv.room_list());
        rooms.iter().all(|(room, n)| room != "news" || *n == 0)
    });
    let r = s.with(move |srv| (srv.rooms_of(a_id), srv.publish("news", false, b"3", None)));
    assert_eq!(r, (Vec::<String>::new(), (0, 0)));
}

#[test]
fn stats_count_connections_and_messages() {
    let s = py_server();
    let (mut c, id) = open(&s, "/py");
    c.send_text("one");
    s.next_event();
    c.send_text("two");
    s.next_event();
    let st = s.with(|srv| srv.stats());
    assert_eq!(st.connections_accepted, 1);
    assert_eq!(st.websockets_open, 1);
    assert_eq!(st.messages_in, 2);
    assert_eq!(s.with(|srv| srv.conn_ids()), vec![id]);
    c.close(1000, "");
    s.wait_event("Close", |e| matches!(e, Ev::Close { .. }));
    let st = s.with(|srv| srv.stats());
    assert_eq!(st.websockets_open, 0);
    // Closed connections' counts stay in the totals.
    assert_eq!(st.messages_in, 2);
}
