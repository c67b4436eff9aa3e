use super::*;
use crate::wire::frame::{encode_header, encode_masked_frame};
use proptest::prelude::*;

#[derive(Debug, PartialEq, Clone)]
enum Owned {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
}

fn own(m: Message<'_>) -> Owned {
    match m {
        Message::Text(t) => Owned::Text(t.to_string()),
        Message::Binary(b) => Owned::Binary(b.to_vec()),
        Message::Ping(b) => Owned::Ping(b.to_vec()),
        Message::Pong(b) => Owned::Pong(b.to_vec()),
        Message::Close(c, r) => Owned::Close(c, r.to_string()),
    }
}

const KEY: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

fn frame(out: &mut Vec<u8>, fin: bool, op: u8, payload: &[u8]) {
    encode_header(out, fin, false, op, payload.len(), Some(KEY));
    let s = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[s..], KEY, 0);
}

fn run(bytes: &[u8], cuts: &[usize]) -> (Vec<Owned>, Result<(), CloseError>) {
    let mut r = FrameReader::new(1 << 20, true);
    let mut got = Vec::new();
    let mut data = bytes.to_vec();
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    cuts.sort();
    cuts.push(data.len());
    let mut start = 0;
    for c in cuts {
        let res = r.feed(&mut data[start..c], &mut |m| got.push(own(m)));
        if res.is_err() {
            return (got, res);
        }
        start = c;
    }
    (got, Ok(()))
}

#[test]
fn single_frames() {
    let mut b = Vec::new();
    encode_masked_frame(&mut b, OP_TEXT, b"hello", false, KEY);
    encode_masked_frame(&mut b, OP_BINARY, &[0, 1, 2], false, KEY);
    encode_masked_frame(&mut b, OP_PING, b"p", false, KEY);
    encode_masked_frame(&mut b, OP_CLOSE, b"\x03\xe8ok", false, KEY);
    encode_masked_frame(&mut b, OP_TEXT, b"after close", false, KEY);
    let (got, res) = run(&b, &[]);
    res.unwrap();
    assert_eq!(
        got,
        vec![
            Owned::Text("hello".into()),
            Owned::Binary(vec![0, 1, 2]),
            Owned::Ping(b"p".to_vec()),
            Owned::Close(Some(1000), "ok".into()),
        ]
    );
}

#[test]
fn fragmented_with_interleaved_control() {
    let mut b = Vec::new();
    frame(&mut b, false, OP_TEXT, "fra".as_bytes());
    frame(&mut b, true, OP_PING, b"x");
    frame(&mut b, false, OP_CONT, "gm€".as_bytes());
    frame(&mut b, true, OP_PONG, b"");
    frame(&mut b, true, OP_CONT, "nt".as_bytes());
    for cut in 0..b.len() {
        let (got, res) = run(&b, &[cut]);
        res.unwrap();
        assert_eq!(
            got,
            vec![
                Owned::Ping(b"x".to_vec()),
                Owned::Pong(vec![]),
                Owned::Text("fragm€nt".into())
            ],
            "cut at {cut}"
        );
    }
}

#[test]
fn protocol_errors() {
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (vec![0x81, 0x00], 1002),                         // unmasked client frame
        (vec![0xa1, 0x80, 0, 0, 0, 0], 1002),             // RSV2
        (vec![0xc1, 0x80, 0, 0, 0, 0], 1002),             // RSV1 without deflate
        (vec![0x80, 0x80, 0, 0, 0, 0], 1002),             // continuation without a message
        (vec![0x83, 0x80, 0, 0, 0, 0], 1002),             // reserved opcode
        (vec![0x88, 0x81, 0, 0, 0, 0, 3], 1002),          // close with 1 byte
        (vec![0x88, 0x82, 0, 0, 0, 0, 0x03, 0xed], 1002), // close code 1005
        (vec![0x81, 0x81, 0, 0, 0, 0, 0xff], 1007),       // invalid UTF-8
    ];
    for (bytes, code) in cases {
        let (_, res) = run(&bytes, &[]);
        assert_eq!(res.unwrap_err().code, code, "{bytes:?}");
    }
    // A new message inside a fragmented one.
    let mut b = Vec::new();
    frame(&mut b, false, OP_TEXT, b"a");
    frame(&mut b, true, OP_TEXT, b"b");
    assert_eq!(run(&b, &[]).1.unwrap_err().code, 1002);
}

