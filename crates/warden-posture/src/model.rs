//! The normalised deployment graph every front end produces: policies, roles, Lambda functions
//! and permissions, Bedrock agents with action groups, CloudTrail trails.

use crate::iam::PolicyKind;
use crate::node::Node;

/// A policy document attached somewhere.
#[derive(Debug, Clone)]
pub struct PolicyDoc {
    /// Address of the resource holding the document.
    pub resource: String,
    /// Path of the document inside the resource (`Properties.PolicyDocument`).
    pub path: String,
    /// Identity, resource or trust policy.
    pub kind: PolicyKind,
    /// The document (intrinsics already resolved).
    pub doc: Node,
    /// Roles (ids) it is attached to.
    pub roles: Vec<String>,
}

/// An IAM role (or user/group: anything policies attach to).
#[derive(Debug, Clone, Default)]
pub struct Role {
    /// Id (logical id / Terraform address).
    pub id: String,
    /// Role name when known.
    pub name: Option<String>,
    /// Line of the resource.
    pub line: u32,
    /// Managed policy ARNs (or references) attached.
    pub managed: Vec<(String, u32)>,
}

/// A Lambda function.
#[derive(Debug, Clone, Default)]
pub struct Function {
    /// Id.
    pub id: String,
    /// Function name when known.
    pub name: Option<String>,
    /// Execution role id when it resolves to a role in the deployment.
    pub role: Option<String>,
    /// Runtime.
    pub runtime: Option<String>,
    /// Environment variables (name, value node).
    pub env: Vec<(String, Node)>,
    /// Has a VPC configuration with subnets.
    pub in_vpc: bool,
    /// Line of the resource.
    pub line: u32,
}

/// A resource-based permission on a Lambda function.
#[derive(Debug, Clone, Default)]
pub struct LambdaPermission {
    /// Id.
    pub id: String,
    /// Principal (service, account or `*`).
    pub principal: String,
    /// Action granted.
    pub action: String,
    /// SourceArn.
    pub source_arn: Option<String>,
    /// SourceAccount.
    pub source_account: Option<String>,
    /// Function id when resolvable.
    pub function: Option<String>,
    /// Line.
    pub line: u32,
}

/// Where an action group's API schema comes from.
#[derive(Debug, Clone)]
pub enum SchemaSource {
    /// No schema.
    None,
    /// Stored in S3 (not inspectable).
    S3(String),
    /// Inline OpenAPI document text, with the line it starts at and whether it is a block.
    Payload(String, u32),
    /// Inline OpenAPI document already parsed.
    Doc(Node),
    /// Bedrock function schema (list of functions).
    Functions(Node),
}

/// One action group of an agent.
#[derive(Debug, Clone)]
pub struct ActionGroup {
    /// Name.
    pub name: String,
    /// Path inside the agent resource.
    pub path: String,
    /// Resource holding the action group when it is separate from the agent (Terraform).
    pub resource: Option<String>,
    /// Executor Lambda id (when resolvable) or raw reference.
    pub executor: Option<String>,
    /// Schema.
    pub schema: SchemaSource,
    /// Line.
    pub line: u32,
}

/// A Bedrock agent.
#[derive(Debug, Clone, Default)]
pub struct Agent {
    /// Id.
    pub id: String,
    /// Agent name.
    pub name: Option<String>,
    /// Agent role id (when resolvable).
    pub role: Option<String>,
    /// Has a guardrail configured.
    pub guardrail: bool,
    /// Has a customer-managed key.
    pub cmk: bool,
    /// Action groups.
    pub action_groups: Vec<ActionGroup>,
    /// Line.
    pub line: u32,
}

/// A CloudTrail trail.
#[derive(Debug, Clone, Default)]
pub struct Trail {
    /// Id.
    pub id: String,
    /// EnableLogFileValidation.
    pub validation: Option<bool>,
    /// IsMultiRegionTrail.
    pub multi_region: Option<bool>,
    /// Has KMS key.
    pub kms: bool,
    /// Line.
    pub line: u32,
}

/// A Lambda function URL.
#[derive(Debug, Clone, Default)]
pub struct FunctionUrl {
    /// Id.
    pub id: String,
    /// AuthType.
    pub auth: Option<String>,
    /// Line.
    pub line: u32,
}

/// Everything found in one file.
#[derive(Debug, Clone, Default)]
pub struct Deployment {
    /// Policies.
    pub policies: Vec<PolicyDoc>,
    /// Roles.
    pub roles: Vec<Role>,
    /// Functions.
    pub functions: Vec<Function>,
    /// Lambda permissions.
    pub permissions: Vec<LambdaPermission>,
    /// Agents.
    pub agents: Vec<Agent>,
    /// Trails.
    pub trails: Vec<Trail>,
    /// Function URLs.
    pub urls: Vec<FunctionUrl>,
    /// Standalone tool schemas (address, document).
    pub schemas: Vec<(String, Node)>,
}

/// Extracts the referenced id from an unresolved value such as `${ToolFn.Arn}` or
/// `${aws_lambda_function.tool.arn}`.
pub fn ref_id(v: &str) -> Option<String> {
    let start = v.find("${")? + 2;
    let end = v[start..].find('}')? + start;
    let inner = &v[start..end];
    if inner.starts_with("AWS::") || inner.contains(':') {
        return None;
    }
    let mut parts = inner.split('.');
    let first = parts.next()?;
    if first.starts_with("aws_") || first == "data" || first == "module" {
        // Terraform address: type.name (or data.type.name)
        let second = parts.next()?;
        if first == "data" {
            let third = parts.next()?;
            return Some(format!("data.{second}.{third}"));
        }
        let second = second.split('[').next().unwrap_or(second);
        return Some(format!("{first}.{second}"));
    }
    Some(first.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs() {
        assert_eq!(ref_id("${ToolFn.Arn}").as_deref(), Some("ToolFn"));
        assert_eq!(
            ref_id("arn:aws:s3:::${Bucket}/*").as_deref(),
            Some("Bucket")
        );
        assert_eq!(
            ref_id("${aws_iam_role.agent.arn}").as_deref(),
            Some("aws_iam_role.agent")
        );
        assert_eq!(ref_id("${AWS::AccountId}"), None);
        assert_eq!(ref_id("plain"), None);
    }
}
