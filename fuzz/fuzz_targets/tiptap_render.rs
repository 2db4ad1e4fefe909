#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| authgate_email::fuzzing::tiptap_render(data));
