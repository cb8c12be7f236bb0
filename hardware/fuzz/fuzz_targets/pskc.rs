#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sesame_hardware::seeds::import_pskc(data, &sesame_hardware::seeds::Decryption::None);
});
