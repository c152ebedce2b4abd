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
    /// Bit `byte & 63` set for every byte of an ASCII token (0 for other tokens).
    pub mask: u64,
}

/// ASCII letters and digits (`char::is_alphanumeric` restricted to ASCII).
static ASCII_ALNUM: [bool; 128] = {
    let mut t = [false; 128];
    let mut i = 0;
    while i < 128 {
        t[i] = (i as u8).is_ascii_alphanumeric();
        i += 1;
    }
    t
};

/// Per byte for [`tokens`]: 1 for ASCII letters and digits, 2 for non-ASCII bytes (the char
/// there is decoded), 0 for other ASCII bytes.
static TOKEN_CLASS: [u8; 256] = {
    let mut t = [2u8; 256];
    let mut i = 0;
    while i < 128 {
        t[i] = ASCII_ALNUM[i] as u8;
        i += 1;
    }
    t
};

/// Splits `lower` (ASCII-lower-cased normalised text) into alphanumeric word tokens.
pub(crate) fn tokens(lower: &str) -> Vec<Token<'_>> {
    let b = lower.as_bytes();
    let mut out = Vec::with_capacity(lower.len() / 5 + 1);
    // Is the char at byte `i` (a char boundary, not ASCII) alphanumeric, and its width.
    let wide = |i: usize| -> (bool, usize) {
        let ch = lower[i..].chars().next().unwrap_or(' ');
        (ch.is_alphanumeric(), ch.len_utf8())
    };
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        // Separators: ASCII fast path; other chars are decoded where they occur.
        match TOKEN_CLASS[usize::from(c)] {
            0 => {
                i += 1;
                continue;
            }
            1 => {}
            _ => {
                let (alnum, width) = wide(i);
                if !alnum {
                    i += width;
                    continue;
                }
            }
        }
        let s = i;
        let mut ascii = true;
        let mut mask = 0u64;
        loop {
            // A stretch of ASCII letters and digits, then at most one other char.
            while let Some(&c) = b.get(i) {
                if TOKEN_CLASS[usize::from(c)] != 1 {
                    break;
                }
                mask |= 1 << (c & 63);
                i += 1;
            }
            match b.get(i) {
                Some(&c) if c >= 0x80 => {
                    let (alnum, width) = wide(i);
                    if !alnum {
                        break;
                    }
                    ascii = false;
                    i += width;
                }
                _ => break,
            }
        }
        let t = &lower[s..i];
        out.push(if ascii {
            Token {
                start: s,
                end: i,
                text: std::borrow::Cow::Borrowed(t),
                mask,
            }
        } else {
            Token {
                start: s,
                end: i,
                text: std::borrow::Cow::Owned(t.to_lowercase()),
                mask: 0,
            }
        });
    }
    out
}

/// The byte-by-byte version of [`tokens`] (the tests compare the two).
#[cfg(test)]
fn tokens_reference(lower: &str) -> Vec<Token<'_>> {
    let b = lower.as_bytes();
    let mut out = Vec::with_capacity(lower.len() / 5 + 1);
    // Is the char at byte `i` (a char boundary, not ASCII) alphanumeric, and its width.
    let wide = |i: usize| -> (bool, usize) {
        let ch = lower[i..].chars().next().unwrap_or(' ');
        (ch.is_alphanumeric(), ch.len_utf8())
    };
    let mut i = 0;
    while i < b.len() {
        // Separators: ASCII fast path; other chars are decoded where they occur.
        let c = b[i];
        if c < 0x80 {
            if !ASCII_ALNUM[usize::from(c)] {
                i += 1;
                continue;
            }
        } else {
            let (alnum, width) = wide(i);
            if !alnum {
                i += width;
                continue;
            }
        }
        let s = i;
        let mut ascii = true;
        let mut mask = 0u64;
        while i < b.len() {
            let c = b[i];
            if c < 0x80 {
                if !ASCII_ALNUM[usize::from(c)] {
                    break;
                }
                mask |= 1 << (c & 63);
                i += 1;
            } else {
                let (alnum, width) = wide(i);
                if !alnum {
                    break;
                }
                ascii = false;
                i += width;
            }
        }
        let t = &lower[s..i];
        out.push(if ascii {
            Token {
                start: s,
                end: i,
                text: std::borrow::Cow::Borrowed(t),
                mask,
            }
        } else {
            Token {
                start: s,
                end: i,
                text: std::borrow::Cow::Owned(t.to_lowercase()),
                mask: 0,
            }
        });
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
    /// Byte histogram of `joined` in 64 buckets (`byte & 63`), when `joined` is ASCII.
    hist: Option<[i16; 64]>,
    /// Bit `byte & 63` set for every byte of `joined`.
    mask: u64,
}

