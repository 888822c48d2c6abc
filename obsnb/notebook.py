"""What the template notebooks call (``from obsnb import notebook as obn``): loading an incident's evidence,
and, re-exported here, the safe display helpers (:mod:`obsnb.display`) and the findings as prose
(:mod:`obsnb.prose`).
"""

from __future__ import annotations

import os
import pathlib
import warnings
from typing import Any

import pandas as pd
import polars as pl

from .analysis import _frames as Fr
from .analysis.failures import error_expr
from .analysis.lazy import collect, is_scan, scan_frame
from .analysis.timeline import CARRY
from .analysis.timeline import timeline as _timeline
from .api import _expand, _is_backend, get_option, load, load_info
from .audit import audit as _audit
from .cache import enable_store_from
from .display import *  # noqa: F403 - the templates call these as obn.md, obn.show, ...
from .display import __all__ as _display_all
from .display import _print, draw, load_order, md, show
from .errors import RejectedRecordsWarning, UsageError
from .investigation.evidence import SCAN_BYTES, _scan_function
from .investigation.findings import fmt_time
from .investigation.trace_pick import TraceChoice, choose_trace
from .investigation.vocabulary import span_dependency_expr
from .prose import *  # noqa: F403
from .prose import __all__ as _prose_all
from .prose import bucket, entity_of
from .schema import empty_table, to_engine
from .sources.discover import Found
from .timeutil import duration_ns, to_ns

#: evidence files larger than this in total are scanned rather than loaded (``load_incident(lazy=None)``)
LAZY_BYTES = SCAN_BYTES

__all__ = ["sample_data_path", "load_incident", "LAZY_BYTES", "audit", "lazy_rows", "rows", "trace_rows", "timeline",
           "has_trace", "trace_status", "trace_choice", "trace_of_interest", "rows_about", "calls_of", "work_rows", "metrics_overview",
           "critical_path", "save_findings", *_display_all, *_prose_all]


def sample_data_path(*parts: str) -> pathlib.Path:
    """The bundled sample incident (``$OBSNB_SAMPLE_DATA``, else ``sample_data/`` beside the package)."""
    env = os.environ.get("OBSNB_SAMPLE_DATA")
    base = pathlib.Path(env) if env else pathlib.Path(__file__).resolve().parents[1] / "sample_data"
    if not base.is_dir():

        msg = (f"the sample incident is not at {base}: it ships with a source checkout of obsnb; "
               "set OBSNB_SAMPLE_DATA to its folder")
        raise UsageError(msg)
    return base.joinpath(*parts)


def load_incident(logs: Any = None, traces: Any = None, metrics: Any = None, *, start: Any = None, end: Any = None,
                  lookback: Any = "auto", engine: str | None = None, lazy: bool | None = None) -> tuple:
    """``(logs, spans, metrics)``: frames loaded concurrently with ``ob.load``, or ``ob.scan()`` handles.

    A source that is None means no evidence of that kind: an empty canonical frame (never the sample).
    With a window, the evidence is loaded from ``start - lookback`` so the investigation has a baseline
    before the window (``lookback="auto"``: the window's length, at least 1 h and at most 24 h;
    ``None`` or ``0``: from ``start``). The three reads overlap (DuckDB and pyarrow release the GIL).

    ``lazy=True`` returns a scan per file source (the same window; nothing is read until a helper
    aggregates it in the engine); ``lazy=None`` (default) does so when the files of all sources together
    are larger than :data:`LAZY_BYTES` (1 GiB, the size above which ``ob.investigate`` reads paths through
    a scan); ``lazy=False`` always loads frames. A backend source is always loaded (a bounded window).
    Every template cell takes either; :func:`rows` counts both.
    """
    from concurrent.futures import ThreadPoolExecutor

    enable_store_from(pathlib.Path("obsnb.toml"))  # an investigation folder made by `obsnb new` keeps a store
    lo = start
    if start is not None and lookback:
        t0 = to_ns(start)
        if lookback == "auto":
            t1 = to_ns(end) if end is not None else t0 + 3600 * 10**9
            back = min(max(t1 - t0, 3600 * 10**9), 24 * 3600 * 10**9)
        else:
            back = duration_ns(lookback)
        lo = pd.Timestamp(t0 - back, tz="UTC")
    eng = engine or get_option("engine") or "pandas"
    jobs = [(logs, "logs"), (traces, "spans"), (metrics, "metrics")]
    files = {kind: _files(src) for src, kind in jobs} if lazy is not False else {}
    if lazy is None:
        lazy = sum(_size(f) for f in files.values() if f) > LAZY_BYTES
    with ThreadPoolExecutor(3) as pool:
        futures = [None if not src else
                   pool.submit(_scan_loudly, src, kind, lo, end) if lazy and files[kind] else
                   pool.submit(load, src, kind, start=lo, end=end, engine=engine, **_default_query(src, kind))
                   for src, kind in jobs]
        return tuple(f.result() if f is not None else to_engine(empty_table(kind), eng)
                     for f, (_, kind) in zip(futures, jobs))


