//! Warden's DNS server (UDP): answers attributed A/AAAA queries with synthetic addresses,
//! applies the tool's allowlist per mode, flags tunnelling, and records every query.

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;

use crate::attrib::{InvocationContext, Mode};
use crate::config::{Egress, Shared};
use crate::error::EgressError;
use crate::event::{Decision, EventKind, Observation, Reason};

/// Shannon entropy of `s` in bits per byte.
pub fn shannon_entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        counts[usize::from(b)] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Does a single name look like tunnelling by its labels alone? A label is suspicious when it
/// is longer than `dns_max_label`, or (at least `dns_entropy_min_len` long) when its entropy
/// reaches `dns_entropy_bits`, it is all hex with digits (hex-encoded payload), or at least
/// 30% of it is digits.
pub fn name_looks_like_tunnel(name: &str, limits: &crate::Limits) -> bool {
    name.split('.').any(|l| {
        let b = l.as_bytes();
        if b.len() > limits.dns_max_label {
            return true;
        }
        if b.len() < limits.dns_entropy_min_len {
            return false;
        }
        let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
        shannon_entropy(b) >= limits.dns_entropy_bits
            || (digits > 0 && b.iter().all(u8::is_ascii_hexdigit))
            || digits * 10 >= b.len() * 3
    })
}

/// A bound UDP DNS listener.
#[derive(Debug)]
pub struct DnsServer {
    socket: UdpSocket,
    egress: Egress,
}

