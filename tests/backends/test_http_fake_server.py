"""The shared HTTP layer against fake servers: retries, backoff, error mapping, chunk failures, warnings."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

import obsnb as ob
from fake_server import FakeServer, Flaky, Response
from obsnb.sources._http import redact_url

T0 = 1704067200


def prom_handler(fail_start: float | None = None, warnings: list[str] | None = None, status: int = 503):
    """A Prometheus-shaped query_range: one series whose value is the timestamp; a chunk starting at fail_start fails."""

    def handle(req):
        if req.path == "/api/v1/query":
            return Response.json({"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {"__name__": "up", "job": "x"}, "value": [float(req.params["time"]), "1"]}]}})
        start, end, step = (float(req.params[k]) for k in ("start", "end", "step"))
        if fail_start is not None and abs(start - fail_start) < 1e-9:
            return Response.json({"status": "error", "errorType": "internal", "error": "storage is down"}, status)
        n = int(round((end - start) / step)) + 1
        values = [[start + k * step, str(start + k * step)] for k in range(n)]
        body = {"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"__name__": "m", "job": "x"}, "values": values}]}}
        if warnings:
            body["warnings"] = warnings
        return Response.json(body)

    return handle


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_prometheus_fake_server_chunks_concurrently_and_stitch():
    """[T0, T0+1000] at 1 s in chunks of 100 points: 11 requests, and load() keeps every point, end included: 1,001 points once each."""
    with FakeServer(prom_handler()) as srv:
        df = ob.load(f"prometheus://{srv.hostport}", query="m", start=T0, end=T0 + 1000, step=1, max_points=100,
                     progress=False)
        starts = sorted(float(r.params["start"]) for r in srv.requests)
    assert starts == [T0 + 100 * k for k in range(11)]
    t = df["time"].astype("int64").to_numpy() // 10**9
    assert np.array_equal(np.sort(t), np.arange(T0, T0 + 1001))
    assert df["value"].tolist() == [float(x) for x in np.sort(t)]


def test_prometheus_fake_server_failed_chunk_fails_the_load():
    """One chunk answering 503 (after retries) fails the whole load, naming the chunk, the URL and the server's words."""
    with FakeServer(prom_handler(fail_start=T0 + 300)) as srv:
        with pytest.raises(ob.BackendUnavailableError) as ei:
            ob.load(f"prometheus://{srv.hostport}", query="m", start=T0, end=T0 + 1000, step=1, max_points=100,
                    retries=1, backoff=0.01, progress=False)
    msg = str(ei.value)
    assert "internal: storage is down" in msg and f"http://{srv.hostport}/api/v1/query_range" in msg
    assert "answered HTTP 503 2 times" in msg
    assert "[2024-01-01T00:05:00.000000000Z, 2024-01-01T00:06:39.000000000Z]" in msg
    assert "query: m" in msg and ei.value.status == 503


