//! Session memory and return of control against the real `warden` binary: memory scoped by
//! (tenant, agent, session) with its window, idle expiry and `endSession`; a `RETURN_CONTROL`
//! action group handed back through boto3's own `bedrock-agent-runtime` client and resumed
//! with `returnControlInvocationResults`.

mod common;

use common::*;
use serde_json::{json, Value};

/// The starter with `orders` handed back to the caller instead of run in the sandbox.
fn return_control_project(edit: impl FnOnce(String) -> String) -> Project {
    Project::new(|t| {
        edit(t.replace(
            "workdir = \"tools/orders\"",
            "workdir = \"tools/orders\"\nexecution = \"return_control\"",
        ))
    })
}

/// The messages the model was shown in the first model turn of a trace.
fn prompt_messages(body: &Value) -> Vec<Value> {
    let text = body["trace"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|p| p["trace"]["orchestrationTrace"]["modelInvocationInput"]["text"].as_str())
        .expect("a model input part");
    let v: Value = serde_json::from_str(text).unwrap();
    v["messages"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_is_per_tenant_windowed_and_ended_on_request() {
    let project =
        Project::new(|t| t.replace("[agents.support]", "[agents.support]\nmemory_window = 2"));
    let server = Server::start(&project);
    let acme = project.token("acme", |_| {});
    let globex = project.token("globex", |_| {});
    let ask = |token: String, text: &'static str, extra: Value| {
        let url = server.invoke_url("support", "shared-1");
        async move {
            let mut body = json!({"inputText": text, "enableTrace": true});
            if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
                b.extend(e);
            }
            let resp = client()
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let v: Value = resp.json().await.unwrap();
            assert_eq!(status, 200, "{v}");
            v
        }
    };
    let first = ask(acme.clone(), "Hello, I am Ana", json!({})).await;
    assert_eq!(prompt_messages(&first).len(), 1);
    let second = ask(acme.clone(), "Still there?", json!({})).await;
    let m = prompt_messages(&second);
    assert_eq!(m.len(), 3, "{m:?}");
    assert_eq!(m[0]["content"], "Hello, I am Ana");
    assert_eq!(m[1]["role"], "assistant");
    // Another tenant reusing the same session id sees nothing of acme's conversation.
    let other = ask(globex.clone(), "Who was here before me?", json!({})).await;
    assert_eq!(prompt_messages(&other).len(), 1, "{other}");
    // The window keeps the newest two exchanges.
    ask(acme.clone(), "Third", json!({})).await;
    let fourth = ask(acme.clone(), "Fourth", json!({})).await;
    let messages = prompt_messages(&fourth);
    let users: Vec<&str> = messages
        .iter()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(users, ["Still there?", "Third", "Fourth"]);
    // endSession with input answers, then forgets; the next turn starts fresh.
    let ended = ask(acme.clone(), "Bye", json!({"endSession": true})).await;
    assert_eq!(ended["sessionEnded"], true);
    let fresh = ask(acme.clone(), "Hello again", json!({})).await;
    assert_eq!(prompt_messages(&fresh).len(), 1, "{fresh}");
    // endSession alone ends the session without running the agent.
    let resp = client()
        .post(server.invoke_url("support", "shared-1"))
        .bearer_auth(&acme)
        .json(&json!({"endSession": true}))
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["sessionEnded"], true, "{v}");
    assert_eq!(v["hadMemory"], true, "{v}");
    let fresh = ask(acme, "Anyone?", json!({})).await;
    assert_eq!(prompt_messages(&fresh).len(), 1);
    // globex's memory under the same session id was never touched by acme's endSession.
    let g = ask(globex, "Me again", json!({})).await;
    assert_eq!(prompt_messages(&g).len(), 3, "{g}");
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_sessions_expire() {
    let project = Project::new(|t| {
        t.replace(
            "[agents.support]",
            "[agents.support]\nsession_idle_secs = 1",
        )
    });
    let server = Server::start(&project);
    let token = project.token("acme", |_| {});
    let url = server.invoke_url("support", "idle-1");
    let send = |text: &'static str| {
        let (url, token) = (url.clone(), token.clone());
        async move {
            client()
                .post(url)
                .bearer_auth(token)
                .json(&json!({"inputText": text, "enableTrace": true}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    send("one").await;
    assert_eq!(prompt_messages(&send("two").await).len(), 3);
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    assert_eq!(prompt_messages(&send("three").await).len(), 1);
}

/// Return of control over Warden's JSON route: the handed-back call, precise refusals for a
/// wrong invocation id, another tenant's resume and mismatched results, then the resume
/// with the caller's result (input text ignored) and a verdict that says the call ran
/// outside the sandbox.
#[tokio::test(flavor = "multi_thread")]
async fn return_of_control_over_the_json_route() {
    let project = return_control_project(|t| t);
    let server = Server::start(&project);
    let acme = project.token("acme", |_| {});
    let url = server.invoke_url("support", "roc-1");
    let post = |token: String, body: Value| {
        let url = url.clone();
        async move {
            let resp = client()
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    let (status, paused) = post(
        acme.clone(),
        json!({"inputText": "Where is order A-1043?", "enableTrace": true}),
    )
    .await;
    assert_eq!(status, 200, "{paused}");
    let rc = &paused["returnControl"];
    let id = rc["invocationId"].as_str().unwrap().to_string();
    let api = &rc["invocationInputs"][0]["apiInvocationInput"];
    assert_eq!(api["actionGroup"], "orders", "{paused}");
    assert_eq!(api["apiPath"], "/orders/{orderId}");
    assert_eq!(api["parameters"][0]["value"], "A-1043");
    assert_eq!(paused["completion"], "");
    let result = |id: &str, group: &str| {
        json!({"inputText": "ignored", "enableTrace": true, "sessionState": {"invocationId": id,
            "returnControlInvocationResults": [{"apiResult": {"actionGroup": group,
            "apiPath": "/orders/{orderId}", "httpMethod": "GET",
            "responseBody": {"TEXT": {"body": "{\"status\":\"shipped\",\"eta\":\"Tuesday\"}"}}}}]}})
    };
    let (s, e) = post(acme.clone(), result("not-the-id", "orders")).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("bad_request")),
        "{e}"
    );
    let (s, e) = post(acme.clone(), result(&id, "payments")).await;
    assert_eq!(s, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not answer"),
        "{e}"
    );
    // Another tenant cannot resume acme's paused invocation, even with its id.
    let (s, e) = post(project.token("globex", |_| {}), result(&id, "orders")).await;
    assert_eq!(s, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no call waiting"),
        "{e}"
    );
    // The refusals changed nothing: acme resumes.
    let (s, done) = post(acme.clone(), result(&id, "orders")).await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(
        done["completion"],
        "Order A-1043 has shipped, arriving Tuesday."
    );
    assert!(done.get("returnControl").is_none());
    assert_eq!(done["verdict"]["decision"], "allow", "{done}");
    assert!(done["verdict"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c.as_str().unwrap().starts_with("return-control:orders")));
    let observed = done["trace"].as_array().unwrap().iter().any(|p| {
        p["trace"]["orchestrationTrace"]["observation"]["actionGroupInvocationOutput"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("Tuesday"))
    });
    assert!(observed, "{done}");
    // The same results again: nothing is waiting any more.
    let (s, _) = post(acme, result(&id, "orders")).await;
    assert_eq!(s, 400);
}

const BOTO3_ROC: &str = r#"
import json, sys, boto3, botocore
endpoint, key, secret = sys.argv[1], sys.argv[2], sys.argv[3]
client = boto3.client("bedrock-agent-runtime", region_name="us-east-1", endpoint_url=endpoint,
                      aws_access_key_id=key, aws_secret_access_key=secret,
                      config=botocore.config.Config(retries={"max_attempts": 1}))
out = {}
r = client.invoke_agent(agentId="support", agentAliasId="TSTALIASID", sessionId="boto-roc",
                        inputText="Where is order A-1042?", enableTrace=True)
rc, text = None, ""
for ev in r["completion"]:
    if "returnControl" in ev:
        rc = ev["returnControl"]
    elif "chunk" in ev:
        text += ev["chunk"]["bytes"].decode("utf-8")
out["paused_text"] = text
out["rc"] = rc
inp = rc["invocationInputs"][0]["apiInvocationInput"]
r = client.invoke_agent(agentId="support", agentAliasId="TSTALIASID", sessionId="boto-roc",
    enableTrace=True,
    sessionState={"invocationId": rc["invocationId"], "returnControlInvocationResults": [
        {"apiResult": {"actionGroup": inp["actionGroup"], "apiPath": inp["apiPath"],
                       "httpMethod": inp["httpMethod"], "httpStatusCode": 200,
                       "responseBody": {"TEXT": {"body": "{\"status\":\"packed\",\"eta\":\"Friday\"}"}}}}]})
text, kinds = "", set()
for ev in r["completion"]:
    if "chunk" in ev:
        text += ev["chunk"]["bytes"].decode("utf-8")
    elif "trace" in ev:
        kinds |= set(ev["trace"]["trace"].keys())
out["text"] = text
out["kinds"] = sorted(kinds)
out["verdict"] = r["ResponseMetadata"]["HTTPHeaders"].get("x-warden-verdict")
try:
    r = client.invoke_agent(agentId="support", agentAliasId="TSTALIASID", sessionId="boto-roc",
        sessionState={"invocationId": rc["invocationId"], "returnControlInvocationResults": [
            {"apiResult": {"actionGroup": "orders", "apiPath": inp["apiPath"], "httpMethod": "GET",
                           "responseBody": {"TEXT": {"body": "again"}}}}]})
    for _ in r["completion"]:
        pass
    out["again"] = "no error"
except botocore.exceptions.ClientError as e:
    out["again"] = e.response["Error"]["Code"]
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread")]
async fn boto3_return_of_control_round_trip() {
    if !have_python_module("boto3") {
        eprintln!(
            "SKIPPED: python3 with boto3 is not installed (scripts/test installs it from PyPI)"
        );
        return;
    }
    let project = return_control_project(|t| t);
    let server = Server::start(&project);
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            BOTO3_ROC,
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
    assert_eq!(v["paused_text"], "", "{v}");
    let api = &v["rc"]["invocationInputs"][0]["apiInvocationInput"];
    assert_eq!(api["actionGroup"], "orders", "{v}");
    assert_eq!(api["parameters"][0]["value"], "A-1042");
    assert_eq!(
        v["text"], "Order A-1042 is being packed, arriving Friday.",
        "{v}"
    );
    assert!(v["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k == "orchestrationTrace"));
    assert_eq!(v["verdict"], "allow", "{v}");
    assert_eq!(v["again"], "ValidationException", "{v}");
}

/// A client that disconnects while its agent's tool is still running does not cut the
/// invocation short: it runs to its end, its verdict is indexed and its exchange remembered.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_disconnecting_mid_invocation_leaves_a_complete_record() {
    if !have_python_module("awslambdaric") {
        eprintln!("SKIPPED: python3 with awslambdaric is not installed (scripts/test installs it)");
        return;
    }
    // api.internal answers after 1.5 s; the client gives up after 300 ms.
    let app = axum::Router::new().route(
        "/orders/{id}",
        axum::routing::get(|| async {
            tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
            r#"{"status":"shipped","eta":"Tuesday"}"#
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    let project = Project::new(|t| {
        t.replace(
            "\"api.internal\" = \"127.0.0.1:18080\"",
            &format!("\"api.internal\" = \"{api}\""),
        )
    });
    let server = Server::start(&project);
    let token = project.token("acme", |_| {});
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(300))
        .build()
        .unwrap();
    let r = impatient
        .post(server.invoke_url("support", "gone-1"))
        .bearer_auth(&token)
        .json(&json!({"inputText": "Where is order A-1043?"}))
        .send()
        .await;
    assert!(r.is_err(), "the client gave up before the answer");
    let admin = project.admin_token();
    let mut rows = Value::Null;
    for _ in 0..60 {
        rows = client()
            .get(format!("{}/admin/v1/verdicts?tenant=acme", server.admin))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if rows["verdicts"]
            .as_array()
            .is_some_and(|v| v.iter().any(|r| r["sessionId"] == "gone-1"))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let row = rows["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["sessionId"] == "gone-1")
        .unwrap_or_else(|| panic!("no verdict for the abandoned invocation: {rows}"));
    assert_eq!(row["decision"], "allow", "{rows}");
    // The finished exchange was remembered: the next turn's prompt carries it.
    let (status, _, body) = invoke_session(&server, &token, "gone-1", "And A-1042?").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(prompt_messages(&body).len(), 3, "{body}");
}

async fn invoke_session(
    server: &Server,
    token: &str,
    session: &str,
    text: &str,
) -> (u16, (), Value) {
    let resp = client()
        .post(server.invoke_url("support", session))
        .bearer_auth(token)
        .json(&json!({"inputText": text, "enableTrace": true}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, (), resp.json().await.unwrap())
}
