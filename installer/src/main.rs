//! `installer`: the command-line front of the `installer` crate (see its docs and the README's
//! "Installing the console" section). Parses, plans, applies, and maps every failure to one
//! sentence on stderr (and in the `/l*v` log) and an msiexec exit code.

use installer::apply::{self, Outcome, Receipt};
use installer::cmdline::{self, Action, Command, Ui};
use installer::exit::{ExitCode, InstallError, classify_package_error};
use installer::package::Package;
use installer::plan::{Environment, InstallPlan, Layout};
use installer::update::{self, UpdateOptions, UpdateOutcome};
use std::io::Write;

/// Where progress and errors go: stdout (unless quiet) and the log file.
struct Reporter {
    ui: Ui,
    log: Option<std::fs::File>,
    hold_lock: bool,
}

impl Reporter {
    fn line(&mut self, msg: &str) {
        if let Some(f) = &mut self.log {
            let _ = writeln!(f, "{msg}");
        }
        if self.ui != Ui::Quiet {
            println!("{msg}");
        }
        if self.hold_lock && msg.starts_with("lock acquired") {
            // Test hook (SESAME_INSTALLER_TEST_HOLD_LOCK=1): announce, then hold the lock
            // until stdin closes, so a test can start a concurrent install deterministically.
            eprintln!("{msg}");
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        }
    }

    fn error(&mut self, msg: &str) {
        if let Some(f) = &mut self.log {
            let _ = writeln!(f, "error: {msg}");
            let _ = f.sync_all();
        }
        eprintln!("{msg}");
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "the log header records the wall-clock start of the run"
)]
fn now_text() -> String {
    jiff::Timestamp::try_from(std::time::SystemTime::now())
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let cmd = match cmdline::parse(&args) {
        Ok(c) => c,
        Err(e) => {
            let code = ExitCode::InvalidCommandLine.code();
            eprintln!("{e}");
            if let Some(path) = cmdline::log_path_hint(&args)
                && let Ok(mut f) = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
            {
                let _ = writeln!(
                    f,
                    "=== sesame installer {} started {} ===",
                    env!("CARGO_PKG_VERSION"),
                    now_text()
                );
                let _ = writeln!(f, "error: {e}\n=== finished: exit code {code} ===");
            }
            return exit(code);
        }
    };
    let log = match &cmd.log {
        Some(path) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("cannot open the log file {}: {e}", path.display());
                return exit(ExitCode::LogFile.code());
            }
        },
        None => None,
    };
    let hold_lock = std::env::var_os("SESAME_INSTALLER_TEST_HOLD_LOCK").is_some_and(|v| v == "1");
    let mut r = Reporter {
        ui: cmd.ui,
        log,
        hold_lock,
    };
    if let Some(f) = &mut r.log {
        let _ = writeln!(
            f,
            "=== sesame installer {}: {:?} started {} ===",
            env!("CARGO_PKG_VERSION"),
            cmd.action,
            now_text()
        );
    }
    let env = Environment::from_process();
    let code = match cmd.action {
        Action::Install | Action::Repair => run_install(&cmd, &env, &mut r),
        Action::Uninstall => run_uninstall(&cmd, &env, &mut r),
        Action::Status => run_status(&cmd, &env),
        Action::Update => return run_update(&cmd, &env, &mut r),
    };
    match code {
        Ok(()) => {
            if let Some(f) = &mut r.log {
                let _ = writeln!(f, "=== finished: exit code 0 ===");
            }
            exit(0)
        }
        Err(e) => {
            let c = e.exit_code().code();
            r.error(&e.to_string());
            if let Some(f) = &mut r.log {
                let _ = writeln!(f, "=== finished: exit code {c} ===");
            }
            exit(c)
        }
    }
}

/// Exits with an msiexec code. A Unix exit status has 8 bits, so the shell sees the code's low
/// byte (1603 → 67, 1618 → 82, 1639 → 103; all distinct); the full number is in the log.
fn exit(code: i32) -> std::process::ExitCode {
    std::process::ExitCode::from(u8::try_from(code & 0xff).unwrap_or(1))
}

