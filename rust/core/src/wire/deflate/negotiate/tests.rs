use super::*;
use proptest::prelude::*;

fn cfg() -> DeflateConfig {
    DeflateConfig::default()
}

/// Negotiate a single header value with the default config.
fn neg(value: &str) -> Option<(DeflateParams, String)> {
    negotiate(&[value.as_bytes()], &cfg()).expect("header should parse")
}

fn params(snct: bool, cnct: bool, sbits: u8, cbits: u8) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: snct,
        client_no_context_takeover: cnct,
        server_max_window_bits: sbits,
        client_max_window_bits: cbits,
    }
}

// ---- negotiation ------------------------------------------------------

#[test]
fn bare_offer() {
    let (p, resp) = neg("permessage-deflate").unwrap();
    assert_eq!(p, DeflateParams::default());
    assert_eq!(resp, "permessage-deflate");
}

#[test]
fn no_offer_or_other_extensions() {
    assert_eq!(negotiate(&[], &cfg()), Ok(None));
    assert_eq!(neg(""), None);
    assert_eq!(neg("x-webkit-deflate-frame"), None);
    assert_eq!(neg("foo; bar=1, baz"), None);
}

#[test]
fn disabled_config_never_negotiates() {
    let c = DeflateConfig {
        enabled: false,
        ..cfg()
    };
    assert_eq!(negotiate(&[b"permessage-deflate"], &c), Ok(None));
    // Not even a malformed header matters then.
    assert_eq!(negotiate(&[b"\"broken"], &c), Ok(None));
}

#[test]
fn server_no_context_takeover_param() {
    let (p, resp) = neg("permessage-deflate; server_no_context_takeover").unwrap();
    assert_eq!(p, params(true, false, 15, 15));
    assert_eq!(resp, "permessage-deflate; server_no_context_takeover");
    // Forced by config even when not asked.
    let c = DeflateConfig {
        server_no_context_takeover: true,
        ..cfg()
    };
    let (p, resp) = negotiate(&[b"permessage-deflate"], &c).unwrap().unwrap();
    assert_eq!(p, params(true, false, 15, 15));
    assert_eq!(resp, "permessage-deflate; server_no_context_takeover");
    // With a value: declined.
    assert_eq!(
        neg("permessage-deflate; server_no_context_takeover=1"),
        None
    );
}

#[test]
fn client_no_context_takeover_param() {
    let (p, resp) = neg("permessage-deflate; client_no_context_takeover").unwrap();
    assert_eq!(p, params(false, true, 15, 15));
    assert_eq!(resp, "permessage-deflate; client_no_context_takeover");
    assert_eq!(
        neg("permessage-deflate; client_no_context_takeover=\"x\""),
        None
    );
}

#[test]
fn server_max_window_bits_param() {
    for bits in 9..=15u8 {
        let (p, resp) = neg(&format!(
            "permessage-deflate; server_max_window_bits={bits}"
        ))
        .unwrap();
        assert_eq!(p, params(false, false, bits, 15));
        assert_eq!(
            resp,
            format!("permessage-deflate; server_max_window_bits={bits}")
        );
    }
    // 8 cannot be honoured by zlib: declined.
    assert_eq!(neg("permessage-deflate; server_max_window_bits=8"), None);
    // A value is required in an offer.
    assert_eq!(neg("permessage-deflate; server_max_window_bits"), None);
}

#[test]
fn server_max_window_bits_config() {
    let c = DeflateConfig {
        server_max_window_bits: 12,
        ..cfg()
    };
    let run = |v: &str| negotiate(&[v.as_bytes()], &c).unwrap().unwrap();
    // Announced even when the client did not ask.
    let (p, resp) = run("permessage-deflate");
    assert_eq!(p.server_max_window_bits, 12);
    assert_eq!(resp, "permessage-deflate; server_max_window_bits=12");
    // The smaller of the offer and the config.
    assert_eq!(
        run("permessage-deflate; server_max_window_bits=14").1,
        "permessage-deflate; server_max_window_bits=12"
    );
    assert_eq!(
        run("permessage-deflate; server_max_window_bits=10").1,
        "permessage-deflate; server_max_window_bits=10"
    );
    // Out-of-range config values are clamped to what zlib can do.
    let c8 = DeflateConfig {
        server_max_window_bits: 8,
        ..cfg()
    };
    let (p, _) = negotiate(&[b"permessage-deflate"], &c8).unwrap().unwrap();
    assert_eq!(p.server_max_window_bits, 9);
}

