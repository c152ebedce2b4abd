//! Bedrock compatibility of the agent route: boto3's own `bedrock-agent-runtime` client, with
//! `endpoint_url` pointed at a running Warden and SigV4 credentials from its config, calls
//! `invoke_agent`, iterates the event stream and reads chunks, traces and exceptions.

mod common;

use common::*;
use serde_json::Value;

const SCRIPT: &str = r#"
import json, sys, boto3, botocore
endpoint, key, secret = sys.argv[1], sys.argv[2], sys.argv[3]
client = boto3.client("bedrock-agent-runtime", region_name="us-east-1", endpoint_url=endpoint,
                      aws_access_key_id=key, aws_secret_access_key=secret,
                      config=botocore.config.Config(retries={"max_attempts": 1}))
out = {}
r = client.invoke_agent(agentId="support", agentAliasId="TSTALIASID", sessionId="boto-1",
                        inputText="Hello there", enableTrace=True,
                        sessionState={"sessionAttributes": {"tenantId": "globex"}})
text, traces = "", []
for ev in r["completion"]:
    if "chunk" in ev:
        text += ev["chunk"]["bytes"].decode("utf-8")
    elif "trace" in ev:
        traces.append(ev["trace"])
h = r["ResponseMetadata"]["HTTPHeaders"]
out["ok"] = {"text": text, "traces": len(traces), "sessionId": r["sessionId"],
             "contentType": r["contentType"], "verdict": h.get("x-warden-verdict"),
             "rules": h.get("x-warden-verdict-rules"),
             "kinds": sorted({k for t in traces for k in t["trace"].keys()})}
r = client.invoke_agent(agentId="support", agentAliasId="TSTALIASID", sessionId="boto-1",
                        inputText="Hello again")
out["no_trace"] = sum(1 for ev in r["completion"] if "trace" in ev)
for name, kwargs in {
    "unknown_agent": dict(agentId="nobody", agentAliasId="TSTALIASID", sessionId="boto-2", inputText="hi"),
    "roc": dict(agentId="support", agentAliasId="TSTALIASID", sessionId="boto-2", inputText="hi",
                sessionState={"invocationId": "x", "returnControlInvocationResults": [
                    {"functionResult": {"actionGroup": "orders", "function": "f", "responseBody": {"TEXT": {"body": "x"}}}}]}),
}.items():
    try:
        r = client.invoke_agent(**kwargs)
        for _ in r["completion"]:
            pass
        out[name] = "no error"
    except botocore.exceptions.ClientError as e:
        out[name] = e.response["Error"]["Code"]
bad = boto3.client("bedrock-agent-runtime", region_name="us-east-1", endpoint_url=endpoint,
                   aws_access_key_id=key, aws_secret_access_key="wrong" + secret,
                   config=botocore.config.Config(retries={"max_attempts": 1}))
try:
    bad.invoke_agent(agentId="support", agentAliasId="TSTALIASID", sessionId="boto-3", inputText="hi")
    out["bad_sig"] = "no error"
except botocore.exceptions.ClientError as e:
    out["bad_sig"] = e.response["Error"]["Code"]
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread")]
async fn boto3_invoke_agent_streams_chunks_and_traces() {
    if !have_python_module("boto3") {
        eprintln!(
            "SKIPPED: python3 with boto3 is not installed (scripts/test installs it from PyPI)"
        );
        return;
    }
    let project = Project::new(|t| t);
    let server = Server::start(&project);
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            SCRIPT,
            &server.base,
            "AKIAWARDENSTARTER001",
            &project.aws_secret(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "boto3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ok = &v["ok"];
    assert_eq!(
        ok["text"], "I can help with your orders. Tell me an order number, for example A-1043.",
        "{v}"
    );
    assert_eq!(ok["sessionId"], "boto-1");
    assert_eq!(ok["contentType"], "application/json");
    assert!(ok["traces"].as_u64().unwrap() >= 3, "{v}");
    let kinds: Vec<&str> = ok["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(kinds.contains(&"orchestrationTrace"), "{kinds:?}");
    assert!(kinds.contains(&"guardrailTrace"), "{kinds:?}");
    // The tenant in the body's session attributes was replaced by the key's tenant: a warn.
    assert_eq!(ok["verdict"], "warn", "{v}");
    assert!(ok["rules"]
        .as_str()
        .unwrap()
        .contains("frontdoor.tenant-attribute-overridden"));
    assert_eq!(v["no_trace"], 0);
    assert_eq!(v["unknown_agent"], "ResourceNotFoundException");
    assert_eq!(v["roc"], "ValidationException");
    assert_eq!(v["bad_sig"], "AccessDeniedException");
}
