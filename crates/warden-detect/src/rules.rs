//! The gap rules: pure functions over the accumulated evidence, each with a stable id.
//!
//! | id | fires when | decision |
//! |---|---|---|
//! | `gap.undeclared-host` | a tool's egress reaches a name/address outside its declared hosts | block (connection, 0.95) / warn (DNS lookup only, 0.7) |
//! | `gap.unreported-egress` | egress from a tool or invocation the trace never reported | block (0.9; DNS only 0.8) |
//! | `gap.phantom-invocation` | a reported call of an observed tool with neither egress nor output | warn (0.75) |
//! | `gap.phantom-claim` | the final answer claims a state change with no matching write call | warn (0.8; 0.6 when other writes ran) |
//! | `scope.tenant-mismatch` | a call's arguments name a tenant other than the trusted one | block (0.9) |
//! | `dlp.payload` | egress carrying DLP findings or refused for its payload | block (0.95) / warn (non-blocking, 0.6) |
//! | `dns.tunnel` | DNS tunnelling: proxy reason, encoded labels, many unique names under one parent | block (0.9 / 0.85 / 0.8) / warn (one encoded label, 0.6) |
//! | `egress.forbidden-address` | a refused connection to the metadata, loopback, private or reserved ranges | block (metadata, 0.9) / warn (0.75) |
//! | `injection.untrusted-argument` | tool output carrying instructions, then a write call taking argument values only from it | block (0.9 for destinations, else 0.85) |

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use warden_core::egress::{
    Decision as EgressDecision, EgressEvent, EventKind, Reason as EgressReason,
};

use crate::evidence::{Context, Effect, ToolInfo};
use crate::text::{self, Claim, Markers};
use crate::trace::{Invocation, Step, StepKind};

/// Stable rule ids.
pub mod ids {
    pub const UNDECLARED_HOST: &str = "gap.undeclared-host";
    pub const UNREPORTED_EGRESS: &str = "gap.unreported-egress";
    pub const PHANTOM_INVOCATION: &str = "gap.phantom-invocation";
    pub const PHANTOM_CLAIM: &str = "gap.phantom-claim";
    pub const TENANT_MISMATCH: &str = "scope.tenant-mismatch";
    pub const DLP_PAYLOAD: &str = "dlp.payload";
    pub const DNS_TUNNEL: &str = "dns.tunnel";
    pub const FORBIDDEN_ADDRESS: &str = "egress.forbidden-address";
    pub const UNTRUSTED_ARGUMENT: &str = "injection.untrusted-argument";
    /// Every rule id, in evaluation order.
    pub const ALL: [&str; 9] = [
        UNDECLARED_HOST,
        UNREPORTED_EGRESS,
        PHANTOM_INVOCATION,
        PHANTOM_CLAIM,
        TENANT_MISMATCH,
        DLP_PAYLOAD,
        DNS_TUNNEL,
        FORBIDDEN_ADDRESS,
        UNTRUSTED_ARGUMENT,
    ];
}

/// What a finding asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warn,
    Block,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warn => "warn",
            Severity::Block => "block",
        }
    }
}

/// One rule signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable rule id (see [`ids`]).
    pub rule: String,
    pub decision: Severity,
    /// 0.0..=1.0.
    pub confidence: f64,
    /// A sentence naming the tool, host and invocation.
    pub message: String,
    /// References: `trace:N` (step index), `egress:N` (event index).
    pub evidence: Vec<String>,
    /// What the finding is about within its rule (tool, host, step); stable across steps.
    pub subject: String,
}

impl Finding {
    /// `rule|subject`: identifies a finding across incremental evaluations.
    pub fn key(&self) -> String {
        format!("{}|{}", self.rule, self.subject)
    }
}

/// Tunables (defaults match Warden's DNS server).
#[derive(Debug, Clone, PartialEq)]
pub struct DetectConfig {
    pub dns_max_label: usize,
    pub dns_entropy_min_len: usize,
    pub dns_entropy_bits: f64,
    /// Unique names under one parent domain above which lookups count as tunnelling.
    pub dns_max_unique_per_parent: usize,
    /// Argument values shorter than this are never traced back to tool output.
    pub min_argument_len: usize,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            dns_max_label: 40,
            dns_entropy_min_len: 20,
            dns_entropy_bits: 3.9,
            dns_max_unique_per_parent: 16,
            min_argument_len: 4,
        }
    }
}

/// Per-event facts derived once when the event arrives.
#[derive(Debug, Clone)]
pub(crate) struct EventInfo {
    /// Destination names to check (name, SNI, Host, or the address), lowercase, deduplicated.
    pub names: Vec<String>,
    /// A TCP/HTTP event (a connection), not a DNS lookup.
    pub connection: bool,
    /// Unix time, when parseable.
    pub time: Option<i64>,
    /// Parent domain of the first name (`a.b.evil.test` → `evil.test`).
    pub parent: String,
    /// The first name has a long or high-entropy label.
    pub tunnel_like: bool,
    /// Per name: declared by the event's own tool (on its port, for connections); `None` when
    /// the event names no known tool.
    pub declared: Option<Vec<bool>>,
}

