//! HID report descriptors (HID 1.11, 6.2.2): where each Input, Output and
//! Feature field sits in its report.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

/// Largest report a descriptor may declare, in bits (Linux's
/// `HID_MAX_BUFFER_SIZE` is 16 KiB).
pub const MAX_REPORT_BITS: u64 = 16 * 1024 * 8;

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

#[cfg(test)]
mod tests;
