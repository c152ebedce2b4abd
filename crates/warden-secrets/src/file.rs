//! The file provider: a TOML file with one table per tenant, as `warden init` writes it.
//!
//! ```toml
//! [acme]
//! ORDERS_API_KEY = "..."
//!
//! [globex]
//! ORDERS_API_KEY = "..."
//! ```
//!
//! Every top-level key must be a valid tenant id whose value is a table; every key in a
//! tenant table must be a secret name (`[A-Z_][A-Z0-9_]*`) whose value is a non-empty
//! string. A file readable or writable by group or others is refused unless allowed
//! explicitly. On every `get` the file's modification time, size and inode are compared with
//! the loaded version (one `stat`); when they changed the file is loaded again. A bad reload
//! keeps the previous good contents, logs the error and exposes it through
//! [`FileProvider::last_reload_error`].

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use async_trait::async_trait;
use warden_core::{Sensitive, TenantId};

use crate::{validate_secret_name, SecretError, SecretProvider};

/// The largest secrets file accepted.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Options for [`FileProvider::open_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileOptions {
    /// Accept a file that group or others may read or write. Off by default.
    pub allow_insecure_permissions: bool,
}

/// Identifies one version of the file cheaply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    ino: u64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        #[cfg(unix)]
        let ino = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let ino = 0;
        Stamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            ino,
        }
    }
}

type Tenants = HashMap<TenantId, HashMap<String, Sensitive<String>>>;

struct State {
    /// The version the current contents came from.
    loaded: Stamp,
    /// The last version that failed to load, so a bad file is parsed once, not on every get.
    failed: Option<Stamp>,
    last_error: Option<String>,
    tenants: Arc<Tenants>,
}

/// Reads per-tenant secrets from a TOML file, reloading it when it changes.
pub struct FileProvider {
    path: PathBuf,
    options: FileOptions,
    description: String,
    state: RwLock<State>,
}

impl fmt::Debug for FileProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenants = self.read_state(|s| s.tenants.len());
        f.debug_struct("FileProvider")
            .field("path", &self.path)
            .field("options", &self.options)
            .field("tenants", &tenants)
            .finish_non_exhaustive()
    }
}

impl FileProvider {
    /// Loads and validates the file with default options (private permissions required).
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, SecretError> {
        Self::open_with(path, FileOptions::default())
    }

    /// Loads and validates the file.
    pub fn open_with(path: impl Into<PathBuf>, options: FileOptions) -> Result<Self, SecretError> {
        let path = path.into();
        let (stamp, tenants) = load(&path, options)?;
        Ok(FileProvider {
            description: format!("file `{}`", path.display()),
            path,
            options,
            state: RwLock::new(State {
                loaded: stamp,
                failed: None,
                last_error: None,
                tenants: Arc::new(tenants),
            }),
        })
    }

    /// The file this provider reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tenants that have a table in the loaded file, sorted.
    pub fn tenants(&self) -> Vec<TenantId> {
        let mut v: Vec<TenantId> = self.read_state(|s| s.tenants.keys().cloned().collect());
        v.sort();
        v
    }

    /// The error of the most recent reload if it failed (the previous contents stay in use);
    /// `None` once a reload succeeds.
    pub fn last_reload_error(&self) -> Option<String> {
        self.read_state(|s| s.last_error.clone())
    }

    /// Reloads the file if its modification time, size or inode changed. `Ok(true)` when new
    /// contents were loaded; `Err` when the changed file is bad (the previous contents stay in
    /// use) or can no longer be read.
    pub fn reload_if_changed(&self) -> Result<bool, SecretError> {
        let meta = std::fs::metadata(&self.path).map_err(|source| SecretError::Io {
            path: self.path.clone(),
            source,
        })?;
        let stamp = Stamp::of(&meta);
        let (loaded, failed) = self.read_state(|s| (s.loaded, s.failed));
        if stamp == loaded || Some(stamp) == failed {
            return Ok(false);
        }
        match load(&self.path, self.options) {
            Ok((stamp, tenants)) => {
                let mut s = self.state.write().unwrap_or_else(|p| p.into_inner());
                s.loaded = stamp;
                s.failed = None;
                s.last_error = None;
                s.tenants = Arc::new(tenants);
                Ok(true)
            }
            Err(e) => {
                tracing::warn!(
                    path = %self.path.display(),
                    error = %e,
                    "secrets file changed but cannot be loaded; keeping the previous contents"
                );
                let mut s = self.state.write().unwrap_or_else(|p| p.into_inner());
                s.failed = Some(stamp);
                s.last_error = Some(e.to_string());
                Err(e)
            }
        }
    }

    fn read_state<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        // A poisoned lock means a writer panicked between assignments of plain values; every
        // field on its own is still a consistent value.
        let s = self.state.read().unwrap_or_else(|p| p.into_inner());
        f(&s)
    }
}

#[async_trait]
impl SecretProvider for FileProvider {
    async fn get(&self, tenant: &TenantId, name: &str) -> Result<Sensitive<String>, SecretError> {
        validate_secret_name(name)?;
        // A failed reload was logged and recorded; the previous good contents keep serving.
        // A file that vanished keeps serving the last good contents the same way.
        if let Err(e) = self.reload_if_changed() {
            if matches!(e, SecretError::Io { .. }) {
                let mut s = self.state.write().unwrap_or_else(|p| p.into_inner());
                s.last_error = Some(e.to_string());
            }
        }
        let tenants = self.read_state(|s| Arc::clone(&s.tenants));
        let missing = |what: &str| SecretError::Missing {
            tenant: tenant.to_string(),
            name: name.to_string(),
            provider: format!("file `{}` ({what})", self.path.display()),
        };
        let table = tenants
            .get(tenant)
            .ok_or_else(|| missing("no table for this tenant"))?;
        table
            .get(name)
            .cloned()
            .ok_or_else(|| missing("no such key in the tenant's table"))
    }

