//! The Lambda Runtime API (2018-06-01) served to one handler process, and that process.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::{HeaderMap, StatusCode};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, Mutex};
use warden_core::Sensitive;

/// The largest response or error body accepted from a handler (Lambda's own limit is 6 MB).
const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// How to run one handler.
#[derive(Debug, Clone)]
pub struct HandlerSpec {
    /// Tool name, used as the Lambda function name.
    pub function_name: String,
    /// The command, e.g. `["python3", "-m", "awslambdaric", "app.lambda_handler"]`.
    pub command: Vec<String>,
    pub workdir: PathBuf,
    /// Extra environment (per-tenant secrets go here and nowhere else).
    pub env: Vec<(String, Sensitive<String>)>,
    pub memory_mb: u64,
    /// Prepares the process before it starts (the sandbox puts it into its cell); `None`
    /// runs it as a plain child process in its own process group.
    pub launcher: Option<Arc<dyn Launcher>>,
}

/// Prepares a handler's command before spawn: joins a sandbox cell, drops privileges.
pub trait Launcher: Send + Sync + std::fmt::Debug {
    /// Configures `cmd` (typically installs a `pre_exec` hook).
    fn prepare(&self, cmd: &mut std::process::Command) -> std::io::Result<()>;
    /// The home directory the handler gets (it may not be able to read the server's own).
    fn home(&self) -> Option<PathBuf> {
        None
    }
}

/// What the handler did with one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `POST /runtime/invocation/{id}/response`: the result bytes.
    Response(Vec<u8>),
    /// `POST /runtime/invocation/{id}/error`.
    FunctionError { error_type: String, body: Value },
    /// `POST /runtime/init/error`: the handler could not start.
    InitError { error_type: String, body: Value },
}

/// Why an invocation produced no outcome.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("cannot start handler `{command}`: {reason}")]
    Spawn { command: String, reason: String },
    #[error("handler did not answer within {0} ms; it and its children were killed")]
    Timeout(u64),
    #[error("handler exited before answering ({0})")]
    Exited(String),
    #[error("runtime API error: {0}")]
    Io(String),
}

struct Invocation {
    id: String,
    event: Vec<u8>,
    deadline_ms: u64,
}

struct Shared {
    function_arn: String,
    next: Mutex<mpsc::Receiver<Invocation>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<Outcome>>,
    init_waiter: Mutex<Option<oneshot::Sender<Outcome>>>,
}

/// One handler process and the Runtime API endpoint it talks to. Serves one invocation at a
/// time; reuse it only for the same tool and tenant.
pub struct FunctionHost {
    addr: SocketAddr,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Invocation>,
    child: Mutex<Option<tokio::process::Child>>,
    pgid: i32,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FunctionHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionHost")
            .field("addr", &self.addr)
            .field("pgid", &self.pgid)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_RESPONSE_BYTES))
        .with_state(shared)
}

async fn next(State(s): State<Arc<Shared>>) -> Response {
    // The runtime long-polls here; the lock makes concurrent `next` calls queue up.
    let inv = {
        let mut rx = s.next.lock().await;
        rx.recv().await
    };
    let Some(inv) = inv else {
        return (StatusCode::GONE, "host is shutting down").into_response();
    };
    let mut headers = HeaderMap::new();
    let set = |h: &mut HeaderMap, k: &'static str, v: &str| {
        if let Ok(v) = v.parse() {
            h.insert(k, v);
        }
    };
    set(&mut headers, "lambda-runtime-aws-request-id", &inv.id);
    set(
        &mut headers,
        "lambda-runtime-deadline-ms",
        &inv.deadline_ms.to_string(),
    );
    set(
        &mut headers,
        "lambda-runtime-invoked-function-arn",
        &s.function_arn,
    );
    set(
        &mut headers,
        "lambda-runtime-trace-id",
        &format!(
            "Root=1-{:08x}-{};Sampled=0",
            inv.deadline_ms / 1000,
            &inv.id.replace('-', "")[..24]
        ),
    );
    set(&mut headers, "content-type", "application/json");
    (StatusCode::OK, headers, inv.event).into_response()
}

async fn deliver(s: &Shared, id: &str, outcome: Outcome) -> Response {
    match s.waiting.lock().await.remove(id) {
        Some(tx) => {
            let _ = tx.send(outcome);
            (StatusCode::ACCEPTED, "{\"status\":\"OK\"}").into_response()
        }
        None => (
            StatusCode::BAD_REQUEST,
            "{\"errorMessage\":\"unknown or finished request id\",\"errorType\":\"InvalidRequestID\"}",
        )
            .into_response(),
    }
}

async fn response(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    deliver(&s, &id, Outcome::Response(body.to_vec())).await
}

/// The error type is the body's `errorType` (the exception class, e.g. `ValueError`) when the
/// runtime sent one, else the `Lambda-Runtime-Function-Error-Type` header.
fn error_outcome(headers: &HeaderMap, body: &Bytes) -> (String, Value) {
    let header = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Runtime.UnknownReason")
        .to_string();
    let body: Value = serde_json::from_slice(body).unwrap_or_else(
        |_| serde_json::json!({"errorMessage": String::from_utf8_lossy(body), "errorType": header}),
    );
    let error_type = body["errorType"]
        .as_str()
        .map(str::to_string)
        .unwrap_or(header);
    (error_type, body)
}

