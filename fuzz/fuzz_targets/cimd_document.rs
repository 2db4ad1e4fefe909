#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| authgate_oauth::fuzzing::cimd_document(data));
