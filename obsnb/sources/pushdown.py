"""Server-side aggregation: the small spec a backend compiles into its own queries.

The analysis helpers' backend forms (``ob.latency("prod-prom", ...)``, ``ob.gaps("prod-prom", ...)``,
see :mod:`obsnb.analysis.remote`) describe what they want as an :class:`Aggregation` and ask
:func:`plan` how the source answers it. :func:`plan` resolves the source like ``load()`` does
(URL scheme or obsnb.toml name -> the backend class in :data:`obsnb.registry.BACKENDS`) and hands
the spec to that backend's compiler in :data:`COMPILERS`. The answer is a :class:`Plan`: the
queries to run through ``load()`` (so snapshots, windows and rejected-record accounting are the
same as for any load) and the shape each one answers in.

The spec
--------
``measure``
    What is read: ``"quantiles"`` (latency), ``"absence"`` (silence), ``"count"`` (``ob.rate``) or
    ``"errors"`` (``ob.error_rate``).
``series``
    The series the backend reads: a classic histogram's base name for quantiles
    (``http_request_duration_seconds``; ``_bucket`` is added), a selector for absence (``up``).
``matchers``
    Label filters, ``{"label": "value"}`` or the backend's own text.
``by``
    Group keys: the label (or column) names kept in the answer, one row per time and group.
``bucket``
    The window each point aggregates over (PromQL's range ``[5m]``; a SQL backend's time bucket).
``quantiles``
    For ``quantiles``: the quantiles wanted, ``(0.5, 0.95)``; answer columns ``p50``, ``p95``.
``absence``
    For ``absence``: the threshold; a point means "no sample in the ``absence`` before this time".
``errors``
    For ``errors``: obsnb's one definition of an error (:mod:`obsnb.analysis.failures`) as data, built
    by :mod:`obsnb.analysis.remote` (this layer does not import the analysis): ``levels`` (the level
    names that map to ERROR or CRITICAL), ``level_fields``, ``level_numbers`` (a regex of the numeric
    levels that are errors: pino's >= 50, :func:`number_at_least`), ``outcome_columns`` (``failure``), ``word_columns`` + ``words`` (a
    failure word), ``http_columns`` (a status 500-599). Each backend translates it as closely as its
    language allows (:func:`obsnb.sources.loki.logql_error_filter`, :func:`obsnb.sources.elasticsearch.error_query`).
    A caller's ``errors=`` comes instead as ``tree`` (:func:`obsnb.analysis.remote.custom_errors`): ``("and" |
    "or", [trees])``, ``("in", column, values)``, ``("not_in", column, (value,))``, ``("cmp", column, op,
    number)``, with ``levels`` (canonical level -> the names that map to it), ``level_numbers`` (-> a regex of
    its pino numbers) and ``level_fields`` for a ``level`` column (:func:`obsnb.sources.clickhouse.error_sql`,
    :func:`obsnb.sources.loki.logql_custom_filter`, :func:`obsnb.sources.elasticsearch.custom_error_query`).
``kind``, ``where``, ``exact``
    For backends that hold the records themselves (ClickHouse's ``otel_logs``/``otel_traces``): which
    table (``"logs"``/``"spans"``), a condition in the backend's language, and for quantiles whether
    they are exact (``quantilesExactInclusive``, the default) or ClickHouse's ``quantiles`` (exact only
    while a group holds at most 8,192 values, a reservoir sample above that, and cheaper in memory).
    ``series`` is then the value column (``duration_ms``), ``bucket`` unused: the step is the bucket.

What a backend's compiler returns
---------------------------------
``Plan.queries`` is a list of ``(column, query)``; each query, loaded as ``kind="metrics"`` over the
caller's window with the caller's ``step=`` (or ``Plan.step_ns`` when the compiler chose one),
answers ``time``, the ``by`` labels and ``value``:

* for ``quantiles``, one query per quantile, ``value`` being that quantile, renamed ``column``;
* for ``absence``, one query whose rows are exactly the evaluation times (every ``Plan.step_ns``)
  at which the series had no sample in the preceding ``absence``.

* for ``count`` / ``errors`` on Loki, one query per answer column (``count``; ``total`` and ``errors``),
  each the lines per bucket, and the buckets the backend left out are zeros (:func:`fill_grid`);
* for ``absence`` on Loki, the lines per bucket (``count``): :func:`gaps_from_buckets` finds the silences.

A backend that can answer the helper's whole frame itself (ClickHouse SQL, Elasticsearch aggregations)
returns a plan with ``run``: a callable that runs the query (``Plan.queries[0]``) and returns the frame
as Arrow, times as epoch-ns integers.

Adding a backend is one compiler that answers in these shapes and one line in :data:`COMPILERS`; the
helpers above do not change.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import registry
from ..errors import UsageError
from ..timeutil import duration_ns
from . import clickhouse as ch
from . import elasticsearch as es
from . import loki
from ._http import redact_url
from .backend import resolve, scheme_of
from .prometheus import auto_step, promql_absent_over_time, promql_histogram_quantile

__all__ = ["Aggregation", "Plan", "plan", "quantile_column", "COMPILERS", "MEASURES", "fill_grid", "gaps_from_buckets",
           "number_at_least", "gap_step", "error_frame", "rate_frame", "window_grid"]


MEASURES = ("quantiles", "absence", "count", "errors")
HELPERS = {"quantiles": "latency", "absence": "gaps", "count": "rate", "errors": "error_rate"}  # measure -> helper


@dataclasses.dataclass(frozen=True)
class Aggregation:
    """What a helper asks a backend to compute server-side (see the module docs)."""

    measure: str                                   # one of MEASURES
    series: str
    by: tuple[str, ...] = ()
    bucket: Any = "5m"
    quantiles: tuple[float, ...] = ()
    absence: Any = None
    matchers: Any = None
    kind: str | None = None
    where: Any = None
    exact: bool = True
    errors: Any = dataclasses.field(default=None, compare=False)  # the error definition, for "errors"
    groups: Any = dataclasses.field(default=None, compare=False)  # for "absence": a polars frame of the by= groups

    def __post_init__(self):
        if self.measure not in MEASURES:
            raise UsageError(f"unknown aggregation measure {self.measure!r}: {', '.join(map(repr, MEASURES))}")


@dataclasses.dataclass(frozen=True)
class Plan:
    """How one backend answers an :class:`Aggregation`: ``(column, query)`` pairs and the evaluation step."""

    queries: list[tuple[str, str]]
    step_ns: int | None = None                     # None: the caller's step=, else the backend's choice
    run: Callable[[], Any] | None = dataclasses.field(default=None, compare=False)  # answers the whole frame
    eval_window: tuple[int, int] | None = None     # (start, end) ns to evaluate at, when not the caller's
    closes_bucket: bool = False                    # answer times are bucket ends: label them by the start
    load_options: dict = dataclasses.field(default_factory=dict)  # extra load() options for the queries

    def explain(self) -> str:
        """The compiled queries, as the backend's own UI takes them (one per line block)."""
        return "\n\n".join(q for _, q in self.queries)


