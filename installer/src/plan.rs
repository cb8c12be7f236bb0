//! The install plan: where everything goes and what gets written, computed from the properties
//! and the environment alone — no filesystem access, no clock, no randomness.
//!
//! [`Environment`] captures `HOME`, `XDG_DATA_HOME`, `XDG_CONFIG_HOME`, `XDG_STATE_HOME`,
//! `SESAME_INSTALL_ROOT` and the effective uid. [`Layout::resolve`] turns `ALLUSERS` and
//! `INSTALLDIR` into paths; [`InstallPlan::new`] adds the settings, the autostart entry, the
//! `/usr/local/bin` links and the systemd update unit. The effects layer ([`crate::apply`])
//! carries a plan out; a WiX MSI could be generated from the same plan later.
//!
//! Paths on disk carry the `SESAME_INSTALL_ROOT` prefix (like `DESTDIR`); paths written *into*
//! files (autostart `Exec=`, unit `ExecStart=`) are the unprefixed, final ones, and links are
//! relative, so a tree staged under a root is correct once moved to `/`.

use crate::manifest::Manifest;
use crate::properties::{Properties, Token};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File name of the autostart entry and stem of the systemd units.
pub const APP_ID: &str = "sesame-console";
/// Binaries linked into `/usr/local/bin` for per-machine installs.
pub const LINKED_BINARIES: [&str; 2] = ["support-console", "support-customer"];

/// What the plan reads from the process environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    /// `HOME`.
    pub home: Option<PathBuf>,
    /// `XDG_DATA_HOME`.
    pub xdg_data_home: Option<PathBuf>,
    /// `XDG_CONFIG_HOME`.
    pub xdg_config_home: Option<PathBuf>,
    /// `XDG_STATE_HOME`.
    pub xdg_state_home: Option<PathBuf>,
    /// `SESAME_INSTALL_ROOT`.
    pub install_root: Option<PathBuf>,
    /// Effective user id.
    pub euid: u32,
}

impl Environment {
    /// Reads the real environment (XDG values that are not absolute are ignored, as the spec says).
    pub fn from_process() -> Environment {
        let abs = |k: &str| {
            std::env::var_os(k)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        };
        use std::os::unix::fs::MetadataExt;
        Environment {
            home: abs("HOME"),
            xdg_data_home: abs("XDG_DATA_HOME"),
            xdg_config_home: abs("XDG_CONFIG_HOME"),
            xdg_state_home: abs("XDG_STATE_HOME"),
            install_root: abs("SESAME_INSTALL_ROOT"),
            // /proc/self belongs to the process's effective uid.
            euid: std::fs::metadata("/proc/self")
                .map(|m| m.uid())
                .unwrap_or(u32::MAX),
        }
    }
}

/// Per-user or per-machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// `ALLUSERS=""`.
    PerUser,
    /// `ALLUSERS=1`.
    PerMachine,
}

impl Scope {
    /// `per-user` / `per-machine`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::PerUser => "per-user",
            Scope::PerMachine => "per-machine",
        }
    }
}

/// How the installation gets updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateMode {
    /// `SHOULDAUTOUPDATE=0`: only `update` on demand.
    Manual,
    /// Per-user with `SHOULDAUTOUPDATE=1`: the console checks at start and periodically.
    Console,
    /// Per-machine, `SHOULDAUTOUPDATE=1` and a deploy token: the systemd timer updates.
    SystemService,
    /// Per-machine, `SHOULDAUTOUPDATE=1` without a deploy token: like the reference product,
    /// no automatic update from a user's session.
    DisabledPerMachineWithoutDeployToken,
}

