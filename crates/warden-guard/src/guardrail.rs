//! The compiled guardrail: validates a [`GuardrailSpec`] (every problem at once) and scans
//! texts, combining every scanner over the normalised text and its decoded layers.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::RegexBuilder;

use crate::attack::{self, AttackDetector};
use crate::decode;
use crate::error::{GuardCompileError, GuardProblem};
use crate::leakage;
use crate::normalize::Normalized;
use crate::patterns::{CustomRegex, HitKind, PatternScanner};
use crate::spec::{ActionSpec, GuardrailSpec, Strength};
use crate::topics::TopicMatcher;
use crate::types::{
    Action, Assessment, ConfigAction, Encoding, Finding, FindingKind, GuardAction, PiiType,
    ScanContext, Source,
};
use crate::words::{self, WordFilter};

/// Bedrock's default blocked message.
pub const DEFAULT_BLOCKED_MESSAGE: &str = "Sorry, the model cannot answer this question.";
/// What the model sees instead of a blocked tool output.
pub const DEFAULT_BLOCKED_TOOL_OUTPUT_MESSAGE: &str =
    "[tool output withheld by the guardrail: it contained blocked content]";

const DEFAULT_LEAKAGE_THRESHOLD: f32 = 0.3;
const DEFAULT_LEAKAGE_NGRAM: usize = 5;
const DEFAULT_DECODE_DEPTH: usize = 2;
const DEFAULT_DECODE_BYTES: usize = 64 * 1024;
const MAX_DECODED_ITEMS: usize = 64;
const DEFAULT_MIN_ENTROPY: f32 = 3.0;
const DEFAULT_TOPIC_THRESHOLD: f32 = 0.6;

/// A compiled guardrail. Cheap to clone and share across threads.
#[derive(Debug, Clone)]
pub struct Guardrail {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    pii_actions: HashMap<PiiType, ActionSpec>,
    patterns: PatternScanner,
    /// Action for secrets; secret scanning is always on (default `BLOCK`).
    secrets_action: ConfigAction,
    /// Whether the config has a `[secrets]` table (counts as a configured policy).
    secrets_configured: bool,
    custom: Vec<CustomInfo>,
    words: Option<WordsCompiled>,
    topics: Option<(TopicMatcher, Vec<TopicInfo>)>,
    attack: Option<AttackCompiled>,
    leakage: Option<LeakageCompiled>,
    canary: Option<AhoCorasick>,
    decode: Option<(usize, usize)>,
    blocked_input: String,
    blocked_output: String,
    blocked_tool_output: String,
}

#[derive(Debug)]
struct CustomInfo {
    name: String,
    pattern: String,
    action: ActionSpec,
}

#[derive(Debug)]
struct WordsCompiled {
    filter: WordFilter,
    action: ConfigAction,
    profanity_action: ConfigAction,
    has_terms: bool,
    profanity: bool,
}

#[derive(Debug)]
struct TopicInfo {
    name: String,
    action: ConfigAction,
}

#[derive(Debug)]
struct AttackCompiled {
    detector: AttackDetector,
    strength: Strength,
    threshold: f32,
    action: ConfigAction,
}

#[derive(Debug)]
struct LeakageCompiled {
    threshold: f32,
    ngram: usize,
    action: ConfigAction,
}

/// A finding inside one layer, span in that layer's normalised bytes.
#[derive(Debug, Clone)]
struct LayerFinding {
    kind: FindingKind,
    start: usize,
    end: usize,
    confidence: f32,
    detail: Option<&'static str>,
    encodings: Vec<Encoding>,
}

struct ScanState {
    budget: usize,
    limited: bool,
    /// Prompt-attack hits of the top layer, when computed ahead (see `scan_with`).
    top_attack: Option<Vec<attack::AttackHit>>,
}

fn block_or_none(path: &str, a: ConfigAction, problems: &mut Vec<GuardProblem>) {
    if a == ConfigAction::Anonymize {
        problems.push(GuardProblem::new(
            path,
            "only `BLOCK` or `NONE` is allowed here (`ANONYMIZE` applies to PII, secrets and regexes)",
        ));
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b' ' | b'.'))
}

