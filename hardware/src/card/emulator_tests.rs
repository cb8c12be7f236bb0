use super::*;

fn run(card: &mut EmulatedCard, hex: &str) -> (Vec<u8>, u16) {
    let bytes = data_encoding::HEXUPPER_PERMISSIVE
        .decode(hex.replace(' ', "").as_bytes())
        .unwrap();
    let resp = card.process(&CommandApdu::parse(&bytes).unwrap());
    (resp.data().to_vec(), resp.sw().0)
}

fn sw(card: &mut EmulatedCard, hex: &str) -> u16 {
    run(card, hex).1
}

const SELECT_APP: &str = "00A4040008F053455341 4D4501";

#[test]
fn the_test_script_answers() {
    let mut card = EmulatedCard::test_card();
    let answers: Vec<ResponseApdu> = test_script().iter().map(|a| card.process(a)).collect();
    let sws: Vec<u16> = answers.iter().map(|r| r.sw().0).collect();
    assert_eq!(
        sws,
        [
            0x9000, 0x9000, 0x9000, 0x9000, 0x9000, 0x6282, 0x9000, 0x63C2, 0x63C2
        ]
    );
    assert_eq!(
        answers[2].data(),
        internal_authenticate_answer(&TEST_KEY, TEST_CHALLENGE)
    );
    let file = test_file();
    assert_eq!(answers[4].data(), &file[..256]);
    assert_eq!(answers[5].data(), &file[256..]);
    assert_eq!(answers[6].data().len(), 8);
    assert_eq!(card.retries_left(), 2);
    // Deterministic: a second card gives the same answers.
    let mut again = EmulatedCard::test_card();
    let second: Vec<ResponseApdu> = test_script().iter().map(|a| again.process(a)).collect();
    assert_eq!(answers, second);
}

#[test]
fn pin_counter_blocks_and_survives_power_cycles() {
    let mut card = EmulatedCard::test_card();
    assert_eq!(
        sw(&mut card, "0020008106313233343536"),
        0x6985,
        "no application yet"
    );
    assert_eq!(sw(&mut card, SELECT_APP), 0x9000);
    assert_eq!(sw(&mut card, "00200081"), 0x63C3);
    assert_eq!(sw(&mut card, "0020008106303030303030"), 0x63C2);
    card.power_cycle();
    assert_eq!(sw(&mut card, SELECT_APP), 0x9000);
    assert_eq!(sw(&mut card, "0020008104303030 30"), 0x63C1);
    assert_eq!(
        sw(&mut card, "0020008106313233343536"),
        0x9000,
        "right PIN resets"
    );
    assert_eq!(card.retries_left(), 3);
    assert_eq!(sw(&mut card, "00200081"), 0x9000);
    for left in [2u16, 1, 0] {
        assert_eq!(sw(&mut card, "0020008101FF"), 0x63C0 | left);
    }
    assert!(!card.is_verified());
    assert_eq!(sw(&mut card, "0020008106313233343536"), 0x6983, "blocked");
    assert_eq!(sw(&mut card, "00200081"), 0x6983);
    assert_eq!(sw(&mut card, "00200082 06313233343536"), 0x6A88);
    assert_eq!(sw(&mut card, "00200181 06313233343536"), 0x6A86);
}

#[test]
fn the_key_is_used_only_after_the_pin() {
    let mut card = EmulatedCard::test_card();
    assert_eq!(sw(&mut card, SELECT_APP), 0x9000);
    assert_eq!(sw(&mut card, "0088000003010203 00"), 0x6982);
    assert_eq!(sw(&mut card, "0020008106313233343536"), 0x9000);
    let (data, status) = run(&mut card, "0088000003010203 00");
    assert_eq!(status, 0x9000);
    assert_eq!(data, internal_authenticate_answer(&TEST_KEY, &[1, 2, 3]));
    assert_eq!(sw(&mut card, "0088000003010203 10"), 0x6C20, "Le too small");
    assert_eq!(sw(&mut card, "0088000003010203"), 0x6700, "no Le");
    card.power_cycle();
    assert_eq!(sw(&mut card, SELECT_APP), 0x9000);
    assert_eq!(
        sw(&mut card, "0088000003010203 00"),
        0x6982,
        "reset forgets the PIN"
    );
    // Nothing the card answers contains the key.
    for apdu in test_script() {
        let resp = card.process(&apdu);
        assert!(
            !resp
                .data()
                .windows(8)
                .any(|w| TEST_KEY.windows(8).any(|k| k == w))
        );
    }
}

