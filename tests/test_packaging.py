"""Declared dependencies are exactly what the package imports, and no test skips because a
package the project installs (or one of its own modules) is missing.

The imports are read from the source with :mod:`ast`; import names are mapped to
distributions with :func:`importlib.metadata.packages_distributions`.
"""
from __future__ import annotations

import ast
import functools
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "vmt_dask"

#: Imports that need no declared dependency, with the reason.
OPTIONAL_IMPORTS = {
    # vmt_dask.dashboard.client.display_progress shows the study page in a notebook; it is
    # only called from inside IPython (the 'notebook' extra installs it).
    "IPython": "notebook display, called only from a running IPython kernel",
}


def _dist_name(requirement: str) -> str:
    """``"dask[array]>=2024.8"`` -> ``"dask"`` (normalised as in PEP 503)."""
    name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement).group(1)
    return re.sub(r"[-_.]+", "-", name).lower()


def _project() -> dict:
    with open(REPO / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def _third_party_imports(paths) -> dict[str, set[str]]:
    """Top-level import name -> files importing it (standard library and vmt_dask left out)."""
    out: dict[str, set[str]] = {}
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for n in names:
                top = n.split(".")[0]
                if top not in sys.stdlib_module_names and top != "vmt_dask":
                    out.setdefault(top, set()).add(_rel(path))
    return out


@functools.lru_cache(maxsize=None)
def _installed() -> dict[str, list[str]]:
    return packages_distributions()


def _distributions(import_name: str) -> set[str]:
    return {_dist_name(d) for d in _installed().get(import_name, [import_name])}


def test_runtime_dependencies_are_exactly_what_the_package_imports():
    project = _project()
    declared = {_dist_name(r) for r in project["dependencies"]}
    bench = {_dist_name(r) for r in project["optional-dependencies"]["bench"]}
    runtime_files = [p for p in PACKAGE.rglob("*.py") if "bench" not in p.relative_to(PACKAGE).parts]
    imported = _third_party_imports(runtime_files)
    undeclared = {name: sorted(files) for name, files in imported.items()
                  if name not in OPTIONAL_IMPORTS and not _distributions(name) & declared}
    assert not undeclared, f"imported but not in [project] dependencies: {undeclared}"
    used = set().union(*(_distributions(name) for name in imported))
    unused = sorted(declared - used)
    assert not unused, f"declared in [project] dependencies but imported nowhere in vmt_dask: {unused}"
    bench_imports = _third_party_imports((PACKAGE / "bench").rglob("*.py"))
    missing = {name: sorted(files) for name, files in bench_imports.items()
               if not _distributions(name) & (declared | bench)}
    assert not missing, f"benchmarks import packages outside the runtime and bench extras: {missing}"


def test_tests_import_only_declared_packages():
    project = _project()
    extras = project["optional-dependencies"]
    allowed = {_dist_name(r) for r in project["dependencies"] + extras["test"] + extras["notebook"]}
    imported = _third_party_imports((REPO / "tests").rglob("*.py"))
    local = {p.stem for p in (REPO / "tests").rglob("*.py")} | {"deploy_kube"}
    missing = {name: sorted(files) for name, files in imported.items()
               if name not in local and not _distributions(name) & allowed}
    assert not missing, f"tests import packages missing from the test extra: {missing}"


def _importorskips(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "importorskip" and node.args
                and isinstance(node.args[0], ast.Constant)):
            yield node.args[0].value, node.lineno


def test_no_test_skips_on_the_projects_own_or_installed_packages():
    """A broken import of vmt_dask, or of a package the test extra installs, must fail
    the tests, not turn them into skips.  Only the optional 'notebook' extra may skip."""
    project = _project()
    required = {_dist_name(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    bad = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        for module, line in _importorskips(path):
            top = module.split(".")[0]
            if top == "vmt_dask" or _distributions(top) & required:
                bad.append(f"{_rel(path)}:{line}: importorskip({module!r})")
    assert not bad, "\n".join(bad)


def test_the_checks_can_fail(tmp_path):
    f = tmp_path / "t.py"
    f.write_text("import pytest\nimport numpy.linalg\nfrom os import path\n"
                 "m = pytest.importorskip('vmt_dask.store')\n")
    assert list(_importorskips(f)) == [("vmt_dask.store", 4)]
    assert set(_third_party_imports([f])) == {"pytest", "numpy"}
    assert _dist_name("dask[array]>=2024.8") == "dask"
    assert _dist_name("tomli>=1.1; python_version < '3.11'") == "tomli"
    assert "scikit-image" in _distributions("skimage")


@pytest.mark.parametrize("requirement,name", [("PyYAML>=6", "pyyaml"), ("moto[server]>=5.0", "moto"),
                                              ("helm_python_sdk", "helm-python-sdk")])
def test_dist_name_normalisation(requirement, name):
    assert _dist_name(requirement) == name
