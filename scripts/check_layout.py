#!/usr/bin/env python3
"""Checks the workspace layout rules of docs/architecture (issue 16); run by `make lint`.

1. No import cycle between the modules (files) of one crate. An edge A -> B is any path
   in A's code (not comments, not its `#[cfg(test)]` module) that names B: `crate::b`,
   `super::b`, `self::b`. A parent naming its own children (`mod b; pub use b::X;`,
   `b::handler` in a route table) is assembling them, not importing: not an edge.
2. `spatial-api` runs no SQL: no `sqlx::query`, `query_as`, `query_scalar`, `QueryBuilder`,
   `PgListener` or `copy_in` (every statement lives in `store`).
3. The pure crates (`grid-mgmt`, `geo`, `cql2`, `tiles`, `geocode`) contain no SQL, no HTTP client
   or server and no file I/O in their library code.

Prints each breach on one line and exits 1 if there is any.
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CRATES = {
    "citygrid": "src",
    "db": "db/src",
    "tiles": "tiles/src",
    "importers": "importers/src",
    "grid-mgmt": "grid-mgmt/src",
    "spatial-api": "spatial-api/src",
    "lazylib": "lazylib/src",
    "cql2": "cql2/src",
    "store": "store/src",
    "geo": "geo/src",
    "geocode": "geocode/src",
}

SQL_IN_API = re.compile(r"\bsqlx::query|\bquery_as\b|\bquery_scalar\b|\bQueryBuilder\b|\bPgListener\b|\bcopy_in")
PURE = ["grid-mgmt", "geo", "cql2", "tiles", "geocode"]
IMPURE = re.compile(
    r"\bsqlx\b|\bpostgres\b|\baxum\b|\breqwest\b|\bhyper\b|\bstd::fs\b|\btokio::fs\b|\bFile::(open|create)\b|\bstd::net\b"
)


def strip(text):
    """The code of a file without comments and without its trailing test module."""
    m = re.search(r"^#\[cfg\(test\)\]\s*\n\s*mod \w+\s*\{", text, re.M)
    if m:
        text = text[: m.start()]
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(\\.|[^"\\])*"', '""', text)
    return text


def modules(src):
    """Module path (tuple) -> file, for every .rs file under src."""
    out = {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            full = os.path.join(dirpath, f)
            rel = os.path.relpath(full, src)[:-3].split(os.sep)
            if rel[-1] in ("lib", "main") and len(rel) == 1:
                rel = []
            elif rel[-1] == "mod":
                rel = rel[:-1]
            out[tuple(rel)] = full
    return out


def resolve(mods, path):
    """The longest module prefix of path that is a module of the crate."""
    for n in range(len(path), -1, -1):
        if tuple(path[:n]) in mods:
            return tuple(path[:n])
    return None


PATH = re.compile(r"\b((?:crate|super|self|[a-z_][a-z0-9_]*)(?:::[A-Za-z_][A-Za-z0-9_]*)+)")
GROUP = re.compile(r"\buse\s+((?:crate|super|self)(?:::\w+)*)::\{([^;]*)\};", re.S)


def edges(mods, me, code):
    children = {m[-1] for m in mods if len(m) == len(me) + 1 and m[: len(me)] == me}
    paths = []
    for base, inner in GROUP.findall(code):
        for part in re.split(r"[,{}\s]+", inner):
            part = part.strip()
            if part and part not in ("self", "*") and not part.startswith("as"):
                paths.append(base + "::" + part)
    paths += PATH.findall(code)
    out = set()
    for p in paths:
        seg = p.split("::")
        if seg[0] == "crate":
            target = seg[1:]
        elif seg[0] == "super":
            base = list(me)
            while seg and seg[0] == "super":
                base = base[:-1]
                seg = seg[1:]
            target = base + seg
        elif seg[0] == "self":
            target = list(me) + seg[1:]
        elif seg[0] in children:
            target = list(me) + seg
        else:
            continue
        t = resolve(mods, target)
        # A parent declares and assembles its children (`mod b; pub use b::X;`): that is
        # not an import. Only edges leaving the module's own subtree count.
        if t is not None and t != me and t[: len(me)] != me:
            out.add(t)
    return out


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, comps = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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
                comps.append(comp)

    for v in list(graph):
        if v not in index:
            visit(v)
    return comps


def name(m):
    return "::".join(m) or "(root)"


def main():
    problems = []
    for crate, rel in CRATES.items():
        src = os.path.join(ROOT, rel)
        if not os.path.isdir(src):
            continue
        mods = modules(src)
        graph = {}
        codes = {}
        for m, f in mods.items():
            with open(f, encoding="utf-8") as fh:
                codes[m] = strip(fh.read())
            graph[m] = edges(mods, m, codes[m])
        for comp in cycles(graph):
            members = sorted(comp)
            links = [
                f"{name(a)} -> {name(b)}" for a in members for b in sorted(graph[a]) if b in comp
            ]
            problems.append(
                f"{crate}: import cycle between {', '.join(name(m) for m in members)} ({'; '.join(links)})"
            )
        if crate == "spatial-api":
            for m, code in codes.items():
                for hit in sorted(set(SQL_IN_API.findall(code))):
                    problems.append(f"spatial-api: {mods[m]} runs SQL ({hit}); move it to store/")
        if crate in PURE:
            for m, code in codes.items():
                for hit in sorted(set(x if isinstance(x, str) else x[0] for x in IMPURE.findall(code))):
                    problems.append(f"{crate}: {mods[m]} uses {hit}: a pure crate has no SQL, HTTP or file I/O")
    for p in problems:
        print(os.path.relpath(p, ROOT) if p.startswith(ROOT) else p.replace(ROOT + "/", ""))
    if problems:
        print(f"check_layout: {len(problems)} breach(es) of the crate layout (scripts/check_layout.py)")
        return 1
    print("check_layout: no module cycles, no SQL in spatial-api, pure crates pure")
    return 0


if __name__ == "__main__":
    sys.exit(main())
