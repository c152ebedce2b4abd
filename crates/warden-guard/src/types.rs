//! Result vocabulary of a scan: sources, actions, finding kinds, findings and assessments.

use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};

/// Where a text comes from; decides which actions and detectors apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The user's prompt, going to the model.
    #[default]
    Input,
    /// The model's answer, going to the user.
    Output,
    /// A tool's result (or retrieved document) going back to the model: untrusted content,
    /// screened for indirect prompt injection as well as PII and secrets.
    ToolOutput,
}

impl Source {
    /// True when the text flows into the model (input actions apply).
    #[must_use]
    pub fn is_model_bound(self) -> bool {
        matches!(self, Source::Input | Source::ToolOutput)
    }
}

/// What the guardrail did with one finding (Bedrock's assessment-time enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    /// The whole text was replaced by the blocked message.
    Blocked,
    /// The span was replaced by a `{TYPE}` placeholder.
    Anonymized,
    /// Detected and reported only.
    None,
}

impl Action {
    /// Bedrock's wire spelling: `BLOCKED`, `ANONYMIZED`, `NONE`.
    #[must_use]
    pub fn as_bedrock(self) -> &'static str {
        match self {
            Action::Blocked => "BLOCKED",
            Action::Anonymized => "ANONYMIZED",
            Action::None => "NONE",
        }
    }
}

/// Config-time action (Bedrock's `BLOCK | ANONYMIZE | NONE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConfigAction {
    /// Replace the whole text with the blocked message.
    #[serde(rename = "BLOCK", alias = "block")]
    Block,
    /// Replace the span with a `{TYPE}` placeholder.
    #[serde(rename = "ANONYMIZE", alias = "anonymize")]
    Anonymize,
    /// Detect and report only.
    #[serde(rename = "NONE", alias = "none")]
    None,
}

impl ConfigAction {
    /// The assessment-time action this config action produces.
    #[must_use]
    pub fn applied(self) -> Action {
        match self {
            ConfigAction::Block => Action::Blocked,
            ConfigAction::Anonymize => Action::Anonymized,
            ConfigAction::None => Action::None,
        }
    }
}

/// Overall outcome of a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardAction {
    /// Nothing was changed.
    None,
    /// The text was blocked or masked.
    Intervened,
}

macro_rules! pii_types {
    ($($variant:ident => $name:literal, $doc:literal;)*) => {
        /// Bedrock's 31 built-in PII entity types, with Bedrock's exact names.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum PiiType {
            $(
                #[doc = $doc]
                #[serde(rename = $name)]
                $variant,
            )*
        }

        impl PiiType {
            /// Every type, in Bedrock's (alphabetical) order.
            pub const ALL: &'static [PiiType] = &[$(PiiType::$variant,)*];

            /// Bedrock's name, e.g. `US_SOCIAL_SECURITY_NUMBER`.
            #[must_use]
            pub fn name(self) -> &'static str {
                match self { $(PiiType::$variant => $name,)* }
            }

            /// Parses Bedrock's name (exact, upper case).
            #[must_use]
            pub fn from_name(name: &str) -> Option<PiiType> {
                match name { $($name => Some(PiiType::$variant),)* _ => None }
            }
        }
    };
}

