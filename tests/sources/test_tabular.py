"""CSV and Parquet readers: column mapping, kind inference, time/level/id normalisation, rejects."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import obsnb as ob
from conformance import ConformanceSuite, load_quiet, vals

CSV_GOOD = (
    b"ts,severity,message,trace,job\n"
    b"2024-05-14T13:05:00Z,info,job started,ABCDEF0123456789ABCDEF0123456789,42\n"
    b"2024-05-14T15:06:00+02:00,WARN,\"slow, very slow\",,43\n"
    b"1715692020,error,\"multi\nline\",0000000000000000000000000000abcd,44\n"
)
CSV_MESSY = (
    b"ts,severity,message\n"
    b"2024-05-14T13:05:00Z,info,ok\n"
    b"only-one-field\n"
    b",,\n"
    b"2024-05-14T13:06:00Z,info,\xff\xfe garbage\n"
    b"2024-05-14T13:07:00Z,info,fine\n"
    b"2024-05-14T13:08:00Z,inf"
)
MAPPING = {"ts": "time", "severity": "level", "message": "event", "trace": "trace_id"}


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


SPANS = pa.table({
    "TraceId": ["AA" * 16, "AA" * 16, "AA" * 16],
    "SpanId": ["00000000000000a1", "00000000000000a2", "00000000000000a3"],
    "ParentSpanId": [None, "00000000000000a1", "00000000000000a2"],
    "SpanName": ["GET /", "SELECT", "cache"],
    "ServiceName": ["web", "db", "cache"],
    "Timestamp": pa.array([1_700_000_000_000_000, 1_700_000_000_001_000, 1_700_000_000_002_000], pa.timestamp("us")),
    "end": [1_700_000_000_100, 1_700_000_000_051, 1_700_000_000_003],  # epoch ms
})
SPAN_MAP = {"TraceId": "trace_id", "SpanId": "span_id", "ParentSpanId": "parent_span_id", "SpanName": "name",
            "ServiceName": "service", "Timestamp": "start"}
MESSY_SPANS = pa.table({"trace_id": ["aa", None, "bb"], "span_id": ["01", "02", None], "name": ["a", "b", "c"],
                        "start": ["2024-01-01T00:00:00Z"] * 3})


class TestCsvConformance(ConformanceSuite):
    fmt = "csv"
    kind = "logs"
    suffix = ".csv"
    good = CSV_GOOD
    good_rows = 3
    messy = CSV_MESSY
    messy_good = 2
    messy_bad = 4
    first_bad_line = 3
    options = {"columns": MAPPING}


class TestParquetConformance(ConformanceSuite):
    fmt = "parquet"
    kind = "spans"
    suffix = ".parquet"
    good = _parquet(SPANS)
    good_rows = 3
    messy = _parquet(MESSY_SPANS)
    messy_good = 1
    messy_bad = 2
    first_bad_line = 2
    options = {"columns": SPAN_MAP}


def test_csv_mapping_and_normalisation(tmp_path):
    """Mapped columns become canonical; times from ISO with offsets and epoch; levels canonical; ids kept as text."""
    p = tmp_path / "a.csv"
    p.write_bytes(CSV_GOOD)
    df = ob.load(str(p), columns=MAPPING)
    assert list(df["time"]) == [pd.Timestamp("2024-05-14T13:05:00Z"), pd.Timestamp("2024-05-14T13:06:00Z"),
                                pd.Timestamp(1715692020, unit="s", tz="UTC")]
    assert list(df["level"]) == ["INFO", "WARNING", "ERROR"]
    assert list(df["event"]) == ["job started", "slow, very slow", "multi\nline"]
    assert vals(df["trace_id"]) == ["abcdef0123456789abcdef0123456789", None, "0000000000000000000000000000abcd"]
    assert list(df["job"]) == [42, 43, 44]
    assert list(df["_line"]) == [2, 3, 4]


def test_csv_rejects_name_line_and_reason(tmp_path):
    """Short rows, rows with no canonical field and undecodable bytes are rejected with their line."""
    p = tmp_path / "m.csv"
    p.write_bytes(CSV_MESSY)
    df = load_quiet(str(p), columns=MAPPING)
    rej = ob.rejected(df).sort_values("line")
    assert list(rej["line"]) == [3, 4, 5, 7]
    assert list(df["event"]) == ["ok", "fine"]
    assert list(rej["reason"])[1:3] == ["no time", "undecodable bytes in a field"]


def test_unparseable_time_and_missing_time_column_are_named(tmp_path):
    """A time that does not parse is rejected with its text; a table with no time column says how to map one."""
    p = tmp_path / "t.csv"
    p.write_text("time,msg\nnot-a-time,a\n2024-01-01T00:00:00Z,b\n")
    df = load_quiet(str(p), columns={"msg": "event"})
    assert list(df["event"]) == ["b"]
    assert list(ob.rejected(df)["reason"]) == ["unparseable time 'not-a-time'"]
    q = tmp_path / "u.csv"
    q.write_text("when,msg\n2024-01-01T00:00:00Z,a\n")
    df = load_quiet(str(q))
    assert ob.rejected(df)["reason"][0] == "no time column (map yours: columns={'their_name': 'time'})"


def test_parquet_spans_kind_inferred_and_times_normalised(tmp_path):
    """A mapped spans table: kind inferred, timestamp and epoch-ms ends become UTC, duration computed."""
    p = tmp_path / "spans.parquet"
    p.write_bytes(_parquet(SPANS))
    df = ob.load(str(p), columns=SPAN_MAP)
    assert list(df.columns[:11]) == ["trace_id", "span_id", "parent_span_id", "name", "service", "kind", "start",
                                     "end", "duration_ms", "status", "status_message"]
    assert set(df["trace_id"]) == {"aa" * 16}
    assert list(df["start"]) == [pd.Timestamp(t, unit="us", tz="UTC") for t in SPANS["Timestamp"].cast(pa.int64()).to_pylist()]
    assert list(df["duration_ms"]) == [100.0, 50.0, 1.0]
    assert list(df["_line"]) == [1, 2, 3]


def test_metrics_csv_inferred_from_metric_and_value(tmp_path):
    """metric + value columns make a metrics frame; labels stay columns."""
    p = tmp_path / "m.csv"
    p.write_text("time,metric,value,job\n2024-01-01T00:00:00Z,up,1,api\n2024-01-01T00:00:15Z,up,0,api\n")
    df = ob.load(str(p))
    assert list(df.columns[:3]) == ["time", "metric", "value"]
    assert list(df["value"]) == [1.0, 0.0] and list(df["job"]) == ["api", "api"]
