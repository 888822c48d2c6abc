"""Every template notebook executed on sample_data; the postmortem finds the incident's ground truth;
reports are redacted, escaped, and a failing cell fails the render."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import pathlib
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from _support import SAMPLE_DATA

from obsnb import report
from obsnb.errors import ReportError

pytestmark = pytest.mark.slow
BOUND_ROWS = 1_000  # rows a template cell may collect from a scan (one trace, a chart's buckets)
TRUTH = json.loads((SAMPLE_DATA / "ground_truth.json").read_text())


def render_demo_once(tmp_path_factory) -> tuple[pathlib.Path, str]:
    """Run ``obsnb demo`` once per session (shared by the report, browser and CLI tests): (report, stdout)."""
    from obsnb import cli

    base = tmp_path_factory.getbasetemp() / "obsnb-demo"
    done = base / "stdout.txt"
    if not done.exists():
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            rc = cli.main(["demo", "--out", str(base)])
        assert rc == 0
        done.write_text(buf.getvalue())
    out = done.read_text()
    return pathlib.Path(out.strip().splitlines()[-1]), out


def markdown_text(nb_path: pathlib.Path) -> str:
    """All markdown and HTML outputs of an executed notebook, joined."""
    nb = nbformat.read(str(nb_path), as_version=4)
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            parts.append(data.get("text/markdown", "") + data.get("text/html", "") if "obsnb-chart" not in
                         data.get("text/html", "") else data.get("text/markdown", ""))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path, _ = render_demo_once(tmp_path_factory)
    return path, markdown_text(path.with_name(f"{path.stem}.executed.ipynb")), path.read_text()


def visible_text(html_text: str) -> str:
    """What a reader sees: tags, scripts and styles removed, entities unescaped, whitespace collapsed."""
    import html as _html
    import re

    t = re.sub(r"<(script|style)\b.*?</\1>", " ", html_text, flags=re.S)
    t = _html.unescape(re.sub(r"<[^>]+>", " ", t))
    t = re.sub(r"\\([\\`*_\[\]()!#|~:&])", r"\1", t)  # markdown source: its escapes, as a reader sees them
    return re.sub(r"\s+", " ", t)


def when(iso: str) -> str:
    return iso.replace("T", " ").replace("Z", " UTC")


def test_postmortem_states_the_planted_facts(demo):
    """The demo report names the silent worker, the retried job, the failing dependency and the deploy, with the
    generator's times and counts, in sentences made from findings."""
    path, _, html_text = demo
    text = visible_text(html_text)
    sw, rs = TRUTH["silent_worker"], TRUTH["retry_storm"]
    assert (f"`worker` = `{sw['worker']}` logged nothing from {when(sw['last_log_time'])} until "
            f"{when(sw['resumed_time'])}: {sw['silence_seconds'] / 60:.1f} min of silence") in text
    assert f"`job_id` `{rs['job_id']}` was attempted {rs['attempts_started']} times" in text
    assert f"Dependency `{TRUTH['slowest_dependency']['name']}` (client spans)" in text
    assert f"`deploy` from `payments-worker` at {when(TRUTH['deploy']['time'])}" in text
    fe = TRUTH["first_error"]
    assert re.search(rf"The first error in the window was `\w+` from `payments-worker` at {when(fe['time'])} "
                     rf"about `job_id` {fe['job_id']}", text)
    assert f"Trace {rs['trace_id']} : {TRUTH['worst_trace']['spans']} spans" in text  # the retried job's trace
    assert "How obsnb read this evidence" in text and "Action items" in text


def test_render_writes_findings_json_beside_the_report(demo):
    """`obsnb render`/`demo` writes <report>.findings.json (schema obsnb.findings/1), owner-readable only."""
    path, _, _ = demo
    doc_path = path.with_suffix(".findings.json")
    doc = json.loads(doc_path.read_text())
    assert doc["schema"] == "obsnb.findings/1" and doc["window"]["start"] == TRUTH["window"]["start"]
    kinds = {f["kind"] for f in doc["findings"]}
    assert {"silence", "retry_storm", "degraded_dependency", "change", "first_error"} <= kinds
    assert oct(doc_path.stat().st_mode & 0o777) == "0o600"
    assert TRUTH["secret_in_logs"] not in doc_path.read_text()