impl Guardrail {
    /// Validates `spec` and compiles every scanner. Reports every problem at once.
    ///
    /// # Errors
    /// [`GuardCompileError`] listing each problem with its key path (e.g. `pii.FOO`,
    /// `regexes[2].pattern`).
    #[allow(clippy::too_many_lines)]
    pub fn compile(name: &str, spec: &GuardrailSpec) -> Result<Guardrail, GuardCompileError> {
        let mut problems: Vec<GuardProblem> = Vec::new();

        // PII
        let mut pii_actions = HashMap::new();
        for (key, action) in &spec.pii {
            match PiiType::from_name(key) {
                Some(t) => {
                    pii_actions.insert(t, *action);
                }
                None => {
                    let hint = PiiType::from_name(&key.to_ascii_uppercase())
                        .map(|t| format!(" (did you mean `{t}`?)"))
                        .unwrap_or_default();
                    let valid: Vec<&str> = PiiType::ALL.iter().map(|t| t.name()).collect();
                    problems.push(GuardProblem::new(
                        format!("pii.{key}"),
                        format!(
                            "unknown PII type `{key}`{hint}; valid types: {}",
                            valid.join(", ")
                        ),
                    ));
                }
            }
        }

        // Secrets: on by default (BLOCK), because secrets must never reach the model; a
        // `[secrets]` table changes the action (`NONE` = report only) or the entropy floor.
        let (secrets_action, min_entropy) = match &spec.secrets {
            Some(s) => {
                let e = s.min_entropy.unwrap_or(DEFAULT_MIN_ENTROPY);
                if !(0.0..=8.0).contains(&e) || e.is_nan() {
                    problems.push(GuardProblem::new(
                        "secrets.min_entropy",
                        format!("must be between 0 and 8 bits per character, got `{e}`"),
                    ));
                }
                (s.action, e)
            }
            None => (ConfigAction::Block, DEFAULT_MIN_ENTROPY),
        };

        // Custom regexes
        let mut custom = Vec::new();
        let mut custom_res = Vec::new();
        let mut seen_names = HashSet::new();
        for (i, r) in spec.regexes.iter().enumerate() {
            if !valid_name(&r.name) {
                problems.push(GuardProblem::new(
                    format!("regexes[{i}].name"),
                    format!(
                        "name `{}` must be 1–100 characters of letters, digits, `_`, `-`, `.` or space",
                        r.name
                    ),
                ));
            } else if !seen_names.insert(r.name.clone()) {
                problems.push(GuardProblem::new(
                    format!("regexes[{i}].name"),
                    format!("duplicate regex name `{}`", r.name),
                ));
            }
            match RegexBuilder::new(&r.pattern)
                .size_limit(1 << 20)
                .dfa_size_limit(2 << 20)
                .build()
            {
                Ok(re) => {
                    if r.pattern.is_empty() || re.is_match("") {
                        problems.push(GuardProblem::new(
                            format!("regexes[{i}].pattern"),
                            format!("pattern `{}` matches the empty string", r.pattern),
                        ));
                    } else {
                        custom_res.push(CustomRegex { re });
                        custom.push(CustomInfo {
                            name: r.name.clone(),
                            pattern: r.pattern.clone(),
                            action: r.action,
                        });
                    }
                }
                Err(e) => {
                    let msg = e.to_string().replace('\n', " ");
                    problems.push(GuardProblem::new(
                        format!("regexes[{i}].pattern"),
                        format!("invalid regex `{}`: {}", r.pattern, msg.trim()),
                    ));
                }
            }
        }

        // Topics
        let mut topic_infos = Vec::new();
        let mut topic_defs = Vec::new();
        let mut topic_names = HashSet::new();
        for (i, t) in spec.denied_topics.iter().enumerate() {
            if !valid_name(&t.name) {
                problems.push(GuardProblem::new(
                    format!("denied_topics[{i}].name"),
                    format!(
                        "name `{}` must be 1–100 characters of letters, digits, `_`, `-`, `.` or space",
                        t.name
                    ),
                ));
            } else if !topic_names.insert(t.name.clone()) {
                problems.push(GuardProblem::new(
                    format!("denied_topics[{i}].name"),
                    format!("duplicate topic name `{}`", t.name),
                ));
            }
            if t.definition.trim().is_empty() && t.examples.iter().all(|e| e.trim().is_empty()) {
                problems.push(GuardProblem::new(
                    format!("denied_topics[{i}]"),
                    "needs a `definition` or at least one example",
                ));
            }
            for (j, e) in t.examples.iter().enumerate() {
                if e.trim().is_empty() {
                    problems.push(GuardProblem::new(
                        format!("denied_topics[{i}].examples[{j}]"),
                        "example is empty",
                    ));
                }
            }
            let th = t.threshold.unwrap_or(DEFAULT_TOPIC_THRESHOLD);
            if !(th > 0.0 && th <= 1.0) {
                problems.push(GuardProblem::new(
                    format!("denied_topics[{i}].threshold"),
                    format!("must be in (0, 1], got `{th}`"),
                ));
            }
            block_or_none(
                &format!("denied_topics[{i}].action"),
                t.action,
                &mut problems,
            );
            topic_defs.push((t.name.clone(), t.definition.clone(), t.examples.clone(), th));
            topic_infos.push(TopicInfo {
                name: t.name.clone(),
                action: t.action,
            });
        }

        // Words
        let words = match &spec.words {
            Some(w) => {
                let d = w.fuzzy_distance.unwrap_or(1);
                if d > 3 {
                    problems.push(GuardProblem::new(
                        "words.fuzzy_distance",
                        format!("must be 0–3, got `{d}`"),
                    ));
                }
                block_or_none("words.action", w.action, &mut problems);
                block_or_none("words.profanity_action", w.profanity_action, &mut problems);
                let (filter, bad) = WordFilter::new(&w.deny, d.min(3) as usize, w.profanity);
                for i in bad {
                    problems.push(GuardProblem::new(
                        format!("words.deny[{i}]"),
                        format!(
                            "word `{}` has no letters or digits",
                            w.deny.get(i).map_or("", String::as_str)
                        ),
                    ));
                }
                (!w.deny.is_empty() || w.profanity).then_some(WordsCompiled {
                    filter,
                    action: w.action,
                    profanity_action: w.profanity_action,
                    has_terms: !w.deny.is_empty(),
                    profanity: w.profanity,
                })
            }
            None => None,
        };

        // Prompt attack
        let attack_action = spec.prompt_attack_action.unwrap_or(ConfigAction::Block);
        block_or_none("prompt_attack_action", attack_action, &mut problems);
        let attack = spec
            .prompt_attack
            .threshold()
            .map(|threshold| AttackCompiled {
                detector: AttackDetector::new(),
                strength: spec.prompt_attack,
                threshold,
                action: attack_action,
            });

        // Leakage
        let lk = spec.leakage.clone().unwrap_or_default();
        let threshold = lk.threshold.unwrap_or(DEFAULT_LEAKAGE_THRESHOLD);
        if !(threshold > 0.0 && threshold <= 1.0) {
            problems.push(GuardProblem::new(
                "leakage.threshold",
                format!("must be in (0, 1], got `{threshold}`"),
            ));
        }
        let ngram = lk.ngram.unwrap_or(DEFAULT_LEAKAGE_NGRAM as u32);
        if !(3..=12).contains(&ngram) {
            problems.push(GuardProblem::new(
                "leakage.ngram",
                format!("must be 3–12, got `{ngram}`"),
            ));
        }
        block_or_none("leakage.action", lk.action, &mut problems);
        let leakage = Some(LeakageCompiled {
            threshold,
            ngram: ngram as usize,
            action: lk.action,
        });

        // Canaries
        let mut canaries = Vec::new();
        for (i, c) in spec.canary_tokens.iter().enumerate() {
            let n = Normalized::new(c).text;
            if n.trim().chars().count() < 6 {
                problems.push(GuardProblem::new(
                    format!("canary_tokens[{i}]"),
                    "canary token must be at least 6 characters",
                ));
            } else {
                canaries.push(n.trim().to_owned());
            }
        }
        let canary = if canaries.is_empty() {
            None
        } else {
            // Matched against the ASCII-lower-cased text, which is the same as matching the
            // tokens ASCII-case-insensitively, and lets the matcher use a literal prefilter.
            let lowered: Vec<String> = canaries.iter().map(|c| c.to_ascii_lowercase()).collect();
            match AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&lowered)
            {
                Ok(ac) => Some(ac),
                Err(e) => {
                    problems.push(GuardProblem::new(
                        "canary_tokens",
                        format!("cannot build matcher: {e}"),
                    ));
                    None
                }
            }
        };

