//! The smart-card side against a real pcscd with vpcd's two readers: the emulator as a card in
//! reader 0, PC/SC programs (our bridge) talking to it, a card forwarded from reader 0 into
//! reader 1 without a network in between, removals, and a card end fed malformed messages.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sesame_hardware::card::emulator::{
    self, ATR, EmulatedCard, TEST_CHALLENGE, TEST_KEY, internal_authenticate_answer, test_script,
};
use sesame_hardware::card::pcsc::{PcscCard, PcscContext, ReaderEvent};
use sesame_hardware::card::{
    BackendError, CardBackend, CardEnd, CardEndOptions, CommandApdu, Ended, ResponseApdu,
    RunSummary, StopHandle,
};

use crate::pcscd::{PORT_0, PORT_1, READER_0, READER_1, pcscd, poll};

/// A card end running on its own thread: a card in a vpcd reader.
struct Inserted<B> {
    stop: StopHandle,
    thread: JoinHandle<(B, RunSummary)>,
}

fn insert<B: CardBackend + Send + 'static>(port: u16, mut backend: B) -> Inserted<B> {
    let card_end =
        CardEnd::connect(("127.0.0.1", port), CardEndOptions::default()).expect("connect to vpcd");
    let stop = card_end.stop_handle().expect("stop handle");
    let thread = std::thread::spawn(move || {
        let summary = card_end.run(&mut backend).expect("card end runs");
        (backend, summary)
    });
    Inserted { stop, thread }
}

impl<B> Inserted<B> {
    /// Pulls the card out and returns the backend and what the run did.
    fn remove(self) -> (B, RunSummary) {
        self.stop.stop();
        self.thread.join().expect("card end thread")
    }
}

/// Waits until `reader` holds a card and returns its ATR.
fn card_in(ctx: &PcscContext, reader: &str) -> Vec<u8> {
    poll(Duration::from_secs(5), "a card in the reader", || {
        ctx.readers()
            .expect("list readers")
            .into_iter()
            .find(|r| r.name == reader)
            .and_then(|r| r.atr)
    })
}

/// Waits until pcscd has noticed that `reader` is empty.
fn reader_empty(ctx: &PcscContext, reader: &str) {
    poll(Duration::from_secs(5), "an empty reader", || {
        ctx.readers()
            .expect("list readers")
            .into_iter()
            .any(|r| r.name == reader && r.atr.is_none())
            .then_some(())
    });
}

fn run_script(card: &mut PcscCard) -> Vec<Vec<u8>> {
    test_script()
        .iter()
        .map(|apdu| card.transmit(&apdu.to_bytes()).expect("transmit"))
        .collect()
}

/// What the script gets from a fresh emulator, without pcscd.
fn reference_answers() -> Vec<Vec<u8>> {
    let mut card = EmulatedCard::test_card();
    test_script()
        .iter()
        .map(|a| card.process(a).to_bytes())
        .collect()
}

#[test]
fn the_emulator_in_reader_0_answers_the_script_over_pcsc() {
    let _pcscd = pcscd();
    let inserted = insert(PORT_0, EmulatedCard::test_card());
    let ctx = PcscContext::establish().expect("pcscd runs");
    assert_eq!(card_in(&ctx, READER_0), ATR);
    let readers = ctx.readers().expect("readers");
    let names: Vec<&str> = readers.iter().map(|r| r.name.as_str()).collect();
    assert!(
        names.contains(&READER_0) && names.contains(&READER_1),
        "{names:?}"
    );
    assert!(
        readers
            .iter()
            .any(|r| r.name == READER_1 && r.atr.is_none())
    );

    let mut card = ctx.connect(READER_0).expect("connect");
    assert_eq!(card.atr(), ATR);
    let answers = run_script(&mut card);
    assert_eq!(answers, reference_answers());
    // The key operation's answer is the HMAC of the challenge; the wrong PIN left 2 tries.
    assert_eq!(
        answers[2][..32],
        internal_authenticate_answer(&TEST_KEY, TEST_CHALLENGE)
    );
    assert_eq!(answers[7], [0x63, 0xC2]);
    drop(card); // PC/SC resets the card on disconnect.

    let (card, summary) = inserted.remove();
    assert_eq!(
        card.retries_left(),
        2,
        "the card itself counted the wrong PIN"
    );
    assert!(!card.is_verified(), "the disconnect reset the card");
    assert_eq!(summary.ended, Ended::Stopped);
    assert_eq!(summary.apdus, test_script().len() as u64);
    assert_eq!(summary.malformed, 0);
    let sent: usize = test_script().iter().map(CommandApdu::encoded_len).sum();
    assert_eq!(summary.bytes_to_card, sent as u64);
    let received: usize = answers.iter().map(Vec::len).sum();
    assert_eq!(summary.bytes_from_card, received as u64);
}

