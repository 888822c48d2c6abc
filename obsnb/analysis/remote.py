"""The analysis helpers' backend forms: latency quantiles, rates and silences computed by the server.

``ob.latency("prod-prom", "http_request_duration_seconds", ...)`` and ``ob.gaps("prod-prom", ...,
selector="up")`` come here, and so do ``ob.latency("clickhouse://ch:8123", by="service", every="1m",
kind="spans")``, ``ob.rate`` / ``ob.error_rate`` / ``ob.gaps`` on a ClickHouse source: there one SQL query
returns the helper's whole frame (same columns and numbers as the in-memory helper on the same rows); on
Loki (LogQL metric queries) and Elasticsearch / OpenSearch (aggregations) the same four.
``explain=True`` returns the compiled query text instead of running it. Each describes what it wants as an
:class:`~obsnb.sources.pushdown.Aggregation`, asks the source for its :func:`~obsnb.sources.pushdown.plan`
(the backend's own queries), runs them through :func:`obsnb.load` (snapshots, windows and
rejected records as for any load) and shapes the answer like its in-memory twin.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import schema
from ..api import load, load_info
from ..errors import BackendError, UsageError
from ..options import get_option
from ..sources.jsonl_schema import LEVEL_FIELDS
from ..sources.pushdown import Aggregation, error_frame, gaps_from_buckets, number_at_least, plan, rate_frame
from ..timeutil import duration_ns, to_ns
from . import failures

__all__ = ["remote_latency", "remote_gaps", "remote_rate", "remote_error_rate"]

_TIMES = ("time", "gap_start", "gap_end")


def _split(options: dict) -> tuple[dict, Any, Any, bool]:
    """(backend options, kind, where, explain) out of a helper's keywords."""
    o = dict(options)
    kind, where, explain = o.pop("kind", None), o.pop("query", None), bool(o.pop("explain", False))
    return o, kind, where, explain


def _frame(p, engine: str | None):
    """Run a plan that answers the whole frame; epoch-ns columns become UTC times / durations."""
    t = p.run()
    ts = pa.timestamp("ns", "UTC")
    for i, name in enumerate(t.column_names):
        typ = t.schema.field(i).type
        if pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
            t = t.set_column(i, name, t.column(i).cast(pa.string()))
        elif name in _TIMES:
            t = t.set_column(i, name, t.column(i).cast(pa.int64()).cast(ts))
        elif name == "duration":
            t = t.set_column(i, name, t.column(i).cast(pa.int64()).cast(pa.duration("ns")))
    return schema.to_engine(t, engine or get_option("engine"))


def _counts(measure: str, source: str, every: Any, by: Any, start: Any, end: Any, groups: Any, engine, options):
    o, kind, where, explain = _split(options)
    if groups is not None:
        raise UsageError(f"groups= is not computed server-side; load the rows and run ob.{'rate' if measure == 'count' else 'error_rate'} "
                         "on the frame, or add the missing groups' zeros yourself")
    keys = (by,) if isinstance(by, str) else tuple(by or ())
    spec = Aggregation(measure, "", by=keys, kind=kind, where=where,
                       errors=error_definition() if measure == "errors" else None)
    p = plan(source, spec, start_ns=_ns(start), end_ns=_ns(end), step=every, options=o)
    if explain:
        return p.explain()
    if p.run is not None:
        return _frame(p, engine)
    got = _metric_columns(source, p, keys, start, end, p.step_ns, o, whole=True)
    first, stop = p.eval_window
    out = (error_frame if measure == "errors" else rate_frame)(got, keys, first, stop, p.step_ns)
    return schema.to_engine(out, engine or get_option("engine"))


def error_definition() -> dict:
    """obsnb's one definition of an error (:mod:`obsnb.analysis.failures`) as data a backend compiler translates
    (see :class:`obsnb.sources.pushdown.Aggregation`)."""
    bad = ("ERROR", "CRITICAL")
    return {"levels": tuple(k for k, v in schema._LEVEL_MAP.items() if v in bad),
            "level_fields": LEVEL_FIELDS,
            "level_numbers": number_at_least(min(n for n in range(100) if schema.level_from_number(n) in bad)),
            "outcome_columns": failures.OUTCOME_COLUMNS, "word_columns": failures.STATUS_WORD_COLUMNS,
            "words": failures.FAILURE_WORDS, "http_columns": failures.HTTP_STATUS_COLUMNS}


def _ns(t: Any) -> int | None:
    return to_ns(t) if t is not None else None


