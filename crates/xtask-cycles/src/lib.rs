//! CI's module import-cycle check: in every library and binary target of
//! every workspace member, no two modules may depend on each other,
//! directly or around a ring.
//!
//! Layout, bottom-up: `metadata` lists the targets (`cargo metadata`);
//! `tree` loads a target's module tree with syn, as rustc would (`mod x;`
//! to x.rs or x/mod.rs, `#[path]`, inline `mod x { }`), leaving out what
//! exists only under `cfg(test)`; `resolve` says which module defines what
//! a path names; `deps` builds the module graph; `graph` finds its cycles
//! (petgraph's Tarjan).
//!
//! # What counts
//!
//! Module M depends on module N (M ≠ N) when:
//! - a `use` in M names N or an item of N, private or `pub use`, renamed,
//!   in a group, or a glob (`use N::*` depends on N). A re-export is
//!   followed to where the item is defined: `use crate::Error` where the
//!   root has `pub use error::Error` depends on `error`, not on the root.
//!   An enum variant is its enum's, an associated item its type's;
//! - a type signature written in M names a path into N, also inside
//!   generics (`Result<_, N::Error>`, `Option<Box<_>>`), `impl Trait` and
//!   `dyn Trait`: struct, enum and union fields, type aliases, the types of
//!   consts and statics, fn and method parameters and return types, and
//!   impl headers (`impl N::Trait for N::Type`);
//! - a fn body (or a const's or static's value) in M names a qualified
//!   path into N (`crate::n::f()`, `n::Kind::A`), also in macro arguments
//!   that parse as expressions, or has a `use` of N or an item of N.
//!
//! Not counted: bare names in bodies (a name either comes from a `use`,
//! which counts, or may be a local variable), method calls (they need type
//! inference), generic bounds and where clauses, other macro bodies, a
//! module using itself, and "owns": a parent declaring `mod child` (a
//! parent using its child's items does count).
//! Paths into std and dependencies resolve to nothing here.
//! `#[cfg(test)]` items and modules are left out (any cfg that is false
//! when `test` is off); every other cfg (features, target) counts as on.
//!
//! # Where this differs from the cargo-modules check it replaced
//!
//! That one (`.ci/modcycles.py` over `cargo modules dependencies`, before
//! this crate) lifted rust-analyzer's item graph to modules. Here:
//! - `use`s of consts, statics, macros and enum variants count (there they
//!   did not): two modules sharing constants both ways are a cycle;
//! - fn bodies count as above (there they did not): a body calling
//!   `crate::n::f()` depends on `n` as much as a `use` would;
//! - a glob (`use super::*`) depends on the module it globs, not on all
//!   that module can see; names reached through it count where a
//!   signature or a body uses them;
//! - a method belongs to the module its impl block is written in, not to
//!   its type's module, and trait method signatures count;
//! - names are resolved by this crate's own resolver, not rust-analyzer:
//!   no macro expansion (items made by macros are unseen) and no type
//!   inference (method calls are not followed).

mod deps;
mod error;
mod graph;
mod metadata;
mod resolve;
mod tree;

use std::fmt::Write as _;
use std::path::Path;

pub use crate::deps::Reason;
pub use crate::error::Error;
pub use crate::metadata::Target;

/// The check's verdict on one target.
#[derive(Debug)]
pub struct TargetReport {
    pub target: Target,
    pub modules: usize,
    pub edges: usize,
    /// Each cycle, as text: its modules, then each dependency inside it with
    /// the `use`s and signatures behind it (file:line).
    pub cycles: Vec<String>,
}

/// The verdict on every target of the workspace in `dir` (or only of the
/// packages named in `only`).
pub fn check_workspace(dir: &Path, only: &[String]) -> Result<Vec<TargetReport>, Error> {
    let (root, targets) = metadata::targets(dir, only)?;
    targets
        .into_iter()
        .map(|t| check_target(t, &root))
        .collect()
}

/// The verdict on one target; file names in the report are relative to
/// `base` when they are under it.
pub fn check_target(target: Target, base: &Path) -> Result<TargetReport, Error> {
    let tree = tree::Tree::load(&target.crate_name, &target.root)?;
    let edges = deps::edges(&tree);
    let mut cycles = Vec::new();
    for cycle in graph::cycles(tree.modules.len(), &edges) {
        let name = |m: usize| format!("`{}`", tree.modules[m].name);
        let members: Vec<String> = cycle.modules.iter().map(|&m| name(m)).collect();
        let mut text = format!("import cycle between modules {}:", members.join(", "));
        for (from, to, reasons) in &cycle.edges {
            let file = tree.modules[*from].file.as_path();
            let file = file.strip_prefix(base).unwrap_or(file).display();
            let _ = write!(text, "\n    {} uses {}:", name(*from), name(*to));
            for r in reasons {
                let _ = write!(text, "\n        {file}:{}: {}", r.line, r.what);
            }
        }
        cycles.push(text);
    }
    Ok(TargetReport {
        modules: tree.modules.len(),
        edges: edges.len(),
        target,
        cycles,
    })
}

#[cfg(test)]
mod tests;
