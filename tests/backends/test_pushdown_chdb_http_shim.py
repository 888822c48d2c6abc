"""The helpers' ClickHouse forms on the real engine (chdb behind the HTTP shim): the same frame as in memory.

Each test runs the helper on the ``clickhouse://`` source (one SQL query, the work done by ClickHouse) and on
the same rows loaded with ``ob.load`` (the in-memory helper), and compares the frames: same columns, dtypes
and rows. Quantiles and ``per_second`` agree to 1e-12 relative, counts and times exactly:
``quantilesExactInclusive`` and polars interpolate linearly between the same order statistics, and polars
divides a column by a constant through its reciprocal (23 / 60 is 1 ulp off), so the last bits differ. A few numbers are also computed
here with numpy straight from the fixture.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import obsnb as ob
from chdb_fixture import LOGS, MIN, S, SPANS, T0, ch  # noqa: F401 - ch is the module's server fixture
from obsnb.errors import UsageError


def same(remote, local, rtol=0.0):
    assert list(remote.columns) == list(local.columns)
    assert len(remote) == len(local) > 0
    for c in remote.columns:  # integers and times exactly, floats to rtol
        exact = rtol == 0.0 or remote[c].dtype.kind != "f"
        pd.testing.assert_series_equal(remote[c], local[c], check_exact=exact, rtol=rtol or 1e-5, atol=0)


@pytest.mark.parametrize("by, every", [("service", "1min"), (None, "5min"), ("service", None), (["service", "http.route"], "10min")])
def test_chdb_http_shim_latency_pushed_down_equals_in_memory(ch, by, every):
    url, shim = ch
    remote = ob.latency(url, by=by, every=every, kind="spans")
    assert "quantilesExactInclusive(0.5, 0.95, 0.99)(Duration / 1000000)" in shim.sql[-1]
    local = ob.latency(ob.load(url, kind="spans"), by=by, every=every)
    same(remote, local, rtol=1e-12)


def test_chdb_http_shim_latency_exact_false_uses_quantiles_exact_under_8192_values(ch):
    """ClickHouse's ``quantiles`` keeps every value while a group holds at most 8,192: the same numbers here."""
    url, shim = ch
    remote = ob.latency(url, by="service", every="5min", kind="spans", exact=False)
    assert "quantiles(0.5, 0.95, 0.99)(Duration / 1000000)" in shim.sql[-1]
    same(remote, ob.latency(ob.load(url, kind="spans"), by="service", every="5min"), rtol=1e-12)


def test_chdb_http_shim_latency_numbers_match_numpy_on_the_fixture(ch):
    """p99 of api in the first minute, straight from the fixture rows with numpy's linear interpolation."""
    url, _ = ch
    remote = ob.latency(url, q=(0.5, 0.99), by="service", every="1min", kind="spans", start=T0, end=T0 + 10 * MIN)
    d = np.array([r["Duration"] / 1e6 for r in SPANS if r["ServiceName"] == "api" and r["Timestamp"] < T0 + MIN])
    row = remote[(remote["service"] == "api") & (remote["time"] == pd.Timestamp(T0, unit="ns", tz="UTC"))].iloc[0]
    assert row["count"] == len(d)
    assert row["p99"] == pytest.approx(np.quantile(d, 0.99), rel=1e-12)
    assert row["p50"] == pytest.approx(np.quantile(d, 0.5), rel=1e-12)
    assert remote["time"].max() < pd.Timestamp(T0 + 10 * MIN, unit="ns", tz="UTC")


def test_chdb_http_shim_latency_explain_returns_the_sql_without_running_it(ch):
    url, shim = ch
    n = len(shim.sql)
    sql = ob.latency(url, by="service", every="1min", kind="spans", explain=True)
    assert "toStartOfInterval(Timestamp, INTERVAL 60000000000 NANOSECOND)" in sql and sql.startswith("SELECT")
    assert shim.sql[n:] == ["DESCRIBE TABLE otel_traces FORMAT TabSeparated"]  # only the columns were asked


