//! PIN rules for hardware OTP keys (the passcode is PIN ‖ code on the key).
//!
//! A PIN is `min..=max` ASCII digits (4–8 by default) and is refused when it is easy to guess:
//! one digit repeated (`0000`), a run up or down (`1234`, `9876`), or a date (`YYYY` from 1900
//! to 2099, `DDMMYY`, `DDMMYYYY`). PINs are stored as argon2id hashes like passwords.

/// Why a PIN was refused. `Display` is the sentence shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinViolation {
    /// Not only digits.
    #[error("the PIN must contain digits only")]
    NotDigits,
    /// Too short or too long.
    #[error("the PIN must be {min} to {max} digits long")]
    Length {
        /// Shortest accepted.
        min: usize,
        /// Longest accepted.
        max: usize,
    },
    /// One digit repeated.
    #[error("the PIN must not repeat a single digit")]
    Repeated,
    /// Digits in a row, up or down.
    #[error("the PIN must not be a run of consecutive digits such as 1234 or 9876")]
    Run,
    /// Looks like a year or a date.
    #[error("the PIN must not be a year or a date")]
    Date,
}

impl PinViolation {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            PinViolation::NotDigits => "pin_not_digits",
            PinViolation::Length { .. } => "pin_length",
            PinViolation::Repeated => "pin_repeated_digit",
            PinViolation::Run => "pin_run",
            PinViolation::Date => "pin_date",
        }
    }
}

/// Check a new PIN against the rules.
pub fn check(pin: &str, min: usize, max: usize) -> Result<(), PinViolation> {
    if pin.is_empty() || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PinViolation::NotDigits);
    }
    if pin.len() < min || pin.len() > max {
        return Err(PinViolation::Length { min, max });
    }
    let d: Vec<i32> = pin.bytes().map(|b| i32::from(b - b'0')).collect();
    if d.iter().all(|x| *x == d[0]) {
        return Err(PinViolation::Repeated);
    }
    let steps: Vec<i32> = d.windows(2).map(|w| w[1] - w[0]).collect();
    if steps.iter().all(|s| *s == 1) || steps.iter().all(|s| *s == -1) {
        return Err(PinViolation::Run);
    }
    if looks_like_date(pin) {
        return Err(PinViolation::Date);
    }
    Ok(())
}

fn num(s: &str) -> u32 {
    s.parse().unwrap_or(u32::MAX)
}

fn day_month(s: &str) -> bool {
    let (dd, mm) = (num(&s[0..2]), num(&s[2..4]));
    (1..=31).contains(&dd) && (1..=12).contains(&mm)
}

fn looks_like_date(pin: &str) -> bool {
    match pin.len() {
        4 => (1900..=2099).contains(&num(pin)),
        6 => day_month(pin),
        8 => day_month(pin) && (1900..=2099).contains(&num(&pin[4..8])),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let bad = [
            ("12a4", PinViolation::NotDigits),
            ("", PinViolation::NotDigits),
            ("１２３５", PinViolation::NotDigits),
            ("135", PinViolation::Length { min: 4, max: 8 }),
            ("135792468", PinViolation::Length { min: 4, max: 8 }),
            ("0000", PinViolation::Repeated),
            ("77777777", PinViolation::Repeated),
            ("1234", PinViolation::Run),
            ("9876", PinViolation::Run),
            ("3210", PinViolation::Run),
            ("345678", PinViolation::Run),
            ("1987", PinViolation::Date),
            ("2024", PinViolation::Date),
            ("311299", PinViolation::Date),
            ("01012000", PinViolation::Date),
            ("24121975", PinViolation::Date),
        ];
        for (pin, want) in bad {
            assert_eq!(check(pin, 4, 8), Err(want), "{pin}");
        }
        for good in [
            "1357", "2468", "8642", "4711", "9021", "321456", "13579", "32131999",
        ] {
            assert_eq!(check(good, 4, 8), Ok(()), "{good}");
        }
        assert_eq!(PinViolation::Run.code(), "pin_run");
    }
}
