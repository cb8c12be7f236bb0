//! French and English texts of the security-key and passkey parts of the pages.

use super::Lang;
use crate::credentials::webauthn::Refusal;

/// Texts of the WebAuthn widgets.
#[derive(Debug)]
pub(crate) struct WebauthnTr {
    pub(crate) title: &'static str,
    pub(crate) intro: &'static str,
    pub(crate) none: &'static str,
    pub(crate) label: &'static str,
    pub(crate) created: &'static str,
    pub(crate) last_used: &'static str,
    pub(crate) synced: &'static str,
    pub(crate) actions: &'static str,
    pub(crate) cloned: &'static str,
    pub(crate) yes: &'static str,
    pub(crate) no: &'static str,
    pub(crate) never: &'static str,
    pub(crate) remove: &'static str,
    pub(crate) remove_hint: &'static str,
    pub(crate) key_label: &'static str,
    pub(crate) add: &'static str,
    pub(crate) passkey_sign_in: &'static str,
    pub(crate) use_key: &'static str,
    pub(crate) waiting: &'static str,
    pub(crate) cancelled: &'static str,
    pub(crate) unsupported: &'static str,
}

pub(crate) const EN: WebauthnTr = WebauthnTr {
    title: "Security keys and passkeys",
    intro: "A security key or a passkey signs you in without a code to type, and cannot be phished. Use it after your password, or on its own with “Sign in with a passkey”.",
    none: "No security key or passkey yet.",
    label: "Name",
    created: "Added",
    last_used: "Last used",
    synced: "Synchronised",
    actions: "Actions",
    cloned: "possibly copied",
    yes: "yes",
    no: "no",
    never: "never",
    remove: "Remove",
    remove_hint: "Removing a key needs a sign-in within the last 5 minutes.",
    key_label: "Name of the new key",
    add: "Add a security key or passkey",
    passkey_sign_in: "Sign in with a passkey",
    use_key: "Use a security key or passkey",
    waiting: "Follow your browser's instructions…",
    cancelled: "The request was cancelled or timed out. Try again.",
    unsupported: "This browser cannot use security keys or passkeys.",
};

pub(crate) const FR: WebauthnTr = WebauthnTr {
    title: "Clés de sécurité et passkeys",
    intro: "Une clé de sécurité ou une passkey vous connecte sans code à saisir, et ne peut pas être hameçonnée. Utilisez-la après votre mot de passe, ou seule avec « Se connecter avec une passkey ».",
    none: "Aucune clé de sécurité ni passkey pour l’instant.",
    label: "Nom",
    created: "Ajoutée le",
    last_used: "Dernière utilisation",
    synced: "Synchronisée",
    actions: "Actions",
    cloned: "peut-être copiée",
    yes: "oui",
    no: "non",
    never: "jamais",
    remove: "Retirer",
    remove_hint: "Retirer une clé demande une connexion de moins de 5 minutes.",
    key_label: "Nom de la nouvelle clé",
    add: "Ajouter une clé de sécurité ou une passkey",
    passkey_sign_in: "Se connecter avec une passkey",
    use_key: "Utiliser une clé de sécurité ou une passkey",
    waiting: "Suivez les instructions de votre navigateur…",
    cancelled: "La demande a été annulée ou a expiré. Réessayez.",
    unsupported: "Ce navigateur ne sait pas utiliser les clés de sécurité ni les passkeys.",
};

/// The texts of `lang`.
pub(crate) fn of(lang: Lang) -> &'static WebauthnTr {
    match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    }
}

/// A refusal in `lang`.
pub(crate) fn refusal(lang: Lang, r: Refusal) -> String {
    if lang == Lang::En {
        return r.to_string();
    }
    match r {
        Refusal::OriginMismatch => "La clé a été utilisée depuis une page qui n’est pas celle de ce service.",
        Refusal::RpIdMismatch => "La clé a répondu pour un autre service.",
        Refusal::ChallengeMismatch => "Cette réponse n’appartient pas à cette tentative de connexion ; elle a pu être rejouée.",
        Refusal::CeremonyExpired => "La demande à la clé de sécurité a expiré ; recommencez.",
        Refusal::CeremonyUsed => "La demande à la clé de sécurité a déjà servi ; recommencez.",
        Refusal::CredentialNotAllowed => "Cette clé de sécurité n’est pas enregistrée pour ce compte.",
        Refusal::UserNotVerified => "La clé n’a pas vérifié l’utilisateur (code PIN ou biométrie requis).",
        Refusal::CounterRegressed => "Le compteur de la clé est revenu en arrière ; elle a peut-être été copiée.",
        Refusal::PasswordlessDenied => "La connexion sans mot de passe n’est pas permise pour ce compte ; connectez-vous avec votre mot de passe.",
        Refusal::ModelNotAllowed => "Ce modèle d’authentificateur n’est pas autorisé pour ce compte.",
        Refusal::CredentialExists => "Cette clé de sécurité est déjà enregistrée.",
        Refusal::ReauthenticationRequired => "Reconnectez-vous (moins de 5 minutes) avant de retirer une clé de sécurité.",
        Refusal::InvalidCredential => "La réponse de la clé de sécurité n’est pas valide.",
    }
    .to_owned()
}
