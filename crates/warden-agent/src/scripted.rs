//! The scripted model provider: replays model turns from a JSON file. Used by tests and the
//! demo; every trace it produces names it (`foundationModel: "scripted:<file>"`).
//!
//! ```json
//! {
//!   "conversations": [
//!     {"match": "A-1043", "turns": [
//!       {"rationale": "Look the order up.", "tool": {"action_group": "orders",
//!         "api_path": "/orders/{orderId}", "http_method": "GET", "parameters": {"orderId": "A-1043"}}},
//!       {"answer": "Order A-1043 has shipped, arriving Tuesday."}
//!     ]}
//!   ],
//!   "default": [{"answer": "How can I help you with your order?"}]
//! }
//! ```
//! A conversation is chosen by the first `match` found (case-insensitively) in the user's
//! input, else `default`; turn *n* of the invocation is the conversation's turn *n*.

use crate::provider::*;
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptFile {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    conversations: Vec<ConversationFile>,
    default: Vec<TurnFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConversationFile {
    #[serde(rename = "match")]
    pattern: String,
    turns: Vec<TurnFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TurnFile {
    rationale: Option<String>,
    answer: Option<String>,
    tool: Option<ToolFile>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolFile {
    action_group: String,
    api_path: Option<String>,
    http_method: Option<String>,
    function: Option<String>,
    #[serde(default)]
    parameters: BTreeMap<String, String>,
    request_body: Option<Value>,
}

/// Why a script cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ScriptError {
    pub file: String,
    pub message: String,
}

/// A validated script.
#[derive(Debug)]
pub struct ScriptedProvider {
    name: String,
    conversations: Vec<(String, Vec<ModelTurn>)>,
    default: Vec<ModelTurn>,
}

fn estimate_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4).max(1)
}

impl ScriptedProvider {
    pub fn from_file(path: &Path) -> Result<Self, ScriptError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ScriptError {
            file: file.clone(),
            message: format!("cannot read script: {e}"),
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| file.clone());
        Self::from_str(&text, &name).map_err(|message| ScriptError { file, message })
    }

    /// Parses and validates a script; `name` is shown in traces.
    pub fn from_str(text: &str, name: &str) -> Result<Self, String> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let script: ScriptFile = serde_path_to_error_lite(de)?;
        let _ = script.description;
        let mut problems = Vec::new();
        let convert = |problems: &mut Vec<String>,
                       at: String,
                       turns: Vec<TurnFile>|
         -> Vec<ModelTurn> {
            if turns.is_empty() {
                problems.push(format!("{at}: has no turns"));
            }
            let n = turns.len();
            let mut out = Vec::with_capacity(n);
            for (i, t) in turns.into_iter().enumerate() {
                let here = format!("{at}[{i}]");
                let action = match (t.answer, t.tool) {
                    (Some(a), None) => TurnAction::Answer(a),
                    (None, Some(tool)) => {
                        if tool.api_path.is_some() != tool.http_method.is_some() {
                            problems.push(format!(
                                "{here}.tool: `api_path` and `http_method` go together"
                            ));
                        }
                        if tool.api_path.is_some() == tool.function.is_some() {
                            problems.push(format!(
                                "{here}.tool: exactly one of `api_path` or `function` is required"
                            ));
                        }
                        TurnAction::Tool(ToolCall {
                            action_group: tool.action_group,
                            api_path: tool.api_path,
                            http_method: tool.http_method.map(|m| m.to_ascii_uppercase()),
                            function: tool.function,
                            parameters: tool.parameters.into_iter().collect(),
                            request_body: tool.request_body,
                        })
                    }
                    _ => {
                        problems.push(format!(
                            "{here}: exactly one of `answer` or `tool` is required"
                        ));
                        continue;
                    }
                };
                if i + 1 == n && !matches!(action, TurnAction::Answer(_)) {
                    problems.push(format!("{here}: the last turn must be an `answer`"));
                }
                let raw = match &action {
                    TurnAction::Answer(a) => serde_json::json!({"answer": a}).to_string(),
                    TurnAction::Tool(c) => serde_json::json!({"tool_use": {
                        "action_group": c.action_group, "api_path": c.api_path, "http_method": c.http_method,
                        "function": c.function, "parameters": c.parameters.iter().cloned().collect::<BTreeMap<_, _>>()}})
                    .to_string(),
                };
                let usage = Usage {
                    input_tokens: t.input_tokens.unwrap_or(0),
                    output_tokens: t.output_tokens.unwrap_or_else(|| estimate_tokens(&raw)),
                };
                out.push(ModelTurn {
                    rationale: t.rationale,
                    action,
                    usage,
                    raw,
                });
            }
            out
        };
        let mut conversations = Vec::new();
        for (i, c) in script.conversations.into_iter().enumerate() {
            let turns = convert(&mut problems, format!("conversations[{i}].turns"), c.turns);
            if c.pattern.trim().is_empty() {
                problems.push(format!("conversations[{i}].match: must not be empty"));
            }
            conversations.push((c.pattern.to_lowercase(), turns));
        }
        let default = convert(&mut problems, "default".into(), script.default);
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok(ScriptedProvider {
            name: format!("scripted:{name}"),
            conversations,
            default,
        })
    }

    fn conversation(&self, input: &str) -> &[ModelTurn] {
        let input = input.to_lowercase();
        self.conversations
            .iter()
            .find(|(pattern, _)| input.contains(pattern.as_str()))
            .map(|(_, turns)| turns.as_slice())
            .unwrap_or(&self.default)
    }
}