pii_types! {
    Address => "ADDRESS", "Postal address (street-address heuristic).";
    Age => "AGE", "Age (\"42 years old\") or a date of birth next to a cue.";
    AwsAccessKey => "AWS_ACCESS_KEY", "AWS access key id (`AKIA…`, `ASIA…`).";
    AwsSecretKey => "AWS_SECRET_KEY", "AWS secret access key (40 chars next to a cue).";
    CaHealthNumber => "CA_HEALTH_NUMBER", "Canadian provincial health number next to a cue.";
    CaSocialInsuranceNumber => "CA_SOCIAL_INSURANCE_NUMBER", "Canadian SIN (Luhn).";
    CreditDebitCardCvv => "CREDIT_DEBIT_CARD_CVV", "Card verification value next to a cue.";
    CreditDebitCardExpiry => "CREDIT_DEBIT_CARD_EXPIRY", "Card expiry date next to a cue.";
    CreditDebitCardNumber => "CREDIT_DEBIT_CARD_NUMBER", "Card number (brand prefix, length, Luhn).";
    DriverId => "DRIVER_ID", "Driver's licence number next to a cue.";
    Email => "EMAIL", "E-mail address.";
    InternationalBankAccountNumber => "INTERNATIONAL_BANK_ACCOUNT_NUMBER", "IBAN (country length, mod-97).";
    IpAddress => "IP_ADDRESS", "IPv4 or IPv6 address.";
    LicensePlate => "LICENSE_PLATE", "Vehicle licence plate next to a cue.";
    MacAddress => "MAC_ADDRESS", "MAC address.";
    Name => "NAME", "Person name (gazetteer and cue heuristic).";
    Password => "PASSWORD", "Password next to a cue.";
    Phone => "PHONE", "Phone number (country code and numbering-plan lengths).";
    Pin => "PIN", "PIN next to a cue.";
    SwiftCode => "SWIFT_CODE", "SWIFT/BIC code.";
    UkNationalHealthServiceNumber => "UK_NATIONAL_HEALTH_SERVICE_NUMBER", "UK NHS number (mod-11).";
    UkNationalInsuranceNumber => "UK_NATIONAL_INSURANCE_NUMBER", "UK National Insurance number (prefix rules).";
    UkUniqueTaxpayerReferenceNumber => "UK_UNIQUE_TAXPAYER_REFERENCE_NUMBER", "UK UTR next to a cue.";
    Url => "URL", "URL.";
    Username => "USERNAME", "User name next to a cue.";
    UsBankAccountNumber => "US_BANK_ACCOUNT_NUMBER", "US bank account number next to a cue.";
    UsBankRoutingNumber => "US_BANK_ROUTING_NUMBER", "ABA routing number (checksum) next to a cue.";
    UsIndividualTaxIdentificationNumber => "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER", "US ITIN (9XX-[50-65|70-88|90-92|94-99]-XXXX).";
    UsPassportNumber => "US_PASSPORT_NUMBER", "US passport number next to a cue.";
    UsSocialSecurityNumber => "US_SOCIAL_SECURITY_NUMBER", "US SSN (area, group, serial rules).";
    VehicleIdentificationNumber => "VEHICLE_IDENTIFICATION_NUMBER", "VIN (ISO 3779, check digit).";
}

impl fmt::Display for PiiType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Kinds of secrets the guard recognises beyond Bedrock's PII types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SecretKind {
    /// PEM or OpenSSH private key block.
    PrivateKey,
    /// JSON Web Token (header decodes to JSON with `alg`).
    Jwt,
    /// GitHub personal access / OAuth / app token.
    GithubToken,
    /// GitLab personal access token.
    GitlabToken,
    /// Slack bot/user token or incoming webhook URL.
    SlackToken,
    /// Stripe secret or restricted key.
    StripeKey,
    /// Google API key (`AIza…`).
    GoogleApiKey,
    /// High-entropy value next to a key word (`api_key=…`).
    GenericSecret,
}

impl SecretKind {
    /// Stable upper-case name used in Bedrock `regexes[].name` and placeholders.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            SecretKind::PrivateKey => "PRIVATE_KEY",
            SecretKind::Jwt => "JWT",
            SecretKind::GithubToken => "GITHUB_TOKEN",
            SecretKind::GitlabToken => "GITLAB_TOKEN",
            SecretKind::SlackToken => "SLACK_TOKEN",
            SecretKind::StripeKey => "STRIPE_KEY",
            SecretKind::GoogleApiKey => "GOOGLE_API_KEY",
            SecretKind::GenericSecret => "GENERIC_SECRET",
        }
    }
}

/// What a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum FindingKind {
    /// A Bedrock PII entity.
    Pii(PiiType),
    /// A credential or token.
    Secret(SecretKind),
    /// A configured denied word or phrase (the configured term, not the matched text).
    Word(String),
    /// A word from the embedded profanity list.
    Profanity,
    /// A denied topic (its configured name).
    Topic(String),
    /// Prompt attack / jailbreak / indirect injection.
    PromptAttack,
    /// The output repeats the agent's own instructions.
    Leakage,
    /// A configured canary token appeared.
    Canary,
    /// A custom regex (its configured name).
    Regex(String),
}

impl FindingKind {
    /// The placeholder used when the span is anonymized, e.g. `{EMAIL}`.
    #[must_use]
    pub fn placeholder(&self) -> String {
        let mut s = String::new();
        self.push_placeholder(&mut s);
        s
    }

