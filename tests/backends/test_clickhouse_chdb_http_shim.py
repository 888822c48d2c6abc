"""ClickHouse on the real engine: chdb behind a loopback HTTP shim (chdb_shim.py), tables from the exporter's DDL.

Loading: ``ob.load("clickhouse://...")`` reads ``otel_traces`` and both ``otel_logs`` schemas (current,
without ``TimestampTime``; older, with it) by asking the table's columns first.
"""

from __future__ import annotations

import pandas as pd
import pytest

import obsnb as ob
from chdb_fixture import LOGS, MIN, SPANS, T0, ch  # noqa: F401 - ch is the module's server fixture
from obsnb.errors import QueryError


def test_chdb_http_shim_spans_load_every_fixture_span(ch):
    url, _ = ch
    df = ob.load(url, kind="spans")
    assert len(df) == len(SPANS)
    want = sorted(SPANS, key=lambda r: r["Timestamp"])
    assert df["start"].astype("int64").tolist() == [r["Timestamp"] for r in want]
    assert df["duration_ms"].tolist() == [r["Duration"] / 1e6 for r in want]
    assert set(df["status"]) == {"OK", "ERROR", "UNSET"}
    assert df["http.route"].tolist() == [r["SpanAttributes"]["http.route"] for r in want]


@pytest.mark.parametrize("table", ["otel_logs", "otel_logs_older"])
def test_chdb_http_shim_logs_load_from_the_current_and_the_older_schema(ch, table):
    """The current otel_logs has no TimestampTime: the SELECT is built from DESCRIBE, so both schemas load."""
    url, shim = ch
    start, end = T0 + 5 * MIN, T0 + 25 * MIN
    df = ob.load(url, kind="logs", table=table, start=start, end=end)
    want = [r for r in LOGS if start <= r["Timestamp"] < end]
    assert df["time"].tolist() == [pd.Timestamp(r["Timestamp"], unit="ns", tz="UTC") for r in want]
    assert df["level"].tolist() == ["ERROR" if r["SeverityNumber"] == 17 else "INFO" for r in want]
    assert df["event"].tolist() == [r["Body"] for r in want]
    assert df["job.id"].tolist() == [r["LogAttributes"]["job.id"] for r in want]
    sql = [q for q in shim.sql if f"FROM {table}" in q][-1]
    assert ("TimestampTime" in sql) == (table == "otel_logs_older")
    if table == "otel_logs":
        assert df["event_name"].fillna("").tolist() == [r["EventName"] for r in want]


def test_chdb_http_shim_a_rejected_query_carries_clickhouse_words_and_status(ch):
    url, _ = ch
    with pytest.raises(QueryError) as err:
        ob.load(url, kind="logs", query="ServiceName = = 'api'")
    assert err.value.status == 400 and "Code: 62. DB::Exception: Syntax error" in str(err.value)
    with pytest.raises(QueryError) as err:
        ob.load(url, kind="logs", table="otel_nope")
    assert err.value.status == 404 and "Code: 60" in str(err.value)
