//! Checksum and structure validators for PII candidates (Luhn, mod-97, ABA, mod-11, SSN rules,
//! numbering plans, VIN check digit, …). Pure functions over strings; never panic.

/// ASCII digits of `s`, as values 0–9.
#[must_use]
pub fn digits(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

/// Luhn (mod 10) checksum over digits.
#[must_use]
pub fn luhn(d: &[u8]) -> bool {
    if d.is_empty() {
        return false;
    }
    let mut sum = 0u32;
    for (i, &x) in d.iter().rev().enumerate() {
        let mut v = u32::from(x);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

fn all_same(d: &[u8]) -> bool {
    d.windows(2).all(|w| w[0] == w[1])
}

fn prefix_num(d: &[u8], n: usize) -> u32 {
    d.iter()
        .take(n)
        .fold(0u32, |acc, &x| acc * 10 + u32::from(x))
}

/// Separators between digit groups must be absent or all the same character.
#[must_use]
pub fn consistent_separators(s: &str, allowed: &[u8]) -> bool {
    let mut sep: Option<u8> = None;
    for b in s.bytes() {
        if b.is_ascii_digit() {
            continue;
        }
        if !allowed.contains(&b) {
            return false;
        }
        match sep {
            None => sep = Some(b),
            Some(p) if p == b => {}
            Some(_) => return false,
        }
    }
    true
}

/// Card brand for a digit string when prefix and length fit a known brand.
#[must_use]
pub fn card_brand(d: &[u8]) -> Option<&'static str> {
    let len = d.len();
    let p1 = prefix_num(d, 1);
    let p2 = prefix_num(d, 2);
    let p3 = prefix_num(d, 3);
    let p4 = prefix_num(d, 4);
    let p6 = prefix_num(d, 6);
    if (p2 == 34 || p2 == 37) && len == 15 {
        return Some("amex");
    }
    if p1 == 4 && matches!(len, 13 | 16 | 19) {
        return Some("visa");
    }
    if ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && len == 16 {
        return Some("mastercard");
    }
    if (p4 == 6011 || p2 == 65 || (644..=649).contains(&p3) || (622_126..=622_925).contains(&p6))
        && (16..=19).contains(&len)
    {
        return Some("discover");
    }
    if (3528..=3589).contains(&p4) && (16..=19).contains(&len) {
        return Some("jcb");
    }
    if ((300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39) && (14..=19).contains(&len) {
        return Some("diners");
    }
    if p2 == 62 && (16..=19).contains(&len) {
        return Some("unionpay");
    }
    if (p2 == 50 || (56..=69).contains(&p2)) && (12..=19).contains(&len) {
        return Some("maestro");
    }
    if (2200..=2204).contains(&p4) && len == 16 {
        return Some("mir");
    }
    None
}

/// Card number: brand prefix and length, Luhn, not all one digit.
#[must_use]
pub fn card_number(s: &str) -> bool {
    let d = digits(s);
    (12..=19).contains(&d.len())
        && consistent_separators(s, b" -")
        && !all_same(&d)
        && card_brand(&d).is_some()
        && luhn(&d)
}

/// US SSN structure: area not 000/666/9xx, group not 00, serial not 0000, not a known
/// advertising number.
#[must_use]
pub fn ssn(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 9 || !consistent_separators(s, b"- ") || all_same(&d) {
        return false;
    }
    let area = prefix_num(&d, 3);
    let group = prefix_num(&d[3..], 2);
    let serial = prefix_num(&d[5..], 4);
    if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
        return false;
    }
    // Numbers published in advertising / used as examples in the wild.
    !matches!(
        (area, group, serial),
        (78, 5, 1120) | (219, 9, 9999) | (123, 45, 6789)
    )
}

/// US ITIN: 9XX-GG-XXXX with group 50–65, 70–88, 90–92 or 94–99.
#[must_use]
pub fn itin(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 9 || !consistent_separators(s, b"- ") || d[0] != 9 {
        return false;
    }
    let group = prefix_num(&d[3..], 2);
    matches!(group, 50..=65 | 70..=88 | 90..=92 | 94..=99)
}

/// ABA routing number: 9 digits, valid Federal Reserve prefix, 3-7-1 checksum.
#[must_use]
pub fn aba_routing(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 9 || all_same(&d) {
        return false;
    }
    let p = prefix_num(&d, 2);
    if !matches!(p, 0..=12 | 21..=32 | 61..=72 | 80) {
        return false;
    }
    let w = [3u32, 7, 1, 3, 7, 1, 3, 7, 1];
    let sum: u32 = d.iter().zip(w).map(|(&x, w)| u32::from(x) * w).sum();
    sum.is_multiple_of(10)
}

/// UK NHS number: 10 digits, mod-11 check digit.
#[must_use]
pub fn nhs(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 10 || all_same(&d) || !consistent_separators(s, b" -") {
        return false;
    }
    let sum: u32 = d
        .iter()
        .take(9)
        .enumerate()
        .map(|(i, &x)| u32::from(x) * (10 - i as u32))
        .sum();
    let check = 11 - (sum % 11);
    let check = if check == 11 { 0 } else { check };
    check != 10 && check == u32::from(d[9])
}

/// Canadian SIN: 9 digits, Luhn, first digit not 0 or 8.
#[must_use]
pub fn ca_sin(s: &str) -> bool {
    let d = digits(s);
    d.len() == 9
        && consistent_separators(s, b" -")
        && d[0] != 0
        && d[0] != 8
        && !all_same(&d)
        && luhn(&d)
}

/// ISO 3166 alpha-2 codes used by IBAN and SWIFT validation.
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW";

/// True when `cc` is an ISO 3166 alpha-2 country code (upper case).
#[must_use]
pub fn is_country(cc: &str) -> bool {
    cc.len() == 2 && COUNTRIES.split(' ').any(|c| c == cc)
}

/// IBAN length per country (SWIFT IBAN registry).
fn iban_length(cc: &str) -> Option<usize> {
    const T: &[(&str, usize)] = &[
        ("AD", 24),
        ("AE", 23),
        ("AL", 28),
        ("AT", 20),
        ("AZ", 28),
        ("BA", 20),
        ("BE", 16),
        ("BG", 22),
        ("BH", 22),
        ("BI", 27),
        ("BR", 29),
        ("BY", 28),
        ("CH", 21),
        ("CR", 22),
        ("CY", 28),
        ("CZ", 24),
        ("DE", 22),
        ("DJ", 27),
        ("DK", 18),
        ("DO", 28),
        ("EE", 20),
        ("EG", 29),
        ("ES", 24),
        ("FI", 18),
        ("FK", 18),
        ("FO", 18),
        ("FR", 27),
        ("GB", 22),
        ("GE", 22),
        ("GI", 23),
        ("GL", 18),
        ("GR", 27),
        ("GT", 28),
        ("HR", 21),
        ("HU", 28),
        ("IE", 22),
        ("IL", 23),
        ("IQ", 23),
        ("IS", 26),
        ("IT", 27),
        ("JO", 30),
        ("KW", 30),
        ("KZ", 20),
        ("LB", 28),
        ("LC", 32),
        ("LI", 21),
        ("LT", 20),
        ("LU", 20),
        ("LV", 21),
        ("LY", 25),
        ("MC", 27),
        ("MD", 24),
        ("ME", 22),
        ("MK", 19),
        ("MN", 20),
        ("MR", 27),
        ("MT", 31),
        ("MU", 30),
        ("NI", 28),
        ("NL", 18),
        ("NO", 15),
        ("OM", 23),
        ("PK", 24),
        ("PL", 28),
        ("PS", 29),
        ("PT", 25),
        ("QA", 29),
        ("RO", 24),
        ("RS", 22),
        ("RU", 33),
        ("SA", 24),
        ("SC", 31),
        ("SD", 18),
        ("SE", 24),
        ("SI", 19),
        ("SK", 24),
        ("SM", 27),
        ("SO", 23),
        ("ST", 25),
        ("SV", 28),
        ("TL", 23),
        ("TN", 24),
        ("TR", 26),
        ("UA", 29),
        ("VA", 22),
        ("VG", 24),
        ("XK", 20),
        ("YE", 30),
    ];
    T.iter().find(|(c, _)| *c == cc).map(|&(_, n)| n)
}

/// IBAN: known country, registry length, mod-97 == 1.
#[must_use]
pub fn iban(s: &str) -> bool {
    let compact: Vec<u8> = s.bytes().filter(|b| *b != b' ').collect();
    let Some(cc) = compact.get(0..2).and_then(|c| std::str::from_utf8(c).ok()) else {
        return false;
    };
    if iban_length(cc) != Some(compact.len()) {
        return false;
    }
    if !compact.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let rearranged = compact[4..].iter().chain(compact[..4].iter());
    let mut rem: u32 = 0;
    for &b in rearranged {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// SWIFT/BIC structure: 4 bank letters, a country code, 2-char location, optional 3-char
/// branch. `strict` also requires a digit in location or branch (for cue-less text).
#[must_use]
pub fn swift(s: &str, strict: bool) -> bool {
    let b = s.as_bytes();
    if !(b.len() == 8 || b.len() == 11) {
        return false;
    }
    if !b[..4].iter().all(u8::is_ascii_uppercase) {
        return false;
    }
    let Ok(cc) = std::str::from_utf8(&b[4..6]) else {
        return false;
    };
    if !is_country(cc) {
        return false;
    }
    if !b[6..]
        .iter()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return false;
    }
    !strict || b[6..].iter().any(u8::is_ascii_digit)
}

/// UK National Insurance number prefix and suffix rules.
#[must_use]
pub fn uk_nino(s: &str) -> bool {
    let c: Vec<u8> = s.bytes().filter(|b| *b != b' ').collect();
    if c.len() != 9 {
        return false;
    }
    let p = [c[0], c[1]];
    let bad_first = b"DFIQUV";
    let bad_second = b"DFIQUVO";
    if bad_first.contains(&p[0]) || bad_second.contains(&p[1]) {
        return false;
    }
    if matches!(&p, b"BG" | b"GB" | b"KN" | b"NK" | b"NT" | b"TN" | b"ZZ") {
        return false;
    }
    c[2..8].iter().all(u8::is_ascii_digit) && matches!(c[8], b'A'..=b'D')
}

/// VIN: 17 chars without I, O, Q, North American check digit (position 9) valid.
#[must_use]
pub fn vin(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 17 {
        return false;
    }
    let letters = b.iter().filter(|c| c.is_ascii_uppercase()).count();
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    if letters < 2 || digits < 3 {
        return false;
    }
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A' | b'J' => 1,
            b'B' | b'K' | b'S' => 2,
            b'C' | b'L' | b'T' => 3,
            b'D' | b'M' | b'U' => 4,
            b'E' | b'N' | b'V' => 5,
            b'F' | b'W' => 6,
            b'G' | b'P' | b'X' => 7,
            b'H' | b'Y' => 8,
            b'R' | b'Z' => 9,
            _ => return None,
        })
    };
    const W: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];
    let mut sum = 0;
    for (i, &c) in b.iter().enumerate() {
        let Some(v) = value(c) else { return false };
        sum += v * W[i];
    }
    let check = sum % 11;
    let expected = if check == 10 {
        b'X'
    } else {
        b'0' + check as u8
    };
    b[8] == expected
}