/// Per-step facts derived once when the step arrives.
#[derive(Debug, Clone, Default)]
pub(crate) struct StepInfo {
    /// Instruction markers of an observation's output.
    pub markers: Option<Markers>,
    /// Lowercased output of an observation.
    pub output_lower: Option<String>,
    /// Claims of a final response.
    pub claims: Vec<Claim>,
    pub time: Option<i64>,
}

/// The evidence accumulated so far, with derived facts.
#[derive(Debug, Clone, Default)]
pub(crate) struct State {
    pub steps: Vec<Step>,
    pub step_info: Vec<StepInfo>,
    pub egress: Vec<EgressEvent>,
    pub event_info: Vec<EventInfo>,
    /// Synthetic or resolved address → name, learned from DNS answers.
    pub ip_names: HashMap<String, String>,
    /// Step indices of invocations.
    pub invocations: Vec<usize>,
}

fn unix(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

fn strip_port(h: &str) -> &str {
    if h.starts_with('[') {
        return h.trim_start_matches('[').split(']').next().unwrap_or(h);
    }
    match h.rsplit_once(':') {
        Some((host, p)) if !host.contains(':') && p.chars().all(|c| c.is_ascii_digit()) => host,
        _ => h,
    }
}

impl State {
    pub fn push_step(&mut self, step: Step) {
        let mut info = StepInfo {
            time: step.event_time.as_deref().and_then(unix),
            ..StepInfo::default()
        };
        match &step.kind {
            StepKind::Observation { output, .. } => {
                info.markers = Some(text::markers(output));
                info.output_lower = Some(output.to_lowercase());
            }
            StepKind::FinalResponse { text } => info.claims = text::claims(text),
            StepKind::Invocation(_) => self.invocations.push(self.steps.len()),
            _ => {}
        }
        self.steps.push(step);
        self.step_info.push(info);
    }

    pub fn push_event(&mut self, ev: EgressEvent, cfg: &DetectConfig, tools: &[ToolInfo]) {
        fn add(names: &mut Vec<String>, n: &str) {
            let n = strip_port(n.trim())
                .trim_end_matches('.')
                .to_ascii_lowercase();
            if !n.is_empty() && !names.contains(&n) {
                names.push(n);
            }
        }
        let mut names: Vec<String> = Vec::new();
        for n in [&ev.name, &ev.sni, &ev.http_host].into_iter().flatten() {
            add(&mut names, n);
        }
        if names.is_empty() {
            if let Some(a) = &ev.address {
                match self.ip_names.get(a) {
                    Some(n) => add(&mut names, n),
                    None => add(&mut names, a),
                }
            }
        }
        if ev.kind == EventKind::Dns {
            if let (Some(n), Some(a)) = (&ev.name, &ev.address) {
                self.ip_names.insert(a.clone(), n.to_ascii_lowercase());
            }
        }
        let first = names.first().map(String::as_str).unwrap_or("");
        let parent = text::parent_domain(first);
        let tunnel_like = first.split('.').any(|l| {
            text::label_looks_encoded(
                l,
                cfg.dns_max_label,
                cfg.dns_entropy_min_len,
                cfg.dns_entropy_bits,
            )
        });
        let connection = ev.kind != EventKind::Dns;
        let declared = ev
            .tool
            .as_deref()
            .and_then(|t| find_tool(tools, t))
            .map(|t| {
                names
                    .iter()
                    .map(|n| t.declares(n, if connection { ev.port } else { None }))
                    .collect()
            });
        self.event_info.push(EventInfo {
            connection,
            declared,
            time: unix(&ev.time),
            parent,
            tunnel_like,
            names,
        });
        self.egress.push(ev);
    }
}

/// Everything a rule reads.
pub(crate) struct View<'a> {
    pub st: &'a State,
    pub tools: &'a [ToolInfo],
    pub ctx: &'a Context,
    pub cfg: &'a DetectConfig,
    /// Invocation step indices.
    pub invocations: Vec<usize>,
    /// Lowercased tool name → its invocation step indices.
    by_tool: HashMap<String, Vec<usize>>,
    /// Manifests of the tools the trace reported (all tools when it reported none).
    reported_pool: Vec<&'a ToolInfo>,
}

fn find_tool<'t>(tools: &'t [ToolInfo], name: &str) -> Option<&'t ToolInfo> {
    tools
        .iter()
        .find(|t| t.name == name)
        .or_else(|| tools.iter().find(|t| same_tool(&t.name, name)))
}

fn same_tool(a: &str, b: &str) -> bool {
    a == b || a.eq_ignore_ascii_case(b)
}

fn ignored_event(ev: &EgressEvent) -> bool {
    ev.reason == Some(EgressReason::Unattributed)
}

fn is_forbidden_reason(r: Option<EgressReason>) -> bool {
    matches!(
        r,
        Some(
            EgressReason::PrivateAddress
                | EgressReason::LoopbackAddress
                | EgressReason::MetadataAddress
                | EgressReason::LinkLocalAddress
                | EgressReason::CgnatAddress
                | EgressReason::MappedAddress
                | EgressReason::ReservedAddress
                | EgressReason::SelfAddress
        )
    )
}

