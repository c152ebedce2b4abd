//! Error type for the egress proxy and DNS server.

use std::io;

/// Errors raised while configuring or running the egress listeners.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// A socket operation failed.
    #[error("egress io error: {0}")]
    Io(#[from] io::Error),
    /// An allowlist entry is not `host`, `host:port`, `*.suffix` or `*.suffix:port`.
    #[error("invalid allowlist entry {entry:?}: {why}")]
    InvalidAllowEntry {
        /// The offending entry.
        entry: String,
        /// Why it was rejected.
        why: &'static str,
    },
    /// A host-map name is not a valid DNS name.
    #[error("invalid host map name {0:?}")]
    InvalidHostName(String),
    /// Name resolution failed.
    #[error("cannot resolve {name:?}: {why}")]
    Resolve {
        /// The name being resolved.
        name: String,
        /// Why resolution failed.
        why: String,
    },
    /// The synthetic address pool is exhausted.
    #[error("synthetic address pool exhausted")]
    SyntheticPoolExhausted,
}
