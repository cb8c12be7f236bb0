//! Languages of the web pages: French and English.
//!
//! The language is the one chosen with a `?lang=` link (remembered in the [`cookies::LANG`]
//! cookie), else the best of `Accept-Language` (q-values respected), else English. Every
//! user-visible string is in [`Tr`], one table per language ([`EN`], [`FR`] in `strings.rs`);
//! domain errors are translated by their stable code in [`error_message`].
//!
//! [`cookies::LANG`]: super::cookies::LANG

use super::cookies;
pub(crate) use super::strings::{EN, FR, Tr};
use crate::Error;
use crate::credentials::password::PolicyViolation;
use crate::credentials::pin::PinViolation;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use std::convert::Infallible;

/// A page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Lang {
    /// English (the default).
    #[default]
    En,
    /// French.
    Fr,
}

impl Lang {
    /// The BCP 47 tag, for `<html lang>` and the cookie.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    /// Parse a primary language subtag (`fr`, `fr-CA`, `EN`...).
    pub(crate) fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.split(['-', '_']).next().unwrap_or("").trim();
        if primary.eq_ignore_ascii_case("fr") {
            Some(Lang::Fr)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The strings of this language.
    pub(crate) fn tr(self) -> &'static Tr {
        match self {
            Lang::En => &EN,
            Lang::Fr => &FR,
        }
    }
}

/// The `lang` query parameter, when it names a language we have.
pub(crate) fn from_query(query: Option<&str>) -> Option<Lang> {
    super::query_param(query, "lang").and_then(Lang::parse)
}

/// The best language of an `Accept-Language` header: the highest q-value among the languages
/// we have (the first listed on a tie); `*` means the default; `q=0` means "not this one".
pub(crate) fn from_accept_language(value: &str) -> Option<Lang> {
    let mut best: Option<(u32, Lang)> = None;
    for item in value.split(',').take(32) {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim();
        let mut q = 1000u32;
        for p in parts {
            if let Some(v) = p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")) {
                q = parse_q(v).unwrap_or(0);
            }
        }
        let lang = if tag == "*" {
            Some(Lang::default())
        } else {
            Lang::parse(tag)
        };
        if let Some(lang) = lang
            && q > 0
            && best.is_none_or(|(bq, _)| q > bq)
        {
            best = Some((q, lang));
        }
    }
    best.map(|(_, l)| l)
}

/// A q-value (`0`, `0.8`, `1.000`) in thousandths.
fn parse_q(v: &str) -> Option<u32> {
    let v = v.trim();
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u32 = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let frac_val: u32 = format!("{frac:0<3}").parse().ok()?;
    Some((whole + frac_val).min(1000))
}

/// The language of a request: `?lang=`, then the cookie, then `Accept-Language`, then English.
pub(crate) fn negotiate(headers: &HeaderMap, query: Option<&str>) -> Lang {
    from_query(query)
        .or_else(|| cookies::get(headers, cookies::LANG).and_then(Lang::parse))
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(from_accept_language)
        })
        .unwrap_or_default()
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(negotiate(&parts.headers, parts.uri.query()))
    }
}

/// A domain error as a sentence for the page: the error's `Display` in English, a French
/// sentence chosen by the error's stable code in French.
pub(crate) fn error_message(lang: Lang, e: &Error) -> String {
    match lang {
        Lang::En => sentence(&e.to_string()),
        Lang::Fr => french(e),
    }
}

