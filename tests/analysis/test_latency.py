"""ob.latency: exact percentiles per group and bucket, NaN handling, engines agree."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl
import pytest
from _support import to_pandas
from hypothesis import given, settings
from hypothesis import strategies as st

import obsnb as ob
from obsnb.analysis.latency import quantile_name
from obsnb.errors import UsageError
from obsnb.testing import make_logs

T0 = "2024-05-14T13:00:00Z"


def _logs(engine, values, services=None, seconds=None):
    n = len(values)
    secs = seconds if seconds is not None else list(range(n))
    times = [pd.Timestamp(T0) + pd.Timedelta(seconds=s) for s in secs]
    return make_logs(time=times, service=services or ["api"] * n, duration_ms=values, engine=engine)


def test_percentiles_match_numpy_linear(engine):
    """p50/p95/p99 of 1..100 ms are numpy's linear-interpolation quantiles (50.5, 95.05, 99.01)."""
    vals = [float(v) for v in range(1, 101)]
    out = to_pandas(ob.latency(_logs(engine, vals)))
    assert list(out.columns) == ["count", "p50", "p95", "p99", "nan"]
    assert out.loc[0, "count"] == 100
    for q, name in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        assert out.loc[0, name] == pytest.approx(float(np.quantile(vals, q)))


def test_by_and_every_give_one_row_per_group_and_bucket(engine):
    """by='service', every='1m': buckets start on the minute, rows sorted by time then service."""
    vals = [10.0, 20.0, 30.0, 40.0, 50.0]
    services = ["api", "db", "api", "api", "db"]
    secs = [5, 10, 59, 61, 130]
    out = to_pandas(ob.latency(_logs(engine, vals, services, secs), q=[0.5], by="service", every="1m"))
    assert list(out.columns) == ["time", "service", "count", "p50", "nan"]
    assert [str(t) for t in out["time"]] == [
        "2024-05-14 13:00:00+00:00", "2024-05-14 13:00:00+00:00", "2024-05-14 13:01:00+00:00", "2024-05-14 13:02:00+00:00"
    ]
    assert out["service"].tolist() == ["api", "db", "api", "db"]
    assert out["count"].tolist() == [2, 1, 1, 1]
    assert out["p50"].tolist() == [20.0, 20.0, 40.0, 50.0]


def test_nan_values_are_ignored_and_counted(engine):
    """NaN durations do not poison the quantile: they are left out and counted in `nan`."""
    out = to_pandas(ob.latency(_logs(engine, [1.0, float("nan"), 3.0, float("nan")]), q=0.5))
    assert out.loc[0, "count"] == 2 and out.loc[0, "nan"] == 2
    assert out.loc[0, "p50"] == 2.0


def test_all_nan_group_has_zero_count_and_null_quantiles(engine):
    """A group whose values are all NaN gives count 0 and a missing quantile, not an error."""
    out = to_pandas(ob.latency(_logs(engine, [float("nan")] * 3), q=0.99, by="service"))
    assert out.loc[0, "count"] == 0 and out.loc[0, "nan"] == 3
    assert pd.isna(out.loc[0, "p99"])


def test_empty_frame_gives_empty_result(engine):
    """No rows in, no rows out, with the documented columns."""
    empty = _logs(engine, [])
    out = to_pandas(ob.latency(empty, by="service", every="5m"))
    assert len(out) == 0
    assert list(out.columns) == ["time", "service", "count", "p50", "p95", "p99", "nan"]


def test_quantile_names():
    """0.999 is p99.9, 0.5 is p50, 1 is p100."""
    assert [quantile_name(q) for q in (0.5, 0.999, 1, 0.25, 0.0)] == ["p50", "p99.9", "p100", "p25", "p0"]


def test_same_frame_type_back():
    """pandas in gives pandas out; polars in gives polars out."""
    assert isinstance(ob.latency(_logs("pandas", [1.0, 2.0])), pd.DataFrame)
    assert isinstance(ob.latency(_logs("polars", [1.0, 2.0])), pl.DataFrame)


def test_bad_arguments_raise_usage_errors():
    """A missing column or a quantile of 95 raise UsageError saying what to do."""
    df = _logs("pandas", [1.0])
    with pytest.raises(UsageError, match="latency_ms"):
        ob.latency(df, "latency_ms")
    with pytest.raises(UsageError, match="0.95"):
        ob.latency(df, q=95)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=60),
    st.lists(st.integers(0, 1000).map(lambda k: k / 1000), min_size=2, max_size=5, unique=True),
)
def test_quantiles_monotone_and_bounded(values, qs):
    """For any data, quantiles grow with q, stay within [min, max] and match numpy; pandas equals polars."""
    qs = sorted(qs)
    pdf = _logs("pandas", values)
    out = ob.latency(pdf, q=qs)
    row = [out.iloc[0][quantile_name(q)] for q in qs]
    assert all(a <= b + 1e-9 * max(1.0, abs(b)) for a, b in zip(row, row[1:]))
    assert min(values) - 1e-9 <= row[0] and row[-1] <= max(values) + 1e-9 * max(1.0, abs(max(values)))
    assert row == pytest.approx([float(np.quantile(values, q)) for q in qs], rel=1e-9, abs=1e-6)
    pl_out = ob.latency(_logs("polars", values), q=qs).to_pandas()
    pd.testing.assert_frame_equal(out, pl_out, check_dtype=False)


def test_spans_use_start_as_time(engine):
    """On a spans frame `every` buckets by `start` without being told."""
    spans = ob.testing.make_spans(
        start=["2024-05-14T13:00:10Z", "2024-05-14T13:01:10Z"],
        end=["2024-05-14T13:00:11Z", "2024-05-14T13:01:13Z"],
        engine=engine,
    )
    out = to_pandas(ob.latency(spans, q=[0.5], every="1m"))
    assert out["p50"].tolist() == [1000.0, 3000.0]
    assert not math.isnan(out["count"].sum())


def test_named_pandas_index_counts_as_a_column():
    """A pandas frame indexed by time (set_index('time')) still buckets by that time."""
    df = _logs("pandas", [1.0, 2.0, 3.0], seconds=[0, 30, 300]).set_index("time")
    out = ob.latency(df, q=[0.5], every="5m")
    assert [str(t) for t in out["time"]] == ["2024-05-14 13:00:00+00:00", "2024-05-14 13:05:00+00:00"]
    assert out["p50"].tolist() == [1.5, 3.0]


def test_missing_values_in_a_big_group_leave_numpys_quantiles_of_the_rest(engine):
    """20,000 values with every third one NaN: count, nan and each quantile are numpy's linear quantiles of the
    13,333 kept values, to the last bit (the kept values are known from the construction)."""
    vals = [float("nan") if i % 3 == 1 else (i * 7919 % 10007) / 7.0 for i in range(20_000)]
    kept = np.array([v for v in vals if not math.isnan(v)])
    qs = (0.5, 0.95, 0.99, 0.999)
    out = to_pandas(ob.latency(_logs(engine, vals, seconds=[i % 3600 for i in range(20_000)]), q=qs))
    assert out.loc[0, "count"] == 13_333 and out.loc[0, "nan"] == 6_667
    for q in qs:
        assert out.loc[0, quantile_name(q)] == float(np.quantile(kept, q))