@pytest.mark.parametrize("by, window", [("service", True), ("service", False), (None, True)])
def test_chdb_http_shim_rate_fills_empty_buckets_like_in_memory(ch, by, window):
    """web is silent from T0+10m to T0+20m: its 1-minute buckets there are zeros, in SQL (WITH FILL) as in memory."""
    url, shim = ch
    bounds = dict(start=T0 - 2 * MIN, end=T0 + 32 * MIN) if window else {}
    remote = ob.rate(url, "1min", by=by, kind="spans", **bounds)
    assert "WITH FILL" in shim.sql[-1]
    local = ob.rate(ob.load(url, kind="spans"), "1min", by=by, **bounds)
    same(remote, local, rtol=1e-12)
    if by:
        web = remote[remote["service"] == "web"]
        quiet = web[(web["time"] >= pd.Timestamp(T0 + 10 * MIN, unit="ns", tz="UTC"))
                    & (web["time"] < pd.Timestamp(T0 + 20 * MIN, unit="ns", tz="UTC"))]
        assert quiet["count"].tolist() == [0] * 10
        assert len(web) == (34 if window else 30)


def test_chdb_http_shim_rate_on_logs_current_and_older_schema(ch):
    url, _ = ch
    for table in ("otel_logs", "otel_logs_older"):
        remote = ob.rate(url, "2min", by="service", kind="logs", table=table)
        same(remote, ob.rate(ob.load(url, kind="logs", table=table), "2min", by="service"), rtol=1e-12)
        assert remote["count"].sum() == len(LOGS)


def test_chdb_http_shim_error_rate_on_spans_equals_in_memory(ch):
    url, _ = ch
    remote = ob.error_rate(url, "5min", by="service", kind="spans")
    same(remote, ob.error_rate(ob.load(url, kind="spans"), "5min", by="service"), rtol=1e-12)
    api = [r for r in SPANS if r["ServiceName"] == "api"]
    assert remote["errors"].sum() == sum(r["StatusCode"] == "Error" for r in api)


@pytest.mark.parametrize("by, window", [("service", True), ("service", False), (None, True)])
def test_chdb_http_shim_gaps_with_window_functions_equal_in_memory(ch, by, window):
    url, shim = ch
    bounds = dict(start=T0 - 5 * MIN, end=T0 + 40 * MIN) if window else {}
    remote = ob.gaps(url, "3min", by=by, kind="spans", **bounds)
    assert "lagInFrame" in shim.sql[-1]
    local = ob.gaps(ob.load(url, kind="spans"), "3min", by=by, **bounds)
    if by is None and not window:
        assert len(remote) == len(local) == 0
        return
    same(remote, local)
    if by:
        web = remote[remote["service"] == "web"].iloc[[0 if not window else 1]]
        ts = sorted(r["Timestamp"] for r in SPANS if r["ServiceName"] == "web")
        before = max(t for t in ts if t < T0 + 10 * MIN)
        after = min(t for t in ts if t >= T0 + 20 * MIN)
        assert web["gap_start"].iloc[0] == pd.Timestamp(before, unit="ns", tz="UTC")
        assert web["gap_end"].iloc[0] == pd.Timestamp(after, unit="ns", tz="UTC")


def test_chdb_http_shim_gaps_on_logs_by_service(ch):
    url, _ = ch
    remote = ob.gaps(url, "4min", by="service", kind="logs", start=T0, end=T0 + 30 * MIN)
    same(remote, ob.gaps(ob.load(url, kind="logs"), "4min", by="service", start=T0, end=T0 + 30 * MIN))
    assert remote["service"].tolist() == ["worker"]


def test_chdb_http_shim_pushdown_errors_are_clear(ch):
    url, _ = ch
    with pytest.raises(UsageError, match="value='duration_ms'"):
        ob.latency(url, value="bytes", kind="spans")
    with pytest.raises(ob.QueryError, match="Code: 47"):
        ob.rate(url, "1min", kind="spans", query="NoSuchColumn = 1")
