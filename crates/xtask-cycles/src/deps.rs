//! The module dependency graph of one target: module M depends on module N
//! when a `use` of M names N or an item of N, or when a type signature or a
//! qualified path in a body written in M names a path into N (see the
//! crate's doc for the rules).

use std::collections::{BTreeMap, HashSet};

use syn::visit::Visit;
use syn::{Fields, FnArg, Generics, Item, ReturnType, Signature, TraitItem, Type};

use crate::resolve::{imports, Resolver};
use crate::tree::{cfg_false, ModId, Tree};

/// Why M depends on N: where, and what names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reason {
    pub line: usize,
    pub what: String,
}

/// (M, N) -> the reasons M depends on N, M != N.
pub type Edges = BTreeMap<(ModId, ModId), Vec<Reason>>;

pub fn edges(tree: &Tree) -> Edges {
    let resolver = Resolver::new(tree);
    let mut edges = Edges::new();
    for (id, module) in tree.modules.iter().enumerate() {
        let mut refs = Vec::new();
        for item in &module.items {
            collect(item, &mut refs);
        }
        for r in refs {
            let Some(def) = resolver.resolve(id, &r.path, r.absolute) else {
                continue;
            };
            let to = def.module();
            if to != id {
                edges.entry((id, to)).or_default().push(Reason {
                    line: r.line,
                    what: r.what,
                });
            }
        }
    }
    for reasons in edges.values_mut() {
        reasons.sort();
        reasons.dedup();
    }
    edges
}

/// A path written in a module, to resolve there.
struct Ref {
    path: Vec<String>,
    absolute: bool,
    line: usize,
    what: String,
}

fn collect(item: &Item, refs: &mut Vec<Ref>) {
    match item {
        Item::Use(u) => {
            for i in imports(&u.tree, u.leading_colon.is_some()) {
                let colons = if u.leading_colon.is_some() { "::" } else { "" };
                let glob = if i.glob { "::*" } else { "" };
                refs.push(Ref {
                    what: format!("use {colons}{}{glob}", i.path.join("::")),
                    path: i.path,
                    absolute: i.absolute,
                    line: i.line,
                });
            }
        }
        Item::Struct(s) => fields(&s.ident, &s.generics, &s.fields, refs),
        Item::Union(u) => {
            let named = Fields::Named(u.fields.clone());
            fields(&u.ident, &u.generics, &named, refs)
        }
        Item::Enum(e) => {
            for v in e.variants.iter().filter(|v| !cfg_false(&v.attrs)) {
                fields(&e.ident, &e.generics, &v.fields, refs);
            }
        }
        Item::Type(t) => {
            let what = format!("type {}", t.ident);
            types(&what, &[&t.generics], [&*t.ty], refs);
        }
        Item::Const(c) => {
            let what = format!("const {}", c.ident);
            types(&what, &[], [&*c.ty], refs);
            Body::new(&what, &[], refs).visit_expr(&c.expr);
        }
        Item::Static(s) => {
            let what = format!("static {}", s.ident);
            types(&what, &[], [&*s.ty], refs);
            Body::new(&what, &[], refs).visit_expr(&s.expr);
        }
        Item::Fn(f) => {
            signature(&f.sig, &[], refs);
            body(&f.sig, &[], &f.block, refs);
        }
        Item::Trait(t) => {
            for ti in &t.items {
                if let TraitItem::Fn(f) = ti {
                    if !cfg_false(&f.attrs) {
                        signature(&f.sig, &[&t.generics], refs);
                        if let Some(block) = &f.default {
                            body(&f.sig, &[&t.generics], block, refs);
                        }
                    }
                }
            }
        }
        Item::Impl(i) => {
            let mut header = Names::new("impl", &[&i.generics], refs);
            if let Some((_, trait_path, _)) = &i.trait_ {
                header.visit_path(trait_path);
            }
            header.visit_type(&i.self_ty);
            for ii in &i.items {
                if let syn::ImplItem::Fn(f) = ii {
                    if !cfg_false(&f.attrs) {
                        signature(&f.sig, &[&i.generics], refs);
                        body(&f.sig, &[&i.generics], &f.block, refs);
                    }
                }
            }
        }
        _ => {}
    }
}

