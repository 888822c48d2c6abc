"""Altair charts for incident notebooks, returned (never displayed) so they can be composed and tested.

Every helper aggregates before it charts: a chart never carries more than ``MAX_POINTS`` rows per series
(HTML reports grow about 60 bytes per point, and altair refuses more than 5,000 rows). Lines break at
gaps instead of bridging them (a row with a null value is inserted inside each gap) and gaps can be
shown as red bands, because a silent system must look silent.

=====================  =================================================================
``latency``            percentile lines over time, gaps as bands
``rate``               events per bucket (bars), optionally split by a column
``error_rate``         error share per bucket (line) with the error count
``series``             one metric over time per label set (metrics frames), gaps shown
``waterfall``          a trace's spans as bars with its log events as marks
``incident_timeline``  the incident's events on one time axis
``before_after``       percentiles (or any numbers) before vs during
=====================  =================================================================
"""

from __future__ import annotations

from typing import Any, Sequence

import altair as alt
import numpy as np
import pandas as pd
import polars as pl

from .analysis import error_rate as _error_rate
from .analysis import latency as _latency
from .analysis import rate as _rate
from .analysis import _frames as Fr
from .analysis.latency import quantile_name
from .analysis.lazy import collect, is_scan, scan_frame
from .timeutil import duration_ns

__all__ = [
    "MAX_POINTS",
    "latency",
    "rate",
    "error_rate",
    "series",
    "waterfall",
    "incident_timeline",
    "before_after",
    "break_gaps",
]

MAX_POINTS = 1500
LEVEL_COLORS = {"DEBUG": "#9e9e9e", "INFO": "#4c78a8", "WARNING": "#f58518", "ERROR": "#e45756", "CRITICAL": "#8b0000"}
WIDTH = 720


def _time_format(*columns: Any) -> str:
    """The axis label format for times spanning ``columns`` (pandas time Series): minutes for an incident's hours,
    seconds for a trace of a few minutes, milliseconds for one of a few seconds, the day too past two days."""
    vals = [pd.to_datetime(c, utc=True, errors="coerce") for c in columns if c is not None and len(c)]
    lo = min((v.min() for v in vals), default=pd.NaT)
    hi = max((v.max() for v in vals), default=pd.NaT)
    if pd.isna(lo) or pd.isna(hi):
        return "%H:%M"
    span = (hi - lo).total_seconds()
    return ("%H:%M:%S.%L" if span <= 10 else "%H:%M:%S" if span <= 30 * 60 else "%H:%M" if span <= 2 * 86400
            else "%b %d %H:%M")


def _x(field: str = "time", title: str | None = None, fmt: str = "%H:%M") -> alt.X:
    """A time axis in UTC (reports are read in every time zone; the evidence is UTC), labelled in ``fmt``."""
    return alt.X(f"{field}:T", title=title, scale=alt.Scale(type="utc"), axis=alt.Axis(format=fmt, labelOverlap=True))


def _pandas(df: Any) -> pd.DataFrame:
    """A pandas copy of a pandas, polars or Arrow frame (altair gets plain pandas)."""
    if type(df).__module__.startswith(("polars", "pyarrow")):
        return df.to_pandas()
    return df.copy()


def _lazy(df: Any, columns: list[str]) -> pl.LazyFrame:
    """A scan's store or a LazyFrame as a LazyFrame of ``columns`` (those it has)."""
    if isinstance(df, pl.LazyFrame):
        have = df.collect_schema()
        return df.select([c for c in dict.fromkeys(columns) if c in have])
    return scan_frame(df, columns)


def _is_lazy(df: Any) -> bool:
    return is_scan(df) or isinstance(df, pl.LazyFrame)


def _scan_span(scan: Any, time: str, by: str | None = None) -> tuple[pd.Series, int]:
    """A scan's (or LazyFrame's) first and last time (as a 2-row series, all ``_step`` needs) and how many ``by``
    groups it has: one aggregate in the engine, so a chart of a scan never holds its rows (the helpers then
    aggregate it)."""
    lf = _lazy(scan, [time, *([by] if by else [])])
    names = lf.collect_schema().names()
    aggs = [pl.col(time).min().alias("lo"), pl.col(time).max().alias("hi")] if time in names else []
    aggs.append(pl.col(by).drop_nulls().n_unique().alias("n") if by and by in names else pl.lit(1).alias("n"))
    row = collect(lf.select(aggs)).row(0, named=True)
    times = pd.Series([row.get("lo"), row.get("hi")]).dropna()
    return pd.to_datetime(times, utc=True), int(row["n"])


