"""The evidence of one investigation, prepared once: polars ``LazyFrame`` s with an ``_err`` column, the window,
the baseline, the bucket, and the reading (vocabulary). Every detector reads from one ``Ctx``. Ties between
equal times keep the evidence's own order (stable sorts), as on a time-sorted frame.

A detector never holds the evidence's rows: it builds a lazy query and :func:`run` collects its aggregate
(per bucket, entity, unit or value) or a few example rows (``head(k)``). On a scan the query runs over the
store's Parquet (projection and predicate push-down); on a frame over the frame (``_err`` computed once)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
import polars as pl

from ..analysis.failures import error_expr
from ..timeutil import duration_ns, to_ns
from .engine import columns, count, run
from .findings import fmt_time, iso
from .vocabulary import Reading

__all__ = ["Ctx", "TS", "prepare", "examples", "pick_every", "quantile", "q", "pct", "ns_of", "run", "count", "columns"]

TS = pl.Datetime("ns", "UTC")
_STEPS = [60, 300, 600, 900, 1800, 3600, 7200, 21600, 86400]


def pick_every(span_ns: int, buckets: int = 48) -> int:
    """The smallest of 1 min ... 1 day giving at most ``buckets`` buckets over ``span_ns``."""
    for s in _STEPS:
        if span_ns / (s * 1e9) <= buckets:
            return s * 10**9
    return _STEPS[-1] * 10**9


def quantile(values: pl.Series, p: float) -> float | None:
    """numpy's default (linear) percentile; None for no values."""
    v = values.drop_nulls().drop_nans() if values.dtype.is_float() else values.drop_nulls()
    if v.is_empty():
        return None
    return float(v.quantile(p, interpolation="linear"))


def q(expr: pl.Expr, p: float) -> pl.Expr:
    return expr.quantile(p, interpolation="linear")


def pct(x: float | None) -> str:
    return "n/a" if x is None or x != x else f"{x:.1%}"


@dataclasses.dataclass
class Ctx:
    logs: pl.LazyFrame | None
    spans: pl.LazyFrame | None
    metrics: pl.LazyFrame | None
    reading: Reading
    t0: int
    t1: int
    b0: int | None  # baseline start (None: no baseline)
    b1: int | None
    every: int
    ev_end: int  # the end of the evidence (last time seen)
    window_how: str
    baseline_how: str
    rows: dict[str, int]  # rows of each kind of evidence (with a time)
    ev_start: int | None  # the logs' first time

    def has(self, kind: str) -> bool:
        """Whether that kind of evidence has any row."""
        return getattr(self, kind) is not None and self.rows.get(kind, 0) > 0

    def when(self, col: str, lo: int | None, hi: int | None) -> pl.Expr:
        """Rows of a time column in [lo, hi)."""
        e = pl.col(col).is_not_null()
        if lo is not None:
            e &= pl.col(col) >= pl.lit(lo).cast(TS)
        if hi is not None:
            e &= pl.col(col) < pl.lit(hi).cast(TS)
        return e

    def during(self, col: str = "time") -> pl.Expr:
        return self.when(col, self.t0, self.t1)

    def before(self, col: str = "time") -> pl.Expr:
        if self.b0 is None:
            return pl.repeat(False, pl.len())
        return self.when(col, self.b0, self.b1)

    def window_args(self) -> str:
        return f'start="{iso(self.t0)}", end="{iso(self.t1)}"'

    def t(self, ns: int | None) -> str:
        return fmt_time(ns)


def examples(lf: pl.LazyFrame, col: str, k: int, latest: bool = False) -> pl.DataFrame:
    """The first ``k`` rows of ``lf`` in time order (``latest``: the last ``k``, latest first), ties in the
    evidence's order. Two queries: the k-th time from the time column alone, then the whole rows up to it only
    (a time predicate the Parquet reader applies), so no more than those rows' columns are read in full."""
    t = pl.col(col).drop_nulls()
    bound = run(lf.select((t.top_k(k).min() if latest else t.bottom_k(k).max()).alias("b"))).item()
    if bound is None:
        return run(lf.head(0))
    near = pl.col(col) >= pl.lit(bound).cast(TS) if latest else pl.col(col) <= pl.lit(bound).cast(TS)
    rows = lf.filter(near)
    if latest:  # the last k in (time, evidence) order, latest first
        return run(rows.sort(col, maintain_order=True).tail(k)).reverse()
    return run(rows.sort(col, maintain_order=True).head(k))


def ns_of(t: Any) -> int:
    """A time (datetime, pandas Timestamp, ISO text) as epoch nanoseconds."""
    return int(pd.Timestamp(t).value)


