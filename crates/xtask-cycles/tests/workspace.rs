//! The check on the real workspace: fails on any import cycle between
//! modules of any workspace member (as `cargo run -p xtask-cycles` does).

use std::path::Path;

#[test]
fn the_workspace_has_no_import_cycle() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let reports = xtask_cycles::check_workspace(here, &[])
        .unwrap_or_else(|e| panic!("could not check the workspace: {e}"));
    // Every member has at least its library or a binary.
    assert!(reports.len() >= 10, "only {} targets", reports.len());
    let cycles: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            r.cycles
                .iter()
                .map(move |c| format!("{} {}: {c}", r.target.package, r.target.kind))
        })
        .collect();
    assert!(cycles.is_empty(), "\n{}", cycles.join("\n"));
}
