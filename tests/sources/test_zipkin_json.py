"""Zipkin v2 JSON reader: span lists, trace lists, single spans; every real Zipkin test file."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import obsnb as ob
from conformance import ConformanceSuite, vals

SPANS = [
    {"traceId": "5AAB74DBB904746BB33447BAAE403ED6", "id": "b33447baae403ed6", "kind": "SERVER", "name": "get /",
     "timestamp": 1521186011926119, "duration": 2839, "localEndpoint": {"serviceName": "frontend", "ipv4": "192.168.0.10"},
     "remoteEndpoint": {"ipv6": "::1", "port": 54602}, "tags": {"http.method": "GET", "http.path": "/"}},
    {"traceId": "5aab74dbb904746bb33447baae403ed6", "parentId": "b33447baae403ed6", "id": "05e3ac9a4f6e3b90",
     "kind": "PRODUCER", "name": "publish", "timestamp": 1521186011927475, "duration": 13,
     "localEndpoint": {"serviceName": "frontend"}, "remoteEndpoint": {"serviceName": "rabbitmq"},
     "annotations": [{"timestamp": 1521186011927480, "value": "ws"}], "tags": {"error": "queue full"}},
    {"traceId": "5aab74dbb904746bb33447baae403ed6", "parentId": "05e3ac9a4f6e3b90", "id": "e457b5a2e4d86bd1",
     "name": "on-message", "timestamp": 1521186011929105, "duration": 371, "localEndpoint": {"serviceName": "backend"},
     "shared": True},
]
GOOD = json.dumps(SPANS, indent=2).encode()
MESSY = json.dumps([SPANS[0], {"traceId": "01", "name": "no id", "timestamp": 1}, SPANS[1], 42, SPANS[2]]).encode()


class TestZipkinJsonConformance(ConformanceSuite):
    fmt = "zipkin_json"
    kind = "spans"
    suffix = ".json"
    good = GOOD
    good_rows = 3
    messy = MESSY
    messy_good = 3
    messy_bad = 2
    first_bad_line = 2


def test_span_columns(tmp_path):
    """Ids lowercased, kind as written, error tag -> ERROR with its message, endpoints flattened, annotations as events."""
    p = tmp_path / "z.json"
    p.write_bytes(GOOD)
    df = ob.load(str(p))
    assert set(df["trace_id"]) == {"5aab74dbb904746bb33447baae403ed6"}
    assert vals(df["parent_span_id"]) == [None, "b33447baae403ed6", "05e3ac9a4f6e3b90"]
    assert vals(df["kind"]) == ["SERVER", "PRODUCER", None]
    assert list(df["status"]) == ["UNSET", "ERROR", "UNSET"]
    assert vals(df["status_message"]) == [None, "queue full", None]
    assert list(df["duration_ms"]) == [2.839, 0.013, 0.371]
    assert df["end"][0] == pd.Timestamp(1521186011926119 + 2839, unit="us", tz="UTC")
    assert vals(df["remoteEndpoint.serviceName"]) == [None, "rabbitmq", None]
    assert vals(df["remoteEndpoint.port"])[0] == 54602
    assert df["events"][1][0]["name"] == "ws"
    assert vals(df["shared"]) == [None, None, True]


FILES = ["ascend.json", "envoy.json", "messaging.json", "messaging2.json", "simple-db-p6.json", "skew.json",
         "smartthings-oauth-authorization.json", "yelp.json", "zipkin2-chinese.json", "zipkin2-client.json"]


@pytest.mark.parametrize("name", FILES)
def test_real_zipkin_files(realworld, name):
    """Each real Zipkin file: row count, ids, parents, services, kinds and durations as the file has them."""
    path = realworld / "zipkin" / name
    doc = json.loads(path.read_text())
    spans = doc if isinstance(doc, list) else [doc]
    df = ob.load(str(path))
    assert len(df) == len(spans)
    assert list(df["trace_id"]) == [s["traceId"].lower() for s in spans]
    assert list(df["span_id"]) == [s["id"] for s in spans]
    assert vals(df["parent_span_id"]) == [s.get("parentId") for s in spans]
    assert vals(df["service"]) == [s.get("localEndpoint", {}).get("serviceName") for s in spans]
    assert vals(df["kind"]) == [s.get("kind") for s in spans]
    got = [None if pd.isna(d) else d for d in df["duration_ms"]]
    assert got == [s["duration"] / 1000 if "duration" in s else None for s in spans]
    assert list(df["status"]) == ["ERROR" if "error" in s.get("tags", {}) else "UNSET" for s in spans]


def test_chinese_values_survive(realworld):
    """Non-ASCII tag values and names are kept as written."""
    path = realworld / "zipkin/zipkin2-chinese.json"
    sp = json.loads(path.read_text())
    df = ob.load(str(path))
    assert df["name"][0] == sp["name"]
    for k, v in sp["tags"].items():
        if k != "error":
            assert df[k][0] == v


def test_tag_named_like_a_canonical_column_is_kept_under_a_prefix(tmp_path):
    """A tag called "name" or "kind" does not overwrite the span's own column; it is kept as tags.<key>."""
    p = tmp_path / "z.json"
    p.write_text(json.dumps([{**SPANS[0], "tags": {"name": "tag-name", "kind": "batch", "links": "x"}}]))
    df = ob.load(str(p))
    assert (df["name"][0], df["kind"][0]) == ("get /", "SERVER")
    assert (df["tags.name"][0], df["tags.kind"][0], df["tags.links"][0]) == ("tag-name", "batch", "x")
    assert list(df["links"][0]) == []
