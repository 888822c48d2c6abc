"""The charts of an ob.scan(): aggregated in the engine (the scan is never collected), the same chart data as the
chart of the collected frame, and never more than MAX_POINTS rows."""

from __future__ import annotations

import warnings

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
