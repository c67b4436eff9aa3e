use super::*;
use proptest::prelude::*;

use crate::wire::deflate::DeflateParams;

fn params(snct: bool, cnct: bool, sbits: u8, cbits: u8) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: snct,
        client_no_context_takeover: cnct,
        server_max_window_bits: sbits,
        client_max_window_bits: cbits,
    }
}

// ---- compression --------------------------------------------------------

fn inflate_all(inf: &mut Inflater, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    inf.decompress(payload, usize::MAX, &mut out).unwrap();
    out
}

fn deflate(def: &mut Deflater, msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    def.compress(msg, &mut out).unwrap();
    out
}

#[test]
fn rfc7692_hello_vectors() {
    // 7.2.3.1: "Hello" in one message, also split over two frames.
    let mut inf = Inflater::new(15, false);
    assert_eq!(
        inflate_all(&mut inf, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]),
        b"Hello"
    );
    let frames: Vec<u8> = [&[0xf2, 0x48, 0xcd][..], &[0xc9, 0xc9, 0x07, 0x00]].concat();
    assert_eq!(
        inflate_all(&mut Inflater::new(15, false), &frames),
        b"Hello"
    );

    // 7.2.3.2: the second "Hello" refers to the first through the window.
    let mut inf = Inflater::new(15, false);
    assert_eq!(
        inflate_all(&mut inf, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]),
        b"Hello"
    );
    assert_eq!(
        inflate_all(&mut inf, &[0xf2, 0x00, 0x11, 0x00, 0x00]),
        b"Hello"
    );

    // 7.2.3.3: a stored block.
    assert_eq!(
        inflate_all(
            &mut Inflater::new(15, false),
            &[0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00]
        ),
        b"Hello"
    );

    // 7.2.3.4: a block with BFINAL set; the stream restarts afterwards.
    let mut inf = Inflater::new(15, false);
    let bfinal = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    assert_eq!(inflate_all(&mut inf, &bfinal), b"Hello");
    assert!(!inf.is_allocated());
    assert_eq!(inflate_all(&mut inf, &bfinal), b"Hello");

    // 7.2.3.5: two DEFLATE blocks in one message.
    assert_eq!(
        inflate_all(
            &mut Inflater::new(15, false),
            &[0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00]
        ),
        b"Hello"
    );
}

#[test]
fn hello_compresses_like_the_rfc() {
    // Any valid stream would do, and exact bytes may change with the
    // zlib-rs version; today they match RFC 7692 byte for byte.
    let mut def = Deflater::new(15, false, 6);
    assert_eq!(
        deflate(&mut def, b"Hello"),
        [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00] // 7.2.3.1
    );
    assert_eq!(
        deflate(&mut def, b"Hello"),
        [0xf2, 0x00, 0x11, 0x00, 0x00] // 7.2.3.2
    );
    let mut store = Deflater::new(15, false, 0);
    assert_eq!(
        deflate(&mut store, b"Hello"),
        [0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00] // 7.2.3.3
    );
}

#[test]
fn empty_message() {
    for nct in [false, true] {
        let mut def = Deflater::new(15, nct, 1);
        let mut inf = Inflater::new(15, nct);
        // Fresh stream, then empty after data, then data after empty.
        for msg in [&b""[..], b"some data here", b"", b"", b"more data"] {
            let out = deflate(&mut def, msg);
            if msg.is_empty() {
                assert_eq!(out, [0x00]);
            }
            assert_eq!(inflate_all(&mut inf, &out), msg);
        }
    }
}

#[test]
fn round_trip_with_and_without_context_takeover() {
    let messages: Vec<Vec<u8>> = (0..50)
        .map(|i| {
            format!("{{\"seq\":{i},\"scanner\":\"front-door\",\"code\":\"4006381333931\"}}")
                .into_bytes()
        })
        .collect();
    for nct in [false, true] {
        for bits in 9..=15 {
            let mut def = Deflater::new(bits, nct, 6);
            let mut inf = Inflater::new(bits, nct);
            for m in &messages {
                let c = deflate(&mut def, m);
                assert_eq!(&inflate_all(&mut inf, &c), m);
                assert_eq!(def.is_allocated(), !nct);
                assert_eq!(inf.is_allocated(), !nct);
            }
        }
    }
}

