"""Jaeger and Tempo loaders against fake servers (none can be installed here) in the documented API shapes."""

from __future__ import annotations

import pandas as pd
import pytest

import obsnb as ob
from _support import to_pandas
from fake_server import FakeServer
from fakes_traces import T0_US, JaegerFake, TempoFake, make_traces

TRACES = make_traces(40)
T0 = T0_US * 1000


@pytest.fixture(scope="module")
def jaeger():
    with FakeServer(JaegerFake(TRACES)) as srv:
        yield srv


@pytest.fixture(scope="module")
def tempo():
    with FakeServer(TempoFake(TRACES)) as srv:
        yield srv


def _expected(tid: str) -> dict:
    return next(t for t in TRACES if t["id"] == tid)


@pytest.mark.parametrize("api", ["v1", "v3"])
def test_jaeger_fake_server_trace_by_id(jaeger, api, engine):
    """A trace id gives that trace's three spans with ids, parents, services, kinds, times and error status."""
    tid = TRACES[4]["id"]
    df = to_pandas(ob.load(f"jaeger://{jaeger.hostport}", query=tid, api=api, engine=engine)).sort_values("start")
    want = _expected(tid)["spans"]
    assert df["span_id"].tolist() == [s["id"] for s in want]
    assert df["parent_span_id"].tolist()[1:] == [s["parent"] for s in want[1:]]
    assert df["name"].tolist() == [s["name"] for s in want]
    assert df["service"].tolist() == [s["svc"] for s in want]
    assert df["kind"].tolist() == ["SERVER", "CLIENT", "INTERNAL"]
    assert df["duration_ms"].tolist() == [s["dur"] / 1000 for s in want]
    assert df["start"].tolist() == [pd.Timestamp(s["start"] * 1000, unit="ns", tz="UTC") for s in want]
    assert df["status"].tolist()[:2] == ["ERROR", "ERROR"]
    assert set(df["trace_id"]) == {tid}


def test_jaeger_fake_server_search_by_service_and_window(jaeger):
    """service= with a window sends microsecond bounds and returns the traces that started in it."""
    jaeger.requests.clear()
    df = ob.load(f"jaeger://{jaeger.hostport}", kind="spans", service="db", start=T0, end=T0 + 10 * 10**9)
    assert sorted(set(df["trace_id"])) == sorted(t["id"] for t in TRACES[:10])
    assert len(df) == 30
    r = jaeger.requests[0]
    assert (r.path, r.params["service"], r.params["start"], r.params["end"]) == (
        "/api/traces", "db", str(T0_US), str(T0_US + 10 * 10**6))


def test_jaeger_fake_server_full_page_warns_truncated(jaeger):
    """A search answer holding exactly limit traces warns that more may exist."""
    with pytest.warns(ob.TruncatedResultWarning, match="returned limit=5 traces"):
        df = ob.load(f"jaeger://{jaeger.hostport}", kind="spans", service="api", limit=5)
    assert df["trace_id"].nunique() == 5


def test_jaeger_fake_server_errors_carry_jaegers_message(jaeger):
    """A missing trace raises QueryError with Jaeger's own errors[].msg."""
    with pytest.raises(ob.QueryError, match="trace not found") as ei:
        ob.load(f"jaeger://{jaeger.hostport}", query="00000000000000000000000000000fff")
    assert ei.value.status == 404


def test_jaeger_fake_server_v3_url_path(jaeger):
    """A jaeger:// URL ending in /api/v3 searches with the v3 API (OTLP answer)."""
    jaeger.requests.clear()
    with pytest.warns(ob.TruncatedResultWarning, match="Jaeger returned limit=3 traces for service 'db'; there may"):
        df = ob.load(f"jaeger://{jaeger.hostport}/api/v3", kind="spans", service="db", limit=3)
    assert jaeger.requests[0].path == "/api/v3/traces" and jaeger.requests[0].params["query.service_name"] == "db"
    assert df["trace_id"].nunique() == 3 and len(df) == 9


def test_tempo_fake_server_trace_by_id(tempo):
    """A trace id is fetched from /api/traces/<id> (OTLP batches) into its spans."""
    tid = TRACES[7]["id"]
    df = ob.load(f"tempo://{tempo.hostport}", query=tid).sort_values("start")
    assert df["span_id"].tolist() == [s["id"] for s in _expected(tid)["spans"]]
    assert df["http.route"].tolist() == ["/orders"] * 3
    assert tempo.requests[-1].path == f"/api/traces/{tid}"


def test_tempo_fake_server_traceql_fetches_matching_traces_in_full(tempo):
    """A TraceQL search for errors returns every span of the matching traces (context), fetched concurrently."""
    tempo.requests.clear()
    q = '{ resource.service.name = "db" && status = error }'
    df = ob.load(f"tempo://{tempo.hostport}", query=q, start=T0, end=T0 + 40 * 10**9, progress=False)
    want = [t["id"] for t in TRACES if t["spans"][1]["err"]]
    assert sorted(set(df["trace_id"])) == sorted(want) and len(df) == 3 * len(want)
    search = tempo.requests[0]
    assert search.params == {"q": q, "limit": "500", "start": str(T0 // 10**9), "end": str(T0 // 10**9 + 40)}
    assert len(tempo.requests) == 1 + len(want)


def test_tempo_fake_server_matched_spans_only(tempo):
    """full_traces=False returns just the matched spans from the search answer."""
    q = '{ resource.service.name = "db" && status = error }'
    df = ob.load(f"tempo://{tempo.hostport}", query=q, start=T0, end=T0 + 8 * 10**9, full_traces=False)
    assert df["name"].tolist() == ["SELECT orders", "SELECT orders"]
    assert df["service"].tolist() == ["db", "db"]
    assert df["trace_id"].tolist() == [TRACES[0]["id"], TRACES[4]["id"]]
    assert df["duration_ms"].tolist() == [20.0, 20.0]


def test_tempo_fake_server_bad_traceql_raises_with_tempos_text(tempo):
    """Invalid TraceQL raises QueryError quoting Tempo's parse error."""
    with pytest.raises(ob.QueryError, match="invalid TraceQL query: parse error at line 1, col 3"):
        ob.load(f"tempo://{tempo.hostport}", query="status = error", start=T0, end=T0 + 10**9)
