//! CSRF protection of the web forms.
//!
//! Every form carries a hidden `csrf` field: base64url(HMAC-SHA256(key, kind ‖ SHA-256(binding)))
//! where the key is [`crate::http::AppState::csrf_key`] (derived from the master key) and the
//! binding is the session token on logged-in pages, or the random pre-session cookie on the
//! anonymous login forms. The token is therefore useless to anyone who cannot read the
//! victim's cookies, needs no server-side storage, and changes with each session. It is checked
//! in constant time ([`hmac::Mac::verify_slice`]) before a POST does anything.
//!
//! As a second layer, [`same_origin`] refuses a request whose `Origin` header names another
//! site or whose `Sec-Fetch-Site` says it is cross-site (both are set by browsers and cannot be
//! forged by a page).

use axum::http::{HeaderMap, Uri, header};
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = hmac::Hmac<Sha256>;

/// What a CSRF token is bound to.
#[derive(Clone, Copy)]
pub(crate) enum Binding<'a> {
    /// The session token of a logged-in browser.
    Session(&'a str),
    /// The pre-session cookie of an anonymous browser (login forms).
    PreSession(&'a str),
}

impl std::fmt::Debug for Binding<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Binding::Session(_) => "Binding::Session(<redacted>)",
            Binding::PreSession(_) => "Binding::PreSession(<redacted>)",
        })
    }
}

fn mac(key: &[u8; 32], binding: Binding<'_>) -> Option<HmacSha256> {
    let (kind, value): (&[u8], &str) = match binding {
        Binding::Session(v) => (b"sesame-csrf/session\0", v),
        Binding::PreSession(v) => (b"sesame-csrf/pre-session\0", v),
    };
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).ok()?;
    m.update(kind);
    m.update(&Sha256::digest(value.as_bytes()));
    Some(m)
}

/// The token to embed in the forms of a page bound to `binding`.
pub(crate) fn token(key: &[u8; 32], binding: Binding<'_>) -> String {
    mac(key, binding)
        .map(|m| data_encoding::BASE64URL_NOPAD.encode(&m.finalize().into_bytes()))
        .unwrap_or_default()
}

/// Whether `presented` is the token of `binding` (constant-time comparison).
pub(crate) fn verify(key: &[u8; 32], binding: Binding<'_>, presented: &str) -> bool {
    if presented.len() != 43 {
        return false;
    }
    let Ok(tag) = data_encoding::BASE64URL_NOPAD.decode(presented.as_bytes()) else {
        return false;
    };
    mac(key, binding).is_some_and(|m| m.verify_slice(&tag).is_ok())
}

/// Whether a state-changing request comes from our own pages: its `Origin`, when present, is
/// `https://` + the host the request was sent to, and `Sec-Fetch-Site`, when present, is
/// `same-origin` or `none` (typed by the user).
pub(crate) fn same_origin(headers: &HeaderMap, uri: &Uri) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("");
        if !(site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none")) {
            return false;
        }
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    // Our pages send `Referrer-Policy: no-referrer`, under which browsers send `Origin: null`
    // with a form POST (Fetch §3.2.5): then only `Sec-Fetch-Site: same-origin` vouches for it.
    if origin == "null" {
        return headers
            .get("sec-fetch-site")
            .and_then(|s| s.to_str().ok())
            .is_some_and(|s| s.eq_ignore_ascii_case("same-origin"));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    let Some(host) = host else {
        return false;
    };
    let Some(origin_host) = origin
        .get(..8)
        .filter(|s| s.eq_ignore_ascii_case("https://"))
        .and(origin.get(8..))
    else {
        return false;
    };
    let strip = |h: &str| h.strip_suffix(":443").unwrap_or(h).to_ascii_lowercase();
    !origin_host.is_empty() && strip(origin_host) == strip(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn null_origin_needs_same_origin_fetch_metadata() {
        let uri: Uri = "/login".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("localhost:8443"));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h, &uri), "null origin alone");
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(same_origin(&h, &uri), "a real browser's form POST");
        h.insert("sec-fetch-site", HeaderValue::from_static("none"));
        assert!(!same_origin(&h, &uri));
    }

    #[test]
    fn token_verifies_for_its_binding_only() {
        let t = token(&KEY, Binding::Session("session-a"));
        assert_eq!(t.len(), 43);
        assert!(verify(&KEY, Binding::Session("session-a"), &t));
        assert!(!verify(&KEY, Binding::Session("session-b"), &t));
        // The same value as a pre-session cookie gives another token.
        assert!(!verify(&KEY, Binding::PreSession("session-a"), &t));
        assert!(!verify(&[8; 32], Binding::Session("session-a"), &t));
        assert!(!verify(&KEY, Binding::Session("session-a"), ""));
        assert!(!verify(&KEY, Binding::Session("session-a"), &t[..42]));
        let mut flipped = t.clone().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert!(!verify(&KEY, Binding::Session("session-a"), &flipped));
        assert!(!verify(
            &KEY,
            Binding::Session("session-a"),
            "!".repeat(43).as_str()
        ));
    }

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn origin_must_be_our_host() {
        let uri: Uri = "/login".parse().unwrap();
        assert!(same_origin(&h(&[("host", "sso.example")]), &uri));
        assert!(same_origin(
            &h(&[("host", "sso.example"), ("origin", "https://sso.example")]),
            &uri
        ));
        assert!(same_origin(
            &h(&[
                ("host", "SSO.example:443"),
                ("origin", "https://sso.example")
            ]),
            &uri
        ));
        assert!(same_origin(
            &h(&[
                ("host", "sso.example:8443"),
                ("origin", "https://sso.example:8443")
            ]),
            &uri
        ));
        for bad in [
            "https://evil.example",
            "http://sso.example",
            "null",
            "https://sso.example.evil",
            "https://",
        ] {
            let hv = HeaderValue::from_str(bad).unwrap();
            let mut m = h(&[("host", "sso.example")]);
            m.insert(header::ORIGIN, hv);
            assert!(!same_origin(&m, &uri), "{bad}");
        }
        assert!(!same_origin(
            &h(&[("host", "sso.example"), ("sec-fetch-site", "cross-site")]),
            &uri
        ));
        assert!(same_origin(
            &h(&[("host", "sso.example"), ("sec-fetch-site", "same-origin")]),
            &uri
        ));
        // HTTP/2: the host is in the URI's authority.
        let uri2: Uri = "https://sso.example/login".parse().unwrap();
        assert!(same_origin(&h(&[("origin", "https://sso.example")]), &uri2));
    }
}
