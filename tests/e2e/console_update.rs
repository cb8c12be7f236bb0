//! The console's whole update story against the real appliance (issue #8), with real
//! processes on loopback: authd and the relay (the in-process pair `sesame` runs, on a
//! `ManualClock`), the real `sesame admin console package|publish|revoke|deploy-token`
//! commands on its data directory, the real `installer` installing the packages in temporary
//! `HOME`s and `SESAME_INSTALL_ROOT`s, and the installed `support-console` logging in through
//! the relay and updating itself from the appliance's signed repository.
//!
//! The packages hold the very binaries cargo built; versions differ only by their manifest
//! (the installed console's `--version` reports its package's version).
//! The attacks a hostile server or network could mount are played by writing into the
//! appliance's repository directory, or signing with `installer::repo` directly (an older
//! package the CLI refuses to publish, metadata signed 30 days ago, another repository's keys).

use crate::relay::{Rig, bin, out};
use crate::support::*;
use installer::repo::{Expiries, Repository};
use serde_json::{Value, json};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

const PW: &str = "violet-harbour-77";

fn sesame() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sesame"));
    c.env_remove("SESAME_CONFIG").stdin(Stdio::null());
    c
}

/// The `installer` binary, built once if `cargo test -p sesame` did not build it.
fn installer_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    let p = PathBuf::from(env!("CARGO_BIN_EXE_sesame")).with_file_name("installer");
    if !p.exists() {
        BUILT.get_or_init(|| {
            let target = p
                .parent()
                .and_then(Path::parent)
                .expect("target dir")
                .to_owned();
            let st = Command::new(env!("CARGO"))
                .args(["build", "-p", "installer", "--bins"])
                .env("CARGO_TARGET_DIR", target)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("run cargo build for the installer");
            assert!(st.success(), "cargo build -p installer --bins failed");
        });
    }
    p
}

/// `installer::repo` runs its own runtime: call it off the async workers.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[track_caller]
fn ok(o: &Output) -> String {
    let (so, se) = text(o);
    assert!(o.status.success(), "stdout {so}\nstderr {se}");
    so
}

#[allow(
    clippy::disallowed_methods,
    reason = "update metadata is checked against the real clock by the console"
)]
fn wall_now() -> SystemTime {
    SystemTime::now()
}

/// The appliance of these tests, and its packages.
struct Appliance {
    rig: Rig,
    admin: String,
    url: String,
    data: PathBuf,
    packages: PathBuf,
}

impl Appliance {
    async fn start() -> Appliance {
        let rig = Rig::start().await;
        let admin = admin_session(&rig.api, "second root passphrase").await;
        let url = format!("https://127.0.0.1:{}/", rig.api.addr.port());
        let data = rig.dir.path().join("data");
        let packages = rig.dir.path().join("packages");
        std::fs::create_dir_all(&packages).expect("packages dir");
        Appliance {
            rig,
            admin,
            url,
            data,
            packages,
        }
    }

    fn package_path(&self, version: &str) -> PathBuf {
        self.packages
            .join(format!("sesame-console-{version}.tar.gz"))
    }

    /// `sesame admin console package` of the built binaries as `version`.
    async fn package(&self, version: &str) -> PathBuf {
        let out_file = self.package_path(version);
        let bins = bin("support-console");
        let mut c = sesame();
        c.args(["admin", "console", "package", "--data-dir"])
            .arg(&self.data)
            .args(["--version", version, "--binary"])
            .arg(bins.parent().expect("bin dir"))
            .args(["--relay-url", &self.url, "--out"])
            .arg(&out_file);
        let so = ok(&out(c).await);
        assert!(so.contains(&format!("sesame-console {version}")), "{so}");
        out_file
    }

    async fn publish_cli(&self, file: &Path) -> Output {
        let mut c = sesame();
        c.args(["admin", "console", "publish", "--data-dir"])
            .arg(&self.data)
            .arg(file);
        out(c).await
    }

    async fn publish(&self, version: &str) {
        let o = self.publish_cli(&self.package_path(version)).await;
        let so = ok(&o);
        assert!(
            so.contains(&format!("Published sesame-console {version}")),
            "{so}"
        );
    }

    /// An online `sesame admin console …` command as the admin.
    async fn admin_cli(&self, args: &[&str]) -> Output {
        let mut c = sesame();
        c.args(["admin", "console"])
            .args(args)
            .args([
                "--url",
                self.url.trim_end_matches('/'),
                "--token",
                &self.admin,
            ])
            .arg("--ca-cert")
            .arg(&self.rig.ca)
            .env_remove("SESAME_ADMIN_TOKEN");
        out(c).await
    }