/// Capitalise and end with a full stop.
fn sentence(s: &str) -> String {
    let mut c = s.chars();
    let mut out: String = match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

fn french(e: &Error) -> String {
    if let Some(s) = super::strings_policy::french_error(e) {
        return s;
    }
    let fixed = match e.code() {
        "invalid_credentials" => "Le nom d’utilisateur ou le mot de passe est incorrect.",
        "invalid_code" => "Le code est incorrect ou a déjà été utilisé.",
        "challenge_expired" => {
            "La tentative de connexion a expiré : recommencez depuis le mot de passe."
        }
        "method_not_available" => "Cette méthode de connexion n’est pas disponible pour ce compte.",
        "unauthenticated" => "Vous devez vous connecter.",
        "forbidden" => "Vous n’êtes pas autorisé à faire ceci.",
        "password_change_required" => "Le mot de passe doit être changé avant de continuer.",
        "username_taken" => "Ce nom d’utilisateur est déjà pris.",
        "invalid_username" => {
            "Le nom d’utilisateur doit comporter de 1 à 150 caractères : lettres, chiffres \
             et @ . + - _."
        }
        "password_common" => {
            "Ce mot de passe est trop courant : il figure dans les listes de mots de passe \
             les plus utilisés."
        }
        "password_all_digits" => "Le mot de passe ne doit pas être composé que de chiffres.",
        "password_contains_username" => {
            "Le mot de passe ne doit pas contenir le nom d’utilisateur."
        }
        "password_contains_service_name" => {
            "Le mot de passe ne doit pas contenir le nom du service."
        }
        "password_reused" => "Le nouveau mot de passe doit être différent de l’actuel.",
        "overloaded" => "Le serveur est occupé : réessayez dans un instant.",
        "internal_error" => "Erreur interne du serveur.",
        _ => keys_french(e.code()),
    };
    if !fixed.is_empty() {
        return fixed.to_owned();
    }
    match e {
        Error::WeakPassword(PolicyViolation::TooShort { min }) => {
            format!("Le mot de passe doit comporter au moins {min} caractères.")
        }
        Error::WeakPassword(PolicyViolation::TooLong { max }) => {
            format!("Le mot de passe doit faire au plus {max} octets.")
        }
        Error::WeakPin(PinViolation::Length { min, max }) => {
            format!("Le code PIN doit comporter de {min} à {max} chiffres.")
        }
        Error::ImportRejected(faults) => match faults.len() {
            1 => "Le fichier n’a pas été importé : un défaut a été relevé.".to_owned(),
            n => format!("Le fichier n’a pas été importé : {n} défauts ont été relevés."),
        },
        Error::Unprocessable { code, message } => match *code {
            "rule_locks_you_out" => locks_you_out_fr(message),
            "seed_file_malformed" => format!("Le fichier est mal formé ({message})."),
            "seed_file_unsupported" => {
                format!("Le fichier utilise une fonction non prise en charge ({message}).")
            }
            _ => format!("Le fichier ne peut pas être importé ({message})."),
        },
        Error::NotFound(what) => match *what {
            "user" => "Utilisateur introuvable.".to_owned(),
            "session" => "Session introuvable.".to_owned(),
            "TOTP device" => "Appareil TOTP introuvable.".to_owned(),
            "key" => "Clé introuvable.".to_owned(),
            "temporary password" => {
                "Ce compte n’a pas de mot de passe temporaire en cours.".to_owned()
            }
            "page" => "Page introuvable.".to_owned(),
            "IP rule" => "Règle IP introuvable : elle a peut-être déjà été supprimée.".to_owned(),
            "suspension" => "Cette adresse n’est pas suspendue.".to_owned(),
            _ => "Élément introuvable.".to_owned(),
        },
        Error::SelfAction(what) => match *what {
            "you cannot disable your own account" => {
                "Vous ne pouvez pas désactiver votre propre compte."
            }
            "you cannot remove your own admin role" => {
                "Vous ne pouvez pas retirer votre propre rôle d’administrateur."
            }
            "you cannot delete your own account" => {
                "Vous ne pouvez pas supprimer votre propre compte."
            }
            "change your own password from your account page" => {
                "Changez votre propre mot de passe depuis la page de votre compte."
            }
            "ask a colleague: helpdesk actions on your own account are refused" => {
                "Demandez à un collègue : les actions du support sur votre propre compte sont \
                 refusées."
            }
            _ => {
                "Cette action sur votre propre compte doit être faite par un autre administrateur."
            }
        }
        .to_owned(),
        Error::InvalidRequest(detail) => invalid_request_fr(detail),
        _ => "Une erreur est survenue.".to_owned(),
    }
}

/// The French sentences of the hardware-key and helpdesk codes that need no detail; empty for
/// other codes.
fn keys_french(code: &str) -> &'static str {
    match code {
        "pin_not_digits" => "Le code PIN ne doit contenir que des chiffres.",
        "pin_repeated_digit" => "Le code PIN ne doit pas répéter un seul chiffre (comme 1111).",
        "pin_run" => "Le code PIN ne doit pas être une suite de chiffres comme 1234 ou 9876.",
        "pin_date" => "Le code PIN ne doit être ni une année ni une date.",
        "seed_file_faulty" => "Le fichier comporte des entrées en défaut : rien n’a été importé.",
        "seed_file_wrong_key" => {
            "Clé ou mot de passe incorrect : les contrôles d’intégrité (MAC) du fichier ne \
             sont pas vérifiés."
        }
        "seed_file_key_required" => {
            "Le fichier est chiffré : indiquez sa clé pré-partagée ou son mot de passe."
        }
        "seed_file_not_encrypted" => {
            "Une clé ou un mot de passe a été indiqué, mais le fichier ne contient aucun \
             secret chiffré."
        }
        "seed_file_key_length" => {
            "La clé pré-partagée n’a pas la longueur qu’exige le chiffrement du fichier."
        }
        "seed_file_unauthenticated" => {
            "Le fichier chiffre les secrets sans code d’authentification (MAC) : il est refusé."
        }
        "seed_file_empty" => "Le fichier ne contient aucune clé.",
        "seed_file_too_large" => "Le fichier est trop volumineux.",
        "key_not_in_stock" => {
            "Cette clé n’est pas en stock : elle est déjà attribuée, désactivée ou remplacée."
        }
        "key_not_assigned" => "Cette clé n’est attribuée à personne.",
        "key_not_active" => "Cette clé est déjà désactivée ou remplacée.",
        "key_not_assigned_to_user" => "La clé à remplacer n’est pas attribuée à cet utilisateur.",
        "serial_taken" => "Une clé avec ce numéro de série existe déjà.",
        "account_disabled" => "Ce compte est désactivé.",
        _ => "",
    }
}

