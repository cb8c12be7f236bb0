//! Extractors of the web pages. A page that needs a signed-in user takes [`WebSession`]; an
//! admin page takes [`WebAdmin`], a helpdesk page [`WebHelpdesk`]. A POST takes [`UserForm`],
//! [`AdminForm`], [`HelpdeskForm`] or [`AnonForm`]:
//! these refuse a cross-site request, cap the body, and verify the CSRF token **before** the
//! handler runs, so a handler cannot forget any of it. Every rejection is a page (or a redirect
//! to the sign-in page), never axum's plain text.

use super::csrf::{self, Binding};
use super::i18n::{self, Lang};
use super::{AppState, cookies, message};
use crate::flows::login::{self, Authenticated};
use axum::Form;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

/// Largest form body accepted (also bounded by `server.body_limit_bytes`).
pub(crate) const FORM_LIMIT: usize = 16 * 1024;

/// Largest body of the helpdesk's seed-file form (the file pasted in a text area, URL-encoded).
/// Like the API's import it is not bounded by `server.body_limit_bytes`; it stays within what
/// axum's form parser accepts (2 MiB). Bigger batches go through the API.
pub(crate) const SEED_FORM_LIMIT: usize = 2 * 1024 * 1024;

/// A browser with a live session.
#[derive(Debug)]
pub(crate) struct WebSession {
    /// The session and its account.
    pub(crate) who: Authenticated,
    /// CSRF token for the forms of the page.
    pub(crate) csrf: String,
    /// Page language.
    pub(crate) lang: Lang,
}

/// The session token of the request, if the cookie is there.
pub(crate) fn session_token(parts: &Parts, st: &AppState) -> Option<Zeroizing<String>> {
    cookies::get(&parts.headers, &st.app.config.session.cookie_name)
        .map(|v| Zeroizing::new(v.to_owned()))
}

/// Clear the session cookie.
pub(crate) fn clear_session(st: &AppState) -> HeaderValue {
    cookies::clear(&st.app.config.session.cookie_name, "/")
}

/// Redirect to the sign-in page, dropping a stale session cookie.
pub(crate) fn to_login(st: &AppState) -> Response {
    super::redirect_with("/login", vec![clear_session(st)])
}

impl FromRequestParts<AppState> for WebSession {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        let lang = i18n::negotiate(&parts.headers, parts.uri.query());
        let Some(token) = session_token(parts, st) else {
            return Err(super::redirect_with("/login", vec![]));
        };
        let csrf = csrf::token(&st.csrf_key, Binding::Session(&token));
        let now = st.app.now();
        match st
            .app
            .blocking(move |app| login::authenticate(app, &token, now))
            .await
        {
            // A session is usable only from addresses the account's rules allow.
            Ok(who)
                if parts
                    .extensions
                    .get::<crate::http::extract::GuardMark>()
                    .is_some_and(|m| !st.app.guard.allows(m.ip, Some(&who.user))) =>
            {
                Err(super::error_page(st, lang, &crate::Error::Forbidden))
            }
            Ok(who) => Ok(WebSession { who, csrf, lang }),
            Err(crate::Error::Unauthenticated) => Err(to_login(st)),
            Err(e) => Err(super::error_page(st, lang, &e)),
        }
    }
}

/// A browser with a live session of an admin. Anyone else gets a 403 page.
#[derive(Debug)]
pub(crate) struct WebAdmin(pub(crate) WebSession);

/// The 403 page for a signed-in user without the role.
fn forbidden(st: &AppState, s: &WebSession) -> Response {
    let t = s.lang.tr();
    let mut r = super::render(
        StatusCode::FORBIDDEN,
        &super::MessagePage {
            t,
            c: super::Chrome::signed_in(st, s, "/account"),
            title: t.forbidden_title,
            message: t.forbidden_message,
            link: "/account",
            link_text: t.back_to_account,
        },
    );
    // Counted by the guard like the API's `forbidden` (calls without the right).
    r.extensions_mut()
        .insert(crate::http::error::ErrorCode("forbidden"));
    r
}

/// Whether the account may use the helpdesk console (role `helpdesk` or `admin`).
pub(crate) fn is_helpdesk(user: &crate::model::User) -> bool {
    crate::authz::allows(&user.roles, crate::authz::Permission::Helpdesk)
}

/// A browser with a live session of a helpdesk member or an admin. Anyone else gets a 403
/// page. (Which accounts they may act on is the flow's rule: `flows::helpdesk`.)
#[derive(Debug)]
pub(crate) struct WebHelpdesk(pub(crate) WebSession);

