//! Outbound payload scanning for the egress proxy: the guard's secret and PII detectors plus
//! the values of the secrets Warden injected into the running invocation, verbatim and in
//! the encodings a handler can apply in one call (base64 in either alphabet at any byte
//! alignment, hex, percent-encoding).

use std::collections::HashMap;
use std::sync::RwLock;
use warden_core::egress::PayloadFinding;
use warden_core::Sensitive;
use warden_egress::{InvocationContext, PayloadScanner, ScanRequest};
use warden_guard::{FindingKind, Guardrail, GuardrailSpec, Source};

/// Scans plaintext request paths and bodies. A secret Warden gave the tool, or any credential
/// the guard recognises, in a payload is a blocking finding; personal data is reported.
#[derive(Debug)]
pub struct EgressDlp {
    guard: Guardrail,
    injected: RwLock<HashMap<String, Vec<Sensitive<String>>>>,
    /// Per invocation: the texts whose personal data the call may carry (the user's input and
    /// the trusted session attributes), lower-cased. Reportable personal data found in them is
    /// the call doing its job (an e-mail sent to the address the user gave), not a leak, and
    /// is not reported; personal data from anywhere else (a tool's output, say) still is.
    expected: RwLock<HashMap<String, Vec<Sensitive<String>>>>,
}

impl EgressDlp {
    /// The embedded egress policy: secrets block; SSNs and card numbers block; e-mail addresses
    /// and phone numbers are reported.
    pub fn new() -> Result<Self, String> {
        let spec: GuardrailSpec = toml::from_str(
            r#"
            [pii]
            US_SOCIAL_SECURITY_NUMBER = "BLOCK"
            CREDIT_DEBIT_CARD_NUMBER = "BLOCK"
            AWS_SECRET_KEY = "BLOCK"
            AWS_ACCESS_KEY = "BLOCK"
            EMAIL = "NONE"
            PHONE = "NONE"
            "#,
        )
        .map_err(|e| e.to_string())?;
        let guard = Guardrail::compile("egress", &spec).map_err(|e| e.to_string())?;
        Ok(EgressDlp {
            guard,
            injected: RwLock::new(HashMap::new()),
            expected: RwLock::new(HashMap::new()),
        })
    }

    /// Remembers the secret values injected into an invocation, so a payload carrying one,
    /// verbatim or encoded, is caught.
    pub fn track(
        &self,
        invocation_id: &str,
        values: Vec<Sensitive<String>>,
        expected: Vec<String>,
    ) {
        let expected: Vec<_> = expected
            .into_iter()
            .filter(|t| !t.is_empty())
            .map(|t| Sensitive::new(t.to_lowercase()))
            .collect();
        if !expected.is_empty() {
            self.expected
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(invocation_id.to_string(), expected);
        }
        let values: Vec<_> = values
            .into_iter()
            .filter(|v| v.expose().len() >= 6)
            .flat_map(|v| encoded_forms(v.expose()))
            .map(Sensitive::new)
            .collect();
        if values.is_empty() {
            return;
        }
        self.injected
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(invocation_id.to_string(), values);
    }

    /// Forgets an invocation's secrets.
    pub fn forget(&self, invocation_id: &str) {
        self.injected
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(invocation_id);
        self.expected
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(invocation_id);
    }

    /// Whether `value` is part of what the call legitimately carries.
    fn is_expected(&self, invocation_id: &str, value: &str) -> bool {
        let value = value.trim().to_lowercase();
        if value.is_empty() {
            return false;
        }
        let expected = self.expected.read().unwrap_or_else(|p| p.into_inner());
        expected
            .get(invocation_id)
            .is_some_and(|texts| texts.iter().any(|t| t.expose().contains(value.as_str())))
    }
}

/// A secret and the forms it takes after one common encoding. Base64 is matched on the
/// groups that hold only the secret's bytes, at each of the three byte alignments it can sit
/// at inside a larger encoded payload, in the standard and the URL-safe alphabet.
fn encoded_forms(secret: &str) -> Vec<String> {
    use base64::Engine;
    let raw = secret.as_bytes();
    let mut out = vec![secret.to_string()];
    for engine in [
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        for align in 0..3usize {
            let mut data = vec![0u8; align];
            data.extend_from_slice(raw);
            let enc = engine.encode(&data);
            // Whole 3-byte groups made only of the secret's bytes.
            let first = align.div_ceil(3);
            let last = data.len() / 3;
            if last > first && (last - first) * 4 >= 8 {
                out.push(enc[first * 4..last * 4].to_string());
            }
        }
    }
    out.push(hex::encode(raw));
    out.push(hex::encode_upper(raw));
    let pct = percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    out.push(pct.clone());
    out.push(pct.replace("%20", "+"));
    out.sort();
    out.dedup();
    out
}

