//! `otpauth://` URIs (Google Authenticator "Key Uri Format"), as shown in enrolment QR codes.

use std::fmt::Write as _;

use crate::otp::TotpParams;
use crate::secret::OtpSecret;

/// Builds `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=…&algorithm=…&digits=…&period=…`.
///
/// Issuer and account are percent-encoded as UTF-8, keeping only RFC 3986 unreserved
/// characters (`A-Z a-z 0-9 - . _ ~`), so a space becomes `%20`, `@` becomes `%40` and a `:`
/// inside either part becomes `%3A`; the `:` separating them is literal. An empty issuer gives
/// the label `ACCOUNT` alone and no `issuer=` parameter. Every parameter is written even at
/// its default value, so apps that ignore defaults still agree.
///
/// The URI contains the secret: treat the string like the secret (no logs, drop it soon).
pub fn otpauth_uri(issuer: &str, account: &str, secret: &OtpSecret, params: &TotpParams) -> String {
    let mut uri = String::from("otpauth://totp/");
    if !issuer.is_empty() {
        percent_encode_into(&mut uri, issuer);
        uri.push(':');
    }
    percent_encode_into(&mut uri, account);
    uri.push_str("?secret=");
    uri.push_str(&secret.to_base32());
    if !issuer.is_empty() {
        uri.push_str("&issuer=");
        percent_encode_into(&mut uri, issuer);
    }
    // Writing into a String cannot fail.
    let _ = write!(
        uri,
        "&algorithm={}&digits={}&period={}",
        params.algorithm().as_str(),
        params.digits().get(),
        params.period()
    );
    uri
}

/// Appends `text` percent-encoded: RFC 3986 unreserved bytes as is, every other byte of its
/// UTF-8 form as `%XX` (uppercase hex).
fn percent_encode_into(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otp::{Algorithm, Digits};

    fn rfc_secret() -> OtpSecret {
        OtpSecret::from_bytes(b"12345678901234567890".to_vec()).unwrap()
    }

    #[test]
    fn uri_for_known_input() {
        let uri = otpauth_uri(
            "ACME Co",
            "jane doe@example.com",
            &rfc_secret(),
            &TotpParams::default(),
        );
        assert_eq!(
            uri,
            "otpauth://totp/ACME%20Co:jane%20doe%40example.com\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME%20Co\
             &algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn uri_carries_non_default_parameters() {
        let params = TotpParams::new(Algorithm::Sha512, Digits::EIGHT, 60).unwrap();
        let uri = otpauth_uri("Sesame", "bob", &rfc_secret(), &params);
        assert_eq!(
            uri,
            "otpauth://totp/Sesame:bob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Sesame&algorithm=SHA512&digits=8&period=60"
        );
    }

    #[test]
    fn uri_without_issuer() {
        let uri = otpauth_uri("", "bob", &rfc_secret(), &TotpParams::default());
        assert_eq!(
            uri,
            "otpauth://totp/bob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved() {
        let mut out = String::new();
        percent_encode_into(&mut out, "aZ09-._~ :/?#[]@!$&'()*+,;=%é€");
        assert_eq!(
            out,
            "aZ09-._~%20%3A%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%25%C3%A9%E2%82%AC"
        );
    }
}
