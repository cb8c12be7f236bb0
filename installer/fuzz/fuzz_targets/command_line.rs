#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| installer::fuzz::command_line(data));
