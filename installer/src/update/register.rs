//! Registering an installation with the appliance, which answers with the update token the
//! installation then presents at `/updates/`: at the technician's login
//! (`POST /api/v1/console-installs`, the login's authd session as bearer) or, for a console
//! installed with `DEPLOYTOKEN=`, before any login (`POST /api/v1/console-installs/deploy`).
//!
//! The appliance is the origin of the installation's `update_url` (authd serves both the
//! repository and the API). The relay is not involved: it forwards logins, it does not hold
//! update tokens. The token is stored 0600 and fsync'ed before success is reported.

use super::{UpdateError, installed_version, store_update_token};
use crate::apply::load_settings;
use crate::fsutil;
use crate::manifest::PLATFORM_LINUX_X86_64;
use crate::plan::{Layout, Settings};
use crate::properties::Token;
use serde_json::{Value, json};

fn api_url(settings: &Settings, path: &str) -> Result<url::Url, UpdateError> {
    url::Url::parse(&settings.update_url)
        .and_then(|u| u.join(path))
        .map_err(|e| UpdateError::MetadataInvalid(format!("the update URL is not usable: {e}")))
}

fn settings(layout: &Layout) -> Result<Settings, UpdateError> {
    load_settings(layout)
        .map_err(|e| UpdateError::Io {
            action: "read",
            path: layout.settings_file().display().to_string(),
            reason: e.to_string(),
        })?
        .ok_or_else(|| UpdateError::NotInstalled(layout.install_dir.display().to_string()))
}

fn facts(layout: &Layout, settings: &Settings) -> Result<Value, UpdateError> {
    let version = installed_version(layout)
        .ok_or_else(|| UpdateError::NotInstalled(layout.install_dir.display().to_string()))?;
    Ok(json!({
        "install_id": settings.install_id,
        "platform": PLATFORM_LINUX_X86_64,
        "version": version.to_string(),
    }))
}

async fn register(
    layout: &Layout,
    settings: &Settings,
    bearer: Token,
    path: &str,
    body: Value,
) -> Result<Result<Token, (u16, String)>, UpdateError> {
    let state = &layout.state_dir;
    let ca = fsutil::read_optional(&state.join(super::RELAY_CA_FILE))
        .map_err(super::io_err("read", &state.join(super::RELAY_CA_FILE)))?;
    let transport = super::transport::BearerTransport::new(bearer, ca.as_deref())
        .map_err(UpdateError::Unreachable)?;
    let (status, answer) = transport
        .post_json(&api_url(settings, path)?, &body)
        .await
        .map_err(UpdateError::Unreachable)?;
    if status != 201 {
        let message = answer["error"]["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("HTTP {status}"));
        return Ok(Err((status, message)));
    }
    let token = answer["update_token"]
        .as_str()
        .and_then(Token::parse)
        .ok_or_else(|| {
            UpdateError::Unreachable("the server answered without an update token".into())
        })?;
    store_update_token(state, &token).map_err(super::io_err("store the update token in", state))?;
    Ok(Ok(token))
}

/// After a technician's successful login: registers the installation with the login's authd
/// session and stores the update token it receives (each login issues a new one).
pub async fn register_login(layout: &Layout, session: &str) -> Result<(), UpdateError> {
    let settings = settings(layout)?;
    let bearer = Token::parse(session).ok_or_else(|| {
        UpdateError::RegistrationRefused("the session token is not usable".into())
    })?;
    let body = facts(layout, &settings)?;
    match register(layout, &settings, bearer, "/api/v1/console-installs", body).await? {
        Ok(_) => Ok(()),
        Err((_, message)) => Err(UpdateError::RegistrationRefused(message)),
    }
}

/// A console installed with a deploy token and no update token yet: registers with the
/// deploy token and stores the update token it receives.
pub(super) async fn register_deploy(
    layout: &Layout,
    settings: &Settings,
    deploy: Token,
) -> Result<Token, UpdateError> {
    let mut body = facts(layout, settings)?;
    body["deploy_token"] = json!(deploy.expose());
    match register(
        layout,
        settings,
        deploy,
        "/api/v1/console-installs/deploy",
        body,
    )
    .await?
    {
        Ok(t) => Ok(t),
        Err((401 | 403, _)) => Err(UpdateError::TokenRejected {
            download_url: super::download_url(&settings.relay_url),
        }),
        Err((_, message)) => Err(UpdateError::RegistrationRefused(message)),
    }
}
