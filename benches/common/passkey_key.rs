//! The benchmark's authenticator: a P-256 passkey that signs with ring (through rcgen), so the
//! load generator, which shares the machine's cores with the server, costs as little as it can.
//! It speaks WebAuthn exactly as a key and browser do — a "none" attestation at registration
//! (CBOR attestation object, COSE key), then assertions over `authenticatorData ‖
//! SHA-256(clientDataJSON)` with user presence and verification and a rising counter — and the
//! server verifies them with webauthn-rs as it would any key's. (The soft authenticators of
//! webauthn-authenticator-rs sign with RustCrypto's P-256, several times slower than ring.)

use data_encoding::BASE64URL_NOPAD;
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub(crate) struct BenchKey {
    key: KeyPair,
    cred_id: Vec<u8>,
    counter: u32,
    rp_hash: [u8; 32],
    origin: String,
    /// The user handle the server gave at registration (a discoverable passkey returns it).
    pub(crate) handle: Vec<u8>,
}

fn b64(b: &[u8]) -> String {
    BASE64URL_NOPAD.encode(b)
}

fn cbor_bytes(out: &mut Vec<u8>, b: &[u8]) {
    match b.len() {
        n if n < 24 => out.push(0x40 | n as u8),
        n if n < 256 => out.extend_from_slice(&[0x58, n as u8]),
        n => {
            out.push(0x59);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(b);
}

fn cbor_text(out: &mut Vec<u8>, s: &str) {
    out.push(0x60 | s.len() as u8); // short keys only
    out.extend_from_slice(s.as_bytes());
}

fn client_data(kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
    json!({ "type": kind, "challenge": challenge, "origin": origin, "crossOrigin": false })
        .to_string()
        .into_bytes()
}

impl BenchKey {
    /// A fresh key for `rp_id`, used from `origin`.
    pub(crate) fn new(rp_id: &str, origin: &str) -> BenchKey {
        let mut cred_id = vec![0u8; 32];
        getrandom_fill(&mut cred_id);
        BenchKey {
            key: KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap(),
            cred_id,
            counter: 0,
            rp_hash: Sha256::digest(rp_id.as_bytes()).into(),
            origin: origin.to_owned(),
            handle: Vec::new(),
        }
    }

    /// The credential id, base64url.
    pub(crate) fn id(&self) -> String {
        b64(&self.cred_id)
    }

    /// The answer to registration options (`{"publicKey": …}`): `PublicKeyCredential.toJSON()`.
    pub(crate) fn register(&mut self, options: &Value) -> Value {
        let pk = &options["publicKey"];
        self.handle = BASE64URL_NOPAD
            .decode(pk["user"]["id"].as_str().unwrap().as_bytes())
            .unwrap();
        let challenge = pk["challenge"].as_str().unwrap();
        let raw = self.key.public_key_raw(); // 0x04 ‖ x ‖ y
        let mut cose = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21];
        cbor_bytes(&mut cose, &raw[1..33]);
        cose.push(0x22);
        cbor_bytes(&mut cose, &raw[33..65]);
        let mut auth = self.rp_hash.to_vec();
        auth.push(0x45); // UP | UV | AT
        auth.extend_from_slice(&self.counter.to_be_bytes());
        auth.extend_from_slice(&[0u8; 16]); // AAGUID: not told
        auth.extend_from_slice(&(self.cred_id.len() as u16).to_be_bytes());
        auth.extend_from_slice(&self.cred_id);
        auth.extend_from_slice(&cose);
        let mut att = vec![0xa3];
        cbor_text(&mut att, "fmt");
        cbor_text(&mut att, "none");
        cbor_text(&mut att, "attStmt");
        att.push(0xa0);
        cbor_text(&mut att, "authData");
        cbor_bytes(&mut att, &auth);
        let id = self.id();
        json!({
            "id": id, "rawId": id, "type": "public-key", "extensions": {},
            "response": {
                "attestationObject": b64(&att),
                "clientDataJSON": b64(&client_data("webauthn.create", challenge, &self.origin)),
            },
        })
    }

    /// The answer to request options, as a discoverable passkey gives it (with the handle).
    pub(crate) fn sign(&mut self, options: &Value) -> Value {
        let challenge = options["publicKey"]["challenge"].as_str().unwrap();
        self.counter += 1;
        let mut auth = self.rp_hash.to_vec();
        auth.push(0x05); // UP | UV
        auth.extend_from_slice(&self.counter.to_be_bytes());
        let cd = client_data("webauthn.get", challenge, &self.origin);
        let mut signed = auth.clone();
        signed.extend_from_slice(&Sha256::digest(&cd));
        let sig = self.key.sign(&signed).unwrap();
        let id = self.id();
        json!({
            "id": id, "rawId": id, "type": "public-key", "extensions": {},
            "response": {
                "authenticatorData": b64(&auth),
                "clientDataJSON": b64(&cd),
                "signature": b64(&sig),
                "userHandle": b64(&self.handle),
            },
        })
    }
}

fn getrandom_fill(b: &mut [u8]) {
    // A throwaway key's id: the first bytes of a fresh public key are random enough.
    let k = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let raw = k.public_key_raw();
    for (d, s) in b.iter_mut().zip(raw[1..].iter()) {
        *d = *s;
    }
}
