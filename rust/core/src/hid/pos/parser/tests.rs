use super::*;
use proptest::prelude::*;

use crate::hid::pos::fixtures::{access_report, ACCESS_IS_STYLE, DATA_FIRST};

#[test]
fn single_report_code() {
    let mut p = HidPosParser::new(ACCESS_IS_STYLE).unwrap();
    assert_eq!(p.report_id(), 2);
    let scan = p
        .feed_report(&access_report(b"]E0", b"4006381333931", false))
        .unwrap();
    assert_eq!(scan.aim_id.as_deref(), Some("]E0"));
    assert_eq!(scan.data, b"4006381333931");
    assert_eq!(scan.symbology(), Some("EAN-13"));
    // Zero bytes inside the data are data (the length says so).
    let scan = p
        .feed_report(&access_report(b"]C0", b"A\0B\0", false))
        .unwrap();
    assert_eq!(scan.data, b"A\0B\0");
}

#[test]
fn multi_report_reassembly() {
    // As in the manual's example: a 60-byte boarding pass (IATA BCBP)
    // in a QR code, 56 bytes in the first report ("continued") and 4
    // in the second.
    let pass = b"M1DOE/JANE            EABC123 LHRFRALH 0901 123Y012A0042 100";
    assert_eq!(pass.len(), 60);
    let mut p = HidPosParser::new(ACCESS_IS_STYLE).unwrap();
    assert_eq!(
        p.feed_report(&access_report(b"]Q0", &pass[..56], true)),
        None
    );
    assert!(p.pending());
    let scan = p
        .feed_report(&access_report(b"]Q0", &pass[56..], false))
        .unwrap();
    assert!(!p.pending());
    assert_eq!(scan.data, pass);
    assert_eq!(scan.aim_id.as_deref(), Some("]Q0"));
    assert_eq!(scan.symbology(), Some("QR CODE"));
    // Later parts without an identifier keep the first one's.
    p.feed_report(&access_report(b"]d2", b"0104012345678901", true));
    let scan = p
        .feed_report(&access_report(&[0; 3], b"21ABC", false))
        .unwrap();
    assert_eq!(scan.data, b"010401234567890121ABC");
    assert_eq!(scan.aim_id.as_deref(), Some("]d2"));
}

#[test]
fn other_reports_and_junk() {
    let mut p = HidPosParser::new(ACCESS_IS_STYLE).unwrap();
    assert_eq!(p.feed_report(&[]), None);
    assert_eq!(p.feed_report(&[0x04, 0x01]), None);
    assert_eq!(p.feed_report(&[0x02]), None);
    // Empty scan: nothing.
    assert_eq!(p.feed_report(&access_report(&[0; 3], b"", false)), None);
    // A short report: the data that is there, length clamped.
    let mut r = access_report(b"]A0", b"CODE39", false);
    r.truncate(8);
    let scan = p.feed_report(&r).unwrap();
    assert_eq!(scan.data, b"COD");
    assert_eq!(scan.symbology(), Some("CODE 39"));
    // A length larger than the field is clamped to the field.
    let mut r = access_report(b"]A0", b"X", false);
    r[1] = 200;
    assert_eq!(p.feed_report(&r).unwrap().data.len(), 56);
    // A non-ASCII identifier is no identifier.
    let scan = p
        .feed_report(&access_report(&[0xFF, b'E', b'0'], b"1", false))
        .unwrap();
    assert_eq!(scan.aim_id, None);
    p.feed_report(&access_report(b"]E0", b"1", true));
    p.reset();
    assert!(!p.pending());
}

#[test]
fn data_first_layout() {
    let d = ReportDescriptor::parse(DATA_FIRST).unwrap();
    assert!(!d.uses_report_ids);
    assert_eq!(d.report_len(ReportKind::Input, 0), Some(36));
    let mut p = HidPosParser::from_descriptor(d).unwrap();
    let report = |data: &[u8], aim: &[u8; 3], cont: bool| {
        let mut r = data.to_vec();
        r.resize(32, 0);
        r.extend_from_slice(aim);
        r.push(u8::from(cont) | 0xF0); // padding bits set: ignored
        r
    };
    let scan = p
        .feed_report(&report(b"012345678905", b"]E0", false))
        .unwrap();
    assert_eq!(scan.data, b"012345678905");
    assert_eq!(scan.symbology(), Some("UPC-A"));
    assert_eq!(
        p.feed_report(&report(b"https://example.com/", b"]Q1", true)),
        None
    );
    let scan = p.feed_report(&report(b"a?b=c", b"]Q1", false)).unwrap();
    assert_eq!(scan.data, b"https://example.com/a?b=c");
    // No output usages: no beep.
    assert_eq!(p.beep_report(), None);
    assert_eq!(p.feedback_report(Feedback::Error), None);
}

