"""The report's "Metrics that moved": each metric read by its kind, per label set, and the chart shows what the
table says.

The metrics are written here as a Prometheus text exposition a user would save; expected values come from how
the series are built (rates per second, gauge levels, the bucket an observation falls in)."""

from __future__ import annotations

import datetime as dt
import warnings

import pytest

import obsnb as ob
from obsnb import notebook as obn

T0 = int(dt.datetime(2026, 9, 22, 8, 0, tzinfo=dt.timezone.utc).timestamp())
W0, W1 = T0 + 3600, T0 + 7200  # the window; the hour before it is the baseline
WINDOW = {"start": "2026-09-22T09:00Z", "end": "2026-09-22T10:00Z"}
STEP = 15


def jobs_done(node: str, t: int) -> int:
    """Every node completes 10 jobs/s; in the window `b` completes 20/s, and `c` restarts at W0 + 30 min (its
    counter starts again from 0, still at 10/s)."""
    if node == "b" and t >= W0:
        return 10 * (W0 - T0) + 20 * (t - W0)
    if node == "c" and t >= W0 + 1800:
        return 10 * (t - (W0 + 1800))
    return 10 * (t - T0)


def exposition(typed: bool = True) -> str:
    lines = ["# TYPE jobs_done_total counter"] if typed else []
    lines += [f'jobs_done_total{{node="{n}"}} {jobs_done(n, t)} {t * 1000}' for t in range(T0, W1, STEP) for n in "abc"]
    if typed:
        lines.append("# TYPE queue_depth gauge")
    # lane 1 holds 5 messages before the window and 50 in it; lane 2 holds 5 throughout
    lines += [f'queue_depth{{lane="{lane}"}} {50 if (lane == 1 and t >= W0) else 5} {t * 1000}'
              for t in range(T0, W1, STEP) for lane in (1, 2)]
    # no # TYPE: a histogram by its name. 10 observations a second, all <= 0.1 s before the window, all in
    # (0.1, 0.5] in it
    for t in range(T0, W1, STEP):
        fast, slow = 10 * (min(t, W0) - T0), 10 * max(0, t - W0)
        for le, v in (("0.1", fast), ("0.5", fast + slow), ("+Inf", fast + slow)):
            lines.append(f'request_seconds_bucket{{le="{le}"}} {v} {t * 1000}')
        lines.append(f"request_seconds_count {fast + slow} {t * 1000}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def overview(tmp_path, monkeypatch):
    """Run obn.metrics_overview on the exposition; return (text, table, charts) as the page would show them."""
    def run(typed: bool = True, **kw):
        f = tmp_path / "m.prom"
        f.write_text(exposition(typed))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metrics = ob.load(str(f))
        found = ob.investigate(None, None, metrics, **WINDOW)
        shown = {"md": [], "table": [], "charts": []}
        monkeypatch.setattr(obn, "md", lambda template, **v: shown["md"].append(template.format(**v)))
        monkeypatch.setattr(obn, "show", lambda df, **k: shown["table"].append(df))
        monkeypatch.setattr(obn, "draw", lambda chart, *a: shown["charts"].append(chart))
        obn.metrics_overview(metrics, found, **kw)
        return shown["md"][0], shown["table"][0], shown["charts"]
    return run


def rows(table):
    return {(r["metric"], r["label set"]): (r["kind"], r["before"], r["during"]) for r in table.to_dict("records")}


def test_counters_are_compared_as_rates_per_label_set(overview):
    """A counter's mean always grows; its rate does not. `b` doubled its rate (10/s -> 20/s); `a` did not move;
    `c`'s reset is no drop in its rate."""
    _, table, _ = overview()
    got = rows(table)
    assert got[("jobs_done_total", "node=b")] == ("counter", pytest.approx(10.0), pytest.approx(20.0))
    assert got[("jobs_done_total", "node=a")] == ("counter", pytest.approx(10.0), pytest.approx(10.0))
    assert got[("jobs_done_total", "node=c")] == ("counter", pytest.approx(10.0), pytest.approx(10.0, rel=0.01))
    order = [r["label set"] for r in table.to_dict("records") if r["metric"] == "jobs_done_total"]
    assert order[0] == "node=b"  # the label set that moved most is named first


def test_gauges_are_values_and_histograms_quantiles(overview):
    """queue_depth lane=1: 5 -> 50 (lane 2 stays 5); request_seconds p95: 0.095 s (95% into the (0, 0.1] bucket)
    -> 0.48 s (95% into (0.1, 0.5]), PromQL's linear interpolation within the bucket."""
    _, table, _ = overview()
    got = rows(table)
    assert got[("queue_depth", "lane=1")] == ("gauge", pytest.approx(5.0), pytest.approx(50.0))
    assert got[("queue_depth", "lane=2")] == ("gauge", pytest.approx(5.0), pytest.approx(5.0))
    assert got[("request_seconds", "(no labels)")] == ("histogram", pytest.approx(0.095), pytest.approx(0.48))
    assert "request_seconds_count" not in set(table["metric"])  # read with its histogram


def test_the_text_says_how_each_metric_was_read(overview):
    text, _, _ = overview()
    assert "jobs_done_total as a counter (rate per second; type metadata)" in text
    assert "queue_depth as a gauge (mean value; type metadata)" in text
    assert "request_seconds as a histogram (p95 from the buckets; name convention)" in text


def test_without_type_lines_the_name_decides_and_a_hint_overrides(overview):
    text, table, _ = overview(typed=False, kinds={"queue_depth": "counter"})
    assert "jobs_done_total as a counter (rate per second; name convention)" in text
    assert "queue_depth as a counter (rate per second; given)" in text
    # a level that never rises, read as a counter: no increase, a rate of 0
    assert rows(table)[("queue_depth", "lane=2")] == ("counter", pytest.approx(0.0), pytest.approx(0.0))


def test_the_chart_shows_the_label_sets_of_the_table_read_the_same_way(overview):
    """One chart per metric in the table, a line per label set the table names; the counter's line is its rate
    (10/s for `a`, 20/s for `b` once in the window), not the cumulative count."""
    _, table, charts = overview()
    metrics = list(dict.fromkeys(table["metric"]))
    assert len(charts) == len(metrics)
    for name, chart in zip(metrics, charts):
        data = chart.data if hasattr(chart, "data") and chart.data is not None else chart.layer[-1].data
        assert set(data["labels"]) == set(table[table["metric"] == name]["label set"]), name
        assert name in chart.title
    jobs = charts[metrics.index("jobs_done_total")]
    data = jobs.data
    b_in = data[(data["labels"] == "node=b") & (data["time"] >= f"{dt.datetime.fromtimestamp(W0 + 600, dt.timezone.utc)}")]
    assert b_in["value"].dropna().round(6).unique().tolist() == [20.0]
    assert data["value"].max() == pytest.approx(20.0)


def test_a_kind_for_a_metric_that_is_not_there_is_said(overview, monkeypatch):
    said = []
    monkeypatch.setattr(obn, "_print", said.append)
    overview(kinds={"queue_dept": "gauge"})
    assert said == ["metric_kinds names queue_dept: not a metric of this evidence, so nothing was read for it."]
