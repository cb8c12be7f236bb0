//! Pieces both relay benchmarks use: the stub technician authentication (no authd in a bench;
//! it is not what is measured) and the set-up of one paired session's two ends.

use std::path::PathBuf;
use std::sync::Arc;
use support_relay::auth::{AuthError, Authenticator, BoxFut, Identity};
use support_relay::client::{self, Mux, customer};
use support_relay::proto::Control;

/// Accepts the session token `bench` as a technician; no login step.
#[derive(Debug)]
pub(crate) struct StubAuth;

impl Authenticator for StubAuth {
    fn login_step<'a>(
        &'a self,
        _: &'a str,
        _: serde_json::Value,
        _: std::net::IpAddr,
    ) -> BoxFut<'a, Result<(u16, serde_json::Value), AuthError>> {
        Box::pin(async { Err(AuthError::UnknownStep) })
    }
    fn identity<'a>(
        &'a self,
        s: &'a str,
        _: std::net::IpAddr,
    ) -> BoxFut<'a, Result<Option<Identity>, AuthError>> {
        Box::pin(async move {
            Ok((s == "bench").then(|| Identity {
                username: "bench".into(),
                roles: vec!["technician".into()],
            }))
        })
    }
    fn logout<'a>(&'a self, _: &'a str, _: std::net::IpAddr) -> BoxFut<'a, Result<(), AuthError>> {
        Box::pin(async { Ok(()) })
    }
}

/// A technician connected and authenticated who created a session key, and a customer
/// connection with the options to join with that key, consenting to `consent`.
pub(crate) async fn technician_and_customer(
    relay: &str,
    ccfg: Arc<rustls::ClientConfig>,
    consent: &str,
    dir: PathBuf,
) -> (Mux, String, Mux, customer::Options) {
    let mut tech = client::connect(relay, "localhost", ccfg.clone())
        .await
        .expect("tech");
    client::console::authenticate(&mut tech, "bench")
        .await
        .expect("auth");
    let key = match tech.request(&Control::KeyNew {}).await.expect("key") {
        Control::KeyCreated { key, .. } => key,
        other => panic!("{other:?}"),
    };
    let cust = client::connect(relay, "localhost", ccfg)
        .await
        .expect("cust");
    let opts = customer::Options {
        entry: customer::Entry::Key(key.clone()),
        name: "bench".into(),
        consent: Some([consent.to_owned()].into_iter().collect()),
        dir,
    };
    (tech, key, cust, opts)
}
