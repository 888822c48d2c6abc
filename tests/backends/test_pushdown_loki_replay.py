"""ob.latency / ob.rate on a Loki source: LogQL metric queries against the Loki replay server (fakes_logs.LokiFake).

The replay server evaluates ``quantile_over_time`` / ``sum by (...) (count_over_time(...))`` as Loki does
(points at ``start + k*step`` over ``(t - range, t]``, empty points left out, times in ms). Each test
compares the push-down with the in-memory helper on the same lines loaded with ``ob.load``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import obsnb as ob
from fake_server import FakeServer
from fakes_logs import LokiFake
from obsnb.errors import UsageError

T0 = 1704067200 * 10**9
S = 10**9
MIN = 60 * S


def lines():
    """api and db lines with a duration over 20 minutes; db is silent from T0+5m to T0+12m; some at bucket edges."""
    rng = np.random.default_rng(3)
    out = []
    for i, t in enumerate(np.sort(rng.integers(0, 20 * MIN, 600))):
        svc = "db" if i % 3 == 0 else "api"
        if svc == "db" and 5 * MIN <= t < 12 * MIN:
            continue
        t = int(T0 + (t // MIN) * MIN if i % 50 == 0 else T0 + t)   # every 50th exactly at a bucket start
        line = json.dumps({"msg": "done", "duration_ms": round(float(rng.lognormal(3, 1)), 3)})
        out.append(({"app": "shop", "service": svc}, t, line, {}))
    return out


@pytest.fixture(scope="module")
def loki():
    with FakeServer(LokiFake(lines())) as srv:
        yield "loki://" + srv.hostport, srv


def test_loki_replay_latency_is_quantile_over_time_and_equals_in_memory(loki):
    url, srv = loki
    window = dict(start=T0, end=T0 + 20 * MIN)
    remote = ob.latency(url, by="service", every="1min", query='{app="shop"} | json', **window)
    queries = [r.params["query"] for r in srv.requests[-4:]]
    assert 'quantile_over_time(0.99, {app="shop"} | json | unwrap duration_ms [60s]) by (service)' in queries
    local = ob.latency(ob.load(url, query='{app="shop"}', **window), by="service", every="1min").drop(columns="nan")
    assert list(remote.columns) == list(local.columns) == ["time", "service", "count", "p50", "p95", "p99"]
    pd.testing.assert_frame_equal(remote, local, check_exact=False, rtol=1e-12, check_dtype=False)
    assert remote["count"].dtype == "int64"


def test_loki_replay_rate_fills_missing_buckets_with_zeros_like_in_memory(loki):
    url, _ = loki
    window = dict(start=T0, end=T0 + 20 * MIN)
    remote = ob.rate(url, "1min", by="service", query='{app="shop"}', **window)
    local = ob.rate(ob.load(url, query='{app="shop"}', **window), "1min", by="service", **window)
    pd.testing.assert_frame_equal(remote, local, check_exact=False, rtol=1e-12)
    db = remote[remote["service"] == "db"].set_index("time")["count"]
    quiet = db[pd.Timestamp(T0 + 6 * MIN, unit="ns", tz="UTC"):pd.Timestamp(T0 + 11 * MIN, unit="ns", tz="UTC")]
    assert quiet.tolist() == [0] * 6


def test_loki_replay_explain_and_limits(loki):
    url, srv = loki
    n = len(srv.requests)
    text = ob.rate(url, "5m", by=["service"], query='{app="shop"}', start=T0, end=T0 + 20 * MIN, explain=True)
    assert text == 'sum by (service) (count_over_time({app="shop"} [300s]))' and len(srv.requests) == n
    with pytest.raises(UsageError, match="needs every= .* and start=/end="):
        ob.rate(url, "1m", query='{app="shop"}')
    with pytest.raises(UsageError, match="needs query= a log query"):
        ob.latency(url, every="1m", start=T0, end=T0 + MIN)