#[test]
fn client_max_window_bits_param() {
    // Without a value: supported, but no limit is imposed or answered.
    let (p, resp) = neg("permessage-deflate; client_max_window_bits").unwrap();
    assert_eq!(p, params(false, false, 15, 15));
    assert_eq!(resp, "permessage-deflate");
    // With a value: binding on the client, echoed; 8 is fine to inflate.
    for bits in 8..=15u8 {
        let (p, resp) = neg(&format!(
            "permessage-deflate; client_max_window_bits={bits}"
        ))
        .unwrap();
        assert_eq!(p, params(false, false, 15, bits));
        assert_eq!(
            resp,
            format!("permessage-deflate; client_max_window_bits={bits}")
        );
        assert!(p.server_inflater().window_bits() >= 9);
    }
}

#[test]
fn all_parameters_together() {
    let (p, resp) = neg(
        "permessage-deflate; client_max_window_bits=10; server_max_window_bits=11; \
         client_no_context_takeover; server_no_context_takeover",
    )
    .unwrap();
    assert_eq!(p, params(true, true, 11, 10));
    assert_eq!(
        resp,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=11; client_max_window_bits=10"
    );
}

#[test]
fn invalid_values_are_declined() {
    for v in [
        "server_max_window_bits=7",
        "server_max_window_bits=16",
        "server_max_window_bits=08",
        "server_max_window_bits=015",
        "server_max_window_bits=abc",
        "server_max_window_bits=\"\"",
        "server_max_window_bits=\" 9\"",
        "server_max_window_bits=-9",
        "client_max_window_bits=7",
        "client_max_window_bits=0",
        "client_max_window_bits=100",
        "client_max_window_bits=\"1 0\"",
        "server_no_context_takeover=true",
        "client_no_context_takeover=0",
        "unknown_param",
        "unknown_param=1",
        "x-server_max_window_bits=10",
    ] {
        assert_eq!(neg(&format!("permessage-deflate; {v}")), None, "{v}");
    }
}

#[test]
fn duplicate_parameters_are_declined() {
    for v in [
        "server_no_context_takeover; server_no_context_takeover",
        "client_no_context_takeover; client_no_context_takeover",
        "server_max_window_bits=10; server_max_window_bits=10",
        "client_max_window_bits; client_max_window_bits=10",
        "client_max_window_bits=10; CLIENT_MAX_WINDOW_BITS=10",
    ] {
        assert_eq!(neg(&format!("permessage-deflate; {v}")), None, "{v}");
    }
}

#[test]
fn first_acceptable_offer_wins() {
    // Autobahn 13.7: the 8-bit offer is declined, the next one accepted.
    let (p, resp) = neg(
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=8; \
         client_max_window_bits, permessage-deflate; server_no_context_takeover; \
         client_max_window_bits, permessage-deflate; client_max_window_bits",
    )
    .unwrap();
    assert_eq!(p, params(true, false, 15, 15));
    assert_eq!(resp, "permessage-deflate; server_no_context_takeover");
    // An invalid offer followed by a plain one.
    let (p, _) =
        neg("permessage-deflate; foo, permessage-deflate; client_max_window_bits=9").unwrap();
    assert_eq!(p, params(false, false, 15, 9));
    // The first of two acceptable offers.
    let (p, _) = neg("permessage-deflate; server_max_window_bits=10, permessage-deflate").unwrap();
    assert_eq!(p.server_max_window_bits, 10);
}

#[test]
fn several_header_lines() {
    let headers: [&[u8]; 3] = [
        b"x-foo",
        b"permessage-deflate; bogus",
        b"permessage-deflate; client_no_context_takeover, permessage-deflate",
    ];
    let (p, _) = negotiate(&headers, &cfg()).unwrap().unwrap();
    assert_eq!(p, params(false, true, 15, 15));
}

