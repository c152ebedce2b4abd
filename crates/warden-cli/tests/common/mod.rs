//! Test harness: a starter project in a temp dir and the real `warden` binary serving it on
//! ephemeral loopback ports.

#![allow(dead_code)]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const BIN: &str = env!("CARGO_BIN_EXE_warden");
pub const TEST_KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../warden-auth/tests/keys");

pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    /// `warden init` into a temp dir, with ephemeral ports and `edit` applied to the config.
    pub fn new(edit: impl FnOnce(String) -> String) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(BIN)
            .arg("init")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cfg = dir.path().join("warden.toml");
        let text = std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("\"127.0.0.1:8080\"", "\"127.0.0.1:0\"")
            .replace("\"127.0.0.1:8081\"", "\"127.0.0.1:0\"")
            // Tests run side by side: sandbox cells are opted into by the tests that need
            // them (with their own cell prefix and subnet).
            .replace("mode = \"isolated\"", "mode = \"cooperative\"");
        std::fs::write(&cfg, edit(text)).unwrap();
        Project { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("warden.toml")
    }

    pub fn hs256_secret(&self) -> Vec<u8> {
        std::fs::read_to_string(self.path().join("secrets/jwt-hs256.key"))
            .unwrap()
            .trim_end()
            .as_bytes()
            .to_vec()
    }

    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.path().join("secrets/admin.token"))
            .unwrap()
            .trim_end()
            .to_string()
    }

    pub fn aws_secret(&self) -> String {
        std::fs::read_to_string(self.path().join("secrets/aws-acme.secret"))
            .unwrap()
            .trim_end()
            .to_string()
    }

    /// Runs `warden ARGS --config <project>`.
    pub fn warden(&self, args: &[&str]) -> std::process::Output {
        Command::new(BIN)
            .args(args)
            .arg("--config")
            .arg(self.config())
            .output()
            .unwrap()
    }

    /// A token for `tenant` with standard claims, adjusted by `edit`, signed HS256.
    pub fn token(&self, tenant: &str, edit: impl FnOnce(&mut Value)) -> String {
        let mut claims = standard_claims(tenant);
        edit(&mut claims);
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&self.hs256_secret()),
        )
        .unwrap()
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn standard_claims(tenant: &str) -> Value {
    let now = now();
    json!({"sub": "user-1", "tenant_id": tenant, "iss": "https://auth.example.com/",
           "aud": "warden", "iat": now, "nbf": now, "exp": now + 600})
}

pub struct Server {
    pub child: Child,
    pub base: String,
    pub admin: String,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    pub fn start(project: &Project) -> Server {
        Server::start_with_env(project, &[])
    }

    /// Starts `warden serve` with the AWS SDK's default credential chain fed from fixed
    /// environment credentials (no profile, no instance metadata) and the service endpoint
    /// `endpoint_var` (e.g. `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`) pointed at a local server.
    pub fn start_with_local_aws(project: &Project, endpoint_var: &str, url: &str) -> Server {
        Server::start_with_env(
            project,
            &[
                (endpoint_var, url),
                ("AWS_ACCESS_KEY_ID", "AKIDLOCALTEST0000001"),
                ("AWS_SECRET_ACCESS_KEY", "local-test-secret"),
                ("AWS_EC2_METADATA_DISABLED", "true"),
                ("AWS_CONFIG_FILE", "/nonexistent/warden-test/config"),
                (
                    "AWS_SHARED_CREDENTIALS_FILE",
                    "/nonexistent/warden-test/credentials",
                ),
            ],
        )
    }

    /// Starts `warden serve` with extra environment variables (e.g. the AWS SDK's
    /// `AWS_ENDPOINT_URL_*` pointing at a local server).
    pub fn start_with_env(project: &Project, env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(project.config())
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        let (base, admin) = loop {
            let line = match lines.next() {
                Some(Ok(l)) => l,
                _ => panic!("warden serve exited before listening: {seen:#?}"),
            };
            if let Some(rest) = line.strip_prefix("warden: data plane listening on ") {
                let (data, admin) = rest.split_once(" ; admin on ").unwrap();
                break (data.to_string(), admin.to_string());
            }
            seen.push(line);
        };
        let log = std::sync::Arc::new(std::sync::Mutex::new(seen));
        let sink = log.clone();
        std::thread::spawn(move || {
            for l in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(l);
            }
        });
        Server {
            child,
            base,
            admin,
            stderr: log,
        }
    }

    pub fn log(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    pub fn invoke_url(&self, agent: &str, session: &str) -> String {
        format!("{}/v1/agents/{agent}/sessions/{session}/invoke", self.base)
    }

    /// Sends SIGTERM and waits for exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "server did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// POSTs an invoke and returns (status, headers, JSON body).
pub async fn invoke(
    server: &Server,
    token: Option<&str>,
    body: Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = client()
        .post(server.invoke_url("support", "s-1"))
        .json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

/// The server's Prometheus text.
pub async fn metrics(server: &Server) -> String {
    client()
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Asserts the common error shape and returns its code.
pub fn error_code(body: &Value) -> String {
    let err = &body["error"];
    assert!(err["message"].is_string(), "no error message in {body}");
    assert!(
        err["requestId"].as_str().is_some_and(|r| r.len() >= 16),
        "no request id in {body}"
    );
    err["code"].as_str().unwrap().to_string()
}

/// Whether `python3` can import `module` (boto3, awslambdaric); tests that need it print
/// `SKIPPED:` when not (scripts/test installs both from PyPI).
pub fn have_python_module(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}
