"""Which metrics moved between a baseline and a window, each read by its kind, per label set.

A counter is compared as its rate per second (``ob.counter_rate``: reset-aware and extrapolated as PromQL's
``rate``, delta sums summed), a gauge as its mean value, a histogram as its p95 from the buckets
(``ob.histogram_quantile(ob.increase(buckets, period), 0.95)``), a summary's quantile series as values. The kind
comes from the type metadata (``_type``: a ``# TYPE`` line, OTLP's sum/gauge/histogram), else from the name
(Prometheus conventions: ``_total``, ``_count``, ``_sum`` are counters, ``_bucket`` with ``le`` a histogram,
anything else a gauge), else from ``kinds={metric: kind}`` given by the user, which wins.

Everything is aggregated in the engine: a scan's rows are never collected, only one row per label set (and per
bucket bound of a histogram, or per chart step).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import polars as pl

from ..errors import UsageError
from . import _frames as F
from .histograms import histogram_quantile, parse_le
from .lazy import collect

__all__ = ["KINDS", "metric_kinds", "moved", "over_time", "label_text"]

KINDS = ("counter", "gauge", "histogram", "summary")
READ_AS = {"counter": "rate per second", "gauge": "mean value", "histogram": "p95 from the buckets",
           "summary": "mean of each quantile"}
_META = ("time", "value", "_source", "_line", "_type", "_temporality")


def _ts(ns: int) -> pd.Timestamp:
    return pd.Timestamp(int(ns), tz="UTC")


def _labels(lf: pl.LazyFrame) -> list[str]:
    """The label columns (every column but time, metric, value and the underscored ones)."""
    return [c for c in lf.collect_schema().names() if c not in _META and c != "metric" and not c.startswith("_")]


def metric_kinds(metrics: pl.LazyFrame, given: dict[str, str] | None = None) -> pl.DataFrame:
    """One row per metric as the overview names it: ``metric`` (a histogram by its name without ``_bucket``),
    ``kind``, ``how`` (``given``, ``type metadata`` or ``name convention``), ``series`` (the stored metric names it
    reads). A histogram's ``_sum``/``_count`` and a summary's are part of it, not metrics of their own."""
    given = dict(given or {})
    bad = {k: v for k, v in given.items() if v not in KINDS}
    if bad:
        raise UsageError(f"metric kinds are {', '.join(KINDS)}; got {bad}")
    sch = metrics.collect_schema()
    typ = pl.col("_type").cast(pl.String).drop_nulls().first() if "_type" in sch else pl.lit(None, pl.String)
    le = pl.col("le").is_not_null().any() if "le" in sch else pl.lit(False)
    qu = pl.col("quantile").is_not_null().any() if "quantile" in sch else pl.lit(False)
    per = collect(metrics.filter(pl.col("metric").is_not_null()).group_by("metric")
                  .agg(typ.alias("type"), le.alias("le"), qu.alias("quantile")).sort("metric"))
    rows = {}
    names = set(per.get_column("metric").to_list())
    for m, typ_, has_le, has_q in per.iter_rows():
        base = m[:-7] if m.endswith("_bucket") and has_le else m
        if base != m:  # buckets: the histogram named without _bucket
            rows[base] = ("histogram", "type metadata" if typ_ == "histogram" else "name convention", [m])
        elif has_q:
            rows[m] = ("summary", "type metadata" if typ_ == "summary" else "name convention", [m])
    for m, typ_, has_le, has_q in per.iter_rows():
        if m in rows or (m.endswith("_bucket") and has_le):
            continue
        base = next((m[: -len(s)] for s in ("_sum", "_count") if m.endswith(s)), None)
        if base is not None and base in rows and rows[base][0] in ("histogram", "summary"):
            rows[base][2].append(m)  # its _sum/_count: read with it
            continue
        if typ_ in ("counter", "gauge"):
            rows[m] = (typ_, "type metadata", [m])
        elif typ_ in ("histogram", "summary"):  # a _sum/_count typed as its histogram's, with no buckets: counts
            rows[m] = ("counter", "type metadata", [m])
        elif m.endswith(("_total", "_count", "_sum")):
            rows[m] = ("counter", "name convention", [m])
        else:
            rows[m] = ("gauge", "name convention", [m])
    for m, k in given.items():
        if m in rows or m in names:
            rows[m] = (k, "given", rows[m][2] if m in rows else [m])
    return pl.DataFrame([{"metric": m, "kind": k, "how": h, "series": s} for m, (k, h, s) in sorted(rows.items())],
                        schema={"metric": pl.String, "kind": pl.String, "how": pl.String, "series": pl.List(pl.String)})


def label_text(row: dict, labels: list[str]) -> str:
    """A label set as ``a=1, b=x`` (its non-null labels), ``(no labels)`` for none."""
    parts = [f"{c}={row[c]}" for c in labels if row.get(c) is not None]
    return ", ".join(parts) or "(no labels)"


NS = 1_000_000_000


SIG = 12  # significant digits kept: sums of floats differ in their last bits with the order the engine adds them in


def _mean(col: pl.Expr) -> pl.Expr:
    """The mean, NaN left out."""
    return col.cast(pl.Float64).fill_nan(None).mean()


def _same_bits(frame: pl.DataFrame) -> pl.DataFrame:
    """``value`` to 12 significant digits: a scan and a loaded frame (their rows read in another order, so their
    sums added in another order) draw the same report."""
    return frame.with_columns(pl.col("value").round_sig_figs(SIG))


def _increase(rows: pl.LazyFrame, keys: list[str], lo: int, hi: int, per_second: bool) -> pl.LazyFrame:
    """PromQL's ``increase`` (``rate`` with ``per_second``) of every series of ``rows`` over the samples of [lo, hi),
    as :mod:`obsnb.analysis.counters` computes it at ``hi - 1`` with a window of ``hi - lo`` (its
    ``_extrapolated_block``, Prometheus's extrapolatedRate: resets added back, extrapolated to the window's edges
    within 1.1 sample intervals, else by half one, never below zero), as aggregates in the engine: one row per
    series (``keys`` and ``value``). A delta series (``_temporality`` ``delta``) sums its samples."""
    t, v = pl.col("time").cast(pl.Int64), pl.col("value").cast(pl.Float64)
    delta = (pl.col("_temporality").cast(pl.String) == "delta").fill_null(False).any() \
        if "_temporality" in rows.collect_schema() else pl.lit(False)
    prev = v.shift(1).over(keys)
    per = (rows.filter((t >= lo) & (t < hi)).sort([*keys, "time"], maintain_order=True, nulls_last=True)
           .with_columns(pl.when(v < prev).then(prev).otherwise(0.0).alias("_drop"))
           .group_by(keys).agg(pl.len().alias("_n"), t.first().alias("_ft"), t.last().alias("_lt"), v.first().alias("_fv"),
                               v.last().alias("_lv"), pl.col("_drop").sum().alias("_drops"), v.sum().alias("_sum"),
                               delta.alias("_delta")))
    te, window = hi - 1, hi - lo
    result = pl.col("_lv") - pl.col("_fv") + pl.col("_drops")
    sampled = (pl.col("_lt") - pl.col("_ft")) / NS
    avg = sampled / (pl.col("_n") - 1)
    to_start = (pl.col("_ft") - te + window) / NS
    to_start = pl.when(to_start >= avg * 1.1).then(avg / 2).otherwise(to_start)
    to_zero = sampled * (pl.col("_fv") / result)
    to_start = pl.when((result > 0) & (pl.col("_fv") >= 0) & (to_zero < to_start)).then(to_zero).otherwise(to_start)
    to_end = (te - pl.col("_lt")) / NS
    to_end = pl.when(to_end >= avg * 1.1).then(avg / 2).otherwise(to_end)
    value = result * (sampled + to_start + to_end) / sampled
    summed = pl.col("_sum")
    if per_second:
        value, summed = value / (window / NS), summed / (window / NS)
    return (per.filter(pl.col("_delta") | (pl.col("_n") >= 2))
            .select(*keys, pl.when(pl.col("_delta")).then(summed).otherwise(value).alias("value")))


def _period(metrics: pl.LazyFrame, kind: str, series: list[str], labels: list[str], lo: int, hi: int) -> pl.DataFrame:
    """One value per label set of one metric over [lo, hi): ``value`` and its labels, aggregated in the engine."""
    t = pl.col("time").cast(pl.Int64)
    rows = metrics.filter(pl.col("metric").is_in(series))
    if kind in ("gauge", "summary"):
        keys = [*labels] or [pl.lit("").alias("_all")]
        got = collect(rows.filter((t >= lo) & (t < hi)).group_by(keys)
                      .agg(_mean(pl.col("value")).alias("value")))
        return _same_bits(got.drop("_all") if "_all" in got.columns else got)
    if kind == "counter":
        return _same_bits(collect(_increase(rows, ["metric", *labels], lo, hi, True)).drop("metric"))
    out = [c for c in labels if c != "le"]
    if "le" not in metrics.collect_schema():  # read as a histogram, but no buckets: nothing to read
        return pl.DataFrame(schema={"value": pl.Float64, **{c: metrics.collect_schema()[c] for c in out}})
    # one bucket count per label set and bound (rows: label sets x buckets), then PromQL's histogram_quantile
    inc = collect(_increase(rows.filter(pl.col("le").is_not_null()), ["metric", *out, "le"], lo, hi, False))
    got = F.to_polars(histogram_quantile(inc.with_columns(pl.lit(hi - 1).cast(F.TS).alias("time")), 0.95))
    return _same_bits(got.select("value", *[c for c in out if c in got.columns]))


def moved(metrics: Any, before: tuple[int, int] | None, during: tuple[int, int], *, kinds: dict[str, str] | None = None,
          per_metric: int = 3) -> pl.DataFrame:
    """Every metric's label sets, compared: ``metric``, ``kind``, ``how`` (how the kind was known), ``read_as``,
    ``labels`` (the label set as text), ``before``, ``during``, ``change`` ((during - before) / |before|; +inf from
    zero), ranked by how much they moved: the metric whose label set moved most first, then within a metric its
    ``per_metric`` label sets that moved most. Epoch ns periods, ``[start, end)``."""
    lf = metrics.lazy() if isinstance(metrics, pl.DataFrame) else metrics
    lf = F.utc_ns(lf, "time", "metrics overview")
    labels = _labels(lf)
    out = []
    for m, kind, how, series in metric_kinds(lf, kinds).iter_rows():
        sel = lf.filter(pl.col("metric").is_in(series))
        # the labels that tell this metric's label sets apart (a label with one value everywhere names none)
        used = [c for c, n in zip(labels, collect(sel.select([pl.col(c).n_unique() for c in labels])).row(0))
                if n > 1] if labels else []
        used = [c for c in used if c != "le"]
        read = [*used, "le"] if kind == "histogram" else used
        dur = _period(lf, kind, series, read, *during)
        if dur.is_empty():
            continue
        dur = dur.rename({"value": "during"})
        if before is not None:
            bef = _period(lf, kind, series, read, *before).rename({"value": "before"})
            if used:
                both = dur.join(bef, on=used, how="left", nulls_equal=True)
            else:
                both = dur.with_columns((bef.get_column("before") if bef.height else pl.lit(None, pl.Float64)).alias("before"))
        else:
            both = dur.with_columns(pl.lit(None, pl.Float64).alias("before"))
        b, d = pl.col("before"), pl.col("during")
        change = pl.when(b == 0).then(pl.when(d == 0).then(0.0).otherwise(float("inf"))).otherwise((d - b) / b.abs())
        both = both.with_columns(change.alias("change")).sort(pl.col("change").abs(), descending=True, nulls_last=True)
        for row in both.head(per_metric).iter_rows(named=True):
            out.append({"metric": m, "kind": kind, "how": how, "read_as": READ_AS[kind], "labels": label_text(row, used),
                        "before": row["before"], "during": row["during"], "change": row["change"],
                        "_label_values": {c: row[c] for c in used}})
    frame = pl.DataFrame(out, schema={"metric": pl.String, "kind": pl.String, "how": pl.String, "read_as": pl.String,
                                      "labels": pl.String, "before": pl.Float64, "during": pl.Float64,
                                      "change": pl.Float64, "_label_values": pl.Object})
    top = frame.group_by("metric").agg(pl.col("change").abs().max().alias("_top"))
    return (frame.join(top, on="metric").with_columns(pl.col("change").abs().alias("_abs"))
            .sort(["_top", "metric", "_abs"], descending=[True, False, True], nulls_last=True).drop("_top", "_abs"))


def _quantile_in_engine(b: pl.LazyFrame, groups: list[str], q: float) -> pl.LazyFrame:
    """PromQL's ``histogram_quantile`` per group of bucket counts (``le``, ``value``), in the engine, for a chart's
    points (``promql/quantile.go``: counts made monotonic, the bucket holding rank q * total interpolated linearly
    from its lower bound, 0 below the first; rank in the +Inf bucket: the highest finite bound; no +Inf bucket or
    no observations: NaN)."""
    les = collect(b.select(pl.col("le").cast(pl.String).unique())).get_column("le").to_list()
    ub = pl.LazyFrame({"le": les, "_ub": [parse_le(x) for x in les]}, schema={"le": pl.String, "_ub": pl.Float64})
    b = (b.with_columns(pl.col("le").cast(pl.String)).join(ub, on="le").filter(pl.col("_ub").is_not_null())
         .sort([*groups, "_ub"], nulls_last=True))
    c = pl.col("value").cum_max().over(groups)
    b = b.with_columns(c.alias("_c")).with_columns(
        pl.col("_c").last().over(groups).alias("_total"), pl.col("_ub").last().over(groups).alias("_top"),
        pl.col("_ub").shift(1).over(groups).alias("_lo"), pl.col("_c").shift(1).over(groups).alias("_lo_c"))
    rank = pl.col("_total") * q
    hit = b.filter(pl.col("_c") >= rank).group_by(groups, maintain_order=True).agg(pl.all().first())
    lower = pl.col("_lo").fill_null(pl.when(pl.col("_ub") > 0).then(0.0).otherwise(pl.col("_ub")))
    below = pl.col("_lo_c").fill_null(0.0)
    inside = lower + (pl.col("_ub") - lower) * (rank - below) / (pl.col("_c") - below)
    value = (pl.when((pl.col("_top") != float("inf")) | (pl.col("_total") == 0)).then(float("nan"))
             .when(pl.col("_ub") == float("inf")).then(pl.col("_lo"))
             .when(pl.col("_lo").is_null() & (pl.col("_ub") <= 0)).then(pl.col("_ub")).otherwise(inside))
    return hit.select(*groups, value.alias("value"))


def over_time(metrics: Any, metric: str, kind: str, series: list[str], label_sets: list[dict], lo: int, hi: int,
              every_ns: int) -> pl.DataFrame:
    """What the overview compares, over time, for the label sets it names: ``time``, ``value``, ``labels`` (text):
    per step of ``every_ns``, a counter's rate per second (its increases between samples in the step, resets
    aware), a histogram's p95 (of the step's bucket increases), a gauge's or summary's mean. Aggregated in the engine:
    one row per label set and step is collected."""
    lf = metrics.lazy() if isinstance(metrics, pl.DataFrame) else metrics
    lf = F.utc_ns(lf, "time", "metrics overview")
    used = sorted({c for s in label_sets for c in s})
    t = pl.col("time").cast(pl.Int64)
    rows = lf.filter(pl.col("metric").is_in(series) & (t >= lo) & (t < hi))
    if label_sets:
        match = pl.any_horizontal([pl.all_horizontal([(pl.col(c) == v) if v is not None else pl.col(c).is_null()
                                                      for c, v in s.items()] or [pl.lit(True)]) for s in label_sets])
        rows = rows.filter(match)
    keep = ["time", "metric", "value", *used, *(["le"] if kind == "histogram" else []),
            *(["_temporality"] if "_temporality" in lf.collect_schema() else [])]
    step = F.epoch_floor("time", every_ns).alias("time")
    if kind in ("gauge", "summary"):  # the mean of each step, NaN left out
        out = collect(rows.group_by([*used, step]).agg(_mean(pl.col("value"))).sort(["time", *used], nulls_last=True))
    else:
        # per step: the increase between consecutive samples, given to the step of the later one (a drop is a
        # restart: the value itself), so no increase between two steps is lost; delta samples are summed as they are
        keys = [c for c in keep if c in lf.collect_schema() and c not in ("time", "value", "_temporality")]
        v = pl.col("value").cast(pl.Float64)
        d = v - v.shift(1).over(keys)
        inc = pl.when(d < 0).then(v).otherwise(d)
        if "_temporality" in lf.collect_schema():
            inc = pl.when(pl.col("_temporality").cast(pl.String) == "delta").then(v).otherwise(inc)
        per = (rows.sort([*keys, "time"], maintain_order=True, nulls_last=True).with_columns(inc.alias("_inc"))
               .filter(pl.col("_inc").is_not_null()).group_by([*keys, step]).agg(pl.col("_inc").sum().alias("value")))
        if kind == "counter":
            per = per.with_columns(pl.col("value") / (every_ns / NS))
        elif "le" in keys:
            per = _quantile_in_engine(per, [c for c in keys if c not in ("le", "metric")] + ["time"], 0.95)
        else:
            return pl.DataFrame(schema={"time": F.TS, "value": pl.Float64, "labels": pl.String})
        out = collect(per.sort(["time", *[c for c in used if c in per.collect_schema()]], nulls_last=True))
    text = pl.concat_str([pl.when(pl.col(c).is_not_null()).then(pl.lit(f"{c}=") + pl.col(c).cast(pl.String))
                          for c in used], separator=", ", ignore_nulls=True) if used else pl.lit("(no labels)")
    return _same_bits(out.with_columns(text.fill_null("(no labels)").alias("labels")).select("time", "value", "labels"))