def quantile_column(q: float) -> str:
    """The answer column of quantile ``q``: 0.95 -> ``p95``, 0.999 -> ``p99.9``."""
    return f"p{float(q) * 100:g}"


def _promql(spec: Aggregation, start_ns: int | None, end_ns: int | None, step: Any, **_: Any) -> Plan:
    if spec.measure not in ("quantiles", "absence"):
        raise UsageError(f"a Prometheus-compatible backend computes quantiles and absence server-side, not {spec.measure}")
    if spec.measure == "quantiles":
        return Plan([(quantile_column(q), promql_histogram_quantile(spec.series, q, by=list(spec.by),
                                                                    matchers=spec.matchers, window=spec.bucket))
                     for q in spec.quantiles])
    if spec.groups is not None:
        raise UsageError("ob.gaps on a Prometheus-compatible backend takes no groups= (absent_over_time has no groups)")
    if not spec.series or start_ns is None or end_ns is None or spec.by:
        raise UsageError("ob.gaps(source, ...) on a Prometheus-compatible backend needs selector= (the series that "
                         "must not go silent), start= and end=, and no by= (absent_over_time drops the labels)")
    thr = duration_ns(spec.absence)
    step_ns = duration_ns(step) if step is not None else min(thr, auto_step(end_ns - start_ns))
    return Plan([("absent", promql_absent_over_time(spec.series, spec.absence, spec.matchers))], step_ns)


