//! Bounded HTTP/1.x request-head parsing (httparse) and proxy target extraction.

/// Maximum number of request headers accepted.
pub const MAX_HEADERS: usize = 64;

/// Where a request wants to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `CONNECT host:port` (cooperative tunnel).
    Connect {
        /// Host (name or IP literal, brackets removed).
        host: String,
        /// Port.
        port: u16,
    },
    /// `GET http://host[:port]/path` (cooperative plain-HTTP proxy request).
    Absolute {
        /// Host.
        host: String,
        /// Port (default 80).
        port: u16,
        /// Origin-form path (`/` when empty).
        path: String,
    },
    /// `GET /path` with a `Host` header (transparent interception).
    Origin {
        /// Host from the `Host` header, without port, if present.
        host: Option<String>,
        /// Port from the `Host` header, if present.
        port: Option<u16>,
        /// Path.
        path: String,
    },
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Parsed target.
    pub target: Target,
    /// Raw `Host` header value.
    pub host_header: Option<String>,
    /// Minor version (0 or 1).
    pub version: u8,
    /// Length of the head in bytes, including the final CRLFCRLF.
    pub head_len: usize,
    /// Byte length of the first line including its CRLF.
    pub request_line_len: usize,
    /// `Content-Length`, if present and valid.
    pub content_length: Option<u64>,
    /// `Transfer-Encoding: chunked`.
    pub chunked: bool,
}

/// Result of parsing peeked bytes as an HTTP request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadParse {
    /// More bytes needed.
    Incomplete,
    /// Not a valid request head; the string is a short reason.
    Malformed(&'static str),
    /// A complete head.
    Complete(RequestHead),
}

/// Quick check: does `buf` start like an HTTP request line (an uppercase token and a space)?
pub fn looks_like_http(buf: &[u8]) -> bool {
    let n = buf
        .iter()
        .take(16)
        .take_while(|b| b.is_ascii_uppercase())
        .count();
    n > 0 && (buf.len() == n || buf.get(n) == Some(&b' '))
}