        // Decode
        let dec = spec.decode.clone().unwrap_or_default();
        let depth = dec.max_depth.unwrap_or(DEFAULT_DECODE_DEPTH as u32);
        if !(1..=4).contains(&depth) {
            problems.push(GuardProblem::new(
                "decode.max_depth",
                format!("must be 1–4, got `{depth}`"),
            ));
        }
        let bytes = dec.max_decoded_bytes.unwrap_or(DEFAULT_DECODE_BYTES as u64);
        if bytes > 16 << 20 {
            problems.push(GuardProblem::new(
                "decode.max_decoded_bytes",
                format!("must be at most 16777216, got `{bytes}`"),
            ));
        }
        let decode = dec.enabled.then_some((
            depth as usize,
            usize::try_from(bytes).unwrap_or(DEFAULT_DECODE_BYTES),
        ));

        // Messages
        for (path, m) in [
            ("blocked_input_message", &spec.blocked_input_message),
            ("blocked_output_message", &spec.blocked_output_message),
            (
                "blocked_tool_output_message",
                &spec.blocked_tool_output_message,
            ),
        ] {
            if let Some(m) = m {
                if m.trim().is_empty() {
                    problems.push(GuardProblem::new(path, "message must not be empty"));
                } else if m.len() > 500 {
                    problems.push(GuardProblem::new(path, "message must be at most 500 bytes"));
                }
            }
        }

