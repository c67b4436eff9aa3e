#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| scanbridge_core_fuzz::http(data));
