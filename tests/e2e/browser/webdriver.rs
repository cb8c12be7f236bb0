//! A small W3C WebDriver client for the page tests: it starts Debian's `chromedriver`, opens
//! a headless Chromium session, and speaks the few commands the tests need (navigate, find,
//! type, click, read, screenshot) plus the WebAuthn extension's virtual authenticator. Plain
//! HTTP/1.1 to the driver on loopback, through the workspace's hyper.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key W3C WebDriver uses for element references.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running chromedriver with one browser session.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: tempfile::TempDir,
}

/// A reference to an element of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn find_program(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

impl Browser {
    /// Start chromedriver and a headless Chromium that trusts the certificate whose SPKI
    /// SHA-256 (base64) is `spki_sha256`.
    pub async fn start(spki_sha256: &str) -> Browser {
        let (Some(chromium), Some(driver)) =
            (find_program("chromium"), find_program("chromedriver"))
        else {
            panic!(
                "the browser tests need Debian's chromium and chromium-driver: run scripts/setup"
            );
        };
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut b = Browser {
            driver: child,
            port,
            session: String::new(),
            _profile: profile,
        };
        // Poll until the driver answers (a process coming up, with a deadline).
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(v) = b.raw("GET", "/status", None).await
                && v["value"]["ready"] == true
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--window-size=1100,1400".to_owned(),
            format!("--user-data-dir={}", b._profile.path().display()),
            format!("--ignore-certificate-errors-spki-list={spki_sha256}"),
        ];
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        }}});
        let v = b
            .raw("POST", "/session", Some(caps))
            .await
            .expect("new session");
        b.session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_owned();
        b
    }

    async fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .map_err(|e| e.to_string())?;
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", format!("127.0.0.1:{}", self.port))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    }

    /// A session command; panics with the driver's message on error.
    pub async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let p = format!("/session/{}{path}", self.session);
        let v = self
            .raw(method, &p, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        if v["value"].get("error").is_some() {
            panic!("{method} {path}: {}", v["value"]);
        }
        v["value"].clone()
    }

    /// Open `url`.
    pub async fn go(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url }))).await;
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.cmd("GET", "/url", None)
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// The first element matching `css`, if any.
    pub async fn try_find(&self, css: &str) -> Option<Element> {
        let p = format!("/session/{}/element", self.session);
        let v = self
            .raw(
                "POST",
                &p,
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await
            .ok()?;
        v["value"][ELEMENT].as_str().map(|s| Element(s.to_owned()))
    }

    /// The first element matching `css`, waiting up to 30 s for it.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(e) = self.try_find(css).await {
                return e;
            }
            if Instant::now() > deadline {
                let text = self.text().await;
                panic!("no element {css} on {}: {text}", self.url().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Type `text` into `css`.
    pub async fn type_in(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.cmd(
            "POST",
            &format!("/element/{}/value", e.0),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Click `css`.
    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.cmd("POST", &format!("/element/{}/click", e.0), Some(json!({})))
            .await;
    }

    /// The text of `css`.
    pub async fn text_of(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.cmd("GET", &format!("/element/{}/text", e.0), None)
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// Run `script` (a function body) in the page and return its value.
    pub async fn script(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": "return document.body ? document.body.innerText : ''", "args": [] })),
        )
        .await
        .as_str()
        .unwrap_or("")
        .to_owned()
    }

    /// Wait up to 30 s until the URL's path is `path`.
    pub async fn wait_path(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let u = self.url().await;
            let here = u
                .split_once("://")
                .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
                .unwrap_or("");
            let here = here.split(['?', '#']).next().unwrap_or("");
            if here == path {
                return;
            }
            if Instant::now() > deadline {
                panic!("still on {u}, expected {path}: {}", self.text().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Save a PNG screenshot as `target/browser-screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> std::path::PathBuf {
        let b64 = self.cmd("GET", "/screenshot", None).await;
        let png = data_encoding::BASE64
            .decode(b64.as_str().unwrap_or("").as_bytes())
            .expect("base64 screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("browser-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Add Chromium's virtual authenticator: CTAP2, internal, resident keys, user verification.
    pub async fn add_virtual_authenticator(&self) -> String {
        let v = self
            .cmd(
                "POST",
                "/webauthn/authenticator",
                Some(json!({
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": true,
                    "hasUserVerification": true,
                    "isUserConsenting": true,
                    "isUserVerified": true,
                })),
            )
            .await;
        v.as_str().expect("authenticator id").to_owned()
    }

    /// The credentials the virtual authenticator holds.
    pub async fn virtual_credentials(&self, authenticator: &str) -> Vec<Value> {
        self.cmd(
            "GET",
            &format!("/webauthn/authenticator/{authenticator}/credentials"),
            None,
        )
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Best effort: end the session (closes Chromium), then the driver we started.
        if !self.session.is_empty() {
            let port = self.port;
            let session = self.session.clone();
            let _ = std::thread::spawn(move || {
                use std::io::Write;
                if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                    let _ = write!(
                        s,
                        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut buf = [0u8; 512];
                    let _ = std::io::Read::read(&mut s, &mut buf);
                }
            })
            .join();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
