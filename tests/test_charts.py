"""ob.charts: charts are returned (not displayed), aggregated before charting, and lines do not bridge gaps."""

from __future__ import annotations

import json
import re

import altair as alt
import numpy as np
import pandas as pd
import polars as pl
import pytest

from obsnb import charts


def _data(chart) -> list[pd.DataFrame]:
    """Every inline dataset of a chart, as frames (what the browser would receive)."""
    spec = chart.to_dict()
    return [pd.DataFrame(v) for v in spec.get("datasets", {}).values()]


def _calls(n_minutes=60, hole=(20, 30)):
    t = pd.date_range("2026-11-03T12:00Z", periods=n_minutes * 6, freq="10s")
    keep = ~((t >= t[0] + pd.Timedelta(minutes=hole[0])) & (t < t[0] + pd.Timedelta(minutes=hole[1])))
    t = t[keep]
    return pd.DataFrame({"time": t, "duration_ms": np.arange(len(t), dtype=float) % 100 + 1})


def test_latency_line_breaks_inside_a_gap():
    """A 10-minute hole in the data becomes a null row between the buckets, so the line has two parts."""
    chart = charts.latency(_calls(), every="1min", q=(0.5,))
    (data,) = [d for d in _data(chart) if "percentile" in d]
    data["time"] = pd.to_datetime(data["time"], utc=True)
    nulls = data[data["ms"].isna()]
    assert list(nulls["time"]) == [pd.Timestamp("2026-11-03T12:20:00Z")]
    assert not ((data["time"] > pd.Timestamp("2026-11-03T12:20:00Z")) & (data["time"] < pd.Timestamp("2026-11-03T12:30:00Z"))).any()


def test_line_across_gap_draws_two_subpaths():
    """Rendered by vega (vl-convert), the line for data with a hole is two separate subpaths, not one."""
    import vl_convert as vlc  # a dependency of obsnb
    chart = charts.latency(_calls(), every="1min", q=(0.5,))
    svg = vlc.vegalite_to_svg(chart.to_dict())
    (line,) = re.findall(r'aria-roledescription="line mark" d="([^"]+)"', svg)
    assert line.count("M") == 2


def test_gap_bands_cover_each_silence():
    """gaps= adds one red band per silence with its start, end and minutes."""
    gaps = pd.DataFrame({"worker": ["worker-2"], "gap_start": [pd.Timestamp("2026-11-03T12:20Z")],
                         "gap_end": [pd.Timestamp("2026-11-03T13:39Z")], "duration": [pd.Timedelta(minutes=79)]})
    chart = charts.latency(_calls(), every="1min", gaps=gaps)
    spec = chart.to_dict()
    rects = [layer for layer in spec["layer"] if layer["mark"]["type"] == "rect"]
    assert len(rects) == 1
    band = [d for d in _data(chart) if "minutes" in d][0]
    assert band[["worker", "minutes"]].to_dict("records") == [{"worker": "worker-2", "minutes": 79.0}]


def test_series_aggregates_large_input():
    """100,000 metric samples reach the chart as at most MAX_POINTS rows per series, keeping the max."""
    t = pd.date_range("2026-11-03T00:00Z", periods=100_000, freq="1s")
    values = np.zeros(len(t))
    values[54_321] = 999.0
    m = pd.DataFrame({"time": t, "metric": "queue_depth", "value": values})
    chart = charts.series(m, "queue_depth")
    (data,) = _data(chart)
    assert len(data) <= charts.MAX_POINTS
    assert data["value"].max() == 999.0
    assert len(json.dumps(chart.to_dict())) < 200_000


def test_charts_accept_polars_and_are_not_displayed():
    """Polars frames work, and every helper returns an altair chart object."""
    calls = pl.from_pandas(_calls())
    made = [
        charts.latency(calls, every="5min"),
        charts.rate(calls, "5min"),
        charts.error_rate(calls.with_columns(level=pl.lit("INFO")), "5min"),
        charts.before_after({"p95": 1.0, "p99": 2.0}, {"p95": 3.0, "p99": 4.0}, columns=("p95", "p99")),
    ]
    assert all(isinstance(c, alt.TopLevelMixin) for c in made)
    ba = _data(made[-1])[0]
    assert ba[["period", "stat", "ms"]].values.tolist() == [
        ["before", "p95", 1.0], ["before", "p99", 2.0], ["during", "p95", 3.0], ["during", "p99", 4.0]]