/// `rule_locks_you_out`: the address is the word of the English message that parses as one.
fn locks_you_out_fr(message: &str) -> String {
    let ip = message
        .split_whitespace()
        .find_map(|w| {
            let ip = |w: &str| w.parse::<std::net::IpAddr>().ok();
            ip(w).or_else(|| w.strip_suffix(':').and_then(ip))
        })
        .map(|ip| format!(" ({ip})"))
        .unwrap_or_default();
    if message.starts_with("this would suspend") {
        format!("Vous ne pouvez pas suspendre votre propre adresse{ip}.")
    } else {
        format!(
            "Cette modification refuserait votre propre adresse{ip} : ajoutez d’abord une \
             règle qui l’autorise."
        )
    }
}

/// `invalid_request` carries an English detail; the ones the pages can cause are translated,
/// others keep the detail after a French sentence.
fn invalid_request_fr(detail: &str) -> String {
    if detail.starts_with("the label must be") {
        format!(
            "Le nom de l’appareil doit comporter de 1 à {} caractères imprimables.",
            crate::flows::account::MAX_LABEL_CHARS
        )
    } else if detail.starts_with("an account may hold at most") {
        format!(
            "Un compte peut avoir au plus {} appareils TOTP.",
            crate::flows::account::MAX_TOTP_DEVICES
        )
    } else if detail == "this TOTP device is already confirmed" {
        "Cet appareil TOTP est déjà confirmé.".to_owned()
    } else if detail.starts_with("unknown reason") {
        "Motif inconnu : choisissez perdue, volée, en panne ou autre.".to_owned()
    } else if detail.starts_with("unknown state") {
        "État inconnu : choisissez en stock, attribuée, désactivée ou remplacée.".to_owned()
    } else if detail.starts_with("the note must be at most") {
        "La note doit faire au plus 500 caractères.".to_owned()
    } else if let Some(max) = detail.strip_prefix("valid_for must be between 1m and ") {
        format!("La validité doit être comprise entre 1 minute et {max}.")
    } else if detail.starts_with("valid_for:") {
        "La validité n’est pas une durée comprise (exemples : 8h, 90m).".to_owned()
    } else {
        guard_request_fr(detail)
            .unwrap_or_else(|| format!("La demande n’est pas valide ({detail})."))
    }
}

