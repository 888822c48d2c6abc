"""The obsnb command: new, render, demo, --help with examples, and one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib

import nbformat
import pytest

from conftest import SAMPLE_DATA
from test_report import _tiny, render_demo_once

from obsnb import cli


def test_help_shows_examples(capsys):
    """`obsnb --help` lists the subcommands and ends with runnable examples."""
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    assert "{new,render,investigate,audit,demo}" in out and "obsnb new postmortem inc-tq --incident TQ-7" in out
    assert "obsnb render inc-tq/postmortem.ipynb --to html" in out


def test_new_creates_investigation_with_parameters(tmp_path, capsys, monkeypatch):
    """`obsnb new` writes the template with the parameters filled in (paths made absolute) and an obsnb.toml
    that records them without defining sources, so every load keeps working."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "a.jsonl.gz").write_bytes(b"")
    folder = tmp_path / "inc"
    rc = cli.main(["new", "postmortem", str(folder), "--incident", "INC-7", "--start", "2026-11-03T12:00Z",
                   "--end", "2026-11-03T16:00Z", "--source", "logs=app/*.jsonl.gz",
                   "--source", "metrics=prometheus://prom:9090"])
    assert rc == 0
    assert capsys.readouterr().out.splitlines()[0] == str(folder / "postmortem.ipynb")
    nb = nbformat.read(str(folder / "postmortem.ipynb"), as_version=4)
    assert not [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    ns: dict = {}
    exec(params[0].source, ns)
    assert (ns["incident"], ns["start"], ns["end"], ns["logs"], ns["metrics"], ns["traces"]) == (
        "INC-7", "2026-11-03T12:00Z", "2026-11-03T16:00Z", str(tmp_path / "app" / "*.jsonl.gz"),
        "prometheus://prom:9090", None)
    conf = tomllib.loads((folder / "obsnb.toml").read_text())
    assert conf == {"investigation": {"incident": "INC-7", "store": ".obsnb-store",
                                      "start": "2026-11-03T12:00Z", "end": "2026-11-03T16:00Z",
                                      "evidence": {"logs": str(tmp_path / "app" / "*.jsonl.gz"),
                                                   "metrics": "prometheus://prom:9090"}}}
    from obsnb import config, set_option

    set_option("config", str(folder / "obsnb.toml"))
    try:
        assert config.sources() == {}  # the record defines no backend: loads are not broken by it
    finally:
        set_option("config", None)


def test_render_params_override_only_their_names(tmp_path):
    """`obsnb render NB -p incident=...` on a notebook made by `obsnb new` keeps the sources `new` filled in."""
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    logs = tmp_path / "x.log"
    logs.write_text("")
    nb_path = cli.new_investigation("postmortem", tmp_path / "inc", incident="A", sources={"logs": str(logs)})
    node = parameterize_notebook(load_notebook_node(str(nb_path)), {"incident": "B"})
    ns: dict = {}
    for c in node.cells:
        if {"parameters", "injected-parameters"} & set(c.metadata.get("tags", [])):
            exec(c.source, ns)
    assert (ns["incident"], ns["logs"]) == ("B", str(logs))


def test_new_rejects_a_source_that_does_not_exist(tmp_path, capsys):
    """A path that matches nothing is a one-line error naming it, before anything is written."""
    assert cli.main(["new", "triage", str(tmp_path / "i"), "--incident", "X", "--source", "logs=/nope/a.log"]) == 2
    assert capsys.readouterr().err == ("obsnb: error: --source logs=/nope/a.log: no such file or directory, "
                                       "and no source of that name in obsnb.toml\n")
    assert cli.main(["new", "triage", str(tmp_path / "i"), "--incident", "X", "--source", "logs=/nope/*.log"]) == 2
    assert "no file matches that pattern" in capsys.readouterr().err
    assert not (tmp_path / "i").exists()


def test_new_refuses_to_overwrite_and_bad_source(tmp_path, capsys):
    """An existing investigation or an unknown source kind is a one-line error with exit status 2."""
    assert cli.main(["new", "triage", str(tmp_path), "--incident", "X"]) == 0
    capsys.readouterr()
    assert cli.main(["new", "triage", str(tmp_path), "--incident", "X"]) == 2
    err = capsys.readouterr().err
    assert err == f"obsnb: error: {tmp_path / 'triage.ipynb'} exists; pass --force to overwrite it\n"
    assert cli.main(["new", "triage", str(tmp_path / "b"), "--incident", "X", "--source", "logz=a"]) == 2
    assert capsys.readouterr().err == "obsnb: error: --source logz=...: the kind must be one of logs, traces, metrics\n"


def test_render_missing_notebook_is_one_line(capsys):
    """Rendering a notebook that does not exist names it and the bundled templates, on one line."""
    assert cli.main(["render", "nope.ipynb"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no notebook at nope.ipynb" in err and "postmortem, trace, triage" in err


def test_render_with_params_writes_report_beside_notebook(tmp_path):
    """`obsnb render NB -p name=value` types values by the notebook's defaults and prints the report path."""
    nb = _tiny(tmp_path, "from IPython.display import Markdown, display\n"
                         "display(Markdown(f'incident {incident!r} minutes {minutes!r}'))",
               params="incident = 'x'\nminutes = 0\n")
    proc = subprocess.run([sys.executable, "-m", "obsnb.cli", "render", str(nb), "-p", "incident=1234",
                           "-p", "minutes=90.5"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(nb.with_suffix(".html"))
    assert "<p>incident '1234' minutes 90.5</p>" in nb.with_suffix(".html").read_text()


def test_render_failure_exits_1_with_cell(tmp_path, capsys):
    """A failing cell makes `obsnb render` exit 1 with the cell and the error on stderr."""
    nb = _tiny(tmp_path, "import json\njson.loads('{bad')")
    assert cli.main(["render", str(nb)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("obsnb: error: tiny.ipynb: code cell 2") and "JSONDecodeError" in err


def test_demo_prints_report_path(tmp_path_factory):
    """`obsnb demo` renders the sample incident's postmortem and prints the absolute path of the report."""
    path, out = render_demo_once(tmp_path_factory)
    truth = json.loads((SAMPLE_DATA / "ground_truth.json").read_text())
    assert path.is_absolute() and path.name == f"{truth['incident']}-postmortem.html" and path.is_file()
    assert out.strip() == str(path)


def test_render_to_pdf(tmp_path, capsys):
    """`obsnb render NB --to pdf` writes one PDF (printed from the self-contained HTML) and prints its path."""
    from conftest import need
    from obsnb.report import find_chromium
    from obsnb.errors import MissingDependencyError

    try:
        find_chromium()
        have = True
    except MissingDependencyError:
        have = False
    need(have, "Chromium is not installed (apt-get install chromium)")
    nb = _tiny(tmp_path, "print('hello pdf')")
    assert cli.main(["render", str(nb), "--to", "pdf", "--out", str(tmp_path / "r.pdf")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "r.pdf")
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF-")
    assert not (tmp_path / "r.html").exists()


def test_audit_prints_the_scorecard(capsys):
    """`obsnb audit` prints one line per rule with its verdict, and the fix under each warn or fail."""
    from _support import SAMPLE_DATA

    inc = SAMPLE_DATA / "incidents" / "webhooks"
    assert cli.main(["audit", "--source", f"logs={inc / 'logs'}", "--source", f"metrics={inc / 'metrics'}"]) == 0
    out = capsys.readouterr().out
    verdicts = dict(re.findall(r"^(\w+)\s+(pass|warn|fail|n/a)$", out, flags=re.M))
    assert verdicts["boundaries_logged"] == "n/a"  # no spans given
    assert verdicts["one_trace_id_per_workflow"] == "fail"  # the dispatcher's rows carry no trace id
    assert out.count("fix: ") == sum(v in ("warn", "fail") for v in verdicts.values())


def test_investigate_json_is_the_findings_document(capsys):
    """`obsnb investigate --json` prints the findings document, with the planted storm of the webhooks incident."""
    from _support import SAMPLE_DATA

    inc = SAMPLE_DATA / "incidents" / "webhooks"
    truth = json.loads((inc / "ground_truth.json").read_text())
    assert cli.main(["investigate", "--source", f"logs={inc / 'logs'}", "--start", truth["window"]["start"],
                     "--end", truth["window"]["end"], "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    storm = next(f for f in truth["facts"] if f["kind"] == "retry_storm")
    assert doc["schema"] == "obsnb.findings/1"
    assert any(f["kind"] == "retry_storm" and f["entity"] == {"column": "delivery_id", "value": storm["value"]}
               for f in doc["findings"])
