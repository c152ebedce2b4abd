//! Warden egress: the transparent/cooperative TCP proxy and DNS server that sandboxed tool
//! traffic is forced through. Attributes traffic to invocations, learns destination names,
//! classifies addresses, enforces per-tool allowlists, hands plaintext bodies to a DLP
//! scanner, and records an [`EgressEvent`] for every DNS query and connection.
#![forbid(unsafe_code)]

pub mod allow;
pub mod attrib;
pub mod classify;
pub mod config;
pub mod dlp;
pub mod dns;
pub mod error;
pub mod event;
pub mod http;
pub mod proxy;
pub mod resolve;
pub mod sni;

pub use allow::Allowlist;
pub use attrib::{AttributionTable, Attributor, InvocationContext, Mode};
pub use classify::{classify, classify_ip};
pub use config::{ActiveConnections, Egress, EgressBuilder, Limits};
pub use dlp::{PayloadScanner, ScanRequest};
pub use dns::DnsServer;
pub use error::EgressError;
pub use event::{
    ChannelSink, Collector, Decision, EgressEvent, EventKind, EventSink, FanoutSink, Observation,
    PayloadFinding, Reason,
};
pub use proxy::{FixedOriginalDst, NoOriginalDst, OriginalDst, ProxyServer, SoOriginalDst};
pub use resolve::{HostMap, NoResolver, Resolve, ResolveFuture, SyntheticPool, SystemResolver};
