//! Account photos: PNG or JPEG only, checked by walking the file's structure (not by its name
//! or declared type), at least 80×80 pixels, at most 1 MB, and stored without metadata: text,
//! EXIF, XMP and comment blocks are dropped (a phone photo carries its GPS position in EXIF).
//!
//! Nothing here decodes pixels: PNG chunks are walked and their CRCs checked, JPEG segments are
//! walked to the end-of-image marker. A truncated or altered file is refused, not repaired.

/// Largest photo accepted, in bytes.
pub const MAX_BYTES: usize = 1024 * 1024;
/// Smallest width and height, in pixels.
pub const MIN_SIDE: u32 = 80;
/// Largest width and height, in pixels.
pub const MAX_SIDE: u32 = 8192;

/// Why a photo was refused. Each has a stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    /// Over [`MAX_BYTES`].
    #[error("the photo is larger than 1 MB")]
    TooLarge,
    /// Neither a PNG nor a JPEG file, whatever its name says.
    #[error("the photo must be a PNG or JPEG image")]
    UnsupportedType,
    /// Smaller than [`MIN_SIDE`] on a side.
    #[error("the photo must be at least 80×80 pixels (this one is {0}×{1})")]
    TooSmall(u32, u32),
    /// Larger than [`MAX_SIDE`] on a side.
    #[error("the photo must be at most 8192×8192 pixels (this one is {0}×{1})")]
    TooBig(u32, u32),
    /// The file ends early or its structure is damaged.
    #[error("the photo file is damaged or incomplete ({0})")]
    Corrupt(&'static str),
}

impl PhotoError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            PhotoError::TooLarge => "photo_too_large",
            PhotoError::UnsupportedType => "photo_unsupported_type",
            PhotoError::TooSmall(..) => "photo_too_small",
            PhotoError::TooBig(..) => "photo_too_big",
            PhotoError::Corrupt(_) => "photo_corrupt",
        }
    }
}

/// A checked photo: its type, size, and its bytes without metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// `image/png` or `image/jpeg`.
    pub content_type: &'static str,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
    /// The file, metadata removed.
    pub bytes: Vec<u8>,
}

const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// Check and clean a photo.
pub fn check(data: &[u8]) -> Result<Checked, PhotoError> {
    if data.len() > MAX_BYTES {
        return Err(PhotoError::TooLarge);
    }
    let c = if data.starts_with(PNG_SIGNATURE) {
        png(data)?
    } else if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        jpeg(data)?
    } else {
        return Err(PhotoError::UnsupportedType);
    };
    if c.width < MIN_SIDE || c.height < MIN_SIDE {
        return Err(PhotoError::TooSmall(c.width, c.height));
    }
    if c.width > MAX_SIDE || c.height > MAX_SIDE {
        return Err(PhotoError::TooBig(c.width, c.height));
    }
    Ok(c)
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// CRC-32 (ISO-HDLC, as PNG uses), bitwise: photos are small and checked once.
fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for part in parts {
        for &byte in *part {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
    }
    !crc
}

/// PNG chunks kept: the image itself and how to show its colours.
const PNG_KEEP: [&[u8; 4]; 9] = [
    b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"gAMA", b"cHRM", b"sRGB", b"iCCP",
];

fn png(data: &[u8]) -> Result<Checked, PhotoError> {
    let mut out = PNG_SIGNATURE.to_vec();
    let mut at = PNG_SIGNATURE.len();
    let mut size = None;
    let mut idat = false;
    loop {
        let head = data
            .get(at..at + 8)
            .ok_or(PhotoError::Corrupt("truncated chunk header"))?;
        let len = be32(head) as usize;
        let kind: [u8; 4] = [head[4], head[5], head[6], head[7]];
        let end = at
            .checked_add(12)
            .and_then(|v| v.checked_add(len))
            .ok_or(PhotoError::Corrupt("chunk length"))?;
        let chunk = data
            .get(at..end)
            .ok_or(PhotoError::Corrupt("truncated chunk"))?;
        let body = &chunk[8..8 + len];
        if crc32(&[&kind, body]) != be32(&chunk[8 + len..]) {
            return Err(PhotoError::Corrupt("chunk checksum"));
        }
        if size.is_none() {
            if &kind != b"IHDR" || len != 13 {
                return Err(PhotoError::Corrupt("first chunk is not IHDR"));
            }
            size = Some((be32(&body[0..4]), be32(&body[4..8])));
        }
        idat |= &kind == b"IDAT";
        if PNG_KEEP.contains(&&kind) {
            out.extend_from_slice(chunk);
        }
        at = end;
        if &kind == b"IEND" {
            break;
        }
    }
    if at != data.len() {
        return Err(PhotoError::Corrupt("data after the end of the image"));
    }
    if !idat {
        return Err(PhotoError::Corrupt("no image data"));
    }
    let (width, height) = size.ok_or(PhotoError::Corrupt("no header"))?;
    Ok(Checked {
        content_type: "image/png",
        width,
        height,
        bytes: out,
    })
}

