//! Egress vocabulary: the record of every DNS query and connection a sandboxed tool makes.
//! Produced by the egress proxy and DNS server, consumed by the detector and the APIs.

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
