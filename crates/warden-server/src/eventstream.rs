//! AWS event-stream framing (`application/vnd.amazon.eventstream`) for the Bedrock-compatible
//! InvokeAgent route: `chunk`, `trace` and `returnControl` events and modeled exceptions, with
//! the prelude and message CRCs written by `aws-smithy-eventstream`.

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use base64::Engine;
use serde_json::{json, Value};

/// One `:message-type = event` frame whose payload is `payload` (JSON).
pub fn event(event_type: &'static str, payload: &Value) -> Vec<u8> {
    frame(
        vec![
            Header::new(":message-type", HeaderValue::String("event".into())),
            Header::new(":event-type", HeaderValue::String(event_type.into())),
            Header::new(
                ":content-type",
                HeaderValue::String("application/json".into()),
            ),
        ],
        serde_json::to_vec(payload).unwrap_or_default(),
    )
}

/// A `chunk` event: the answer text as the base64 `bytes` blob of a `PayloadPart`.
pub fn chunk(text: &str) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    event("chunk", &json!({"bytes": b64}))
}

/// A modeled exception frame (`:message-type = exception`), e.g. `throttlingException`.
pub fn exception(exception_type: &'static str, message: &str) -> Vec<u8> {
    frame(
        vec![
            Header::new(":message-type", HeaderValue::String("exception".into())),
            Header::new(
                ":exception-type",
                HeaderValue::String(exception_type.into()),
            ),
            Header::new(
                ":content-type",
                HeaderValue::String("application/json".into()),
            ),
        ],
        serde_json::to_vec(&json!({"message": message})).unwrap_or_default(),
    )
}

fn frame(headers: Vec<Header>, payload: Vec<u8>) -> Vec<u8> {
    let mut message = Message::new(payload);
    for h in headers {
        message = message.add_header(h);
    }
    let mut out = Vec::with_capacity(256);
    // Writing to a Vec only fails for frames over the protocol's size limits, which the
    // callers' bounded payloads never reach; an empty frame would then fail the client's CRC
    // check rather than pass silently.
    let _ = write_message_to(&message, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::read_message_from;

    #[test]
    fn frames_round_trip_with_valid_crcs() {
        let bytes = chunk("Order A-1043 has shipped.");
        let mut buf = bytes::Bytes::from(bytes);
        let msg = read_message_from(&mut buf).expect("valid frame");
        let ty = msg
            .headers()
            .iter()
            .find(|h| h.name().as_str() == ":event-type")
            .unwrap();
        assert_eq!(ty.value().as_string().unwrap().as_str(), "chunk");
        let payload: Value = serde_json::from_slice(msg.payload()).unwrap();
        let text = base64::engine::general_purpose::STANDARD
            .decode(payload["bytes"].as_str().unwrap())
            .unwrap();
        assert_eq!(text, b"Order A-1043 has shipped.");
    }

    #[test]
    fn a_flipped_bit_fails_the_crc() {
        let mut bytes = exception("throttlingException", "slow down");
        let n = bytes.len();
        bytes[n - 6] ^= 1;
        let mut buf = bytes::Bytes::from(bytes);
        assert!(read_message_from(&mut buf).is_err());
    }
}
