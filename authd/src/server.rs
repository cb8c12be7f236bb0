//! Assembly and the HTTPS service.
//!
//! - [`start`]: from a validated configuration, create the data directory (0700), the master
//!   key, the store, the domain, the first admin and the TLS material.
//! - [`serve`]: our accept loop on a bound listener — a semaphore caps connections, tokio-rustls
//!   accepts (with a handshake timeout), hyper-util serves the router over h1 or h2 — until
//!   `shutdown` resolves; then it stops accepting and lets open connections finish (bounded).
//! - [`run`]: `start` + bind + `serve` until Ctrl-C or SIGTERM, printing what the operator must
//!   see (certificate fingerprint, the bootstrap password once).

use crate::app::Authd;
use crate::bootstrap::{self, Bootstrap};
use crate::clock::Clock;
use crate::http::extract::PeerAddr;
use crate::secrets::MasterKey;
use crate::store::sqlite::SqliteStore;
use crate::tls::{self, TlsMaterial};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory could not be created.
    #[error("data directory {path}: {reason}")]
    DataDir {
        /// The directory.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The master key could not be loaded or created.
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// TLS could not be set up.
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
    /// The domain refused to start (bootstrap, hashing pool).
    #[error("{0}")]
    Domain(#[from] crate::Error),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// Address asked for.
        addr: String,
        /// What went wrong.
        reason: String,
    },
}

/// Everything ready to serve.
#[derive(Debug)]
pub struct Prepared {
    /// The domain.
    pub app: Authd,
    /// TLS configuration and fingerprint.
    pub tls: TlsMaterial,
    /// What bootstrap did.
    pub bootstrap: Bootstrap,
}

/// Open everything in `config.server.data_dir`.
pub fn start(config: sesame_config::Config, clock: Arc<dyn Clock>) -> Result<Prepared, StartError> {
    let dir = config.server.data_dir.clone();
    crate::fsutil::ensure_private_dir(&dir).map_err(|e| StartError::DataDir {
        path: dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let key = MasterKey::load_or_create(&dir)?;
    let store = Arc::new(SqliteStore::open(&dir)?);
    let tls = tls::load_or_generate(&config)?;
    let app = Authd::new(config, store, key, clock)?;
    let bootstrap = bootstrap::ensure_admin(&app, app.now())?;
    Ok(Prepared {
        app,
        tls,
        bootstrap,
    })
}

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open connections get to finish after shutdown is asked.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serve `app` over TLS on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    app: Authd,
    tls_config: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartError> {
    let router = crate::http::router(app.clone())?;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls_config);
    let permits = Arc::new(Semaphore::new(app.config.server.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // Snapshots every backups.snapshot_every and a daily archive; checked every 5 minutes,
    // first after 1 minute (test servers never back up). SQLite work runs off the workers.
    let backups = {
        let app = app.clone();
        tokio::spawn(async move {
            let first = tokio::time::Instant::now() + Duration::from_secs(60);
            let mut every = tokio::time::interval_at(first, Duration::from_secs(300));
            loop {
                every.tick().await;
                let (dir, cfg, now) = (
                    app.config.server.data_dir.clone(),
                    app.config.backups.clone(),
                    app.now(),
                );
                match tokio::task::spawn_blocking(move || {
                    crate::store::sqlite::backup::run_due_backups(&dir, &cfg, now)
                })
                .await
                {
                    Ok(Ok(Some(p))) => tracing::info!(path = %p.display(), "backup written"),
                    Ok(Ok(None)) => {}
                    Ok(Err(e)) => tracing::error!(code = e.code(), error = %e, "backup failed"),
                    Err(e) => tracing::error!(error = %e, "backup task failed"),
                }
            }
        })
    };
    // Idle rate-limit counters are dropped every minute so memory stays bounded.
    let pruner = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                app.guard.prune(app.now_ms());
            }
        })
    };
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = router.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let svc = router.map_request(
                move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(PeerAddr(peer));
                    req
                },
            );
            let svc = hyper_util::service::TowerToHyperService::new(svc);
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    pruner.abort();
    backups.abort();
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain timeout; closing");
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Print what the operator must see at start. The generated bootstrap password goes to
/// standard output exactly once — never to the log.
pub fn print_banner(p: &Prepared, addr: std::net::SocketAddr) {
    println!("Sesame authd listening on https://{addr}/");
    println!(
        "TLS certificate SHA-256 fingerprint{}: {}",
        if p.tls.generated {
            " (newly generated)"
        } else {
            ""
        },
        p.tls.fingerprint
    );
    match &p.bootstrap {
        Bootstrap::Generated { username, password } => {
            println!("Bootstrap admin account: {username}");
            println!(
                "Bootstrap admin password (shown once, change it at first login): {}",
                password.as_str()
            );
        }
        Bootstrap::FromFile { username } => {
            println!(
                "Bootstrap admin account {username} created with the password from bootstrap.password_file"
            );
        }
        Bootstrap::Existing => {}
    }
}

/// Start, bind and serve until a signal.
pub async fn run(config: sesame_config::Config) -> Result<(), StartError> {
    let listen = config.server.listen;
    let prepared =
        tokio::task::spawn_blocking(move || start(config, Arc::new(crate::clock::SystemClock)))
            .await
            .map_err(|e| StartError::Domain(crate::Error::Internal(e.to_string())))??;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| StartError::Bind {
            addr: listen.to_string(),
            reason: e.to_string(),
        })?;
    let addr = listener.local_addr().unwrap_or(listen);
    print_banner(&prepared, addr);
    let Prepared { app, tls, .. } = prepared;
    serve(listener, app, tls.config, shutdown_signal()).await?;
    println!("Sesame authd stopped");
    Ok(())
}
