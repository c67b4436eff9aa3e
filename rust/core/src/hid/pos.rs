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
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

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

/// Largest report a descriptor may declare, in bits (Linux's
/// `HID_MAX_BUFFER_SIZE` is 16 KiB).
pub const MAX_REPORT_BITS: u64 = 16 * 1024 * 8;

/// Largest code [`HidPosParser`] reassembles; more is dropped.
pub const MAX_SCAN_BYTES: usize = 1024 * 1024;

/// Deepest Push stack accepted.
pub const MAX_PUSH_DEPTH: usize = 32;

/// Input, Output or Feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReportKind {
    Input,
    Output,
    Feature,
}

/// An inclusive range of usages (a single usage has `min == max`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsageRange {
    pub min: u32,
    pub max: u32,
}

impl UsageRange {
    fn len(&self) -> u64 {
        u64::from(self.max - self.min) + 1
    }
}

/// One Input, Output or Feature main item: `count` elements of `size` bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub kind: ReportKind,
    /// 0 when the descriptor has no report IDs.
    pub report_id: u8,
    /// Position of the first element in the report, after the report ID
    /// byte, in bits.
    pub bit_offset: u64,
    pub size: u32,
    pub count: u32,
    /// The main item's data bits (bit 0 Constant, bit 1 Variable, ...).
    pub flags: u32,
    pub usages: Vec<UsageRange>,
    pub logical_min: i32,
    pub logical_max: i64,
}

impl Field {
    pub fn is_constant(&self) -> bool {
        self.flags & 1 != 0
    }

    /// The elements that carry `usage`: element `i` has the `i`-th usage
    /// of the item's list, and the last usage repeats for the rest (HID
    /// 1.11, 6.2.2.8), so a 56-byte Decoded Data field with one usage is
    /// elements `0..56`.
    pub fn elements_with(&self, usage: u32) -> Option<Range<u32>> {
        let total: u64 = self.usages.iter().map(UsageRange::len).sum();
        let mut index = 0u64;
        for r in &self.usages {
            if (r.min..=r.max).contains(&usage) {
                let k = index + u64::from(usage - r.min);
                if k >= u64::from(self.count) {
                    return None;
                }
                let k = k as u32;
                return Some(if u64::from(k) + 1 == total {
                    k..self.count
                } else {
                    k..k + 1
                });
            }
            index += r.len();
        }
        None
    }
}

/// A report descriptor that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DescriptorError {
    /// An item runs past the end of the descriptor.
    Truncated { offset: usize },
    /// More Push than [`MAX_PUSH_DEPTH`] allows.
    PushTooDeep { offset: usize },
    /// A report longer than [`MAX_REPORT_BITS`].
    ReportTooLarge { report_id: u8 },
    /// No Input field with usage 0x8C:0xFE (Decoded Data) of 1 to 32 bits.
    NoDecodedData,
}

impl fmt::Display for DescriptorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DescriptorError::Truncated { offset } => {
                write!(
                    f,
                    "report descriptor truncated in the item at byte {offset}"
                )
            }
            DescriptorError::PushTooDeep { offset } => {
                write!(f, "report descriptor pushes too deep at byte {offset}")
            }
            DescriptorError::ReportTooLarge { report_id } => {
                write!(
                    f,
                    "report {report_id} is larger than {MAX_REPORT_BITS} bits"
                )
            }
            DescriptorError::NoDecodedData => write!(
                f,
                "not a HID POS scanner: no input report with Decoded Data (usage 0x8C:0xFE)"
            ),
        }
    }
}

impl std::error::Error for DescriptorError {}

#[derive(Clone, Copy, Debug, Default)]
struct Globals {
    usage_page: u32,
    logical_min: i32,
    logical_max: i64,
    report_size: u32,
    report_count: u32,
    report_id: u8,
}

/// A parsed report descriptor: every Input, Output and Feature field with
/// its position, and each report's length.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportDescriptor {
    pub fields: Vec<Field>,
    /// Whether reports start with a report ID byte.
    pub uses_report_ids: bool,
    bits: BTreeMap<(ReportKind, u8), u64>,
}