impl FromRequestParts<AppState> for WebHelpdesk {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        let s = WebSession::from_request_parts(parts, st).await?;
        if !is_helpdesk(&s.who.user) {
            return Err(forbidden(st, &s));
        }
        Ok(WebHelpdesk(s))
    }
}

impl FromRequestParts<AppState> for WebAdmin {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        let s = WebSession::from_request_parts(parts, st).await?;
        if !crate::authz::allows(&s.who.user.roles, crate::authz::Permission::Administration) {
            return Err(forbidden(st, &s));
        }
        Ok(WebAdmin(s))
    }
}

/// The GET page to send the user back to after a refused form.
fn reload_target(path: &str) -> &'static str {
    if path == "/login/mfa" {
        "/login/mfa"
    } else if path == "/login/password" {
        "/login/password"
    } else if path == "/login/pin" {
        "/login/pin"
    } else if path.starts_with("/login") {
        "/login"
    } else if path.starts_with("/admin/guard") {
        "/admin/guard"
    } else if ["/admin/policy", "/admin/groups", "/admin/resets"]
        .iter()
        .any(|p| path.starts_with(p))
    {
        "/admin/policy"
    } else if path.starts_with("/admin/") {
        "/admin/users"
    } else if path.starts_with("/helpdesk") {
        "/helpdesk"
    } else {
        "/account"
    }
}

fn refused(st: &AppState, lang: Lang, parts: &Parts, status: StatusCode, text: &str) -> Response {
    let t = lang.tr();
    let title = match status {
        StatusCode::FORBIDDEN => t.csrf_title,
        _ => t.bad_form_title,
    };
    message(
        st,
        lang,
        status,
        title,
        text,
        reload_target(parts.uri.path()),
    )
}

/// The checks every POST shares: same origin, form content type, size cap (`limit`). Returns
/// the body.
async fn read_form(
    st: &AppState,
    lang: Lang,
    parts: &Parts,
    body: Body,
    limit: usize,
) -> Result<Bytes, Response> {
    let t = lang.tr();
    if !csrf::same_origin(&parts.headers, &parts.uri) {
        return Err(refused(
            st,
            lang,
            parts,
            StatusCode::FORBIDDEN,
            t.origin_message,
        ));
    }
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        let status = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        return Err(refused(st, lang, parts, status, t.bad_form_message));
    }
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        let status = StatusCode::PAYLOAD_TOO_LARGE;
        refused(st, lang, parts, status, t.too_large_message)
    })
}

/// Deserialize a urlencoded body with axum's `Form`.
async fn parse<T: DeserializeOwned>(bytes: Bytes) -> Option<T> {
    let req = Request::builder()
        .method(Method::POST)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(bytes))
        .ok()?;
    Form::<T>::from_request(req, &()).await.ok().map(|f| f.0)
}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// Verify the `csrf` field of `bytes` against `binding`, then parse the whole form as `T`.
async fn checked_form<T: DeserializeOwned>(
    st: &AppState,
    lang: Lang,
    parts: &Parts,
    bytes: Bytes,
    binding: Option<Binding<'_>>,
) -> Result<T, Response> {
    let t = lang.tr();
    let presented = parse::<CsrfField>(bytes.clone()).await.map(|f| f.csrf);
    let ok = match (binding, presented) {
        (Some(b), Some(p)) => csrf::verify(&st.csrf_key, b, &p),
        _ => false,
    };
    if !ok {
        return Err(refused(
            st,
            lang,
            parts,
            StatusCode::FORBIDDEN,
            t.csrf_message,
        ));
    }
    parse::<T>(bytes)
        .await
        .ok_or_else(|| refused(st, lang, parts, StatusCode::BAD_REQUEST, t.bad_form_message))
}

/// A form posted by a signed-in user, its CSRF token verified.
#[derive(Debug)]
pub(crate) struct UserForm<T> {
    /// The session.
    pub(crate) s: WebSession,
    /// The fields.
    pub(crate) form: T,
}

/// The usual cap of a form: [`FORM_LIMIT`] within `server.body_limit_bytes`.
fn form_limit(st: &AppState) -> usize {
    FORM_LIMIT.min(st.app.config.server.body_limit_bytes)
}

