#!/usr/bin/env python3
"""Module-level import cycles, from `cargo modules dependencies --layout dot`.

Reads the item graph that cargo-modules prints (stdin) and lifts it to
modules: each item belongs to the module that owns it (a method to its
type's module, wherever the impl block is written), and module M depends
on module N when M, or an item of M, "uses" an item defined in N:
- a `use` in M of a module, struct, enum, union, trait, type alias or fn
  of N (private or `pub use`, and globs: `use super::*` uses all the parent
  can see). A re-export is followed to where the item is defined: `use
  crate::Error` where the root has `pub use error::Error` depends on
  `error`, not on the root;
- a struct, enum or union of M with a field of a type of N; a type alias
  of M naming a type of N;
- a fn or method of M whose parameters (`self` too) or return type name a
  type of N, or `impl Trait`/`dyn Trait` of a trait of N, also inside
  generics (`Result<_, N::Error>`, `Option<Box<_>>`).
Not counted: fn bodies, generic bounds (`T: Trait`), where clauses,
trait method signatures, and imports of consts, statics, macros and enum
variants; a module using itself; "owns" (a parent declaring `mod child`).
#[cfg(test)] code is not in the graph (cargo-modules leaves it out unless
given --cfg-test). Exits 1 and names every cycle (a strongly connected set
of modules, with the items behind each dependency) if there is one, else 0.

cargo-modules' own `--acyclic` is not used: it checks the item graph with
"owns" edges, where a type owns its methods, so any method mentioning its
own type (`&self`, `-> Self`) is a cycle, while two modules importing
each other's items is not.

    python3 modcycles.py NAME < graph.dot     # NAME: for the messages
"""

import re
import sys
from collections import defaultdict

NODE = re.compile(r'^\s*"([^"]+)" \[label="[^"]*"[^\]]*\]; // "([^"]+)" node')
EDGE = re.compile(r'^\s*"([^"]+)" -> "([^"]+)" \[label="(owns|uses)"')


def main() -> int:
    name = sys.argv[1] if len(sys.argv) > 1 else "crate"
    kinds = {}
    owner = {}
    uses = []
    for line in sys.stdin:
        if m := NODE.match(line):
            kinds[m[1]] = m[2]
        elif m := EDGE.match(line):
            if m[3] == "owns":
                owner[m[2]] = m[1]
            else:
                uses.append((m[1], m[2]))
    roots = [item for item, kind in kinds.items() if kind == "crate"]
    if len(roots) != 1:
        print(f"{name}: no crate node in cargo-modules' output", file=sys.stderr)
        return 2
    root = roots[0]

    def local(item):
        return item == root or item.startswith(root + "::")

    def module_of(item):
        seen = 0
        while item is not None and kinds.get(item) not in ("mod", "crate"):
            item = owner.get(item)
            seen += 1
            if seen > 64:
                return None
        return item

    deps = defaultdict(set)  # module -> modules it uses
    why = defaultdict(list)  # (module, module) -> item edges behind it
    for src, dst in uses:
        m, n = module_of(src), module_of(dst)
        if m is None or n is None or m == n or not local(n):
            continue  # an extern item, or within one module
        deps[m].add(n)
        why[(m, n)].append((src, dst))

    cycles = [scc for scc in tarjan(deps) if len(scc) > 1]
    for scc in cycles:
        members = set(scc)
        print(f"{name}: import cycle between modules {', '.join(f'`{x}`' for x in sorted(members))}:",
              file=sys.stderr)
        for m in sorted(members):
            for n in sorted(deps[m] & members):
                items = why[(m, n)]
                shown = ", ".join(
                    f"`use {d}`" if kinds.get(s) in ("mod", "crate") else f"{s} mentions {d}"
                    for s, d in items[:4])
                more = f" (+{len(items) - 4} more)" if len(items) > 4 else ""
                print(f"    `{m}` uses `{n}`: {shown}{more}", file=sys.stderr)
    return 1 if cycles else 0


def tarjan(graph):
    """Strongly connected components (iterative Tarjan)."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = 0
    nodes = set(graph) | {n for ns in graph.values() for n in ns}
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                scc = []
                while True:
                    x = stack.pop()
                    on_stack.discard(x)
                    scc.append(x)
                    if x == node:
                        break
                out.append(scc)
    return out


if __name__ == "__main__":
    sys.exit(main())
