//! Pattern scanner for PII, secrets and custom regexes: candidate regexes over the normalised
//! text, then validators (checksums, numbering plans, context cues) on each candidate.
//!
//! No candidate regex makes a blind pass over the whole text unless the regex engine can skip
//! ahead on a literal prefix (secrets, e-mail, URL). The others search only where a match can
//! be: windows around cue words (one Aho-Corasick pass), maximal runs of the bytes a match can
//! contain that hold one of its anchor bytes (one byte pass for all of them), anchored at the
//! positions an address can start, or a hand-written scan (capitalised words for names). Each
//! gate is exact: it finds the same matches a full pass would.

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use base64::Engine as _;
use regex::Regex;
use regex_automata::util::captures::Captures;
use regex_automata::{meta, Anchored, Input};

use crate::fxhash::FxHashSet;
use crate::types::{PiiType, SecretKind};
use crate::validate;

/// What a raw pattern hit is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HitKind {
    Pii(PiiType),
    Secret(SecretKind),
    Custom(usize),
}

/// A candidate that passed validation; span in normalised-text bytes.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub kind: HitKind,
    pub start: usize,
    pub end: usize,
    pub confidence: f32,
    pub detail: Option<&'static str>,
}

/// Which detector a regex feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Det {
    Email,
    Url,
    Ipv4,
    Ipv6,
    Mac,
    /// One pass for digit runs feeding Card, SsnItin, Sin and Nhs.
    DigitRun,
    Card,
    SsnItin,
    Phone,
    Nhs,
    Sin,
    CaHealth,
    Routing,
    BankAccount,
    Utr,
    Passport,
    DriverId,
    Nino,
    Swift,
    Iban,
    Vin,
    AwsAccess,
    AwsSecret,
    Age,
    Dob,
    Cvv,
    Expiry,
    Pin,
    Password,
    Username,
    Plate,
    NameWord,
    NameTitle,
    Address,
    PrivateKey,
    Jwt,
    Github,
    Gitlab,
    Slack,
    Stripe,
    Google,
    GenericSecret,
}

impl Det {
    fn pii_types(self) -> &'static [PiiType] {
        use PiiType as P;
        match self {
            Det::Email => &[P::Email],
            Det::Url => &[P::Url],
            Det::Ipv4 | Det::Ipv6 => &[P::IpAddress],
            Det::Mac => &[P::MacAddress],
            Det::DigitRun => &[
                P::CreditDebitCardNumber,
                P::UsSocialSecurityNumber,
                P::UsIndividualTaxIdentificationNumber,
                P::CaSocialInsuranceNumber,
                P::UkNationalHealthServiceNumber,
            ],
            Det::Card => &[P::CreditDebitCardNumber],
            Det::SsnItin => &[
                P::UsSocialSecurityNumber,
                P::UsIndividualTaxIdentificationNumber,
            ],
            Det::Phone => &[P::Phone],
            Det::Nhs => &[P::UkNationalHealthServiceNumber],
            Det::Sin => &[P::CaSocialInsuranceNumber],
            Det::CaHealth => &[P::CaHealthNumber],
            Det::Routing => &[P::UsBankRoutingNumber],
            Det::BankAccount => &[P::UsBankAccountNumber],
            Det::Utr => &[P::UkUniqueTaxpayerReferenceNumber],
            Det::Passport => &[P::UsPassportNumber],
            Det::DriverId => &[P::DriverId],
            Det::Nino => &[P::UkNationalInsuranceNumber],
            Det::Swift => &[P::SwiftCode],
            Det::Iban => &[P::InternationalBankAccountNumber],
            Det::Vin => &[P::VehicleIdentificationNumber],
            Det::AwsAccess => &[P::AwsAccessKey],
            Det::AwsSecret => &[P::AwsSecretKey],
            Det::Age | Det::Dob => &[P::Age],
            Det::Cvv => &[P::CreditDebitCardCvv],
            Det::Expiry => &[P::CreditDebitCardExpiry],
            Det::Pin => &[P::Pin],
            Det::Password => &[P::Password],
            Det::Username => &[P::Username],
            Det::Plate => &[P::LicensePlate],
            Det::NameWord | Det::NameTitle => &[P::Name],
            Det::Address => &[P::Address],
            _ => &[],
        }
    }

    /// Cue words that must occur near a candidate; the regex then runs only in windows around
    /// the cues found by one Aho-Corasick pass instead of over the whole text.
    fn cues(self) -> Option<&'static [&'static str]> {
        Some(match self {
            Det::Age => &["year", "yr", "age", "y/o", " yo"],
            Det::Dob => &["dob", "d.o.b", "birth", "born"],
            Det::Cvv => &[
                "cvv",
                "cvc",
                "cid",
                "csc",
                "security code",
                "card verification",
            ],
            Det::Expiry => &["exp", "valid thru", "valid through", "valid until"],
            Det::Pin => &["pin"],
            Det::Password => &["password", "passwd", "pwd", "passcode", "passphrase"],
            Det::Username => &[
                "username",
                "user name",
                "userid",
                "user id",
                "login",
                "handle",
            ],
            Det::Plate => &[
                "plate",
                "registration",
                "reg no",
                "reg number",
                "reg.",
                "tag number",
            ],
            Det::GenericSecret => &[
                "key",
                "secret",
                "token",
                "bearer",
                "passw",
                "passwd",
                "credential",
            ],
            Det::AwsSecret => &["aws", "secret"],
            Det::CaHealth => &[
                "health card",
                "health number",
                "health insurance",
                "ohip",
                "phn",
                "ramq",
                "carte sant",
                "care card",
            ],
            Det::Routing => &["routing", "aba", "rtn", "transit number"],
            Det::BankAccount => &[
                "account number",
                "account no",
                "account #",
                "acct",
                "bank account",
                "checking account",
                "savings account",
                "a/c",
            ],
            Det::Utr => &["utr", "unique taxpayer", "tax reference", "self assessment"],
            Det::Passport => &["passport"],
            Det::DriverId => &[
                "driver",
                "driving licen",
                "dl#",
                "dl no",
                "dl number",
                "licence n",
                "license n",
            ],
            Det::Swift => &["swift", "bic", "bank", "wire", "transfer", "iban"],
            _ => return None,
        })
    }

    fn is_secret(self) -> bool {
        matches!(
            self,
            Det::PrivateKey
                | Det::Jwt
                | Det::Github
                | Det::Gitlab
                | Det::Slack
                | Det::Stripe
                | Det::Google
                | Det::GenericSecret
        )
    }
}

const MONTHS: &str = "(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\\.?";

