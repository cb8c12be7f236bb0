//! The text of the guard's administration page (suspended addresses, IP rules, account
//! unlock), one table per language, reached from the main table as `t.guard`. A string with
//! `{name}` is filled in by the page code. Keep the two tables in the same order; a missing
//! field does not compile.

/// Every user-visible string of the guard's page.
#[derive(Debug)]
pub(crate) struct TrGuard {
    // Frame.
    pub(crate) nav_guard: &'static str,
    pub(crate) open_guard: &'static str,
    pub(crate) title: &'static str,
    pub(crate) your_address: &'static str,
    // Suspended addresses.
    pub(crate) susp_title: &'static str,
    pub(crate) susp_intro: &'static str,
    pub(crate) address: &'static str,
    pub(crate) address_contains: &'static str,
    pub(crate) reason: &'static str,
    pub(crate) count: &'static str,
    pub(crate) first_seen: &'static str,
    pub(crate) last_seen: &'static str,
    pub(crate) expires: &'static str,
    pub(crate) until_lifted: &'static str,
    pub(crate) by: &'static str,
    pub(crate) automatic: &'static str,
    pub(crate) reason_failed_logins: &'static str,
    pub(crate) reason_flood: &'static str,
    pub(crate) reason_forbidden: &'static str,
    pub(crate) no_suspensions: &'static str,
    pub(crate) no_match: &'static str,
    pub(crate) too_many: &'static str,
    pub(crate) lift: &'static str,
    pub(crate) lift_all_title: &'static str,
    pub(crate) lift_all_confirm: &'static str,
    pub(crate) lift_all: &'static str,
    pub(crate) lift_all_unconfirmed: &'static str,
    pub(crate) suspend_title: &'static str,
    pub(crate) address_or_range: &'static str,
    pub(crate) address_hint: &'static str,
    pub(crate) suspend_reason: &'static str,
    pub(crate) duration: &'static str,
    pub(crate) duration_hint: &'static str,
    pub(crate) suspend: &'static str,
    // IP rules.
    pub(crate) rules_title: &'static str,
    pub(crate) rules_how: &'static str,
    pub(crate) rules_how_deny: &'static str,
    pub(crate) rules_how_allow: &'static str,
    pub(crate) rules_how_sign_in: &'static str,
    pub(crate) rules_how_self: &'static str,
    pub(crate) rule_id: &'static str,
    pub(crate) scope: &'static str,
    pub(crate) action: &'static str,
    pub(crate) range: &'static str,
    pub(crate) created: &'static str,
    pub(crate) scope_global: &'static str,
    pub(crate) scope_role: &'static str,
    pub(crate) scope_user: &'static str,
    pub(crate) scope_one_account: &'static str,
    pub(crate) allow: &'static str,
    pub(crate) deny: &'static str,
    pub(crate) no_rules: &'static str,
    pub(crate) add_rule: &'static str,
    pub(crate) rule_account: &'static str,
    pub(crate) rule_account_hint: &'static str,
    pub(crate) add: &'static str,
    // Account unlock.
    pub(crate) unlock_title: &'static str,
    pub(crate) unlock_intro: &'static str,
    pub(crate) unlock: &'static str,
    // Notices after a redirect.
    pub(crate) n_rule_added: &'static str,
    pub(crate) n_rule_deleted: &'static str,
    pub(crate) n_address_suspended: &'static str,
    pub(crate) n_suspension_lifted: &'static str,
    pub(crate) n_suspensions_lifted: &'static str,
    pub(crate) n_account_unlocked: &'static str,
}

