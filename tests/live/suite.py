"""The checks every Prometheus-compatible server passes; each server's module binds ``url`` and ``scheme``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import obsnb as ob
from _support import to_pandas
from fixture_data import bucket_quantile, per_second, samples
from obsnb.analysis.remote import remote_gaps, remote_latency
from obsnb.sources.backend import resolve
from obsnb.sources import _http
from obsnb.sources.base import ReadContext

T0 = 1704067200
HOUR = 3600


def raw_points(url: str, query: str, start: int, end: int, step: float, **options) -> tuple[pd.DataFrame, int]:
    """The backend's own parts for [start, end] (both ends, before load() keeps [start, end)), and the request count."""
    calls = []
    orig = _http.HttpClient.request

    def counting(self, *a, **kw):
        calls.append(a)
        return orig(self, *a, **kw)

    _http.HttpClient.request = counting
    try:
        ctx = ReadContext(options={"step": step, "progress": False, **options})
        req, backend = resolve(url, kind="metrics", query=query, start_ns=start * 10**9, end_ns=end * 10**9,
                               options=ctx.options)
        parts = list(backend().fetch(req, ctx))
    finally:
        _http.HttpClient.request = orig
    table = pd.concat([p.table.to_pandas() for p in parts], ignore_index=True) if parts else pd.DataFrame()
    return table, len(calls)


