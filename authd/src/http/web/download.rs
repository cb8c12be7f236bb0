//! `GET /download`: the support console for each platform, the one of the visitor's system
//! first, with the exact silent-install command lines; `GET /download/console/{platform}`: the
//! package itself (published by `sesame admin console publish` under the data directory). Both
//! are public: a console is no secret, its updates need a token.

use super::i18n::Lang;
use super::{AppState, Chrome, St, Tr, render};
use crate::flows::console::PLATFORMS;
use crate::http::api_console::DOWNLOAD_DIR;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

struct PlatformRow {
    name: &'static str,
    detected: bool,
    available: bool,
}

#[derive(Template)]
#[template(path = "download.html")]
struct DownloadPage {
    t: &'static Tr,
    c: Chrome,
    platforms: Vec<PlatformRow>,
    any_detected: bool,
}

/// The platform a browser's User-Agent names, if we build for it.
pub(crate) fn detect(user_agent: &str) -> Option<&'static str> {
    let ua = user_agent.to_ascii_lowercase();
    if ua.contains("linux")
        && (ua.contains("x86_64") || ua.contains("x64") || ua.contains("amd64"))
        && !ua.contains("android")
    {
        return Some("linux-x86_64");
    }
    None
}

fn package_path(st: &AppState, platform: &str) -> std::path::PathBuf {
    st.app
        .config
        .server
        .data_dir
        .join(DOWNLOAD_DIR)
        .join(format!("sesame-console-{platform}.tar.gz"))
}

/// `GET /download`.
pub(super) async fn page(State(st): St, lang: Lang, parts: Parts) -> Response {
    let ua = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let detected = detect(ua);
    let mut platforms: Vec<PlatformRow> = PLATFORMS
        .iter()
        .map(|name| PlatformRow {
            name,
            detected: Some(*name) == detected,
            available: package_path(&st, name).is_file(),
        })
        .collect();
    platforms.sort_by_key(|p| !p.detected);
    let t = lang.tr();
    let page = DownloadPage {
        t,
        c: Chrome::anonymous(&st, lang, "/download", String::new()),
        any_detected: detected.is_some(),
        platforms,
    };
    render(StatusCode::OK, &page)
}

/// `GET /download/console/{platform}`.
pub(super) async fn package(State(st): St, Path(platform): Path<String>) -> Response {
    let Some(name) = PLATFORMS.iter().find(|p| **p == platform) else {
        return crate::http::error::ApiError::from(crate::Error::NotFound("platform"))
            .into_response();
    };
    let path = package_path(&st, name);
    let read = tokio::task::spawn_blocking(move || std::fs::read(path)).await;
    let bytes = match read {
        Ok(Ok(b)) => b,
        _ => {
            return crate::http::error::ApiError::from(crate::Error::NotFound("console package"))
                .into_response();
        }
    };
    let mut r = Bytes::from(bytes).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/gzip"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"sesame-console-{name}.tar.gz\""
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::detect;

    #[test]
    fn platforms_from_user_agents() {
        let linux = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36";
        assert_eq!(detect(linux), Some("linux-x86_64"));
        let android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/156.0 Mobile Safari/537.36";
        assert_eq!(detect(android), None);
        let windows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/156.0";
        assert_eq!(detect(windows), None);
        assert_eq!(detect(""), None);
    }
}
