"""The charts of an ob.scan(): aggregated in the engine (the scan is never collected), the same chart data as the
chart of the collected frame, and never more than MAX_POINTS rows."""

from __future__ import annotations

import warnings

import pandas as pd
import polars as pl
import pytest
from _support import SAMPLE_DATA

import obsnb as ob
from obsnb import charts, options

SPANS = str(SAMPLE_DATA / "incidents" / "taskqueue" / "traces" / "traces.jaeger.json.gz")
LOGS = str(SAMPLE_DATA / "incidents" / "taskqueue" / "logs")


@pytest.fixture(autouse=True)
def _options(monkeypatch):
    for name in ("cache", "engine", "progress"):
        monkeypatch.setitem(options._OPTIONS, name, options._OPTIONS[name])
    ob.set_option("progress", False)


def _data(chart) -> list:
    d = chart.to_dict()
    return [v for k, v in sorted(d.get("datasets", {}).items())]


@pytest.mark.parametrize("draw", [
    lambda f: charts.latency(f, time="start", every="5min"),
    lambda f: charts.latency(f, time="start"),
    lambda f: charts.rate(f, by="service", time="start"),
    lambda f: charts.error_rate(f, "10min", time="start"),
], ids=["latency-5min", "latency-auto", "rate-by-service", "error-rate"])
def test_chart_of_a_scan_is_the_chart_of_its_frame(draw, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scan = ob.scan(SPANS)
        want = _data(draw(scan.collect(engine="pandas")))
        monkeypatch.setattr(type(scan), "collect", lambda self, engine=None: pytest.fail("the chart collected the scan"))
        got = _data(draw(scan))
    assert got == want and got
    assert all(len(rows) <= charts.MAX_POINTS * 3 for rows in got)  # p50/p95/p99 lines of at most MAX_POINTS each


METRICS = str(SAMPLE_DATA / "metrics")


def _no_collect(monkeypatch, scan):
    monkeypatch.setattr(type(scan), "collect", lambda self, engine=None: pytest.fail("the chart collected the scan"))


def test_series_of_a_scan_is_the_series_of_its_frame(monkeypatch):
    """charts.series aggregates a metric's buckets in the engine: on a scan of metric files it draws the data it
    draws on the loaded frame (each metric, with and without a label split), never collecting the scan."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = ob.load(METRICS)
        scan = ob.scan(METRICS)
        names = frame["metric"].value_counts().index[:3].tolist()
        label = next(c for c in frame.columns if c not in ("time", "metric", "value") and not c.startswith("_")
                     and frame[c].notna().any())
        want = [_data(charts.series(frame, n)) for n in names] + [_data(charts.series(frame, names[0], by=label))]
        _no_collect(monkeypatch, scan)
        got = [_data(charts.series(scan, n)) for n in names] + [_data(charts.series(scan, names[0], by=label))]
    assert got == want and all(got)


def test_latency_and_rate_of_a_lazy_frame_are_those_of_its_rows():
    """A polars LazyFrame (what obn.calls_of / obn.work_rows return) is charted from its aggregate: the same data as
    the chart of the same rows as a pandas frame (ob.latency's quantiles, ob.rate's zero-filled buckets)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spans = ob.load(SPANS, engine="polars")
    rows = spans.select(pl.col("start").alias("time"), "duration_ms", "service")
    assert _data(charts.latency(rows.lazy(), every="5min")) == _data(charts.latency(rows.to_pandas(), every="5min"))
    assert _data(charts.latency(rows.lazy())) == _data(charts.latency(rows.to_pandas()))
    got = _data(charts.rate(rows.lazy(), by="service"))
    assert got == _data(charts.rate(rows.to_pandas(), by="service")) and got


def test_series_of_a_scan_is_each_minutes_maximum():
    """The numbers charts.series draws from a scan, bucket by bucket, are pandas' per-minute maxima of the metric's
    samples in the loaded frame (NaN samples left out)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = ob.load(METRICS)
        name = frame["metric"].value_counts().index[0]
        (drawn,) = _data(charts.series(ob.scan(METRICS), name, every="1min"))
    m = frame[frame["metric"] == name]
    want = m.assign(time=m["time"].dt.floor("1min")).groupby("time")["value"].max()
    got = {pd.Timestamp(r["time"]): r["value"] for r in drawn if r["value"] is not None}  # None: a line break
    assert len(got) == len(want) > 10
    assert got == want.to_dict()
