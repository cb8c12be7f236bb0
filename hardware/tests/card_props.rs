//! Property tests of the smart-card codecs: APDUs and vpcd frames round-trip, truncations are
//! refused, and no input makes them panic. Also the fuzz targets' entry points on a corpus of
//! hostile inputs, so CI runs the same logic the fuzzers do.

use proptest::prelude::*;
use sesame_hardware::card::apdu::{self, CommandApdu, MAX_COMMAND_LEN, ResponseApdu};
use sesame_hardware::card::vpcd::{self, VpcdRequest, decode_frame};
use sesame_hardware::card::{Case, StatusWord};

/// Any command APDU: short or extended, every case, data up to 600 bytes (and now and then
/// the extended maximum).
fn command() -> impl Strategy<Value = CommandApdu> {
    let data = prop_oneof![
        8 => prop::collection::vec(any::<u8>(), 0..600),
        1 => Just(vec![0xA5; 65_535]),
    ];
    let ne = prop_oneof![
        Just(None),
        (1u32..=65_536).prop_map(Some),
        (1u32..=256).prop_map(Some)
    ];
    (any::<[u8; 4]>(), data, ne, any::<bool>()).prop_map(|(h, data, ne, ext)| {
        let apdu = CommandApdu::new(h[0], h[1], h[2], h[3], data, ne).expect("in range");
        if ext { apdu.into_extended() } else { apdu }
    })
}

/// The prefix lengths of an APDU's encoding that are themselves valid APDUs: the header
/// (case 1), header + one byte (case 2S), header + 3 bytes starting with 00 (case 2E), and for
/// case 4 the same APDU without its Le (case 3).
fn valid_prefix_lens(apdu: &CommandApdu, bytes: &[u8]) -> Vec<usize> {
    let mut lens = vec![4, 5];
    if bytes.len() > 6 && bytes[4] == 0 {
        lens.push(7);
    }
    match apdu.case() {
        Case::FourShort => lens.push(bytes.len() - 1),
        Case::FourExtended => lens.push(bytes.len() - 2),
        _ => {}
    }
    lens
}

