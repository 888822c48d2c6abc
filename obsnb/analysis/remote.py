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
    return schema.to_engine(_arrow(p), engine or get_option("engine"))


def _arrow(p) -> pa.Table:
    """:func:`_frame` as Arrow."""
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
    return t


def _counts(measure: str, source: str, every: Any, by: Any, start: Any, end: Any, groups: Any, engine, options,
            errors: Any = None):
    o, kind, where, explain = _split(options)
    keys = (by,) if isinstance(by, str) else tuple(by or ())
    expected = groups  # ob.rate / ob.error_rate read groups= into a frame of the by= columns (absence._expected)
    spec = Aggregation(measure, "", by=keys, kind=kind, where=where,
                       errors=(error_definition() if errors is None else custom_errors(errors)) if measure == "errors" else None)
    p = plan(source, spec, start_ns=_ns(start), end_ns=_ns(end), step=every, options=o)
    if explain:
        return p.explain()
    if p.run is not None:
        out = _arrow(p)
    else:
        got = _metric_columns(source, p, keys, start, end, p.step_ns, o, whole=True)
        out = (error_frame if measure == "errors" else rate_frame)(got, keys, *p.eval_window, p.step_ns)
    if expected is not None:
        out = with_groups(out, keys, expected, _ns(start), _ns(end), p.step_ns, measure)
    return schema.to_engine(out, engine or get_option("engine"))


