//! Name resolution: the static host map, synthetic DNS addresses, and the upstream resolver trait.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::allow::normalize_host;
use crate::error::EgressError;

/// Static `name -> ip:port` overrides from config `[sandbox.hosts]`. Addresses from this map
/// are trusted even when they are loopback or private (they are the operator's overrides).
#[derive(Debug, Clone, Default)]
pub struct HostMap {
    map: HashMap<String, SocketAddr>,
}

impl HostMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `name -> addr`; the name is normalised (lowercase, no trailing dot).
    pub fn insert(&mut self, name: &str, addr: SocketAddr) -> Result<(), EgressError> {
        let n = normalize_host(name);
        if n.is_empty() || n.len() > 253 || n.split('.').any(|l| l.is_empty() || l.len() > 63) {
            return Err(EgressError::InvalidHostName(name.to_owned()));
        }
        self.map.insert(n, addr);
        Ok(())
    }

    /// Builder form of [`HostMap::insert`].
    pub fn with(mut self, name: &str, addr: SocketAddr) -> Result<Self, EgressError> {
        self.insert(name, addr)?;
        Ok(self)
    }

    /// Look a name up.
    pub fn get(&self, name: &str) -> Option<SocketAddr> {
        self.map.get(&normalize_host(name)).copied()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Boxed future used by [`Resolve`] so the trait stays object-safe.
pub type ResolveFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<IpAddr>, EgressError>> + Send + 'a>>;

/// Resolves names that are not in the host map. The proxy classifies every returned address.
pub trait Resolve: Send + Sync + 'static {
    /// Resolve `name` to IP addresses.
    fn resolve<'a>(&'a self, name: &'a str) -> ResolveFuture<'a>;
}

/// Refuses every name: for tests and for deployments where only the host map may be reached.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoResolver;

impl Resolve for NoResolver {
    fn resolve<'a>(&'a self, name: &'a str) -> ResolveFuture<'a> {
        Box::pin(async move {
            Err(EgressError::Resolve {
                name: name.to_owned(),
                why: "no upstream resolver configured".into(),
            })
        })
    }
}

/// Resolves through the host's system resolver (`getaddrinfo` on tokio's blocking pool).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve<'a>(&'a self, name: &'a str) -> ResolveFuture<'a> {
        Box::pin(async move {
            let addrs =
                tokio::net::lookup_host((name, 0))
                    .await
                    .map_err(|e| EgressError::Resolve {
                        name: name.to_owned(),
                        why: e.to_string(),
                    })?;
            let mut out: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
            out.dedup();
            Ok(out)
        })
    }
}

/// Synthetic addresses handed out by Warden's DNS server, mapped back to names by the proxy.
///
/// Addresses come from 198.18.0.0/15 (RFC 2544 benchmarking, never routed), so a cell that
/// dials one is always redirected to the proxy, and the proxy knows which name it asked for.
#[derive(Debug, Clone)]
pub struct SyntheticPool {
    inner: Arc<Mutex<SyntheticInner>>,
}

#[derive(Debug)]
struct SyntheticInner {
    by_name: HashMap<String, Ipv4Addr>,
    by_addr: HashMap<Ipv4Addr, String>,
    next: u32,
    capacity: u32,
}

const SYNTH_BASE: u32 = u32::from_be_bytes([198, 18, 0, 1]);

impl Default for SyntheticPool {
    fn default() -> Self {
        Self::new(65_536)
    }
}

impl SyntheticPool {
    /// A pool of at most `capacity` names (capped at the /15 size).
    pub fn new(capacity: u32) -> Self {
        Self {
            inner: Arc::new(Mutex::new(SyntheticInner {
                by_name: HashMap::new(),
                by_addr: HashMap::new(),
                next: 0,
                capacity: capacity.min((1 << 17) - 2),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SyntheticInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The synthetic address for `name`, allocating one if needed.
    pub fn address_for(&self, name: &str) -> Result<Ipv4Addr, EgressError> {
        let name = normalize_host(name);
        let mut g = self.lock();
        if let Some(a) = g.by_name.get(&name) {
            return Ok(*a);
        }
        if g.next >= g.capacity {
            return Err(EgressError::SyntheticPoolExhausted);
        }
        let a = Ipv4Addr::from(SYNTH_BASE + g.next);
        g.next += 1;
        g.by_name.insert(name.clone(), a);
        g.by_addr.insert(a, name);
        Ok(a)
    }

    /// The name a synthetic address stands for.
    pub fn name_for(&self, ip: IpAddr) -> Option<String> {
        let IpAddr::V4(v4) = ip else { return None };
        self.lock().by_addr.get(&v4).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_roundtrip_and_capacity() {
        let p = SyntheticPool::new(2);
        let a = p.address_for("API.internal.").unwrap();
        assert_eq!(a, Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(p.address_for("api.internal").unwrap(), a);
        assert_eq!(p.name_for(IpAddr::V4(a)).as_deref(), Some("api.internal"));
        p.address_for("b.test").unwrap();
        assert!(p.address_for("c.test").is_err());
    }
}