    fn repo(&self) -> Repository {
        Repository::open(&self.data.join("console-updates")).expect("repository")
    }

    fn served(&self) -> PathBuf {
        self.data.join("console-updates/repository")
    }

    async fn installs(&self) -> Vec<Value> {
        let r = self
            .rig
            .api
            .get("/api/v1/console-installs", Some(&self.admin))
            .await;
        assert_eq!(r.status, 200);
        r.json()["installs"].as_array().expect("installs").clone()
    }
}

/// One console machine: a temporary `HOME` (and, per machine, a `SESAME_INSTALL_ROOT`).
struct Machine {
    home: PathBuf,
    root: Option<PathBuf>,
}

impl Machine {
    fn per_user(app: &Appliance, name: &str) -> Machine {
        let home = app.rig.dir.path().join(name);
        std::fs::create_dir_all(&home).expect("home");
        Machine { home, root: None }
    }

    fn per_machine(app: &Appliance, name: &str) -> Machine {
        let home = app.rig.dir.path().join(name);
        let root = home.join("root");
        std::fs::create_dir_all(&root).expect("root");
        Machine {
            home,
            root: Some(root),
        }
    }

    fn env(&self, c: &mut Command) {
        c.env("HOME", &self.home)
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_STATE_HOME")
            .env_remove("SUPPORT_RELAY")
            .env_remove("SUPPORT_RELAY_CA")
            .env_remove("SUPPORT_SESSION_FILE")
            .env_remove("SUPPORT_UPDATE_EVERY")
            .stdin(Stdio::null());
        match &self.root {
            Some(r) => c.env("SESAME_INSTALL_ROOT", r),
            None => c.env_remove("SESAME_INSTALL_ROOT"),
        };
    }

    async fn install(&self, package: &Path, props: &[&str]) -> Output {
        let mut c = Command::new(installer_bin());
        self.env(&mut c);
        c.arg("/i").arg(package).arg("/qn").args(props);
        out(c).await
    }

    fn install_dir(&self) -> PathBuf {
        match &self.root {
            Some(r) => r.join("opt/sesame-console"),
            None => self.home.join(".local/share/sesame-console"),
        }
    }

    fn state(&self) -> PathBuf {
        match &self.root {
            Some(r) => r.join("var/lib/sesame-console"),
            None => self.home.join(".local/state/sesame-console"),
        }
    }

    fn exe(&self) -> PathBuf {
        self.install_dir().join("current/bin/support-console")
    }

    /// The installed console, pointed at the appliance's relay.
    fn console(&self, app: &Appliance, args: &[&str]) -> Command {
        let mut c = Command::new(self.exe());
        self.env(&mut c);
        c.arg("--relay")
            .arg(app.rig.relay.to_string())
            .arg("--ca")
            .arg(&app.rig.ca)
            .arg("--session-file")
            .arg(self.home.join("console-session"))
            .args(args);
        c
    }

    async fn version(&self, app: &Appliance) -> String {
        let o = out(self.console(app, &["--version"])).await;
        ok(&o).trim().to_owned()
    }

    async fn update(&self, app: &Appliance, args: &[&str]) -> Output {
        let mut a = vec!["update"];
        a.extend_from_slice(args);
        out(self.console(app, &a)).await
    }

    /// `update` must fail with `code`; returns stderr.
    async fn refused(&self, app: &Appliance, code: &str) -> String {
        let o = self.update(app, &[]).await;
        let (so, se) = text(&o);
        assert_eq!(o.status.code(), Some(1), "stdout {so}\nstderr {se}");
        assert!(se.starts_with(&format!("{code}: ")), "{se}");
        se
    }

    /// `support-console login` through the relay, password on stdin, TOTP code.
    async fn login(&self, app: &Appliance, user: &str, secret: &str) -> Output {
        app.rig.clock.advance(30);
        let code = totp_code(secret, authd::clock::Clock::now(&app.rig.clock));
        let mut c = self.console(
            app,
            &["login", "--user", user, "--password-stdin", "--code", &code],
        );
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        tokio::task::spawn_blocking(move || {
            let mut ch = c.spawn().expect("spawn login");
            ch.stdin
                .take()
                .expect("stdin")
                .write_all(format!("{PW}\n").as_bytes())
                .expect("password");
            ch.wait_with_output().expect("wait")
        })
        .await
        .expect("join")
    }

    fn settings(&self) -> Value {
        serde_json::from_slice(
            &std::fs::read(self.state().join("settings.json")).expect("settings"),
        )
        .expect("json")
    }
}