async fn error(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (error_type, body) = error_outcome(&headers, &body);
    deliver(&s, &id, Outcome::FunctionError { error_type, body }).await
}

async fn init_error(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let (error_type, body) = error_outcome(&headers, &body);
    let outcome = Outcome::InitError { error_type, body };
    if let Some(tx) = s.init_waiter.lock().await.take() {
        let _ = tx.send(outcome.clone());
    }
    *s.init_error.lock().await = Some(outcome);
    (StatusCode::ACCEPTED, "{\"status\":\"OK\"}").into_response()
}

impl FunctionHost {
    /// Binds a Runtime API endpoint on `bind` (port 0 for an ephemeral port) and starts the
    /// handler process pointed at it.
    pub async fn start(spec: &HandlerSpec, bind: SocketAddr) -> Result<FunctionHost, BrokerError> {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|e| BrokerError::Io(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| BrokerError::Io(e.to_string()))?;
        let (tx, rx) = mpsc::channel(1);
        let shared = Arc::new(Shared {
            function_arn: format!(
                "arn:aws:lambda:local:000000000000:function:{}",
                spec.function_name
            ),
            next: Mutex::new(rx),
            waiting: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
            init_waiter: Mutex::new(None),
        });
        let app = router(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let Some((program, args)) = spec.command.split_first() else {
            server.abort();
            return Err(BrokerError::Spawn {
                command: String::new(),
                reason: "empty command".into(),
            });
        };
        let handler_name = args.last().cloned().unwrap_or_default();
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .current_dir(&spec.workdir)
            .env_clear()
            .env(
                "PATH",
                std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
            )
            .env("LANG", "C.UTF-8")
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &spec.function_name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                spec.memory_mb.to_string(),
            )
            .env("LAMBDA_TASK_ROOT", &spec.workdir)
            .env("_HANDLER", handler_name)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        for (k, v) in &spec.env {
            cmd.env(k, v.expose());
        }
        match &spec.launcher {
            None => {
                cmd.process_group(0);
                if let Ok(home) = std::env::var("HOME") {
                    cmd.env("HOME", home);
                }
            }
            Some(launcher) => {
                let home = launcher.home().unwrap_or_else(|| PathBuf::from("/tmp"));
                cmd.env("HOME", home);
                if let Err(e) = launcher.prepare(cmd.as_std_mut()) {
                    server.abort();
                    return Err(BrokerError::Spawn {
                        command: spec.command.join(" "),
                        reason: format!("cannot prepare the sandbox: {e}"),
                    });
                }
            }
        }
        let child = cmd.spawn().map_err(|e| {
            server.abort();
            BrokerError::Spawn {
                command: spec.command.join(" "),
                reason: e.to_string(),
            }
        })?;
        let pgid = child.id().map(|p| p as i32).unwrap_or(0);
        Ok(FunctionHost {
            addr,
            shared,
            tx,
            child: Mutex::new(Some(child)),
            pgid,
            server,
        })
    }

    /// The Runtime API address the handler was given (`AWS_LAMBDA_RUNTIME_API`).
    pub fn runtime_api(&self) -> SocketAddr {
        self.addr
    }

    /// Hands the handler one event and waits for its outcome. On timeout the handler's whole
    /// process group is killed and the host cannot be reused.
    pub async fn invoke(&self, event: &Value, timeout: Duration) -> Result<Outcome, BrokerError> {
        if let Some(init) = self.shared.init_error.lock().await.clone() {
            return Ok(init);
        }
        let id = uuid::Uuid::new_v4().to_string();
        let deadline_ms = now_ms() + timeout.as_millis() as u64;
        let (reply, rx) = oneshot::channel();
        self.shared.waiting.lock().await.insert(id.clone(), reply);
        let (init_tx, init_rx) = oneshot::channel();
        *self.shared.init_waiter.lock().await = Some(init_tx);
        let inv = Invocation {
            id: id.clone(),
            event: serde_json::to_vec(event).map_err(|e| BrokerError::Io(e.to_string()))?,
            deadline_ms,
        };
        self.tx
            .send(inv)
            .await
            .map_err(|_| BrokerError::Io("runtime API closed".into()))?;
        let exited = async {
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let mut guard = self.child.lock().await;
                if let Some(child) = guard.as_mut() {
                    if let Ok(Some(status)) = child.try_wait() {
                        return status.to_string();
                    }
                }
            }
        };
        let result = tokio::select! {
            r = rx => r.map_err(|_| BrokerError::Io("outcome channel closed".into())),
            r = init_rx => r.map_err(|_| BrokerError::Io("init channel closed".into())),
            status = exited => Err(BrokerError::Exited(status)),
            _ = tokio::time::sleep(timeout) => {
                self.kill().await;
                Err(BrokerError::Timeout(timeout.as_millis() as u64))
            }
        };
        self.shared.waiting.lock().await.remove(&id);
        result
    }

    /// Kills the handler and every process in its group.
    pub async fn kill(&self) {
        if self.pgid > 0 {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(self.pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if let Some(mut child) = self.child.lock().await.take() {
            let _ = child.kill().await;
        }
    }

    /// Stops the handler and the Runtime API endpoint.
    pub async fn shutdown(self) {
        self.kill().await;
        self.server.abort();
    }
}
