"""ClickHouse loader against a fake ClickHouse HTTP interface holding OpenTelemetry exporter rows.

Chosen over chdb behind a shim: chdb adds ~900 MB (173 MB wheel) to the test environment for one
backend, and has no HTTP server of its own, so the HTTP layer would still be a fake; the SQL obsnb
builds is pinned here instead (see test_clickhouse_fake_server_sql_pushes_window_and_filter).
"""

from __future__ import annotations

import pandas as pd
import pytest

import obsnb as ob
from _support import to_pandas
from fake_clickhouse import ClickHouseFake
from fake_server import FakeServer, Flaky

T0 = 1704067200 * 10**9
S = 10**9


def logs(n: int = 50) -> list[dict]:
    """OTel-exporter log rows, one per second; every 5th an ERROR with a trace id."""
    out = []
    for i in range(n):
        err = i % 5 == 0
        out.append({"Timestamp": T0 + i * S + 7, "SeverityText": "ERROR" if err else "info",
                    "SeverityNumber": 17 if err else 9, "Body": f"job {i} {'failed' if err else 'ok'}",
                    "ServiceName": "worker" if i % 2 else "api", "TraceId": f"{i:032X}" if err else "",
                    "SpanId": f"{i:016x}" if err else "", "ScopeName": "app",
                    "LogAttributes": {"job.id": str(i)}, "ResourceAttributes": {"host.name": f"h{i % 3}"}})
    return out


def spans(n: int = 10) -> list[dict]:
    out = []
    for i in range(n):
        out.append({"Timestamp": T0 + i * S, "TraceId": f"{i + 1:032x}", "SpanId": f"{i + 1:016x}", "ParentSpanId": "",
                    "SpanName": "GET /orders", "ServiceName": "api", "SpanKind": "Server" if i % 2 else "SPAN_KIND_SERVER",
                    "End": T0 + i * S + 25_000_000, "DurationMs": 25.0,
                    "StatusCode": "Error" if i == 3 else ("STATUS_CODE_OK" if i % 2 else "Unset"),
                    "StatusMessage": "boom" if i == 3 else "", "ScopeName": "otel",
                    "SpanAttributes": {"http.route": "/orders"}, "ResourceAttributes": {"service.version": "1.2"}})
    return out


@pytest.fixture(scope="module")
def ch():
    fake = ClickHouseFake(logs(), spans())
    with FakeServer(fake) as srv:
        yield srv, fake


def test_clickhouse_fake_server_logs_frame(ch, engine):
    """otel_logs rows become canonical logs: time to the ns, OTel severity as level, Body as event, maps as columns."""
    srv, _ = ch
    df = to_pandas(ob.load(f"clickhouse://{srv.hostport}", kind="logs", start=T0, end=T0 + 6 * S, engine=engine))
    assert df["time"].tolist() == [pd.Timestamp(T0 + i * S + 7, unit="ns", tz="UTC") for i in range(6)]
    assert df["level"].tolist() == ["ERROR", "INFO", "INFO", "INFO", "INFO", "ERROR"]
    assert df["event"].tolist()[:2] == ["job 0 failed", "job 1 ok"]
    assert df["service"].tolist() == ["api", "worker", "api", "worker", "api", "worker"]
    # row 0 carries the all-zero trace id: OpenTelemetry's "no trace", so null like the empty ones
    assert [x if isinstance(x, str) else None for x in df["trace_id"]] == [None, None, None, None, None, f"{5:032x}"]
    assert df["job.id"].tolist() == [str(i) for i in range(6)]
    assert df["host.name"].tolist() == [f"h{i % 3}" for i in range(6)]
    assert "level_original" not in df.columns  # "info" -> INFO differs only in case, as for JSON-lines files


def test_clickhouse_fake_server_sql_pushes_window_and_filter(ch):
    """The window and the condition are in the SQL WHERE (with TimestampTime for pruning); the result is Arrow."""
    srv, fake = ch
    df = ob.load(f"clickhouse://{srv.hostport}", kind="logs", query="ServiceName = 'worker'", start=T0 + 10 * S,
                 end=T0 + 20 * S)
    assert df["event"].tolist() == [f"job {i} {'failed' if i % 5 == 0 else 'ok'}" for i in range(11, 20, 2)]
    sql = fake.sql[-1]
    assert f"Timestamp >= fromUnixTimestamp64Nano(toInt64({T0 + 10 * S}))" in sql
    assert f"Timestamp < fromUnixTimestamp64Nano(toInt64({T0 + 20 * S}))" in sql
    assert f"TimestampTime >= toDateTime({(T0 + 10 * S) // S})" in sql
    assert "(ServiceName = 'worker')" in sql and "FROM otel_logs" in sql and sql.endswith("FORMAT ArrowStream")
    assert srv.requests[-1].params["output_format_arrow_string_as_string"] == "1"


