//! The egress TCP proxy: transparent (nftables REDIRECT) and cooperative (CONNECT and
//! absolute-URI HTTP) in one listener. Attribute, name, resolve, classify, enforce, scan, relay.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::attrib::{InvocationContext, Mode};
use crate::classify::classify;
use crate::config::{Egress, Shared};
use crate::dlp::ScanRequest;
use crate::error::EgressError;
use crate::event::{Decision, EgressEvent, EventKind, Observation, Reason};
use crate::http::{looks_like_http, parse_request_head, HeadParse, RequestHead, Target};
use crate::sni::{looks_like_tls, parse_client_hello, SniParse};

/// How the proxy learns where a redirected connection was originally headed.
pub trait OriginalDst: Send + Sync + 'static {
    /// The original destination, or `None` when the client connected to the proxy directly.
    fn original_dst(&self, stream: &TcpStream) -> Option<SocketAddr>;
}

/// `SO_ORIGINAL_DST` / `IP6T_SO_ORIGINAL_DST` (nftables `redirect`), via socket2.
#[derive(Debug, Clone, Copy, Default)]
pub struct SoOriginalDst;

impl OriginalDst for SoOriginalDst {
    fn original_dst(&self, stream: &TcpStream) -> Option<SocketAddr> {
        let sock = socket2::SockRef::from(stream);
        let local = stream.local_addr().ok()?;
        let r = if local.is_ipv4() {
            sock.original_dst_v4()
        } else {
            sock.original_dst_v6()
        };
        r.ok().and_then(|a| a.as_socket())
    }
}

/// Every connection is a direct (cooperative) proxy connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoOriginalDst;

impl OriginalDst for NoOriginalDst {
    fn original_dst(&self, _: &TcpStream) -> Option<SocketAddr> {
        None
    }
}

/// Pretends every connection was redirected from this address (tests and benchmarks that
/// cannot install nftables rules).
#[derive(Debug, Clone, Copy)]
pub struct FixedOriginalDst(pub SocketAddr);

impl OriginalDst for FixedOriginalDst {
    fn original_dst(&self, _: &TcpStream) -> Option<SocketAddr> {
        Some(self.0)
    }
}

/// A bound proxy listener.
#[derive(Debug)]
pub struct ProxyServer {
    listener: TcpListener,
    egress: Egress,
}

impl ProxyServer {
    /// Bind the proxy listener (e.g. `10.200.0.1:15001`, or `127.0.0.1:0` in tests).
    pub async fn bind(egress: &Egress, addr: SocketAddr) -> Result<Self, EgressError> {
        let listener = TcpListener::bind(addr).await?;
        egress.shared.add_own_addr(listener.local_addr()?);
        Ok(Self {
            listener,
            egress: egress.clone(),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr, EgressError> {
        Ok(self.listener.local_addr()?)
    }

    /// Serve until the listener fails.
    pub async fn run(self) -> Result<(), EgressError> {
        self.run_until(std::future::pending()).await
    }

    /// Serve until `shutdown` completes. Connections already accepted keep running.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<(), EgressError> {
        let shared = self.egress.shared.clone();
        let local = self.listener.local_addr()?;
        let permits = Arc::new(Semaphore::new(shared.limits.max_connections));
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                r = self.listener.accept() => match r {
                    Ok(v) => v,
                    Err(e) if is_transient_accept(&e) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                },
                () = &mut shutdown => return Ok(()),
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                let ctx = shared.attributor.attribute(peer.ip());
                let mut ev =
                    shared.event(ctx.as_deref(), EventKind::Tcp, peer, Observation::Isolated);
                ev.reason = Some(if ctx.is_some() {
                    Reason::ConnectionLimit
                } else {
                    Reason::Unattributed
                });
                shared.sink.emit(ev);
                reset(stream);
                continue;
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                handle(shared, stream, peer, local).await;
                drop(permit);
            });
        }
    }

    /// Spawn the server on the current tokio runtime.
    pub fn spawn(self) -> tokio::task::JoinHandle<Result<(), EgressError>> {
        tokio::spawn(self.run())
    }
}

fn is_transient_accept(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    ) || e.raw_os_error() == Some(24) // EMFILE: back off rather than die
        || e.raw_os_error() == Some(23)
}

