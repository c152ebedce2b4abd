//! Why a Bedrock proxy-mode invocation failed: one variant per cause, from the AWS error codes
//! (before the stream starts as HTTP errors, mid-stream as exception frames) to Warden's own
//! bounds (round trips, action groups, timeouts).

use std::time::Duration;

use aws_sdk_bedrockagentruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockagentruntime::operation::invoke_agent::InvokeAgentError;
use aws_sdk_bedrockagentruntime::types::error::ResponseStreamError;
use aws_smithy_types::event_stream::RawMessage;
use warden_agent::ToolError;

use crate::client::RemoteOutcome;

/// Why an InvokeAgent exchange could not complete.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BedrockAgentError {
    /// The client's own settings are unusable (agent id, alias, region, endpoint).
    #[error("bedrock-agent {field} {value:?} is invalid: {reason}")]
    Config {
        field: &'static str,
        value: String,
        reason: String,
    },
    /// A request value Bedrock would reject, caught before sending (e.g. the session id).
    #[error("InvokeAgent {field} {value:?} is invalid: {reason}")]
    InvalidRequest {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    /// No usable AWS credentials from the default chain, or signing failed.
    #[error("no usable AWS credentials for InvokeAgent: {0}")]
    Credentials(String),
    #[error("Bedrock throttled InvokeAgent (throttlingException): {message}")]
    Throttling { message: String },
    #[error("Bedrock denied InvokeAgent (accessDeniedException): {message}")]
    AccessDenied { message: String },
    #[error("Bedrock rejected InvokeAgent as invalid (validationException): {message}")]
    Validation { message: String },
    #[error("Bedrock agent or alias not found (resourceNotFoundException): {message}")]
    ResourceNotFound { message: String },
    #[error("Bedrock reported a conflict (conflictException): {message}")]
    Conflict { message: String },
    #[error("Bedrock service quota exceeded (serviceQuotaExceededException): {message}")]
    ServiceQuotaExceeded { message: String },
    /// A resource the agent depends on failed (a Lambda, a knowledge base, the model).
    #[error("a dependency of the Bedrock agent failed (dependencyFailedException{}): {message}", resource_suffix(.resource_name))]
    DependencyFailed {
        resource_name: Option<String>,
        message: String,
    },
    #[error("Bedrock reported a bad gateway (badGatewayException{}): {message}", resource_suffix(.resource_name))]
    BadGateway {
        resource_name: Option<String>,
        message: String,
    },
    #[error("the agent's model is not ready (modelNotReadyException): {message}")]
    ModelNotReady { message: String },
    #[error("Bedrock failed internally (internalServerException{}): {message}", .reason.as_deref().map(|r| format!(", reason {r}")).unwrap_or_default())]
    InternalServer {
        reason: Option<String>,
        message: String,
    },
    /// An error code outside the InvokeAgent model (e.g. an unmodeled `error` frame).
    #[error("Bedrock answered InvokeAgent with error {code}: {message}")]
    Service { code: String, message: String },
    /// One InvokeAgent round trip (request and its whole response stream) took too long.
    #[error("InvokeAgent round trip {round_trip} did not finish within {} ms", .after.as_millis())]
    Timeout { after: Duration, round_trip: u32 },
    /// The connection failed or broke.
    #[error("InvokeAgent transport failed: {0}")]
    Transport(String),
    /// The response stream could not be decoded (bad frame, CRC, payload or headers).
    #[error("InvokeAgent response stream is malformed: {0}")]
    MalformedStream(String),
    /// A `returnControl` event Warden cannot act on (no invocation id, no inputs, ...).
    #[error("returnControl event is malformed: {0}")]
    MalformedReturnControl(String),
    /// Bedrock handed back a call to an action group this Warden agent may not use.
    #[error("returnControl names action group `{action_group}`, which is not one of this agent's action groups ({})", .allowed.join(", "))]
    ForbiddenActionGroup {
        action_group: String,
        allowed: Vec<String>,
    },
    /// The call asks for an end user's confirmation, which proxy mode cannot obtain.
    #[error("returnControl asks for user confirmation ({invocation_type}) of `{action_group}`; proxy mode has no user to ask")]
    ConfirmationRequired {
        action_group: String,
        invocation_type: String,
    },
    /// Bedrock still returned control on the last InvokeAgent call the bound allows; the
    /// calls of that round did not run.
    #[error("Bedrock still returned control after {limit} InvokeAgent calls (the bound); its calls did not run")]
    TooManyRoundTrips { limit: u32 },
    /// Warden's tool runner (broker and sandbox) failed or refused a returned call.
    #[error("action group `{action_group}` failed in Warden's sandbox: {source}")]
    Tool {
        action_group: String,
        #[source]
        source: ToolError,
    },
}

fn resource_suffix(resource: &Option<String>) -> String {
    resource
        .as_deref()
        .map(|r| format!(", resource {r}"))
        .unwrap_or_default()
}

impl BedrockAgentError {
    /// The HTTP status Warden's front door should answer with. Upstream failures that are not
    /// the caller's doing are 502 (504 for timeouts); throttling stays 429 so clients back off.
    pub fn http_status(&self) -> u16 {
        use BedrockAgentError::*;
        match self {
            InvalidRequest { .. } => 400,
            Throttling { .. } | ServiceQuotaExceeded { .. } => 429,
            ForbiddenActionGroup { .. } => 403,
            DependencyFailed { .. } | Tool { .. } => 424,
            Timeout { .. } => 504,
            ModelNotReady { .. } => 503,
            Config { .. }
            | Credentials(_)
            | AccessDenied { .. }
            | Validation { .. }
            | ResourceNotFound { .. }
            | Conflict { .. }
            | BadGateway { .. }
            | InternalServer { .. }
            | Service { .. }
            | Transport(_)
            | MalformedStream(_)
            | MalformedReturnControl(_)
            | ConfirmationRequired { .. }
            | TooManyRoundTrips { .. } => 502,
        }
    }