        if !problems.is_empty() {
            return Err(GuardCompileError {
                guardrail: name.to_owned(),
                problems,
            });
        }

        let topic_refs: Vec<(&str, &str, &[String], f32)> = topic_defs
            .iter()
            .map(|(n, d, e, t)| (n.as_str(), d.as_str(), e.as_slice(), *t))
            .collect();
        let topics =
            (!topic_infos.is_empty()).then(|| (TopicMatcher::new(&topic_refs), topic_infos));
        let patterns = PatternScanner::new(
            pii_actions.keys().copied().collect(),
            true,
            min_entropy,
            custom_res,
        );
        Ok(Guardrail {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                pii_actions,
                patterns,
                secrets_action,
                secrets_configured: spec.secrets.is_some(),
                custom,
                words,
                topics,
                attack,
                leakage,
                canary,
                decode,
                blocked_input: spec
                    .blocked_input_message
                    .clone()
                    .unwrap_or_else(|| DEFAULT_BLOCKED_MESSAGE.to_owned()),
                blocked_output: spec
                    .blocked_output_message
                    .clone()
                    .unwrap_or_else(|| DEFAULT_BLOCKED_MESSAGE.to_owned()),
                blocked_tool_output: spec
                    .blocked_tool_output_message
                    .clone()
                    .unwrap_or_else(|| DEFAULT_BLOCKED_TOOL_OUTPUT_MESSAGE.to_owned()),
            }),
        })
    }

    /// The guardrail's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The message that replaces a blocked text from `source`.
    #[must_use]
    pub fn blocked_message(&self, source: Source) -> &str {
        match source {
            Source::Input => &self.inner.blocked_input,
            Source::Output => &self.inner.blocked_output,
            Source::ToolOutput => &self.inner.blocked_tool_output,
        }
    }

    /// Configured prompt-attack strength.
    #[must_use]
    pub fn prompt_attack_strength(&self) -> Strength {
        self.inner
            .attack
            .as_ref()
            .map_or(Strength::None, |a| a.strength)
    }

    /// Configured denied-topic names, in config order.
    pub fn topic_names(&self) -> impl Iterator<Item = &str> {
        self.inner
            .topics
            .iter()
            .flat_map(|(_, infos)| infos.iter().map(|i| i.name.as_str()))
    }

    /// The pattern of the custom regex called `name`.
    #[must_use]
    pub fn regex_pattern(&self, name: &str) -> Option<&str> {
        self.inner
            .custom
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.pattern.as_str())
    }

    /// Which policies are configured: (topics, content filters, words, sensitive information).
    /// The default-on secret scan counts towards sensitive information only when a
    /// `[secrets]` table is configured (so Bedrock usage and traces of guardrails without one
    /// are unchanged); its findings are reported either way.
    #[must_use]
    pub fn policies(&self) -> Policies {
        let i = &self.inner;
        Policies {
            topics: i.topics.is_some(),
            content: i.attack.is_some(),
            words: i.words.is_some(),
            sensitive_information: !i.pii_actions.is_empty()
                || i.secrets_configured
                || !i.custom.is_empty()
                || i.canary.is_some(),
        }
    }

    /// Scans `text` from `source`.
    #[must_use]
    pub fn scan(&self, text: &str, source: Source) -> Assessment {
        self.scan_with(text, ScanContext::new(source))
    }

    /// Scans `text` with a full context (source, agent instructions for leakage detection).
    #[must_use]
    pub fn scan_with(&self, text: &str, cx: ScanContext<'_>) -> Assessment {
        let norm = Normalized::new(text);
        let mut st = ScanState {
            budget: self.inner.decode.map_or(0, |(_, b)| b),
            limited: false,
            top_attack: None,
        };
        // The top layer's lower-cased copy and word tokens are shared by every scanner.
        let lower = norm.text.to_ascii_lowercase();
        let needs_tokens = self.inner.words.is_some()
            || self.inner.topics.is_some()
            || (cx.source == Source::Output && cx.instructions.is_some());
        let toks = if needs_tokens {
            words::tokens(&lower)
        } else {
            Vec::new()
        };
        // When the top layer gets both prompt-attack scans (plain, and ROT13 in `top_only`),
        // one pass over `lower` finds the hits of both.
        let mut attack_hits = None;
        if let (Some(a), Some(_)) = (&self.inner.attack, self.inner.decode) {
            if cx.source.is_model_bound() && lower.bytes().any(|b| b.is_ascii_alphabetic()) {
                let (mut plain, mut rot) = (Vec::new(), Vec::new());
                a.detector.scan_with_rot13(
                    &lower,
                    cx.source == Source::ToolOutput,
                    &mut plain,
                    &mut rot,
                );
                attack_hits = Some((plain, rot));
            }
        }
        let (plain_hits, rot_hits) = attack_hits.unzip();
        st.top_attack = plain_hits;
        let mut layer = self.scan_layer_with(&norm.text, &lower, &toks, 0, cx.source, &mut st);
        self.top_only(&lower, &toks, cx, &mut layer, rot_hits);
        drop_redundant_generic(&mut layer);

        let model_bound = cx.source.is_model_bound();
        let mut findings: Vec<Finding> = layer
            .into_iter()
            .filter_map(|lf| {
                let action = self.action_for(&lf.kind, model_bound)?;
                let span = norm.to_original(lf.start, lf.end);
                Some(Finding {
                    kind: lf.kind,
                    span,
                    action,
                    confidence: lf.confidence,
                    encodings: lf.encodings,
                    detail: lf.detail,
                })
            })
            .collect();
        findings.sort_by(|a, b| {
            a.span
                .start
                .cmp(&b.span.start)
                .then(b.span.end.cmp(&a.span.end))
        });
        findings.dedup_by(|b, a| {
            // `a` is the kept (earlier) one
            if a.kind == b.kind && a.span == b.span {
                a.confidence = a.confidence.max(b.confidence);
                true
            } else {
                false
            }
        });

        let blocked = findings.iter().any(|f| f.action == Action::Blocked);
        let anonymized = findings.iter().any(|f| f.action == Action::Anonymized);
        let output_text = if blocked {
            self.blocked_message(cx.source).to_owned()
        } else if anonymized {
            anonymize(text, &findings)
        } else {
            text.to_owned()
        };
        Assessment {
            action: if blocked || anonymized {
                GuardAction::Intervened
            } else {
                GuardAction::None
            },
            blocked,
            findings,
            output_text,
            source: cx.source,
            text_chars: text.chars().count(),
            decode_limited: st.limited,
        }
    }

    /// The assessment-time action for a finding kind; `None` drops the finding (not configured).
    fn action_for(&self, kind: &FindingKind, model_bound: bool) -> Option<Action> {
        let i = &self.inner;
        let a = match kind {
            FindingKind::Pii(t) => i.pii_actions.get(t)?.for_direction(model_bound),
            FindingKind::Secret(_) => i.secrets_action,
            FindingKind::Regex(name) => i
                .custom
                .iter()
                .find(|c| &c.name == name)?
                .action
                .for_direction(model_bound),
            FindingKind::Word(_) => i.words.as_ref()?.action,
            FindingKind::Profanity => i.words.as_ref()?.profanity_action,
            FindingKind::Topic(name) => {
                i.topics
                    .as_ref()?
                    .1
                    .iter()
                    .find(|t| &t.name == name)?
                    .action
            }
            FindingKind::PromptAttack => i.attack.as_ref()?.action,
            FindingKind::Leakage => i.leakage.as_ref()?.action,
            FindingKind::Canary => ConfigAction::Block,
        };
        Some(a.applied())
    }

    fn scan_layer(
        &self,
        text: &str,
        depth: usize,
        source: Source,
        st: &mut ScanState,
    ) -> Vec<LayerFinding> {
        let lower = text.to_ascii_lowercase();
        let toks = if self.inner.words.is_some() {
            words::tokens(&lower)
        } else {
            Vec::new()
        };
        self.scan_layer_with(text, &lower, &toks, depth, source, st)
    }

    /// Scans one layer given its lower-cased copy and (when word filters are on) its tokens.
    fn scan_layer_with(
        &self,
        text: &str,
        lower: &str,
        toks: &[words::Token<'_>],
        depth: usize,
        source: Source,
        st: &mut ScanState,
    ) -> Vec<LayerFinding> {
        let i = &self.inner;
        let mut out = Vec::new();

        if !i.patterns.is_empty() {
            let mut hits = Vec::new();
            i.patterns.scan(text, lower, &mut hits);
            for h in hits {
                let kind = match h.kind {
                    HitKind::Pii(t) => FindingKind::Pii(t),
                    HitKind::Secret(s) => FindingKind::Secret(s),
                    HitKind::Custom(ci) => match i.custom.get(ci) {
                        Some(c) => FindingKind::Regex(c.name.clone()),
                        None => continue,
                    },
                };
                out.push(LayerFinding {
                    kind,
                    start: h.start,
                    end: h.end,
                    confidence: h.confidence,
                    detail: h.detail,
                    encodings: Vec::new(),
                });
            }
        }

        if let Some(w) = &i.words {
            let mut hits = Vec::new();
            w.filter.scan(lower, toks, &mut hits);
            for h in hits {
                let kind = match h.term {
                    Some(t) if w.has_terms => FindingKind::Word(w.filter.term_name(t).to_owned()),
                    None if w.profanity => FindingKind::Profanity,
                    _ => continue,
                };
                out.push(LayerFinding {
                    kind,
                    start: h.start,
                    end: h.end,
                    confidence: h.confidence,
                    detail: None,
                    encodings: Vec::new(),
                });
            }
        }

        if let Some(a) = &i.attack {
            if source.is_model_bound() {
                let ahead = if depth == 0 {
                    st.top_attack.take()
                } else {
                    None
                };
                let hits = ahead.unwrap_or_else(|| {
                    let mut hits = Vec::new();
                    a.detector
                        .scan(lower, source == Source::ToolOutput, &mut hits);
                    hits
                });
                // Text that had to be decoded to reveal an attack is itself an encoding trick.
                let boost = if depth > 0 && !hits.is_empty() {
                    0.5
                } else {
                    0.0
                };
                let conf = 1.0 - (1.0 - attack::confidence(&hits)) * (1.0 - boost);
                if conf >= a.threshold {
                    for h in &hits {
                        out.push(LayerFinding {
                            kind: FindingKind::PromptAttack,
                            start: h.start,
                            end: h.end,
                            confidence: conf,
                            detail: Some(h.family.name()),
                            encodings: Vec::new(),
                        });
                    }
                }
            }
        }

        if let Some(ac) = &i.canary {
            // `lower` has the same byte offsets as `text`.
            for m in ac.find_iter(lower) {
                out.push(LayerFinding {
                    kind: FindingKind::Canary,
                    start: m.start(),
                    end: m.end(),
                    confidence: 1.0,
                    detail: None,
                    encodings: Vec::new(),
                });
            }
        }

        if let Some((max_depth, _)) = i.decode {
            if depth < max_depth && st.budget > 0 {
                let (decoded, limited) = decode::find(text, &mut st.budget, MAX_DECODED_ITEMS);
                st.limited |= limited;
                for d in decoded {
                    let sub = Normalized::new(&d.text);
                    for mut f in self.scan_layer(&sub.text, depth + 1, source, st) {
                        f.start = d.start;
                        f.end = d.end;
                        f.encodings.insert(0, d.encoding);
                        out.push(f);
                    }
                }
            } else if depth >= max_depth && depth > 0 {
                // Deeper layers are not decoded; note it only if more encodings are present.
                let mut probe = 1 << 12;
                if !decode::find(text, &mut probe, 1).0.is_empty() {
                    st.limited = true;
                }
            }
        }
        out
    }

    /// Scanners that run on the top layer only: topics, leakage, rot13-hidden attacks.
    /// `lower` is the top layer's lower-cased normalised text; `toks` its word tokens (present
    /// whenever topics or leakage need them).
    fn top_only(
        &self,
        lower: &str,
        toks: &[words::Token<'_>],
        cx: ScanContext<'_>,
        out: &mut Vec<LayerFinding>,
        rot_hits: Option<Vec<attack::AttackHit>>,
    ) {
        let i = &self.inner;
        if let Some((matcher, infos)) = &i.topics {
            let mut hits = Vec::new();
            matcher.scan(lower, toks, &mut hits);
            for h in hits {
                if let Some(info) = infos.get(h.topic) {
                    out.push(LayerFinding {
                        kind: FindingKind::Topic(info.name.clone()),
                        start: h.start,
                        end: h.end,
                        confidence: h.score,
                        detail: None,
                        encodings: Vec::new(),
                    });
                }
            }
        }
        if let (Some(l), Some(instr), Source::Output) = (&i.leakage, cx.instructions, cx.source) {
            if let Some(h) = leakage::check(instr, toks, l.ngram, l.threshold) {
                out.push(LayerFinding {
                    kind: FindingKind::Leakage,
                    start: h.start,
                    end: h.end,
                    confidence: h.containment.max(if h.longest_run_words >= 24 {
                        0.9
                    } else {
                        0.0
                    }),
                    detail: None,
                    encodings: Vec::new(),
                });
            }
        }
        if let (Some(a), Some(_)) = (&i.attack, i.decode) {
            if cx.source.is_model_bound() && lower.bytes().any(|b| b.is_ascii_alphabetic()) {
                let hits = rot_hits.unwrap_or_else(|| {
                    let rotated = attack::rot13(lower);
                    let mut hits = Vec::new();
                    a.detector
                        .scan(&rotated, cx.source == Source::ToolOutput, &mut hits);
                    hits
                });
                let conf = 1.0 - (1.0 - attack::confidence(&hits)) * 0.5;
                if !hits.is_empty() && conf >= a.threshold {
                    for h in hits {
                        out.push(LayerFinding {
                            kind: FindingKind::PromptAttack,
                            start: h.start,
                            end: h.end,
                            confidence: conf,
                            detail: Some(attack::Family::Encoding.name()),
                            encodings: vec![Encoding::Rot13],
                        });
                    }
                }
            }
        }
    }
}

/// Which policy families a guardrail has configured (for Bedrock usage and assessments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policies {
    /// Denied topics.
    pub topics: bool,
    /// Content filters (prompt attack).
    pub content: bool,
    /// Word filters.
    pub words: bool,
    /// PII, secrets, custom regexes, canaries.
    pub sensitive_information: bool,
}

