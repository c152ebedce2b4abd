//! Egress events: the record of every DNS query and connection, and sinks that receive them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// What kind of traffic an event describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A DNS query to Warden's DNS server.
    Dns,
    /// A TCP connection whose payload is not plaintext HTTP (TLS, unknown, CONNECT tunnel).
    Tcp,
    /// A plaintext HTTP request.
    Http,
}

/// What the proxy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Allowed by the tool's allowlist (or the static host map).
    Allow,
    /// Refused.
    Deny,
    /// Allowed in report mode, but the reason says what enforce mode would have refused.
    Report,
}

/// Stable reason codes. Serialized as `snake_case` strings; never rename a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The name is not on the tool's allowlist.
    UndeclaredHost,
    /// RFC 1918 / unique-local address.
    PrivateAddress,
    /// Loopback address.
    LoopbackAddress,
    /// Cloud metadata address (169.254.169.254, fd00:ec2::254).
    MetadataAddress,
    /// Other link-local address.
    LinkLocalAddress,
    /// Carrier-grade NAT range 100.64.0.0/10.
    CgnatAddress,
    /// IPv4-mapped, IPv4-compatible or NAT64 IPv6 address.
    MappedAddress,
    /// Unspecified, multicast, broadcast, documentation or reserved address.
    ReservedAddress,
    /// One of Warden's own listener addresses (loop guard).
    SelfAddress,
    /// The source address is not a registered sandbox cell.
    Unattributed,
    /// The connection targets a bare IP with no name.
    BareIp,
    /// The DNS query looks like tunnelling (long or high-entropy labels, many unique names).
    DnsTunnel,
    /// The DLP scanner reported a blocking finding in the request body.
    PayloadBlocked,
    /// The request head, ClientHello or DNS packet could not be parsed.
    MalformedRequest,
    /// The name could not be resolved.
    ResolveFailed,
    /// Dialing the vetted upstream address failed.
    DialFailed,
    /// Too many concurrent connections.
    ConnectionLimit,
    /// A DNS query type other than A/AAAA, or an unsupported opcode.
    UnsupportedQuery,
}

impl Reason {
    /// The stable string code (same as the serialized form).
    pub fn code(self) -> &'static str {
        match self {
            Reason::UndeclaredHost => "undeclared_host",
            Reason::PrivateAddress => "private_address",
            Reason::LoopbackAddress => "loopback_address",
            Reason::MetadataAddress => "metadata_address",
            Reason::LinkLocalAddress => "link_local_address",
            Reason::CgnatAddress => "cgnat_address",
            Reason::MappedAddress => "mapped_address",
            Reason::ReservedAddress => "reserved_address",
            Reason::SelfAddress => "self_address",
            Reason::Unattributed => "unattributed",
            Reason::BareIp => "bare_ip",
            Reason::DnsTunnel => "dns_tunnel",
            Reason::PayloadBlocked => "payload_blocked",
            Reason::MalformedRequest => "malformed_request",
            Reason::ResolveFailed => "resolve_failed",
            Reason::DialFailed => "dial_failed",
            Reason::ConnectionLimit => "connection_limit",
            Reason::UnsupportedQuery => "unsupported_query",
        }
    }
}

/// How the invocation's traffic reached the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Observation {
    /// A sandbox cell whose traffic the kernel forces through the proxy.
    Isolated,
    /// The handler was only given `HTTP(S)_PROXY`; it could bypass the proxy.
    Cooperative,
}

/// A DLP finding reported by a [`crate::PayloadScanner`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayloadFinding {
    /// Stable rule id of the scanner (e.g. `secret.aws_access_key`).
    pub rule_id: String,
    /// Whether enforce mode must stop the request.
    pub blocking: bool,
}

/// One egress observation. Field names are a stable contract (camelCase JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EgressEvent {
    /// RFC 3339 UTC timestamp.
    pub time: String,
    /// Invocation id; `None` when the source is unattributed.
    pub invocation_id: Option<String>,
    /// Tool name.
    pub tool: Option<String>,
    /// Tenant id.
    pub tenant: Option<String>,
    /// `dns`, `tcp` or `http`.
    pub kind: EventKind,
    /// Source address of the sandboxed client (`ip:port`).
    pub source: String,
    /// Destination name (DNS query name, SNI, Host, CONNECT target, or synthetic mapping).
    pub name: Option<String>,
    /// Destination IP: the address dialed, or the address the client targeted when refused.
    pub address: Option<String>,
    /// Destination port as the client asked for it.
    pub port: Option<u16>,
    /// `tls`, `http`, `connect`, `unknown`, or for DNS the query type (`A`, `AAAA`, ...).
    pub protocol: Option<String>,
    /// TLS server name from the ClientHello.
    pub sni: Option<String>,
    /// HTTP Host header (or absolute-URI authority).
    pub http_host: Option<String>,
    /// HTTP method (plaintext HTTP only).
    pub http_method: Option<String>,
    /// HTTP path (plaintext HTTP only).
    pub http_path: Option<String>,
    /// Bytes relayed from the client to the upstream.
    pub bytes_sent: u64,
    /// Bytes relayed from the upstream to the client.
    pub bytes_received: u64,
    /// Decision.
    pub decision: Decision,
    /// Stable reason code; `None` for a plain allow.
    pub reason: Option<Reason>,
    /// Isolated cell or cooperative proxy environment.
    pub observation: Observation,
    /// DLP findings for plaintext request bodies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<PayloadFinding>,
}

