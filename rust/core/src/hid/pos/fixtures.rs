//! Report descriptors and reports shared by the descriptor and parser tests.

/// A scanned-data report laid out as the Access-IS LSR116/LSR118 manuals
/// (appendix "HID reports") document their readers' report 2: ID, data
/// length, three AIM identifier bytes, 56 data bytes, a vendor
/// ("further symbology identifier") byte, a reserved byte and a flags
/// byte whose bit 0 is "data continued". The manuals give the report
/// layout, not the descriptor bytes: these are written for this test
/// from the HID POS 1.02 usages (Byte Count from the Generic Desktop
/// page), plus an output report 4 with the good-read beep, error beep
/// and good-read LED usages of the same tables.
#[rustfmt::skip]
pub(crate) const ACCESS_IS_STYLE: &[u8] = &[
    0x05, 0x8C,             // Usage Page (Bar Code Scanner)
    0x09, 0x02,             // Usage (Bar Code Scanner)
    0xA1, 0x01,             // Collection (Application)
    0x09, 0x12,             //   Usage (Scanned Data Report)
    0xA1, 0x02,             //   Collection (Logical)
    0x85, 0x02,             //     Report ID (2)
    0x15, 0x00,             //     Logical Minimum (0)
    0x26, 0xFF, 0x00,       //     Logical Maximum (255)
    0x75, 0x08,             //     Report Size (8)
    0x95, 0x01,             //     Report Count (1)
    0x05, 0x01,             //     Usage Page (Generic Desktop)
    0x09, 0x3B,             //     Usage (Byte Count)
    0x81, 0x02,             //     Input (Data,Var,Abs)
    0x05, 0x8C,             //     Usage Page (Bar Code Scanner)
    0x95, 0x03,             //     Report Count (3)
    0x09, 0xFB,             //     Usage (Symbology Identifier 1)
    0x09, 0xFC,             //     Usage (Symbology Identifier 2)
    0x09, 0xFD,             //     Usage (Symbology Identifier 3)
    0x81, 0x02,             //     Input (Data,Var,Abs)
    0x95, 0x38,             //     Report Count (56)
    0x09, 0xFE,             //     Usage (Decoded Data)
    0x82, 0x02, 0x01,       //     Input (Data,Var,Abs,Buffered Bytes)
    0x06, 0x00, 0xFF,       //     Usage Page (Vendor 0xFF00)
    0x95, 0x01,             //     Report Count (1)
    0x09, 0x01,             //     Usage (1): further symbology identifier
    0x81, 0x02,             //     Input (Data,Var,Abs)
    0x81, 0x03,             //     Input (Const): reserved
    0x05, 0x8C,             //     Usage Page (Bar Code Scanner)
    0x25, 0x01,             //     Logical Maximum (1)
    0x75, 0x01,             //     Report Size (1)
    0x09, 0xFF,             //     Usage (Decoded Data Continued)
    0x81, 0x02,             //     Input (Data,Var,Abs)
    0x75, 0x07,             //     Report Size (7)
    0x81, 0x03,             //     Input (Const): padding
    0xC0,                   //   End Collection
    0x85, 0x04,             //   Report ID (4)
    0x75, 0x01,             //   Report Size (1)
    0x95, 0x01,             //   Report Count (1)
    0x09, 0x86,             //   Usage (Sound Good Read Beep)
    0x91, 0x02,             //   Output (Data,Var,Abs)
    0x09, 0x85,             //   Usage (Sound Error Beep)
    0x91, 0x02,             //   Output (Data,Var,Abs)
    0x09, 0x7D,             //   Usage (Good Read LED)
    0x91, 0x02,             //   Output (Data,Var,Abs)
    0x75, 0x05,             //   Report Size (5)
    0x91, 0x03,             //   Output (Const): padding
    0xC0,                   // End Collection
];

/// The other order: data first, AIM identifier after it, no Byte Count
/// (trailing zeros end the data), no report IDs, usages given as a
/// Usage Minimum/Maximum range, extended (32-bit) usages, Push/Pop.
#[rustfmt::skip]
pub(crate) const DATA_FIRST: &[u8] = &[
    0x06, 0x8C, 0x00,       // Usage Page (Bar Code Scanner), 2-byte form
    0x09, 0x02,             // Usage (Bar Code Scanner)
    0xA1, 0x01,             // Collection (Application)
    0xA4,                   //   Push
    0x05, 0x09,             //   Usage Page (Button): popped below
    0xB4,                   //   Pop
    0x15, 0x00,             //   Logical Minimum (0)
    0x26, 0xFF, 0x00,       //   Logical Maximum (255)
    0x75, 0x08,             //   Report Size (8)
    0x95, 0x20,             //   Report Count (32)
    0x09, 0xFE,             //   Usage (Decoded Data)
    0x82, 0x02, 0x01,       //   Input (Data,Var,Abs,Buffered Bytes)
    0x95, 0x03,             //   Report Count (3)
    0x19, 0xFB,             //   Usage Minimum (Symbology Identifier 1)
    0x29, 0xFD,             //   Usage Maximum (Symbology Identifier 3)
    0x81, 0x02,             //   Input (Data,Var,Abs)
    0x75, 0x01,             //   Report Size (1)
    0x95, 0x01,             //   Report Count (1)
    0x0B, 0xFF, 0x00, 0x8C, 0x00, // Usage (0x8C:0xFF Continued), extended
    0x81, 0x02,             //   Input (Data,Var,Abs)
    0x75, 0x07,             //   Report Size (7)
    0x81, 0x03,             //   Input (Const)
    0xFE, 0x02, 0x10, 0xAA, 0xBB, // a long item, skipped
    0xC0,                   // End Collection
];

pub(crate) fn access_report(aim: &[u8; 3], data: &[u8], continued: bool) -> Vec<u8> {
    let mut r = vec![0x02, data.len() as u8];
    r.extend_from_slice(aim);
    let mut d = data.to_vec();
    d.resize(56, 0);
    r.extend_from_slice(&d);
    r.extend_from_slice(&[b'x', 0, u8::from(continued)]);
    r
}
