"""OpenTelemetry console exporter output: pretty-printed spans and log records one after another."""

from __future__ import annotations

import json
import warnings

import pandas as pd

import obsnb as ob
from conformance import vals
from obsnb.registry import sniff

SPANS = [
    {"name": "GET /jobs",
     "context": {"trace_id": "0x6e0c63257de34c92bf9efcd03927272e", "span_id": "0x8dbcabe05fdb6b5f", "trace_state": "[]"},
     "kind": "SpanKind.SERVER", "parent_id": None,
     "start_time": "2024-05-14T12:00:01.123456Z", "end_time": "2024-05-14T12:00:01.373456Z",
     "status": {"status_code": "ERROR", "description": "boom"},
     "attributes": {"http.method": "GET", "http.status_code": 500},
     "events": [{"name": "exception", "timestamp": "2024-05-14T12:00:01.200000Z",
                 "attributes": {"exception.type": "ValueError"}}],
     "links": [],
     "resource": {"attributes": {"telemetry.sdk.language": "python", "service.name": "api"}, "schema_url": ""}},
    {"name": "db query",
     "context": {"trace_id": "0x6e0c63257de34c92bf9efcd03927272e", "span_id": "0x1111111111111111", "trace_state": "[]"},
     "kind": "SpanKind.CLIENT", "parent_id": "0x8dbcabe05fdb6b5f",
     "start_time": "2024-05-14T12:00:01.150000Z", "end_time": "2024-05-14T12:00:01.160000Z",
     "status": {"status_code": "UNSET"}, "attributes": {"db.system": "postgresql"}, "events": [],
     "links": [{"context": {"trace_id": "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "span_id": "0xbbbbbbbbbbbbbbbb",
                            "trace_state": "[]"}, "attributes": {}}],
     "resource": {"attributes": {"service.name": "api"}, "schema_url": ""}},
]
LOGS = [
    {"body": "job failed", "severity_number": 17, "severity_text": "ERROR", "attributes": {"job_id": 42},
     "dropped_attributes": 0, "timestamp": "2024-05-14T12:00:01.123456Z", "observed_timestamp": "2024-05-14T12:00:01.2Z",
     "trace_id": "0x6e0c63257de34c92bf9efcd03927272e", "span_id": "0x8dbcabe05fdb6b5f", "trace_flags": 1,
     "resource": {"attributes": {"service.name": "worker"}, "schema_url": ""}},
    {"body": "outside a span", "severity_number": "<SeverityNumber.WARN: 13>", "severity_text": None, "attributes": {},
     "dropped_attributes": 0, "timestamp": None, "observed_timestamp": "2024-05-14T12:00:02Z",
     "trace_id": "0x00000000000000000000000000000000", "span_id": "0x0000000000000000", "trace_flags": 0,
     "resource": {"attributes": {"service.name": "worker"}, "schema_url": ""}},
]


def _write(path, objs):
    """What the SDK prints: each object as json.dumps(indent=4), one after another."""
    path.write_text("".join(json.dumps(o, indent=4) + "\n" for o in objs))
    return path


def test_console_span_exporter_output_loads_as_spans(tmp_path):
    """Ids lose 0x, kind and status are canonical, attributes are columns, events and links kept."""
    p = _write(tmp_path / "spans.txt", SPANS)
    assert sniff(p.read_bytes(), str(p)) == "otel_console"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = ob.load(str(p))
    assert list(df["trace_id"]) == ["6e0c63257de34c92bf9efcd03927272e"] * 2
    assert list(df["span_id"]) == ["8dbcabe05fdb6b5f", "1111111111111111"]
    assert vals(df["parent_span_id"]) == [None, "8dbcabe05fdb6b5f"]
    assert list(df["kind"]) == ["SERVER", "CLIENT"]
    assert list(df["status"]) == ["ERROR", "UNSET"]
    assert vals(df["status_message"]) == ["boom", None]
    assert list(df["service"]) == ["api", "api"]
    assert list(df["duration_ms"]) == [250.0, 10.0]
    assert df["start"][0] == pd.Timestamp("2024-05-14T12:00:01.123456Z")
    assert vals(df["http.status_code"]) == [500, None]
    assert vals(df["db.system"]) == [None, "postgresql"]
    assert df["events"][0][0]["name"] == "exception"
    assert df["events"][0][0]["time"] == pd.Timestamp("2024-05-14T12:00:01.2Z")
    assert json.loads(df["events"][0][0]["attributes"]) == {"exception.type": "ValueError"}
    assert (df["links"][1][0]["trace_id"], df["links"][1][0]["span_id"]) == ("a" * 32, "b" * 16)


def test_console_log_exporter_output_loads_as_logs(tmp_path):
    """Log records: severity text or number, body as event, an all-zero id outside a span is null."""
    p = _write(tmp_path / "logs.txt", LOGS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = ob.load(str(p))
    assert list(df["time"]) == [pd.Timestamp("2024-05-14T12:00:01.123456Z"), pd.Timestamp("2024-05-14T12:00:02Z")]
    assert list(df["level"]) == ["ERROR", "WARNING"]
    assert list(df["event"]) == ["job failed", "outside a span"]
    assert vals(df["trace_id"]) == ["6e0c63257de34c92bf9efcd03927272e", None]
    assert vals(df["span_id"]) == ["8dbcabe05fdb6b5f", None]
    assert list(df["service"]) == ["worker", "worker"]
    assert vals(df["job_id"]) == [42, None]