/// RFC 3339 "now" in UTC.
pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}

/// Receives events. Implementations must not block: the proxy calls this on its IO tasks.
pub trait EventSink: Send + Sync + 'static {
    /// Deliver one event.
    fn emit(&self, event: EgressEvent);
}

/// Forwards events to a bounded tokio channel; events that do not fit are counted as dropped.
#[derive(Debug)]
pub struct ChannelSink {
    tx: tokio::sync::mpsc::Sender<EgressEvent>,
    dropped: AtomicU64,
}

impl ChannelSink {
    /// Wrap a sender.
    pub fn new(tx: tokio::sync::mpsc::Sender<EgressEvent>) -> Self {
        Self {
            tx,
            dropped: AtomicU64::new(0),
        }
    }

    /// How many events did not fit into the channel (or found it closed).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl EventSink for ChannelSink {
    fn emit(&self, event: EgressEvent) {
        if self.tx.try_send(event).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// In-memory collector grouping events by invocation id (unattributed events under `None`).
///
/// Bounded: at most `max_per_invocation` events are kept per key; later ones are counted.
#[derive(Debug, Clone)]
pub struct Collector {
    inner: Arc<Mutex<CollectorInner>>,
    max_per_invocation: usize,
}

#[derive(Debug, Default)]
struct CollectorInner {
    by_invocation: HashMap<Option<String>, Vec<EgressEvent>>,
    overflow: HashMap<Option<String>, u64>,
}

impl Default for Collector {
    fn default() -> Self {
        Self::new(10_000)
    }
}

impl Collector {
    /// A collector keeping at most `max_per_invocation` events per invocation.
    pub fn new(max_per_invocation: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(CollectorInner::default())),
            max_per_invocation,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CollectorInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remove and return the events recorded for an invocation.
    pub fn take(&self, invocation_id: &str) -> Vec<EgressEvent> {
        let key = Some(invocation_id.to_owned());
        let mut g = self.lock();
        g.overflow.remove(&key);
        g.by_invocation.remove(&key).unwrap_or_default()
    }

    /// Remove and return the unattributed events.
    pub fn take_unattributed(&self) -> Vec<EgressEvent> {
        let mut g = self.lock();
        g.overflow.remove(&None);
        g.by_invocation.remove(&None).unwrap_or_default()
    }

    /// A copy of every event currently held, in arrival order per invocation.
    pub fn snapshot(&self) -> Vec<EgressEvent> {
        self.lock()
            .by_invocation
            .values()
            .flat_map(|v| v.iter().cloned())
            .collect()
    }

    /// Events dropped for an invocation because its bucket was full.
    pub fn overflow(&self, invocation_id: Option<&str>) -> u64 {
        let key = invocation_id.map(str::to_owned);
        self.lock().overflow.get(&key).copied().unwrap_or(0)
    }
}

impl EventSink for Collector {
    fn emit(&self, event: EgressEvent) {
        let max = self.max_per_invocation;
        let mut g = self.lock();
        let key = event.invocation_id.clone();
        let bucket = g.by_invocation.entry(key.clone()).or_default();
        if bucket.len() < max {
            bucket.push(event);
        } else {
            *g.overflow.entry(key).or_default() += 1;
        }
    }
}

/// Sends every event to several sinks.
#[derive(Clone)]
pub struct FanoutSink(pub Vec<Arc<dyn EventSink>>);

impl std::fmt::Debug for FanoutSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FanoutSink")
            .field("sinks", &self.0.len())
            .finish()
    }
}

impl EventSink for FanoutSink {
    fn emit(&self, event: EgressEvent) {
        if let Some((last, rest)) = self.0.split_last() {
            for s in rest {
                s.emit(event.clone());
            }
            last.emit(event);
        }
    }
}
