//! The fuzz targets' entry points fed a corpus of hostile inputs, so CI exercises the same
//! logic the (nightly-only) cargo-fuzz targets in `installer/fuzz/` do.

use crate::support::World;

#[test]
fn fuzz_entry_points_survive_a_hostile_corpus() {
    let w = World::new();
    let good = std::fs::read(w.package("1.0.0")).expect("package");
    let manifest = installer::package::Package::from_bytes(&good)
        .expect("valid")
        .manifest
        .to_bytes();
    let mut corpus: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\0".to_vec(),
        b"/i\0/qn\0INSTALLDIR=../../etc".to_vec(),
        b"/l*v\0\0/x\0=\0==\0A=B=C\0DEPLOYTOKEN=\xff\xfe".to_vec(),
        "ÏNSTALLDIR=/x\0RUNATSTARTUP=\u{0661}".as_bytes().to_vec(),
        vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff],
        b"{\"format\":1}".to_vec(),
        br#"{"format":1,"product":"sesame-console","version":"1.0.0","platform":"linux-x86_64","relay_url":"https://a/","update_url":"https://a/","trust_root":{"signed":{"_type":"root"},"signatures":[]},"files":[{"path":"../x","size":1,"sha256":"00","mode":493}]}"#.to_vec(),
        vec![b'['; 100_000],
        good.clone(),
        manifest.clone(),
    ];
    // Every truncation and a spread of single-byte flips of a real package and manifest.
    for cut in (0..good.len()).step_by(7) {
        corpus.push(good[..cut].to_vec());
    }
    for i in (0..good.len()).step_by(13) {
        let mut b = good.clone();
        b[i] ^= 0x55;
        corpus.push(b);
    }
    for cut in (0..manifest.len()).step_by(11) {
        corpus.push(manifest[..cut].to_vec());
    }
    for input in &corpus {
        installer::fuzz::command_line(input);
        installer::fuzz::manifest(input);
        installer::fuzz::package(input);
    }
    // The untouched package is still accepted, a flipped one never yields other contents.
    assert!(installer::package::Package::from_bytes(&good).is_ok());
}
