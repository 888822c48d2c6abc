"""obsnb.testing: canonical frames from plain Python, and the conformance check."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import polars as pl
import pytest

from obsnb.testing import assert_frame_conforms, make_logs, make_metrics, make_spans


def test_make_logs_is_canonical(engine):
    """Records become a canonical logs frame: columns in order, UTC ns times, levels mapped, ids lowercase."""
    df = make_logs(
        [
            {"time": "2024-05-14T15:00:00+02:00", "level": "warn", "event": "slow", "trace_id": "ABCD", "job_id": 7},
            {"time": 1715691600, "level": 50, "event": "boom"},
        ],
        engine=engine,
    )
    assert_frame_conforms(df, "logs")
    pdf = df.to_pandas() if engine == "polars" else df
    assert list(pdf.columns) == ["time", "level", "event", "service", "trace_id", "span_id", "job_id", "_source", "_line"]
    assert [str(t) for t in pdf["time"]] == ["2024-05-14 13:00:00+00:00", "2024-05-14 13:00:00+00:00"]
    assert pdf["level"].tolist() == ["WARNING", "ERROR"]
    assert pdf["trace_id"].tolist()[0] == "abcd"
    assert isinstance(df, pl.DataFrame if engine == "polars" else pd.DataFrame)


def test_make_spans_computes_duration(engine):
    """duration_ms comes from start/end; links stay a list column after the attributes."""
    df = make_spans(
        trace_id=["T"], span_id=["S"], start=[dt.datetime(2024, 5, 14, 13, tzinfo=dt.timezone.utc)],
        end=["2024-05-14T13:00:01.5Z"], status=["OK"], links=[[{"trace_id": "u", "span_id": "v"}]], engine=engine,
    )
    assert_frame_conforms(df, "spans")
    pdf = df.to_pandas() if engine == "polars" else df
    assert pdf["duration_ms"].tolist() == [1500.0]
    assert pdf.columns.tolist()[11:] == ["links", "_source", "_line"]


def test_make_metrics(engine):
    """Metrics keep label columns after time, metric, value (value as float)."""
    df = make_metrics(time=["2024-05-14T13:00:00Z"], metric=["up"], value=[1], job=["api"], engine=engine)
    assert_frame_conforms(df, "metrics")
    pdf = df.to_pandas() if engine == "polars" else df
    assert pdf.columns.tolist()[:4] == ["time", "metric", "value", "job"] and pdf["value"].tolist() == [1.0]


def test_assert_frame_conforms_catches_problems():
    """Wrong order, naive times, uppercase ids and odd levels are each reported."""
    good = make_logs(time=["2024-05-14T13:00:00Z"], trace_id=["ab"])
    with pytest.raises(AssertionError, match="in order"):
        assert_frame_conforms(good[["level", "time", "event", "service", "trace_id", "span_id"]], "logs")
    naive = good.assign(time=good["time"].dt.tz_localize(None))
    with pytest.raises(AssertionError, match="'time'"):
        assert_frame_conforms(naive, "logs")
    with pytest.raises(AssertionError, match="uppercase"):
        assert_frame_conforms(good.assign(trace_id=["AB"]), "logs")
    with pytest.raises(AssertionError, match="non-canonical"):
        assert_frame_conforms(good.assign(level=["warn"]), "logs")