fn request() -> impl Strategy<Value = VpcdRequest> {
    prop_oneof![
        Just(VpcdRequest::PowerOff),
        Just(VpcdRequest::PowerOn),
        Just(VpcdRequest::Reset),
        Just(VpcdRequest::GetAtr),
        command()
            .prop_filter("fits a vpcd frame", |a| a.encoded_len()
                <= vpcd::MAX_PAYLOAD)
            .prop_map(VpcdRequest::Apdu),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn command_apdus_round_trip(apdu in command()) {
        let bytes = apdu.to_bytes();
        prop_assert_eq!(bytes.len(), apdu.encoded_len());
        prop_assert!(bytes.len() <= MAX_COMMAND_LEN);
        prop_assert_eq!(CommandApdu::parse(&bytes).expect("own encoding parses"), apdu);
    }

    #[test]
    fn command_apdu_truncations_are_refused(apdu in command()) {
        let bytes = apdu.to_bytes();
        let allowed = valid_prefix_lens(&apdu, &bytes);
        // Every prefix for small APDUs; for the 65 535-byte one, the lengths around the edges.
        let cuts: Vec<usize> = if bytes.len() < 1_000 {
            (0..bytes.len()).collect()
        } else {
            (0..16).chain(bytes.len() - 16..bytes.len()).collect()
        };
        for cut in cuts {
            match CommandApdu::parse(&bytes[..cut]) {
                Err(_) => {}
                Ok(shorter) => {
                    prop_assert!(allowed.contains(&cut), "prefix of {} bytes parsed", cut);
                    prop_assert_ne!(&shorter, &apdu);
                    prop_assert_eq!(shorter.to_bytes(), &bytes[..cut]);
                }
            }
        }
    }

    #[test]
    fn a_trailing_byte_is_refused_unless_it_is_a_short_le(apdu in command(), extra in any::<u8>()) {
        let mut bytes = apdu.to_bytes();
        bytes.push(extra);
        if let Ok(longer) = CommandApdu::parse(&bytes) {
            // A header or a short case 3 takes one more byte as its Le; a case 2 asking for
            // exactly one byte reads as a case 3 with one data byte.
            let ok = match apdu.case() {
                Case::One | Case::ThreeShort => true,
                Case::TwoShort | Case::TwoExtended => apdu.ne() == Some(1),
                _ => false,
            };
            prop_assert!(ok, "{:?} took a trailing byte", apdu.case());
            prop_assert_eq!(longer.to_bytes(), bytes);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..700)) {
        apdu::fuzz_parse(&bytes);
        vpcd::fuzz_decode(&bytes);
    }

    #[test]
    fn apdu_shaped_bytes_never_panic(
        header in any::<[u8; 4]>(),
        b4 in prop_oneof![Just(0u8), any::<u8>()],
        rest in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut bytes = header.to_vec();
        bytes.push(b4);
        bytes.extend(rest);
        apdu::fuzz_parse(&bytes);
    }

    #[test]
    fn responses_round_trip(data in prop::collection::vec(any::<u8>(), 0..600), sw in any::<u16>()) {
        let resp = ResponseApdu::new(data, StatusWord(sw)).expect("fits");
        let bytes = resp.to_bytes();
        prop_assert_eq!(ResponseApdu::parse(&bytes).expect("parses"), resp);
        prop_assert!(ResponseApdu::parse(&bytes[..1]).is_err());
    }

    #[test]
    fn vpcd_frames_round_trip_and_truncations_are_incomplete(reqs in prop::collection::vec(request(), 1..4)) {
        let mut stream = Vec::new();
        for r in &reqs {
            stream.extend(r.to_frame().expect("fits"));
        }
        // The whole stream decodes to the same requests, in order.
        let mut rest = stream.as_slice();
        let mut decoded = Vec::new();
        while let Some((payload, used)) = decode_frame(rest) {
            decoded.push(VpcdRequest::parse(payload).expect("own frame parses"));
            rest = &rest[used..];
        }
        prop_assert!(rest.is_empty());
        prop_assert_eq!(&decoded, &reqs);
        // Every truncation of the first frame is incomplete, never a message.
        let first = reqs[0].to_frame().expect("fits");
        let cuts: Vec<usize> = if first.len() < 1_000 {
            (0..first.len()).collect()
        } else {
            (0..16).chain(first.len() - 16..first.len()).collect()
        };
        for cut in cuts {
            prop_assert!(decode_frame(&first[..cut]).is_none(), "cut at {}", cut);
        }
    }
}

/// Hostile inputs for both fuzz entry points: every one must be handled without a panic.
fn hostile_corpus() -> Vec<Vec<u8>> {
    let mut corpus: Vec<Vec<u8>> = vec![
        vec![],
        vec![0],
        vec![0xFF; 3],
        vec![0x00, 0xA4, 0x04, 0x00],
        vec![0x00, 0xA4, 0x04, 0x00, 0x00],
        vec![0x00, 0xA4, 0x04, 0x00, 0x00, 0x00],
        vec![0x00, 0xA4, 0x04, 0x00, 0x00, 0x00, 0x00],
        vec![0x00, 0xA4, 0x04, 0x00, 0x00, 0xFF, 0xFF],
        vec![0x00, 0xA4, 0x04, 0x00, 0x00, 0xFF, 0xFF, 0x01],
        vec![0x00, 0xA4, 0x04, 0x00, 0xFF],
        vec![0x00, 0xA4, 0x04, 0x00, 0x01, 0xAA, 0x00, 0x00],
        vec![0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
        // vpcd frames: a length that promises more than there is, an empty frame, unknown control.
        vec![0xFF, 0xFF, 0x01],
        vec![0x00, 0x00, 0x00, 0x00],
        vec![0x00, 0x01, 0x03, 0x00, 0x01, 0x04],
        vec![0x00, 0x02, 0x00, 0x84],
        vec![0x00, 0x05, 0x00, 0x84, 0x00, 0x00, 0x08, 0x00],
    ];
    // The largest command, and one byte more.
    let max = CommandApdu::new(0, 0xDA, 0, 0, vec![0x5A; 65_535], Some(65_536)).expect("max");
    let mut big = max.to_bytes();
    corpus.push(big.clone());
    big.push(0);
    corpus.push(big);
    // A maximal vpcd frame of garbage.
    let mut frame = vec![0xFF, 0xFF];
    frame.extend(std::iter::repeat_n(0x00, 0xFFFF));
    corpus.push(frame);
    corpus
}

#[test]
fn fuzz_entry_points_survive_the_hostile_corpus() {
    for input in hostile_corpus() {
        apdu::fuzz_parse(&input);
        vpcd::fuzz_decode(&input);
    }
}
