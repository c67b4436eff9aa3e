use super::*;
use proptest::prelude::*;

#[test]
fn symbology_names() {
    for (aim, name) in [
        ("]C0", "CODE 128"),
        ("]C1", "CODE 128"),
        ("]E0", "EAN-13"),
        ("]E3", "EAN-13"),
        ("]E4", "EAN-8"),
        ("]Q1", "QR CODE"),
        ("]Q3", "QR CODE"),
        ("]d1", "DATA MATRIX"),
        ("]d2", "DATA MATRIX"),
        ("]A0", "CODE 39"),
        ("]I0", "INTERLEAVED 2 OF 5"),
        ("]e0", "GS1 DATABAR"),
        ("]L0", "PDF417"),
        ("]F0", "CODABAR"),
        ("]z0", "AZTEC"),
        ("]G0", "CODE 93"),
        ("]U0", "MAXICODE"),
    ] {
        assert_eq!(symbology_name(aim), Some(name), "{aim}");
    }
    for aim in ["", "]", "E0", "]X0", "]Z0", "]E1", "]?0", "]Y"] {
        assert_eq!(symbology_name(aim), None, "{aim}");
    }
    assert_eq!(symbology_name("]C"), Some("CODE 128"));
    assert_eq!(symbology_name_for("]E0", b"4006381333931"), Some("EAN-13"));
    assert_eq!(symbology_name_for("]E0", b"012345678905"), Some("UPC-A"));
    assert_eq!(symbology_name_for("]E0", b"01234565"), Some("UPC-E"));
    assert_eq!(symbology_name_for("]E4", b"96385074"), Some("EAN-8"));
    assert_eq!(symbology_name_for("]C0", b"012345678905"), Some("CODE 128"));
    assert_eq!(symbology_name_for("]X0", b"1"), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn symbology_name_never_panics(s in "\\PC{0,6}") {
        let _ = symbology_name(&s);
        let _ = symbology_name_for(&s, s.as_bytes());
    }
}
