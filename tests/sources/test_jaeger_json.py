"""Jaeger JSON reader: /api/traces answers, UI downloads, bare span lists, ES spans; real Jaeger fixtures."""

from __future__ import annotations

import json

import pandas as pd

import obsnb as ob
from obsnb.sources.base import ReadContext
from obsnb.sources.jaeger_json import parse_jaeger_document
from conformance import ConformanceSuite, load_quiet, vals


def _sp(sid, start, dur, refs=(), tags=(), logs=(), pid="p1"):
    return {"traceID": "AB" * 8, "spanID": sid, "operationName": f"op-{sid}", "references": list(refs),
            "startTime": start, "duration": dur, "tags": list(tags), "logs": list(logs), "processID": pid}


TRACE = {
    "traceID": "AB" * 8,
    "spans": [
        _sp("0000000000000001", 1_700_000_000_000_000, 5_000, tags=[{"key": "span.kind", "type": "string", "value": "server"}]),
        _sp("0000000000000002", 1_700_000_000_001_000, 1_500,
            refs=[{"refType": "CHILD_OF", "traceID": "AB" * 8, "spanID": "0000000000000001"}],
            tags=[{"key": "error", "type": "bool", "value": True}, {"key": "http.status_code", "type": "int64", "value": 503}],
            logs=[{"timestamp": 1_700_000_000_002_000, "fields": [{"key": "event", "type": "string", "value": "retry"},
                                                                  {"key": "attempt", "type": "int64", "value": "2"}]}],
            pid="p2"),
        _sp("0000000000000003", 1_700_000_000_004_000, 250,
            refs=[{"refType": "FOLLOWS_FROM", "traceID": "AB" * 8, "spanID": "0000000000000002"}],
            tags=[{"key": "span.kind", "type": "string", "value": "consumer"},
                  {"key": "otel.status_code", "type": "string", "value": "OK"}]),
    ],
    "processes": {"p1": {"serviceName": "frontend", "tags": [{"key": "hostname", "type": "string", "value": "fe-1"}]},
                  "p2": {"serviceName": "db", "tags": []}},
    "warnings": None,
}
GOOD = json.dumps({"data": [TRACE], "total": 0, "limit": 0, "offset": 0, "errors": None}, indent=2).encode()
MESSY = json.dumps([TRACE["spans"][0] | {"process": {"serviceName": "x"}}, {"traceID": "01", "operationName": "no id"},
                    "not a span", TRACE["spans"][2]]).encode()


class TestJaegerJsonConformance(ConformanceSuite):
    fmt = "jaeger_json"
    kind = "spans"
    suffix = ".json"
    good = GOOD
    good_rows = 3
    messy = MESSY
    messy_good = 2
    messy_bad = 2
    first_bad_line = 2


def test_api_answer_columns(tmp_path):
    """References, tags, processes and logs map to parent, links, kind, status, service and events."""
    p = tmp_path / "j.json"
    p.write_bytes(GOOD)
    df = ob.load(str(p))
    assert set(df["trace_id"]) == {"abababababababab"}
    assert vals(df["parent_span_id"]) == [None, "0000000000000001", None]
    assert list(df["service"]) == ["frontend", "db", "frontend"]
    assert vals(df["kind"]) == ["SERVER", None, "CONSUMER"]
    assert list(df["status"]) == ["UNSET", "ERROR", "OK"]
    assert list(df["duration_ms"]) == [5.0, 1.5, 0.25]
    assert df["start"][0] == pd.Timestamp(1_700_000_000_000_000, unit="us", tz="UTC")
    assert df["end"][1] == pd.Timestamp(1_700_000_000_002_500, unit="us", tz="UTC")
    assert vals(df["hostname"]) == ["fe-1", None, "fe-1"]
    assert df["http.status_code"][1] == 503
    link = df["links"][2][0]
    assert (link["span_id"], link["ref_type"]) == ("0000000000000002", "FOLLOWS_FROM")
    ev = df["events"][1][0]
    assert ev["name"] == "retry" and json.loads(ev["attributes"]) == {"event": "retry", "attempt": 2}


def test_ui_01_fixture(realworld):
    """ui_01.json: spans, services through processes, parent from CHILD_OF, other refs as links, logs as events."""
    path = realworld / "jaeger/ui_01.json"
    doc = json.loads(path.read_text())
    df = ob.load(str(path))
    assert len(df) == len(doc["spans"])
    assert list(df["span_id"]) == [s["spanID"] for s in doc["spans"]]
    assert list(df["service"]) == [doc["processes"][s["processID"]]["serviceName"] for s in doc["spans"]]
    assert list(df["duration_ms"]) == [s["duration"] / 1000 for s in doc["spans"]]
    parents = [next((r["spanID"] for r in s["references"] if r["refType"] == "CHILD_OF" and r["traceID"] == s["traceID"]), None)
               for s in doc["spans"]]
    assert vals(df["parent_span_id"]) == parents
    assert [len(x) for x in df["links"]] == [len(s["references"]) - (p is not None) for s, p in zip(doc["spans"], parents)]
    assert [len(x) for x in df["events"]] == [len(s["logs"]) for s in doc["spans"]]
    error = [any(t["key"] == "error" and t["value"] is True for t in s["tags"]) for s in doc["spans"]]
    assert list(df["status"] == "ERROR") == error


def test_es_span_and_string_typed_tags(realworld):
    """es_01.json: a single span with inline process; int64/bool/float64 tags written as strings get their type."""
    path = realworld / "jaeger/es_01.json"
    sp = json.loads(path.read_text())
    df = ob.load(str(path))
    assert len(df) == 1
    assert df["parent_span_id"][0] == sp["references"][0]["spanID"]
    assert df["service"][0] == sp["process"]["serviceName"]
    assert (df["peer.ipv4"][0], df["temperature"][0], df["status"][0]) == (23456, 72.5, "ERROR")
    assert [lk["ref_type"] for lk in df["links"][0]] == [r["refType"] for r in sp["references"][1:]]


def test_trace_success_bare_span_list(realworld):
    """trace_success.json: a bare list of spans; kinds from span.kind, error=true as a string tag -> ERROR."""
    path = realworld / "jaeger/trace_success.json"
    spans = json.loads(path.read_text())
    df = ob.load(str(path))
    assert list(df["span_id"]) == [s["spanID"] for s in spans]
    assert list(df["kind"]) == ["SERVER", "CLIENT"]
    assert list(df["status"]) == ["UNSET", "ERROR"]
    assert list(df["start"]) == [pd.Timestamp(s["startTime"], unit="us", tz="UTC") for s in spans]


def test_trace_warnings_are_kept(realworld):
    """A trace's warnings reach the load's warnings list."""
    doc = json.loads((realworld / "jaeger/ui_01.json").read_text())
    ctx = ReadContext()
    (part,) = parse_jaeger_document(doc, "mem", ctx)
    assert part.table.num_rows == len(doc["spans"])
    assert ctx.warnings == [f"Jaeger trace {doc['traceID']}: {w}" for w in doc["warnings"]]


def test_duplicate_span_ids_are_both_loaded(realworld):
    """otlp2jaeger-out.json holds the same span twice: both rows load (nothing deduplicated silently)."""
    df = load_quiet(str(realworld / "jaeger/otlp2jaeger-out.json"))
    assert len(df) == 2 and df["span_id"].nunique() == 1