#[test]
fn context_takeover_shrinks_repeated_messages() {
    let msg = b"{\"type\":\"scan\",\"device\":\"honeywell-1900\",\"symbology\":\"EAN-13\"}";
    let mut def = Deflater::new(15, false, 1);
    let first = deflate(&mut def, msg);
    let second = deflate(&mut def, msg);
    assert!(
        second.len() * 2 < first.len(),
        "{} vs {}",
        second.len(),
        first.len()
    );
    let mut inf = Inflater::new(15, false);
    assert_eq!(inflate_all(&mut inf, &first), msg);
    assert_eq!(inflate_all(&mut inf, &second), msg);

    // Without context takeover every message is compressed alone.
    let mut def = Deflater::new(15, true, 1);
    let a = deflate(&mut def, msg);
    let b = deflate(&mut def, msg);
    assert_eq!(a, b);
    assert_eq!(a, first);
}

#[test]
fn lazy_allocation_and_release() {
    let mut def = Deflater::new(15, false, 1);
    let inf = Inflater::new(15, false);
    assert!(!def.is_allocated());
    assert!(!inf.is_allocated());
    let a = deflate(&mut def, b"abcabcabcabc");
    assert!(def.is_allocated());
    // Releasing the compressor is always legal: the next message is
    // compressed without history and still inflates on the same stream.
    def.release();
    assert!(!def.is_allocated());
    let b = deflate(&mut def, b"abcabcabcabc");
    assert_eq!(a, b);
    let mut inf = Inflater::new(15, false);
    assert_eq!(inflate_all(&mut inf, &a), b"abcabcabcabc");
    assert_eq!(inflate_all(&mut inf, &b), b"abcabcabcabc");
}

/// Deterministic incompressible bytes (xorshift).
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

#[test]
fn large_messages_grow_the_output() {
    let data = noise(1 << 20, 7);
    let mut def = Deflater::new(15, false, 1);
    let mut out = Vec::with_capacity(16); // much smaller than needed
    def.compress(&data, &mut out).unwrap();
    assert!(out.len() > data.len()); // incompressible: a little overhead
    let mut inf = Inflater::new(15, false);
    let mut back = Vec::new();
    inf.decompress(&out, data.len(), &mut back).unwrap();
    assert_eq!(back, data);

    // Highly compressible, output much larger than the input.
    let text = b"barcode ".repeat(200_000);
    let c = deflate(&mut def, &text);
    assert!(c.len() < text.len() / 50);
    assert_eq!(inflate_all(&mut inf, &c), text);
}

#[test]
fn appends_to_existing_output() {
    let mut def = Deflater::new(15, false, 1);
    let mut out = b"HDR".to_vec();
    def.compress(b"payload payload", &mut out).unwrap();
    assert_eq!(&out[..3], b"HDR");
    let mut inf = Inflater::new(15, false);
    let mut back = b"xy".to_vec();
    inf.decompress(&out[3..], 100, &mut back).unwrap();
    assert_eq!(back, b"xypayload payload");
}

#[test]
fn too_big_stops_a_bomb_early() {
    let bomb = deflate(&mut Deflater::new(15, true, 9), &vec![0u8; 10 << 20]);
    assert!(bomb.len() < 20_000, "{}", bomb.len());
    let limit = 1 << 20;
    let mut inf = Inflater::new(15, false);
    let mut out = Vec::new();
    assert_eq!(
        inf.decompress(&bomb, limit, &mut out),
        Err(InflateError::TooBig)
    );
    assert!(out.is_empty());
    assert!(
        out.capacity() <= limit + 1,
        "allocated {} for a {} limit",
        out.capacity(),
        limit
    );
    assert!(!inf.is_allocated());
}

