"""Counters and gauges as PromQL reads them: ``increase``, ``counter_rate``, ``irate``, ``delta``.

The arithmetic is Prometheus 3's (``promql/functions.go``: ``extrapolatedRate``, ``instantValue``):

* a window ending at ``t`` holds the samples in ``(t - window, t]`` (left-open, as in Prometheus 3);
* fewer than two samples in the window give no point;
* ``increase``/``counter_rate`` add the value before every drop (a counter reset) to ``last - first``;
* the result is extrapolated to the window's edges when the first/last sample is within 1.1 average
  sample intervals of the edge, else by half an interval; a counter is never extrapolated below zero;
* ``irate`` is the last two samples' difference (the last value after a reset) per second.

Every series (one label set: every column but ``time``, ``value`` and the underscored ones) is
evaluated at the points of a range query: ``every=None`` evaluates each series at its own sample
times (with ``by=``: every series at every distinct sample time of the input, so that sums line up);
``every="1m"`` at epoch-aligned steps from the first to the last sample, or at
``start + k * every <= end`` when ``start=`` is given (a ``query_range``). Series whose ``_temporality`` is ``"delta"`` (OTLP delta sums and histograms) hold
per-interval amounts already: their ``increase``/``delta`` is the sum of the samples in the window
(no extrapolation, one sample is enough), ``counter_rate`` that sum per second of window, ``irate``
the last sample per second since the one before.

The work is columnar: series come from runs of rows (a join only when a series' rows are scattered),
one int64 series-major key per sample lets numpy ``searchsorted`` find every window's first and last
sample, and the reset corrections are summed over the (rare) drops inside each window; no Python loop
runs per sample or per point. ``benchmarks/bench_counters.py`` compares it with hand-written polars
and DuckDB.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
import polars as pl

from ..errors import ObsnbWarning, UsageError
from . import _frames as F

__all__ = ["increase", "counter_rate", "irate", "delta", "idelta", "warn_if_cumulative"]

NS = 1_000_000_000
_KEEP_ALWAYS = ("metric", "le")  # never summed away by by=: other metrics or other buckets are other things


def _series_keys(frame: pl.DataFrame, time: str) -> list[str]:
    """The label columns that make a series: all but time, value and the underscored columns."""
    return [c for c in frame.columns if c not in (time, "value") and not c.startswith("_")]


def _window_sum(pos: np.ndarray, vals: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """For many windows at once, the sum of the non-zero terms ``vals`` at sorted positions ``pos`` that lie
    in ``[lo, hi]`` (0 for none), with IEEE edge cases.

    Resets are rare, so the terms are kept sparse: a window with one term returns it exactly; more
    terms come from prefix sums of the finite values, and any NaN (or +Inf with -Inf) gives NaN, else an
    infinity wins.
    """
    out = np.zeros(len(lo))
    if not len(pos) or not len(lo):
        return out
    a, b = np.searchsorted(pos, lo, "left"), np.searchsorted(pos, hi, "right")
    some = np.flatnonzero(b > a)
    if not len(some):
        return out
    a, b = a[some], b[some]
    res = vals[b - 1]  # exact when the window holds one term
    many = (b - a) > 1
    if many.any():
        finite = np.isfinite(vals)
        csum = np.concatenate([[0.0], np.cumsum(np.where(finite, vals, 0.0))])
        am, bm = a[many], b[many]
        part = csum[bm] - csum[am]
        if not finite.all():
            def count(mask: np.ndarray) -> np.ndarray:
                c = np.concatenate([[0], np.cumsum(mask)])
                return c[bm] - c[am]

            p, m, q = count(np.isposinf(vals)), count(np.isneginf(vals)), count(np.isnan(vals))
            part = np.where(p > 0, np.inf, part)
            part = np.where(m > 0, -np.inf, part)
            part = np.where((q > 0) | ((p > 0) & (m > 0)), np.nan, part)
        res[many] = part
    out[some] = res
    return out


def _dense_window_sum(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``sum(x[lo..hi])`` for many windows (a delta series' samples)."""
    pos = np.flatnonzero(x != 0)  # NaN counts as non-zero
    return _window_sum(pos, x[pos], lo, hi)