class LiveSuite:
    server: str            # key in live_backends and URL scheme: "prometheus" / "victoriametrics"
    parse_error: str       # the server's words for rate(obsnb_up[5m]
    parse_status: int
    url: str
    fixture: str

    @pytest.fixture(autouse=True)
    def _bind(self, live_backends):
        self.url = f"{self.server}://" + live_backends[self.server].partition("://")[2]
        self.fixture = live_backends["fixture"]

    def test_rate_equals_fixture_increments(self, engine):
        """rate(counter[5m]) every 60 s over [T0+1h, T0+1h+10m] (end included) equals each series' per-15 s increment / 15."""
        df = to_pandas(ob.load(self.url, query="rate(obsnb_http_requests_total[5m])", start=T0 + HOUR,
                               end=T0 + HOUR + 600, step=60, engine=engine))
        assert len(df) == 3 * 11
        for (svc, code), g in df.groupby(["service", "code"]):
            want = per_second(self.fixture, f'obsnb_http_requests_total{{service="{svc}",code="{code}"}}', T0 + HOUR)
            assert g["value"].tolist() == pytest.approx([want] * 11)
            assert g["time"].tolist() == list(pd.date_range("2024-01-01T01:00Z", periods=11, freq="60s"))
        assert df["metric"].isna().all()  # rate() drops __name__

    def test_gauge_equals_fixture_samples_end_included(self):
        """A gauge at its own 15 s resolution over [T0, T0+3h] gives every fixture sample, the one at end included."""
        df = ob.load(self.url, query="obsnb_queue_depth", start=T0, end=T0 + 3 * HOUR, step=15)
        want = samples(self.fixture, 'obsnb_queue_depth{service="worker"}')
        assert len(df) == 721 and max(want) == T0 + 3 * HOUR
        got = dict(zip(df["time"].astype("int64") // 10**9, df["value"]))
        assert got == want
        assert set(df["metric"]) == {"obsnb_queue_depth"} and set(df["service"]) == {"worker"}

    def test_p95_pushed_down_as_histogram_quantile(self):
        """remote_latency runs histogram_quantile on the server: p95 is the fixture's 0.5 before T0+2h, 1.75 after."""
        df = remote_latency(self.url, "obsnb_http_request_duration_seconds", q=(0.5, 0.95), by="service",
                            start=T0 + HOUR, end=T0 + 3 * HOUR + 1, step=HOUR)
        assert df["time"].tolist() == list(pd.date_range("2024-01-01T01:00Z", periods=3, freq="h"))
        assert list(df.columns) == ["time", "service", "p50", "p95"]
        assert df["p95"].tolist() == pytest.approx([bucket_quantile(self.fixture, 0.95, T0 + HOUR),
                                                    bucket_quantile(self.fixture, 0.95, T0 + 2 * HOUR),
                                                    bucket_quantile(self.fixture, 0.95, T0 + 3 * HOUR)], rel=1e-9)
        assert df["p95"].tolist() == pytest.approx([0.5, 0.5, 1.75])

    def test_absent_over_time_finds_the_batch_job_silence(self):
        """remote_gaps: obsnb_up stops after T0+2h-15s; with 10m/60s the gap is reported from T0+2h to the window end."""
        last = max(samples(self.fixture, 'obsnb_up{service="batch"}'))
        df = remote_gaps(self.url, "obsnb_up", "10m", matchers={"service": "batch"}, start=T0 + 6600,
                         end=T0 + 8400, step=60)
        assert len(df) == 1
        start = df["gap_start"].iloc[0].timestamp()
        assert last < start <= last + 60  # exact to one step
        assert start == T0 + 7200
        assert df["gap_end"].iloc[0] == pd.Timestamp(T0 + 8400, unit="s", tz="UTC")
        assert df["duration"].iloc[0] == pd.Timedelta("20min")

    def test_helpers_backend_form_pushes_down(self):
        """ob.latency / ob.gaps given the server's URL return what remote_latency / remote_gaps return."""
        import obsnb as ob

        a = ob.latency(self.url, "obsnb_http_request_duration_seconds", q=0.95, by="service",
                       start=T0 + HOUR, end=T0 + 3 * HOUR + 1, every=HOUR)
        assert a["p95"].tolist() == pytest.approx([0.5, 0.5, 1.75])
        g = ob.gaps(self.url, "10m", selector="obsnb_up", matchers={"service": "batch"}, start=T0 + 6600,
                    end=T0 + 8400, step=60)
        assert g["gap_start"].iloc[0] == pd.Timestamp(T0 + 7200, unit="s", tz="UTC")
        assert g["duration"].iloc[0] == pd.Timedelta("20min")

    def test_small_step_chunks_stitch_contiguously(self):
        """3 h at 1 s with max_points=1000 is fetched as 11 chunks giving exactly (end-start)/step+1 contiguous points."""
        df, calls = raw_points(self.url, "obsnb_queue_depth", T0, T0 + 3 * HOUR, 1, max_points=1000)
        assert calls == 11
        t = np.sort(df["time"].astype("int64").to_numpy())
        assert len(t) == 3 * HOUR + 1
        assert (np.diff(t) == 10**9).all() and t[0] == T0 * 10**9 and t[-1] == (T0 + 3 * HOUR) * 10**9

    def test_quarter_second_step_over_3h_returns_every_point(self):
        """3 h at 0.25 s (43,201 points, past the server's points limit) arrives whole through load()."""
        df = ob.load(self.url, query="obsnb_queue_depth", start=T0, end=T0 + 3 * HOUR, step=0.25, progress=False)
        assert len(df) == 43_201  # every point the server evaluated, the one at end included
        assert df["time"].diff().dropna().eq(pd.Timedelta("250ms")).all()
        want = samples(self.fixture, 'obsnb_queue_depth{service="worker"}')
        assert df["value"].iloc[0] == want[T0] and df["value"].iloc[-1] == want[T0 + 3 * HOUR]

    def test_bad_promql_raises_query_error_with_server_words(self):
        """Unparseable PromQL raises QueryError at once with the server's own message and the query."""
        with pytest.raises(ob.QueryError) as ei:
            ob.load(self.url, query="rate(obsnb_up[5m]", start=T0, end=T0 + 600)
        assert self.parse_error in str(ei.value)
        assert "rate(obsnb_up[5m]" in str(ei.value) and ei.value.status == self.parse_status

    def test_instant_query_at_time(self):
        """time= runs an instant query: one row per series holding the fixture's sample at that time."""
        df = ob.load(self.url, query="obsnb_queue_depth", time=T0 + 2 * HOUR + 30)
        assert df["value"].tolist() == [samples(self.fixture, 'obsnb_queue_depth{service="worker"}')[T0 + 2 * HOUR + 30]]
        assert df["time"].tolist() == [pd.Timestamp(T0 + 2 * HOUR + 30, unit="s", tz="UTC")]

    def test_instant_query_before_end(self):
        """With only end=, the instant query sees the last sample before end (the window is [start, end))."""
        df = ob.load(self.url, query="obsnb_queue_depth", end=T0 + HOUR)
        assert df["value"].tolist() == [samples(self.fixture, 'obsnb_queue_depth{service="worker"}')[T0 + HOUR - 15]]