/// "a", "a and b", "a, b and c".
pub(crate) fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [a] => a.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

impl<'a> View<'a> {
    pub fn new(
        st: &'a State,
        tools: &'a [ToolInfo],
        ctx: &'a Context,
        cfg: &'a DetectConfig,
    ) -> Self {
        let invocations = st.invocations.clone();
        let mut by_tool: HashMap<String, Vec<usize>> = HashMap::new();
        for &i in &invocations {
            if let StepKind::Invocation(inv) = &st.steps[i].kind {
                by_tool
                    .entry(inv.action_group.to_ascii_lowercase())
                    .or_default()
                    .push(i);
            }
        }
        let reported: Vec<&ToolInfo> = tools
            .iter()
            .filter(|t| by_tool.contains_key(&t.name.to_ascii_lowercase()))
            .collect();
        let reported_pool = if reported.is_empty() {
            tools.iter().collect()
        } else {
            reported
        };
        View {
            st,
            tools,
            ctx,
            cfg,
            invocations,
            by_tool,
            reported_pool,
        }
    }

    /// Event index → invocation step index it is attributed to.
    pub fn attributed(&self) -> Vec<Option<usize>> {
        (0..self.st.egress.len())
            .map(|e| self.attribute(e))
            .collect()
    }

    fn inv(&self, step: usize) -> &'a Invocation {
        match &self.st.steps[step].kind {
            StepKind::Invocation(i) => i,
            _ => unreachable_invocation(),
        }
    }

    pub fn tool(&self, name: &str) -> Option<&'a ToolInfo> {
        find_tool(self.tools, name)
    }

    /// Invocation steps of tool `name`.
    fn invocations_of(&self, name: &str) -> Vec<usize> {
        self.by_tool
            .get(&name.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default()
    }

    /// Which reported invocation an event belongs to: same invocation id, else the latest
    /// invocation of its tool that started at or before it (or the latest one).
    fn attribute(&self, e: usize) -> Option<usize> {
        let ev = &self.st.egress[e];
        if let Some(id) = &ev.invocation_id {
            if let Some(&i) = self
                .invocations
                .iter()
                .find(|&&i| self.inv(i).id.as_deref() == Some(id.as_str()))
            {
                return Some(i);
            }
        }
        let tool = ev.tool.as_deref()?;
        let cands = self.invocations_of(tool);
        if cands.len() <= 1 {
            return cands.first().copied();
        }
        if let Some(t) = self.st.event_info[e].time {
            if let Some(&i) = cands
                .iter()
                .rev()
                .find(|&&i| self.st.step_info[i].time.is_some_and(|st| st <= t))
            {
                return Some(i);
            }
        }
        cands.last().copied()
    }

    /// Whether `name` on `port` is declared for the event's tool (or, when the tool is not
    /// known, for any tool the trace reported — or any tool at all when it reported none).
    /// Whether name `k` (= `name`) of event `e` is declared (cached per event when its tool is known).
    fn event_declares(&self, e: usize, k: usize, name: &str) -> bool {
        let info = &self.st.event_info[e];
        if let Some(d) = info.declared.as_ref().and_then(|d| d.get(k)) {
            return *d;
        }
        let ev = &self.st.egress[e];
        let port = if info.connection { ev.port } else { None };
        self.declared(ev.tool.as_deref(), name, port)
    }

    fn declared(&self, tool: Option<&str>, name: &str, port: Option<u16>) -> bool {
        match tool.and_then(|t| self.tool(t)) {
            Some(t) => t.declares(name, port),
            None if tool.is_some() => false,
            None => self.reported_pool.iter().any(|t| t.declares(name, port)),
        }
    }

    /// "the agent reported only a lookup_order call to api.internal" for `tool`.
    fn reported_phrase(&self, tool: Option<&str>) -> String {
        let invs: Vec<usize> = match tool {
            Some(t) => self.invocations_of(t),
            None => self.invocations.clone(),
        };
        if invs.is_empty() {
            return match tool {
                Some(t) => format!("the agent reported no call of tool {t}"),
                None => "the agent reported no tool call".to_string(),
            };
        }
        let mut ops: Vec<(String, usize)> = Vec::new();
        for &i in &invs {
            let inv = self.inv(i);
            let op = self
                .tool(&inv.action_group)
                .map(|t| t.label_of(inv))
                .unwrap_or_else(|| inv.operation());
            match ops.iter_mut().find(|(o, _)| *o == op) {
                Some((_, n)) => *n += 1,
                None => ops.push((op, 1)),
            }
        }
        let calls = match ops.as_slice() {
            [(op, 1)] => format!("a {op} call"),
            [(op, n)] => format!("{n} {op} calls"),
            _ => format!(
                "{} calls",
                join_and(&ops.iter().map(|(o, _)| o.clone()).collect::<Vec<_>>())
            ),
        };
        // Hosts: declared names the tool actually reached, else its declared names.
        let mut hosts: Vec<String> = Vec::new();
        for (e, ev) in self.st.egress.iter().enumerate() {
            if ignored_event(ev) || ev.decision == EgressDecision::Deny {
                continue;
            }
            let tool_ok = match tool {
                Some(t) => ev.tool.as_deref().is_some_and(|x| same_tool(x, t)),
                None => true,
            };
            if !tool_ok {
                continue;
            }
            for (k, n) in self.st.event_info[e].names.iter().enumerate() {
                if self.event_declares(e, k, n) && !hosts.contains(n) {
                    hosts.push(n.clone());
                }
            }
        }
        if hosts.is_empty() {
            let pool: Vec<&ToolInfo> = match tool {
                Some(t) => self.tool(t).into_iter().collect(),
                None => invs
                    .iter()
                    .filter_map(|&i| self.tool(&self.inv(i).action_group))
                    .collect(),
            };
            for t in pool {
                for h in t.host_names() {
                    if !hosts.contains(&h) {
                        hosts.push(h);
                    }
                }
            }
        }
        if hosts.is_empty() {
            format!("the agent reported only {calls}")
        } else {
            format!("the agent reported only {calls} to {}", join_and(&hosts))
        }
    }
}