/// Country calling codes with national significant number length ranges (ITU-T E.164
/// numbering plans, simplified to min/max lengths).
const CALLING_CODES: &[(u16, u8, u8)] = &[
    (1, 10, 10),
    (7, 10, 10),
    (20, 8, 10),
    (27, 9, 9),
    (30, 10, 10),
    (31, 9, 9),
    (32, 8, 9),
    (33, 9, 9),
    (34, 9, 9),
    (36, 8, 9),
    (39, 6, 11),
    (40, 9, 9),
    (41, 9, 9),
    (43, 4, 13),
    (44, 9, 10),
    (45, 8, 8),
    (46, 7, 10),
    (47, 8, 8),
    (48, 9, 9),
    (49, 6, 13),
    (51, 8, 9),
    (52, 10, 10),
    (53, 6, 8),
    (54, 10, 11),
    (55, 10, 11),
    (56, 9, 9),
    (57, 8, 10),
    (58, 10, 10),
    (60, 8, 10),
    (61, 9, 9),
    (62, 8, 12),
    (63, 8, 10),
    (64, 8, 10),
    (65, 8, 8),
    (66, 8, 9),
    (81, 9, 10),
    (82, 8, 10),
    (84, 9, 10),
    (86, 10, 11),
    (90, 10, 10),
    (91, 10, 10),
    (92, 9, 10),
    (93, 9, 9),
    (94, 9, 9),
    (95, 7, 10),
    (98, 10, 10),
    (212, 9, 9),
    (213, 9, 9),
    (216, 8, 8),
    (218, 9, 9),
    (220, 7, 7),
    (221, 9, 9),
    (225, 10, 10),
    (233, 9, 9),
    (234, 8, 10),
    (237, 9, 9),
    (251, 9, 9),
    (254, 9, 10),
    (255, 9, 9),
    (256, 9, 9),
    (260, 9, 9),
    (263, 9, 9),
    (351, 9, 9),
    (352, 6, 11),
    (353, 7, 9),
    (354, 7, 9),
    (355, 8, 9),
    (356, 8, 8),
    (357, 8, 8),
    (358, 5, 12),
    (359, 8, 9),
    (370, 8, 8),
    (371, 8, 8),
    (372, 7, 8),
    (373, 8, 8),
    (374, 8, 8),
    (375, 9, 9),
    (380, 9, 9),
    (381, 8, 9),
    (385, 8, 9),
    (386, 8, 8),
    (420, 9, 9),
    (421, 9, 9),
    (852, 8, 8),
    (853, 8, 8),
    (880, 10, 10),
    (886, 8, 9),
    (961, 7, 8),
    (962, 8, 9),
    (965, 8, 8),
    (966, 9, 9),
    (968, 8, 8),
    (971, 8, 9),
    (972, 8, 9),
    (973, 8, 8),
    (974, 8, 8),
    (977, 8, 10),
    (994, 9, 9),
    (995, 9, 9),
    (998, 9, 9),
];

