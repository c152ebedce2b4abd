//! `warden.toml`: the versioned file model, validation that reports every problem at once
//! (file, key path, reason), and the immutable runtime [`Config`] the rest of Warden reads.
//!
//! Loading goes file text → TOML table → one serde pass per section (unknown keys rejected)
//! → validation and secret resolution → [`Config`]. Relative paths are relative to the
//! config file. Secrets come from `secret_env` / `secret_file` (or inline `secret`, which
//! `warden scan` flags) and are wrapped in [`Sensitive`] so they never print.

mod file;
mod model;
mod validate;

pub use model::*;
pub use validate::{load, load_str, EnvSource, ProcessEnv};

use std::fmt;
use std::path::PathBuf;

/// The config file version this build understands.
pub const CONFIG_VERSION: i64 = 1;

/// One problem in a config file: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub file: PathBuf,
    /// Dotted key path, e.g. `auth.keys[0].kind`; empty for file-level problems.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}: {}: {}", self.file.display(), self.key, self.message)
        }
    }
}

/// Every problem found in a config file: shape problems (unknown keys, wrong types) first, then
/// semantic ones (bad addresses, dangling references, unreadable secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "{} problem{} in config:",
            n,
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}
