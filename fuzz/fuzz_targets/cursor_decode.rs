#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| authgate_core::pagination::fuzz_cursor_decode(data));