fn nsn_range(code: u16) -> Option<(usize, usize)> {
    CALLING_CODES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|&(_, lo, hi)| (usize::from(lo), usize::from(hi)))
}

/// International number (digits after `+` or `00`): a known calling code and a national
/// number whose length fits that plan.
#[must_use]
pub fn international_phone(d: &[u8]) -> bool {
    for cc_len in 1..=3 {
        if d.len() <= cc_len {
            return false;
        }
        let code = u16::try_from(prefix_num(d, cc_len)).unwrap_or(0);
        if let Some((lo, hi)) = nsn_range(code) {
            let nsn = &d[cc_len..];
            if nsn.first() == Some(&0) && code != 39 {
                // a trunk prefix 0 is not dialled after the country code (Italy keeps it)
                return false;
            }
            if code == 1 && !nanp_digits(nsn) {
                return false;
            }
            return (lo..=hi).contains(&nsn.len()) && !all_same(nsn);
        }
    }
    false
}

/// NANP rules for a 10-digit national number: area and exchange start with 2–9, area not N11,
/// exchange not N11.
#[must_use]
pub fn nanp_digits(d: &[u8]) -> bool {
    d.len() == 10
        && d[0] >= 2
        && d[3] >= 2
        && !(d[1] == 1 && d[2] == 1)
        && !(d[4] == 1 && d[5] == 1)
        && !all_same(d)
}

