//! Property tests: the importers never panic, whatever the bytes, and a damaged valid file
//! never imports something else.

use proptest::prelude::*;
use sesame_hardware::seeds::{self, Decryption, import_csv, import_pskc};

use crate::{decryption_for, fixture};

/// XML-ish soup: fragments of PSKC markup in any order, so the parser gets past the first byte.
fn pskc_soup() -> impl Strategy<Value = Vec<u8>> {
    let fragments = prop::sample::select(vec![
        "<KeyContainer xmlns=\"urn:ietf:params:xml:ns:keyprov:pskc\" Version=\"1.0\">",
        "</KeyContainer>",
        "<KeyPackage>",
        "</KeyPackage>",
        "<DeviceInfo>",
        "</DeviceInfo>",
        "<SerialNo>",
        "</SerialNo>",
        "<Key Algorithm=\"urn:ietf:params:xml:ns:keyprov:pskc:totp\">",
        "</Key>",
        "<Data>",
        "</Data>",
        "<Secret>",
        "</Secret>",
        "<PlainValue>",
        "</PlainValue>",
        "<TimeInterval>",
        "</TimeInterval>",
        "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=",
        "60",
        "7",
        "&amp;",
        "&#0;",
        "<![CDATA[x]]>",
        "<!-- c -->",
        "<a:b>",
        "\u{feff}",
        "é",
        " ",
    ]);
    prop::collection::vec(fragments, 0..40).prop_map(|parts| parts.concat().into_bytes())
}

proptest! {
    #[test]
    fn pskc_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = import_pskc(&bytes, &Decryption::None);
        let _ = import_pskc(&bytes, &Decryption::PreSharedKey(vec![0; 16]));
    }

    #[test]
    fn pskc_never_panics_on_markup_soup(bytes in pskc_soup()) {
        let _ = import_pskc(&bytes, &Decryption::None);
    }

    #[test]
    fn csv_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = import_csv(&bytes);
        let _ = seeds::import(&bytes, &Decryption::None);
    }

    #[test]
    fn csv_never_panics_on_csv_like_text(text in "([A-Za-z0-9 ,#\"'\t\r\n-]{0,20}\n){0,20}") {
        let _ = import_csv(text.as_bytes());
    }

    /// One byte of an encrypted file changed: an error, or (when the change is harmless, such
    /// as whitespace or an ignored element) exactly the original token.
    #[test]
    fn a_changed_byte_never_yields_another_token(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let name = "rfc6030-figure6.pskcxml";
        let mut doc = fixture(name);
        let i = pos.index(doc.len());
        doc[i] = byte;
        if let Ok(tokens) = import_pskc(&doc, &decryption_for(name)) {
            prop_assert_eq!(tokens.len(), 1);
            prop_assert_eq!(tokens[0].secret.as_bytes(), b"12345678901234567890");
        }
    }
}
