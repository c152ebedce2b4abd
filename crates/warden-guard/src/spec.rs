//! File model of one `[guardrails.NAME]` table of warden.toml (serde), before validation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::types::ConfigAction;

/// Strength of a filter (`none | low | medium | high`): the lowest confidence that acts.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Strength {
    /// Off.
    #[default]
    #[serde(alias = "NONE")]
    None,
    /// Acts only on high-confidence detections.
    #[serde(alias = "LOW")]
    Low,
    /// Acts on medium and high confidence.
    #[serde(alias = "MEDIUM")]
    Medium,
    /// Acts on low, medium and high confidence.
    #[serde(alias = "HIGH")]
    High,
}

impl Strength {
    /// Bedrock's wire spelling.
    #[must_use]
    pub fn as_bedrock(self) -> &'static str {
        match self {
            Strength::None => "NONE",
            Strength::Low => "LOW",
            Strength::Medium => "MEDIUM",
            Strength::High => "HIGH",
        }
    }

    /// The lowest confidence score (0–1) that this strength acts on; `None` never acts.
    #[must_use]
    pub fn threshold(self) -> Option<f32> {
        match self {
            Strength::None => None,
            Strength::Low => Some(0.85),
            Strength::Medium => Some(0.6),
            Strength::High => Some(0.35),
        }
    }
}

/// An action for one entity: one value for both directions, or one per direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ActionSpec {
    /// `EMAIL = "ANONYMIZE"`.
    Both(ConfigAction),
    /// `EMAIL = { input = "NONE", output = "ANONYMIZE" }`.
    PerSource {
        /// For input and tool output (text going to the model).
        #[serde(default = "action_none")]
        input: ConfigAction,
        /// For output (text going to the user).
        #[serde(default = "action_none")]
        output: ConfigAction,
    },
}

fn action_none() -> ConfigAction {
    ConfigAction::None
}

fn action_block() -> ConfigAction {
    ConfigAction::Block
}

impl ActionSpec {
    /// The action for text going to the model (`true`) or to the user (`false`).
    #[must_use]
    pub fn for_direction(self, model_bound: bool) -> ConfigAction {
        match self {
            ActionSpec::Both(a) => a,
            ActionSpec::PerSource { input, output } => {
                if model_bound {
                    input
                } else {
                    output
                }
            }
        }
    }
}

/// One `[guardrails.NAME]` table. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardrailSpec {
    /// Free text for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Prompt-attack filter strength on input and tool output.
    #[serde(default)]
    pub prompt_attack: Strength,
    /// `BLOCK` (default) or `NONE` (detect only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_attack_action: Option<ConfigAction>,
    /// Text returned instead of a blocked input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_input_message: Option<String>,
    /// Text returned instead of a blocked output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_output_message: Option<String>,
    /// Text given to the model instead of a blocked tool output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_tool_output_message: Option<String>,
    /// Bedrock PII type name → action.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pii: BTreeMap<String, ActionSpec>,
    /// Secret scanning (private keys, tokens, high-entropy values next to key words). Secret
    /// scanning is ON even without this table, with action `BLOCK`: secrets must never reach
    /// the model. Use the table to change the action (`secrets = { action = "NONE" }` only
    /// reports them, never blocks or anonymizes) or the entropy floor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<SecretsSpec>,
    /// Custom regexes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regexes: Vec<RegexSpec>,
    /// Denied topics.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied_topics: Vec<TopicSpec>,
    /// Word filters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub words: Option<WordsSpec>,
    /// Instruction leakage on output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leakage: Option<LeakageSpec>,
    /// Strings that must never appear (in any source); always blocked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canary_tokens: Vec<String>,
    /// Decoding of obvious encodings (base64, hex, URL, rot13) before rescanning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode: Option<DecodeSpec>,
}

/// `[guardrails.NAME.secrets]`. Optional: without it, secrets are detected and blocked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsSpec {
    /// Action for every secret kind (default `BLOCK`).
    #[serde(default = "action_block")]
    pub action: ConfigAction,
    /// Minimum Shannon entropy (bits per char) of a generic secret value; default 3.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_entropy: Option<f32>,
}

impl Default for SecretsSpec {
    fn default() -> Self {
        SecretsSpec {
            action: ConfigAction::Block,
            min_entropy: None,
        }
    }
}

/// `[[guardrails.NAME.regexes]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegexSpec {
    /// Name reported in findings and the `{NAME}` placeholder.
    pub name: String,
    /// Rust `regex` syntax.
    pub pattern: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Default `BLOCK`.
    #[serde(default = "default_regex_action")]
    pub action: ActionSpec,
}

fn default_regex_action() -> ActionSpec {
    ActionSpec::Both(ConfigAction::Block)
}

/// `[[guardrails.NAME.denied_topics]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSpec {
    /// Name reported in findings.
    pub name: String,
    /// One sentence describing the topic; its keywords count as evidence.
    #[serde(default)]
    pub definition: String,
    /// Example phrases; close variants match.
    #[serde(default)]
    pub examples: Vec<String>,
    /// `BLOCK` (default) or `NONE`.
    #[serde(default = "action_block")]
    pub action: ConfigAction,
    /// Similarity (0–1) at which a sentence matches; default 0.6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f32>,
}

/// `[guardrails.NAME.words]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WordsSpec {
    /// Denied words or phrases (case, whitespace and punctuation between words are folded).
    #[serde(default)]
    pub deny: Vec<String>,
    /// Embedded profanity list.
    #[serde(default)]
    pub profanity: bool,
    /// Maximum edit distance for fuzzy matching of denied words (0 = exact); default 1.
    /// Terms shorter than 5 characters always match exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuzzy_distance: Option<u32>,
    /// `BLOCK` (default) or `NONE`.
    #[serde(default = "action_block")]
    pub action: ConfigAction,
    /// Action for profanity; `BLOCK` (default) or `NONE`.
    #[serde(default = "action_block")]
    pub profanity_action: ConfigAction,
}

impl Default for WordsSpec {
    fn default() -> Self {
        WordsSpec {
            deny: Vec::new(),
            profanity: false,
            fuzzy_distance: None,
            action: ConfigAction::Block,
            profanity_action: ConfigAction::Block,
        }
    }
}

/// `[guardrails.NAME.leakage]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeakageSpec {
    /// Share (0–1) of the instructions' word n-grams found in the output that triggers; default 0.3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f32>,
    /// n of the word n-grams; default 5 (3–12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ngram: Option<u32>,
    /// `BLOCK` (default) or `NONE`.
    #[serde(default = "action_block")]
    pub action: ConfigAction,
}

impl Default for LeakageSpec {
    fn default() -> Self {
        LeakageSpec {
            threshold: None,
            ngram: None,
            action: ConfigAction::Block,
        }
    }
}

/// `[guardrails.NAME.decode]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecodeSpec {
    /// Decode and rescan base64 / hex / URL encodings and rot13 attack phrases; default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Nesting depth (1–4); default 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_depth: Option<u32>,
    /// Total decoded bytes per scan; default 65536.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_decoded_bytes: Option<u64>,
}

fn yes() -> bool {
    true
}

impl Default for DecodeSpec {
    fn default() -> Self {
        DecodeSpec {
            enabled: true,
            max_depth: None,
            max_decoded_bytes: None,
        }
    }
}
