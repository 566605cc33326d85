//! Name resolution over one target's module tree, enough to say which
//! module defines the item a path names: local items, `use` imports
//! (renames, groups, globs, re-exports followed) and `crate`/`self`/`super`.
//! Names that resolve outside the tree (std, dependencies, the prelude)
//! resolve to nothing: they are nobody's dependency here.

use std::collections::{HashMap, HashSet};

use syn::{Item, UseTree};

use crate::tree::{ModId, Tree};

/// What a path resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Def {
    /// A module of this target.
    Module(ModId),
    /// An item (type, trait, fn, const, macro...) written in this module;
    /// paths through it (variants, associated items) stop here.
    Item(ModId),
}

impl Def {
    /// The module a dependency on this points at.
    pub fn module(self) -> ModId {
        match self {
            Def::Module(m) | Def::Item(m) => m,
        }
    }
}

/// One `use` leaf: `use a::b::c as d` is path [a, b, c] under name d.
#[derive(Debug, Clone)]
pub struct Import {
    pub path: Vec<String>,
    /// `use ::x`: always outside this crate.
    pub absolute: bool,
    /// None for a glob (`use a::*`) and for `use x as _`.
    pub name: Option<String>,
    pub glob: bool,
    pub line: usize,
}

/// The names each module defines and imports.
#[derive(Debug, Default)]
struct Scope {
    items: HashMap<String, Vec<Def>>,
    imports: HashMap<String, Vec<Import>>,
    globs: Vec<Import>,
    /// Enum name -> its variants, for `use Enum::*`.
    variants: HashMap<String, HashSet<String>>,
}

pub struct Resolver<'t> {
    tree: &'t Tree,
    scopes: Vec<Scope>,
}

