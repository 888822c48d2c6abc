"""What the template notebooks call: renderer setup, safe display helpers, and incident-level facts.

``setup()`` picks altair's renderer: live in JupyterLab the offline ``jupyter`` renderer (anywidget, no
CDN); in a report run (``OBSNB_ALTAIR_RENDERER=html``, set by ``obsnb render``) a renderer whose HTML
is drawn by the vega bundle the report template inlines once. Every helper that writes text into the
page escapes what it did not write itself: log lines are evidence, not markup.
"""

from __future__ import annotations

import html
import itertools
import json
import os
import pathlib
import uuid
from typing import Any

import pandas as pd

__all__ = [
    "setup",
    "sample_data_path",
    "load_incident",
    "md",
    "show",
    "facts",
    "worst_trace",
    "critical_path",
    "draft_timeline",
]

_SAFE_JSON = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}
_ids = itertools.count(1)


def _safe_json(text: str) -> str:
    for k, v in _SAFE_JSON.items():
        text = text.replace(k, v)
    return text


_CHART_HTML = """<div id="{id}" class="obsnb-chart"></div>
<script type="text/javascript">
(function (spec, opt) {{
  var el = document.getElementById("{id}");
  if (typeof vegaEmbed === "undefined") {{
    el.textContent = "This chart draws in reports made by `obsnb render` (they carry the vega bundle).";
    return;
  }}
  vegaEmbed(el, spec, opt).catch(function (err) {{
    var pre = document.createElement("pre"); pre.className = "error"; pre.textContent = String(err); el.appendChild(pre);
  }});
}})({spec}, {opt});
</script>"""


def _report_renderer(spec: dict, **metadata: Any) -> dict:
    """A chart as a div plus a ``vegaEmbed`` call on the global the report inlines once; no CDN, no loader.

    The spec's JSON is made safe to sit inside ``<script>`` (``<``, ``>``, ``&`` escaped), so a log line
    like ``</script><script>alert(1)`` in a tooltip stays data.
    """
    opt = {"renderer": "canvas", "mode": "vega-lite",
           "actions": {"export": True, "source": False, "compiled": False, "editor": False}}
    div = f"obsnb-chart-{next(_ids)}-{uuid.uuid4().hex[:8]}"
    return {"text/html": _CHART_HTML.format(id=div, spec=_safe_json(json.dumps(spec)), opt=json.dumps(opt))}


def setup(renderer: str | None = None) -> str:
    """Choose altair's renderer for this kernel and return its name.

    ``renderer`` defaults to ``$OBSNB_ALTAIR_RENDERER`` or ``"jupyter"`` (interactive and offline in
    JupyterLab through anywidget). ``"html"`` is the report renderer (drawn by the report's inlined vega
    bundle), ``"svg"``/``"png"`` are static images made by vl-convert.
    """
    import altair as alt

    name = renderer or os.environ.get("OBSNB_ALTAIR_RENDERER", "jupyter")
    if name == "html":
        alt.renderers.register("obsnb_html", _report_renderer)
        alt.renderers.enable("obsnb_html")
    elif name == "jupyter":
        alt.renderers.enable("jupyter", offline=True)
    else:
        alt.renderers.enable(name)
    pd.set_option("display.max_colwidth", 120)
    return name


def sample_data_path(*parts: str) -> pathlib.Path:
    """The bundled sample incident (``$OBSNB_SAMPLE_DATA``, else ``sample_data/`` beside the package)."""
    env = os.environ.get("OBSNB_SAMPLE_DATA")
    base = pathlib.Path(env) if env else pathlib.Path(__file__).resolve().parents[1] / "sample_data"
    if not base.is_dir():
        from .errors import UsageError

        msg = (f"the sample incident is not at {base}: it ships with a source checkout of obsnb; "
               "set OBSNB_SAMPLE_DATA to its folder")
        raise UsageError(msg)
    return base.joinpath(*parts)


