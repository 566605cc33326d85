//! Replays every seed and regression input in `fuzz/corpus/<target>/`
//! through the same entry points the fuzz targets call, on stable, as
//! part of `cargo test`: a crash once found stays fixed.
//!
//! One test, run serially: a panic inside a spawned task (the HTTP
//! target's handlers) is caught by tokio and would pass unseen, so a
//! panic hook counts panics, and hooks are process-wide.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn every_corpus_replays_without_a_panic() {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let panics = Arc::new(AtomicUsize::new(0));
    let counted = panics.clone();
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        counted.fetch_add(1, Ordering::SeqCst);
        default(info);
    }));
    let mut failures = Vec::new();
    for (target, run) in minikms_fuzz::TARGETS {
        let dir = corpus_root().join(target);
        let inputs = files(&dir);
        if inputs.is_empty() {
            let why = format!("no corpus for target {target} in {}", dir.display());
            if ci {
                failures.push(why);
            } else {
                eprintln!("skipping: {why}");
            }
            continue;
        }
        for input in inputs {
            let Ok(data) = std::fs::read(&input) else {
                failures.push(format!("cannot read {}", input.display()));
                continue;
            };
            let before = panics.load(Ordering::SeqCst);
            let outcome = std::panic::catch_unwind(|| run(&data));
            if outcome.is_err() || panics.load(Ordering::SeqCst) != before {
                failures.push(format!("{target}: {} panicked", input.display()));
            }
        }
    }
    let _ = std::panic::take_hook();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
