"""The package's layers import only downward, and no module imports itself back.

The import graph is read from the source with :mod:`ast` (nothing is imported), including
imports inside functions (a lazy import is still a dependency), but not those under
``if TYPE_CHECKING:``.  See ``docs/conventions.md``, "Layers".
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = "vmt_dask"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

#: Every top-level module or subpackage of vmt_dask, by layer (lowest first).  A module
#: may import from its own layer and from the layers below it, never from a layer above.
#: A new top-level module must be added here: the test fails until it is classified.
LAYERS: dict[str, frozenset[str]] = {
    # the facts, the exception contract, the input checks, pure helpers
    "foundation": frozenset({"__init__", "domain", "errors", "validation", "paper", "redact"}),
    # numerical kernels: numpy in, numpy/numbers out
    "kernels": frozenset({"model", "descriptors", "conductivity", "regression", "statistics"}),
    # storage backends and the input layer
    "storage": frozenset({"storage", "store", "io", "volumes", "resources", "chunked"}),
    # study orchestration, service, interfaces
    "orchestration": frozenset({
        "study", "events", "dashboard", "report", "calibrate", "inverse", "design",
        "cli", "bench", "demo",
    }),
}
ORDER = list(LAYERS)

#: Third-party packages the foundation and the kernels must not import: distribution and
#: storage belong to the layers above.
FORBIDDEN_BELOW_STORAGE = frozenset({"dask", "distributed", "zarr", "fsspec"})

#: Known violations being removed, each with what must change.  The tests fail on any
#: violation not listed here AND on any entry that no longer occurs, so this list can only
#: shrink.
KNOWN_VIOLATIONS: dict[str, str] = {
}


def _check_against_known(found: list[str]) -> None:
    new = [f for f in found if f not in KNOWN_VIOLATIONS]
    assert not new, "layering violations:\n" + "\n".join(new)


# --------------------------------------------------------------------------- graph
def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Import nodes of a module, skipping ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                stack.extend(child.orelse)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child
            stack.append(child)


def import_graph(root: Path = ROOT) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """``(internal, external)``: for each module of the package, the package modules it
    imports, and the top-level names of the other packages it imports."""
    paths = {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    modules = set(paths)
    packages = {name for name, p in paths.items() if p.name == "__init__.py"}
    internal: dict[str, set[str]] = {}
    external: dict[str, set[str]] = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        base_pkg = name if name in packages else name.rpartition(".")[0]
        deps: set[str] = set()
        ext: set[str] = set()
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                if node.level:
                    anchor = base_pkg.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    mod = ".".join(anchor + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                # ``from pkg import sub`` imports the submodule pkg.sub when it exists
                targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod for a in node.names]
            for t in targets:
                top = t.split(".")[0]
                if top != PACKAGE:
                    ext.add(top)
                    continue
                while t not in modules and "." in t:  # a name defined in a module
                    t = t.rpartition(".")[0]
                if t != name:
                    deps.add(t)
        internal[name] = deps
        external[name] = ext
    return internal, external


def layer_of(module: str) -> str | None:
    """Layer of a module of the package, by its top-level name; None if unclassified."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    for layer, names in LAYERS.items():
        if top in names:
            return layer
    return None


def upward_imports(internal: dict[str, set[str]]) -> list[str]:
    """Edges that import from a higher layer, as readable strings."""
    bad = []
    for src, deps in sorted(internal.items()):
        ls = layer_of(src)
        for dst in sorted(deps):
            ld = layer_of(dst)
            if ls is not None and ld is not None and ORDER.index(ld) > ORDER.index(ls):
                bad.append(f"{src} ({ls}) imports {dst} ({ld})")
    return bad


def forbidden_libraries(external: dict[str, set[str]]) -> list[str]:
    """Foundation and kernel modules that import a library of the layers above."""
    return [f"{m} imports {sorted(ext & FORBIDDEN_BELOW_STORAGE)}" for m, ext in sorted(external.items())
            if layer_of(m) in ("foundation", "kernels") and ext & FORBIDDEN_BELOW_STORAGE]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


