//! The caller's profile and photo on the account page, and the step-up page.
//!
//! - `POST /account/profile`: e-mail, language, display names (`directory::update_profile`:
//!   the public name follows the private one until set apart). Choosing a language also sets
//!   the page-language cookie.
//! - `GET /account/photo` (the caller's own photo, 404 when none), `POST /account/photo` (a
//!   `multipart/form-data` upload: CSRF field and file), `POST /account/photo/delete`. The
//!   upload is the one form whose body may exceed `server.body_limit_bytes`: it is read up to
//!   [`PHOTO_FORM_LIMIT`] (1 MB photo + form overhead) and `photo::check` decides.
//! - `GET /account/reauth?next=PATH`, `POST /account/reauth`: password and second factor
//!   (`resets::reauth`), then back to `next` — a local path only.
//!
//! Not here: the rest of the account page (`account`), the JSON API (`http::api_account`).

use super::extract::{Secret, UserForm, WebSession, session_token};
use super::i18n::{self, Lang};
use super::{AppState, Chrome, NoFields, St, Tr, cookies, csrf, error_text, render, status_of};
use crate::app::Authd;
use crate::flows::directory::{self, ProfilePatch};
use crate::flows::login::{self, MfaMethod};
use crate::flows::resets;
use crate::model::User;
use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// Largest body of the photo form: the largest photo plus room for the multipart framing and
/// the CSRF field. Larger bodies are refused unread; `photo::check` judges the rest.
pub(crate) const PHOTO_FORM_LIMIT: usize = crate::photo::MAX_BYTES + 64 * 1024;

/// What the account page shows of the profile (`account.html` includes `account_profile.html`).
#[derive(Debug, Default)]
pub(crate) struct Extras {
    pub(crate) email: String,
    pub(crate) language: String,
    pub(crate) name_private: String,
    /// The public name when set apart from the private one.
    pub(crate) name_public: String,
    pub(crate) linked: bool,
    pub(crate) groups: Vec<String>,
    pub(crate) mfa_required: bool,
    /// `W×H · type` of the photo, if one is set.
    pub(crate) photo: Option<String>,
}

/// The profile part of the account page of `user`.
pub(crate) fn extras(app: &Authd, user: &User) -> crate::Result<Extras> {
    let p = app.store.profile(user.id)?;
    Ok(Extras {
        email: p.email.unwrap_or_default(),
        language: p.language.unwrap_or_default(),
        name_private: p.display_name_private.unwrap_or_default(),
        linked: p.display_name_public.is_none(),
        name_public: p.display_name_public.unwrap_or_default(),
        groups: app.store.user_groups(user.id)?,
        mfa_required: crate::flows::policy::mfa_required(app, user)?,
        photo: p
            .photo
            .map(|i| format!("{}×{} · {}", i.width, i.height, i.content_type)),
    })
}

/// The account page with an error.
async fn account_error(st: &AppState, s: &WebSession, e: &crate::Error) -> Response {
    let text = error_text(s.lang, e);
    super::account::account_page(st, s, None, status_of(e), Some(text)).await
}

#[derive(Deserialize)]
pub(super) struct ProfileForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    name_private: String,
    #[serde(default)]
    name_public: String,
    same: Option<String>,
}

/// An empty field clears the value.
fn field(v: &str) -> Option<Option<String>> {
    let v = v.trim();
    Some((!v.is_empty()).then(|| v.to_owned()))
}

/// `POST /account/profile`.
pub(super) async fn profile_save(
    State(st): St,
    parts: Parts,
    UserForm { s, form }: UserForm<ProfileForm>,
) -> Response {
    let patch = ProfilePatch {
        email: field(&form.email),
        language: field(&form.language),
        display_name_private: field(&form.name_private),
        display_name_public: if form.same.is_some() {
            Some(None)
        } else {
            field(&form.name_public)
        },
    };
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let who = s.who.clone();
    let r = st
        .app
        .blocking(move |app| directory::update_profile(app, &who, &patch, &client, now))
        .await;
    match r {
        Ok(p) => {
            let lang = p.language.as_deref().and_then(Lang::parse);
            let cookie = lang
                .map(|l| cookies::set(cookies::LANG, l.code(), "/", Some(cookies::LANG_MAX_AGE)));
            super::redirect_with("/account?done=profile_saved", cookie.into_iter().collect())
        }
        Err(e) => account_error(&st, &s, &e).await,
    }
}

