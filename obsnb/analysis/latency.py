"""``ob.latency``: percentiles per group and epoch-aligned time bucket."""

from __future__ import annotations

import math
from typing import Any, Sequence

import polars as pl

from ..errors import UsageError
from . import _frames as F
from .lazy import collect, is_scan, scan_engine, scan_frame
from .remote import remote_latency

__all__ = ["latency", "quantile_name"]


def quantile_name(q: float) -> str:
    """Column name of a quantile: 0.5 -> ``p50``, 0.999 -> ``p99.9``, 1 -> ``p100``."""
    return "p" + format(q * 100, ".10g")


def _check_q(q: float | Sequence[float]) -> list[float]:
    qs = [q] if isinstance(q, (int, float)) else list(q)
    if not qs:
        raise UsageError("ob.latency: q=() asks for no quantile; pass e.g. q=(0.5, 0.95, 0.99)")
    for x in qs:
        if not isinstance(x, (int, float)) or math.isnan(x) or not 0 <= x <= 1:
            msg = f"ob.latency: quantile {x!r} is outside [0, 1]; write the 95th percentile as 0.95"
            raise UsageError(msg)
    names = [quantile_name(x) for x in qs]
    if len(set(names)) != len(names):
        msg = f"ob.latency: q={qs!r} repeats a quantile ({', '.join(names)}); pass each once"
        raise UsageError(msg)
    return [float(x) for x in qs]


def latency(
    df: Any,
    value: str = "duration_ms",
    q: float | Sequence[float] = (0.5, 0.95, 0.99),
    *,
    by: str | Sequence[str] | None = None,
    every: Any = None,
    time: str | None = None,
    **backend: Any,
):
    """Percentiles of ``value`` per group (and per epoch-aligned bucket with ``every``).

    Backend form: when ``df`` is a Prometheus-compatible source (a URL or an obsnb.toml name), ``value``
    names a classic histogram metric and the server computes ``histogram_quantile`` (see
    :func:`obsnb.remote_latency`; ``start``, ``end``, ``window``, ``matchers`` go there, ``every`` is the step).
    On a ClickHouse source (``kind="spans"``, ``value="duration_ms"``) one SQL query with
    ``quantilesExactInclusive`` returns this same frame; ``explain=True`` returns the SQL instead.

    Returns one row per group (and bucket): ``time`` (bucket start, only with ``every``), the ``by``
    columns, ``count`` (values used), one column per quantile (``p50``, ``p95``, ``p99``; 0.999 ->
    ``p99.9``) and ``nan``: how many values were NaN or null and so ignored. Quantiles interpolate
    linearly between order statistics, like ``numpy.quantile``'s default. A group whose values are all
    NaN has ``count`` 0 and null quantiles; an empty frame gives an empty result with these columns.
    The result is sorted by time, then the ``by`` columns.

    >>> import obsnb as ob
    >>> logs = ob.testing.make_logs([{"time": "2024-05-14T13:00:10Z", "service": "api", "duration_ms": 10.0},
    ...                              {"time": "2024-05-14T13:00:50Z", "service": "api", "duration_ms": 30.0}],
    ...                             engine="polars")
    >>> ob.latency(logs, q=[0.5], by="service", every="1m")["p50"].to_list()
    [20.0]
    """
    if isinstance(df, str):
        return remote_latency(df, value, q, by=by, step=every, **backend)
    if backend:
        msg = (f"latency() got {', '.join(sorted(backend))}: those are for its backend form, "
               "ob.latency('prometheus://host:9090' or an obsnb.toml name, 'metric', ...)")
        raise UsageError(msg)
    qs = _check_q(q)
    keys = F.names(by)
    wanted = [value, *keys, time or "time", "start"]
    lazy = is_scan(df)
    engine = scan_engine(df) if lazy else F.engine_of(df)
    frame = scan_frame(df, wanted) if lazy else F.to_polars(df, wanted)
    time = time or F.default_time(frame)
    need = [value, *keys] + ([time] if every is not None else [])
    F.require(frame, need, "latency", "name the latency column with value=... (e.g. value='duration_ms')")
    dtype = F.schema_of(frame)[value]
    if not (dtype.is_numeric() or dtype == pl.Null or _all_null(frame, value)):  # e.g. an empty object column from pandas
        msg = f"ob.latency: column {value!r} holds {dtype}, not numbers; pass value=<a numeric column>"
        raise UsageError(msg)
    group = [*(["time"] if every is not None else []), *keys]
    step = F.every_ns(every, "latency") if every is not None else None
    cols = [pl.col(value).cast(pl.Float64)] + [pl.col(k) for k in keys]
    if every is not None:
        frame = F.utc_ns(frame, time, "latency")
    v = pl.col(value)
    aggs = [v.count().cast(pl.Int64).alias("count")]
    # drop_nulls first: polars then selects among each group's non-null values only (numpy's linear quantiles of them)
    kept = v.drop_nulls()
    aggs += [kept.quantile(x, interpolation="linear").alias(quantile_name(x)) for x in qs]
    aggs.append(v.null_count().cast(pl.Int64).alias("nan"))
    nan_null = pl.when(v.is_nan()).then(None).otherwise(v).alias(value)
    if step is not None and all(F.schema_of(frame)[k] == pl.String for k in keys):
        out = _by_bucket_key(frame, time, step, keys, cols, nan_null, aggs, lazy)
        if out is not None:
            return F.back(out, engine)
    if every is not None:
        cols.append(F.epoch_floor(time, step).alias("time"))
    work = frame.select(cols).with_columns(nan_null)
    if group:
        out = work.group_by(group).agg(aggs).sort(group, nulls_last=True)
    else:
        out = work.select(aggs)
    return F.back(collect(out) if lazy else out, engine)


