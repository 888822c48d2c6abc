"""``ob.retries``: units of work retried again and again ("retrying forever")."""

from __future__ import annotations

from typing import Any, Sequence

import polars as pl

from ..errors import UsageError
from . import _frames as F

__all__ = ["retries", "retries_plan"]


def retries(
    logs: Any,
    *,
    key: str,
    min_attempts: int = 3,
    started: str | Sequence[str] | None = None,
    attempt: str | None = None,
    time: str | None = None,
):
    """Units of work attempted at least ``min_attempts`` times, most attempts first.

    How attempts are counted, first rule that applies: ``started=`` event name(s) given -> the number
    of those events per unit; else an attempt column (``attempt=``, default ``attempt`` when the frame
    has one) -> the number of distinct attempt values (so 0- and 1-based counters agree). Returns
    ``key``, ``attempts``, ``first`` and ``last`` (times of the unit's first and last row), ``events``
    (rows about the unit), ``error_types`` (distinct ``error_type`` values seen, sorted, joined with
    ", "; null when none), ``last_event`` and ``last_level`` (its final status) and ``service``.
    """
    engine = F.engine_of(logs)
    frame = F.to_polars(logs)
    time = time or F.default_time(frame)
    F.require(frame, [key, time], "retries", "key= names the unit of work's id column (e.g. key='job_id')")
    frame = F.utc_ns(frame, time, "retries")
    return F.back(retries_plan(frame.lazy(), key=key, min_attempts=min_attempts, started=started, attempt=attempt,
                               time=time).collect(), engine)


def retries_plan(frame: pl.LazyFrame, *, key: str, min_attempts: int = 3, started: str | Sequence[str] | None = None,
                 attempt: str | None = None, time: str = "time") -> pl.LazyFrame:
    """:func:`retries` as a lazy query over ``frame`` (times already UTC): nothing is read until it is collected,
    and collecting it materialises one row per retried unit (an ``ob.investigate`` on a scan runs it in the engine)."""
    have = frame.collect_schema()
    frame = frame.filter(pl.col(key).is_not_null())
    if started is not None:
        names = [started] if isinstance(started, str) else list(started)
        F.require(frame, ["event"], "retries")
        count = pl.col("event").is_in(names).sum()
    else:
        attempt = attempt or ("attempt" if "attempt" in have else None)
        if attempt is None:
            msg = (
                "ob.retries: cannot tell attempts apart; pass started='<event that begins an attempt>' "
                "or attempt='<column with the attempt number>'"
            )
            raise UsageError(msg)
        F.require(frame, [attempt], "retries")
        count = pl.col(attempt).drop_nulls().n_unique()
    aggs = [
        count.cast(pl.Int64).alias("attempts"),
        pl.col(time).min().alias("first"),
        pl.col(time).max().alias("last"),
        pl.len().cast(pl.Int64).alias("events"),
    ]
    if "error_type" in have:
        errs = pl.col("error_type").cast(pl.String).drop_nulls().unique().sort().str.join(", ")
        aggs.append(pl.when(errs == "").then(None).otherwise(errs).alias("error_types"))
    else:
        aggs.append(pl.lit(None, pl.String).alias("error_types"))
    for col, name in (("event", "last_event"), ("level", "last_level")):
        aggs.append(pl.col(col).last().alias(name) if col in have else pl.lit(None, pl.String).alias(name))
    if "service" in have and key != "service":
        aggs.append(pl.col("service").drop_nulls().first().alias("service"))
    return (
        frame.sort(time, maintain_order=True)
        .group_by(key)
        .agg(aggs)
        .filter(pl.col("attempts") >= min_attempts)
        .sort(["attempts", "last", key], descending=[True, True, False])
    )