def test_report_is_self_contained_escaped_and_redacted(demo):
    """One HTML file: no CDN reference, the log's <script> only as escaped text, the leaked API key redacted."""
    path, _, html_text = demo
    assert path.suffix == ".html" and path.stat().st_size < 3_000_000
    for cdn in ("cdn.jsdelivr.net", "cdnjs.cloudflare.com", "unpkg.com", "require.min.js"):
        assert cdn not in html_text
    assert "<script>alert(1)</script>" not in html_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text
    assert TRUTH["secret_in_logs"] not in html_text
    executed = path.with_name(f"{path.stem}.executed.ipynb").read_text()
    assert TRUTH["secret_in_logs"] not in executed


@pytest.mark.parametrize("name", ["triage", "trace"])
def test_template_executes_on_sample_data(name, tmp_path):
    """triage and trace run end to end on the sample incident's files and show its facts."""
    params = {"incident": TRUTH["incident"], "logs": str(SAMPLE_DATA / "logs"), "traces": str(SAMPLE_DATA / "traces"),
              "metrics": str(SAMPLE_DATA / "metrics")}
    if name == "triage":  # triage mid-incident: 14:00, while the worker is silent and its job is stuck
        params.update(start=TRUTH["window"]["start"], end="2026-11-03T14:00:00Z")
    node = report.execute(name, tmp_path / f"{name}.ipynb", params)
    text = visible_text(markdown_text(tmp_path / f"{name}.ipynb"))
    charts = sum("obsnb-chart-" in json.dumps(c.get("outputs", [])) for c in node.cells)
    assert charts >= 1
    sw, rs = TRUTH["silent_worker"], TRUTH["retry_storm"]
    if name == "triage":
        assert f"`worker` = `{sw['worker']}` logged nothing from {when(sw['last_log_time'])}" in text
        assert f"the longest, `{sw['stuck_job_id']}`, started at {when(sw['last_log_time'])}" in text  # a stall
    else:
        assert f"Trace {rs['trace_id']}" in text
        assert f"`job_id` `{rs['job_id']}` was attempted {rs['attempts_started']} times" in text


def _tiny(tmp_path, *sources, params="x = 1\n") -> pathlib.Path:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    p = new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, *(new_code_cell(s) for s in sources)]
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_failing_cell_fails_render_with_cell_and_error(tmp_path):
    """A cell that raises stops the render with ReportError naming the cell, its first line and the error."""
    nb = _tiny(tmp_path, "y = 2", "raise RuntimeError('payments table missing')")
    with pytest.raises(ReportError) as info:
        report.render(nb, output=tmp_path / "out.html")
    msg = str(info.value)
    assert "code cell 3" in msg and "RuntimeError: payments table missing" in msg
    assert "raise RuntimeError('payments table missing')" in msg
    assert not (tmp_path / "out.html").exists()


def test_secrets_in_parameters_and_outputs_redacted(tmp_path):
    """Injected secret parameters, Authorization headers, URL keys and passwords never reach the report."""
    nb = _tiny(tmp_path, "print('Authorization: Bearer abcdefghijklmnop')\n"
                         "print('https://u:hunter2@db.example/x?token=t0k3nvalue&page=2')\n"
                         "print({'password': 'pa55word'})", params="api_token = 'x'\n")
    out = report.render(nb, output=tmp_path / "r.html", parameters={"api_token": "sekr1t-value"}, show_code=True)
    text = out.read_text() + out.with_name("r.executed.ipynb").read_text()
    for secret in ("sekr1t-value", "abcdefghijklmnop", "hunter2", "t0k3nvalue", "pa55word"):
        assert secret not in text
    assert "page=2" in text and "Authorization: Bearer [REDACTED]" in text


