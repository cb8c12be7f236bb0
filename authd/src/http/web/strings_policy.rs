//! The text of the pages of "who may do what": the profile and photo sections of the account
//! page, the step-up page, the MFA policy and groups page, second-factor resets (users page,
//! helpdesk console, approvals). One table per language, reached from the main table as
//! `t.policy`; French sentences of the errors these pages can show are in [`french_error`].
//! Keep the two tables in the same order; a missing field does not compile.

use crate::Error;

/// Every user-visible string of these pages.
#[derive(Debug)]
pub(crate) struct TrPolicy {
    // Account: profile.
    pub(crate) profile_title: &'static str,
    pub(crate) email: &'static str,
    pub(crate) language: &'static str,
    pub(crate) language_unset: &'static str,
    pub(crate) name_private: &'static str,
    pub(crate) name_private_hint: &'static str,
    pub(crate) name_public: &'static str,
    pub(crate) name_public_hint: &'static str,
    pub(crate) same_as_private: &'static str,
    pub(crate) your_groups: &'static str,
    pub(crate) no_groups: &'static str,
    pub(crate) mfa_required_note: &'static str,
    // Account: photo.
    pub(crate) photo_title: &'static str,
    pub(crate) photo_alt: &'static str,
    pub(crate) photo_none: &'static str,
    pub(crate) photo_file: &'static str,
    pub(crate) photo_hint: &'static str,
    pub(crate) photo_upload: &'static str,
    pub(crate) photo_remove: &'static str,
    // Step-up.
    pub(crate) reauth_title: &'static str,
    pub(crate) reauth_intro: &'static str,
    pub(crate) reauth_with_backup: &'static str,
    pub(crate) reauth_submit: &'static str,
    pub(crate) cancel: &'static str,
    // Users page.
    pub(crate) groups: &'static str,
    pub(crate) groups_hint: &'static str,
    pub(crate) set_groups: &'static str,
    pub(crate) reset_title: &'static str,
    pub(crate) reset_hint: &'static str,
    pub(crate) reset_button: &'static str,
    // Policy page.
    pub(crate) nav_policy: &'static str,
    pub(crate) open_policy: &'static str,
    pub(crate) policy_title: &'static str,
    pub(crate) policy_intro: &'static str,
    pub(crate) scope: &'static str,
    pub(crate) role: &'static str,
    pub(crate) group: &'static str,
    pub(crate) second_factor: &'static str,
    pub(crate) optional: &'static str,
    pub(crate) required: &'static str,
    pub(crate) groups_title: &'static str,
    pub(crate) group_name: &'static str,
    pub(crate) group_name_hint: &'static str,
    pub(crate) description: &'static str,
    pub(crate) members: &'static str,
    pub(crate) created: &'static str,
    pub(crate) no_groups_yet: &'static str,
    pub(crate) create_group: &'static str,
    pub(crate) delete_group: &'static str,
    pub(crate) resets_title: &'static str,
    pub(crate) resets_intro: &'static str,
    pub(crate) no_resets: &'static str,
    pub(crate) account: &'static str,
    pub(crate) requested_by: &'static str,
    pub(crate) filed: &'static str,
    pub(crate) expires: &'static str,
    pub(crate) state: &'static str,
    pub(crate) state_pending: &'static str,
    pub(crate) state_done: &'static str,
    pub(crate) state_expired: &'static str,
    pub(crate) approved_by: &'static str,
    pub(crate) approve: &'static str,
    pub(crate) offline: &'static str,
    // Helpdesk console.
    pub(crate) hd_reset_intro: &'static str,
    // Notices.
    pub(crate) n_profile_saved: &'static str,
    pub(crate) n_photo_saved: &'static str,
    pub(crate) n_photo_removed: &'static str,
    pub(crate) n_reauth_done: &'static str,
    pub(crate) n_groups_set: &'static str,
    pub(crate) n_reset_pending: &'static str,
    pub(crate) n_reset_done: &'static str,
    pub(crate) n_reset_approved: &'static str,
    pub(crate) n_policy_saved: &'static str,
    pub(crate) n_group_created: &'static str,
    pub(crate) n_group_deleted: &'static str,
}

