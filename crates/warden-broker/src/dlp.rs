//! Outbound payload scanning for the egress proxy: the guard's secret and PII detectors plus
//! the exact values of the secrets Warden injected into the running invocation.

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
        })
    }

    /// Remembers the secret values injected into an invocation, so a payload carrying one
    /// is caught verbatim.
    pub fn track(&self, invocation_id: &str, values: Vec<Sensitive<String>>) {
        let values: Vec<_> = values
            .into_iter()
            .filter(|v| v.expose().len() >= 6)
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
    }
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
                    FindingKind::Pii(p) => (
                        format!("pii.{}", p.name().to_lowercase()),
                        f.action == warden_guard::Action::Blocked,
                    ),
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
