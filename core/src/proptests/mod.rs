//! Property tests (proptest) of the gateway's parsers and raw-text splices, and the replay of
//! the checked-in corpus in `core/tests/corpus/<target>/`. See `docs/testing.md`.
//!
//! Every property is a plain check function (`check_*`) run by proptest on generated inputs
//! and by a `corpus_*` test on every file of its corpus directory, so a case that proptest
//! found once is kept as a file and replayed by every `cargo test`. proptest's own failure
//! persistence is off: its seed files only replay while the strategies stay as they are, the
//! corpus holds the inputs themselves.
//!
//! A corpus file whose name starts with `known-bug-` is an input that the code under test
//! still gets wrong: its replay expects the check to fail, and fails itself once the check
//! passes, so the fix is noticed and the file renamed into a normal regression case.

mod config;
mod json;
mod jsonrpc;
mod splice;
mod sse;

use std::path::{Path, PathBuf};

use proptest::test_runner::Config as ProptestConfig;

/// The configuration of a property: `default_cases` cases unless `PROPTEST_CASES` says how
/// many; no failure persistence (see the module doc).
pub(crate) fn config(default_cases: u32) -> ProptestConfig {
    let base = ProptestConfig::default();
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() {
        base.cases
    } else {
        default_cases
    };
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..base
    }
}

/// The targets that have a corpus directory.
const TARGETS: &[&str] = &[
    "jsonrpc",
    "sse_frames",
    "sse_decode",
    "rename",
    "progress_token",
    "lines",
    "config",
];

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(target)
}

/// Every file of `target`'s corpus, by name, in name order.
pub(crate) fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus directory {}: {e}", dir.display()))
        .map(|entry| {
            let entry = entry.expect("corpus entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(entry.path()).expect("corpus file");
            (name, bytes)
        })
        .filter(|(name, _)| !name.starts_with('.') && name != "README.md")
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {target} is empty");
    files
}

/// Runs `check` on every file of `target`'s corpus; see the module doc for `known-bug-` files.
pub(crate) fn replay(target: &str, check: impl Fn(&[u8])) {
    let mut failures = Vec::new();
    for (name, bytes) in corpus(target) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&bytes)));
        let known_bug = name.starts_with("known-bug-");
        match (outcome, known_bug) {
            (Ok(()), false) => {}
            (Err(e), true) => {
                eprintln!("known bug still there: {target}/{name}: {}", panic_text(&e))
            }
            (Err(e), false) => failures.push(format!("{target}/{name}: {}", panic_text(&e))),
            (Ok(()), true) => failures.push(format!(
                "{target}/{name} passes now: the bug looks fixed, rename the file without the \
                 `known-bug-` prefix"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "corpus failures:\n{}",
        failures.join("\n")
    );
}

fn panic_text(e: &Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "panic".into())
}

#[test]
fn every_corpus_directory_is_replayed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    for entry in std::fs::read_dir(&root).expect("core/tests/corpus") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name != "README.md" {
            assert!(
                TARGETS.contains(&name.as_str()),
                "core/tests/corpus/{name} is not replayed by any test (add it to TARGETS and a corpus_ test)"
            );
        }
    }
    for target in TARGETS {
        assert!(corpus_dir(target).is_dir(), "missing corpus {target}");
    }
}