/// Split `host[:port]` / `[v6]:port`. Returns `None` when malformed.
pub fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    if s.is_empty() {
        return None;
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        h.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?.parse::<u16>().ok()?),
        };
        return Some((h.to_owned(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => {
            if h.contains(':') || h.is_empty() {
                return None;
            }
            Some((h.to_owned(), Some(p.parse::<u16>().ok()?)))
        }
        None => Some((s.to_owned(), None)),
    }
}

fn valid_host(h: &str) -> bool {
    if h.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let h = h.strip_suffix('.').unwrap_or(h);
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Parse a request head from `buf`. `max_head` bounds the head size: a head that is still
/// incomplete at `max_head` bytes is malformed. Never panics.
pub fn parse_request_head(buf: &[u8], max_head: usize) -> HeadParse {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return if buf.len() >= max_head {
                HeadParse::Malformed("request head too large")
            } else {
                HeadParse::Incomplete
            };
        }
        Err(httparse::Error::TooManyHeaders) => return HeadParse::Malformed("too many headers"),
        Err(_) => return HeadParse::Malformed("invalid request head"),
    };
    if head_len > max_head {
        return HeadParse::Malformed("request head too large");
    }
    let (Some(method), Some(path), Some(version)) = (req.method, req.path, req.version) else {
        return HeadParse::Malformed("invalid request line");
    };
    let mut host_header = None;
    let mut content_length = None;
    let mut chunked = false;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("host") {
            if host_header.is_some() {
                return HeadParse::Malformed("duplicate host header");
            }
            match std::str::from_utf8(h.value) {
                Ok(v) => host_header = Some(v.trim().to_owned()),
                Err(_) => return HeadParse::Malformed("non-ascii host header"),
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
            match (v, content_length) {
                (None, _) => return HeadParse::Malformed("bad content-length"),
                (Some(a), Some(b)) if a != b => {
                    return HeadParse::Malformed("conflicting content-length")
                }
                (Some(a), _) => content_length = Some(a),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked |= h
                .value
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        }
    }
    if chunked && content_length.is_some() {
        return HeadParse::Malformed("both content-length and chunked");
    }
    let request_line_len = match buf.windows(2).position(|w| w == b"\r\n") {
        Some(p) => p + 2,
        None => return HeadParse::Malformed("no request line terminator"),
    };
    let target = if method.eq_ignore_ascii_case("CONNECT") {
        match split_host_port(path) {
            Some((host, Some(port))) if valid_host(&host) => Target::Connect { host, port },
            _ => return HeadParse::Malformed("bad connect authority"),
        }
    } else if let Some(rest) = strip_prefix_ci(path, "http://") {
        let (auth, p) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if auth.contains('@') {
            return HeadParse::Malformed("userinfo in proxy uri");
        }
        let Some((host, port)) = split_host_port(auth) else {
            return HeadParse::Malformed("bad absolute uri authority");
        };
        if !valid_host(&host) {
            return HeadParse::Malformed("bad absolute uri host");
        }
        let path = if p.starts_with('?') {
            format!("/{p}")
        } else {
            p.to_owned()
        };
        Target::Absolute {
            host,
            port: port.unwrap_or(80),
            path,
        }
    } else if path.starts_with('/') || path == "*" {
        let (host, port) = match host_header.as_deref() {
            Some(h) => match split_host_port(h) {
                Some((host, port)) if valid_host(&host) => (Some(host), port),
                _ => return HeadParse::Malformed("bad host header"),
            },
            None => (None, None),
        };
        Target::Origin {
            host,
            port,
            path: path.to_owned(),
        }
    } else {
        return HeadParse::Malformed("unsupported request target");
    };
    HeadParse::Complete(RequestHead {
        method: method.to_owned(),
        target,
        host_header,
        version,
        head_len,
        request_line_len,
        content_length,
        chunked,
    })
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> HeadParse {
        parse_request_head(s.as_bytes(), 16 * 1024)
    }

    #[test]
    fn forms() {
        let HeadParse::Complete(h) =
            parse("CONNECT api.internal:443 HTTP/1.1\r\nHost: api.internal:443\r\n\r\n")
        else {
            panic!()
        };
        assert_eq!(
            h.target,
            Target::Connect {
                host: "api.internal".into(),
                port: 443
            }
        );
        let HeadParse::Complete(h) = parse("POST http://api.internal:8080/x?y=1 HTTP/1.1\r\nHost: api.internal\r\nContent-Length: 3\r\n\r\nabc") else { panic!() };
        assert_eq!(
            h.target,
            Target::Absolute {
                host: "api.internal".into(),
                port: 8080,
                path: "/x?y=1".into()
            }
        );
        assert_eq!(h.content_length, Some(3));
        let HeadParse::Complete(h) = parse("GET /a HTTP/1.1\r\nHost: [::1]:81\r\n\r\n") else {
            panic!()
        };
        assert_eq!(
            h.target,
            Target::Origin {
                host: Some("::1".into()),
                port: Some(81),
                path: "/a".into()
            }
        );
        assert_eq!(parse("GET / HTTP/1.1\r\nHost: a"), HeadParse::Incomplete);
    }

    #[test]
    fn malformed() {
        for s in [
            "CONNECT api.internal HTTP/1.1\r\n\r\n",
            "GET http://user@x/ HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "GET ftp://x/ HTTP/1.1\r\n\r\n",
            "G\0T / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: bad host\r\n\r\n",
        ] {
            assert!(matches!(parse(s), HeadParse::Malformed(_)), "{s:?}");
        }
        let big = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(100));
        assert!(matches!(
            parse_request_head(big.as_bytes(), 64),
            HeadParse::Malformed(_)
        ));
    }
}