/// A signed-in user's form of at most `limit` bytes, its CSRF token verified.
async fn user_form<T: DeserializeOwned>(
    req: Request,
    st: &AppState,
    limit: usize,
) -> Result<UserForm<T>, Response> {
    let (mut parts, body) = req.into_parts();
    let lang = i18n::negotiate(&parts.headers, parts.uri.query());
    let bytes = read_form(st, lang, &parts, body, limit).await?;
    let token = session_token(&parts, st);
    let binding = token.as_deref().map(|t| Binding::Session(t.as_str()));
    let form = checked_form(st, lang, &parts, bytes, binding).await?;
    let s = WebSession::from_request_parts(&mut parts, st).await?;
    Ok(UserForm { s, form })
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for UserForm<T> {
    type Rejection = Response;
    async fn from_request(req: Request, st: &AppState) -> Result<Self, Response> {
        user_form(req, st, form_limit(st)).await
    }
}

/// A form posted by an admin, its CSRF token verified.
#[derive(Debug)]
pub(crate) struct AdminForm<T> {
    /// The admin's session.
    pub(crate) s: WebSession,
    /// The fields.
    pub(crate) form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for AdminForm<T> {
    type Rejection = Response;
    async fn from_request(req: Request, st: &AppState) -> Result<Self, Response> {
        let UserForm { s, form } = UserForm::<T>::from_request(req, st).await?;
        if !crate::authz::allows(&s.who.user.roles, crate::authz::Permission::Administration) {
            return Err(forbidden(st, &s));
        }
        Ok(AdminForm { s, form })
    }
}

/// A form posted by a helpdesk member or an admin, its CSRF token verified. `LIMIT` is the
/// largest body accepted: [`FORM_LIMIT`] (within `server.body_limit_bytes`) unless a form
/// says otherwise ([`SEED_FORM_LIMIT`] for the seed file).
#[derive(Debug)]
pub(crate) struct HelpdeskForm<T, const LIMIT: usize = FORM_LIMIT> {
    /// The session.
    pub(crate) s: WebSession,
    /// The fields.
    pub(crate) form: T,
}

impl<T: DeserializeOwned + Send, const LIMIT: usize> FromRequest<AppState>
    for HelpdeskForm<T, LIMIT>
{
    type Rejection = Response;
    async fn from_request(req: Request, st: &AppState) -> Result<Self, Response> {
        let limit = if LIMIT == FORM_LIMIT {
            form_limit(st)
        } else {
            LIMIT
        };
        let UserForm { s, form } = user_form::<T>(req, st, limit).await?;
        if !is_helpdesk(&s.who.user) {
            return Err(forbidden(st, &s));
        }
        Ok(HelpdeskForm { s, form })
    }
}

/// A form of the sign-in pages, its CSRF token verified against the pre-session cookie.
pub(crate) struct AnonForm<T> {
    /// The fields.
    pub(crate) form: T,
    /// Page language.
    pub(crate) lang: Lang,
    /// The CSRF token, to render the form again.
    pub(crate) csrf: String,
    /// The login challenge cookie, if any.
    pub(crate) challenge: Option<Zeroizing<String>>,
}

impl<T> std::fmt::Debug for AnonForm<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnonForm").finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for AnonForm<T> {
    type Rejection = Response;
    async fn from_request(req: Request, st: &AppState) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let lang = i18n::negotiate(&parts.headers, parts.uri.query());
        let bytes = read_form(st, lang, &parts, body, form_limit(st)).await?;
        let pre = cookies::get(&parts.headers, cookies::PRE_SESSION);
        let binding = pre.map(Binding::PreSession);
        let form = checked_form(st, lang, &parts, bytes, binding).await?;
        let csrf = pre
            .map(|p| csrf::token(&st.csrf_key, Binding::PreSession(p)))
            .unwrap_or_default();
        let challenge =
            cookies::get(&parts.headers, cookies::CHALLENGE).map(|v| Zeroizing::new(v.to_owned()));
        Ok(AnonForm {
            form,
            lang,
            csrf,
            challenge,
        })
    }
}

/// The pre-session binding of an anonymous page: the existing cookie, or a new one to set.
/// Returns the CSRF token for the page's forms and the `Set-Cookie` to send, if any.
pub(crate) fn pre_session(
    st: &AppState,
    parts_headers: &axum::http::HeaderMap,
) -> Result<(String, Option<HeaderValue>), crate::Error> {
    if let Some(p) = cookies::get(parts_headers, cookies::PRE_SESSION) {
        return Ok((csrf::token(&st.csrf_key, Binding::PreSession(p)), None));
    }
    let fresh = crate::credentials::tokens::new_token()?;
    let token = csrf::token(&st.csrf_key, Binding::PreSession(&fresh.text));
    let cookie = cookies::set(cookies::PRE_SESSION, &fresh.text, cookies::LOGIN_PATH, None);
    Ok((token, Some(cookie)))
}

/// A secret form field (password, code): wiped from memory on drop, never shown by `Debug`.
#[derive(Default, PartialEq, Eq)]
pub(crate) struct Secret(Zeroizing<String>);

impl Secret {
    /// The text.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| Secret(Zeroizing::new(s)))
    }
}
