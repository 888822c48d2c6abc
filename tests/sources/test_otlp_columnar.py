"""OTLP JSON spans and logs built on columns (obsnb.sources.otlp_columnar) give the very table, and the very rejects, that the
per-span reader gives: each file is loaded both ways (the per-span way by switching the columnar path off) and
compared, and a few values are checked against how the file is built."""

from __future__ import annotations

import json

import polars as pl
import pytest

import obsnb as ob
import obsnb.sources.otlp_json as oj
from obsnb.sources.otlp_json import attributes
from obsnb.sources.otlp_columnar import Unsupported, logs_table, spans_table
from conformance import load_quiet

T = 1_790_000_000_000_000_000


def _both(path, monkeypatch):
    fast = load_quiet(str(path), engine="polars")
    fast_rej = ob.rejected(fast).to_dict(as_series=False) if hasattr(ob.rejected(fast), "to_dict") else None
    with monkeypatch.context() as m:
        m.setattr(oj, "_columnar", lambda docs, source: None)
        slow = load_quiet(str(path), engine="polars")
        slow_rej = ob.rejected(slow).to_dict(as_series=False) if hasattr(ob.rejected(slow), "to_dict") else None
    return fast, slow, fast_rej, slow_rej


def _same(path, monkeypatch):
    fast, slow, fr, sr = _both(path, monkeypatch)
    assert fast.columns == slow.columns and fast.schema == slow.schema
    assert fast.equals(slow, null_equal=True)
    assert fr == sr
    return fast


def _attr(key, **value):
    return {"key": key, "value": value}


def _span(i, **kw):
    return {"traceId": f"{i + 1:032X}", "spanId": f"{i + 1:016x}", "name": f"op{i % 3}",
            "startTimeUnixNano": str(T + i * 10**9), "endTimeUnixNano": str(T + i * 10**9 + 2_500_000), **kw}


def _doc():
    """Two resources (the second with two scopes), spans with colliding and mixed-type attributes."""
    a = [_span(0, kind=2, status={"code": 2, "message": "boom"}, parentSpanId="0000000000000000",
               attributes=[_attr("http.status_code", intValue="503"), _attr("name", stringValue="shadow"),
                           _attr("service.name", stringValue="own"), _attr("ratio", intValue="3")]),
         _span(1, kind=3, status={"code": 1, "message": ""}, parentSpanId="0000000000000001",
               attributes=[_attr("ratio", doubleValue=0.5), _attr("flag", boolValue=True),
                           _attr("mixed", intValue="7")]),
         _span(2, attributes=[_attr("mixed", stringValue="seven"), _attr("empty", stringValue=None)])]
    b = [_span(3, kind=3, endTimeUnixNano="0"), _span(4, kind=5)]
    c = [_span(5, status={}, attributes=[_attr("flag", boolValue=False)])]
    return {"resourceSpans": [
        {"resource": {"attributes": [_attr("service.name", stringValue="alpha"), _attr("zone", stringValue="z1")]},
         "scopeSpans": [{"scope": {"name": "lib", "version": "1.0"}, "spans": a}]},
        {"resource": {"attributes": [_attr("service.name", stringValue="beta"), _attr("zone", intValue="2")]},
         "scopeSpans": [{"scope": {"name": "lib2"}, "spans": b}, {"spans": c}]}]}


def test_one_document_both_ways(tmp_path, monkeypatch):
    f = tmp_path / "t.otlp.json"
    f.write_text(json.dumps(_doc()))
    spans = spans_table([(_doc(), None)], str(f), attributes)  # the columnar path takes this document
    assert spans.num_rows == 6
    got = _same(f, monkeypatch)
    assert got["_line"].to_list() == [1, 2, 3, 4, 5, 6]  # ordinals in the document
    assert got["service"].to_list() == ["alpha"] * 3 + ["beta"] * 3
    assert got["attributes.name"].to_list() == ["shadow", None, None, None, None, None]
    assert got["resource.service.name"].to_list() == ["alpha", None, None, None, None, None]
    assert got["service.name"].to_list() == ["own", "alpha", "alpha", "beta", "beta", "beta"]
    assert got["ratio"].to_list() == [3.0, 0.5, None, None, None, None]
    assert got["mixed"].to_list() == [None, "7", "seven", None, None, None]
    assert got["zone"].to_list() == ["z1", "z1", "z1", "2", "2", "2"]
    assert got["status"].to_list() == ["ERROR", "OK", "UNSET", "UNSET", "UNSET", "UNSET"]
    assert got["status_message"].to_list() == ["boom", None, None, None, None, None]
    assert got["kind"].to_list() == ["SERVER", "CLIENT", None, "CLIENT", "CONSUMER", None]
    assert got["parent_span_id"].to_list() == [None, "0000000000000001", None, None, None, None]
    assert got["trace_id"].to_list()[0] == "00000000000000000000000000000001"
    assert got["duration_ms"].to_list() == [2.5, 2.5, 2.5, None, 2.5, 2.5]
    assert got["otel.scope.name"].to_list() == ["lib"] * 3 + ["lib2"] * 2 + [None]


def test_requests_per_line_both_ways(tmp_path, monkeypatch):
    f = tmp_path / "t.otlp.jsonl"
    docs = [_doc(), {"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": [_span(9)]}]}]}]
    f.write_text("\n".join(json.dumps(d) for d in docs) + "\n\nnot json\n")
    got = _same(f, monkeypatch)
    assert got["_line"].to_list() == [1] * 6 + [2]
    assert ob.rejected(got).shape[0] == 1


