//! A small cookie-keeping browser for the page tests: drives the complete router with
//! `oneshot`, sends the peer address and host like the accept loop does, and checks every HTML
//! answer against the CSP (no inline script, no inline style).

use crate::flows::testkit::Kit;
use crate::http::extract::PeerAddr;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use sesame_hardware::otp::{TotpParams, totp_at_step};
use std::collections::BTreeMap;
use tower::ServiceExt;

pub(super) struct Page {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: String,
    /// The body as sent (images are not text).
    pub(super) bytes: Vec<u8>,
}

impl Page {
    pub(super) fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub(super) fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// The first CSRF token of the page.
    pub(super) fn csrf(&self) -> String {
        between(&self.body, "name=\"csrf\" value=\"", "\"").expect("a CSRF field")
    }
}

pub(super) fn between(s: &str, start: &str, end: &str) -> Option<String> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(s[i..j].to_owned())
}

/// A browser: keeps cookies, sends the peer address and host like the accept loop does.
pub(super) struct Browser {
    router: Router,
    pub(super) jar: BTreeMap<String, String>,
    pub(super) accept_language: Option<&'static str>,
    /// The kit's backup codes, for accounts with a second factor.
    codes: crate::flows::testkit::Codes,
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Browser {
    pub(super) fn new(kit: &Kit) -> Browser {
        Browser {
            router: crate::http::router(kit.app.clone()).unwrap(),
            jar: BTreeMap::new(),
            accept_language: None,
            codes: kit.codes.clone(),
        }
    }

    pub(super) async fn send(&mut self, mut req: Request<Body>) -> Page {
        req.extensions_mut()
            .insert(PeerAddr("192.0.2.7:50000".parse().unwrap()));
        let h = req.headers_mut();
        h.insert(header::HOST, "sso.example".parse().unwrap());
        if let Some(al) = self.accept_language {
            h.insert(header::ACCEPT_LANGUAGE, al.parse().unwrap());
        }
        if !self.jar.is_empty() {
            let c: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            h.insert(header::COOKIE, c.join("; ").parse().unwrap());
        }
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = String::from_utf8_lossy(&bytes).into_owned();
        for v in headers.get_all(header::SET_COOKIE) {
            let v = v.to_str().unwrap();
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (name, value) = pair.split_once('=').unwrap();
            assert!(
                attrs.contains("Secure") && attrs.contains("HttpOnly"),
                "{v}"
            );
            assert!(attrs.contains("SameSite=Strict"), "{v}");
            if attrs.contains("Max-Age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
        let is_html = headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.to_str().unwrap().starts_with("text/html"));
        if is_html {
            check_csp_clean(&body);
        }
        Page {
            status,
            headers,
            body,
            bytes: bytes.to_vec(),
        }
    }

    pub(super) async fn get(&mut self, path: &str) -> Page {
        let req = Request::get(path).body(Body::empty()).unwrap();
        self.send(req).await
    }

    pub(super) async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        let req = Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, "https://sso.example")
            .body(Body::from(body.join("&")))
            .unwrap();
        self.send(req).await
    }

    /// Sign in with a password only; returns the account page.
    pub(super) async fn sign_in(&mut self, user: &str, password: &str) -> Page {
        let p = self.get("/login").await;
        let csrf = p.csrf();
        let p = self
            .post(
                "/login",
                &[("csrf", &csrf), ("username", user), ("password", password)],
            )
            .await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
        let p = if p.location() == "/login/mfa" {
            let csrf = self.get("/login/mfa").await.csrf();
            let code = crate::flows::testkit::next_code(&self.codes, user);
            let p = self
                .post(
                    "/login/mfa",
                    &[("csrf", &csrf), ("method", "backup_code"), ("code", &code)],
                )
                .await;
            assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
            p
        } else {
            p
        };
        assert_eq!(p.location(), "/account");
        let p = self.get("/account").await;
        assert_eq!(p.status, StatusCode::OK);
        p
    }
}

/// The page obeys the CSP: no inline script or style of any kind (a script is only ever our
/// own file, `<script src="/static/…" defer></script>`, with nothing inside).
fn check_csp_clean(html: &str) {
    let lower = html.to_ascii_lowercase();
    for (i, _) in lower.match_indices("<script") {
        let tag = &lower[i..];
        assert!(
            tag.starts_with("<script src=\"/static/") && {
                let end = tag.find('>').unwrap_or(0);
                tag[end..].starts_with("></script>")
            },
            "inline script in:\n{html}"
        );
    }
    assert!(!lower.contains("style="), "style attribute in:\n{html}");
    assert!(!lower.contains("<style"), "style element in:\n{html}");
    assert!(
        !lower.contains("javascript:"),
        "javascript: URL in:\n{html}"
    );
}

pub(super) fn code_now(kit: &Kit, secret: &[u8]) -> String {
    let params = TotpParams::default();
    totp_at_step(secret, params.step_at(kit.clock_now() as u64), &params).to_string()
}