/// Compiled word filter.
#[derive(Debug)]
pub(crate) struct WordFilter {
    terms: Vec<Term>,
    by_first: FxHashMap<String, Vec<usize>>,
    by_joined: FxHashMap<String, Vec<usize>>,
    fuzzy_distance: usize,
    profanity: bool,
    /// First bytes of every `by_first` / `by_joined` key: other tokens skip both lookups.
    key_first: [bool; 256],
    /// Fuzzy terms (at least 5 chars) with their edit budget, in term order.
    fuzzy_terms: Vec<(usize, usize)>,
    /// Length index for fuzzy matching: `fuzzy_single[n]` lists the fuzzy terms (indexes into
    /// `fuzzy_terms`) whose one-token window passes the length check for a token of `n` bytes.
    fuzzy_single: Vec<Vec<usize>>,
    /// Same for the multi-token windows: per window size `k` (> 1), the fuzzy terms with `k`
    /// parts indexed by the summed byte length of `k` consecutive tokens.
    fuzzy_multi: Vec<(usize, Vec<Vec<usize>>)>,
    /// `fuzzy_single` as bit sets (bit `fi`), when there are at most 64 fuzzy terms (else
    /// empty, and the scan collects candidates from the lists).
    fuzzy_single_bits: Vec<u64>,
    /// `fuzzy_multi` as bit sets, under the same condition.
    fuzzy_multi_bits: Vec<(usize, Vec<u64>)>,
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
            let hist = joined.is_ascii().then(|| {
                let mut h = [0i16; 64];
                for &b in joined.as_bytes() {
                    h[usize::from(b & 63)] += 1;
                }
                h
            });
            let mask = joined.bytes().fold(0u64, |m, b| m | 1 << (b & 63));
            terms.push(Term {
                mask,
                original: d.clone(),
                parts,
                joined_chars: joined.chars().count(),
                joined,
                hist,
            });
        }
        let mut key_first = [false; 256];
        for k in by_first.keys().chain(by_joined.keys()) {
            if let Some(&b) = k.as_bytes().first() {
                key_first[usize::from(b)] = true;
            }
        }
        // Terms long enough for fuzzy matching, with their edit budget.
        let fuzzy_terms: Vec<(usize, usize)> = if fuzzy_distance > 0 {
            terms
                .iter()
                .enumerate()
                .filter(|(_, t)| t.joined_chars >= 5)
                .map(|(ti, t)| (ti, fuzzy_distance.min(t.joined_chars / 4).max(1)))
                .collect()
        } else {
            Vec::new()
        };
        // A window of `n` bytes can only match a term whose joined length is within its edit
        // budget of `n` (the scan's length check); index the terms by the lengths they accept.
        let mut fuzzy_single: Vec<Vec<usize>> = Vec::new();
        let mut fuzzy_multi: Vec<(usize, Vec<Vec<usize>>)> = Vec::new();
        for (fi, &(ti, d)) in fuzzy_terms.iter().enumerate() {
            let t = &terms[ti];
            let lo = t.joined.len().saturating_sub(d);
            let hi = t.joined.len() + d;
            let add = |table: &mut Vec<Vec<usize>>| {
                if table.len() <= hi {
                    table.resize(hi + 1, Vec::new());
                }
                for slot in &mut table[lo..=hi] {
                    slot.push(fi);
                }
            };
            add(&mut fuzzy_single);
            let k = t.parts.len();
            if k > 1 {
                let pos = match fuzzy_multi.iter().position(|(kk, _)| *kk == k) {
                    Some(p) => p,
                    None => {
                        fuzzy_multi.push((k, Vec::new()));
                        fuzzy_multi.len() - 1
                    }
                };
                add(&mut fuzzy_multi[pos].1);
            }
        }
        let bits = |table: &Vec<Vec<usize>>| -> Vec<u64> {
            table
                .iter()
                .map(|slot| slot.iter().fold(0u64, |m, &fi| m | 1 << fi))
                .collect()
        };
        let (fuzzy_single_bits, fuzzy_multi_bits) = if fuzzy_terms.len() <= 64 {
            (
                bits(&fuzzy_single),
                fuzzy_multi.iter().map(|(k, t)| (*k, bits(t))).collect(),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        (
            WordFilter {
                fuzzy_single_bits,
                fuzzy_multi_bits,
                terms,
                by_first,
                by_joined,
                fuzzy_distance,
                profanity,
                key_first,
                fuzzy_terms,
                fuzzy_single,
                fuzzy_multi,
            },
            bad,
        )
    }

    /// Compares fuzzy term `fi` (index into `fuzzy_terms`) with the windows starting at token
    /// `i` (its own number of tokens, and one token), after cheap necessary conditions.
    fn fuzzy_at(
        &self,
        toks: &[Token<'_>],
        lens: &[usize],
        i: usize,
        fi: usize,
        seen: &mut FxHashSet<(usize, usize)>,
        out: &mut Vec<WordHit>,
    ) {
        let tok = &toks[i];
        let (ti, d) = self.fuzzy_terms[fi];
        let t = &self.terms[ti];
        // cheap reject: the first token alone is far longer than the whole term
        if lens[i] > t.joined.len() + d {
            return;
        }
        for k in [t.parts.len(), 1] {
            if i + k > toks.len() {
                continue;
            }
            let len: usize = lens[i..i + k].iter().sum();
            if len.abs_diff(t.joined.len()) > d {
                continue;
            }
            let window = &toks[i..i + k];
            // Necessary condition, no allocation: every edit changes the byte
            // histogram's L1 distance by at most 2 (ASCII text only; a token's
            // mask is non-zero exactly when it is ASCII).
            if let Some(hist) = &t.hist {
                if window.iter().all(|w| w.mask != 0) {
                    // Distinct bytes absent from the term (from the tokens'
                    // byte masks): each needs at least one edit.
                    let wmask = window.iter().fold(0u64, |m, w| m | w.mask);
                    if (wmask & !t.mask).count_ones() as usize > d {
                        continue;
                    }
                    // Bytes absent from the term each need their own edit; the
                    // same pass takes the window's bytes off the histogram.
                    let mut foreign = 0usize;
                    let mut h = *hist;
                    for w in window {
                        for &b in w.text.as_bytes() {
                            let x = b & 63;
                            foreign += usize::from(t.mask & (1 << x) == 0);
                            h[usize::from(x)] -= 1;
                        }
                    }
                    if foreign > d {
                        continue;
                    }
                    // Only buckets of the term's or the window's bytes can be
                    // non-zero.
                    let mut l1 = 0usize;
                    let mut m = t.mask | wmask;
                    while m != 0 {
                        l1 += usize::from(h[m.trailing_zeros() as usize].unsigned_abs());
                        m &= m - 1;
                    }
                    if l1 > 2 * d {
                        continue;
                    }
                }
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

    /// The configured text of term `i`.
    pub fn term_name(&self, i: usize) -> &str {
        self.terms.get(i).map_or("", |t| t.original.as_str())
    }

    /// Scans the normalised text (`lower` = ASCII-lower-cased copy).
    pub fn scan(&self, lower: &str, toks: &[Token<'_>], out: &mut Vec<WordHit>) {
        let mut seen: FxHashSet<(usize, usize)> = FxHashSet::default();
        // Token byte lengths, contiguous, for the fuzzy length checks.
        let lens: Vec<usize> = if self.fuzzy_distance > 0 {
            toks.iter().map(|t| t.text.len()).collect()
        } else {
            Vec::new()
        };
        let fuzzy_terms = &self.fuzzy_terms;
        // Fuzzy terms that pass a length check at the current token (indexes into
        // `fuzzy_terms`, sorted so that hits come out in term order).
        let mut cands: Vec<usize> = Vec::new();
        for (i, tok) in toks.iter().enumerate() {
            let text: &str = tok.text.as_ref();
            let keyed = text
                .as_bytes()
                .first()
                .is_some_and(|&b| self.key_first[usize::from(b)]);
            // exact phrase starting here
            if let Some(cands) = keyed.then(|| self.by_first.get(text)).flatten() {
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
            if let Some(cands) = keyed.then(|| self.by_joined.get(text)).flatten() {
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
            if !self.fuzzy_single_bits.is_empty() {
                // At most 64 fuzzy terms: the candidates as a bit set, visited in term order.
                let mut bits = self.fuzzy_single_bits.get(lens[i]).copied().unwrap_or(0);
                for (k, table) in &self.fuzzy_multi_bits {
                    if i + k <= toks.len() {
                        let len: usize = lens[i..i + k].iter().sum();
                        bits |= table.get(len).copied().unwrap_or(0);
                    }
                }
                while bits != 0 {
                    let fi = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    self.fuzzy_at(toks, &lens, i, fi, &mut seen, out);
                }
            } else if !fuzzy_terms.is_empty() {
                let single = self
                    .fuzzy_single
                    .get(lens[i])
                    .map_or(&[][..], Vec::as_slice);
                // Most tokens start no window of a fuzzy term's length: skip them before
                // collecting candidates.
                let any = !single.is_empty()
                    || self.fuzzy_multi.iter().any(|(k, table)| {
                        i + k <= toks.len()
                            && table
                                .get(lens[i..i + k].iter().sum::<usize>())
                                .is_some_and(|c| !c.is_empty())
                    });
                if !any {
                    continue;
                }
                cands.clear();
                cands.extend_from_slice(single);
                for (k, table) in &self.fuzzy_multi {
                    if i + k <= toks.len() {
                        let len: usize = lens[i..i + k].iter().sum();
                        if let Some(c) = table.get(len) {
                            cands.extend_from_slice(c);
                        }
                    }
                }
                if cands.is_empty() {
                    continue;
                }
                if cands.len() > 1 {
                    cands.sort_unstable();
                    cands.dedup();
                }
                for &fi in cands.iter() {
                    self.fuzzy_at(toks, &lens, i, fi, &mut seen, out);
                }
            }
        }
        if self.profanity {
            profanity_scan(lower, toks, out);
        }
    }
}

/// The profanity list plus a bitmap of the first two bytes of its entries, so that most plain
/// words are rejected without hashing.
struct Profanity {
    set: FxHashSet<&'static str>,
    /// The same entries as bytes (the plain-word fast path looks up byte slices).
    bytes: FxHashSet<&'static [u8]>,
    pairs: Vec<u64>,
    /// Same bitmap for the first two chars of every entry with letter runs collapsed to one.
    collapsed_pairs: Vec<u64>,
    /// Bit `n` set when some entry is `n` bytes long (entries longer than 63 bytes set bit 63;
    /// the fast path only looks up words of at most 24 bytes).
    len_mask: u64,
}

fn pair_bit(a: u8, b: u8) -> usize {
    usize::from(a) << 8 | usize::from(b)
}

/// The first two chars of `collapse(leet-folded s, 1)`, when both are ASCII.
fn collapsed_head(s: &str) -> Option<(u8, Option<u8>)> {
    let mut it = s.chars().map(leet);
    let a = it.next()?;
    let b = it.find(|c| *c != a);
    if !a.is_ascii() || b.is_some_and(|c| !c.is_ascii()) {
        return None;
    }
    Some((a as u8, b.map(|c| c as u8)))
}

impl Profanity {
    /// False only when `w` (plain lower-case ASCII) is certainly not in the list.
    fn may_contain(&self, w: &[u8]) -> bool {
        match w {
            [a, b, ..] => {
                let i = usize::from(*a) << 8 | usize::from(*b);
                self.pairs[i >> 6] & (1 << (i & 63)) != 0
            }
            _ => true,
        }
    }

    /// [`Self::may_start_collapsed`] on bytes: a non-ASCII byte where the head is taken
    /// (a non-ASCII char there) passes, as it does there.
    fn may_start_collapsed_bytes(&self, core: &[u8]) -> bool {
        let Some((&first, rest)) = core.split_first() else {
            return true;
        };
        let a = LEET_BYTE[usize::from(first)];
        if a >= 0x80 {
            return true;
        }
        match rest
            .iter()
            .map(|&c| LEET_BYTE[usize::from(c)])
            .find(|&c| c != a)
        {
            Some(b) if b < 0x80 => {
                let i = pair_bit(a, b);
                self.collapsed_pairs[i >> 6] & (1 << (i & 63)) != 0
            }
            _ => true,
        }
    }

    /// False only when no entry can equal `core` after leet folding and run collapsing.
    fn may_start_collapsed(&self, core: &str) -> bool {
        match collapsed_head(core) {
            Some((a, Some(b))) => {
                let i = pair_bit(a, b);
                self.collapsed_pairs[i >> 6] & (1 << (i & 63)) != 0
            }
            _ => true,
        }
    }
}

fn profanity() -> &'static Profanity {
    static P: OnceLock<Profanity> = OnceLock::new();
    P.get_or_init(|| {
        let set: FxHashSet<&'static str> = include_str!("data/profanity.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        let mut pairs = vec![0u64; 1024];
        let mut collapsed_pairs = vec![0u64; 1024];
        for w in &set {
            if let [a, b, ..] = w.as_bytes() {
                let i = pair_bit(*a, *b);
                pairs[i >> 6] |= 1 << (i & 63);
            }
            let c = collapse(w, 1);
            if let [a, b, ..] = c.as_bytes() {
                let i = pair_bit(*a, *b);
                collapsed_pairs[i >> 6] |= 1 << (i & 63);
            }
        }
        let len_mask = set.iter().fold(0u64, |m, w| m | 1 << w.len().min(63));
        let bytes = set.iter().map(|w| w.as_bytes()).collect();
        Profanity {
            set,
            bytes,
            pairs,
            collapsed_pairs,
            len_mask,
        }
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

/// [`leet`] on bytes (every byte `leet` changes is ASCII; other bytes map to themselves).
static LEET_BYTE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i as u8;
        i += 1;
    }
    t[b'@' as usize] = b'a';
    t[b'4' as usize] = b'a';
    t[b'$' as usize] = b's';
    t[b'5' as usize] = b's';
    t[b'!' as usize] = b'i';
    t[b'1' as usize] = b'i';
    t[b'|' as usize] = b'i';
    t[b'0' as usize] = b'o';
    t[b'3' as usize] = b'e';
    t[b'7' as usize] = b't';
    t
};

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
///
/// A chunk is a maximal run of letters, digits and the leet symbols `@ $ ! | *`. Chunks without
/// a letter never match, so they are built from the word tokens (`toks`, the tokens of
/// `lower`): a token plus the symbols around it and any token joined to it by symbols only.
/// Plain chunks (lower-case ASCII letters, no letter three times in a row) need one lookup of
/// their bytes; the others take [`profanity_check_folded`].
#[inline(never)]
fn profanity_scan(lower: &str, toks: &[Token<'_>], out: &mut Vec<WordHit>) {
    let prof = profanity();
    let b = lower.as_bytes();
    let n = b.len();
    let mut prev_end = 0;
    let mut ti = 0;
    while ti < toks.len() {
        let (tok_start, tok_end) = (toks[ti].start, toks[ti].end);
        // No leet symbol on either side and no token right after: the chunk is the token.
        let lone = (tok_start <= prev_end || !LEET_SYM[usize::from(b[tok_start - 1])])
            && b.get(tok_end).is_none_or(|&c| !LEET_SYM[usize::from(c)])
            && toks.get(ti + 1).is_none_or(|t| t.start != tok_end);
        if lone {
            ti += 1;
            prev_end = tok_end;
            if let Some(raw) = b.get(tok_start..tok_end) {
                // One token holds no `*` and nothing to trim, so both checks below need its
                // collapsed head among the entries' (the folded check tests exactly that; a
                // plain word in the list has the head of its own entry).
                if raw.len() <= 24 && prof.may_start_collapsed_bytes(raw) {
                    profanity_check(prof, lower, tok_start, tok_end, out);
                }
            }
            continue;
        }
        let mut start = tok_start;
        while start > prev_end && LEET_SYM[usize::from(b[start - 1])] {
            start -= 1;
        }
        let mut end = tok_end;
        ti += 1;
        loop {
            let mut j = end;
            while j < n && LEET_SYM[usize::from(b[j])] {
                j += 1;
            }
            match toks.get(ti) {
                Some(t) if t.start == j => {
                    end = t.end;
                    ti += 1;
                }
                _ => {
                    end = j;
                    break;
                }
            }
        }
        prev_end = end;
        if end - start <= 24 {
            profanity_check(prof, lower, start, end, out);
        }
    }
}

/// The chunk `lower[start..end]` (at most 24 bytes): a plain lower-case word without letter
/// runs of 3+ needs one lookup; other chunks go through [`profanity_check_folded`].
fn profanity_check(
    prof: &Profanity,
    lower: &str,
    start: usize,
    end: usize,
    out: &mut Vec<WordHit>,
) {
    let Some(raw) = lower.as_bytes().get(start..end) else {
        return;
    };
    // One pass: all lower-case ASCII letters, and whether a letter repeats 3+ times.
    let mut plain = true;
    let mut triple = false;
    for (j, &c) in raw.iter().enumerate() {
        if !c.is_ascii_lowercase() {
            plain = false;
            break;
        }
        triple |= j >= 2 && c == raw[j - 1] && c == raw[j - 2];
    }
    if plain && !triple {
        if prof.len_mask & (1 << raw.len()) != 0
            && prof.may_contain(raw)
            && prof.bytes.contains(raw)
        {
            out.push(WordHit {
                term: None,
                start,
                end,
                confidence: 1.0,
            });
        }
        return;
    }
    profanity_check_folded(prof, lower, start, end, out);
}

/// Bytes of the leet symbols that extend a profanity chunk.
static LEET_SYM: [bool; 256] = {
    let mut t = [false; 256];
    t[b'@' as usize] = true;
    t[b'$' as usize] = true;
    t[b'!' as usize] = true;
    t[b'|' as usize] = true;
    t[b'*' as usize] = true;
    t
};

/// The chunk `lower[s..e]` (not plain): trims `! | *`, folds leetspeak and collapses letter
/// runs before the lookups.
fn profanity_check_folded(
    prof: &Profanity,
    lower: &str,
    s: usize,
    e: usize,
    out: &mut Vec<WordHit>,
) {
    let Some(raw) = lower.get(s..e) else {
        return;
    };
    let rb = raw.as_bytes();
    // trim leading/trailing punctuation-like leet chars that are plausibly punctuation
    // (ASCII bytes, so byte trimming equals char trimming)
    let trim = |c: u8| matches!(c, b'!' | b'|' | b'*');
    let mut a = 0;
    while a < rb.len() && trim(rb[a]) {
        a += 1;
    }
    let mut z = rb.len();
    while z > a && trim(rb[z - 1]) {
        z -= 1;
    }
    let trimmed_start = a;
    let Some(core) = raw.get(a..z) else {
        return;
    };
    let cb = core.as_bytes();
    let has_letter = if cb.is_ascii() {
        cb.iter().any(u8::is_ascii_alphabetic)
    } else {
        core.chars().any(char::is_alphabetic)
    };
    if core.is_empty() || !has_letter {
        return;
    }
    let set = &prof.set;
    // Necessary condition without allocating: every lookup below has the same
    // run-collapsed form, whose first two chars must start some collapsed list entry.
    if !cb.contains(&b'*') && !prof.may_start_collapsed(core) {
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

/// The straightforward form of [`profanity_scan`], kept to check the fast one against.
///
/// A chunk is a maximal run of letters, digits and the leet symbols `@ $ ! | *`. Chunks without
/// a letter never match, so they are built from the word tokens (`toks`, the tokens of
/// `lower`): a token plus the symbols around it and any token joined to it by symbols only.
#[cfg(test)]
fn profanity_scan_reference(lower: &str, toks: &[Token<'_>], out: &mut Vec<WordHit>) {
    let prof = profanity();
    let set = &prof.set;
    let check = |s: usize, e: usize, out: &mut Vec<WordHit>| {
        let raw = &lower[s..e];
        // Fast path: a plain lower-case word without letter runs of 3+ needs one lookup.
        if raw.len() > 24 {
            return;
        }
        let b = raw.as_bytes();
        // One pass: all lower-case ASCII letters, and whether a letter repeats 3+ times.
        let mut plain = true;
        let mut triple = false;
        for (j, &c) in b.iter().enumerate() {
            if !c.is_ascii_lowercase() {
                plain = false;
                break;
            }
            triple |= j >= 2 && c == b[j - 1] && c == b[j - 2];
        }
        if plain && !triple {
            if prof.len_mask & (1 << b.len()) != 0 && prof.may_contain(b) && set.contains(raw) {
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
        // Necessary condition without allocating: every lookup below has the same
        // run-collapsed form, whose first two chars must start some collapsed list entry.
        if !core.contains('*') && !prof.may_start_collapsed(core) {
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
    let b = lower.as_bytes();
    let sym = |c: u8| matches!(c, b'@' | b'$' | b'!' | b'|' | b'*');
    let mut prev_end = 0;
    let mut ti = 0;
    while ti < toks.len() {
        let mut start = toks[ti].start;
        while start > prev_end && sym(b[start - 1]) {
            start -= 1;
        }
        let mut end = toks[ti].end;
        ti += 1;
        loop {
            let mut j = end;
            while j < b.len() && sym(b[j]) {
                j += 1;
            }
            if ti < toks.len() && toks[ti].start == j {
                end = toks[ti].end;
                ti += 1;
            } else {
                end = j;
                break;
            }
        }
        check(start, end, out);
        prev_end = end;
    }
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

    /// Deterministic texts from profanity-edge fragments: leet symbols around and between
    /// words, letter repeats, digits, upper case and non-ASCII letters.
    fn profanity_edge_texts() -> Vec<String> {
        const FRAGS: &[&str] = &[
            "shit",
            "sh1t",
            "$hit",
            "fuck",
            "fuuuck",
            "fuuuuuck",
            "f*ck",
            "f**k",
            "a$$",
            "@ss",
            "@sshole",
            "a$$hole!",
            "!!",
            "|",
            "*",
            "@",
            "$",
            "b!tch",
            "b1tch",
            "bitch",
            "ass",
            "class",
            "assess",
            "cock",
            "cockpit",
            "Scunthorpe",
            "damn",
            "hell",
            "c0ck",
            "5hit",
            "bullsh1t",
            "clusterfuck",
            "pr1ck",
            "ok",
            "no",
            "yes",
            "aaa",
            "zzzz",
            "x",
            "1234",
            "4ss",
            "0",
            "3",
            "7",
            "é",
            "ﬁ",
            "ßhit",
            "Shit",
            "SHIT",
            "bollocks",
            "arse",
            "arsehole",
            "shiiit",
            "sh!t",
            "sh|t",
            "*shit*",
            "|shit|",
            "!shit!",
            "shit!!",
            "mother",
            "fucker",
            "motherfucker",
            "word",
            "the",
            "a",
            " ",
            " ",
            " ",
            "  ",
            "\n",
            ",",
            ".",
            "-",
            "'",
            "_",
            "日本",
            "😀",
            "fück",
            "twat",
            "wank",
            "w4nk",
            "pi55",
            "piss",
            "p!ss",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        (0..4000)
            .map(|_| {
                let len = 1 + next() % 30;
                (0..len)
                    .map(|_| {
                        let f = FRAGS[(next() % FRAGS.len() as u64) as usize];
                        if next() % 3 == 0 {
                            format!("{f} ")
                        } else {
                            f.to_owned()
                        }
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn tokens_match_the_byte_by_byte_version() {
        const PIECES: &[&str] = &[
            "a", "z", "0", "9", "word", " ", ",", ".", "-", "_", "@", "é", "ß", "日本", "😀",
            "\u{200b}", "ｉ", "Ⅻ", "ﬁ", "\t", "\n", "Ω", "—", "İ",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut count = 0;
        for _ in 0..20_000 {
            let len = (next() % 30) as usize;
            let text: String = (0..len)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect();
            let lower = text.to_ascii_lowercase();
            let key = |v: Vec<Token<'_>>| -> Vec<(usize, usize, String, u64)> {
                v.into_iter()
                    .map(|t| (t.start, t.end, t.text.into_owned(), t.mask))
                    .collect()
            };
            let got = key(tokens(&lower));
            assert_eq!(got, key(tokens_reference(&lower)), "{text:?}");
            count += got.len();
        }
        assert!(count > 50_000, "{count} tokens");
    }

    #[test]
    fn collapsed_head_on_bytes_matches_the_char_version() {
        let prof = profanity();
        const PIECES: &[&str] = &[
            "a", "s", "h", "i", "t", "f", "u", "c", "k", "b", "o", "e", "@", "4", "$", "5", "!",
            "1", "|", "0", "3", "7", "*", "x", "z", "é", "ß", "日", "😀", "ａ", "Ⅻ",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut pass, mut reject) = (0, 0);
        for _ in 0..30_000 {
            let len = (next() % 7) as usize;
            let w: String = (0..len)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect();
            let want = prof.may_start_collapsed(&w);
            assert_eq!(prof.may_start_collapsed_bytes(w.as_bytes()), want, "{w:?}");
            if want {
                pass += 1;
            } else {
                reject += 1;
            }
        }
        assert!(pass > 1000 && reject > 1000, "{pass} pass, {reject} reject");
    }

    #[test]
    fn profanity_fast_path_matches_the_reference() {
        let mut total = 0;
        for text in profanity_edge_texts() {
            let lower = text.to_ascii_lowercase();
            let toks = tokens(&lower);
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            profanity_scan(&lower, &toks, &mut fast);
            profanity_scan_reference(&lower, &toks, &mut slow);
            let key = |v: &[WordHit]| -> Vec<(usize, usize, u32)> {
                v.iter()
                    .map(|h| (h.start, h.end, h.confidence.to_bits()))
                    .collect()
            };
            assert_eq!(key(&fast), key(&slow), "{text:?}");
            total += fast.len();
        }
        assert!(total > 1000, "the texts hold profanity ({total} hits)");
    }

    /// [`WordFilter::scan`] without the length index and the cheap rejects: every fuzzy term
    /// is compared with every window that passes the length check.
    fn scan_reference(
        f: &WordFilter,
        toks: &[Token<'_>],
    ) -> Vec<(Option<usize>, usize, usize, u32)> {
        let mut seen: FxHashSet<(usize, usize)> = FxHashSet::default();
        let mut out = Vec::new();
        for (i, tok) in toks.iter().enumerate() {
            let text: &str = tok.text.as_ref();
            if let Some(cands) = f.by_first.get(text) {
                for &ti in cands {
                    let k = f.terms[ti].parts.len();
                    if i + k <= toks.len()
                        && toks[i..i + k]
                            .iter()
                            .zip(&f.terms[ti].parts)
                            .all(|(a, b)| a.text.as_ref() == b)
                        && seen.insert((ti, tok.start))
                    {
                        out.push((Some(ti), tok.start, toks[i + k - 1].end, 1.0f32.to_bits()));
                    }
                }
            }
            if let Some(cands) = f.by_joined.get(text) {
                for &ti in cands {
                    if seen.insert((ti, tok.start)) {
                        out.push((Some(ti), tok.start, tok.end, 0.95f32.to_bits()));
                    }
                }
            }
            for &(ti, d) in &f.fuzzy_terms {
                let t = &f.terms[ti];
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
                            let conf = 0.9 - 0.1 * dist as f32;
                            out.push((Some(ti), tok.start, window[k - 1].end, conf.to_bits()));
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn fuzzy_fast_path_matches_the_reference() {
        const TERMS: &[&str] = &[
            "competitor-x",
            "project nightingale",
            "acme",
            "globex corp",
            "secret sauce",
            "Ünïcode tërm",
            "initech",
        ];
        const FRAGS: &[&str] = &[
            "competitor",
            "competitr",
            "compettor",
            "ccompetitor",
            "x",
            "y",
            "xx",
            "-",
            " ",
            "competitorx",
            "competitor-y",
            "project",
            "proj3ct",
            "projekt",
            "nightingale",
            "nightngale",
            "nightingales",
            "nigthingale",
            "projectnightingale",
            "acme",
            "acne",
            "globex",
            "glóbex",
            "corp",
            "corps",
            "globexcorp",
            "secret",
            "sauce",
            "secretsauce",
            "secrt",
            "sause",
            "ünïcode",
            "unicode",
            "tërm",
            "term",
            "initech",
            "inittech",
            "intech",
            "initec",
            "the",
            "a",
            "of",
            "and",
            "order",
            "my",
            "1234",
            ",",
            ".",
            "!",
            "é",
            "日本",
            "Competitor",
            "PROJECT",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut fuzzy_hits = 0;
        // Up to 64 fuzzy terms the candidates are bit sets; with 60 more terms, lists.
        for (pad, dist) in [0, 60]
            .into_iter()
            .flat_map(|p| (0..=3).map(move |d| (p, d)))
        {
            let deny: Vec<String> = TERMS
                .iter()
                .map(|t| (*t).to_owned())
                .chain((0..pad).map(|n| format!("zqv filler {n:02}")))
                .collect();
            let (f, _) = WordFilter::new(&deny, dist, false);
            assert_eq!(
                f.fuzzy_single_bits.is_empty(),
                dist == 0 || pad > 0,
                "{pad} {dist}"
            );
            for _ in 0..1500 {
                let len = 1 + next() % 25;
                let text: String = (0..len)
                    .map(|_| {
                        let f = FRAGS[(next() % FRAGS.len() as u64) as usize];
                        if next() % 4 == 0 {
                            f.to_owned()
                        } else {
                            format!("{f} ")
                        }
                    })
                    .collect();
                let lower = text.to_ascii_lowercase();
                let toks = tokens(&lower);
                let mut got = Vec::new();
                f.scan(&lower, &toks, &mut got);
                let got: Vec<_> = got
                    .iter()
                    .map(|h| (h.term, h.start, h.end, h.confidence.to_bits()))
                    .collect();
                let want = scan_reference(&f, &toks);
                assert_eq!(got, want, "distance {dist}: {text:?}");
                fuzzy_hits += got.iter().filter(|h| h.3 < 0.95f32.to_bits()).count();
            }
        }
        assert!(
            fuzzy_hits > 500,
            "the texts hold fuzzy matches ({fuzzy_hits})"
        );
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
