//! Bedrock trace model: `TracePart` JSON (one object, an array, `{"trace":[…]}` or JSON lines)
//! normalised into one sequence of [`Step`]s.
//!
//! Unknown members are kept verbatim ([`Step::extra`], [`StepKind::Unknown`]); only malformed
//! JSON or a known member of an impossible shape (an object where a string belongs) is an error,
//! and the error names the line, column, part index and field path.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A trace that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    /// The JSON itself is malformed or truncated.
    #[error(
        "trace JSON {what} at line {line}, column {column} (while reading part {part}): {message}"
    )]
    Json {
        /// `is truncated` or `is malformed`.
        what: &'static str,
        line: usize,
        column: usize,
        /// Index of the part being read when the error occurred.
        part: usize,
        message: String,
    },
    /// A top-level value or part is not a JSON object.
    #[error("trace part {part}: expected a JSON object, found {found}")]
    NotAnObject { part: usize, found: &'static str },
    /// A known member has an impossible type.
    #[error("trace part {part}: {path}: expected {expected}, found {found}")]
    Field {
        part: usize,
        path: String,
        expected: &'static str,
        found: &'static str,
    },
}

/// One normalised step with the `TracePart` metadata it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// Index of the `TracePart` (0-based, input order) the step came from.
    pub part: usize,
    /// The `traceId` of the member, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// `eventTime` of the part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// `collaboratorName` (multi-agent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collaborator: Option<String>,
    pub kind: StepKind,
    /// Members this model does not know, kept verbatim (part-level and member-level).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

impl Step {
    /// A step with no metadata (handy for callers that build steps directly).
    pub fn new(kind: StepKind) -> Self {
        Step {
            part: 0,
            trace_id: None,
            event_time: None,
            agent_id: None,
            session_id: None,
            collaborator: None,
            kind,
            extra: Map::new(),
        }
    }

    /// The invocation, when this step is one.
    pub fn invocation(&self) -> Option<&Invocation> {
        match &self.kind {
            StepKind::Invocation(i) => Some(i),
            _ => None,
        }
    }
}

/// Where an observation's output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObservationSource {
    ActionGroup,
    KnowledgeBase,
    CodeInterpreter,
    AgentCollaborator,
}

/// Which side of a model call a step records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelPhase {
    Input,
    Output,
}

/// What a step is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StepKind {
    /// The model's stated reasoning (orchestration rationale or pre-processing rationale).
    Rationale { text: String },
    /// An action-group call the agent reported.
    Invocation(Invocation),
    /// A tool's output as the agent saw it.
    Observation {
        /// Step index of the invocation (or lookup) this output belongs to, when known.
        of: Option<usize>,
        source: ObservationSource,
        output: String,
    },
    /// A knowledge-base query.
    KnowledgeBaseLookup {
        knowledge_base_id: Option<String>,
        text: String,
    },
    /// A code-interpreter invocation.
    CodeInterpreter { code: String, files: Vec<String> },
    /// A call to a collaborator agent.
    CollaboratorInvocation {
        name: Option<String>,
        text: Option<String>,
    },
    /// The answer returned to the user (orchestration `finalResponse` or post-processing text).
    FinalResponse { text: String },
    /// A reprompt the agent issued.
    Reprompt {
        text: String,
        source: Option<String>,
    },
    /// A guardrail assessment; `intervened` when its action is `INTERVENED`.
    Guardrail {
        action: String,
        intervened: bool,
        raw: Value,
    },
    /// A failure the agent reported.
    Failure { code: Option<i64>, reason: String },
    /// A model call (prompt or raw response), kept verbatim.
    ModelInvocation {
        phase: ModelPhase,
        prompt_type: Option<String>,
        raw: Value,
    },
    /// A member this model does not know (e.g. `customOrchestrationTrace`, new union members).
    Unknown { kind: String, raw: Value },
}

impl StepKind {
    /// A short stable name for the kind (`invocation`, `observation`, …).
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Rationale { .. } => "rationale",
            StepKind::Invocation(_) => "invocation",
            StepKind::Observation { .. } => "observation",
            StepKind::KnowledgeBaseLookup { .. } => "knowledge_base_lookup",
            StepKind::CodeInterpreter { .. } => "code_interpreter",
            StepKind::CollaboratorInvocation { .. } => "collaborator_invocation",
            StepKind::FinalResponse { .. } => "final_response",
            StepKind::Reprompt { .. } => "reprompt",
            StepKind::Guardrail { .. } => "guardrail",
            StepKind::Failure { .. } => "failure",
            StepKind::ModelInvocation { .. } => "model_invocation",
            StepKind::Unknown { .. } => "unknown",
        }
    }
}