#[test]
fn bit_packed_fields() {
    // 7-bit decoded-data elements after a 3-bit field: nothing is byte
    // aligned.
    #[rustfmt::skip]
    let desc = [
        0x05, 0x8C, 0x09, 0x02, 0xA1, 0x01,
        0x75, 0x03, 0x95, 0x01, 0x09, 0xFF, 0x81, 0x02, // 3-bit "continued"
        0x75, 0x07, 0x95, 0x04, 0x09, 0xFE, 0x81, 0x02, // 4 x 7 bits
        0x75, 0x01, 0x95, 0x01, 0x81, 0x03,
        0xC0,
    ];
    let mut p = HidPosParser::new(&desc).unwrap();
    let mut body = [0u8; 4];
    write_bits(&mut body, 0, 3, 0);
    for (i, c) in b"Hi!".iter().enumerate() {
        write_bits(&mut body, 3 + 7 * i as u64, 7, u32::from(*c));
    }
    let scan = p.feed_report(&body).unwrap();
    assert_eq!(scan.data, b"Hi!");
    assert_eq!(scan.aim_id, None);
    write_bits(&mut body, 0, 3, 1);
    assert_eq!(p.feed_report(&body), None);
    write_bits(&mut body, 0, 3, 0);
    assert_eq!(p.feed_report(&body).unwrap().data, b"Hi!Hi!");
}

#[test]
fn beep_and_error_reports() {
    let p = HidPosParser::new(ACCESS_IS_STYLE).unwrap();
    // Report 4, good-read beep (bit 0) and good-read LED (bit 2).
    assert_eq!(p.beep_report(), Some(vec![0x04, 0b101]));
    assert_eq!(p.feedback_report(Feedback::Error), Some(vec![0x04, 0b010]));
    // An LED-only scanner lights its LED.
    #[rustfmt::skip]
    let led_only = [
        0x05, 0x8C, 0x09, 0x02, 0xA1, 0x01,
        0x75, 0x08, 0x95, 0x08, 0x09, 0xFE, 0x81, 0x02,
        0x75, 0x04, 0x95, 0x02, 0x09, 0x01, 0x09, 0x7D, 0x91, 0x02,
        0xC0,
    ];
    let p = HidPosParser::new(&led_only).unwrap();
    assert_eq!(p.beep_report(), Some(vec![0x10]));
    assert_eq!(p.feedback_report(Feedback::Error), None);
}

#[test]
fn bits() {
    let data = [0b1010_1100, 0b0000_0011];
    assert_eq!(read_bits(&data, 2, 3), Some(0b011));
    assert_eq!(read_bits(&data, 6, 4), Some(0b1110));
    assert_eq!(read_bits(&data, 0, 16), Some(0x03AC));
    assert_eq!(read_bits(&data, 9, 8), None);
    assert_eq!(read_bits(&data, u64::MAX, 8), None);
    assert_eq!(read_bits(&data, 0, 0), None);
    assert_eq!(read_bits(&[0xFF; 5], 4, 32), Some(u32::MAX));
    let mut buf = [0u8; 2];
    write_bits(&mut buf, 6, 4, 0b1011);
    assert_eq!(buf, [0b1100_0000, 0b0000_0010]);
    write_bits(&mut buf, 100, 8, 0xFF);
}

#[test]
fn aim_strings() {
    assert_eq!(aim_string(b"]E0").as_deref(), Some("]E0"));
    assert_eq!(aim_string(b"Q1\0").as_deref(), Some("]Q1"));
    assert_eq!(aim_string(b"\0\0\0"), None);
    assert_eq!(aim_string(b"d").as_deref(), Some("d"));
    assert_eq!(aim_string(b"] 0"), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn mutated_descriptors_and_reports_never_panic(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        reports in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..80), 0..8),
    ) {
        let mut desc = ACCESS_IS_STYLE.to_vec();
        for (i, b) in flips {
            let at = i.index(desc.len());
            desc[at] = b;
        }
        if let Ok(mut p) = HidPosParser::new(&desc) {
            for r in &reports {
                if let Some(scan) = p.feed_report(r) {
                    prop_assert!(scan.data.len() <= MAX_SCAN_BYTES);
                    let _ = scan.symbology();
                }
            }
            let _ = p.beep_report();
        }
    }

    #[test]
    fn arbitrary_reports_never_panic(
        reports in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..80), 0..16),
    ) {
        let mut p = HidPosParser::new(ACCESS_IS_STYLE).unwrap();
        let mut q = HidPosParser::new(DATA_FIRST).unwrap();
        for r in &reports {
            let _ = p.feed_report(r);
            let _ = q.feed_report(r);
        }
    }

    #[test]
    fn reassembly_round_trip(data in prop::collection::vec(1u8..=255, 1..400)) {
        let mut p = HidPosParser::new(ACCESS_IS_STYLE).unwrap();
        let parts: Vec<&[u8]> = data.chunks(56).collect();
        let mut got = None;
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let r = p.feed_report(&access_report(b"]L0", part, !last));
            prop_assert_eq!(r.is_some(), last);
            got = r;
        }
        let scan = got.unwrap();
        prop_assert_eq!(&scan.data, &data);
        prop_assert_eq!(scan.symbology(), Some("PDF417"));
    }
}