/// The `invalid_request` details of the guard's page (IP rules, suspensions).
fn guard_request_fr(detail: &str) -> Option<String> {
    let bad_range = detail
        .strip_prefix('"')
        .and_then(|d| d.split_once("\" is not an IP address or CIDR range"));
    if let Some((what, _)) = bad_range {
        return Some(format!(
            "« {what} » n’est ni une adresse IP ni une plage CIDR (par exemple 192.0.2.0/24 ou \
             2001:db8::/32)."
        ));
    }
    let fixed = if detail.starts_with("unknown role") {
        "Rôle inconnu : choisissez utilisateur, support ou administrateur."
    } else if detail.starts_with("scope \"") {
        "Une règle s’applique à tout le monde, à un rôle ou à un compte."
    } else if detail.starts_with("action \"") {
        "Une règle autorise ou refuse : choisissez l’un des deux."
    } else if detail == "the username must not be empty" {
        "Indiquez le nom d’utilisateur."
    } else if detail.starts_with("the username must be at most")
        || detail.starts_with("the username may contain only")
    {
        "Le nom d’utilisateur doit comporter de 1 à 150 caractères : lettres, chiffres et \
         @ . + - _."
    } else if detail.starts_with("the reason must be") {
        "Le motif doit comporter de 1 à 200 caractères."
    } else if detail.starts_with("duration:") {
        "La durée n’est pas comprise (exemples : 2h, 30m, 7d)."
    } else if detail.ends_with("is not a valid rule id") {
        "Ce numéro de règle n’est pas valide."
    } else {
        return None;
    };
    Some(fixed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn accept_language_respects_q_values() {
        assert_eq!(from_accept_language("fr-FR,fr;q=0.9"), Some(Lang::Fr));
        assert_eq!(
            from_accept_language("en-US,en;q=0.9,fr;q=0.8"),
            Some(Lang::En)
        );
        assert_eq!(
            from_accept_language("de;q=1, fr;q=0.5, en;q=0.4"),
            Some(Lang::Fr)
        );
        assert_eq!(
            from_accept_language("en;q=0.3, fr-CA;q=0.7"),
            Some(Lang::Fr)
        );
        assert_eq!(from_accept_language("fr;q=0, en;q=0.1"), Some(Lang::En));
        assert_eq!(from_accept_language("de, it"), None);
        assert_eq!(from_accept_language("de, *;q=0.5"), Some(Lang::En));
        assert_eq!(from_accept_language("fr;q=abc, en;q=0.2"), Some(Lang::En));
        assert_eq!(from_accept_language(""), None);
    }

    #[test]
    fn query_then_cookie_then_header_then_english() {
        let mut h = HeaderMap::new();
        assert_eq!(negotiate(&h, None), Lang::En);
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("fr"));
        assert_eq!(negotiate(&h, None), Lang::Fr);
        h.insert(header::COOKIE, HeaderValue::from_static("sesame_lang=en"));
        assert_eq!(negotiate(&h, None), Lang::En);
        assert_eq!(negotiate(&h, Some("x=1&lang=fr")), Lang::Fr);
        assert_eq!(negotiate(&h, Some("lang=xx")), Lang::En);
    }

    #[test]
    fn every_domain_error_has_a_french_sentence() {
        let errors = [
            Error::InvalidCredentials,
            Error::InvalidCode,
            Error::ChallengeExpired,
            Error::MethodNotAvailable,
            Error::Unauthenticated,
            Error::Forbidden,
            Error::PasswordChangeRequired,
            Error::NotFound("user"),
            Error::UsernameTaken,
            Error::InvalidUsername("x".into()),
            Error::WeakPassword(PolicyViolation::TooShort { min: 15 }),
            Error::WeakPassword(PolicyViolation::TooLong { max: 1024 }),
            Error::WeakPassword(PolicyViolation::Common),
            Error::WeakPassword(PolicyViolation::AllDigits),
            Error::WeakPassword(PolicyViolation::ContainsUsername),
            Error::WeakPassword(PolicyViolation::ContainsServiceName),
            Error::WeakPassword(PolicyViolation::Reused),
            Error::InvalidRequest("the label must be 1 to 64 printable characters".into()),
            Error::InvalidRequest("valid_for must be between 1m and 7d".into()),
            Error::InvalidRequest("valid_for: no unit".into()),
            Error::InvalidRequest("unknown reason \"x\" (expected lost, ...)".into()),
            Error::InvalidRequest("the note must be at most 500 characters".into()),
            Error::SelfAction("you cannot delete your own account"),
            Error::SelfAction("ask a colleague: helpdesk actions on your own account are refused"),
            Error::NotFound("key"),
            Error::NotFound("temporary password"),
            Error::WeakPin(PinViolation::NotDigits),
            Error::WeakPin(PinViolation::Length { min: 4, max: 8 }),
            Error::WeakPin(PinViolation::Repeated),
            Error::WeakPin(PinViolation::Run),
            Error::WeakPin(PinViolation::Date),
            Error::ImportRejected(vec![]),
            Error::Conflict {
                code: "key_not_in_stock",
                message: "key K is assigned, not in stock".into(),
            },
            Error::Conflict {
                code: "key_not_assigned",
                message: "key K is not assigned".into(),
            },
            Error::Conflict {
                code: "key_not_active",
                message: "key K is already disabled".into(),
            },
            Error::Conflict {
                code: "key_not_assigned_to_user",
                message: "key K is not assigned to alice".into(),
            },
            Error::Conflict {
                code: "serial_taken",
                message: "a key with serial K exists already".into(),
            },
            Error::Conflict {
                code: "account_disabled",
                message: "the account is disabled".into(),
            },
            Error::Unprocessable {
                code: "rule_locks_you_out",
                message: "this change would refuse your own address 2001:db8::: add an allow \
                          rule for it first"
                    .into(),
            },
            Error::Unprocessable {
                code: "rule_locks_you_out",
                message: "this would suspend your own address 192.0.2.7".into(),
            },
            Error::NotFound("IP rule"),
            Error::NotFound("suspension"),
            Error::InvalidRequest(
                "\"10.0.0.0/33\" is not an IP address or CIDR range such as 192.0.2.0/24 or \
                 2001:db8::/32"
                    .into(),
            ),
            Error::InvalidRequest("unknown role \"x\" in scope (expected ...)".into()),
            Error::InvalidRequest("scope \"x\" must be global, role:NAME or user:NAME".into()),
            Error::InvalidRequest("action \"x\" must be allow or deny".into()),
            Error::InvalidRequest("the username must not be empty".into()),
            Error::InvalidRequest("the username may contain only letters (found ' ')".into()),
            Error::InvalidRequest("the reason must be 1 to 200 characters".into()),
            Error::InvalidRequest("duration: unknown unit \"x\"".into()),
            Error::InvalidRequest("\"x\" is not a valid rule id".into()),
            Error::Overloaded,
            Error::Internal("disk".into()),
        ];
        let seed_errors = [
            sesame_hardware::seeds::ImportError::Faults(vec![]),
            sesame_hardware::seeds::ImportError::Decrypt,
            sesame_hardware::seeds::ImportError::Format {
                format: sesame_hardware::seeds::FileFormat::Csv,
                reason: "bad".into(),
            },
            sesame_hardware::seeds::ImportError::Unsupported { what: "RSA".into() },
            sesame_hardware::seeds::ImportError::KeyRequired {
                needed: sesame_hardware::seeds::KeyKind::Password,
            },
            sesame_hardware::seeds::ImportError::NotEncrypted,
            sesame_hardware::seeds::ImportError::KeyLength {
                len: 3,
                expected: 16,
            },
            sesame_hardware::seeds::ImportError::Unauthenticated,
            sesame_hardware::seeds::ImportError::NoTokens,
            sesame_hardware::seeds::ImportError::TooLarge { len: 9, max: 8 },
        ];
        let mut errors: Vec<Error> = errors.into_iter().collect();
        for e in seed_errors {
            errors.push(Error::Unprocessable {
                code: e.code(),
                message: e.to_string(),
            });
        }
        for e in &errors {
            let fr = error_message(Lang::Fr, e);
            assert!(
                !fr.is_empty()
                    && fr != "Une erreur est survenue."
                    && !fr.starts_with("La demande n’est pas valide"),
                "{}: {fr}",
                e.code()
            );
            assert!(!fr.contains("disk"));
            let en = error_message(Lang::En, e);
            assert!(en.ends_with('.'), "{en}");
        }
        assert_eq!(
            error_message(
                Lang::Fr,
                &Error::WeakPassword(PolicyViolation::TooShort { min: 15 })
            ),
            "Le mot de passe doit comporter au moins 15 caractères."
        );
        assert_eq!(
            error_message(Lang::En, &Error::InvalidCredentials),
            "The username or password is incorrect."
        );
        assert_eq!(
            error_message(Lang::Fr, &Error::WeakPin(PinViolation::Run)),
            "Le code PIN ne doit pas être une suite de chiffres comme 1234 ou 9876."
        );
        assert_eq!(
            error_message(
                Lang::Fr,
                &Error::InvalidRequest("valid_for must be between 1m and 7d".into())
            ),
            "La validité doit être comprise entre 1 minute et 7d."
        );
        let locked_out = |message: &str| Error::Unprocessable {
            code: "rule_locks_you_out",
            message: message.into(),
        };
        assert_eq!(
            error_message(
                Lang::Fr,
                &locked_out("this change would refuse your own address 2001:db8::: add it")
            ),
            "Cette modification refuserait votre propre adresse (2001:db8::) : ajoutez d’abord \
             une règle qui l’autorise."
        );
        assert_eq!(
            error_message(
                Lang::Fr,
                &locked_out("this would suspend your own address 192.0.2.7")
            ),
            "Vous ne pouvez pas suspendre votre propre adresse (192.0.2.7)."
        );
    }
}