/// An action-group invocation as the agent reported it.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Invocation {
    /// `invocationId` (return of control) or else the `traceId`.
    pub id: Option<String>,
    /// `invocationType` (`ACTION_GROUP`, …).
    pub invocation_type: Option<String>,
    /// `actionGroupName` (Warden: the tool name).
    pub action_group: String,
    pub api_path: Option<String>,
    /// HTTP method (`verb` in the trace, `httpMethod` in return of control).
    pub verb: Option<String>,
    pub function: Option<String>,
    /// Parameter name → value (Bedrock passes every value as a string).
    pub parameters: BTreeMap<String, String>,
    /// The request body as given.
    pub request_body: Option<Value>,
    /// Scalar leaves of the request body: property name (or dotted path) → value.
    pub body_values: BTreeMap<String, String>,
    /// `LAMBDA` or `RETURN_CONTROL`.
    pub execution_type: Option<String>,
}

impl Invocation {
    /// The operation name: the function, else `VERB /path`, else the path, else `?`.
    pub fn operation(&self) -> String {
        match (&self.function, &self.verb, &self.api_path) {
            (Some(f), _, _) => f.clone(),
            (None, Some(v), Some(p)) => format!("{} {p}", v.to_ascii_uppercase()),
            (None, None, Some(p)) => p.clone(),
            _ => "?".to_string(),
        }
    }

