//! Prints the labelled scenario suite's per-rule precision / recall table (Markdown).
//! `cargo run -p warden-detect --example scenario_report`

#[path = "../tests/support/mod.rs"]
mod support;

fn main() {
    let outcomes: Vec<support::Outcome> =
        support::load_all().into_iter().map(support::run).collect();
    print!("{}", support::report(&outcomes));
    for o in &outcomes {
        let p = o.problems();
        if !p.is_empty() {
            println!("- {}: {}", o.scenario.name, p.join("; "));
        }
    }
}
