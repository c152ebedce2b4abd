//! Blocking rtnetlink and ctnetlink requests: veth pairs, addresses, routes, link listing,
//! and deleting the conntrack entries of one source address.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_core::{
    DefaultNla, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP,
    NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_netfilter::conntrack::{ConntrackAttribute, ConntrackMessage};
use netlink_packet_netfilter::{NetfilterHeader, NetfilterMessage, NetfilterProtoFamily};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::{NETLINK_NETFILTER, NETLINK_ROUTE};
use netlink_sys::{Socket, SocketAddr};

use crate::error::SandboxError;

const RECV_BUF: usize = 64 * 1024;

/// A netlink error: the operation and the kernel's errno.
#[derive(Debug)]
pub(crate) struct NlError {
    pub op: String,
    pub errno: Option<i32>,
    pub reason: String,
}

impl From<NlError> for SandboxError {
    fn from(e: NlError) -> Self {
        SandboxError::Netlink {
            op: e.op,
            reason: e.reason,
        }
    }
}

fn nl_err(op: &str, errno: Option<i32>, reason: impl Into<String>) -> NlError {
    NlError {
        op: op.to_string(),
        errno,
        reason: reason.into(),
    }
}

fn open(protocol: isize, op: &str) -> Result<Socket, NlError> {
    let mut sock =
        Socket::new(protocol).map_err(|e| nl_err(op, e.raw_os_error(), format!("socket: {e}")))?;
    sock.bind_auto()
        .map_err(|e| nl_err(op, e.raw_os_error(), format!("bind: {e}")))?;
    sock.connect(&SocketAddr::new(0, 0))
        .map_err(|e| nl_err(op, e.raw_os_error(), format!("connect: {e}")))?;
    Ok(sock)
}

/// Sends one request and collects the replies until the ACK (or DONE for dumps).
fn request<T>(
    sock: &Socket,
    seq: &mut u32,
    inner: T,
    flags: u16,
    op: &str,
) -> Result<Vec<T>, NlError>
where
    T: netlink_packet_core::NetlinkSerializable
        + netlink_packet_core::NetlinkDeserializable
        + std::fmt::Debug,
{
    *seq = seq.wrapping_add(1);
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = *seq;
    let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(inner));
    msg.finalize();
    let mut buf = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut buf);
    sock.send(&buf, 0)
        .map_err(|e| nl_err(op, e.raw_os_error(), format!("send: {e}")))?;

    let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
    let mut out = Vec::new();
    let mut rx = vec![0u8; RECV_BUF];
    loop {
        let n = sock
            .recv(&mut &mut rx[..], 0)
            .map_err(|e| nl_err(op, e.raw_os_error(), format!("recv: {e}")))?;
        let mut off = 0;
        while off < n {
            let reply = NetlinkMessage::<T>::deserialize(&rx[off..n])
                .map_err(|e| nl_err(op, None, format!("bad reply: {e}")))?;
            let len = reply.header.length as usize;
            if reply.header.sequence_number != *seq {
                if len == 0 {
                    break;
                }
                off += len;
                continue;
            }
            match reply.payload {
                NetlinkPayload::Error(e) => {
                    return match e.code {
                        None => Ok(out),
                        Some(code) => {
                            let errno = -code.get();
                            Err(nl_err(
                                op,
                                Some(errno),
                                std::io::Error::from_raw_os_error(errno).to_string(),
                            ))
                        }
                    };
                }
                NetlinkPayload::Done(_) => return Ok(out),
                NetlinkPayload::InnerMessage(m) => {
                    out.push(m);
                    if !dump && flags & NLM_F_ACK == 0 {
                        return Ok(out);
                    }
                }
                _ => {}
            }
            if len == 0 {
                break;
            }
            off += len;
        }
    }
}

/// A route netlink socket bound to the network namespace it was opened in.
#[derive(Debug)]
pub(crate) struct Rtnl {
    sock: Socket,
    seq: u32,
}

impl Rtnl {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> Result<Rtnl, NlError> {
        Ok(Rtnl {
            sock: open(NETLINK_ROUTE, "open route socket")?,
            seq: 0,
        })
    }

    fn req(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        op: &str,
    ) -> Result<Vec<RouteNetlinkMessage>, NlError> {
        request(&self.sock, &mut self.seq, msg, flags, op)
    }

