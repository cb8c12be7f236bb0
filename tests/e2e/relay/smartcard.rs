//! Smart-card sharing end to end (issue 9): a real pcscd with vpcd's two readers, the relay over
//! TLS with a real technician login, the real `support-console smartcard share` and
//! `support-customer --vpcd` binaries. The emulator card sits in reader 0 (the technician's
//! desk); the customer attaches to reader 1 (port 35964); the test is the PC/SC program on the
//! customer's machine (the `hardware` PC/SC bridge). Serialized with the other pcscd tests
//! through the same lock file (`hardware/tests/pcscd.rs`, included below).

use super::*;
use sesame_hardware::card::emulator::{AID, ATR, EmulatedCard, FILE_ID, TEST_KEY, test_file};
use sesame_hardware::card::pcsc::PcscContext;
use sesame_hardware::card::{CardEnd, CardEndOptions, CommandApdu, StopHandle};
use std::thread::JoinHandle;
use std::time::Instant;
use support_relay::proto::Control;
use support_relay::proto::control::ChannelKind;
use support_relay::proto::smartcard::Message;

#[path = "../../../hardware/tests/pcscd.rs"]
#[allow(dead_code)]
mod pcscd;

use pcscd::{PORT_0, READER_0, READER_1, pcscd, poll};

/// The PIN of the cards in these tests: distinctive, so that a search for it cannot hit
/// anything else.
const PIN: &[u8] = b"Pz7#k2Qm";
const WRONG: &[u8] = b"Wq9!x4Lr";
const VPCD_1: &str = "127.0.0.1:35964";

fn card() -> EmulatedCard {
    EmulatedCard::new(PIN, TEST_KEY, test_file()).expect("valid PIN")
}

/// SELECT, VERIFY (right PIN), the key operation (INTERNAL AUTHENTICATE), SELECT file, READ
/// BINARY, VERIFY (wrong PIN), VERIFY without data (reads the retry counter).
fn script() -> Vec<CommandApdu> {
    let c = |ins, p1, p2, data: &[u8], ne| {
        CommandApdu::new(0x00, ins, p1, p2, data.to_vec(), ne).expect("valid APDU")
    };
    vec![
        c(0xA4, 0x04, 0x00, AID, None),
        c(0x20, 0x00, 0x81, PIN, None),
        c(0x88, 0, 0, b"challenge from the customer side", Some(256)),
        c(0xA4, 0x02, 0x0C, &FILE_ID.to_be_bytes(), None),
        c(0xB0, 0x00, 0x00, &[], Some(256)),
        c(0x20, 0x00, 0x81, WRONG, None),
        c(0x20, 0x00, 0x81, &[], None),
    ]
}

/// A card end on its own thread: a card in a vpcd reader.
struct Inserted {
    stop: StopHandle,
    thread: JoinHandle<EmulatedCard>,
}

fn insert(port: u16, mut backend: EmulatedCard) -> Inserted {
    let end =
        CardEnd::connect(("127.0.0.1", port), CardEndOptions::default()).expect("connect to vpcd");
    let stop = end.stop_handle().expect("stop handle");
    let thread = std::thread::spawn(move || {
        let _ = end.run(&mut backend);
        backend
    });
    Inserted { stop, thread }
}

impl Inserted {
    /// Pull the card out; the card, with its state.
    fn pull(self) -> EmulatedCard {
        self.stop.stop();
        self.thread.join().expect("card end thread")
    }
}

fn atr_in(reader: &str) -> Option<Vec<u8>> {
    PcscContext::establish()
        .and_then(|c| c.readers())
        .ok()?
        .into_iter()
        .find(|r| r.name == reader)
        .and_then(|r| r.atr)
}

fn card_in(reader: &str, limit: Duration) -> Vec<u8> {
    poll(limit, "a card in the reader", || atr_in(reader))
}