fn target_of(app: &Appliance, version: &str) -> PathBuf {
    std::fs::read_dir(app.served().join("targets"))
        .expect("targets")
        .map(|e| e.expect("entry").path())
        .find(|p| p.to_string_lossy().contains(&format!("-{version}-")))
        .expect("target file")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_logs_in_gets_its_token_updates_and_refuses_every_attack() {
    let app = Appliance::start().await;
    let secret = app
        .rig
        .account(&app.admin, "tess", json!(["technician"]))
        .await;
    let v1 = app.package("1.0.0").await;
    app.package("2.0.0").await;
    app.package("3.0.0").await;
    app.publish("1.0.0").await;
    // The download page serves the published package.
    let r = app
        .rig
        .api
        .get("/download/console/linux-x86_64", None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], &std::fs::read(&v1).expect("v1")[..]);

    // A silent per-user install that updates itself.
    let m = Machine::per_user(&app, "tess-home");
    ok(&m
        .install(
            &v1,
            &["SHOULDAUTOUPDATE=1", &format!("RELAYURL={}", app.url)],
        )
        .await);
    assert_eq!(m.version(&app).await, "support-console 1.0.0");
    assert!(!m.state().join("update-token").exists());

    // The first login through the relay registers the installation: a 0600 update token.
    let o = m.login(&app, "tess", &secret).await;
    let (so, se) = text(&o);
    assert!(o.status.success(), "{so}{se}");
    assert!(so.contains("Logged in as tess"), "{so}");
    assert!(se.contains("registered for updates"), "{se}");
    let token_file = m.state().join("update-token");
    let token = std::fs::read_to_string(&token_file).expect("update token");
    assert_eq!(
        std::fs::metadata(&token_file)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let install_id = m.settings()["install_id"]
        .as_str()
        .expect("install id")
        .to_owned();
    let installs = app.installs().await;
    let row = installs
        .iter()
        .find(|i| i["install_id"] == install_id.as_str())
        .expect("registered installation");
    assert_eq!(
        (
            row["user"].as_str(),
            row["version"].as_str(),
            row["via"].as_str()
        ),
        (Some("tess"), Some("1.0.0"), Some("login"))
    );
    // The server keeps only the token's hash.
    let db = authd::store::sqlite::DB_FILE;
    for f in [db.to_owned(), format!("{db}-wal")] {
        if let Ok(bytes) = std::fs::read(app.data.join(&f)) {
            assert!(
                !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
                "{f} holds the update token"
            );
        }
    }

    // Up to date; then v2 is published and the console updates to it.
    assert!(ok(&m.update(&app, &["--check"]).await).contains("1.0.0 is up to date"));
    app.publish("2.0.0").await;
    let so = ok(&m.update(&app, &["--check"]).await);
    assert!(so.contains("update available: 1.0.0 -> 2.0.0"), "{so}");
    assert_eq!(m.version(&app).await, "support-console 1.0.0");
    let so = ok(&m.update(&app, &[]).await);
    assert!(
        so.contains("updated sesame-console from 1.0.0 to 2.0.0"),
        "{so}"
    );
    assert_eq!(m.version(&app).await, "support-console 2.0.0");
    assert!(
        m.install_dir().join("versions/1.0.0").is_dir(),
        "previous version kept"
    );

    // 1. An older version: the CLI refuses to publish it; signed anyway, the console refuses it.
    let o = app.publish_cli(&v1).await;
    let (_, se) = text(&o);
    assert!(
        !o.status.success() && se.contains("older than the published 2.0.0"),
        "{se}"
    );
    blocking(|| app.repo().publish(&v1, wall_now(), Expiries::default())).expect("sign v1 again");
    let se = m.refused(&app, "update_rollback_refused").await;
    assert!(se.contains("1.0.0") && se.contains("2.0.0"), "{se}");
    assert_eq!(m.version(&app).await, "support-console 2.0.0");

    // 2. Package bytes altered in the repository.
    app.publish("3.0.0").await;
    let v3_target = target_of(&app, "3.0.0");
    let good = std::fs::read(&v3_target).expect("v3");
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x55;
    std::fs::write(&v3_target, &bad).expect("alter");
    m.refused(&app, "update_package_altered").await;
    assert_eq!(m.version(&app).await, "support-console 2.0.0");
    assert!(
        !m.install_dir().join("versions/3.0.0").exists(),
        "nothing staged"
    );
    std::fs::write(&v3_target, &good).expect("restore");

    // 3. Metadata signed by a key the console does not trust.
    let rogue_dir = app.rig.dir.path().join("rogue");
    let rogue = blocking(|| {
        let rogue = Repository::create(&rogue_dir, wall_now(), Expiries::default())?;
        rogue.publish(&app.package_path("3.0.0"), wall_now(), Expiries::default())?;
        Ok::<_, installer::repo::RepoError>(rogue)
    })
    .expect("rogue repository");
    let ts = app.served().join("timestamp.json");
    let genuine = std::fs::read(&ts).expect("timestamp");
    std::fs::copy(rogue.served_dir().join("timestamp.json"), &ts).expect("swap");
    m.refused(&app, "update_signature_invalid").await;
    assert_eq!(m.version(&app).await, "support-console 2.0.0");
    std::fs::write(&ts, &genuine).expect("restore");

    // 4. Expired metadata: signed by the appliance with a clock 30 days back.
    let month_ago = wall_now() - Duration::from_secs(30 * 86_400);
    blocking(|| {
        app.repo()
            .publish(&app.package_path("3.0.0"), month_ago, Expiries::default())
    })
    .expect("stale signing");
    m.refused(&app, "update_metadata_expired").await;
    assert_eq!(m.version(&app).await, "support-console 2.0.0");

    // 5. A revoked token stops working (`sesame admin console revoke`).
    app.publish("3.0.0").await; // the same package again: a fresh signature
    let so = ok(&app.admin_cli(&["installs"]).await);
    assert!(so.contains(&install_id) && so.contains("tess"), "{so}");
    ok(&app.admin_cli(&["revoke", &install_id]).await);
    let se = m.refused(&app, "update_token_rejected").await;
    assert!(se.contains(&format!("{}download", app.url)), "{se}");
    assert_eq!(m.version(&app).await, "support-console 2.0.0");

    // Logging in again issues a new token, and the update goes through.
    let o = m.login(&app, "tess", &secret).await;
    assert!(o.status.success(), "{:?}", text(&o));
    assert_ne!(
        std::fs::read_to_string(&token_file).expect("token"),
        token,
        "a new token"
    );
    let so = ok(&m.update(&app, &[]).await);
    assert!(so.contains("from 2.0.0 to 3.0.0"), "{so}");
    assert_eq!(m.version(&app).await, "support-console 3.0.0");
}

/// A small deterministic generator for the kill points.
fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *seed >> 33
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::disallowed_methods,
    reason = "killing the updater at random wall-clock moments is the point of the last part"
)]
async fn tokens_deploy_tokens_per_machine_installs_and_kill_9() {
    let app = Appliance::start().await;
    let v1 = app.package("1.0.0").await;
    app.package("2.0.0").await;
    app.publish("1.0.0").await;
    app.publish("2.0.0").await;

    // Never logged in, no deploy token: update_token_missing, what to do, and where.
    let lone = Machine::per_user(&app, "lone");
    ok(&lone.install(&v1, &["SHOULDAUTOUPDATE=1"]).await);
    for args in [&["--check"][..], &[][..]] {
        let o = lone.update(&app, args).await;
        let (_, se) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{se}");
        assert!(se.starts_with("update_token_missing: "), "{se}");
        assert!(se.contains("Log in once"), "{se}");
        assert!(se.contains(&format!("{}download", app.url)), "{se}");
    }
    assert_eq!(lone.version(&app).await, "support-console 1.0.0");

    // A deploy token (`sesame admin console deploy-token new`) lets a console update before
    // anyone logs in.
    let o = app
        .admin_cli(&[
            "deploy-token",
            "new",
            "--label",
            "lab rollout",
            "--max-installs",
            "20",
        ])
        .await;
    let deploy = ok(&o).trim().to_owned();
    assert!(deploy.len() >= 16, "{deploy}");
    let d = Machine::per_user(&app, "deployed");
    ok(&d
        .install(
            &v1,
            &["SHOULDAUTOUPDATE=1", &format!("DEPLOYTOKEN={deploy}")],
        )
        .await);
    let started = std::time::Instant::now();
    let so = ok(&d.update(&app, &[]).await);
    let full = started.elapsed();
    assert!(so.contains("from 1.0.0 to 2.0.0"), "{so}");
    assert_eq!(d.version(&app).await, "support-console 2.0.0");
    assert!(d.state().join("update-token").exists());
    let id = d.settings()["install_id"].as_str().expect("id").to_owned();
    assert!(
        app.installs()
            .await
            .iter()
            .any(|i| i["install_id"] == id.as_str() && i["via"] == "deploy_token")
    );
    let so = ok(&app.admin_cli(&["deploy-token", "list"]).await);
    assert!(
        so.contains("lab rollout") && so.contains("1/20 installs"),
        "{so}"
    );

    // SHOULDAUTOUPDATE=1: any console command starts a check, which updates by itself.
    let auto = Machine::per_user(&app, "auto");
    ok(&auto
        .install(
            &v1,
            &["SHOULDAUTOUPDATE=1", &format!("DEPLOYTOKEN={deploy}")],
        )
        .await);
    let _ = out(auto.console(&app, &["whoami"])).await; // not logged in: fails, but checks
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while auto.version(&app).await != "support-console 2.0.0" {
        assert!(
            std::time::Instant::now() < deadline,
            "no automatic update; log: {:?}",
            std::fs::read_to_string(auto.state().join("auto-update.log"))
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Without SHOULDAUTOUPDATE, no automatic check.
    let manual = Machine::per_user(&app, "manual");
    ok(&manual
        .install(&v1, &[&format!("DEPLOYTOKEN={deploy}")])
        .await);
    let _ = out(manual.console(&app, &["whoami"])).await;
    assert!(!manual.state().join("last-update-check").exists());
    assert_eq!(manual.version(&app).await, "support-console 1.0.0");

    // Per machine without a deploy token: no unit, no update from a user's session, said so.
    let pm = Machine::per_machine(&app, "pm");
    let log = pm.home.join("install.log");
    let mut props = vec!["ALLUSERS=1", "SHOULDAUTOUPDATE=1", "/l*v"];
    let log_s = log.to_str().expect("utf8").to_owned();
    props.push(&log_s);
    ok(&pm.install(&v1, &props).await);
    let root = pm.root.clone().expect("root");
    let units = root.join("etc/systemd/system");
    assert!(!units.join("sesame-console-update.service").exists());
    assert!(!units.join("sesame-console-update.timer").exists());
    let log_text = std::fs::read_to_string(&log).expect("log");
    assert!(
        log_text.contains("SHOULDAUTOUPDATE=1 is not applied"),
        "{log_text}"
    );
    let o = pm.update(&app, &["--check"]).await;
    let (_, se) = text(&o);
    assert!(
        se.starts_with("update_per_machine: ") && se.contains("without a deploy token"),
        "{se}"
    );

    // Per machine with a deploy token: the unit and timer exist, and the service updates.
    let pmd = Machine::per_machine(&app, "pmd");
    ok(&pmd
        .install(
            &v1,
            &[
                "ALLUSERS=1",
                "SHOULDAUTOUPDATE=1",
                &format!("DEPLOYTOKEN={deploy}"),
            ],
        )
        .await);
    let units = pmd.root.clone().expect("root").join("etc/systemd/system");
    let service =
        std::fs::read_to_string(units.join("sesame-console-update.service")).expect("service unit");
    assert!(
        service
            .contains("ExecStart=/opt/sesame-console/current/bin/support-console update --system"),
        "{service}"
    );
    assert!(units.join("sesame-console-update.timer").exists());
    let o = pmd.update(&app, &[]).await;
    assert!(
        text(&o).1.starts_with("update_per_machine: "),
        "{:?}",
        text(&o)
    );
    let so = ok(&pmd.update(&app, &["--system"]).await);
    assert!(so.contains("from 1.0.0 to 2.0.0"), "{so}");
    assert_eq!(pmd.version(&app).await, "support-console 2.0.0");

    // kill -9 of the updater at random points always leaves a console that starts, at the old
    // or the new version, and the next run finishes the job.
    let full_us = full.as_micros().max(1000) as u64;
    let mut seed = 0x5e5a_3e00_u64;
    let mut outcomes = [0usize; 2];
    for round in 0..5 {
        let k = Machine::per_user(&app, &format!("kill{round}"));
        ok(&k.install(&v1, &[&format!("DEPLOYTOKEN={deploy}")]).await);
        let mut child = k
            .console(&app, &["update"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let delay = next(&mut seed) % (full_us + full_us / 4);
        tokio::time::sleep(Duration::from_micros(delay)).await;
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let v = k.version(&app).await;
        assert!(
            v == "support-console 1.0.0" || v == "support-console 2.0.0",
            "round {round}: the console runs {v}"
        );
        outcomes[usize::from(v.ends_with("2.0.0"))] += 1;
        ok(&k.update(&app, &[]).await);
        assert_eq!(
            k.version(&app).await,
            "support-console 2.0.0",
            "round {round}"
        );
    }
    eprintln!(
        "kill -9 rounds: {} left the old version, {} the new one",
        outcomes[0], outcomes[1]
    );
}
