//! Tool allowlists: `host`, `host:port`, `*.suffix`, `*.suffix:port`, and IP literals.

use crate::error::EgressError;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    /// Matches names ending in `.suffix` (one or more extra labels), never the apex.
    Suffix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    pattern: Pattern,
    port: Option<u16>,
}

/// A parsed allowlist. Matching is case-insensitive and ignores one trailing dot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    entries: Vec<Entry>,
}

/// Lowercase a host name and strip one trailing dot.
pub fn normalize_host(host: &str) -> String {
    let h = host.strip_suffix('.').unwrap_or(host);
    h.to_ascii_lowercase()
}

fn valid_host(h: &str) -> bool {
    if h.is_empty() || h.len() > 253 {
        return false;
    }
    if h.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    h.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

impl Allowlist {
    /// Parse entries; every bad entry is an error.
    pub fn parse<I, S>(entries: I) -> Result<Self, EgressError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = Vec::new();
        for raw in entries {
            let raw = raw.as_ref().trim();
            let bad = |why| EgressError::InvalidAllowEntry {
                entry: raw.to_owned(),
                why,
            };
            // `[v6]:port`, `[v6]`, `host:port`, `host`, bare v6.
            let (host, port) = if let Some(rest) = raw.strip_prefix('[') {
                let (h, after) = rest
                    .split_once(']')
                    .ok_or_else(|| bad("unclosed bracket"))?;
                let port = match after {
                    "" => None,
                    p => Some(
                        p.strip_prefix(':')
                            .and_then(|p| p.parse::<u16>().ok())
                            .ok_or_else(|| bad("bad port"))?,
                    ),
                };
                (h, port)
            } else if raw.matches(':').count() == 1 {
                let (h, p) = raw.split_once(':').ok_or_else(|| bad("bad port"))?;
                (h, Some(p.parse::<u16>().map_err(|_| bad("bad port"))?))
            } else {
                (raw, None)
            };
            let host = normalize_host(host);
            let pattern = if let Some(suffix) = host.strip_prefix("*.") {
                if suffix.contains('*') || !valid_host(suffix) || !suffix.contains('.') {
                    return Err(bad("wildcard must be a whole leftmost label over a domain with at least two labels"));
                }
                Pattern::Suffix(suffix.to_owned())
            } else {
                if host.contains('*') {
                    return Err(bad("wildcard only allowed as a leading `*.`"));
                }
                if !valid_host(&host) {
                    return Err(bad("not a host name or ip address"));
                }
                Pattern::Exact(host)
            };
            out.push(Entry { pattern, port });
        }
        Ok(Self { entries: out })
    }

    /// An allowlist that permits nothing.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Does the list permit `host` on `port`?
    pub fn permits(&self, host: &str, port: u16) -> bool {
        let host = normalize_host(host);
        self.entries.iter().any(|e| {
            e.port.is_none_or(|p| p == port)
                && match &e.pattern {
                    Pattern::Exact(h) => *h == host,
                    Pattern::Suffix(s) => {
                        host.len() > s.len() + 1
                            && host.ends_with(s.as_str())
                            && host.as_bytes()[host.len() - s.len() - 1] == b'.'
                    }
                }
        })
    }

    /// Does the list permit `host` on any port? (Used by DNS, which does not know the port.)
    pub fn permits_name(&self, host: &str) -> bool {
        let host = normalize_host(host);
        self.entries.iter().any(|e| match &e.pattern {
            Pattern::Exact(h) => *h == host,
            Pattern::Suffix(s) => {
                host.len() > s.len() + 1
                    && host.ends_with(s.as_str())
                    && host.as_bytes()[host.len() - s.len() - 1] == b'.'
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_wildcard_and_port() {
        let a = Allowlist::parse(["api.internal", "*.example.com:443", "Docs.Rs"]).unwrap();
        assert!(a.permits("api.internal", 1));
        assert!(a.permits("API.internal.", 8080));
        assert!(a.permits("x.example.com", 443));
        assert!(a.permits("a.b.example.com", 443));
        assert!(!a.permits("x.example.com", 80));
        assert!(!a.permits("example.com", 443));
        assert!(!a.permits("badexample.com", 443));
        assert!(a.permits("docs.rs", 443));
        assert!(a.permits_name("x.example.com"));
        assert!(!a.permits_name("evil.test"));
    }

    #[test]
    fn rejects_bad_wildcards() {
        for bad in [
            "*example.com",
            "a.*.com",
            "example.*",
            "*.com",
            "*",
            "host:99999",
            "",
        ] {
            assert!(Allowlist::parse([bad]).is_err(), "{bad}");
        }
        assert!(Allowlist::parse(["203.0.113.7", "[2001:db8::1]:443"]).is_ok());
    }
}
