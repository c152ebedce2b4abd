//! The rule registry: stable ids, default severities, a one-line why and a fix for every rule.

use crate::finding::Severity;

/// Metadata of one rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Stable id.
    pub id: &'static str,
    /// Short name.
    pub name: &'static str,
    /// Default severity (findings may be lowered by conditions or raised by context).
    pub severity: Severity,
    /// Why it matters, one line.
    pub why: &'static str,
    /// How to fix it, one line.
    pub fix: &'static str,
}

macro_rules! rules {
    ($($id:literal, $name:literal, $sev:ident, $why:literal, $fix:literal;)*) => {
        /// Every rule, in id order.
        pub static RULES: &[Rule] = &[$(Rule { id: $id, name: $name, severity: Severity::$sev, why: $why, fix: $fix }),*];
    };
}

rules! {
    "AGENT-001", "agent-without-guardrail", High,
        "an agent without a guardrail passes prompt attacks and sensitive output straight through",
        "attach a guardrail (GuardrailConfiguration / guardrail_configuration) with a prompt-attack filter";
    "AGENT-002", "agent-role-invokes-agents", High,
        "an agent role that can invoke other agents lets one injected prompt pivot across agents and tenants",
        "remove bedrock:InvokeAgent from the agent role or scope it to the specific agent-alias ARNs it must call";
    "AGENT-003", "agent-role-modifies-agents", Critical,
        "an agent that can change agents, action groups or prompts can rewrite its own instructions and tools",
        "remove bedrock:Update*/Create*/Delete*/PrepareAgent from the agent role; deploy agents from CI only";
    "AGENT-004", "knowledge-base-retrieve-star", Medium,
        "retrieve on `*` lets the agent read every knowledge base in the account, including other tenants'",
        "scope bedrock:Retrieve/RetrieveAndGenerate to the knowledge-base ARNs the agent uses";
    "AGENT-005", "agent-model-wildcard", Low,
        "an agent role allowed to invoke any model can be steered to costly or unapproved models",
        "scope bedrock:InvokeModel* to the foundation-model and inference-profile ARNs the agent uses";
    "AGENT-006", "agent-without-cmk", Low,
        "agent session data is encrypted only with an AWS-owned key you cannot audit or revoke",
        "set CustomerEncryptionKeyArn to a customer-managed KMS key";
    "AGENT-007", "schema-not-inspectable", Info,
        "the action-group schema lives in S3, so its parameters cannot be checked here",
        "scan the schema file too, or embed it with ApiSchema.Payload";
    "AGENT-008", "tool-tampering", High,
        "a principal that can change an agent's tool code, schema or action groups can make the agent do anything its role allows",
        "restrict lambda:UpdateFunctionCode, bedrock:UpdateAgentActionGroup and schema-bucket writes to the deployment pipeline";
    "AGENT-009", "tool-role-overprivileged", High,
        "a tool Lambda running with administrator or escalation rights turns any prompt injection into account takeover",
        "give every tool Lambda its own role with only the actions and resources the tool needs";
    "IAM-001", "full-admin", Critical,
        "`Action: *` on `Resource: *` grants every permission in the account",
        "list the specific actions and resources the principal needs";
    "IAM-002", "service-wildcard", High,
        "a service wildcard on a sensitive service grants current and future actions, including permission and data actions",
        "replace `service:*` with the specific actions needed";
    "IAM-003", "write-on-star", Medium,
        "write actions that support resource-level permissions are granted on every resource",
        "scope the Resource element to the ARNs the principal writes to";
    "IAM-004", "permissions-management", High,
        "permissions-management actions on `*` let the principal change who can access what",
        "remove permissions-management actions or scope them to specific resources with conditions";
    "IAM-005", "credentials-exposure", High,
        "these actions return credentials or tokens, so the principal can mint access beyond its own",
        "remove the actions or scope them to specific resources";
    "IAM-006", "data-exfiltration", Medium,
        "read actions on secrets, parameters and objects on `*` let a compromised principal read everything",
        "scope data-read actions to the ARNs the principal needs";
    "IAM-007", "privilege-escalation", High,
        "the combination of actions lets the principal grant itself more permissions",
        "remove one action of the combination or scope it (iam:PassedToService, specific role ARNs)";
    "IAM-008", "not-action-allow", High,
        "Allow with NotAction grants every other action, including ones AWS adds later",
        "use an explicit Action list";
    "IAM-009", "not-resource-allow", Medium,
        "Allow with NotResource grants the actions on every other resource, in every service",
        "use an explicit Resource list";
    "IAM-010", "not-principal-allow", High,
        "Allow with NotPrincipal grants access to everyone except the listed principals, including anonymous users",
        "use Principal with an explicit list, or Deny with NotPrincipal";
    "IAM-011", "passrole-star", High,
        "iam:PassRole on `*` without iam:PassedToService lets the principal hand any role to any service",
        "scope PassRole to specific role ARNs and add an iam:PassedToService condition";
    "IAM-012", "agent-tamper-actions", High,
        "actions that change Lambda code, agents or action groups on `*` let the principal hijack every agent tool",
        "scope these actions to the deployment pipeline role and specific ARNs";
    "IAM-013", "unknown-action", Low,
        "the action or service prefix does not exist (typo or a catalogue gap), so the statement does not do what it says",
        "fix the action name; check the Service Authorization Reference";
    "IAM-014", "policy-version", Low,
        "a missing or 2008-10-17 Version treats policy variables as literal text",
        "set `Version` to `2012-10-17`";
    "IAM-015", "condition-misuse", Medium,
        "the condition does not restrict what it appears to (unknown operator, set operator on a single-valued key, vacuous ForAllValues)",
        "use a valid operator; use ForAllValues/ForAnyValue only on multi-valued keys and guard ForAllValues with `Null: false`";
    "IAM-016", "malformed-policy", Medium,
        "the policy document is not valid IAM grammar, so AWS rejects it or ignores part of it",
        "fix the policy structure (Effect, Action, Resource, Principal) per the IAM grammar";
    "IAM-017", "duplicate-sid", Low,
        "duplicate statement ids are rejected in some policy types and confuse reviews",
        "give every statement a unique Sid";
    "IAM-018", "public-resource-policy", Critical,
        "a resource policy that allows `*` without conditions makes the resource public",
        "name the principals, or add aws:PrincipalOrgID / aws:SourceArn conditions";
    "IAM-019", "broad-managed-policy", High,
        "an AWS managed policy such as AdministratorAccess or *FullAccess grants far more than one role needs",
        "replace the managed policy with a customer policy listing the needed actions and resources";
    "LAMBDA-001", "lambda-outside-vpc", Medium,
        "a tool Lambda outside a VPC can reach the whole internet, so injected instructions can exfiltrate data",
        "attach VpcConfig with private subnets and egress only through an allowlisting proxy or VPC endpoints";
    "LAMBDA-002", "lambda-secrets-in-env", High,
        "secrets in environment variables are readable by anyone with lambda:GetFunctionConfiguration and leak into logs",
        "store secrets in Secrets Manager or SSM SecureString and read them at run time";
    "LAMBDA-003", "lambda-deprecated-runtime", Medium,
        "a deprecated runtime gets no security patches",
        "move to a supported runtime";
    "LAMBDA-004", "lambda-permission-confused-deputy", High,
        "a service permission without SourceArn lets any resource of that service, in any account, invoke the tool",
        "set SourceArn to the exact agent (or rule/bucket) ARN and SourceAccount to your account";
    "LAMBDA-005", "lambda-public", Critical,
        "the function can be invoked by anyone (Principal `*` or a function URL without auth)",
        "restrict the principal and use AuthType AWS_IAM";
    "SCHEMA-001", "unconstrained-string-parameter", Medium,
        "free-form string parameters let the model pass arbitrary (possibly injected) text to the tool",
        "add pattern, enum, maxLength or format to every string parameter";
    "SCHEMA-002", "raw-sql-sink", High,
        "an operation that takes raw SQL lets an injected prompt run any query",
        "expose narrow, parameterised operations instead of a query string";
    "SCHEMA-003", "shell-sink", Critical,
        "an operation that runs commands or code lets an injected prompt execute anything in the tool",
        "remove the operation or replace it with fixed, validated operations";
    "SCHEMA-004", "url-fetch-sink", High,
        "an operation that fetches arbitrary URLs is an SSRF and exfiltration channel",
        "fix the target hosts server-side or constrain the parameter with an allowlist pattern/enum";
    "SCHEMA-005", "message-sink", Medium,
        "an operation that sends email or messages to arbitrary recipients is an exfiltration channel",
        "constrain recipients (enum/pattern) and require confirmation";
    "SCHEMA-006", "mutation-without-confirmation", Medium,
        "a mutating operation runs without asking the user, so an injected prompt can change data",
        "set `x-requireConfirmation: ENABLED` on the operation (or RequireConfirmation on the function)";
    "SCHEMA-007", "invalid-schema", Medium,
        "the action-group schema cannot be parsed, so Bedrock rejects it or the checks cannot run",
        "fix the OpenAPI document";
    "SUPPRESS-001", "suppression-without-reason", Medium,
        "a suppression without a reason hides a finding with no record of why",
        "write the reason after the rule id: `warden:ignore RULE-ID reason`";
    "SUPPRESS-002", "suppression-unknown-rule", Low,
        "the suppression names a rule that does not exist, so it suppresses nothing",
        "use a rule id from `warden scan --list-rules`";
    "TRAIL-001", "cloudtrail-log-validation", Medium,
        "without log-file validation, deleted or altered CloudTrail logs go unnoticed",
        "set EnableLogFileValidation to true";
    "TRAIL-002", "cloudtrail-single-region", Medium,
        "a single-region trail misses activity (including Bedrock calls) in other regions",
        "set IsMultiRegionTrail to true";
    "TRAIL-003", "cloudtrail-no-kms", Low,
        "trail logs are not encrypted with a customer-managed key",
        "set KMSKeyId";
    "TRUST-001", "trust-any-principal", Critical,
        "any AWS principal in any account can assume the role",
        "name the trusted principals and add conditions (aws:PrincipalOrgID, sts:ExternalId)";
    "TRUST-002", "trust-cross-account-root", High,
        "every principal of another account that is allowed sts:AssumeRole there can assume this role",
        "trust a specific role ARN and require sts:ExternalId or aws:PrincipalOrgID";
    "TRUST-003", "trust-service-confused-deputy", Medium,
        "a service principal without aws:SourceArn/aws:SourceAccount can be used on behalf of other accounts",
        "add aws:SourceAccount and aws:SourceArn conditions to the trust statement";
    "TRUST-004", "trust-oidc-unrestricted", Critical,
        "web-identity trust without `sub` and `aud` conditions lets any identity of the provider assume the role",
        "add StringEquals conditions on the provider's `aud` and `sub` claims (no wildcards in `sub`)";
    "TRUST-005", "trust-deleted-principal", Low,
        "the trust policy names a unique id (AROA/AIDA…) because the trusted principal was deleted",
        "remove the stale principal or re-create the intended trust";
    "WARDEN-001", "tool-without-egress-allowlist", High,
        "a tool without an egress allowlist can connect anywhere, so the detector cannot tell exfiltration from use",
        "set `egress = [\"host:port\", …]` for every tool (no `*`)";
    "WARDEN-002", "warden-agent-without-guardrail", High,
        "an agent without a guardrail is not screened for prompt attacks or sensitive output",
        "set `guardrail = \"NAME\"` to a guardrail defined under [guardrails]";
    "WARDEN-003", "sandbox-cooperative", Medium,
        "cooperative sandbox mode relies on the tool honouring proxy settings; a hostile tool bypasses it",
        "run with `[sandbox] mode = \"isolated\"` on a host that allows network namespaces";
    "WARDEN-004", "detector-report-only", Medium,
        "in report mode the detector never blocks, so a detected exfiltration still completes",
        "set `[detector] mode = \"enforce\"`";
    "WARDEN-005", "weak-admin-credential", High,
        "the admin API is missing a credential, has it inline or has a short one",
        "set `[admin] token_file` or `token_env` to a random token of at least 32 characters";
    "WARDEN-006", "guardrail-weak-prompt-attack", Medium,
        "the guardrail's prompt-attack filter is off or weak",
        "set `prompt_attack = \"high\"` (or at least medium)";
    "WARDEN-007", "admin-listens-publicly", Medium,
        "the admin listener is bound to every interface",
        "bind `admin_listen` to 127.0.0.1 or a private management address";
    "WARDEN-008", "inline-secret", High,
        "a secret is written inline in warden.toml, so it ends up in version control",
        "use the `*_file` or `*_env` form";
}

/// Looks a rule up by id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_sorted() {
        for w in RULES.windows(2) {
            assert!(w[0].id < w[1].id, "{} / {}", w[0].id, w[1].id);
        }
        assert!(rule("IAM-001").is_some());
        assert!(rule("NOPE").is_none());
    }
}
