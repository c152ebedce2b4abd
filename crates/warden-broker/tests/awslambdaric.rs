//! Runs real Python Lambda handlers under `python3 -m awslambdaric` (PyPI) against Warden's
//! Runtime API host: responses, function errors, import (init) errors, warm reuse, secrets in
//! the environment, and a timeout that kills the handler's children.

use serde_json::json;
use std::time::Duration;
use warden_broker::{BrokerError, FunctionHost, HandlerSpec, Outcome};
use warden_core::Sensitive;

const APP: &str = r#"
import json, os, subprocess, time

def echo(event, context):
    return {"echo": event, "fn": context.function_name,
            "secret": os.environ.get("ORDERS_API_KEY") == "s3cr3t",
            "remaining": context.get_remaining_time_in_millis() > 0}

def boom(event, context):
    raise ValueError("order service timed out")

def hang(event, context):
    child = subprocess.Popen(["sleep", "300"])
    with open("child.pid", "w") as f:
        f.write(str(child.pid))
    time.sleep(300)
"#;

fn have_awslambdaric() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import awslambdaric"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn spec(dir: &std::path::Path, handler: &str) -> HandlerSpec {
    HandlerSpec {
        function_name: "orders".into(),
        command: vec![
            "python3".into(),
            "-m".into(),
            "awslambdaric".into(),
            handler.into(),
        ],
        workdir: dir.to_path_buf(),
        env: vec![("ORDERS_API_KEY".into(), Sensitive::new("s3cr3t".into()))],
        memory_mb: 128,
        launcher: None,
    }
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.py"), APP).unwrap();
    std::fs::write(
        dir.path().join("broken.py"),
        "import module_that_does_not_exist\n",
    )
    .unwrap();
    dir
}

macro_rules! require_awslambdaric {
    () => {
        if !have_awslambdaric() {
            eprintln!("SKIPPED: python3 with awslambdaric is not installed (scripts/test installs it from PyPI)");
            return;
        }
    };
}

#[tokio::test(flavor = "multi_thread")]
async fn responses_round_trip_and_the_process_is_reused() {
    require_awslambdaric!();
    let dir = project();
    let host = FunctionHost::start(
        &spec(dir.path(), "app.echo"),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    for i in 0..3 {
        let event = json!({"messageVersion": "1.0", "actionGroup": "orders", "i": i});
        let out = host.invoke(&event, Duration::from_secs(20)).await.unwrap();
        let Outcome::Response(bytes) = out else {
            panic!("expected a response, got {out:?}")
        };
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["echo"], event);
        assert_eq!(v["fn"], "orders");
        assert_eq!(
            v["secret"], true,
            "the secret reaches the handler's environment"
        );
        assert_eq!(v["remaining"], true, "the deadline header is honoured");
    }
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn function_errors_are_reported_with_their_type() {
    require_awslambdaric!();
    let dir = project();
    let host = FunctionHost::start(
        &spec(dir.path(), "app.boom"),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let out = host
        .invoke(&json!({}), Duration::from_secs(20))
        .await
        .unwrap();
    let Outcome::FunctionError { error_type, body } = out else {
        panic!("expected an error, got {out:?}")
    };
    assert!(error_type.contains("ValueError"), "{error_type}");
    assert_eq!(body["errorMessage"], "order service timed out");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn import_errors_are_init_failures() {
    require_awslambdaric!();
    let dir = project();
    let host = FunctionHost::start(
        &spec(dir.path(), "broken.handler"),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let out = host.invoke(&json!({}), Duration::from_secs(20)).await;
    let text = format!("{out:?}");
    assert!(
        text.contains("ImportModuleError") || matches!(out, Err(BrokerError::Exited(_))),
        "{text}"
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn timeouts_kill_the_handler_and_its_children() {
    require_awslambdaric!();
    let dir = project();
    let host = FunctionHost::start(
        &spec(dir.path(), "app.hang"),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let out = host.invoke(&json!({}), Duration::from_millis(3000)).await;
    assert!(matches!(out, Err(BrokerError::Timeout(3000))), "{out:?}");
    let pid: i32 = std::fs::read_to_string(dir.path().join("child.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut gone = false;
    for _ in 0..50 {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Gone, or a zombie waiting for a parent that was killed too.
        if state.is_empty() || state.split_whitespace().nth(2) == Some("Z") {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the handler's child process survived the timeout");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_program_is_a_precise_spawn_error() {
    let dir = project();
    let mut s = spec(dir.path(), "app.echo");
    s.command = vec!["/nonexistent/python".into()];
    let err = FunctionHost::start(&s, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/python"), "{err}");
}