/// A raw DEFLATE stream with its final block (BFINAL): the inflater sees
/// StreamEnd together with the last bytes.
fn final_block(msg: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::fast(), false);
    let mut out = Vec::with_capacity(msg.len() + 64);
    c.compress_vec(msg, &mut out, FlushCompress::Finish)
        .unwrap();
    out
}

#[test]
fn limit_holds_when_the_stream_ends_on_the_byte_past_it() {
    // Found by fuzzing: StreamEnd was returned before the limit check, so a
    // final block one byte over max_message was accepted.
    let msg = vec![b'z'; 1001];
    let c = final_block(&msg);
    let mut out = Vec::new();
    assert_eq!(
        Inflater::new(15, true).decompress(&c, 1000, &mut out),
        Err(InflateError::TooBig)
    );
    assert!(out.is_empty());
    let mut out = Vec::new();
    Inflater::new(15, true)
        .decompress(&c, 1001, &mut out)
        .unwrap();
    assert_eq!(out, msg);
}

#[test]
fn limit_is_exact_and_counts_existing_output() {
    let msg = vec![b'a'; 1000];
    let c = deflate(&mut Deflater::new(15, true, 1), &msg);
    let mut out = Vec::new();
    Inflater::new(15, true)
        .decompress(&c, 1000, &mut out)
        .unwrap();
    assert_eq!(out, msg);
    let mut out = Vec::new();
    assert_eq!(
        Inflater::new(15, true).decompress(&c, 999, &mut out),
        Err(InflateError::TooBig)
    );
    let mut out = vec![0u8; 10];
    assert_eq!(
        Inflater::new(15, true).decompress(&c, 1005, &mut out),
        Err(InflateError::TooBig)
    );
    assert_eq!(out.len(), 10);
    let mut out = vec![0u8; 10];
    Inflater::new(15, true)
        .decompress(&c, 1010, &mut out)
        .unwrap();
    assert_eq!(out.len(), 1010);
    // A limit of zero still admits an empty message.
    let empty = deflate(&mut Deflater::new(15, true, 1), b"");
    Inflater::new(15, true)
        .decompress(&empty, 0, &mut Vec::new())
        .unwrap();
}

#[test]
fn corrupt_data() {
    let mut inf = Inflater::new(15, false);
    let mut out = Vec::new();
    // BFINAL=1, BTYPE=11: reserved block type.
    match inf.decompress(&[0xff, 0xff, 0xff], 1 << 20, &mut out) {
        Err(InflateError::Corrupt(msg)) => assert!(!msg.is_empty()),
        other => panic!("{other:?}"),
    }
    assert!(out.is_empty());
    // A stored block whose length check fails.
    assert!(matches!(
        Inflater::new(15, false).decompress(&[0x00, 0x05, 0x00, 0x00, 0x00], 100, &mut out),
        Err(InflateError::Corrupt(_))
    ));
}

#[test]
fn compressor_respects_its_window() {
    // The second message repeats the start of the first, 2000 bytes
    // back: reachable with a 15-bit window, not with a 9-bit one.
    let first = noise(2000, 3);
    let second = first[..200].to_vec();
    let mut def = Deflater::new(15, false, 6);
    let mut inf = Inflater::new(15, false);
    let c1 = deflate(&mut def, &first);
    let c2 = deflate(&mut def, &second);
    assert!(c2.len() < 50, "{}", c2.len());
    assert_eq!(inflate_all(&mut inf, &c1), first);
    assert_eq!(inflate_all(&mut inf, &c2), second);

    let mut def = Deflater::new(9, false, 6);
    let mut inf = Inflater::new(9, false);
    let c1 = deflate(&mut def, &first);
    let c2 = deflate(&mut def, &second);
    assert!(c2.len() > 200, "{}", c2.len());
    assert_eq!(inflate_all(&mut inf, &c1), first);
    assert_eq!(inflate_all(&mut inf, &c2), second);
    // Within the window, context takeover still works with 9 bits.
    let c3 = deflate(&mut def, &second);
    assert!(c3.len() < 50, "{}", c3.len());
    assert_eq!(inflate_all(&mut inf, &c3), second);
}