/// Refuse with a TCP reset: SO_LINGER 0, then drop.
fn reset(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// What the first bytes of a connection turned out to be.
enum Peeked {
    Tls(Option<String>),
    Http(RequestHead),
    /// Not TLS or HTTP, or nothing sent before the peek timeout.
    Unknown,
    /// Started like HTTP/TLS but is not well formed; `http` says whether to answer 400.
    Malformed {
        http: bool,
    },
}

async fn peek_first(stream: &TcpStream, max: usize, timeout: Duration) -> Peeked {
    let mut buf = vec![0u8; max];
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = 0usize;
    let mut seen_kind: Option<bool> = None; // Some(true) = http, Some(false) = tls
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(_)) => return Peeked::Malformed { http: false },
            Err(_) => {
                return match seen_kind {
                    None => Peeked::Unknown,
                    Some(http) => Peeked::Malformed { http },
                }
            }
        };
        if n == 0 {
            return match seen_kind {
                None => Peeked::Unknown,
                Some(http) => Peeked::Malformed { http },
            };
        }
        let data = &buf[..n];
        if looks_like_tls(data) {
            seen_kind = Some(false);
            match parse_client_hello(data) {
                SniParse::ClientHello { sni } => return Peeked::Tls(sni),
                SniParse::Malformed(_) | SniParse::NotTls => {
                    return Peeked::Malformed { http: false }
                }
                SniParse::Incomplete if n == max => return Peeked::Malformed { http: false },
                SniParse::Incomplete => {}
            }
        } else if looks_like_http(data) {
            seen_kind = Some(true);
            match parse_request_head(data, max) {
                HeadParse::Complete(h) => return Peeked::Http(h),
                HeadParse::Malformed(_) => return Peeked::Malformed { http: true },
                HeadParse::Incomplete => {}
            }
        } else {
            return Peeked::Unknown;
        }
        if n == last {
            // Nothing new yet: `peek` does not wait for *more* data, so back off briefly.
            if tokio::time::timeout_at(deadline, tokio::time::sleep(Duration::from_millis(2)))
                .await
                .is_err()
            {
                return Peeked::Malformed {
                    http: seen_kind == Some(true),
                };
            }
        }
        last = n;
    }
}

/// How the destination was learned.
#[derive(Debug, Clone)]
enum Dest {
    Name(String),
    Ip(IpAddr),
}

fn dest_of(host: &str) -> Dest {
    match host.parse::<IpAddr>() {
        Ok(ip) => Dest::Ip(ip),
        Err(_) => Dest::Name(crate::allow::normalize_host(host)),
    }
}

fn http_response(status: &str, reason: Reason) -> Vec<u8> {
    let body = format!("warden egress: {}\n", reason.code());
    format!(
        "HTTP/1.1 {status}\r\nX-Warden-Reason: {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        reason.code(),
        body.len()
    )
    .into_bytes()
}

async fn refuse_http(mut stream: TcpStream, status: &str, reason: Reason) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = stream.write_all(&http_response(status, reason)).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

struct Conn {
    shared: Arc<Shared>,
    ctx: Arc<InvocationContext>,
    ev: EgressEvent,
}

impl Conn {
    fn emit(&mut self) {
        self.shared.sink.emit(self.ev.clone());
    }
}

