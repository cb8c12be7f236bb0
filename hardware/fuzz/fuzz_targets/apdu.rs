#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sesame_hardware::card::apdu::fuzz_parse(data);
});
