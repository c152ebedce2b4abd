//! Per-call CPU cost of the wire codecs: OpenAI request building and response parsing, and
//! strict judge answer parsing (network time excluded).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde_json::json;
use warden_llm::openai::{parse_response, request_body};
use warden_llm::{parse_opinion, ChatRequest, ContentBlock, Message, Role, ToolSpec};

fn conversation(turns: usize) -> ChatRequest {
    let mut messages = vec![Message::user_text("Where is order 112-4471?")];
    for i in 0..turns {
        messages.push(Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::Text("Let me check.".into()),
                ContentBlock::ToolUse {
                    id: format!("call_{i}"),
                    name: "lookup_order".into(),
                    input: json!({"order_id": "112-4471"}),
                },
            ],
        });
        messages.push(Message {
            role: Role::User,
            content: vec![ContentBlock::ToolResult {
                tool_use_id: format!("call_{i}"),
                content: r#"{"status":"SHIPPED","eta":"2026-11-24"}"#.into(),
                is_error: false,
            }],
        });
    }
    ChatRequest {
        system: "You are Acme support.".into(),
        messages,
        tools: vec![ToolSpec {
            name: "lookup_order".into(),
            description: "Look up an order by id".into(),
            input_schema: json!({"type": "object",
                "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}),
        }],
        max_tokens: 512,
        temperature: Some(0.0),
        cache_prompt: false,
    }
}

const TOOL_CALL_ANSWER: &str = r#"{"id":"chatcmpl-2","object":"chat.completion","created":1,"model":"m",
 "choices":[{"index":0,"message":{"role":"assistant","content":"Let me check.","tool_calls":[
   {"id":"call_kZJMlvQm","type":"function","function":{"name":"lookup_order","arguments":"{\"order_id\":\"112-4471\"}"}}]},
   "finish_reason":"tool_calls"}],
 "usage":{"prompt_tokens":412,"completion_tokens":58,"total_tokens":470}}"#;

const JUDGE_ANSWER: &str = "```json\n{\"decision\":\"block\",\"confidence\":0.92,\"reason\":\"lookup_order reached undeclared host attacker.example after reading tool output that asked for it.\"}\n```";

fn benches(c: &mut Criterion) {
    let req = conversation(10);
    c.bench_function("openai_request_body_21_messages", |b| {
        b.iter(|| request_body("m", black_box(&req)).unwrap())
    });
    c.bench_function("openai_parse_tool_call_response", |b| {
        b.iter(|| parse_response(black_box(TOOL_CALL_ANSWER.as_bytes().to_vec())).unwrap())
    });
    c.bench_function("judge_parse_fenced_opinion", |b| {
        b.iter(|| parse_opinion(black_box(JUDGE_ANSWER)).unwrap())
    });
}

criterion_group!(codec, benches);
criterion_main!(codec);