def load_incident(logs: Any = None, traces: Any = None, metrics: Any = None, *, start: Any = None, end: Any = None,
                  engine: str | None = None) -> tuple:
    """``(logs, spans, metrics)`` frames loaded concurrently with ``ob.load``; a ``None`` source means the sample.

    The three reads overlap (DuckDB and pyarrow release the GIL), which saves about a second per report.
    """
    from concurrent.futures import ThreadPoolExecutor

    from .api import load

    jobs = [(logs or str(sample_data_path("logs", "*.jsonl.gz")), "logs"),
            (traces or str(sample_data_path("traces")), "spans"),
            (metrics or str(sample_data_path("metrics")), "metrics")]
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(load, src, kind, start=start, end=end, engine=engine) for src, kind in jobs]
        return tuple(f.result() for f in futures)


def md(template: str, /, **values: Any):
    """Markdown from code with every value HTML-escaped (``md("# {incident}", incident=x)``); displayed and returned."""
    from IPython.display import Markdown, display

    safe = {k: html.escape(_fmt(v)) for k, v in values.items()}
    out = Markdown(template.format(**safe))
    display(out)
    return None


def _fmt(v: Any) -> str:
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
    if isinstance(v, pd.Timedelta):
        return _fmt_td(v)
    if isinstance(v, float):
        return f"{v:,.1f}"
    return str(v)


def _fmt_td(td: pd.Timedelta) -> str:
    s = td.total_seconds()
    return f"{s / 3600:.1f} h" if s >= 7200 else f"{s / 60:.1f} min" if s >= 120 else f"{s:.1f} s"


def show(df: Any, *, max_rows: int = 20, columns: list[str] | None = None, caption: str | None = None):
    """Display a frame as an escaped HTML table (no index, at most ``max_rows`` rows, times readable)."""
    from IPython.display import HTML, display

    pdf = df.to_pandas() if type(df).__module__.startswith("polars") else df
    if columns:
        pdf = pdf[[c for c in columns if c in pdf.columns]]
    pdf = pdf.head(max_rows).copy()
    for c in pdf.columns:
        if isinstance(pdf[c].dtype, pd.DatetimeTZDtype):
            pdf[c] = pdf[c].map(lambda t: _fmt(t) if pd.notna(t) else "")
        elif pd.api.types.is_timedelta64_dtype(pdf[c]):
            pdf[c] = pdf[c].map(lambda t: _fmt_td(t) if pd.notna(t) else "")
        elif pd.api.types.is_float_dtype(pdf[c]) and pdf[c].dropna().mod(1).eq(0).all() and pdf[c].notna().any():
            ints = pdf[c].astype("Int64")  # attempt numbers read as float because of nulls
            pdf[c] = ints.astype(object).where(ints.notna(), "")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    table = pdf.to_html(index=False, escape=True, na_rep="", float_format=lambda x: f"{x:,.1f}", border=0)
    display(HTML(table.replace("<thead>", cap + "<thead>", 1) if cap else table))


# ---------------------------------------------------------------------------------------------- facts


def _ts(v: Any) -> pd.Timestamp:
    return pd.Timestamp(v).tz_convert("UTC") if pd.Timestamp(v).tzinfo else pd.Timestamp(v, tz="UTC")


