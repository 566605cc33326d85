//! The rules on small fixture crates written to a temporary folder.

use std::path::Path;

use crate::{check_target, Target};

/// Writes `files` (path, text) under a fresh folder, checks the crate whose
/// root is its lib.rs, and returns its cycles as text.
fn cycles(files: &[(&str, &str)]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    for (path, text) in files {
        let path = dir.path().join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir: {e}"));
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write: {e}"));
    }
    let target = Target {
        package: "fixture".into(),
        kind: "lib".into(),
        crate_name: "fixture".into(),
        root: dir.path().join("lib.rs"),
    };
    check_target(target, dir.path())
        .unwrap_or_else(|e| panic!("check: {e}"))
        .cycles
}

fn one_cycle(files: &[(&str, &str)], modules: &str) -> String {
    let found = cycles(files);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with(&format!("import cycle between modules {modules}:")),
        "{}",
        found[0]
    );
    found[0].clone()
}

const AB: (&str, &str) = ("lib.rs", "mod a;\nmod b;\n");

#[test]
fn two_modules_importing_each_other_are_a_cycle() {
    let text = one_cycle(
        &[
            AB,
            ("a.rs", "use crate::b::B;\npub struct A;\n"),
            ("b.rs", "pub struct B;\nuse super::a::A as Renamed;\n"),
        ],
        "`fixture::a`, `fixture::b`",
    );
    assert!(text.contains("a.rs:1: use crate::b::B"), "{text}");
    assert!(text.contains("b.rs:2: use super::a::A"), "{text}");
}

#[test]
fn a_parent_declaring_and_using_its_child_is_no_cycle() {
    let found = cycles(&[
        ("lib.rs", "mod a;\npub use a::A;\n"),
        ("a.rs", "mod b;\npub use b::X as A;\n"),
        ("a/b.rs", "pub struct X;\n"),
    ]);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn cfg_test_code_is_ignored() {
    let found = cycles(&[
        AB,
        ("a.rs", "use crate::b::B;\npub struct A;\n"),
        (
            "b.rs",
            "pub struct B;\n#[cfg(test)]\nuse crate::a::A;\n\
             #[cfg(all(test, unix))]\nfn f(_: crate::a::A) {}\n\
             #[cfg(test)]\nmod tests {\n    use crate::a::*;\n}\n",
        ),
    ]);
    assert!(found.is_empty(), "{found:#?}");
    // ...but not what exists only outside tests.
    one_cycle(
        &[
            AB,
            ("a.rs", "use crate::b::B;\npub struct A;\n"),
            (
                "b.rs",
                "pub struct B;\n#[cfg(not(test))]\nuse crate::a::A;\n",
            ),
        ],
        "`fixture::a`, `fixture::b`",
    );
}

#[test]
fn a_test_only_module_file_is_ignored() {
    let found = cycles(&[
        AB,
        ("a.rs", "use crate::b::B;\npub struct A;\n"),
        ("b.rs", "pub struct B;\nmod t;\n"),
        ("b/t.rs", "#![cfg(test)]\nuse crate::a::A;\n"),
    ]);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn re_exports_are_followed_to_the_defining_module() {
    let root = ("lib.rs", "mod error;\nmod x;\npub use error::Error;\n");
    let found = cycles(&[
        root,
        ("error.rs", "pub struct Error;\n"),
        ("x.rs", "use crate::Error;\n"),
    ]);
    assert!(found.is_empty(), "{found:#?}");
    one_cycle(
        &[
            root,
            ("error.rs", "pub struct Error(pub crate::x::X);\n"),
            ("x.rs", "use crate::Error;\npub struct X;\n"),
        ],
        "`fixture::error`, `fixture::x`",
    );
}

#[test]
fn type_signatures_count() {
    one_cycle(
        &[
            AB,
            (
                "a.rs",
                "pub struct A {\n    b: Option<Box<crate::b::B>>,\n}\n",
            ),
            (
                "b.rs",
                "pub struct B;\npub fn f<T>(_: T, _: &super::a::A) {}\n",
            ),
        ],
        "`fixture::a`, `fixture::b`",
    );
    one_cycle(
        &[
            AB,
            ("a.rs", "pub struct A;\nimpl crate::b::Tr for A {}\n"),
            ("b.rs", "pub trait Tr {}\ntype T = Vec<crate::a::A>;\n"),
        ],
        "`fixture::a`, `fixture::b`",
    );
}

#[test]
fn qualified_paths_in_bodies_count_and_globs_too() {
    one_cycle(
        &[
            AB,
            ("a.rs", "use crate::b::*;\npub const A: u8 = 1;\n"),
            ("b.rs", "pub fn f() -> u8 {\n    crate::a::A\n}\n"),
        ],
        "`fixture::a`, `fixture::b`",
    );
    // A bare name in a body may be a local: not looked at.
    let found = cycles(&[
        ("lib.rs", "mod a;\nmod b;\nmod c;\n"),
        ("a.rs", "use crate::b::B;\npub fn a() {}\n"),
        ("b.rs", "pub struct B;\npub fn f(a: u8) -> u8 {\n    a\n}\n"),
        ("c.rs", "pub fn g() {}\n"),
    ]);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn mod_rs_path_attributes_and_inline_modules_are_loaded() {
    one_cycle(
        &[
            (
                "lib.rs",
                "mod outer {\n    pub mod inner;\n}\n#[path = \"elsewhere.rs\"]\nmod p;\nmod d;\n",
            ),
            ("outer/inner.rs", "use crate::p::P;\npub struct I;\n"),
            ("elsewhere.rs", "use crate::d::D;\npub struct P;\n"),
            ("d/mod.rs", "mod e;\npub use e::D;\n"),
            ("d/e.rs", "pub struct D(pub crate::outer::inner::I);\n"),
        ],
        "`fixture::outer::inner`, `fixture::p`, `fixture::d::e`",
    );
}

#[test]
fn a_missing_module_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let root = dir.path().join("lib.rs");
    std::fs::write(&root, "mod gone;\n").unwrap_or_else(|e| panic!("write: {e}"));
    let target = Target {
        package: "fixture".into(),
        kind: "lib".into(),
        crate_name: "fixture".into(),
        root,
    };
    let err = check_target(target, Path::new("/")).map(|_| ());
    assert!(
        matches!(&err, Err(crate::Error::ModuleNotFound { name, line: 1, .. }) if name == "gone"),
        "{err:?}"
    );
}