#: what a template reads from a Prometheus-API server given as a bare URL (no query): every series of the window
ALL_SERIES = '{__name__=~".+"}'


def _default_query(src: Any, kind: str) -> dict:
    """``query=`` for a metrics source given as a bare Prometheus-family URL (``prometheus://``,
    ``victoriametrics://``, ...), which no template parameter can give one: every series of the window, said in
    a warning with how to narrow it. A named source (obsnb.toml) keeps its own ``query``."""
    from .sources.prometheus import Prometheus
    from .safe_text import redact_url

    if kind != "metrics" or not isinstance(src, str) or "://" not in src:
        return {}
    if src.split("://", 1)[0].split("+", 1)[0] not in Prometheus.schemes:
        return {}
    warnings.warn(f"metrics from {redact_url(src)}: no query given, so every series of the window is read "
                  f"({ALL_SERIES}); on a big server, name the source in obsnb.toml with its own query= "
                  "(e.g. query='{job=\"worker\"}')", UserWarning, stacklevel=3)
    return {"query": ALL_SERIES}


def _scan_loudly(source: Any, kind: str, start: Any, end: Any):
    """``ob.scan(source, kind, start=, end=)`` with its files ingested into the store now, and one warning for the
    records rejected, as ``ob.load`` gives (the helpers that read the scan later repeat it)."""
    found = _scan_function()(source, kind, start=start, end=end)
    info = load_info(found)  # the ingest: every file parsed into the store (piece by piece when big)
    if info.n_rejected:
        first = info.rejects[0] if info.rejects else None
        where = f"; first: {first.source}:{first.line}: {first.reason}" if first else ""
        warnings.warn(f"{info.n_rejected} of {info.records_read} records rejected from the scanned {kind}{where}. "
                      "List them with obsnb.rejected(scan).", RejectedRecordsWarning, stacklevel=3)
    return found


def _files(source: Any) -> list[str] | None:
    """The files of a file source (None for no source or a backend)."""
    if not source or _is_backend(source):
        return None
    return _expand(source, Found())  # what a folder skips is said by the load or scan itself


def _size(files: list[str]) -> int:
    return sum(os.path.getsize(f) for f in files if os.path.exists(f))


def audit(logs: Any = None, spans: Any = None, metrics: Any = None, **hints: Any):
    """``ob.audit`` of frames or scans. The audit's rules read rows, so a scan is collected for it (its window,
    every column): the one step of the templates that still holds a scan's rows."""
    return _audit(*[x.collect() if is_scan(x) else x for x in (logs, spans, metrics)], **hints)


# ---------------------------------------------------------------- evidence rows: frames and scans alike
# Each helper below builds one polars lazy query over a frame or over a scan's store (obsnb.analysis.lazy), and
# collects only an aggregate or a bounded set of rows (one trace, a finding's last rows): a template cell
# never holds a scan's rows. A frame goes through the very same query, so both give the same answer.


def lazy_rows(x: Any, columns: list[str] | None = None) -> pl.LazyFrame | None:
    """The rows of a frame, a LazyFrame or an ``ob.scan()`` as a polars LazyFrame (only ``columns`` that exist);
    a scan's reads only its window, and nothing is read before a collect."""
    if x is None:
        return None
    if isinstance(x, pl.LazyFrame):
        return x if columns is None else x.select([c for c in columns if c in x.collect_schema()])
    if is_scan(x):
        return scan_frame(x, columns)
    return Fr.to_polars(x, columns).lazy()


def rows(x: Any) -> int:
    """How many rows a frame, a LazyFrame or a scan holds (a scan's counted in the engine, one column read)."""
    if x is None:
        return 0
    if not (is_scan(x) or isinstance(x, pl.LazyFrame)):
        return len(x)
    lf = lazy_rows(x)
    names = lf.collect_schema().names()
    if not names:
        return 0
    col = next((c for c in ("time", "start") if c in names), names[0])
    return int(collect(lf.select(pl.col(col).len())).item())