/// English.
pub(crate) static EN_GUARD: TrGuard = TrGuard {
    nav_guard: "Access guard",
    open_guard: "Manage IP rules and suspended addresses",
    title: "Access guard",
    your_address: "You are connected from {ip}.",
    susp_title: "Suspended addresses",
    susp_intro: "A suspended address gets the same “too many requests” answer, whatever it asks, \
                 until the suspension ends or is lifted.",
    address: "Address",
    address_contains: "Address contains",
    reason: "Reason",
    count: "Events",
    first_seen: "First seen",
    last_seen: "Last seen",
    expires: "Ends",
    until_lifted: "until lifted",
    by: "By",
    automatic: "automatic",
    reason_failed_logins: "Too many failed sign-ins",
    reason_flood: "Too many requests",
    reason_forbidden: "Repeated forbidden requests",
    no_suspensions: "No address is suspended.",
    no_match: "No suspension matches.",
    too_many: "Only the first {n} suspensions are shown: narrow the filters.",
    lift: "Lift",
    lift_all_title: "Lift every suspension",
    lift_all_confirm: "I confirm: lift every suspension, not only those shown",
    lift_all: "Lift all",
    lift_all_unconfirmed: "Tick the confirmation box to lift every suspension.",
    suspend_title: "Suspend an address or a range",
    address_or_range: "Address or CIDR range",
    address_hint: "For example 203.0.113.7, 203.0.113.0/24 or 2001:db8::/48.",
    suspend_reason: "Reason (shown in the list and the audit trail)",
    duration: "Duration (optional)",
    duration_hint: "For example 2h, 30m or 7d. Empty: until lifted.",
    suspend: "Suspend",
    rules_title: "IP rules",
    rules_how: "How the rules combine:",
    rules_how_deny: "any deny rule that applies — global, for one of the account’s roles, or for \
                     the account — and contains the address refuses it, whatever the allow rules \
                     say;",
    rules_how_allow: "each level that has allow rules — global, each role the account holds, \
                      the account itself — must contain the address in one of them;",
    rules_how_sign_in: "before the account is known, only the global rules apply. At sign-in, a \
                        refused address gets the same answer as a wrong password.",
    rules_how_self: "A rule, or the deletion of a rule, that would refuse your own address \
                     cannot be saved: add an allow rule for it first.",
    rule_id: "No.",
    scope: "Applies to",
    action: "Action",
    range: "Range",
    created: "Created",
    scope_global: "Everyone (global)",
    scope_role: "Role: {role}",
    scope_user: "Account: {user}",
    scope_one_account: "One account (named below)",
    allow: "Allow",
    deny: "Deny",
    no_rules: "No rule: every address is allowed.",
    add_rule: "Add a rule",
    rule_account: "Account",
    rule_account_hint: "Only for a rule on one account.",
    add: "Add",
    unlock_title: "Unlock an account",
    unlock_intro: "After too many wrong passwords an account is slowed down, then locked. \
                   Unlocking resets its count of failures; the password does not change.",
    unlock: "Unlock",
    n_rule_added: "The rule has been added.",
    n_rule_deleted: "The rule has been deleted.",
    n_address_suspended: "The address has been suspended.",
    n_suspension_lifted: "The suspension has been lifted.",
    n_suspensions_lifted: "Every suspension has been lifted.",
    n_account_unlocked: "The account has been unlocked.",
};

