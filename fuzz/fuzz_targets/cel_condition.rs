#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| authgate_rbac::fuzzing::cel_condition(data));