/// [`card_in`], showing what the processes printed if the card does not come.
fn card_in_or_show(reader: &str, limit: Duration, procs: &mut [&mut Proc]) -> Vec<u8> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(atr) = atr_in(reader) {
            return atr;
        }
        if Instant::now() > deadline {
            for p in procs.iter_mut() {
                while let Ok(l) = p.lines.try_recv() {
                    p.seen.push(l);
                }
            }
            let shown: Vec<&Vec<String>> = procs.iter().map(|p| &p.seen).collect();
            panic!("no card in {reader}; the processes printed {shown:#?}");
        }
        let _ = procs[0]
            .lines
            .recv_timeout(Duration::from_millis(10))
            .map(|l| procs[0].seen.push(l));
    }
}

/// Waits until `reader` is empty; panics after `limit`.
fn gone_within(reader: &str, limit: Duration) -> Duration {
    let t0 = Instant::now();
    poll(limit, "the card to leave the reader", || {
        atr_in(reader).is_none().then_some(())
    });
    t0.elapsed()
}

/// The script's answers on `reader`, one PC/SC transaction per APDU.
fn run_script(reader: &str) -> Vec<Vec<u8>> {
    let ctx = PcscContext::establish().expect("pcscd");
    let mut card = ctx.connect(reader).expect("connect");
    assert_eq!(card.atr(), ATR, "the same ATR");
    script()
        .iter()
        .map(|a| card.transmit(&a.to_bytes()).expect("transmit"))
        .collect()
}