/// Candidate regexes. `\d` is rewritten to `[0-9]` and `\b` to the ASCII word boundary.
fn pattern_table() -> Vec<(Det, String)> {
    let mut v: Vec<(Det, String)> = vec![
        (Det::Email, r"\b[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}\b".into()),
        (Det::Url, r#"(?i)\b(?:https?|ftp)://[^\s<>"'`{}|\\^]{3,2048}|\bwww\.[a-z0-9-]+(?:\.[a-z0-9-]+)+[^\s<>"'`{}|\\^]{0,2048}"#.into()),
        (Det::Ipv4, r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b".into()),
        (Det::Ipv6, r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}".into()),
        (Det::Mac, r"\b[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}\b|\b[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5}\b|\b[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\b".into()),
        (Det::DigitRun, r"\b\d(?:[ -]?\d){8,18}\b".into()),
        (Det::Phone, r"(?:\+\d{1,3}[ .-]?|\b00\d{1,3}[ .-]?)?(?:\(\d{1,5}\)|\b\d{1,5})(?:[ .-]{1,2}\(?\d{1,8}\)?){0,6}\b".into()),

        (Det::CaHealth, r"\b(?:\d{4}[ -]?\d{3}[ -]?\d{3}(?:[ -]?[A-Z]{2})?|[A-Z]{4} ?\d{4} ?\d{4})\b".into()),
        (Det::Routing, r"\b\d{9}\b".into()),
        (Det::BankAccount, r"\b\d{8,17}\b".into()),
        (Det::Utr, r"\b\d{5} ?\d{5}\b".into()),
        (Det::Passport, r"\b(?:[A-Z]\d{8}|\d{9})\b".into()),
        (Det::DriverId, r"\b[A-Z]{0,3}\d[0-9A-Z-]{4,16}\b".into()),
        (Det::Nino, r"\b[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b".into()),
        (Det::Swift, r"\b[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?\b".into()),
        (Det::Iban, r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b".into()),
        (Det::Vin, r"\b[A-HJ-NPR-Z0-9]{17}\b".into()),
        (Det::AwsAccess, r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b".into()),
        (Det::AwsSecret, r"[A-Za-z0-9/+]{40}".into()),
        (Det::Age, r"(?i)\b(\d{1,3}[ -](?:years?|yrs?)[ -]old)\b|\b(?:age|aged)[: ]{1,3}(\d{1,3})\b|\b(\d{1,3} ?y/o)\b".into()),
        (Det::Dob, format!(r"(?i)\b(?:dob|d\.o\.b\.?|date of birth|birth ?date|birthday|born(?: on)?)\b[^0-9a-z\n]{{0,4}}(?:is |was )?(\d{{1,2}}[/.-]\d{{1,2}}[/.-](?:\d{{4}}|\d{{2}})|\d{{4}}-\d{{2}}-\d{{2}}|{MONTHS} \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}|\d{{1,2}}(?:st|nd|rd|th)? {MONTHS},? \d{{4}})\b")),
        (Det::Cvv, r"(?i)\b(?:cvv2?|cvc2?|cid|csc|security code|card verification (?:value|code))\b[^0-9\n]{0,12}(\d{3,4})\b".into()),
        (Det::Expiry, r"(?i)\b(?:exp(?:iry|iration|ires)?(?: date)?|valid (?:thru|through|until))\b[^0-9\n]{0,12}((?:0[1-9]|1[0-2]) ?/ ?(?:20\d{2}|\d{2}))\b".into()),
        (Det::Pin, r"(?i)\bpin(?: code| number| no\.?)?\b[^0-9a-z\n]{0,6}(?:is )?(\d{4,8})\b".into()),
        (Det::Password, r#"(?i)\b(?:password|passwd|pwd|passcode|passphrase)\b["']?\s{0,3}(?:is\s{0,3}:?|:|=|was)\s{0,3}(["']?)([^\s"'<>]{4,64})"#.into()),
        (Det::Username, r#"(?i)\b(?:username|user name|user ?id|login|handle)\b["']?\s{0,3}(?:is\s{0,3}:?|:|=)\s{0,3}["']?@?([A-Za-z0-9][A-Za-z0-9._-]{2,31})"#.into()),
        (Det::Plate, r"(?i)\b(?:licen[cs]e plate(?: number| no\.?)?|plate(?: number| no\.?)?|registration(?: number| no\.?)|reg(?:istration)? (?:no|number)\.?|tag number)\b[^A-Za-z0-9\n]{0,6}(?:is )?(?-i:([A-Z0-9]{1,4}[ -]?[A-Z0-9]{1,4}(?:[ -]?[A-Z0-9]{1,3})?))\b".into()),
        (Det::NameWord, r"\b[A-Z][a-z]{1,20}(?:[-'][A-Z][a-z]+)?\b".into()),
        (Det::NameTitle, r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Madam)\.? ([A-Z][a-z]+(?:[ -][A-Z][a-z]+)?)\b".into()),
        (Det::Address, r"\b\d{1,6}(?: [A-Z][a-z]+\.?| \d{1,3}(?:st|nd|rd|th)){1,4} (?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Close|Crescent|Cres)\b\.?(?:,? (?:Apt|Apartment|Suite|Ste|Unit|#)\.? ?[A-Za-z0-9-]+)?(?:, [A-Z][a-z]+(?: [A-Z][a-z]+){0,2})?(?:,? [A-Z]{2}(?: \d{5}(?:-\d{4})?)?\b)?|\bP\.? ?O\.? Box \d{1,6}\b".into()),
        (Det::PrivateKey, r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----|PuTTY-User-Key-File-\d".into()),
        (Det::Jwt, r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{0,1024}".into()),
        (Det::Github, r"\b(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{60,255})\b".into()),
        (Det::Gitlab, r"\bgl(?:pat|dt|rt|ptt|cbt)-[A-Za-z0-9_-]{20,64}".into()),
        (Det::Slack, r"\bxox[abposre]-[A-Za-z0-9-]{10,250}|https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]{20,200}".into()),
        (Det::Stripe, r"\b(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,247}|whsec_[A-Za-z0-9]{24,64})\b".into()),
        (Det::Google, r"\bAIza[0-9A-Za-z_-]{35}".into()),
        (Det::GenericSecret, r#"(?i)\b(?:api[_-]?key|apikey|api[_-]?secret|secret[_-]?key|client[_-]?secret|secret|access[_-]?token|auth[_-]?token|refresh[_-]?token|bearer|token|private[_-]?key|passwd|password|credentials?)\b["']?\s{0,3}(?:[:=]|=>|:=|\bis\b)?\s{0,3}["']?([A-Za-z0-9/+_.~=$!@#%^&*-]{12,256})"#.into()),
    ];
    for (_, p) in &mut v {
        *p = p.replace(r"\d", "[0-9]").replace(r"\b", r"(?-u:\b)");
    }
    v
}

/// The built-in candidate patterns as `(detector, regex)` strings (for profiling tools).
#[doc(hidden)]
#[must_use]
pub fn builtin_pattern_sources() -> Vec<(String, String)> {
    pattern_table()
        .into_iter()
        .map(|(d, p)| (format!("{d:?}"), p))
        .collect()
}

#[derive(Debug)]
struct Compiled {
    det: Det,
    re: meta::Regex,
    gate: Gate,
}

/// Where a built-in regex is allowed to search.
#[derive(Debug)]
enum Gate {
    /// The whole text (patterns with a literal prefix the regex engine finds fast).
    Full,
    /// Only windows around its cue words; the value is the index range of those cue words in
    /// the cue automaton.
    Cues(std::ops::Range<usize>),
    /// Only inside maximal runs of bytes that can occur in a match, and only runs that pass a
    /// cheap necessary condition; index into the run-gate table. A match can never cross a byte
    /// outside its alphabet, so searching each qualifying run (with the surrounding text as
    /// look-around context) finds exactly the matches a full pass would.
    Runs(usize),
    /// Anchored searches at candidate start positions found by a byte scan (addresses).
    Starts,
    /// Hand-written scanner (capitalised words for names).
    Names,
}

/// Necessary condition for a match of the URL pattern: its first branch holds the literal
/// `://`, its second `www.` in any case (ASCII only: `w` has no other case fold), which the
/// ASCII-lower-cased copy `lower` (same offsets) shows as `www.`.
fn url_possible(text: &str, lower: &str) -> bool {
    text.contains("://") || lower.contains("www.")
}

/// A run gate: which bytes may occur in a match, and a necessary condition on a run.
struct RunGate {
    alphabet: &'static [(u8, u8)],
    /// Bytes of which every useful run contains at least one (a subset of `alphabet`).
    anchors: &'static [(u8, u8)],
    /// The shortest run that can hold a match that passes validation.
    min_len: usize,
    keep: fn(&[u8]) -> bool,
}

fn count(run: &[u8], f: impl Fn(u8) -> bool) -> usize {
    run.iter().filter(|&&b| f(b)).count()
}

fn run_gate(det: Det) -> Option<RunGate> {
    Some(match det {
        Det::Ipv4 => RunGate {
            anchors: &[(b'.', b'.')],
            min_len: 7,
            alphabet: &[(b'0', b'9'), (b'.', b'.')],
            keep: |r| r.len() >= 7 && count(r, |b| b == b'.') >= 3,
        },
        Det::Ipv6 => RunGate {
            anchors: &[(b':', b':')],
            min_len: 2,
            alphabet: &[(b'0', b'9'), (b'a', b'f'), (b'A', b'F'), (b':', b':')],
            keep: |r| count(r, |b| b == b':') >= 2,
        },
        Det::Mac => RunGate {
            anchors: &[(b':', b':'), (b'.', b'.'), (b'-', b'-')],
            min_len: 14,
            alphabet: &[
                (b'0', b'9'),
                (b'a', b'f'),
                (b'A', b'F'),
                (b':', b':'),
                (b'.', b'.'),
                (b'-', b'-'),
            ],
            // Six hex pairs joined by five `:` or five `-`, or three quads joined by two `.`.
            keep: |r| {
                r.len() >= 14
                    && (count(r, |b| b == b':') >= 5
                        || count(r, |b| b == b'-') >= 5
                        || count(r, |b| b == b'.') >= 2)
            },
        },
        Det::DigitRun => RunGate {
            anchors: &[(b'0', b'9')],
            min_len: 9,
            alphabet: &[(b'0', b'9'), (b' ', b' '), (b'-', b'-')],
            keep: |r| count(r, |b| b.is_ascii_digit()) >= 9,
        },
        // The phone validator needs at least 7 digits in the match.
        Det::Phone => RunGate {
            anchors: &[(b'0', b'9')],
            min_len: 7,
            alphabet: &[
                (b'0', b'9'),
                (b' ', b' '),
                (b'.', b'.'),
                (b'-', b'-'),
                (b'(', b')'),
                (b'+', b'+'),
            ],
            keep: |r| count(r, |b| b.is_ascii_digit()) >= 7,
        },
        Det::Nino => RunGate {
            anchors: &[(b'0', b'9')],
            min_len: 9,
            alphabet: &[(b'A', b'Z'), (b'0', b'9'), (b' ', b' ')],
            // Two capitals, then a digit (after at most one space).
            keep: |r| {
                r.len() >= 9
                    && count(r, |b| b.is_ascii_digit()) >= 6
                    && (0..r.len().saturating_sub(2)).any(|i| {
                        r[i].is_ascii_uppercase()
                            && r[i + 1].is_ascii_uppercase()
                            && (r[i + 2].is_ascii_digit()
                                || (r[i + 2] == b' '
                                    && r.get(i + 3).is_some_and(u8::is_ascii_digit)))
                    })
            },
        },
        Det::Iban => RunGate {
            anchors: &[(b'0', b'9')],
            min_len: 15,
            alphabet: &[(b'A', b'Z'), (b'0', b'9'), (b' ', b' ')],
            // The country code and check digits: two capitals, then two digits.
            keep: |r| {
                r.len() >= 15
                    && r.windows(4).any(|w| {
                        w[0].is_ascii_uppercase()
                            && w[1].is_ascii_uppercase()
                            && w[2].is_ascii_digit()
                            && w[3].is_ascii_digit()
                    })
            },
        },
        // `\b` on both sides and an alphabet of word bytes: the match is the whole run.
        Det::Vin => RunGate {
            anchors: &[
                (b'A', b'H'),
                (b'J', b'N'),
                (b'P', b'P'),
                (b'R', b'Z'),
                (b'0', b'9'),
            ],
            min_len: 17,
            alphabet: &[
                (b'A', b'H'),
                (b'J', b'N'),
                (b'P', b'P'),
                (b'R', b'Z'),
                (b'0', b'9'),
            ],
            keep: |r| r.len() == 17,
        },
        // Four-letter prefix, then 16 of `[A-Z2-7]`, `\b` on both sides: the whole run.
        Det::AwsAccess => RunGate {
            anchors: &[(b'A', b'A')],
            min_len: 20,
            alphabet: &[(b'A', b'Z'), (b'2', b'7')],
            keep: |r| r.len() == 20,
        },
        _ => return None,
    })
}

/// A run gate's shortest useful run and its necessary condition.
type RunKeep = (usize, fn(&[u8]) -> bool);

/// Detectors with a run gate, in a fixed order (bit index in the run lookup table).
const RUN_DETS: [Det; 9] = [
    Det::Ipv4,
    Det::Ipv6,
    Det::Mac,
    Det::DigitRun,
    Det::Phone,
    Det::Nino,
    Det::Iban,
    Det::Vin,
    Det::AwsAccess,
];

/// Bytes before a cue and after it that a gated regex searches.
const CUE_BEFORE: usize = 16;
const CUE_AFTER: usize = 110;

/// A custom regex from config.
#[derive(Debug)]
pub(crate) struct CustomRegex {
    pub re: Regex,
}

/// Compiled PII + secret + custom-regex scanner.
#[derive(Debug)]
pub(crate) struct PatternScanner {
    compiled: Vec<Compiled>,
    cue_ac: Option<aho_corasick::AhoCorasick>,
    /// The same cue words found by a two-byte index (see [`CueFinder`]).
    cue_finder: Option<CueFinder>,
    /// For every byte, the bit set of run-gated detectors (index in `RUN_DETS`) whose
    /// alphabet contains it; only enabled detectors have bits.
    run_lut: Box<[u16; 256]>,
    /// For every byte, the run-gated detectors for which it is an anchor.
    anchor_lut: Box<[u16; 256]>,
    /// Per run-gated detector: shortest useful run and the condition a run must pass.
    run_keep: [RunKeep; RUN_DETS.len()],
    /// The smallest and the largest anchor byte (all anchors are ASCII).
    anchor_range: (u8, u8),
    enabled_pii: HashSet<PiiType>,
    secrets: bool,
    min_entropy: f32,
    pub custom: Vec<CustomRegex>,
}

impl PatternScanner {
    /// Builds the scanner for the enabled PII types, secrets and custom regexes.
    pub fn new(
        enabled_pii: HashSet<PiiType>,
        secrets: bool,
        min_entropy: f32,
        custom: Vec<CustomRegex>,
    ) -> Self {
        let mut compiled = Vec::new();
        let mut cue_words: Vec<&'static str> = Vec::new();
        let mut run_lut = Box::new([0u16; 256]);
        let mut anchor_lut = Box::new([0u16; 256]);
        let mut run_keep: [RunKeep; RUN_DETS.len()] = [(usize::MAX, |_| false); RUN_DETS.len()];
        for (det, pat) in pattern_table() {
            let wanted = if det.is_secret() {
                secrets
            } else {
                det.pii_types().iter().any(|t| enabled_pii.contains(t))
            };
            if !wanted {
                continue;
            }
            // Built-in patterns are tested; a failure here is a programming error that the
            // unit tests catch, so skip rather than panic at runtime.
            if let Ok(re) = meta::Regex::builder()
                .configure(meta::Config::new().nfa_size_limit(Some(16 << 20)))
                .build(&pat)
            {
                let gate = if let Some(c) = det.cues() {
                    let start = cue_words.len();
                    cue_words.extend_from_slice(c);
                    Gate::Cues(start..cue_words.len())
                } else if let Some(k) = RUN_DETS.iter().position(|d| *d == det) {
                    if let Some(g) = run_gate(det) {
                        run_keep[k] = (g.min_len, g.keep);
                        for &(lo, hi) in g.alphabet {
                            for b in lo..=hi {
                                run_lut[usize::from(b)] |= 1 << k;
                            }
                        }
                        for &(lo, hi) in g.anchors {
                            for b in lo..=hi {
                                anchor_lut[usize::from(b)] |= 1 << k;
                            }
                        }
                    }
                    Gate::Runs(k)
                } else if det == Det::Address {
                    Gate::Starts
                } else if det == Det::NameWord {
                    Gate::Names
                } else {
                    Gate::Full
                };
                compiled.push(Compiled { det, re, gate });
            } else {
                debug_assert!(false, "built-in pattern failed to compile: {pat}");
            }
        }
        let cue_finder = CueFinder::new(&cue_words);
        let cue_ac = (cue_finder.is_none() && !cue_words.is_empty())
            .then(|| cue_automaton(&cue_words))
            .flatten();
        let anchor_bytes = || (0u8..=0x7f).filter(|&c| anchor_lut[usize::from(c)] != 0);
        let anchor_range = (
            anchor_bytes().min().unwrap_or(0x7f),
            anchor_bytes().max().unwrap_or(0x7f),
        );
        debug_assert!(anchor_lut[0x80..].iter().all(|m| *m == 0));
        PatternScanner {
            anchor_range,
            compiled,
            cue_ac,
            cue_finder,
            run_lut,
            anchor_lut,
            run_keep,
            enabled_pii,
            secrets,
            min_entropy,
            custom,
        }
    }

    /// True when the scanner has nothing to do.
    pub fn is_empty(&self) -> bool {
        self.compiled.is_empty() && self.custom.is_empty()
    }

    /// Scans normalised text; `lower` is its ASCII-lower-cased copy (same byte offsets).
    pub fn scan(&self, text: &str, lower: &str, out: &mut Vec<Hit>) {
        let cx = Cx { text, lower };
        let mut pii_hits: Vec<Hit> = Vec::new();
        // One pass for every cue word; gated regexes then search only near their cues.
        let cue_hits: Vec<(usize, usize, usize)> = match (&self.cue_finder, &self.cue_ac) {
            (Some(f), _) => f.find(lower.as_bytes()),
            (None, Some(ac)) => ac
                .find_overlapping_iter(lower)
                .map(|m| (m.pattern().as_usize(), m.start(), m.end()))
                .collect(),
            (None, None) => Vec::new(),
        };
        let runs = self.runs(text);
        for c in &self.compiled {
            match &c.gate {
                Gate::Names => self.names(&cx, &mut pii_hits),
                // Every URL match holds `://` or (any case) `www.`: without them, skip the pass.
                Gate::Full if c.det == Det::Url && !url_possible(text, lower) => {}
                Gate::Full => self.run(&cx, c, Input::new(text), &mut pii_hits, out),
                Gate::Runs(k) => {
                    for &(s, e) in &runs[*k] {
                        self.run_in_run(&cx, c, *k, s, e, &mut pii_hits, out);
                    }
                }
                Gate::Starts => self.address(&cx, c, &mut pii_hits),
                Gate::Cues(r) => {
                    let mut w: Vec<(usize, usize)> = Vec::new();
                    for &(p, s, e) in &cue_hits {
                        if !r.contains(&p) {
                            continue;
                        }
                        let ws = floor_boundary(text, s.saturating_sub(CUE_BEFORE));
                        let we = ceil_boundary(text, e + CUE_AFTER);
                        match w.last_mut() {
                            Some(last) if ws <= last.1 => last.1 = last.1.max(we),
                            _ => w.push((ws, we)),
                        }
                    }
                    for (ws, we) in w {
                        let Some(hay) = text.get(ws..we) else {
                            continue;
                        };
                        // The window is its own haystack (no look-around context outside).
                        self.run_at(&cx, c, Input::new(hay), ws, &mut pii_hits, out);
                    }
                }
            }
        }
        resolve_overlaps(&mut pii_hits);
        out.extend(pii_hits);
        self.custom_scan(text, out);
    }

    /// Maximal runs of each run-gated detector's alphabet that contain one of its anchor bytes
    /// and pass its necessary condition. One forward pass keeps, as one bit set, the detectors
    /// whose current run already holds an anchor. While no run is anchored it only looks for
    /// the next anchor byte; when detectors become anchored, one walk back over the bytes
    /// before the anchor finds the starts of all their runs at once.
    fn runs(&self, text: &str) -> [Vec<(usize, usize)>; RUN_DETS.len()] {
        let mut out: [Vec<(usize, usize)>; RUN_DETS.len()] = Default::default();
        let (alpha, anchors) = (&*self.run_lut, &*self.anchor_lut);
        if anchors.iter().all(|m| *m == 0) {
            return out;
        }
        let b = text.as_bytes();
        let n = b.len();
        // Start of the current run of every anchored detector.
        let mut starts = [0usize; RUN_DETS.len()];
        let close = |ended: u16,
                     e: usize,
                     starts: &[usize; RUN_DETS.len()],
                     out: &mut [Vec<(usize, usize)>; RUN_DETS.len()]| {
            let mut m = ended;
            while m != 0 {
                let k = m.trailing_zeros() as usize;
                m &= m - 1;
                let s = starts[k];
                let (min_len, keep) = self.run_keep[k];
                if e - s >= min_len && keep(&b[s..e]) {
                    out[k].push((s, e));
                }
            }
        };
        // Detectors whose run (of their alphabet) goes on at the current byte and already
        // holds one of their anchors.
        let mut anchored = 0u16;
        let mut i = 0;
        while i < n {
            if anchored == 0 {
                // Nothing is anchored: bytes other than anchors change nothing.
                loop {
                    i = next_in_range(b, i, self.anchor_range.0, self.anchor_range.1);
                    if i >= n || anchors[usize::from(b[i])] != 0 {
                        break;
                    }
                    i += 1;
                }
                if i >= n {
                    break;
                }
            }
            let c = usize::from(b[i]);
            let a = alpha[c];
            let ended = anchored & !a;
            if ended != 0 {
                close(ended, i, &starts, &mut out);
            }
            let going = anchored & a;
            let fresh = anchors[c] & a & !going;
            if fresh != 0 {
                // Walk back over the bytes before `i` that are in the alphabets of the newly
                // anchored detectors; each run starts where its alphabet stops.
                let mut live = fresh;
                let mut j = i;
                while live != 0 {
                    let m = if j == 0 {
                        0
                    } else {
                        alpha[usize::from(b[j - 1])] & live
                    };
                    let mut stop = live & !m;
                    while stop != 0 {
                        starts[stop.trailing_zeros() as usize] = j;
                        stop &= stop - 1;
                    }
                    live = m;
                    j = j.saturating_sub(1);
                }
            }
            anchored = going | (anchors[c] & a);
            i += 1;
        }
        if anchored != 0 {
            close(anchored, n, &starts, &mut out);
        }
        out
    }

    /// Addresses: see [`address_matches`].
    fn address(&self, cx: &Cx<'_>, c: &Compiled, pii_hits: &mut Vec<Hit>) {
        let caps = c.re.create_captures();
        for (s, e) in address_matches(&c.re, cx.text) {
            if let Some(hit) = self.check(cx, c.det, s, e, &caps) {
                pii_hits.push(hit);
            }
        }
    }

    fn run(
        &self,
        cx: &Cx<'_>,
        c: &Compiled,
        input: Input<'_>,
        pii_hits: &mut Vec<Hit>,
        out: &mut Vec<Hit>,
    ) {
        self.run_at(cx, c, input, 0, pii_hits, out);
    }

    /// Every match of the run-gated `c` (gate `k`) in the run `s..e`, like [`Self::run`]; the
    /// search stops after a match when the rest of the run fails the gate's condition, so it
    /// cannot hold a match that passes validation (see [`Self::rest_may_match`]).
    #[allow(clippy::too_many_arguments)]
    fn run_in_run(
        &self,
        cx: &Cx<'_>,
        c: &Compiled,
        k: usize,
        s: usize,
        e: usize,
        pii_hits: &mut Vec<Hit>,
        out: &mut Vec<Hit>,
    ) {
        if c.re.captures_len() > 1 {
            self.run(cx, c, Input::new(cx.text).span(s..e), pii_hits, out);
            return;
        }
        let caps = Captures::empty(c.re.group_info().clone());
        for m in c.re.find_iter(Input::new(cx.text).span(s..e)) {
            if m.is_empty() {
                continue;
            }
            if let Some(hit) = self.check(cx, c.det, m.start(), m.end(), &caps) {
                if matches!(hit.kind, HitKind::Pii(_)) {
                    pii_hits.push(hit);
                } else {
                    out.push(hit);
                }
            }
            if !self.rest_may_match(k, &cx.text.as_bytes()[m.end()..e]) {
                break;
            }
        }
    }

    /// False when `rest` (the part of a gate-`k` run after a match) cannot hold a match that
    /// passes validation: every such match is at least the gate's shortest length and passes
    /// its condition, and the conditions only count bytes or look for a byte pattern, so a
    /// text that holds such a match passes them too. (The conditions that fix a run's exact
    /// length belong to gates whose matches span the whole run, which leaves no rest.)
    fn rest_may_match(&self, k: usize, rest: &[u8]) -> bool {
        let (min_len, keep) = self.run_keep[k];
        rest.len() >= min_len && keep(rest)
    }

    /// Every match of `c` in `input`; `base` is the haystack's offset in the normalised text.
    fn run_at(
        &self,
        cx: &Cx<'_>,
        c: &Compiled,
        input: Input<'_>,
        base: usize,
        pii_hits: &mut Vec<Hit>,
        out: &mut Vec<Hit>,
    ) {
        if c.re.captures_len() <= 1 {
            // No capture groups: the plain match iterator skips the capture engines, and
            // `check` gets captures without groups (no slot allocation per call).
            let caps = Captures::empty(c.re.group_info().clone());
            for m in c.re.find_iter(input) {
                if m.is_empty() {
                    continue;
                }
                if let Some(hit) = self.check(cx, c.det, base + m.start(), base + m.end(), &caps) {
                    if matches!(hit.kind, HitKind::Pii(_)) {
                        pii_hits.push(hit);
                    } else {
                        out.push(hit);
                    }
                }
            }
            return;
        }
        for caps in c.re.captures_iter(input) {
            let Some(m0) = caps.get_match() else { continue };
            if m0.is_empty() {
                continue;
            }
            // The value is the last participating capture group, or the whole match.
            let m = (1..caps.group_len())
                .rev()
                .find_map(|i| caps.get_group(i))
                .filter(|m| !m.is_empty())
                .unwrap_or(m0.span());
            if let Some(hit) = self.check(cx, c.det, base + m.start, base + m.end, &caps) {
                if matches!(hit.kind, HitKind::Pii(_)) {
                    pii_hits.push(hit);
                } else {
                    out.push(hit);
                }
            }
        }
    }

    fn custom_scan(&self, text: &str, out: &mut Vec<Hit>) {
        for (i, c) in self.custom.iter().enumerate() {
            for m in c.re.find_iter(text) {
                if !m.is_empty() {
                    out.push(Hit {
                        kind: HitKind::Custom(i),
                        start: m.start(),
                        end: m.end(),
                        confidence: 1.0,
                        detail: None,
                    });
                }
            }
        }
    }

    fn pii(&self, t: PiiType, start: usize, end: usize, conf: f32) -> Option<Hit> {
        self.enabled_pii.contains(&t).then_some(Hit {
            kind: HitKind::Pii(t),
            start,
            end,
            confidence: conf,
            detail: None,
        })
    }

    fn secret(&self, k: SecretKind, start: usize, end: usize, conf: f32) -> Option<Hit> {
        self.secrets.then_some(Hit {
            kind: HitKind::Secret(k),
            start,
            end,
            confidence: conf,
            detail: None,
        })
    }

    #[allow(clippy::too_many_lines)]
    fn check(
        &self,
        cx: &Cx<'_>,
        det: Det,
        start: usize,
        end: usize,
        caps: &Captures,
    ) -> Option<Hit> {
        use PiiType as P;
        let s = cx.text.get(start..end)?;
        match det {
            Det::DigitRun => {
                let mut best: Option<Hit> = None;
                for sub in [Det::Card, Det::SsnItin, Det::Sin, Det::Nhs] {
                    if let Some(h) = self.check(cx, sub, start, end, caps) {
                        if best.as_ref().is_none_or(|b| h.confidence > b.confidence) {
                            best = Some(h);
                        }
                    }
                }
                best
            }
            Det::Email => {
                let (local, _domain) = s.split_once('@')?;
                if local.ends_with('.') || s.contains("..") {
                    return None;
                }
                self.pii(P::Email, start, end, 0.95)
            }
            Det::Url => {
                let trimmed = trim_url(s);
                let host = trimmed
                    .split_once("://")
                    .map_or(trimmed, |(_, r)| r)
                    .split(['/', '?', '#', ':'])
                    .next()
                    .unwrap_or("");
                if host.len() < 3 || !host.contains('.') && !host.eq_ignore_ascii_case("localhost")
                {
                    return None;
                }
                self.pii(P::Url, start, start + trimmed.len(), 0.9)
            }
            Det::Ipv4 => {
                if !isolated(cx.text, start, end) || version_cue(cx.lower, start) {
                    return None;
                }
                if s.split('.').any(|o| o.len() > 1 && o.starts_with('0')) {
                    return None;
                }
                s.parse::<Ipv4Addr>().ok()?;
                self.pii(P::IpAddress, start, end, 0.9)
            }
            Det::Ipv6 => {
                let b = cx.text.as_bytes();
                let before = start.checked_sub(1).and_then(|i| b.get(i)).copied();
                let after = b.get(end).copied();
                if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == b':' || c == b'.')
                    || after.is_some_and(|c| c.is_ascii_alphanumeric() || c == b':')
                {
                    return None;
                }
                s.parse::<Ipv6Addr>().ok()?;
                let groups = s.split(':').filter(|g| !g.is_empty()).count();
                let lower = s.to_ascii_lowercase();
                if groups >= 3 || lower == "::1" || lower.starts_with("fe80::") {
                    self.pii(P::IpAddress, start, end, 0.9)
                } else {
                    None
                }
            }
            Det::Mac => {
                if !isolated(cx.text, start, end) {
                    return None;
                }
                self.pii(P::MacAddress, start, end, 0.9)
            }
            Det::Card => {
                if !isolated(cx.text, start, end) || !validate::card_number(s) {
                    return None;
                }
                self.pii(P::CreditDebitCardNumber, start, end, 0.95)
            }
            Det::SsnItin => {
                if !isolated(cx.text, start, end) || !grouped(s, &[3, 2, 4]) {
                    return None;
                }
                let formatted = s.len() > 9;
                let cue = cue_before(
                    cx.lower,
                    start,
                    48,
                    &[
                        "ssn",
                        "social security",
                        "social sec",
                        "itin",
                        "taxpayer id",
                        "tin",
                    ],
                );
                if !formatted && !cue {
                    return None;
                }
                let conf = if cue { 0.95 } else { 0.85 };
                if validate::itin(s) {
                    return self.pii(P::UsIndividualTaxIdentificationNumber, start, end, conf);
                }
                if validate::ssn(s) {
                    return self.pii(P::UsSocialSecurityNumber, start, end, conf);
                }
                None
            }
            Det::Phone => self.phone(cx, s, start, end),
            Det::Nhs => {
                if !isolated(cx.text, start, end) || !grouped(s, &[3, 3, 4]) || !validate::nhs(s) {
                    return None;
                }
                let cue = cue_before(cx.lower, start, 48, &["nhs", "health service"]);
                if cue {
                    self.pii(P::UkNationalHealthServiceNumber, start, end, 0.95)
                } else if s.contains(' ') {
                    self.pii(P::UkNationalHealthServiceNumber, start, end, 0.6)
                } else {
                    None
                }
            }
            Det::Sin => {
                if !isolated(cx.text, start, end) || !grouped(s, &[3, 3, 3]) || !validate::ca_sin(s)
                {
                    return None;
                }
                let cue = cue_before(cx.lower, start, 48, &["sin", "social insurance"]);
                if cue {
                    self.pii(P::CaSocialInsuranceNumber, start, end, 0.95)
                } else if s.len() > 9 {
                    self.pii(P::CaSocialInsuranceNumber, start, end, 0.5)
                } else {
                    None
                }
            }
            Det::CaHealth => {
                if !isolated(cx.text, start, end) {
                    return None;
                }
                cue_before(
                    cx.lower,
                    start,
                    48,
                    &[
                        "health card",
                        "health number",
                        "health insurance",
                        "ohip",
                        "phn",
                        "ramq",
                        "carte sant",
                        "care card",
                    ],
                )
                .then(|| self.pii(P::CaHealthNumber, start, end, 0.85))?
            }
            Det::Routing => {
                if !isolated(cx.text, start, end) || !validate::aba_routing(s) {
                    return None;
                }
                cue_before(
                    cx.lower,
                    start,
                    48,
                    &["routing", "aba", "rtn", "transit number"],
                )
                .then(|| self.pii(P::UsBankRoutingNumber, start, end, 0.9))?
            }
            Det::BankAccount => {
                if !isolated(cx.text, start, end) {
                    return None;
                }
                cue_before(
                    cx.lower,
                    start,
                    40,
                    &[
                        "account number",
                        "account no",
                        "account #",
                        "acct",
                        "bank account",
                        "checking account",
                        "savings account",
                        "a/c",
                    ],
                )
                .then(|| self.pii(P::UsBankAccountNumber, start, end, 0.7))?
            }
            Det::Utr => {
                if !isolated(cx.text, start, end) {
                    return None;
                }
                cue_before(
                    cx.lower,
                    start,
                    48,
                    &["utr", "unique taxpayer", "tax reference", "self assessment"],
                )
                .then(|| self.pii(P::UkUniqueTaxpayerReferenceNumber, start, end, 0.85))?
            }
            Det::Passport => cue_before(cx.lower, start, 48, &["passport"])
                .then(|| self.pii(P::UsPassportNumber, start, end, 0.85))?,
            Det::DriverId => {
                if s.bytes().filter(u8::is_ascii_digit).count() < 4 {
                    return None;
                }
                cue_before(
                    cx.lower,
                    start,
                    40,
                    &[
                        "driver's licen",
                        "drivers licen",
                        "driver licen",
                        "driving licen",
                        "driver id",
                        "dl#",
                        "dl no",
                        "dl number",
                        "licence number",
                        "license number",
                        "licence no",
                        "license no",
                    ],
                )
                .then(|| self.pii(P::DriverId, start, end, 0.8))?
            }
            Det::Nino => validate::uk_nino(s)
                .then(|| self.pii(P::UkNationalInsuranceNumber, start, end, 0.9))?,
            Det::Swift => {
                let cue = cue_before(
                    cx.lower,
                    start,
                    60,
                    &["swift", "bic", "bank", "wire", "transfer", "iban"],
                );
                (cue && validate::swift(s, false))
                    .then(|| self.pii(P::SwiftCode, start, end, 0.85))?
            }
            Det::Iban => {
                let mut e = end;
                loop {
                    let cand = cx.text.get(start..e)?;
                    if validate::iban(cand) {
                        return self.pii(P::InternationalBankAccountNumber, start, e, 0.95);
                    }
                    let cut = cand.rfind(' ')?;
                    if cut < 15 {
                        return None;
                    }
                    e = start + cut;
                }
            }
            Det::Vin => {
                if validate::vin(s) {
                    self.pii(P::VehicleIdentificationNumber, start, end, 0.9)
                } else if cue_before(cx.lower, start, 40, &["vin", "vehicle identification"])
                    && s.bytes().any(|b| b.is_ascii_digit())
                    && s.bytes().any(|b| b.is_ascii_uppercase())
                {
                    self.pii(P::VehicleIdentificationNumber, start, end, 0.6)
                } else {
                    None
                }
            }
            Det::AwsAccess => self.pii(P::AwsAccessKey, start, end, 0.95),
            Det::AwsSecret => {
                let b = cx.text.as_bytes();
                let is_b64 =
                    |c: u8| c.is_ascii_alphanumeric() || c == b'/' || c == b'+' || c == b'=';
                if start
                    .checked_sub(1)
                    .and_then(|i| b.get(i))
                    .is_some_and(|&c| is_b64(c))
                    || b.get(end).is_some_and(|&c| is_b64(c))
                {
                    return None;
                }
                let has_upper = s.bytes().any(|c| c.is_ascii_uppercase());
                let has_lower = s.bytes().any(|c| c.is_ascii_lowercase());
                if !(has_upper && has_lower) || validate::entropy(s) < 3.5 {
                    return None;
                }
                cue_before(cx.lower, start, 80, &["aws", "secret"])
                    .then(|| self.pii(P::AwsSecretKey, start, end, 0.85))?
            }
            Det::Age => {
                let n: u32 = s
                    .bytes()
                    .take_while(u8::is_ascii_digit)
                    .fold(0, |a, d| a * 10 + u32::from(d - b'0'));
                (n > 0 && n <= 125).then(|| self.pii(P::Age, start, end, 0.8))?
            }
            Det::Dob => {
                let mut h = self.pii(P::Age, start, end, 0.85)?;
                h.detail = Some("date_of_birth");
                Some(h)
            }
            Det::Cvv => self.pii(P::CreditDebitCardCvv, start, end, 0.85),
            Det::Expiry => self.pii(P::CreditDebitCardExpiry, start, end, 0.85),
            Det::Pin => self.pii(P::Pin, start, end, 0.8),
            Det::Password => {
                let quoted = caps.get_group(1).is_some_and(|q| !q.is_empty());
                let v = s.trim_end_matches(['.', ',', ';', ')', '!', '?']);
                if v.len() < 4 {
                    return None;
                }
                let classes = char_classes(v);
                let lowered = v.to_ascii_lowercase();
                const NOT_PASSWORDS: &[&str] = &[
                    "reset",
                    "changed",
                    "incorrect",
                    "required",
                    "expired",
                    "wrong",
                    "invalid",
                    "the",
                    "your",
                    "my",
                    "not",
                    "correct",
                    "strong",
                    "weak",
                    "forgotten",
                    "updated",
                    "missing",
                    "protected",
                    "needed",
                ];
                if NOT_PASSWORDS.contains(&lowered.as_str()) || (!quoted && classes < 2) {
                    return None;
                }
                self.pii(P::Password, start, start + v.len(), 0.8)
            }
            Det::Username => {
                let v = s.trim_end_matches(['.', '-', '_']);
                const NOT_USERNAMES: &[&str] = &["the", "your", "required", "not", "incorrect"];
                if v.len() < 3 || NOT_USERNAMES.contains(&v.to_ascii_lowercase().as_str()) {
                    return None;
                }
                self.pii(P::Username, start, start + v.len(), 0.8)
            }
            Det::Plate => {
                let has_digit = s.bytes().any(|b| b.is_ascii_digit());
                let has_alpha = s.bytes().any(|b| b.is_ascii_uppercase());
                (has_digit && has_alpha && s.len() >= 4)
                    .then(|| self.pii(P::LicensePlate, start, end, 0.8))?
            }
            Det::NameTitle => self.pii(P::Name, start, end, 0.85),
            Det::NameWord => None,
            Det::Address => self.pii(P::Address, start, end, 0.75),
            Det::PrivateKey => {
                let rest = cx.text.get(end..)?;
                let stop = rest.find("-----END").map_or_else(
                    || {
                        // No END line: take the base64 body up to a blank line or 8 KiB.
                        let lim = floor_boundary(rest, rest.len().min(8192));
                        rest.get(..lim).and_then(|r| r.find("\n\n")).unwrap_or(lim)
                    },
                    |i| {
                        let after = &rest[i + 8..];
                        let close = after.find("-----").map_or(after.len(), |j| j + 5);
                        i + 8 + close
                    },
                );
                self.secret(SecretKind::PrivateKey, start, end + stop, 0.99)
            }
            Det::Jwt => {
                let header = s.split('.').next()?;
                let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(header.trim_end_matches('='))
                    .ok()?;
                let h = String::from_utf8(decoded).ok()?;
                h.contains("\"alg\"")
                    .then(|| self.secret(SecretKind::Jwt, start, end, 0.95))?
            }
            Det::Github => self.secret(SecretKind::GithubToken, start, end, 0.97),
            Det::Gitlab => self.secret(SecretKind::GitlabToken, start, end, 0.95),
            Det::Slack => self.secret(SecretKind::SlackToken, start, end, 0.95),
            Det::Stripe => self.secret(SecretKind::StripeKey, start, end, 0.95),
            Det::Google => self.secret(SecretKind::GoogleApiKey, start, end, 0.95),
            Det::GenericSecret => {
                let v = s.trim_end_matches(['.', ',', ';']);
                // A key word glued to what follows (`reset-password-3-thumb.png`,
                // `token_expiry_2024`) is a name, not an assignment: a value needs a separator,
                // a space or a quote after the key word.
                let glued = start
                    .checked_sub(1)
                    .and_then(|i| cx.text.as_bytes().get(i))
                    .is_some_and(u8::is_ascii_alphanumeric);
                if glued
                    || v.len() < 12
                    || char_classes(v) < 2
                    || !v.bytes().any(|b| b.is_ascii_digit())
                    || validate::entropy(v) < self.min_entropy
                {
                    return None;
                }
                self.secret(SecretKind::GenericSecret, start, start + v.len(), 0.7)
            }
        }
    }

    fn phone(&self, cx: &Cx<'_>, s: &str, start: usize, end: usize) -> Option<Hit> {
        if !self.enabled_pii.contains(&PiiType::Phone) || !isolated(cx.text, start, end) {
            return None;
        }
        // Digit count first: most candidates fail it, and it needs no allocation.
        let nd = s.bytes().filter(u8::is_ascii_digit).count();
        if !(7..=15).contains(&nd) {
            return None;
        }
        let d = validate::digits(s);
        if !validate::consistent_separators(
            &s.trim_start_matches('+')
                .replace(['(', ')'], " ")
                .replace("  ", " "),
            b" .-",
        ) && !s.contains('(')
        {
            return None;
        }
        let groups: Vec<usize> = s
            .split(|c: char| !c.is_ascii_digit())
            .filter(|g| !g.is_empty())
            .map(str::len)
            .collect();
        let cue = || {
            cue_before(
                cx.lower,
                start,
                40,
                &[
                    "phone", "tel", "mobile", "cell", "call", "fax", "whatsapp", "sms", "text me",
                    "contact", "reach me", "number",
                ],
            )
        };
        let conf = if s.starts_with('+') {
            if !validate::international_phone(&d) || groups.len() == 1 && d.len() > 12 {
                return None;
            }
            0.9
        } else if s.starts_with("00") {
            if !validate::international_phone(d.get(2..)?) || groups.len() < 2 {
                return None;
            }
            if cue() {
                0.8
            } else {
                0.6
            }
        } else if d.len() == 11 && d[0] == 1 && validate::nanp_digits(&d[1..]) {
            if groups != [1, 3, 3, 4] {
                return None;
            }
            0.85
        } else if d.len() == 10 && validate::nanp_digits(&d) {
            if groups == [3, 3, 4] {
                0.85
            } else if groups == [10] && cue() {
                0.7
            } else {
                return None;
            }
        } else if d.len() == 11
            && d[0] == 0
            && matches!(d[1], 1 | 2 | 3 | 7 | 8)
            && groups.len() >= 2
        {
            if d[1] == 7 || cue() {
                0.75
            } else {
                return None;
            }
        } else {
            return None;
        };
        self.pii(PiiType::Phone, start, end, conf)
    }

    fn names(&self, cx: &Cx<'_>, out: &mut Vec<Hit>) {
        if !self.enabled_pii.contains(&PiiType::Name) {
            return;
        }
        let g = gazetteer();
        let words = capitalised_words(cx.text);
        let b = cx.text.as_bytes();
        let mut i = 0;
        while i < words.len() {
            let (s, e) = words[i];
            let w = &cx.lower[s..e];
            if !g.first.contains(w) {
                i += 1;
                continue;
            }
            // Next capitalised word directly after one space (optionally a middle initial).
            let mut end = e;
            let mut conf = 0.0f32;
            let mut j = i + 1;
            if let Some(&(s2, e2)) = words.get(j) {
                let gap = &b[e..s2];
                let gap_ok = gap == b" " || (gap.len() == 4 && gap[0] == b' ' && gap[2] == b'.');
                let last = &cx.lower[s2..e2];
                if gap_ok && !g.stop.contains(last) {
                    end = e2;
                    conf = if g.last.contains(last) { 0.85 } else { 0.7 };
                    j += 1;
                }
            }
            if conf == 0.0 {
                // A lone first name counts only after a cue.
                if cue_before(
                    cx.lower,
                    s,
                    14,
                    &[
                        "my name is",
                        "i am",
                        "i'm",
                        "this is",
                        "name:",
                        "regards,",
                        "thanks,",
                        "sincerely,",
                        "dear",
                        "hi",
                        "hello",
                    ],
                ) && !g.stop.contains(w)
                {
                    conf = 0.6;
                } else {
                    i += 1;
                    continue;
                }
            }
            out.push(Hit {
                kind: HitKind::Pii(PiiType::Name),
                start: s,
                end,
                confidence: conf,
                detail: None,
            });
            i = j;
        }
    }
}

/// The matches of the address regex, found by anchored searches at every position where one
/// can start (a 1–6 digit number at a word boundary followed by a space and a capital or an
/// ordinal, or a `P` of `P.O. Box`), skipping positions inside an earlier match: exactly the
/// matches of a full leftmost-first pass.
fn address_matches(re: &meta::Regex, text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let n = b.len();
    let word = |i: usize| b[i].is_ascii_alphanumeric() || b[i] == b'_';
    let mut caps = re.create_captures();
    let mut out = Vec::new();
    let mut i = 0;
    let mut last_end = 0;
    while i < n {
        // Skip to the next digit or `P` (where a match can start).
        i = next_in_range(b, i, b'0', b'P');
        let Some(&ch) = b.get(i) else { break };
        if !(ch.is_ascii_digit() || ch == b'P') {
            i += 1;
            continue;
        }
        if i > 0 && word(i - 1) {
            i += 1;
            continue;
        }
        let candidate = if ch == b'P' {
            matches!(b.get(i + 1), Some(b'.' | b' ' | b'O'))
        } else {
            let mut j = i;
            while j < n && b[j].is_ascii_digit() {
                j += 1;
            }
            // ` [A-Z]…` or ` \d{1,3}(?:st|nd|rd|th)` must follow.
            let ordinal = |k: usize| {
                let mut d = k;
                while d < n && d - k < 4 && b[d].is_ascii_digit() {
                    d += 1;
                }
                (1..=3).contains(&(d - k))
                    && matches!(b.get(d..d + 2), Some(b"st" | b"nd" | b"rd" | b"th"))
            };
            let ok = j - i <= 6
                && b.get(j) == Some(&b' ')
                && b.get(j + 1).is_some_and(|x| {
                    x.is_ascii_uppercase() || (x.is_ascii_digit() && ordinal(j + 1))
                });
            if !ok {
                i = j;
                continue;
            }
            true
        };
        if candidate && i >= last_end {
            let input = Input::new(text).span(i..n).anchored(Anchored::Yes);
            re.search_captures(&input, &mut caps);
            if let Some(m) = caps.get_match() {
                if !m.is_empty() {
                    last_end = m.end();
                    out.push((m.start(), m.end()));
                    i = m.end();
                    continue;
                }
            }
        }
        i += 1;
    }
    out
}

/// The matches of `\b[A-Z][a-z]{1,20}(?:[-'][A-Z][a-z]+)?\b` (ASCII word boundaries), found
/// by a byte scan instead of a regex pass.
fn capitalised_words(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let n = b.len();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let lower_run = |mut j: usize| {
        while j < n && b[j].is_ascii_lowercase() {
            j += 1;
        }
        j
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        // Skip to the next capital.
        i = next_in_range(b, i, b'A', b'Z');
        if i >= n {
            break;
        }
        if i > 0 && word(b[i - 1]) {
            i += 1;
            continue;
        }
        let j = lower_run(i + 1);
        let len = j - i - 1;
        if !(1..=20).contains(&len) {
            i = j.max(i + 1);
            continue;
        }
        let mut end = None;
        if j + 1 < n && matches!(b[j], b'-' | b'\'') && b[j + 1].is_ascii_uppercase() {
            let k = lower_run(j + 2);
            if k > j + 2 && (k == n || !word(b[k])) {
                end = Some(k);
            }
        }
        if end.is_none() && (j == n || !word(b[j])) {
            end = Some(j);
        }
        match end {
            Some(e) => {
                out.push((i, e));
                i = e;
            }
            None => i = j,
        }
    }
    out
}

/// The first index at or after `from` whose byte lies in `lo..=hi` (ASCII bounds), or
/// `b.len()`. Eight bytes at a time: with the high bits cleared, adding `0x80 - lo` sets a
/// byte's high bit exactly when it is `>= lo` and adding `0x7f - hi` exactly when it is `> hi`
/// (no sum carries into the next byte); bytes with the high bit set are never in range.
fn next_in_range(b: &[u8], from: usize, lo: u8, hi: u8) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    debug_assert!(lo <= hi && hi < 0x80);
    let mut i = from;
    while let Some(w) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(w.try_into().unwrap_or([0xff; 8]));
        let y = x & !HIGH;
        let ge = y.wrapping_add(ONES * u64::from(0x80 - lo));
        let gt = y.wrapping_add(ONES * u64::from(0x7f - hi));
        let hit = ge & !gt & !x & HIGH;
        if hit != 0 {
            return i + (hit.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !(lo..=hi).contains(&b[i]) {
        i += 1;
    }
    i.min(b.len())
}

/// The overlapping cue-word automaton (used when [`CueFinder`] cannot be built).
fn cue_automaton(words: &[&str]) -> Option<aho_corasick::AhoCorasick> {
    aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        // A full DFA: the overlapping search visits every byte, and the cue list is small.
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .build(words)
        .ok()
}

/// Every occurrence of the cue words in ASCII-lower-cased text, overlapping, in the order of
/// an overlapping Aho-Corasick search (by end; longer words first; then word order), with
/// the same (word, start, end) triples. A 64 K table of the first two bytes of every word
/// rules out most positions with one lookup; the few words behind a pair are compared.
#[derive(Debug)]
struct CueFinder {
    words: Vec<Vec<u8>>,
    /// Group (1-based; 0 = none) of the words that start with each byte pair.
    index: Box<[u8; 1 << 16]>,
    /// Per group: (word, its first eight bytes little-endian, mask of those bytes).
    groups: Vec<Vec<(usize, u64, u64)>>,
    /// Per group: the third bytes its words can have (all bytes when a word has two).
    third: Vec<[u64; 4]>,
}

impl CueFinder {
    /// `None` when a word is shorter than two bytes or there are too many pairs for the
    /// table (the caller then keeps the automaton).
    fn new(words: &[&str]) -> Option<CueFinder> {
        let words: Vec<Vec<u8>> = words
            .iter()
            .map(|w| w.as_bytes().to_ascii_lowercase())
            .collect();
        let mut index = Box::new([0u8; 1 << 16]);
        let mut groups: Vec<Vec<(usize, u64, u64)>> = vec![Vec::new()];
        let mut third: Vec<[u64; 4]> = vec![[0; 4]];
        for (pid, w) in words.iter().enumerate() {
            let [a, b, rest @ ..] = w.as_slice() else {
                return None;
            };
            let key = usize::from(*a) << 8 | usize::from(*b);
            if index[key] == 0 {
                index[key] = u8::try_from(groups.len()).ok()?;
                groups.push(Vec::new());
                third.push([0; 4]);
            }
            let t = &mut third[usize::from(index[key])];
            match rest.first() {
                Some(&c) => t[usize::from(c >> 6)] |= 1 << (c & 63),
                None => *t = [u64::MAX; 4],
            }
            let head = &w[..w.len().min(8)];
            let mut bytes = [0u8; 8];
            bytes[..head.len()].copy_from_slice(head);
            let mask = if head.len() == 8 {
                u64::MAX
            } else {
                (1u64 << (8 * head.len())) - 1
            };
            groups[usize::from(index[key])].push((pid, u64::from_le_bytes(bytes), mask));
        }
        Some(CueFinder {
            words,
            index,
            groups,
            third,
        })
    }

    /// `(word, start, end)` of every occurrence in `hay`.
    #[inline(never)]
    fn find(&self, hay: &[u8]) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        let index = &*self.index;
        let n = hay.len();
        if n < 2 {
            return out;
        }
        let mut k = 0;
        // Tight scan for the next position whose byte pair starts a word.
        while let (Some(firsts), Some(seconds)) = (hay.get(k..n - 1), hay.get(k + 1..)) {
            let Some(d) = firsts
                .iter()
                .zip(seconds)
                .position(|(&a, &b)| index[usize::from(a) << 8 | usize::from(b)] != 0)
            else {
                break;
            };
            k += d;
            let g = index[usize::from(hay[k]) << 8 | usize::from(hay[k + 1])];
            self.verify(hay, k, g, &mut out);
            k += 1;
        }
        out.sort_unstable_by_key(|&(pid, s, e)| (e, std::cmp::Reverse(e - s), pid));
        out
    }

    /// The words of group `g` (whose pair starts at `k`) that occur at `k`.
    fn verify(&self, hay: &[u8], k: usize, g: u8, out: &mut Vec<(usize, usize, usize)>) {
        // The third byte must continue one of the group's words.
        if let (Some(&c3), Some(t)) = (hay.get(k + 2), self.third.get(usize::from(g))) {
            if t[usize::from(c3 >> 6)] & (1 << (c3 & 63)) == 0 {
                return;
            }
        }
        let Some(group) = self.groups.get(usize::from(g)) else {
            return;
        };
        // The eight bytes from `k` (zero-padded at the end of the text).
        let at = match hay.get(k..k + 8) {
            Some(h) => u64::from_le_bytes(h.try_into().unwrap_or([0; 8])),
            None => {
                let mut bytes = [0u8; 8];
                let tail = &hay[k..];
                bytes[..tail.len()].copy_from_slice(tail);
                u64::from_le_bytes(bytes)
            }
        };
        for &(pid, head, mask) in group {
            if at & mask != head {
                continue;
            }
            let w = &self.words[pid];
            if w.len() <= 8 {
                // The head compare covered the word; it must also fit in the text.
                if k + w.len() <= hay.len() {
                    out.push((pid, k, k + w.len()));
                }
            } else if hay.get(k..k + w.len()).is_some_and(|h| h == w.as_slice()) {
                out.push((pid, k, k + w.len()));
            }
        }
    }
}

struct Cx<'a> {
    text: &'a str,
    lower: &'a str,
}

/// Keeps the best of overlapping PII hits (higher confidence, then longer).
fn resolve_overlaps(hits: &mut Vec<Hit>) {
    hits.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut kept: Vec<Hit> = Vec::with_capacity(hits.len());
    for h in hits.drain(..) {
        if let Some(last) = kept.last_mut() {
            if h.start < last.end {
                let better = h.confidence > last.confidence
                    || (h.confidence == last.confidence && h.end - h.start > last.end - last.start);
                if better {
                    *last = h;
                }
                continue;
            }
        }
        kept.push(h);
    }
    *hits = kept;
}

/// Digit groups are exactly `groups`, or one unseparated run of the same total length.
fn grouped(s: &str, groups: &[usize]) -> bool {
    let got: Vec<usize> = s
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .map(str::len)
        .collect();
    got == groups || (got.len() == 1 && got[0] == groups.iter().sum::<usize>())
}

fn char_classes(v: &str) -> usize {
    let b = v.as_bytes();
    [
        b.iter().any(u8::is_ascii_lowercase),
        b.iter().any(u8::is_ascii_uppercase),
        b.iter().any(u8::is_ascii_digit),
        b.iter().any(|c| !c.is_ascii_alphanumeric()),
    ]
    .iter()
    .filter(|x| **x)
    .count()
}

fn trim_url(s: &str) -> &str {
    let mut t = s.trim_end_matches(['.', ',', ';', ':', '!', '?', '\'', '"', ']', '}', '>']);
    // Drop an unbalanced closing parenthesis (prose like "(see https://x.y/z)").
    while t.ends_with(')') && t.matches('(').count() < t.matches(')').count() {
        t = &t[..t.len() - 1];
        t = t.trim_end_matches(['.', ',', ';', ':', '!', '?']);
    }
    t
}

/// The candidate is not part of a longer code such as `A-1043`, `ORD-2024-00017`, `1.2.3.4.5`.
fn isolated(text: &str, start: usize, end: usize) -> bool {
    let b = text.as_bytes();
    let at = |i: usize| b.get(i).copied();
    if let Some(p) = start.checked_sub(1).and_then(at) {
        if p.is_ascii_alphanumeric() || p == b'_' {
            return false;
        }
        if matches!(p, b'-' | b'.' | b'/' | b'_' | b'#' | b':')
            && start
                .checked_sub(2)
                .and_then(at)
                .is_some_and(|q| q.is_ascii_alphanumeric())
        {
            return false;
        }
    }
    if let Some(n) = at(end) {
        if n.is_ascii_alphanumeric() || n == b'_' {
            return false;
        }
        if matches!(n, b'-' | b'/' | b'_' | b'.' | b':')
            && at(end + 1).is_some_and(|q| q.is_ascii_alphanumeric())
        {
            return false;
        }
    }
    true
}

fn version_cue(lower: &str, start: usize) -> bool {
    let b = lower.as_bytes();
    if start > 0 && b.get(start - 1) == Some(&b'v') {
        return true;
    }
    cue_before(lower, start, 12, &["version", "ver ", "release", "build"])
}

fn ceil_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

pub(crate) fn floor_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// True when one of `cues` appears in the `window` bytes before `start` (lower-cased text).
pub(crate) fn cue_before(lower: &str, start: usize, window: usize, cues: &[&str]) -> bool {
    let from = floor_boundary(lower, start.saturating_sub(window));
    let to = floor_boundary(lower, start);
    let Some(w) = lower.get(from..to) else {
        return false;
    };
    cues.iter().any(|c| {
        w.match_indices(c).any(|(i, _)| {
            // whole-word at the start of the cue
            let abs = from + i;
            abs == 0
                || !lower.as_bytes()[abs - 1].is_ascii_alphanumeric()
                || !c.as_bytes()[0].is_ascii_alphanumeric()
        })
    })
}

struct Gazetteer {
    first: FxHashSet<&'static str>,
    last: FxHashSet<&'static str>,
    stop: FxHashSet<&'static str>,
}

fn gazetteer() -> &'static Gazetteer {
    static G: OnceLock<Gazetteer> = OnceLock::new();
    G.get_or_init(|| {
        let list = |s: &'static str| -> FxHashSet<&'static str> {
            s.split_whitespace()
                .filter(|w| !w.starts_with('#'))
                .collect()
        };
        Gazetteer {
            first: list(include_str!("data/first_names.txt")),
            last: list(include_str!("data/last_names.txt")),
            stop: list(include_str!("data/name_stopwords.txt")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_builtin_patterns_compile() {
        for (det, p) in pattern_table() {
            assert!(Regex::new(&p).is_ok(), "{det:?}: {p}");
        }
    }

    /// Deterministic texts built from fragments that sit on the gates' edges.
    fn edge_texts() -> Vec<String> {
        const FRAGS: &[&str] = &[
            "0",
            "7",
            "9",
            " ",
            "-",
            ".",
            ":",
            "(",
            ")",
            "+",
            "A",
            "K",
            "I",
            "S",
            "Z",
            "P",
            "O",
            "a",
            "f",
            "x",
            "@",
            "\n",
            "/",
            "_",
            ",",
            "é",
            "415",
            "555",
            "2671",
            "4111 1111",
            "192.168.",
            "::1",
            "fe80::",
            "GB82",
            "WEST",
            "1234",
            "AKIA",
            "IOSFODNN7EXAMPLE",
            "1HGCM82633A004352",
            " Street",
            " St",
            " Ave",
            "42 Baker",
            "P.O. Box ",
            "PO Box 12",
            " 3rd",
            "Jane ",
            "Mary-Jane",
            "O'Brien",
            "+44 ",
            "020 ",
            "QQ",
            "123456C",
            "00:1A:2B:3C:4D:5E",
            "0a1b.2c3d.4e5f",
            "ORD-2024-",
            ", Springfield, IL 62704",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        (0..600)
            .map(|_| {
                let len = 5 + next() % 50;
                (0..len)
                    .map(|_| FRAGS[(next() % FRAGS.len() as u64) as usize])
                    .collect()
            })
            .collect()
    }

    /// `runs` finds exactly the maximal alphabet runs that hold an anchor and pass the
    /// necessary condition (reference: split the text per detector and test every run).
    #[test]
    fn runs_are_the_anchored_maximal_runs() {
        let scanner =
            PatternScanner::new(PiiType::ALL.iter().copied().collect(), true, 3.0, vec![]);
        let mut texts = edge_texts();
        texts.push(include_str!("../benches/full_guardrail.toml").to_owned());
        texts.push(String::new());
        texts.push("4111111111111111".into());
        for text in texts {
            let got = scanner.runs(&text);
            let b = text.as_bytes();
            for (k, got) in got.iter().enumerate() {
                let bit = 1u16 << k;
                let (min_len, keep) = scanner.run_keep[k];
                let mut want = Vec::new();
                let mut i = 0;
                while i < b.len() {
                    if scanner.run_lut[usize::from(b[i])] & bit == 0 {
                        i += 1;
                        continue;
                    }
                    let s = i;
                    while i < b.len() && scanner.run_lut[usize::from(b[i])] & bit != 0 {
                        i += 1;
                    }
                    let run = &b[s..i];
                    if run
                        .iter()
                        .any(|x| scanner.anchor_lut[usize::from(*x)] & bit != 0)
                        && run.len() >= min_len
                        && keep(run)
                    {
                        want.push((s, i));
                    }
                }
                assert_eq!(got, &want, "{:?}: {text:?}", RUN_DETS[k]);
            }
        }
    }

    #[test]
    fn gates_find_exactly_the_full_pass_matches() {
        let scanner =
            PatternScanner::new(PiiType::ALL.iter().copied().collect(), true, 3.0, vec![]);
        for text in edge_texts() {
            let runs = scanner.runs(&text);
            for c in &scanner.compiled {
                let full: Vec<(usize, usize)> =
                    c.re.find_iter(text.as_str())
                        .map(|m| (m.start(), m.end()))
                        .collect();
                let gated: Vec<(usize, usize)> = match c.gate {
                    Gate::Runs(k) => runs[k]
                        .iter()
                        .flat_map(|&(s, e)| {
                            c.re.find_iter(Input::new(text.as_str()).span(s..e))
                                .map(|m| (m.start(), m.end()))
                                .collect::<Vec<_>>()
                        })
                        .collect(),
                    Gate::Starts => address_matches(&c.re, &text),
                    _ => continue,
                };
                // Run gates also drop runs that cannot pass validation, so they may find fewer
                // matches, never different ones; the condition must reject only such runs.
                for m in &gated {
                    assert!(
                        full.contains(m),
                        "{:?} {m:?} not in full pass: {text:?}",
                        c.det
                    );
                }
                if let Gate::Runs(k) = c.gate {
                    let (min_len, keep) = scanner.run_keep[k];
                    for m in full.iter().filter(|m| !gated.contains(m)) {
                        // the dropped match lies in a run that fails the necessary condition
                        let b = text.as_bytes();
                        let bit = 1u16 << k;
                        let (mut s, mut e) = *m;
                        while s > 0 && scanner.run_lut[usize::from(b[s - 1])] & bit != 0 {
                            s -= 1;
                        }
                        while e < b.len() && scanner.run_lut[usize::from(b[e])] & bit != 0 {
                            e += 1;
                        }
                        let anchored = b[s..e]
                            .iter()
                            .any(|x| scanner.anchor_lut[usize::from(*x)] & bit != 0);
                        assert!(
                            !anchored || e - s < min_len || !keep(&b[s..e]),
                            "{:?} dropped {m:?} in a qualifying run: {text:?}",
                            c.det
                        );
                    }
                } else {
                    assert_eq!(gated, full, "{:?}: {text:?}", c.det);
                }
            }
        }
    }

    #[test]
    fn cue_finder_matches_the_overlapping_automaton() {
        let scanner =
            PatternScanner::new(PiiType::ALL.iter().copied().collect(), true, 3.0, vec![]);
        let Some(finder) = &scanner.cue_finder else {
            panic!("the cue finder is built");
        };
        let words: Vec<&str> = finder
            .words
            .iter()
            .map(|w| std::str::from_utf8(w).unwrap())
            .collect();
        let ac = cue_automaton(&words).unwrap();
        // Cue words, their pieces and overlaps ("passwd" is a cue of two detectors).
        let mut frags: Vec<String> = finder
            .words
            .iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        frags.extend(
            [
                "pass",
                "word",
                "passwords",
                "ageage",
                "yyr",
                "aba",
                "abank",
                "secretoken",
                "keyear",
                "damage",
                "message",
                " ",
                "  ",
                "x",
                "é",
                "-",
                "#",
                ".",
                "/",
                "0",
                "exp",
                "expires",
                "regno",
                "reg.",
                "a/c",
                "y/o",
                " yo",
                "yo",
            ]
            .iter()
            .map(|s| (*s).to_owned()),
        );
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut total = 0;
        for _ in 0..3000 {
            let len = 1 + next() % 20;
            let text: String = (0..len)
                .map(|_| frags[(next() % frags.len() as u64) as usize].as_str())
                .collect::<String>()
                .to_ascii_lowercase();
            let want: Vec<(usize, usize, usize)> = ac
                .find_overlapping_iter(&text)
                .map(|m| (m.pattern().as_usize(), m.start(), m.end()))
                .collect();
            assert_eq!(finder.find(text.as_bytes()), want, "{text:?}");
            total += want.len();
        }
        assert!(total > 10_000, "{total}");
    }

    /// A match that the early stop of [`PatternScanner::run_in_run`] skips fails the gate's
    /// own condition, so validation would reject it.
    #[test]
    fn run_search_stops_only_before_matches_that_cannot_pass() {
        let scanner =
            PatternScanner::new(PiiType::ALL.iter().copied().collect(), true, 3.0, vec![]);
        let mut texts = edge_texts();
        texts.push("call 415 555 2671 or 415 555 2672, 12 34 56 78 9, 1 2".into());
        texts.push("10.0.0.1 10.0.0.2 GB82WEST12345698765432 GB82 WEST 1234 5698 7654 32".into());
        let mut skipped = 0;
        for text in texts {
            let runs = scanner.runs(&text);
            let b = text.as_bytes();
            for c in &scanner.compiled {
                let Gate::Runs(k) = c.gate else { continue };
                for &(s, e) in &runs[k] {
                    let mut stopped = false;
                    for m in c.re.find_iter(Input::new(text.as_str()).span(s..e)) {
                        if stopped {
                            let (min_len, keep) = scanner.run_keep[k];
                            let x = &b[m.start()..m.end()];
                            assert!(
                                x.len() < min_len || !keep(x),
                                "{:?} would skip {:?} in {text:?}",
                                c.det,
                                m.range()
                            );
                            skipped += 1;
                        }
                        stopped |= !scanner.rest_may_match(k, &b[m.end()..e]);
                    }
                }
            }
        }
        // Short phone-like groups after a number are skipped (fewer than 7 digits).
        assert!(skipped > 0);
    }

    #[test]
    fn next_in_range_finds_the_first_byte_in_range() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let b: Vec<u8> = (0..len)
                .map(|_| match next() % 4 {
                    0 => next() as u8,
                    1 => b'a' + (next() % 26) as u8,
                    2 => b' ',
                    _ => b'0' + (next() % 43) as u8,
                })
                .collect();
            let lo = (next() % 0x80) as u8;
            let hi = lo + (next() % u64::from(0x80 - lo)) as u8;
            let from = (next() % (len as u64 + 1)) as usize;
            let want = (from..len)
                .find(|&i| (lo..=hi).contains(&b[i]))
                .unwrap_or(len);
            assert_eq!(
                next_in_range(&b, from, lo, hi),
                want,
                "{b:?} {from} {lo}..={hi}"
            );
        }
    }

    #[test]
    fn capitalised_words_match_the_regex() {
        let pat = pattern_table()
            .into_iter()
            .find(|(d, _)| *d == Det::NameWord)
            .map(|(_, p)| p)
            .unwrap();
        let re = Regex::new(&pat).unwrap();
        for t in [
            "Hello Jane Smith, O'Brien and Mary-Jane met Dr. Who at 5pm.",
            "ABC Abc_ Abcd9 Ab-Cd Ab-CdE Ab'C Ab-Cd- Ab-cd X Xy Éa Aé Abcdefghijklmnopqrstuv Abcdefghijklmnopqrstu",
            "a\u{e9}Bob-Smith_ Bob-Smithé Jean-Luc Picard's",
            "",
            "Z",
            "Zz",
        ] {
            let want: Vec<(usize, usize)> =
                re.find_iter(t).map(|m| (m.start(), m.end())).collect();
            assert_eq!(capitalised_words(t), want, "{t}");
        }
    }

    #[test]
    fn isolation() {
        assert!(!isolated("A-1043", 2, 6));
        assert!(!isolated("ORD-2024-00017", 4, 8));
        assert!(isolated("call 555-0100 now", 5, 13));
        assert!(!isolated("1.2.3.4.5", 0, 7));
    }

    /// Texts where the URL pattern finds a match all pass [`url_possible`] (so skipping the
    /// pass on the others loses nothing), and the texts hold both kinds.
    #[test]
    fn url_gate_is_a_necessary_condition() {
        const PIECES: &[&str] = &[
            "http", "https", "HTTPS", "hTTp", "ftp", "FTP", "httpſ", ":", "//", ":/", "/", "://",
            "www", "WWW", "wWw", "Www", ".", "ww.", "w", "example", "com", "a-b", " ", "\n",
            "?q=1", "#x", "https://", "www.", "WwW.", "ftp://", "é", "日本", "\u{200b}", "<", ">",
            "\"", "'", "|", "x.io", "1",
        ];
        let re = pattern_table()
            .into_iter()
            .find(|(d, _)| *d == Det::Url)
            .and_then(|(_, p)| Regex::new(&p).ok())
            .expect("the URL pattern compiles");
        let mut state = 0x0bad_c0de_1234_5678u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut matched, mut skipped) = (0, 0);
        for _ in 0..20_000 {
            let len = (next() % 16) as usize;
            let text: String = (0..len)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect();
            let lower = text.to_ascii_lowercase();
            let possible = url_possible(&text, &lower);
            if re.is_match(&text) {
                assert!(possible, "{text:?}");
                matched += 1;
            } else if !possible {
                skipped += 1;
            }
        }
        assert!(
            matched > 1000 && skipped > 1000,
            "{matched} matched, {skipped} skipped"
        );
    }

    #[test]
    fn cues() {
        assert!(cue_before("my ssn is 123", 10, 20, &["ssn"]));
        assert!(!cue_before("lessn is 123", 9, 20, &["ssn"]));
    }
}
