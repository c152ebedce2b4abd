//! End-to-end tests: realistic deployments, bad input, SARIF structure and CLI exit codes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use warden_posture::cli::{run, Format, ScanArgs};
use warden_posture::{scan_paths, ScanOptions, ScanReport, Severity};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn scan(p: &Path) -> ScanReport {
    scan_paths(
        &[p.to_path_buf()],
        &ScanOptions {
            threads: 1,
            ..ScanOptions::default()
        },
    )
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("warden-posture-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn args(paths: Vec<PathBuf>) -> ScanArgs {
    ScanArgs {
        paths,
        format: Format::Json,
        fail_on: Severity::High,
        min_severity: Severity::Info,
        output: None,
        no_progress: true,
        show_suppressed: false,
        accounts: vec![],
        color: warden_posture::cli::ColorChoice::Never,
        list_rules: false,
    }
}

#[test]
fn vulnerable_stack_yields_the_expected_findings() {
    let r = scan(&fixtures().join("stacks/vulnerable-support-agent.yaml"));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let got: BTreeSet<(String, String)> = r
        .findings
        .iter()
        .map(|f| (f.resource.clone(), f.rule.clone()))
        .collect();
    let want: &[(&str, &str)] = &[
        ("AgentRole", "TRUST-003"),
        ("AgentRole", "AGENT-002"),
        ("AgentRole", "AGENT-003"),
        ("AgentRole", "AGENT-004"),
        ("AgentRole", "AGENT-005"),
        ("AgentRole", "IAM-012"),
        ("ToolRole", "IAM-002"),
        ("ToolRole", "IAM-004"),
        ("ToolRole", "IAM-006"),
        ("ToolRole", "IAM-007"),
        ("ToolRole", "IAM-011"),
        ("SupportAppRole", "TRUST-002"),
        ("SupportAppRole", "AGENT-008"),
        ("SupportAppRole", "IAM-012"),
        ("CiDeployRole", "TRUST-004"),
        ("CiDeployRole", "IAM-019"),
        ("CiDeployRole", "AGENT-008"),
        ("OrdersTool", "LAMBDA-001"),
        ("OrdersTool", "LAMBDA-002"),
        ("OrdersTool", "LAMBDA-003"),
        ("OrdersTool", "AGENT-009"),
        ("OrdersToolPermission", "LAMBDA-004"),
        ("SupportAgent", "AGENT-001"),
        ("SupportAgent", "AGENT-006"),
        ("SupportAgent", "SCHEMA-001"),
        ("SupportAgent", "SCHEMA-002"),
        ("SupportAgent", "SCHEMA-003"),
        ("SupportAgent", "SCHEMA-004"),
        ("SupportAgent", "SCHEMA-005"),
        ("SupportAgent", "SCHEMA-006"),
        ("AuditTrail", "TRAIL-001"),
        ("AuditTrail", "TRAIL-002"),
        ("AuditTrail", "TRAIL-003"),
        ("TranscriptBucketPolicy", "IAM-018"),
    ];
    for (res, rule) in want {
        assert!(
            got.contains(&(res.to_string(), rule.to_string())),
            "missing {rule} on {res}; got {got:?}"
        );
    }
    let rules: BTreeSet<&str> = r.findings.iter().map(|f| f.rule.as_str()).collect();
    let want_rules: BTreeSet<&str> = want.iter().map(|(_, r)| *r).chain(["IAM-003"]).collect();
    assert_eq!(rules, want_rules);
    // Findings point at real lines of the template.
    let trail = r.findings.iter().find(|f| f.rule == "TRAIL-001").unwrap();
    let text =
        std::fs::read_to_string(fixtures().join("stacks/vulnerable-support-agent.yaml")).unwrap();
    assert!(text
        .lines()
        .nth(trail.line as usize - 1)
        .unwrap()
        .contains("Type: AWS::CloudTrail::Trail"));
    let schema = r.findings.iter().find(|f| f.rule == "SCHEMA-002").unwrap();
    // Operations point at their first key (the line after `post:`).
    assert!(
        text.lines()
            .nth(schema.line as usize - 2)
            .unwrap()
            .contains("post:"),
        "line {}",
        schema.line
    );
}

#[test]
fn hardened_twin_has_nothing_at_or_above_medium() {
    let r = scan(&fixtures().join("stacks/hardened-support-agent.yaml"));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let bad: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.suppressed.is_none() && f.severity >= Severity::Medium)
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
    // The reviewed exception is recorded, not lost.
    assert!(r
        .findings
        .iter()
        .any(|f| f.rule == "AGENT-008" && f.suppressed.is_some()));
}