class _Samples:
    """Samples sorted by series then time, with their series table and the searchsorted keys."""

    def __init__(self, frame: pl.DataFrame, time: str, helper: str):
        keys = _series_keys(frame, time)
        temporal = "_temporality" in frame.columns
        cols = [*keys, *(["_temporality"] if temporal else [])]
        data, series = _series_ids(frame.select([*cols, time, "value"]), cols)
        data = data.select(
            pl.col("_sid").cast(pl.Int64), pl.col(time).cast(pl.Int64).alias("_t"),
            pl.col("value").cast(pl.Float64).fill_null(float("nan")),
        )
        bad = data.get_column("_t").null_count()
        if bad:
            msg = f"ob.{helper}: {bad} row(s) have no time and cannot be placed in a window; they are left out"
            warnings.warn(msg, ObsnbWarning, stacklevel=4)
            data = data.filter(pl.col("_t").is_not_null())
        sid, t = data.get_column("_sid").to_numpy(), data.get_column("_t").to_numpy()
        if len(sid) > 1:
            ds, dt = np.diff(sid), np.diff(t)
            if not bool(np.all((ds > 0) | ((ds == 0) & (dt >= 0)))):
                data = data.sort(["_sid", "_t"], maintain_order=True)
                sid, t = data.get_column("_sid").to_numpy(), data.get_column("_t").to_numpy()
        v = data.get_column("value").to_numpy()
        dup = np.flatnonzero((sid[1:] == sid[:-1]) & (t[1:] == t[:-1])) if len(t) > 1 else np.zeros(0, np.int64)
        if len(dup):  # a series holds one sample per time (Prometheus rejects the second): keep the last
            msg = (f"ob.{helper}: {len(dup)} sample(s) share a series and a time with another (overlapping "
                   "files?); the last of each is used, as a re-scrape would overwrite it")
            warnings.warn(msg, ObsnbWarning, stacklevel=4)
            keep = np.ones(len(t), bool)
            keep[dup] = False
            sid, t, v = sid[keep], t[keep], v[keep]
        self.keys, self.series, self.sid, self.t, self.v = keys, series, sid, t, v
        n_series = series.height
        self.starts = np.searchsorted(sid, np.arange(n_series), "left")
        self.ends = np.searchsorted(sid, np.arange(n_series), "right")  # exclusive
        # One sorted int64 key per sample, series-major, so one searchsorted finds a time inside a series:
        # sid * span + (t - t_min) when that fits, else the rank of t among the distinct sample times.
        self.t_min = int(t.min()) if len(t) else 0
        span = int(t.max()) - self.t_min + 1 if len(t) else 1
        self.times = None
        if n_series * span < 2**62:
            self.span, self.key = span, sid * span + (t - self.t_min)
        else:
            self.times = np.unique(t)
            self.span = len(self.times) + 1
            self.key = sid * self.span + np.searchsorted(self.times, t, "left")
        if temporal:
            tmp = series.get_column("_temporality").cast(pl.String).str.to_lowercase()
            self.is_delta = (tmp == "delta").fill_null(False).to_numpy()
        else:
            self.is_delta = np.zeros(n_series, bool)

    def _offset(self, te: np.ndarray) -> np.ndarray:
        """A time as the key's within-series offset: samples at or before ``te`` have offsets <= it."""
        if self.times is None:
            return np.clip(te - self.t_min, -1, self.span - 1)
        return np.searchsorted(self.times, te, "right") - 1

    def grid(self, every: Any, start: Any, end: Any, window_ns: int, helper: str,
             aligned: bool) -> tuple[np.ndarray, np.ndarray]:
        """The evaluation points (series id, time ns) of every series: each grid time whose window can hold samples.

        Without ``every`` each series is evaluated at its own sample times, or (``aligned``, for ``by=``)
        every series at every distinct sample time of the input, so that sums line up.
        """
        if every is None and start is None and end is None:
            if not aligned:
                return self.sid, self.t
            grid = self.times if self.times is not None else np.unique(self.t)
        else:
            if every is None:
                raise UsageError(f"ob.{helper}: start=/end= set a range query's points; pass every= (its step) too")
            step = F.every_ns(every, helper)
            if not len(self.t):
                grid = np.zeros(0, np.int64)
            else:
                s = F.to_ns(start) if start is not None else -(-int(self.t.min()) // step) * step
                e = F.to_ns(end) if end is not None else int(self.t.max())
                grid = s + step * np.arange(max((e - s) // step + 1, 0), dtype=np.int64)
        first_t = self.t[np.minimum(self.starts, len(self.t) - 1)] if len(self.t) else np.zeros(0, np.int64)
        last_t = self.t[np.maximum(self.ends - 1, 0)] if len(self.t) else np.zeros(0, np.int64)
        lo = np.searchsorted(grid, first_t, "left")
        hi = np.searchsorted(grid, last_t + window_ns, "left")  # at last + window the last sample has left
        counts = np.maximum(hi - lo, 0)
        if every is None and counts.sum() > 10 * max(len(self.t), 1_000):
            msg = (f"ob.{helper}: by= evaluates every series at every distinct sample time, and these series are "
                   f"sampled at different times ({len(grid):,} distinct times for {len(self.t):,} samples): pass "
                   "every= (e.g. every='1m') to evaluate them on one grid")
            raise UsageError(msg)
        sid = np.repeat(np.arange(len(lo), dtype=np.int64), counts)
        offs = np.arange(counts.sum(), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        return sid, grid[np.repeat(lo, counts) + offs]

    def windows(self, sid: np.ndarray, te: np.ndarray, window_ns: int,
                own: bool) -> tuple[np.ndarray, np.ndarray]:
        """Global index of the first and the last sample in ``(te - window, te]`` of each point's series.

        ``own``: the points are the samples themselves (each is the last sample of its window).
        """
        base = sid * self.span
        last = np.arange(len(sid)) if own else np.searchsorted(self.key, base + self._offset(te), "right") - 1
        first = np.searchsorted(self.key, base + self._offset(te - window_ns), "right")
        return first, last


def _series_ids(data: pl.DataFrame, cols: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``data`` with a ``_sid`` per label set (numbered by first appearance) and the series table.

    Frames from ``ob.load`` hold each series in one run of rows: then the runs are the series and no
    join is needed.
    """
    if not cols:
        return data.with_columns(pl.lit(0, pl.UInt32).alias("_sid")), pl.DataFrame({"_sid": pl.Series([0], dtype=pl.UInt32)})
    changed = pl.any_horizontal([pl.col(c).ne_missing(pl.col(c).shift(1)) for c in cols])
    run = data.select((changed | (pl.int_range(pl.len()) == 0)).alias("_new"))
    starts = data.filter(run.get_column("_new"))
    if not starts.select(cols).is_duplicated().any():
        sid = run.get_column("_new").cast(pl.UInt32).cum_sum() - 1
        return data.with_columns(sid.alias("_sid")), starts.select(cols).with_row_index("_sid")
    series = data.select(cols).unique(maintain_order=True).with_row_index("_sid")
    return data.join(series, on=cols, how="left", nulls_equal=True, maintain_order="left"), series


CHUNK = 1 << 20  # points per block: block-sized temporaries are reused by the allocator, not faulted in anew


def _extrapolated(s: _Samples, first: np.ndarray, last: np.ndarray, te: np.ndarray, window_ns: int,
                  counter: bool, per_second: bool) -> np.ndarray:
    """Prometheus's extrapolatedRate for every point (first/last: window sample indices, >= 2 samples).

    The float operations are Prometheus's, in its order, so the answers are the same to the last bit
    (reset corrections summed from more than one reset aside). Worked in blocks of points.
    """
    out = np.empty(len(first))
    drops = np.zeros(0, np.int64)
    if counter:  # a drop is a restart: the value before it was lost and is added back
        drops = np.flatnonzero((s.v[1:] < s.v[:-1]) & (s.sid[1:] == s.sid[:-1])) + 1
    for i in range(0, len(first), CHUNK):
        j = slice(i, i + CHUNK)
        out[j] = _extrapolated_block(s, first[j], last[j], te[j], window_ns, counter, per_second, drops)
    return out


def _extrapolated_block(s: _Samples, first: np.ndarray, last: np.ndarray, te: np.ndarray, window_ns: int,
                        counter: bool, per_second: bool, drops: np.ndarray) -> np.ndarray:
    t, v = s.t, s.v
    ft, lt, fv = t[first], t[last], v[first]
    with np.errstate(invalid="ignore", divide="ignore"):
        result = v[last] - fv
        if counter:
            result += _window_sum(drops, v[drops - 1], first + 1, last)
        sampled = (lt - ft) / NS
        to_start = (ft - te + window_ns) / NS
        to_end = (te - lt) / NS
        avg = sampled / (last - first)
        threshold = avg * 1.1
        half = avg / 2
        np.copyto(to_start, half, where=to_start >= threshold)
        if counter:  # never extrapolate a counter below zero
            to_zero = sampled * (fv / result)
            np.copyto(to_start, to_zero, where=(result > 0) & (fv >= 0) & (to_zero < to_start))
        np.copyto(to_end, half, where=to_end >= threshold)
        factor = (sampled + to_start + to_end) / sampled
        if per_second:
            factor /= window_ns / NS
        result *= factor
        return result


def _instant(s: _Samples, last: np.ndarray, counter: bool) -> np.ndarray:
    """Prometheus's instantValue: the last two samples of the window (irate when ``counter``, else idelta)."""
    t, v = s.t, s.v
    a, b = v[last - 1], v[last]
    with np.errstate(invalid="ignore", divide="ignore"):
        if not counter:
            return b - a
        diff = np.where(b < a, b, b - a)
        return diff / ((t[last] - t[last - 1]) / NS)


def _evaluate(metrics: Any, window: Any, how: str, *, by: Any, every: Any, start: Any, end: Any, time: str):
    helper = {"increase": "increase", "rate": "counter_rate", "irate": "irate", "delta": "delta",
              "idelta": "idelta"}[how]
    engine = F.engine_of(metrics)
    if isinstance(metrics, pl.LazyFrame):
        names = metrics.collect_schema().names()
    else:
        names = metrics.column_names if hasattr(metrics, "column_names") else list(metrics.columns)
    names += [n for n in getattr(getattr(metrics, "index", None), "names", []) if n is not None]  # pandas index
    frame = F.to_polars(metrics, [c for c in names if c not in ("_source", "_line")])  # provenance is per sample
    F.require(frame, [time, "value"], helper, "it needs metric samples: time, value and label columns")
    frame = F.utc_ns(frame, time, helper)
    window_ns = F.duration_ns(window)
    if window_ns <= 0:
        raise UsageError(f"ob.{helper}: window={window!r} must be a positive duration like '5m'")
    keep = F.names(by)
    F.require(frame, keep, helper)
    s = _Samples(frame, time, helper)
    sid, te = s.grid(every, start, end, window_ns, helper, aligned=by is not None)
    own = every is None and start is None and end is None and by is None
    first, last = s.windows(sid, te, window_ns, own)
    n = last - first + 1
    delta_series = s.is_delta[sid] if s.is_delta.any() else np.zeros(len(sid), bool)
    ok = n >= np.where(delta_series & (how in ("increase", "delta", "rate")), 1, 2) if s.is_delta.any() else n >= 2
    sid, te, first, last, delta_series = sid[ok], te[ok], first[ok], last[ok], delta_series[ok]
    if how in ("increase", "rate", "delta"):
        value = _extrapolated(s, first, last, te, window_ns, how != "delta", how == "rate")
        if delta_series.any():
            summed = _dense_window_sum(s.v, first, last)
            if how == "rate":
                summed = summed / (window_ns / NS)
            value = np.where(delta_series, summed, value)
    else:
        value = _instant(s, last, how == "irate")
        if how == "irate" and delta_series.any():
            with np.errstate(invalid="ignore", divide="ignore"):
                value = np.where(delta_series, s.v[last] / ((s.t[last] - s.t[last - 1]) / NS), value)
    out = pl.DataFrame([pl.Series("time", te, dtype=pl.Int64).cast(F.TS), pl.Series("value", value, dtype=pl.Float64)])
    if s.keys:
        out = pl.concat([out, s.series.select(s.keys)[pl.Series(sid, dtype=pl.UInt32)]], how="horizontal")
    order = ["time", *(["metric"] if "metric" in s.keys else []), "value", *[k for k in s.keys if k != "metric"]]
    out = out.select(order)
    if by is not None:
        group = ["time", *[c for c in _KEEP_ALWAYS if c in out.columns and c not in keep], *keep]
        out = out.group_by(group, maintain_order=True).agg(pl.col("value").sum())
        out = out.select(["time", *(["metric"] if "metric" in group else []), "value",
                          *[c for c in group[1:] if c != "metric"]])
        out = out.sort([*group[1:], "time"], nulls_last=True, maintain_order=True)
    if time != "time":
        out = out.rename({"time": time})
    return F.back(out, engine)


def increase(metrics: Any, window: Any, *, by: str | Sequence[str] | None = None, every: Any = None,
             start: Any = None, end: Any = None, time: str = "time"):
    """How much each counter grew in the window ending at each point, as PromQL's ``increase(x[window])``.

    ``metrics`` is a metrics frame (``time``, ``metric``, ``value``, label columns). Returns ``time``,
    ``metric``, ``value`` and the label columns (``le`` included, so
    ``ob.histogram_quantile(ob.increase(buckets, "5m"), 0.95)`` is p95 per 5-minute window), one row
    per series and point where the window ``(t - window, t]`` holds two samples or more. Counter
    resets, extrapolation to the window's edges and the zero floor are Prometheus's. ``by=`` sums the
    series over the other labels (``sum by (...)``), keeping ``metric`` and ``le``. ``every=`` (with
    ``start=``/``end=``) picks the points like a range query; default: every sample time.

    >>> import obsnb as ob, polars as pl
    >>> df = pl.DataFrame({"time": [0, 60, 120, 180], "metric": "jobs_total", "value": [0.0, 6.0, 2.0, 8.0]})
    >>> ob.increase(df.with_columns(pl.col("time") * 10**9), "3m")["value"].to_list()
    [6.0, 8.0, 12.0]
    """
    return _evaluate(metrics, window, "increase", by=by, every=every, start=start, end=end, time=time)


def counter_rate(metrics: Any, window: Any, *, by: str | Sequence[str] | None = None, every: Any = None,
                 start: Any = None, end: Any = None, time: str = "time"):
    """Per-second growth of each counter over the window, as PromQL's ``rate(x[window])``.

    Same columns and rules as :func:`increase`, divided by the window in seconds. (``ob.rate`` counts
    events per bucket in logs; this one reads counters.)
    """
    return _evaluate(metrics, window, "rate", by=by, every=every, start=start, end=end, time=time)


def irate(metrics: Any, window: Any, *, by: str | Sequence[str] | None = None, every: Any = None,
          start: Any = None, end: Any = None, time: str = "time"):
    """Per-second growth between the last two samples in the window, as PromQL's ``irate(x[window])``.

    After a reset the last value itself is the growth. Same columns as :func:`increase`.
    """
    return _evaluate(metrics, window, "irate", by=by, every=every, start=start, end=end, time=time)


def delta(metrics: Any, window: Any, *, by: str | Sequence[str] | None = None, every: Any = None,
          start: Any = None, end: Any = None, time: str = "time"):
    """How much each gauge changed over the window, as PromQL's ``delta(x[window])`` (extrapolated, no resets)."""
    return _evaluate(metrics, window, "delta", by=by, every=every, start=start, end=end, time=time)


def idelta(metrics: Any, window: Any, *, by: str | Sequence[str] | None = None, every: Any = None,
           start: Any = None, end: Any = None, time: str = "time"):
    """The difference of the last two samples in the window, as PromQL's ``idelta(x[window])``."""
    return _evaluate(metrics, window, "idelta", by=by, every=every, start=start, end=end, time=time)


def warn_if_cumulative(frame: pl.DataFrame, helper: str, time: str = "time") -> None:
    """Warn when ``frame`` is marked cumulative and a series has more than one sample time.

    ``ob.histogram_quantile`` on such buckets answers "since the process started" at each time;
    ``ob.increase(buckets, "5m")`` first gives per-window counts.
    """
    if "_temporality" not in frame.columns or frame.height == 0:
        return
    cum = frame.filter(pl.col("_temporality") == "cumulative")
    if cum.height == 0:
        return
    keys = _series_keys(cum, time)
    most = cum.group_by(keys).agg(pl.col(time).n_unique()).get_column(time).max() if keys else cum[time].n_unique()
    if most and most > 1:
        msg = (f"ob.{helper}: these samples are cumulative (counts since each process started) and a series has "
               f"{most} sample times; for values per interval use ob.{helper}(ob.increase(metrics, '5m'), ...)")
        warnings.warn(msg, ObsnbWarning, stacklevel=3)
