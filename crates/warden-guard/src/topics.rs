//! Denied topics: per sentence, stemmed content-word overlap with each topic's example phrases
//! (containment plus bigram shingles) and evidence from the definition's keywords.

use std::borrow::Cow;
use std::collections::HashSet;

use crate::fxhash::FxHashSet;
use crate::words::Token;

const STOPWORDS: &str = "a about above after again against all am an and any are as at be because been before being below between both but by can could did do does doing down during each few for from further had has have having he her here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only or other our ours ourselves out over own same she should so some such than that the their theirs them themselves then there these they this those through to too under until up very was we were what when where which while who whom why will with would you your yours yourself yourselves please tell give get got want wanted need know let like make made thing things any anything something specific about regarding related recommend recommendations";

fn stopwords() -> &'static FxHashSet<&'static str> {
    static S: std::sync::OnceLock<FxHashSet<&'static str>> = std::sync::OnceLock::new();
    S.get_or_init(|| STOPWORDS.split(' ').collect())
}

/// A crude English stemmer: strips common inflectional and derivational suffixes.
pub(crate) fn stem(w: &str) -> Cow<'_, str> {
    // Every suffix is at least one char and must leave three: shorter words never change.
    if w.len() < 4 {
        return Cow::Borrowed(w);
    }
    for suf in [
        "ational", "ations", "ation", "ements", "ement", "ments", "ment", "ities", "ity", "ings",
        "ing", "ies", "ied", "ness", "ers", "er", "ed", "es", "ly", "s",
    ] {
        if let Some(base) = w.strip_suffix(suf) {
            if base.chars().count() >= 3 {
                return match suf {
                    "ies" | "ied" => Cow::Owned(format!("{base}y")),
                    _ => Cow::Borrowed(base),
                };
            }
        }
    }
    Cow::Borrowed(w)
}