async fn handle(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr, local: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let orig = shared
        .original_dst
        .original_dst(&stream)
        .filter(|d| *d != local);
    let observation = if orig.is_some() {
        Observation::Isolated
    } else {
        Observation::Cooperative
    };
    let Some(ctx) = shared.attributor.attribute(peer.ip()) else {
        let mut ev = shared.event(None, EventKind::Tcp, peer, observation);
        if let Some(d) = orig {
            ev.address = Some(d.ip().to_string());
            ev.port = Some(d.port());
        }
        shared.sink.emit(ev);
        reset(stream);
        return;
    };
    // Counted until this function returns, after the connection's event is emitted.
    let _active = shared.active.enter(&ctx.invocation_id);
    let ev = shared.event(Some(&ctx), EventKind::Tcp, peer, observation);
    let mut c = Conn {
        shared: shared.clone(),
        ctx,
        ev,
    };
    let limits = &shared.limits;
    let timeout = if orig.is_some() {
        limits.peek_timeout
    } else {
        limits.head_timeout
    };
    let peeked = peek_first(&stream, limits.max_head_bytes, timeout).await;

    match peeked {
        Peeked::Http(head) => match head.target.clone() {
            Target::Connect { host, port } => {
                c.ev.protocol = Some("connect".into());
                c.ev.http_host = Some(host.clone());
                c.ev.http_method = Some(head.method.clone());
                connect_tunnel(c, stream, head, dest_of(&host), port).await
            }
            Target::Absolute { host, port, path } => {
                c.ev.kind = EventKind::Http;
                c.ev.protocol = Some("http".into());
                c.ev.http_host = head.host_header.clone().or(Some(host.clone()));
                plain_http(c, stream, head, dest_of(&host), port, path).await
            }
            Target::Origin { host, path, .. } => {
                c.ev.kind = EventKind::Http;
                c.ev.protocol = Some("http".into());
                c.ev.http_host = head.host_header.clone();
                let Some(d) = orig else {
                    // An origin-form request sent to the proxy itself.
                    c.ev.http_method = Some(head.method.clone());
                    c.ev.http_path = Some(path);
                    deny(&mut c, Reason::MalformedRequest);
                    return refuse_http(stream, "400 Bad Request", Reason::MalformedRequest).await;
                };
                let dest = transparent_dest(&shared, d, host.as_deref(), &mut c);
                plain_http(c, stream, head, dest, d.port(), path).await
            }
        },
        Peeked::Tls(sni) => {
            c.ev.protocol = Some("tls".into());
            c.ev.sni = sni.clone();
            let Some(d) = orig else {
                deny(&mut c, Reason::MalformedRequest);
                return reset(stream);
            };
            let dest = transparent_dest(&shared, d, sni.as_deref(), &mut c);
            passthrough(c, stream, dest, d.port()).await
        }
        Peeked::Unknown => {
            c.ev.protocol = Some("unknown".into());
            let Some(d) = orig else {
                deny(&mut c, Reason::MalformedRequest);
                return reset(stream);
            };
            let dest = transparent_dest(&shared, d, None, &mut c);
            passthrough(c, stream, dest, d.port()).await
        }
        Peeked::Malformed { http } => {
            c.ev.protocol = Some(if http { "http" } else { "tls" }.into());
            if let Some(d) = orig {
                c.ev.address = Some(d.ip().to_string());
                c.ev.port = Some(d.port());
            }
            deny(&mut c, Reason::MalformedRequest);
            if http {
                refuse_http(stream, "400 Bad Request", Reason::MalformedRequest).await
            } else {
                reset(stream)
            }
        }
    }
}

/// Pick the destination of a redirected connection. A synthetic address from Warden's own
/// DNS is authoritative; otherwise the SNI/Host name; otherwise the bare IP.
/// The address the client dialed is never used for a name: the proxy resolves it itself.
fn transparent_dest(shared: &Shared, d: SocketAddr, hint: Option<&str>, c: &mut Conn) -> Dest {
    if let Some(name) = shared.synthetic.name_for(d.ip()) {
        // If SNI/Host names something else, that name must be allowed too (checked later).
        if let Some(h) = hint {
            let h = crate::allow::normalize_host(h);
            if h != name {
                c.ev.name = Some(name.clone());
                if !c.ctx.allowlist.permits(&h, d.port()) && h.parse::<IpAddr>().is_err() {
                    // Mark the mismatch: the hint name is undeclared.
                    c.ev.reason = Some(Reason::UndeclaredHost);
                }
            }
        }
        return Dest::Name(name);
    }
    match hint.map(dest_of) {
        Some(Dest::Name(n)) => Dest::Name(n),
        _ => Dest::Ip(d.ip()),
    }
}

fn deny(c: &mut Conn, reason: Reason) {
    c.ev.decision = Decision::Deny;
    c.ev.reason = Some(reason);
    c.emit();
}

