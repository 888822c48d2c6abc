"""OTLP JSON reader: traces, logs, metrics; hex and base64 ids; one request per line; real proto examples."""

from __future__ import annotations

import base64
import json

import pandas as pd

import obsnb as ob
from obsnb.sources.base import ReadContext
from obsnb.sources.otlp_json import parse_otlp_document
from conformance import ConformanceSuite, load_quiet, vals

TRACE_B64 = base64.b64encode(bytes.fromhex("5b8efff798038103d269b633813fc60c")).decode()
SPAN_B64 = base64.b64encode(bytes.fromhex("eee19b7ec3c1b174")).decode()


def _span(sid, start, end, **kw):
    return {"traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": sid, "name": f"op-{sid}",
            "startTimeUnixNano": str(start), "endTimeUnixNano": str(end), **kw}


def _request(spans):
    return {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "checkout"}},
        {"key": "host", "value": {"kvlistValue": {"values": [{"key": "name", "value": {"stringValue": "h1"}}]}}}]},
        "scopeSpans": [{"scope": {"name": "lib", "version": "1.2"}, "spans": spans}]}]}


SPANS = [
    _span("eee19b7ec3c1b174", 1_700_000_000_000_000_000, 1_700_000_000_250_000_000, kind=2,
          status={"code": 2, "message": "boom"},
          attributes=[{"key": "http.method", "value": {"stringValue": "GET"}},
                      {"key": "http.status_code", "value": {"intValue": "500"}}],
          events=[{"timeUnixNano": "1700000000100000000", "name": "exception",
                   "attributes": [{"key": "exception.type", "value": {"stringValue": "KeyError"}}]}]),
    {**_span("0000000000000002", 1_700_000_000_010_000_000, 1_700_000_000_020_000_000,
             kind="SPAN_KIND_CLIENT", status={"code": "STATUS_CODE_OK"}, parentSpanId=SPAN_B64,
             links=[{"traceId": "AAAAAAAAAAAAAAAAAAAAAQ==", "spanId": "AAAAAAAAAAI="}]), "traceId": TRACE_B64},
    _span("0000000000000003", 1_700_000_000_030_000_000, 1_700_000_000_040_000_000, parentSpanId=""),
]
GOOD = json.dumps(_request(SPANS), indent=1).encode()
MESSY = b"\n".join([
    json.dumps(_request(SPANS[:1])).encode(),
    b'{"resourceSpans": [{"resource": {}, "scopeSpa',
    json.dumps(_request([SPANS[1], {"traceId": "01", "name": "no span id"}])).encode(),
    json.dumps(_request(SPANS[2:])).encode(),
]) + b"\n"


class TestOtlpJsonConformance(ConformanceSuite):
    fmt = "otlp_json"
    kind = "spans"
    suffix = ".json"
    good = GOOD
    good_rows = 3
    messy = MESSY
    messy_good = 3
    messy_bad = 2
    first_bad_line = 2


def test_span_columns(tmp_path):
    """Kind, status, ids (hex and base64 -> lowercase hex), durations, attributes and resource attributes."""
    p = tmp_path / "t.json"
    p.write_bytes(GOOD)
    df = ob.load(str(p))
    assert set(df["trace_id"]) == {"5b8efff798038103d269b633813fc60c"}
    assert list(df["span_id"]) == ["eee19b7ec3c1b174", "0000000000000002", "0000000000000003"]
    assert vals(df["parent_span_id"]) == [None, "eee19b7ec3c1b174", None]
    assert vals(df["kind"]) == ["SERVER", "CLIENT", None]
    assert list(df["status"]) == ["ERROR", "OK", "UNSET"]
    assert vals(df["status_message"]) == ["boom", None, None]
    assert list(df["duration_ms"]) == [250.0, 10.0, 10.0]
    assert df["start"][0] == pd.Timestamp(1_700_000_000_000_000_000, unit="ns", tz="UTC")
    assert list(df["service"]) == ["checkout"] * 3
    assert vals(df["http.method"]) == ["GET", None, None]
    assert df["host.name"][0] == "h1"
    assert df["otel.scope.name"][0] == "lib"
    assert df["links"][1][0]["trace_id"] == "00000000000000000000000000000001"
    assert df["links"][1][0]["span_id"] == "0000000000000002"
    ev = df["events"][0][0]
    assert ev["name"] == "exception" and json.loads(ev["attributes"]) == {"exception.type": "KeyError"}
    assert ev["time"] == pd.Timestamp(1_700_000_000_100_000_000, unit="ns", tz="UTC")