def test_clickhouse_fake_server_spans_frame(ch):
    """otel_traces rows become spans: kinds and statuses normalised, Duration in ms, attributes as columns."""
    srv, _ = ch
    df = ob.load(f"clickhouse://{srv.hostport}", kind="spans", start=T0, end=T0 + 5 * S)
    assert df["kind"].tolist() == ["SERVER"] * 5
    assert df["status"].tolist() == ["UNSET", "OK", "UNSET", "ERROR", "UNSET"]
    assert df["duration_ms"].tolist() == [25.0] * 5
    assert (df["end"] - df["start"]).tolist() == [pd.Timedelta("25ms")] * 5
    assert df["parent_span_id"].isna().all()
    assert df["http.route"].tolist() == ["/orders"] * 5 and df["service.version"].tolist() == ["1.2"] * 5


def test_clickhouse_fake_server_limit_warns_partial(ch):
    """limit= is a SQL LIMIT; reaching it warns that later rows were not read."""
    srv, fake = ch
    with pytest.warns(ob.TruncatedResultWarning, match="stopped at limit=10 rows"):
        df = ob.load(f"clickhouse://{srv.hostport}", kind="logs", start=T0, end=T0 + 60 * S, limit=10)
    assert len(df) == 10 and "LIMIT 11" in fake.sql[-1]


def test_clickhouse_fake_server_exception_is_final_with_its_code(ch):
    """A ClickHouse exception (Code: 60 UNKNOWN_TABLE) raises QueryError at once with ClickHouse's text."""
    srv, _ = ch
    n = len(srv.requests)
    with pytest.raises(ob.QueryError) as ei:
        ob.load(f"clickhouse://{srv.hostport}", kind="logs", table="nope", start=T0, end=T0 + S)
    assert "Code: 60. DB::Exception: Table default.nope does not exist" in str(ei.value)
    assert len(srv.requests) == n + 1  # the DESCRIBE that asks for the table's columns, not retried


def test_clickhouse_fake_server_syntax_error_quotes_code_62(ch):
    """A broken condition raises QueryError quoting Code: 62 SYNTAX_ERROR."""
    srv, _ = ch
    with pytest.raises(ob.QueryError, match=r"Code: 62\. DB::Exception: Syntax error"):
        ob.load(f"clickhouse://{srv.hostport}", kind="logs", query="ServiceName = ('api'", start=T0, end=T0 + S)


def test_clickhouse_fake_server_transient_500_is_retried():
    """A 500 with a transient code (202 TOO_MANY_SIMULTANEOUS_QUERIES) is retried and then succeeds."""
    fake = ClickHouseFake(logs(), spans())
    flaky = Flaky(fake, 2, status=500, body="Code: 202. DB::Exception: Too many simultaneous queries. "
                  "(TOO_MANY_SIMULTANEOUS_QUERIES)")
    with FakeServer(flaky) as srv:
        df = ob.load(f"clickhouse://{srv.hostport}", kind="logs", start=T0, end=T0 + 3 * S, backoff=0.01)
        assert len(df) == 3 and len(srv.requests) == 4  # DESCRIBE twice refused, then answered; then the SELECT


def test_clickhouse_fake_server_basic_auth_from_url_never_shown():
    """user:password in the URL authenticates (basic auth) and appears in no label or message."""
    fake = ClickHouseFake(logs(), spans(), user="reader", password="s3cr3t-pw")
    with FakeServer(fake) as srv:
        df = ob.load(f"clickhouse://reader:s3cr3t-pw@{srv.hostport}", kind="logs", start=T0, end=T0 + 2 * S)
        assert len(df) == 2
        assert "s3cr3t" not in str(df["_source"].iloc[0]) and "reader" not in str(df["_source"].iloc[0])
        with pytest.raises(ob.QueryError) as ei:
            ob.load(f"clickhouse://reader:wrong-pw@{srv.hostport}", kind="logs", start=T0, end=T0 + 2 * S)
        assert "AUTHENTICATION_FAILED" in str(ei.value) and "wrong-pw" not in str(ei.value)