#[test]
fn invalid_utf8_fails_before_the_message_ends() {
    let mut b = Vec::new();
    frame(&mut b, false, OP_TEXT, &[b'a', 0xf4, 0x90]);
    let (_, res) = run(&b, &[]);
    assert_eq!(res.unwrap_err().code, 1007);
    // Split inside one frame: fails on the partial payload.
    let mut b = Vec::new();
    frame(&mut b, true, OP_TEXT, &[b'a', 0xc0, b'b', b'c', b'd']);
    let mut r = FrameReader::new(1 << 20, true);
    let half = b.len() - 3;
    assert_eq!(r.feed(&mut b[..half], &mut |_| {}).unwrap_err().code, 1007);
}

#[test]
fn size_limit() {
    let mut r = FrameReader::new(10, true);
    let mut b = Vec::new();
    frame(&mut b, true, OP_BINARY, &[0; 11]);
    assert_eq!(r.feed(&mut b, &mut |_| {}).unwrap_err().code, 1009);
    // Across fragments.
    let mut r = FrameReader::new(10, true);
    let mut b = Vec::new();
    frame(&mut b, false, OP_BINARY, &[0; 6]);
    frame(&mut b, true, OP_CONT, &[0; 6]);
    assert_eq!(r.feed(&mut b, &mut |_| {}).unwrap_err().code, 1009);
}

#[test]
fn client_side_reads_unmasked() {
    let mut r = FrameReader::new(100, false);
    let mut b = vec![0x81, 0x02, b'h', b'i'];
    let mut got = Vec::new();
    r.feed(&mut b, &mut |m| got.push(own(m))).unwrap();
    assert_eq!(got, vec![Owned::Text("hi".into())]);
    let mut b = Vec::new();
    encode_masked_frame(&mut b, OP_TEXT, b"x", false, KEY);
    assert_eq!(r.feed(&mut b, &mut |_| {}).unwrap_err().code, 1002);
}

/// Issue 12: after an error the reader keeps failing with it. Before, the
/// partial text frame cut by the UTF-8 error stayed, and `41 80 00` finished
/// it: `FF 41` went out as a `&str` (from_utf8_unchecked on invalid bytes).
#[test]
fn first_error_is_latched() {
    let mut r = FrameReader::new(100, false);
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut sink = |m: Message<'_>| {
        got.push(match m {
            Message::Text(t) => t.as_bytes().to_vec(),
            Message::Binary(b) => b.to_vec(),
            _ => Vec::new(),
        });
    };
    let first = r.feed(&mut [0x01, 0x01, 0xff], &mut sink).unwrap_err();
    assert_eq!(first.code, 1007);
    let later: Vec<_> = [&[0x41u8, 0x80, 0x00][..], &[0x81, 0x02, b'o', b'k'], &[]]
        .iter()
        .map(|bytes| r.feed(&mut bytes.to_vec(), &mut sink))
        .collect();
    assert!(got.is_empty(), "delivered after an error: {got:?}");
    assert!(later.iter().all(|r| *r == Err(first)), "{later:?}");
    assert_eq!(r.error(), Some(first));
    assert!(!r.in_message());
}

#[test]
fn first_error_is_latched_server_side() {
    // A protocol error in the middle of a fragmented message, then the rest.
    let mut r = FrameReader::new(100, true);
    let mut b = Vec::new();
    frame(&mut b, false, OP_BINARY, b"ab");
    b.extend_from_slice(&[0xa1, 0x80, 0, 0, 0, 0]); // RSV2
    let mut got = Vec::new();
    let e = r.feed(&mut b, &mut |m| got.push(own(m))).unwrap_err();
    assert_eq!(e.code, 1002);
    let mut rest = Vec::new();
    frame(&mut rest, true, OP_CONT, b"cd");
    frame(&mut rest, true, OP_TEXT, b"next");
    assert_eq!(r.feed(&mut rest, &mut |m| got.push(own(m))), Err(e));
    assert!(got.is_empty());
}