/// English.
pub(crate) static EN_POLICY: TrPolicy = TrPolicy {
    profile_title: "Profile",
    email: "E-mail address",
    language: "Language",
    language_unset: "Not chosen",
    name_private: "Display name",
    name_private_hint: "The name your colleagues see.",
    name_public: "Public display name",
    name_public_hint: "The name customers see during a remote-support session.",
    same_as_private: "Same as my display name",
    your_groups: "Your groups",
    no_groups: "You are in no group.",
    mfa_required_note: "Your account must have a second factor: you cannot remove your last \
                        authenticator app.",
    photo_title: "Photo",
    photo_alt: "Your photo",
    photo_none: "No photo.",
    photo_file: "Image file",
    photo_hint: "PNG or JPEG, at least 80×80 pixels, at most 1 MB. Its metadata (location, \
                 camera, comments) is removed.",
    photo_upload: "Upload",
    photo_remove: "Remove the photo",
    reauth_title: "Confirm your identity",
    reauth_intro: "This action needs a recent confirmation of your password and second factor.",
    reauth_with_backup: "With a backup code",
    reauth_submit: "Confirm",
    cancel: "Cancel",
    groups: "Groups",
    groups_hint: "Group names separated by commas.",
    set_groups: "Set the groups",
    reset_title: "Reset second factors",
    reset_hint: "Removes the authenticator apps and backup codes, disables the hardware keys \
                 and ends the sessions; the account enrols again at its next sign-in. An \
                 admin's reset waits for a second admin's approval.",
    reset_button: "Reset second factors",
    nav_policy: "Policy",
    open_policy: "MFA policy, groups and resets",
    policy_title: "MFA policy and groups",
    policy_intro: "An account must have a second factor, and use it at every sign-in, when any \
                   of its roles or groups requires one.",
    scope: "Applies to",
    role: "Role",
    group: "Group",
    second_factor: "Second factor",
    optional: "Optional",
    required: "Required",
    groups_title: "Groups",
    group_name: "Name",
    group_name_hint: "1 to 64 lower-case letters, digits, - and _, starting with a letter.",
    description: "Description",
    members: "Members",
    created: "Created",
    no_groups_yet: "No group yet.",
    create_group: "Create the group",
    delete_group: "Delete",
    resets_title: "Second-factor resets",
    resets_intro: "An admin's reset is applied once a second admin, neither its requester nor \
                   its target, approves it in time.",
    no_resets: "No reset yet.",
    account: "Account",
    requested_by: "Requested by",
    filed: "Filed",
    expires: "Expires",
    state: "State",
    state_pending: "Waiting for approval",
    state_done: "Done",
    state_expired: "Expired",
    approved_by: "Approved by",
    approve: "Approve",
    offline: "offline tool",
    hd_reset_intro: "For an account that lost its phone or its backup codes. Helpdesk staff \
                     reset ordinary accounts only.",
    n_profile_saved: "Your profile has been saved.",
    n_photo_saved: "Your photo has been saved.",
    n_photo_removed: "Your photo has been removed.",
    n_reauth_done: "Your identity is confirmed.",
    n_groups_set: "The groups have been saved.",
    n_reset_pending: "The reset is filed: it waits for a second admin's approval.",
    n_reset_done: "The second factors have been reset: the account enrols again at its next \
                   sign-in.",
    n_reset_approved: "The reset has been approved and applied.",
    n_policy_saved: "The MFA policy has been saved.",
    n_group_created: "The group has been created.",
    n_group_deleted: "The group has been deleted.",
};