/// Where an installation lives. `*_dir` and files are on-disk paths (root prefix included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Scope.
    pub scope: Scope,
    /// The `SESAME_INSTALL_ROOT` prefix, if any.
    pub root: Option<PathBuf>,
    /// Program files: `versions/`, the `current` link, the lock file.
    pub install_dir: PathBuf,
    /// Settings, receipt, tokens, update state (the user's data).
    pub state_dir: PathBuf,
    /// XDG autostart entry.
    pub autostart_file: PathBuf,
    /// Directory of the `/usr/local/bin` links (per-machine).
    pub bin_dir: Option<PathBuf>,
    /// systemd unit directory (per-machine).
    pub systemd_dir: Option<PathBuf>,
}

/// A plan that cannot be made (exit 1603, except [`PlanError::NoHome`] which is 1639).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Per-user without `HOME`.
    #[error(
        "HOME is not set to an absolute directory, so a per-user install has nowhere to go; set HOME or use ALLUSERS=1"
    )]
    NoHome,
    /// `ALLUSERS=1` as a normal user without an install root.
    #[error("a per-machine install (ALLUSERS=1) must run as root")]
    NotRoot,
    /// A package for another platform.
    #[error("the package is for platform {0}, this machine is {1}")]
    Platform(String, &'static str),
}

impl Layout {
    /// Resolves the layout for `props` in `env`.
    pub fn resolve(props: &Properties, env: &Environment) -> Result<Layout, PlanError> {
        if props.all_users {
            if env.euid != 0 && env.install_root.is_none() {
                return Err(PlanError::NotRoot);
            }
            let r = |p: &str| prefixed(env.install_root.as_deref(), Path::new(p));
            let install = props
                .install_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("/opt/sesame-console"));
            Ok(Layout {
                scope: Scope::PerMachine,
                root: env.install_root.clone(),
                install_dir: prefixed(env.install_root.as_deref(), &install),
                state_dir: r("/var/lib/sesame-console"),
                autostart_file: r("/etc/xdg/autostart/sesame-console.desktop"),
                bin_dir: Some(r("/usr/local/bin")),
                systemd_dir: Some(r("/etc/systemd/system")),
            })
        } else {
            let home = env.home.as_ref();
            let xdg = |v: &Option<PathBuf>, rel: &str| {
                v.clone()
                    .or_else(|| home.map(|h| h.join(rel)))
                    .ok_or(PlanError::NoHome)
            };
            let data = xdg(&env.xdg_data_home, ".local/share")?;
            let state = xdg(&env.xdg_state_home, ".local/state")?;
            let config = xdg(&env.xdg_config_home, ".config")?;
            Ok(Layout {
                scope: Scope::PerUser,
                root: None,
                install_dir: props
                    .install_dir
                    .clone()
                    .unwrap_or_else(|| data.join(APP_ID)),
                state_dir: state.join(APP_ID),
                autostart_file: config.join("autostart").join(format!("{APP_ID}.desktop")),
                bin_dir: None,
                systemd_dir: None,
            })
        }
    }

    /// `path` as the running system will see it (the install root stripped).
    pub fn final_path(&self, path: &Path) -> PathBuf {
        match &self.root {
            Some(r) => path
                .strip_prefix(r)
                .map(|p| Path::new("/").join(p))
                .unwrap_or_else(|_| path.to_path_buf()),
            None => path.to_path_buf(),
        }
    }

    /// The `current` link.
    pub fn current_link(&self) -> PathBuf {
        self.install_dir.join("current")
    }

    /// The versions directory.
    pub fn versions_dir(&self) -> PathBuf {
        self.install_dir.join("versions")
    }

    /// The lock file that serialises installs on this target.
    pub fn lock_file(&self) -> PathBuf {
        self.install_dir.join(".sesame-install.lock")
    }

    /// The receipt (what the installer created).
    pub fn receipt_file(&self) -> PathBuf {
        self.state_dir.join("receipt.json")
    }

    /// The settings file (kept across upgrades and, without `REMOVEDATA=1`, uninstalls).
    pub fn settings_file(&self) -> PathBuf {
        self.state_dir.join("settings.json")
    }
}