impl PayloadScanner for EgressDlp {
    fn scan(&self, ctx: &InvocationContext, request: &ScanRequest<'_>) -> Vec<PayloadFinding> {
        let body = String::from_utf8_lossy(request.body);
        let mut findings = Vec::new();
        {
            let injected = self.injected.read().unwrap_or_else(|p| p.into_inner());
            if let Some(values) = injected.get(&ctx.invocation_id) {
                let hit = values.iter().any(|v| {
                    let v = v.expose();
                    body.contains(v.as_str()) || request.path.contains(v.as_str())
                });
                if hit {
                    findings.push(PayloadFinding {
                        rule_id: "secret.injected".into(),
                        blocking: true,
                    });
                }
            }
        }
        for text in [request.path, body.as_ref()] {
            if text.is_empty() {
                continue;
            }
            let a = self.guard.scan(text, Source::Output);
            for f in &a.findings {
                let (rule_id, blocking) = match &f.kind {
                    FindingKind::Secret(s) => (format!("secret.{}", s.name().to_lowercase()), true),
                    FindingKind::Pii(p) => {
                        let blocking = f.action == warden_guard::Action::Blocked;
                        if !blocking
                            && f.encodings.is_empty()
                            && text
                                .get(f.span.clone())
                                .is_some_and(|v| self.is_expected(&ctx.invocation_id, v))
                        {
                            continue;
                        }
                        (format!("pii.{}", p.name().to_lowercase()), blocking)
                    }
                    _ => continue,
                };
                if !findings
                    .iter()
                    .any(|x: &PayloadFinding| x.rule_id == rule_id)
                {
                    findings.push(PayloadFinding { rule_id, blocking });
                }
            }
        }
        findings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn hit(secret: &str, payload: &str) -> bool {
        encoded_forms(secret)
            .iter()
            .any(|f| payload.contains(f.as_str()))
    }

    #[test]
    fn injected_secrets_are_found_encoded_inside_larger_payloads() {
        let secret = "cpn_live_4f8a2b9c7d1e";
        for prefix in ["", "k", "ke", "key=", "{\"telemetry\":\""] {
            let data = format!("{prefix}{secret}&more=1");
            for enc in [
                base64::engine::general_purpose::STANDARD.encode(&data),
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&data),
                hex::encode(&data),
                hex::encode_upper(&data),
                percent_encoding::utf8_percent_encode(&data, percent_encoding::NON_ALPHANUMERIC)
                    .to_string(),
            ] {
                assert!(hit(secret, &format!("payload={enc}")), "{prefix:?} {enc}");
            }
        }
        assert!(hit(secret, secret));
        // Other data of the same shape is not a hit.
        let other = base64::engine::general_purpose::STANDARD.encode("cpn_live_0000000000000");
        assert!(!hit(secret, &other));
        assert!(!hit(secret, "order A-1043 shipped"));
    }

    fn ctx() -> InvocationContext {
        InvocationContext {
            invocation_id: "inv-1".into(),
            tool: "mailer".into(),
            tenant: "acme".into(),
            allowlist: warden_egress::Allowlist::parse(["mail.internal"]).unwrap(),
            mode: warden_egress::Mode::Enforce,
            observation: warden_core::egress::Observation::Isolated,
        }
    }

    fn rules(dlp: &EgressDlp, body: &str) -> Vec<String> {
        dlp.scan(
            &ctx(),
            &ScanRequest {
                host: "mail.internal",
                method: "POST",
                path: "/send",
                body: body.as_bytes(),
                truncated: false,
            },
        )
        .into_iter()
        .map(|f| f.rule_id)
        .collect()
    }

    /// An address the call was given is the call doing its job; any other address leaving is
    /// reported; blocking data blocks whoever supplied it.
    #[test]
    fn reportable_data_the_call_carries_is_not_a_finding() {
        let dlp = EgressDlp::new().unwrap();
        dlp.track(
            "inv-1",
            vec![],
            vec![
                "Please mail the tracking link to me".into(),
                "Ana.Lopez@example.com".into(),
                "536-22-8410".into(),
            ],
        );
        assert!(rules(&dlp, r#"{"to":"ana.lopez@example.com"}"#).is_empty());
        assert_eq!(
            rules(
                &dlp,
                r#"{"to":"ana.lopez@example.com","bcc":"drop@evil.example"}"#
            ),
            ["pii.email"]
        );
        assert!(rules(&dlp, r#"{"ssn":"536-22-8410"}"#)
            .iter()
            .any(|r| r == "pii.us_social_security_number"));
        dlp.forget("inv-1");
        assert_eq!(
            rules(&dlp, r#"{"to":"ana.lopez@example.com"}"#),
            ["pii.email"]
        );
    }
}