@pytest.mark.parametrize("change", [
    lambda s: s.update(spanId=""),                                              # rejected
    lambda s: s.update(startTimeUnixNano="1" * 30),                             # rejected: 30 digits
    lambda s: s.update(traceId="AAAAAAAAAAAAAAAAAAAAAQ=="),                     # base64
    lambda s: s.update(events=[{"timeUnixNano": str(T), "name": "e"}]),
    lambda s: s.update(links=[{"traceId": "01" * 16, "spanId": "02" * 8}]),
    lambda s: s.update(attributes=[_attr("k", kvlistValue={"values": [_attr("a", stringValue="b")]})]),
    lambda s: s.update(attributes=[_attr("k", intValue="1"), _attr("k", intValue="2")]),
    lambda s: s.update(attributes=[_attr("ratio", stringValue="x")]),           # float and text in one column
    lambda s: s.update(status="ERROR"),
    lambda s: s.update(kind=[1]),
    lambda s: s.update(status={"code": "STATUS_CODE_ERROR"}),                  # int and text codes
    lambda s: s.update(kind="SPAN_KIND_CLIENT"),                                # int and text kinds in one file
    lambda s: s.update(startTimeUnixNano=T),                                    # int and text times
])
def test_what_the_columnar_path_leaves_to_the_per_span_reader(tmp_path, monkeypatch, change):
    doc = _doc()
    change(doc["resourceSpans"][0]["scopeSpans"][0]["spans"][2])
    with pytest.raises((Unsupported, Exception)):
        spans_table([(doc, None)], "x", attributes)
    f = tmp_path / "t.otlp.json"
    f.write_text(json.dumps(doc))
    _same(f, monkeypatch)


@pytest.mark.parametrize("name", ["otlp/trace.json", "otlp/jaeger/example_trace.json", "otlp/jaeger/otlp2jaeger-in.json",
                                  "jaeger/apiv3/FindTraces.json"])
def test_real_files_both_ways(realworld, monkeypatch, name):
    _same(realworld / name, monkeypatch)


def test_big_file_both_ways(tmp_path, monkeypatch):
    """5,000 spans in 5 requests: the path the benchmark measures."""
    f = tmp_path / "t.otlp.jsonl"
    lines = []
    for r in range(5):
        spans = [_span(r * 1000 + i, kind=1 + i % 5, attributes=[_attr("n", intValue=str(i)), _attr("q", stringValue="x")])
                 for i in range(1000)]
        lines.append(json.dumps({"resourceSpans": [{"resource": {"attributes": [_attr("service.name", stringValue=f"s{r}")]},
                                                    "scopeSpans": [{"scope": {"name": "x"}, "spans": spans}]}]}))
    f.write_text("\n".join(lines) + "\n")
    got = _same(f, monkeypatch)
    assert got.height == 5000 and got["n"].sum() == 5 * sum(range(1000))
    assert isinstance(got, pl.DataFrame)


def _log(i, **kw):
    return {"timeUnixNano": str(T + i * 10**9), "severityNumber": 9, "severityText": "INFO",
            "body": {"stringValue": f"line {i}"}, "traceId": f"{i + 1:032x}", "spanId": f"{i + 1:016x}", **kw}


def _logs_doc():
    a = [_log(0, attributes=[_attr("level", stringValue="shadow"), _attr("n", intValue="4")]),
         _log(1, severityNumber=17, severityText="eror", traceId="", spanId="0000000000000000"),
         _log(2, severityNumber=None, severityText="WARN", timeUnixNano="0", observedTimeUnixNano=str(T + 5)),
         _log(3, severityText="", body=None, attributes=[_attr("n", doubleValue=1.5)])]
    return {"resourceLogs": [{"resource": {"attributes": [_attr("service.name", stringValue="alpha")]},
                              "scopeLogs": [{"scope": {"name": "lib"}, "logRecords": a}]}]}


def test_logs_both_ways(tmp_path, monkeypatch):
    f = tmp_path / "l.otlp.json"
    f.write_text(json.dumps(_logs_doc()))
    assert spans_table is not None and logs_table([(_logs_doc(), None)], str(f), attributes).num_rows == 4
    got = _same(f, monkeypatch)
    assert got["level"].to_list() == ["INFO", "ERROR", "WARNING", "INFO"]  # otel 9 = INFO, 17 = ERROR
    assert got["level_original"].to_list() == [None, "eror", "WARN", None]
    assert got["event"].to_list() == ["line 0", "line 1", "line 2", None]
    assert got["attributes.level"].to_list() == ["shadow", None, None, None]
    assert got["n"].to_list() == [4.0, None, None, 1.5]
    assert got["trace_id"].to_list()[1:3] == [None, f"{3:032x}"] and got["span_id"].to_list()[1] is None


@pytest.mark.parametrize("change", [
    lambda r: r.update(timeUnixNano="0", observedTimeUnixNano=None),            # rejected: no time
    lambda r: r.update(timeUnixNano="9" * 30),                                  # rejected: 30 digits
    lambda r: r.update(body={"kvlistValue": {"values": [_attr("a", stringValue="b")]}}),
    lambda r: r.update(severityNumber="x"),
])
def test_logs_the_columnar_path_leaves_to_the_per_record_reader(tmp_path, monkeypatch, change):
    doc = _logs_doc()
    change(doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][1])
    with pytest.raises((Unsupported, Exception)):
        logs_table([(doc, None)], "x", attributes)
    f = tmp_path / "l.otlp.json"
    f.write_text(json.dumps(doc))
    _same(f, monkeypatch)


def test_real_logs_both_ways(realworld, monkeypatch):
    _same(realworld / "otlp/logs.json", monkeypatch)
