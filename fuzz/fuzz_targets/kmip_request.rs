#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| minikms_fuzz::kmip_request(data));
