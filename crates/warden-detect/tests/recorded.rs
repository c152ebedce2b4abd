//! The labelled scenarios recorded from real runs (warden-cli's `tests/scenarios_live.rs`:
//! the real `warden serve`, real Python handlers in isolated sandbox cells) replayed offline:
//! the replay must reproduce exactly the detector rules the live server reported, and every
//! scenario must meet its label or its documented misfire. Prints the per-rule precision /
//! recall table of the recorded set (separately from the hand-built set).

mod support;

use std::collections::BTreeSet;

use warden_detect::ids;

fn live_detector_rules(s: &support::Scenario) -> BTreeSet<String> {
    let r = s.recorded.as_ref().expect("recorded");
    r.live_verdict
        .rules
        .iter()
        .filter(|x| ids::ALL.contains(&x.as_str()))
        .cloned()
        .collect()
}

#[test]
fn recorded_real_runs_replay_and_meet_their_labels() {
    let outcomes: Vec<support::Outcome> = support::load_recorded()
        .into_iter()
        .map(support::run)
        .collect();
    assert!(
        outcomes.len() >= 30,
        "only {} recorded scenarios",
        outcomes.len()
    );
    let attacks = outcomes
        .iter()
        .filter(|o| o.scenario.category == "attack")
        .count();
    assert!(
        outcomes.len() - attacks >= attacks,
        "fewer benign look-alikes than attacks"
    );
    let mut failures = Vec::new();
    let mut misfires = Vec::new();
    for o in &outcomes {
        let s = &o.scenario;
        let Some(rec) = &s.recorded else {
            failures.push(format!("{}: no `recorded` provenance", s.name));
            continue;
        };
        if rec.sandbox != "isolated" {
            failures.push(format!(
                "{}: recorded in {} mode; the recorded set must come from isolated cells",
                s.name, rec.sandbox
            ));
        }
        // Offline replay reproduces what the live server's detector found.
        let live = live_detector_rules(s);
        if o.fired() != live {
            failures.push(format!(
                "{}: replay fired {:?}, the live run reported {:?}",
                s.name,
                o.fired(),
                live
            ));
        }
        let meets_label = o.problems().is_empty();
        match (&rec.known_misfire, meets_label) {
            (None, true) => {}
            (Some(_), true) => failures.push(format!(
                "{}: now meets its label; remove known_misfire (in warden-cli's live scenario and here)",
                s.name
            )),
            (Some(m), false) => {
                let rules: BTreeSet<String> = m.rules.iter().cloned().collect();
                if rules == o.fired() && m.decision == rec.live_verdict.decision {
                    misfires.push(format!("- `{}`: {}", s.name, m.note));
                } else {
                    failures.push(format!(
                        "{}: fired {:?}, neither the label nor the documented misfire {:?}",
                        s.name,
                        o.fired(),
                        m.rules
                    ));
                }
            }
            (None, false) => failures.push(format!("{}: {}", s.name, o.problems().join("; "))),
        }
    }
    println!("Recorded from real runs (tests/recorded/):\n");
    println!("{}", support::report(&outcomes));
    println!("| scenario | category | label | replay | live verdict |\n|---|---|---|---|---|");
    for o in &outcomes {
        let live = &o.scenario.recorded.as_ref().unwrap().live_verdict;
        println!(
            "| `{}` | {} | {} {:?} | {} {:?} | {} |",
            o.scenario.name,
            o.scenario.category,
            o.scenario.expect.decision.as_str(),
            o.expected(),
            o.verdict.decision.as_str(),
            o.fired(),
            live.decision.as_str()
        );
    }
    if !misfires.is_empty() {
        println!("\nDocumented misfires:\n{}", misfires.join("\n"));
    }
    assert!(
        failures.is_empty(),
        "{} recorded scenario(s) wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Streaming a recorded run step by step ends with the same findings as the one-shot
/// evaluation, as for the hand-built suite.
#[test]
fn recorded_streaming_matches_one_shot() {
    use warden_detect::{evaluate, DetectConfig, Detector};
    for s in support::load_recorded() {
        let ev = support::evidence(&s);
        let expected = evaluate(&ev);
        let mut d = Detector::new(DetectConfig::default(), ev.tools.clone())
            .with_context(ev.context.clone());
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
            d.on_step(step.clone(), &ev.egress[start..next]);
        }
        let all = d.finish(&ev.egress[next..]);
        assert_eq!(all, expected, "{}", s.name);
    }
}