def _has(lf: pl.LazyFrame | None, column: str, value: Any) -> bool:
    if lf is None or column not in lf.collect_schema():
        return False
    return collect(lf.select(column).filter(pl.col(column) == value).head(1)).height > 0


def trace_rows(x: Any, trace_ids: Any) -> pd.DataFrame | None:
    """The rows of a frame or scan whose ``trace_id`` is one of ``trace_ids``, every column, as pandas (the
    frame the in-memory helpers take). Only those rows are read into memory."""
    lf = lazy_rows(x)
    if lf is None:
        return None
    ids = pl.Series(sorted(trace_ids), dtype=pl.String)
    lf = lf.filter(pl.col("trace_id").is_in(ids.implode()))
    if not is_scan(x):
        return Fr.back(collect(lf), "pandas")
    return _as_loaded(x, collect(load_order(x, lf)))


def _as_loaded(scan: Any, part: pl.DataFrame) -> pd.DataFrame:
    """Rows of a scan as pandas with the column types the loaded frame has: pandas holds an integer or boolean
    column with nulls as float / object, so a column with no null in ``part`` but some in the scan is given the
    loaded frame's type (one count of those columns' nulls, in the engine)."""
    out = to_engine(part.to_arrow(), "pandas")
    sch = part.schema
    cols = [c for c, t in sch.items() if (t.is_integer() or t == pl.Boolean) and not part.get_column(c).null_count()]
    if cols:
        nulls = collect(lazy_rows(scan, cols).select([pl.col(c).null_count() for c in cols])).row(0)
        for c, n in zip(cols, nulls):
            if n:
                out[c] = out[c].astype("float64" if sch[c].is_integer() else object)
    return out


def _links(sp: pl.LazyFrame | None) -> pl.LazyFrame | None:
    """(trace_id, link_trace_id) of every span link, lazily (as :func:`obsnb.analysis.timeline.span_links`)."""
    sch = sp.collect_schema() if sp is not None else {}
    kind = sch.get("links")
    if not isinstance(kind, pl.List) or not isinstance(kind.inner, pl.Struct) or \
            "trace_id" not in [f.name for f in kind.inner.fields]:
        return None
    return (sp.select("trace_id", "links").filter(pl.col("links").list.len() > 0).explode("links")
            .select("trace_id", pl.col("links").struct.field("trace_id").cast(pl.String).str.to_lowercase()
                    .alias("link_trace_id")).drop_nulls("link_trace_id"))


def _chain(ids: set[str], sp: pl.LazyFrame | None, lg: pl.LazyFrame | None) -> set[str]:
    """The trace ids ``ob.timeline`` joins to ``ids`` (span links, carried ids: its rule), found with one lazy
    query per round, each collecting only ids."""
    links = _links(sp)
    carry = [c for c in CARRY if lg is not None and c in lg.collect_schema()]
    for _ in range(50):
        cur = pl.Series(sorted(ids), dtype=pl.String).implode()
        found: set[str] = set()
        if links is not None:
            found |= set(collect(links.filter(pl.col("trace_id").is_in(cur))).get_column("link_trace_id"))
            found |= set(collect(links.filter(pl.col("link_trace_id").is_in(cur))).get_column("trace_id"))
        for col in carry:
            values = collect(lg.filter(pl.col("trace_id").is_in(cur)).select(col).drop_nulls().unique()).to_series()
            if len(values):
                same = lg.filter(pl.col(col).is_in(values.implode())).select("trace_id").drop_nulls().unique()
                found |= set(collect(same).get_column("trace_id"))
        if found <= ids:
            return ids
        ids = ids | found
    return ids


def timeline(trace_id: Any, *, logs: Any = None, spans: Any = None, **options: Any):
    """``ob.timeline`` on frames or scans. On a scan the chain of traces is found in the engine (one lazy query
    per round of the joining rule) and only the chain's rows are read; the frame is the one ``ob.timeline``
    gives on the loaded evidence."""
    if not (is_scan(logs) or is_scan(spans)) or trace_id is None or options.get("follow") is False:
        return _timeline(trace_id, logs=logs, spans=spans, **options)
    ids = {str(t).strip().lower() for t in ([trace_id] if isinstance(trace_id, str) else trace_id)}
    lg, sp = lazy_rows(logs), lazy_rows(spans)
    if "carry" in options:
        raise UsageError("obn.timeline on a scan joins by obsnb's carry columns; collect a window for carry=")
    chain = _chain(ids, sp, lg)
    return _timeline(trace_id, logs=trace_rows(logs, chain), spans=trace_rows(spans, chain), **options)