    fn describe(&self) -> &str {
        &self.description
    }
}

/// Reads, checks and parses the file.
fn load(path: &Path, options: FileOptions) -> Result<(Stamp, Tenants), SecretError> {
    let io = |source| SecretError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    // Checked on the open handle, so the checked file is the one read.
    let meta = file.metadata().map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 && !options.allow_insecure_permissions {
            return Err(SecretError::InsecurePermissions {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = options;
    if meta.len() > MAX_FILE_BYTES {
        return Err(SecretError::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
            max: MAX_FILE_BYTES,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.by_ref()
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(SecretError::TooLarge {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            max: MAX_FILE_BYTES,
        });
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let (line, column) = line_col(&e.as_bytes()[..e.utf8_error().valid_up_to()]);
        SecretError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            message: "the file is not valid UTF-8".to_string(),
        }
    })?;
    let tenants = parse(path, &text)?;
    Ok((Stamp::of(&meta), tenants))
}

/// 1-based line and column (in characters) at the end of `prefix`.
fn line_col(prefix: &[u8]) -> (usize, usize) {
    let text = String::from_utf8_lossy(prefix);
    let line = text.matches('\n').count() + 1;
    let column = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Quotes a TOML key when it is not a bare key.
fn key_part(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_string()
    } else {
        format!("{k:?}")
    }
}

/// Validates the parsed document into tenant tables. Error messages name keys and types,
/// never values, and never quote the file's text (TOML's own error display would).
fn parse(path: &Path, text: &str) -> Result<Tenants, SecretError> {
    let doc: toml::Table = toml::from_str(text).map_err(|e| {
        let (line, column) = match e.span() {
            Some(span) => line_col(&text.as_bytes()[..span.start.min(text.len())]),
            None => (0, 0),
        };
        SecretError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().trim().replace('\n', "; "),
        }
    })?;
    let invalid = |key: String, reason: String| SecretError::Invalid {
        path: path.to_path_buf(),
        key,
        reason,
    };
    let mut tenants = Tenants::new();
    for (tenant_key, value) in doc {
        let tenant = TenantId::new(tenant_key.clone()).map_err(|e| {
            invalid(
                key_part(&tenant_key),
                format!("is not a valid tenant id: {e}"),
            )
        })?;
        let toml::Value::Table(table) = value else {
            return Err(invalid(
                key_part(&tenant_key),
                format!(
                    "must be a table of secrets for tenant `{tenant}` (found a {})",
                    value.type_str()
                ),
            ));
        };
        let mut secrets = HashMap::with_capacity(table.len());
        for (name, value) in table {
            let key = format!("{}.{}", key_part(&tenant_key), key_part(&name));
            if let Err(SecretError::BadName { reason, .. }) = validate_secret_name(&name) {
                return Err(invalid(
                    key,
                    format!("is not a secret name: the name {reason}"),
                ));
            }
            match value {
                toml::Value::String(s) if s.is_empty() => {
                    return Err(invalid(key, "is an empty string".to_string()));
                }
                toml::Value::String(s) => {
                    secrets.insert(name, Sensitive::new(s));
                }
                other => {
                    return Err(invalid(
                        key,
                        format!("must be a string (found a {})", other.type_str()),
                    ));
                }
            }
        }
        tenants.insert(tenant, secrets);
    }
    Ok(tenants)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_of(text: &str) -> String {
        parse(Path::new("s.toml"), text).unwrap_err().to_string()
    }

    #[test]
    fn parses_the_init_layout() {
        let t = parse(
            Path::new("s.toml"),
            "# c\n[acme]\nORDERS_API_KEY = \"a1\"\n\n[globex]\nORDERS_API_KEY = \"g1\"\n",
        )
        .unwrap();
        let acme = TenantId::new("acme").unwrap();
        assert_eq!(t[&acme]["ORDERS_API_KEY"].expose(), "a1");
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn errors_name_the_key_path_and_never_the_value() {
        let m = err_of("[acme]\nKEY = 5\n");
        assert!(
            m.contains("`acme.KEY` must be a string (found a integer)"),
            "{m}"
        );
        let m = err_of("[acme]\nKEY = \"sekrit-value\"\nlower = \"sekrit-value\"\n");
        assert!(m.contains("`acme.lower` is not a secret name"), "{m}");
        assert!(!m.contains("sekrit"), "{m}");
        let m = err_of("TOP = \"sekrit-value\"\n");
        assert!(m.contains("`TOP` must be a table"), "{m}");
        assert!(!m.contains("sekrit"), "{m}");
        let m = err_of("[\"a/b\"]\nK = \"v\"\n");
        assert!(m.contains("`\"a/b\"` is not a valid tenant id"), "{m}");
        let m = err_of("[acme.SUB]\nK = \"sekrit-value\"\n");
        assert!(
            m.contains("`acme.SUB` must be a string (found a table)"),
            "{m}"
        );
        let m = err_of("[acme]\nK = \"\"\n");
        assert!(m.contains("`acme.K` is an empty string"), "{m}");
    }

    #[test]
    fn syntax_errors_give_line_and_column_without_quoting_text() {
        let m = err_of("[acme]\nK = \"v\"\nJ = \"sekrit-unterminated\n");
        assert!(m.contains("line 3"), "{m}");
        assert!(!m.contains("sekrit"), "{m}");
        let m = err_of("[acme]\nK = \"sekrit1\"\nK = \"sekrit2\"\n");
        assert!(m.contains("line 3"), "{m}");
        assert!(!m.contains("sekrit"), "{m}");
    }
}