/// French.
pub(crate) static FR_POLICY: TrPolicy = TrPolicy {
    profile_title: "Profil",
    email: "Adresse e-mail",
    language: "Langue",
    language_unset: "Non choisie",
    name_private: "Nom affiché",
    name_private_hint: "Le nom que voient vos collègues.",
    name_public: "Nom affiché public",
    name_public_hint: "Le nom que voient les clients pendant une session d’assistance à distance.",
    same_as_private: "Identique à mon nom affiché",
    your_groups: "Vos groupes",
    no_groups: "Vous n’êtes dans aucun groupe.",
    mfa_required_note: "Votre compte doit avoir un second facteur : vous ne pouvez pas retirer \
                        votre dernière application d’authentification.",
    photo_title: "Photo",
    photo_alt: "Votre photo",
    photo_none: "Aucune photo.",
    photo_file: "Fichier image",
    photo_hint: "PNG ou JPEG, au moins 80×80 pixels, au plus 1 Mo. Ses métadonnées (lieu, \
                 appareil, commentaires) sont retirées.",
    photo_upload: "Envoyer",
    photo_remove: "Retirer la photo",
    reauth_title: "Confirmez votre identité",
    reauth_intro: "Cette action demande une confirmation récente de votre mot de passe et de \
                   votre second facteur.",
    reauth_with_backup: "Avec un code de secours",
    reauth_submit: "Confirmer",
    cancel: "Annuler",
    groups: "Groupes",
    groups_hint: "Noms de groupes séparés par des virgules.",
    set_groups: "Enregistrer les groupes",
    reset_title: "Réinitialiser les seconds facteurs",
    reset_hint: "Supprime les applications d’authentification et les codes de secours, \
                 désactive les clés matérielles et ferme les sessions ; le compte s’équipe à \
                 nouveau à sa prochaine connexion. La réinitialisation d’un administrateur \
                 attend l’approbation d’un second administrateur.",
    reset_button: "Réinitialiser les seconds facteurs",
    nav_policy: "Politique",
    open_policy: "Politique MFA, groupes et réinitialisations",
    policy_title: "Politique MFA et groupes",
    policy_intro: "Un compte doit avoir un second facteur, et l’utiliser à chaque connexion, \
                   dès qu’un de ses rôles ou de ses groupes l’exige.",
    scope: "S’applique à",
    role: "Rôle",
    group: "Groupe",
    second_factor: "Second facteur",
    optional: "Facultatif",
    required: "Obligatoire",
    groups_title: "Groupes",
    group_name: "Nom",
    group_name_hint: "De 1 à 64 lettres minuscules, chiffres, - et _, en commençant par une \
                      lettre.",
    description: "Description",
    members: "Membres",
    created: "Créé le",
    no_groups_yet: "Aucun groupe pour l’instant.",
    create_group: "Créer le groupe",
    delete_group: "Supprimer",
    resets_title: "Réinitialisations des seconds facteurs",
    resets_intro: "La réinitialisation d’un administrateur s’applique quand un second \
                   administrateur, ni le demandeur ni la personne visée, l’approuve à temps.",
    no_resets: "Aucune réinitialisation pour l’instant.",
    account: "Compte",
    requested_by: "Demandée par",
    filed: "Déposée le",
    expires: "Expire le",
    state: "État",
    state_pending: "En attente d’approbation",
    state_done: "Effectuée",
    state_expired: "Expirée",
    approved_by: "Approuvée par",
    approve: "Approuver",
    offline: "outil hors ligne",
    hd_reset_intro: "Pour un compte qui a perdu son téléphone ou ses codes de secours. Le \
                     support ne réinitialise que les comptes ordinaires.",
    n_profile_saved: "Votre profil a été enregistré.",
    n_photo_saved: "Votre photo a été enregistrée.",
    n_photo_removed: "Votre photo a été retirée.",
    n_reauth_done: "Votre identité est confirmée.",
    n_groups_set: "Les groupes ont été enregistrés.",
    n_reset_pending: "La réinitialisation est déposée : elle attend l’approbation d’un second \
                      administrateur.",
    n_reset_done: "Les seconds facteurs ont été réinitialisés : le compte s’équipera à \
                   nouveau à sa prochaine connexion.",
    n_reset_approved: "La réinitialisation a été approuvée et appliquée.",
    n_policy_saved: "La politique MFA a été enregistrée.",
    n_group_created: "Le groupe a été créé.",
    n_group_deleted: "Le groupe a été supprimé.",
};

