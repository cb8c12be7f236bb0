//! Software TOTP devices (authenticator apps): enrolment material and verification.
//!
//! A device is created unconfirmed with a fresh 160-bit seed sealed under the master key; it
//! becomes usable only once the user proves the app shows the right code (`confirm`). At login,
//! [`find_match`] finds which device and which step a code belongs to (±skew steps); the caller
//! then consumes that step with the store's conditional write, so a step once accepted is never
//! accepted again for that device — across restarts, crashes and concurrent requests.

use crate::Error;
use crate::model::TotpCredential;
use crate::secrets::MasterKey;
use sesame_hardware::otp::{self, TotpParams};
use sesame_hardware::secret::{OtpSecret, group_for_typing};

/// Seed length for new devices (RFC 4226 recommends 160 bits).
pub const SEED_BYTES: usize = 20;

/// The sealing context binding a seed to its owner.
pub fn seal_context(user_id: i64) -> String {
    format!("totp|user:{user_id}")
}

/// What the user needs to add the device to an app.
#[derive(Debug)]
pub struct Material {
    /// The seed, sealed for the store.
    pub sealed: Vec<u8>,
    /// `otpauth://totp/...` URI (also encoded in the QR code).
    pub uri: String,
    /// base32 seed in groups of four, for typing.
    pub secret_grouped: String,
    /// The QR code of `uri` as an SVG document.
    pub qr_svg: String,
}

/// Make a new seed and everything the user needs to enrol it.
pub fn new_material(
    key: &MasterKey,
    user_id: i64,
    issuer: &str,
    account: &str,
    params: &TotpParams,
) -> Result<Material, Error> {
    let mut seed = zeroize::Zeroizing::new([0u8; SEED_BYTES]);
    crate::credentials::tokens::random_bytes(seed.as_mut())?;
    let secret =
        OtpSecret::from_bytes(seed.to_vec()).map_err(|e| Error::Internal(e.to_string()))?;
    let sealed = key
        .seal(&seal_context(user_id), secret.as_bytes())
        .map_err(|e| Error::Internal(e.to_string()))?;
    let uri = sesame_hardware::otpauth::otpauth_uri(issuer, account, &secret, params);
    Ok(Material {
        sealed,
        secret_grouped: group_for_typing(&secret.to_base32()),
        qr_svg: qr_svg(&uri)?,
        uri,
    })
}

/// Render `text` as a QR code in SVG (medium error correction, dark on white).
pub fn qr_svg(text: &str) -> Result<String, Error> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| Error::Internal(format!("qr code: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

/// Open a device's seed.
pub fn open_secret(key: &MasterKey, cred: &TotpCredential) -> Result<OtpSecret, Error> {
    let bytes = key
        .open(&seal_context(cred.user_id), &cred.sealed_secret)
        .map_err(|e| Error::Internal(format!("totp seed {}: {e}", cred.id)))?;
    OtpSecret::from_bytes(bytes.to_vec())
        .map_err(|e| Error::Internal(format!("totp seed {}: {e}", cred.id)))
}

/// The step of `code` on `cred` at `now`, if it is valid and newer than the device's last step.
pub fn verify(
    key: &MasterKey,
    cred: &TotpCredential,
    code: &str,
    now: i64,
    skew_steps: u64,
) -> Result<Option<u64>, Error> {
    let secret = open_secret(key, cred)?;
    let now = u64::try_from(now).unwrap_or(0);
    Ok(otp::verify_totp(
        secret.as_bytes(),
        &cred.params,
        code,
        now,
        skew_steps,
        cred.last_step,
        0,
    ))
}

/// Among the user's confirmed devices, the first whose code matches: `(device id, step)`.
pub fn find_match(
    key: &MasterKey,
    creds: &[TotpCredential],
    code: &str,
    now: i64,
    skew_steps: u64,
) -> Result<Option<(i64, u64)>, Error> {
    for cred in creds.iter().filter(|c| c.confirmed) {
        if let Some(step) = verify(key, cred, code, now, skew_steps)? {
            return Ok(Some((cred.id, step)));
        }
    }
    Ok(None)
}

/// Whether `code` is a valid code that was already used (its step is at or before a device's
/// last accepted step). Only for the audit trail: a replayed code is a signal worth recording.
pub fn is_replay(
    key: &MasterKey,
    creds: &[TotpCredential],
    code: &str,
    now: i64,
    skew_steps: u64,
) -> Result<bool, Error> {
    for cred in creds
        .iter()
        .filter(|c| c.confirmed && c.last_step.is_some())
    {
        let secret = open_secret(key, cred)?;
        let now = u64::try_from(now).unwrap_or(0);
        if otp::verify_totp(
            secret.as_bytes(),
            &cred.params,
            code,
            now,
            skew_steps,
            None,
            0,
        )
        .is_some()
        {
            return Ok(true);
        }
    }
    Ok(false)
}
