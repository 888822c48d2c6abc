"""``ob.latency``: percentiles per group and epoch-aligned time bucket."""

from __future__ import annotations

import math
from typing import Any, Sequence

import polars as pl

from ..errors import UsageError
from . import _frames as F
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
    engine = F.engine_of(df)
    qs = _check_q(q)
    keys = F.names(by)
    frame = F.to_polars(df, [value, *keys, time or "time", "start"])
    time = time or F.default_time(frame)
    need = [value, *keys] + ([time] if every is not None else [])
    F.require(frame, need, "latency", "name the latency column with value=... (e.g. value='duration_ms')")
    all_null = frame.get_column(value).null_count() == frame.height  # e.g. an empty object column from pandas
    if not (frame.schema[value].is_numeric() or all_null):
        msg = f"ob.latency: column {value!r} holds {frame.schema[value]}, not numbers; pass value=<a numeric column>"
        raise UsageError(msg)
    group = list(keys)
    cols = [pl.col(value).cast(pl.Float64)] + [pl.col(k) for k in keys]
    if every is not None:
        frame = F.utc_ns(frame, time, "latency")
        cols.append(F.epoch_floor(time, F.every_ns(every, "latency")).alias("time"))
        group = ["time", *keys]
    v = pl.col(value)
    work = frame.select(cols).with_columns(pl.when(v.is_nan()).then(None).otherwise(v).alias(value))
    aggs = [v.count().cast(pl.Int64).alias("count")]
    aggs += [v.quantile(x, interpolation="linear").alias(quantile_name(x)) for x in qs]
    aggs.append(v.null_count().cast(pl.Int64).alias("nan"))
    if group:
        out = work.group_by(group).agg(aggs).sort(group, nulls_last=True)
    else:
        out = work.select(aggs)
    return F.back(out, engine)
