//! Word filters: configured denied words/phrases (exact and bounded-edit-distance fuzzy) and
//! the embedded profanity list (whole words, leetspeak and letter repeats folded).

use std::sync::OnceLock;

use crate::fxhash::{FxHashMap, FxHashSet};

/// A word token of the normalised text: byte span and lower-cased form.
#[derive(Debug, Clone)]
pub(crate) struct Token<'a> {
    pub start: usize,
    pub end: usize,
    pub text: std::borrow::Cow<'a, str>,
}

/// Splits `lower` (ASCII-lower-cased normalised text) into alphanumeric word tokens.
pub(crate) fn tokens(lower: &str) -> Vec<Token<'_>> {
    let mut out = Vec::with_capacity(lower.len() / 5);
    let mut start: Option<usize> = None;
    let mut ascii = true;
    fn push<'a>(out: &mut Vec<Token<'a>>, lower: &'a str, s: usize, e: usize, ascii: bool) {
        let t = &lower[s..e];
        out.push(Token {
            start: s,
            end: e,
            text: if ascii {
                std::borrow::Cow::Borrowed(t)
            } else {
                std::borrow::Cow::Owned(t.to_lowercase())
            },
        });
    }
    for (i, c) in lower.char_indices() {
        if c.is_alphanumeric() {
            if start.is_none() {
                start = Some(i);
                ascii = true;
            }
            ascii &= c.is_ascii();
        } else if let Some(s) = start.take() {
            push(&mut out, lower, s, i, ascii);
        }
    }
    if let Some(s) = start {
        push(&mut out, lower, s, lower.len(), ascii);
    }
    out
}

/// A denied term, tokenised.
#[derive(Debug, Clone)]
struct Term {
    /// The configured text (reported as the finding name).
    original: String,
    parts: Vec<String>,
    joined: String,
    joined_chars: usize,
}

/// Compiled word filter.
#[derive(Debug)]
pub(crate) struct WordFilter {
    terms: Vec<Term>,
    by_first: FxHashMap<String, Vec<usize>>,
    by_joined: FxHashMap<String, Vec<usize>>,
    fuzzy_distance: usize,
    profanity: bool,
}

/// A word-filter hit in normalised-text bytes.
#[derive(Debug, Clone)]
pub(crate) struct WordHit {
    /// `Some(term index)` for a denied term, `None` for profanity.
    pub term: Option<usize>,
    pub start: usize,
    pub end: usize,
    pub confidence: f32,
}

impl WordFilter {
    /// Builds the filter; returns the indexes of terms that have no letters or digits.
    pub fn new(deny: &[String], fuzzy_distance: usize, profanity: bool) -> (Self, Vec<usize>) {
        let mut bad = Vec::new();
        let mut terms = Vec::new();
        let mut by_first: FxHashMap<String, Vec<usize>> = FxHashMap::default();
        let mut by_joined: FxHashMap<String, Vec<usize>> = FxHashMap::default();
        for (i, d) in deny.iter().enumerate() {
            let norm = crate::normalize::Normalized::new(d);
            let lower = norm.text.to_ascii_lowercase();
            let parts: Vec<String> = tokens(&lower)
                .into_iter()
                .map(|t| t.text.into_owned())
                .collect();
            if parts.is_empty() {
                bad.push(i);
                continue;
            }
            let joined = parts.concat();
            let idx = terms.len();
            by_first.entry(parts[0].clone()).or_default().push(idx);
            by_joined.entry(joined.clone()).or_default().push(idx);
            terms.push(Term {
                original: d.clone(),
                parts,
                joined_chars: joined.chars().count(),
                joined,
            });
        }
        (
            WordFilter {
                terms,
                by_first,
                by_joined,
                fuzzy_distance,
                profanity,
            },
            bad,
        )
    }

    /// The configured text of term `i`.
    pub fn term_name(&self, i: usize) -> &str {
        self.terms.get(i).map_or("", |t| t.original.as_str())
    }

