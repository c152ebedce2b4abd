//! Limits and the shared state behind the proxy and DNS listeners.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::attrib::{Attributor, InvocationContext};
use crate::dlp::PayloadScanner;
use crate::event::{now_rfc3339, Decision, EgressEvent, EventKind, EventSink, Observation, Reason};
use crate::proxy::{OriginalDst, SoOriginalDst};
use crate::resolve::{HostMap, NoResolver, Resolve, SyntheticPool};

/// Every bound the listeners enforce.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Maximum HTTP request head size (bytes); also the peek buffer size.
    pub max_head_bytes: usize,
    /// How much of a plaintext request body is buffered and scanned.
    pub body_window: usize,
    /// Maximum concurrent proxied connections; excess connections are reset.
    pub max_connections: usize,
    /// How long to wait for the first bytes of a transparent connection before deciding on
    /// the destination address alone (server-speaks-first protocols).
    pub peek_timeout: Duration,
    /// How long a cooperative client may take to send its request head, and a body window.
    pub head_timeout: Duration,
    /// Upstream connect timeout.
    pub dial_timeout: Duration,
    /// A relayed connection with no traffic in either direction for this long is closed.
    pub idle_timeout: Duration,
    /// Relay buffer size per direction.
    pub relay_buffer: usize,
    /// Largest DNS packet accepted.
    pub max_dns_packet: usize,
    /// DNS labels longer than this are flagged as tunnelling.
    pub dns_max_label: usize,
    /// Labels at least this long are checked for entropy.
    pub dns_entropy_min_len: usize,
    /// Shannon entropy (bits per char) at or above which a label is flagged.
    pub dns_entropy_bits: f64,
    /// More unique names than this per invocation is flagged as tunnelling.
    pub dns_max_unique_names: usize,
    /// TTL of synthetic answers (seconds).
    pub dns_ttl: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_head_bytes: 16 * 1024,
            body_window: 64 * 1024,
            max_connections: 1024,
            peek_timeout: Duration::from_millis(1500),
            head_timeout: Duration::from_secs(10),
            dial_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            relay_buffer: 64 * 1024,
            max_dns_packet: 1232,
            dns_max_label: 40,
            dns_entropy_min_len: 20,
            dns_entropy_bits: 3.9,
            dns_max_unique_names: 64,
            dns_ttl: 5,
        }
    }
}

pub(crate) struct Shared {
    pub attributor: Arc<dyn Attributor>,
    pub sink: Arc<dyn EventSink>,
    pub hosts: HostMap,
    pub synthetic: SyntheticPool,
    pub resolver: Arc<dyn Resolve>,
    pub scanner: Option<Arc<dyn PayloadScanner>>,
    pub original_dst: Arc<dyn OriginalDst>,
    pub limits: Limits,
    pub own_addrs: RwLock<Vec<SocketAddr>>,
    /// Unique names queried per invocation (bounded), for tunnelling detection.
    pub dns_names: Mutex<HashMap<String, HashSet<String>>>,
    pub active: Arc<ActiveConnections>,
}

/// Proxied connections still open, per invocation: a connection's event is emitted when it
/// closes, so a caller collecting an invocation's events waits until its count is zero.
#[derive(Debug, Default)]
pub struct ActiveConnections(Mutex<HashMap<String, usize>>);

impl ActiveConnections {
    /// Connections of `invocation_id` accepted and not yet finished.
    pub fn count(&self, invocation_id: &str) -> usize {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(invocation_id)
            .copied()
            .unwrap_or(0)
    }

    pub(crate) fn enter(self: &Arc<Self>, invocation_id: &str) -> ActiveGuard {
        *self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(invocation_id.to_string())
            .or_default() += 1;
        ActiveGuard {
            active: self.clone(),
            invocation_id: invocation_id.to_string(),
        }
    }
}

/// Counts one open connection until dropped.
#[derive(Debug)]
pub(crate) struct ActiveGuard {
    active: Arc<ActiveConnections>,
    invocation_id: String,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        let mut m = self.active.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.invocation_id) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.invocation_id);
            }
        }
    }
}