impl TrPolicy {
    /// The notice named by a `?done=` key after a redirect.
    pub(crate) fn notice(&self, key: &str) -> Option<&'static str> {
        Some(match key {
            "profile_saved" => self.n_profile_saved,
            "photo_saved" => self.n_photo_saved,
            "photo_removed" => self.n_photo_removed,
            "reauth" => self.n_reauth_done,
            "groups_set" => self.n_groups_set,
            "reset_pending" => self.n_reset_pending,
            "reset_done" => self.n_reset_done,
            "reset_approved" => self.n_reset_approved,
            "policy_saved" => self.n_policy_saved,
            "group_created" => self.n_group_created,
            "group_deleted" => self.n_group_deleted,
            _ => return None,
        })
    }

    /// The label of a reset's state.
    pub(crate) fn reset_state(&self, s: crate::model::ResetState) -> &'static str {
        match s {
            crate::model::ResetState::Pending => self.state_pending,
            crate::model::ResetState::Done => self.state_done,
            crate::model::ResetState::Expired => self.state_expired,
        }
    }
}

/// The French sentence of an error of these pages; `None` for the others.
pub(crate) fn french_error(e: &Error) -> Option<String> {
    let fixed = match e {
        Error::MfaRequired => {
            "Votre compte doit garder un second facteur : équipez-en un autre avant de retirer \
             celui-ci."
        }
        Error::ReauthRequired => {
            "Confirmez à nouveau votre identité (mot de passe et second facteur) avant de faire \
             ceci."
        }
        Error::Unprocessable { code, message } => match *code {
            "photo_too_large" => "La photo dépasse 1 Mo.",
            "photo_unsupported_type" => "La photo doit être une image PNG ou JPEG.",
            "photo_too_small" => {
                return Some(format!(
                    "La photo doit faire au moins 80×80 pixels (celle-ci fait {}).",
                    dimensions(message)
                ));
            }
            "photo_too_big" => {
                return Some(format!(
                    "La photo doit faire au plus 8192×8192 pixels (celle-ci fait {}).",
                    dimensions(message)
                ));
            }
            "photo_corrupt" => "Le fichier de la photo est endommagé ou incomplet.",
            "unknown_group" => {
                let name = message.split('"').nth(1).unwrap_or_default();
                return Some(format!("Il n’existe aucun groupe nommé « {name} »."));
            }
            _ => return None,
        },
        Error::Conflict { code, .. } => match *code {
            "group_exists" => "Un groupe porte déjà ce nom.",
            "reset_already_pending" => {
                "Une réinitialisation des seconds facteurs de ce compte attend déjà une \
                 approbation."
            }
            "reset_expired" => {
                "La réinitialisation n’a pas été approuvée à temps : déposez-en une nouvelle."
            }
            "reset_not_pending" => "La réinitialisation a déjà été appliquée.",
            _ => return None,
        },
        Error::SelfAction(what) => match *what {
            "nobody resets their own second factors: ask another admin" => {
                "Personne ne réinitialise ses propres seconds facteurs : demandez à un autre \
                 administrateur."
            }
            "nobody approves a reset of their own second factors" => {
                "Personne n’approuve la réinitialisation de ses propres seconds facteurs."
            }
            "a second admin must approve: the admin who filed the reset cannot" => {
                "Un second administrateur doit approuver : celui qui a déposé la demande ne le \
                 peut pas."
            }
            _ => return None,
        },
        Error::NotFound(what) => match *what {
            "group" => "Groupe introuvable.",
            "reset" => "Demande de réinitialisation introuvable.",
            "photo" => "Aucune photo.",
            _ => return None,
        },
        Error::InvalidRequest(detail) => return invalid_request_fr(detail),
        _ => return None,
    };
    Some(fixed.to_owned())
}

