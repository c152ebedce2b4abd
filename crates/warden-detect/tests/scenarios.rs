//! Every labelled scenario under tests/scenarios/ must produce its expected decision and exactly
//! its expected rule ids; prints the per-rule precision / recall table.

mod support;

#[test]
fn every_labelled_scenario() {
    let outcomes: Vec<support::Outcome> =
        support::load_all().into_iter().map(support::run).collect();
    assert!(outcomes.len() >= 30, "only {} scenarios", outcomes.len());
    let attacks = outcomes
        .iter()
        .filter(|o| o.scenario.category == "attack")
        .count();
    assert!(
        outcomes.len() - attacks >= attacks,
        "fewer benign look-alikes than attacks"
    );
    let mut failures = Vec::new();
    for o in &outcomes {
        let p = o.problems();
        if !p.is_empty() {
            failures.push(format!(
                "{}: {}\n    findings: {:#?}",
                o.scenario.name,
                p.join("; "),
                o.findings
                    .iter()
                    .map(|f| (&f.rule, f.decision, f.confidence, &f.message))
                    .collect::<Vec<_>>()
            ));
        }
    }
    println!("{}", support::report(&outcomes));
    assert!(
        failures.is_empty(),
        "{} scenario(s) wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Streaming every scenario step by step (egress delivered with the step it follows in time)
/// ends with the same findings as the one-shot evaluation, and nothing streamed is retracted.
#[test]
fn streaming_matches_one_shot() {
    use warden_detect::{evaluate, DetectConfig, Detector};
    for s in support::load_all() {
        let ev = support::evidence(&s);
        let expected = evaluate(&ev);
        let mut d = Detector::new(DetectConfig::default(), ev.tools.clone())
            .with_context(ev.context.clone());
        let mut streamed = Vec::new();
        let mut next = 0usize;
        for (i, step) in ev.steps.iter().enumerate() {
            let until = ev.steps.get(i + 1).and_then(|n| n.event_time.clone());
            let start = next;
            while next < ev.egress.len()
                && until
                    .as_deref()
                    .is_none_or(|u| ev.egress[next].time.as_str() < u)
            {
                next += 1;
            }
            streamed.extend(d.on_step(step.clone(), &ev.egress[start..next]));
        }
        let all = d.finish(&ev.egress[next..]);
        assert_eq!(all, expected, "{}", s.name);
        for f in &streamed {
            assert!(
                all.iter().any(|a| a.key() == f.key()),
                "{}: {} retracted",
                s.name,
                f.key()
            );
        }
    }
}