# --------------------------------------------------------------------------- the package
@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_every_top_level_module_is_classified(graph):
    internal, _ = graph
    unclassified = sorted({m for m in internal if layer_of(m) is None})
    assert not unclassified, (
        f"add these to LAYERS in tests/test_layering.py (and docs/conventions.md): {unclassified}")


def test_layers_import_only_downward(graph):
    internal, _ = graph
    _check_against_known(upward_imports(internal))


def test_kernels_do_not_import_distribution_or_storage_libraries(graph):
    _, external = graph
    _check_against_known(forbidden_libraries(external))


def test_no_import_cycle(graph):
    internal, _ = graph
    _check_against_known([" <-> ".join(c) for c in cycles(internal)])


def test_known_violations_still_occur(graph):
    """An entry of KNOWN_VIOLATIONS that was fixed must be removed from the list."""
    internal, external = graph
    found = set(upward_imports(internal)) | set(forbidden_libraries(external))
    found |= {" <-> ".join(c) for c in cycles(internal)}
    stale = sorted(set(KNOWN_VIOLATIONS) - found)
    assert not stale, f"fixed, remove from KNOWN_VIOLATIONS: {stale}"


def test_graph_sees_the_known_edges(graph):
    """The parser resolves absolute, relative, ``from . import module`` and lazy imports."""
    internal, external = graph
    assert "vmt_dask.domain" in internal["vmt_dask.validation"]
    assert "vmt_dask.regression.solver" in internal["vmt_dask.regression.fit"]
    assert "vmt_dask.regression" in internal["vmt_dask.cli.regress"]  # inside run()
    assert "numpy" in external["vmt_dask.validation"]


# --------------------------------------------------------------------------- the checks can fail
def _fake_package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / PACKAGE
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def test_checks_fail_on_a_bad_fake_package(tmp_path):
    root = _fake_package(tmp_path, {
        "__init__.py": "",
        "domain.py": "",
        "model/__init__.py": "from .a import x\n",
        "model/a.py": "from . import b\nx = 1\n",
        "model/b.py": "def f():\n    from .a import x\n    from ..study import run\n    import dask.array\n",
        "model/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..study import run\n",
        "study/__init__.py": "from ..model import a\nrun = 1\n",
    })
    internal, external = import_graph(root)
    assert internal["vmt_dask.model.a"] == {"vmt_dask.model.b"}
    assert internal["vmt_dask.model.b"] == {"vmt_dask.model.a", "vmt_dask.study"}
    assert internal["vmt_dask.model.c"] == set()  # TYPE_CHECKING imports are not dependencies
    assert external["vmt_dask.model.b"] == {"dask"}
    assert cycles(internal) == [["vmt_dask.model.a", "vmt_dask.model.b", "vmt_dask.study"]]
    assert upward_imports(internal) == ["vmt_dask.model.b (kernels) imports vmt_dask.study (orchestration)"]
    assert forbidden_libraries(external) == ["vmt_dask.model.b imports ['dask']"]
    with pytest.raises(AssertionError, match="layering violations"):
        _check_against_known(upward_imports(internal))


def test_checks_pass_on_a_good_fake_package(tmp_path):
    root = _fake_package(tmp_path, {
        "__init__.py": "",
        "errors.py": "",
        "model/__init__.py": "from .a import x\n",
        "model/a.py": "from ..errors import E\nimport numpy\nx = 1\n",
        "study/__init__.py": "from ..model import a\nfrom vmt_dask.errors import E\n",
    })
    internal, _ = import_graph(root)
    assert internal["vmt_dask.study"] == {"vmt_dask.model.a", "vmt_dask.errors"}
    assert cycles(internal) == [] and upward_imports(internal) == []
