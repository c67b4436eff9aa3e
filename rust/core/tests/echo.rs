//! An echo endpoint over loopback: data round trips, pings, and the
//! closing handshake (RFC 6455 5.5, 7.4), all answered in Rust.

mod util;

use scanbridge_core::io::Kind;
use util::{endpoint, Client, Msg, TestServer, OP_CONT, OP_PING, OP_TEXT};

fn echo_server() -> TestServer {
    TestServer::start(&[("/echo", endpoint(Kind::Echo, ""))])
}

#[test]
fn text_round_trip() {
    let s = echo_server();
    let mut c = s.client("/echo");
    for t in ["hello", "", "héllo wörld ✓"] {
        c.send_text(t);
        assert_eq!(c.recv(), Msg::Text(t.to_string()));
    }
}

#[test]
fn binary_round_trip_at_every_length_encoding() {
    let s = echo_server();
    let mut c = s.client("/echo");
    // 7-bit, 16-bit and 64-bit payload lengths, and their edges.
    for len in [0, 1, 125, 126, 65535, 65536, 300_000] {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        c.send_binary(&data);
        assert_eq!(c.recv(), Msg::Binary(data), "length {len}");
    }
}

#[test]
fn fragmented_message_is_echoed_whole() {
    let s = echo_server();
    let mut c = s.client("/echo");
    c.send_frame(false, OP_TEXT, b"hel");
    // A control frame may come between fragments; its answer is not held up.
    c.send_frame(true, OP_PING, b"mid");
    c.send_frame(false, OP_CONT, b"lo ");
    c.send_frame(true, OP_CONT, b"there");
    assert_eq!(c.recv(), Msg::Pong(b"mid".to_vec()));
    assert_eq!(c.recv(), Msg::Text("hello there".into()));
}

#[test]
fn ping_gets_pong_with_its_payload() {
    let s = echo_server();
    let mut c = s.client("/echo");
    c.send_frame(true, OP_PING, b"are you there");
    assert_eq!(c.recv(), Msg::Pong(b"are you there".to_vec()));
    c.send_frame(true, OP_PING, b"");
    assert_eq!(c.recv(), Msg::Pong(Vec::new()));
}

#[test]
fn close_handshake_echoes_the_code() {
    let s = echo_server();
    for code in [1000, 1001, 3000, 4999] {
        let mut c = s.client("/echo");
        let (got, _) = c.close(code, "bye");
        assert_eq!(got, Some(code));
    }
}

#[test]
fn close_without_status_is_answered() {
    let s = echo_server();
    let mut c = s.client("/echo");
    c.send_frame(true, util::OP_CLOSE, b"");
    let (code, _) = c.recv_close();
    // 1005 means "no status" and never goes on the wire: an empty close
    // frame is answered with an empty one.
    assert_eq!(code, None);
    c.expect_eof();
}

#[test]
fn invalid_close_codes_get_1002() {
    let s = echo_server();
    // Reserved (1004-1006, 1015), unassigned, and out of range.
    for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        let mut c = s.client("/echo");
        let (got, _) = c.close(code, "");
        assert_eq!(got, Some(1002), "close code {code}");
    }
}

#[test]
fn one_byte_close_payload_gets_1002() {
    let s = echo_server();
    let mut c = s.client("/echo");
    c.send_frame(true, util::OP_CLOSE, &[0x03]);
    assert_eq!(c.recv_close().0, Some(1002));
    c.expect_eof();
}

#[test]
fn invalid_utf8_text_gets_1007() {
    let s = echo_server();
    let mut c = s.client("/echo");
    c.send_frame(true, OP_TEXT, &[b'a', 0xff, b'b']);
    assert_eq!(c.recv_close().0, Some(1007));
    c.expect_eof();
}

#[test]
fn unmasked_client_frame_gets_1002() {
    let s = echo_server();
    let mut c = s.client("/echo");
    c.send_raw(&[0x81, 0x02, b'h', b'i']);
    assert_eq!(c.recv_close().0, Some(1002));
    c.expect_eof();
}

#[test]
fn unknown_path_is_not_upgraded() {
    let s = echo_server();
    let (c, head) = Client::upgrade(s.addr, "/nowhere", "");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    c.drop_connection();
}