def remote_rate(source: str, every: Any, *, by: Any = None, start: Any = None, end: Any = None, groups: Any = None,
                engine: str | None = None, **options: Any):
    """``ob.rate`` computed by the backend: ``time``, the ``by`` columns, ``count``, ``per_second``, zeros included.

    ClickHouse: ``toStartOfInterval`` buckets, ``WITH FILL`` within each group over ``[start, end)``
    (or the data's first to last bucket). ``kind=`` picks otel_logs / otel_traces, ``query=`` a SQL condition.
    """
    return _counts("count", source, every, by, start, end, groups, engine, options)


def remote_error_rate(source: str, every: Any, *, by: Any = None, start: Any = None, end: Any = None,
                      engine: str | None = None, **options: Any):
    """``ob.error_rate`` computed by the backend: ``time``, the ``by`` columns, ``total``, ``errors``, ``error_rate``.

    ClickHouse, spans: an error is status ERROR or an HTTP status >= 500 attribute, as obsnb's definition for spans.
    Loki (``query=`` a log query) and Elasticsearch / OpenSearch, logs: obsnb's definition for logs
    (:func:`error_definition`) compiled to a LogQL label filter (:func:`obsnb.sources.loki.logql_error_filter`)
    or a ``filter`` aggregation (:func:`obsnb.sources.elasticsearch.error_query`); those say where it
    differs (a failure word in a short event name is not read). Every bucket of ``[start, end)`` of every
    group with a line in the window is present, empty ones as 0 total and NaN ``error_rate``, as in memory.
    """
    return _counts("errors", source, every, by, start, end, None, engine, options)


def remote_latency(source: str, metric: str, q: Any = (0.5, 0.95, 0.99), *, by: Any = None, matchers: Any = None,
                   window: Any = "5m", start: Any = None, end: Any = None, step: Any = None,
                   engine: str | None = None, **options: Any):
    """Latency quantiles computed by a Prometheus-compatible backend from a classic histogram.

    Runs ``histogram_quantile(q, sum by (le, <by>) (rate(<metric>_bucket{<matchers>}[window])))`` once
    per ``q`` (the backend form of ``ob.latency``) and returns one row per time and group: ``time``,
    the ``by`` columns, ``p50``, ``p95``, ``p99`` (names from ``q``).

    >>> remote_latency("prod-prom", "http_request_duration_seconds", q=0.95, by="service",
    ...                start="2024-05-14T12:00Z", end="2024-05-14T14:00Z")        # doctest: +SKIP
    """
    qs = (q,) if isinstance(q, (int, float)) else tuple(q)
    by_keys = (by,) if isinstance(by, str) else tuple(by or ())
    o, kind, where, explain = _split(options)
    exact = o.pop("exact", True)
    spec = Aggregation("quantiles", metric, by=by_keys, bucket=window, quantiles=qs, matchers=matchers, kind=kind,
                       where=where, exact=exact)
    s_ns = to_ns(start) if start is not None else None
    e_ns = to_ns(end) if end is not None else None
    p = plan(source, spec, start_ns=s_ns, end_ns=e_ns, step=step, options=o)
    if explain:
        return p.explain()
    if p.run is not None:
        return _frame(p, engine)
    out = _metric_columns(source, p, by_keys, start, end, step, o)
    if "count" in out.column_names:  # Loki: lines per bucket, from count_over_time
        out = out.set_column(out.column_names.index("count"), "count", pc.fill_null(out.column("count"), 0).cast(pa.int64()))
    return schema.to_engine(out, engine or get_option("engine"))