def test_redact_keeps_ordinary_text():
    """redact() changes credentials only: ids, durations and plain URLs stay as they were."""
    assert report.redact("GET https://api.example.com/v1/charges?id=7 took 5.0s") == \
        "GET https://api.example.com/v1/charges?id=7 took 5.0s"
    assert report.redact("url=https://x.io/c?api_key=sk_live_abcdefgh123&n=1") == "url=https://x.io/c?api_key=[REDACTED]&n=1"
    assert report.redact('{"Authorization": "Basic dXNlcjpwYXNz"}') == '{"Authorization": "Basic [REDACTED]"}'


def test_report_renderer_keeps_log_text_as_data():
    """setup("html") emits a div + vegaEmbed call whose spec cannot close its <script>: `<` `>` `&` are escaped."""
    import altair as alt
    import pandas as pd

    from obsnb import notebook

    assert notebook.setup("html") == "html"
    try:
        chart = alt.Chart(pd.DataFrame({"error": ["</script><script>alert(1)</script>"], "n": [1]})).mark_bar().encode(
            x="n:Q", tooltip="error:N")
        html_out = alt.renderers.get()(chart.to_dict())["text/html"]
    finally:
        notebook.setup("jupyter")
    assert 'class="obsnb-chart"' in html_out and "vegaEmbed(el, spec, opt)" in html_out
    assert "</script><script>alert(1)" not in html_out
    assert "\\u003c/script\\u003e\\u003cscript\\u003ealert(1)" in html_out
    assert html_out.count("</script>") == 1 and "cdn.jsdelivr" not in html_out


def test_missing_kernel_is_a_report_error(tmp_path):
    """An unknown kernel name fails with ReportError saying how to install one."""
    nb = _tiny(tmp_path, "1")
    with pytest.raises(ReportError, match="no Jupyter kernel named 'no-such-kernel'; install one") as info:
        report.execute(nb, tmp_path / "x.ipynb", kernel_name="no-such-kernel")
    assert "python -m ipykernel install --sys-prefix --name no-such-kernel" in str(info.value)


def test_sample_data_is_what_the_generator_makes(tmp_path):
    """Re-running scripts/gen_sample_incident.py reproduces the committed sample_data byte for byte."""
    import importlib.util
    import subprocess
    import sys

    from conftest import ROOT, need

    need(all(importlib.util.find_spec(m) for m in ("opentelemetry.sdk", "prometheus_client", "pythonjsonlogger")),
         "the generator's dependencies are missing: pip install -e '.[sample]'")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_sample_incident.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    committed = sorted(p.relative_to(SAMPLE_DATA) for p in SAMPLE_DATA.rglob("*")
                       if p.is_file() and p.relative_to(SAMPLE_DATA).parts[0] != "incidents")  # those have their own generators
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert made == committed
    for rel in committed:
        assert (tmp_path / rel).read_bytes() == (SAMPLE_DATA / rel).read_bytes(), rel


def test_warnings_in_the_report_read_category_and_message_only(tmp_path):
    """A warning a cell raises shows as `Category: message`: not the path of the file that raised it (a path on
    the machine that ran the report) nor the source line Python prints after a one-line message; every word of the
    message stays (after a message of several lines the source line stays too: where the message ends is not known)."""
    nb = _tiny(tmp_path, "import warnings\nwarnings.warn('18 of 20 lines rejected (no timestamp)', UserWarning)",
               "import warnings\nwarnings.warn('first line\\nsecond line', UserWarning)")
    out = report.render(nb, output=tmp_path / "w.html")
    executed = json.loads(out.with_name("w.executed.ipynb").read_text())
    err = ["".join(o["text"]) for c in executed["cells"] for o in c.get("outputs", []) if o.get("name") == "stderr"]
    assert err[0] == "UserWarning: 18 of 20 lines rejected (no timestamp)\n"
    assert err[1].startswith("UserWarning: first line\nsecond line\n")
    html_text = out.read_text()
    assert "UserWarning: 18 of 20 lines rejected (no timestamp)" in html_text
    assert "warnings.warn('18" not in html_text and "ipykernel" not in html_text