fn unreachable_invocation() -> &'static Invocation {
    static EMPTY: std::sync::OnceLock<Invocation> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Invocation::default)
}

fn refs(prefix: &str, idx: impl IntoIterator<Item = usize>) -> Vec<String> {
    idx.into_iter().map(|i| format!("{prefix}:{i}")).collect()
}

/// Run every rule; `end` adds the rules that need the whole run (phantom invocation).
pub(crate) fn run(v: &View, end: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut tunnels = Vec::new();
    dns_tunnel(v, &mut tunnels);
    undeclared_host(v, &tunnels, &mut out);
    unreported_egress(v, &mut out);
    if end {
        phantom_invocation(v, &mut out);
    }
    phantom_claim(v, &mut out);
    tenant_mismatch(v, &mut out);
    dlp_payload(v, &mut out);
    out.extend(tunnels);
    forbidden_address(v, &mut out);
    untrusted_argument(v, &mut out);
    out
}

/// (host, any connection?, event indices).
type HostHits = (String, bool, Vec<usize>);

fn undeclared_host(v: &View, tunnels: &[Finding], out: &mut Vec<Finding>) {
    // tool (or "") → host → (connection?, events)
    let mut by_tool: BTreeMap<Option<String>, Vec<HostHits>> = BTreeMap::new();
    // DNS lookups under a parent domain that dns.tunnel reports are left to that rule.
    let tunnel_subjects: BTreeSet<&str> = tunnels.iter().map(|f| f.subject.as_str()).collect();
    for (e, ev) in v.st.egress.iter().enumerate() {
        if ignored_event(ev)
            || is_forbidden_reason(ev.reason)
            || ev.reason == Some(EgressReason::DnsTunnel)
        {
            continue;
        }
        let info = &v.st.event_info[e];
        if !info.connection
            && (info.tunnel_like
                || (!tunnel_subjects.is_empty()
                    && tunnel_subjects.contains(
                        format!("{}|{}", ev.tool.as_deref().unwrap_or("-"), info.parent).as_str(),
                    )))
        {
            continue; // left to dns.tunnel
        }
        let bad: Vec<&String> = info
            .names
            .iter()
            .enumerate()
            .filter(|(k, n)| !v.event_declares(e, *k, n))
            .map(|(_, n)| n)
            .collect();
        let host = match bad.first() {
            Some(h) => (*h).clone(),
            None if ev.reason == Some(EgressReason::UndeclaredHost) => match info.names.first() {
                Some(n) => n.clone(),
                None => continue,
            },
            None => continue,
        };
        let list = by_tool.entry(ev.tool.clone()).or_default();
        match list.iter_mut().find(|(h, _, _)| *h == host) {
            Some((_, conn, evs)) => {
                *conn |= info.connection;
                evs.push(e);
            }
            None => list.push((host, info.connection, vec![e])),
        }
    }
    for (tool, hosts) in by_tool {
        let reported = v.reported_phrase(tool.as_deref());
        let inv_refs: Vec<usize> = match &tool {
            Some(t) => v.invocations_of(t),
            None => Vec::new(),
        };
        for conn in [true, false] {
            let group: Vec<&(String, bool, Vec<usize>)> =
                hosts.iter().filter(|(_, c, _)| *c == conn).collect();
            if group.is_empty() {
                continue;
            }
            let names: Vec<String> = group.iter().map(|(h, _, _)| h.clone()).collect();
            let what = match (conn, names.len()) {
                (true, 1) => format!("an actual connection to undeclared host {}", names[0]),
                (true, _) => format!(
                    "actual connections to undeclared hosts {}",
                    join_and(&names)
                ),
                (false, 1) => format!("a DNS lookup of undeclared host {}", names[0]),
                (false, _) => format!("DNS lookups of undeclared hosts {}", join_and(&names)),
            };
            // Hosts that another tool declares: say so (exfiltration through a sibling's host).
            let mut notes = Vec::new();
            for n in &names {
                let owners: Vec<String> = v
                    .tools
                    .iter()
                    .filter(|t| {
                        tool.as_deref().is_none_or(|x| !same_tool(&t.name, x))
                            && t.declares(n, None)
                    })
                    .map(|t| t.name.clone())
                    .collect();
                if !owners.is_empty() && tool.is_some() {
                    notes.push(format!(
                        "{n} is declared only for tool {}",
                        join_and(&owners)
                    ));
                }
            }
            let note = if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join("; "))
            };
            let by = match &tool {
                Some(_) => String::new(),
                None => " from an unattributed source".to_string(),
            };
            let mut evidence = refs("trace", inv_refs.iter().copied());
            evidence.extend(refs(
                "egress",
                group.iter().flat_map(|(_, _, e)| e.iter().copied()),
            ));
            out.push(Finding {
                rule: ids::UNDECLARED_HOST.into(),
                decision: if conn {
                    Severity::Block
                } else {
                    Severity::Warn
                },
                confidence: if conn { 0.95 } else { 0.7 },
                message: format!(
                    "Trace-vs-egress gap: {reported}, but the real egress shows {what}{by}{note}."
                ),
                evidence,
                subject: format!(
                    "{}|{}",
                    tool.as_deref().unwrap_or("-"),
                    if conn { "connection" } else { "dns" }
                ),
            });
        }
    }
}

