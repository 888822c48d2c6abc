"""Which metrics moved between a baseline and a window, each read by its kind, per label set.

A counter is compared as its rate per second (``ob.counter_rate``: reset-aware and extrapolated as PromQL's
``rate``, delta sums summed), a gauge as its mean value, a histogram as its p95 from the buckets
(``ob.histogram_quantile(ob.increase(buckets, period), 0.95)``), a summary's quantile series as values. The kind
comes from the type metadata (``_type``: a ``# TYPE`` line, OTLP's sum/gauge/histogram), else from the name
(Prometheus conventions: ``_total``, ``_count``, ``_sum`` are counters, ``_bucket`` with ``le`` a histogram,
anything else a gauge), else from ``kinds={metric: kind}`` given by the user, which wins.

Means are computed in the engine (a scan's rows are not collected); counters and histograms need PromQL's
arithmetic (:mod:`obsnb.analysis.counters`), so their samples in the baseline and window are collected (only
``time``, ``metric``, ``value`` and the labels).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import polars as pl

from ..errors import UsageError
from . import _frames as F
from .counters import counter_rate, increase
from .histograms import histogram_quantile
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


def _period(metrics: pl.LazyFrame, kind: str, series: list[str], labels: list[str], lo: int, hi: int) -> pl.DataFrame:
    """One value per label set of one metric over [lo, hi): ``value`` and its labels."""
    t = pl.col("time").cast(pl.Int64)
    rows = metrics.filter(pl.col("metric").is_in(series))
    if kind in ("gauge", "summary"):
        keys = [*labels] or [pl.lit("").alias("_all")]
        got = collect(rows.filter((t >= lo) & (t < hi)).group_by(keys)
                      .agg(pl.col("value").cast(pl.Float64).fill_nan(None).mean().alias("value")))
        return got.drop("_all") if "_all" in got.columns else got
    window = pd.Timedelta(max(hi - lo, 1), "ns")
    keep = ["time", "metric", "value", *labels, *(["_temporality"] if "_temporality" in metrics.collect_schema() else [])]
    frame = collect(rows.filter((t >= lo) & (t < hi)).select(keep))
    if frame.is_empty():
        return pl.DataFrame(schema={"value": pl.Float64, **{c: frame.schema[c] for c in labels}})
    at = _ts(hi - 1)  # PromQL's window (at - period, at]: the samples of [lo, hi)
    if kind == "counter":
        out = counter_rate(frame, window, start=at, end=at, every=window)
    else:
        buckets = frame.filter(pl.col("le").is_not_null())
        out = histogram_quantile(increase(buckets, window, start=at, end=at, every=window), 0.95)
    out = F.to_polars(out)
    return out.select("value", *[c for c in labels if c in out.columns and c != "le"])


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


def over_time(metrics: Any, metric: str, kind: str, series: list[str], label_sets: list[dict], lo: int, hi: int,
              every_ns: int) -> pl.DataFrame:
    """What the overview compares, over time, for the label sets it names: ``time``, ``value``, ``labels`` (text):
    a counter's rate per second and a histogram's p95 at each step of ``every_ns`` (over one step and one scrape, as
    Grafana's ``$__rate_interval``), a gauge's or summary's values."""
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
    if kind in ("gauge", "summary"):
        out = collect(rows.select("time", pl.col("value").cast(pl.Float64), *used))
    else:
        frame = collect(rows.select([c for c in keep if c in lf.collect_schema()]))
        if frame.is_empty():
            return pl.DataFrame(schema={"time": F.TS, "value": pl.Float64, "labels": pl.String})
        # Grafana's $__rate_interval: a window of one step and one scrape (at least 4 scrapes), so that an increase
        # between two steps' windows is not lost (PromQL's rate reads only the samples inside its window)
        gaps = frame.sort("time").select(pl.col("time").cast(pl.Int64).diff().over([c for c in keep if c in frame.columns
                                                                                    and c not in ("time", "value")]))
        scrape = int(gaps.to_series().filter(gaps.to_series() > 0).median() or 0)
        window = pd.Timedelta(max(every_ns + scrape, 4 * scrape), "ns")
        step = pd.Timedelta(every_ns, "ns")
        if kind == "counter":
            out = F.to_polars(counter_rate(frame, window, every=step, start=_ts(lo + every_ns), end=_ts(hi)))
        else:
            out = F.to_polars(histogram_quantile(increase(frame.filter(pl.col("le").is_not_null()), window, every=step,
                                                          start=_ts(lo + every_ns), end=_ts(hi)), 0.95))
    text = pl.concat_str([pl.when(pl.col(c).is_not_null()).then(pl.lit(f"{c}=") + pl.col(c).cast(pl.String))
                          for c in used], separator=", ", ignore_nulls=True) if used else pl.lit("(no labels)")
    return out.with_columns(text.fill_null("(no labels)").alias("labels")).select("time", "value", "labels")