impl<'t> Resolver<'t> {
    pub fn new(tree: &'t Tree) -> Resolver<'t> {
        let mut scopes: Vec<Scope> = tree.modules.iter().map(|_| Scope::default()).collect();
        for (id, module) in tree.modules.iter().enumerate() {
            for (name, child) in &module.children {
                scopes[id]
                    .items
                    .entry(name.clone())
                    .or_default()
                    .push(Def::Module(*child));
            }
            for item in &module.items {
                if let Item::Use(u) = item {
                    for import in imports(&u.tree, absolute(u)) {
                        let scope = &mut scopes[id];
                        match &import.name {
                            _ if import.glob => scope.globs.push(import),
                            Some(name) => {
                                scope.imports.entry(name.clone()).or_default().push(import)
                            }
                            None => {}
                        }
                    }
                    continue;
                }
                if let Item::Enum(e) = item {
                    let names = e.variants.iter().map(|v| v.ident.to_string()).collect();
                    scopes[id].variants.insert(e.ident.to_string(), names);
                }
                // #[macro_export] puts a macro at the crate root, wherever
                // it is written.
                let exported = matches!(item, Item::Macro(m) if m.attrs.iter().any(|a| a.path().is_ident("macro_export")));
                for name in item_names(item) {
                    let at = if exported { 0 } else { id };
                    scopes[at]
                        .items
                        .entry(name)
                        .or_default()
                        .push(Def::Item(id));
                }
            }
        }
        Resolver { tree, scopes }
    }

    /// What `path`, written in module `from`, names.
    pub fn resolve(&self, from: ModId, path: &[String], absolute: bool) -> Option<Def> {
        if absolute {
            return None;
        }
        self.resolve_in(from, path, &mut Vec::new())
    }

    fn resolve_in(
        &self,
        from: ModId,
        path: &[String],
        busy: &mut Vec<(ModId, String)>,
    ) -> Option<Def> {
        let mut current: Option<Def> = None;
        for (i, seg) in path.iter().enumerate() {
            let more = i + 1 < path.len();
            let here = match current {
                None => from,
                Some(Def::Module(m)) => m,
                // A variant or an associated item of an item: the item's.
                Some(Def::Item(_)) => return current,
            };
            current = Some(match seg.as_str() {
                "crate" if i == 0 => Def::Module(0),
                "self" => Def::Module(here),
                "super" => Def::Module(self.tree.modules[here].parent?),
                "Self" => return None,
                name => self.lookup(here, name, more, busy)?,
            });
        }
        current
    }

    /// `name` in module `m`'s namespace: its items, then its imports, then
    /// its globs (explicit names shadow glob-imported ones).
    fn lookup(
        &self,
        m: ModId,
        name: &str,
        want_module: bool,
        busy: &mut Vec<(ModId, String)>,
    ) -> Option<Def> {
        let key = (m, name.to_string());
        if busy.contains(&key) {
            return None;
        }
        let scope = &self.scopes[m];
        if let Some(defs) = scope.items.get(name) {
            return Some(pick(defs, want_module));
        }
        busy.push(key);
        let found = self.through_imports(m, name, want_module, busy);
        busy.pop();
        found
    }

    fn through_imports(
        &self,
        m: ModId,
        name: &str,
        want_module: bool,
        busy: &mut Vec<(ModId, String)>,
    ) -> Option<Def> {
        let scope = &self.scopes[m];
        let mut found = Vec::new();
        for import in scope.imports.get(name).into_iter().flatten() {
            if let Some(def) = self.resolve_import(m, import, busy) {
                found.push(def);
            }
        }
        if !found.is_empty() {
            return Some(pick(&found, want_module));
        }
        for glob in &scope.globs {
            match self.resolve_import(m, glob, busy) {
                Some(Def::Module(g)) => {
                    if let Some(def) = self.lookup(g, name, want_module, busy) {
                        return Some(def);
                    }
                }
                Some(Def::Item(e)) => {
                    // `use Enum::*`: a variant is its enum's.
                    let enum_name = glob.path.last()?;
                    if self.scopes[e]
                        .variants
                        .get(enum_name)
                        .is_some_and(|v| v.contains(name))
                    {
                        return Some(Def::Item(e));
                    }
                }
                None => {}
            }
        }
        None
    }

    /// What a `use` leaf of module `m` points at.
    pub fn resolve_import(
        &self,
        m: ModId,
        import: &Import,
        busy: &mut Vec<(ModId, String)>,
    ) -> Option<Def> {
        if import.absolute {
            return None;
        }
        self.resolve_in(m, &import.path, busy)
    }
}

/// A module when the path goes on through it, else whatever came first.
fn pick(defs: &[Def], want_module: bool) -> Def {
    defs.iter()
        .copied()
        .find(|d| want_module == matches!(d, Def::Module(_)))
        .unwrap_or(defs[0])
}

fn absolute(u: &syn::ItemUse) -> bool {
    u.leading_colon.is_some()
}

/// The leaves of a `use` tree.
pub fn imports(tree: &UseTree, absolute: bool) -> Vec<Import> {
    let mut out = Vec::new();
    walk(tree, &mut Vec::new(), absolute, &mut out);
    out
}

fn walk(tree: &UseTree, prefix: &mut Vec<String>, absolute: bool, out: &mut Vec<Import>) {
    let leaf = |prefix: &[String], seg: &syn::Ident, name: Option<String>| {
        let mut path = prefix.to_vec();
        // `use a::b::{self}` imports b itself.
        if seg != "self" || path.is_empty() {
            path.push(seg.to_string());
        }
        Import {
            path,
            absolute,
            name,
            glob: false,
            line: seg.span().start().line,
        }
    };
    match tree {
        UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            walk(&p.tree, prefix, absolute, out);
            prefix.pop();
        }
        UseTree::Name(n) => {
            let name = if n.ident == "self" {
                prefix.last().cloned()
            } else {
                Some(n.ident.to_string())
            };
            out.push(leaf(prefix, &n.ident, name));
        }
        UseTree::Rename(r) => {
            let name = (r.rename != "_").then(|| r.rename.to_string());
            out.push(leaf(prefix, &r.ident, name));
        }
        UseTree::Glob(g) => out.push(Import {
            path: prefix.clone(),
            absolute,
            name: None,
            glob: true,
            line: g.star_token.span.start().line,
        }),
        UseTree::Group(g) => {
            for t in &g.items {
                walk(t, prefix, absolute, out);
            }
        }
    }
}

/// The names an item defines in its module (modules come from the tree).
fn item_names(item: &Item) -> Vec<String> {
    let one = |i: &syn::Ident| vec![i.to_string()];
    match item {
        Item::Const(i) => one(&i.ident),
        Item::Enum(i) => one(&i.ident),
        Item::Fn(i) => one(&i.sig.ident),
        Item::Static(i) => one(&i.ident),
        Item::Struct(i) => one(&i.ident),
        Item::Trait(i) => one(&i.ident),
        Item::TraitAlias(i) => one(&i.ident),
        Item::Type(i) => one(&i.ident),
        Item::Union(i) => one(&i.ident),
        Item::Macro(i) => i.ident.iter().map(ToString::to_string).collect(),
        Item::ForeignMod(f) => f
            .items
            .iter()
            .filter_map(|fi| match fi {
                syn::ForeignItem::Fn(f) => Some(f.sig.ident.to_string()),
                syn::ForeignItem::Static(s) => Some(s.ident.to_string()),
                syn::ForeignItem::Type(t) => Some(t.ident.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}
