//! Installs, upgrades, repairs and uninstalls through real `installer` processes.

use crate::support::*;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

const TOKEN: &str = "deploy-0123456789abcdef-token";

#[test]
fn per_user_silent_install_with_every_property() {
    let w = World::new();
    let pkg = w.package("1.0.0");
    let log = w.work.join("install.log");
    let dir = w.home.join("apps/console");
    let o = w.run(&[
        "/i",
        pkg.to_str().expect("utf8"),
        "/qn",
        "/l*v",
        log.to_str().expect("utf8"),
        &format!("installdir={}", dir.display()),
        "RunAtStartup=1",
        "ALLUSERS=",
        "SHOULDAUTOUPDATE=1",
        "RELAYURL=https://relay.example:9443/",
        &format!("DEPLOYTOKEN={TOKEN}"),
    ]);
    assert_ok(&o);
    assert_eq!(stdout(&o), "", "/qn prints nothing");
    assert_eq!(
        console_version(&dir.join("current/bin/support-console")),
        "support-console 1.0.0"
    );
    assert_eq!(
        console_version(&dir.join("current/bin/support-customer")),
        "support-customer 1.0.0"
    );
    let autostart =
        std::fs::read_to_string(w.home.join(".config/autostart/sesame-console.desktop"))
            .expect("autostart entry");
    assert!(
        autostart.contains(&format!(
            "Exec={}/current/bin/support-console",
            dir.display()
        )),
        "{autostart}"
    );
    let settings: serde_json::Value = serde_json::from_slice(
        &std::fs::read(w.state_dir().join("settings.json")).expect("settings"),
    )
    .expect("json");
    assert_eq!(settings["relay_url"], "https://relay.example:9443/");
    assert_eq!(settings["should_auto_update"], true);
    assert_eq!(settings["update_mode"], "console");
    assert_eq!(settings["install_id"].as_str().map(str::len), Some(32));
    let token_file = w.state_dir().join("deploy-token");
    assert_eq!(std::fs::read_to_string(&token_file).expect("token"), TOKEN);
    assert_eq!(
        std::fs::metadata(&token_file)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let log_text = std::fs::read_to_string(&log).expect("log");
    assert!(
        log_text.contains("installed sesame-console 1.0.0 (per-user)"),
        "{log_text}"
    );
    assert!(
        !log_text.contains(TOKEN),
        "the deploy token must not reach the log"
    );

    let o = w.run(&["status", "--json"]);
    assert_ok(&o);
    let s: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("status json");
    assert_eq!(s["version"], "1.0.0");
    assert_eq!(s["scope"], "per-user");
    assert_eq!(s["install_dir"], dir.display().to_string());
    assert_eq!(s["should_auto_update"], true);
    assert_eq!(s["deploy_token"], true);
    assert_eq!(s["update_token"], false);
    assert!(!stdout(&o).contains(TOKEN));
    let text = stdout(&w.run(&["status"]));
    assert!(
        text.contains("version: 1.0.0") && text.contains("deploy token: yes"),
        "{text}"
    );
}

#[test]
fn per_machine_install_under_an_install_root() {
    let w = World::new();
    let pkg = w.package("1.0.0");
    let before = snapshot(&w.root, false);
    let o = w.run_root(&[
        "/i",
        pkg.to_str().expect("utf8"),
        "/quiet",
        "ALLUSERS=1",
        "RUNATSTARTUP=1",
        "SHOULDAUTOUPDATE=1",
        &format!("DEPLOYTOKEN={TOKEN}"),
    ]);
    assert_ok(&o);
    let r = &w.root;
    assert_eq!(
        console_version(&r.join("opt/sesame-console/current/bin/support-console")),
        "support-console 1.0.0"
    );
    // Links are relative, so they work under the root and once the tree is at /.
    assert_eq!(
        console_version(&r.join("usr/local/bin/support-console")),
        "support-console 1.0.0"
    );
    assert_eq!(
        console_version(&r.join("usr/local/bin/support-customer")),
        "support-customer 1.0.0"
    );
    let autostart = std::fs::read_to_string(r.join("etc/xdg/autostart/sesame-console.desktop"))
        .expect("system autostart");
    assert!(
        autostart.contains("Exec=/opt/sesame-console/current/bin/support-console"),
        "{autostart}"
    );
    let service =
        std::fs::read_to_string(r.join("etc/systemd/system/sesame-console-update.service"))
            .expect("service");
    assert!(
        service
            .contains("ExecStart=/opt/sesame-console/current/bin/support-console update --system"),
        "{service}"
    );
    assert!(
        r.join("etc/systemd/system/sesame-console-update.timer")
            .is_file()
    );
    assert!(
        std::fs::read_link(
            r.join("etc/systemd/system/timers.target.wants/sesame-console-update.timer")
        )
        .is_ok()
    );
    assert!(r.join("var/lib/sesame-console/deploy-token").is_file());
    assert!(
        !w.home.join(".local").exists(),
        "a per-machine install writes nothing in HOME"
    );
    let o = w.run_root(&["status", "--json", "ALLUSERS=1"]);
    assert_ok(&o);
    let s: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(s["scope"], "per-machine");
    assert_eq!(s["install_dir"], "/opt/sesame-console");
    assert_eq!(s["update_mode"], "system-service");

    let o = w.run_root(&["/x", "sesame-console", "/qn", "ALLUSERS=1", "REMOVEDATA=1"]);
    assert_ok(&o);
    assert_eq!(
        snapshot(&w.root, false),
        before,
        "uninstall leaves the root as it was"
    );
}

#[test]
fn per_machine_auto_update_without_deploy_token_behaves_like_the_reference() {
    let w = World::new();
    let pkg = w.package("1.0.0");
    let log = w.work.join("m.log");
    let o = w.run_root(&[
        "/i",
        pkg.to_str().expect("utf8"),
        "/qn",
        "/l*v",
        log.to_str().expect("utf8"),
        "ALLUSERS=1",
        "SHOULDAUTOUPDATE=1",
    ]);
    assert_ok(&o);
    assert!(
        !w.root.join("etc/systemd").exists(),
        "no update service without a deploy token"
    );
    let log_text = std::fs::read_to_string(&log).expect("log");
    assert!(
        log_text.contains("SHOULDAUTOUPDATE=1 is not applied"),
        "{log_text}"
    );
    let o = w.run_root(&["update", "--check", "ALLUSERS=1"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).starts_with("update_per_machine: "),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("https://relay.test:8443/download"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn autostart_entry_exists_exactly_when_runatstartup_is_1() {
    let w = World::new();
    let pkg = w.package("1.0.0");
    let p = pkg.to_str().expect("utf8");
    let entry = w.home.join(".config/autostart/sesame-console.desktop");
    assert_ok(&w.run(&["/i", p, "/qn"]));
    assert!(!entry.exists(), "default RUNATSTARTUP=0");
    assert_ok(&w.run(&["/i", p, "/qn", "RUNATSTARTUP=1"]));
    assert!(entry.is_file());
    assert_ok(&w.run(&["/i", p, "/qn"]));
    assert!(
        entry.is_file(),
        "an upgrade/reinstall without the property keeps the setting"
    );
    assert_ok(&w.run(&["/i", p, "/qn", "RUNATSTARTUP=0"]));
    assert!(!entry.exists());
    assert_ok(&w.run(&["/x", p, "/qn", "REMOVEDATA=1"]));
    assert!(
        !w.home.join(".config").exists(),
        "the autostart directories the installer created are gone"
    );
}

#[test]
fn installing_the_same_package_twice_changes_nothing() {
    let w = World::new();
    let pkg = w.package("1.0.0");
    let p = pkg.to_str().expect("utf8");
    assert_ok(&w.run(&[
        "/i",
        p,
        "/qn",
        "RUNATSTARTUP=1",
        &format!("DEPLOYTOKEN={TOKEN}"),
    ]));
    let first = snapshot(&w.home, true);
    let o = w.run(&["/i", p, "RUNATSTARTUP=1", &format!("DEPLOYTOKEN={TOKEN}")]);
    assert_ok(&o);
    assert!(
        stdout(&o).contains("already installed; nothing to do"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        snapshot(&w.home, true),
        first,
        "same bytes, same modes, same mtimes"
    );
}

#[test]
fn upgrade_keeps_settings_and_the_previous_version_and_refuses_downgrades() {
    let w = World::new();
    let v1 = w.package("1.0.0");
    let v2 = w.package("1.1.0");
    let dir = w.home.join("custom/console");
    assert_ok(&w.run(&[
        "/i",
        v1.to_str().expect("utf8"),
        "/qn",
        &format!("INSTALLDIR={}", dir.display()),
        "RUNATSTARTUP=1",
        "RELAYURL=https://mine.example/",
    ]));
    let settings_before = std::fs::read(w.state_dir().join("settings.json")).expect("settings");
    let o = w.run(&["/i", v2.to_str().expect("utf8"), "/passive"]);
    assert_ok(&o);
    assert!(
        stdout(&o).contains("upgraded sesame-console from 1.0.0 to 1.1.0"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        std::fs::read(w.state_dir().join("settings.json")).expect("settings"),
        settings_before,
        "settings kept"
    );
    assert_eq!(
        console_version(&dir.join("current/bin/support-console")),
        "support-console 1.1.0"
    );
    assert!(
        dir.join("versions/1.0.0/bin/support-console").is_file(),
        "the previous version stays for rollback"
    );
    let o = w.run(&["/i", v1.to_str().expect("utf8"), "/qn"]);
    assert_eq!(code(&o), msi(1638), "{}", stderr(&o));
    assert_eq!(
        console_version(&dir.join("current/bin/support-console")),
        "support-console 1.1.0"
    );
}

#[test]
fn repair_restores_deleted_and_altered_files() {
    let w = World::new();
    let pkg = w.package("1.0.0");
    let p = pkg.to_str().expect("utf8");
    assert_ok(&w.run(&["/i", p, "/qn", "RUNATSTARTUP=1"]));
    let good = snapshot(&w.home, false);
    let bin = w.default_install_dir().join("current/bin");
    std::fs::remove_file(bin.join("support-customer")).expect("delete");
    std::fs::write(bin.join("support-console"), "#!/bin/sh\necho evil\n").expect("alter");
    std::fs::remove_file(w.home.join(".config/autostart/sesame-console.desktop"))
        .expect("delete entry");
    let o = w.run(&["/f", p, "/qn"]);
    assert_ok(&o);
    assert_eq!(snapshot(&w.home, false), good);
    assert_eq!(
        console_version(&bin.join("support-console")),
        "support-console 1.0.0"
    );
}

#[test]
fn uninstall_leaves_the_tree_exactly_as_before() {
    let w = World::new();
    let pkg = w.package("1.0.0");
    let p = pkg.to_str().expect("utf8");
    std::fs::create_dir_all(w.home.join(".config")).expect("a pre-existing directory");
    std::fs::write(w.home.join(".config/other-app.conf"), "keep me").expect("write");
    let before = snapshot(&w.home, false);
    assert_ok(&w.run(&[
        "/i",
        p,
        "/qn",
        "RUNATSTARTUP=1",
        "SHOULDAUTOUPDATE=1",
        &format!("DEPLOYTOKEN={TOKEN}"),
    ]));
    assert_ne!(snapshot(&w.home, false), before);
    // Without REMOVEDATA the settings and tokens stay, nothing else.
    assert_ok(&w.run(&["/x", "sesame-console", "/qn"]));
    let after: Vec<String> = snapshot(&w.home, false)
        .into_keys()
        .filter(|k| !before.contains_key(k))
        .collect();
    assert_eq!(
        after,
        [
            ".local",
            ".local/state",
            ".local/state/sesame-console",
            ".local/state/sesame-console/.created-dirs.json",
            ".local/state/sesame-console/deploy-token",
            ".local/state/sesame-console/settings.json",
            ".local/state/sesame-console/trust-root.json"
        ]
    );
    assert_ok(&w.run(&["/i", p, "/qn"]));
    assert_ok(&w.run(&["uninstall", p, "/qn", "REMOVEDATA=1"]));
    assert_eq!(snapshot(&w.home, false), before);
    assert_eq!(
        code(&w.run(&["/x", "sesame-console", "/qn"])),
        msi(1605),
        "nothing left to uninstall"
    );
}

#[test]
fn each_bad_input_gives_its_exit_code_and_writes_nothing() {
    let w = World::new();
    let pkg = w.package("1.0.0");
    let p = pkg.to_str().expect("utf8");
    std::fs::write(w.work.join("a-file"), "x").expect("write");
    std::fs::write(w.work.join("garbage.tar.gz"), "not a package at all").expect("write");
    // A package whose manifest does not match its files.
    let bytes = std::fs::read(&pkg).expect("read");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut out = tar::Builder::new(gz);
    for e in archive.entries().expect("entries") {
        let mut e = e.expect("entry");
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).expect("read");
        if e.path().expect("path").ends_with("README") {
            data[0] ^= 1;
        }
        let mut h = e.header().clone();
        out.append_data(&mut h, e.path().expect("path"), &data[..])
            .expect("append");
    }
    std::fs::write(
        w.work.join("altered.tar.gz"),
        out.into_inner().expect("tar").finish().expect("gz"),
    )
    .expect("write");
    let unwritable = format!("INSTALLDIR={}", w.work.join("a-file/sub").display());
    let garbage = w.work.join("garbage.tar.gz");
    let altered = w.work.join("altered.tar.gz");
    let missing = w.work.join("missing.tar.gz");
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["/i", p, "/qn", "FOO=1"], 1639, "unknown property FOO"),
        (
            vec!["/i", p, "/qn", "RUNATSTARTUP=yes"],
            1639,
            "RUNATSTARTUP",
        ),
        (
            vec!["/i", p, "/qn", "SHOULDAUTOUPDATE=2"],
            1639,
            "SHOULDAUTOUPDATE",
        ),
        (vec!["/i", p, "/qn", "ALLUSERS=2"], 1639, "ALLUSERS"),
        (
            vec!["/i", p, "/qn", "INSTALLDIR=relative/dir"],
            1639,
            "INSTALLDIR",
        ),
        (vec!["/i", p, "/qn", "RELAYURL=ftp://x/"], 1639, "RELAYURL"),
        (
            vec!["/i", p, "/qn", "DEPLOYTOKEN=short"],
            1639,
            "DEPLOYTOKEN",
        ),
        (vec!["/i", p, "/bogus"], 1639, "unknown option"),
        (vec!["/i"], 1639, "needs a package"),
        (vec!["/i", p, "/qn", &unwritable], 1603, "could not"),
        (
            vec!["/i", missing.to_str().expect("utf8"), "/qn"],
            1619,
            "cannot be opened",
        ),
        (
            vec!["/i", garbage.to_str().expect("utf8"), "/qn"],
            1619,
            "cannot be opened",
        ),
        (
            vec!["/i", altered.to_str().expect("utf8"), "/qn"],
            1603,
            "failed verification",
        ),
        (
            vec!["/x", "other-product", "/qn"],
            1605,
            "neither a package",
        ),
        (vec!["/f", p, "/qn"], 1605, "not installed"),
    ];
    let home_before = snapshot(&w.home, true);
    let work_before = snapshot(&w.work, true);
    for (args, expected, words) in cases {
        let o = w.run(&args);
        assert_eq!(code(&o), msi(expected), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(words), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one sentence: {err}");
        assert!(!err.contains("short"), "token values never shown");
        assert_eq!(
            snapshot(&w.home, true),
            home_before,
            "{args:?} wrote into HOME"
        );
        assert_eq!(
            snapshot(&w.work, true),
            work_before,
            "{args:?} wrote beside the package"
        );
    }
    // The log has the sentence and the full msiexec number (the shell only sees its low byte).
    let log = w.root.join("bad.log");
    let o = w.run(&[
        "/i",
        p,
        "/qn",
        "/l*v",
        log.to_str().expect("utf8"),
        "RunAtStartup=maybe",
    ]);
    assert_eq!(code(&o), msi(1639));
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(
        text.contains(
            "error: property RUNATSTARTUP has the invalid value \"maybe\"; expected 0 or 1"
        ),
        "{text}"
    );
    assert!(text.contains("exit code 1639"), "{text}");
    assert_eq!(snapshot(&w.home, true), home_before);
}

#[test]
fn two_concurrent_installs_one_gets_1618() {
    let w = World::new();
    let pkg = w.package("1.0.0");
    let p = pkg.to_str().expect("utf8");
    let mut first = w
        .installer(&["/i", p, "/qn"], &[])
        .env("SESAME_INSTALLER_TEST_HOLD_LOCK", "1")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(first.stderr.as_mut().expect("stderr"))
        .read_line(&mut line)
        .expect("read");
    assert!(line.starts_with("lock acquired"), "{line}");
    let second = w.run(&["/i", p, "/qn"]);
    assert_eq!(code(&second), msi(1618), "{}", stderr(&second));
    assert!(stderr(&second).contains("in progress"));
    drop(first.stdin.take());
    let status = first.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        console_version(&w.default_install_dir().join("current/bin/support-console")),
        "support-console 1.0.0"
    );
}