fn unreported_egress(v: &View, out: &mut Vec<Finding>) {
    let mut by_tool: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (e, ev) in v.st.egress.iter().enumerate() {
        if ignored_event(ev) {
            continue;
        }
        if let Some(t) = &ev.tool {
            by_tool.entry(t.clone()).or_default().push(e);
        }
    }
    for (tool, events) in by_tool {
        let invs = v.invocations_of(&tool);
        let hidden: Vec<usize> = if invs.is_empty() {
            events.clone()
        } else {
            let trace_ids: BTreeSet<&str> = invs
                .iter()
                .filter_map(|&i| v.inv(i).id.as_deref())
                .collect();
            let ev_ids: BTreeSet<&str> = events
                .iter()
                .filter_map(|&e| v.st.egress[e].invocation_id.as_deref())
                .collect();
            if ev_ids.iter().any(|id| trace_ids.contains(id)) {
                // Comparable ids: events whose invocation the trace never mentions.
                events
                    .iter()
                    .copied()
                    .filter(|&e| {
                        v.st.egress[e]
                            .invocation_id
                            .as_deref()
                            .is_some_and(|id| !trace_ids.contains(id))
                    })
                    .collect()
            } else if ev_ids.len() > invs.len() {
                // More distinct invocations on the wire than reported: the ids beyond the
                // first `invs.len()` (in order of appearance) are hidden.
                let mut seen: Vec<&str> = Vec::new();
                for &e in &events {
                    if let Some(id) = v.st.egress[e].invocation_id.as_deref() {
                        if !seen.contains(&id) {
                            seen.push(id);
                        }
                    }
                }
                let extra: BTreeSet<&str> = seen[invs.len()..].iter().copied().collect();
                events
                    .iter()
                    .copied()
                    .filter(|&e| {
                        v.st.egress[e]
                            .invocation_id
                            .as_deref()
                            .is_some_and(|id| extra.contains(id))
                    })
                    .collect()
            } else {
                Vec::new()
            }
        };
        if hidden.is_empty() {
            continue;
        }
        let conn = hidden.iter().any(|&e| v.st.event_info[e].connection);
        let mut hosts: Vec<String> = Vec::new();
        for &e in &hidden {
            for n in &v.st.event_info[e].names {
                if !hosts.contains(n) {
                    hosts.push(n.clone());
                }
            }
        }
        let what = if conn {
            "made network connections"
        } else {
            "made DNS lookups"
        };
        let when = if invs.is_empty() {
            "but the agent never reported a call of that tool".to_string()
        } else {
            format!(
                "in an invocation the agent never reported ({} reported)",
                match invs.len() {
                    1 => "1 call".to_string(),
                    n => format!("{n} calls"),
                }
            )
        };
        out.push(Finding {
            rule: ids::UNREPORTED_EGRESS.into(),
            decision: Severity::Block,
            confidence: if conn { 0.9 } else { 0.8 },
            message: format!(
                "Trace-vs-egress gap: tool {tool} {what} (to {}) {when}.",
                join_and(&hosts)
            ),
            evidence: refs("egress", hidden),
            subject: tool,
        });
    }
}

