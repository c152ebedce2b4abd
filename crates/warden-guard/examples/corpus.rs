//! Labelled synthetic corpus generator (fixed seed): support chats and tool outputs with PII,
//! secrets and hard negatives, written as JSONL `{id, source, text, spans:[{start,end,type}]}`
//! with byte offsets (the corpus is ASCII, so byte and character offsets agree).
//!
//! `cargo run -p warden-guard --release --example corpus -- [OUT.jsonl] [N] [SEED]`

use std::fmt::Write as _;
use std::io::Write as _;

/// SplitMix64: tiny deterministic PRNG so the corpus is identical everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

const FIRST: &[&str] = &[
    "James",
    "Maria",
    "Robert",
    "Linda",
    "Ahmed",
    "Priya",
    "Chen",
    "Sofia",
    "Liam",
    "Olivia",
    "Noah",
    "Emma",
    "Lucas",
    "Ava",
    "Mateo",
    "Isla",
    "Kwame",
    "Yuki",
    "Ingrid",
    "Diego",
    "Fatima",
    "Tomasz",
    "Aoife",
    "Siobhan",
    "Rahul",
    "Nadia",
    "Oluwaseun",
    "Bjorn",
    "Anika",
    "Thabo",
];
const LAST: &[&str] = &[
    "Smith",
    "Garcia",
    "Johnson",
    "Nguyen",
    "Patel",
    "Kowalski",
    "Okafor",
    "Schmidt",
    "Rossi",
    "Tanaka",
    "Murphy",
    "Dubois",
    "Hernandez",
    "Khan",
    "Andersson",
    "Mbeki",
    "Fitzgerald",
    "Novak",
    "Lindqvist",
    "Oyelaran",
];
const STREETS: &[&str] = &[
    "Baker", "Maple", "Oak", "Elm", "Sunset", "Lakeview", "Harbor", "Mill",
];
const SUFFIX: &[&str] = &["Street", "Avenue", "Road", "Lane", "Drive", "Blvd"];
const CITIES: &[(&str, &str)] = &[
    ("Springfield", "IL"),
    ("Portland", "OR"),
    ("Austin", "TX"),
    ("Denver", "CO"),
    ("Albany", "NY"),
];
const DOMAINS: &[&str] = &[
    "example.com",
    "mail.example.org",
    "corp.example.net",
    "example.co.uk",
];

fn luhn_complete(prefix: &str, len: usize, rng: &mut Rng) -> String {
    let mut s = prefix.to_owned();
    while s.len() < len - 1 {
        s.push(char::from(b'0' + rng.below(10) as u8));
    }
    for c in 0..10u8 {
        let cand = format!("{s}{c}");
        let d: Vec<u8> = cand.bytes().map(|b| b - b'0').collect();
        if warden_guard::validate::luhn(&d) {
            return cand;
        }
    }
    unreachable!("one check digit always works")
}

fn card(rng: &mut Rng) -> String {
    let (prefix, len) = *rng.pick(&[("4", 16), ("51", 16), ("55", 16), ("37", 15), ("6011", 16)]);
    let n = luhn_complete(prefix, len, rng);
    match rng.below(3) {
        0 => n,
        1 if len == 16 => format!("{} {} {} {}", &n[0..4], &n[4..8], &n[8..12], &n[12..16]),
        _ if len == 16 => format!("{}-{}-{}-{}", &n[0..4], &n[4..8], &n[8..12], &n[12..16]),
        _ => format!("{} {} {}", &n[0..4], &n[4..10], &n[10..15]),
    }
}

fn bad_card(rng: &mut Rng) -> String {
    let good = luhn_complete("4", 16, rng);
    let last = good.as_bytes()[15] - b'0';
    format!("{}{}", &good[..15], (last + 1) % 10)
}

fn ssn(rng: &mut Rng) -> String {
    let area = loop {
        let a = rng.range(1, 899);
        if a != 666 {
            break a;
        }
    };
    format!(
        "{area:03}-{:02}-{:04}",
        rng.range(1, 99),
        rng.range(1, 9999)
    )
}

fn phone(rng: &mut Rng) -> String {
    let area = rng.range(201, 989);
    let exch = rng.range(200, 989);
    let line = rng.range(0, 9999);
    match rng.below(4) {
        0 => format!("({area}) {exch}-{line:04}"),
        1 => format!("{area}-{exch}-{line:04}"),
        2 => format!("+1 {area} {exch} {line:04}"),
        _ => format!("+44 20 {} {}", rng.range(7000, 8999), rng.digits(4)),
    }
}

