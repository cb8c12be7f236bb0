//! Finding the installation a running console belongs to (`support-console update`, the
//! console's login), the way `installer` finds it for upgrades and uninstalls: the default
//! layout of the scope, then the `INSTALLDIR` its receipt records.
//!
//! Read-only: locating a per-machine installation needs no root (only its paths are
//! computed; whatever is then written checks its own permissions).

use crate::apply::Receipt;
use crate::plan::{Environment, Layout, PlanError};
use crate::properties::Properties;
use std::path::Path;

/// The layout of the installation of `all_users` scope, with the receipt's `INSTALLDIR`.
pub fn locate(env: &Environment, all_users: bool) -> Result<Layout, PlanError> {
    let mut env = env.clone();
    if all_users {
        // Paths only: a user may look at (and be told about) a per-machine installation.
        env.euid = 0;
    }
    let mut props = Properties {
        all_users,
        ..Properties::default()
    };
    let layout = Layout::resolve(&props, &env)?;
    match Receipt::load(&layout) {
        Ok(Some(r)) => {
            props.install_dir = Some(layout.final_path(&r.install_dir));
            Layout::resolve(&props, &env)
        }
        _ => Ok(layout),
    }
}

/// The installation the executable `exe` belongs to: per-machine when `all_users` is set or
/// when `exe` lies inside the per-machine installation, otherwise per-user (or per-machine
/// when there is no per-user installation but a per-machine one).
pub fn locate_for_exe(
    env: &Environment,
    exe: Option<&Path>,
    all_users: bool,
) -> Result<Layout, PlanError> {
    let machine = locate(env, true)?;
    if all_users {
        return Ok(machine);
    }
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    if let (Some(exe), Some(dir)) = (exe.and_then(canon), canon(&machine.install_dir))
        && exe.starts_with(&dir)
    {
        return Ok(machine);
    }
    match locate(env, false) {
        Ok(user) if Receipt::load(&user).ok().flatten().is_some() => Ok(user),
        Ok(user) if Receipt::load(&machine).ok().flatten().is_none() => Ok(user),
        Ok(_) | Err(PlanError::NoHome) => Ok(machine),
        Err(e) => Err(e),
    }
}
