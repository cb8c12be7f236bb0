//! First start: on an empty store, create the `admin` account. Its password comes from the file
//! named by `bootstrap.password_file` (`SESAME_BOOTSTRAP_PASSWORD_FILE`) or is generated and
//! handed back to be printed exactly once. Either way the admin must change it at first login.

use crate::app::Authd;
use crate::flows::admin::{CreateUser, create_user_as};
use crate::model::ClientInfo;
use crate::{Error, Result};
use zeroize::Zeroizing;

/// What bootstrap did.
#[derive(Debug)]
pub enum Bootstrap {
    /// Accounts exist already: nothing done.
    Existing,
    /// The admin was created with the password from the file.
    FromFile {
        /// Admin username.
        username: String,
    },
    /// The admin was created with this generated password (print it once, then forget it).
    Generated {
        /// Admin username.
        username: String,
        /// The one-time password.
        password: Zeroizing<String>,
    },
}

/// Create the first admin if the store has no account.
pub fn ensure_admin(app: &Authd, now: i64) -> Result<Bootstrap> {
    if app.store.count_users()? > 0 {
        return Ok(Bootstrap::Existing);
    }
    let username = app.config.bootstrap.admin_username.clone();
    let (password, from_file) = match &app.config.bootstrap.password_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::InvalidRequest(format!("bootstrap.password_file {}: {e}", path.display()))
            })?;
            (
                Zeroizing::new(text.trim_end_matches(['\r', '\n']).to_owned()),
                true,
            )
        }
        // 24 readable symbols ≈ 119 bits.
        None => (crate::credentials::tokens::readable_secret(24)?, false),
    };
    let system = ClientInfo {
        address: "local".into(),
        user_agent: "bootstrap".into(),
        ..Default::default()
    };
    create_user_as(
        app,
        None,
        &CreateUser {
            username: username.clone(),
            password: password.to_string(),
            roles: vec!["admin".into()],
            must_change_password: true,
        },
        &system,
        now,
    )
    .map_err(|e| match e {
        Error::WeakPassword(v) => {
            Error::InvalidRequest(format!("the bootstrap admin password is refused: {v}"))
        }
        other => other,
    })?;
    Ok(if from_file {
        Bootstrap::FromFile { username }
    } else {
        Bootstrap::Generated { username, password }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::login::{self, LoginStep};
    use crate::flows::testkit::{Kit, client};

    #[test]
    fn generated_admin_must_change_password_and_bootstrap_runs_once() {
        let kit = Kit::new();
        let Bootstrap::Generated { username, password } =
            ensure_admin(&kit.app, kit.clock_now()).unwrap()
        else {
            panic!()
        };
        assert_eq!(username, "admin");
        assert!(password.len() >= 24);
        let step =
            login::password_step(&kit.app, "admin", &password, &client(), kit.clock_now()).unwrap();
        assert!(matches!(step, LoginStep::PasswordChangeRequired { .. }));
        assert!(matches!(
            ensure_admin(&kit.app, kit.clock_now()).unwrap(),
            Bootstrap::Existing
        ));
    }

    #[test]
    fn password_file_is_used_and_weak_ones_refused() {
        let kit = Kit::new();
        let f = kit.dir.path().join("pw");
        std::fs::write(&f, "123456\n").unwrap();
        let mut cfg = (*kit.app.config).clone();
        cfg.bootstrap.password_file = Some(f.clone());
        let mut app = kit.app.clone();
        app.config = std::sync::Arc::new(cfg);
        let e = ensure_admin(&app, kit.clock_now()).unwrap_err();
        assert!(
            e.to_string()
                .contains("bootstrap admin password is refused"),
            "{e}"
        );
        assert_eq!(kit.app.store.count_users().unwrap(), 0, "nothing created");
        std::fs::write(&f, "a long root passphrase\n").unwrap();
        assert!(matches!(
            ensure_admin(&app, kit.clock_now()).unwrap(),
            Bootstrap::FromFile { .. }
        ));
        assert!(matches!(
            login::password_step(
                &app,
                "admin",
                "a long root passphrase",
                &client(),
                kit.clock_now()
            )
            .unwrap(),
            LoginStep::PasswordChangeRequired { .. }
        ));
    }
}