fn content_stems(toks: &[Token<'_>]) -> Vec<String> {
    toks.iter()
        .filter(|t| !stopwords().contains(t.text.as_ref()) && t.text.chars().count() > 1)
        .map(|t| stem(&t.text).into_owned())
        .collect()
}

fn bigrams(stems: &[String]) -> HashSet<(String, String)> {
    stems
        .windows(2)
        .map(|w| (w[0].clone(), w[1].clone()))
        .collect()
}

#[derive(Debug)]
struct Example {
    stems: HashSet<String>,
    bigrams: HashSet<(String, String)>,
}

#[derive(Debug)]
struct Topic {
    examples: Vec<Example>,
    keywords: HashSet<String>,
    threshold: f32,
}

/// Compiled denied topics.
#[derive(Debug)]
pub(crate) struct TopicMatcher {
    topics: Vec<Topic>,
    /// Every stem any topic cares about: sentences without one are skipped.
    vocabulary: FxHashSet<String>,
    /// Bitmap of the (hashed) first three bytes of every vocabulary stem. A token of three or
    /// more bytes shares its first three bytes with its stem, so a clear bit rules it out
    /// without stemming.
    prefixes: Vec<u64>,
    /// Whether any vocabulary stem is shorter than three bytes.
    has_short: bool,
}

fn prefix_bit(w: &[u8]) -> usize {
    (usize::from(w[0]) * 961 + usize::from(w[1]) * 31 + usize::from(w[2])) & 0xffff
}

/// A topic hit: topic index, span in normalised bytes, score.
#[derive(Debug, Clone)]
pub(crate) struct TopicHit {
    pub topic: usize,
    pub start: usize,
    pub end: usize,
    pub score: f32,
}

impl TopicMatcher {
    /// `topics`: (name, definition, examples, threshold).
    pub fn new(topics: &[(&str, &str, &[String], f32)]) -> Self {
        let tok = |s: &str| -> Vec<String> {
            let n = crate::normalize::Normalized::new(s);
            let lower = n.text.to_ascii_lowercase();
            content_stems(&crate::words::tokens(&lower))
        };
        let topics = topics
            .iter()
            .map(|(name, definition, examples, threshold)| {
                let mut keywords: HashSet<String> = tok(definition).into_iter().collect();
                keywords.extend(tok(&name.replace(['-', '_'], " ")));
                let examples = examples
                    .iter()
                    .map(|e| {
                        let s = tok(e);
                        Example {
                            bigrams: bigrams(&s),
                            stems: s.into_iter().collect(),
                        }
                    })
                    .filter(|e| !e.stems.is_empty())
                    .collect();
                Topic {
                    examples,
                    keywords,
                    threshold: *threshold,
                }
            })
            .collect::<Vec<Topic>>();
        let mut vocabulary = FxHashSet::default();
        for t in &topics {
            vocabulary.extend(t.keywords.iter().cloned());
            for e in &t.examples {
                vocabulary.extend(e.stems.iter().cloned());
            }
        }
        let mut prefixes = vec![0u64; 1024];
        for v in &vocabulary {
            if v.len() >= 3 {
                let i = prefix_bit(v.as_bytes());
                prefixes[i >> 6] |= 1 << (i & 63);
            }
        }
        let has_short = vocabulary.iter().any(|v| v.len() < 3);
        TopicMatcher {
            topics,
            vocabulary,
            prefixes,
            has_short,
        }
    }

    /// True when the token's stem is in the vocabulary.
    fn in_vocabulary(&self, w: &str) -> bool {
        let b = w.as_bytes();
        if b.len() <= 1 {
            return false;
        }
        if b.len() < 3 {
            // Two bytes: its own stem, so only a two-byte vocabulary entry can match.
            return self.has_short && self.vocabulary.contains(w);
        }
        let i = prefix_bit(b);
        if self.prefixes[i >> 6] & (1 << (i & 63)) == 0 {
            return false;
        }
        self.vocabulary.contains(stem(w).as_ref())
    }

    /// Scores every sentence of the text against every topic.
    pub fn scan(&self, text: &str, toks: &[Token<'_>], out: &mut Vec<TopicHit>) {
        let mut best: Vec<Option<TopicHit>> = vec![None; self.topics.len()];
        for (s, e) in sentences(text, toks) {
            let sent = &toks[s..e];
            if !sent.iter().any(|t| self.in_vocabulary(&t.text)) {
                continue;
            }
            let stems = content_stems(sent);
            if stems.is_empty() {
                continue;
            }
            let set: HashSet<&String> = stems.iter().collect();
            let bg = bigrams(&stems);
            for (ti, t) in self.topics.iter().enumerate() {
                let mut score = 0.0f32;
                for ex in &t.examples {
                    let hit = ex.stems.iter().filter(|w| set.contains(w)).count() as f32;
                    let containment = hit / ex.stems.len() as f32;
                    // short sentences that share most of an example are strong evidence
                    let precision = hit / set.len().max(1) as f32;
                    let shingle = if ex.bigrams.is_empty() {
                        0.0
                    } else {
                        ex.bigrams.intersection(&bg).count() as f32 / ex.bigrams.len() as f32
                    };
                    let s = (0.7 * containment + 0.15 * precision.min(1.0) + 0.15 * shingle).max(
                        if ex.stems.len() >= 2 {
                            containment * 0.9
                        } else {
                            0.0
                        },
                    );
                    score = score.max(s);
                }
                let kw = t.keywords.iter().filter(|k| set.contains(k)).count();
                if kw >= 2 {
                    score = score.max(0.6 + 0.1 * (kw as f32 - 2.0)).min(1.0);
                } else if kw == 1 {
                    score = (score + 0.15).min(1.0);
                }
                if score >= t.threshold && best[ti].as_ref().is_none_or(|b| b.score < score) {
                    let first = sent.first().map_or(0, |t| t.start);
                    let last = sent.last().map_or(first, |t| t.end);
                    best[ti] = Some(TopicHit {
                        topic: ti,
                        start: first,
                        end: last,
                        score,
                    });
                }
            }
        }
        out.extend(best.into_iter().flatten());
    }
}

/// Sentence boundaries as token index ranges (split on `.`, `?`, `!`, `;` and newlines).
fn sentences(text: &str, toks: &[Token<'_>]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut s = 0;
    let b = text.as_bytes();
    for i in 1..toks.len() {
        let gap = b.get(toks[i - 1].end..toks[i].start).unwrap_or(&[]);
        if gap
            .iter()
            .any(|c| matches!(c, b'.' | b'?' | b'!' | b';' | b'\n'))
            || i - s >= 40
        {
            out.push((s, i));
            s = i;
        }
    }
    if s < toks.len() {
        out.push((s, toks.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(text: &str) -> Option<f32> {
        let ex = vec!["Which stocks should I buy?".to_owned()];
        let m = TopicMatcher::new(&[(
            "investment-advice",
            "Recommendations about specific investments or securities",
            &ex,
            0.6,
        )]);
        let lower = text.to_ascii_lowercase();
        let toks = crate::words::tokens(&lower);
        let mut out = Vec::new();
        m.scan(&lower, &toks, &mut out);
        out.first().map(|h| h.score)
    }

    #[test]
    fn example_and_variants_match() {
        assert!(score("Which stocks should I buy?").is_some());
        assert!(score("What stock do you think I should buy this week?").is_some());
        assert!(
            score("Hi! Should I invest in tech stocks or bonds? Which securities are best?")
                .is_some()
        );
    }

    #[test]
    fn unrelated_is_clean() {
        assert!(score("Where is my order? It was supposed to arrive Tuesday.").is_none());
        assert!(score("I want to buy a new charger for my phone.").is_none());
    }

    #[test]
    fn stems() {
        assert_eq!(stem("investments"), "invest");
        assert_eq!(stem("securities"), stem("security"));
        assert_eq!(stem("stocks"), "stock");
    }
}
