#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| minikms_fuzz::audit_verify(data));