    /// Scans the normalised text (`lower` = ASCII-lower-cased copy).
    pub fn scan(&self, lower: &str, toks: &[Token<'_>], out: &mut Vec<WordHit>) {
        let mut seen: FxHashSet<(usize, usize)> = FxHashSet::default();
        for (i, tok) in toks.iter().enumerate() {
            // exact phrase starting here
            if let Some(cands) = self.by_first.get(tok.text.as_ref()) {
                for &ti in cands {
                    let t = &self.terms[ti];
                    let k = t.parts.len();
                    if i + k <= toks.len()
                        && toks[i..i + k]
                            .iter()
                            .zip(&t.parts)
                            .all(|(a, b)| a.text.as_ref() == b)
                        && seen.insert((ti, tok.start))
                    {
                        out.push(WordHit {
                            term: Some(ti),
                            start: tok.start,
                            end: toks[i + k - 1].end,
                            confidence: 1.0,
                        });
                    }
                }
            }
            // a phrase written as one token ("competitorx")
            if let Some(cands) = self.by_joined.get(tok.text.as_ref()) {
                for &ti in cands {
                    if seen.insert((ti, tok.start)) {
                        out.push(WordHit {
                            term: Some(ti),
                            start: tok.start,
                            end: tok.end,
                            confidence: 0.95,
                        });
                    }
                }
            }
            if self.fuzzy_distance > 0 {
                for (ti, t) in self.terms.iter().enumerate() {
                    if t.joined_chars < 5 {
                        continue;
                    }
                    let d = self.fuzzy_distance.min(t.joined_chars / 4).max(1);
                    // cheap reject: the first token alone is far longer than the whole term
                    if tok.text.len() > t.joined.len() + d {
                        continue;
                    }
                    for k in [t.parts.len(), 1] {
                        if i + k > toks.len() {
                            continue;
                        }
                        let window = &toks[i..i + k];
                        let len: usize = window.iter().map(|w| w.text.len()).sum();
                        if len.abs_diff(t.joined.len()) > d {
                            continue;
                        }
                        let joined: String = window.iter().map(|w| w.text.as_ref()).collect();
                        if let Some(dist) = bounded_levenshtein(&joined, &t.joined, d) {
                            if dist > 0 && seen.insert((ti, tok.start)) {
                                out.push(WordHit {
                                    term: Some(ti),
                                    start: tok.start,
                                    end: window[k - 1].end,
                                    confidence: 0.9 - 0.1 * dist as f32,
                                });
                            }
                        }
                    }
                }
            }
        }
        if self.profanity {
            profanity_scan(lower, out);
        }
    }
}

fn profanity_set() -> &'static FxHashSet<&'static str> {
    static P: OnceLock<FxHashSet<&'static str>> = OnceLock::new();
    P.get_or_init(|| {
        include_str!("data/profanity.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

fn leet(c: char) -> char {
    match c {
        '@' | '4' => 'a',
        '$' | '5' => 's',
        '!' | '1' | '|' => 'i',
        '0' => 'o',
        '3' => 'e',
        '7' => 't',
        _ => c,
    }
}

fn collapse(s: &str, keep: usize) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev: Option<char> = None;
    let mut run = 0;
    for c in s.chars() {
        if Some(c) == prev {
            run += 1;
        } else {
            run = 1;
            prev = Some(c);
        }
        if run <= keep {
            out.push(c);
        }
    }
    out
}

/// Profanity: whitespace-separated chunks, leetspeak folded, letter runs collapsed.
fn profanity_scan(lower: &str, out: &mut Vec<WordHit>) {
    let set = profanity_set();
    let is_part = |c: char| c.is_alphanumeric() || matches!(c, '@' | '$' | '!' | '|' | '*');
    let mut start: Option<usize> = None;
    let check = |s: usize, e: usize, out: &mut Vec<WordHit>| {
        let raw = &lower[s..e];
        // Fast path: a plain lower-case word without letter runs of 3+ needs one lookup.
        if raw.len() > 24 {
            return;
        }
        let b = raw.as_bytes();
        if b.iter().all(u8::is_ascii_lowercase)
            && !b.windows(3).any(|w| w[0] == w[1] && w[1] == w[2])
        {
            if set.contains(raw) {
                out.push(WordHit {
                    term: None,
                    start: s,
                    end: e,
                    confidence: 1.0,
                });
            }
            return;
        }
        // trim leading/trailing punctuation-like leet chars that are plausibly punctuation
        let trimmed_start = raw.len() - raw.trim_start_matches(['!', '|', '*']).len();
        let core = raw.trim_matches(['!', '|', '*']);
        if core.is_empty() || !core.chars().any(char::is_alphabetic) {
            return;
        }
        let folded: String = core.chars().map(leet).collect();
        for piece in folded.split('*').filter(|p| !p.is_empty()) {
            let hit = set.contains(piece)
                || set.contains(collapse(piece, 2).as_str())
                || set.contains(collapse(piece, 1).as_str());
            if hit {
                out.push(WordHit {
                    term: None,
                    start: s + trimmed_start,
                    end: s + trimmed_start + core.len(),
                    confidence: if piece == core { 1.0 } else { 0.9 },
                });
                return;
            }
        }
    };
    for (i, c) in lower.char_indices() {
        if is_part(c) {
            if start.is_none() {
                start = Some(i);
            }
        } else if let Some(s) = start.take() {
            check(s, i, out);
        }
    }
    if let Some(s) = start {
        check(s, lower.len(), out);
    }
}

/// Levenshtein distance if it is at most `max`, else `None`.
pub(crate) fn bounded_levenshtein(a: &str, b: &str, max: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            row_min = row_min.min(cur[j]);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    let d = prev[b.len()];
    (d <= max).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(f: &WordFilter, text: &str) -> Vec<(Option<usize>, String)> {
        let lower = text.to_ascii_lowercase();
        let toks = tokens(&lower);
        let mut out = Vec::new();
        f.scan(&lower, &toks, &mut out);
        out.into_iter()
            .map(|h| (h.term, text[h.start..h.end].to_owned()))
            .collect()
    }

    #[test]
    fn exact_phrase_case_and_punctuation_folded() {
        let (f, bad) = WordFilter::new(&["competitor-x".into()], 0, false);
        assert!(bad.is_empty());
        assert_eq!(
            hits(&f, "Try Competitor X today"),
            vec![(Some(0), "Competitor X".into())]
        );
        assert_eq!(
            hits(&f, "try competitor   -  x"),
            vec![(Some(0), "competitor   -  x".into())]
        );
        assert_eq!(
            hits(&f, "try CompetitorX"),
            vec![(Some(0), "CompetitorX".into())]
        );
        assert!(hits(&f, "competitors exist").is_empty());
    }

    #[test]
    fn fuzzy_within_distance() {
        let (f, _) = WordFilter::new(&["competitor-x".into(), "acme".into()], 1, false);
        assert_eq!(
            hits(&f, "use competitr x"),
            vec![(Some(0), "competitr x".into())]
        );
        // short terms stay exact
        assert!(hits(&f, "acne").is_empty());
        assert!(hits(&f, "use compettr y").is_empty());
    }

    #[test]
    fn profanity_leet_and_repeats() {
        let (f, _) = WordFilter::new(&[], 0, true);
        assert_eq!(hits(&f, "what the fuuuck").len(), 1);
        assert_eq!(hits(&f, "you are a sh1t").len(), 1);
        assert_eq!(hits(&f, "@sshole!").len(), 1);
        // Scunthorpe and friends stay clean
        assert!(hits(&f, "Scunthorpe classic assessment of the cockpit").is_empty());
    }

    #[test]
    fn empty_term_reported() {
        let (_, bad) = WordFilter::new(&["---".into(), "ok".into()], 0, false);
        assert_eq!(bad, vec![0]);
    }

    #[test]
    fn levenshtein() {
        assert_eq!(bounded_levenshtein("kitten", "sitting", 3), Some(3));
        assert_eq!(bounded_levenshtein("kitten", "sitting", 2), None);
        assert_eq!(bounded_levenshtein("", "", 0), Some(0));
    }
}
