//! Room and lobby commands from untrusted clients: never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use scanbridge_core::hub::protocol::{parse_lobby_command, parse_room_command};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_room_command(text);
        let _ = parse_lobby_command(text);
    }
});