fn iban(rng: &mut Rng) -> String {
    // GB: 4 letters bank code + 14 digits; DE: 18 digits
    let (cc, bban) = if rng.chance(50) {
        (
            "GB",
            format!(
                "{}{}",
                rng.pick(&["WEST", "NWBK", "BARC", "MIDL"]),
                rng.digits(14)
            ),
        )
    } else {
        ("DE", rng.digits(18))
    };
    let rearr = format!("{bban}{cc}00");
    let mut rem: u32 = 0;
    for b in rearr.bytes() {
        let v = if b.is_ascii_digit() {
            u32::from(b - b'0')
        } else {
            u32::from(b - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    let check = 98 - rem;
    let compact = format!("{cc}{check:02}{bban}");
    if rng.chance(50) {
        compact
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        compact
    }
}

fn nhs(rng: &mut Rng) -> String {
    loop {
        let d = rng.digits(9);
        let sum: u32 = d
            .bytes()
            .enumerate()
            .map(|(i, b)| u32::from(b - b'0') * (10 - i as u32))
            .sum();
        let c = 11 - sum % 11;
        let c = if c == 11 { 0 } else { c };
        if c == 10 {
            continue;
        }
        return format!("{} {} {}{c}", &d[0..3], &d[3..6], &d[6..9]);
    }
}

fn aws_key(rng: &mut Rng) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let tail: String = (0..16).map(|_| char::from(*rng.pick(A))).collect();
    format!("AKIA{tail}")
}

fn github_token(rng: &mut Rng) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let tail: String = (0..36).map(|_| char::from(*rng.pick(A))).collect();
    format!("ghp_{tail}")
}

fn uuid(rng: &mut Rng) -> String {
    let h = |rng: &mut Rng, n: usize| -> String {
        (0..n)
            .map(|_| char::from(*rng.pick(b"0123456789abcdef")))
            .collect()
    };
    format!(
        "{}-{}-4{}-a{}-{}",
        h(rng, 8),
        h(rng, 4),
        h(rng, 3),
        h(rng, 3),
        h(rng, 12)
    )
}

struct Doc {
    text: String,
    spans: Vec<(usize, usize, &'static str)>,
}

impl Doc {
    fn lit(&mut self, s: &str) {
        self.text.push_str(s);
    }
    fn ent(&mut self, kind: &'static str, v: &str) {
        let s = self.text.len();
        self.text.push_str(v);
        self.spans.push((s, self.text.len(), kind));
    }
}

fn hard_negative(rng: &mut Rng, d: &mut Doc) {
    match rng.below(9) {
        0 => d.lit(&format!(
            "Order A-{} is being packed. ",
            rng.range(1000, 9999)
        )),
        1 => d.lit(&format!("Ref ORD-2024-{} created. ", rng.digits(5))),
        2 => d.lit(&format!(
            "Tracking 1Z{}{} via UPS. ",
            rng.digits(3),
            rng.digits(13)
        )),
        3 => {
            let c = bad_card(rng);
            d.lit(&format!("Internal ref {c}. "));
        }
        4 => d.lit(&format!(
            "Running v{}.{}.{} build {}. ",
            rng.range(1, 9),
            rng.range(0, 30),
            rng.range(0, 99),
            rng.digits(6)
        )),
        5 => d.lit(&format!(
            "Logged at 2024-{:02}-{:02}T{:02}:{:02}:{:02}Z. ",
            rng.range(1, 12),
            rng.range(1, 28),
            rng.range(0, 23),
            rng.range(0, 59),
            rng.range(0, 59)
        )),
        6 => d.lit(&format!("Request id {} failed. ", uuid(rng))),
        7 => d.lit(&format!(
            "Invoice INV-{} total ${}.{:02}. ",
            rng.digits(6),
            rng.range(5, 999),
            rng.range(0, 99)
        )),
        _ => d.lit(&format!(
            "USPS 9400 {} {} {} {} {}. ",
            rng.digits(4),
            rng.digits(4),
            rng.digits(4),
            rng.digits(4),
            rng.digits(2)
        )),
    }
}

fn chat(rng: &mut Rng) -> Doc {
    let mut d = Doc {
        text: String::new(),
        spans: Vec::new(),
    };
    let first = *rng.pick(FIRST);
    let last = *rng.pick(LAST);
    d.lit(rng.pick::<&str>(&["Hi, ", "Hello, ", "Good morning. ", "Hey there, "]));
    if rng.chance(60) {
        d.lit("my name is ");
        d.ent("NAME", &format!("{first} {last}"));
        d.lit(". ");
    }
    let n = rng.range(1, 4);
    for _ in 0..n {
        match rng.below(12) {
            0 => {
                d.lit("You can email me at ");
                let e = format!(
                    "{}.{}@{}",
                    first.to_lowercase(),
                    last.to_lowercase(),
                    rng.pick(DOMAINS)
                );
                d.ent("EMAIL", &e);
                d.lit(". ");
            }
            1 => {
                d.lit("Call me on ");
                let p = phone(rng);
                d.ent("PHONE", &p);
                d.lit(" after 5pm. ");
            }
            2 => {
                d.lit("My SSN is ");
                let s = ssn(rng);
                d.ent("US_SOCIAL_SECURITY_NUMBER", &s);
                d.lit(" if you need it. ");
            }
            3 => {
                d.lit("Please charge my card ");
                let c = card(rng);
                d.ent("CREDIT_DEBIT_CARD_NUMBER", &c);
                d.lit(" for the order. ");
            }
            4 => {
                d.lit("Refund to IBAN ");
                let i = iban(rng);
                d.ent("INTERNATIONAL_BANK_ACCOUNT_NUMBER", &i);
                d.lit(" please. ");
            }
            5 => {
                d.lit("Ship it to ");
                let (city, st) = *rng.pick(CITIES);
                let a = format!(
                    "{} {} {}, {city}, {st} {}",
                    rng.range(1, 9999),
                    rng.pick(STREETS),
                    rng.pick(SUFFIX),
                    rng.digits(5)
                );
                d.ent("ADDRESS", &a);
                d.lit(". ");
            }
            6 => {
                d.lit("My NHS number is ");
                let n = nhs(rng);
                d.ent("UK_NATIONAL_HEALTH_SERVICE_NUMBER", &n);
                d.lit(". ");
            }
            7 => {
                d.lit("The portal at ");
                let u = format!("https://{}/account/{}", rng.pick(DOMAINS), rng.digits(5));
                d.ent("URL", &u);
                d.lit(" keeps failing. ");
            }
            8 => {
                d.lit("I also spoke to ");
                d.ent("NAME", &format!("{} {}", rng.pick(FIRST), rng.pick(LAST)));
                d.lit(" yesterday. ");
            }
            _ => hard_negative(rng, &mut d),
        }
    }
    hard_negative(rng, &mut d);
    d.lit(rng.pick::<&str>(&[
        "Thanks!",
        "Can you help?",
        "Where is my order?",
        "Please advise.",
    ]));
    d
}

fn tool_output(rng: &mut Rng) -> Doc {
    let mut d = Doc {
        text: String::new(),
        spans: Vec::new(),
    };
    d.lit(&format!(
        "{{\"order\":\"A-{}\",\"status\":\"shipped\",",
        rng.range(1000, 9999)
    ));
    d.lit("\"customer\":\"");
    d.ent("NAME", &format!("{} {}", rng.pick(FIRST), rng.pick(LAST)));
    d.lit("\",\"email\":\"");
    let e = format!(
        "{}{}@{}",
        rng.pick(FIRST).to_lowercase(),
        rng.range(1, 99),
        rng.pick(DOMAINS)
    );
    d.ent("EMAIL", &e);
    d.lit("\",");
    match rng.below(6) {
        0 => {
            d.lit("\"client_ip\":\"");
            let ip = format!(
                "{}.{}.{}.{}",
                rng.range(11, 223),
                rng.range(0, 255),
                rng.range(0, 255),
                rng.range(1, 254)
            );
            d.ent("IP_ADDRESS", &ip);
            d.lit("\",");
        }
        1 => {
            d.lit("\"debug\":\"aws key ");
            let k = aws_key(rng);
            d.ent("AWS_ACCESS_KEY", &k);
            d.lit("\",");
        }
        2 => {
            d.lit("\"ci_token\":\"");
            let t = github_token(rng);
            d.ent("GITHUB_TOKEN", &t);
            d.lit("\",");
        }
        3 => {
            d.lit("\"phone\":\"");
            let p = phone(rng);
            d.ent("PHONE", &p);
            d.lit("\",");
        }
        4 => {
            d.lit("\"device_mac\":\"");
            let m: Vec<String> = (0..6).map(|_| format!("{:02X}", rng.below(256))).collect();
            d.ent("MAC_ADDRESS", &m.join(":"));
            d.lit("\",");
        }
        _ => {
            d.lit("\"trace\":\"");
            d.lit(&uuid(rng));
            d.lit("\",");
        }
    }
    d.lit(&format!(
        "\"updated\":\"2024-{:02}-{:02}T10:{:02}:00Z\",\"version\":\"{}.{}.{}\"}}",
        rng.range(1, 12),
        rng.range(1, 28),
        rng.range(0, 59),
        rng.range(1, 4),
        rng.range(0, 20),
        rng.range(0, 50)
    ));
    d
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let out = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "corpus.jsonl".into());
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let seed: u64 = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_240_601);
    let mut rng = Rng(seed);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&out)?);
    for id in 0..n {
        let (source, doc) = if rng.chance(70) {
            ("input", chat(&mut rng))
        } else {
            ("tool_output", tool_output(&mut rng))
        };
        let spans: Vec<String> = doc
            .spans
            .iter()
            .map(|(s, e, t)| format!("{{\"start\":{s},\"end\":{e},\"type\":\"{t}\"}}"))
            .collect();
        writeln!(
            f,
            "{{\"id\":{id},\"source\":\"{source}\",\"text\":\"{}\",\"spans\":[{}]}}",
            esc(&doc.text),
            spans.join(",")
        )?;
    }
    eprintln!("wrote {n} records to {out} (seed {seed})");
    Ok(())
}