/// `W×H` out of a photo message ending in "(this one is W×H)".
fn dimensions(message: &str) -> &str {
    message
        .rsplit_once("is ")
        .map(|(_, d)| d.trim_end_matches(')'))
        .unwrap_or("?")
}

fn invalid_request_fr(detail: &str) -> Option<String> {
    let fixed = if detail.ends_with("is not an e-mail address") {
        "Cette adresse e-mail n’est pas valide."
    } else if detail.starts_with("language must be") {
        "La langue doit être le français ou l’anglais."
    } else if detail.starts_with("display_name_private is") {
        "Le nom affiché comporte de 1 à 100 caractères imprimables."
    } else if detail.starts_with("display_name_public is") {
        "Le nom affiché public comporte de 1 à 100 caractères imprimables."
    } else if detail.starts_with("a group name is") {
        "Un nom de groupe comporte de 1 à 64 lettres minuscules, chiffres, - et _, en \
         commençant par une lettre."
    } else if detail.starts_with("the description is") {
        "La description comporte au plus 200 caractères imprimables."
    } else if detail.starts_with("this account has a second factor") {
        "Ce compte a un second facteur : indiquez un code."
    } else {
        return None;
    };
    Some(fixed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::web::i18n::{Lang, error_message};

    #[test]
    fn every_error_of_these_pages_has_a_french_sentence() {
        let photo = |p: crate::photo::PhotoError| Error::Unprocessable {
            code: p.code(),
            message: p.to_string(),
        };
        use crate::photo::PhotoError as P;
        let errors = [
            Error::MfaRequired,
            Error::ReauthRequired,
            photo(P::TooLarge),
            photo(P::UnsupportedType),
            photo(P::TooSmall(79, 80)),
            photo(P::TooBig(9000, 80)),
            photo(P::Corrupt("truncated")),
            Error::Unprocessable {
                code: "unknown_group",
                message: "there is no group named \"parents\"".into(),
            },
            Error::Conflict {
                code: "group_exists",
                message: "x".into(),
            },
            Error::Conflict {
                code: "reset_already_pending",
                message: "x".into(),
            },
            Error::Conflict {
                code: "reset_expired",
                message: "x".into(),
            },
            Error::Conflict {
                code: "reset_not_pending",
                message: "x".into(),
            },
            Error::SelfAction("nobody resets their own second factors: ask another admin"),
            Error::SelfAction("nobody approves a reset of their own second factors"),
            Error::SelfAction("a second admin must approve: the admin who filed the reset cannot"),
            Error::NotFound("group"),
            Error::NotFound("reset"),
            Error::InvalidRequest("\"x\" is not an e-mail address".into()),
            Error::InvalidRequest("language must be \"fr\" or \"en\", got \"de\"".into()),
            Error::InvalidRequest("display_name_private is 1 to 100 printable characters".into()),
            Error::InvalidRequest("a group name is 1 to 64 lower-case letters".into()),
            Error::InvalidRequest("the description is at most 200 printable characters".into()),
        ];
        for e in &errors {
            let fr = french_error(e).unwrap_or_else(|| panic!("{e:?}"));
            assert_eq!(error_message(Lang::Fr, e), fr);
            assert!(error_message(Lang::En, e).ends_with('.'));
        }
        assert_eq!(
            error_message(Lang::Fr, &photo(P::TooSmall(79, 80))),
            "La photo doit faire au moins 80×80 pixels (celle-ci fait 79×80)."
        );
        assert_eq!(
            error_message(Lang::En, &photo(P::TooSmall(79, 80))),
            "The photo must be at least 80×80 pixels (this one is 79×80)."
        );
        assert!(french_error(&Error::InvalidCode).is_none());
    }
}