#[test]
fn terraform_hcl_and_plan_inputs() {
    let r = scan(&fixtures().join("terraform/agent.tf"));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let got: BTreeSet<(&str, &str)> = r
        .findings
        .iter()
        .filter(|f| f.suppressed.is_none())
        .map(|f| (f.resource.as_str(), f.rule.as_str()))
        .collect();
    for want in [
        ("aws_bedrockagent_agent.support", "AGENT-001"),
        ("aws_iam_role.agent", "TRUST-003"),
        ("aws_iam_role_policy.agent", "AGENT-002"),
        ("aws_lambda_function.orders", "LAMBDA-002"),
        ("aws_lambda_permission.bedrock", "LAMBDA-004"),
        ("aws_bedrockagent_agent_action_group.orders", "SCHEMA-006"),
        ("aws_cloudtrail.main", "TRAIL-001"),
    ] {
        assert!(got.contains(&want), "missing {want:?} in {got:?}");
    }
    // The comment suppression with a reason applies; the one without a reason is itself a finding.
    assert!(r
        .findings
        .iter()
        .any(|f| f.rule == "LAMBDA-001" && f.suppressed.is_some()));
    assert!(r.findings.iter().any(|f| f.rule == "SUPPRESS-001"));
    let line = r
        .findings
        .iter()
        .find(|f| f.rule == "LAMBDA-002")
        .unwrap()
        .line;
    let text = std::fs::read_to_string(fixtures().join("terraform/agent.tf")).unwrap();
    assert!(text
        .lines()
        .nth(line as usize - 1)
        .unwrap()
        .contains("resource \"aws_lambda_function\" \"orders\""));

    let r = scan(&fixtures().join("terraform/plan.json"));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let got: BTreeSet<(&str, &str)> = r
        .findings
        .iter()
        .map(|f| (f.resource.as_str(), f.rule.as_str()))
        .collect();
    for want in [
        ("aws_iam_role_policy.tool", "IAM-007"),
        ("aws_iam_role.tool", "TRUST-002"),
        ("aws_lambda_function.tool", "LAMBDA-003"),
        ("aws_iam_role_policy.tool", "AGENT-008"),
        ("aws_bedrockagent_agent.support", "AGENT-001"),
    ] {
        assert!(got.contains(&want), "missing {want:?} in {got:?}");
    }
}

#[test]
fn bedrock_api_documents_and_schemas() {
    let r = scan(&fixtures().join("bedrock/get-agent.json"));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let rules = r.rule_ids();
    for want in ["AGENT-001", "AGENT-007", "SCHEMA-001", "SCHEMA-006"] {
        assert!(
            rules.contains(&want.to_string()),
            "missing {want} in {rules:?}"
        );
    }
}

#[test]
fn canonical_warden_toml_is_clean_and_weak_one_is_not() {
    let r = scan(&fixtures().join("warden/canonical/warden.toml"));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    let r = scan(&fixtures().join("warden/weak/warden.toml"));
    assert_eq!(
        r.rule_ids(),
        [
            "WARDEN-001",
            "WARDEN-002",
            "WARDEN-003",
            "WARDEN-004",
            "WARDEN-005",
            "WARDEN-006",
            "WARDEN-007",
            "WARDEN-008"
        ]
    );
}