impl Shared {
    pub fn own_addrs(&self) -> Vec<SocketAddr> {
        self.own_addrs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn add_own_addr(&self, a: SocketAddr) {
        self.own_addrs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(a);
    }

    /// A skeleton event for `ctx` (or an unattributed one).
    pub fn event(
        &self,
        ctx: Option<&InvocationContext>,
        kind: EventKind,
        source: SocketAddr,
        observation: Observation,
    ) -> EgressEvent {
        EgressEvent {
            time: now_rfc3339(),
            invocation_id: ctx.map(|c| c.invocation_id.clone()),
            tool: ctx.map(|c| c.tool.clone()),
            tenant: ctx.map(|c| c.tenant.clone()),
            kind,
            source: source.to_string(),
            name: None,
            address: None,
            port: None,
            protocol: None,
            sni: None,
            http_host: None,
            http_method: None,
            http_path: None,
            bytes_sent: 0,
            bytes_received: 0,
            decision: Decision::Deny,
            reason: Some(Reason::Unattributed),
            observation: ctx.map(|c| c.observation).unwrap_or(observation),
            findings: Vec::new(),
        }
    }
}

/// The egress subsystem: shared configuration and state for the proxy and DNS listeners.
/// Cheap to clone.
#[derive(Clone)]
pub struct Egress {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress")
            .field("hosts", &self.shared.hosts.len())
            .field("limits", &self.shared.limits)
            .field("own_addrs", &self.shared.own_addrs())
            .finish_non_exhaustive()
    }
}

impl Egress {
    /// Start building an egress subsystem around an attributor and an event sink.
    pub fn builder(attributor: Arc<dyn Attributor>, sink: Arc<dyn EventSink>) -> EgressBuilder {
        EgressBuilder {
            attributor,
            sink,
            hosts: HostMap::new(),
            synthetic: SyntheticPool::default(),
            resolver: Arc::new(NoResolver),
            scanner: None,
            original_dst: Arc::new(SoOriginalDst),
            limits: Limits::default(),
            own_addrs: Vec::new(),
            active: Arc::new(ActiveConnections::default()),
        }
    }

    /// The synthetic address pool shared by the DNS server and the proxy.
    pub fn synthetic(&self) -> &SyntheticPool {
        &self.shared.synthetic
    }

    /// Forget per-invocation DNS state (call when an invocation ends).
    pub fn forget_invocation(&self, invocation_id: &str) {
        self.shared
            .dns_names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(invocation_id);
    }

    /// Warden's own addresses the proxy refuses to dial (listeners register themselves).
    pub fn own_addrs(&self) -> Vec<SocketAddr> {
        self.shared.own_addrs()
    }
}

/// Builder for [`Egress`].
pub struct EgressBuilder {
    attributor: Arc<dyn Attributor>,
    sink: Arc<dyn EventSink>,
    hosts: HostMap,
    synthetic: SyntheticPool,
    resolver: Arc<dyn Resolve>,
    scanner: Option<Arc<dyn PayloadScanner>>,
    original_dst: Arc<dyn OriginalDst>,
    limits: Limits,
    own_addrs: Vec<SocketAddr>,
    active: Arc<ActiveConnections>,
}

impl std::fmt::Debug for EgressBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressBuilder").finish_non_exhaustive()
    }
}

impl EgressBuilder {
    /// Static host map (`[sandbox.hosts]`).
    pub fn hosts(mut self, hosts: HostMap) -> Self {
        self.hosts = hosts;
        self
    }
    /// Upstream resolver for names not in the host map (default: [`NoResolver`]).
    pub fn resolver(mut self, r: Arc<dyn Resolve>) -> Self {
        self.resolver = r;
        self
    }
    /// DLP scanner for plaintext request bodies.
    pub fn scanner(mut self, s: Arc<dyn PayloadScanner>) -> Self {
        self.scanner = Some(s);
        self
    }
    /// How the proxy learns a redirected connection's original destination
    /// (default: [`SoOriginalDst`]).
    pub fn original_dst(mut self, o: Arc<dyn OriginalDst>) -> Self {
        self.original_dst = o;
        self
    }
    /// Limits.
    pub fn limits(mut self, l: Limits) -> Self {
        self.limits = l;
        self
    }
    /// Share a synthetic pool (e.g. across several proxies).
    pub fn synthetic(mut self, p: SyntheticPool) -> Self {
        self.synthetic = p;
        self
    }
    /// Another Warden address the proxy must never dial (admin listener, API, ...).
    pub fn own_address(mut self, a: SocketAddr) -> Self {
        self.own_addrs.push(a);
        self
    }
    /// Share an open-connection counter (e.g. across several proxies).
    pub fn active(mut self, a: Arc<ActiveConnections>) -> Self {
        self.active = a;
        self
    }
    /// Finish.
    pub fn build(self) -> Egress {
        Egress {
            shared: Arc::new(Shared {
                attributor: self.attributor,
                sink: self.sink,
                hosts: self.hosts,
                synthetic: self.synthetic,
                resolver: self.resolver,
                scanner: self.scanner,
                original_dst: self.original_dst,
                limits: self.limits,
                own_addrs: RwLock::new(self.own_addrs),
                dns_names: Mutex::new(HashMap::new()),
                active: self.active,
            }),
        }
    }
}
