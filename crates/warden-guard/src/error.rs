//! Typed errors: guardrail compilation problems (all reported at once).

use std::fmt;

use thiserror::Error;

/// One problem in a guardrail spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardProblem {
    /// Key path relative to the guardrail table, e.g. `pii.FOO` or `regexes[2].pattern`.
    pub path: String,
    /// Lower-case message; user input in backticks.
    pub message: String,
}

impl GuardProblem {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        GuardProblem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for GuardProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A guardrail spec that cannot be compiled; lists every problem found.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("guardrail `{guardrail}` has {} problem(s): {}", problems.len(), join(problems))]
pub struct GuardCompileError {
    /// The guardrail's name.
    pub guardrail: String,
    /// Every problem, in key order.
    pub problems: Vec<GuardProblem>,
}

fn join(problems: &[GuardProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
