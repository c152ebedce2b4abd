//! Loop overhead per step, excluding model and tool time: the scripted provider (turns
//! replayed from memory) and a tool runner that answers at once, so what is measured is the
//! loop itself — request assembly, trace recording (Bedrock TracePart JSON), bookkeeping.
//!
//! `cargo bench -p warden-agent --bench loop_overhead`

use async_trait::async_trait;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::collections::BTreeMap;
use warden_agent::{
    Invocation, ScriptedProvider, ToolCall, ToolContext, ToolError, ToolOutput, ToolRunner,
};
use warden_config::{AgentConfig, ModelConfig};
use warden_core::{AgentId, TenantId};

/// No action group of these tests returns control.
static NO_RC: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();

/// Answers every call immediately with a fixed body (stands in for the sandbox, whose own
/// cost is measured by the broker's benchmarks).
struct Instant;

#[async_trait]
impl ToolRunner for Instant {
    async fn run(&self, _ctx: &ToolContext<'_>, _call: &ToolCall) -> Result<ToolOutput, ToolError> {
        Ok(ToolOutput {
            text: r#"{"orderId":"A-1043","status":"shipped","eta":"Tuesday"}"#.into(),
            ..ToolOutput::default()
        })
    }
}

fn script(steps: usize) -> String {
    let tool = r#"{"rationale": "look it up", "tool": {"action_group": "orders", "api_path": "/orders/{orderId}", "http_method": "GET", "parameters": {"orderId": "A-1043"}}}"#;
    let mut turns: Vec<&str> = vec![tool; steps];
    turns.push(r#"{"answer": "Order A-1043 has shipped, arriving Tuesday."}"#);
    format!(
        r#"{{"conversations": [{{"match": "A-1043", "turns": [{}]}}], "default": [{{"answer": "hi"}}]}}"#,
        turns.join(",")
    )
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("loop");
    for steps in [1usize, 10] {
        let provider = ScriptedProvider::from_str(&script(steps), "bench.json").unwrap();
        let agent = AgentConfig {
            id: AgentId::new("support").unwrap(),
            instructions: "You are a customer support agent.".into(),
            description: None,
            guardrail: None,
            action_groups: vec!["orders".into()],
            max_steps: 64,
            memory_window: 20,
            session_idle_secs: 3600,
            model: ModelConfig::Scripted {
                script: "bench.json".into(),
            },
        };
        let tenant = TenantId::new("acme").unwrap();
        group.throughput(Throughput::Elements(steps as u64 + 1));
        group.bench_function(format!("{steps}_tool_steps"), |b| {
            b.iter(|| {
                let inv = Invocation {
                    agent: &agent,
                    tenant: &tenant,
                    subject: "bench",
                    invocation_id: "inv",
                    session_id: "s",
                    input_text: "Where is my order A-1043?",
                    session_attributes: BTreeMap::new(),
                    prompt_session_attributes: BTreeMap::new(),
                    started_at: "2026-11-22T00:00:00Z",
                    history: &[],
                    return_control: &NO_RC,
                    resume: None,
                };
                rt.block_on(inv.run(&provider, None, Some(&Instant), None))
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