#[test]
fn a_transaction_keeps_a_pin_session_together_and_a_reset_ends_it() {
    let _pcscd = pcscd();
    let inserted = insert(PORT_0, EmulatedCard::test_card());
    let ctx = PcscContext::establish().expect("pcscd runs");
    card_in(&ctx, READER_0);
    let mut card = ctx.connect(READER_0).expect("connect");
    let script = test_script();
    let answers = card
        .transaction(|tx| {
            script[..3]
                .iter()
                .map(|a| tx.transmit(&a.to_bytes()).expect("transmit"))
                .collect::<Vec<_>>()
        })
        .expect("transaction");
    assert_eq!(answers, reference_answers()[..3]);

    card.reset().expect("reset");
    assert_eq!(card.atr(), ATR);
    let select = card.transmit(&script[0].to_bytes()).expect("select");
    assert_eq!(select, [0x90, 0x00]);
    let auth = card.transmit(&script[2].to_bytes()).expect("authenticate");
    assert_eq!(auth, [0x69, 0x82], "the PIN no longer counts after a reset");
    drop(card);
    inserted.remove();
}

#[test]
fn a_removed_card_leaves_the_reader_within_a_second() {
    let _pcscd = pcscd();
    let ctx = PcscContext::establish().expect("pcscd runs");
    let inserted = insert(PORT_0, EmulatedCard::test_card());
    card_in(&ctx, READER_0);
    let mut watcher = ctx.watcher(Some(&[READER_0])).expect("watcher");
    assert_eq!(watcher.snapshot(), vec![(READER_0.to_owned(), true)]);

    let pulled = Instant::now();
    let (_, summary) = inserted.remove();
    assert_eq!(summary.ended, Ended::Stopped);
    let mut events = Vec::new();
    while !events.contains(&ReaderEvent::CardRemoved {
        reader: READER_0.into(),
    }) {
        let left = Duration::from_secs(1).saturating_sub(pulled.elapsed());
        assert!(!left.is_zero(), "no removal within a second: {events:?}");
        events.extend(watcher.wait(Some(left)).expect("wait"));
    }
    assert!(pulled.elapsed() < Duration::from_secs(1));
    assert!(
        ctx.readers()
            .expect("readers")
            .iter()
            .any(|r| r.name == READER_0 && r.atr.is_none())
    );

    // Put it back: the watcher sees it, with its ATR.
    let inserted = insert(PORT_0, EmulatedCard::test_card());
    let deadline = Instant::now() + Duration::from_secs(5);
    let inserted_event = ReaderEvent::CardInserted {
        reader: READER_0.into(),
        atr: ATR.to_vec(),
    };
    let mut events = Vec::new();
    while !events.contains(&inserted_event) {
        assert!(Instant::now() < deadline, "no insertion: {events:?}");
        events.extend(
            watcher
                .wait(Some(Duration::from_millis(500)))
                .expect("wait"),
        );
    }
    inserted.remove();
}

