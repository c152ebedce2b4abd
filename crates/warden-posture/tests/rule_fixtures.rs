//! Fixture directories per rule: `tests/fixtures/rules/<RULE-ID>/fail.*` must produce the rule,
//! `pass.*` must not (and neither may produce a per-file error).

use std::path::Path;
use warden_posture::{scan_paths, ScanOptions, RULES};

#[test]
fn every_rule_fixture_passes_and_fails_as_named() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rules");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 40, "only {} fixture dirs", dirs.len());
    let mut problems = Vec::new();
    for dir in &dirs {
        let rule = dir.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            RULES.iter().any(|r| r.id == rule),
            "fixture dir for unknown rule {rule}"
        );
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(
            files.iter().any(|f| f.file_stem().unwrap() == "fail"),
            "{rule}: no fail file"
        );
        assert!(
            files.iter().any(|f| f.file_stem().unwrap() == "pass"),
            "{rule}: no pass file"
        );
        for f in files {
            let r = scan_paths(
                std::slice::from_ref(&f),
                &ScanOptions {
                    own_accounts: vec!["111122223333".into()],
                    threads: 1,
                    ..ScanOptions::default()
                },
            );
            if !r.errors.is_empty() {
                problems.push(format!("{}: errors {:?}", f.display(), r.errors));
            }
            let has = r
                .findings
                .iter()
                .any(|x| x.rule == rule && x.suppressed.is_none());
            let fail = f.file_stem().unwrap() == "fail";
            if fail != has {
                problems.push(format!(
                    "{}: expected {rule} {}; got {:?}",
                    f.display(),
                    if fail { "present" } else { "absent" },
                    r.rule_ids()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
