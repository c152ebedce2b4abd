//! Bounded hand parser for the TLS ClientHello server name (SNI), over peeked bytes.

/// Largest ClientHello handshake message the parser accepts (reassembled across records).
pub const MAX_CLIENT_HELLO: usize = 16 * 1024;

/// Outcome of parsing the first bytes of a connection as a TLS ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SniParse {
    /// More bytes are needed.
    Incomplete,
    /// The bytes do not start a TLS handshake record.
    NotTls,
    /// A TLS handshake record that is not a well-formed ClientHello (or too large).
    Malformed(&'static str),
    /// A complete ClientHello; `sni` is the `host_name` entry, if any.
    ClientHello {
        /// Server name, lowercased.
        sni: Option<String>,
    },
}

/// Quick check: does this look like the start of a TLS handshake record?
pub fn looks_like_tls(buf: &[u8]) -> bool {
    buf.first() == Some(&0x16) && buf.get(1).is_none_or(|&b| b == 3)
}

/// Parse a ClientHello (possibly fragmented over several handshake records) from `buf`.
/// Never panics; never reads beyond `buf`.
pub fn parse_client_hello(buf: &[u8]) -> SniParse {
    if buf.is_empty() {
        return SniParse::Incomplete;
    }
    if !looks_like_tls(buf) {
        return SniParse::NotTls;
    }
    // Reassemble handshake bytes from consecutive handshake records.
    let mut hs: Vec<u8> = Vec::new();
    let mut off = 0usize;
    loop {
        let Some(hdr) = buf.get(off..off + 5) else {
            return SniParse::Incomplete;
        };
        if hdr[0] != 0x16 {
            return SniParse::Malformed("non-handshake record before client hello completed");
        }
        if hdr[1] != 3 {
            return SniParse::Malformed("bad record version");
        }
        let len = usize::from(u16::from_be_bytes([hdr[3], hdr[4]]));
        if len == 0 || len > 16_384 + 256 {
            return SniParse::Malformed("bad record length");
        }
        let Some(frag) = buf.get(off + 5..off + 5 + len) else {
            return SniParse::Incomplete;
        };
        hs.extend_from_slice(frag);
        off += 5 + len;
        if hs.len() >= 4 {
            if hs[0] != 0x01 {
                return SniParse::Malformed("first handshake message is not a client hello");
            }
            let hlen = (usize::from(hs[1]) << 16) | (usize::from(hs[2]) << 8) | usize::from(hs[3]);
            if hlen > MAX_CLIENT_HELLO {
                return SniParse::Malformed("client hello too large");
            }
            if hs.len() >= 4 + hlen {
                return parse_hello_body(&hs[4..4 + hlen]);
            }
        }
        if hs.len() > MAX_CLIENT_HELLO + 4 {
            return SniParse::Malformed("client hello too large");
        }
    }
}

struct Cur<'a> {
    b: &'a [u8],
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.b.len() < n {
            return None;
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Some(h)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

fn parse_hello_body(body: &[u8]) -> SniParse {
    const BAD: SniParse = SniParse::Malformed("truncated client hello");
    let mut c = Cur { b: body };
    let Some(ver) = c.take(2) else { return BAD };
    if ver[0] != 3 {
        return SniParse::Malformed("bad client hello version");
    }
    if c.take(32).is_none() {
        return BAD;
    }
    let Some(sid) = c.vec8() else { return BAD };
    if sid.len() > 32 {
        return SniParse::Malformed("session id too long");
    }
    let Some(suites) = c.vec16() else { return BAD };
    if suites.is_empty() || suites.len() % 2 != 0 {
        return SniParse::Malformed("bad cipher suites");
    }
    if c.vec8().is_none() {
        return BAD;
    }
    if c.b.is_empty() {
        return SniParse::ClientHello { sni: None };
    }
    let Some(exts) = c.vec16() else { return BAD };
    let mut e = Cur { b: exts };
    let mut sni = None;
    let mut seen_sni = false;
    while !e.b.is_empty() {
        let (Some(ty), Some(data)) = (e.u16(), e.vec16()) else {
            return SniParse::Malformed("truncated extension");
        };
        if ty != 0 {
            continue;
        }
        if seen_sni {
            return SniParse::Malformed("duplicate server_name extension");
        }
        seen_sni = true;
        let mut s = Cur { b: data };
        let Some(list) = s.vec16() else {
            return SniParse::Malformed("truncated server_name");
        };
        let mut l = Cur { b: list };
        while !l.b.is_empty() {
            let (Some(kind), Some(name)) = (l.u8(), l.vec16()) else {
                return SniParse::Malformed("truncated server_name entry");
            };
            if kind == 0 && sni.is_none() {
                match valid_sni(name) {
                    Some(n) => sni = Some(n),
                    None => return SniParse::Malformed("invalid server name"),
                }
            }
        }
    }
    SniParse::ClientHello { sni }
}

fn valid_sni(name: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(name).ok()?;
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() || s.len() > 253 {
        return None;
    }
    let ok = s.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    ok.then(|| s.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal hand-built ClientHello with SNI `a.example`.
    fn tiny_hello(name: &[u8]) -> Vec<u8> {
        let mut sni_ext = Vec::new();
        let entry_len = 3 + name.len();
        sni_ext.extend_from_slice(&(entry_len as u16).to_be_bytes());
        sni_ext.push(0);
        sni_ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
        sni_ext.extend_from_slice(name);
        let mut exts = vec![0, 0];
        exts.extend_from_slice(&(sni_ext.len() as u16).to_be_bytes());
        exts.extend_from_slice(&sni_ext);
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7; 32]);
        body.push(0);
        body.extend_from_slice(&[0, 2, 0x13, 0x01]);
        body.extend_from_slice(&[1, 0]);
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend_from_slice(&exts);
        let mut hs = vec![1, 0];
        hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
        hs.extend_from_slice(&body);
        let mut rec = vec![0x16, 3, 1];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn parses_and_handles_truncation() {
        let h = tiny_hello(b"A.Example");
        assert_eq!(
            parse_client_hello(&h),
            SniParse::ClientHello {
                sni: Some("a.example".into())
            }
        );
        for i in 0..h.len() {
            assert_eq!(
                parse_client_hello(&h[..i]),
                SniParse::Incomplete,
                "prefix {i}"
            );
        }
    }

    #[test]
    fn fragmented_over_two_records() {
        let h = tiny_hello(b"frag.test");
        let hs = &h[5..];
        let (a, b) = hs.split_at(10);
        let mut two = vec![0x16, 3, 1, 0, a.len() as u8];
        two.extend_from_slice(a);
        two.extend_from_slice(&[0x16, 3, 1]);
        two.extend_from_slice(&(b.len() as u16).to_be_bytes());
        two.extend_from_slice(b);
        assert_eq!(
            parse_client_hello(&two),
            SniParse::ClientHello {
                sni: Some("frag.test".into())
            }
        );
    }

    #[test]
    fn garbage() {
        assert_eq!(parse_client_hello(b"GET / HTTP/1.1\r\n"), SniParse::NotTls);
        assert!(matches!(
            parse_client_hello(&[0x16, 3, 1, 0, 4, 2, 0, 0, 0]),
            SniParse::Malformed(_)
        ));
        assert!(matches!(
            parse_client_hello(&tiny_hello(b"bad name\0")),
            SniParse::Malformed(_)
        ));
        assert!(matches!(
            parse_client_hello(&[0x16, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff]),
            SniParse::Malformed(_)
        ));
    }
}