fn phantom_invocation(v: &View, out: &mut Vec<Finding>) {
    let attributed = v.attributed();
    for &i in &v.invocations {
        let inv = v.inv(i);
        if !v
            .ctx
            .observed_tools
            .iter()
            .any(|t| same_tool(t, &inv.action_group))
        {
            continue;
        }
        let Some(tool) = v.tool(&inv.action_group) else {
            continue;
        };
        if tool.hosts.is_empty() {
            continue;
        }
        let has_egress = attributed.contains(&Some(i));
        let has_output =
            v.st.steps
                .iter()
                .any(|s| matches!(s.kind, StepKind::Observation { of: Some(o), .. } if o == i));
        if has_egress || has_output {
            continue;
        }
        out.push(Finding {
            rule: ids::PHANTOM_INVOCATION.into(),
            decision: Severity::Warn,
            confidence: 0.75,
            message: format!(
                "Trace-vs-egress gap: the agent reported a {} call of tool {} (trace:{i}), but the tool never ran: no egress and no output were observed for it.",
                inv.operation(),
                inv.action_group
            ),
            evidence: vec![format!("trace:{i}")],
            subject: format!("trace:{i}"),
        });
    }
}

fn phantom_claim(v: &View, out: &mut Vec<Finding>) {
    let Some(fi) =
        v.st.steps
            .iter()
            .rposition(|s| matches!(s.kind, StepKind::FinalResponse { .. }))
    else {
        return;
    };
    let claims = &v.st.step_info[fi].claims;
    if claims.is_empty() {
        return;
    }
    let writes: Vec<usize> = v
        .invocations
        .iter()
        .copied()
        .filter(|&i| {
            let inv = v.inv(i);
            match v.tool(&inv.action_group) {
                Some(t) => t.effect_of(inv) == Effect::Write,
                None => !matches!(
                    inv.verb.as_deref().map(str::to_ascii_uppercase).as_deref(),
                    Some("GET" | "HEAD")
                ),
            }
        })
        .collect();
    for c in claims {
        let matched = writes.iter().any(|&i| {
            let inv = v.inv(i);
            text::operation_matches(c.stem, &inv.operation())
                || text::operation_matches(c.stem, &inv.action_group)
        });
        if matched {
            continue;
        }
        let done: Vec<String> = {
            let mut ops: Vec<String> = Vec::new();
            for &i in &v.invocations {
                let op = v.inv(i).operation();
                if !ops.contains(&op) {
                    ops.push(op);
                }
            }
            ops
        };
        let tail = if done.is_empty() {
            "the agent reported no tool call at all".to_string()
        } else {
            format!("the agent reported only {} calls", join_and(&done))
        };
        out.push(Finding {
            rule: ids::PHANTOM_CLAIM.into(),
            decision: Severity::Warn,
            confidence: if writes.is_empty() { 0.8 } else { 0.6 },
            message: format!(
                "Claim without action: the final answer says \"{}\" (trace:{fi}), but no {} operation ran; {tail}.",
                c.phrase, c.stem
            ),
            evidence: std::iter::once(format!("trace:{fi}"))
                .chain(refs("trace", writes.iter().copied()))
                .collect(),
            subject: c.stem.to_string(),
        });
    }
}

fn tenant_key(k: &str) -> bool {
    let last = k.rsplit(['.', ']']).next().unwrap_or(k);
    let n: String = last
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    matches!(
        n.as_str(),
        "tenant"
            | "tenantid"
            | "tenantname"
            | "tenantslug"
            | "org"
            | "orgid"
            | "organization"
            | "organizationid"
            | "workspace"
            | "workspaceid"
    )
}