    /// Whether retrying the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        use BedrockAgentError::*;
        matches!(
            self,
            Throttling { .. }
                | ServiceQuotaExceeded { .. }
                | ModelNotReady { .. }
                | InternalServer { .. }
                | BadGateway { .. }
                | Timeout { .. }
                | Transport(_)
        )
    }
}

/// A failed run with everything gathered before the failure: Bedrock's trace parts so far, the
/// calls Warden ran and their egress. The verdict and the audit record need these even when
/// the invocation fails.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error}")]
pub struct RunFailure {
    #[source]
    pub error: BedrockAgentError,
    pub partial: Box<RemoteOutcome>,
}

fn message(m: Option<&str>) -> String {
    m.unwrap_or("(no message)").to_string()
}

/// Maps one modeled exception, identical in the HTTP error and the exception frame.
macro_rules! modeled {
    ($e:expr, $ty:ident) => {{
        use BedrockAgentError as B;
        match $e {
            $ty::ThrottlingException(x) => B::Throttling {
                message: message(x.message()),
            },
            $ty::AccessDeniedException(x) => B::AccessDenied {
                message: message(x.message()),
            },
            $ty::ValidationException(x) => B::Validation {
                message: message(x.message()),
            },
            $ty::ResourceNotFoundException(x) => B::ResourceNotFound {
                message: message(x.message()),
            },
            $ty::ConflictException(x) => B::Conflict {
                message: message(x.message()),
            },
            $ty::ServiceQuotaExceededException(x) => B::ServiceQuotaExceeded {
                message: message(x.message()),
            },
            $ty::DependencyFailedException(x) => B::DependencyFailed {
                resource_name: x.resource_name().map(str::to_string),
                message: message(x.message()),
            },
            $ty::BadGatewayException(x) => B::BadGateway {
                resource_name: x.resource_name().map(str::to_string),
                message: message(x.message()),
            },
            $ty::ModelNotReadyException(x) => B::ModelNotReady {
                message: message(x.message()),
            },
            $ty::InternalServerException(x) => B::InternalServer {
                reason: x.reason().map(str::to_string),
                message: message(x.message()),
            },
            other => B::Service {
                code: other.code().unwrap_or("(no error code)").to_string(),
                message: message(other.message()),
            },
        }
    }};
}

fn invoke_error(e: &InvokeAgentError) -> BedrockAgentError {
    modeled!(e, InvokeAgentError)
}

fn stream_error(e: &ResponseStreamError) -> BedrockAgentError {
    modeled!(e, ResponseStreamError)
}

/// Whether an SDK error text is about resolving credentials (the SDK has no typed variant).
fn about_credentials(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("credentials") || t.contains("identity") || t.contains("auth scheme")
}

fn other_sdk_error<E, R>(err: &SdkError<E, R>) -> BedrockAgentError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let text = DisplayErrorContext(err).to_string();
    match err {
        SdkError::TimeoutError(_) => BedrockAgentError::Transport(format!("SDK timeout: {text}")),
        SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_)
            if about_credentials(&text) =>
        {
            BedrockAgentError::Credentials(text)
        }
        SdkError::DispatchFailure(_) => BedrockAgentError::Transport(text),
        SdkError::ResponseError(_) => BedrockAgentError::MalformedStream(text),
        SdkError::ConstructionFailure(_) => BedrockAgentError::Config {
            field: "request",
            value: String::new(),
            reason: text,
        },
        _ => BedrockAgentError::Transport(text),
    }
}

/// Maps the error of the InvokeAgent call itself (before the stream starts).
pub(crate) fn from_invoke(
    err: SdkError<InvokeAgentError, aws_sdk_bedrockagentruntime::config::http::HttpResponse>,
) -> BedrockAgentError {
    match &err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            if (200..300).contains(&status) {
                // A success status whose headers the SDK could not read as InvokeAgent's.
                return BedrockAgentError::MalformedStream(format!(
                    "HTTP {status} response is not an InvokeAgent stream: {}",
                    DisplayErrorContext(&err)
                ));
            }
            invoke_error(ctx.err())
        }
        _ => other_sdk_error(&err),
    }
}

/// Maps an error read from the response stream (exception frames, bad frames, broken body).
pub(crate) fn from_stream(err: SdkError<ResponseStreamError, RawMessage>) -> BedrockAgentError {
    match &err {
        SdkError::ServiceError(ctx) => stream_error(ctx.err()),
        SdkError::ResponseError(ctx) => match unmodeled_error(ctx.raw()) {
            Some(e) => e,
            None => other_sdk_error(&err),
        },
        _ => other_sdk_error(&err),
    }
}

/// An unmodeled error frame (`:message-type = error` with `:error-code` and `:error-message`),
/// which the SDK reports as a frame it could not unmarshal.
fn unmodeled_error(raw: &RawMessage) -> Option<BedrockAgentError> {
    let RawMessage::Decoded(message) = raw else {
        return None;
    };
    let header = |name: &str| {
        message
            .headers()
            .iter()
            .find(|h| h.name().as_str() == name)
            .and_then(|h| h.value().as_string().ok())
            .map(|v| v.as_str().to_string())
    };
    if header(":message-type").as_deref() != Some("error") {
        return None;
    }
    Some(BedrockAgentError::Service {
        code: header(":error-code").unwrap_or_else(|| "(no :error-code)".into()),
        message: header(":error-message").unwrap_or_else(|| "(no :error-message)".into()),
    })
}
