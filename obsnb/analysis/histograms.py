"""``ob.histogram_quantile``: PromQL's ``histogram_quantile`` over Prometheus classic histogram buckets.

The arithmetic follows Prometheus's ``promql/quantile.go`` (``BucketQuantile``) step by step: q outside
[0, 1] gives -Inf/+Inf and NaN gives NaN before anything else; buckets are sorted by upper bound; no
``+Inf`` bucket gives NaN; buckets with the same upper bound written differently (``"0.2"``, ``"2e-1"``)
are merged; counts that decrease are raised to the previous count, and differences below a relative
1e-12 are ignored; fewer than two buckets or zero observations give NaN; the rank ``q * total`` is
located in the first bucket whose count reaches it and interpolated linearly inside it, with the
lowest bucket starting at 0 unless its upper bound is <= 0, and the ``+Inf`` bucket answering with
the largest finite upper bound.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np
import polars as pl

from ..errors import ObsnbWarning
from . import _frames as F
from .counters import warn_if_cumulative

__all__ = ["histogram_quantile", "parse_le"]

SMALL_DELTA = 1e-12  # Prometheus' smallDeltaTolerance
_MIN_NORMAL = 2.2250738585072014e-308
_SKIP = {"value", "le", "_source", "_line", "_type", "_temporality"}


def parse_le(text: str | None) -> float | None:
    """An ``le`` label as a float the way Go's ``strconv.ParseFloat`` reads it (``"+Inf"``, ``".2"``, ``"1e0"``)."""
    if text is None:
        return None
    s = str(text).strip()
    if not s or "_" in s:
        return None
    try:
        return float(s)
    except ValueError:
        try:
            return float.fromhex(s) if s.lower().lstrip("+-").startswith("0x") else None
        except ValueError:
            return None


def _almost_equal(a: float, b: float, eps: float) -> bool:
    if a == b or (math.isnan(a) and math.isnan(b)):
        return True
    abs_sum, diff = abs(a) + abs(b), abs(a - b)
    if a == 0 or b == 0 or abs_sum < _MIN_NORMAL:
        return diff < eps * _MIN_NORMAL
    return diff / min(abs_sum, 1.7976931348623157e308) < eps


def _fix_monotonic(counts: np.ndarray) -> None:
    """Prometheus' ensureMonotonicAndIgnoreSmallDeltas on one histogram's sorted counts, in place."""
    prev = counts[0]
    for i in range(1, len(counts)):
        curr = counts[i]
        if curr == prev:
            continue
        if _almost_equal(prev, curr, SMALL_DELTA) or curr < prev:
            counts[i] = prev
            continue
        prev = curr