/// The outcome of policy + resolution: a dialed upstream, or a refusal reason.
async fn decide_and_dial(c: &mut Conn, dest: &Dest, port: u16) -> Result<TcpStream, Reason> {
    let shared = c.shared.clone();
    let own = shared.own_addrs();
    c.ev.port = Some(port);
    let hint_undeclared = c.ev.reason == Some(Reason::UndeclaredHost);
    c.ev.reason = None;
    let (addrs, trusted, finding) = match dest {
        Dest::Ip(ip) => {
            c.ev.address = Some(ip.to_string());
            let sa = SocketAddr::new(*ip, port);
            if let Some(r) = classify(sa, &own) {
                return Err(r);
            }
            let permitted = c.ctx.allowlist.permits(&ip.to_string(), port);
            if !permitted && c.ctx.mode == Mode::Enforce {
                return Err(Reason::BareIp);
            }
            (vec![sa], false, Some(Reason::BareIp))
        }
        Dest::Name(name) => {
            c.ev.name = Some(name.clone());
            let permitted = c.ctx.allowlist.permits(name, port) && !hint_undeclared;
            if !permitted && c.ctx.mode == Mode::Enforce {
                return Err(Reason::UndeclaredHost);
            }
            let finding = (!permitted).then_some(Reason::UndeclaredHost);
            if let Some(a) = shared.hosts.get(name) {
                (vec![a], true, finding)
            } else {
                let ips = match tokio::time::timeout(
                    shared.limits.dial_timeout,
                    shared.resolver.resolve(name),
                )
                .await
                {
                    Ok(Ok(ips)) if !ips.is_empty() => ips,
                    _ => return Err(Reason::ResolveFailed),
                };
                // Classify every answer after resolving: one forbidden answer refuses the name
                // (DNS rebinding to an internal address).
                for ip in &ips {
                    if let Some(r) = classify(SocketAddr::new(*ip, port), &own) {
                        c.ev.address = Some(ip.to_string());
                        return Err(r);
                    }
                }
                (
                    ips.into_iter()
                        .map(|ip| SocketAddr::new(ip, port))
                        .collect(),
                    false,
                    finding,
                )
            }
        }
    };
    let mut last = Reason::DialFailed;
    for sa in addrs.into_iter().take(4) {
        // Classify again at dial time. Host-map addresses are operator overrides and may be
        // loopback/private, but never one of Warden's own listeners.
        let verdict = classify(sa, &own);
        match verdict {
            Some(Reason::SelfAddress) => {
                last = Reason::SelfAddress;
                continue;
            }
            Some(r) if !trusted => {
                last = r;
                continue;
            }
            _ => {}
        }
        c.ev.address = Some(sa.ip().to_string());
        if let Ok(Ok(s)) =
            tokio::time::timeout(shared.limits.dial_timeout, TcpStream::connect(sa)).await
        {
            let _ = s.set_nodelay(true);
            c.ev.reason = finding;
            c.ev.decision = match finding {
                Some(Reason::UndeclaredHost) => Decision::Report,
                Some(Reason::BareIp) if !c.ctx.allowlist.permits(&sa.ip().to_string(), port) => {
                    Decision::Report
                }
                _ => Decision::Allow,
            };
            return Ok(s);
        }
        last = Reason::DialFailed;
    }
    Err(last)
}

fn refusal_status(r: Reason) -> &'static str {
    match r {
        Reason::ResolveFailed | Reason::DialFailed => "502 Bad Gateway",
        _ => "403 Forbidden",
    }
}

async fn connect_tunnel(
    mut c: Conn,
    mut stream: TcpStream,
    head: RequestHead,
    dest: Dest,
    port: u16,
) {
    // Consume the CONNECT head (already peeked in full).
    let mut discard = vec![0u8; head.head_len];
    if stream.read_exact(&mut discard).await.is_err() {
        deny(&mut c, Reason::MalformedRequest);
        return reset(stream);
    }
    match decide_and_dial(&mut c, &dest, port).await {
        Ok(upstream) => {
            if stream
                .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                .await
                .is_err()
            {
                return c.emit();
            }
            relay_and_emit(c, stream, upstream, Vec::new()).await
        }
        Err(r) => {
            deny(&mut c, r);
            refuse_http(stream, refusal_status(r), r).await
        }
    }
}

