//! Cookies of the web pages: reading the `Cookie` header and writing `Set-Cookie` values.
//!
//! Every cookie we set is `Secure; HttpOnly; SameSite=Strict` (DESIGN.md §4): the pages never
//! read cookies from script, never send them over plain HTTP, never on a cross-site request.
//!
//! | cookie | holds | path | lifetime |
//! |---|---|---|---|
//! | `session.cookie_name` (`sesame_session`) | the session token | `/` | the session's |
//! | [`CHALLENGE`] | the login challenge between two login steps | `/login` | the challenge's |
//! | [`PRE_SESSION`] | random binding for the CSRF tokens of the login forms | `/login` | browser session |
//! | [`LANG`] | the language chosen with `?lang=` | `/` | one year |

use axum::http::{HeaderMap, HeaderValue, header};

/// The login challenge between the password step and the next one.
pub(crate) const CHALLENGE: &str = "sesame_challenge";
/// Random value the CSRF tokens of the anonymous login forms are bound to.
pub(crate) const PRE_SESSION: &str = "sesame_pre";
/// The chosen page language.
pub(crate) const LANG: &str = "sesame_lang";
/// Path of the login cookies.
pub(crate) const LOGIN_PATH: &str = "/login";
/// How long the language choice is remembered.
pub(crate) const LANG_MAX_AGE: u64 = 365 * 24 * 3600;

/// Longest cookie value we accept; tokens are 43 characters.
const MAX_VALUE: usize = 128;

/// The value of cookie `name` in the request, if present, non-empty and of a sane size.
/// Only characters allowed in a cookie value by RFC 6265 are accepted.
pub(crate) fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty() && v.len() <= MAX_VALUE && v.bytes().all(is_cookie_octet))
}

fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

/// A `Set-Cookie` value with our fixed attributes. `max_age` `None` makes a browser-session
/// cookie. `value` must consist of cookie octets (our tokens and language codes do).
pub(crate) fn set(name: &str, value: &str, path: &str, max_age: Option<u64>) -> HeaderValue {
    let age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    let text = format!("{name}={value}; Path={path}{age}; Secure; HttpOnly; SameSite=Strict");
    HeaderValue::from_str(&text).unwrap_or_else(|_| clear(name, path))
}

/// A `Set-Cookie` value that removes cookie `name` set on `path`.
pub(crate) fn clear(name: &str, path: &str) -> HeaderValue {
    let text = format!("{name}=; Path={path}; Max-Age=0; Secure; HttpOnly; SameSite=Strict");
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static(
        "sesame_invalid=; Path=/; Max-Age=0",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for c in cookies {
            h.append(header::COOKIE, HeaderValue::from_str(c).unwrap());
        }
        h
    }

    #[test]
    fn reads_a_cookie_among_several_headers() {
        let h = headers(&["a=1; sesame_lang=fr", "sesame_session=tok-en_1"]);
        assert_eq!(get(&h, "sesame_lang"), Some("fr"));
        assert_eq!(get(&h, "sesame_session"), Some("tok-en_1"));
        assert_eq!(get(&h, "a"), Some("1"));
        assert_eq!(get(&h, "missing"), None);
        // A name that is only a suffix of another does not match.
        assert_eq!(get(&headers(&["xsesame_lang=en"]), "sesame_lang"), None);
    }

    #[test]
    fn refuses_empty_oversized_or_odd_values() {
        assert_eq!(get(&headers(&["s="]), "s"), None);
        let long = format!("s={}", "a".repeat(MAX_VALUE + 1));
        assert_eq!(get(&headers(&[&long]), "s"), None);
        assert_eq!(get(&headers(&["s=a\\b"]), "s"), None);
        assert_eq!(get(&headers(&["s=\"q\""]), "s"), None);
    }

    #[test]
    fn set_cookie_has_the_safe_attributes() {
        let v = set("sesame_session", "abc", "/", Some(14400));
        assert_eq!(
            v.to_str().unwrap(),
            "sesame_session=abc; Path=/; Max-Age=14400; Secure; HttpOnly; SameSite=Strict"
        );
        let v = set(PRE_SESSION, "x", LOGIN_PATH, None);
        assert_eq!(
            v.to_str().unwrap(),
            "sesame_pre=x; Path=/login; Secure; HttpOnly; SameSite=Strict"
        );
        let v = clear(CHALLENGE, LOGIN_PATH);
        assert!(v.to_str().unwrap().contains("Max-Age=0"));
    }
}
