//! Normalisation before matching (NFKC compatibility folding, diacritics, zero-width and bidi
//! controls removed, homoglyphs folded) with a byte-offset map back to the original text.

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// A normalised view of a text plus the map from its bytes back to the original.
#[derive(Debug, Clone)]
pub struct Normalized<'a> {
    original: &'a str,
    /// The normalised text (case preserved).
    pub text: String,
    /// For every byte of `text`, the original byte offset of the char it came from.
    /// `None` when `text == original` (the common all-ASCII case).
    map: Option<Vec<u32>>,
}

impl<'a> Normalized<'a> {
    /// Normalises `original`.
    #[must_use]
    pub fn new(original: &'a str) -> Self {
        if ascii_clean(original.as_bytes()) {
            return Normalized {
                original,
                text: original.to_owned(),
                map: None,
            };
        }
        let mut text = String::with_capacity(original.len());
        let mut map: Vec<u32> = Vec::with_capacity(original.len());
        for (offset, c) in original.char_indices() {
            let o = u32::try_from(offset).unwrap_or(u32::MAX);
            if is_dropped(c) {
                continue;
            }
            if c.is_ascii() {
                text.push(c);
                map.push(o);
                continue;
            }
            decompose_compatible(c, |d| {
                if is_combining_mark(d) || is_dropped(d) {
                    return;
                }
                let d = fold_confusable(d);
                let d = if d.is_whitespace() && d != '\n' {
                    ' '
                } else {
                    d
                };
                let before = text.len();
                text.push(d);
                for _ in before..text.len() {
                    map.push(o);
                }
            });
        }
        Normalized {
            original,
            text,
            map: Some(map),
        }
    }

    /// The original text.
    #[must_use]
    pub fn original(&self) -> &'a str {
        self.original
    }

    /// Maps a byte range of the normalised text to a byte range of the original text
    /// (on char boundaries, covering every original char that produced the range).
    #[must_use]
    pub fn to_original(&self, start: usize, end: usize) -> std::ops::Range<usize> {
        let Some(map) = &self.map else {
            let s = start.min(self.original.len());
            return s..end.clamp(s, self.original.len());
        };
        if map.is_empty() || start >= map.len() {
            let len = self.original.len();
            return len..len;
        }
        let s = map.get(start).copied().unwrap_or(0) as usize;
        let last = end.saturating_sub(1).clamp(start, map.len() - 1);
        let last_char_start = map.get(last).copied().unwrap_or(0) as usize;
        let e = self
            .original
            .get(last_char_start..)
            .and_then(|rest| rest.chars().next())
            .map_or(self.original.len(), |c| last_char_start + c.len_utf8());
        // Take along trailing combining marks and invisible characters that were folded away.
        let mut e = e.max(s);
        if let Some(rest) = self.original.get(e..) {
            for c in rest.chars() {
                if is_combining_mark(c) || is_dropped(c) {
                    e += c.len_utf8();
                } else {
                    break;
                }
            }
        }
        s..e
    }
}

/// True when every byte is ASCII and none is dropped (`is_ascii() && !any(is_ascii_dropped)`),
/// eight bytes at a time: a word whose bytes all lie in `0x20..=0x7e` needs no per-byte test.
fn ascii_clean(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let ok = |c: &u8| c.is_ascii() && !is_ascii_dropped(*c);
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        let x = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
        // A byte below 0x20, or above 0x7e (which includes every non-ASCII byte).
        let below = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        let above = (x.wrapping_add(ONES) | x) & HIGH;
        if below | above != 0 && !w.iter().all(ok) {
            return false;
        }
    }
    words.remainder().iter().all(ok)
}

fn is_ascii_dropped(b: u8) -> bool {
    // ASCII control characters other than tab, newline and carriage return.
    b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r' || b == 0x7f
}