impl ReportDescriptor {
    /// Parse a report descriptor (HID 1.11, 6.2.2). Long items, physical
    /// extents, units, designators, strings and delimiters are skipped.
    pub fn parse(bytes: &[u8]) -> Result<Self, DescriptorError> {
        let mut desc = ReportDescriptor::default();
        let mut g = Globals::default();
        let mut stack: Vec<Globals> = Vec::new();
        let mut usages: Vec<UsageRange> = Vec::new();
        let mut usage_min: Option<u32> = None;
        let mut i = 0usize;
        while i < bytes.len() {
            let offset = i;
            let prefix = bytes[i];
            if prefix == 0xFE {
                // Long item: bDataSize, bLongItemTag, data.
                let size = *bytes
                    .get(i + 1)
                    .ok_or(DescriptorError::Truncated { offset })?;
                i += 3 + usize::from(size);
                if i > bytes.len() {
                    return Err(DescriptorError::Truncated { offset });
                }
                continue;
            }
            let size = [0usize, 1, 2, 4][usize::from(prefix & 3)];
            let data = bytes
                .get(i + 1..i + 1 + size)
                .ok_or(DescriptorError::Truncated { offset })?;
            i += 1 + size;
            let mut raw = [0u8; 4];
            raw[..size].copy_from_slice(data);
            let unsigned = u32::from_le_bytes(raw);
            let signed = match size {
                1 => i32::from(data[0] as i8),
                2 => i32::from(i16::from_le_bytes([data[0], data[1]])),
                4 => unsigned as i32,
                _ => 0,
            };
            let full_usage = |u: u32| {
                if size == 4 {
                    u
                } else {
                    (g.usage_page << 16) | (u & 0xFFFF)
                }
            };
            match ((prefix >> 2) & 3, prefix >> 4) {
                // Main items.
                (0, tag) => {
                    let kind = match tag {
                        0x8 => Some(ReportKind::Input),
                        0x9 => Some(ReportKind::Output),
                        0xB => Some(ReportKind::Feature),
                        _ => None, // Collection, End Collection, reserved
                    };
                    if let Some(kind) = kind {
                        desc.add_field(kind, &g, unsigned, std::mem::take(&mut usages))?;
                    }
                    usages.clear();
                    usage_min = None;
                }
                // Global items.
                (1, 0x0) => g.usage_page = unsigned & 0xFFFF,
                (1, 0x1) => g.logical_min = signed,
                (1, 0x2) => {
                    // Negative only when the minimum is negative too.
                    g.logical_max = if g.logical_min >= 0 && signed < 0 {
                        i64::from(unsigned)
                    } else {
                        i64::from(signed)
                    }
                }
                (1, 0x7) => g.report_size = unsigned,
                (1, 0x8) => {
                    g.report_id = unsigned as u8;
                    desc.uses_report_ids = true;
                }
                (1, 0x9) => g.report_count = unsigned,
                (1, 0xA) => {
                    if stack.len() >= MAX_PUSH_DEPTH {
                        return Err(DescriptorError::PushTooDeep { offset });
                    }
                    stack.push(g);
                }
                (1, 0xB) => {
                    if let Some(top) = stack.pop() {
                        g = top;
                    }
                }
                // Local items.
                (2, 0x0) => {
                    let u = full_usage(unsigned);
                    usages.push(UsageRange { min: u, max: u });
                }
                (2, 0x1) => usage_min = Some(full_usage(unsigned)),
                (2, 0x2) => {
                    if let Some(min) = usage_min.take() {
                        let max = full_usage(unsigned);
                        usages.push(UsageRange {
                            min: min.min(max),
                            max: min.max(max),
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(desc)
    }

    fn add_field(
        &mut self,
        kind: ReportKind,
        g: &Globals,
        flags: u32,
        usages: Vec<UsageRange>,
    ) -> Result<(), DescriptorError> {
        let len = self.bits.entry((kind, g.report_id)).or_insert(0);
        let bits = u64::from(g.report_size) * u64::from(g.report_count);
        let end = *len + bits;
        if end > MAX_REPORT_BITS {
            return Err(DescriptorError::ReportTooLarge {
                report_id: g.report_id,
            });
        }
        self.fields.push(Field {
            kind,
            report_id: g.report_id,
            bit_offset: *len,
            size: g.report_size,
            count: g.report_count,
            flags,
            usages,
            logical_min: g.logical_min,
            logical_max: g.logical_max,
        });
        *len = end;
        Ok(())
    }

    /// A report's length in bytes, without the report ID byte.
    pub fn report_len(&self, kind: ReportKind, report_id: u8) -> Option<usize> {
        self.bits
            .get(&(kind, report_id))
            .map(|bits| bits.div_ceil(8) as usize)
    }

    /// The first field of `kind` (and `report_id`, if given) with `usage`,
    /// and the elements that carry it.
    pub fn find(
        &self,
        kind: ReportKind,
        report_id: Option<u8>,
        usage: u32,
    ) -> Option<(&Field, Range<u32>)> {
        self.fields
            .iter()
            .filter(|f| f.kind == kind && report_id.unwrap_or(f.report_id) == f.report_id)
            .find_map(|f| f.elements_with(usage).map(|r| (f, r)))
    }
}

/// Elements of one field, usable for reading: 1 to 32 bits each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Elements {
    bit_offset: u64,
    size: u32,
    count: u32,
}

impl Elements {
    fn of(field: &Field, elements: Range<u32>) -> Option<Elements> {
        if field.size == 0 || field.size > 32 || elements.is_empty() {
            return None;
        }
        Some(Elements {
            bit_offset: field.bit_offset + u64::from(elements.start) * u64::from(field.size),
            size: field.size,
            count: elements.end - elements.start,
        })
    }

    fn element_offset(&self, i: u32) -> u64 {
        self.bit_offset + u64::from(i) * u64::from(self.size)
    }

    /// Element `i`, if the report holds all of its bits.
    fn read(&self, body: &[u8], i: u32) -> Option<u32> {
        read_bits(body, self.element_offset(i), self.size)
    }

    /// The elements' low bytes, as many as the report holds.
    fn read_bytes(&self, body: &[u8]) -> Vec<u8> {
        if self.size == 8 && self.bit_offset & 7 == 0 {
            let start = (self.bit_offset / 8) as usize;
            let end = start.saturating_add(self.count as usize).min(body.len());
            return body.get(start..end).map(<[u8]>::to_vec).unwrap_or_default();
        }
        (0..self.count)
            .map_while(|i| self.read(body, i))
            .map(|v| v as u8)
            .collect()
    }
}

/// `size` (1-32) bits at `offset`, little-endian bit order as HID packs
/// them; `None` if the data is too short.
fn read_bits(data: &[u8], offset: u64, size: u32) -> Option<u32> {
    let end = offset.checked_add(u64::from(size))?;
    if size == 0 || size > 32 || end > (data.len() as u64) * 8 {
        return None;
    }
    let mut v = 0u64;
    let first = (offset / 8) as usize;
    let last = ((end - 1) / 8) as usize;
    for (n, &b) in data[first..=last].iter().enumerate() {
        v |= u64::from(b) << (8 * n);
    }
    v >>= offset % 8;
    Some((v & ((1u64 << size) - 1)) as u32)
}

fn write_bits(data: &mut [u8], offset: u64, size: u32, value: u32) {
    for bit in 0..u64::from(size.min(32)) {
        let pos = offset + bit;
        if let Some(b) = data.get_mut((pos / 8) as usize) {
            let mask = 1u8 << (pos % 8);
            if (value >> bit) & 1 != 0 {
                *b |= mask;
            } else {
                *b &= !mask;
            }
        }
    }
}

/// Which feedback an output report should give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feedback {
    /// Good-read beep (or the good-read LED if the scanner has no beep
    /// usage); set together when both are in one report.
    GoodRead,
    /// Error beep.
    Error,
}

/// One complete code from a HID POS scanner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PosScan {
    /// The AIM symbology identifier, e.g. `"]E0"`, if the scanner sent one.
    pub aim_id: Option<String>,
    /// The decoded data.
    pub data: Vec<u8>,
}

impl PosScan {
    /// The ProGlove symbology name, from the AIM identifier and the data.
    pub fn symbology(&self) -> Option<&'static str> {
        self.aim_id
            .as_deref()
            .and_then(|a| symbology_name_for(a, &self.data))
    }
}

/// Reads a HID POS scanner's scanned-data reports, reassembling codes that
/// span several reports, and builds its feedback output reports.
#[derive(Clone, Debug)]
pub struct HidPosParser {
    desc: ReportDescriptor,
    report_id: u8,
    data: Elements,
    byte_count: Option<Elements>,
    aim: Vec<Elements>,
    continued: Option<Elements>,
    pending: Vec<u8>,
    pending_aim: Option<String>,
    in_progress: bool,
}

impl HidPosParser {
    /// Parse the scanner's report descriptor (as read from
    /// `/sys/class/hidraw/*/device/report_descriptor` or
    /// `HIDIOCGRDESC`) and locate the scanned-data fields.
    pub fn new(descriptor: &[u8]) -> Result<Self, DescriptorError> {
        Self::from_descriptor(ReportDescriptor::parse(descriptor)?)
    }

    pub fn from_descriptor(desc: ReportDescriptor) -> Result<Self, DescriptorError> {
        let (data_field, elements) = desc
            .fields
            .iter()
            .filter(|f| f.kind == ReportKind::Input)
            .find_map(|f| {
                f.elements_with(usage::DECODED_DATA)
                    .and_then(|r| Elements::of(f, r))
                    .map(|e| (f, e))
            })
            .ok_or(DescriptorError::NoDecodedData)?;
        let report_id = data_field.report_id;
        let one = |u: u32| {
            desc.find(ReportKind::Input, Some(report_id), u)
                .and_then(|(f, r)| Elements::of(f, r.start..r.start + 1))
        };
        let aim = [
            usage::SYMBOLOGY_IDENTIFIER_1,
            usage::SYMBOLOGY_IDENTIFIER_2,
            usage::SYMBOLOGY_IDENTIFIER_3,
        ]
        .iter()
        .filter_map(|&u| one(u))
        .collect();
        Ok(HidPosParser {
            report_id,
            data: elements,
            byte_count: one(usage::BYTE_COUNT),
            aim,
            continued: one(usage::DECODED_DATA_CONTINUED),
            desc,
            pending: Vec::new(),
            pending_aim: None,
            in_progress: false,
        })
    }

    pub fn descriptor(&self) -> &ReportDescriptor {
        &self.desc
    }

    /// The scanned-data report's ID (0 when the descriptor has none).
    pub fn report_id(&self) -> u8 {
        self.report_id
    }

    /// Whether a code spread over several reports is partly received.
    pub fn pending(&self) -> bool {
        self.in_progress
    }

    /// Forget a partly received code.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.pending_aim = None;
        self.in_progress = false;
    }

    /// Feed one input report as read from hidraw (with its report ID byte
    /// when the descriptor uses IDs). Returns the code when it is complete;
    /// other reports, reports with "continued" set and empty reports give
    /// `None`.
    pub fn feed_report(&mut self, report: &[u8]) -> Option<PosScan> {
        let body = if self.desc.uses_report_ids {
            match report.split_first() {
                Some((&id, rest)) if id == self.report_id => rest,
                _ => return None,
            }
        } else {
            report
        };
        let mut data = self.data.read_bytes(body);
        match self.byte_count.and_then(|c| c.read(body, 0)) {
            Some(n) => data.truncate(n as usize),
            None => {
                let used = data.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
                data.truncate(used);
            }
        }
        let aim: Vec<u8> = self
            .aim
            .iter()
            .filter_map(|e| e.read(body, 0))
            .map(|v| v as u8)
            .collect();
        let continued = self
            .continued
            .and_then(|c| c.read(body, 0))
            .is_some_and(|v| v != 0);
        if !self.in_progress {
            self.pending.clear();
            self.pending_aim = None;
            self.in_progress = true;
        }
        if self.pending_aim.is_none() {
            self.pending_aim = aim_string(&aim);
        }
        let room = MAX_SCAN_BYTES.saturating_sub(self.pending.len());
        self.pending
            .extend_from_slice(&data[..data.len().min(room)]);
        if continued {
            return None;
        }
        self.in_progress = false;
        let data = std::mem::take(&mut self.pending);
        let aim_id = self.pending_aim.take();
        if data.is_empty() && aim_id.is_none() {
            return None;
        }
        Some(PosScan { aim_id, data })
    }

    /// An output report that makes the scanner give `feedback`, if its
    /// descriptor has a usage for it.
    pub fn feedback_report(&self, feedback: Feedback) -> Option<Vec<u8>> {
        let wanted: &[u32] = match feedback {
            Feedback::GoodRead => &[usage::SOUND_GOOD_READ_BEEP, usage::GOOD_READ_LED],
            Feedback::Error => &[usage::SOUND_ERROR_BEEP],
        };
        let (first, _) = wanted
            .iter()
            .find_map(|&u| self.desc.find(ReportKind::Output, None, u))?;
        let id = first.report_id;
        let len = self.desc.report_len(ReportKind::Output, id)?;
        let mut body = vec![0u8; len];
        for &u in wanted {
            if let Some((f, r)) = self.desc.find(ReportKind::Output, Some(id), u) {
                if let Some(e) = Elements::of(f, r.start..r.start + 1) {
                    write_bits(&mut body, e.bit_offset, e.size, 1);
                }
            }
        }
        if self.desc.uses_report_ids {
            body.insert(0, id);
        }
        Some(body)
    }

    /// [`feedback_report`](Self::feedback_report) for a good-read beep.
    pub fn beep_report(&self) -> Option<Vec<u8>> {
        self.feedback_report(Feedback::GoodRead)
    }
}

/// The AIM identifier from the symbology identifier bytes: zero bytes are
/// unused; a two-character identifier gets its `]`; anything that is not
/// printable ASCII is not an identifier.
fn aim_string(bytes: &[u8]) -> Option<String> {
    let s: Vec<u8> = bytes.iter().copied().filter(|&b| b != 0).collect();
    if s.is_empty() || !s.iter().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let s = String::from_utf8(s).ok()?;
    Some(if s.len() == 2 && !s.starts_with(']') {
        format!("]{s}")
    } else {
        s
    })
}

/// The ProGlove symbology name for an AIM symbology identifier
/// (`]` + symbology character + modifier, ISO/IEC 15424), e.g. `"]E0"` ->
/// `"EAN-13"`. Unknown identifiers and `]X`/`]Y`/`]Z` (other, system
/// expansion, non-barcode) give `None`.
///
/// Names follow the Streams API's spelling ("CODE 128", "QR CODE",
/// "DATA MATRIX", ...); GS1 variants (`]C1`, `]d2`, `]Q3`) are named after
/// their symbology, the AIM identifier tells them apart. UPC-A and UPC-E
/// have no identifier of their own (they are `]E0`); see
/// [`symbology_name_for`].
pub fn symbology_name(aim: &str) -> Option<&'static str> {
    let mut it = aim.chars();
    if it.next()? != ']' {
        return None;
    }
    let code = it.next()?;
    let modifier = it.next();
    Some(match code {
        'A' => "CODE 39",
        'B' => "TELEPEN",
        'C' => "CODE 128",
        'd' => "DATA MATRIX",
        'E' => match modifier {
            Some('4') => "EAN-8",
            Some('1') | Some('2') => return None, // add-on alone
            _ => "EAN-13",
        },
        'e' => "GS1 DATABAR",
        'F' => "CODABAR",
        'G' => "CODE 93",
        'H' => "CODE 11",
        'I' => "INTERLEAVED 2 OF 5",
        'K' => "CODE 16K",
        'L' => "PDF417",
        'M' => "MSI",
        'O' => "CODABLOCK",
        'P' => "PLESSEY",
        'Q' => "QR CODE",
        'R' => "IATA 2 OF 5",
        'S' => "STANDARD 2 OF 5",
        'U' => "MAXICODE",
        'z' => "AZTEC",
        'h' => "HAN XIN",
        _ => return None,
    })
}

/// [`symbology_name`], telling UPC-A (12 digits) and UPC-E (6 to 8 digits)
/// from EAN-13 under `]E0` by the data, as scanners that do not expand
/// UPC codes to 13 digits send them.
pub fn symbology_name_for(aim: &str, data: &[u8]) -> Option<&'static str> {
    let name = symbology_name(aim)?;
    if name == "EAN-13" && aim.get(..3) == Some("]E0") && data.iter().all(u8::is_ascii_digit) {
        return Some(match data.len() {
            12 => "UPC-A",
            6..=8 => "UPC-E",
            _ => name,
        });
    }
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
    const DATA_FIRST: &[u8] = &[
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

    fn access_report(aim: &[u8; 3], data: &[u8], continued: bool) -> Vec<u8> {
        let mut r = vec![0x02, data.len() as u8];
        r.extend_from_slice(aim);
        let mut d = data.to_vec();
        d.resize(56, 0);
        r.extend_from_slice(&d);
        r.extend_from_slice(&[b'x', 0, u8::from(continued)]);
        r
    }

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

        #[test]
        fn symbology_name_never_panics(s in "\\PC{0,6}") {
            let _ = symbology_name(&s);
            let _ = symbology_name_for(&s, s.as_bytes());
        }
    }
}
