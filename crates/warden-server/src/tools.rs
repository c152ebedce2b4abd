//! The tool broker seen from the server: the agent loop's [`ToolRunner`], the detector's tool
//! manifests, and the verdict assembled from front-door, guard, broker and detector signals.

use crate::detection::DetectorSetup;
use async_trait::async_trait;
use std::sync::Arc;
use warden_agent::{ToolCall, ToolContext, ToolError, ToolOutput, ToolRunner};
use warden_broker::lambda::AgentRef;
use warden_broker::{Broker, ToolRequest};
use warden_core::egress::Observation;
use warden_core::Reason;
use warden_detect::{Effect, ObservationMode, Operation, ToolInfo};
use warden_policy::{CallRequest, Caller, Catalog};

/// Runs the agent's action-group calls through the broker for one authenticated caller.
#[derive(Debug)]
pub struct BrokerRunner {
    pub broker: Arc<Broker>,
    pub caller: Caller,
}

pub fn agent_ref(agent_id: &str) -> AgentRef {
    AgentRef {
        name: agent_id.to_string(),
        id: agent_id.to_string(),
        alias: warden_agent::DRAFT_ALIAS.to_string(),
        version: "DRAFT".into(),
    }
}

#[async_trait]
impl ToolRunner for BrokerRunner {
    async fn run(&self, ctx: &ToolContext<'_>, call: &ToolCall) -> Result<ToolOutput, ToolError> {
        let req = ToolRequest {
            caller: self.caller.clone(),
            tenant: ctx.tenant.clone(),
            agent: agent_ref(ctx.agent_id),
            session_id: ctx.session_id.to_string(),
            invocation_id: ctx.invocation_id.to_string(),
            input_text: ctx.input_text.to_string(),
            session_attributes: ctx.session_attributes.clone(),
            prompt_session_attributes: ctx.prompt_session_attributes.clone(),
            call: CallRequest {
                tool: call.action_group.clone(),
                api_path: call.api_path.clone(),
                http_method: call.http_method.clone(),
                function: call.function.clone(),
                parameters: call.parameters.clone(),
                request_body: call.request_body.clone(),
            },
        };
        match self.broker.invoke(&req).await {
            Ok(r) => Ok(ToolOutput {
                text: r.response.body.clone(),
                egress: r.egress,
                notes: override_notes(&r.authorized),
            }),
            Err(e) => {
                let refused = matches!(e, warden_broker::ToolFailure::Refused(_));
                let msg = format!("{} ({})", e, e.code());
                if refused {
                    Err(ToolError::Refused(msg))
                } else {
                    Err(ToolError::Failed(msg))
                }
            }
        }
    }
}

/// Reasons for the tenant references the broker overrode.
pub fn override_notes(a: &warden_policy::Authorized) -> Vec<Reason> {
    a.overrides
        .iter()
        .map(|o| Reason {
            rule: "scope.tenant-overridden".into(),
            message: format!(
                "`{}` of `{}` named tenant `{}`; the broker replaced it with the authenticated tenant `{}`",
                o.field, a.action, o.claimed, o.trusted
            ),
            evidence: vec![format!("tool:{}", a.tool)],
        })
        .collect()
}

/// The detector's view of every configured tool: declared hosts and per-operation effects.
pub fn tool_infos(config: &warden_config::Config, catalog: &Catalog) -> Vec<ToolInfo> {
    config
        .tools
        .values()
        .map(|t| {
            let operations = catalog
                .tool(&t.name)
                .map(|m| {
                    m.operations
                        .iter()
                        .map(|op| Operation {
                            name: op.id.clone(),
                            effect: match op.effects {
                                warden_config::Effects::Read => Effect::Read,
                                warden_config::Effects::Write => Effect::Write,
                            },
                            api_path: op.path.clone(),
                            verb: op.method.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            ToolInfo::from_config(t, operations)
        })
        .collect()
}

pub fn detector_setup(config: &warden_config::Config, catalog: &Catalog) -> DetectorSetup {
    DetectorSetup {
        tools: tool_infos(config, catalog),
        config: warden_detect::DetectConfig::default(),
        enforce: config.detector.mode == warden_config::EnforceMode::Enforce,
    }
}

pub fn observation_mode(o: Observation) -> ObservationMode {
    match o {
        Observation::Isolated => ObservationMode::Isolated,
        Observation::Cooperative => ObservationMode::Cooperative,
    }
}