def facts(
    logs: Any,
    spans: Any = None,
    metrics: Any = None,
    *,
    key: str = "job_id",
    started: str = "job_started",
    completed: str = "job_completed",
    failed: str = "job_failed",
    call: str = "external_api_call",
    call_failed: dict | None = None,
    worker: str = "worker",
    silence: str = "15min",
    retry_min_attempts: int = 10,
    start: Any = None,
    end: Any = None,
) -> dict:
    """The numbers of a job-system postmortem, computed from the evidence with obsnb's helpers.

    Returns a dict: ``degraded`` (first and last failed dependency call, ``call_failed`` picks them,
    default ``{"status": "timeout"}``), ``jobs_affected``, ``error_rate_before``/``error_rate_during``
    (failed / finished attempts), ``latency_before``/``latency_during`` (``ob.latency`` of the calls'
    ``duration_ms``), ``silences`` (``ob.gaps`` per worker), ``retry_storm`` (``ob.retries``),
    ``slowest_dependency`` (client spans' p99 by ``peer.service``), ``worst_trace``, ``first_error``,
    ``deploys``, ``queue`` (from the ``queue_depth`` and ``queue_oldest_job_age_seconds`` metrics).
    """
    import obsnb as ob

    lg = logs.to_pandas() if type(logs).__module__.startswith("polars") else logs
    call_failed = call_failed or {"status": "timeout"}
    t0 = _ts(start) if start is not None else lg["time"].min()
    t1 = _ts(end) if end is not None else lg["time"].max()
    out: dict[str, Any] = {"start": t0, "end": t1}
    calls = lg[lg["event"] == call]
    bad = pd.Series(True, index=calls.index)
    for col, val in call_failed.items():
        bad &= calls[col].isin(val if isinstance(val, (list, tuple, set)) else [val])
    bad_calls = calls[bad]
    d0, d1 = (bad_calls["time"].min(), bad_calls["time"].max()) if len(bad_calls) else (t1, t1)
    out["degraded"] = (d0, d1)
    out["failed_calls"] = int(len(bad_calls))
    fails = lg[lg["event"] == failed]
    ends = lg[lg["event"].isin([completed, failed])]
    out["first_error"] = fails.sort_values("time").iloc[0] if len(fails) else None
    out["jobs_affected"] = int(fails[key].nunique())
    out["jobs_total"] = int(lg.loc[lg["event"] == started, key].nunique())
    before, during = ends[ends["time"] < d0], ends[(ends["time"] >= d0) & (ends["time"] <= d1)]
    out["error_rate_before"] = float((before["event"] == failed).mean()) if len(before) else float("nan")
    out["error_rate_during"] = float((during["event"] == failed).mean()) if len(during) else float("nan")
    out["attempts_during"] = int(len(during))
    out["latency_before"] = ob.latency(calls[calls["time"] < d0])
    out["latency_during"] = ob.latency(calls[(calls["time"] >= d0) & (calls["time"] <= d1)])
    w = lg[lg[worker].notna()] if worker in lg else lg.iloc[:0]
    out["silences"] = ob.gaps(w, silence, by=worker, start=t0, end=t1)
    out["retry_storm"] = ob.retries(lg[lg[key].notna()], key=key, min_attempts=retry_min_attempts)
    out["deploys"] = lg[lg["event"] == "deploy"]
    out["restarts"] = lg[lg["event"] == "worker_started"]
    if spans is not None:
        sp = spans.to_pandas() if type(spans).__module__.startswith("polars") else spans
        col = "peer.service" if "peer.service" in sp else "name"
        deps = ob.latency(sp[sp["kind"] == "CLIENT"], by=col).sort_values("p99", ascending=False)
        out["dependencies"] = deps.rename(columns={col: "dependency"}).reset_index(drop=True)
        out["slowest_dependency"] = out["dependencies"].iloc[0] if len(deps) else None
        out["worst_trace"] = worst_trace(sp)
    if metrics is not None:
        m = metrics.to_pandas() if type(metrics).__module__.startswith("polars") else metrics
        depth = m[m["metric"] == "queue_depth"].sort_values("time")
        age = m[m["metric"] == "queue_oldest_job_age_seconds"].sort_values("time")
        q: dict[str, Any] = {}
        if len(depth):
            top = depth.loc[depth["value"].idxmax()]
            q.update(max_depth=float(top["value"]), max_depth_time=top["time"])
            after = depth[(depth["time"] > top["time"]) & (depth["value"] == 0)]
            q["drained_time"] = after["time"].iloc[0] if len(after) else None
        if len(age):
            top = age.loc[age["value"].idxmax()]
            q.update(max_age_seconds=float(top["value"]), max_age_time=top["time"])
            over = age[age["value"] > 300]
            q["age_alert_time"] = over["time"].iloc[0] if len(over) else None
        out["queue"] = q
    return out