fn jpeg(data: &[u8]) -> Result<Checked, PhotoError> {
    let mut out = vec![0xFF, 0xD8];
    let mut at = 2;
    let mut size = None;
    loop {
        // Fill bytes (0xFF) may precede a marker.
        if data.get(at) != Some(&0xFF) {
            return Err(PhotoError::Corrupt("expected a marker"));
        }
        while data.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let marker = *data.get(at + 1).ok_or(PhotoError::Corrupt("truncated"))?;
        match marker {
            0xD9 => {
                out.extend_from_slice(&[0xFF, 0xD9]);
                at += 2;
                break;
            }
            0xD0..=0xD7 | 0x01 => {
                out.extend_from_slice(&[0xFF, marker]);
                at += 2;
                continue;
            }
            _ => {}
        }
        let len_bytes = data
            .get(at + 2..at + 4)
            .ok_or(PhotoError::Corrupt("truncated segment"))?;
        let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        if len < 2 {
            return Err(PhotoError::Corrupt("segment length"));
        }
        let end = at + 2 + len;
        let seg = data
            .get(at..end)
            .ok_or(PhotoError::Corrupt("truncated segment"))?;
        let is_sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            if len < 8 {
                return Err(PhotoError::Corrupt("short frame header"));
            }
            let h = u32::from(u16::from_be_bytes([seg[5], seg[6]]));
            let w = u32::from(u16::from_be_bytes([seg[7], seg[8]]));
            size = Some((w, h));
        }
        // APP1–APP13, APP15 (EXIF, XMP, vendor data) and comments go; JFIF (APP0) and Adobe
        // (APP14, it tells how colours are encoded) stay.
        let metadata = matches!(marker, 0xE1..=0xED | 0xEF | 0xFE);
        if !metadata {
            out.extend_from_slice(seg);
        }
        at = end;
        if marker == 0xDA {
            // Entropy-coded data runs to the next marker other than a stuffed 0xFF00 or a
            // restart marker.
            let start = at;
            loop {
                let b = *data
                    .get(at)
                    .ok_or(PhotoError::Corrupt("truncated image data"))?;
                if b == 0xFF {
                    let next = *data
                        .get(at + 1)
                        .ok_or(PhotoError::Corrupt("truncated image data"))?;
                    if next != 0x00 && !(0xD0..=0xD7).contains(&next) {
                        break;
                    }
                    at += 2;
                } else {
                    at += 1;
                }
            }
            out.extend_from_slice(&data[start..at]);
        }
    }
    if at != data.len() {
        return Err(PhotoError::Corrupt("data after the end of the image"));
    }
    let (width, height) = size.ok_or(PhotoError::Corrupt("no frame header"))?;
    Ok(Checked {
        content_type: "image/jpeg",
        width,
        height,
        bytes: out,
    })
}

