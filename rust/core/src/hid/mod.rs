//! Barcode scanners seen as HID devices.
//!
//! Two kinds of scanner, two decoders:
//!
//! - Keyboard-wedge scanners type their codes as key presses. Linux gives
//!   them to us as `struct input_event` records from an evdev device (or a
//!   recording of one). [`input_event`] parses (and, for tests and demos,
//!   makes) those records, [`keymap`] knows what each key gives on the
//!   layout the scanner is configured for, and [`decoder`] turns key events
//!   into codes ([`KeyboardDecoder`]).
//! - HID POS scanners (USB HID usage page 0x8C, "Bar Code Scanner") send
//!   each code in input reports with its AIM symbology identifier.
//!   [`pos`] parses the device's report descriptor to find those fields,
//!   reassembles codes spread over several reports and builds output
//!   reports for beeps ([`HidPosParser`]). [`pos::symbology_name`] maps AIM
//!   identifiers to ProGlove symbology names.
//!
//! Everything here is pure and synchronous: the caller reads the device and
//! calls in with bytes and times. No input makes any of it panic.
pub mod cp1252;
pub mod decoder;
pub mod input_event;
pub mod keymap;
pub mod pos;

pub use decoder::{DecodedScan, DecoderConfig, KeyboardDecoder, Terminator};
pub use input_event::{encode_keystrokes, EncodeOptions, EventParser, InputEvent};
pub use keymap::{layout, layout_names, Layout};
pub use pos::{symbology_name, HidPosParser, PosScan};
