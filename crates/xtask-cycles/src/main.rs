//! `cargo run -q -p xtask-cycles [PACKAGE...]`: the import-cycle check of
//! every workspace member (or only the packages named). Exit 0: no cycle;
//! 1: a cycle, each printed with the `use`s behind it; 2: could not check.

use std::process::ExitCode;

fn main() -> ExitCode {
    let only: Vec<String> = std::env::args().skip(1).collect();
    if only.iter().any(|a| a.starts_with('-')) {
        eprintln!("usage: cargo run -q -p xtask-cycles [PACKAGE...]");
        return ExitCode::from(2);
    }
    let reports = match xtask_cycles::check_workspace(std::path::Path::new("."), &only) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cycles: {e}");
            return ExitCode::from(2);
        }
    };
    let mut failed = Vec::new();
    for r in &reports {
        let what = format!("{} {}", r.target.package, r.target.kind);
        if r.cycles.is_empty() {
            println!("cycles: ok       {what} ({} modules)", r.modules);
            continue;
        }
        for c in &r.cycles {
            eprintln!("cycles: FAILED   {what}: {c}");
        }
        failed.push(what);
    }
    if !failed.is_empty() {
        eprintln!("cycles: import cycles in: {}", failed.join(", "));
        return ExitCode::FAILURE;
    }
    println!("cycles: no import cycles in {} targets", reports.len());
    ExitCode::SUCCESS
}
