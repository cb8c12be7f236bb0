#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    support_relay::proto::smartcard::fuzz_messages(data);
});
