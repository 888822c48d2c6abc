"""ob.latency / ob.rate on Elasticsearch / OpenSearch: aggregations against the replay server (fakes_logs.ElasticFake).

With by=: a composite aggregation (date_histogram + terms sources), paged with after_key (page_size=7 here
forces many pages); composite leaves out empty buckets, the client fills the rate's zeros. Without by=: a
date_histogram with min_doc_count 0 over the window. Each result is compared with the in-memory helper on
the same documents loaded with ``ob.load``. The replay server's percentiles are exact (numpy); a real
Elasticsearch answers t-digest estimates, exact only for small buckets.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

import obsnb as ob
from fake_server import FakeServer
from fakes_logs import ElasticFake

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
END = T0 + dt.timedelta(minutes=30)


def docs() -> list[dict]:
    """api / web / no service; web silent from T0+10m to T0+20m; every 11th document has no duration."""
    rng = np.random.default_rng(5)
    out = []
    for i, ms in enumerate(np.sort(rng.integers(0, 30 * 60_000, 900))):
        svc = ["api", "web", None][i % 3 if i % 17 else 2]
        if svc == "web" and 10 * 60_000 <= ms < 20 * 60_000:
            continue
        d = {"@timestamp": (T0 + dt.timedelta(milliseconds=int(ms))).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
             "message": f"request {i}"}
        if svc:
            d["service"] = {"name": svc}
        if i % 11:
            d["duration_ms"] = round(float(rng.lognormal(3, 1)), 3)
        out.append(d)
    return out


@pytest.fixture(scope="module", params=["elasticsearch", "opensearch"])
def es(request):
    with FakeServer(ElasticFake(docs(), flavour=request.param, index="logs")) as srv:
        yield f"{request.param}://{srv.hostport}/logs", srv


def _local(url):
    return ob.load(url, start=T0, end=END)


def test_replay_elasticsearch_latency_composite_paged_equals_in_memory(es):
    url, srv = es
    n = len(srv.requests)
    remote = ob.latency(url, by="service", every="1min", start=T0, end=END, page_size=7)
    bodies = [r.json() for r in srv.requests[n:]]
    assert len(bodies) > 10 and all("composite" in b["aggs"]["g"] for b in bodies)
    assert "after" in bodies[-1]["aggs"]["g"]["composite"]
    local = ob.latency(_local(url), by="service", every="1min")
    pd.testing.assert_frame_equal(remote, local, check_exact=False, rtol=1e-12)
    assert remote["nan"].sum() == sum(1 for d in docs() if "duration_ms" not in d)


def test_replay_elasticsearch_rate_by_group_fills_composite_gaps_like_in_memory(es):
    url, _ = es
    remote = ob.rate(url, "1min", by="service", start=T0, end=END, page_size=50)
    local = ob.rate(_local(url), "1min", by="service", start=T0, end=END)
    pd.testing.assert_frame_equal(remote, local, check_exact=False, rtol=1e-12)
    web = remote[remote["service"] == "web"]
    assert web["count"].iloc[10:20].tolist() == [0] * 10 and len(web) == 30


def test_replay_elasticsearch_rate_without_groups_is_a_date_histogram_with_min_doc_count_0(es):
    url, srv = es
    remote = ob.rate(url, "5min", start=T0 - dt.timedelta(minutes=10), end=END)
    body = srv.requests[-1].json()
    assert body["aggs"]["g"]["date_histogram"]["min_doc_count"] == 0
    local = ob.rate(_local(url), "5min", start=T0 - dt.timedelta(minutes=10), end=END)
    pd.testing.assert_frame_equal(remote, local, check_exact=False, rtol=1e-12)
    assert remote["count"].tolist()[:2] == [0, 0]


def test_replay_elasticsearch_explain_shows_the_aggregation(es):
    url, srv = es
    n = len(srv.requests)
    text = ob.latency(url, q=(0.5, 0.99), by="service", every="1min", start=T0, end=END, explain=True)
    body = json.loads(text)
    assert body["query"]["bool"]["filter"][0]["range"]["@timestamp"]["gte"] == "2024-01-01T00:00:00.000000000Z"
    aggs = body["aggs"]["g"]
    assert aggs["aggs"]["q"]["percentiles"]["percents"] == [50.0, 99.0] and len(srv.requests) == n
    assert aggs["composite"]["sources"][1] == {"service": {"terms": {"field": "service.name", "missing_bucket": True}}}
