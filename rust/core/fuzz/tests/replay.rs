//! Every seed in `corpus/<target>/` and every crash input kept in
//! `regressions/<target>/` through its target, in `cargo test` (no libFuzzer):
//! a crash found once stays a failing test until it is fixed.

use std::path::Path;

use scanbridge_core_fuzz::TARGETS;

fn replay(dir: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut failures = Vec::new();
    let mut count = 0;
    for (name, target) in TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(name)) else {
            continue;
        };
        let mut files: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        for path in files.into_iter().filter(|p| p.is_file()) {
            let data = std::fs::read(&path).unwrap();
            count += 1;
            if std::panic::catch_unwind(|| target(&data)).is_err() {
                failures.push(format!("{name}: {}", path.display()));
            }
        }
    }
    assert!(count > 0, "no input under {}", root.display());
    assert!(
        failures.is_empty(),
        "inputs that fail:\n{}",
        failures.join("\n")
    );
}

#[test]
fn corpus_passes() {
    replay("corpus");
}

#[test]
fn regressions_pass() {
    replay("regressions");
}
