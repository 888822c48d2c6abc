"""Prometheus HTTP API answers saved as JSON: matrix, vector, scalar, string, errors, real doc examples."""

from __future__ import annotations

import json
import math

import pandas as pd

import obsnb as ob
from obsnb.sources.base import ReadContext
from obsnb.sources.prom_api import parse_prom_api_document
from conformance import ConformanceSuite, load_quiet, vals

MATRIX = {
    "status": "success",
    "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "http_requests_total", "job": "api", "code": "200"},
         "values": [[1700000000, "1"], [1700000015, "+Inf"], [1700000030.5, "NaN"]]},
        {"metric": {"job": "api", "instance": "a:9090"}, "values": [[1700000000, "2.5"]]},
    ]},
}
GOOD = json.dumps(MATRIX, indent=2).encode()
VECTOR = {"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {"__name__": "up", "job": "x"}, "value": [1700000100.123, "1"]}]}}
ERROR = {"status": "error", "errorType": "bad_data", "error": "parse error at char 4: unexpected <EOF>"}
MESSY = b"\n".join([json.dumps(MATRIX).encode(), b'{"status": "success", "data": {"resultT', json.dumps(ERROR).encode(),
                    json.dumps(VECTOR).encode()]) + b"\n"


class TestPromApiConformance(ConformanceSuite):
    fmt = "prom_api"
    kind = "metrics"
    suffix = ".json"
    good = GOOD
    good_rows = 4
    messy = MESSY
    messy_good = 5
    messy_bad = 2
    first_bad_line = 2


def test_matrix_rows_labels_and_special_values(tmp_path):
    """Each [time, value] pair is a row; __name__ is metric; +Inf/NaN parse; absent labels are null."""
    p = tmp_path / "q.json"
    p.write_bytes(GOOD)
    df = ob.load(str(p))
    assert vals(df["metric"]) == ["http_requests_total"] * 3 + [None]
    assert list(df["time"]) == [pd.Timestamp(t, unit="s", tz="UTC") for t in (1700000000, 1700000015, 1700000030.5, 1700000000)]
    v = list(df["value"])
    assert v[0] == 1.0 and v[1] == math.inf and math.isnan(v[2]) and v[3] == 2.5
    assert vals(df["code"]) == ["200", "200", "200", None]
    assert vals(df["instance"]) == [None, None, None, "a:9090"]
    assert list(df["_line"]) == [1, 1, 1, 2]


def test_error_answer_is_rejected_with_prometheus_words(tmp_path):
    """A saved error answer is one rejected record whose reason quotes Prometheus' error."""
    p = tmp_path / "e.json"
    p.write_text(json.dumps(ERROR))
    df = load_quiet(str(p), format="prom_api", kind="metrics")
    assert len(df) == 0
    assert "parse error at char 4: unexpected <EOF>" in ob.rejected(df)["reason"][0]


def test_scalar_and_string_results():
    """scalar gives one row with a null metric; string keeps its text in value_string."""
    ctx = ReadContext()
    (part,) = parse_prom_api_document({"status": "success", "data": {"resultType": "scalar", "result": [1.5, "42"]}},
                                      "mem", ctx)
    assert part.table.column("value").to_pylist() == [42.0]
    assert part.table.column("metric").to_pylist() == [None]
    (part,) = parse_prom_api_document({"status": "success", "data": {"resultType": "string", "result": [2, "hi"]}},
                                      "mem", ctx)
    assert part.table.column("value_string").to_pylist() == ["hi"]
    assert part.table.column("time").to_pylist() == [2_000_000_000]


def test_docs_range_query_example(realworld):
    """The query_range example from Prometheus' docs: every pair of every series, times and labels exact."""
    path = realworld / "prometheus/docs-extracted/query_range_matrix_response.json"
    doc = json.loads(path.read_text())
    expected = [(s["metric"]["instance"], round(t * 1000), float(v)) for s in doc["data"]["result"] for t, v in s["values"]]
    df = ob.load(str(path))
    got = list(zip(df["instance"], df["time"].astype("int64") // 1_000_000, df["value"]))
    assert got == expected
    assert set(df["metric"]) == {"up"}


def test_docs_instant_vector_example(realworld):
    """The instant query example: one row per series with its job label."""
    path = realworld / "prometheus/docs-extracted/query_instant_vector_response.json"
    doc = json.loads(path.read_text())
    df = ob.load(str(path))
    assert list(df["job"]) == [s["metric"]["job"] for s in doc["data"]["result"]]
    assert list(df["value"]) == [float(s["value"][1]) for s in doc["data"]["result"]]


def test_native_histogram_becomes_count_sum_and_cumulative_buckets():
    """A native histogram sample gives _count, _sum and _bucket rows with cumulative counts and le = upper bound."""
    ctx = ReadContext()
    doc = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"__name__": "rpc_seconds", "job": "api"},
         "histogram": [1700000000, {"count": "6", "sum": "1.5",
                                    "buckets": [[0, "0.1", "0.2", "2"], [0, "0.2", "0.4", "3"], [0, "0.4", "0.8", "1"]]}]}]}}
    (part,) = parse_prom_api_document(doc, "mem", ctx)
    t = part.table
    assert t.column("metric").to_pylist() == ["rpc_seconds_count", "rpc_seconds_sum"] + ["rpc_seconds_bucket"] * 4
    assert t.column("value").to_pylist() == [6.0, 1.5, 2.0, 5.0, 6.0, 6.0]
    assert t.column("le").to_pylist() == [None, None, "0.2", "0.4", "0.8", "+Inf"]
    assert t.column("job").to_pylist() == ["api"] * 6
