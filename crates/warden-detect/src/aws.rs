//! AWS network evidence: VPC Flow Logs (default version-2 text format, or any field order
//! named by a header line) and Route 53 Resolver query logs (JSON lines), converted into
//! `EgressEvent`s. Flow destinations are named from resolver answers where possible.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use serde::Deserialize;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use warden_core::egress::{Decision, EgressEvent, EventKind, Observation, Reason};

use crate::egress::{LineError, ParseMode, Parsed};

/// The default (version 2) flow-log fields, in order.
pub const DEFAULT_FLOW_FIELDS: [&str; 14] = [
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
];

/// `ACCEPT` / `REJECT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowAction {
    Accept,
    Reject,
}

/// `OK` / `NODATA` / `SKIPDATA`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStatus {
    Ok,
    NoData,
    SkipData,
}

/// One flow-log record. Fields given as `-` are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord {
    /// 1-based line in the input.
    pub line: usize,
    pub version: Option<u32>,
    pub account_id: Option<String>,
    pub interface_id: Option<String>,
    pub srcaddr: Option<IpAddr>,
    pub dstaddr: Option<IpAddr>,
    pub srcport: Option<u16>,
    pub dstport: Option<u16>,
    /// IANA protocol number (6 TCP, 17 UDP, 1 ICMP).
    pub protocol: Option<u8>,
    pub packets: Option<u64>,
    pub bytes: Option<u64>,
    /// Unix seconds.
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub action: Option<FlowAction>,
    pub log_status: Option<LogStatus>,
}

fn line_err(line: usize, record: usize, field: &str, message: String) -> LineError {
    LineError {
        line,
        column: None,
        record,
        field: field.to_string(),
        message,
    }
}

fn opt(v: &str) -> Option<&str> {
    (v != "-").then_some(v)
}

fn num<T: std::str::FromStr>(
    v: &str,
    line: usize,
    rec: usize,
    field: &str,
) -> Result<Option<T>, LineError> {
    match opt(v) {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| line_err(line, rec, field, format!("`{s}` is not a valid {field}"))),
    }
}

