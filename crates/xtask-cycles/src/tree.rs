//! The module tree of one target, as rustc would load it: from the root
//! file through `mod x;` (x.rs or x/mod.rs, or its `#[path]`) and inline
//! `mod x { }`, without anything that exists only under `cfg(test)`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use syn::punctuated::Punctuated;
use syn::{Attribute, Item, Meta, Token};

use crate::error::Error;

pub type ModId = usize;

/// One module: where its items are written, and those items.
pub struct Module {
    /// `crate::a::b`, with the crate's name for `crate`.
    pub name: String,
    pub parent: Option<ModId>,
    /// The file its items are written in (an inline module's is its parent's).
    pub file: PathBuf,
    /// Its items, `cfg(test)` ones left out.
    pub items: Vec<Item>,
    /// Its child modules by name.
    pub children: HashMap<String, ModId>,
}

/// All modules of one target; the root is `modules[0]`.
pub struct Tree {
    pub modules: Vec<Module>,
}

impl Tree {
    /// Loads the tree whose root file is `root`; `crate_name` names the root.
    pub fn load(crate_name: &str, root: &Path) -> Result<Tree, Error> {
        let mut tree = Tree {
            modules: Vec::new(),
        };
        let file = parse_file(root)?;
        if cfg_false(&file.attrs) {
            // A `#![cfg(test)]` crate root: nothing to check.
            return Ok(tree);
        }
        let dir = parent_dir(root);
        let place = Place {
            file: root.to_path_buf(),
            dir: dir.clone(),
            file_dir: dir,
            inline: false,
        };
        tree.add(crate_name.to_string(), None, file.items, &place)?;
        Ok(tree)
    }

    fn add(
        &mut self,
        name: String,
        parent: Option<ModId>,
        items: Vec<Item>,
        place: &Place,
    ) -> Result<ModId, Error> {
        let id = self.modules.len();
        self.modules.push(Module {
            name: name.clone(),
            parent,
            file: place.file.clone(),
            items: Vec::new(),
            children: HashMap::new(),
        });
        let mut kept = Vec::new();
        for item in items {
            if cfg_false(item_attrs(&item)) {
                continue;
            }
            let Item::Mod(m) = item else {
                kept.push(item);
                continue;
            };
            let child = m.ident.to_string();
            let child_name = format!("{name}::{child}");
            let line = m.ident.span().start().line;
            let explicit = path_attr(&m.attrs);
            let child_id = if let Some((_, content)) = &m.content {
                // Inline: items here, children under a folder of its name
                // (or of its #[path], which then names a folder).
                let dir = place.dir.join(explicit.as_deref().unwrap_or(&child));
                let inner = Place {
                    file: place.file.clone(),
                    dir,
                    file_dir: place.file_dir.clone(),
                    inline: true,
                };
                self.add(child_name, Some(id), content.clone(), &inner)?
            } else {
                let file = match &explicit {
                    // Outside inline blocks a #[path] is relative to the
                    // declaring file's folder; inside, to the block's.
                    Some(p) if place.inline => place.dir.join(p),
                    Some(p) => place.file_dir.join(p),
                    None => find_file(&place.dir, &child).ok_or_else(|| Error::ModuleNotFound {
                        path: place.file.clone(),
                        line,
                        name: child.clone(),
                    })?,
                };
                let parsed = parse_file(&file)?;
                if cfg_false(&parsed.attrs) {
                    kept.push(Item::Mod(m));
                    continue;
                }
                let file_dir = parent_dir(&file);
                // x/mod.rs and #[path] files keep children beside them;
                // x.rs keeps them in x/.
                let is_mod_rs = file.file_name().is_some_and(|f| f == "mod.rs");
                let dir = if is_mod_rs || explicit.is_some() {
                    file_dir.clone()
                } else {
                    file_dir.join(&child)
                };
                let inner = Place {
                    file,
                    dir,
                    file_dir,
                    inline: false,
                };
                self.add(child_name, Some(id), parsed.items, &inner)?
            };
            // A name declared twice under exclusive cfgs: the first wins.
            self.modules[id].children.entry(child).or_insert(child_id);
            kept.push(Item::Mod(m));
        }
        self.modules[id].items = kept;
        Ok(id)
    }
}

/// Where a module's items are written and where its `mod x;` files are.
struct Place {
    file: PathBuf,
    /// Where `mod x;` looks for x.rs and x/mod.rs.
    dir: PathBuf,
    /// The folder of `file`.
    file_dir: PathBuf,
    /// Inside an inline `mod x { }` of `file`.
    inline: bool,
}

fn parent_dir(file: &Path) -> PathBuf {
    file.parent().map(Path::to_path_buf).unwrap_or_default()
}

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    [
        dir.join(format!("{name}.rs")),
        dir.join(name).join("mod.rs"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

fn parse_file(path: &Path) -> Result<syn::File, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    syn::parse_file(&text).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        line: e.span().start().line,
        message: e.to_string(),
    })
}

/// `#[path = "..."]` of a module, if any.
fn path_attr(attrs: &[Attribute]) -> Option<String> {
    attrs.iter().find_map(|a| match &a.meta {
        Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

pub fn item_attrs(item: &Item) -> &[Attribute] {
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::ExternCrate(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::ForeignMod(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::TraitAlias(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

/// True when a `cfg` of these attributes is false in a build without
/// `test`. Other cfgs (features, target) count as true: code under
/// any of them is checked.
pub fn cfg_false(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| match &a.meta {
        Meta::List(list) if list.path.is_ident("cfg") => list
            .parse_args::<Meta>()
            .is_ok_and(|pred| eval(&pred) == Some(false)),
        _ => false,
    })
}

/// A cfg predicate with `test` false and everything else unknown (None).
fn eval(pred: &Meta) -> Option<bool> {
    match pred {
        Meta::Path(p) if p.is_ident("test") => Some(false),
        Meta::List(list) => {
            let args = list
                .parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
                .ok()?;
            let values: Vec<Option<bool>> = args.iter().map(eval).collect();
            if list.path.is_ident("all") {
                if values.contains(&Some(false)) {
                    Some(false)
                } else if values.iter().all(|v| *v == Some(true)) {
                    Some(true)
                } else {
                    None
                }
            } else if list.path.is_ident("any") {
                if values.contains(&Some(true)) {
                    Some(true)
                } else if values.iter().all(|v| *v == Some(false)) {
                    Some(false)
                } else {
                    None
                }
            } else if list.path.is_ident("not") && values.len() == 1 {
                values[0].map(|v| !v)
            } else {
                None
            }
        }
        _ => None,
    }
}