def test_prometheus_fake_server_partial_true_warns_missing_range():
    """partial=True returns the other chunks and a TruncatedResultWarning naming the missing time range."""
    with FakeServer(prom_handler(fail_start=T0 + 300)) as srv:
        with pytest.warns(ob.TruncatedResultWarning) as rec:
            df = ob.load(f"prometheus://{srv.hostport}", query="m", start=T0, end=T0 + 1000, step=1, max_points=100,
                         retries=0, partial=True, progress=False)
    text = str(rec[0].message)
    assert "PARTIAL RESULT: 1 of 11 chunks failed and are MISSING" in text
    assert "[2024-01-01T00:05:00.000000000Z, 2024-01-01T00:06:39.000000000Z]" in text
    assert len(df) == 901  # [T0, T0+1000] at 1 s minus the 100 points of the failed chunk
    assert not ((df["time"].astype("int64") // 10**9).between(T0 + 300, T0 + 399)).any()
    assert any("PARTIAL RESULT" in w for w in ob.load_info(df).warnings)


def test_prometheus_fake_server_warnings_become_backend_warning():
    """The server's warnings array is surfaced once as a BackendWarning (and kept in load_info)."""
    with FakeServer(prom_handler(warnings=["PromQL info: metric might not be a counter"])) as srv:
        with pytest.warns(ob.BackendWarning, match="the backend warns: PromQL info: metric might not be a counter"):
            df = ob.load(f"prometheus://{srv.hostport}", query="m", start=T0, end=T0 + 300, step=1, max_points=100,
                         progress=False)
    assert ob.load_info(df).warnings.count(
        f"prometheus://{srv.hostport}: the backend warns: PromQL info: metric might not be a counter") == 1


def test_prometheus_fake_server_retries_503_then_succeeds():
    """Two 503 answers then success: the load succeeds after 3 requests."""
    with FakeServer(Flaky(prom_handler(), 2, status=503)) as srv:
        df = ob.load(f"prometheus://{srv.hostport}", query="m", start=T0, end=T0 + 10, step=1, backoff=0.01)
        assert len(df) == 11 and len(srv.requests) == 3  # [T0, T0+10], end included


def test_prometheus_fake_server_429_honours_retry_after():
    """A 429 with Retry-After: 1 is retried after about a second."""
    with FakeServer(Flaky(prom_handler(), 1, status=429, body="rate limited", retry_after="1")) as srv:
        t = time.perf_counter()
        df = ob.load(f"prometheus://{srv.hostport}", query="m", start=T0, end=T0 + 10, step=1, backoff=0.01)
        waited = time.perf_counter() - t
        assert len(df) == 11 and len(srv.requests) == 2
    assert waited >= 0.9


def test_prometheus_fake_server_429_exhausted_is_unavailable():
    """429 on every attempt raises BackendUnavailableError after retries+1 requests, with the server's text."""
    with FakeServer(Flaky(prom_handler(), 99, status=429, body="too many requests from you")) as srv:
        with pytest.raises(ob.BackendUnavailableError, match="too many requests from you"):
            ob.load(f"prometheus://{srv.hostport}", query="m", start=T0, end=T0 + 10, step=1, retries=2, backoff=0.01)
        assert len(srv.requests) == 3


def test_prometheus_fake_server_4xx_is_not_retried():
    """A 400 answer raises QueryError after one request."""
    with FakeServer(Flaky(prom_handler(), 99, status=400, body="bad request body")) as srv:
        with pytest.raises(ob.QueryError, match="rejected the query \\(HTTP 400\\): bad request body"):
            ob.load(f"prometheus://{srv.hostport}", query="m", start=T0, end=T0 + 10, step=1)
        assert len(srv.requests) == 1


def test_connection_refused_raises_unavailable_naming_source_and_query():
    """Nobody listening: BackendUnavailableError names the source, the safe URL, the query and 'connection refused'."""
    port = free_port()
    with pytest.raises(ob.BackendUnavailableError) as ei:
        ob.load(f"prometheus://admin:hunter2@127.0.0.1:{port}", query="up", start=T0, end=T0 + 60, retries=1,
                backoff=0.01)
    msg = str(ei.value)
    assert f"http://127.0.0.1:{port}/api/v1/query_range" in msg and "connection refused" in msg
    assert "query: up" in msg and "hunter2" not in msg and "admin" not in msg
    assert ei.value.url == f"http://127.0.0.1:{port}/api/v1/query_range"


def test_instant_query_when_no_window():
    """Without start/end the query is instant (/api/v1/query) and gives one row per series."""
    with FakeServer(prom_handler()) as srv:
        df = ob.load(f"prometheus://{srv.hostport}", query="up", time=T0 + 5)
        assert srv.requests[0].path == "/api/v1/query" and srv.requests[0].params["time"] == str(T0 + 5)
    assert df["value"].tolist() == [1.0] and df["job"].tolist() == ["x"]


@pytest.mark.parametrize("url, want", [
    ("http://u:p@h:1/x?token=abc&query=up", "http://h:1/x?token=REDACTED&query=up"),
    ("loki+https://h/loki?api_key=k&X-Amz-Signature=s", "loki+https://h/loki?api_key=REDACTED&X-Amz-Signature=REDACTED"),
    ("prometheus://h:9090", "prometheus://h:9090"),
])
def test_redact_url_removes_userinfo_and_secret_params(url, want):
    """redact_url drops user:password and replaces secret query values with REDACTED."""
    assert redact_url(url) == want


def test_redact_text_cleans_urls_inside_messages():
    """Exception texts lose user:password and secret parameter values wherever they appear."""
    from obsnb.sources._http import redact_text

    text = "Max retries exceeded with url: /api/v1/query?api_key=abc123&query=up (http://bob:pw@h:1/x?token=t0k)"
    assert redact_text(text) == ("Max retries exceeded with url: /api/v1/query?api_key=REDACTED&query=up "
                                 "(http://h:1/x?token=REDACTED)")


def test_step_is_chosen_from_the_window():
    """Without step=, 3 h gives 15 s steps (721 points) and 24 h gives 2 min (721 points)."""
    from obsnb.sources.prometheus import auto_step, range_chunks

    assert auto_step(3 * 3600 * 10**9) == 15 * 10**9
    assert auto_step(24 * 3600 * 10**9) == 120 * 10**9
    assert range_chunks(0, 43200 * 250_000_000, 250_000_000, 11_000) == [
        (0, 10_999 * 250_000_000), (11_000 * 250_000_000, 21_999 * 250_000_000),
        (22_000 * 250_000_000, 32_999 * 250_000_000), (33_000 * 250_000_000, 43_200 * 250_000_000)]
