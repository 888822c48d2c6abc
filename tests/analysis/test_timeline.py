"""ob.timeline: one trace (or a queue-joined chain) in time order with span depths."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pytest
from _support import to_pandas
from hypothesis import given, settings
from hypothesis import strategies as st

import obsnb as ob
from obsnb.errors import UsageError
from obsnb.testing import make_logs, make_spans

T0 = pd.Timestamp("2024-05-14T13:00:00Z")


def _t(ms):
    return T0 + pd.Timedelta(milliseconds=ms)


def _spans(engine):
    rows = [
        dict(trace_id="T1", span_id="A", parent_span_id=None, name="POST /jobs", service="api", start=_t(0), end=_t(1000), status="OK", kind="SERVER", links=[]),
        dict(trace_id="T1", span_id="B", parent_span_id="A", name="INSERT jobs", service="api", start=_t(100), end=_t(150), status="OK", kind="CLIENT", links=[]),
        dict(trace_id="T1", span_id="C", parent_span_id="A", name="publish", service="api", start=_t(200), end=_t(250), status="OK", kind="PRODUCER", links=[]),
        dict(trace_id="T2", span_id="D", parent_span_id=None, name="process", service="worker", start=_t(5000), end=_t(9000), status="ERROR", kind="CONSUMER", links=[{"trace_id": "T1", "span_id": "C"}]),
        dict(trace_id="T2", span_id="E", parent_span_id="D", name="charge", service="worker", start=_t(6000), end=_t(8000), status="ERROR", kind="CLIENT", links=[]),
        dict(trace_id="T9", span_id="F", parent_span_id=None, name="GET /health", service="api", start=_t(50), end=_t(60), status="OK", kind="SERVER", links=[]),
    ]
    return make_spans(rows, engine=engine)


def _logs(engine):
    rows = [
        dict(time=_t(210), trace_id="T1", span_id="C", event="job_enqueued", level="info", service="api", job_id="j1"),
        dict(time=_t(6500), trace_id="T2", span_id="E", event="charge_failed", level="error", service="worker", job_id="j1"),
        dict(time=_t(30000), trace_id="T3", span_id=None, event="job_retry", level="warn", service="worker", job_id="j1"),
        dict(time=_t(55), trace_id="T9", span_id="F", event="ok", level="info", service="api", job_id=None),
    ]
    return make_logs(rows, engine=engine)


def test_single_trace_in_time_order_with_depth(engine):
    """follow=False: trace T1's three spans and one log, by time; the log takes its span's depth (1)."""
    out = to_pandas(ob.timeline("T1", logs=_logs(engine), spans=_spans(engine), follow=False))
    assert out.columns[:11].tolist() == ["time", "end", "duration_ms", "source", "service", "name", "level",
                                          "trace_id", "span_id", "parent_span_id", "depth"]
    assert out["name"].tolist() == ["POST /jobs", "INSERT jobs", "publish", "job_enqueued"]
    assert out["source"].tolist() == ["span", "span", "span", "log"]
    assert out["depth"].tolist() == [0, 1, 1, 1]
    assert out["duration_ms"].iloc[0] == 1000.0


def test_links_and_carried_job_id_join_the_chain(engine):
    """T2 links to T1's publish span and T3 carries job j1: one chain, the consumer under the producer."""
    out = to_pandas(ob.timeline("t1", logs=_logs(engine), spans=_spans(engine)))
    assert out["name"].tolist() == [
        "POST /jobs", "INSERT jobs", "publish", "job_enqueued", "process", "charge", "charge_failed", "job_retry"
    ]
    assert out["trace_id"].tolist() == ["t1", "t1", "t1", "t1", "t2", "t2", "t2", "t3"]
    assert out["depth"].tolist() == [0, 1, 1, 1, 2, 3, 3, 0]
    assert out["level"].tolist()[4:7] == ["ERROR", "ERROR", "ERROR"]


def test_logs_alone(engine):
    """Without spans the trace's log events come in time order (the chain via job_id included)."""
    out = to_pandas(ob.timeline("T2", logs=_logs(engine)))
    assert out["name"].tolist() == ["job_enqueued", "charge_failed", "job_retry"]
    assert set(out["depth"]) == {0}
    assert isinstance(ob.timeline("T2", logs=_logs(engine)), pl.DataFrame if engine == "polars" else pd.DataFrame)


def test_spans_alone(engine):
    """Spans alone work too: T2's spans plus the linked T1 ones."""
    out = to_pandas(ob.timeline("T2", spans=_spans(engine)))
    assert out["span_id"].tolist() == ["a", "b", "c", "d", "e"]


def test_all_traces(engine):
    """trace_id=None gives every trace, traces in the order they began, each in time order."""
    out = to_pandas(ob.timeline(None, logs=_logs(engine), spans=_spans(engine)))
    assert out["trace_id"].tolist() == ["t1"] * 4 + ["t9"] * 2 + ["t2"] * 3 + ["t3"]
    assert out["name"].tolist()[4:6] == ["GET /health", "ok"]


def test_needs_something():
    """Neither logs nor spans is a UsageError."""
    with pytest.raises(UsageError):
        ob.timeline("x")


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_timeline_keeps_every_span_and_log(data):
    """Random span trees and logs: the timeline has exactly the trace's spans and logs, sorted, parents shallower."""
    n = data.draw(st.integers(1, 25))
    parents = [None] + [data.draw(st.integers(0, i - 1)) for i in range(1, n)]
    traces = data.draw(st.lists(st.sampled_from(["aa", "bb"]), min_size=n, max_size=n))
    spans = make_spans(
        trace_id=["aa"] * n,
        span_id=[f"s{i}" for i in range(n)],
        parent_span_id=[None if p is None else f"s{p}" for p in parents],
        start=[_t(data.draw(st.integers(0, 10_000))) for _ in range(n)],
        end=[_t(20_000)] * n,
        name=[f"op{i}" for i in range(n)],
    )
    m = data.draw(st.integers(0, 20))
    logs = make_logs(
        time=[_t(data.draw(st.integers(0, 20_000))) for _ in range(m)],
        trace_id=[traces[i % n] for i in range(m)],
        span_id=[f"s{data.draw(st.integers(0, n - 1))}" for _ in range(m)],
        event=[f"e{i}" for i in range(m)],
    )
    out = ob.timeline("aa", logs=logs, spans=spans)
    assert sorted(out.loc[out.source == "span", "span_id"]) == sorted(spans["span_id"])
    assert sorted(out.loc[out.source == "log", "name"]) == sorted(logs.loc[logs.trace_id == "aa", "event"])
    assert out["time"].is_monotonic_increasing
    depth = dict(zip(out.loc[out.source == "span", "span_id"], out.loc[out.source == "span", "depth"]))
    for i, p in enumerate(parents):
        assert depth[f"s{i}"] == (0 if p is None else depth[f"s{p}"] + 1)
    pl_out = ob.timeline("aa", logs=pl.from_pandas(logs), spans=pl.from_pandas(spans)).to_pandas()
    pd.testing.assert_frame_equal(out.drop(columns=["_source"]), pl_out.drop(columns=["_source"]), check_dtype=False)
