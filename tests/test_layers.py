"""The package's layering, as pyproject.toml's [tool.importlinter] contracts state it, and its module sizes.

``make test`` (and CI) fails on an import that runs up a layer, on an import cycle between sibling
modules, on a module under obsnb/ that no layer names, and on a module over 500 lines.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from _support import ROOT

PACKAGE = ROOT / "obsnb"
MAX_LINES = 500


def _lint_imports(cwd, pythonpath=None) -> subprocess.CompletedProcess:
    """Run import-linter (no cache written) on the pyproject.toml in ``cwd``."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run([sys.executable, "-c", code, "--no-cache", "--no-logo", "pyproject.toml"], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


def test_the_package_keeps_its_layer_and_cycle_contracts():
    """Every import in obsnb/ runs down the layers, and no sibling modules import each other in a circle."""
    res = _lint_imports(ROOT)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "obsnb layers: each layer imports only the layers below it KEPT" in out
    assert "no import cycles between sibling modules, at any depth KEPT" in out
    assert "2 kept, 0 broken" in out


def _copy(tmp_path):
    shutil.copytree(PACKAGE, tmp_path / "obsnb", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path / "obsnb"


def _append(path, text):
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


@pytest.mark.parametrize(
    "change, broken, shown",
    [
        # the options (bottom layer) reading load(): upward, and a cycle options -> api -> options
        (lambda pkg: _append(pkg / "options.py", "\nfrom .api import load  # noqa\n"),
         ["obsnb layers: each layer imports only the layers below it BROKEN",
          "no import cycles between sibling modules, at any depth BROKEN"],
         "obsnb.options -> obsnb.api"),
        # inside one layer: sources/base.py importing the backend module that imports it
        (lambda pkg: _append(pkg / "sources" / "base.py", "\nfrom . import backend  # noqa\n"),
         ["no import cycles between sibling modules, at any depth BROKEN"],
         "No cycles are allowed in obsnb.sources.\nIt could be made acyclic by removing 1 dependency:\n\n- .base -> .backend"),
        # a function-level import counts like any other
        (lambda pkg: _append(pkg / "schema.py", "\n\ndef _f():\n    from . import charts  # noqa\n"),
         ["obsnb layers: each layer imports only the layers below it BROKEN"],
         "obsnb.schema -> obsnb.charts"),
        # a new module that no layer names
        (lambda pkg: (pkg / "newthing.py").write_text('"""Not placed in any layer."""\n'),
         ["obsnb layers: each layer imports only the layers below it BROKEN"],
         "obsnb.newthing"),
    ],
    ids=["upward-import", "cycle-in-a-layer", "function-level-import", "unplaced-module"],
)
def test_the_contracts_catch_a_breach(tmp_path, change, broken, shown):
    """On a copy of the package with one bad change, import-linter fails and names what broke."""
    change(_copy(tmp_path))
    res = _lint_imports(tmp_path, pythonpath=tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    for line in broken:
        assert line in out, out
    assert shown in out, out


def test_no_module_is_over_500_lines():
    """Every module under obsnb/ holds one idea, in at most 500 lines."""
    sizes = {str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
             for p in sorted(PACKAGE.rglob("*.py"))}
    assert len(sizes) > 40  # the walk saw the package
    over = {path: n for path, n in sizes.items() if n > MAX_LINES}
    assert over == {}, f"split these by idea: {over}"