fn serde_path_to_error_lite(
    de: &mut serde_json::Deserializer<serde_json::de::StrRead<'_>>,
) -> Result<ScriptFile, String> {
    ScriptFile::deserialize(de).map_err(|e| format!("invalid script: {e}"))
}

#[async_trait]
impl ModelProvider for ScriptedProvider {
    fn model_name(&self) -> &str {
        &self.name
    }

    async fn next_turn(&self, req: &ModelRequest<'_>) -> Result<ModelTurn, ModelError> {
        let turns = self.conversation(req.input_text);
        let mut turn = turns.get(req.steps.len()).cloned().ok_or_else(|| {
            ModelError::InvalidResponse(format!(
                "script has no turn {} for this conversation",
                req.steps.len() + 1
            ))
        })?;
        if turn.usage.input_tokens == 0 {
            let prompt = req.instructions.len()
                + req.input_text.len()
                + req.steps.iter().map(|(_, out)| out.len()).sum::<usize>();
            turn.usage.input_tokens = (prompt as u64).div_ceil(4).max(1);
        }
        Ok(turn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = r#"{
      "conversations": [{"match": "A-1043", "turns": [
        {"rationale": "look it up", "tool": {"action_group": "orders", "api_path": "/orders/{orderId}", "http_method": "get", "parameters": {"orderId": "A-1043"}}},
        {"answer": "Order A-1043 has shipped."}
      ]}],
      "default": [{"answer": "Hello"}]
    }"#;

    #[tokio::test]
    async fn picks_conversation_and_turn() {
        let p = ScriptedProvider::from_str(SCRIPT, "s.json").unwrap();
        assert_eq!(p.model_name(), "scripted:s.json");
        let req = ModelRequest {
            instructions: "i",
            history: &[],
            input_text: "where is a-1043?",
            steps: &[],
        };
        let t = p.next_turn(&req).await.unwrap();
        let TurnAction::Tool(call) = &t.action else {
            panic!("expected tool")
        };
        assert_eq!(call.http_method.as_deref(), Some("GET"));
        let steps = vec![(call.clone(), "{}".to_string())];
        let req = ModelRequest {
            instructions: "i",
            history: &[],
            input_text: "where is a-1043?",
            steps: &steps,
        };
        assert_eq!(
            p.next_turn(&req).await.unwrap().action,
            TurnAction::Answer("Order A-1043 has shipped.".into())
        );
        let req = ModelRequest {
            instructions: "i",
            history: &[],
            input_text: "hi",
            steps: &[],
        };
        assert_eq!(
            p.next_turn(&req).await.unwrap().action,
            TurnAction::Answer("Hello".into())
        );
    }

    #[test]
    fn bad_scripts_get_precise_errors() {
        let err =
            ScriptedProvider::from_str(r#"{"default": [{"rationale": "x"}]}"#, "s").unwrap_err();
        assert!(
            err.contains("default[0]: exactly one of `answer` or `tool`"),
            "{err}"
        );
        let err = ScriptedProvider::from_str(
            r#"{"default": [{"tool": {"action_group": "a", "function": "f"}}]}"#,
            "s",
        )
        .unwrap_err();
        assert!(
            err.contains("default[0]: the last turn must be an `answer`"),
            "{err}"
        );
        let err = ScriptedProvider::from_str(r#"{"default": [], "extra": 1}"#, "s").unwrap_err();
        assert!(err.contains("unknown field `extra`"), "{err}");
        let err = ScriptedProvider::from_str("not json", "s").unwrap_err();
        assert!(err.starts_with("invalid script"), "{err}");
    }
}