def _quantiles(q: float, ub: np.ndarray, cm: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """BucketQuantile for every histogram at once (rows sorted by histogram, then upper bound)."""
    n_groups = len(starts)
    if math.isnan(q):
        return np.full(n_groups, np.nan)
    if q < 0:
        return np.full(n_groups, -np.inf)
    if q > 1:
        return np.full(n_groups, np.inf)
    out = np.full(n_groups, np.nan)
    if n_groups == 0:
        return out
    last = starts + lens - 1
    total = cm[last]
    ok = (lens >= 2) & np.isposinf(ub[last]) & (total != 0) & ~np.isnan(total)
    pos = np.arange(len(ub)) - np.repeat(starts, lens)
    rank = q * total
    hit = (cm >= np.repeat(rank, lens)) & (pos <= np.repeat(lens, lens) - 2)
    b = np.minimum.reduceat(np.where(hit, pos, np.repeat(lens - 1, lens)), starts)
    idx_b = starts + b
    prev_idx = np.maximum(idx_b - 1, 0)
    has_prev = b > 0
    bucket_start = np.where(has_prev, ub[prev_idx], 0.0)
    prev_count = np.where(has_prev, cm[prev_idx], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        res = bucket_start + (ub[idx_b] - bucket_start) * ((rank - prev_count) / (cm[idx_b] - prev_count))
    res = np.where((b == 0) & (ub[starts] <= 0), ub[starts], res)  # lowest bucket with upper bound <= 0
    res = np.where(b == lens - 1, ub[np.maximum(starts + lens - 2, 0)], res)  # rank in the +Inf bucket
    out[ok] = res[ok]
    return out


def _bucket_rows(frame: pl.DataFrame, le: str) -> pl.DataFrame:
    """Rows with a readable ``le``, with its value as float column ``_ub``; warns about unreadable ones."""
    labels = frame.get_column(le).cast(pl.String).unique().to_list()
    parsed = {s: parse_le(s) for s in labels if s is not None}
    bad = sorted(s for s, v in parsed.items() if v is None or math.isnan(v))
    if bad:
        msg = (
            f"ob.histogram_quantile: bucket label {le!r} has unreadable value(s) {bad[:5]}; those buckets "
            "are ignored (Prometheus ignores them too)"
        )
        warnings.warn(msg, ObsnbWarning, stacklevel=3)
    good = {s: v for s, v in parsed.items() if v is not None and not math.isnan(v)}
    mapping = pl.DataFrame({le: list(good), "_ub": list(good.values())}, schema={le: pl.String, "_ub": pl.Float64})
    return frame.with_columns(pl.col(le).cast(pl.String)).join(mapping, on=le, how="inner")


def histogram_quantile(
    metrics: Any,
    q: float | Sequence[float],
    *,
    by: str | Sequence[str] | None = None,
    time: str = "time",
    le: str = "le",
):
    """The ``q``-quantile of Prometheus classic histograms, as PromQL's ``histogram_quantile`` computes it.

    ``metrics`` holds bucket samples: ``time``, ``value`` (cumulative counts, or their rates), ``le``
    (as Prometheus writes it: ``"0.1"``, ``".2"``, ``"1e0"``, ``"+Inf"``) and label columns. Without
    ``by`` each label set (``metric`` included, ``_bucket`` dropped from its name) at each time is its
    own histogram; with ``by`` the buckets are first summed over the other labels, like
    ``histogram_quantile(q, sum by (le, <by>) (...))``. Rows without ``le`` (``_sum``, ``_count``) are
    ignored. Returns ``time``, the label columns, ``value``; with a list of ``q`` one row per quantile
    and a ``q`` column (like ``histogram_quantiles``). Edge cases are Prometheus's: q < 0 -> -Inf,
    q > 1 -> +Inf, NaN -> NaN, no ``+Inf`` bucket or no observations -> NaN.
    """
    engine = F.engine_of(metrics)
    qs = [float(q)] if isinstance(q, (int, float)) else [float(x) for x in q]
    odd = [x for x in qs if not 0 <= x <= 1]
    if odd:  # Prometheus answers -Inf/+Inf/NaN and warns; so do we
        msg = f"ob.histogram_quantile: quantile value should be between 0 and 1, got {odd[0]}"
        warnings.warn(msg, ObsnbWarning, stacklevel=2)
    frame = F.to_polars(metrics)
    F.require(frame, [time, "value"], "histogram_quantile", "it needs Prometheus samples: time, value, le")
    if le not in frame.columns or frame.get_column(le).null_count() == frame.height:
        if frame.height:
            msg = (
                f"ob.histogram_quantile: no {le!r} bucket label in the frame; select the histogram's "
                "'_bucket' series (e.g. metric == 'http_request_duration_seconds_bucket')"
            )
            warnings.warn(msg, ObsnbWarning, stacklevel=2)
        frame = frame.with_columns(pl.lit(None, pl.String).alias(le)) if le not in frame.columns else frame
    frame = F.utc_ns(frame, time, "histogram_quantile")
    warn_if_cumulative(frame.filter(pl.col(le).is_not_null()), "histogram_quantile", time)
    keys = F.names(by)
    if by is None:
        keys = [c for c in frame.columns if c not in _SKIP and c not in (time, le)]
    F.require(frame, keys, "histogram_quantile")
    rows = _bucket_rows(frame.filter(pl.col(le).is_not_null()), le)
    if "metric" in keys:
        rows = rows.with_columns(pl.col("metric").str.replace(r"_bucket$", ""))
    group = [time, *keys]
    summed = (
        rows.group_by([*group, "_ub"])
        .agg(pl.col("value").cast(pl.Float64).sum())
        .sort([*group, "_ub"], nulls_last=True)
    )
    heads = summed.group_by(group, maintain_order=True).agg(pl.len().alias("_n"))
    lens = heads.get_column("_n").to_numpy().astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64) if len(lens) else lens
    ub = summed.get_column("_ub").to_numpy().astype(np.float64)
    cm = summed.get_column("value").to_numpy().astype(np.float64).copy()
    if len(cm):
        same_group = np.ones(len(cm), bool)
        same_group[starts] = False
        prev = np.roll(cm, 1)
        tiny = np.abs(cm - prev) < 1e-11 * (np.abs(cm) + np.abs(prev))
        suspicious = same_group & (cm != prev) & ((cm < prev) | tiny)
        for g in np.unique(np.searchsorted(starts, np.flatnonzero(suspicious), side="right") - 1):
            s, n = starts[g], lens[g]
            _fix_monotonic(cm[s : s + n])
    parts = []
    for x in qs:
        vals = _quantiles(x, ub, cm, starts, lens)
        part = heads.drop("_n").with_columns(pl.Series("value", vals, dtype=pl.Float64))
        if not isinstance(q, (int, float)):
            part = part.insert_column(len(group), pl.Series("q", [x] * part.height, dtype=pl.Float64))
        parts.append(part)
    out = pl.concat(parts) if parts else heads.drop("_n").with_columns(pl.lit(None, pl.Float64).alias("value"))
    if time != "time":
        out = out.rename({time: "time"})
    return F.back(out, engine)