def has_trace(trace_id: str | None, spans: Any, logs: Any) -> bool:
    """Whether any span or log line of the evidence carries ``trace_id``."""
    if not trace_id:
        return False
    return _has(lazy_rows(spans, ["trace_id"]), "trace_id", trace_id) or _has(lazy_rows(logs, ["trace_id"]), "trace_id", trace_id)


def trace_status(trace_id: str | None, asked: str | None, spans: Any, logs: Any) -> None:
    """Say that the asked-for trace is not in the evidence (why another trace, or none, is shown:
    :func:`why_this_trace`)."""
    if asked and not has_trace(asked, spans, logs):
        lg = lazy_rows(logs, ["trace_id"])
        with_id = collect(lg.select(pl.col("trace_id").is_not_null().sum())).item() if lg is not None else 0
        _print(f"Trace {asked} is not in the loaded evidence ({rows(spans):,} spans, "
               f"{int(with_id or 0):,} log lines with a trace id). Nothing below is about it.")


def trace_choice(findings, spans: Any, logs: Any = None) -> TraceChoice:
    """The trace that shows the incident and why (``.trace_id``, ``.why``, ``.finding``): inside the window,
    through the finding the report leads with (a retry storm, a stall, a failing dependency, a slower operation,
    a silence, the first error, the error spike: the first kind found), and failed; else the slowest through it;
    None (and why) when no trace of the window passes through it. See :mod:`obsnb.investigation.trace_pick`."""
    return choose_trace(findings, lazy_rows(spans), lazy_rows(logs))


def trace_of_interest(findings, spans: Any, logs: Any = None) -> str | None:
    """:func:`trace_choice`'s trace id. Given a plain list of findings (no window), the trace that covers the
    longest time (the first such trace id on a tie)."""
    if hasattr(findings, "window"):
        return trace_choice(findings, spans, logs).trace_id
    sp = lazy_rows(spans, ["trace_id", "start", "end"])
    if sp is None or not rows(sp):
        return None
    ext = (sp.filter(pl.col("trace_id").is_not_null()).group_by("trace_id")
           .agg((pl.col("end").max() - pl.col("start").min()).alias("d")).drop_nulls("d")
           .sort(["d", "trace_id"], descending=[True, False]).head(1))
    best = collect(ext)
    return str(best.item(0, "trace_id")) if best.height else None


def rows_about(logs: Any, finding, *, limit: int = 5, errors_only: bool = True) -> pd.DataFrame:
    """The last log rows about a finding's entity (e.g. a retried unit's failures), columns that hold values."""
    lg = lazy_rows(logs)
    if lg is None or finding.entity_column not in lg.collect_schema():
        return pd.DataFrame()
    about = lg.filter(pl.col(finding.entity_column).cast(pl.String) == str(finding.entity_value))
    if errors_only:
        about = about.filter(error_expr(about))
    out = collect(about.sort("time", maintain_order=True).tail(limit))
    keep = [c for c in out.columns if not c.startswith("_") and c != "span_id" and out.get_column(c).null_count() < out.height]
    return out.select(keep).to_pandas()


def calls_of(spans: Any, logs: Any, finding) -> pl.LazyFrame | None:
    """The calls behind a dependency finding, ``time`` and ``duration_ms``, as a lazy query (for
    ``charts.latency``, which aggregates it in the engine); None when the evidence has no such columns."""
    n = finding.numbers
    if n.get("from") == "client spans":
        sp = lazy_rows(spans)
        sp = sp.filter(pl.col("kind").cast(pl.String).is_in(["CLIENT", "PRODUCER"]))
        dep = span_dependency_expr(pl.DataFrame(schema=sp.collect_schema()))  # it reads only the column types
        dep = pl.coalesce([dep, pl.col("name")]) if dep is not None else pl.col("name")
        return sp.filter(dep.cast(pl.String) == finding.entity_value).select(pl.col("start").alias("time"), "duration_ms")
    lg = lazy_rows(logs)
    col = finding.entity_column
    dur = str(n.get("from", "")).split("`")[1] if "`" in str(n.get("from", "")) else None
    if lg is None or col not in lg.collect_schema() or dur not in lg.collect_schema():
        return None
    return lg.filter(pl.col(col).cast(pl.String) == finding.entity_value).select(
        "time", pl.col(dur).cast(pl.Float64).alias("duration_ms"))