    /// Appends [`FindingKind::placeholder`] to `out` without allocating a string of its own.
    pub(crate) fn push_placeholder(&self, out: &mut String) {
        let (name, braces): (&str, bool) = match self {
            FindingKind::Pii(t) => (t.name(), true),
            FindingKind::Secret(s) => (s.name(), true),
            FindingKind::Regex(name) => (name, true),
            FindingKind::Word(_) | FindingKind::Profanity => ("{WORD}", false),
            FindingKind::Topic(_) => ("{TOPIC}", false),
            FindingKind::PromptAttack => ("{PROMPT_ATTACK}", false),
            FindingKind::Leakage => ("{INSTRUCTIONS}", false),
            FindingKind::Canary => ("{CANARY}", false),
        };
        if braces {
            out.push('{');
            out.push_str(name);
            out.push('}');
        } else {
            out.push_str(name);
        }
    }

    #[cfg(test)]
    fn placeholder_by_format(&self) -> String {
        match self {
            FindingKind::Pii(t) => format!("{{{}}}", t.name()),
            FindingKind::Secret(s) => format!("{{{}}}", s.name()),
            FindingKind::Regex(name) => format!("{{{name}}}"),
            FindingKind::Word(_) | FindingKind::Profanity => "{WORD}".to_owned(),
            FindingKind::Topic(_) => "{TOPIC}".to_owned(),
            FindingKind::PromptAttack => "{PROMPT_ATTACK}".to_owned(),
            FindingKind::Leakage => "{INSTRUCTIONS}".to_owned(),
            FindingKind::Canary => "{CANARY}".to_owned(),
        }
    }
}

/// How a finding was reached: in the text itself or inside an encoded blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Base64 (standard or URL-safe).
    Base64,
    /// Hexadecimal bytes.
    Hex,
    /// Percent (URL) encoding.
    Url,
    /// ROT13 (attack phrases only).
    Rot13,
}

/// One detection. Never carries the matched text: only its byte span in the original text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// What was found.
    #[serde(flatten)]
    pub kind: FindingKind,
    /// Byte range in the ORIGINAL scanned text (always on char boundaries).
    pub span: Range<usize>,
    /// What was done about it.
    pub action: Action,
    /// 0.0–1.0; validated patterns are near 1, heuristics lower.
    pub confidence: f32,
    /// Encodings peeled off to reach it (outermost first); empty when found in plain text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub encodings: Vec<Encoding>,
    /// Short, static explanation (e.g. attack family); never user content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'static str>,
}

/// Result of scanning one text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    /// `Intervened` when anything was blocked or anonymized.
    pub action: GuardAction,
    /// True when the text must not be passed on: `output_text` is then the blocked message.
    pub blocked: bool,
    /// Every finding, sorted by span start.
    pub findings: Vec<Finding>,
    /// The text to pass on: anonymized spans replaced, or the blocked message.
    pub output_text: String,
    /// Which source the text was scanned as.
    pub source: Source,
    /// Characters in the original text (Bedrock's `guardrailCoverage` counts characters).
    pub text_chars: usize,
    /// True when a decode limit (depth, bytes or count) stopped rescanning of encodings.
    pub decode_limited: bool,
}

impl Assessment {
    /// Findings of a given kind.
    pub fn of_kind<'a>(&'a self, kind: &'a FindingKind) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| &f.kind == kind)
    }

    /// True when any finding acted (blocked or anonymized).
    #[must_use]
    pub fn intervened(&self) -> bool {
        self.action == GuardAction::Intervened
    }
}

/// What a scan needs besides the text.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanContext<'a> {
    /// Where the text comes from.
    pub source: Source,
    /// The agent's own instructions (system prompt), for instruction-leakage detection on output.
    pub instructions: Option<&'a str>,
}

impl<'a> ScanContext<'a> {
    /// A context for `source` without instructions.
    #[must_use]
    pub fn new(source: Source) -> Self {
        ScanContext {
            source,
            instructions: None,
        }
    }

    /// Adds the agent's instructions (enables leakage detection on `Source::Output`).
    #[must_use]
    pub fn with_instructions(mut self, instructions: &'a str) -> Self {
        self.instructions = Some(instructions);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushed_placeholder_matches_the_formatted_one() {
        let mut kinds: Vec<FindingKind> =
            PiiType::ALL.iter().map(|t| FindingKind::Pii(*t)).collect();
        kinds.extend([
            FindingKind::Secret(SecretKind::GenericSecret),
            FindingKind::Secret(SecretKind::Jwt),
            FindingKind::Regex("OrderNumber".into()),
            FindingKind::Word("competitor-x".into()),
            FindingKind::Profanity,
            FindingKind::Topic("legal-advice".into()),
            FindingKind::PromptAttack,
            FindingKind::Leakage,
            FindingKind::Canary,
        ]);
        for k in kinds {
            assert_eq!(k.placeholder(), k.placeholder_by_format(), "{k:?}");
        }
    }
}