#[test]
fn whitespace_quotes_and_case() {
    let (p, resp) = neg(
        "  PerMessage-Deflate ;client_max_window_bits = \"10\"\t;  Server_No_Context_Takeover  ",
    )
    .unwrap();
    assert_eq!(p, params(true, false, 15, 10));
    assert_eq!(
        resp,
        "permessage-deflate; server_no_context_takeover; client_max_window_bits=10"
    );
    // Escapes inside quoted strings are undone.
    let (p, _) = neg(r#"permessage-deflate; server_max_window_bits="1\2""#).unwrap();
    assert_eq!(p.server_max_window_bits, 12);
    // Empty list elements are ignored.
    assert!(neg(" , ,permessage-deflate,, ").is_some());
    // Quoted values with arbitrary content in other extensions are fine.
    assert!(neg(r#"x-foo; a="b, c; d", permessage-deflate"#).is_some());
}

#[test]
fn malformed_headers_fail_the_handshake() {
    for v in [
        "permessage-deflate; client_max_window_bits=\"10",
        "permessage-deflate; x=\"a\\",
        "permessage-deflate; =5",
        "permessage-deflate;",
        "permessage-deflate; a=",
        ";permessage-deflate",
        "permessage-deflate client_max_window_bits",
        "perm@ssage-deflate",
        "permessage-deflate; a b",
        "permessage-deflate; a=b c",
        "permessage-deflate; a=\"b\"c",
        "x-foo=1, permessage-deflate",
        "permessage-deflate; a=\"\x01\"",
        "permessage-dé",
    ] {
        let err = negotiate(&[v.as_bytes()], &cfg()).unwrap_err();
        assert!(
            matches!(err, NegotiationError::Malformed { .. }),
            "{v}: {err}"
        );
        assert!(
            err.to_string()
                .starts_with("malformed Sec-WebSocket-Extensions header: "),
            "{v}: {err}"
        );
    }
    // A malformed second header fails even after an acceptable offer.
    assert!(negotiate(&[b"permessage-deflate", b"\"x"], &cfg()).is_err());
}

#[test]
fn client_offer_values() {
    assert_eq!(
        client_offer(None, false),
        "permessage-deflate; client_max_window_bits"
    );
    assert_eq!(
        client_offer(Some(12), true),
        "permessage-deflate; client_no_context_takeover; client_max_window_bits=12"
    );
    assert_eq!(
        client_offer(Some(3), false),
        "permessage-deflate; client_max_window_bits=8"
    );
}

#[test]
fn client_accept_valid_responses() {
    assert_eq!(
        client_accept(b"permessage-deflate", None, false),
        Ok(DeflateParams::default())
    );
    assert_eq!(
        client_accept(
            b"permessage-deflate; server_no_context_takeover; server_max_window_bits=8; \
              client_max_window_bits=9",
            None,
            false
        ),
        Ok(params(true, false, 8, 9))
    );
    // Our own promises hold even when the server does not repeat them.
    assert_eq!(
        client_accept(b"permessage-deflate", Some(11), true),
        Ok(params(false, true, 15, 11))
    );
    assert_eq!(
        client_accept(
            b"Permessage-Deflate; client_max_window_bits=\"10\"",
            Some(11),
            false
        ),
        Ok(params(false, false, 15, 10))
    );
    // The server may ask for client_no_context_takeover on its own.
    assert_eq!(
        client_accept(
            b"permessage-deflate; client_no_context_takeover",
            None,
            false
        ),
        Ok(params(false, true, 15, 15))
    );
}

#[test]
fn client_accept_rejects_bad_responses() {
    for v in [
        "",
        "x-foo",
        "permessage-deflate, permessage-deflate",
        "permessage-deflate, x-foo",
        "permessage-deflate; foo",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; client_max_window_bits=12",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; \"",
    ] {
        assert!(client_accept(v.as_bytes(), Some(11), false).is_err(), "{v}");
    }
}

#[test]
fn client_and_server_agree() {
    for (bits, nct) in [
        (None, false),
        (Some(9), true),
        (Some(15), false),
        (Some(8), true),
    ] {
        for server_bits in [9, 12, 15] {
            let c = DeflateConfig {
                server_max_window_bits: server_bits,
                ..cfg()
            };
            let offer = client_offer(bits, nct);
            let (server_view, response) = negotiate(&[offer.as_bytes()], &c).unwrap().unwrap();
            let client_view = client_accept(response.as_bytes(), bits, nct).unwrap();
            assert_eq!(server_view, client_view, "{offer} -> {response}");
        }
    }
}

#[test]
fn config_defaults() {
    let c = DeflateConfig::default();
    assert!(c.enabled);
    assert_eq!(c.server_max_window_bits, 15);
    assert!(!c.server_no_context_takeover);
    assert_eq!(c.level, 1);
    assert_eq!(c.min_size, 32);
    assert!(!c.should_compress(31));
    assert!(c.should_compress(32));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn prop_negotiate_never_panics(header in "[ -~]{0,80}") {
        let _ = negotiate(&[header.as_bytes()], &DeflateConfig::default());
        let _ = client_accept(header.as_bytes(), None, false);
    }
}