#[test]
fn bad_input_gets_a_precise_error_per_file_and_the_scan_continues() {
    let d = tmpdir("bad");
    std::fs::write(d.join("a-invalid.json"), "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Effect\": \"Allow\",}\n  ]\n}\n").unwrap();
    std::fs::write(
        d.join("b-invalid.yaml"),
        "Resources:\n  A:\n    Type: [unclosed\n",
    )
    .unwrap();
    std::fs::write(
        d.join("c-unknown-intrinsic.yaml"),
        "Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties:\n      RoleName: !Frobnicate x\n      Policies:\n        - PolicyName: p\n          PolicyDocument:\n            Version: 2012-10-17\n            Statement:\n              - {Effect: Allow, Action: '*', Resource: '*'}\n",
    )
    .unwrap();
    std::fs::write(
        d.join("d-cycle.json"),
        r#"{"Resources":{"A":{"Type":"AWS::SNS::Topic","Properties":{"TopicName":{"Fn::GetAtt":["B","TopicName"]}}},"B":{"Type":"AWS::SNS::Topic","Properties":{"TopicName":{"Fn::Sub":"${A.TopicName}"}}}}}"#,
    )
    .unwrap();
    let stmts: Vec<String> = (0..10_000)
        .map(|i| format!(r#"{{"Sid":"S{i}","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket-{i}/*"}}"#))
        .collect();
    std::fs::write(
        d.join("e-huge.json"),
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
            stmts.join(",")
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("f-deep.json"),
        format!("{{\"Statement\": {}", "[".repeat(100_000)),
    )
    .unwrap();
    std::fs::write(
        d.join("g-good.json"),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
    )
    .unwrap();
    std::fs::write(d.join("h-binary.json"), [0xff, 0xfe, 0x00, 0x01]).unwrap();
    std::fs::write(d.join("i-unrelated.json"), r#"{"name": "not a policy"}"#).unwrap();
    // Unrelated, unparsable YAML found by walking (a Helm template) is skipped quietly.
    std::fs::write(
        d.join("j-helm.yaml"),
        "image: {{ .Values.image }}\n  bad: [\n",
    )
    .unwrap();

    let started = std::time::Instant::now();
    let r = scan(&d);
    assert!(started.elapsed().as_secs() < 20);
    let err = |f: &str| {
        r.errors
            .iter()
            .find(|e| e.file.ends_with(f))
            .unwrap_or_else(|| panic!("no error for {f}: {:?}", r.errors))
    };
    let e = err("a-invalid.json");
    assert_eq!(e.line, Some(4));
    assert!(
        e.message.starts_with("invalid JSON at line 4"),
        "{}",
        e.message
    );
    assert!(err("b-invalid.yaml").message.starts_with("invalid YAML"));
    let e = err("c-unknown-intrinsic.yaml");
    assert_eq!(e.line, Some(5));
    assert!(
        e.message
            .contains("unknown intrinsic function `Fn::Frobnicate`"),
        "{}",
        e.message
    );
    // The rest of that template was still analysed.
    assert!(r
        .findings
        .iter()
        .any(|f| f.file.ends_with("c-unknown-intrinsic.yaml") && f.rule == "IAM-001"));
    assert!(err("d-cycle.json")
        .message
        .contains("circular dependency between resources: `A` -> `B` -> `A`"));
    assert!(err("f-deep.json").message.contains("nests deeper than"));
    assert_eq!(err("h-binary.json").message, "file is not valid UTF-8");
    assert!(!r
        .errors
        .iter()
        .any(|e| e.file.ends_with("e-huge.json") || e.file.ends_with("i-unrelated.json")));
    assert!(r
        .findings
        .iter()
        .any(|f| f.file.ends_with("g-good.json") && f.rule == "IAM-001"));
    // A 10k-statement policy is scanned, not rejected.
    assert!(r
        .findings
        .iter()
        .all(|f| !f.file.ends_with("e-huge.json") || f.rule == "IAM-017" || f.rule == "IAM-006"));
    assert!(
        !r.errors.iter().any(|e| e.file.ends_with("j-helm.yaml")),
        "{:?}",
        r.errors
    );
    assert_eq!(r.files_skipped, 2);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn file_size_limit_is_an_error() {
    let d = tmpdir("big");
    std::fs::write(
        d.join("big.json"),
        format!("{{\"x\": \"{}\"}}", "a".repeat(2048)),
    )
    .unwrap();
    let r = scan_paths(
        std::slice::from_ref(&d),
        &ScanOptions {
            max_file_bytes: 1024,
            ..ScanOptions::default()
        },
    );
    assert!(
        r.errors[0]
            .message
            .contains("larger than the 1024-byte limit"),
        "{:?}",
        r.errors
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn sarif_has_the_fields_github_code_scanning_requires() {
    let r = scan(&fixtures().join("stacks"));
    let s = warden_posture::output::sarif(&r);
    assert_eq!(s["version"], "2.1.0");
    assert!(s["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let runs = s["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "warden-posture");
    let rules = driver["rules"].as_array().unwrap();
    assert_eq!(rules.len(), warden_posture::RULES.len());
    for rule in rules {
        assert!(rule["id"].is_string());
        assert!(rule["shortDescription"]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()));
        assert!(rule["fullDescription"]["text"].is_string());
        assert!(rule["help"]["text"].is_string());
        let sev: f64 = rule["properties"]["security-severity"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((0.0..=10.0).contains(&sev));
        assert!(["none", "note", "warning", "error"]
            .contains(&rule["defaultConfiguration"]["level"].as_str().unwrap()));
    }
    let results = runs[0]["results"].as_array().unwrap();
    assert!(!results.is_empty());
    let mut fps = BTreeSet::new();
    for res in results {
        let idx = res["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[idx]["id"], res["ruleId"]);
        assert!(res["message"]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()));
        assert!(["none", "note", "warning", "error"].contains(&res["level"].as_str().unwrap()));
        let loc = &res["locations"][0]["physicalLocation"];
        let uri = loc["artifactLocation"]["uri"].as_str().unwrap();
        assert!(!uri.is_empty() && !uri.contains('\\'));
        assert!(loc["region"]["startLine"].as_u64().unwrap() >= 1);
        let fp = res["partialFingerprints"]["wardenFingerprint/v1"]
            .as_str()
            .unwrap();
        assert!(fps.insert(fp.to_string()), "duplicate fingerprint {fp}");
        if let Some(sup) = res.get("suppressions") {
            assert_eq!(sup[0]["kind"], "inSource");
            assert!(sup[0]["justification"].is_string());
        }
    }
    // Fingerprints do not depend on line numbers.
    let mut moved = r.clone();
    for f in &mut moved.findings {
        f.line += 10;
        f.compute_fingerprint();
    }
    assert_eq!(
        r.findings
            .iter()
            .map(|f| &f.fingerprint)
            .collect::<Vec<_>>(),
        moved
            .findings
            .iter()
            .map(|f| &f.fingerprint)
            .collect::<Vec<_>>()
    );
}

#[test]
fn cli_exit_codes_and_output_file() {
    let vuln = fixtures().join("stacks/vulnerable-support-agent.yaml");
    let hard = fixtures().join("stacks/hardened-support-agent.yaml");
    let d = tmpdir("cli");
    let mut a = args(vec![vuln.clone()]);
    a.output = Some(d.join("report.json"));
    assert_eq!(run(&a).unwrap(), 1);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("report.json")).unwrap()).unwrap();
    assert!(json["summary"]["findings"].as_u64().unwrap() > 20);
    a.paths = vec![hard.clone()];
    assert_eq!(run(&a).unwrap(), 0);
    a.fail_on = Severity::Low;
    assert_eq!(run(&a).unwrap(), 0);
    // Only high findings + fail-on critical → 0.
    std::fs::write(d.join("p.json"), r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:GetAuthorizationToken","Resource":"*"}]}"#).unwrap();
    a.paths = vec![d.join("p.json")];
    a.fail_on = Severity::Critical;
    assert_eq!(run(&a).unwrap(), 0);
    a.fail_on = Severity::High;
    assert_eq!(run(&a).unwrap(), 1);
    // File errors without qualifying findings → 2.
    std::fs::write(d.join("bad.json"), "{").unwrap();
    a.paths = vec![d.join("bad.json")];
    assert_eq!(run(&a).unwrap(), 2);
    a.paths = vec![d.join("missing.json")];
    let e = run(&a).unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
    a.paths = vec![];
    assert!(run(&a).is_err());
    a.format = Format::Sarif;
    a.paths = vec![vuln];
    a.output = Some(d.join("report.sarif"));
    assert_eq!(run(&a).unwrap(), 1);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn text_report_groups_by_resource() {
    let r = scan(&fixtures().join("stacks/vulnerable-support-agent.yaml"));
    let t = warden_posture::output::text(&r, Severity::Medium, false, false);
    assert!(t.contains("\n  OrdersTool\n"), "{t}");
    assert!(t.contains("fix: "));
    assert!(!t.contains("\x1b["));
    assert!(
        !t.contains("AGENT-005"),
        "low findings filtered by min severity"
    );
    assert!(warden_posture::output::text(&r, Severity::Info, false, true).contains("\x1b[1;35m"));
}
