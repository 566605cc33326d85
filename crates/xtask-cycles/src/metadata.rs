//! The targets to check, from `cargo metadata` (no dependency resolution,
//! so it is fast and offline).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::error::Error;

/// One library or binary target of a workspace member.
#[derive(Debug, Clone)]
pub struct Target {
    /// The package's name, as in its Cargo.toml.
    pub package: String,
    /// "lib" or "bin NAME", for the messages.
    pub kind: String,
    /// The name the crate's own paths start from (`-` made `_`).
    pub crate_name: String,
    /// The root file: src/lib.rs, src/main.rs, src/bin/x.rs...
    pub root: PathBuf,
}

/// Library kinds that cargo-modules' `--lib` covered; tests, examples,
/// benches and build scripts are not checked.
const LIB_KINDS: &[&str] = &["lib", "rlib", "dylib", "cdylib", "staticlib", "proc-macro"];

/// The library and binary targets of every workspace member in `dir`'s
/// workspace, or only of the packages in `only` when it is not empty.
pub fn targets(dir: &Path, only: &[String]) -> Result<(PathBuf, Vec<Target>), Error> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(dir)
        .output()
        .map_err(|e| Error::Metadata(e.to_string()))?;
    if !output.status.success() {
        return Err(Error::Metadata(
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        ));
    }
    let meta: Value =
        serde_json::from_slice(&output.stdout).map_err(|e| Error::Metadata(e.to_string()))?;
    parse(&meta, only)
}

fn parse(meta: &Value, only: &[String]) -> Result<(PathBuf, Vec<Target>), Error> {
    let bad = |what: &str| Error::Metadata(format!("no {what} in its output"));
    let root = meta["workspace_root"]
        .as_str()
        .ok_or_else(|| bad("workspace_root"))?;
    let members: BTreeSet<&str> = meta["workspace_members"]
        .as_array()
        .ok_or_else(|| bad("workspace_members"))?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut unknown: BTreeSet<&String> = only.iter().collect();
    let mut out = Vec::new();
    for pkg in meta["packages"].as_array().ok_or_else(|| bad("packages"))? {
        let (Some(id), Some(name)) = (pkg["id"].as_str(), pkg["name"].as_str()) else {
            return Err(bad("package id or name"));
        };
        if !members.contains(id) || !(only.is_empty() || only.iter().any(|o| o == name)) {
            continue;
        }
        unknown.retain(|o| *o != name);
        for t in pkg["targets"].as_array().ok_or_else(|| bad("targets"))? {
            let kinds: Vec<&str> = t["kind"]
                .as_array()
                .map(|k| k.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let (Some(tname), Some(src)) = (t["name"].as_str(), t["src_path"].as_str()) else {
                return Err(bad("target name or src_path"));
            };
            let kind = if kinds.iter().any(|k| LIB_KINDS.contains(k)) {
                "lib".to_string()
            } else if kinds.contains(&"bin") {
                format!("bin {tname}")
            } else {
                continue;
            };
            out.push(Target {
                package: name.to_string(),
                kind,
                crate_name: tname.replace('-', "_"),
                root: PathBuf::from(src),
            });
        }
    }
    if !unknown.is_empty() {
        return Err(Error::UnknownPackages(
            unknown.into_iter().cloned().collect(),
        ));
    }
    Ok((PathBuf::from(root), out))
}
