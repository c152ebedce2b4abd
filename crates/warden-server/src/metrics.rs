//! Prometheus metrics: one registry, typed handles, names held here and nowhere else.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every metric Warden exports.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub killswitch: IntGaugeVec,
    pub ratelimit_refusals: IntCounterVec,
    pub auth_failures: IntCounterVec,
    pub verdicts: IntCounterVec,
    pub guard_interventions: IntCounterVec,
    pub model_tokens: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "warden_requests_total",
                "Data-plane requests by route, tenant and outcome",
            ),
            &["route", "tenant", "outcome"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "warden_request_duration_seconds",
                "Data-plane request latency",
            )
            .buckets(vec![
                0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                5.0, 10.0,
            ]),
            &["route"],
        )?;
        let killswitch = IntGaugeVec::new(
            Opts::new(
                "warden_killswitch_engaged",
                "1 while a kill-switch scope is engaged",
            ),
            &["scope"],
        )?;
        let ratelimit_refusals = IntCounterVec::new(
            Opts::new(
                "warden_ratelimit_refusals_total",
                "Requests refused by a rate limit",
            ),
            &["tenant", "limit"],
        )?;
        let auth_failures = IntCounterVec::new(
            Opts::new(
                "warden_auth_failures_total",
                "Refused credentials by reason",
            ),
            &["reason"],
        )?;
        let verdicts = IntCounterVec::new(
            Opts::new("warden_verdicts_total", "Verdicts by decision"),
            &["decision"],
        )?;
        let guard_interventions = IntCounterVec::new(
            Opts::new(
                "warden_guard_interventions_total",
                "Guardrail interventions by guardrail and stage",
            ),
            &["guardrail", "stage"],
        )?;
        let model_tokens = IntCounterVec::new(
            Opts::new(
                "warden_model_tokens_total",
                "Model tokens charged per tenant",
            ),
            &["tenant"],
        )?;
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(killswitch.clone()),
            Box::new(ratelimit_refusals.clone()),
            Box::new(auth_failures.clone()),
            Box::new(verdicts.clone()),
            Box::new(guard_interventions.clone()),
            Box::new(model_tokens.clone()),
        ] {
            registry.register(c)?;
        }
        Ok(Metrics {
            registry,
            requests,
            latency,
            killswitch,
            ratelimit_refusals,
            auth_failures,
            verdicts,
            guard_interventions,
            model_tokens,
        })
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}