    /// Every argument: parameters then body values.
    pub fn arguments(&self) -> impl Iterator<Item = (&str, &str)> {
        self.parameters
            .iter()
            .chain(self.body_values.iter())
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// A parsed trace.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Trace {
    pub steps: Vec<Step>,
    /// How many `TracePart`s were read.
    pub parts: usize,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// ---- top-level reading with part counting ----

/// Reads one top-level value, counting the parts inside a part list so an error can name one.
struct Top<'a> {
    count: &'a mut usize,
}

enum TopValue {
    Parts(Vec<Value>),
    Object(Map<String, Value>),
    Other(Value),
}

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = TopValue;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<TopValue, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = TopValue;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a TracePart object or a list of them")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TopValue, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            out.push(v);
            *self.count += 1;
        }
        Ok(TopValue::Parts(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopValue, A::Error> {
        let mut out = Map::new();
        let mut parts = None;
        while let Some(k) = map.next_key::<String>()? {
            if k == "trace" && parts.is_none() {
                match map.next_value_seed(Top {
                    count: &mut *self.count,
                })? {
                    TopValue::Parts(p) => parts = Some(p),
                    TopValue::Object(o) => {
                        out.insert(k, Value::Object(o));
                    }
                    TopValue::Other(v) => {
                        out.insert(k, v);
                    }
                }
            } else {
                let v = map.next_value::<Value>()?;
                out.insert(k, v);
            }
        }
        Ok(match parts {
            Some(p) => TopValue::Parts(p),
            None => TopValue::Object(out),
        })
    }
    fn visit_str<E>(self, v: &str) -> Result<TopValue, E> {
        Ok(TopValue::Other(Value::String(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<TopValue, E> {
        Ok(TopValue::Other(Value::String(v)))
    }
    fn visit_bool<E>(self, v: bool) -> Result<TopValue, E> {
        Ok(TopValue::Other(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<TopValue, E> {
        Ok(TopValue::Other(Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<TopValue, E> {
        Ok(TopValue::Other(Value::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<TopValue, E> {
        Ok(TopValue::Other(Value::from(v)))
    }
    fn visit_unit<E>(self) -> Result<TopValue, E> {
        Ok(TopValue::Other(Value::Null))
    }
    fn visit_none<E>(self) -> Result<TopValue, E> {
        Ok(TopValue::Other(Value::Null))
    }
}

fn json_error(e: &serde_json::Error, part: usize) -> TraceError {
    TraceError::Json {
        what: if e.is_eof() {
            "is truncated"
        } else {
            "is malformed"
        },
        line: e.line(),
        column: e.column(),
        part,
        message: e.to_string(),
    }
}

/// Parse a trace: one `TracePart` object, an array of them, `{"trace":[…]}`, SDK-style
/// `{"trace": TracePart}` wrappers, bare `Trace` unions, `returnControl` payloads, or JSON lines
/// of any of these. `chunk` events are skipped.
pub fn parse_trace(input: &str) -> Result<Trace, TraceError> {
    let mut de = serde_json::Deserializer::from_str(input);
    let mut parts: Vec<Value> = Vec::new();
    loop {
        // Skip whitespace; stop at end of input.
        match de.end() {
            Ok(()) => break,
            Err(_) => {
                let mut count = 0usize;
                let base = parts.len();
                let v = Top { count: &mut count }
                    .deserialize(&mut de)
                    .map_err(|e| json_error(&e, base + count))?;
                match v {
                    TopValue::Parts(p) => parts.extend(p),
                    TopValue::Object(o) => parts.push(Value::Object(o)),
                    TopValue::Other(v) => {
                        return Err(TraceError::NotAnObject {
                            part: base,
                            found: type_name(&v),
                        })
                    }
                }
            }
        }
    }
    let mut n = Normaliser::default();
    let total = parts.len();
    for (i, p) in parts.into_iter().enumerate() {
        n.part(i, p)?;
    }
    Ok(Trace {
        steps: n.steps,
        parts: total,
    })
}

/// Normalise already-decoded `TracePart` values (e.g. the `trace` member of a larger body).
pub fn steps_from_values(parts: &[Value]) -> Result<Trace, TraceError> {
    let mut n = Normaliser::default();
    for (i, p) in parts.iter().enumerate() {
        n.part(i, p.clone())?;
    }
    Ok(Trace {
        steps: n.steps,
        parts: parts.len(),
    })
}

const UNION_KEYS: &[&str] = &[
    "orchestrationTrace",
    "routingClassifierTrace",
    "preProcessingTrace",
    "postProcessingTrace",
    "guardrailTrace",
    "failureTrace",
    "customOrchestrationTrace",
    "returnControl",
];
/// TracePart members modelled as `Step` fields; the rest (`agentAliasId`, `agentVersion`,
/// `callerChain`, new members) are kept in `Step::extra`.
const META_KEYS: &[&str] = &["agentId", "sessionId", "collaboratorName", "eventTime"];

#[derive(Default, Clone)]
struct Meta {
    part: usize,
    event_time: Option<String>,
    agent_id: Option<String>,
    session_id: Option<String>,
    collaborator: Option<String>,
    extra: Map<String, Value>,
}

#[derive(Default)]
struct Normaliser {
    steps: Vec<Step>,
    /// Step indices of invocations / lookups with no observation yet.
    open: Vec<usize>,
}

struct Ctx<'a> {
    part: usize,
    path: &'a str,
}

impl Ctx<'_> {
    fn field(&self, key: &str, expected: &'static str, found: &Value) -> TraceError {
        TraceError::Field {
            part: self.part,
            path: if self.path.is_empty() {
                key.to_string()
            } else {
                format!("{}.{key}", self.path)
            },
            expected,
            found: type_name(found),
        }
    }
    /// A string member; scalars are converted, null/missing is `None`.
    fn str(&self, obj: &Map<String, Value>, key: &str) -> Result<Option<String>, TraceError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
            Some(v) => Err(self.field(key, "a string", v)),
        }
    }
    fn obj<'v>(
        &self,
        obj: &'v Map<String, Value>,
        key: &str,
    ) -> Result<Option<&'v Map<String, Value>>, TraceError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(o)) => Ok(Some(o)),
            Some(v) => Err(self.field(key, "an object", v)),
        }
    }
    fn sub<'p>(&self, path: &'p str) -> Ctx<'p> {
        Ctx {
            part: self.part,
            path,
        }
    }
}

fn scalar_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `[{name,type,value}]` (or a `{name: value}` map) → name → value.
fn parameter_list(
    cx: &Ctx,
    key: &str,
    v: &Value,
    out: &mut BTreeMap<String, String>,
) -> Result<(), TraceError> {
    match v {
        Value::Null => Ok(()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let Value::Object(o) = item else {
                    return Err(cx.field(&format!("{key}[{i}]"), "an object", item));
                };
                let name = match o.get("name") {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) if !other.is_object() && !other.is_array() => scalar_string(other),
                    Some(other) => {
                        return Err(cx.field(&format!("{key}[{i}].name"), "a string", other))
                    }
                    None => format!("#{i}"),
                };
                out.insert(name, o.get("value").map(scalar_string).unwrap_or_default());
            }
            Ok(())
        }
        Value::Object(m) => {
            for (k, v) in m {
                out.insert(k.clone(), scalar_string(v));
            }
            Ok(())
        }
        other => Err(cx.field(key, "an array of parameters", other)),
    }
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&p, v, out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        Value::Null => {}
        other => {
            out.insert(prefix.to_string(), scalar_string(other));
        }
    }
}

/// Body values from `{content:{mediaType: [params] | {properties:[params]} | any JSON}}`.
fn body_values(
    cx: &Ctx,
    body: &Value,
    out: &mut BTreeMap<String, String>,
) -> Result<(), TraceError> {
    let Value::Object(b) = body else {
        flatten("", body, out);
        return Ok(());
    };
    let Some(content) = b.get("content") else {
        flatten("", body, out);
        return Ok(());
    };
    let Value::Object(content) = content else {
        return Err(cx.field("requestBody.content", "an object", content));
    };
    for media in content.values() {
        match media {
            Value::Array(_) => parameter_list(cx, "requestBody.content", media, out)?,
            Value::Object(o) if o.get("properties").is_some_and(Value::is_array) => {
                parameter_list(cx, "requestBody.content.properties", &o["properties"], out)?
            }
            other => flatten("", other, out),
        }
    }
    Ok(())
}

impl Normaliser {
    fn push(
        &mut self,
        meta: &Meta,
        trace_id: Option<String>,
        kind: StepKind,
        extra: Map<String, Value>,
    ) -> usize {
        let mut all = meta.extra.clone();
        all.extend(extra);
        self.steps.push(Step {
            part: meta.part,
            trace_id,
            event_time: meta.event_time.clone(),
            agent_id: meta.agent_id.clone(),
            session_id: meta.session_id.clone(),
            collaborator: meta.collaborator.clone(),
            kind,
            extra: all,
        });
        self.steps.len() - 1
    }

    fn part(&mut self, idx: usize, v: Value) -> Result<(), TraceError> {
        let Value::Object(mut obj) = v else {
            return Err(TraceError::NotAnObject {
                part: idx,
                found: type_name(&v),
            });
        };
        // SDK view: {"trace": TracePart} / {"chunk": …} / {"returnControl": …}.
        if obj.len() == 1 {
            if let Some(Value::Object(inner)) = obj.get("trace") {
                if inner.get("trace").is_some_and(Value::is_object)
                    || inner.contains_key("agentId")
                    || inner.contains_key("sessionId")
                {
                    if let Some(Value::Object(inner)) = obj.remove("trace") {
                        obj = inner;
                    }
                }
            }
            if obj.contains_key("chunk") {
                return Ok(());
            }
        }
        let cx = Ctx {
            part: idx,
            path: "",
        };
        let mut meta = Meta {
            part: idx,
            ..Meta::default()
        };
        let union: Map<String, Value>;
        if let Some(t) = obj.get("trace") {
            let Value::Object(t) = t else {
                return Err(cx.field("trace", "an object", t));
            };
            union = t.clone();
            meta.event_time = cx.str(&obj, "eventTime")?;
            meta.agent_id = cx.str(&obj, "agentId")?;
            meta.session_id = cx.str(&obj, "sessionId")?;
            meta.collaborator = cx.str(&obj, "collaboratorName")?;
            for (k, v) in &obj {
                if k != "trace" && !META_KEYS.contains(&k.as_str()) {
                    meta.extra.insert(k.clone(), v.clone());
                }
            }
        } else if obj.keys().any(|k| UNION_KEYS.contains(&k.as_str())) {
            union = obj;
        } else if obj.contains_key("invocationInputs") {
            return self.return_control(&meta, &Value::Object(obj), &cx);
        } else {
            self.push(
                &meta,
                None,
                StepKind::Unknown {
                    kind: "part".into(),
                    raw: Value::Object(obj),
                },
                Map::new(),
            );
            return Ok(());
        }
        for (key, val) in &union {
            let sub = cx.sub(key);
            match key.as_str() {
                "orchestrationTrace" | "routingClassifierTrace" => {
                    let Value::Object(o) = val else {
                        return Err(cx.field(key, "an object", val));
                    };
                    self.orchestration(&meta, o, &sub)?;
                }
                "preProcessingTrace" | "postProcessingTrace" => {
                    let Value::Object(o) = val else {
                        return Err(cx.field(key, "an object", val));
                    };
                    self.pre_post(&meta, o, &sub, key == "postProcessingTrace")?;
                }
                "guardrailTrace" => {
                    let Value::Object(o) = val else {
                        return Err(cx.field(key, "an object", val));
                    };
                    let action = sub.str(o, "action")?.unwrap_or_default();
                    self.push(
                        &meta,
                        sub.str(o, "traceId")?,
                        StepKind::Guardrail {
                            intervened: action.eq_ignore_ascii_case("INTERVENED")
                                || action.eq_ignore_ascii_case("GUARDRAIL_INTERVENED"),
                            action,
                            raw: val.clone(),
                        },
                        Map::new(),
                    );
                }
                "failureTrace" => {
                    let Value::Object(o) = val else {
                        return Err(cx.field(key, "an object", val));
                    };
                    let code = match o.get("failureCode") {
                        None | Some(Value::Null) => None,
                        Some(Value::Number(n)) => n.as_i64(),
                        Some(Value::String(s)) => s.trim().parse().ok(),
                        Some(other) => return Err(sub.field("failureCode", "an integer", other)),
                    };
                    let extra = rest(o, &["traceId", "failureCode", "failureReason"]);
                    self.push(
                        &meta,
                        sub.str(o, "traceId")?,
                        StepKind::Failure {
                            code,
                            reason: sub.str(o, "failureReason")?.unwrap_or_default(),
                        },
                        extra,
                    );
                }
                "returnControl" => self.return_control(&meta, val, &sub)?,
                _ => {
                    let trace_id = val
                        .get("traceId")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    self.push(
                        &meta,
                        trace_id,
                        StepKind::Unknown {
                            kind: key.clone(),
                            raw: val.clone(),
                        },
                        Map::new(),
                    );
                }
            }
        }
        Ok(())
    }

    fn pre_post(
        &mut self,
        meta: &Meta,
        o: &Map<String, Value>,
        cx: &Ctx,
        post: bool,
    ) -> Result<(), TraceError> {
        for (key, val) in o {
            let Value::Object(m) = val else {
                return Err(cx.field(key, "an object", val));
            };
            let trace_id = cx.str(m, "traceId")?;
            match key.as_str() {
                "modelInvocationInput" => {
                    let pt = cx.str(m, "type")?;
                    self.push(
                        meta,
                        trace_id,
                        StepKind::ModelInvocation {
                            phase: ModelPhase::Input,
                            prompt_type: pt,
                            raw: val.clone(),
                        },
                        Map::new(),
                    );
                }
                "modelInvocationOutput" => {
                    let path = format!("{}.{key}", cx.path);
                    let mcx = cx.sub(&path);
                    let parsed = mcx.obj(m, "parsedResponse")?;
                    self.push(
                        meta,
                        trace_id.clone(),
                        StepKind::ModelInvocation {
                            phase: ModelPhase::Output,
                            prompt_type: Some(
                                if post {
                                    "POST_PROCESSING"
                                } else {
                                    "PRE_PROCESSING"
                                }
                                .into(),
                            ),
                            raw: val.clone(),
                        },
                        Map::new(),
                    );
                    if let Some(p) = parsed {
                        let pcx_path = format!("{path}.parsedResponse");
                        let pcx = cx.sub(&pcx_path);
                        if post {
                            if let Some(text) = pcx.str(p, "text")? {
                                self.push(
                                    meta,
                                    trace_id,
                                    StepKind::FinalResponse { text },
                                    Map::new(),
                                );
                            }
                        } else if let Some(text) = pcx.str(p, "rationale")? {
                            self.push(meta, trace_id, StepKind::Rationale { text }, Map::new());
                        }
                    }
                }
                _ => {
                    self.push(
                        meta,
                        trace_id,
                        StepKind::Unknown {
                            kind: format!("{}.{key}", cx.path),
                            raw: val.clone(),
                        },
                        Map::new(),
                    );
                }
            }
        }
        Ok(())
    }

    fn orchestration(
        &mut self,
        meta: &Meta,
        o: &Map<String, Value>,
        cx: &Ctx,
    ) -> Result<(), TraceError> {
        for (key, val) in o {
            let Value::Object(m) = val else {
                return Err(cx.field(key, "an object", val));
            };
            let path = format!("{}.{key}", cx.path);
            let mcx = cx.sub(&path);
            let trace_id = mcx.str(m, "traceId")?;
            match key.as_str() {
                "rationale" => {
                    let text = mcx.str(m, "text")?.unwrap_or_default();
                    self.push(
                        meta,
                        trace_id,
                        StepKind::Rationale { text },
                        rest(m, &["traceId", "text"]),
                    );
                }
                "invocationInput" => self.invocation_input(meta, m, &mcx, trace_id)?,
                "observation" => self.observation(meta, m, &mcx, trace_id)?,
                "modelInvocationInput" | "modelInvocationOutput" => {
                    let phase = if key == "modelInvocationInput" {
                        ModelPhase::Input
                    } else {
                        ModelPhase::Output
                    };
                    let pt = mcx.str(m, "type")?;
                    self.push(
                        meta,
                        trace_id,
                        StepKind::ModelInvocation {
                            phase,
                            prompt_type: pt,
                            raw: val.clone(),
                        },
                        Map::new(),
                    );
                }
                _ => {
                    self.push(
                        meta,
                        trace_id,
                        StepKind::Unknown {
                            kind: path.clone(),
                            raw: val.clone(),
                        },
                        Map::new(),
                    );
                }
            }
        }
        Ok(())
    }

    fn invocation_input(
        &mut self,
        meta: &Meta,
        m: &Map<String, Value>,
        cx: &Ctx,
        trace_id: Option<String>,
    ) -> Result<(), TraceError> {
        let invocation_type = cx.str(m, "invocationType")?;
        let mut extra = rest(
            m,
            &[
                "traceId",
                "invocationType",
                "actionGroupInvocationInput",
                "knowledgeBaseLookupInput",
                "codeInterpreterInvocationInput",
                "agentCollaboratorInvocationInput",
            ],
        );
        if let Some(ag) = cx.obj(m, "actionGroupInvocationInput")? {
            let path = format!("{}.actionGroupInvocationInput", cx.path);
            let acx = cx.sub(&path);
            let mut inv = Invocation {
                id: acx.str(ag, "invocationId")?.or_else(|| trace_id.clone()),
                invocation_type,
                action_group: acx.str(ag, "actionGroupName")?.unwrap_or_default(),
                api_path: acx.str(ag, "apiPath")?,
                verb: acx.str(ag, "verb")?,
                function: acx.str(ag, "function")?,
                execution_type: acx.str(ag, "executionType")?,
                ..Invocation::default()
            };
            if let Some(p) = ag.get("parameters") {
                parameter_list(&acx, "parameters", p, &mut inv.parameters)?;
            }
            if let Some(b) = ag.get("requestBody").filter(|b| !b.is_null()) {
                body_values(&acx, b, &mut inv.body_values)?;
                inv.request_body = Some(b.clone());
            }
            extra.extend(rest(
                ag,
                &[
                    "invocationId",
                    "actionGroupName",
                    "apiPath",
                    "verb",
                    "function",
                    "executionType",
                    "parameters",
                    "requestBody",
                ],
            ));
            let i = self.push(meta, trace_id, StepKind::Invocation(inv), extra);
            self.open.push(i);
        } else if let Some(kb) = cx.obj(m, "knowledgeBaseLookupInput")? {
            let path = format!("{}.knowledgeBaseLookupInput", cx.path);
            let kcx = cx.sub(&path);
            let i = self.push(
                meta,
                trace_id,
                StepKind::KnowledgeBaseLookup {
                    knowledge_base_id: kcx.str(kb, "knowledgeBaseId")?,
                    text: kcx.str(kb, "text")?.unwrap_or_default(),
                },
                extra,
            );
            self.open.push(i);
        } else if let Some(ci) = cx.obj(m, "codeInterpreterInvocationInput")? {
            let path = format!("{}.codeInterpreterInvocationInput", cx.path);
            let ccx = cx.sub(&path);
            let files = match ci.get("files") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a.iter().map(scalar_string).collect(),
                Some(other) => return Err(ccx.field("files", "an array", other)),
            };
            let i = self.push(
                meta,
                trace_id,
                StepKind::CodeInterpreter {
                    code: ccx.str(ci, "code")?.unwrap_or_default(),
                    files,
                },
                extra,
            );
            self.open.push(i);
        } else if let Some(co) = cx.obj(m, "agentCollaboratorInvocationInput")? {
            let path = format!("{}.agentCollaboratorInvocationInput", cx.path);
            let ccx = cx.sub(&path);
            let text = match ccx.obj(co, "input")? {
                Some(input) => ccx.str(input, "text")?,
                None => None,
            };
            let i = self.push(
                meta,
                trace_id,
                StepKind::CollaboratorInvocation {
                    name: ccx.str(co, "agentCollaboratorName")?,
                    text,
                },
                extra,
            );
            self.open.push(i);
        } else {
            self.push(
                meta,
                trace_id,
                StepKind::Unknown {
                    kind: cx.path.to_string(),
                    raw: Value::Object(m.clone()),
                },
                Map::new(),
            );
        }
        Ok(())
    }

    /// Which open invocation an output of `source` belongs to: same trace id first, else latest.
    fn close(&mut self, source: ObservationSource, trace_id: Option<&str>) -> Option<usize> {
        let fits = |k: &StepKind| match source {
            ObservationSource::ActionGroup => matches!(k, StepKind::Invocation(_)),
            ObservationSource::KnowledgeBase => matches!(k, StepKind::KnowledgeBaseLookup { .. }),
            ObservationSource::CodeInterpreter => matches!(k, StepKind::CodeInterpreter { .. }),
            ObservationSource::AgentCollaborator => {
                matches!(k, StepKind::CollaboratorInvocation { .. })
            }
        };
        let steps = &self.steps;
        let pos = self
            .open
            .iter()
            .rposition(|&i| {
                fits(&steps[i].kind)
                    && trace_id.is_some()
                    && steps[i].trace_id.as_deref() == trace_id
            })
            .or_else(|| self.open.iter().rposition(|&i| fits(&steps[i].kind)))?;
        Some(self.open.remove(pos))
    }

    fn observation(
        &mut self,
        meta: &Meta,
        m: &Map<String, Value>,
        cx: &Ctx,
        trace_id: Option<String>,
    ) -> Result<(), TraceError> {
        let known = [
            "traceId",
            "type",
            "actionGroupInvocationOutput",
            "knowledgeBaseLookupOutput",
            "codeInterpreterInvocationOutput",
            "agentCollaboratorInvocationOutput",
            "finalResponse",
            "repromptResponse",
        ];
        let mut extra = rest(m, &known);
        if let Some(t) = cx.str(m, "type")? {
            extra.insert("type".into(), Value::String(t));
        }
        let mut produced = false;
        if let Some(o) = cx.obj(m, "actionGroupInvocationOutput")? {
            let path = format!("{}.actionGroupInvocationOutput", cx.path);
            let output = cx.sub(&path).str(o, "text")?.unwrap_or_default();
            let of = self.close(ObservationSource::ActionGroup, trace_id.as_deref());
            self.push(
                meta,
                trace_id.clone(),
                StepKind::Observation {
                    of,
                    source: ObservationSource::ActionGroup,
                    output,
                },
                extra.clone(),
            );
            produced = true;
        }
        if let Some(o) = cx.obj(m, "knowledgeBaseLookupOutput")? {
            let mut texts = Vec::new();
            if let Some(Value::Array(refs)) = o.get("retrievedReferences") {
                for r in refs {
                    if let Some(t) = r.pointer("/content/text").and_then(Value::as_str) {
                        texts.push(t.to_string());
                    }
                }
            }
            let of = self.close(ObservationSource::KnowledgeBase, trace_id.as_deref());
            self.push(
                meta,
                trace_id.clone(),
                StepKind::Observation {
                    of,
                    source: ObservationSource::KnowledgeBase,
                    output: texts.join("\n"),
                },
                extra.clone(),
            );
            produced = true;
        }
        if let Some(o) = cx.obj(m, "codeInterpreterInvocationOutput")? {
            let path = format!("{}.codeInterpreterInvocationOutput", cx.path);
            let ccx = cx.sub(&path);
            let mut output = ccx.str(o, "executionOutput")?.unwrap_or_default();
            if let Some(e) = ccx.str(o, "executionError")? {
                if !output.is_empty() {
                    output.push('\n');
                }
                output.push_str(&e);
            }
            let of = self.close(ObservationSource::CodeInterpreter, trace_id.as_deref());
            self.push(
                meta,
                trace_id.clone(),
                StepKind::Observation {
                    of,
                    source: ObservationSource::CodeInterpreter,
                    output,
                },
                extra.clone(),
            );
            produced = true;
        }
        if let Some(o) = cx.obj(m, "agentCollaboratorInvocationOutput")? {
            let output = o
                .get("output")
                .and_then(|x| x.get("text"))
                .map(scalar_string)
                .unwrap_or_default();
            let of = self.close(ObservationSource::AgentCollaborator, trace_id.as_deref());
            self.push(
                meta,
                trace_id.clone(),
                StepKind::Observation {
                    of,
                    source: ObservationSource::AgentCollaborator,
                    output,
                },
                extra.clone(),
            );
            produced = true;
        }
        if let Some(o) = cx.obj(m, "finalResponse")? {
            let path = format!("{}.finalResponse", cx.path);
            let text = cx.sub(&path).str(o, "text")?.unwrap_or_default();
            self.push(
                meta,
                trace_id.clone(),
                StepKind::FinalResponse { text },
                extra.clone(),
            );
            produced = true;
        }
        if let Some(o) = cx.obj(m, "repromptResponse")? {
            let path = format!("{}.repromptResponse", cx.path);
            let rcx = cx.sub(&path);
            let step = StepKind::Reprompt {
                text: rcx.str(o, "text")?.unwrap_or_default(),
                source: rcx.str(o, "source")?,
            };
            self.push(meta, trace_id.clone(), step, extra.clone());
            produced = true;
        }
        if !produced {
            self.push(
                meta,
                trace_id,
                StepKind::Unknown {
                    kind: cx.path.to_string(),
                    raw: Value::Object(m.clone()),
                },
                Map::new(),
            );
        }
        Ok(())
    }

    /// `returnControl`: `{invocationId, invocationInputs:[{apiInvocationInput|functionInvocationInput}]}`.
    fn return_control(&mut self, meta: &Meta, v: &Value, cx: &Ctx) -> Result<(), TraceError> {
        let Value::Object(m) = v else {
            return Err(cx.field("returnControl", "an object", v));
        };
        let id = cx.str(m, "invocationId")?;
        let inputs = match m.get("invocationInputs") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(other) => return Err(cx.field("invocationInputs", "an array", other)),
        };
        for (i, item) in inputs.iter().enumerate() {
            let path = format!("{}.invocationInputs[{i}]", cx.path);
            let icx = cx.sub(&path);
            let Value::Object(item) = item else {
                return Err(cx.field(&format!("invocationInputs[{i}]"), "an object", item));
            };
            let (member, body) = if let Some(a) = icx.obj(item, "apiInvocationInput")? {
                ("apiInvocationInput", a)
            } else if let Some(f) = icx.obj(item, "functionInvocationInput")? {
                ("functionInvocationInput", f)
            } else {
                self.push(
                    meta,
                    id.clone(),
                    StepKind::Unknown {
                        kind: path.clone(),
                        raw: Value::Object(item.clone()),
                    },
                    Map::new(),
                );
                continue;
            };
            let bpath = format!("{path}.{member}");
            let bcx = cx.sub(&bpath);
            let mut inv = Invocation {
                id: id.clone(),
                invocation_type: Some("ACTION_GROUP".into()),
                action_group: bcx.str(body, "actionGroup")?.unwrap_or_default(),
                api_path: bcx.str(body, "apiPath")?,
                verb: bcx.str(body, "httpMethod")?,
                function: bcx.str(body, "function")?,
                execution_type: Some("RETURN_CONTROL".into()),
                ..Invocation::default()
            };
            if let Some(p) = body.get("parameters") {
                parameter_list(&bcx, "parameters", p, &mut inv.parameters)?;
            }
            if let Some(b) = body.get("requestBody").filter(|b| !b.is_null()) {
                body_values(&bcx, b, &mut inv.body_values)?;
                inv.request_body = Some(b.clone());
            }
            let extra = rest(
                body,
                &[
                    "actionGroup",
                    "apiPath",
                    "httpMethod",
                    "function",
                    "parameters",
                    "requestBody",
                ],
            );
            let s = self.push(meta, id.clone(), StepKind::Invocation(inv), extra);
            self.open.push(s);
        }
        Ok(())
    }
}

/// The members of `m` not in `known`.
fn rest(m: &Map<String, Value>, known: &[&str]) -> Map<String, Value> {
    m.iter()
        .filter(|(k, _)| !known.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
