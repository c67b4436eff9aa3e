//! The hub on its own: commands in, what it asks of the sockets out (a
//! recording `Outlet`; `io::server::tests` and `rust/core/tests/` drive the
//! same code through real sockets).

use std::time::Instant;

use super::*;

#[derive(Default)]
struct Recorder {
    closed_slots: Vec<usize>,
    /// (slot, text) of every `send`.
    sent: Vec<(usize, String)>,
    /// (members reached, namespace, text) of every `fan_out`.
    fanned: Vec<(Vec<usize>, String, String)>,
    closes: Vec<usize>,
    events: Vec<String>,
}

impl Outlet for Recorder {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn is_open(&self, slot: usize) -> bool {
        !self.closed_slots.contains(&slot)
    }
    fn send(&mut self, slot: usize, data: &[u8]) {
        self.sent
            .push((slot, String::from_utf8_lossy(data).into_owned()));
    }
    fn fan_out(
        &mut self,
        members: &[usize],
        namespace: &str,
        _op: u8,
        data: &[u8],
        exclude: Option<usize>,
    ) -> (usize, usize) {
        let reached: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&m| Some(m) != exclude)
            .collect();
        let n = reached.len();
        self.fanned.push((
            reached,
            namespace.into(),
            String::from_utf8_lossy(data).into_owned(),
        ));
        (n, 0)
    }
    fn close(&mut self, slot: usize) {
        self.closes.push(slot);
    }
    fn report(&mut self, event: HubEvent<'_>) {
        self.events.push(format!("{event:?}"));
    }
}

fn opened(flavor: Flavor, ns: &str, hook: bool) -> Input {
    Input::Opened {
        flavor,
        namespace: ns.into(),
        hook,
        eio: 4,
        ping_interval_ms: 25000,
        lobby: None,
    }
}

fn text(t: &str) -> Input {
    Input::Text(t.into())
}

fn sent_to(r: &Recorder, slot: usize) -> Vec<&str> {
    r.sent
        .iter()
        .filter(|(s, _)| *s == slot)
        .map(|(_, t)| t.as_str())
        .collect()
}

