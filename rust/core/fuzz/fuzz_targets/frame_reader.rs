//! Any byte stream, cut anywhere, into the server-side frame reader (with and
//! without permessage-deflate): it must never panic, and what it accepts must
//! be consistent with what it reports.
#![no_main]
use libfuzzer_sys::fuzz_target;
use scanbridge_core::wire::deflate::Inflater;
use scanbridge_core::wire::reader::{FrameReader, Message};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (ctl, rest) = data.split_at(2);
    let mut r = FrameReader::new(1 << 16, ctl[0] & 1 == 0);
    if ctl[0] & 2 != 0 {
        r.set_inflater(Inflater::new(9 + ctl[0] % 7, ctl[0] & 4 != 0));
    }
    let cut = if rest.is_empty() { 0 } else { ctl[1] as usize % rest.len() };
    let mut buf = rest.to_vec();
    let (a, b) = buf.split_at_mut(cut);
    for part in [a, b] {
        let res = r.feed(part, &mut |m| {
            if let Message::Text(t) = m {
                assert!(std::str::from_utf8(t.as_bytes()).is_ok());
            }
        });
        if res.is_err() {
            break;
        }
    }
});