fn fields(owner: &syn::Ident, generics: &Generics, fields: &Fields, refs: &mut Vec<Ref>) {
    let what = format!("fields of {owner}");
    let kept = fields
        .iter()
        .filter(|f| !cfg_false(&f.attrs))
        .map(|f| &f.ty);
    types(&what, &[generics], kept, refs);
}

fn types<'a>(
    what: &str,
    generics: &[&Generics],
    tys: impl IntoIterator<Item = &'a Type>,
    refs: &mut Vec<Ref>,
) {
    let mut names = Names::new(what, generics, refs);
    for ty in tys {
        names.visit_type(ty);
    }
}

/// Parameters (`self` too, which names nothing) and return type; not the
/// generic bounds or where clauses.
fn signature(sig: &Signature, outer: &[&Generics], refs: &mut Vec<Ref>) {
    let mut generics = outer.to_vec();
    generics.push(&sig.generics);
    let what = format!("fn {}", sig.ident);
    let mut names = Names::new(&what, &generics, refs);
    for input in &sig.inputs {
        if let FnArg::Typed(t) = input {
            names.visit_type(&t.ty);
        }
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        names.visit_type(ty);
    }
}

fn body(sig: &Signature, outer: &[&Generics], block: &syn::Block, refs: &mut Vec<Ref>) {
    let mut generics = outer.to_vec();
    generics.push(&sig.generics);
    let what = format!("fn {} body", sig.ident);
    Body::new(&what, &generics, refs).visit_block(block);
}

/// The paths of a fn body (or a const's value) that name another module:
/// qualified ones (`crate::x::f()`, `x::Kind::A`) and `use`s inside it. A
/// bare name is either imported (its `use` already counts) or may be a
/// local variable, so it is not looked at. Macro arguments count when they
/// parse as expressions (`format!`, `assert_eq!`, `vec!`...).
struct Body<'r>(Names<'r>);

impl<'r> Body<'r> {
    fn new(what: &str, generics: &[&Generics], refs: &'r mut Vec<Ref>) -> Body<'r> {
        Body(Names::new(what, generics, refs))
    }
}

impl<'ast> Visit<'ast> for Body<'_> {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.segments.len() > 1 {
            self.0.push(path);
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        if !cfg_false(&u.attrs) {
            collect(&Item::Use(u.clone()), self.0.refs);
        }
    }

    fn visit_item(&mut self, item: &'ast Item) {
        if !cfg_false(crate::tree::item_attrs(item)) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        let args = syn::punctuated::Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated;
        if let Ok(exprs) = mac.parse_body_with(args) {
            for e in &exprs {
                self.visit_expr(e);
            }
        }
    }
}

/// Every path inside a type (generic arguments, `impl Trait`, `dyn Trait`,
/// array lengths), except generic parameters in scope.
struct Names<'r> {
    what: String,
    params: HashSet<String>,
    refs: &'r mut Vec<Ref>,
}

impl<'r> Names<'r> {
    fn new(what: &str, generics: &[&Generics], refs: &'r mut Vec<Ref>) -> Names<'r> {
        let params = generics
            .iter()
            .flat_map(|g| g.params.iter())
            .filter_map(|p| match p {
                syn::GenericParam::Type(t) => Some(t.ident.to_string()),
                syn::GenericParam::Const(c) => Some(c.ident.to_string()),
                syn::GenericParam::Lifetime(_) => None,
            })
            .collect();
        Names {
            what: what.to_string(),
            params,
            refs,
        }
    }

    fn push(&mut self, path: &syn::Path) {
        let segs: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        let generic = segs.first().is_some_and(|s| self.params.contains(s));
        if !generic && !segs.is_empty() {
            self.refs.push(Ref {
                what: format!("{} names {}", self.what, segs.join("::")),
                line: path.segments[0].ident.span().start().line,
                absolute: path.leading_colon.is_some(),
                path: segs,
            });
        }
    }
}

impl<'ast> Visit<'ast> for Names<'_> {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.push(path);
        // Generic arguments: `Result<T, crate::x::Error>`.
        syn::visit::visit_path(self, path);
    }
}
