//! Test support: a real authd on a free loopback port over real TLS, and a small HTTPS client
//! (tokio-rustls + hyper) that trusts exactly the server's generated certificate.

#![allow(dead_code, unreachable_pub)]

use authd::clock::ManualClock;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;

/// 2026-11-23T12:00:00Z
pub const T0: i64 = 1_795_435_200;
pub const ADMIN_PW: &str = "first root passphrase";

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    /// The server's TLS configuration (benchmarks reuse it for baselines).
    pub server_tls: Arc<rustls::ServerConfig>,
    pub clock: ManualClock,
    /// The clock the server reads (the manual one, or the system's for benchmarks).
    pub clock_dyn: Arc<dyn authd::clock::Clock>,
    pub tls: Arc<rustls::ClientConfig>,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub fn client_tls(cert_pem: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
        roots.add(c.expect("cert")).expect("add root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(cfg)
}

impl Server {
    /// Start with cheap argon2 parameters and a bootstrap password file.
    pub async fn start() -> Server {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut sesame_config::Config)) -> Server {
        Self::start_inner(tweak, false).await
    }

    /// Start on the real clock (benchmarks: rate limits and latencies need real time).
    pub async fn start_real(tweak: impl FnOnce(&mut sesame_config::Config)) -> Server {
        Self::start_inner(tweak, true).await
    }

    /// Start again on the directory of a stopped server (same data, same clock start).
    pub async fn start_on(dir: tempfile::TempDir) -> Server {
        Self::start_in(dir, |_| {}, false).await
    }

    async fn start_inner(
        tweak: impl FnOnce(&mut sesame_config::Config),
        real_clock: bool,
    ) -> Server {
        Self::start_in(tempfile::tempdir().expect("tempdir"), tweak, real_clock).await
    }

    async fn start_in(
        dir: tempfile::TempDir,
        tweak: impl FnOnce(&mut sesame_config::Config),
        real_clock: bool,
    ) -> Server {
        let mut cfg = sesame_config::Config::danger_test_defaults();
        cfg.server.data_dir = dir.path().join("data");
        let pw = dir.path().join("admin-pw");
        std::fs::write(&pw, format!("{ADMIN_PW}\n")).expect("pw file");
        cfg.bootstrap.password_file = Some(pw);
        tweak(&mut cfg);
        let clock = ManualClock::new(T0);
        let c2 = clock.clone();
        let clock_dyn: Arc<dyn authd::clock::Clock> = if real_clock {
            Arc::new(authd::clock::SystemClock)
        } else {
            Arc::new(c2)
        };
        let clock_dyn_kept = clock_dyn.clone();
        let prepared = tokio::task::spawn_blocking(move || authd::server::start(cfg, clock_dyn))
            .await
            .expect("join")
            .expect("start");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let tls = client_tls(&prepared.tls.cert_pem);
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let app = prepared.app.clone();
        let server_tls = prepared.tls.config.clone();
        let server_tls_kept = server_tls.clone();
        let task = tokio::spawn(async move {
            authd::server::serve(listener, app, server_tls, async {
                let _ = rx.await;
            })
            .await
            .expect("serve");
        });
        Server {
            addr,
            server_tls: server_tls_kept,
            clock_dyn: clock_dyn_kept,
            clock,
            tls,
            dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stop the server; the data directory stays until the returned handle is dropped.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("server task");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, dir)
    }

    pub fn client(&self) -> Client {
        Client {
            addr: self.addr,
            tls: self.tls.clone(),
            source: None,
            clock: self.clock_dyn.clone(),
        }
    }
}

/// An HTTPS client; each request opens its own connection (so concurrent requests really use
/// many connections).
#[derive(Clone)]
pub struct Client {
    pub addr: SocketAddr,
    pub tls: Arc<rustls::ClientConfig>,
    /// Source address to connect from (any of 127.0.0.0/8 works on Linux loopback).
    pub source: Option<std::net::IpAddr>,
    /// The server's clock (to compute TOTP codes for "now").
    pub clock: Arc<dyn authd::clock::Clock>,
}

