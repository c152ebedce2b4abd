//! A scripted HTTP server on 127.0.0.1:0 for the client tests: it answers each request with
//! the next canned response (the last one repeats) and records what it received.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

/// One canned answer.
#[derive(Clone, Debug)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    /// Wait this long before answering (a hang when longer than the client's deadline).
    pub delay: Duration,
    /// Send the body in 1 KiB chunks with no Content-Length.
    pub chunked: bool,
}

impl Canned {
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Canned {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.into(),
            delay: Duration::ZERO,
            chunked: false,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ASCII header").to_string())
    }
}

#[derive(Clone)]
struct Shared {
    script: Arc<Mutex<Vec<Canned>>>,
    seen: Arc<Mutex<Vec<Recorded>>>,
}

/// A running scripted server.
pub struct Server {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Recorded>>>,
}

impl Server {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.seen.lock().unwrap().clone()
    }
}

async fn answer(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.seen.lock().unwrap().push(Recorded {
        method,
        uri,
        headers,
        body,
    });
    let canned = {
        let mut script = shared.script.lock().unwrap();
        if script.len() > 1 {
            script.remove(0)
        } else {
            script[0].clone()
        }
    };
    if !canned.delay.is_zero() {
        tokio::time::sleep(canned.delay).await;
    }
    let status = StatusCode::from_u16(canned.status).unwrap();
    let mut response = if canned.chunked {
        let chunks: Vec<Result<Bytes, std::convert::Infallible>> = canned
            .body
            .as_bytes()
            .chunks(1024)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        (
            status,
            axum::body::Body::from_stream(futures_util::stream::iter(chunks)),
        )
            .into_response()
    } else {
        (status, canned.body.clone()).into_response()
    };
    for (name, value) in &canned.headers {
        response
            .headers_mut()
            .insert(*name, value.parse().expect("header value"));
    }
    response
}

/// Starts a server answering every path with `script`, in order.
pub async fn serve(script: Vec<Canned>) -> Server {
    assert!(!script.is_empty());
    let shared = Shared {
        script: Arc::new(Mutex::new(script)),
        seen: Arc::new(Mutex::new(Vec::new())),
    };
    let seen = shared.seen.clone();
    let app = Router::new().fallback(answer).with_state(shared);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Server { addr, seen }
}
