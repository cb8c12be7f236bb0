#![no_main]
// First line: attestation_roles; second: attestation_aaguids; the rest: one CA file (PEM).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = authd::credentials::webauthn_policy::fuzz_entry(data);
});