/// Shannon entropy in bits per byte.
#[must_use]
pub fn entropy(s: &str) -> f32 {
    let b = s.as_bytes();
    if b.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &c in b {
        counts[usize::from(c)] += 1;
    }
    let n = b.len() as f32;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f32 / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_cards() {
        assert!(card_number("4111 1111 1111 1111"));
        assert!(card_number("4111-1111-1111-1111"));
        assert!(card_number("5555555555554444"));
        assert!(card_number("378282246310005"));
        assert!(card_number("6011 1111 1111 1117"));
        assert!(!card_number("4111 1111 1111 1112")); // Luhn
        assert!(!card_number("4111 1111-1111 1111")); // mixed separators
        assert!(!card_number("9400 1000 0000 0000")); // no brand
        assert!(!card_number("1234567812345678"));
    }

    #[test]
    fn ssn_rules() {
        assert!(ssn("536-22-1234"));
        assert!(ssn("536 22 1234"));
        assert!(!ssn("000-12-3456"));
        assert!(!ssn("666-12-3456"));
        assert!(!ssn("912-12-3456"));
        assert!(!ssn("536-00-1234"));
        assert!(!ssn("536-22-0000"));
        assert!(!ssn("078-05-1120"));
        assert!(!ssn("536-22 1234"));
    }

    #[test]
    fn itin_rules() {
        assert!(itin("912-70-1234"));
        assert!(!itin("900-93-1234"));
        assert!(!itin("812-70-1234"));
    }

    #[test]
    fn aba() {
        assert!(aba_routing("021000021"));
        assert!(aba_routing("011401533"));
        assert!(!aba_routing("021000022"));
        assert!(!aba_routing("991000021"));
    }

    #[test]
    fn nhs_mod11() {
        assert!(nhs("943 476 5919"));
        assert!(nhs("9434765919"));
        assert!(!nhs("943 476 5918"));
    }

    #[test]
    fn sin_luhn() {
        assert!(ca_sin("130 692 544"));
        assert!(!ca_sin("130 692 545"));
        assert!(!ca_sin("046 454 286")); // 0 is not an assigned first digit
    }

    #[test]
    fn iban_mod97() {
        assert!(iban("GB82 WEST 1234 5698 7654 32"));
        assert!(iban("DE89370400440532013000"));
        assert!(iban("FR1420041010050500013M02606"));
        assert!(!iban("GB82 WEST 1234 5698 7654 33"));
        assert!(!iban("DE8937040044053201300")); // length
        assert!(!iban("XX89370400440532013000"));
    }

    #[test]
    fn swift_codes() {
        assert!(swift("DEUTDEFF", false));
        assert!(swift("NWBKGB2L", true));
        assert!(swift("BOFAUS3NXXX", true));
        assert!(!swift("DEUTDEFF", true));
        assert!(!swift("ABCDXX12", false));
    }

    #[test]
    fn nino() {
        assert!(uk_nino("AB 12 34 56 C"));
        assert!(uk_nino("JG103759A"));
        assert!(!uk_nino("GB123456A"));
        assert!(!uk_nino("DA123456A"));
        assert!(!uk_nino("AB123456E"));
    }

    #[test]
    fn vin_check_digit() {
        assert!(vin("1M8GDM9AXKP042788"));
        assert!(!vin("11111111111111111"));
        assert!(!vin("1M8GDM9A1KP042788"));
    }

    #[test]
    fn phones() {
        assert!(international_phone(&digits("+44 20 7946 0958")));
        assert!(international_phone(&digits("+1 415 555 2671")));
        assert!(international_phone(&digits("+49 30 901820")));
        assert!(!international_phone(&digits("+44 20 79")));
        assert!(!international_phone(&digits("+1 115 555 2671")));
        assert!(!international_phone(&digits("+999 1234 5678")));
        assert!(nanp_digits(&digits("415 555 2671")));
        assert!(!nanp_digits(&digits("415 155 2671")));
    }

    #[test]
    fn entropy_values() {
        assert!(entropy("aaaaaaaa") < 0.01);
        assert!(entropy("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") > 4.0);
    }
}