def work_rows(logs: Any, findings) -> pl.LazyFrame:
    """Rows that show work being done by each entity: its completion events, else all its lines (``time`` and
    the entity as text), as a lazy query for ``charts.rate``."""
    lg = lazy_rows(logs)
    col = entity_of(findings)
    if lg is None or col is None or col not in lg.collect_schema():
        return pl.LazyFrame(schema={"time": Fr.TS})
    r = findings.reading
    out = lg.filter(pl.col(col).is_not_null())
    if r.succeeded and r.event_column in lg.collect_schema():
        done = out.filter(pl.col(r.event_column).is_in(list(r.succeeded)))
        if rows(done):
            out = done
    return out.select("time", pl.col(col).cast(pl.String))


def metrics_overview(metrics: Any, findings, limit: int = 4, kinds: dict[str, str] | None = None) -> None:
    """The metrics that moved most between the baseline and the window, each read by its kind (a counter as its
    rate per second, reset-aware as PromQL's ``rate``; a gauge as its mean; a histogram as its p95 from the
    buckets), per label set: the ``limit`` metrics whose label sets moved most, with up to 3 label sets each, and a
    chart per metric of the same label sets read the same way. ``kinds`` ({metric: "counter" | "gauge" |
    "histogram" | "summary"}) overrides the kind read from the type metadata or the name."""
    from . import charts
    from .analysis import moved as mv

    m = lazy_rows(metrics)
    if m is None or not rows(m):
        _print("No metrics were loaded.")
        return
    m = m.select([c for c in m.collect_schema().names() if c not in ("_source", "_line")])
    w0, w1, _ = findings.window
    b = findings.baseline
    table = mv.moved(m, (b[0], b[1]) if b else None, (w0, w1), kinds=kinds)
    kinds_of = {r["metric"]: r for r in mv.metric_kinds(m, kinds).iter_rows(named=True)}
    unknown = sorted(set(kinds or {}) - set(kinds_of))
    if unknown:
        _print(f"metric_kinds names {', '.join(unknown)}: not a metric of this evidence, so nothing was read for it.")
    if table.is_empty():
        _print(f"No metric has a sample in the window (from {fmt_time(w0)}).")
        return
    top = table.get_column("metric").unique(maintain_order=True).head(limit).to_list()
    table = table.filter(pl.col("metric").is_in(top))
    how = table.unique("metric", maintain_order=True)
    read = "; ".join(f"{r['metric']} as a {r['kind']} ({r['read_as']}; {r['how']})" for r in how.iter_rows(named=True))
    md("### Metrics that moved\n\nEach metric read by its kind, per label set, before ({b}) and in the window (from "
       "{w}): {read}. The kind comes from the type metadata, else the name (`_total`, `_count`, `_sum`: counters; "
       "`_bucket`: a histogram; others: gauges); set `metric_kinds` to read one otherwise. `change` is "
       "(during - before) / before.", b=b[2] if b else "no baseline", w=fmt_time(w0), read=read)
    show(table.select("metric", "kind", "labels", "before", "during", "change").rename({"labels": "label set"}).to_pandas())
    lo = b[0] if b else w0
    every = duration_ns(bucket(findings))
    for name in top:
        sets = [r["_label_values"] for r in table.filter(pl.col("metric") == name).iter_rows(named=True)]
        k = kinds_of[name]
        line = mv.over_time(m, name, k["kind"], k["series"], sets, lo, w1, every)
        title = f"{name}: {mv.READ_AS[k['kind']]} ({k['kind']}), the label sets above"
        draw(charts.series(line, by="labels", every=pd.Timedelta(every, "ns"), agg="mean",
                           title=title, y_title=mv.READ_AS[k["kind"]]))


def critical_path(spans: Any, trace_id: str) -> pd.DataFrame:
    """The spans on a trace's critical path: from each root, follow the child that ends last, recursively.

    Returns those spans in order with ``self_ms``: the time on the path not covered by the next span. Only the
    trace's spans are read (of a scan too).
    """
    sp = trace_rows(spans, [trace_id])
    t = sp.sort_values("start")
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


def save_findings(findings) -> None:
    """Under ``obsnb render``: hand the findings to the command, which writes ``<report>.findings.json``."""
    path = os.environ.get("OBSNB_FINDINGS_OUT")
    if path:
        pathlib.Path(path).write_text(findings.to_json())