fn interrupt(p: &Proc) {
    let st = std::process::Command::new("kill")
        .args(["-INT", &p.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
}

/// A technician logged in with a session key, and that session's id.
async fn tech_session(rig: &Rig) -> (String, String) {
    let admin = admin_session(&rig.api, "second root passphrase").await;
    let tom = rig.account(&admin, "tom", json!(["technician"])).await;
    let o = rig.console_login("tom", &tom).await;
    assert!(o.status.success(), "{:?}", text(&o));
    let o = out(rig.console("tom", &["key", "new"])).await;
    assert!(o.status.success(), "{:?}", text(&o));
    let (so, se) = text(&o);
    let session = se
        .split_whitespace()
        .nth(1)
        .expect("session id")
        .trim_end_matches(';')
        .to_owned();
    (so.trim().to_owned(), session)
}

fn share(rig: &Rig, key: &str) -> Proc {
    let mut c = rig.console(
        "tom",
        &[
            "smartcard",
            "share",
            key,
            "--reader",
            READER_0,
            "--wait",
            "20",
        ],
    );
    c.env("RUST_LOG", "debug");
    Proc::spawn(c)
}

fn customer(rig: &Rig, key: &str, consent: Option<&str>) -> Proc {
    let mut args = vec!["--key", key, "--name", "Alice", "--vpcd", VPCD_1];
    if let Some(c) = consent {
        args.extend(["--consent", c]);
    }
    let mut c = Command::new(bin("support-customer"));
    c.arg("--relay")
        .arg(rig.relay.to_string())
        .arg("--ca")
        .arg(&rig.ca)
        .args(&args)
        .env("RUST_LOG", "debug");
    Proc::spawn(c)
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The PINs' bytes, in ASCII and in hex (both cases), appear nowhere in `haystacks`.
fn no_pin(haystacks: &[(String, Vec<u8>)]) {
    let hex = |b: &[u8]| data_encoding::HEXLOWER.encode(b);
    let mut needles: Vec<Vec<u8>> = Vec::new();
    for p in [PIN, WRONG] {
        needles.push(p.to_vec());
        needles.push(hex(p).into_bytes());
        needles.push(hex(p).to_uppercase().into_bytes());
        // Hex with separators, as some loggers print bytes.
        let spaced: Vec<String> = p.iter().map(|b| format!("{b:02x}")).collect();
        needles.push(spaced.join(" ").into_bytes());
        needles.push(format!("{p:?}").into_bytes());
    }
    for (name, hay) in haystacks {
        for n in &needles {
            assert!(
                !hay.windows(n.len()).any(|w| w == n.as_slice()),
                "the PIN appears in {name}"
            );
        }
    }
}

/// Waits (up to 20 s) until `n` lines of `p` contain `needle` (the same line may come back
/// for a second share).
fn expect_nth(p: &mut Proc, needle: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while p.seen.iter().filter(|l| l.contains(needle)).count() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match p.lines.recv_timeout(left) {
            Ok(l) => p.seen.push(l),
            Err(_) => panic!("no line {n} with {needle:?}; saw {:#?}", p.seen),
        }
    }
}

fn seen(p: &Proc) -> Vec<u8> {
    p.seen.join("\n").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_card_answers_on_the_customers_reader_as_on_the_technicians() {
    let _pcscd = blocking(pcscd);
    let rig = Rig::start().await;
    let (key, session) = tech_session(&rig).await;

    // The script directly on reader 0, with a first card.
    let first = blocking(|| insert(PORT_0, card()));
    blocking(|| card_in(READER_0, Duration::from_secs(5)));
    let direct = blocking(|| run_script(READER_0));
    assert_eq!(direct[1], [0x90, 0x00], "right PIN");
    assert_eq!(direct[5], [0x63, 0xC2], "wrong PIN: two tries left");
    let first = blocking(|| first.pull());
    assert_eq!(first.retries_left(), 2);
    blocking(|| gone_within(READER_0, Duration::from_secs(5)));

    // An identical fresh card on the technician's desk, shared into the session.
    let desk = blocking(|| insert(PORT_0, card()));
    blocking(|| card_in(READER_0, Duration::from_secs(5)));
    // The technician's readers, with the card's ATR (local PC/SC, no relay).
    let o = out(rig.console("tom", &["smartcard", "readers"])).await;
    let (so, se) = text(&o);
    assert!(o.status.success(), "{so}{se}");
    let atr_hex = data_encoding::HEXUPPER.encode(ATR);
    assert!(
        so.contains(&format!("{READER_0}\tcard present, ATR {atr_hex}")),
        "{so}"
    );
    assert!(so.contains(&format!("{READER_1}\tno card")), "{so}");

    let mut cust = customer(&rig, &key, Some("smartcard"));
    blocking(|| cust.expect("Your technician is: tom"));
    let mut tech = share(&rig, &key);
    assert_eq!(
        blocking(|| card_in(READER_1, Duration::from_secs(20))),
        ATR,
        "the customer's reader shows the card's ATR"
    );
    blocking(|| cust.expect("is in your reader"));

    // The same script on the customer's reader: byte-for-byte the same answers.
    let forwarded = blocking(|| run_script(READER_1));
    assert_eq!(forwarded, direct);

    // The technician stops sharing: the card leaves the customer's reader within a second.
    interrupt(&tech);
    let took = blocking(|| gone_within(READER_1, Duration::from_secs(1)));
    eprintln!("card gone from reader 1 {took:?} after Ctrl-C");
    blocking(|| {
        assert!(tech.wait_exit().success(), "{:#?}", tech.seen);
        tech.expect("APDUs forwarded");
        tech.expect("sharing over: stopped");
        cust.expect("The smart card left your reader");
    });
    // The wrong PIN counted on the real card too.
    let desk_card = blocking(|| desk.pull());
    assert_eq!(desk_card.retries_left(), 2, "the real card counted it");
    // pcscd shows the old card until its next poll: wait for the reader to be empty first.
    blocking(|| gone_within(READER_0, Duration::from_secs(5)));

    // The record: who shared which reader, the ATR, the APDU count and bytes, never contents.
    let ev = rig.record(&session);
    let sc = ev
        .iter()
        .find(|e| e["event"] == "smartcard")
        .unwrap_or_else(|| panic!("a smartcard entry in {ev:#?}"));
    assert_eq!(sc["by"], "tom");
    assert_eq!(sc["reader"], READER_0);
    assert_eq!(sc["atr"], data_encoding::HEXUPPER.encode(ATR));
    let apdus = script().len() as u64;
    assert_eq!(sc["apdus"], apdus, "{sc}");
    let to_card: usize = script().iter().map(CommandApdu::encoded_len).sum();
    let from_card: usize = forwarded.iter().map(Vec::len).sum();
    assert_eq!(sc["bytes_to_card"], to_card as u64, "{sc}");
    assert_eq!(sc["bytes_from_card"], from_card as u64, "{sc}");
    // pcscd powered the card on (and the script's disconnect reset it): each became a reset of
    // the real card.
    assert!(sc["resets"].as_u64() >= Some(1), "{sc}");
    assert!(
        ev.iter()
            .any(|e| e["event"] == "channel_opened" && e["kind"] == "smartcard")
    );

    // Shared again, then the session ends: the card leaves within a second.
    let desk = blocking(|| insert(PORT_0, card()));
    blocking(|| card_in(READER_0, Duration::from_secs(5)));
    let mut tech2 = share(&rig, &key);
    blocking(|| expect_nth(&mut cust, "is in your reader", 2));
    blocking(|| {
        card_in_or_show(
            READER_1,
            Duration::from_secs(20),
            &mut [&mut tech2, &mut cust],
        )
    });
    let o = out(rig.console("tom", &["end", &key])).await;
    assert!(o.status.success(), "{:?}", text(&o));
    let took = blocking(|| gone_within(READER_1, Duration::from_secs(1)));
    eprintln!("card gone from reader 1 {took:?} after the session ended");
    blocking(|| {
        assert!(tech2.wait_exit().success(), "{:#?}", tech2.seen);
        tech2.expect("the session ended");
        cust.expect("The session has ended");
        cust.wait_exit();
    });
    blocking(|| desk.pull());

    // The PINs' bytes are nowhere: data dirs (authd and relay: records), the processes' output.
    let mut hay: Vec<(String, Vec<u8>)> = files(rig.dir.path())
        .into_iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read(&p).unwrap_or_default(),
            )
        })
        .collect();
    hay.push(("the technician's console".into(), seen(&tech)));
    hay.push(("the second console".into(), seen(&tech2)));
    hay.push(("the customer".into(), seen(&cust)));
    hay.push(("the record".into(), serde_json::to_vec(&ev).expect("json")));
    no_pin(&hay);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_pulled_and_malformed_cards_end_only_their_channel() {
    let _pcscd = blocking(pcscd);
    let rig = Rig::start().await;
    let (key, _session) = tech_session(&rig).await;
    let desk = blocking(|| insert(PORT_0, card()));
    blocking(|| card_in(READER_0, Duration::from_secs(5)));

    // The customer is asked and refuses: the share fails, no card on reader 1.
    let mut cust = customer(&rig, &key, None);
    blocking(|| cust.expect("Your technician is: tom"));
    let mut tech = share(&rig, &key);
    blocking(|| {
        cust.expect(&format!(
            "put the smart card of their reader \"{READER_0}\""
        ))
    });
    blocking(|| cust.say("n"));
    blocking(|| {
        assert!(!tech.wait_exit().success());
        tech.expect("declined");
    });
    assert_eq!(blocking(|| atr_in(READER_1)), None, "no card appeared");

    // Accepted this time; then the card is pulled out on the technician's desk: it leaves the
    // customer's reader too.
    let mut tech = share(&rig, &key);
    blocking(|| expect_nth(&mut cust, "put the smart card of their reader", 2));
    blocking(|| cust.say("y"));
    blocking(|| card_in(READER_1, Duration::from_secs(20)));
    blocking(|| desk.pull());
    blocking(|| gone_within(READER_1, Duration::from_secs(3)));
    blocking(|| {
        assert!(tech.wait_exit().success(), "{:#?}", tech.seen);
        tech.expect("the card was removed");
        cust.expect("The smart card left your reader");
    });
    drop(cust);
    blocking(|| gone_within(READER_0, Duration::from_secs(5)));

    // A hostile customer (the protocol spoken directly): an oversized message, then a
    // malformed APDU, each close only that channel; the session still answers chat.
    let desk = blocking(|| insert(PORT_0, card()));
    blocking(|| card_in(READER_0, Duration::from_secs(5)));
    let o = out(rig.console("tom", &["key", "new"])).await;
    let (so, se) = text(&o);
    let key2 = so.trim().to_owned();
    let session2 = se
        .split_whitespace()
        .nth(1)
        .expect("session id")
        .trim_end_matches(';')
        .to_owned();
    let tls = support_relay::tls::client_config_from_file(&rig.ca).expect("ca");
    let mut raw = support_relay::client::connect(&rig.relay.to_string(), "localhost", tls)
        .await
        .expect("connect");
    let joined = raw
        .request(&Control::Join {
            key: key2.clone(),
            name: "Mallory".into(),
        })
        .await
        .expect("join");
    assert!(matches!(joined, Control::Joined { .. }), "{joined:?}");

    let bad_messages: [(Vec<u8>, &str); 2] = [
        // A command announcing 70 000 bytes: the relay refuses it from the header.
        (
            {
                let mut m = vec![2u8];
                m.extend_from_slice(&70_000u32.to_be_bytes());
                m.extend_from_slice(&[0; 16]);
                m
            },
            "smartcard_oversized",
        ),
        // A well-framed command whose APDU is malformed (Lc says 5, 2 data bytes): the
        // technician's side refuses it before the card sees it.
        (
            Message::Command(vec![0x00, 0xA4, 0x04, 0x00, 0x05, 0x01, 0x02])
                .to_bytes()
                .expect("encode")
                .to_vec(),
            "malformed_apdu",
        ),
    ];
    for (bad, code) in bad_messages {
        let mut tech = share(&rig, &key2);
        let id = loop {
            match raw.next_control().await.expect("control") {
                Control::Open {
                    channel,
                    kind: ChannelKind::Smartcard,
                    ..
                } => break channel,
                _ => continue,
            }
        };
        let mut ch = raw.channel(id, true);
        ch.control(&Control::OpenOk {
            channel: id,
            info: Value::Null,
        })
        .expect("open_ok");
        // The card is announced first.
        match ch.recv().await.expect("present") {
            support_relay::client::ChanEvent::Data(d) => assert_eq!(d[0], 1, "present"),
            other => panic!("{other:?}"),
        }
        ch.send(&bad).await.expect("send");
        // The channel closes on the customer's side too, with the reason.
        let closed = loop {
            match tokio::time::timeout(Duration::from_secs(20), ch.recv())
                .await
                .expect("closed in time")
            {
                Some(support_relay::client::ChanEvent::Close(r)) => break r,
                Some(_) => continue,
                None => break String::new(),
            }
        };
        blocking(|| {
            tech.wait_exit();
            tech.expect(code);
        });
        assert_eq!(closed, code);
        // The session and the connection go on: chat still works both ways.
        let o = out(rig.console("tom", &["chat", &key2, "still", "here"])).await;
        assert!(o.status.success(), "{:?}", text(&o));
        let heard = loop {
            match tokio::time::timeout(Duration::from_secs(20), raw.next_control())
                .await
                .expect("chat in time")
            {
                Some(Control::Chat { text, .. }) => break text,
                Some(_) => continue,
                None => panic!("the connection was closed"),
            }
        };
        assert_eq!(heard, "still here");
    }
    blocking(|| desk.pull());
    let ev = rig.record(&session2);
    assert!(
        ev.iter()
            .any(|e| e["event"] == "channel_refused" && e["reason"] == "smartcard_oversized"),
        "{ev:#?}"
    );
}