/// Parse flow-log text. A first line starting with `version` (or any line of field names) is a
/// header that sets the field order; without one the default v2 order is assumed. Blank lines
/// are ignored. In strict mode the first bad line is an error naming its line and field.
pub fn parse_vpc_flow_logs(input: &str, mode: ParseMode) -> Result<Parsed<FlowRecord>, LineError> {
    let mut out = Parsed::default();
    let mut fields: Vec<String> = DEFAULT_FLOW_FIELDS.iter().map(|s| s.to_string()).collect();
    let mut record = 0usize;
    let mut first = true;
    for (i, raw) in input.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split_ascii_whitespace().collect();
        if first {
            first = false;
            if cols
                .iter()
                .any(|c| *c == "srcaddr" || *c == "dstaddr" || *c == "version")
            {
                fields = cols.iter().map(|c| c.replace('_', "-")).collect();
                continue;
            }
        }
        let r = flow_line(&fields, &cols, line_no, record);
        record += 1;
        match r {
            Ok(rec) => out.records.push(rec),
            Err(e) if mode == ParseMode::Lenient => out.warnings.push(e),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn flow_line(
    fields: &[String],
    cols: &[&str],
    line: usize,
    rec: usize,
) -> Result<FlowRecord, LineError> {
    if cols.len() != fields.len() {
        return Err(line_err(
            line,
            rec,
            "record",
            format!(
                "expected {} space-separated fields, found {}",
                fields.len(),
                cols.len()
            ),
        ));
    }
    let mut r = FlowRecord {
        line,
        version: None,
        account_id: None,
        interface_id: None,
        srcaddr: None,
        dstaddr: None,
        srcport: None,
        dstport: None,
        protocol: None,
        packets: None,
        bytes: None,
        start: None,
        end: None,
        action: None,
        log_status: None,
    };
    for (f, v) in fields.iter().zip(cols) {
        let f = f.as_str();
        match f {
            "version" => r.version = num(v, line, rec, f)?,
            "account-id" => r.account_id = opt(v).map(str::to_string),
            "interface-id" => r.interface_id = opt(v).map(str::to_string),
            "srcaddr" => r.srcaddr = num(v, line, rec, f)?,
            "dstaddr" => r.dstaddr = num(v, line, rec, f)?,
            "srcport" => r.srcport = num(v, line, rec, f)?,
            "dstport" => r.dstport = num(v, line, rec, f)?,
            "protocol" => r.protocol = num(v, line, rec, f)?,
            "packets" => r.packets = num(v, line, rec, f)?,
            "bytes" => r.bytes = num(v, line, rec, f)?,
            "start" => r.start = num(v, line, rec, f)?,
            "end" => r.end = num(v, line, rec, f)?,
            "action" => {
                r.action = match opt(v) {
                    None => None,
                    Some("ACCEPT") => Some(FlowAction::Accept),
                    Some("REJECT") => Some(FlowAction::Reject),
                    Some(o) => {
                        return Err(line_err(
                            line,
                            rec,
                            f,
                            format!("`{o}` is not ACCEPT or REJECT"),
                        ))
                    }
                }
            }
            "log-status" => {
                r.log_status = match opt(v) {
                    None => None,
                    Some("OK") => Some(LogStatus::Ok),
                    Some("NODATA") => Some(LogStatus::NoData),
                    Some("SKIPDATA") => Some(LogStatus::SkipData),
                    Some(o) => {
                        return Err(line_err(
                            line,
                            rec,
                            f,
                            format!("`{o}` is not OK, NODATA or SKIPDATA"),
                        ))
                    }
                }
            }
            _ => {} // custom-format fields this reader does not use
        }
    }
    if r.log_status == Some(LogStatus::Ok) || r.log_status.is_none() {
        for (name, missing) in [
            ("srcaddr", r.srcaddr.is_none()),
            ("dstaddr", r.dstaddr.is_none()),
        ] {
            if missing && r.log_status == Some(LogStatus::Ok) {
                return Err(line_err(
                    line,
                    rec,
                    name,
                    format!("{name} is `-` in an OK record"),
                ));
            }
        }
    }
    Ok(r)
}

/// One answer of a resolver query.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ResolverAnswer {
    #[serde(rename = "Rdata")]
    pub rdata: String,
    #[serde(rename = "Type")]
    pub rtype: String,
    #[serde(rename = "Class", default)]
    pub class: Option<String>,
}

/// One Route 53 Resolver query-log record.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ResolverQuery {
    #[serde(skip)]
    pub line: usize,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub vpc_id: Option<String>,
    pub query_timestamp: String,
    pub query_name: String,
    pub query_type: String,
    #[serde(default)]
    pub query_class: Option<String>,
    pub rcode: String,
    #[serde(default)]
    pub answers: Vec<ResolverAnswer>,
    pub srcaddr: String,
    #[serde(default)]
    pub srcport: Option<String>,
    #[serde(default)]
    pub transport: Option<String>,
    /// `{instance: "i-…"}` or `{resolver_endpoint: …}` and similar.
    #[serde(default)]
    pub srcids: BTreeMap<String, String>,
}