async fn passthrough(mut c: Conn, stream: TcpStream, dest: Dest, port: u16) {
    match decide_and_dial(&mut c, &dest, port).await {
        // The peeked bytes are still in the client socket and are relayed normally.
        Ok(upstream) => relay_and_emit(c, stream, upstream, Vec::new()).await,
        Err(r) => {
            deny(&mut c, r);
            reset(stream)
        }
    }
}

/// Rebuild the head for the upstream: origin-form request line, hop-by-hop and proxy headers
/// dropped, `Connection: close` so one connection carries one inspected request.
fn rewrite_head(raw: &[u8], head: &RequestHead, path: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 32);
    out.extend_from_slice(
        format!("{} {} HTTP/1.{}\r\n", head.method, path, head.version).as_bytes(),
    );
    let headers =
        &raw[head.request_line_len..head.head_len.saturating_sub(2).max(head.request_line_len)];
    for line in headers.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let name = line.split(|&b| b == b':').next().unwrap_or(b"");
        let drop = [
            &b"connection"[..],
            b"proxy-connection",
            b"keep-alive",
            b"proxy-authorization",
        ]
        .iter()
        .any(|h| name.trim_ascii().eq_ignore_ascii_case(h));
        if !drop {
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out
}

/// Read up to `window` body bytes (bounded by Content-Length, or until the chunked terminator).
async fn read_body_window(
    stream: &mut TcpStream,
    head: &RequestHead,
    window: usize,
    timeout: Duration,
) -> io::Result<(Vec<u8>, bool)> {
    let want = match (head.content_length, head.chunked) {
        (Some(n), _) => usize::try_from(n).unwrap_or(usize::MAX),
        (None, true) => usize::MAX,
        (None, false) => 0,
    };
    let cap = want.min(window);
    let mut body = Vec::with_capacity(cap.min(64 * 1024));
    let deadline = tokio::time::Instant::now() + timeout;
    let mut chunk = [0u8; 8192];
    while body.len() < cap {
        if head.chunked && (body.ends_with(b"\r\n0\r\n\r\n") || body.as_slice() == b"0\r\n\r\n") {
            return Ok((body, false));
        }
        let room = (cap - body.len()).min(chunk.len());
        let n = tokio::time::timeout_at(deadline, stream.read(&mut chunk[..room]))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "body timeout"))??;
        if n == 0 {
            return Ok((body, false));
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok((body, want > cap))
}

async fn plain_http(
    mut c: Conn,
    mut stream: TcpStream,
    head: RequestHead,
    dest: Dest,
    port: u16,
    path: String,
) {
    c.ev.http_method = Some(head.method.clone());
    c.ev.http_path = Some(path.clone());
    // Consume the head (peeked in full).
    let mut raw = vec![0u8; head.head_len];
    if stream.read_exact(&mut raw).await.is_err() {
        deny(&mut c, Reason::MalformedRequest);
        return reset(stream);
    }
    // Policy first (no need to read a body we will refuse), then the DLP window, then dial.
    let pre = precheck(&mut c, &dest, port);
    if let Err(r) = pre {
        deny(&mut c, r);
        return refuse_http(stream, refusal_status(r), r).await;
    }
    let limits = &c.shared.limits;
    let (body, truncated) =
        match read_body_window(&mut stream, &head, limits.body_window, limits.head_timeout).await {
            Ok(v) => v,
            Err(_) => {
                deny(&mut c, Reason::MalformedRequest);
                return reset(stream);
            }
        };
    if let Some(scanner) = c.shared.scanner.clone() {
        let host = match &dest {
            Dest::Name(n) => n.clone(),
            Dest::Ip(ip) => ip.to_string(),
        };
        let findings = scanner.scan(
            &c.ctx,
            &ScanRequest {
                host: &host,
                method: &head.method,
                path: &path,
                body: &body,
                truncated,
            },
        );
        let blocking = findings.iter().any(|f| f.blocking);
        c.ev.findings = findings;
        if blocking && c.ctx.mode == Mode::Enforce {
            c.ev.name = match &dest {
                Dest::Name(n) => Some(n.clone()),
                Dest::Ip(_) => None,
            };
            c.ev.port = Some(port);
            deny(&mut c, Reason::PayloadBlocked);
            return refuse_http(stream, "403 Forbidden", Reason::PayloadBlocked).await;
        }
    }
    match decide_and_dial(&mut c, &dest, port).await {
        Ok(upstream) => {
            if c.ev.findings.iter().any(|f| f.blocking) && c.ev.reason.is_none() {
                c.ev.reason = Some(Reason::PayloadBlocked);
                c.ev.decision = Decision::Report;
            }
            let mut first = rewrite_head(&raw, &head, &path);
            first.extend_from_slice(&body);
            relay_and_emit(c, stream, upstream, first).await
        }
        Err(r) => {
            deny(&mut c, r);
            refuse_http(stream, refusal_status(r), r).await
        }
    }
}