fn prefixed(root: Option<&Path>, p: &Path) -> PathBuf {
    match root {
        Some(r) => r.join(p.strip_prefix("/").unwrap_or(p)),
        None => p.to_path_buf(),
    }
}

/// The settings the console reads (`settings.json` in the state directory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Random id of this installation (hex), created at first install, kept across upgrades.
    pub install_id: String,
    /// Relay URL.
    pub relay_url: String,
    /// TUF repository base URL.
    pub update_url: String,
    /// `SHOULDAUTOUPDATE`.
    pub should_auto_update: bool,
    /// `RUNATSTARTUP`.
    pub run_at_startup: bool,
    /// What `SHOULDAUTOUPDATE` means for this scope.
    pub update_mode: UpdateMode,
}

/// Everything an install writes, decided up front.
#[derive(Debug, Clone)]
pub struct InstallPlan {
    /// Where.
    pub layout: Layout,
    /// Settings to write (`install_id` empty: the effects layer keeps the existing one or makes one).
    pub settings: Settings,
    /// Autostart entry contents, when `RUNATSTARTUP=1`.
    pub autostart: Option<String>,
    /// `(link path, relative target)` pairs.
    pub links: Vec<(PathBuf, PathBuf)>,
    /// `(path, contents)` of the systemd service and timer, and the `timers.target.wants` link.
    pub units: Vec<(PathBuf, String)>,
    /// The deploy token to store (0600), if given.
    pub deploy_token: Option<Token>,
    /// Sentences for the install log (e.g. why auto-update is off).
    pub notes: Vec<String>,
}

impl InstallPlan {
    /// Plans installing `manifest` with `props` in `env`, over `previous` settings (upgrade) if any.
    pub fn new(
        props: &Properties,
        env: &Environment,
        manifest: &Manifest,
        previous: Option<&Settings>,
    ) -> Result<InstallPlan, PlanError> {
        if manifest.platform != crate::manifest::PLATFORM_LINUX_X86_64 {
            return Err(PlanError::Platform(
                manifest.platform.clone(),
                crate::manifest::PLATFORM_LINUX_X86_64,
            ));
        }
        let layout = Layout::resolve(props, env)?;
        let run_at_startup = props
            .run_at_startup
            .or(previous.map(|s| s.run_at_startup))
            .unwrap_or(false);
        let should_auto_update = props
            .should_auto_update
            .or(previous.map(|s| s.should_auto_update))
            .unwrap_or(false);
        let relay_url = props
            .relay_url
            .clone()
            .or_else(|| previous.map(|s| s.relay_url.clone()))
            .unwrap_or_else(|| manifest.relay_url.clone());
        let has_deploy_token = props.deploy_token.is_some();
        let mut notes = Vec::new();
        let update_mode = match (should_auto_update, layout.scope) {
            (false, _) => UpdateMode::Manual,
            (true, Scope::PerUser) => UpdateMode::Console,
            (true, Scope::PerMachine) if has_deploy_token => UpdateMode::SystemService,
            (true, Scope::PerMachine) => {
                // An upgrade without DEPLOYTOKEN keeps an earlier system-service mode: the
                // token is already stored.
                if previous.map(|s| s.update_mode) == Some(UpdateMode::SystemService) {
                    UpdateMode::SystemService
                } else {
                    notes.push(
                        "SHOULDAUTOUPDATE=1 is not applied: a per-machine install updates through its system service only when DEPLOYTOKEN= is given; without it the consoles are updated by installing a newer package".into(),
                    );
                    UpdateMode::DisabledPerMachineWithoutDeployToken
                }
            }
        };
        let exe = |bin: &str| layout.final_path(&layout.current_link().join("bin").join(bin));
        let autostart = run_at_startup.then(|| {
            format!(
                "[Desktop Entry]\nType=Application\nName=Sesame support console\nExec={}\nX-GNOME-Autostart-enabled=true\nNoDisplay=false\n",
                quote_exec(&exe("support-console"))
            )
        });
        let mut links = Vec::new();
        if let Some(bin_dir) = &layout.bin_dir {
            let final_bin = layout.final_path(bin_dir);
            for b in LINKED_BINARIES {
                links.push((bin_dir.join(b), relative(&final_bin, &exe(b))));
            }
        }
        let mut units = Vec::new();
        if let (UpdateMode::SystemService, Some(dir)) = (update_mode, &layout.systemd_dir) {
            units.push((
                dir.join(format!("{APP_ID}-update.service")),
                format!(
                    "[Unit]\nDescription=Sesame support console update\nAfter=network-online.target\nWants=network-online.target\n\n[Service]\nType=oneshot\nExecStart={} update --system\n",
                    quote_exec(&exe("support-console"))
                ),
            ));
            units.push((
                dir.join(format!("{APP_ID}-update.timer")),
                "[Unit]\nDescription=Check for Sesame support console updates\n\n[Timer]\nOnBootSec=5min\nOnUnitActiveSec=1h\nRandomizedDelaySec=10min\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n".into(),
            ));
        }
        let settings = Settings {
            install_id: previous.map(|s| s.install_id.clone()).unwrap_or_default(),
            relay_url,
            update_url: manifest.update_url.clone(),
            should_auto_update,
            run_at_startup,
            update_mode,
        };
        Ok(InstallPlan {
            layout,
            settings,
            autostart,
            links,
            units,
            deploy_token: props.deploy_token.clone(),
            notes,
        })
    }

