//! Parliament-style unit tests: an inline policy goes in, the exact set of rule ids comes out.

use warden_posture::{scan_source, Finding, ScanOptions, Severity};

fn scan(name: &str, text: &str) -> Vec<Finding> {
    let out = scan_source(
        name,
        text,
        &ScanOptions {
            own_accounts: vec!["111122223333".into()],
            ..ScanOptions::default()
        },
    );
    assert!(out.errors.is_empty(), "unexpected errors: {:?}", out.errors);
    out.findings
        .into_iter()
        .filter(|f| f.suppressed.is_none())
        .collect()
}

fn ids_of(findings: &[Finding]) -> Vec<String> {
    let mut v: Vec<String> = findings.iter().map(|f| f.rule.clone()).collect();
    v.sort();
    v.dedup();
    v
}

/// Identity policy with the given statements (JSON array body).
fn identity(stmts: &str) -> Vec<String> {
    ids_of(&scan(
        "policy.json",
        &format!(r#"{{"Version":"2012-10-17","Statement":[{stmts}]}}"#),
    ))
}

fn trust(stmts: &str) -> Vec<String> {
    ids_of(&scan(
        "trust.json",
        &format!(r#"{{"Version":"2012-10-17","Statement":[{stmts}]}}"#),
    ))
}

#[track_caller]
fn expect(got: Vec<String>, want: &[&str]) {
    assert_eq!(got, want.iter().map(|s| s.to_string()).collect::<Vec<_>>());
}

#[test]
fn full_admin() {
    expect(
        identity(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#),
        &["IAM-001"],
    );
    // Statement given as a single object instead of an array.
    let f = scan(
        "p.json",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
    );
    assert_eq!(ids_of(&f), ["IAM-001"]);
    assert_eq!(f[0].severity, Severity::Critical);
}

#[test]
fn conditions_lower_severity_but_do_not_suppress() {
    let f = scan(
        "p.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#,
    );
    assert_eq!(ids_of(&f), ["IAM-001"]);
    assert_eq!(f[0].severity, Severity::High);
    assert!(f[0].message.contains("conditioned"));
}

#[test]
fn scoped_read_is_clean() {
    expect(
        identity(
            r#"{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::reports","arn:aws:s3:::reports/*"]}"#,
        ),
        &[],
    );
}

#[test]
fn data_read_on_star() {
    expect(
        identity(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#),
        &["IAM-006"],
    );
    // Case-insensitive actions and mid-pattern wildcards expand against the catalogue.
    expect(
        identity(r#"{"Effect":"Allow","Action":"S3:getobj*","Resource":"arn:aws:s3:::*"}"#),
        &["IAM-006"],
    );
    expect(
        identity(r#"{"Effect":"Allow","Action":"secretsmanager:GetSecret*","Resource":"*"}"#),
        &["IAM-006"],
    );
}

#[test]
fn service_wildcards() {
    expect(
        identity(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"}"#),
        &["IAM-002", "IAM-003", "IAM-004", "IAM-006"],
    );
    // Scoped to one bucket: the service wildcard is still reported, at lower severity.
    let f = scan(
        "p.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/*"}]}"#,
    );
    assert_eq!(ids_of(&f), ["IAM-002"]);
    assert_eq!(f[0].severity, Severity::Medium);
    // Non-sensitive service wildcard: only the low write-on-star finding.
    let f = scan(
        "p.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"cloudwatch:*","Resource":"*"}]}"#,
    );
    assert_eq!(ids_of(&f), ["IAM-003"]);
    assert_eq!(f[0].severity, Severity::Low);
}

#[test]
fn actions_without_resource_level_support_are_not_write_on_star() {
    // sts:GetCallerIdentity / s3:ListAllMyBuckets only support "*" (Checkov #5134).
    expect(
        identity(
            r#"{"Effect":"Allow","Action":["s3:ListAllMyBuckets","sts:GetCallerIdentity"],"Resource":"*"}"#,
        ),
        &[],
    );
}

#[test]
fn not_action_allow() {
    expect(
        identity(r#"{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}"#),
        &[
            "IAM-003", "IAM-004", "IAM-005", "IAM-006", "IAM-007", "IAM-008", "IAM-012",
        ],
    );
    // SCP-style deny with NotAction is fine.
    expect(
        identity(
            r#"{"Effect":"Deny","NotAction":["iam:*","sts:*"],"Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":"eu-west-1"}}}"#,
        ),
        &[],
    );
}

#[test]
fn not_resource_and_not_principal() {
    expect(
        identity(
            r#"{"Effect":"Allow","Action":"s3:GetObject","NotResource":"arn:aws:s3:::secret/*"}"#,
        ),
        &["IAM-006", "IAM-009"],
    );
    let f = scan(
        "bucket.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:role/x"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
    );
    assert_eq!(ids_of(&f), ["IAM-010"]);
}

#[test]
fn explicit_deny_wins() {
    let allow = r#"{"Effect":"Allow","Action":["iam:PassRole","lambda:CreateFunction","lambda:InvokeFunction"],"Resource":"*"}"#;
    expect(identity(allow), &["IAM-003", "IAM-007", "IAM-011"]);
    expect(
        identity(&format!(
            r#"{allow},{{"Effect":"Deny","Action":"iam:PassRole","Resource":"*"}}"#
        )),
        &["IAM-003"],
    );
    // A conditional deny may not apply, so it does not remove the grant.
    expect(
        identity(&format!(
            r#"{allow},{{"Effect":"Deny","Action":"iam:PassRole","Resource":"*","Condition":{{"Bool":{{"aws:MultiFactorAuthPresent":"false"}}}}}}"#
        )),
        &["IAM-003", "IAM-007", "IAM-011"],
    );
}

#[test]
fn privilege_escalation_methods() {
    expect(
        identity(r#"{"Effect":"Allow","Action":"iam:CreatePolicyVersion","Resource":"*"}"#),
        &["IAM-004", "IAM-007"],
    );
    expect(
        identity(
            r#"{"Effect":"Allow","Action":["iam:PassRole","ec2:RunInstances"],"Resource":"*","Condition":{"StringEquals":{"iam:PassedToService":"ec2.amazonaws.com"}}}"#,
        ),
        &["IAM-003", "IAM-007"],
    );
    let f = scan(
        "p.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:PassRole","bedrock-agentcore:CreateCodeInterpreter","bedrock-agentcore:StartCodeInterpreterSession","bedrock-agentcore:InvokeCodeInterpreter"],"Resource":"*"}]}"#,
    );
    assert!(
        f.iter()
            .any(|x| x.rule == "IAM-007" && x.key == "PassExistingRoleToNewBedrockCodeInterpreter"),
        "{f:?}"
    );
    // PassRole scoped to one role is not escalation by itself.
    expect(
        identity(
            r#"{"Effect":"Allow","Action":["iam:PassRole"],"Resource":"arn:aws:iam::111122223333:role/tool"},{"Effect":"Allow","Action":"ec2:RunInstances","Resource":"*"}"#,
        ),
        &["IAM-003"],
    );
}

#[test]
fn agent_tampering_actions() {
    expect(
        identity(r#"{"Effect":"Allow","Action":["lambda:UpdateFunctionCode"],"Resource":"*"}"#),
        &["IAM-003", "IAM-012"],
    );
    expect(
        identity(
            r#"{"Effect":"Allow","Action":["bedrock:UpdateAgentActionGroup"],"Resource":"arn:aws:bedrock:us-east-1:111122223333:agent/ABC"}"#,
        ),
        &[],
    );
}

#[test]
fn credentials_exposure() {
    expect(
        identity(r#"{"Effect":"Allow","Action":"ecr:GetAuthorizationToken","Resource":"*"}"#),
        &["IAM-005"],
    );
}

#[test]
fn grammar_problems() {
    expect(
        identity(r#"{"Effect":"Allow","Action":"s3:GetObjekt","Resource":"arn:aws:s3:::b/*"}"#),
        &["IAM-013"],
    );
    expect(
        identity(r#"{"Effect":"Allow","Action":"nosuchsvc:Get","Resource":"arn:aws:s3:::b/*"}"#),
        &["IAM-013"],
    );
    expect(
        identity(r#"{"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#),
        &["IAM-016"],
    );
    expect(
        identity(r#"{"Effect":"Allow","Action":"s3:GetObject"}"#),
        &["IAM-016"],
    );
    expect(
        identity(r#"{"Effect":"Permit","Action":"s3:GetObject","Resource":"*"}"#),
        &["IAM-016"],
    );
    // A Principal inside an identity policy (only knowable from context, e.g. AWS::IAM::Policy).
    let cfn = "Resources:\n  P:\n    Type: AWS::IAM::ManagedPolicy\n    Properties:\n      PolicyDocument:\n        Version: 2012-10-17\n        Statement:\n          - Effect: Allow\n            Principal: '*'\n            Action: s3:GetObject\n            Resource: arn:aws:s3:::b/*\n";
    expect(ids_of(&scan("t.yaml", cfn)), &["IAM-016"]);
    expect(
        identity(
            r#"{"Sid":"A","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},{"Sid":"A","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b"}"#,
        ),
        &["IAM-017"],
    );
}

#[test]
fn versions_and_policy_variables() {
    let f = scan(
        "p.json",
        r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}/*"}]}"#,
    );
    assert_eq!(ids_of(&f), ["IAM-014"]);
    assert_eq!(f[0].severity, Severity::Medium);
    let f = scan(
        "p.json",
        r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
    );
    assert_eq!(ids_of(&f), ["IAM-014"]);
    assert_eq!(f[0].severity, Severity::Low);
    expect(
        ids_of(&scan(
            "p.json",
            r#"{"Version":"2012-10-18","Statement":[]}"#,
        )),
        &["IAM-016"],
    );
}

#[test]
fn condition_operators() {
    expect(
        identity(
            r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEqualz":{"aws:PrincipalTag/team":"a"}}}"#,
        ),
        &["IAM-015"],
    );
    expect(
        identity(
            r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"NullIfExists":{"aws:PrincipalTag/team":"false"}}}"#,
        ),
        &["IAM-015"],
    );
    // ForAnyValue on a single-valued key.
    expect(
        identity(
            r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"ForAnyValue:StringEquals":{"aws:PrincipalTag/team":"a"}}}"#,
        ),
        &["IAM-015"],
    );
    // ForAllValues on a multi-valued key without a Null guard is vacuous when the key is absent.
    expect(
        identity(
            r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["a"]}}}"#,
        ),
        &["IAM-015"],
    );
    expect(
        identity(
            r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["a"]},"Null":{"aws:TagKeys":"false"}}}"#,
        ),
        &[],
    );
    expect(
        identity(
            r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEqualsIfExists":{"aws:PrincipalTag/team":"a"}}}"#,
        ),
        &[],
    );
}

#[test]
fn trust_policies() {
    let assume = r#""Action":"sts:AssumeRole""#;
    expect(
        trust(&format!(r#"{{"Effect":"Allow","Principal":"*",{assume}}}"#)),
        &["TRUST-001"],
    );
    expect(
        trust(&format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"*"}},{assume},"Condition":{{"StringEquals":{{"aws:PrincipalOrgID":"o-abc"}}}}}}"#
        )),
        &[],
    );
    expect(
        trust(&format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::999988887777:root"}},{assume}}}"#
        )),
        &["TRUST-002"],
    );
    expect(
        trust(&format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"999988887777"}},{assume},"Condition":{{"StringEquals":{{"sts:ExternalId":"x"}}}}}}"#
        )),
        &[],
    );
    // Own account (from ScanOptions::own_accounts) is not cross-account.
    expect(
        trust(&format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:root"}},{assume}}}"#
        )),
        &[],
    );
    expect(
        trust(&format!(
            r#"{{"Effect":"Allow","Principal":{{"Service":"bedrock.amazonaws.com"}},{assume}}}"#
        )),
        &["TRUST-003"],
    );
    expect(
        trust(&format!(
            r#"{{"Effect":"Allow","Principal":{{"Service":"bedrock.amazonaws.com"}},{assume},"Condition":{{"StringEquals":{{"aws:SourceAccount":"111122223333"}}}}}}"#
        )),
        &[],
    );
    expect(
        trust(&format!(
            r#"{{"Effect":"Allow","Principal":{{"Service":["lambda.amazonaws.com"]}},{assume}}}"#
        )),
        &[],
    );
    expect(
        trust(&format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"AROAEXAMPLEEXAMPLE123"}},{assume}}}"#
        )),
        &["TRUST-005"],
    );
    let oidc = r#""Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:AssumeRoleWithWebIdentity""#;
    let f = scan(
        "t.json",
        &format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow",{oidc}}}]}}"#),
    );
    assert_eq!(ids_of(&f), ["TRUST-004"]);
    assert_eq!(f[0].severity, Severity::Critical);
    let f = scan(
        "t.json",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow",{oidc},"Condition":{{"StringLike":{{"token.actions.githubusercontent.com:sub":"repo:*","token.actions.githubusercontent.com:aud":"sts.amazonaws.com"}}}}}}]}}"#
        ),
    );
    assert_eq!(ids_of(&f), ["TRUST-004"]);
    assert_eq!(f[0].severity, Severity::High);
    expect(
        trust(&format!(
            r#"{{"Effect":"Allow",{oidc},"Condition":{{"StringEquals":{{"token.actions.githubusercontent.com:sub":"repo:org/app:ref:refs/heads/main","token.actions.githubusercontent.com:aud":"sts.amazonaws.com"}}}}}}"#
        )),
        &[],
    );
}

#[test]
fn resource_policies() {
    let stmt = |cond: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"{cond}}}]}}"#
        )
    };
    assert_eq!(ids_of(&scan("bucket.json", &stmt(""))), ["IAM-018"]);
    assert!(ids_of(&scan(
        "bucket.json",
        &stmt(r#","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abc"}}"#)
    ))
    .is_empty());
    // A public Deny is fine (Checkov #4394).
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
    assert!(ids_of(&scan("bucket.json", deny)).is_empty());
}

#[test]
fn statement_level_suppression_needs_a_reason() {
    let f = scan(
        "p.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","warden:ignore":{"IAM-006":"public dataset bucket, read-only"}}]}"#,
    );
    assert!(f.is_empty(), "{f:?}");
    let f = scan(
        "p.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","warden:ignore":{"IAM-006":""}}]}"#,
    );
    assert_eq!(ids_of(&f), ["IAM-006", "SUPPRESS-001"]);
    let f = scan(
        "p.json",
        r#"{"Version":"2012-10-17","warden:ignore":["NOPE-1 typo"],"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
    );
    assert_eq!(ids_of(&f), ["SUPPRESS-002"]);
}

#[test]
fn findings_carry_location() {
    let f = scan("p.json", "{\n \"Version\": \"2012-10-17\",\n \"Statement\": [\n  {\"Effect\": \"Allow\",\n   \"Action\": \"s3:GetObject\", \"Resource\": \"*\"}\n ]\n}");
    assert_eq!(f[0].line, 4);
    assert_eq!(f[0].path, "Statement[0]");
    assert_eq!(f[0].file, "p.json");
    assert_eq!(f[0].fingerprint.len(), 16);
}
