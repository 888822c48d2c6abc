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
        cols.append(F.epoch_floor(time, step).alias("time"))
    v = pl.col(value)
    work = frame.select(cols).with_columns(pl.when(v.is_nan()).then(None).otherwise(v).alias(value))
    aggs = [v.count().cast(pl.Int64).alias("count")]
    # drop_nulls first: polars then selects among each group's non-null values only (numpy's linear quantiles of them)
    kept = v.drop_nulls()
    aggs += [kept.quantile(x, interpolation="linear").alias(quantile_name(x)) for x in qs]
    aggs.append(v.null_count().cast(pl.Int64).alias("nan"))
    if group:
        out = work.group_by(group).agg(aggs).sort(group, nulls_last=True)
    else:
        out = work.select(aggs)
    return F.back(collect(out) if lazy else out, engine)


def _all_null(frame: pl.DataFrame | pl.LazyFrame, value: str) -> bool:
    check = frame.select(pl.col(value).null_count() == pl.len())
    return bool((collect(check) if isinstance(check, pl.LazyFrame) else check).item())
