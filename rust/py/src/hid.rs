//! Barcode-scanner decoding (`scanbridge_core::hid`): keyboard-wedge key
//! events and HID POS reports. Conversions only; times are float seconds
//! here and microseconds in the core.
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use crate::events::event_class;
use scanbridge_core::hid::{decoder, input_event, keymap, pos};

event_class! {
    /// A code a keyboard-wedge scanner typed: `text` as the layout reads it,
    /// `raw` the key bytes, `first_ts`/`last_ts` seconds on the events'
    /// clock, `human` True when the typing was too slow for a scanner.
    KeyScan [] { text: String, raw: Py<PyBytes>, first_ts: f64, last_ts: f64, human: bool }
}

event_class! {
    /// A code a HID POS scanner reported: its AIM identifier (`]E0`), if the
    /// report had one, and the code's bytes.
    PosScan [] { aim_id: Option<String>, data: Py<PyBytes> }
}

fn value_error(e: impl ToString) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Seconds to microseconds.
fn secs_to_us(name: &str, s: f64) -> PyResult<i64> {
    if !s.is_finite() {
        return Err(PyValueError::new_err(format!(
            "{name} must be a finite number of seconds, not {s}"
        )));
    }
    // `as` saturates at the i64 range.
    Ok((s * 1e6).round() as i64)
}

/// A non-negative duration in seconds to microseconds.
fn duration_us(name: &str, s: f64) -> PyResult<u64> {
    if s.is_nan() || s < 0.0 {
        return Err(PyValueError::new_err(format!(
            "{name} must be >= 0 seconds, not {s}"
        )));
    }
    Ok((s * 1e6).round() as u64)
}

fn us_to_secs(us: i64) -> f64 {
    us as f64 / 1e6
}

fn scans_to_py(py: Python<'_>, scans: Vec<decoder::DecodedScan>) -> Vec<KeyScan> {
    scans
        .into_iter()
        .map(|s| KeyScan {
            text: s.text,
            raw: PyBytes::new(py, &s.raw).unbind(),
            first_ts: us_to_secs(s.first_us),
            last_ts: us_to_secs(s.last_us),
            human: s.human,
        })
        .collect()
}

/// Key events (`struct input_event` records) of a keyboard-wedge scanner
/// to codes. `layout` is the scanner's keyboard layout; `terminators` the
/// keys that end a code ("enter", "kp_enter", "tab"); a code without a
/// terminator ends after `inter_key_timeout` seconds without a key (0:
/// never); codes shorter than `min_length` characters are dropped; with
/// `max_avg_gap` set, codes typed slower than that on average are marked
/// human. Codes come out as (text, raw, first_ts, last_ts, human).
#[pyclass(module = "scanbridge._core")]
pub struct KeyboardDecoder {
    inner: decoder::KeyboardDecoder,
}

#[pymethods]
impl KeyboardDecoder {
    #[new]
    #[pyo3(signature = (
        layout = "us",
        terminators = None,
        inter_key_timeout = 0.05,
        min_length = 1,
        max_avg_gap = None,
    ))]
    fn new(
        layout: &str,
        terminators: Option<Vec<String>>,
        inter_key_timeout: f64,
        min_length: usize,
        max_avg_gap: Option<f64>,
    ) -> PyResult<Self> {
        let mut cfg = decoder::DecoderConfig::with_layout(layout).map_err(value_error)?;
        if let Some(names) = terminators {
            cfg.terminators = names
                .iter()
                .map(|n| decoder::Terminator::from_name(n))
                .collect::<Result<_, _>>()
                .map_err(value_error)?;
        }
        cfg.inter_key_timeout_us = duration_us("inter_key_timeout", inter_key_timeout)?;
        cfg.min_length = min_length;
        cfg.max_avg_gap_us = max_avg_gap
            .map(|g| duration_us("max_avg_gap", g))
            .transpose()?;
        Ok(KeyboardDecoder {
            inner: decoder::KeyboardDecoder::new(cfg),
        })
    }

    /// Feed raw `input_event` bytes (any chunking); returns the codes that
    /// ended.
    fn feed<'py>(&mut self, py: Python<'py>, data: &[u8]) -> Vec<KeyScan> {
        scans_to_py(py, self.inner.feed(data))
    }

    /// End the pending code if no key came for `inter_key_timeout` before
    /// `now` (seconds, the events' clock).
    fn flush_idle<'py>(&mut self, py: Python<'py>, now: f64) -> PyResult<Vec<KeyScan>> {
        let now = secs_to_us("now", now)?;
        Ok(scans_to_py(py, self.inner.flush_idle(now)))
    }

    /// End the pending code now (end of stream, or a timer on the host's
    /// clock); safe at any point of a stream.
    fn flush<'py>(&mut self, py: Python<'py>) -> Vec<KeyScan> {
        scans_to_py(py, self.inner.flush())
    }

    /// Forget all state (pending code, partial record, held keys) for a
    /// new stream.
    fn reset(&mut self) {
        self.inner.reset();
    }

    /// Whether a code is in progress.
    #[getter]
    fn pending(&self) -> bool {
        self.inner.pending()
    }

    /// The layout's name.
    #[getter]
    fn layout(&self) -> &'static str {
        self.inner.config().layout.name()
    }
}