def _clickhouse(spec: Aggregation, start_ns: int | None, end_ns: int | None, step: Any, *, source: str,
                options: dict[str, Any]) -> Plan:
    """One SQL query over otel_traces / otel_logs that returns the helper's frame (see obsnb.sources.clickhouse)."""
    kind = spec.kind or "spans"
    if kind not in ("logs", "spans"):
        raise UsageError(f"ClickHouse aggregates kind='logs' or kind='spans', not {kind!r}")
    req, _ = resolve(source, kind=kind, query=spec.where, start_ns=start_ns, end_ns=end_ns, options=options)
    table = ch.table_name(kind, options.get("table"))
    with ch.Session(req) as session:
        cols = session.columns(table)
    args = dict(by=list(spec.by), start_ns=start_ns, end_ns=end_ns, where=spec.where)
    step_ns = duration_ns(step) if step is not None else None
    if spec.measure == "quantiles":
        sql = ch.latency_sql(kind, table, cols, value=spec.series, qs=spec.quantiles, step_ns=step_ns, exact=spec.exact,
                             names=[quantile_column(q) for q in spec.quantiles], **args)
    elif spec.measure == "absence":
        sql = ch.gaps_sql(kind, table, cols, threshold_ns=duration_ns(spec.absence), groups=_rows(spec.groups), **args)
    else:
        if step_ns is None:
            raise UsageError(f"ClickHouse {spec.measure} needs the bucket width (every=)")
        errors = spec.errors if spec.measure == "errors" else None
        sql = ch.counts_sql(kind, table, cols, step_ns=step_ns, errors=errors, **args)
    sql += "\nFORMAT ArrowStream"

    def run():
        with ch.Session(req) as session:
            return session.arrow(sql)

    return Plan([(spec.measure, sql)], step_ns, run=run)


def _rows(groups) -> list[tuple] | None:
    """The ``groups=`` frame as rows of text, as the SQL compares them (the by= columns are text there)."""
    if groups is None:
        return None
    rows = groups.unique(maintain_order=True).rows()
    if any(v is None for r in rows for v in r):
        raise UsageError("ob.gaps on ClickHouse: groups= names a null group; name groups by their values")
    return [tuple(str(v) for v in r) for r in rows]


def gap_step(threshold: Any) -> int:
    """The bucket ``ob.gaps`` reads a log backend at when ``step=`` is not given: a quarter of the threshold.

    A silence is known to one bucket at each end (see :func:`gaps_from_buckets`): a quarter keeps the
    error under half the threshold at 4 points per threshold-long span (``step=`` refines it).
    """
    return duration_ns(threshold) // 4 // 1_000_000 * 1_000_000  # whole milliseconds, as both backends bucket