# ------------------------------------------------------------------ the templates on scans (out of core)

_SPY_CELL = '''\
import json as _json, os as _os, sys as _sys, importlib as _il
import polars as _pl
_SPY = []
def _who():
    f = _sys._getframe(2)
    while f is not None:
        path = f.f_code.co_filename.replace(_os.sep, "/")
        if "/obsnb/investigation/" in path or (path.endswith("/obsnb/notebook.py") and f.f_code.co_name == "audit"):
            return "investigate/audit"
        f = f.f_back
    return "template"
_lazy_collect = _pl.LazyFrame.collect
def _spy_collect(self, *a, **k):
    out = _lazy_collect(self, *a, **k)
    _SPY.append([_who(), "LazyFrame.collect", out.height])
    return out
_pl.LazyFrame.collect = _spy_collect
_Scan = _il.import_module("obsnb.scan").Scan
_il.import_module("obsnb").__getattr__("scan")  # ob.scan the function again (importing the module shadows it)
_scan_table = _Scan._table
def _spy_table(self):
    table, n = _scan_table(self)
    _SPY.append([_who(), "Scan._table", table.num_rows])
    return table, n
_Scan._table = _spy_table
'''

_SPY_DUMP = '''\
_pathlib = _il.import_module("pathlib")
_ = _pathlib.Path(_os.environ["OBSNB_TEST_SPY"]).write_text(_json.dumps({"collects": _SPY, "types": [type(x).__name__ for x in (LOGS, SPANS, METRICS)]}))
'''


def _with_spy(name: str, folder: pathlib.Path) -> pathlib.Path:
    """A copy of template ``name`` with a first cell that records every collect (rows, and whether the
    investigation/audit or the template's own cells asked for it) and a last cell that writes the record."""
    from obsnb.report import resolve_notebook

    nb = nbformat.read(str(resolve_notebook(name)), as_version=4)
    nb.cells = [nb.cells[0], new_code_cell(_SPY_CELL), *nb.cells[1:], new_code_cell(_SPY_DUMP)]
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return path