#[test]
fn change_reference_data() {
    let mut card = EmulatedCard::test_card();
    assert_eq!(sw(&mut card, SELECT_APP), 0x9000);
    assert_eq!(sw(&mut card, "002400810A 313233343536 39393939"), 0x9000);
    assert_eq!(
        sw(&mut card, "0020008106313233343536"),
        0x63C2,
        "old PIN gone"
    );
    assert_eq!(sw(&mut card, "0020008104 39393939"), 0x9000);
    assert_eq!(
        sw(&mut card, "0024008105 3939393931"),
        0x6A80,
        "new PIN too short"
    );
    assert_eq!(sw(&mut card, "002400810A 30303030 313233343536"), 0x63C2);
}

#[test]
fn read_binary_and_select_errors() {
    let mut card = EmulatedCard::test_card();
    assert_eq!(sw(&mut card, "00B0000010"), 0x6985, "no application");
    assert_eq!(sw(&mut card, "00A4040003A00000"), 0x6A82);
    assert_eq!(sw(&mut card, SELECT_APP), 0x9000);
    assert_eq!(sw(&mut card, "00B0000010"), 0x6986, "no current file");
    assert_eq!(sw(&mut card, "00A4020C020102"), 0x6A82);
    assert_eq!(sw(&mut card, "00A4030C020101"), 0x6A86);
    let (data, status) = run(&mut card, "00B0810004");
    assert_eq!((data.as_slice(), status), (&test_file()[..4], 0x9000));
    assert_eq!(sw(&mut card, "00B0820004"), 0x6A82, "unknown SFI");
    assert_eq!(sw(&mut card, "00B0012C04"), 0x6B00, "offset past the end");
    assert_eq!(sw(&mut card, "00B00000"), 0x6700, "no Le");
    assert_eq!(
        sw(&mut card, "00B0000001AA01"),
        0x6700,
        "data in READ BINARY"
    );
    let (data, status) = run(&mut card, "00B00000000000");
    assert_eq!(
        (data, status),
        (test_file(), 0x6282),
        "extended Le reads all"
    );
    assert_eq!(sw(&mut card, "80B0000010"), 0x6E00);
    assert_eq!(sw(&mut card, "00CA000010"), 0x6D00);
}

#[test]
fn challenges_are_deterministic_and_distinct() {
    let mut a = EmulatedCard::test_card();
    let mut b = EmulatedCard::test_card();
    let first = run(&mut a, "0084000008");
    let second = run(&mut a, "0084000008");
    assert_eq!(first.1, 0x9000);
    assert_ne!(first.0, second.0);
    assert_eq!(run(&mut b, "0084000008"), first);
    assert_eq!(sw(&mut a, "0084000021"), 0x6700);
}

#[test]
fn debug_hides_pin_and_key() {
    let card = EmulatedCard::new(b"987654", [0x42; 32], vec![]).unwrap();
    let shown = format!("{card:?}");
    assert!(shown.contains("retries: 3"), "{shown}");
    assert!(
        !shown.contains("987654") && !shown.contains("66, 66"),
        "{shown}"
    );
    assert_eq!(
        EmulatedCard::new(b"123", [0; 32], vec![])
            .unwrap_err()
            .to_string(),
        "a PIN must have 4 to 16 bytes, not 3"
    );
}