    /// The `timers.target.wants` link that `systemctl enable` would create, if there is a timer.
    pub fn timer_wants_link(&self) -> Option<(PathBuf, PathBuf)> {
        let dir = self.layout.systemd_dir.as_ref()?;
        self.units
            .iter()
            .any(|(p, _)| p.extension().is_some_and(|e| e == "timer"))
            .then(|| {
                (
                    dir.join("timers.target.wants")
                        .join(format!("{APP_ID}-update.timer")),
                    PathBuf::from(format!("../{APP_ID}-update.timer")),
                )
            })
    }
}

/// A program path for `Exec=` (desktop entry) and `ExecStart=` (systemd): as is when it holds
/// only plain characters, else double-quoted with `"`, `` ` ``, `$` and `\` escaped and `%`
/// doubled (both formats accept this quoting).
fn quote_exec(path: &Path) -> String {
    let s = path.display().to_string();
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+".contains(&b))
    {
        return s;
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        if matches!(c, '"' | '`' | '$' | '\\') {
            out.push('\\');
        }
        if c == '%' {
            // Both formats expand %-specifiers: a literal percent is doubled.
            out.push('%');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A relative path from directory `from` to `to` (both absolute, both final paths).
fn relative(from: &Path, to: &Path) -> PathBuf {
    let f: Vec<_> = from.components().collect();
    let t: Vec<_> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        Environment {
            home: Some("/home/ann".into()),
            euid: 1000,
            ..Environment::default()
        }
    }

    fn manifest() -> Manifest {
        let p = crate::package::tests::spec("1.0.0");
        let bytes = crate::package::build(&p).expect("build");
        crate::package::Package::from_bytes(&bytes)
            .expect("read")
            .manifest
    }

    #[test]
    fn per_user_defaults_follow_home_and_xdg() {
        let props = Properties::default();
        let plan = InstallPlan::new(&props, &env(), &manifest(), None).expect("plan");
        assert_eq!(
            plan.layout.install_dir,
            PathBuf::from("/home/ann/.local/share/sesame-console")
        );
        assert_eq!(
            plan.layout.state_dir,
            PathBuf::from("/home/ann/.local/state/sesame-console")
        );
        assert!(plan.autostart.is_none() && plan.links.is_empty() && plan.units.is_empty());
        let mut e = env();
        e.xdg_config_home = Some("/cfg".into());
        let props = Properties {
            run_at_startup: Some(true),
            ..Properties::default()
        };
        let plan = InstallPlan::new(&props, &e, &manifest(), None).expect("plan");
        assert_eq!(
            plan.layout.autostart_file,
            PathBuf::from("/cfg/autostart/sesame-console.desktop")
        );
        assert!(plan.autostart.as_deref().is_some_and(|a| {
            a.contains("Exec=/home/ann/.local/share/sesame-console/current/bin/support-console")
        }));
    }

    #[test]
    fn per_machine_under_an_install_root() {
        let mut e = env();
        e.install_root = Some("/tmp/root".into());
        let props = Properties {
            all_users: true,
            should_auto_update: Some(true),
            run_at_startup: Some(true),
            ..Properties::default()
        };
        let plan = InstallPlan::new(&props, &e, &manifest(), None).expect("plan");
        assert_eq!(
            plan.layout.install_dir,
            PathBuf::from("/tmp/root/opt/sesame-console")
        );
        assert_eq!(
            plan.layout.autostart_file,
            PathBuf::from("/tmp/root/etc/xdg/autostart/sesame-console.desktop")
        );
        assert!(plan.autostart.as_deref().is_some_and(|a| a.contains("Exec=/opt/sesame-console/current/bin/support-console")));
        assert_eq!(
            plan.links[0],
            (
                PathBuf::from("/tmp/root/usr/local/bin/support-console"),
                PathBuf::from("../../../opt/sesame-console/current/bin/support-console")
            )
        );
        assert_eq!(
            plan.settings.update_mode,
            UpdateMode::DisabledPerMachineWithoutDeployToken
        );
        assert!(plan.units.is_empty() && !plan.notes.is_empty());
        let props = Properties {
            deploy_token: Token::parse("0123456789abcdef0123"),
            ..props
        };
        let plan = InstallPlan::new(&props, &e, &manifest(), None).expect("plan");
        assert_eq!(plan.settings.update_mode, UpdateMode::SystemService);
        assert_eq!(plan.units.len(), 2);
        assert!(
            plan.units[0]
                .1
                .contains("ExecStart=/opt/sesame-console/current/bin/support-console update")
        );
    }

    #[test]
    fn exec_lines_quote_unusual_paths() {
        assert_eq!(quote_exec(Path::new("/opt/x/bin/c")), "/opt/x/bin/c");
        assert_eq!(quote_exec(Path::new("/home/a b/$x")), "\"/home/a b/\\$x\"");
        let props = Properties {
            run_at_startup: Some(true),
            install_dir: Some("/home/ann/My Apps".into()),
            ..Properties::default()
        };
        let plan = InstallPlan::new(&props, &env(), &manifest(), None).expect("plan");
        assert!(plan.autostart.as_deref().is_some_and(|a| {
            a.contains("Exec=\"/home/ann/My Apps/current/bin/support-console\"\n")
        }));
    }

    #[test]
    fn per_machine_needs_root_and_per_user_needs_home() {
        let props = Properties {
            all_users: true,
            ..Properties::default()
        };
        assert_eq!(
            Layout::resolve(&props, &env()).expect_err("not root"),
            PlanError::NotRoot
        );
        let e = Environment {
            euid: 1000,
            ..Environment::default()
        };
        assert_eq!(
            Layout::resolve(&Properties::default(), &e).expect_err("no home"),
            PlanError::NoHome
        );
    }

    #[test]
    fn upgrade_keeps_settings_not_given_again() {
        let m = manifest();
        let first = Properties {
            run_at_startup: Some(true),
            relay_url: Some("https://r.example/".into()),
            ..Properties::default()
        };
        let mut s = InstallPlan::new(&first, &env(), &m, None)
            .expect("plan")
            .settings;
        s.install_id = "abc".into();
        let again = InstallPlan::new(&Properties::default(), &env(), &m, Some(&s))
            .expect("plan")
            .settings;
        assert_eq!(again, s);
    }
}
