#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sesame_hardware::card::vpcd::fuzz_decode(data);
});
