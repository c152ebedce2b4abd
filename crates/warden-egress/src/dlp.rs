//! DLP hook: plaintext HTTP request bodies are handed to a caller-provided scanner.

use crate::attrib::InvocationContext;
use crate::event::PayloadFinding;

/// What the scanner sees of one plaintext HTTP request.
#[derive(Debug, Clone, Copy)]
pub struct ScanRequest<'a> {
    /// Destination name.
    pub host: &'a str,
    /// HTTP method.
    pub method: &'a str,
    /// Request path.
    pub path: &'a str,
    /// The first bytes of the body (at most the configured inspection window). For chunked
    /// bodies these are the raw bytes including chunk framing.
    pub body: &'a [u8],
    /// Whether the body was longer than the window (or its end was not seen).
    pub truncated: bool,
}

/// Scans outbound payloads (the guard implements this). Must be fast and must not block:
/// it runs on the proxy's IO task.
pub trait PayloadScanner: Send + Sync + 'static {
    /// Return findings; a finding with `blocking = true` stops the request in enforce mode.
    fn scan(&self, ctx: &InvocationContext, request: &ScanRequest<'_>) -> Vec<PayloadFinding>;
}
