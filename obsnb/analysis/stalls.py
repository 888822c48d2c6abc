"""Units of work that started and never finished: ``ob.stalls`` and the "age of the oldest job" signal.

A unit (job, message, request: whatever ``key`` names) is *in flight* from a ``started`` event until
the next ``finished`` event with the same key. A second ``started`` while in flight (a retry) does not
restart the clock: the age counts from the first start of the episode.
"""

from __future__ import annotations

from typing import Any, Sequence

import duckdb
import numpy as np
import polars as pl

from ..errors import UsageError
from ..timeutil import to_ns
from . import _frames as F

__all__ = ["stalls", "oldest_age", "episodes"]


def _names(value: str | Sequence[str], what: str) -> list[str]:
    vals = [value] if isinstance(value, str) else list(value or [])
    if not vals:
        msg = f"ob.stalls: {what}= needs the event name(s) that mark it, e.g. {what}='job_started'"
        raise UsageError(msg)
    return vals


def episodes(frame: pl.DataFrame, key: str, started: list[str], finished: list[str], time: str) -> pl.DataFrame:
    """One row per in-flight episode: ``key``, ``started`` (first start), ``finished`` (null if never)."""
    ev = pl.col("event")
    marks = frame.filter(ev.is_in(started + finished) & pl.col(key).is_not_null() & pl.col(time).is_not_null())
    marks = marks.select(
        pl.col(key), pl.col(time).alias("_t"), ev.is_in(finished).alias("_fin")
    ).sort([key, "_t", "_fin"])  # a start and a finish at the same instant: start first
    same = pl.col(key).eq_missing(pl.col(key).shift(1)).fill_null(False)
    prev_fin = pl.col("_fin").shift(1).fill_null(True)
    next_fin = pl.when(pl.col("_fin")).then(pl.col("_t")).backward_fill().over(key)
    marks = marks.with_columns(next_fin.alias("finished"))
    opens = marks.filter(~pl.col("_fin") & (~same | prev_fin))
    return opens.select(pl.col(key), pl.col("_t").alias("started"), pl.col("finished"))


def _prepare(logs: Any, key: str, time: str | None, helper: str) -> tuple[pl.DataFrame, str]:
    frame = F.to_polars(logs)
    time = time or F.default_time(frame)
    F.require(frame, [key, "event", time], helper, "key= names the unit of work's id column (e.g. key='job_id')")
    return F.utc_ns(frame, time, helper), time


def stalls(
    logs: Any,
    *,
    key: str,
    started: str | Sequence[str],
    finished: str | Sequence[str],
    older_than: Any = 0,
    at: Any = None,
    every: Any = None,
    time: str | None = None,
):
    """Units of work that started and never finished, oldest first.

    ``started``/``finished`` are event names (or lists: ``finished=["job_completed", "job_failed"]``).
    ``at`` is the moment to judge from; by default the time of the last row in ``logs`` (the end of the
    evidence, not the wall clock, so an old incident reads the same tomorrow). Returns ``key``,
    ``started``, ``age`` (``at - started``), ``last_seen`` and ``last_event`` (the unit's latest row up to
    ``at``) and ``service`` when present, for units in flight at ``at`` for longer than ``older_than``.

    With ``every`` it returns the "age of the oldest job" series instead (see :func:`oldest_age`).
    """
    if every is not None:
        return oldest_age(logs, key=key, started=started, finished=finished, every=every, time=time)
    engine = F.engine_of(logs)
    frame, time = _prepare(logs, key, time, "stalls")
    st, fin = _names(started, "started"), _names(finished, "finished")
    at_ns = to_ns(at) if at is not None else frame.get_column(time).cast(pl.Int64).max()
    limit = F.duration_ns(older_than)
    at_lit = pl.lit(at_ns if at_ns is not None else 0, pl.Int64).cast(F.TS)
    frame = frame.filter(pl.col(time) <= at_lit)
    eps = episodes(frame, key, st, fin, time)
    open_ = eps.filter(pl.col("finished").is_null()).with_columns((at_lit - pl.col("started")).alias("age"))
    open_ = open_.filter(pl.col("age").dt.total_nanoseconds() > limit)
    extra = ["service"] if "service" in frame.columns and key != "service" else []
    last = (
        frame.filter(pl.col(key).is_not_null())
        .sort(time)
        .group_by(key)
        .agg(
            pl.col(time).last().alias("last_seen"),
            pl.col("event").last().alias("last_event"),
            *[pl.col(c).drop_nulls().first() for c in extra],
        )
    )
    out = open_.drop("finished").join(last, on=key, how="left").sort(["age", key], descending=[True, False])
    return F.back(out.select([key, "started", "age", "last_seen", "last_event", *extra]), engine)


def oldest_age(
    logs: Any,
    *,
    key: str,
    started: str | Sequence[str],
    finished: str | Sequence[str],
    every: Any,
    start: Any = None,
    end: Any = None,
    time: str | None = None,
):
    """The "age of the oldest job" signal: at the end of each epoch-aligned bucket, how many units are in flight
    and how long the oldest of them has been.

    Returns ``time`` (bucket start), ``in_flight`` and ``oldest_age`` (a duration; null when nothing is
    in flight). A unit counts as in flight at instant T when its episode started at or before T and had
    not finished by T. Buckets run from the first event (or ``start``) to the last (or ``end``).
    """
    engine = F.engine_of(logs)
    frame, time = _prepare(logs, key, time, "oldest_age")
    step = F.every_ns(every, "oldest_age")
    eps = episodes(frame, key, _names(started, "started"), _names(finished, "finished"), time)
    ints = frame.get_column(time).cast(pl.Int64)
    lo = to_ns(start) if start is not None else ints.min()
    hi = to_ns(end) - 1 if end is not None else ints.max()
    if lo is None or hi is None or hi < lo:
        empty = pl.DataFrame(schema={"time": F.TS, "in_flight": pl.Int64, "oldest_age": pl.Duration("ns")})
        return F.back(empty, engine)
    lo, hi = (lo // step) * step, (hi // step) * step
    grid = pl.DataFrame({"_b": np.arange(lo, hi + 1, step, dtype=np.int64)})
    grid = grid.with_columns((pl.col("_b") + step - 1).alias("_at"))
    ep = eps.select(
        pl.col("started").cast(pl.Int64).alias("s"),
        pl.col("finished").cast(pl.Int64).fill_null(np.iinfo(np.int64).max).alias("f"),
    )
    con = duckdb.connect()
    con.execute("SET enable_progress_bar=false")
    con.register("grid", grid.to_arrow())
    con.register("ep", ep.to_arrow())
    res = con.sql(
        """SELECT g._b AS b, count(ep.s) AS in_flight, max(g._at - ep.s) AS age
           FROM grid g LEFT JOIN ep ON ep.s <= g._at AND g._at < ep.f
           GROUP BY g._b ORDER BY g._b"""
    ).to_arrow_table()
    con.close()
    out = pl.from_arrow(res).select(
        pl.col("b").cast(F.TS).alias("time"),
        pl.col("in_flight").cast(pl.Int64),
        (pl.col("age") + 1).cast(pl.Duration("ns")).alias("oldest_age"),
    )
    return F.back(out, engine)