def _logql(spec: Aggregation, start_ns: int | None, end_ns: int | None, step: Any, **_: Any) -> Plan:
    """LogQL metric queries evaluated at each bucket's last nanosecond: ``(t - every, t]`` is ``[b, b + every)``."""
    absence = spec.measure == "absence"
    if start_ns is None or end_ns is None or (step is None and not absence):
        raise UsageError("Loki push-down needs every= (the bucket) and start=/end= (the window)" if not absence else
                         "ob.gaps on Loki needs start= and end= (the window whose silences are wanted)")
    every = duration_ns(step) if step is not None else gap_step(spec.absence)
    if every < 10**9:  # Loki answers times in milliseconds: a bucket is found from its end only when much wider
        raise UsageError("Loki push-down buckets must be at least 1s (every=; for ob.gaps step=, default threshold/4)")
    queries = loki.logql_aggregations(spec.measure, spec.where or (spec.series if absence else "") or "", by=spec.by,
                                      every_ns=every, value=spec.series, quantiles=spec.quantiles,
                                      names=[quantile_column(q) for q in spec.quantiles], errors=spec.errors)
    first = (start_ns // every) * every
    last = ((end_ns - 1) // every) * every
    return Plan(queries, every, eval_window=(first, last + every), closes_bucket=True,
                load_options={"evaluate_at": "bucket_end"})


def _elastic(spec: Aggregation, start_ns: int | None, end_ns: int | None, step: Any, *, source: str,
             options: dict[str, Any]) -> Plan:
    """One aggregation request (composite paged with after_key, or date_histogram) answering the helper's frame."""
    absence = spec.measure == "absence"
    every = duration_ns(step) if step is not None else (gap_step(spec.absence) if absence else None)
    if spec.measure in ("count", "errors") and every is None:
        raise UsageError(f"Elasticsearch {'rate' if spec.measure == 'count' else 'error_rate'} needs every= (the bucket width)")
    if every is not None and every % 1_000_000:
        raise UsageError("Elasticsearch buckets (fixed_interval) are whole milliseconds: pass every= / step= in ms")
    if absence and (start_ns is None or end_ns is None or not every):
        raise UsageError("ob.gaps on Elasticsearch needs start= and end= (the window whose silences are wanted) and "
                         "a step of at least 1ms")
    req, _ = resolve(source, kind="logs", query=spec.where, start_ns=start_ns, end_ns=end_ns, options=options)
    time_field = str(options.get("time_field", "@timestamp"))
    names = [quantile_column(q) for q in spec.quantiles]
    fields = dict(options.get("fields") or {})
    aggs = es.aggregation_body(spec.measure, by=spec.by, every_ns=every, value=spec.series, quantiles=spec.quantiles,
                               time_field=time_field, fields=fields, start_ns=start_ns, end_ns=end_ns,
                               page=int(options.get("page_size", es.COMPOSITE_PAGE)), errors=spec.errors)

    def run():
        rows = es.run_aggregation(req, aggs, time_field)
        out = es.aggregation_frame("count" if absence else spec.measure, rows, by=spec.by, every_ns=every, names=names)
        if absence:
            return gaps_from_buckets(out, spec.by, step_ns=every, start_ns=start_ns, end_ns=end_ns,
                                     threshold_ns=duration_ns(spec.absence), groups=spec.groups)
        if spec.measure in ("count", "errors"):
            first, stop = window_grid(start_ns, end_ns, every, out)
            out = (error_frame if spec.measure == "errors" else rate_frame)(out, spec.by, first, stop, every)
        return out

    return Plan([(spec.measure, json.dumps(es.search_body(req, aggs, time_field), indent=1))], every, run=run)


def number_at_least(n: int) -> str:
    """A regex (RE2 and Lucene alike) for the decimal integers >= ``n`` (10 <= n <= 99), leading zeros allowed."""
    tens, ones = divmod(int(n), 10)
    if not 1 <= tens <= 9:
        raise ValueError(f"number_at_least takes a two-digit number, got {n}")
    alts = [f"{tens}[{ones}-9]"] + ([f"[{tens + 1}-9][0-9]"] if tens < 9 else []) + ["[1-9][0-9][0-9]+"]
    return f"0*({'|'.join(alts)})"


def fill_grid(table: pa.Table, keys, columns, first_ns: int, stop_ns: int, step_ns: int) -> pa.Table:
    """Every bucket ``[first_ns, stop_ns)`` for every group in ``table``, the ``columns`` missing there as 0.

    ``table`` has ``time`` (bucket starts, timestamps or epoch ns), the ``keys`` and the count ``columns``;
    the answer is sorted by time then group, nulls last, as the in-memory helpers sort.
    """
    import polars as pl

    keys = list(keys)
    ts = pl.Datetime("ns", "UTC")
    got = pl.from_arrow(table).with_columns(pl.col("time").cast(pl.Int64).cast(ts))
    grid = pl.DataFrame({"time": np.arange(first_ns, stop_ns, step_ns, dtype=np.int64)}).with_columns(pl.col("time").cast(ts))
    if keys:
        grid = got.select(keys).unique().join(grid, how="cross")
    out = grid.join(got, on=["time", *keys], how="left", nulls_equal=True)
    out = out.with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in columns)
    return out.sort(["time", *keys], nulls_last=True).select(["time", *keys, *columns]).to_arrow()


def window_grid(start_ns: int | None, end_ns: int | None, step_ns: int, table: pa.Table) -> tuple[int, int]:
    """The first bucket and one past the last of ``[start_ns, end_ns)`` (else of the answer's buckets)."""
    times = table.column("time").cast(pa.int64()).to_numpy() if table.num_rows else np.array([0], np.int64)
    first = (start_ns // step_ns) * step_ns if start_ns is not None else int(times.min())
    stop = ((end_ns - 1) // step_ns) * step_ns + step_ns if end_ns is not None else int(times.max()) + step_ns
    return first, stop


def rate_frame(table: pa.Table, keys, first_ns: int, stop_ns: int, step_ns: int) -> pa.Table:
    """``ob.rate``'s frame from ``count`` per bucket: every bucket of every group, the missing ones 0, ``per_second``."""
    out = fill_grid(table, keys, ["count"], first_ns, stop_ns, step_ns)
    return out.append_column("per_second", pc.divide(out.column("count").cast(pa.float64()), step_ns / 1e9))


def error_frame(table: pa.Table, keys, first_ns: int, stop_ns: int, step_ns: int) -> pa.Table:
    """``ob.error_rate``'s frame from ``total`` and ``errors`` per bucket: every bucket of every group, the missing
    ones 0, ``error_rate`` = errors / total (NaN where a bucket has no lines, as in memory)."""
    import polars as pl

    out = pl.from_arrow(fill_grid(table, keys, ["total", "errors"], first_ns, stop_ns, step_ns))
    rate = pl.when(pl.col("total") > 0).then(pl.col("errors") / pl.col("total")).otherwise(float("nan"))
    return out.with_columns(rate.alias("error_rate")).to_arrow()


def gaps_from_buckets(table: pa.Table, keys, *, step_ns: int, start_ns: int, end_ns: int, threshold_ns: int,
                      groups=None) -> pa.Table:
    """``ob.gaps``' frame from lines per bucket: the runs of empty buckets longer than the threshold.

    ``table`` has ``time`` (bucket starts), the ``keys`` and ``count``. A silence is the span the buckets
    prove empty: from the end of a group's last non-empty bucket (or ``start_ns``) to the start of its
    next one (or ``end_ns``), kept when longer than ``threshold_ns``. The true silence (last line to
    next line, what the in-memory ``ob.gaps`` reports) contains it and is at most one bucket longer at
    each end; a silence only up to two buckets longer than the threshold can fall under it here. A group of
    ``groups`` (a polars frame of the ``keys``) with no line at all is one silence, ``start_ns`` to ``end_ns``.
    """
    import polars as pl

    keys = list(keys)
    step, th = int(step_ns), int(threshold_ns)
    b = pl.from_arrow(table).filter(pl.col("count") > 0).select(*keys, pl.col("time").cast(pl.Int64).alias("_b"))
    lists = b.group_by(keys).agg(pl.col("_b").sort()) if keys else b.select(pl.col("_b").sort().implode())
    lists = lists.filter(pl.col("_b").list.len() > 0)
    pairs = lists.select(*keys, "_b", pl.col("_b").list.shift(1).alias("_p")).explode(["_b", "_p"])
    parts = [
        pairs.filter(pl.col("_p").is_not_null()).select(*keys, (pl.col("_p") + step).alias("gap_start"),
                                                         pl.col("_b").alias("gap_end")),
        lists.select(*keys, pl.lit(int(start_ns)).alias("gap_start"), pl.col("_b").list.first().alias("gap_end")),
        lists.select(*keys, (pl.col("_b").list.last() + step).alias("gap_start"), pl.lit(int(end_ns)).alias("gap_end")),
    ]
    if not keys and lists.is_empty():  # nothing at all in the window
        parts.append(pl.DataFrame({"gap_start": [int(start_ns)], "gap_end": [int(end_ns)]}))
    if groups is not None and keys:  # the named groups without a line: silent over the whole window
        want = groups.cast({k: lists.schema[k] for k in keys if lists.schema[k] != pl.Null}, strict=False).unique()
        silent = want.join(lists.select(keys), on=keys, how="anti", nulls_equal=True)
        parts.append(silent.select(*keys, pl.lit(int(start_ns)).alias("gap_start"), pl.lit(int(end_ns)).alias("gap_end")))
    ts = pl.Datetime("ns", "UTC")
    out = pl.concat([p.cast({"gap_start": pl.Int64, "gap_end": pl.Int64}) for p in parts], how="vertical_relaxed")
    out = out.filter(pl.col("gap_end") - pl.col("gap_start") > th)
    out = out.with_columns(pl.col("gap_start").cast(ts), pl.col("gap_end").cast(ts))
    out = out.with_columns((pl.col("gap_end") - pl.col("gap_start")).alias("duration"))
    return out.sort([*keys, "gap_start"], nulls_last=True).select([*keys, "gap_start", "gap_end", "duration"]).to_arrow()


# backend class ("module:Class", as obsnb.registry.BACKENDS names it) -> compiler(spec, start_ns, end_ns, step,
# source=, options=)
COMPILERS: dict[str, Callable[..., Plan]] = {
    "obsnb.sources.prometheus:Prometheus": _promql,
    "obsnb.sources.clickhouse:ClickHouse": _clickhouse,
    "obsnb.sources.loki:Loki": _logql,
    "obsnb.sources.elasticsearch:Elasticsearch": _elastic,
}


def _shown(source: str) -> str:
    return redact_url(source) if "://" in source else source  # a URL may hold a password


def plan(source: str, spec: Aggregation, *, start_ns: int | None, end_ns: int | None, step: Any = None,
         options: dict[str, Any] | None = None) -> Plan:
    """The queries with which ``source`` (a backend URL or obsnb.toml name) answers ``spec``.

    ``options`` are ``load()``'s backend options (``table=``, ``database=``, ``timeout=`` ...), for the
    backends whose compiler asks the server first (ClickHouse reads the table's columns).
    """
    scheme = scheme_of(source)
    backend = registry.get_backend(scheme)  # an unknown scheme: the registry's error, listing the known ones
    registry.check_backend_options(scheme, dict(options or {}), f"ob.{HELPERS[spec.measure]}({_shown(source)!r}, ...)")
    # the backend's own compiler, else its nearest base class's (a Prometheus subclass speaks PromQL)
    names = [f"{c.__module__}:{c.__qualname__}" for c in backend.__mro__]
    compiler = next((COMPILERS[n] for n in names if n in COMPILERS), None)
    if compiler is None:
        raise UsageError(f"{scheme}:// cannot compute {spec.measure} server-side yet; load the data with "
                         "ob.load() and run the helper on the frame")
    return compiler(spec, start_ns, end_ns, step, source=source, options=dict(options or {}))
