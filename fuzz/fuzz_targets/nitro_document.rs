#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| minikms_fuzz::nitro_document(data));
