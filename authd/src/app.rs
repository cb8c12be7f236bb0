//! [`Authd`]: the services every flow needs, assembled once at start-up and shared.

use crate::clock::Clock;
use crate::credentials::hasher::Hasher;
use crate::credentials::password::PasswordPolicy;
use crate::guard::Guard;
use crate::secrets::MasterKey;
use crate::store::Store;
use std::sync::Arc;

/// The assembled domain: configuration, store, hashing pool, master key, clock and policy.
/// Cheap to clone (everything is behind `Arc`).
#[derive(Clone, Debug)]
pub struct Authd {
    /// Validated configuration.
    pub config: Arc<sesame_config::Config>,
    /// Persistent state.
    pub store: Arc<dyn Store>,
    /// argon2id on a bounded pool.
    pub hasher: Hasher,
    /// Seals OTP seeds at rest.
    pub key: Arc<MasterKey>,
    /// The only source of time.
    pub clock: Arc<dyn Clock>,
    /// Password and username rules.
    pub policy: PasswordPolicy,
    /// IP rules, rate limits, suspensions.
    pub guard: Arc<Guard>,
    /// The WebAuthn relying party and attestation policy, built once from `[webauthn]`.
    pub webauthn: Arc<crate::credentials::webauthn::RelyingParty>,
}

impl Authd {
    /// Assemble the services.
    pub fn new(
        config: sesame_config::Config,
        store: Arc<dyn Store>,
        key: MasterKey,
        clock: Arc<dyn Clock>,
    ) -> Result<Authd, crate::Error> {
        let hasher = Hasher::new(
            &config.password,
            config.hashing.threads,
            config.hashing.queue,
        )?;
        let guard = Guard::open(&config.guard, Arc::clone(&store), clock.now())?;
        let webauthn = crate::credentials::webauthn::RelyingParty::from_config(&config)?;
        Ok(Authd {
            webauthn: Arc::new(webauthn),
            guard: Arc::new(guard),
            policy: PasswordPolicy::from_config(&config),
            config: Arc::new(config),
            store,
            hasher,
            key: Arc::new(key),
            clock,
        })
    }

    /// The current time, read once at the edge of a request.
    pub fn now(&self) -> crate::clock::UnixTime {
        self.clock.now()
    }

    /// The current time in milliseconds (rate limits).
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Run a blocking flow (store, hashing) off the async workers.
    pub async fn blocking<T, F>(&self, f: F) -> Result<T, crate::Error>
    where
        T: Send + 'static,
        F: FnOnce(&Authd) -> Result<T, crate::Error> + Send + 'static,
    {
        let app = self.clone();
        match tokio::task::spawn_blocking(move || f(&app)).await {
            Ok(r) => r,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(crate::Error::Internal(format!("task: {e}"))),
        }
    }
}
