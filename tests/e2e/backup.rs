//! `sesame admin backup` as a process on a data directory: create, list, verify, then restore
//! brings back a deleted account; a corrupted file is refused and the store left as it was.

use authd::model::{AuditEvent, Outcome, Role};
use authd::store::sqlite::SqliteStore;
use authd::store::{NewUser, Store};
use std::path::Path;
use std::process::{Command, Output};

fn sesame(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(["admin", "backup"])
        .args(args)
        .args(["--data-dir", data.to_str().unwrap()])
        .output()
        .expect("run sesame")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn event(action: &'static str) -> AuditEvent {
    AuditEvent {
        at: 1_795_435_200,
        actor: Some("test".into()),
        action,
        target: None,
        outcome: Outcome::Success,
        address: "local".into(),
        user_agent: "test".into(),
        detail: serde_json::Value::Null,
    }
}

#[test]
fn create_list_verify_restore_and_refuse_a_corrupted_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    authd::secrets::MasterKey::load_or_create(&data).unwrap();
    let store = SqliteStore::open(&data).unwrap();
    store
        .create_user(
            NewUser {
                username: "alice".into(),
                password_hash: "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
                roles: vec![Role::User],
                must_change_password: false,
                created_at: 1_795_435_200,
            },
            event("user.create"),
        )
        .unwrap();

    // Online: the store is open while the backup is taken.
    let out = sesame(&data, &["create"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("master.key"), "{stdout}");
    let file = std::fs::read_dir(data.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "db"))
        .expect("a backup file");
    let file_arg = file.to_str().unwrap();

    let out = sesame(&data, &["list"]);
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    assert!(
        stdout.contains(file_arg) && stdout.contains("snapshot"),
        "{stdout}"
    );

    let out = sesame(&data, &["verify", file_arg]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("is a good backup"), "{stdout}");

    let alice = store.user_by_name("alice").unwrap().unwrap();
    assert!(store.delete_user(alice.id, event("user.delete")).unwrap());
    drop(store);

    // The store's writer thread closes its connection just after the drop; until then
    // restore rightly answers that the store is in use.
    let mut restored = None;
    for _ in 0..50 {
        let out = sesame(&data, &["restore", file_arg]);
        let (stdout, stderr) = text(&out);
        if out.status.success() {
            restored = Some(stdout);
            break;
        }
        assert!(stderr.contains("in use"), "{stderr}");
    }
    let stdout = restored.expect("restore succeeded");
    assert!(stdout.contains("pre-restore-"), "{stdout}");

    // A corrupted copy is refused, the store byte for byte as it was.
    let bad = dir.path().join("bad.db");
    let mut bytes = std::fs::read(&file).unwrap();
    for b in &mut bytes[100..4200] {
        *b ^= 0x5a;
    }
    std::fs::write(&bad, &bytes).unwrap();
    let before = std::fs::read(data.join("sesame.db")).unwrap();
    for cmd in ["verify", "restore"] {
        let out = sesame(&data, &[cmd, bad.to_str().unwrap()]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{cmd}: {stderr}");
        assert!(stderr.contains("is damaged"), "{stderr}");
    }
    assert_eq!(std::fs::read(data.join("sesame.db")).unwrap(), before);

    let store = SqliteStore::open(&data).unwrap();
    let back = store.user_by_name("alice").unwrap().unwrap();
    assert_eq!(back.id, alice.id);
}
