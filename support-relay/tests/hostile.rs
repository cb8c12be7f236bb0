//! The decoder against a corpus of hostile inputs (the fuzz target's entry point, exercised in
//! CI without libFuzzer), and against every cut of a valid stream.

use bytes::BytesMut;
use support_relay::proto::frame::{self, Decoder, Frame, Kind};
use support_relay::proto::{Control, fuzz_decode};

fn corpus() -> Vec<Vec<u8>> {
    let hello = frame::hello().to_vec();
    let with = |tail: &[u8]| {
        let mut v = hello.clone();
        v.extend_from_slice(tail);
        v
    };
    vec![
        vec![],
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(), // a TLS ClientHello
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        b"SESAMERL".to_vec(),
        b"SESAMERL\xff\xff".to_vec(),
        with(&[0xff; 9]),                     // 4 GiB length
        with(&[0, 1, 0, 1, 0, 0, 0, 0, 1]),   // 65 537: one past the limit
        with(&[0, 0, 0, 0, 200, 0, 0, 0, 1]), // unknown kind
        with(&[0, 0, 0, 5, 0, 0, 0, 0, 0, b'{', b'"', b't', b'"', b':']), // torn JSON
        with(&[0, 0, 0, 2, 0, 0, 0, 0, 0, b'[', b']']), // JSON, not an object
        with(&[0, 0, 0, 3, 2, 0, 0, 0, 1, 1, 2, 3]), // window with 3 bytes
        with(&b"\x00\x00\x00\x14\x00\x00\x00\x00\x00{\"t\":\"open\",\"kind\":1}"[..]),
        with(&[0u8; 100_000]),
    ]
}

#[test]
fn hostile_inputs_never_panic_and_are_refused() {
    for input in corpus() {
        fuzz_decode(&input);
    }
    // The specific refusals.
    let mut d = Decoder::new();
    let mut b = BytesMut::from(&[0xffu8; 9][..]);
    assert_eq!(
        d.decode(&mut b).expect_err("oversize").code(),
        "frame_too_large"
    );
    assert!(Control::from_payload(b"{\"t\":\"open\",\"kind\":1}").is_err());
    assert!(Control::from_payload(b"[]").is_err());
    assert_eq!(frame::window_credit(&[1, 2, 3]), None);
}

#[test]
fn a_stream_cut_anywhere_decodes_its_complete_prefix() {
    let frames = vec![
        Frame::new(Kind::Control, 0, Control::KeyNew {}.to_payload()),
        Frame::new(Kind::Data, 3, vec![7u8; 70]),
        Frame::window(3, 4096),
        Frame::new(Kind::Eof, 3, Vec::new()),
    ];
    let mut all = BytesMut::new();
    let mut ends = Vec::new();
    for f in &frames {
        f.encode(&mut all).expect("encode");
        ends.push(all.len());
    }
    for cut in 0..=all.len() {
        let mut b = BytesMut::from(&all[..cut]);
        let mut d = Decoder::new();
        let mut n = 0;
        while let Some(f) = d.decode(&mut b).expect("valid prefix") {
            assert_eq!(f, frames[n]);
            n += 1;
        }
        assert_eq!(n, ends.iter().filter(|e| **e <= cut).count());
    }
}

/// The smart-card channel's messages against hostile inputs: the fuzz target's entry point on
/// a corpus (decoder and relay scanner must agree and never panic), plus the exact refusals.
#[test]
fn hostile_smartcard_messages_are_refused_without_panics() {
    use support_relay::proto::smartcard::{Decoder, Direction, Message, Scanner, fuzz_messages};
    let big = |ty: u8, len: u32| {
        let mut v = vec![ty];
        v.extend_from_slice(&len.to_be_bytes());
        v
    };
    let mut corpus: Vec<Vec<u8>> = vec![
        vec![],
        vec![0],
        vec![0xff; 64],
        big(2, u32::MAX),                // a 4 GiB command
        big(2, 65_545),                  // one past the extended APDU maximum
        big(3, 65_539),                  // one past the longest response
        big(1, 34),                      // a 34-byte ATR
        big(2, 3),                       // a 3-byte command
        big(4, 1),                       // a reset with a body
        vec![6, 0, 0, 0, 2, 0xC3, 0x28], // an `end` that is not UTF-8
        vec![2, 0, 0, 0, 4, 0, 0xA4, 4], // cut inside the body
        vec![7, 0, 0, 0, 0],             // unknown type
    ];
    let mut ok = Message::Command(b"\x00\x20\x00\x81\x06123456".to_vec())
        .to_bytes()
        .expect("encode")
        .to_vec();
    ok.extend(Message::Reset.to_bytes().expect("reset"));
    corpus.push(ok.clone());
    corpus.push(vec![0u8; 70_000]);
    for input in &corpus {
        fuzz_messages(input);
    }
    let refused = |dir, b: &[u8]| {
        Decoder::new(dir)
            .decode(&mut BytesMut::from(b))
            .map_err(|e| e.code())
    };
    assert_eq!(
        refused(Direction::ToCard, &big(2, 65_545)),
        Err("smartcard_oversized")
    );
    assert_eq!(
        refused(Direction::FromCard, &big(2, 10)),
        Err("smartcard_wrong_direction")
    );
    assert_eq!(
        refused(Direction::ToCard, &big(2, 3)),
        Err("smartcard_malformed")
    );
    assert_eq!(
        refused(Direction::ToCard, &[7]),
        Err("smartcard_unknown_type")
    );
    let mut sc = Scanner::new(Direction::ToCard);
    sc.feed(&ok).expect("a valid stream passes the relay");
    assert_eq!(
        (
            sc.counts.commands,
            sc.counts.command_bytes,
            sc.counts.resets
        ),
        (1, 11, 1)
    );
}
