//! Typed errors: per-file parse errors (reported, scan continues) and fatal scan errors.

use std::path::PathBuf;

/// Why one input document could not be read as structured data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Malformed JSON.
    #[error("invalid JSON at line {line}, column {col}: {msg}")]
    Json {
        /// 1-based line.
        line: u32,
        /// 1-based column.
        col: u32,
        /// What was wrong.
        msg: String,
    },
    /// Malformed YAML.
    #[error("invalid YAML at line {line}, column {col}: {msg}")]
    Yaml {
        /// 1-based line.
        line: u32,
        /// 1-based column.
        col: u32,
        /// What was wrong.
        msg: String,
    },
    /// Malformed TOML.
    #[error("invalid TOML at line {line}: {msg}")]
    Toml {
        /// 1-based line.
        line: u32,
        /// What was wrong.
        msg: String,
    },
    /// Malformed HCL.
    #[error("invalid HCL: {msg}")]
    Hcl {
        /// What was wrong.
        msg: String,
    },
    /// Nesting beyond the supported depth.
    #[error("document nests deeper than {limit} levels (line {line})")]
    TooDeep {
        /// The limit.
        limit: usize,
        /// Where the limit was hit.
        line: u32,
    },
    /// Too many values (huge file or YAML alias expansion).
    #[error("document expands to more than {limit} values")]
    TooManyNodes {
        /// The limit.
        limit: usize,
    },
    /// The file is bigger than the configured maximum.
    #[error("file is {size} bytes, larger than the {limit}-byte limit")]
    TooLarge {
        /// File size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Bytes that are not UTF-8.
    #[error("file is not valid UTF-8")]
    NotUtf8,
    /// A structural problem the front end cannot get past (for example a cyclic reference).
    #[error("{msg} (line {line})")]
    Structure {
        /// 1-based line.
        line: u32,
        /// What was wrong.
        msg: String,
    },
}

impl ParseError {
    /// Line the error points at, when known.
    pub fn line(&self) -> Option<u32> {
        match self {
            ParseError::Json { line, .. }
            | ParseError::Yaml { line, .. }
            | ParseError::Toml { line, .. }
            | ParseError::TooDeep { line, .. }
            | ParseError::Structure { line, .. } => Some(*line),
            _ => None,
        }
    }
}

/// Errors that stop a scan as a whole (usage or IO problems), mapped to exit code 2 by the CLI.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// No input path was given.
    #[error("no input paths given")]
    NoPaths,
    /// An input path does not exist.
    #[error("input path `{0}` does not exist")]
    NotFound(PathBuf),
    /// Every input failed to read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The report could not be written.
    #[error("cannot write the report to `{path}`: {source}")]
    Output {
        /// Where the report was going.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The report could not be serialised.
    #[error("cannot serialise the report: {0}")]
    Serialize(#[from] serde_json::Error),
}