/// Test images, built by hand (valid structure, tiny pixel data), for this crate's tests and
/// the end-to-end tests.
#[doc(hidden)]
pub mod samples {
    use super::crc32;

    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], body: &[u8]) {
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out.extend_from_slice(&crc32(&[kind, body]).to_be_bytes());
    }

    /// A PNG of `w`×`h` with a text chunk holding `comment` (metadata to strip).
    pub fn png(w: u32, h: u32, comment: &str) -> Vec<u8> {
        let mut out = super::PNG_SIGNATURE.to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
        chunk(&mut out, b"IHDR", &ihdr);
        chunk(&mut out, b"tEXt", format!("Comment\0{comment}").as_bytes());
        // Not a decodable zlib stream: nothing here decodes pixels.
        chunk(&mut out, b"IDAT", &[0x78, 0x9C, 0x63, 0, 0, 0, 1, 0, 1]);
        chunk(&mut out, b"IEND", &[]);
        out
    }

    /// A JPEG of `w`×`h` with an EXIF segment holding `comment`.
    pub fn jpeg(w: u16, h: u16, comment: &str) -> Vec<u8> {
        let mut out = vec![0xFF, 0xD8];
        out.extend_from_slice(&[
            0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0,
        ]);
        let exif = [b"Exif\0\0".as_slice(), comment.as_bytes()].concat();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&exif);
        out.extend_from_slice(&[0xFF, 0xC0, 0, 11, 8]);
        out.extend_from_slice(&h.to_be_bytes());
        out.extend_from_slice(&w.to_be_bytes());
        out.extend_from_slice(&[1, 1, 0x11, 0]);
        out.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 0x3F, 0]);
        out.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
        out.extend_from_slice(&[0xFF, 0xD9]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_png_reference_value() {
        // The CRC of an empty IEND chunk is fixed by the PNG specification.
        assert_eq!(crc32(&[b"IEND"]), 0xAE42_6082);
    }

    #[test]
    fn png_and_jpeg_are_accepted_and_stripped_of_metadata() {
        let p = check(&samples::png(120, 90, "GPS 48.85N 2.35E")).expect("png");
        assert_eq!((p.content_type, p.width, p.height), ("image/png", 120, 90));
        assert!(!p.bytes.windows(3).any(|w| w == b"GPS"));
        assert!(
            check(&p.bytes).is_ok(),
            "the cleaned file is still a valid PNG"
        );
        let j = check(&samples::jpeg(80, 100, "GPS 48.85N")).expect("jpeg");
        assert_eq!((j.content_type, j.width, j.height), ("image/jpeg", 80, 100));
        assert!(!j.bytes.windows(3).any(|w| w == b"GPS"));
        assert!(j.bytes.windows(4).any(|w| w == b"JFIF"), "JFIF is kept");
        assert!(check(&j.bytes).is_ok());
    }

    #[test]
    fn refusals_have_their_own_codes() {
        let code = |d: &[u8]| check(d).expect_err("refused").code();
        assert_eq!(code(&samples::png(79, 80, "")), "photo_too_small");
        assert_eq!(code(&samples::jpeg(80, 79, "")), "photo_too_small");
        assert_eq!(code(&samples::png(9000, 80, "")), "photo_too_big");
        let gif = b"GIF89a\x50\x00\x50\x00\x00\x00\x00;".to_vec();
        assert_eq!(code(&gif), "photo_unsupported_type");
        let mut big = samples::png(100, 100, "");
        big.resize(MAX_BYTES + 1, 0);
        assert_eq!(code(&big), "photo_too_large");
        let png = samples::png(100, 100, "x");
        for cut in [9, 20, png.len() - 1] {
            assert_eq!(code(&png[..cut]), "photo_corrupt", "png cut at {cut}");
        }
        let jpg = samples::jpeg(100, 100, "x");
        for cut in [3, 10, jpg.len() - 1] {
            assert_eq!(code(&jpg[..cut]), "photo_corrupt", "jpeg cut at {cut}");
        }
        let mut flipped = png.clone();
        let n = flipped.len() - 20;
        flipped[n] ^= 1;
        assert_eq!(code(&flipped), "photo_corrupt");
    }

    #[test]
    fn hostile_inputs_never_panic() {
        let png = samples::png(100, 100, "x");
        let jpg = samples::jpeg(100, 100, "x");
        for base in [png, jpg] {
            for i in 0..base.len() {
                for v in [0u8, 0xFF, 0x7F] {
                    let mut d = base.clone();
                    d[i] = v;
                    let _ = check(&d);
                }
                let _ = check(&base[..i]);
            }
        }
    }
}