def test_one_request_per_line_keeps_line_numbers(tmp_path):
    """The collector file exporter's form: each span's _line is its request's line."""
    p = tmp_path / "export.json"
    p.write_bytes(MESSY)
    df = load_quiet(str(p))
    assert list(df["_line"]) == [1, 3, 4]
    assert list(ob.rejected(df)["line"]) == [2, 3]


def test_real_trace_example(realworld):
    """opentelemetry-proto's trace.json: the span's ids, kind, times and attributes, read from the file."""
    path = realworld / "otlp/trace.json"
    sp = json.loads(path.read_text())["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    df = ob.load(str(path))
    assert len(df) == 1
    assert df["trace_id"][0] == sp["traceId"].lower()
    assert df["span_id"][0] == sp["spanId"].lower()
    assert df["parent_span_id"][0] == sp["parentSpanId"].lower()
    assert df["duration_ms"][0] == (int(sp["endTimeUnixNano"]) - int(sp["startTimeUnixNano"])) / 1e6
    assert df["kind"][0] == "SERVER" and df["service"][0] == "my.service"
    assert df["my.span.attr"][0] == sp["attributes"][0]["value"]["stringValue"]


def test_real_logs_example(realworld):
    """logs.json: severity 10 -> INFO with the text kept, body as event, every attribute kind flattened."""
    path = realworld / "otlp/logs.json"
    rec = json.loads(path.read_text())["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    df = ob.load(str(path))
    assert len(df) == 1
    assert df["time"][0] == pd.Timestamp(int(rec["timeUnixNano"]), unit="ns", tz="UTC")
    assert (df["level"][0], df["level_original"][0]) == ("INFO", rec["severityText"])
    assert df["event"][0] == rec["body"]["stringValue"]
    assert df["trace_id"][0] == rec["traceId"].lower()
    assert df["int.attribute"][0] == 10 and bool(df["boolean.attribute"][0]) is True
    assert df["double.attribute"][0] == 637.704
    assert json.loads(df["array.attribute"][0]) == ["many", "values"]
    assert df["map.attribute.some.map.key"][0] == "some value"


def test_real_metrics_example(realworld):
    """metrics.json: sum and gauge by name, histogram as cumulative _bucket/_sum/_count, exponential too."""
    path = realworld / "otlp/metrics.json"
    ms = {m["name"]: m for m in json.loads(path.read_text())["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]}
    df = ob.load(str(path))
    rows = {(m, le if isinstance(le, str) else None): v for m, le, v in zip(df["metric"], df["le"], df["value"])}
    assert rows[("my.counter", None)] == ms["my.counter"]["sum"]["dataPoints"][0]["asDouble"]
    assert rows[("my.gauge", None)] == ms["my.gauge"]["gauge"]["dataPoints"][0]["asDouble"]
    h = ms["my.histogram"]["histogram"]["dataPoints"][0]
    assert rows[("my.histogram_bucket", "1")] == int(h["bucketCounts"][0])
    assert rows[("my.histogram_bucket", "+Inf")] == int(h["count"])
    assert rows[("my.histogram_sum", None)] == h["sum"]
    assert rows[("my.histogram_count", None)] == int(h["count"])
    e = ms["my.exponential.histogram"]["exponentialHistogram"]["dataPoints"][0]
    # scale 0: base 2; positive offset 1 -> buckets (2,4], (4,8]; zero bucket holds zeroCount
    assert rows[("my.exponential.histogram_bucket", "0")] == int(e["zeroCount"])
    assert rows[("my.exponential.histogram_bucket", "4")] == int(e["zeroCount"]) + int(e["positive"]["bucketCounts"][0])
    assert rows[("my.exponential.histogram_bucket", "8")] == int(e["count"])
    assert set(df["service.name"]) == {"my.service"}


def test_jaeger_apiv3_result_wrapper(realworld):
    """Jaeger api/v3 GetTrace ({"result": ...}) loads with integer kind and status."""
    df = ob.load(str(realworld / "jaeger/apiv3/GetTrace.json"))
    assert (df["trace_id"][0], df["span_id"][0], df["kind"][0], df["status"][0]) == (
        "00000000000000000000000000000001", "0000000000000002", "SERVER", "ERROR")


def test_otlp_and_jaeger_ui_conversion_agree(realworld):
    """otlp2jaeger-in.json and Jaeger's own conversion of it give the same ids, parents, services and durations."""
    a = ob.load(str(realworld / "otlp/jaeger/otlp2jaeger-in.json"))
    b = ob.load(str(realworld / "jaeger/otlp2jaeger-out.json"))
    cols = ["trace_id", "span_id", "parent_span_id", "name", "service", "kind", "start", "end", "duration_ms"]
    assert a[cols].astype(str).equals(b[cols].astype(str))


def test_example_trace_services_and_events(realworld):
    """example_trace.json: one row per span with its resource's service and two events each."""
    path = realworld / "otlp/jaeger/example_trace.json"
    doc = json.loads(path.read_text())
    expected = [(rs["resource"]["attributes"][0]["value"]["stringValue"], sp["spanId"], len(sp["events"]))
                for rs in doc["resourceSpans"] for ss in rs["scopeSpans"] for sp in ss["spans"]]
    df = ob.load(str(path))
    assert list(zip(df["service"], df["span_id"], df["events"].map(len))) == expected


def test_tempo_batches_and_logs_document():
    """parse_otlp_document reads Tempo's {"batches": [...]} and returns logs parts for resourceLogs."""
    ctx = ReadContext()
    (part,) = parse_otlp_document({"batches": _request(SPANS)["resourceSpans"]}, "tempo", ctx)
    assert part.kind == "spans" and part.table.num_rows == 3
    logs = {"resourceLogs": [{"resource": {}, "scopeLogs": [{"logRecords": [
        {"observedTimeUnixNano": "5", "severityText": "warn", "body": {"kvlistValue": {"values": []}}}, {}]}]}]}
    (part,) = parse_otlp_document(logs, "mem", ctx, line=7)
    assert part.table.column("level").to_pylist() == ["WARNING"]
    assert part.table.column("time").to_pylist() == [5]
    assert [(r.line, r.reason) for r in ctx.rejects] == [(7, "OTLP log record without timeUnixNano or observedTimeUnixNano")]


def test_summary_metric_and_base64_log_ids():
    """Summaries become quantile rows plus _sum/_count; base64 trace and span ids on log records become hex."""
    ctx = ReadContext()
    doc = {"resourceMetrics": [{"resource": {}, "scopeMetrics": [{"metrics": [
        {"name": "rpc_seconds", "summary": {"dataPoints": [
            {"timeUnixNano": "1000", "count": "4", "sum": 2.5,
             "quantileValues": [{"quantile": 0.5, "value": 0.1}, {"quantile": 0.99, "value": 0.9}]}]}}]}]}],
        "resourceLogs": [{"resource": {}, "scopeLogs": [{"logRecords": [
            {"timeUnixNano": "2000", "severityNumber": 17, "body": {"stringValue": "failed"},
             "traceId": TRACE_B64, "spanId": SPAN_B64}]}]}]}
    parts = {p.kind: p.table for p in parse_otlp_document(doc, "mem", ctx)}
    m = parts["metrics"]
    assert m.column("metric").to_pylist() == ["rpc_seconds", "rpc_seconds", "rpc_seconds_sum", "rpc_seconds_count"]
    assert m.column("quantile").to_pylist() == ["0.5", "0.99", None, None]
    assert m.column("value").to_pylist() == [0.1, 0.9, 2.5, 4.0]
    lg = parts["logs"]
    assert lg.column("trace_id").to_pylist() == ["5b8efff798038103d269b633813fc60c"]
    assert lg.column("span_id").to_pylist() == ["eee19b7ec3c1b174"]
    assert lg.column("level").to_pylist() == ["ERROR"]


def test_metric_points_without_time_are_rejected_and_empty_metrics_are_not_records():
    """A data point with no timeUnixNano is rejected; a metric with an empty dataPoints list is no record."""
    ctx = ReadContext()
    doc = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "a", "gauge": {"dataPoints": [{"asDouble": 1}, {"asInt": "2", "timeUnixNano": "5"}]}},
        {"name": "b", "sum": {"dataPoints": []}},
        {"name": "c", "mystery": {}}]}]}]}
    (part,) = parse_otlp_document(doc, "mem", ctx, line=3)
    assert part.table.column("value").to_pylist() == [2.0]
    assert [r.reason for r in ctx.rejects] == ["OTLP metric 'a': data point without timeUnixNano",
                                               "OTLP metric 'c' of a type obsnb does not read (known: sum, gauge, "
                                               "histogram, exponentialHistogram, summary)"]


def test_attribute_and_resource_name_collisions_keep_both_values():
    """A span attribute named like a canonical column, or a resource attribute named like a span attribute, is kept prefixed."""
    ctx = ReadContext()
    doc = _request([_span("0000000000000009", 1, 2, attributes=[
        {"key": "status", "value": {"stringValue": "shipped"}},
        {"key": "host.name", "value": {"stringValue": "span-host"}}])])
    (part,) = parse_otlp_document(doc, "mem", ctx)
    row = part.table.to_pylist()[0]
    assert (row["status"], row["attributes.status"]) == ("UNSET", "shipped")
    assert (row["host.name"], row["resource.host.name"]) == ("span-host", "h1")
