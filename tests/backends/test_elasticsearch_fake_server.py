"""Elasticsearch/OpenSearch loader against a fake server (none can be installed here) in the documented _search shapes."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import obsnb as ob
from _support import to_pandas
from fake_server import FakeServer
from fakes_logs import ElasticFake

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
N = 12_345


def docs(n: int = N) -> list[dict]:
    """ECS documents, one every 0.5 s, two per timestamp at every 1000th (ties across a page boundary)."""
    out = []
    for i in range(n):
        t = T0 + dt.timedelta(milliseconds=500 * (i - (i % 1000 == 1)))
        out.append({"@timestamp": t.isoformat().replace("+00:00", "Z"), "message": f"request {i}",
                    "log": {"level": "error" if i % 7 == 0 else "info"}, "service": {"name": "api" if i % 2 else "web"},
                    "trace": {"id": f"{i:032X}"}, "http": {"response": {"status_code": 500 if i % 7 == 0 else 200}}})
    return out


@pytest.fixture(scope="module", params=["elasticsearch", "opensearch", "nopit"])
def es(request):
    fake = ElasticFake(docs(), flavour=request.param)
    with FakeServer(fake) as srv:
        yield srv, fake, request.param


def _url(flavour: str, srv) -> str:
    return ("opensearch" if flavour == "opensearch" else "elasticsearch") + f"://{srv.hostport}/logs"


def test_es_fake_server_reads_past_the_10000_hit_window(es, engine):
    """12,345 hits (past the 10,000 window) arrive whole with page_size=5000: 3 pages chained by search_after."""
    srv, fake, flavour = es
    srv.requests.clear()
    df = to_pandas(ob.load(_url(flavour, srv), query="*", start=T0, end=T0 + dt.timedelta(hours=4),
                           page_size=5000, engine=engine, progress=False))
    assert len(df) == N
    assert sorted(df["event"]) == sorted(f"request {i}" for i in range(N))
    assert df["time"].is_monotonic_increasing
    searches = [r for r in srv.requests if r.path.endswith("_search")]
    assert len(searches) == 3
    assert [("search_after" in r.json()) for r in searches] == [False, True, True]
    if flavour != "nopit":
        assert all(r.path == "/_search" and "pit" in r.json() for r in searches)
        assert fake.pits == set() and len(fake.closed) >= 1  # the point in time was closed
    else:
        assert all(r.path == "/logs/_search" for r in searches)
        assert searches[0].json()["sort"][-1] == {"_doc": {"order": "asc"}}


def test_es_fake_server_maps_ecs_fields(es):
    """ECS @timestamp, log.level, message, service.name, trace.id fill the canonical columns; nested fields flatten."""
    srv, _, flavour = es
    df = ob.load(_url(flavour, srv), query="service.name:api", start=T0, end=T0 + dt.timedelta(seconds=3))
    assert df["event"].tolist() == ["request 1", "request 3", "request 5"]
    assert df["service"].tolist() == ["api"] * 3
    assert df["trace_id"].tolist() == [f"{i:032x}" for i in (1, 3, 5)]
    assert df["level"].tolist() == ["INFO", "INFO", "INFO"]
    assert df["http.response.status_code"].tolist() == [200, 200, 200]
    assert df["time"].tolist() == [pd.Timestamp("2024-01-01T00:00:00Z"), pd.Timestamp("2024-01-01T00:00:01.5Z"),
                                   pd.Timestamp("2024-01-01T00:00:02.5Z")]  # request 1 shares request 0's time


def test_es_fake_server_puts_window_and_query_in_the_request(es):
    """The time range and the Lucene query are sent as filters, so the server does the filtering."""
    srv, _, flavour = es
    srv.requests.clear()
    ob.load(_url(flavour, srv), query="log.level:error", start=T0, end=T0 + dt.timedelta(minutes=1))
    body = [r for r in srv.requests if r.path.endswith("_search")][0].json()
    assert body["query"]["bool"]["filter"] == [
        {"range": {"@timestamp": {"format": "strict_date_optional_time_nanos", "gte": "2024-01-01T00:00:00.000000000Z",
                                  "lt": "2024-01-01T00:01:00.000000000Z"}}},
        {"query_string": {"query": "log.level:error"}}]


def test_es_fake_server_page_size_over_window_is_refused_with_root_cause(es):
    """page_size above 10,000 is caught before sending; the server's root_cause is quoted for its own refusals."""
    srv, _, flavour = es
    with pytest.raises(ob.UsageError, match="page_size must be between 1 and 10000"):
        ob.load(_url(flavour, srv), query="*", start=T0, end=T0 + dt.timedelta(hours=1), page_size=20_000)


def test_es_fake_server_bad_query_raises_root_cause(es):
    """An unparseable Lucene query raises QueryError with Elasticsearch's root_cause type and reason."""
    srv, _, flavour = es
    with pytest.raises(ob.QueryError) as ei:
        ob.load(_url(flavour, srv), query="message:(oops", start=T0, end=T0 + dt.timedelta(hours=1))
    assert "parse_exception: Cannot parse 'message:(oops': Encountered \"<EOF>\"" in str(ei.value)
    assert ei.value.status == 400 and ei.value.query == "message:(oops"


def test_es_fake_server_max_hits_warns_partial(es):
    """max_hits stops early with a TruncatedResultWarning instead of a quietly short frame."""
    srv, _, flavour = es
    with pytest.warns(ob.TruncatedResultWarning, match="stopped at max_hits=6000"):
        df = ob.load(_url(flavour, srv), query="*", start=T0, end=T0 + dt.timedelta(hours=4), page_size=5000,
                     max_hits=6000, progress=False)
    assert len(df) == 6000
