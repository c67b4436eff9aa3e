use super::*;
use proptest::prelude::*;

use crate::hid::pos::fixtures::ACCESS_IS_STYLE;
use crate::hid::pos::{usage, Feedback, HidPosParser};

#[test]
fn parses_descriptor_fields() {
    let d = ReportDescriptor::parse(ACCESS_IS_STYLE).unwrap();
    assert!(d.uses_report_ids);
    assert_eq!(d.report_len(ReportKind::Input, 2), Some(63));
    assert_eq!(d.report_len(ReportKind::Output, 4), Some(1));
    assert_eq!(d.report_len(ReportKind::Feature, 2), None);
    let (f, r) = d
        .find(ReportKind::Input, Some(2), usage::DECODED_DATA)
        .unwrap();
    assert_eq!((f.bit_offset, f.size, f.count, r), (32, 8, 56, 0..56));
    assert_eq!(f.flags, 0x102);
    let (f, r) = d
        .find(ReportKind::Input, None, usage::SYMBOLOGY_IDENTIFIER_2)
        .unwrap();
    assert_eq!((f.bit_offset, r), (8, 1..2));
    let (f, _) = d.find(ReportKind::Input, None, usage::BYTE_COUNT).unwrap();
    assert_eq!(f.bit_offset, 0);
    let (f, _) = d
        .find(ReportKind::Input, None, usage::DECODED_DATA_CONTINUED)
        .unwrap();
    assert_eq!((f.bit_offset, f.size, f.logical_max), (62 * 8, 1, 1));
    assert!(d
        .find(ReportKind::Input, Some(3), usage::DECODED_DATA)
        .is_none());
    let consts = d.fields.iter().filter(|f| f.is_constant()).count();
    assert_eq!(consts, 3);
}

#[test]
fn descriptor_errors() {
    assert_eq!(
        HidPosParser::new(&[]).unwrap_err(),
        DescriptorError::NoDecodedData
    );
    // A keyboard's descriptor is not a scanner's.
    #[rustfmt::skip]
    let keyboard = [
        0x05, 0x01, 0x09, 0x06, 0xA1, 0x01, 0x05, 0x07, 0x19, 0xE0, 0x29, 0xE7,
        0x15, 0x00, 0x25, 0x01, 0x75, 0x01, 0x95, 0x08, 0x81, 0x02, 0xC0,
    ];
    assert!(ReportDescriptor::parse(&keyboard).is_ok());
    assert_eq!(
        HidPosParser::new(&keyboard).unwrap_err(),
        DescriptorError::NoDecodedData
    );
    assert_eq!(
        ReportDescriptor::parse(&[0x05]).unwrap_err(),
        DescriptorError::Truncated { offset: 0 }
    );
    assert_eq!(
        ReportDescriptor::parse(&[0xC0, 0x27, 1, 2]).unwrap_err(),
        DescriptorError::Truncated { offset: 1 }
    );
    assert_eq!(
        ReportDescriptor::parse(&[0xFE, 0x05, 0x00, 1]).unwrap_err(),
        DescriptorError::Truncated { offset: 0 }
    );
    assert_eq!(
        ReportDescriptor::parse(&[0xA4; 40]).unwrap_err(),
        DescriptorError::PushTooDeep { offset: 32 }
    );
    let huge = [0x75, 0x20, 0x97, 0xFF, 0xFF, 0xFF, 0xFF, 0x81, 0x02];
    assert_eq!(
        ReportDescriptor::parse(&huge).unwrap_err(),
        DescriptorError::ReportTooLarge { report_id: 0 }
    );
    // Zero-bit decoded data cannot be read.
    let zero = [0x05, 0x8C, 0x75, 0x00, 0x95, 0x10, 0x09, 0xFE, 0x81, 0x02];
    assert_eq!(
        HidPosParser::new(&zero).unwrap_err(),
        DescriptorError::NoDecodedData
    );
    assert!(DescriptorError::NoDecodedData
        .to_string()
        .contains("0x8C:0xFE"));
}

#[test]
fn elements_with_usage_lists() {
    let f = Field {
        kind: ReportKind::Input,
        report_id: 0,
        bit_offset: 0,
        size: 8,
        count: 10,
        flags: 2,
        usages: vec![UsageRange { min: 1, max: 3 }, UsageRange { min: 7, max: 7 }],
        logical_min: 0,
        logical_max: 255,
    };
    assert_eq!(f.elements_with(1), Some(0..1));
    assert_eq!(f.elements_with(3), Some(2..3));
    assert_eq!(f.elements_with(7), Some(3..10));
    assert_eq!(f.elements_with(4), None);
    let short = Field { count: 2, ..f };
    assert_eq!(short.elements_with(3), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_descriptors_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(d) = ReportDescriptor::parse(&bytes) {
            for f in &d.fields {
                prop_assert!(f.bit_offset + u64::from(f.size) * u64::from(f.count) <= MAX_REPORT_BITS);
            }
            if let Ok(p) = HidPosParser::from_descriptor(d) {
                let _ = p.beep_report();
                let _ = p.feedback_report(Feedback::Error);
            }
        }
    }
}
