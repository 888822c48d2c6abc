"""``obsnb new`` writes each template with its parameters filled in, without loading nbformat or papermill.

The notebook it writes must be what papermill's parameterisation and ``nbformat.write`` gave before (the
reference here is built with them), a valid nbformat 4 notebook (``nbformat.validate``), and its parameters cell
must give back exactly the values given, however they are quoted.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from obsnb import cli

TEMPLATES = cli.TEMPLATES
HARD = 'INC "7" \\ back\tslash é ✓ \U0001f525 \x1b[2J'  # quotes, a backslash, a tab, non-ASCII, emoji, an escape


def _reference(template: str, params: dict) -> dict:
    """What the papermill way wrote: parameterize_notebook, the injected cell folded into the parameters cell
    (``# Set by `obsnb new`:``), then nbformat.write; papermill's own metadata left out."""
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    from obsnb.report import resolve_notebook

    node = parameterize_notebook(load_notebook_node(str(resolve_notebook(template))), params)
    node.metadata.pop("papermill", None)
    cells = node.cells
    injected = next(c for c in cells if "injected-parameters" in c.metadata.get("tags", []))
    target = next(c for c in cells if "parameters" in c.metadata.get("tags", []))
    target.source = target.source.rstrip() + "\n\n# Set by `obsnb new`:\n" + "\n".join(
        line for line in injected.source.splitlines() if not line.startswith("# Parameters")).strip() + "\n"
    cells.remove(injected)
    doc = json.loads(nbformat.writes(node))
    for c in doc["cells"]:  # papermill gives every cell these two (empty) keys; the template has neither
        c["metadata"].pop("papermill", None)
        if c["metadata"].get("tags") == []:
            c["metadata"].pop("tags")
    return doc


@pytest.mark.parametrize("template", TEMPLATES)
def test_new_writes_what_papermill_and_nbformat_wrote(tmp_path, template):
    logs = tmp_path / "logs dir"
    logs.mkdir()
    path = cli.new_investigation(template, tmp_path / "inc", incident=HARD, start="2026-11-18T00:00Z", end=None,
                                 sources={"logs": str(logs), "metrics": "prometheus://prom:9090"})
    params = {"incident": HARD, "start": "2026-11-18T00:00Z", "end": None, "logs": str(logs),
              "metrics": "prometheus://prom:9090"}
    assert json.loads(path.read_text(encoding="utf-8")) == _reference(template, params)


@pytest.mark.parametrize("template", TEMPLATES)
def test_new_notebook_is_valid_and_its_parameters_read_back(tmp_path, template):
    import nbformat

    path = cli.new_investigation(template, tmp_path / "inc", incident=HARD, start="now-2h", end="now",
                                 sources={"metrics": "prometheus://prom:9090"})
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)  # raises on an invalid notebook
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert "# Set by `obsnb new`:" in cell.source
    namespace: dict = {}
    exec(cell.source.split("# Set by `obsnb new`:")[1], namespace)  # noqa: S102 - the cell this test just wrote
    assert {k: namespace[k] for k in ("incident", "start", "end", "metrics")} == {
        "incident": HARD, "start": "now-2h", "end": "now", "metrics": "prometheus://prom:9090"}


def test_new_loads_neither_nbformat_nor_papermill(tmp_path):
    """What made ``obsnb new`` take 10 s: importing nbformat (jsonschema's format grammars) and papermill."""
    code = ("import sys; from obsnb import cli; "
            f"rc = cli.main(['new', 'triage', {str(tmp_path / 'inc')!r}, '--incident', 'X-1']); "
            "print(rc, sorted(m for m in ('nbformat', 'papermill', 'jsonschema') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert out.splitlines()[-1] == "0 []"
    assert (tmp_path / "inc" / "triage.ipynb").is_file() and (tmp_path / "inc" / "obsnb.toml").is_file()


def test_new_refuses_a_notebook_that_is_not_nbformat_4(tmp_path):
    old = tmp_path / "old.ipynb"
    old.write_text(json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": [], "metadata": {}}))
    with pytest.raises(cli.UsageError, match="not an nbformat 4 notebook"):
        cli.new_investigation(str(old), tmp_path / "inc", incident="A")
    assert not (tmp_path / "inc").exists()  # nothing written


def test_new_keeps_the_template_cells(tmp_path):
    """Every template cell is there, in order, with its id; only the parameters cell's source grew."""
    from obsnb.report import NOTEBOOKS

    path = cli.new_investigation("postmortem", tmp_path / "inc", incident="A")
    got = json.loads(path.read_text(encoding="utf-8"))
    template = json.loads(pathlib.Path(NOTEBOOKS / "postmortem.ipynb").read_text(encoding="utf-8"))
    assert [c["id"] for c in got["cells"]] == [c["id"] for c in template["cells"]]
    changed = [c["id"] for c, t in zip(got["cells"], template["cells"]) if c != t]
    assert changed == [next(c["id"] for c in template["cells"] if "parameters" in c["metadata"].get("tags", []))]