#[test]
fn a_card_forwarded_from_reader_0_into_reader_1_answers_byte_for_byte() {
    let _pcscd = pcscd();
    let ctx = PcscContext::establish().expect("pcscd runs");

    // Directly on reader 0.
    let direct_card = insert(PORT_0, EmulatedCard::test_card());
    card_in(&ctx, READER_0);
    let mut direct = ctx.connect(READER_0).expect("connect reader 0");
    let direct_answers = run_script(&mut direct);
    drop(direct);
    direct_card.remove();
    reader_empty(&ctx, READER_0);

    // A fresh card in reader 0, forwarded into reader 1 by a card end whose backend is the
    // PC/SC connection to reader 0 (the relay's place, minus the network).
    let real = insert(PORT_0, EmulatedCard::test_card());
    card_in(&ctx, READER_0);
    // Its own PC/SC context: pcsc-lite serialises the calls of one context, and the
    // customer's transmit waits on this one.
    let technician = PcscContext::establish()
        .and_then(|c| c.connect(READER_0))
        .expect("connect reader 0");
    let forwarded = insert(PORT_1, technician);
    assert_eq!(
        card_in(&ctx, READER_1),
        ATR,
        "the customer sees the real ATR"
    );
    let mut customer = ctx.connect(READER_1).expect("connect reader 1");
    assert_eq!(customer.atr(), ATR);
    let forwarded_answers = run_script(&mut customer);
    assert_eq!(forwarded_answers, direct_answers);
    assert_eq!(forwarded_answers, reference_answers());

    // Pull the real card: it leaves reader 1 too, within a second.
    let mut watcher = ctx.watcher(Some(&[READER_1])).expect("watcher");
    let pulled = Instant::now();
    let (real_card, _) = real.remove();
    assert_eq!(
        real_card.retries_left(),
        2,
        "the wrong PIN counted on the real card"
    );
    let gone = ReaderEvent::CardRemoved {
        reader: READER_1.into(),
    };
    let mut events = Vec::new();
    while !events.contains(&gone) {
        let left = Duration::from_secs(1).saturating_sub(pulled.elapsed());
        assert!(!left.is_zero(), "reader 1 kept the card: {events:?}");
        events.extend(watcher.wait(Some(left)).expect("wait"));
    }
    assert!(customer.transmit(&test_script()[0].to_bytes()).is_err());
    let (_, summary) = forwarded.thread.join().expect("forwarding thread");
    assert_eq!(summary.ended, Ended::Backend(BackendError::CardRemoved));
    assert_eq!(summary.apdus, test_script().len() as u64);
}

/// A stand-in for vpcd on port 0: real vpcd never sends malformed messages, so this mock is
/// the only way to send them. It returns the listener's side of the connection and the card
/// end's thread.
fn fake_vpcd<B: CardBackend + Send + 'static>(
    backend: B,
) -> (std::net::TcpStream, JoinHandle<RunSummary>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let card_end = CardEnd::connect(addr, CardEndOptions::default()).expect("connect");
    let (vpcd, _) = listener.accept().expect("accept");
    vpcd.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let thread = std::thread::spawn(move || card_end.run(backend).expect("run"));
    (vpcd, thread)
}

fn read_frame(vpcd: &mut std::net::TcpStream) -> Vec<u8> {
    let mut header = [0u8; 2];
    vpcd.read_exact(&mut header).expect("frame header");
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(header))];
    vpcd.read_exact(&mut body).expect("frame body");
    body
}

#[test]
fn malformed_messages_from_the_reader_side_are_answered_or_skipped() {
    let (mut vpcd, card_end) = fake_vpcd(EmulatedCard::test_card());
    // Unknown control code: skipped. Too-short APDU: 6700. Then the ATR still comes back.
    vpcd.write_all(&[0, 1, 0x03]).expect("write");
    vpcd.write_all(&[0, 2, 0x00, 0x84]).expect("write");
    assert_eq!(read_frame(&mut vpcd), [0x67, 0x00]);
    vpcd.write_all(&[0, 1, 0x04]).expect("write");
    assert_eq!(read_frame(&mut vpcd), ATR);
    // The largest frame, all zeros: an extended Lc of 0, refused with 6700.
    let mut big = vec![0xFF, 0xFF];
    big.resize(2 + 0xFFFF, 0);
    vpcd.write_all(&big).expect("write");
    assert_eq!(read_frame(&mut vpcd), [0x67, 0x00]);
    // An empty frame: skipped. Then a real APDU, its length and body in two writes as vpcd does.
    vpcd.write_all(&[0, 0]).expect("write");
    vpcd.write_all(&[0, 5]).expect("write");
    vpcd.write_all(&[0x00, 0x84, 0x00, 0x00, 0x04])
        .expect("write");
    let challenge = read_frame(&mut vpcd);
    assert_eq!((challenge.len(), &challenge[4..]), (6, &[0x90, 0x00][..]));
    // A frame cut short by the reader going away: the card end ends cleanly.
    vpcd.write_all(&[0, 9, 0x00]).expect("write");
    drop(vpcd);
    let summary = card_end.join().expect("card end");
    assert_eq!(summary.ended, Ended::ReaderClosed);
    assert_eq!((summary.apdus, summary.malformed), (1, 4));
}