impl DnsServer {
    /// Bind the DNS listener (e.g. `10.200.0.1:15053`, or `127.0.0.1:0` in tests).
    pub async fn bind(egress: &Egress, addr: SocketAddr) -> Result<Self, EgressError> {
        let socket = UdpSocket::bind(addr).await?;
        egress.shared.add_own_addr(socket.local_addr()?);
        Ok(Self {
            socket,
            egress: egress.clone(),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr, EgressError> {
        Ok(self.socket.local_addr()?)
    }

    /// Serve until the socket fails.
    pub async fn run(self) -> Result<(), EgressError> {
        self.run_until(std::future::pending()).await
    }

    /// Serve until `shutdown` completes.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<(), EgressError> {
        let shared = self.egress.shared.clone();
        let max = shared.limits.max_dns_packet;
        let mut buf = vec![0u8; max + 1];
        tokio::pin!(shutdown);
        loop {
            let (n, src) = tokio::select! {
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok(v) => v,
                    // ICMP port unreachable from an earlier reply etc.: keep serving.
                    Err(_) => continue,
                },
                () = &mut shutdown => return Ok(()),
            };
            let reply = if n > max {
                record_malformed(&shared, src);
                None
            } else {
                handle_query(&shared, src, &buf[..n])
            };
            if let Some(r) = reply {
                let _ = self.socket.send_to(&r, src).await;
            }
        }
    }

    /// Spawn the server on the current tokio runtime.
    pub fn spawn(self) -> tokio::task::JoinHandle<Result<(), EgressError>> {
        tokio::spawn(self.run())
    }
}

fn record_malformed(shared: &Shared, src: SocketAddr) {
    let ctx = shared.attributor.attribute(src.ip());
    let mut ev = shared.event(ctx.as_deref(), EventKind::Dns, src, Observation::Isolated);
    ev.reason = Some(if ctx.is_some() {
        Reason::MalformedRequest
    } else {
        Reason::Unattributed
    });
    shared.sink.emit(ev);
}

/// Handle one DNS packet from `src`; returns the reply to send, if any. Never panics.
pub(crate) fn handle_query(shared: &Shared, src: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    let ctx = shared.attributor.attribute(src.ip());
    let parsed = Message::from_vec(packet).ok();
    let qname = parsed.as_ref().and_then(|m| m.queries.first()).map(|q| {
        q.name()
            .to_ascii()
            .trim_end_matches('.')
            .to_ascii_lowercase()
    });
    let mut ev = shared.event(ctx.as_deref(), EventKind::Dns, src, Observation::Isolated);
    ev.name = qname.clone();
    let Some(ctx) = ctx else {
        // Unattributed: drop and report.
        shared.sink.emit(ev);
        return None;
    };
    let Some(msg) = parsed else {
        ev.reason = Some(Reason::MalformedRequest);
        shared.sink.emit(ev);
        return None;
    };
    let id = msg.metadata.id;
    let op = msg.metadata.op_code;
    let reply_err = |code: ResponseCode| Message::error_msg(id, op, code).to_vec().ok();
    if msg.metadata.message_type != MessageType::Query
        || op != OpCode::Query
        || msg.queries.len() != 1
    {
        ev.reason = Some(Reason::UnsupportedQuery);
        shared.sink.emit(ev);
        return if msg.metadata.message_type == MessageType::Query {
            reply_err(ResponseCode::NotImp)
        } else {
            None
        };
    }
    let q = msg.queries[0].clone();
    let name = qname.unwrap_or_default();
    let qtype = q.query_type();
    ev.protocol = Some(qtype.to_string());

    // Always record the name (so the unique-name count sees every query), then check labels.
    let many = too_many_names(shared, &ctx, &name);
    let tunnel = many || name_looks_like_tunnel(&name, &shared.limits);
    let allowed = ctx.allowlist.permits_name(&name);
    let supported = matches!(qtype, RecordType::A | RecordType::AAAA);
    let reason = if tunnel {
        Some(Reason::DnsTunnel)
    } else if !allowed {
        Some(Reason::UndeclaredHost)
    } else if !supported {
        Some(Reason::UnsupportedQuery)
    } else {
        None
    };
    ev.reason = reason;
    ev.decision = match (reason, ctx.mode) {
        (None, _) => Decision::Allow,
        (Some(_), Mode::Enforce) => Decision::Deny,
        (Some(_), Mode::Report) => Decision::Report,
    };

    let mut resp = Message::response(id, op);
    resp.metadata.recursion_desired = msg.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.add_query(q.clone());
    if ev.decision == Decision::Deny {
        resp.metadata.response_code = ResponseCode::Refused;
    } else if qtype == RecordType::A {
        match shared.synthetic.address_for(&name) {
            Ok(a) => {
                ev.address = Some(a.to_string());
                resp.add_answer(Record::from_rdata(
                    q.name().clone(),
                    shared.limits.dns_ttl,
                    RData::A(A(a)),
                ));
            }
            Err(_) => {
                resp.metadata.response_code = ResponseCode::ServFail;
            }
        }
    }
    // AAAA and other types: NOERROR with no answers (cells are IPv4-only).
    shared.sink.emit(ev);
    resp.to_vec().ok()
}

/// Record `name` for the invocation; true when it has now queried more unique names than allowed.
fn too_many_names(shared: &Shared, ctx: &InvocationContext, name: &str) -> bool {
    let max = shared.limits.dns_max_unique_names;
    let mut g = shared.dns_names.lock().unwrap_or_else(|p| p.into_inner());
    if g.len() > 4096 && !g.contains_key(&ctx.invocation_id) {
        // Bound memory: forget the oldest state wholesale (invocations should call
        // `Egress::forget_invocation`).
        g.clear();
    }
    let set: &mut HashSet<String> = g.entry(ctx.invocation_id.clone()).or_default();
    if set.len() <= max {
        set.insert(name.to_owned());
    }
    set.len() > max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_and_labels() {
        let l = crate::Limits::default();
        assert!(!name_looks_like_tunnel("api.github.com", &l));
        assert!(!name_looks_like_tunnel(
            "bedrock-runtime.us-east-1.amazonaws.com",
            &l
        ));
        assert!(!name_looks_like_tunnel(
            "api-production-eu-west.example.com",
            &l
        ));
        assert!(name_looks_like_tunnel(
            &format!("{}.evil.test", "a".repeat(41)),
            &l
        ));
        assert!(name_looks_like_tunnel(
            "4a6f686e3a70617373776f72643a3132.evil.test",
            &l
        ));
        assert!(name_looks_like_tunnel(
            "mzxw6ytboi2dkmrtgq3tmobzgaydcmzu.evil.test",
            &l
        ));
    }
}