def _as_ts(frame: pl.LazyFrame, col: str) -> pl.LazyFrame:
    if col in columns(frame) and columns(frame)[col] != TS:
        frame = frame.with_columns(pl.col(col).cast(TS))
    return frame


def _ready(x: pl.DataFrame | pl.LazyFrame, times: tuple[str, ...], err: bool, **kw: Any) -> pl.LazyFrame:
    """Times as UTC ns, rows without one dropped, ``_err`` added. A frame is prepared once (eagerly); a lazy
    evidence (a scan) stays a plan, run again by each detector's query (no row index: it would stop the time
    predicates reaching the Parquet reader)."""
    lf = x.lazy() if isinstance(x, pl.DataFrame) else x
    for c in times:
        lf = _as_ts(lf, c)
    lf = lf.filter(pl.col(times[0]).is_not_null())
    if err:
        lf = lf.with_columns(error_expr(lf, **kw).alias("_err"))
    return lf.collect().lazy() if isinstance(x, pl.DataFrame) else lf


def prepare(logs: pl.DataFrame | pl.LazyFrame | None, spans: pl.DataFrame | pl.LazyFrame | None,
            metrics: pl.DataFrame | pl.LazyFrame | None, reading: Reading, start: Any, end: Any) -> Ctx:
    """Evidence with ``_err``; the window (given, or found from the error rate) and the baseline."""
    if logs is not None:
        logs = _ready(logs, ("time",), True, event=reading.event_column, failed_events=reading.failed)
    if spans is not None:
        spans = _ready(spans, ("start", "end"), True)
    if metrics is not None:
        metrics = _ready(metrics, ("time",), False)
    bounds, rows, starts = [], {}, {}
    for name, f, c in (("logs", logs, "time"), ("spans", spans, "start"), ("metrics", metrics, "time")):
        if f is None:
            continue
        n, b0, b1 = run(f.select(pl.len(), pl.col(c).min().cast(pl.Int64).alias("lo"), pl.col(c).max().cast(pl.Int64).alias("hi"))).row(0)
        rows[name] = int(n)
        if n:
            bounds.append((b0, b1))
            starts[name] = b0
    lo = min(b[0] for b in bounds) if bounds else 0
    hi = max(b[1] for b in bounds) if bounds else 0
    t0 = to_ns(start) if start is not None else None
    t1 = to_ns(end) if end is not None else None
    how = "given" if start is not None and end is not None else ""
    if t0 is None or t1 is None:
        found = _find_window(logs, spans, rows, lo, hi)
        if t0 is None and t1 is None and found is not None:
            t0, t1, how = found[0], found[1], "found from the error rate"
        else:
            t0 = lo if t0 is None else t0
            t1 = hi + 1 if t1 is None else t1
            how = how or ("start given, end at the end of the evidence" if start is not None else
                          "end given, start at the start of the evidence" if end is not None else "all the evidence")
    every = duration_ns(reading.every) if reading.every else pick_every(max(t1 - t0, 1))
    if reading.baseline:
        b0, b1, bhow = max(lo, t0 - duration_ns(reading.baseline)), t0, f"the {reading.baseline} before the window"
    else:
        b0, b1, bhow = lo, t0, "the evidence before the window"
    if not bounds or lo >= t0:  # nothing before the window: compare within it, and say so
        b0, b1 = t0, t0 + (t1 - t0) // 4
        bhow = "no evidence before the window was loaded: the first quarter of the window"
    return Ctx(logs, spans, metrics, reading, t0, t1, b0, b1, every, max(hi, t0), how, bhow, rows, starts.get("logs"))


def _find_window(logs: pl.LazyFrame | None, spans: pl.LazyFrame | None, rows: dict[str, int], lo: int,
                 hi: int) -> tuple[int, int] | None:
    """The first to the last bucket whose error rate stands out: > max(3x the median bucket's, 5%), >= 3 errors."""
    frame = logs if logs is not None and rows.get("logs") else spans if rows.get("spans") else None
    if frame is None or hi <= lo:
        return None
    col = "time" if frame is logs else "start"
    step = pick_every(hi - lo, 96)
    b = run(frame.group_by((pl.col(col).cast(pl.Int64) // step * step).alias("b"))
            .agg(pl.len().alias("n"), pl.col("_err").sum().alias("e")).sort("b")
            .with_columns((pl.col("e") / pl.col("n")).alias("r")))
    med = float(b.get_column("r").median() or 0.0)
    hot = b.filter((pl.col("r") > max(3 * med, 0.05)) & (pl.col("e") >= 3))
    if hot.is_empty():
        return None
    return int(hot.get_column("b").min()), int(hot.get_column("b").max()) + step