/// French.
pub(crate) static FR_GUARD: TrGuard = TrGuard {
    nav_guard: "Contrôle d’accès",
    open_guard: "Gérer les règles IP et les adresses suspendues",
    title: "Contrôle d’accès",
    your_address: "Vous êtes connecté depuis {ip}.",
    susp_title: "Adresses suspendues",
    susp_intro: "Une adresse suspendue reçoit la même réponse « trop de requêtes », quoi qu’elle \
                 demande, jusqu’à la fin de la suspension ou sa levée.",
    address: "Adresse",
    address_contains: "L’adresse contient",
    reason: "Motif",
    count: "Événements",
    first_seen: "Première fois",
    last_seen: "Dernière fois",
    expires: "Fin",
    until_lifted: "jusqu’à levée",
    by: "Par",
    automatic: "automatique",
    reason_failed_logins: "Trop d’échecs de connexion",
    reason_flood: "Trop de requêtes",
    reason_forbidden: "Requêtes interdites répétées",
    no_suspensions: "Aucune adresse n’est suspendue.",
    no_match: "Aucune suspension ne correspond.",
    too_many: "Seules les {n} premières suspensions sont affichées : affinez les filtres.",
    lift: "Lever",
    lift_all_title: "Lever toutes les suspensions",
    lift_all_confirm: "Je confirme : lever toutes les suspensions, pas seulement celles affichées",
    lift_all: "Tout lever",
    lift_all_unconfirmed: "Cochez la case de confirmation pour lever toutes les suspensions.",
    suspend_title: "Suspendre une adresse ou une plage",
    address_or_range: "Adresse ou plage CIDR",
    address_hint: "Par exemple 203.0.113.7, 203.0.113.0/24 ou 2001:db8::/48.",
    suspend_reason: "Motif (affiché dans la liste et le journal d’audit)",
    duration: "Durée (facultative)",
    duration_hint: "Par exemple 2h, 30m ou 7d. Vide : jusqu’à levée.",
    suspend: "Suspendre",
    rules_title: "Règles IP",
    rules_how: "Comment les règles se combinent :",
    rules_how_deny: "toute règle de refus qui s’applique — globale, pour l’un des rôles du compte \
                     ou pour le compte — et contient l’adresse la refuse, quoi que disent les \
                     règles d’autorisation ;",
    rules_how_allow: "chaque niveau qui a des règles d’autorisation — global, chacun des rôles \
                      du compte, le compte lui-même — doit contenir l’adresse dans l’une d’elles ;",
    rules_how_sign_in: "tant que le compte n’est pas connu, seules les règles globales \
                        s’appliquent. À la connexion, une adresse refusée reçoit la même réponse \
                        qu’un mauvais mot de passe.",
    rules_how_self: "Une règle, ou la suppression d’une règle, qui refuserait votre propre \
                     adresse ne peut pas être enregistrée : ajoutez d’abord une règle qui \
                     l’autorise.",
    rule_id: "N°",
    scope: "S’applique à",
    action: "Action",
    range: "Plage",
    created: "Créée",
    scope_global: "Tout le monde (global)",
    scope_role: "Rôle : {role}",
    scope_user: "Compte : {user}",
    scope_one_account: "Un compte (nommé ci-dessous)",
    allow: "Autoriser",
    deny: "Refuser",
    no_rules: "Aucune règle : toutes les adresses sont autorisées.",
    add_rule: "Ajouter une règle",
    rule_account: "Compte",
    rule_account_hint: "Seulement pour une règle sur un compte.",
    add: "Ajouter",
    unlock_title: "Débloquer un compte",
    unlock_intro: "Après trop de mauvais mots de passe, un compte est ralenti, puis bloqué. Le \
                   débloquer remet à zéro son compte d’échecs ; le mot de passe ne change pas.",
    unlock: "Débloquer",
    n_rule_added: "La règle a été ajoutée.",
    n_rule_deleted: "La règle a été supprimée.",
    n_address_suspended: "L’adresse a été suspendue.",
    n_suspension_lifted: "La suspension a été levée.",
    n_suspensions_lifted: "Toutes les suspensions ont été levées.",
    n_account_unlocked: "Le compte a été débloqué.",
};

impl TrGuard {
    /// The notice named by a `?done=` key after a redirect.
    pub(crate) fn notice(&self, key: &str) -> Option<&'static str> {
        Some(match key {
            "rule_added" => self.n_rule_added,
            "rule_deleted" => self.n_rule_deleted,
            "address_suspended" => self.n_address_suspended,
            "suspension_lifted" => self.n_suspension_lifted,
            "suspensions_lifted" => self.n_suspensions_lifted,
            "account_unlocked" => self.n_account_unlocked,
            _ => return None,
        })
    }

    /// The label of an automatic suspension reason; `None` for a reason typed by an admin.
    pub(crate) fn reason(&self, code: &str) -> Option<&'static str> {
        match code {
            "failed_logins" => Some(self.reason_failed_logins),
            "flood" => Some(self.reason_flood),
            "forbidden_requests" => Some(self.reason_forbidden),
            _ => None,
        }
    }
}
