#!/usr/bin/env python3
"""Fails if a module of any workspace crate imports a module that imports it back.

For every crate under crates/, strategies/ and examples/, each top-level module
file (src/<name>.rs or src/<name>/mod.rs, with its submodule files) is a node;
`crate::<name>` anywhere in it (a `use` or a path) is an edge. A cycle is any
strongly connected component with more than one module. lib.rs and main.rs are
the crate roots (they declare and re-export every module) and are left out.

    scripts/module-cycles.py          # prints each crate's edges count; exit 1 on a cycle
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
EDGE = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")
GROUP = re.compile(r"\bcrate::\{([^}]*)\}")


def modules(src):
    """Top-level module name -> the text of its files."""
    out = {}
    for path in sorted(src.rglob("*.rs")):
        rel = path.relative_to(src).parts
        if rel[0] in ("lib.rs", "main.rs", "bin"):
            continue
        name = rel[0][:-3] if rel[0].endswith(".rs") else rel[0]
        out[name] = out.get(name, "") + path.read_text()
    return out


def edges(mods):
    graph = {m: set() for m in mods}
    for m, text in mods.items():
        targets = set(EDGE.findall(text))
        for group in GROUP.findall(text):
            targets.update(t.strip().split("::")[0] for t in group.split(",") if t.strip())
        graph[m] = {t for t in targets if t in mods and t != m}
    return graph


def cycles(graph):
    """Tarjan's strongly connected components of size > 1."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    bad = 0
    crates = sorted(p.parent for p in ROOT.glob("*/*/Cargo.toml") if (p.parent / "src").is_dir())
    for crate in crates:
        graph = edges(modules(crate / "src"))
        found = cycles(graph)
        for comp in found:
            bad += 1
            detail = "; ".join(f"{m} -> {', '.join(sorted(graph[m] & set(comp)))}" for m in comp)
            print(f"CYCLE in {crate.relative_to(ROOT)}: {detail}")
    if bad:
        print(f"FAIL: {bad} import cycle(s) between modules", file=sys.stderr)
        return 1
    print(f"module-cycles: {len(crates)} crates, no module imports one that imports it back")
    return 0


if __name__ == "__main__":
    sys.exit(main())
