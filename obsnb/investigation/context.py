"""The evidence of one investigation, prepared once: polars frames with an ``_err`` column, the window,
the baseline, the bucket, and the reading (vocabulary). Every detector reads from one ``Ctx``."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
import polars as pl

from ..analysis.failures import error_expr
from ..timeutil import duration_ns, to_ns
from .findings import fmt_time, iso
from .vocabulary import Reading

__all__ = ["Ctx", "TS", "prepare", "pick_every", "quantile", "q", "pct", "ns_of"]

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
    logs: pl.DataFrame | None
    spans: pl.DataFrame | None
    metrics: pl.DataFrame | None
    reading: Reading
    t0: int
    t1: int
    b0: int | None  # baseline start (None: no baseline)
    b1: int | None
    every: int
    ev_end: int  # the end of the evidence (last time seen)
    window_how: str
    baseline_how: str

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


def ns_of(t: Any) -> int:
    """A time (datetime, pandas Timestamp, ISO text) as epoch nanoseconds."""
    return int(pd.Timestamp(t).value)


def _as_ts(frame: pl.DataFrame, col: str) -> pl.DataFrame:
    if col in frame.columns and frame.schema[col] != TS:
        frame = frame.with_columns(pl.col(col).cast(TS))
    return frame


def prepare(logs: pl.DataFrame | None, spans: pl.DataFrame | None, metrics: pl.DataFrame | None, reading: Reading,
            start: Any, end: Any) -> Ctx:
    """Frames with ``_err``, time-sorted; the window (given, or found from the error rate) and the baseline."""
    if logs is not None:
        logs = _as_ts(logs, "time").filter(pl.col("time").is_not_null()).sort("time", maintain_order=True)
        logs = logs.with_columns(error_expr(logs, event=reading.event_column, failed_events=reading.failed).alias("_err"))
    if spans is not None:
        spans = _as_ts(_as_ts(spans, "start"), "end").filter(pl.col("start").is_not_null()).sort("start", maintain_order=True)
        spans = spans.with_columns(error_expr(spans).alias("_err"))
    if metrics is not None:
        metrics = _as_ts(metrics, "time").filter(pl.col("time").is_not_null())
    bounds = []
    for f, c in ((logs, "time"), (spans, "start"), (metrics, "time")):
        if f is not None and not f.is_empty():
            bounds.append(f.select(pl.col(c).min().cast(pl.Int64).alias("lo"), pl.col(c).max().cast(pl.Int64).alias("hi")).row(0))
    lo = min(b[0] for b in bounds) if bounds else 0
    hi = max(b[1] for b in bounds) if bounds else 0
    t0 = to_ns(start) if start is not None else None
    t1 = to_ns(end) if end is not None else None
    how = "given" if start is not None and end is not None else ""
    if t0 is None or t1 is None:
        found = _find_window(logs, spans, lo, hi)
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
    return Ctx(logs, spans, metrics, reading, t0, t1, b0, b1, every, max(hi, t0), how, bhow)


def _find_window(logs: pl.DataFrame | None, spans: pl.DataFrame | None, lo: int, hi: int) -> tuple[int, int] | None:
    """The first to the last bucket whose error rate stands out: > max(3x the median bucket's, 5%), >= 3 errors."""
    frame = logs if logs is not None and not logs.is_empty() else spans
    if frame is None or frame.is_empty() or hi <= lo:
        return None
    col = "time" if "time" in frame.columns else "start"
    step = pick_every(hi - lo, 96)
    b = (frame.group_by((pl.col(col).cast(pl.Int64) // step * step).alias("b"))
         .agg(pl.len().alias("n"), pl.col("_err").sum().alias("e")).sort("b")
         .with_columns((pl.col("e") / pl.col("n")).alias("r")))
    med = float(b.get_column("r").median() or 0.0)
    hot = b.filter((pl.col("r") > max(3 * med, 0.05)) & (pl.col("e") >= 3))
    if hot.is_empty():
        return None
    return int(hot.get_column("b").min()), int(hot.get_column("b").max()) + step
