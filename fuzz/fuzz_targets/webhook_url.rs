#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| authgate_webhooks::fuzz_webhook_url(data));