/// `GET /account/photo`: the caller's own photo, as stored (metadata already removed).
pub(super) async fn photo_get(State(st): St, s: WebSession) -> Response {
    let id = s.who.user.id;
    match st.app.blocking(move |app| Ok(app.store.photo(id)?)).await {
        Ok(Some(p)) => {
            let ct = if p.info.content_type == "image/png" {
                "image/png"
            } else {
                "image/jpeg"
            };
            let mut r = Bytes::from(p.bytes).into_response();
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("inline"),
            );
            r
        }
        Ok(None) => super::error_page(&st, s.lang, &crate::Error::NotFound("photo")),
        Err(e) => super::error_page(&st, s.lang, &e),
    }
}

/// A refusal before the session is known: a message page back to the account page.
fn refused(st: &AppState, lang: Lang, status: StatusCode, text: &str) -> Response {
    let t = lang.tr();
    let title = if status == StatusCode::FORBIDDEN {
        t.csrf_title
    } else {
        t.bad_form_title
    };
    super::message(st, lang, status, title, text, "/account")
}

/// The fields of the photo form.
struct PhotoUpload {
    csrf: String,
    file: Bytes,
}

/// Parse a multipart body already read in full.
async fn parse_multipart(content_type: &HeaderValue, body: Bytes) -> Option<PhotoUpload> {
    let req = Request::builder()
        .method(Method::POST)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .ok()?;
    let mut mp = axum::extract::Multipart::from_request(req, &())
        .await
        .ok()?;
    let (mut csrf, mut file) = (None, None);
    while let Some(f) = mp.next_field().await.ok()? {
        let name = f.name().map(str::to_owned);
        match name.as_deref() {
            Some("csrf") => csrf = Some(f.text().await.ok()?),
            Some("photo") => file = Some(f.bytes().await.ok()?),
            _ => {}
        }
    }
    Some(PhotoUpload {
        csrf: csrf.unwrap_or_default(),
        file: file?,
    })
}

/// `POST /account/photo` (`multipart/form-data`): same-origin, size and CSRF checks like every
/// form, then `directory::set_photo`.
pub(super) async fn photo_upload(State(st): St, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let lang = i18n::negotiate(&parts.headers, parts.uri.query());
    let t = lang.tr();
    if !csrf::same_origin(&parts.headers, &parts.uri) {
        return refused(&st, lang, StatusCode::FORBIDDEN, t.origin_message);
    }
    let Some(ct) = parts
        .headers
        .get(header::CONTENT_TYPE)
        .filter(|v| {
            v.to_str()
                .is_ok_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"))
        })
        .cloned()
    else {
        let status = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        return refused(&st, lang, status, t.bad_form_message);
    };
    let Ok(bytes) = axum::body::to_bytes(body, PHOTO_FORM_LIMIT).await else {
        let e = crate::photo::PhotoError::TooLarge;
        let text = error_text(
            lang,
            &crate::Error::Unprocessable {
                code: e.code(),
                message: e.to_string(),
            },
        );
        return refused(&st, lang, StatusCode::PAYLOAD_TOO_LARGE, &text);
    };
    let Some(form) = parse_multipart(&ct, bytes).await else {
        return refused(&st, lang, StatusCode::BAD_REQUEST, t.bad_form_message);
    };
    let token = session_token(&parts, &st);
    let ok = token
        .as_deref()
        .is_some_and(|tok| csrf::verify(&st.csrf_key, csrf::Binding::Session(tok), &form.csrf));
    if !ok {
        return refused(&st, lang, StatusCode::FORBIDDEN, t.csrf_message);
    }
    let s = match WebSession::from_request_parts(&mut parts, &st).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let who = s.who.clone();
    let r = st
        .app
        .blocking(move |app| directory::set_photo(app, &who, &form.file, &client, now))
        .await;
    match r {
        Ok(_) => Redirect::to("/account?done=photo_saved").into_response(),
        Err(e) => account_error(&st, &s, &e).await,
    }
}