/// `tenant:X`, `tenants/X`, `tenant=X` inside a value or path.
fn embedded_tenants(s: &str) -> Vec<String> {
    let lower = s.to_ascii_lowercase();
    let mut out = Vec::new();
    for pat in ["tenants/", "tenant/", "tenant:", "tenant=", "tenant_id="] {
        let mut from = 0;
        while let Some(p) = lower[from..].find(pat) {
            let start = from + p + pat.len();
            let t: String = s[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            if !t.is_empty() && !t.starts_with('{') {
                out.push(t);
            }
            from = start;
        }
    }
    out
}

fn tenant_mismatch(v: &View, out: &mut Vec<Finding>) {
    let trusted = v.ctx.tenant.trim();
    if trusted.is_empty() {
        return;
    }
    for &i in &v.invocations {
        let inv = v.inv(i);
        let mut fields: Vec<String> = Vec::new();
        for (k, val) in inv.arguments() {
            let val = val.trim();
            if val.is_empty() {
                continue;
            }
            let direct = tenant_key(k) && !val.eq_ignore_ascii_case(trusted);
            let embedded = embedded_tenants(val)
                .iter()
                .any(|t| !t.eq_ignore_ascii_case(trusted));
            if (direct || embedded) && !fields.iter().any(|f| f == k) {
                fields.push(k.to_string());
            }
        }
        if let Some(p) = &inv.api_path {
            if embedded_tenants(p)
                .iter()
                .any(|t| !t.eq_ignore_ascii_case(trusted))
            {
                fields.push("apiPath".into());
            }
        }
        if fields.is_empty() {
            continue;
        }
        out.push(Finding {
            rule: ids::TENANT_MISMATCH.into(),
            decision: Severity::Block,
            confidence: 0.9,
            message: format!(
                "Tenant scope: the {} call of tool {} (trace:{i}) names a tenant other than the authenticated tenant {trusted} in {} {}.",
                inv.operation(),
                inv.action_group,
                if fields.len() == 1 { "argument" } else { "arguments" },
                join_and(&fields)
            ),
            evidence: vec![format!("trace:{i}")],
            subject: format!("trace:{i}"),
        });
    }
}

/// (blocking?, DLP rule ids, event indices, refused?).
type DlpGroup = (bool, BTreeSet<String>, Vec<usize>, bool);

fn dlp_payload(v: &View, out: &mut Vec<Finding>) {
    // (tool, host) → (blocking?, rule ids, events, refused?)
    let mut groups: BTreeMap<(String, String), DlpGroup> = BTreeMap::new();
    for (e, ev) in v.st.egress.iter().enumerate() {
        let payload = ev.reason == Some(EgressReason::PayloadBlocked);
        if ev.findings.is_empty() && !payload {
            continue;
        }
        let tool = ev.tool.clone().unwrap_or_else(|| "-".into());
        let host = v.st.event_info[e]
            .names
            .first()
            .cloned()
            .unwrap_or_else(|| "?".into());
        let g = groups.entry((tool, host)).or_default();
        g.0 |= payload || ev.findings.iter().any(|f| f.blocking);
        g.1.extend(ev.findings.iter().map(|f| f.rule_id.clone()));
        g.2.push(e);
        g.3 |= ev.decision == EgressDecision::Deny;
    }
    for ((tool, host), (blocking, rules, events, refused)) in groups {
        let what = if rules.is_empty() {
            "a payload the DLP scanner refused".to_string()
        } else {
            join_and(&rules.into_iter().collect::<Vec<_>>())
        };
        let fate = if refused {
            "; the egress proxy refused it"
        } else {
            "; it left the sandbox"
        };
        out.push(Finding {
            rule: ids::DLP_PAYLOAD.into(),
            decision: if blocking {
                Severity::Block
            } else {
                Severity::Warn
            },
            confidence: if blocking { 0.95 } else { 0.6 },
            message: format!(
                "Data leaving: tool {tool} sent a request to {host} carrying {what}{fate}."
            ),
            evidence: refs("egress", events),
            subject: format!("{tool}|{host}"),
        });
    }
}

fn dns_tunnel(v: &View, out: &mut Vec<Finding>) {
    // (tool, parent) → (proxy flagged, encoded names, unique names, events)
    #[derive(Default)]
    struct G {
        flagged: bool,
        encoded: BTreeSet<String>,
        long: bool,
        names: BTreeSet<String>,
        events: Vec<usize>,
    }
    let mut groups: BTreeMap<(String, String), G> = BTreeMap::new();
    for (e, ev) in v.st.egress.iter().enumerate() {
        if ignored_event(ev) {
            continue;
        }
        let info = &v.st.event_info[e];
        let Some(name) = info.names.first() else {
            continue;
        };
        if name.parse::<std::net::IpAddr>().is_ok() {
            continue;
        }
        let flagged = ev.reason == Some(EgressReason::DnsTunnel);
        let tool = ev.tool.clone().unwrap_or_else(|| "-".into());
        if !flagged && v.event_declares(e, 0, name) {
            continue;
        }
        let g = groups.entry((tool, info.parent.clone())).or_default();
        g.flagged |= flagged;
        if info.tunnel_like {
            g.encoded.insert(name.clone());
            g.long |= name.split('.').any(|l| l.len() > v.cfg.dns_max_label);
        }
        if !info.connection {
            g.names.insert(name.clone());
        }
        g.events.push(e);
    }
    for ((tool, parent), g) in groups {
        let many = g.names.len() > v.cfg.dns_max_unique_per_parent;
        let (sev, conf, why) = if g.flagged {
            (
                Severity::Block,
                0.9,
                "the DNS server flagged the lookups as tunnelling".to_string(),
            )
        } else if g.encoded.len() >= 2 || g.long {
            (
                Severity::Block,
                0.85,
                format!(
                    "{} names carry long or high-entropy labels",
                    g.encoded.len()
                ),
            )
        } else if many {
            (
                Severity::Block,
                0.8,
                format!("{} unique names under one parent domain", g.names.len()),
            )
        } else if g.encoded.len() == 1 {
            (
                Severity::Warn,
                0.6,
                "one name carries a high-entropy label".to_string(),
            )
        } else {
            continue;
        };
        out.push(Finding {
            rule: ids::DNS_TUNNEL.into(),
            decision: sev,
            confidence: conf,
            message: format!(
                "DNS tunnelling: tool {tool} looked up {} name{} under {parent}; {why}.",
                g.names.len().max(g.encoded.len()),
                if g.names.len().max(g.encoded.len()) == 1 {
                    ""
                } else {
                    "s"
                }
            ),
            evidence: refs("egress", g.events),
            subject: format!("{tool}|{parent}"),
        });
    }
}

fn forbidden_address(v: &View, out: &mut Vec<Finding>) {
    let mut groups: BTreeMap<(String, String), (bool, Vec<usize>, EgressReason)> = BTreeMap::new();
    for (e, ev) in v.st.egress.iter().enumerate() {
        if !is_forbidden_reason(ev.reason) {
            continue;
        }
        let Some(reason) = ev.reason else { continue };
        let tool = ev.tool.clone().unwrap_or_else(|| "-".into());
        let target = ev
            .address
            .clone()
            .or_else(|| v.st.event_info[e].names.first().cloned())
            .unwrap_or_else(|| "?".into());
        let g = groups
            .entry((tool, target))
            .or_insert((false, Vec::new(), reason));
        g.0 |= reason == EgressReason::MetadataAddress;
        g.1.push(e);
    }
    for ((tool, target), (metadata, events, reason)) in groups {
        out.push(Finding {
            rule: ids::FORBIDDEN_ADDRESS.into(),
            decision: if metadata { Severity::Block } else { Severity::Warn },
            confidence: if metadata { 0.9 } else { 0.75 },
            message: format!(
                "Forbidden destination: tool {tool} tried to reach {target} ({}), which the egress proxy refused.",
                reason.code()
            ),
            evidence: refs("egress", events),
            subject: format!("{tool}|{target}"),
        });
    }
}

fn untrusted_argument(v: &View, out: &mut Vec<Finding>) {
    let tainted: Vec<usize> =
        v.st.step_info
            .iter()
            .enumerate()
            .filter(|(_, s)| s.markers.as_ref().is_some_and(Markers::instructive))
            .map(|(i, _)| i)
            .collect();
    if tainted.is_empty() {
        return;
    }
    let user = v.ctx.user_input.to_lowercase();
    let attrs: Vec<String> = v
        .ctx
        .session_attributes
        .values()
        .map(|s| s.to_lowercase())
        .collect();
    for &i in &v.invocations {
        let inv = v.inv(i);
        let write = match v.tool(&inv.action_group) {
            Some(t) => t.effect_of(inv) == Effect::Write,
            None => true,
        };
        if !write {
            continue;
        }
        let sources: Vec<usize> = tainted.iter().copied().filter(|&t| t < i).collect();
        if sources.is_empty() {
            continue;
        }
        let clean: Vec<&String> =
            v.st.step_info
                .iter()
                .enumerate()
                .filter(|(j, s)| *j < i && s.markers.as_ref().is_some_and(|m| !m.instructive()))
                .filter_map(|(_, s)| s.output_lower.as_ref())
                .collect();
        let mut hits: Vec<(String, usize, bool)> = Vec::new();
        for (k, val) in inv.arguments() {
            let val = val.trim().to_lowercase();
            if val.chars().count() < v.cfg.min_argument_len
                || matches!(val.as_str(), "true" | "false" | "null" | "none")
            {
                continue;
            }
            if user.contains(&val)
                || attrs.iter().any(|a| {
                    a.contains(&val)
                        || (a.len() >= v.cfg.min_argument_len && val.contains(a.as_str()))
                })
            {
                continue;
            }
            if clean.iter().any(|c| c.contains(&val)) {
                continue;
            }
            let Some(&src) = sources.iter().rev().find(|&&t| {
                v.st.step_info[t]
                    .output_lower
                    .as_ref()
                    .is_some_and(|o| o.contains(&val))
            }) else {
                continue;
            };
            let dest = v.st.step_info[src].markers.as_ref().is_some_and(|m| {
                m.destinations
                    .iter()
                    .any(|d| d.to_lowercase().contains(&val) || val.contains(&d.to_lowercase()))
            });
            hits.push((k.to_string(), src, dest));
        }
        if hits.is_empty() {
            continue;
        }
        let src = hits[0].1;
        let phrase = v.st.step_info[src]
            .markers
            .as_ref()
            .and_then(|m| m.phrases.first())
            .map(|p| p.chars().take(60).collect::<String>())
            .unwrap_or_default();
        let from = match &v.st.steps[src].kind {
            StepKind::Observation { of: Some(o), .. } => match &v.st.steps[*o].kind {
                StepKind::Invocation(x) => {
                    format!("the output of {} {}", x.action_group, x.operation())
                }
                StepKind::KnowledgeBaseLookup { .. } => "a knowledge-base result".to_string(),
                _ => "a tool output".to_string(),
            },
            _ => "a tool output".to_string(),
        };
        let names: Vec<String> = hits.iter().map(|(k, _, _)| k.clone()).collect();
        let dest = hits.iter().any(|(_, _, d)| *d);
        let mut evidence: Vec<String> = hits.iter().map(|(_, s, _)| format!("trace:{s}")).collect();
        evidence.dedup();
        evidence.push(format!("trace:{i}"));
        out.push(Finding {
            rule: ids::UNTRUSTED_ARGUMENT.into(),
            decision: Severity::Block,
            confidence: if dest { 0.9 } else { 0.85 },
            message: format!(
                "Indirect prompt injection: {from} (trace:{src}) carries instructions (\"{phrase}\"), and the following {} call of tool {} (trace:{i}) takes {} {} from that output, not from the user or the session.",
                inv.operation(),
                inv.action_group,
                if names.len() == 1 { "argument" } else { "arguments" },
                join_and(&names)
            ),
            evidence,
            subject: format!("trace:{i}"),
        });
    }
}