/// Zero-width, bidi and other invisible format characters removed before matching.
#[must_use]
pub fn is_dropped(c: char) -> bool {
    matches!(c,
        '\u{00AD}'              // soft hyphen
        | '\u{034F}'            // combining grapheme joiner
        | '\u{061C}'            // arabic letter mark
        | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // hangul fillers
        | '\u{180E}'            // mongolian vowel separator
        | '\u{200B}'..='\u{200F}' // zero width space/non-joiner/joiner, LRM, RLM
        | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
        | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
        | '\u{2066}'..='\u{2069}' // bidi isolates
        | '\u{206A}'..='\u{206F}' // deprecated format chars
        | '\u{FE00}'..='\u{FE0F}' // variation selectors
        | '\u{FEFF}'            // BOM / zero width no-break space
        | '\u{E0000}'..='\u{E007F}' // tag characters
    ) || (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

/// Folds common Cyrillic and Greek homoglyphs (and a few symbols) to their Latin look-alikes.
#[must_use]
pub fn fold_confusable(c: char) -> char {
    match c {
        // Cyrillic lower case
        'а' => 'a',
        'в' => 'b',
        'е' | 'ё' => 'e',
        'к' => 'k',
        'м' => 'm',
        'н' => 'h',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'т' => 't',
        'у' => 'y',
        'х' => 'x',
        'і' | 'ї' => 'i',
        'ј' => 'j',
        'ѕ' => 's',
        'ԁ' => 'd',
        'һ' => 'h',
        'ԛ' => 'q',
        'ԝ' => 'w',
        'ӏ' => 'l',
        'ɡ' => 'g',
        // Cyrillic upper case
        'А' => 'A',
        'В' => 'B',
        'Е' | 'Ё' => 'E',
        'К' => 'K',
        'М' => 'M',
        'Н' => 'H',
        'О' => 'O',
        'Р' => 'P',
        'С' => 'C',
        'Т' => 'T',
        'У' => 'Y',
        'Х' => 'X',
        'І' | 'Ӏ' => 'I',
        'Ј' => 'J',
        'Ѕ' => 'S',
        'Ԛ' => 'Q',
        'Ԝ' => 'W',
        // Greek lower case
        'α' => 'a',
        'β' => 'b',
        'ε' => 'e',
        'ι' => 'i',
        'κ' => 'k',
        'ν' => 'v',
        'ο' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        'γ' => 'y',
        // Greek upper case
        'Α' => 'A',
        'Β' => 'B',
        'Ε' => 'E',
        'Ζ' => 'Z',
        'Η' => 'H',
        'Ι' => 'I',
        'Κ' => 'K',
        'Μ' => 'M',
        'Ν' => 'N',
        'Ο' => 'O',
        'Ρ' => 'P',
        'Τ' => 'T',
        'Υ' => 'Y',
        'Χ' => 'X',
        // Latin look-alikes outside ASCII
        'ı' => 'i',
        'ȷ' => 'j',
        'ℓ' => 'l',
        // punctuation look-alikes
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE63}' | '\u{FF0D}' => '-',
        '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{2032}' => '\'',
        '\u{201C}' | '\u{201D}' | '\u{201F}' | '\u{2033}' => '"',
        '\u{2024}' => '.',
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_clean_matches_the_byte_test() {
        const BYTES: &[u8] = &[
            0x00, 0x01, 0x08, b'\t', b'\n', 0x0b, b'\r', 0x1f, b' ', b'!', b'a', b'Z', b'~', 0x7f,
            0x80, 0xc3, 0xa9, 0xe2, 0x80, 0x8b, 0xff,
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut clean, mut dirty) = (0, 0);
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            // Mostly printable ASCII with a rare other byte, so both answers occur.
            let b: Vec<u8> = (0..len)
                .map(|_| {
                    if next() % 16 == 0 {
                        BYTES[(next() % BYTES.len() as u64) as usize]
                    } else {
                        b' ' + (next() % 95) as u8
                    }
                })
                .collect();
            let want = b.is_ascii() && !b.iter().any(|&c| is_ascii_dropped(c));
            assert_eq!(ascii_clean(&b), want, "{b:?}");
            if want {
                clean += 1;
            } else {
                dirty += 1;
            }
        }
        assert!(clean > 1000 && dirty > 1000, "{clean} / {dirty}");
    }

    #[test]
    fn ascii_is_identity() {
        let n = Normalized::new("hello world");
        assert_eq!(n.text, "hello world");
        assert_eq!(n.to_original(6, 11), 6..11);
    }

    #[test]
    fn zero_width_and_bidi_removed_with_offsets() {
        let s = "ig\u{200B}no\u{202E}re";
        let n = Normalized::new(s);
        assert_eq!(n.text, "ignore");
        let r = n.to_original(0, 6);
        assert_eq!(&s[r], s);
        let r = n.to_original(0, 2);
        assert_eq!(&s[r], "ig\u{200B}");
        let r = n.to_original(4, 6);
        assert_eq!(&s[r], "re");
    }

    #[test]
    fn homoglyphs_and_fullwidth_folded() {
        let s = "іgnоrе ＡＢＣ";
        let n = Normalized::new(s);
        assert_eq!(n.text, "ignore ABC");
        let r = n.to_original(7, 10);
        assert_eq!(&s[r], "ＡＢＣ");
    }

    #[test]
    fn diacritics_and_ligatures() {
        let s = "café ﬁle e\u{0301}";
        let n = Normalized::new(s);
        assert_eq!(n.text, "cafe file e");
        // "fi" from one ligature maps back to the ligature
        let r = n.to_original(5, 6);
        assert_eq!(&s[r], "ﬁ");
    }

    #[test]
    fn control_chars_dropped() {
        let n = Normalized::new("a\u{0007}b");
        assert_eq!(n.text, "ab");
        assert_eq!(n.to_original(0, 2), 0..3);
    }

    #[test]
    fn empty() {
        let n = Normalized::new("");
        assert_eq!(n.text, "");
        assert_eq!(n.to_original(0, 0), 0..0);
    }
}