/// `POST /account/photo/delete`.
pub(super) async fn photo_delete(
    State(st): St,
    parts: Parts,
    UserForm { s, .. }: UserForm<NoFields>,
) -> Response {
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let who = s.who.clone();
    let r = st
        .app
        .blocking(move |app| directory::remove_photo(app, &who, &client, now))
        .await;
    match r {
        Ok(()) => Redirect::to("/account?done=photo_removed").into_response(),
        Err(e) => account_error(&st, &s, &e).await,
    }
}

/// Where to go after the step-up: a local path (one leading `/`, no scheme, no host, no
/// backslash, printable ASCII), else the account page.
pub(crate) fn safe_next(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 512
        && next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    if local { next } else { "/account" }
}

#[derive(Template)]
#[template(path = "reauth.html")]
struct ReauthPage {
    t: &'static Tr,
    c: Chrome,
    next: String,
    totp: bool,
    backup: bool,
}

/// The step-up page of `s`, with the account's methods read fresh.
async fn reauth_page(
    st: &AppState,
    s: &WebSession,
    next: &str,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let user = s.who.user.clone();
    let methods = match st
        .app
        .blocking(move |app| login::mfa_methods(app, &user))
        .await
    {
        Ok(m) => m,
        Err(e) => return super::error_page(st, s.lang, &e),
    };
    let t = s.lang.tr();
    let page = ReauthPage {
        t,
        c: Chrome::signed_in(st, s, "/account/reauth").with_error(error),
        next: safe_next(next).to_owned(),
        totp: methods.contains(&MfaMethod::Totp),
        backup: methods.contains(&MfaMethod::BackupCode),
    };
    render(status, &page)
}

#[derive(Deserialize)]
pub(super) struct NextQuery {
    #[serde(default)]
    next: String,
}

/// `GET /account/reauth?next=/admin/...`.
pub(super) async fn reauth(
    State(st): St,
    s: WebSession,
    q: Result<Query<NextQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let next = q.map(|Query(q)| q.next).unwrap_or_default();
    reauth_page(&st, &s, &next, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub(super) struct ReauthForm {
    password: Secret,
    #[serde(default)]
    method: String,
    #[serde(default)]
    code: Secret,
    #[serde(default)]
    next: String,
}

/// `POST /account/reauth`: then back to `next`.
pub(super) async fn reauth_submit(
    State(st): St,
    parts: Parts,
    UserForm { s, form }: UserForm<ReauthForm>,
) -> Response {
    let method = match form.method.as_str() {
        "" => None,
        "totp" => Some(MfaMethod::Totp),
        "backup_code" => Some(MfaMethod::BackupCode),
        _ => {
            let e = crate::Error::MethodNotAvailable;
            let error = Some(error_text(s.lang, &e));
            return reauth_page(&st, &s, &form.next, status_of(&e), error).await;
        }
    };
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let who = s.who.clone();
    let (password, code) = (form.password, form.code);
    let r = st
        .app
        .blocking(move |app| {
            let second = method.map(|m| (m, code.as_str()));
            resets::reauth(app, &who, password.as_str(), second, &client, now)
        })
        .await;
    match r {
        Ok(()) => Redirect::to(safe_next(&form.next)).into_response(),
        Err(e) => {
            let error = Some(error_text(s.lang, &e));
            reauth_page(&st, &s, &form.next, status_of(&e), error).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_is_a_local_path_only() {
        assert_eq!(safe_next("/admin/users"), "/admin/users");
        assert_eq!(safe_next("/admin/policy?x=1"), "/admin/policy?x=1");
        for bad in [
            "",
            "admin",
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "/a b",
            "/é",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(bad), "/account", "{bad}");
        }
    }
}
