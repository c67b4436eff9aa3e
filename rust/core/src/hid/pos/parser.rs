//! The HID POS scanned-data report parser and the feedback output reports.

use std::ops::Range;

use super::aim::symbology_name_for;
use super::descriptor::{DescriptorError, Field, ReportDescriptor, ReportKind};
use super::usage;

/// Largest code [`HidPosParser`] reassembles; more is dropped.
pub const MAX_SCAN_BYTES: usize = 1024 * 1024;

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

#[cfg(test)]
mod tests;
