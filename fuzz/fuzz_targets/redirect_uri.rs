#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| authgate_oauth::fuzzing::redirect_uri(data));