def with_groups(table: pa.Table, keys, expected, start_ns: int | None, end_ns: int | None, step_ns: int,
                measure: str) -> pa.Table:
    """The server's frame plus every bucket of each ``groups=`` group it did not answer, as zeros.

    The server aggregates only the groups it holds lines of, so the groups named in ``groups=`` with no
    line in the window are added here, on the client, over the same grid of buckets as the others: the
    window's (``[start, end)``), else the answer's first to last bucket, as in memory (no line and no
    window: nothing). Zero lines is an exact count, so filling them after the server's aggregate gives the
    in-memory helper's numbers: ``count`` 0 and ``per_second`` 0.0, or ``total`` and ``errors`` 0 and a NaN
    ``error_rate``.
    """
    import polars as pl

    got = pl.from_arrow(table)
    times = got.get_column("time").cast(pl.Int64)
    if got.is_empty() and (start_ns is None or end_ns is None):
        return table
    first = (start_ns // step_ns) * step_ns if start_ns is not None else int(times.min())
    stop = ((end_ns - 1) // step_ns) * step_ns + step_ns if end_ns is not None else int(times.max()) + step_ns
    want = expected.cast({k: got.schema[k] for k in keys if got.schema[k] != pl.Null}, strict=False).unique()
    missing = want.join(got.select(keys).unique(), on=list(keys), how="anti", nulls_equal=True)
    if missing.is_empty() or stop <= first:
        return table
    grid = pl.DataFrame({"time": np.arange(first, stop, step_ns, dtype=np.int64)})
    zeros = ([pl.lit(0, pl.Int64).alias("count"), pl.lit(0.0).alias("per_second")] if measure == "count" else
             [pl.lit(0, pl.Int64).alias("total"), pl.lit(0, pl.Int64).alias("errors"), pl.lit(float("nan")).alias("error_rate")])
    extra = missing.join(grid, how="cross").with_columns(pl.col("time").cast(got.schema["time"]), *zeros)
    out = pl.concat([got, extra.select(got.columns)], how="vertical_relaxed")
    return out.sort(["time", *keys], nulls_last=True).to_arrow()


def error_definition() -> dict:
    """obsnb's one definition of an error (:mod:`obsnb.analysis.failures`) as data a backend compiler translates
    (see :class:`obsnb.sources.pushdown.Aggregation`)."""
    bad = ("ERROR", "CRITICAL")
    return {"levels": tuple(k for k, v in schema._LEVEL_MAP.items() if v in bad),
            "level_fields": LEVEL_FIELDS,
            "level_numbers": number_at_least(min(n for n in range(100) if schema.level_from_number(n) in bad)),
            "outcome_columns": failures.OUTCOME_COLUMNS, "word_columns": failures.STATUS_WORD_COLUMNS,
            "words": failures.FAILURE_WORDS, "http_columns": failures.HTTP_STATUS_COLUMNS}


_OPS = {"Eq": "==", "NotEq": "!=", "Gt": ">", "GtEq": ">=", "Lt": "<", "LtEq": "<="}
_FLIP = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "==": "==", "!=": "!="}
_CANONICAL_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def custom_errors(errors: Any) -> dict:
    """A caller's ``errors=`` as data a backend compiler translates (see :class:`obsnb.sources.pushdown.Aggregation`).

    Translated: ``{"column": value or [values]}`` (every column holds one of its values, as in memory), a
    boolean column's name, and a polars expression made of ``pl.col(c) <op> literal`` (``==``, ``!=``, ``<``,
    ``<=``, ``>``, ``>=``), ``pl.col(c).is_in([...])``, ``pl.col(c).str.contains(text)`` (a regex, or
    ``literal=True``), ``pl.col(c).str.starts_with(text)``, a boolean ``pl.col(c)``, ``&``, ``|`` and ``~``
    (tree leaves ``("text", column, "regex" | "literal" | "prefix", text, negated)`` and ``("true", column,
    negated)``). ``level`` takes the canonical names (``ERROR``, ...), which
    the backend matches in every spelling the loader maps to them. Anything else (a mask, a time window,
    other expressions, boolean values) is a :class:`UsageError` naming it.
    """
    if isinstance(errors, dict):
        if not errors:
            raise UsageError("errors={} names no column: pass {'column': value(s)}")
        tree = ("and", [_leaf_in(str(c), v) for c, v in errors.items()])
    elif isinstance(errors, str):  # a boolean column's name: true there
        tree = ("true", errors, False)
    else:
        import polars as pl

        if not isinstance(errors, pl.Expr):
            raise UsageError(f"errors={_what(errors)} cannot be computed by a backend: it takes {{'column': value(s)}}, "
                             "a boolean column's name or a polars comparison such as pl.col('status_code') >= 500; or "
                             "load the rows and run ob.error_rate on the frame")
        import json

        try:
            node = json.loads(errors.meta.serialize(format="json"))
        except Exception as exc:  # noqa: BLE001 - a polars version without this form: say so
            raise UsageError(f"errors= expression {errors} cannot be read for a backend ({exc})") from exc
        tree = _expr_tree(node, str(errors))
    levels = {lv: tuple(k for k, v in schema._LEVEL_MAP.items() if v == lv) for lv in _CANONICAL_LEVELS}
    numbers = {lv: [n for n in range(100) if schema.level_from_number(n) == lv] for lv in _CANONICAL_LEVELS}
    return {"tree": tree, "levels": levels, "level_fields": LEVEL_FIELDS,
            "level_numbers": {lv: _number_regex(ns) for lv, ns in numbers.items()}}


def _what(x: Any) -> str:
    return repr(x) if isinstance(x, (str, tuple)) else f"<{type(x).__name__}>"


def _number_regex(ns: list[int]) -> str:
    """A regex of the decimal integers in ``ns`` (consecutive, below 100), leading zeros allowed; the last
    bucket (>= 60) is open-ended, as ``level_from_number``."""
    if ns[-1] == 99:
        return number_at_least(ns[0])
    return "0*(" + "|".join(str(n) for n in ns) + ")"


def _leaf_in(column: str, value: Any, negate: bool = False) -> tuple:
    vals = list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
    vals = [v for v in vals if v is not None]  # a null never matches (is_in without nulls_equal)
    bad = [v for v in vals if isinstance(v, bool) or not isinstance(v, (str, int, float))]
    if bad:
        raise UsageError(f"errors= compares {column!r} with {bad[0]!r}: a backend compares text and numbers only")
    if column == "level":
        odd = [v for v in vals if v not in _CANONICAL_LEVELS]
        if odd:
            raise UsageError(f"errors= names level {odd[0]!r}: the frame's levels are {', '.join(_CANONICAL_LEVELS)}")
    return ("not_in" if negate else "in", column, tuple(vals))


def _literal(node: dict) -> Any:
    lit = node.get("Literal")
    if not isinstance(lit, dict) or len(lit) != 1:
        return None
    (_, body), = lit.items()
    if isinstance(body, dict) and len(body) == 1:
        (typ, v), = body.items()
        if typ == "List":  # is_in's values: one Arrow IPC column
            return tuple(pa.ipc.open_stream(bytes(v)).read_all().column(0).to_pylist())
        if typ != "Boolean" and isinstance(v, (str, int, float)) and not isinstance(v, bool):
            return v
    return None


def _expr_tree(node: dict, shown: str) -> tuple:
    """The error tree of a serialised polars expression, or a UsageError naming the part that is not translated."""
    if "BinaryExpr" in node:
        b = node["BinaryExpr"]
        if b["op"] in ("And", "Or", "LogicalAnd", "LogicalOr"):
            return ("and" if b["op"] in ("And", "LogicalAnd") else "or", [_expr_tree(b["left"], shown), _expr_tree(b["right"], shown)])
        op = _OPS.get(b["op"])
        col, lit, flip = b["left"].get("Column"), _literal(b["right"]), False
        if col is None:
            col, lit, flip = b["right"].get("Column"), _literal(b["left"]), True
        if op is not None and isinstance(col, str) and lit is not None and not isinstance(lit, tuple):
            op = _FLIP[op] if flip else op
            if op in ("==", "!="):
                return _leaf_in(col, lit, negate=op == "!=")
            if isinstance(lit, str):
                raise UsageError(f"errors= expression {shown}: a backend orders numbers, not text ({col} {op} {lit!r})")
            return ("cmp", col, op, lit)
    if isinstance(node.get("Column"), str):  # a boolean column alone
        return ("true", node["Column"], False)
    fn = node.get("Function")
    args = (fn.get("input") or []) if isinstance(fn, dict) else []
    what = fn.get("function") if isinstance(fn, dict) else None
    if what == {"Boolean": "Not"} and len(args) == 1:
        return _negate(_expr_tree(args[0], shown))
    text = what.get("StringExpr") if isinstance(what, dict) else None
    if text is not None and len(args) == 2 and isinstance(args[0].get("Column"), str) and isinstance(_literal(args[1]), str):
        how = ("literal" if text["Contains"].get("literal") else "regex") if isinstance(text, dict) and "Contains" in text \
            else "prefix" if text == "StartsWith" else None
        if how is not None:
            return ("text", args[0]["Column"], how, _literal(args[1]), False)
    if isinstance(fn, dict) and isinstance(fn.get("function"), dict) and "IsIn" in str(fn["function"]):
        args = fn.get("input") or []
        if len(args) == 2 and isinstance(args[0].get("Column"), str) and isinstance(_literal(args[1]), tuple) \
                and "'nulls_equal': True" not in str(fn["function"]):
            return _leaf_in(args[0]["Column"], _literal(args[1]))
    raise UsageError(f"errors= expression {shown} cannot be computed by a backend: it takes comparisons of a column "
                     "with a literal (==, !=, <, <=, >, >=), is_in([...]), str.contains(text), str.starts_with(text), a "
                     "boolean column, &, | and ~; or load the rows and run ob.error_rate on the frame")


_NEGATED = {">": "<=", ">=": "<", "<": ">=", "<=": ">"}


def _negate(tree: tuple) -> tuple:
    """``~tree``, pushed down to the leaves (De Morgan), each leaf negated as polars negates it: a row whose
    column is null is null either way, so never an error (``not_in`` and a negated text or boolean leaf need the
    column present; a negated comparison is the opposite comparison, null on a null or non-number)."""
    op = tree[0]
    if op in ("and", "or"):
        return ("or" if op == "and" else "and", [_negate(t) for t in tree[1]])
    if op in ("in", "not_in"):
        return ("not_in" if op == "in" else "in", tree[1], tree[2])
    if op == "cmp":
        return ("cmp", tree[1], _NEGATED[tree[2]], tree[3])
    return (*tree[:-1], not tree[-1])  # "text", "true": the last item says negated


def _ns(t: Any) -> int | None:
    return to_ns(t) if t is not None else None


def remote_rate(source: str, every: Any, *, by: Any = None, start: Any = None, end: Any = None, groups: Any = None,
                engine: str | None = None, **options: Any):
    """``ob.rate`` computed by the backend: ``time``, the ``by`` columns, ``count``, ``per_second``, zeros included.

    ``groups``: the groups that must be present (a polars frame of the ``by`` columns, as ``ob.rate`` reads its
    ``groups=``); those the server has no line of are added as zeros on the client (:func:`with_groups`).

    ClickHouse: ``toStartOfInterval`` buckets, ``WITH FILL`` within each group over ``[start, end)``
    (or the data's first to last bucket). ``kind=`` picks otel_logs / otel_traces, ``query=`` a SQL condition.
    """
    return _counts("count", source, every, by, start, end, groups, engine, options)


def remote_error_rate(source: str, every: Any, *, by: Any = None, errors: Any = None, start: Any = None,
                      end: Any = None, groups: Any = None, engine: str | None = None, **options: Any):
    """``ob.error_rate`` computed by the backend: ``time``, the ``by`` columns, ``total``, ``errors``, ``error_rate``.

    ClickHouse, spans: an error is status ERROR or an HTTP status >= 500 attribute, as obsnb's definition for spans.
    Loki (``query=`` a log query) and Elasticsearch / OpenSearch, logs: obsnb's definition for logs
    (:func:`error_definition`) compiled to a LogQL label filter (:func:`obsnb.sources.loki.logql_error_filter`)
    or a ``filter`` aggregation (:func:`obsnb.sources.elasticsearch.error_query`); those say where it
    differs (a failure word in a short event name is not read). Every bucket of ``[start, end)`` of every
    group with a line in the window is present, empty ones as 0 total and NaN ``error_rate``, as in memory.

    ``errors=``: the caller's definition, as in memory, where the backend can say it (:func:`custom_errors`:
    ``{"column": value(s)}`` and polars comparisons; ClickHouse logs too); anything else is a UsageError,
    never obsnb's definition instead. ``groups=``: as :func:`remote_rate`, 0 total and NaN ``error_rate``.
    """
    return _counts("errors", source, every, by, start, end, groups, engine, options, errors)


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
                end: Any = None, step: Any = None, by: Any = None, groups: Any = None, engine: str | None = None,
                **options: Any):
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
    has no row, unless ``groups=`` names it (a polars frame of the ``by`` columns, as ``ob.gaps`` reads it):
    then it is one silence from ``start`` to ``end``, exactly as in memory (ClickHouse: in the SQL; Loki and
    Elasticsearch: on the client, from the buckets). Prometheus takes no ``groups=``.
    """
    o, kind, where, explain = _split(options)
    keys = (by,) if isinstance(by, str) else tuple(by or ())
    s_ns, e_ns, thr = _ns(start), _ns(end), duration_ns(threshold)
    if groups is not None and (s_ns is None or e_ns is None):
        raise UsageError("ob.gaps: a group with no events is a gap only inside a window; pass start= and end= with groups=")
    spec = Aggregation("absence", selector or "", by=keys, absence=threshold, matchers=matchers, kind=kind, where=where,
                       groups=groups)
    p = plan(source, spec, start_ns=s_ns, end_ns=e_ns, step=step, options=o)
    if explain:
        return p.explain()
    if p.run is not None:
        return _frame(p, engine)
    if p.closes_bucket:  # a log backend's lines per bucket (Loki): silences are runs of empty buckets
        got = _metric_columns(source, p, keys, start, end, p.step_ns, o, whole=True)
        out = gaps_from_buckets(got, keys, step_ns=p.step_ns, start_ns=s_ns, end_ns=e_ns, threshold_ns=thr, groups=groups)
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
