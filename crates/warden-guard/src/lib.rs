//! Warden's content guardrails: PII, secrets, denied words and topics, prompt attacks,
//! instruction leakage and canary tokens, compiled once from config into a [`Guardrail`] and
//! applied with [`Guardrail::scan`].
//!
//! The crate is pure and synchronous: no IO, no clocks, no async, no `unsafe`. Text is
//! normalised (NFKC, invisible characters removed, homoglyphs folded), obvious encodings are
//! decoded and rescanned within fixed bounds, and every finding carries a byte span in the
//! ORIGINAL text — never the matched value. [`bedrock`] maps results onto Bedrock's
//! `ApplyGuardrail` and `guardrailTrace` wire shapes.
//!
//! Secret scanning (private keys, API tokens, high-entropy values next to key words) is ON in
//! every guardrail with action `BLOCK`, because secrets must never reach the model; a
//! `[secrets]` table only changes the action (`secrets = { action = "NONE" }` reports without
//! acting) or the entropy floor.
//!
//! ```
//! use warden_guard::{Guardrail, GuardrailSpec, Source};
//! let spec: GuardrailSpec = toml::from_str(r#"
//!     [pii]
//!     EMAIL = "ANONYMIZE"
//! "#).unwrap();
//! let g = Guardrail::compile("support", &spec).unwrap();
//! let a = g.scan("write to jane.doe@example.com", Source::Output);
//! assert_eq!(a.output_text, "write to {EMAIL}");
//! ```

mod attack;
pub mod bedrock;
mod decode;
mod error;
mod fxhash;
mod guardrail;
mod leakage;
pub mod normalize;
mod patterns;
#[doc(hidden)]
pub use patterns::builtin_pattern_sources;
mod spec;
mod topics;
mod types;
pub mod validate;
mod words;

pub use error::{GuardCompileError, GuardProblem};
pub use guardrail::{
    Guardrail, Policies, DEFAULT_BLOCKED_MESSAGE, DEFAULT_BLOCKED_TOOL_OUTPUT_MESSAGE,
};
pub use spec::{
    ActionSpec, DecodeSpec, GuardrailSpec, LeakageSpec, RegexSpec, SecretsSpec, Strength,
    TopicSpec, WordsSpec,
};
pub use types::{
    Action, Assessment, ConfigAction, Encoding, Finding, FindingKind, GuardAction, PiiType,
    ScanContext, SecretKind, Source,
};

#[cfg(test)]
mod tests;
