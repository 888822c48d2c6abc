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
    What is read: ``"quantiles"`` (latency from a histogram) or ``"absence"`` (silence).
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

A backend that can answer the helper's whole frame in one query (ClickHouse SQL) returns a plan with
``run``: a callable that runs the query (``Plan.queries[0]``) and returns the frame as Arrow, times as
epoch-ns integers. The measures ``count`` (``ob.rate``) and ``errors`` (``ob.error_rate``) exist only there.

Adding a backend (LogQL, Elasticsearch aggregations) is one compiler that answers in these shapes
and one line in :data:`COMPILERS`; the helpers above do not change.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable

from .. import registry
from ..errors import UsageError
from ..timeutil import duration_ns
from . import clickhouse as ch
from . import elasticsearch as es
from . import loki
from .backend import resolve, scheme_of
from .prometheus import auto_step, promql_absent_over_time, promql_histogram_quantile

__all__ = ["Aggregation", "Plan", "plan", "quantile_column", "COMPILERS", "MEASURES"]


MEASURES = ("quantiles", "absence", "count", "errors")


@dataclasses.dataclass(frozen=True)
class Aggregation:
    """What a helper asks a backend to compute server-side (see the module docs)."""

    measure: str                                   # "quantiles" or "absence"
    series: str
    by: tuple[str, ...] = ()
    bucket: Any = "5m"
    quantiles: tuple[float, ...] = ()
    absence: Any = None
    matchers: Any = None
    kind: str | None = None
    where: Any = None
    exact: bool = True

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
        sql = ch.gaps_sql(kind, table, cols, threshold_ns=duration_ns(spec.absence), **args)
    else:
        if step_ns is None:
            raise UsageError(f"ClickHouse {spec.measure} needs the bucket width (every=)")
        sql = ch.counts_sql(kind, table, cols, step_ns=step_ns, errors=spec.measure == "errors", **args)
    sql += "\nFORMAT ArrowStream"

    def run():
        with ch.Session(req) as session:
            return session.arrow(sql)

    return Plan([(spec.measure, sql)], step_ns, run=run)


def _logql(spec: Aggregation, start_ns: int | None, end_ns: int | None, step: Any, **_: Any) -> Plan:
    """LogQL metric queries evaluated at each bucket's last nanosecond: ``(t - every, t]`` is ``[b, b + every)``."""
    if step is None or start_ns is None or end_ns is None:
        raise UsageError("Loki push-down needs every= (the bucket) and start=/end= (the window)")
    every = duration_ns(step)
    if every < 10**9:  # Loki answers times in milliseconds: a bucket is found from its end only when much wider
        raise UsageError("Loki push-down buckets must be at least 1s (every=)")
    queries = loki.logql_aggregations(spec.measure, spec.where or "", by=spec.by, every_ns=every, value=spec.series,
                                      quantiles=spec.quantiles, names=[quantile_column(q) for q in spec.quantiles])
    first = (start_ns // every) * every
    last = ((end_ns - 1) // every) * every
    return Plan(queries, every, eval_window=(first, last + every), closes_bucket=True,
                load_options={"evaluate_at": "bucket_end"})


def _elastic(spec: Aggregation, start_ns: int | None, end_ns: int | None, step: Any, *, source: str,
             options: dict[str, Any]) -> Plan:
    """One aggregation request (composite paged with after_key, or date_histogram) answering the helper's frame."""
    every = duration_ns(step) if step is not None else None
    if spec.measure == "count" and every is None:
        raise UsageError("Elasticsearch rate needs every= (the bucket width)")
    req, _ = resolve(source, kind="logs", query=spec.where, start_ns=start_ns, end_ns=end_ns, options=options)
    time_field = str(options.get("time_field", "@timestamp"))
    names = [quantile_column(q) for q in spec.quantiles]
    aggs = es.aggregation_body(spec.measure, by=spec.by, every_ns=every, value=spec.series, quantiles=spec.quantiles,
                               time_field=time_field, fields=dict(options.get("fields") or {}), start_ns=start_ns,
                               end_ns=end_ns, page=int(options.get("page_size", es.COMPOSITE_PAGE)))

    def run():
        rows = es.run_aggregation(req, aggs, time_field)
        return es.aggregation_frame(spec.measure, rows, by=spec.by, every_ns=every, names=names, start_ns=start_ns,
                                    end_ns=end_ns)

    return Plan([(spec.measure, json.dumps(es.search_body(req, aggs, time_field), indent=1))], every, run=run)


# backend class ("module:Class", as obsnb.registry.BACKENDS names it) -> compiler(spec, start_ns, end_ns, step,
# source=, options=)
COMPILERS: dict[str, Callable[..., Plan]] = {
    "obsnb.sources.prometheus:Prometheus": _promql,
    "obsnb.sources.clickhouse:ClickHouse": _clickhouse,
    "obsnb.sources.loki:Loki": _logql,
    "obsnb.sources.elasticsearch:Elasticsearch": _elastic,
}


def plan(source: str, spec: Aggregation, *, start_ns: int | None, end_ns: int | None, step: Any = None,
         options: dict[str, Any] | None = None) -> Plan:
    """The queries with which ``source`` (a backend URL or obsnb.toml name) answers ``spec``.

    ``options`` are ``load()``'s backend options (``table=``, ``database=``, ``timeout=`` ...), for the
    backends whose compiler asks the server first (ClickHouse reads the table's columns).
    """
    scheme = scheme_of(source)
    backend = registry.get_backend(scheme)  # an unknown scheme: the registry's error, listing the known ones
    # the backend's own compiler, else its nearest base class's (a Prometheus subclass speaks PromQL)
    names = [f"{c.__module__}:{c.__qualname__}" for c in backend.__mro__]
    compiler = next((COMPILERS[n] for n in names if n in COMPILERS), None)
    if compiler is None:
        raise UsageError(f"{scheme}:// cannot compute {spec.measure} server-side yet; load the data with "
                         "ob.load() and run the helper on the frame")
    return compiler(spec, start_ns, end_ns, step, source=source, options=dict(options or {}))