/// A generic "key word + high-entropy value" hit is redundant when a specific detector
/// (JWT, AWS secret key, password, canary, …) already covers the same bytes.
fn drop_redundant_generic(findings: &mut Vec<LayerFinding>) {
    let generic = FindingKind::Secret(crate::types::SecretKind::GenericSecret);
    let covered: Vec<(usize, usize, Vec<Encoding>)> = findings
        .iter()
        .filter(|f| {
            f.kind != generic
                && matches!(
                    f.kind,
                    FindingKind::Secret(_)
                        | FindingKind::Canary
                        | FindingKind::Pii(
                            PiiType::AwsSecretKey | PiiType::AwsAccessKey | PiiType::Password
                        )
                )
        })
        .map(|f| (f.start, f.end, f.encodings.clone()))
        .collect();
    if covered.is_empty() {
        return;
    }
    findings.retain(|f| {
        f.kind != generic
            || !covered
                .iter()
                .any(|(s, e, enc)| *enc == f.encodings && f.start < *e && *s < f.end)
    });
}

/// Replaces every anonymized span with its placeholder; overlapping spans are merged.
fn anonymize(text: &str, findings: &[Finding]) -> String {
    let mut spans: Vec<(usize, usize, &FindingKind)> = findings
        .iter()
        .filter(|f| f.action == Action::Anonymized)
        .map(|f| (f.span.start, f.span.end, &f.kind))
        .collect();
    spans.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for (s, e, p) in spans {
        if s < pos {
            // overlaps the previous replacement: extend it if needed
            pos = pos.max(e);
            continue;
        }
        if let Some(chunk) = text.get(pos..s) {
            out.push_str(chunk);
        }
        p.push_placeholder(&mut out);
        pos = e;
    }
    if let Some(rest) = text.get(pos..) {
        out.push_str(rest);
    }
    out
}
