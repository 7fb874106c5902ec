"""The layout keeps its promises: a pure core, no import circles, arrows between packages pointing one way.

Read from the source with ``ast`` (every import, including those inside
functions: a circle closed at call time is still a circle).
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

import pypi_witness

SRC = Path(pypi_witness.__file__).resolve().parent
TESTS = Path(__file__).resolve().parent
# What the pure core may import besides itself: the standard library's pure parts, the Ed25519 binding and
# packaging (PEP 440 versions and PEP 503 names, as pip has them).
CORE_MAY_IMPORT = {"nacl", "packaging"}
CORE_MUST_NOT = {"os", "time", "random", "socket", "threading", "subprocess", "asyncio", "pathlib", "io", "tempfile"}
MAX_TEST_LINES = 500
MAX_MODULE_LINES = 650


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in SRC.rglob("*.py") if "gen" not in p.relative_to(SRC).parts}


def imports_of(path: Path, name: str, known: set[str] | frozenset[str] = frozenset()) -> set[str]:
    """Every module ``path`` imports: ``from X import y`` is X.y when that is one of ``known``'s modules, else X."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: {d for d in imports_of(p, m, set(mods)) if d in mods and d != m} for m, p in mods.items()}


def circles(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(g):
        if root in index:
            continue
        work = [(root, iter(sorted(g[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, children = work[-1]
            advanced = False
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(g[w]))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_the_core_imports_nothing_outside_the_core_and_does_no_io():
    stdlib = set(sys.stdlib_module_names)
    bad = []
    for name, path in modules().items():
        if not name.startswith("pypi_witness.core"):
            continue
        for imported in imports_of(path, name):
            top = imported.split(".")[0]
            if imported.startswith("pypi_witness") and not imported.startswith("pypi_witness.core"):
                bad.append((name, imported))
            elif top in CORE_MUST_NOT or (top not in stdlib and top not in CORE_MAY_IMPORT and top != "pypi_witness" and top != "__future__"):
                bad.append((name, imported))
    assert not bad, bad


def test_no_module_imports_itself_through_others():
    assert circles(graph()) == []


def test_packages_import_each_other_one_way_only():
    """Folders (core's groups counted apart) form no circle either: each arrow points down."""
    def folder(module: str) -> str:
        parts = module.split(".")
        depth = 3 if parts[1:2] == ["core"] and len(parts) > 3 else 2
        return ".".join(parts[:depth])

    folders: dict[str, set[str]] = defaultdict(set)
    for module, deps in graph().items():
        folders[folder(module)] |= {folder(d) for d in deps if folder(d) != folder(module)}
    for f in list(folders):
        for d in folders[f]:
            folders.setdefault(d, set())
    assert circles(dict(folders)) == []


def test_the_circle_finder_finds_circles():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_modules_and_tests_stay_small():
    long_modules = {n: len(p.read_text().splitlines()) for n, p in modules().items()}
    assert {n: k for n, k in long_modules.items() if k > MAX_MODULE_LINES} == {}
    long_tests = {str(p.relative_to(TESTS)): len(p.read_text().splitlines()) for p in TESTS.rglob("test_*.py")}
    assert {n: k for n, k in long_tests.items() if k > MAX_TEST_LINES} == {}
