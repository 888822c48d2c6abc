"""Absence is evidence: ``ob.rate`` (counts with the zeros present), ``ob.error_rate`` and ``ob.gaps``."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import polars as pl

from ..errors import UsageError
from ..timeutil import format_duration, to_ns
from . import _frames as F
from .failures import error_expr
from .lazy import collect, is_scan, scan_engine, scan_frame
from .remote import remote_error_rate, remote_gaps, remote_rate

__all__ = ["rate", "error_rate", "gaps"]

MAX_BUCKETS = 5_000_000


def _expected(groups: Any, keys: list[str], helper: str) -> pl.DataFrame | None:
    """``groups=`` (values, tuples, dicts or a frame) as a polars frame of the ``by`` columns."""
    if groups is None:
        return None
    if not keys:
        msg = f"ob.{helper}: groups= names the expected values of the by= columns; pass by= as well"
        raise UsageError(msg)
    if hasattr(groups, "columns"):  # a pandas or polars frame of the expected groups
        return F.to_polars(groups).select(keys)
    rows = list(groups)
    if rows and isinstance(rows[0], dict):
        return pl.DataFrame(rows).select(keys)
    if len(keys) == 1:
        rows = [r[0] if isinstance(r, tuple) else r for r in rows]
        return pl.DataFrame({keys[0]: rows})
    return pl.DataFrame([tuple(r) for r in rows], schema=keys, orient="row")


def _bounds(start: Any, end: Any) -> tuple[int | None, int | None]:
    """``start``/``end`` as epoch ns (None stays None)."""
    return (None if start is None else to_ns(start)), (None if end is None else to_ns(end))


def _prepare(df: Any, keys: list[str], time: str | None, helper: str,
             extra: tuple[str, ...] = ()) -> tuple[pl.DataFrame | pl.LazyFrame, str]:
    """The time and ``by`` columns (and ``extra``) of a frame, or of a scan as a LazyFrame over its store."""
    wanted = [*keys, time or "time", "start", *extra]
    frame = df if isinstance(df, pl.LazyFrame) else scan_frame(df, wanted) if is_scan(df) else F.to_polars(df, wanted)
    time = time or F.default_time(frame)
    F.require(frame, [time, *keys], helper)
    return F.utc_ns(frame.select([time, *keys, *extra]), time, helper), time


def _counts(frame, time, keys, step, start_ns, end_ns, groups, helper, errors: str | None = None) -> pl.DataFrame:
    """Events per (bucket, group) on the full grid of buckets x groups over [start_ns, end_ns), zeros included;
    with ``errors`` (a boolean column) also how many of them are errors. Only the counts are materialised."""
    ints = pl.col(time).cast(pl.Int64)
    cond = ints.is_not_null()
    if start_ns is not None:
        cond &= ints >= start_ns
    if end_ns is not None:
        cond &= ints < end_ns
    bucket = F.epoch_floor(time, step).alias("time")
    aggs = [pl.len().cast(pl.Int64).alias("count")]
    if errors is not None:
        aggs.append(pl.col(errors).sum().cast(pl.Int64).alias("errors"))
    counts = frame.filter(cond).group_by([bucket, *keys]).agg(aggs)
    if isinstance(counts, pl.LazyFrame):
        counts = collect(counts)
    ints = counts.get_column("time").cast(pl.Int64)  # bucket starts: the floor of the first and last time
    lo = start_ns if start_ns is not None else ints.min()
    hi = end_ns - 1 if end_ns is not None else ints.max()
    schema = {"time": F.TS, **{k: counts.schema[k] for k in keys}, **{a.meta.output_name(): pl.Int64 for a in aggs}}
    if lo is None or hi is None or hi < lo:
        return pl.DataFrame(schema=schema)
    lo, hi = (lo // step) * step, (hi // step) * step
    if (hi - lo) // step + 1 > MAX_BUCKETS:
        msg = (
            f"ob.{helper}: every={format_duration(step)} over this window makes more than {MAX_BUCKETS:,} buckets; "
            "pass a wider every= or a shorter start=/end= window"
        )
        raise UsageError(msg)
    grid = pl.DataFrame({"time": np.arange(lo, hi + 1, step, dtype=np.int64)}).with_columns(pl.col("time").cast(F.TS))
    if keys:
        present = counts.select(keys).unique()
        expected = _expected(groups, keys, helper)
        if expected is not None:
            expected = expected.cast({k: present.schema[k] for k in keys}, strict=False)
            present = pl.concat([present, expected]).unique()
        grid = present.join(grid, how="cross")
    out = grid.join(counts, on=["time", *keys], how="left", nulls_equal=True).with_columns(
        [pl.col(c).fill_null(0) for c in schema if c not in ("time", *keys)])
    return out.select(list(schema)).sort(["time", *keys], nulls_last=True)


def rate(
    df: Any,
    every: Any,
    *,
    by: str | Sequence[str] | None = None,
    start: Any = None,
    end: Any = None,
    groups: Any = None,
    time: str | None = None,
    **backend: Any,
):
    """Events per epoch-aligned bucket, with empty buckets present as zero.

    Returns ``time`` (bucket start), the ``by`` columns, ``count`` and ``per_second``. The buckets run
    from the first to the last event, or over ``[start, end)`` when given (events outside are not
    counted). Every group seen in the frame (and every group named in ``groups=``) gets every bucket:
    absence needs the zeros. Backend form: a ClickHouse source (``kind=``, ``query=``, ``explain=``) counts
    in SQL and fills the empty buckets with ``WITH FILL`` (see :func:`obsnb.analysis.remote.remote_rate`).
    """
    if isinstance(df, str):
        return remote_rate(df, every, by=by, start=start, end=end, groups=_expected(groups, F.names(by), "rate"), **backend)
    _no_backend_keywords(backend, "rate")
    engine = scan_engine(df) if is_scan(df) else F.engine_of(df)
    keys = F.names(by)
    step = F.every_ns(every, "rate")
    frame, time = _prepare(df, keys, time, "rate")
    out = _counts(frame, time, keys, step, *_bounds(start, end), groups, "rate")
    out = out.with_columns((pl.col("count") / (step / 1e9)).alias("per_second"))
    return F.back(out, engine)


def _no_backend_keywords(backend: dict, helper: str) -> None:
    if backend:  # a keyword this helper does not take on a frame is an error, never ignored
        raise UsageError(f"ob.{helper} on a frame got {', '.join(sorted(backend))}: those are for the backend form, "
                         f"ob.{helper}('clickhouse://host:8123', ...), or not keywords of ob.{helper}")


def _error_mask(frame: pl.DataFrame | pl.LazyFrame, errors: Any) -> pl.Series | pl.Expr:
    if errors is None:  # the one definition of an error (obsnb.analysis.failures), shared with ob.investigate
        return error_expr(frame)
    if isinstance(frame, pl.LazyFrame):
        return F.row_expr(frame, errors, "error_rate", "errors", F.default_time(frame))
    return F.row_mask(frame, errors, "error_rate", "errors", F.default_time(frame))


def error_rate(
    df: Any,
    every: Any,
    *,
    by: str | Sequence[str] | None = None,
    errors: Any = None,
    start: Any = None,
    end: Any = None,
    time: str | None = None,
    **backend: Any,
):
    """Share of error rows per bucket: the ratio of two :func:`rate` series over the same grid.

    ``errors`` picks the error rows: None means obsnb's one definition of an error (level ERROR or
    CRITICAL, ``event.outcome`` failure, an HTTP status >= 500, a failure event such as ``job_failed``;
    span status ERROR for spans: see :mod:`obsnb.analysis.failures`); a column name means that
    boolean column; ``{"status": ["ERROR"], ...}`` means rows whose columns hold those values; or a
    boolean mask with one value per row. Returns ``time``, the ``by`` columns, ``total``, ``errors``
    and ``error_rate`` (errors / total; NaN for a bucket with no events). Backend form: a ClickHouse
    source with ``kind="spans"`` (see :func:`obsnb.analysis.remote.remote_error_rate`).
    """
    if isinstance(df, str):
        groups = _expected(backend.pop("groups", None), F.names(by), "error_rate")  # the backend form takes groups=
        return remote_error_rate(df, every, by=by, errors=errors, start=start, end=end, groups=groups, **backend)
    _no_backend_keywords(backend, "error_rate")
    lazy = is_scan(df)
    engine = scan_engine(df) if lazy else F.engine_of(df)
    keys = F.names(by)
    step = F.every_ns(every, "error_rate")
    full = scan_frame(df) if lazy else F.to_polars(df)  # lazy: only the columns the definition reads are read
    full = full.with_columns(_error_mask(full, errors).alias("_e"))
    frame, time = _prepare(full, keys, time, "error_rate", ("_e",))
    out = _counts(frame, time, keys, step, *_bounds(start, end), None, "error_rate", errors="_e")
    out = out.rename({"count": "total"})
    out = out.with_columns(
        pl.when(pl.col("total") > 0)
        .then(pl.col("errors") / pl.col("total"))
        .otherwise(float("nan"))
        .alias("error_rate")
    )
    return F.back(out, engine)


def gaps(
    df: Any,
    threshold: Any,
    *,
    by: str | Sequence[str] | None = None,
    start: Any = None,
    end: Any = None,
    groups: Any = None,
    time: str | None = None,
    selector: str | None = None,
    **backend: Any,
):
    """Silences longer than ``threshold``, per group.

    Backend form: ``ob.gaps(source, threshold, selector="up", start=..., end=...)`` with a
    Prometheus-compatible source (URL or obsnb.toml name) has the server find the silences with
    ``absent_over_time`` (see :func:`obsnb.remote_gaps`; ``matchers``, ``step`` go there). On a ClickHouse
    source (``kind=``, ``by=``) window functions over each group's times return this same frame.

    Returns one row per silence: the ``by`` columns, ``gap_start`` (the last event before it, or
    ``start``), ``gap_end`` (the next event, or ``end``) and ``duration``, sorted by group and time.
    With ``start`` the silence before a group's first event counts, with ``end`` the one after its last
    event (a system that stopped silently has only a trailing gap). A group named in ``groups=`` (e.g.
    ``groups=["api", "billing"]``) that has no event at all in the window is one gap from ``start`` to
    ``end``. Events outside ``[start, end]`` are ignored.
    """
    if isinstance(df, str):
        return remote_gaps(df, selector, threshold, by=by, start=start, end=end,
                           groups=_expected(groups, F.names(by), "gaps"), **backend)
    if backend or selector is not None:
        msg = "selector=, matchers= and step= are for the backend form: ob.gaps('prometheus://host:9090', ...)"
        raise UsageError(msg)
    engine = scan_engine(df) if is_scan(df) else F.engine_of(df)
    keys = F.names(by)
    th = F.duration_ns(threshold)
    frame, time = _prepare(df, keys, time, "gaps")
    cond = pl.col(time).is_not_null()
    if start is not None:
        cond &= pl.col(time) >= F.ns_literal(start)
    if end is not None:
        cond &= pl.col(time) <= F.ns_literal(end)
    frame = frame.filter(cond)
    # sort each group's times inside a list (parallel, no multi-key sort of the whole frame), then diff
    ts = pl.col(time).cast(pl.Int64).sort().alias("_t")
    lists = frame.group_by(keys).agg(ts) if keys else frame.select(ts.implode())
    lists = lists.filter(pl.col("_t").list.len() > 0)
    if isinstance(lists, pl.LazyFrame):  # a scan: only each group's times are materialised
        lists = collect(lists)
    inner = (
        lists.select(*keys, "_t", pl.col("_t").list.diff().alias("_d"))
        .explode(["_t", "_d"])
        .filter(pl.col("_d") > th)
        .select(*keys, (pl.col("_t") - pl.col("_d")).alias("gap_start"), pl.col("_t").alias("gap_end"))
    )
    parts = [inner]
    edges = lists.select(*keys, pl.col("_t").list.first().alias("_first"), pl.col("_t").list.last().alias("_last"))
    if start is not None:
        parts.append(edges.select(*keys, pl.lit(to_ns(start)).alias("gap_start"), pl.col("_first").alias("gap_end")))
    if end is not None:
        parts.append(edges.select(*keys, pl.col("_last").alias("gap_start"), pl.lit(to_ns(end)).alias("gap_end")))
    expected = _expected(groups, keys, "gaps")
    if expected is not None and (start is None or end is None):
        msg = "ob.gaps: a group with no events is a gap only inside a window; pass start= and end= with groups="
        raise UsageError(msg)
    if start is not None and end is not None:
        window = [pl.lit(to_ns(start)).alias("gap_start"), pl.lit(to_ns(end)).alias("gap_end")]
        if expected is not None:
            expected = expected.cast({k: lists.schema[k] for k in keys}, strict=False).unique()
            silent = expected.join(lists.select(keys), on=keys, how="anti", nulls_equal=True)
            parts.append(silent.select([*keys, *window]))
        elif not keys and lists.is_empty():  # nothing at all happened in the window
            parts.append(pl.select(window))
    ends = {"gap_start": pl.Int64, "gap_end": pl.Int64}
    parts = [p.cast(ends).cast({"gap_start": F.TS, "gap_end": F.TS}) for p in parts]
    out = pl.concat(parts, how="vertical_relaxed") if len(parts) > 1 else parts[0]
    out = out.with_columns((pl.col("gap_end") - pl.col("gap_start")).alias("duration"))
    out = out.filter(pl.col("duration").dt.total_nanoseconds() > th).sort([*keys, "gap_start"], nulls_last=True)
    return F.back(out, engine)