/// `input_event` records of a scanner with `layout` typing `text`, then the
/// terminator key ("enter", "kp_enter", "tab" or None). Key strokes start
/// at `start` and follow each other every `gap` seconds.
#[pyfunction]
#[pyo3(signature = (text, layout = "us", start = 0.0, gap = 0.002, terminator = Some("enter")))]
fn encode_keystrokes<'py>(
    py: Python<'py>,
    text: &str,
    layout: &str,
    start: f64,
    gap: f64,
    terminator: Option<&str>,
) -> PyResult<Bound<'py, PyBytes>> {
    let layout = keymap::layout(layout).map_err(value_error)?;
    let opts = input_event::EncodeOptions {
        start_us: secs_to_us("start", start)?,
        gap_us: i64::try_from(duration_us("gap", gap)?).unwrap_or(i64::MAX),
        terminator: terminator
            .map(decoder::Terminator::from_name)
            .transpose()
            .map_err(value_error)?,
    };
    let bytes = input_event::encode_keystrokes(text, layout, &opts).map_err(value_error)?;
    Ok(PyBytes::new(py, &bytes))
}

/// The keyboard layout names.
#[pyfunction]
fn layouts() -> Vec<&'static str> {
    keymap::layout_names().to_vec()
}

/// The ProGlove symbology name for an AIM identifier such as "]E0"; with
/// `data`, UPC-A and UPC-E are told from EAN-13.
#[pyfunction]
#[pyo3(signature = (aim, data = None))]
fn symbology_name(aim: &str, data: Option<&[u8]>) -> Option<&'static str> {
    match data {
        Some(d) => pos::symbology_name_for(aim, d),
        None => pos::symbology_name(aim),
    }
}

/// A HID POS scanner's reports, from its report descriptor.
#[pyclass(module = "scanbridge._core")]
pub struct HidPosParser {
    inner: pos::HidPosParser,
}

#[pymethods]
impl HidPosParser {
    #[new]
    fn new(descriptor: &[u8]) -> PyResult<Self> {
        Ok(HidPosParser {
            inner: pos::HidPosParser::new(descriptor).map_err(value_error)?,
        })
    }

    /// Feed one input report (with its report ID byte if the device uses
    /// IDs); returns (aim_id, data) when a code is complete.
    fn feed_report<'py>(&mut self, py: Python<'py>, report: &[u8]) -> Option<PosScan> {
        self.inner.feed_report(report).map(|s| PosScan {
            aim_id: s.aim_id,
            data: PyBytes::new(py, &s.data).unbind(),
        })
    }

    /// An output report for a good-read beep, if the device has one.
    fn beep_report<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.inner.beep_report().map(|b| PyBytes::new(py, &b))
    }

    /// An output report for an error beep, if the device has one.
    fn error_report<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.inner
            .feedback_report(pos::Feedback::Error)
            .map(|b| PyBytes::new(py, &b))
    }

    /// Forget a partly received code.
    fn reset(&mut self) {
        self.inner.reset();
    }

    /// The scanned-data report's ID (0: the device uses no IDs).
    #[getter]
    fn report_id(&self) -> u8 {
        self.inner.report_id()
    }

    /// Whether a code spread over several reports is partly received.
    #[getter]
    fn pending(&self) -> bool {
        self.inner.pending()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<KeyboardDecoder>()?;
    m.add_class::<KeyScan>()?;
    m.add_class::<PosScan>()?;
    m.add_class::<HidPosParser>()?;
    m.add_function(wrap_pyfunction!(encode_keystrokes, m)?)?;
    m.add_function(wrap_pyfunction!(layouts, m)?)?;
    m.add_function(wrap_pyfunction!(symbology_name, m)?)?;
    Ok(())
}