def worst_trace(spans: Any) -> str | None:
    """The trace whose spans cover the longest time (first span start to last span end)."""
    sp = spans.to_pandas() if type(spans).__module__.startswith("polars") else spans
    if sp.empty:
        return None
    ext = sp.groupby("trace_id").agg(first=("start", "min"), last=("end", "max"))
    return str((ext["last"] - ext["first"]).idxmax())


def critical_path(spans: Any, trace_id: str) -> pd.DataFrame:
    """The spans on a trace's critical path: from each root, follow the child that ends last, recursively.

    Returns those spans in order with ``self_ms``: the time on the path not covered by the next span.
    """
    sp = spans.to_pandas() if type(spans).__module__.startswith("polars") else spans
    t = sp[sp["trace_id"] == trace_id].sort_values("start")
    if t.empty:
        return t.assign(self_ms=pd.Series(dtype=float))
    ids = set(t["span_id"])
    kids = t.groupby(t["parent_span_id"].where(t["parent_span_id"].isin(ids), None), dropna=False)
    children = {k: g for k, g in kids}
    roots = t[~t["parent_span_id"].isin(ids)]
    node = roots.loc[roots["end"].idxmax()]
    path = [node]
    while node["span_id"] in children:
        g = children[node["span_id"]]
        node = g.loc[g["end"].idxmax()]
        path.append(node)
    out = pd.DataFrame(path).reset_index(drop=True)
    nxt = out["duration_ms"].shift(-1).fillna(0)
    out["self_ms"] = (out["duration_ms"] - nxt).clip(lower=0)
    return out[["name", "service", "kind", "start", "end", "duration_ms", "self_ms", "status", "span_id"]]


def draft_timeline(f: dict) -> pd.DataFrame:
    """A first draft of the incident timeline from :func:`facts`: deploys, first error, degradation,
    silences, queue alerts, restarts, retry storm and recovery. Edit it: it is a draft, not the truth."""
    rows = []
    for _, d in f.get("deploys", pd.DataFrame()).iterrows():
        rows.append({"time": d["time"], "event": f"deploy {d.get('version', '')}", "kind": "change",
                     "detail": str(d.get("change", ""))})
    d0, d1 = f["degraded"]
    if f.get("failed_calls"):
        rows.append({"time": d0, "end": d1, "event": "dependency calls failing", "kind": "impact",
                     "detail": f"{f['failed_calls']} failed calls"})
    if f.get("first_error") is not None:
        e = f["first_error"]
        rows.append({"time": e["time"], "event": "first job failure", "kind": "impact", "detail": str(e.get("error", ""))})
    for _, g in f["silences"].iterrows():
        who = " ".join(str(g[c]) for c in g.index if c not in ("gap_start", "gap_end", "duration"))
        rows.append({"time": g["gap_start"], "end": g["gap_end"], "event": f"{who} silent", "kind": "absence",
                     "detail": _fmt_td(g["duration"])})
    q = f.get("queue", {})
    if q.get("age_alert_time") is not None:
        rows.append({"time": q["age_alert_time"], "event": "oldest job older than 5 min", "kind": "alert", "detail": ""})
    if q.get("max_depth_time") is not None:
        rows.append({"time": q["max_depth_time"], "event": f"queue depth peaks at {q['max_depth']:.0f}",
                     "kind": "impact", "detail": ""})
    for _, r in f.get("restarts", pd.DataFrame()).iterrows():
        rows.append({"time": r["time"], "event": f"{r.get('worker', '')} restarted", "kind": "mitigation",
                     "detail": str(r.get("reason", ""))})
    for _, r in f["retry_storm"].iterrows():
        rows.append({"time": r["first"], "end": r["last"], "event": f"{r.iloc[0]} retrying ({r['attempts']} attempts)",
                     "kind": "impact", "detail": ""})
    if q.get("drained_time") is not None:
        rows.append({"time": q["drained_time"], "event": "queue drained", "kind": "recovery", "detail": ""})
    out = pd.DataFrame(rows)
    if "end" not in out:
        out["end"] = pd.NaT
    return out.sort_values("time", ignore_index=True)