/// A backend whose card is gone.
struct Gone;

impl CardBackend for Gone {
    fn power_on(&mut self) -> Result<(), BackendError> {
        Ok(())
    }
    fn power_off(&mut self) -> Result<(), BackendError> {
        Ok(())
    }
    fn reset(&mut self) -> Result<(), BackendError> {
        Ok(())
    }
    fn atr(&mut self) -> Result<Vec<u8>, BackendError> {
        Ok(emulator::ATR.to_vec())
    }
    fn transmit(&mut self, _: &CommandApdu) -> Result<ResponseApdu, BackendError> {
        Err(BackendError::CardRemoved)
    }
}

#[test]
fn a_failing_backend_takes_the_card_out_of_the_reader() {
    let (mut vpcd, card_end) = fake_vpcd(Gone);
    vpcd.write_all(&[0, 1, 0x01]).expect("power on");
    vpcd.write_all(&[0, 1, 0x04]).expect("get ATR");
    assert_eq!(read_frame(&mut vpcd), ATR);
    vpcd.write_all(&[0, 5, 0x00, 0x84, 0x00, 0x00, 0x08])
        .expect("write");
    let mut rest = Vec::new();
    vpcd.read_to_end(&mut rest).expect("the card end closes");
    assert!(rest.is_empty(), "no answer, just the end of the connection");
    let summary = card_end.join().expect("card end");
    assert_eq!(summary.ended, Ended::Backend(BackendError::CardRemoved));
    assert_eq!(summary.apdus, 0);
}

#[test]
fn connecting_where_no_vpcd_listens_is_an_error() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let err = CardEnd::connect(addr, CardEndOptions::default()).expect_err("nothing listens");
    assert!(
        err.to_string()
            .starts_with("cannot connect to vpcd at 127.0.0.1:"),
        "{err}"
    );
}

#[test]
fn sharing_again_at_once_shows_a_removal_then_a_fresh_card() {
    let _pcscd = pcscd();
    let ctx = PcscContext::establish().expect("pcscd runs");
    let first = insert(PORT_0, EmulatedCard::test_card());
    card_in(&ctx, READER_0);
    let mut old = ctx.connect(READER_0).expect("connect");
    let script = test_script();
    for apdu in &script[..2] {
        assert_eq!(
            old.transmit(&apdu.to_bytes()).expect("transmit"),
            [0x90, 0x00]
        );
    }
    let mut watcher = ctx.watcher(Some(&[READER_0])).expect("watcher");
    let swapped = Instant::now();
    first.remove();
    let second = insert(PORT_0, EmulatedCard::test_card());
    let removed = ReaderEvent::CardRemoved {
        reader: READER_0.into(),
    };
    let inserted = ReaderEvent::CardInserted {
        reader: READER_0.into(),
        atr: ATR.to_vec(),
    };
    let mut events = Vec::new();
    while !events.contains(&inserted) {
        assert!(swapped.elapsed() < Duration::from_secs(3), "{events:?}");
        events.extend(
            watcher
                .wait(Some(Duration::from_millis(200)))
                .expect("wait"),
        );
    }
    let at = |e: &ReaderEvent| events.iter().position(|x| x == e);
    assert!(at(&removed) < at(&inserted), "removal first: {events:?}");
    // The old handle knows its card is gone; a new one meets a card without a verified PIN.
    assert_eq!(
        old.transmit(&script[2].to_bytes()).expect_err("card gone"),
        sesame_hardware::card::pcsc::PcscError::CardRemoved
    );
    let mut new = ctx.connect(READER_0).expect("connect the new card");
    assert_eq!(
        new.transmit(&script[0].to_bytes()).expect("select"),
        [0x90, 0x00]
    );
    assert_eq!(
        new.transmit(&script[2].to_bytes()).expect("auth"),
        [0x69, 0x82]
    );
    drop((old, new));
    second.remove();
}
