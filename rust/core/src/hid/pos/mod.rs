//! HID POS barcode scanners: report descriptors, scanned-data reports,
//! feedback output reports, and AIM symbology identifiers.
//!
//! A scanner in "HID POS" mode (USB HID usage page 0x8C, Bar Code Scanner,
//! from the USB-IF *HID Point of Sale Usage Tables* 1.02) sends each code in
//! an input report, the *Scanned Data Report* (usage 0x12), whose fields
//! are, by usage:
//!
//! | usage | name | |
//! |---|---|---|
//! | 0x8C:0xFB-0xFD | Symbology Identifier 1-3 | the AIM identifier, e.g. `]E0` |
//! | 0x8C:0xFE | Decoded Data | the code's bytes, zero padded (Buffered Bytes) |
//! | 0x8C:0xFF | Decoded Data Continued | 1: the next report continues this code |
//! | 0x01:0x3B | Byte Count (Generic Desktop) | bytes of Decoded Data in use |
//!
//! Where the fields sit differs from scanner to scanner (Access-IS readers
//! put the AIM identifier before the data, others after it), so
//! [`ReportDescriptor`] parses the device's report descriptor (items, usage
//! pages, report IDs, sizes and counts, input/output/feature, push/pop) and
//! [`HidPosParser`] reads the fields where the descriptor puts them. Without
//! a Byte Count the data ends at its trailing zero bytes.
//!
//! Feedback goes the other way in output reports: [`HidPosParser::beep_report`]
//! builds one that sets *Sound Good Read Beep* (0x86) or, failing that,
//! *Good Read LED* (0x7D); [`Feedback::Error`] uses *Sound Error Beep*
//! (0x85). Scanners that only take vendor commands get `None`.
//!
//! [`symbology_name`] maps AIM identifiers (ISO/IEC 15424) to the
//! symbology names of ProGlove's Streams API.

mod aim;
mod descriptor;
#[cfg(test)]
mod fixtures;
mod parser;

pub use aim::{symbology_name, symbology_name_for};
pub use descriptor::{
    DescriptorError, Field, ReportDescriptor, ReportKind, UsageRange, MAX_PUSH_DEPTH,
    MAX_REPORT_BITS,
};
pub use parser::{Feedback, HidPosParser, PosScan, MAX_SCAN_BYTES};

/// Usages (page in the high 16 bits, id in the low 16).
pub mod usage {
    pub const BAR_CODE_SCANNER: u32 = 0x008C_0002;
    pub const SCANNED_DATA_REPORT: u32 = 0x008C_0012;
    pub const GOOD_READ_LED: u32 = 0x008C_007D;
    pub const SOUND_ERROR_BEEP: u32 = 0x008C_0085;
    pub const SOUND_GOOD_READ_BEEP: u32 = 0x008C_0086;
    pub const SOUND_NOT_ON_FILE_BEEP: u32 = 0x008C_0087;
    pub const SYMBOLOGY_IDENTIFIER_1: u32 = 0x008C_00FB;
    pub const SYMBOLOGY_IDENTIFIER_2: u32 = 0x008C_00FC;
    pub const SYMBOLOGY_IDENTIFIER_3: u32 = 0x008C_00FD;
    pub const DECODED_DATA: u32 = 0x008C_00FE;
    pub const DECODED_DATA_CONTINUED: u32 = 0x008C_00FF;
    /// Generic Desktop page, Byte Count.
    pub const BYTE_COUNT: u32 = 0x0001_003B;
}