    /// Index of the link called `name`, or `None` when there is none.
    pub fn link_index(&mut self, name: &str) -> Result<Option<u32>, NlError> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.req(
            RouteNetlinkMessage::GetLink(m),
            NLM_F_REQUEST,
            &format!("get link {name}"),
        ) {
            Ok(replies) => Ok(replies.into_iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(e) if e.errno == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Names of all links in this namespace.
    pub fn link_names(&mut self) -> Result<Vec<String>, NlError> {
        let replies = self.req(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_REQUEST | NLM_F_DUMP,
            "list links",
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => l.attributes.into_iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n),
                    _ => None,
                }),
                _ => None,
            })
            .collect())
    }

    /// Creates veth `host` here with its peer `peer` placed directly in the namespace `netns`.
    pub fn create_veth(
        &mut self,
        host: &str,
        peer: &str,
        netns: BorrowedFd<'_>,
    ) -> Result<(), NlError> {
        let mut peer_msg = LinkMessage::default();
        peer_msg
            .attributes
            .push(LinkAttribute::IfName(peer.to_string()));
        peer_msg
            .attributes
            .push(LinkAttribute::NetNsFd(netns.as_raw_fd()));
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(host.to_string()));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        self.req(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &format!("create veth {host}"),
        )
        .map(drop)
    }

    /// Sets link `index` up.
    pub fn set_up(&mut self, index: u32) -> Result<(), NlError> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        self.req(
            RouteNetlinkMessage::SetLink(m),
            NLM_F_REQUEST | NLM_F_ACK,
            &format!("set link {index} up"),
        )
        .map(drop)
    }

    /// Deletes link `index`.
    pub fn delete_link(&mut self, index: u32) -> Result<(), NlError> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        self.req(
            RouteNetlinkMessage::DelLink(m),
            NLM_F_REQUEST | NLM_F_ACK,
            &format!("delete link {index}"),
        )
        .map(drop)
    }

    /// Adds `addr/prefix_len` to link `index`.
    pub fn add_addr(&mut self, index: u32, addr: Ipv4Addr, prefix_len: u8) -> Result<(), NlError> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = prefix_len;
        m.header.index = index;
        m.attributes
            .push(AddressAttribute::Address(IpAddr::V4(addr)));
        m.attributes.push(AddressAttribute::Local(IpAddr::V4(addr)));
        let brd = u32::from(addr) | (u32::MAX >> u32::from(prefix_len));
        m.attributes
            .push(AddressAttribute::Broadcast(Ipv4Addr::from(brd)));
        self.req(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &format!("add address {addr}/{prefix_len}"),
        )
        .map(drop)
    }

    /// Adds the IPv4 default route via `gateway`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<(), NlError> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.protocol = RouteProtocol::Static;
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        self.req(
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &format!("add default route via {gateway}"),
        )
        .map(drop)
    }
}

fn nf_message(msg: ConntrackMessage) -> NetfilterMessage {
    NetfilterMessage::new(NetfilterHeader::new(NetfilterProtoFamily::IPv4, 0, 0), msg)
}

/// Deletes every IPv4 conntrack entry carrying one of `marks` (the nft table marks each cell's
/// flows with the cell address). Each mark is one in-kernel filtered flush: no dump crosses
/// into user space.
pub(crate) fn flush_conntrack(marks: &[u32]) -> Result<(), NlError> {
    const CTA_MARK_MASK: u16 = 21;
    let sock = open(NETLINK_NETFILTER, "open conntrack socket")?;
    let mut seq = 0;
    for mark in marks {
        let del = nf_message(ConntrackMessage::Delete(vec![
            ConntrackAttribute::CtaMark(*mark),
            ConntrackAttribute::Other(DefaultNla::new(
                CTA_MARK_MASK,
                u32::MAX.to_be_bytes().to_vec(),
            )),
        ]));
        match request(
            &sock,
            &mut seq,
            del,
            NLM_F_REQUEST | NLM_F_ACK,
            &format!("flush conntrack mark {mark:#x}"),
        ) {
            Ok(_) => {}
            Err(e) if e.errno == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Opens a conntrack netlink socket once, to check that ctnetlink is usable.
pub(crate) fn conntrack_available() -> Result<(), NlError> {
    let sock = open(NETLINK_NETFILTER, "open conntrack socket")?;
    let mut seq = 0;
    request(
        &sock,
        &mut seq,
        nf_message(ConntrackMessage::Get(vec![])),
        NLM_F_REQUEST | NLM_F_DUMP,
        "dump conntrack",
    )
    .map(drop)
}