#[test]
fn a_notify_reaches_the_other_members_once_as_an_event() {
    let (mut hub, mut out) = (Hub::new(10), Recorder::default());
    hub.handle(
        0,
        vec![
            opened(Flavor::Rooms, "layout", false),
            text(r#"["JOIN","{\"room\":\"r\",\"name\":\"alice\"}"]"#),
        ],
        &mut out,
    );
    hub.handle(
        1,
        vec![
            opened(Flavor::Rooms, "layout", false),
            text(r#"["JOIN","{\"room\":\"r\",\"name\":\"bob\"}"]"#),
        ],
        &mut out,
    );
    hub.handle(
        0,
        vec![text(
            r#"["NOTIFY","{\"room\":\"r\",\"message\":{\"x\":1}}"]"#,
        )],
        &mut out,
    );
    assert_eq!(out.fanned.len(), 1);
    let (reached, ns, data) = &out.fanned[0];
    assert_eq!((reached.as_slice(), ns.as_str()), (&[1][..], "layout"));
    assert_eq!(
        data,
        r#"["EVENT",{"sender":"alice","room":"r","message":{"x":1}}]"#
    );
    assert!(
        out.events.is_empty(),
        "no backplane, no hook: the host hears nothing"
    );
    assert_eq!(hub.member_names("layout", "r"), ["alice", "bob"]);
    // Rooms of another namespace never mix.
    assert!(hub.member_names("bus", "r").is_empty());
}

#[test]
fn with_a_hook_a_notify_goes_to_the_host_and_nowhere_else() {
    let (mut hub, mut out) = (Hub::new(10), Recorder::default());
    hub.handle(
        3,
        vec![
            opened(Flavor::Rooms, "bus", true),
            text(r#"["NOTIFY","{\"room\":\"r\",\"message\":2}"]"#),
        ],
        &mut out,
    );
    assert!(out.fanned.is_empty());
    assert_eq!(out.events.len(), 1);
    assert!(
        out.events[0]
            .starts_with("Notify { slot: 3, namespace: \"bus\", room: \"r\", sender: \"unknown\""),
        "{}",
        out.events[0]
    );
}

#[test]
fn a_join_past_the_limit_is_refused_and_rejoining_is_not_counted() {
    let (mut hub, mut out) = (Hub::new(2), Recorder::default());
    let join = |room: &str| {
        text(&format!(
            r#"["JOIN","{{\"room\":\"{room}\",\"name\":\"n\"}}"]"#
        ))
    };
    hub.handle(
        0,
        vec![
            opened(Flavor::Rooms, "layout", false),
            join("a"),
            join("b"),
            join("a"),
            join("c"),
        ],
        &mut out,
    );
    assert_eq!(hub.rooms_of(0).len(), 2);
    let replies = sent_to(&out, 0);
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(replies[0].contains("TOO_MANY_ROOMS"), "{}", replies[0]);
}

#[test]
fn error_replies_are_budgeted_per_connection() {
    let (mut hub, mut out) = (Hub::new(10), Recorder::default());
    let mut flood = vec![opened(Flavor::Rooms, "layout", false)];
    flood.extend((0..ERRORS_PER_WINDOW + 8).map(|_| Input::Binary));
    hub.handle(0, flood, &mut out);
    hub.handle(
        1,
        vec![opened(Flavor::Rooms, "layout", false), text("not json")],
        &mut out,
    );
    assert_eq!(sent_to(&out, 0).len(), ERRORS_PER_WINDOW as usize);
    assert_eq!(hub.errors_dropped(), 8);
    // Another connection's budget is its own.
    assert_eq!(sent_to(&out, 1).len(), 1);
    assert!(sent_to(&out, 1)[0].contains("INVALID_JSON"));
}

#[test]
fn nothing_is_handled_for_a_connection_that_closed_meanwhile() {
    let (mut hub, mut out) = (Hub::new(10), Recorder::default());
    out.closed_slots.push(0);
    hub.handle(
        0,
        vec![
            opened(Flavor::Rooms, "layout", false),
            text(r#"["JOIN","{\"room\":\"r\",\"name\":\"n\"}"]"#),
        ],
        &mut out,
    );
    assert!(hub.room_list().is_empty());
}

#[test]
fn socketio_open_connect_ping_and_close() {
    let (mut hub, mut out) = (Hub::new(10), Recorder::default());
    hub.handle(
        0,
        vec![
            opened(Flavor::SocketIo, "", false),
            text("40/layout,"),
            text("40/nope,"),
            text("2probe"),
            text("1"),
        ],
        &mut out,
    );
    let got = sent_to(&out, 0);
    assert!(
        got[0].starts_with("0{\"sid\":\"") && got[0].contains("\"pingInterval\":25000"),
        "{}",
        got[0]
    );
    assert!(got[1].starts_with("40/layout,{\"sid\":\""), "{}", got[1]);
    assert_eq!(got[2], "44/nope,{\"message\":\"Invalid namespace\"}");
    assert_eq!(got[3], "3probe");
    assert_eq!(out.closes, [0]);
    // A packet type that is not ASCII is ignored, never split inside.
    hub.handle(0, vec![text("4é"), text("é")], &mut out);
}

#[test]
fn socketio_members_get_replies_in_packets_of_the_namespace() {
    let (mut hub, mut out) = (Hub::new(10), Recorder::default());
    hub.handle(
        0,
        vec![
            opened(Flavor::SocketIo, "", false),
            text("40/layout,"),
            text(r#"42/layout,["JOIN","{\"room\":\"r\",\"name\":\"s\"}"]"#),
            text(r#"42/layout,["CLIENTS","{\"room\":\"r\"}"]"#),
        ],
        &mut out,
    );
    let got = sent_to(&out, 0);
    assert_eq!(
        got.last().copied(),
        Some(r#"42/layout,["CLIENTS",{"room":"r","clients":["s"]}]"#)
    );
    // The same when the host answers CLIENTS (backplane on).
    hub.reply_clients(0, "layout", "r", &["s", "t"], &mut out);
    assert_eq!(
        sent_to(&out, 0).last().copied(),
        Some(r#"42/layout,["CLIENTS",{"room":"r","clients":["s","t"]}]"#)
    );
    // Disconnecting the namespace leaves its rooms.
    hub.handle(0, vec![text("41/layout,")], &mut out);
    assert!(hub.rooms_of(0).is_empty());
}

#[test]
fn lobby_members_hear_joined_and_left_and_a_newcomer_gets_its_peers() {
    let (mut hub, mut out) = (Hub::new(10), Recorder::default());
    hub.handle(
        0,
        vec![
            opened(Flavor::Lobby, "lobby", false),
            text(r#"["JOIN","L"]"#),
        ],
        &mut out,
    );
    let mut with_id = opened(Flavor::Lobby, "lobby", false);
    if let Input::Opened { lobby, .. } = &mut with_id {
        *lobby = Some("L".into());
    }
    hub.handle(1, vec![with_id], &mut out);
    let peers = sent_to(&out, 1);
    assert!(peers[0].starts_with(r#"["PEERS""#), "{peers:?}");
    let joined = out.fanned.last().expect("JOINED");
    assert_eq!(joined.0, [0], "the newcomer itself is not told it joined");
    assert!(joined.2.starts_with(r#"["JOINED""#));
    hub.disconnect(1, &mut out);
    let left = out.fanned.last().expect("LEFT");
    assert_eq!((left.0.as_slice(), left.1.as_str()), (&[0][..], "lobby"));
    assert!(left.2.starts_with(r#"["LEFT""#));
    assert_eq!(hub.room_list(), [(room_key("lobby", "L"), 1)]);
}

#[test]
fn with_a_backplane_the_host_hears_membership_and_clients() {
    let (mut hub, mut out) = (Hub::new(10), Recorder::default());
    hub.set_backplane(true);
    hub.handle(
        2,
        vec![
            opened(Flavor::Rooms, "layout", false),
            text(r#"["JOIN","{\"room\":\"r\",\"name\":\"n\"}"]"#),
            text(r#"["CLIENTS","{\"room\":\"r\"}"]"#),
            text(r#"["NOTIFY","{\"room\":\"r\",\"message\":1}"]"#),
        ],
        &mut out,
    );
    hub.disconnect(2, &mut out);
    let kinds: Vec<&str> = out
        .events
        .iter()
        .map(|e| e.split(' ').next().unwrap_or(""))
        .collect();
    assert_eq!(kinds, ["Membership", "Clients", "Forward", "Membership"]);
    assert!(out.events[3].contains("joined: false"), "{}", out.events[3]);
    assert!(
        sent_to(&out, 2).is_empty(),
        "CLIENTS is the host's to answer"
    );
    assert!(hub.room_list().is_empty());
}

#[test]
fn host_rooms_are_plain_names_and_publish_reaches_every_member() {
    let (mut hub, mut out) = (Hub::new(10), Recorder::default());
    assert!(hub.join(5, "streams"));
    assert!(!hub.join(5, "streams"));
    assert!(hub.join(6, "streams"));
    assert_eq!(hub.publish("streams", 1, b"{}", Some(6), &mut out), (1, 0));
    assert_eq!(out.fanned[0].1, "", "a plain room has no namespace");
    assert!(matches!(
        hub.publish_event("layout", "r", "s", "{not json", None, &mut out),
        Err(RoomError::NotJson(_))
    ));
    hub.disconnect(5, &mut out);
    assert_eq!(hub.room_list(), [("streams".to_string(), 1)]);
}

#[test]
fn opened_reads_engine_io_and_lobby_from_the_query() {
    let v4 = Input::opened(
        Flavor::SocketIo,
        "",
        false,
        "EIO=4&transport=websocket",
        None,
    );
    assert!(v4.pings_in_band());
    let Input::Opened {
        eio,
        ping_interval_ms,
        ..
    } = v4
    else {
        panic!("not an Opened input");
    };
    assert_eq!((eio, ping_interval_ms), (4, 25_000));
    // EIO=3: the client pings; anything else but 3 is read as 4.
    let v3 = Input::opened(Flavor::SocketIo, "", false, "EIO=3", None);
    assert!(!v3.pings_in_band());
    assert!(Input::opened(Flavor::SocketIo, "", false, "EIO=9", None).pings_in_band());
    // Plain room and lobby connections use WebSocket pings.
    let lobby = Input::opened(
        Flavor::Lobby,
        "lobby",
        false,
        "lobbyId=L%201",
        Some(std::time::Duration::from_secs(5)),
    );
    assert!(!lobby.pings_in_band());
    let Input::Opened {
        lobby,
        namespace,
        ping_interval_ms,
        ..
    } = lobby
    else {
        panic!("not an Opened input");
    };
    assert_eq!(lobby.as_deref(), Some("L 1"));
    assert_eq!((&*namespace, ping_interval_ms), ("lobby", 5_000));
}