/// Cheap policy checks that do not need resolution (used before reading a body).
fn precheck(c: &mut Conn, dest: &Dest, port: u16) -> Result<(), Reason> {
    let own = c.shared.own_addrs();
    match dest {
        Dest::Ip(ip) => {
            c.ev.address = Some(ip.to_string());
            c.ev.port = Some(port);
            if let Some(r) = classify(SocketAddr::new(*ip, port), &own) {
                return Err(r);
            }
            if c.ctx.mode == Mode::Enforce && !c.ctx.allowlist.permits(&ip.to_string(), port) {
                return Err(Reason::BareIp);
            }
        }
        Dest::Name(n) => {
            c.ev.name = Some(n.clone());
            c.ev.port = Some(port);
            let hint_undeclared = c.ev.reason == Some(Reason::UndeclaredHost);
            if c.ctx.mode == Mode::Enforce && (hint_undeclared || !c.ctx.allowlist.permits(n, port))
            {
                return Err(Reason::UndeclaredHost);
            }
        }
    }
    Ok(())
}

async fn relay_and_emit(mut c: Conn, client: TcpStream, upstream: TcpStream, first: Vec<u8>) {
    let limits = c.shared.limits.clone();
    let (sent, recv) = relay(
        client,
        upstream,
        first,
        limits.idle_timeout,
        limits.relay_buffer,
    )
    .await;
    c.ev.bytes_sent = sent;
    c.ev.bytes_received = recv;
    c.emit();
}

/// Relay both directions with an idle timeout shared by the two directions; returns
/// (client→upstream bytes including `first`, upstream→client bytes).
pub(crate) async fn relay(
    client: TcpStream,
    mut upstream: TcpStream,
    first: Vec<u8>,
    idle: Duration,
    buf_size: usize,
) -> (u64, u64) {
    let start = Instant::now();
    let last = AtomicU64::new(0);
    let up = AtomicU64::new(0);
    let down = AtomicU64::new(0);
    if !first.is_empty() {
        if tokio::time::timeout(idle, upstream.write_all(&first))
            .await
            .is_err()
        {
            return (0, 0);
        }
        up.fetch_add(first.len() as u64, Ordering::Relaxed);
    }
    let (cr, cw) = client.into_split();
    let (ur, uw) = upstream.into_split();
    let a = pipe(cr, uw, &up, &last, start, idle, buf_size);
    let b = pipe(ur, cw, &down, &last, start, idle, buf_size);
    let _ = tokio::try_join!(a, b);
    (up.load(Ordering::Relaxed), down.load(Ordering::Relaxed))
}

async fn pipe(
    mut r: tokio::net::tcp::OwnedReadHalf,
    mut w: tokio::net::tcp::OwnedWriteHalf,
    count: &AtomicU64,
    last: &AtomicU64,
    start: Instant,
    idle: Duration,
    buf_size: usize,
) -> io::Result<()> {
    let mut buf = vec![0u8; buf_size.max(1024)];
    loop {
        let n = match tokio::time::timeout(idle, r.read(&mut buf)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                let quiet = start.elapsed().as_millis() as u64 - last.load(Ordering::Relaxed);
                if quiet >= idle.as_millis() as u64 {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "idle"));
                }
                continue;
            }
        };
        tokio::time::timeout(idle, w.write_all(&buf[..n]))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "idle"))??;
        count.fetch_add(n as u64, Ordering::Relaxed);
        last.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
    let _ = w.shutdown().await;
    Ok(())
}
