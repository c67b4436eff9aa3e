//! HTTP request heads into the upgrade parser and checks: never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use scanbridge_core::wire::handshake::parse_request;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(req)) = parse_request(data) {
        let _ = req.check_upgrade();
        let _ = req.origin_allowed(&["http://localhost:*".into()]);
        let _ = req.select_subprotocol(&["chat".into()]);
    }
});
