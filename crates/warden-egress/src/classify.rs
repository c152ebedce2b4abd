//! Address classification: which destination addresses the proxy must never dial.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::event::Reason;

/// Classify an address. `None` means a public unicast address; `Some(reason)` means forbidden.
///
/// `own` lists Warden's own listener addresses (loop guard); an address equal to one of
/// them (or any address on the same port when the listener is bound to the unspecified
/// address) is [`Reason::SelfAddress`].
pub fn classify(addr: SocketAddr, own: &[SocketAddr]) -> Option<Reason> {
    if is_own(addr, own) {
        return Some(Reason::SelfAddress);
    }
    classify_ip(addr.ip())
}

fn is_own(addr: SocketAddr, own: &[SocketAddr]) -> bool {
    let ip = canonical(addr.ip());
    own.iter()
        .any(|o| o.port() == addr.port() && (o.ip().is_unspecified() || canonical(o.ip()) == ip))
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Classify an IP address alone (no loop guard).
pub fn classify_ip(ip: IpAddr) -> Option<Reason> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Reason> {
    let o = ip.octets();
    if o == [169, 254, 169, 254] || o == [100, 100, 100, 200] {
        // AWS/GCP/Azure/OpenStack metadata, Alibaba metadata.
        return Some(Reason::MetadataAddress);
    }
    if ip.is_loopback() {
        return Some(Reason::LoopbackAddress);
    }
    if ip.is_private() {
        return Some(Reason::PrivateAddress);
    }
    if ip.is_link_local() {
        return Some(Reason::LinkLocalAddress);
    }
    if o[0] == 100 && (o[1] & 0xc0) == 64 {
        return Some(Reason::CgnatAddress);
    }
    if ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || o[0] == 0
        || o[0] >= 240
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
    {
        return Some(Reason::ReservedAddress);
    }
    None
}

fn classify_v6(ip: Ipv6Addr) -> Option<Reason> {
    let s = ip.segments();
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return Some(Reason::MetadataAddress);
    }
    if ip.is_loopback() {
        return Some(Reason::LoopbackAddress);
    }
    if ip.is_unspecified() || ip.is_multicast() {
        return Some(Reason::ReservedAddress);
    }
    // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible, deprecated), 64:ff9b::/96 (NAT64),
    // 2002::/16 (6to4) all embed an IPv4 address.
    if ip.to_ipv4_mapped().is_some()
        || (s[0..6] == [0, 0, 0, 0, 0, 0])
        || (s[0] == 0x64 && s[1] == 0xff9b)
        || s[0] == 0x2002
    {
        return Some(Reason::MappedAddress);
    }
    if (s[0] & 0xfe00) == 0xfc00 {
        return Some(Reason::PrivateAddress);
    }
    if (s[0] & 0xffc0) == 0xfe80 {
        return Some(Reason::LinkLocalAddress);
    }
    if s[0] == 0x2001 && s[1] == 0x0db8 {
        return Some(Reason::ReservedAddress);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Option<Reason> {
        classify_ip(s.parse().unwrap())
    }

    #[test]
    fn classes() {
        assert_eq!(c("169.254.169.254"), Some(Reason::MetadataAddress));
        assert_eq!(c("169.254.1.1"), Some(Reason::LinkLocalAddress));
        assert_eq!(c("127.0.0.1"), Some(Reason::LoopbackAddress));
        assert_eq!(c("10.1.2.3"), Some(Reason::PrivateAddress));
        assert_eq!(c("172.16.0.1"), Some(Reason::PrivateAddress));
        assert_eq!(c("192.168.1.1"), Some(Reason::PrivateAddress));
        assert_eq!(c("100.64.0.1"), Some(Reason::CgnatAddress));
        assert_eq!(c("100.127.255.255"), Some(Reason::CgnatAddress));
        assert_eq!(c("100.128.0.1"), None);
        assert_eq!(c("0.0.0.0"), Some(Reason::ReservedAddress));
        assert_eq!(c("255.255.255.255"), Some(Reason::ReservedAddress));
        assert_eq!(c("224.0.0.1"), Some(Reason::ReservedAddress));
        assert_eq!(c("::ffff:169.254.169.254"), Some(Reason::MappedAddress));
        assert_eq!(c("::ffff:8.8.8.8"), Some(Reason::MappedAddress));
        assert_eq!(c("64:ff9b::a00:1"), Some(Reason::MappedAddress));
        assert_eq!(c("::1"), Some(Reason::LoopbackAddress));
        assert_eq!(c("fd00:ec2::254"), Some(Reason::MetadataAddress));
        assert_eq!(c("fc00::1"), Some(Reason::PrivateAddress));
        assert_eq!(c("fe80::1"), Some(Reason::LinkLocalAddress));
        assert_eq!(c("8.8.8.8"), None);
        assert_eq!(c("2606:4700::1111"), None);
    }

    #[test]
    fn self_address() {
        let own: Vec<SocketAddr> = vec!["0.0.0.0:15001".parse().unwrap()];
        assert_eq!(
            classify("8.8.8.8:15001".parse().unwrap(), &own),
            Some(Reason::SelfAddress)
        );
        assert_eq!(classify("8.8.8.8:443".parse().unwrap(), &own), None);
    }
}