def _metric_columns(source: str, p, by_keys, start, end, step, options, whole: bool = False) -> pa.Table:
    """Run a plan's metric queries (one answer column each) and join them on time and the ``by`` labels.

    ``whole``: the caller reads a missing bucket as zero lines (rates, errors, silences), so an answer with
    rejected parts or a partial-result warning is an error rather than a frame that looks complete.
    """
    keys = ["time", *by_keys]
    if p.eval_window is not None:
        start, end, step = p.eval_window[0], p.eval_window[1], p.step_ns / 1e9
    out = None
    for column, query in p.queries:
        t = load(source, "metrics", query=query, start=start, end=end, step=step, engine="arrow",
                 **{**options, **p.load_options})
        info = load_info()
        partial = [w for w in info.warnings if "partial result" in w.lower()]  # not "read from snapshot ..."
        if whole and (info.n_rejected or partial):
            why = "; ".join([*partial, *(r.reason for r in info.rejects[:3])])[:600]
            raise BackendError(f"{source}: the answer to {query!r} is incomplete ({why}); its missing buckets would "
                               "read as zero lines, so nothing was returned", source=source, query=query)
        for k in keys[1:]:
            if k not in t.column_names:
                t = t.append_column(k, pa.nulls(t.num_rows, pa.string()))
        t = t.select(keys + ["value"]).rename_columns(keys + [column])
        out = t if out is None else out.join(t, keys, join_type="full outer")
    if p.closes_bucket:  # the time is the bucket's end (ms-rounded by the backend): label it by its start
        ts = pc.subtract(out.column("time").cast(pa.int64()), p.step_ns // 2)
        starts = pc.multiply(pc.divide(ts, pa.scalar(p.step_ns, pa.int64())), p.step_ns)  # integer division (t > 0)
        out = out.set_column(0, "time", starts.cast(pa.timestamp("ns", "UTC")))
    out = out.sort_by([(k, "ascending") for k in keys])
    return out.select(keys + [column for column, _ in p.queries])


def remote_gaps(source: str, selector: str | None, threshold: Any, *, matchers: Any = None, start: Any = None,
                end: Any = None, step: Any = None, by: Any = None, engine: str | None = None, **options: Any):
    """Silences longer than ``threshold`` found by the backend (the backend form of ``ob.gaps``).

    Prometheus-compatible: ``absent_over_time`` of ``selector``. Returns ``gap_start``, ``gap_end``,
    ``duration``: ``gap_start`` is the first evaluation time with no sample in the preceding ``threshold``
    minus ``threshold`` (exact to one ``step``, default ``min(threshold, auto step)``); ``gap_end`` is the
    first evaluation time that saw data again, or ``end`` when the silence lasts to the end of the window.

    Loki (``query=`` a log query) and Elasticsearch / OpenSearch: the lines per bucket of ``step`` (default
    ``threshold / 4``) per ``by`` group (``sum by (...) (count_over_time(...))``; a ``date_histogram``
    under a ``composite``), and a silence is a run of empty or missing buckets: the ``by`` columns,
    ``gap_start`` (the end of the last non-empty bucket, or ``start``), ``gap_end`` (the start of the next,
    or ``end``), ``duration``, where that span is longer than ``threshold``. It is known to bucket precision:
    the in-memory silence (last line to next line) contains it and is at most one ``step`` longer at each
    end, so a silence up to ``2 * step`` longer than ``threshold`` may be missed; a finer ``step=`` narrows
    that. Leading and trailing silences within ``[start, end]`` count; a group with no line in the window
    has no row (as in memory without ``groups=``).
    """
    o, kind, where, explain = _split(options)
    keys = (by,) if isinstance(by, str) else tuple(by or ())
    s_ns, e_ns, thr = _ns(start), _ns(end), duration_ns(threshold)
    spec = Aggregation("absence", selector or "", by=keys, absence=threshold, matchers=matchers, kind=kind, where=where)
    p = plan(source, spec, start_ns=s_ns, end_ns=e_ns, step=step, options=o)
    if explain:
        return p.explain()
    if p.run is not None:
        return _frame(p, engine)
    if p.closes_bucket:  # a log backend's lines per bucket (Loki): silences are runs of empty buckets
        got = _metric_columns(source, p, keys, start, end, p.step_ns, o, whole=True)
        out = gaps_from_buckets(got, keys, step_ns=p.step_ns, start_ns=s_ns, end_ns=e_ns, threshold_ns=thr)
        return schema.to_engine(out, engine or get_option("engine"))
    options = o
    step_ns = p.step_ns
    ((_, query),) = p.queries
    t = load(source, "metrics", query=query, start=start, end=end, step=step_ns / 1e9, engine="arrow", **options)
    times = np.sort(t.column("time").cast(pa.int64()).to_numpy()) if t.num_rows else np.array([], np.int64)
    breaks = np.flatnonzero(np.diff(times) != step_ns)
    firsts = np.concatenate([times[:1], times[breaks + 1]]) if len(times) else times
    lasts = np.concatenate([times[breaks], times[-1:]]) if len(times) else times
    gs = np.maximum(firsts - thr, s_ns)
    ge = np.where(lasts + step_ns >= e_ns, e_ns, lasts + step_ns)
    ts = pa.timestamp("ns", "UTC")
    out = pa.table({"gap_start": pa.array(gs, pa.int64()).cast(ts), "gap_end": pa.array(ge, pa.int64()).cast(ts),
                    "duration": pa.array(ge - gs, pa.int64()).cast(pa.duration("ns"))})
    return schema.to_engine(out, engine or get_option("engine"))