def _render(nb: pathlib.Path, out: pathlib.Path, params: dict, monkeypatch) -> tuple[str, dict, dict]:
    """``obsnb render`` of ``nb`` with ``params``: (the report's HTML, its findings document, the spy's record)."""
    from obsnb import cli

    out.parent.mkdir()
    spy = out.with_suffix(".spy.json")
    monkeypatch.setenv("OBSNB_TEST_SPY", str(spy))
    args = ["render", str(nb), "--to", "html", "--out", str(out)]
    for k, v in params.items():
        args += ["-p", f"{k}={v}"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(args) == 0
    return out.read_text(), json.loads(out.with_suffix(".findings.json").read_text()), json.loads(spy.read_text())


def _same_report(html_text: str) -> str:
    """The report with what differs between two renders of the same evidence masked: chart element ids and the
    id papermill gives the cell of injected parameters, and so the hashes of the inline scripts in the CSP."""
    return re.sub(r"obsnb-chart-\d+-[0-9a-f]{8}|cell-id=[0-9a-f]{8}|'sha256-[^']+'", "ID", html_text)


def _lazy_and_eager(name: str, params: dict, n_rows: int, tmp_path, monkeypatch) -> tuple[list[int], dict]:
    """Render template ``name`` on loaded frames and on scans; assert both write the same report and findings, and
    that no collect a template cell makes holds more than ``BOUND_ROWS`` rows, nor a fifth of ``n_rows``
    (the evidence's records, from its generator). Returns the template's collects and the findings' counts."""
    nb = _with_spy(name, tmp_path)
    eager_html, eager_doc, eager_spy = _render(nb, tmp_path / "eager" / "report.html", {**params, "lazy": "false"}, monkeypatch)
    lazy_html, lazy_doc, lazy_spy = _render(nb, tmp_path / "lazy" / "report.html", {**params, "lazy": "true"}, monkeypatch)
    given = [params.get(k) is not None for k in ("logs", "traces", "metrics")]
    assert eager_spy["types"] == ["DataFrame"] * 3
    assert lazy_spy["types"] == ["Scan" if g else "DataFrame" for g in given]  # no source: an empty frame
    for doc in (eager_doc, lazy_doc):
        doc.pop("looked_at")  # says how the evidence was read (a scan's rows collected for the detectors)
    assert lazy_doc == eager_doc
    assert _same_report(lazy_html) == _same_report(eager_html)
    assert lazy_html.count('class="obsnb-chart"') >= 1
    mine = [n for who, _, n in lazy_spy["collects"] if who == "template"]
    theirs = [n for who, _, n in lazy_spy["collects"] if who != "template"]
    assert mine and max(mine) <= BOUND_ROWS and max(mine) < n_rows // 5
    # the spy does see a collect of whole evidence: the audit's (and, until it aggregates in the engine, the
    # investigation's) input, the largest kind's window
    assert max(theirs) == max(eager_doc["evidence"].values())
    return mine, eager_doc["evidence"]


@pytest.mark.parametrize("name", ["postmortem", "triage", "trace"])
def test_template_on_scans_renders_the_report_it_renders_on_frames(name, tmp_path, monkeypatch):
    """Every template rendered with ``lazy=true`` (the evidence as ``ob.scan()`` handles) writes the very report
    and findings it writes on loaded frames, and no cell of the template collects more than a bounded set of
    rows: charts and tables are aggregated in the engine, a trace's rows are read by trace id. (The
    investigation and the audit still collect the scans' rows; the spy tells their collects apart.)"""
    params = {"incident": TRUTH["incident"], "logs": str(SAMPLE_DATA / "logs"), "traces": str(SAMPLE_DATA / "traces"),
              "metrics": str(SAMPLE_DATA / "metrics"), "start": TRUTH["window"]["start"], "end": TRUTH["window"]["end"]}
    n_logs = sum(len(gzip.open(f).read().splitlines()) for f in (SAMPLE_DATA / "logs").glob("*.jsonl.gz"))
    mine, evidence = _lazy_and_eager(name, params, n_logs, tmp_path, monkeypatch)
    print(f"{name}: {len(mine)} template collects, at most {max(mine)} rows; evidence {evidence}")


PUBLIC = sorted(p.parent.name for p in (SAMPLE_DATA / "incidents").glob("*/ground_truth.json"))


@pytest.mark.parametrize("incident", PUBLIC)
def test_postmortem_on_scans_of_each_public_incident(incident, tmp_path, monkeypatch):
    """The postmortem of each bundled public incident (its own formats and vocabulary; some without traces or
    metrics) is the same report on scans as on frames, and its cells collect only bounded rows."""
    folder = SAMPLE_DATA / "incidents" / incident
    truth = json.loads((folder / "ground_truth.json").read_text())
    ev = truth["evidence"]
    params = {"incident": incident, "start": truth["window"]["start"], "end": truth["window"]["end"],
              **{k: str(folder / ev[k]) for k in ("logs", "traces", "metrics") if ev[k]}}
    mine, evidence = _lazy_and_eager("postmortem", params, truth["counts"]["log_lines"], tmp_path, monkeypatch)
    print(f"{incident}: {len(mine)} template collects, at most {max(mine)} rows; evidence {evidence}")


def _sample_sources():
    return str(SAMPLE_DATA / "logs"), str(SAMPLE_DATA / "traces"), str(SAMPLE_DATA / "metrics")


def test_load_incident_returns_scans_when_asked_or_past_the_threshold(monkeypatch):
    """``lazy=True`` (or files past ``LAZY_BYTES``) gives one ``ob.scan()`` per source over the same window and
    baseline as the frames ``lazy=False`` loads; the bundled sample (< 1 GiB) loads as frames by default."""
    import warnings

    from obsnb import notebook as obn
    from obsnb.analysis.lazy import is_scan

    window = dict(start=TRUTH["window"]["start"], end=TRUTH["window"]["end"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frames = obn.load_incident(*_sample_sources(), **window, lazy=False)
        assert [type(x).__name__ for x in obn.load_incident(*_sample_sources(), **window)] == ["DataFrame"] * 3
        scans = obn.load_incident(*_sample_sources(), **window, lazy=True)
        monkeypatch.setattr(obn, "LAZY_BYTES", 0)
        past = obn.load_incident(*_sample_sources(), **window)
        assert all(is_scan(s) for s in (*scans, *past))
        for frame, scan in zip(frames, scans):
            assert obn.rows(scan) == len(frame)
            got = scan.collect()
            assert list(got.columns) == list(frame.columns)
            assert got.equals(frame)
    n_logs = sum(len(gzip.open(f).read().splitlines()) for f in (SAMPLE_DATA / "logs").glob("*.jsonl.gz"))
    assert obn.rows(scans[0]) == n_logs  # the window and its 4 h baseline hold the whole sample's logs


def test_timeline_of_scans_reads_only_the_chain(monkeypatch):
    """``obn.timeline`` on scans finds the chain of traces (joined across the queue) in the engine and reads only its
    rows: the frame ``ob.timeline`` gives on the loaded evidence, and no collect larger than the chain."""
    import warnings

    import polars as pl

    import obsnb as ob
    from obsnb import notebook as obn

    tid = TRUTH["retry_storm"]["trace_id"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logs, spans, _ = obn.load_incident(*_sample_sources(), lazy=False)
        want = ob.timeline(tid, logs=logs, spans=spans)
        scans = obn.load_incident(*_sample_sources(), lazy=True)
        seen = []
        real = pl.LazyFrame.collect

        def spy(self, *a, **k):
            out = real(self, *a, **k)
            seen.append(out.height)
            return out

        monkeypatch.setattr(pl.LazyFrame, "collect", spy)
        monkeypatch.setattr(type(scans[0]), "collect", lambda self, engine=None: pytest.fail("the scan was collected"))
        got = obn.timeline(tid, logs=scans[0], spans=scans[1])
    assert (got["source"] == "span").sum() == TRUTH["worst_trace"]["spans"]
    assert got.equals(want)
    assert seen and max(seen) <= len(want) < len(logs) // 10


def test_trace_and_rows_helpers_on_a_scan_answer_as_pandas_does(monkeypatch):
    """On a scan of a public incident (Jaeger traces, another vocabulary): ``obn.trace_of_interest`` with no finding
    naming a trace is the trace covering the longest time, and ``obn.rows_about`` a unit's last rows, both as plain
    pandas finds them in the loaded frames; neither collects the scan."""
    import types
    import warnings

    import obsnb as ob
    from obsnb import notebook as obn

    folder = SAMPLE_DATA / "incidents" / "taskqueue"
    truth = json.loads((folder / "ground_truth.json").read_text())
    storm = next(f for f in truth["facts"] if f["kind"] == "retry_storm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spans, logs = ob.load(str(folder / truth["evidence"]["traces"])), ob.load(str(folder / "logs"))
        span_scan, log_scan = ob.scan(str(folder / truth["evidence"]["traces"])), ob.scan(str(folder / "logs"))
        monkeypatch.setattr(type(span_scan), "collect", lambda self, engine=None: pytest.fail("the scan was collected"))
        longest = obn.trace_of_interest([], span_scan)
        about = types.SimpleNamespace(entity_column=storm["column"], entity_value=storm["value"])
        last = obn.rows_about(log_scan, about, limit=4, errors_only=False)
    ext = spans.groupby("trace_id").agg(first=("start", "min"), last=("end", "max"))
    covered = ext["last"] - ext["first"]
    assert longest == covered[covered == covered.max()].index.min()
    mine = logs[logs[storm["column"]] == storm["value"]].sort_values("time", kind="stable").tail(4)
    assert len(last) == 4 and last["time"].tolist() == mine["time"].tolist()
    assert last["event"].tolist() == mine["event"].tolist()
    assert list(last.columns) == [c for c in mine.columns if not c.startswith("_") and c != "span_id"
                                  and mine[c].notna().any()]  # the columns that hold values, where-from left out


def test_load_incident_on_scans_says_what_was_rejected_at_load(tmp_path):
    """A scanned source with a broken record warns at ``load_incident`` as a load does (count of records read, the
    first one's file and line), and ``ob.rejected`` lists it; loaded + rejected = records read."""
    import warnings

    import obsnb as ob
    from obsnb import notebook as obn

    lines = gzip.open(sorted((SAMPLE_DATA / "logs").glob("*.jsonl.gz"))[0]).read().splitlines()[:200]
    path = tmp_path / "app.jsonl"
    path.write_bytes(b"\n".join([*lines[:100], b'{"broken', *lines[100:]]) + b"\n")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        logs, _, _ = obn.load_incident(str(path), lazy=True)
    said = [str(w.message) for w in seen if issubclass(w.category, ob.RejectedRecordsWarning)]
    assert len(said) == 1 and said[0].startswith(f"1 of 201 records rejected from the scanned logs; first: {path}:101: ")
    assert ob.rejected(logs)["line"].tolist() == [101]
    assert obn.rows(logs) == 200


def test_trace_status_of_a_missing_trace_counts_the_scanned_evidence(monkeypatch):
    """Asked for a trace the evidence does not hold, the trace template says so with the evidence's counts: on scans,
    counted in the engine, the numbers plain pandas counts in the loaded frames."""
    import warnings

    import IPython.display

    from obsnb import notebook as obn

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append(obj["text/markdown"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logs, spans, _ = obn.load_incident(*_sample_sources(), lazy=False)
        scans = obn.load_incident(*_sample_sources(), lazy=True)
        tid = "f" * 32
        assert not obn.has_trace(tid, scans[1], scans[0]) and obn.has_trace(TRUTH["retry_storm"]["trace_id"], scans[1], scans[0])
        obn.trace_status(tid, tid, scans[1], scans[0])
    assert len(shown) == 1
    text = visible_text(shown[0])
    assert f"Trace {tid} is not in the loaded evidence ({len(spans):,} spans, {logs['trace_id'].notna().sum():,} log lines " \
           "with a trace id)" in text


def test_show_of_a_scan_reads_only_the_rows_it_shows(monkeypatch):
    """``obn.show(scan, max_rows=3)`` is the table of the loaded frame's first three rows, and never collects the scan."""
    import warnings

    import IPython.display

    import obsnb as ob
    from obsnb import notebook as obn

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append(obj.data))
    cols = ["time", "level", "event", "service"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = ob.load(str(SAMPLE_DATA / "logs"))
        scan = ob.scan(str(SAMPLE_DATA / "logs"))
        monkeypatch.setattr(type(scan), "collect", lambda self, engine=None: pytest.fail("the scan was collected"))
        obn.show(scan, max_rows=3, columns=cols)
        obn.show(frame, max_rows=3, columns=cols)
    assert shown[0] == shown[1] and shown[0].count("<tr") == 4  # the header and three rows
    assert all(v in shown[0] for v in frame["event"].head(3))


def test_timeline_of_a_scan_keeps_the_loaded_column_types(tmp_path):
    """A trace whose rows all hold an integer field that other rows lack: its timeline from a scan has the column
    type of the loaded frame's (float, as pandas holds integers with nulls), so both read the same."""
    import warnings

    import obsnb as ob
    from obsnb import notebook as obn

    a, b = "a" * 32, "b" * 32
    path = tmp_path / "app.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [
        {"time": "2026-01-01T00:00:00Z", "event": "job_started", "trace_id": a, "attempt": 1},
        {"time": "2026-01-01T00:00:01Z", "event": "job_failed", "trace_id": a, "attempt": 2, "ok": True},
        {"time": "2026-01-01T00:00:02Z", "event": "job_started", "trace_id": b}]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = ob.timeline(a, logs=ob.load(str(path)))
        got = obn.timeline(a, logs=ob.scan(str(path)))
    assert want["attempt"].tolist() == [1.0, 2.0] and str(want["attempt"].dtype) == "float64"
    assert got.equals(want)
