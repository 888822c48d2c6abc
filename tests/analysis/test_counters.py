"""ob.increase / counter_rate / irate / delta on hand-made series, values worked out by hand in each docstring."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest

import obsnb as ob
from _support import to_pandas
from obsnb.analysis.counters import warn_if_cumulative
from obsnb.errors import ObsnbWarning, UsageError

S = 10**9


def frame(points, engine="polars", metric="jobs_total", **labels):
    """A metrics frame from [(seconds, value), ...] plus constant label columns."""
    df = pl.DataFrame({"time": [int(t * S) for t, _ in points], "metric": metric,
                       "value": [float(v) for _, v in points], **labels})
    df = df.with_columns(pl.col("time").cast(pl.Datetime("ns", "UTC")))
    return df if engine == "polars" else df.to_pandas()


def values(out) -> dict[float, float]:
    df = to_pandas(out)
    return {t.timestamp(): v for t, v in zip(df["time"], df["value"])}


def test_reset_inside_the_window_adds_the_value_before_the_drop(engine):
    """0,10,20,5,15 every 15 s, window 60 s at t=60: (0,60] holds 10,20,5,15 -> 15-10+20 = 25, x 60/45 = 33.33."""
    df = frame([(0, 0), (15, 10), (30, 20), (45, 5), (60, 15)], engine)
    out = ob.increase(df, "60s")
    assert values(out)[60] == pytest.approx(25 * 60 / 45, rel=1e-15)
    assert values(ob.counter_rate(df, "60s"))[60] == pytest.approx(25 * 60 / 45 / 60, rel=1e-15)
    assert type(out) is type(df)


def test_window_is_left_open():
    """(t - w, t]: at t=30 a 15 s window holds only the sample at 30, so irate has no point; 16 s holds 15 and 30."""
    df = frame([(0, 0), (15, 10), (30, 13)])
    assert 30.0 not in values(ob.irate(df, "15s"))
    assert values(ob.irate(df, "16s"))[30] == pytest.approx(3 / 15)


def test_fewer_than_two_samples_give_no_point():
    """The first sample time has one sample in any window: no row there; a lone series gives an empty frame."""
    assert 0.0 not in values(ob.increase(frame([(0, 1), (15, 2)]), "1m"))
    out = ob.increase(frame([(0, 5)]), "1m")
    assert out.height == 0 and out.columns == ["time", "metric", "value"]


def test_half_interval_when_the_first_sample_is_far_from_the_window_start():
    """Gauge samples at 11.5..51.5 s every 10 s, 100..140, window (0,60]: 11.5 >= 1.1x10 -> extrapolate 5 s at the
    start, 8.5 s (< 11) at the end: delta = 40 x (40+5+8.5)/40 = 53.5."""
    df = frame([(11.5, 100), (21.5, 110), (31.5, 120), (41.5, 130), (51.5, 140)], metric="temp")
    got = ob.delta(df, "60s", every="60s", start=np.datetime64(60, "s"), end=np.datetime64(60, "s"))
    assert values(got) == {60.0: pytest.approx(53.5, rel=1e-15)}


def test_counter_is_not_extrapolated_below_zero():
    """2,12,22 at 15/30/45, window (-15,45]: the start would extrapolate 7.5 s, but zero is reached 3 s before
    the first sample (30 x 2/20): increase = 20 x 33/30 = 22."""
    df = frame([(15, 2), (30, 12), (45, 22)])
    assert values(ob.increase(df, "60s"))[45] == pytest.approx(22, rel=1e-15)


def test_irate_after_a_reset_is_the_last_value_per_second():
    """10 then 3 fifteen seconds later: the counter restarted, irate = 3 / 15 = 0.2; idelta = -7."""
    df = frame([(0, 10), (15, 3)])
    assert values(ob.irate(df, "1m")) == {15.0: pytest.approx(0.2)}
    assert values(ob.idelta(df, "1m")) == {15.0: -7.0}


def test_labels_le_and_by_are_kept(engine):
    """Each label set is its own series; by='service' sums the instances and keeps metric and le."""
    a = frame([(0, 0), (15, 15), (30, 30)], engine, metric="x_bucket", service="api", instance="a", le="1")
    b = frame([(0, 0), (15, 30), (30, 60)], engine, metric="x_bucket", service="api", instance="b", le="1")
    both = pl.concat([a, b]) if engine == "polars" else pd.concat([a, b], ignore_index=True)
    per = to_pandas(ob.increase(both, "30s"))
    assert list(per.columns) == ["time", "metric", "value", "service", "instance", "le"]
    # at 30: (0,30] holds 15 and 30 -> 15 x 30/15 = 30 (a) and 60 (b); to zero: 15 x 15/15 = 15 s, no cut
    assert per[per["time"] == pd.Timestamp(30, unit="s", tz="UTC")]["value"].tolist() == [30.0, 60.0]
    summed = to_pandas(ob.increase(both, "30s", by="service"))
    assert list(summed.columns) == ["time", "metric", "value", "le", "service"]
    assert summed[summed["time"] == pd.Timestamp(30, unit="s", tz="UTC")]["value"].tolist() == [90.0]


def test_every_evaluates_at_epoch_aligned_steps():
    """every='1m' over samples every 15 s from 10 s to 190 s: points at 60, 120, 180 (first..last sample)."""
    df = frame([(10 + 15 * i, 1000 + 7 * i) for i in range(13)])
    assert sorted(values(ob.counter_rate(df, "1m", every="1m"))) == [60.0, 120.0, 180.0]
    # a steady 7 per 15 s, far from zero, is 7/15 per second whatever the extrapolation
    assert all(v == pytest.approx(7 / 15) for v in values(ob.counter_rate(df, "1m", every="1m")).values())


def test_delta_temporality_sums_the_window():
    """OTLP delta points 1,2,3 at 0/15/30 s: increase over 30 s is 1 at 0, 1+2 at 15, 2+3 at 30; rate = that / 30."""
    df = frame([(0, 1), (15, 2), (30, 3)]).with_columns(pl.lit("delta").alias("_temporality"))
    assert values(ob.increase(df, "30s")) == {0.0: 1.0, 15.0: 3.0, 30.0: 5.0}
    assert values(ob.counter_rate(df, "30s"))[30] == pytest.approx(5 / 30)
    assert values(ob.irate(df, "30s"))[30] == pytest.approx(3 / 15)


def test_nan_sample_makes_the_window_nan(engine):
    """A NaN value is a sample (pandas' NaN included): windows holding it are NaN, later ones are not."""
    df = frame([(0, 1), (15, float("nan")), (30, 5), (45, 11)], engine)
    got = values(ob.irate(df, "20s"))
    assert np.isnan(got[15]) and np.isnan(got[30]) and got[45] == pytest.approx(6 / 15)


def test_duplicate_samples_warn_and_the_last_wins():
    """Two samples of one series at one time (overlapping files) warn; the later row is used."""
    df = frame([(0, 0), (15, 100), (15, 10)])
    with pytest.warns(ObsnbWarning, match="1 sample"):
        got = values(ob.irate(df, "1m"))
    assert got == {15.0: pytest.approx(10 / 15)}


def test_bad_window_and_missing_columns_are_usage_errors():
    """window must be positive; a frame without value says what it needs; start= needs every=."""
    df = frame([(0, 0), (15, 1)])
    with pytest.raises(UsageError, match="window"):
        ob.increase(df, "0s")
    with pytest.raises(UsageError, match="value"):
        ob.increase(df.drop("value"), "1m")
    with pytest.raises(UsageError, match="every="):
        ob.increase(df, "1m", start=0)


def test_p95_over_time_from_cumulative_buckets():
    """Buckets at 1000 (le 0.1) until 15 s, then +100 per 15 s in (1, 10]: at 60 s over 60 s the window holds 300
    new observations (x 60/45 = 400), all in (1, 10]: p95 = 1 + 9 x 380/400 = 9.55."""
    rows = []
    for t in (0, 15, 30, 45, 60):
        slow = 100 * max(0, t // 15 - 1)
        for le, c in (("0.1", 1000), ("1", 1000), ("10", 1000 + slow), ("+Inf", 1000 + slow)):
            rows.append((t, le, c))
    df = pl.DataFrame({"time": [t * S for t, _, _ in rows], "metric": "d_seconds_bucket",
                       "value": [float(c) for *_, c in rows], "le": [le for _, le, _ in rows]})
    df = df.with_columns(pl.col("time").cast(pl.Datetime("ns", "UTC")))
    p95 = ob.histogram_quantile(ob.increase(df, "60s"), 0.95)
    assert values(p95)[60] == pytest.approx(9.55, rel=1e-12)
    raw = ob.histogram_quantile(df.filter(pl.col("time") == pl.col("time").max()), 0.95)
    assert raw["value"][0] == pytest.approx(1 + 9 * (1235 - 1000) / 300)  # since start (1300 obs): 8.05


def test_warn_if_cumulative_names_the_fix():
    """Cumulative buckets with several sample times warn, pointing at ob.increase; delta ones do not."""
    df = frame([(0, 1), (15, 2)], metric="x_bucket", le="1").with_columns(pl.lit("cumulative").alias("_temporality"))
    with pytest.warns(ObsnbWarning, match="ob.increase"):
        warn_if_cumulative(df, "histogram_quantile")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_cumulative(df.with_columns(pl.lit("delta").alias("_temporality")), "histogram_quantile")


# ------------------------------------------------------------------------ what the loaders say a series is

def _otlp(tmp_path):
    pt = {"timeUnixNano": "1700000000000000000", "attributes": [{"key": "svc", "value": {"stringValue": "a"}}]}
    doc = {"resourceMetrics": [{"resource": {}, "scopeMetrics": [{"metrics": [
        {"name": "reqs", "sum": {"isMonotonic": True, "aggregationTemporality": 2, "dataPoints": [{**pt, "asInt": "5"}]}},
        {"name": "inflight", "sum": {"isMonotonic": False, "aggregationTemporality": 2,
                                     "dataPoints": [{**pt, "asInt": "3"}]}},
        {"name": "d_reqs", "sum": {"isMonotonic": True, "aggregationTemporality": "AGGREGATION_TEMPORALITY_DELTA",
                                   "dataPoints": [{**pt, "asDouble": 1.5}]}},
        {"name": "temp", "gauge": {"dataPoints": [{**pt, "asDouble": 21.5}]}},
        {"name": "lat", "histogram": {"aggregationTemporality": 1, "dataPoints": [
            {**pt, "count": "3", "sum": 1.0, "bucketCounts": ["1", "2"], "explicitBounds": [0.5]}]}},
        {"name": "q", "summary": {"dataPoints": [{**pt, "count": "2", "sum": 3.0,
                                                 "quantileValues": [{"quantile": 0.5, "value": 1.0}]}]}},
    ]}]}]}
    path = tmp_path / "m.otlp.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_otlp_type_and_temporality(tmp_path, engine):
    """OTLP: monotonic sum -> counter, non-monotonic sum -> gauge, histogram rows histogram; temporality as written."""
    df = to_pandas(ob.load(_otlp(tmp_path), engine=engine))
    assert list(df.columns)[-4:] == ["_type", "_temporality", "_source", "_line"]
    got = {(m, le): (t, tp if isinstance(tp, str) else None)
           for m, le, t, tp in zip(df["metric"], df["le"].fillna("-"), df["_type"], df["_temporality"])}
    assert got == {
        ("reqs", "-"): ("counter", "cumulative"), ("inflight", "-"): ("gauge", "cumulative"),
        ("d_reqs", "-"): ("counter", "delta"), ("temp", "-"): ("gauge", None),
        ("lat_bucket", "0.5"): ("histogram", "delta"), ("lat_bucket", "+Inf"): ("histogram", "delta"),
        ("lat_sum", "-"): ("histogram", "delta"), ("lat_count", "-"): ("histogram", "delta"),
        ("q", "-"): ("summary", None), ("q_sum", "-"): ("summary", None), ("q_count", "-"): ("summary", None),
    }


def test_prom_text_type_lines(tmp_path):
    """# TYPE lines: counter family x_total (text) or x (OpenMetrics), histogram suffixes (x_created is the creation
    time: created), untyped -> null."""
    text = "\n".join([
        "# TYPE a_total counter", "a_total 1 1700000000000",
        "# TYPE h histogram", 'h_bucket{le="+Inf"} 2 1700000000000', "h_sum 3 1700000000000",
        "h_count 2 1700000000000", "h_created 1600000000 1700000000000",
        "# TYPE g gauge", "g 5 1700000000000", "# TYPE u untyped", "u 1 1700000000000", "loose 1 1700000000000", ""])
    path = tmp_path / "s.prom"
    path.write_text(text)
    df = ob.load(str(path), engine="polars")
    got = dict(zip(df["metric"], zip(df["_type"], df["_temporality"])))
    assert got == {"a_total": ("counter", "cumulative"), "h_bucket": ("histogram", "cumulative"),
                   "h_sum": ("histogram", "cumulative"), "h_count": ("histogram", "cumulative"),
                   "h_created": ("created", None), "g": ("gauge", None), "u": (None, None), "loose": (None, None)}
    assert df.columns[-4:] == ["_type", "_temporality", "_source", "_line"]


def test_openmetrics_counter_family_and_no_types(tmp_path):
    """OpenMetrics names the counter family without _total; a file without TYPE lines has null columns."""
    om = tmp_path / "x.om.txt"
    om.write_text("# TYPE jobs counter\njobs_total 4 1700000000\njobs_created 1600000000 1700000000\n# EOF\n")
    df = ob.load(str(om), engine="polars")
    assert dict(zip(df["metric"], df["_temporality"])) == {"jobs_total": "cumulative", "jobs_created": None}
    assert dict(zip(df["metric"], df["_type"])) == {"jobs_total": "counter", "jobs_created": "created"}
    plain = tmp_path / "y.prom"
    plain.write_text("up 1 1700000000000\n")
    df = ob.load(str(plain), engine="polars")
    assert df["_type"].null_count() == 1 and df["_temporality"].null_count() == 1


def test_histogram_quantile_on_raw_cumulative_file_warns_and_drops_the_markers(tmp_path):
    """Raw buckets loaded from Prometheus text (cumulative, two scrapes) warn; the result has no _type column."""
    lines = ["# TYPE d histogram"]
    for ts, (a, b) in ((1700000000000, (1, 2)), (1700000015000, (3, 4))):
        lines += [f'd_bucket{{le="1"}} {a} {ts}', f'd_bucket{{le="+Inf"}} {b} {ts}']
    path = tmp_path / "d.prom"
    path.write_text("\n".join(lines) + "\n")
    df = ob.load(str(path), engine="polars")
    with pytest.warns(ObsnbWarning, match="cumulative"):
        out = ob.histogram_quantile(df, 0.5)
    assert out.columns == ["time", "metric", "value"]
    # the last scrape since start: rank 2 of 4 lies in (0, 1] holding 3 -> 2/3
    assert out["value"].to_list()[-1] == pytest.approx(2 / 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ob.histogram_quantile(ob.increase(df, "1m"), 0.5)


def test_otlp_cumulative_histogram_p95_per_window(tmp_path, engine):
    """OTLP SDK exports every 15 s: 100 fast observations, then 10 per export in (1, 5]. Over 60 s at t=60 the
    window holds 30 new ones (x 60/45 = 40), all in (1, 5]: p95 = 1 + 4 x 38/40 = 4.8 (since start: 4.3)."""
    t0 = 1_700_000_000
    lines = []
    for k in range(5):
        dp = {"timeUnixNano": str((t0 + 15 * k) * S), "startTimeUnixNano": str(t0 * S), "count": str(100 + 10 * k),
              "sum": 1.0, "bucketCounts": ["100", "0", str(10 * k), "0"], "explicitBounds": [0.5, 1, 5]}
        metric = {"name": "lat", "histogram": {"aggregationTemporality": 2, "dataPoints": [dp]}}
        lines.append(json.dumps({"resourceMetrics": [{"resource": {}, "scopeMetrics": [{"metrics": [metric]}]}]}))
    path = tmp_path / "metrics.otlp.jsonl"
    path.write_text("\n".join(lines) + "\n")
    df = ob.load(str(path), engine="polars").filter(pl.col("metric") == "lat_bucket")
    buckets = df if engine == "polars" else df.to_pandas()
    p95 = values(ob.histogram_quantile(ob.increase(buckets, "60s"), 0.95))
    assert p95[t0 + 60] == pytest.approx(4.8, rel=1e-12)
    with pytest.warns(ObsnbWarning, match="cumulative"):
        raw = values(ob.histogram_quantile(buckets, 0.95))
    assert raw[t0 + 60] == pytest.approx(4.3, rel=1e-12)


def test_otlp_exponential_histogram_rescaled_and_grown_is_one_layout(tmp_path):
    """Exponential points at scale 1 (10 in (1, 2^.5]; then +5 in (2^1.5, 4]) and, after a downscale, at scale 0
    (10 in (1, 2], 10 in (2, 4]): all rendered at scale 0 with le 0, 2, 4, +Inf at every time. increase over
    30 s at t=30 holds the last two: 5 in (2, 4] (x 2 extrapolated), so the median is 2 + 2 x 5/10 = 3."""
    t0 = 1_700_000_000
    pts = [(0, 1, [10, 0], 10), (15, 1, [10, 0, 0, 5], 15), (30, 0, [10, 10], 20)]
    lines = []
    for dt, scale, counts, total in pts:
        dp = {"timeUnixNano": str((t0 + dt) * S), "scale": scale, "count": str(total), "zeroCount": "0",
              "positive": {"offset": 0, "bucketCounts": [str(c) for c in counts]}}
        metric = {"name": "lat", "exponentialHistogram": {"aggregationTemporality": 2, "dataPoints": [dp]}}
        lines.append(json.dumps({"resourceMetrics": [{"resource": {}, "scopeMetrics": [{"metrics": [metric]}]}]}))
    path = tmp_path / "exp.otlp.jsonl"
    path.write_text("\n".join(lines) + "\n")
    df = ob.load(str(path), engine="polars").filter(pl.col("metric") == "lat_bucket")
    layout = df.group_by("time").agg(pl.col("le")).sort("time")["le"].to_list()
    assert layout == [["0", "2", "4", "+Inf"]] * 3
    assert df.filter(pl.col("le") == "4")["value"].to_list() == [10.0, 15.0, 20.0]
    median = values(ob.histogram_quantile(ob.increase(df, "30s"), 0.5))
    assert median[t0 + 30] == pytest.approx(3.0, rel=1e-12)