def _td(value: Any) -> pd.Timedelta:

    return pd.Timedelta(duration_ns(value), unit="ns")


def _pick_every(times: pd.Series, points: int = 240) -> pd.Timedelta:
    """A round bucket width that gives about ``points`` buckets over the span of ``times``."""
    span = (times.max() - times.min()) if len(times) else pd.Timedelta(0)
    raw = span / max(points, 1)
    for step in ("1s", "5s", "10s", "15s", "30s", "1min", "2min", "5min", "10min", "15min", "30min", "1h", "6h", "1D",
                 "7D", "30D", "91D", "365D"):
        if pd.Timedelta(step) >= raw:
            return pd.Timedelta(step)
    return pd.Timedelta("365D")


def _step(times: pd.Series, every: Any, series: int = 1) -> pd.Timedelta:
    """The bucket asked for (or a round one), widened when it would give a chart more than ``MAX_POINTS`` rows
    (evidence that spans months at a 5-minute bucket)."""
    step = _td(every) if every is not None else _pick_every(times)
    cap = _pick_every(times, max(MAX_POINTS // max(series, 1), 1))
    return max(step, cap)


def break_gaps(df: pd.DataFrame, *, time: str, every: Any, by: Sequence[str] = (), values: Sequence[str] = ()) -> pd.DataFrame:
    """Insert one row with null ``values`` inside every hole longer than ``every`` so a line does not bridge it."""
    step = _td(every)
    if df.empty:
        return df
    df = df.sort_values([*by, time])
    groups = df.groupby(list(by), sort=False, dropna=False) if by else [((), df)]
    fills = []
    for key, g in groups:
        t = g[time]
        hole = t.diff() > step * 1.5
        if hole.any():
            fill = g.loc[hole, [*by, time]].copy()
            fill[time] = t.shift(1)[hole] + step
            for v in values:
                fill[v] = np.nan
            fills.append(fill)
    if not fills:
        return df
    return pd.concat([df, *fills], ignore_index=True).sort_values([*by, time], ignore_index=True)


def _gap_layer(gaps: Any, label: str = "silent") -> alt.Chart | None:
    if gaps is None:
        return None
    g = _pandas(gaps)
    if g.empty:
        return None
    g = g.rename(columns={"gap_start": "start", "gap_end": "end"})
    g["what"] = label
    if "duration" in g:
        g["minutes"] = (pd.to_timedelta(g["duration"]).dt.total_seconds() / 60).round(1)
        g = g.drop(columns="duration")
    tip = list(g.columns)
    return (
        alt.Chart(g)
        .mark_rect(color="#e45756", opacity=0.15)
        .encode(x=alt.X("start:T", scale=alt.Scale(type="utc")), x2="end:T", tooltip=tip)
    )


def latency(
    df: Any,
    value: str = "duration_ms",
    *,
    q: Sequence[float] = (0.5, 0.95, 0.99),
    every: Any = None,
    time: str = "time",
    gaps: Any = None,
    title: str = "Latency percentiles",
    unit: str = "ms",
) -> alt.Chart:
    """Percentile lines over time from raw rows (aggregated here with ``ob.latency``), from an ``ob.scan()`` or a
    polars LazyFrame (aggregated in the engine: the rows are never held) or from ``ob.latency``'s result.

    Buckets with no values break the lines; ``gaps`` (an ``ob.gaps`` result) adds red bands.
    """
    if _is_lazy(df):
        step = _step(_scan_span(df, time)[0], every, len(q))
        agg = _latency(df, value, q, every=step, time=time) if is_scan(df) else _lazy_latency(df, value, q, step, time)
        return latency(agg, value, q=q, every=step, time="time", gaps=gaps, title=title, unit=unit)
    pdf = _pandas(df)
    names = [c for c in pdf.columns if c.startswith("p") and c[1:].replace(".", "").isdigit()]
    if not names:  # raw rows: aggregate first
        step = _step(pd.to_datetime(pdf[time], utc=True), every, len(q))
        pdf = _pandas(_latency(pdf, value, q, every=step, time=time))
        names = [c for c in pdf.columns if c.startswith("p") and c[1:].replace(".", "").isdigit()]
        every = step
    elif every is None:
        every = pdf[time].sort_values().diff().min() if len(pdf) > 1 else pd.Timedelta("1min")
    long = pdf[["time" if "time" in pdf else time, *names]].rename(columns={time: "time"})
    long = break_gaps(long, time="time", every=every, values=names)
    long = long.melt("time", names, var_name="percentile", value_name=unit)
    line = (
        alt.Chart(long)
        .mark_line(point=False, interpolate="linear")
        .encode(
            x=_x(),
            y=alt.Y(f"{unit}:Q", title=unit),
            color=alt.Color("percentile:N", sort=names),
            tooltip=["time:T", "percentile:N", alt.Tooltip(f"{unit}:Q", format=",.1f")],
        )
    )
    band = _gap_layer(gaps)
    chart = alt.layer(band, line) if band is not None else line
    return chart.properties(title=title, width=WIDTH, height=220)


def _lazy_latency(lf: pl.LazyFrame, value: str, q: Sequence[float], step: pd.Timedelta, time: str) -> pl.DataFrame:
    """``ob.latency(rows, value, q, every=step)`` of a LazyFrame's rows, in the engine (only the buckets are
    collected): the same expressions as :func:`obsnb.analysis.latency` (NaN as missing, numpy's linear quantiles)."""
    v = pl.col(value)
    work = Fr.utc_ns(_lazy(lf, [time, value]), time, "latency").select(
        Fr.epoch_floor(time, int(step.value)).alias("time"), v.cast(pl.Float64).fill_nan(None).alias(value))
    aggs = [v.count().cast(pl.Int64).alias("count"),
            *[v.drop_nulls().quantile(x, interpolation="linear").alias(quantile_name(x)) for x in q],
            v.null_count().cast(pl.Int64).alias("nan")]
    return collect(work.group_by("time").agg(aggs).sort("time", nulls_last=True))


def rate(df: Any, every: Any = None, *, by: str | None = None, time: str = "time", title: str = "Events per bucket",
         start: Any = None, end: Any = None, gaps: Any = None) -> alt.Chart:
    """Events per bucket as bars (stacked by ``by``); empty buckets show as zero. ``df`` may be an ``ob.scan()``
    or a polars LazyFrame (counted in the engine)."""
    if _is_lazy(df):
        times, groups = _scan_span(df, time, by)
        pdf = df
    else:
        pdf = _pandas(df)
        groups = pdf[by].nunique() if by and by in pdf else 1
        times = pd.to_datetime(pdf[time], utc=True)
    step = _step(times, every, groups)
    r = _pandas(_rate(pdf, step, by=by, time=time, start=start, end=end))
    enc = {"x": _x(), "y": alt.Y("count:Q", title=f"per {_label(step)}"),
           "tooltip": ["time:T", "count:Q", *([by] if by else [])]}
    if by:
        enc["color"] = alt.Color(f"{by}:N")
    bars = alt.Chart(r).mark_bar().encode(**enc)
    band = _gap_layer(gaps)
    chart = alt.layer(band, bars) if band is not None else bars
    return chart.properties(title=title, width=WIDTH, height=180)


def error_rate(df: Any, every: Any = None, *, errors: Any = None, time: str = "time", start: Any = None,
               end: Any = None, title: str = "Error rate") -> alt.Chart:
    """The share of error rows per bucket (line, 0–100 %), breaking where a bucket had no events. ``df`` may be
    an ``ob.scan()`` (counted in the engine over its store)."""
    pdf = df if is_scan(df) else _pandas(df)
    step = _step(_scan_span(df, time)[0] if is_scan(df) else pd.to_datetime(pdf[time], utc=True), every)
    r = _pandas(_error_rate(pdf, step, errors=errors, time=time, start=start, end=end))
    r = r[["time", "total", "errors", "error_rate"]]
    return (
        alt.Chart(r)
        .mark_line(color="#e45756", point=alt.OverlayMarkDef(size=12))
        .encode(
            x=_x(),
            y=alt.Y("error_rate:Q", title="errors / events", axis=alt.Axis(format="%")),
            tooltip=["time:T", "total:Q", "errors:Q", alt.Tooltip("error_rate:Q", format=".1%")],
        )
        .properties(title=title, width=WIDTH, height=160)
    )


def _label(step: pd.Timedelta) -> str:
    s = int(step.total_seconds())
    return f"{s // 3600} h" if s % 3600 == 0 else f"{s // 60} min" if s % 60 == 0 else f"{s} s"


def series(metrics: Any, metric: str | None = None, *, by: str | Sequence[str] | None = None, every: Any = None,
           agg: str = "max", title: str | None = None, gaps: Any = None, y_title: str | None = None) -> alt.Chart:
    """One metric over time (a line per label set of ``by``), downsampled to at most ``MAX_POINTS`` per line.

    Scrape holes longer than twice the bucket break the line. ``metrics`` may be a frame, an ``ob.scan()`` or a
    polars LazyFrame: the buckets are aggregated in the engine (``agg`` is a polars aggregation, NaN left out,
    as pandas' would) and only they are collected.
    """
    keys = [by] if isinstance(by, str) else list(by or [])
    lf = _lazy(metrics, ["time", "metric", "value", *keys]) if _is_lazy(metrics) else \
        Fr.to_polars(metrics, ["time", "metric", "value", *keys]).lazy()
    if metric is not None:
        lf = lf.filter(pl.col("metric") == metric)
    lf = Fr.utc_ns(lf, "time", "series")
    t = _scan_span(lf, "time")[0]
    step = _td(every) if every is not None else max(_pick_every(t, MAX_POINTS // 2), pd.Timedelta("15s"))
    value = getattr(pl.col("value").cast(pl.Float64).fill_nan(None), agg)()
    buckets = lf.group_by([*keys, Fr.epoch_floor("time", int(step.value)).alias("time")]).agg(value.alias("value"))
    agg_df = collect(buckets.sort([*keys, "time"], nulls_last=True)).to_pandas()
    agg_df = break_gaps(agg_df, time="time", every=step * 2, by=keys, values=["value"])
    enc = {"x": _x(), "y": alt.Y("value:Q", title=y_title or metric or "value"),
           "tooltip": ["time:T", *keys, alt.Tooltip("value:Q", format=",.2f")]}
    if keys:
        agg_df["series"] = agg_df[keys].astype(str).agg(" ".join, axis=1)
        enc["color"] = alt.Color("series:N", title=", ".join(keys))
    line = alt.Chart(agg_df).mark_line().encode(**enc)
    band = _gap_layer(gaps)
    chart = alt.layer(band, line) if band is not None else line
    return chart.properties(title=title or metric or "", width=WIDTH, height=180)


def waterfall(timeline: Any, *, title: str = "Trace waterfall", max_spans: int = 400) -> alt.Chart:
    """A trace as horizontal span bars (one row per span, in start order), log events as marks on their span's row.

    ``timeline`` is an ``ob.timeline`` result (spans and logs of one trace). Error spans are red; each
    log mark is coloured by level and carries its fields in the tooltip.
    """
    tl = _pandas(timeline)
    spans = tl[tl["source"] == "span"].sort_values("time").head(max_spans).copy()
    spans["row"] = [f"{i:03d} {'· ' * int(d)}{n}" for i, (d, n) in enumerate(zip(spans["depth"].fillna(0), spans["name"]))]
    spans["status"] = spans.get("status", pd.Series("UNSET", index=spans.index)).fillna("UNSET")
    logs = tl[tl["source"] == "log"].copy()
    row_of = dict(zip(spans["span_id"], spans["row"]))
    first_row = spans["row"].iloc[0] if len(spans) else "logs"
    logs["row"] = logs["span_id"].map(row_of).fillna(first_row)
    keep_log = [c for c in ("time", "row", "name", "level", "service", "job_id", "attempt", "error", "status")
                if c in logs.columns]
    logs = logs[keep_log].rename(columns={"name": "event"})
    span_cols = ["row", "time", "end", "duration_ms", "name", "service", "status"]
    fmt = _time_format(spans["time"], spans["end"], logs["time"])
    bars = (
        alt.Chart(spans[span_cols])
        .mark_bar(height={"band": 0.7})
        .encode(
            y=alt.Y("row:N", sort=None, title=None, axis=alt.Axis(labelLimit=260)),
            x=_x(fmt=fmt),
            x2="end:T",
            color=alt.Color("status:N", scale=alt.Scale(domain=["OK", "UNSET", "ERROR"],
                                                         range=["#54a24b", "#4c78a8", "#e45756"])),
            tooltip=["name:N", "service:N", "status:N", alt.Tooltip("duration_ms:Q", format=",.1f"), "time:T"],
        )
    )
    starts = (  # a span too short to see as a bar still shows where it began
        alt.Chart(spans[span_cols])
        .mark_tick(thickness=2, size=12)
        .encode(y=alt.Y("row:N", sort=None), x=_x(fmt=fmt),
                color=alt.Color("status:N", legend=None, scale=alt.Scale(domain=["OK", "UNSET", "ERROR"],
                                                                          range=["#54a24b", "#4c78a8", "#e45756"])))
    )
    marks = (
        alt.Chart(logs)
        .mark_point(shape="diamond", filled=True, size=70)
        .encode(
            y=alt.Y("row:N", sort=None),
            x="time:T",
            fill=alt.Fill("level:N", scale=alt.Scale(domain=list(LEVEL_COLORS), range=list(LEVEL_COLORS.values()))),
            color=alt.value("black"),
            tooltip=[c for c in logs.columns if c != "row"],
        )
    )
    height = max(120, min(16 * len(spans), 1400))
    return alt.layer(bars, starts, marks).resolve_scale(color="independent").properties(title=title, width=WIDTH, height=height)


def incident_timeline(events: Any, *, title: str = "Incident timeline", start: Any = None, end: Any = None) -> alt.Chart:
    """The incident's events (``time``, ``event``, optional ``end``, ``kind``, ``detail``) on one axis.

    Events with an ``end`` show as bars (an outage, a silence), the others as points with their label.
    """
    ev = _pandas(events).sort_values("time").reset_index(drop=True)
    ev["kind"] = ev["kind"] if "kind" in ev else "event"
    ev["row"] = [f"{i + 1:02d} {e}" for i, e in enumerate(ev["event"])]
    cols = [c for c in ("row", "time", "end", "event", "kind", "detail") if c in ev]
    ev = ev[cols]
    base = alt.Chart(ev).encode(
        y=alt.Y("row:N", sort="ascending", title=None, axis=alt.Axis(labelLimit=320)),
        color=alt.Color("kind:N"),
        tooltip=[c for c in cols if c != "row"],
    )
    fmt = _time_format(ev["time"], ev["end"] if "end" in ev else None)
    points = base.mark_point(filled=True, size=90).encode(x=_x(fmt=fmt))
    layers = [points]
    if "end" in ev:
        layers.insert(0, base.transform_filter("isValid(datum.end)").mark_bar(height={"band": 0.5}, opacity=0.6)
                      .encode(x=_x(fmt=fmt), x2="end:T"))
    return alt.layer(*layers).properties(title=title, width=WIDTH, height=max(120, 24 * len(ev)))


def before_after(before: Any, after: Any, *, columns: Sequence[str] = ("p50", "p95", "p99"),
                 labels: tuple[str, str] = ("before", "during"), title: str = "Before vs during", unit: str = "ms") -> alt.Chart:
    """Grouped bars comparing ``columns`` of two one-row frames (e.g. two ``ob.latency`` results) or dicts."""
    rows = []
    for label, src in zip(labels, (before, after)):
        d = _pandas(src).iloc[0].to_dict() if not isinstance(src, dict) else src
        rows += [{"period": label, "stat": c, unit: float(d[c]) if d.get(c) is not None else np.nan} for c in columns]
    data = pd.DataFrame(rows)
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("stat:N", sort=list(columns), title=None),
            xOffset=alt.XOffset("period:N", sort=list(labels)),
            y=alt.Y(f"{unit}:Q", title=unit),
            color=alt.Color("period:N", sort=list(labels), scale=alt.Scale(range=["#4c78a8", "#e45756"])),
            tooltip=["period:N", "stat:N", alt.Tooltip(f"{unit}:Q", format=",.1f")],
        )
        .properties(title=title, width=360, height=200)
    )