pub struct Resp {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

/// A kept-alive HTTP/1.1 connection.
pub struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Client {
    /// The same client, connecting from `source`.
    pub fn from(&self, source: &str) -> Client {
        Client {
            source: Some(source.parse().expect("source address")),
            ..self.clone()
        }
    }

    /// A request with extra headers (JSON body).
    pub async fn request_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Resp {
        self.connect()
            .await
            .request_with(method, path, headers, body)
            .await
    }

    pub async fn connect(&self) -> Conn {
        let tcp = match self.source {
            None => TcpStream::connect(self.addr).await.expect("connect"),
            Some(src) => {
                let sock = tokio::net::TcpSocket::new_v4().expect("socket");
                sock.bind(SocketAddr::new(src, 0)).expect("bind source");
                sock.connect(self.addr).await.expect("connect")
            }
        };
        tcp.set_nodelay(true).ok();
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(ServerName::try_from("localhost").expect("name"), tcp)
            .await
            .expect("tls handshake");
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .expect("h1 handshake");
        tokio::spawn(conn);
        Conn { sender }
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Resp {
        self.connect()
            .await
            .request(method, path, token, content_type, body)
            .await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.request(
            "POST",
            path,
            token,
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.request("GET", path, token, None, vec![]).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.request("DELETE", path, token, None, vec![]).await
    }
}

impl Conn {
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Resp {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(a) = &auth {
            headers.push(("authorization", a));
        }
        if let Some(ct) = content_type {
            headers.push(("content-type", ct));
        }
        self.request_with(method, path, &headers, body).await
    }

    pub async fn request_with(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Resp {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
        {
            b = b.header("user-agent", "e2e-test");
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(Full::new(Bytes::from(body))).expect("request");
        self.sender.ready().await.expect("ready");
        let resp = self.sender.send_request(req).await.expect("send");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn post(&mut self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.request(
            "POST",
            path,
            token,
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await
    }
}

/// TOTP code for a base32 secret (as returned by enrolment, spaces allowed) at `t`.
pub fn totp_code(secret_b32: &str, t: i64) -> String {
    let s = sesame_hardware::OtpSecret::from_base32(secret_b32).expect("secret");
    let p = sesame_hardware::otp::TotpParams::default();
    sesame_hardware::otp::totp_at_step(s.as_bytes(), p.step_at(t as u64), &p).to_string()
}

/// Log the bootstrap admin in, doing the forced password change and the TOTP enrolment the
/// MFA policy demands of admins; returns a session token.
pub async fn admin_session(c: &Client, new_password: &str) -> String {
    admin_session_with_secret(c, new_password).await.0
}

/// [`admin_session`], also returning the admin's TOTP secret (base32).
pub async fn admin_session_with_secret(c: &Client, new_password: &str) -> (String, String) {
    let r = c
        .post(
            "/api/v1/login",
            None,
            serde_json::json!({"username": "admin", "password": ADMIN_PW}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let v = r.json();
    assert_eq!(v["password_change_required"], true, "{v}");
    let r = c
        .post(
            "/api/v1/login/password",
            None,
            serde_json::json!({"challenge": v["challenge"], "new_password": new_password}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    enrol_at_login(c, &r.json()).await
}

/// Answer an `enrolment_required` login step: enrol a TOTP device and confirm it with the
/// current code. Returns the session and the device's secret.
pub async fn enrol_at_login(c: &Client, step: &Value) -> (String, String) {
    assert_eq!(step["enrolment_required"], true, "{step}");
    assert_eq!(step["methods"], serde_json::json!(["totp"]), "{step}");
    let r = c
        .post(
            "/api/v1/login/enrol",
            None,
            serde_json::json!({"challenge": step["challenge"], "method": "totp", "label": "phone"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let m = r.json();
    let secret = m["secret"].as_str().expect("secret").to_owned();
    let code = totp_code(&secret, c.clock.now());
    let r = c
        .post(
            "/api/v1/login/enrol/confirm",
            None,
            serde_json::json!({"challenge": step["challenge"], "id": m["id"], "code": code}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let session = r.json()["session"].as_str().expect("session").to_owned();
    (session, secret)
}

/// Password step then second factor: the answer of `/api/v1/login/mfa` (panics if the password
/// step does not ask for a second factor).
pub async fn login_mfa(c: &Client, user: &str, password: &str, method: &str, code: &str) -> Resp {
    let ch = c
        .post(
            "/api/v1/login",
            None,
            serde_json::json!({"username": user, "password": password}),
        )
        .await
        .json();
    assert_eq!(ch["mfa_required"], true, "{ch}");
    c.post(
        "/api/v1/login/mfa",
        None,
        serde_json::json!({"challenge": ch["challenge"], "method": method, "code": code}),
    )
    .await
}