/// The properties with `INSTALLDIR` taken from an existing installation's receipt when not
/// given, so that upgrades, repairs, uninstalls and updates find a custom directory.
fn located_properties(
    cmd: &Command,
    env: &Environment,
) -> Result<installer::properties::Properties, InstallError> {
    let mut props = cmd.properties.clone();
    if props.install_dir.is_none() {
        let layout = Layout::resolve(&props, env)?;
        if let Some(r) = Receipt::load(&layout)? {
            props.install_dir = Some(layout.final_path(&r.install_dir));
        }
    }
    Ok(props)
}

fn locate(cmd: &Command, env: &Environment) -> Result<Layout, InstallError> {
    Ok(Layout::resolve(&located_properties(cmd, env)?, env)?)
}

fn run_install(cmd: &Command, env: &Environment, r: &mut Reporter) -> Result<(), InstallError> {
    let path = cmd.target.clone().unwrap_or_default();
    let package = Package::from_file(std::path::Path::new(&path))
        .map_err(|e| classify_package_error(&path, e))?;
    r.line(&format!(
        "package {path}: {} {} for {}",
        package.manifest.product, package.manifest.version, package.manifest.platform
    ));
    let props = located_properties(cmd, env)?;
    let previous = apply::load_settings(&Layout::resolve(&props, env)?)?;
    let plan = InstallPlan::new(&props, env, &package.manifest, previous.as_ref())?;
    let repair = cmd.action == Action::Repair;
    let outcome = apply::install(
        &plan,
        &package,
        &installer::new_install_id(),
        repair,
        &mut |m| r.line(m),
    )?;
    let v = package.manifest.version;
    r.line(&match outcome {
        Outcome::Installed => format!(
            "installed sesame-console {v} ({}) in {}",
            plan.layout.scope.as_str(),
            plan.layout.final_path(&plan.layout.install_dir).display()
        ),
        Outcome::Upgraded { from } => format!("upgraded sesame-console from {from} to {v}"),
        Outcome::Reconfigured if repair => format!("repaired sesame-console {v}"),
        Outcome::Reconfigured => format!("reconfigured sesame-console {v}"),
        Outcome::Unchanged => format!("sesame-console {v} is already installed; nothing to do"),
    });
    Ok(())
}

fn run_uninstall(cmd: &Command, env: &Environment, r: &mut Reporter) -> Result<(), InstallError> {
    let target = cmd.target.clone().unwrap_or_default();
    let path = std::path::Path::new(&target);
    if path.is_file() {
        let package = Package::from_file(path).map_err(|e| classify_package_error(&target, e))?;
        r.line(&format!(
            "uninstalling the product of package {target}: {}",
            package.manifest.product
        ));
    } else if !target.eq_ignore_ascii_case(installer::manifest::PRODUCT) {
        return Err(InstallError::UnknownProduct(
            target.chars().take(80).collect(),
        ));
    }
    let layout = locate(cmd, env)?;
    apply::uninstall(&layout, cmd.properties.remove_data, &mut |m| r.line(m))?;
    r.line("uninstalled sesame-console");
    Ok(())
}

fn run_status(cmd: &Command, env: &Environment) -> Result<(), InstallError> {
    let layout = locate(cmd, env)?;
    let s = installer::status::status(&layout)?;
    if cmd.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&s).expect("status serialises")
        );
    } else {
        print!("{}", s.to_text());
    }
    Ok(())
}

fn run_update(cmd: &Command, env: &Environment, r: &mut Reporter) -> std::process::ExitCode {
    let layout = match locate(cmd, env) {
        Ok(l) => l,
        Err(e) => {
            r.error(&e.to_string());
            return exit(e.exit_code().code());
        }
    };
    let options = UpdateOptions {
        check_only: cmd.check_only,
        system: cmd.system,
    };
    match update::update(&layout, options) {
        Ok(UpdateOutcome::UpToDate(v)) => r.line(&format!("sesame-console {v} is up to date")),
        Ok(UpdateOutcome::Available { current, offered }) => {
            r.line(&format!("update available: {current} -> {offered}"))
        }
        Ok(UpdateOutcome::Updated { from, to }) => {
            r.line(&format!("updated sesame-console from {from} to {to}"))
        }
        Err(e) => {
            r.error(&format!("{}: {e}", e.code()));
            return exit(1);
        }
    }
    exit(0)
}