/// `feed_some` stops after a message the sink refuses more after; the rest
/// of the input, fed later, gives the remaining messages (nothing lost,
/// nothing twice).
#[test]
fn feed_some_stops_and_resumes() {
    let mut b = Vec::new();
    for i in 0..5u8 {
        frame(&mut b, true, OP_TEXT, &[b'a' + i; 3]);
        frame(&mut b, true, OP_PING, b"p");
    }
    frame(&mut b, false, OP_BINARY, b"xy");
    frame(&mut b, true, OP_CONT, b"z");
    let mut r = FrameReader::new(1 << 20, true);
    let mut got = Vec::new();
    let mut rest = b.clone();
    let mut calls = 0;
    while !rest.is_empty() {
        calls += 1;
        assert!(calls < 100);
        let n = r
            .feed_some(&mut rest, &mut |m| {
                let data = matches!(m, Message::Text(_) | Message::Binary(_));
                got.push(own(m));
                !data
            })
            .unwrap();
        rest.drain(..n);
    }
    assert_eq!(calls, 6);
    let mut want = Vec::new();
    for i in 0..5u8 {
        want.push(Owned::Text(String::from_utf8(vec![b'a' + i; 3]).unwrap()));
        want.push(Owned::Ping(b"p".to_vec()));
    }
    want.push(Owned::Binary(b"xyz".to_vec()));
    assert_eq!(got, want);
}

fn arb_msg() -> impl Strategy<Value = Owned> {
    prop_oneof![
        "\\PC{0,40}".prop_map(Owned::Text),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Owned::Binary),
        proptest::collection::vec(any::<u8>(), 0..125).prop_map(Owned::Ping),
        proptest::collection::vec(any::<u8>(), 0..125).prop_map(Owned::Pong),
    ]
}

proptest! {
    /// Encode any sequence of messages (data ones fragmented at random), cut
    /// the stream anywhere: the reader gives back exactly the messages.
    #[test]
    fn round_trip_any_chunking(msgs in proptest::collection::vec(arb_msg(), 0..8),
                               frag in 1usize..50,
                               cuts in proptest::collection::vec(any::<usize>(), 0..6)) {
        let mut b = Vec::new();
        for m in &msgs {
            match m {
                Owned::Text(_) | Owned::Binary(_) => {
                    let (op, data): (u8, &[u8]) = match m {
                        Owned::Text(t) => (OP_TEXT, t.as_bytes()),
                        Owned::Binary(d) => (OP_BINARY, d),
                        _ => unreachable!(),
                    };
                    let pieces: Vec<&[u8]> = if data.is_empty() { vec![data] } else { data.chunks(frag).collect() };
                    let n = pieces.len();
                    for (i, p) in pieces.into_iter().enumerate() {
                        frame(&mut b, i + 1 == n, if i == 0 { op } else { OP_CONT }, p);
                    }
                }
                Owned::Ping(p) => frame(&mut b, true, OP_PING, p),
                Owned::Pong(p) => frame(&mut b, true, OP_PONG, p),
                _ => unreachable!(),
            }
        }
        let (got, res) = run(&b, &cuts);
        prop_assert!(res.is_ok());
        prop_assert_eq!(got, msgs);
    }

    /// `feed_some` that stops after some messages, its rest fed again before
    /// the next chunk (as a connection waiting for Python does), across any
    /// chunking: exactly the messages.
    #[test]
    fn stops_and_resumes_any_chunking(msgs in proptest::collection::vec(arb_msg(), 0..12),
                                      cuts in proptest::collection::vec(any::<usize>(), 0..6),
                                      stops in proptest::collection::vec(any::<bool>(), 0..40)) {
        let mut b = Vec::new();
        for m in &msgs {
            match m {
                Owned::Text(t) => frame(&mut b, true, OP_TEXT, t.as_bytes()),
                Owned::Binary(d) => frame(&mut b, true, OP_BINARY, d),
                Owned::Ping(p) => frame(&mut b, true, OP_PING, p),
                Owned::Pong(p) => frame(&mut b, true, OP_PONG, p),
                _ => unreachable!(),
            }
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (b.len() + 1)).collect();
        cuts.sort();
        cuts.push(b.len());
        let mut r = FrameReader::new(1 << 20, true);
        let mut got = Vec::new();
        let mut k = 0;
        let mut start = 0;
        for c in cuts {
            let mut chunk = b[start..c].to_vec();
            start = c;
            while !chunk.is_empty() {
                let n = r.feed_some(&mut chunk, &mut |m| {
                    got.push(own(m));
                    k += 1;
                    !stops.get(k).copied().unwrap_or(false)
                }).unwrap();
                chunk.drain(..n);
            }
        }
        prop_assert_eq!(got, msgs);
    }
}