/// Parse resolver query logs (JSON lines). Every record needs `query_timestamp` (RFC 3339),
/// `query_name`, `query_type`, `rcode` and `srcaddr` (an IP address).
pub fn parse_resolver_query_logs(
    input: &str,
    mode: ParseMode,
) -> Result<Parsed<ResolverQuery>, LineError> {
    let mut out = Parsed::default();
    let mut record = 0usize;
    for (i, raw) in input.lines().enumerate() {
        let line = i + 1;
        let text = raw.trim();
        if text.is_empty() {
            continue;
        }
        let r = resolver_line(text, line, record);
        record += 1;
        match r {
            Ok(q) => out.records.push(q),
            Err(e) if mode == ParseMode::Lenient => out.warnings.push(e),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn resolver_line(text: &str, line: usize, rec: usize) -> Result<ResolverQuery, LineError> {
    let v: Value = serde_json::from_str(text).map_err(|e| LineError {
        line,
        column: Some(e.column()),
        record: rec,
        field: "json".into(),
        message: e.to_string(),
    })?;
    let mut q: ResolverQuery = serde_json::from_value(v).map_err(|e| {
        let m = e.to_string();
        let field = m
            .split('`')
            .nth(1)
            .map(str::to_string)
            .unwrap_or_else(|| "record".into());
        line_err(line, rec, &field, m)
    })?;
    q.line = line;
    if parse_time(&q.query_timestamp).is_none() {
        return Err(line_err(
            line,
            rec,
            "query_timestamp",
            format!("`{}` is not an RFC 3339 timestamp", q.query_timestamp),
        ));
    }
    if q.srcaddr.parse::<IpAddr>().is_err() {
        return Err(line_err(
            line,
            rec,
            "srcaddr",
            format!("`{}` is not an IP address", q.srcaddr),
        ));
    }
    if let Some(p) = &q.srcport {
        if p.parse::<u16>().is_err() {
            return Err(line_err(
                line,
                rec,
                "srcport",
                format!("`{p}` is not a port"),
            ));
        }
    }
    if q.query_name.trim().is_empty() {
        return Err(line_err(line, rec, "query_name", "empty query name".into()));
    }
    Ok(q)
}

fn parse_time(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

fn format_time(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Who a record belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attribution {
    pub tool: Option<String>,
    pub invocation_id: Option<String>,
    pub tenant: Option<String>,
}

/// Maps AWS identities (ENI, instance, source address) to tools/invocations.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AwsAttribution {
    /// `interface-id` (e.g. a Lambda's ENI) → attribution.
    pub by_interface: BTreeMap<String, Attribution>,
    /// `srcids.instance` → attribution.
    pub by_instance: BTreeMap<String, Attribution>,
    /// Source address → attribution.
    pub by_address: BTreeMap<IpAddr, Attribution>,
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => {
            v.is_private() || v.is_loopback() || v.is_link_local() || {
                let o = v.octets();
                o[0] == 100 && (o[1] & 0xc0) == 64
            }
        }
        IpAddr::V6(v) => (v.segments()[0] & 0xfe00) == 0xfc00 || v.is_loopback(),
    }
}

/// Convert resolver queries and flow records into `EgressEvent`s, in time order (DNS first on
/// ties). DNS queries become `dns` events named by the query; accepted outbound flows become
/// `tcp` events (UDP flows carry `protocol: "udp"`), named from resolver answers for the same
/// source (most recent answer at or before the flow start, else any answer). Flows to port 53
/// are left to the resolver log; return traffic is folded into `bytesReceived`.
/// `NODATA`/`SKIPDATA` records carry no flow and are skipped. Flow logs see every packet of the
/// interface, so events carry `observation: isolated`.
pub fn aws_to_egress(
    flows: &[FlowRecord],
    queries: &[ResolverQuery],
    attr: &AwsAttribution,
) -> Vec<EgressEvent> {
    let mut events: Vec<(i64, u8, EgressEvent)> = Vec::new();
    // ip → [(time, src, name)]
    let mut names: HashMap<IpAddr, Vec<(i64, Option<IpAddr>, String)>> = HashMap::new();
    let mut local: Vec<IpAddr> = Vec::new();
    for q in queries {
        let t = parse_time(&q.query_timestamp).unwrap_or(0);
        let src: Option<IpAddr> = q.srcaddr.parse().ok();
        if let Some(s) = src {
            if !local.contains(&s) {
                local.push(s);
            }
        }
        let name = q.query_name.trim_end_matches('.').to_ascii_lowercase();
        let mut address = None;
        for a in &q.answers {
            if a.rtype == "A" || a.rtype == "AAAA" {
                if let Ok(ip) = a.rdata.parse::<IpAddr>() {
                    address.get_or_insert(ip);
                    names.entry(ip).or_default().push((t, src, name.clone()));
                }
            }
        }
        let who = q
            .srcids
            .get("instance")
            .and_then(|i| attr.by_instance.get(i))
            .or_else(|| src.and_then(|s| attr.by_address.get(&s)))
            .cloned()
            .unwrap_or_default();
        let (decision, reason) = match q.rcode.as_str() {
            "NOERROR" | "NXDOMAIN" => (Decision::Allow, None),
            "REFUSED" => (Decision::Deny, None),
            "SERVFAIL" => (Decision::Allow, Some(Reason::ResolveFailed)),
            _ => (Decision::Allow, None),
        };
        events.push((
            t,
            0,
            EgressEvent {
                time: q.query_timestamp.clone(),
                invocation_id: who.invocation_id,
                tool: who.tool,
                tenant: who.tenant,
                kind: EventKind::Dns,
                source: match &q.srcport {
                    Some(p) => format!("{}:{p}", q.srcaddr),
                    None => q.srcaddr.clone(),
                },
                name: Some(name),
                address: address.map(|a| a.to_string()),
                port: None,
                protocol: Some(q.query_type.clone()),
                sni: None,
                http_host: None,
                http_method: None,
                http_path: None,
                bytes_sent: 0,
                bytes_received: 0,
                decision,
                reason,
                observation: Observation::Isolated,
                findings: Vec::new(),
            },
        ));
    }
    let is_local = |ip: IpAddr| {
        if local.is_empty() && attr.by_address.is_empty() {
            is_private(ip)
        } else {
            local.contains(&ip) || attr.by_address.contains_key(&ip)
        }
    };
    // Return traffic, keyed by the outbound 5-tuple it answers.
    let mut returned: HashMap<(IpAddr, u16, IpAddr, u16, u8), u64> = HashMap::new();
    let mut outbound = Vec::new();
    for f in flows {
        if f.log_status.is_some_and(|s| s != LogStatus::Ok) {
            continue;
        }
        let (Some(src), Some(dst)) = (f.srcaddr, f.dstaddr) else {
            continue;
        };
        let (sp, dp, proto) = (
            f.srcport.unwrap_or(0),
            f.dstport.unwrap_or(0),
            f.protocol.unwrap_or(0),
        );
        let out = is_local(src) && (!is_local(dst) || dp < sp);
        if out {
            outbound.push(f);
        } else {
            *returned.entry((dst, dp, src, sp, proto)).or_default() += f.bytes.unwrap_or(0);
        }
    }
    for f in outbound {
        let (Some(src), Some(dst)) = (f.srcaddr, f.dstaddr) else {
            continue;
        };
        let (sp, dp, proto) = (
            f.srcport.unwrap_or(0),
            f.dstport.unwrap_or(0),
            f.protocol.unwrap_or(0),
        );
        if dp == 53 {
            continue;
        }
        let protocol = match proto {
            6 => "tcp",
            17 => "udp",
            1 => "icmp",
            _ => "other",
        };
        let start = f.start.unwrap_or(0);
        let name = names.get(&dst).and_then(|cands| {
            let same_src = cands
                .iter()
                .filter(|(t, s, _)| *s == Some(src) && *t <= start)
                .max_by_key(|(t, _, _)| *t);
            same_src
                .or_else(|| cands.iter().max_by_key(|(t, _, _)| *t))
                .map(|(_, _, n)| n.clone())
        });
        let who = f
            .interface_id
            .as_ref()
            .and_then(|i| attr.by_interface.get(i))
            .or_else(|| attr.by_address.get(&src))
            .cloned()
            .unwrap_or_default();
        let rejected = f.action == Some(FlowAction::Reject);
        events.push((
            start,
            1,
            EgressEvent {
                time: format_time(start),
                invocation_id: who.invocation_id,
                tool: who.tool,
                tenant: who.tenant,
                kind: EventKind::Tcp,
                source: format!("{src}:{sp}"),
                reason: if name.is_none() {
                    Some(Reason::BareIp)
                } else {
                    None
                },
                name,
                address: Some(dst.to_string()),
                port: Some(dp),
                protocol: Some(protocol.into()),
                sni: None,
                http_host: None,
                http_method: None,
                http_path: None,
                bytes_sent: f.bytes.unwrap_or(0),
                bytes_received: returned
                    .get(&(src, sp, dst, dp, proto))
                    .copied()
                    .unwrap_or(0),
                decision: if rejected {
                    Decision::Deny
                } else {
                    Decision::Allow
                },
                observation: Observation::Isolated,
                findings: Vec::new(),
            },
        ));
    }
    events.sort_by_key(|(t, k, _)| (*t, *k));
    events.into_iter().map(|(_, _, e)| e).collect()
}
