//! The seed-file import of the helpdesk console (`POST /helpdesk/import`): the vendor's file
//! pasted in a text area (axum's multipart is not enabled), an optional pre-shared key or
//! password, a dry run by default. The answer is the console page with the report (serial,
//! type, digits, result) or every fault (where, serial, field, problem); the flow imports all
//! or nothing. The file is shown again after a dry run or a refusal, so it can be imported or
//! fixed; the key and password never are.

use super::extract::{HelpdeskForm, SEED_FORM_LIMIT, Secret};
use super::helpdesk::{View, console};
use super::{St, Tr, error_text, status_of};
use crate::error::ImportFault;
use crate::flows::helpdesk::{self, ImportedToken};
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use serde::Deserialize;
use sesame_hardware::seeds::Decryption;
use zeroize::Zeroizing;

pub(super) struct ReportRow {
    pub(super) serial: String,
    pub(super) kind: String,
    pub(super) digits: u8,
    pub(super) action: &'static str,
}

pub(super) struct FaultRow {
    pub(super) location: String,
    pub(super) serial: String,
    pub(super) field: String,
    pub(super) problem: &'static str,
    /// The importer's own sentence (English).
    pub(super) detail: String,
}

/// The import form and what the last import said.
pub(super) struct ImportView {
    /// The file, shown again after a dry run or a refusal (the browser just sent it).
    pub(super) file: Zeroizing<String>,
    pub(super) dry_run: bool,
    /// Ask for the key or password again (they are never sent back).
    pub(super) key_again: bool,
    /// Summary line and rows of a successful import or dry run.
    pub(super) report: Option<(String, Vec<ReportRow>)>,
    pub(super) faults: Vec<FaultRow>,
}

impl Default for ImportView {
    fn default() -> Self {
        ImportView {
            file: Zeroizing::new(String::new()),
            dry_run: true,
            key_again: false,
            report: None,
            faults: vec![],
        }
    }
}

/// "line 7" → "ligne 7" in French; other locations (`KeyPackage 3`) are element names.
fn location(t: &Tr, loc: &str) -> String {
    let n = |prefix: &str| {
        loc.strip_prefix(prefix)
            .filter(|n| n.parse::<u64>().is_ok())
    };
    if let Some(n) = n("line ") {
        t.keys.line_n.replace("{n}", n)
    } else if let Some(n) = n("token ") {
        t.keys.token_n.replace("{n}", n)
    } else {
        loc.to_owned()
    }
}

fn fault_rows(t: &Tr, faults: &[ImportFault]) -> Vec<FaultRow> {
    faults
        .iter()
        .map(|f| FaultRow {
            location: location(t, &f.location),
            serial: f.serial.clone().unwrap_or_default(),
            field: f.field.clone(),
            problem: t.keys.fault(f.code),
            detail: f.reason.clone(),
        })
        .collect()
}

fn report(t: &Tr, dry_run: bool, tokens: Vec<ImportedToken>) -> (String, Vec<ReportRow>) {
    let text = if dry_run {
        t.keys.report_dry
    } else {
        t.keys.report_done
    };
    let summary = text.replace("{n}", &tokens.len().to_string());
    let rows = tokens
        .into_iter()
        .map(|x| ReportRow {
            // The digits have their own column.
            kind: match x.period {
                Some(period) => format!("TOTP · {period} s"),
                None => "HOTP".to_owned(),
            },
            digits: x.digits,
            action: if x.action == "would_import" {
                t.keys.would_import
            } else {
                t.keys.imported
            },
            serial: x.serial,
        })
        .collect();
    (summary, rows)
}

#[derive(Deserialize)]
pub(super) struct ImportForm {
    file: Secret,
    #[serde(default)]
    key: Secret,
    #[serde(default)]
    password: Secret,
    dry_run: Option<String>,
}

/// `POST /helpdesk/import`: the seed file pasted in the form; a dry run by default.
pub(super) async fn import(
    State(st): St,
    parts: Parts,
    HelpdeskForm { s, form }: HelpdeskForm<ImportForm, SEED_FORM_LIMIT>,
) -> Response {
    let t = s.lang.tr();
    let dry_run = form.dry_run.is_some();
    let key_hex = form.key.as_str().trim();
    let given = !key_hex.is_empty() || !form.password.as_str().is_empty();
    let mut view = ImportView {
        file: Zeroizing::new(form.file.as_str().to_owned()),
        dry_run,
        key_again: given,
        ..ImportView::default()
    };
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let dec = match (key_hex.is_empty(), form.password.as_str().is_empty()) {
        (false, false) => {
            let error = Some(t.keys.psk_and_password.to_owned());
            return console(&st, &s, View::after_form(unprocessable, error, view)).await;
        }
        (false, true) => match data_encoding::HEXLOWER_PERMISSIVE.decode(key_hex.as_bytes()) {
            Ok(k) => Decryption::PreSharedKey(k),
            Err(_) => {
                let error = Some(t.keys.psk_not_hex.to_owned());
                return console(&st, &s, View::after_form(unprocessable, error, view)).await;
            }
        },
        (true, false) => Decryption::Password(form.password.as_str().to_owned()),
        (true, true) => Decryption::None,
    };
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let who = s.who.clone();
    let file = form.file;
    let r = st
        .app
        .blocking(move |app| {
            helpdesk::import(
                app,
                &who,
                file.as_str().as_bytes(),
                &dec,
                dry_run,
                &client,
                now,
            )
        })
        .await;
    let (status, error) = match r {
        Ok(tokens) => {
            view.report = Some(report(t, dry_run, tokens));
            // After a good dry run, the next submission imports.
            view.dry_run = false;
            if !dry_run {
                // Imported: the form starts afresh.
                view = ImportView {
                    report: view.report,
                    ..ImportView::default()
                };
            }
            (StatusCode::OK, None)
        }
        Err(e) => {
            if let crate::Error::ImportRejected(faults) = &e {
                view.faults = fault_rows(t, faults);
            }
            (status_of(&e), Some(error_text(s.lang, &e)))
        }
    };
    console(&st, &s, View::after_form(status, error, view)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::web::i18n::{EN, FR};

    #[test]
    fn locations_are_translated() {
        assert_eq!(location(&FR, "line 7"), "ligne 7");
        assert_eq!(location(&FR, "token 2"), "clé 2");
        assert_eq!(location(&EN, "line 7"), "line 7");
        assert_eq!(location(&FR, "KeyPackage 3"), "KeyPackage 3");
        assert_eq!(location(&FR, "line x"), "line x");
    }
}