def _by_bucket_key(frame: pl.DataFrame | pl.LazyFrame, time: str, step: int, keys: list[str], cols: list[pl.Expr],
                   nan_null: pl.Expr, aggs: list[pl.Expr], lazy: bool) -> pl.DataFrame | None:
    """The per-bucket group-by on one integer key, ``bucket index * m + the by columns' codes`` (``m``: the
    product of each column's distinct values + 1 for null), decoded afterwards: the same groups, so the same
    values per group and the same numbers, for half the memory of grouping on (time, strings) and less time
    (``benchmarks/bench_scan_helpers.py``: its ``plain`` way is the group-by this replaced). A row without a time
    gets the bucket ``lowest``, below every bucket a time can have, and a null ``time`` back. None when the key
    could overflow int64 (a tiny bucket with many codes): the caller then groups on the columns themselves."""
    names: list[list[str]] = []
    for k in keys:  # each column's distinct values: one small aggregate query per by column
        names.append(_run(frame.lazy().group_by(k).agg(), lazy).get_column(k).drop_nulls().sort().to_list())
    sizes = [len(n) + 1 for n in names]
    m = math.prod(sizes)
    lowest = -(2**63 // step) - 2  # floor(int64 min / step) - 1: below every bucket
    if (abs(lowest) + 1) * m >= 2**63:
        return None
    code, stride = pl.lit(0, pl.Int64), 1
    for k, n, size in zip(keys, names, sizes):
        c = pl.col(k).cast(pl.Enum(n)).to_physical().cast(pl.Int64).fill_null(size - 1) if n else pl.lit(0, pl.Int64)
        code, stride = code + c * stride, stride * size
    bucket = (pl.col(time).cast(pl.Int64) // step).fill_null(lowest)
    work = frame.lazy().select(cols[0], (bucket * m + code).alias("_k")).with_columns(nan_null)
    out = _run(work.group_by("_k").agg(aggs), lazy)
    b, rest = pl.col("_k") // m, pl.col("_k") % m
    decoded = [pl.when(b != lowest).then(b * step).cast(pl.Int64).cast(F.TS).alias("time")]
    stride = 1
    for k, n, size in zip(keys, names, sizes):
        decoded.append(pl.lit(pl.Series(k, [*n, None], pl.String)).gather((rest // stride) % size).alias(k))
        stride *= size
    group = ["time", *keys]
    return out.select(*decoded, pl.exclude("_k")).sort(group, nulls_last=True)


def _run(q: pl.LazyFrame, lazy: bool) -> pl.DataFrame:
    """A query on a scan runs on the streaming engine (bounded memory); on a frame, on the in-memory one."""
    return collect(q) if lazy else q.collect()


def _all_null(frame: pl.DataFrame | pl.LazyFrame, value: str) -> bool:
    check = frame.select(pl.col(value).null_count() == pl.len())
    return bool((collect(check) if isinstance(check, pl.LazyFrame) else check).item())