def test_rate_shows_empty_buckets_as_zero():
    """A bucket with no events is a bar of height 0, not a missing bar."""
    chart = charts.rate(_calls(), "5min")
    (data,) = _data(chart)
    counts = dict(zip(pd.to_datetime(data["time"], utc=True).dt.strftime("%H:%M"), data["count"]))
    assert counts["12:20"] == 0 and counts["12:25"] == 0 and counts["12:15"] == 30


def test_waterfall_puts_log_events_on_their_span_rows():
    """Each span is a bar row in start order; each log line is a mark on its span's row, text kept as data."""
    t0 = pd.Timestamp("2026-11-03T13:00Z")
    tl = pd.DataFrame([
        {"source": "span", "time": t0, "end": t0 + pd.Timedelta("2s"), "duration_ms": 2000.0, "name": "process",
         "service": "w", "status": "ERROR", "span_id": "a", "depth": 0, "level": "ERROR"},
        {"source": "span", "time": t0 + pd.Timedelta("100ms"), "end": t0 + pd.Timedelta("1s"), "duration_ms": 900.0,
         "name": "POST /v1/charges", "service": "w", "status": "ERROR", "span_id": "b", "depth": 1, "level": "ERROR"},
        {"source": "log", "time": t0 + pd.Timedelta("1s"), "end": pd.NaT, "duration_ms": np.nan,
         "name": "job_failed", "service": "w", "status": None, "span_id": "b", "depth": 1, "level": "ERROR",
         "error": "<script>alert(1)</script>"},
    ])
    chart = charts.waterfall(tl)
    frames = _data(chart)
    spans = [d for d in frames if "duration_ms" in d][0]
    logs = [d for d in frames if "event" in d][0]
    assert list(spans["row"]) == ["000 process", "001 · POST /v1/charges"]
    assert logs[["row", "event", "error"]].values.tolist() == [["001 · POST /v1/charges", "job_failed",
                                                                "<script>alert(1)</script>"]]


def test_incident_timeline_orders_events():
    """Timeline rows are numbered in time order; events with an end are drawn as bars."""
    ev = pd.DataFrame({"time": pd.to_datetime(["2026-11-03T13:22Z", "2026-11-03T13:05Z"], utc=True),
                       "end": pd.to_datetime(["2026-11-03T14:41Z", None], utc=True),
                       "event": ["worker-2 silent", "deploy 2.14.0"], "kind": ["absence", "change"]})
    chart = charts.incident_timeline(ev)
    (data,) = _data(chart)
    assert list(data["row"]) == ["01 deploy 2.14.0", "02 worker-2 silent"]
    assert [layer["mark"]["type"] for layer in chart.to_dict()["layer"]] == ["bar", "point"]


def test_charts_of_evidence_spanning_years_stay_under_the_row_limit():
    """A 5-minute bucket over three years of logs is widened so the chart holds at most MAX_POINTS rows."""
    import pandas as pd

    from obsnb import charts
    from obsnb.testing import make_logs

    times = pd.date_range("2021-01-01", "2024-01-01", periods=500, tz="UTC")
    logs = make_logs([{"time": t, "level": "ERROR" if i % 7 == 0 else "INFO", "event": "x", "service": f"s{i % 3}"}
                      for i, t in enumerate(times)])
    for chart in (charts.error_rate(logs, "5min"), charts.rate(logs, "5min", by="service")):
        assert 0 < len(chart.data) <= charts.MAX_POINTS


@pytest.mark.parametrize("seconds, fmt", [(3, "%H:%M:%S.%L"), (20, "%H:%M:%S"), (3 * 3600, "%H:%M"),
                                          (3 * 86400, "%b %d %H:%M")])
def test_waterfall_and_timeline_axes_label_what_their_span_needs(seconds, fmt):
    """A trace of seconds is labelled to the millisecond or second (a minute-only axis showed `03:07` on every
    tick of a 20 s trace); an incident of hours in minutes; one of days with the day."""
    t = pd.Timestamp("2026-11-17T03:07:19Z")
    end = t + pd.Timedelta(seconds=seconds)
    spans = pd.DataFrame({"source": ["span"] * 2, "time": [t, t], "end": [end, t + (end - t) / 2], "depth": [0, 1],
                          "name": ["run", "call"], "span_id": ["a", "b"], "duration_ms": [seconds * 1e3, seconds * 5e2],
                          "service": ["w", "w"], "status": ["ERROR", "OK"]})
    events = pd.DataFrame({"time": [t, end], "event": ["first", "last"]})
    for chart in (charts.waterfall(spans), charts.incident_timeline(events)):
        formats = {layer["encoding"]["x"]["axis"]["format"] for layer in chart.to_dict()["layer"]
                   if isinstance(layer["encoding"].get("x"), dict) and "axis" in layer["encoding"]["x"]}
        assert formats == {fmt}