/// Check that `payload` (+ tail) is a sequence of stored blocks only.
fn only_stored_blocks(payload: &[u8]) -> bool {
    let data = [payload, &TAIL[..]].concat();
    let mut i = 0;
    while i < data.len() {
        // Byte-aligned header: BFINAL=0, BTYPE=00, zero padding.
        if data[i] != 0 || i + 5 > data.len() {
            return false;
        }
        let len = u16::from_le_bytes([data[i + 1], data[i + 2]]) as usize;
        let nlen = u16::from_le_bytes([data[i + 3], data[i + 4]]) as usize;
        if len != !nlen & 0xffff {
            return false;
        }
        i += 5 + len;
    }
    i == data.len()
}

#[test]
fn eight_bit_window_uses_stored_blocks() {
    let mut def = Deflater::new(8, false, 9);
    assert!(def.is_store_only());
    let mut inf = Inflater::new(8, false);
    assert_eq!(inf.window_bits(), 9);
    for msg in [
        b"Hello Hello Hello Hello".to_vec(),
        vec![7u8; 100_000],
        vec![],
    ] {
        let c = deflate(&mut def, &msg);
        assert!(only_stored_blocks(&c), "{:02x?}", &c[..c.len().min(16)]);
        assert_eq!(inflate_all(&mut inf, &c), msg);
    }
    assert!(!Deflater::new(9, false, 1).is_store_only());
}

#[test]
fn params_build_matching_streams() {
    let p = params(true, false, 10, 12);
    let mut server_out = p.server_deflater(1);
    let mut client_in = p.client_inflater();
    let mut client_out = p.client_deflater(1);
    let mut server_in = p.server_inflater();
    assert_eq!(server_out.window_bits(), 10);
    assert!(server_out.no_context_takeover());
    assert_eq!(server_in.window_bits(), 12);
    assert!(!server_in.no_context_takeover());
    for i in 0..5 {
        let msg = format!("message number {i} message number {i}");
        let c = deflate(&mut server_out, msg.as_bytes());
        assert_eq!(inflate_all(&mut client_in, &c), msg.as_bytes());
        let c = deflate(&mut client_out, msg.as_bytes());
        assert_eq!(inflate_all(&mut server_in, &c), msg.as_bytes());
    }
}

fn message_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3000),
        // Low-entropy data exercises back-references.
        proptest::collection::vec(0u8..4, 0..6000),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn prop_round_trip(
        messages in proptest::collection::vec(message_strategy(), 1..6),
        bits in 9u8..=15,
        no_context_takeover in any::<bool>(),
        level in 0u32..=9,
    ) {
        let mut def = Deflater::new(bits, no_context_takeover, level);
        let mut inf = Inflater::new(bits, no_context_takeover);
        for m in &messages {
            let mut c = Vec::new();
            def.compress(m, &mut c).unwrap();
            prop_assert!(!c.is_empty());
            let mut back = Vec::new();
            inf.decompress(&c, m.len(), &mut back).unwrap();
            prop_assert_eq!(&back, m);
        }
    }
}

#[test]
fn shared_deflater_output_matches_a_fresh_one_per_message() {
    let msgs: Vec<Vec<u8>> = (0..50)
        .map(|i| format!("{{\"seq\":{i},\"text\":\"{}\"}}", "abc".repeat(i)).into_bytes())
        .collect();
    for bits in [9u8, 12, 15] {
        let mut shared = Deflater::shared(bits, 1);
        for m in &msgs {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            shared.compress(m, &mut a).unwrap();
            assert!(shared.is_allocated(), "kept between messages");
            Deflater::new(bits, true, 1).compress(m, &mut b).unwrap();
            assert_eq!(a, b, "bits {bits}");
            let mut inf = Inflater::new(bits, true);
            let mut plain = Vec::new();
            inf.decompress(&a, usize::MAX, &mut plain).unwrap();
            assert_eq!(&plain, m);
        }
    }
}
