//! `warden init`: writes the starter project, with freshly generated secrets.

use anyhow::{bail, Context, Result};
use base64::Engine;
use std::path::Path;

/// The starter project's files, embedded at build time.
pub const FILES: &[(&str, &str)] = &[
    (
        "warden.toml",
        include_str!("../templates/starter/warden.toml"),
    ),
    (
        "agents/support.script.json",
        include_str!("../templates/starter/agents/support.script.json"),
    ),
    (
        "tools/orders/openapi.json",
        include_str!("../templates/starter/tools/orders/openapi.json"),
    ),
    (
        "tools/orders/app.py",
        include_str!("../templates/starter/tools/orders/app.py"),
    ),
    (
        "policies/orders.cedar",
        include_str!("../templates/starter/policies/orders.cedar"),
    ),
    (".gitignore", include_str!("../templates/starter/gitignore")),
];

fn random_b64(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

fn write(path: &Path, contents: &str, force: bool, private: bool) -> Result<()> {
    if path.exists() && !force {
        bail!(
            "{} already exists (use --force to overwrite)",
            path.display()
        );
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    let _ = private;
    Ok(())
}

/// Writes the starter project into `dir`. Secrets are generated here and written only to
/// `secrets/`, never into the config file.
pub fn write_starter(dir: &Path, force: bool) -> Result<()> {
    for (name, _) in FILES {
        if dir.join(name).exists() && !force {
            bail!(
                "{} already exists (use --force to overwrite)",
                dir.join(name).display()
            );
        }
    }
    for (name, contents) in FILES {
        write(&dir.join(name), contents, force, false)?;
    }
    write(
        &dir.join("secrets/jwt-hs256.key"),
        &(random_b64(48)? + "\n"),
        force,
        true,
    )?;
    write(
        &dir.join("secrets/admin.token"),
        &(random_b64(32)? + "\n"),
        force,
        true,
    )?;
    write(
        &dir.join("secrets/aws-acme.secret"),
        &(random_b64(30)? + "\n"),
        force,
        true,
    )?;
    let tenants = format!(
        "# Per-tenant secrets, injected only into the sandboxed tool's environment.\n\
         [acme]\nORDERS_API_KEY = \"{}\"\n\n[globex]\nORDERS_API_KEY = \"{}\"\n",
        random_b64(24)?,
        random_b64(24)?
    );
    write(&dir.join("secrets/tenants.toml"), &tenants, force, true)?;
    Ok(())
}
