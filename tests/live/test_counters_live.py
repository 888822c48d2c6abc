"""ob.increase / counter_rate / irate / delta on a file equal a real Prometheus's answers on the same samples.

The test writes one OpenMetrics file of awkward series (counter resets, two resets in one window, a
gap, a series born and dying inside the range, irregular intervals with millisecond jitter, a gauge
going negative, a histogram), backfills it into its own Prometheus (``promtool tsdb
create-blocks-from openmetrics``, a free loopback port), then compares ``query_range`` of
``increase``/``rate``/``irate``/``delta`` (windows 30 s to 17 m, so some windows hold fewer than two
samples) with the helpers run on ``ob.load()`` of the same file.

The installed server is Prometheus 2.42; the helpers follow Prometheus 3. The two differ in two
places, and the data keeps clear of both so that every point is comparable: 2.x windows are closed
(``[t - w, t]``, 3.x: ``(t - w, t]``): no sample sits exactly at ``t - w`` (samples are off the whole
second, points and windows on it); 2.x applies the counter zero cutoff before the half-interval rule
(3.x after): series born inside a window start far from zero, where both rules pick the half interval.
"""

from __future__ import annotations

import math
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time

import numpy as np
import pytest
import requests

import obsnb as ob
from conftest import need

pytestmark = pytest.mark.live

T0 = 1704067200
SPAN = 3 * 3600
WINDOWS = ("30s", "1m", "5m", "17m")
FUNCS = {"increase": ob.increase, "rate": ob.counter_rate, "irate": ob.irate, "delta": ob.delta}
LE = ("0.1", "0.5", "1", "5", "+Inf")


def _series() -> dict[str, list[tuple[float, float]]]:
    """name{labels} -> [(epoch seconds with ms, value)], deterministic."""
    rng = np.random.default_rng(16)
    out: dict[str, list[tuple[float, float]]] = {}

    def times(start: int, end: int, step: float, jitter: bool = True) -> np.ndarray:
        n = int((end - start) // step)
        base = start + step * np.arange(n)
        return np.round(base + (rng.integers(1, 900, n) / 1000 if jitter else 0.5), 3)

    t = times(T0, T0 + SPAN, 15)
    out['cnt_total{case="regular"}'] = list(zip(t, 5000 + np.cumsum(rng.integers(0, 40, len(t))).astype(float)))
    v = 2000 + np.cumsum(rng.integers(1, 30, len(t))).astype(float)
    for i in (100, 300, 304, 500):  # restarts; 300 and 304 fall in one 5m/17m window
        v[i:] = v[i:] - v[i] + rng.integers(0, 20)
    out['cnt_total{case="resets"}'] = list(zip(t, v))
    keep = (t < T0 + 3600) | (t > T0 + 3600 + 600)  # a 10-minute gap
    out['cnt_total{case="gap"}'] = list(zip(t[keep], (9000 + np.cumsum(rng.integers(0, 50, len(t)))[keep]).astype(float)))
    tb = t[(t > T0 + 1800) & (t < T0 + 5400)]  # born and dying inside the range, far from zero
    out['cnt_total{case="short"}'] = list(zip(tb, 80_000 + np.cumsum(rng.integers(1, 10, len(tb))).astype(float)))
    ti = np.round(T0 + np.cumsum(rng.integers(5, 41, 600)) + rng.integers(1, 900, 600) / 1000, 3)
    ti = ti[ti < T0 + SPAN]
    out['cnt_total{case="irregular"}'] = list(zip(ti, 100 + np.cumsum(rng.integers(0, 7, len(ti))).astype(float)))
    out['temp{case="gauge"}'] = list(zip(t, np.round(np.cumsum(rng.normal(0, 3, len(t))), 3)))
    obs = rng.integers(0, 30, (len(t), len(LE)))
    obs[len(t) // 2 :, 3] += 40  # slow requests in the second half
    cum = 10_000 + np.cumsum(np.cumsum(obs, axis=1), axis=0).astype(float)  # started long before T0
    for j, le in enumerate(LE):
        out[f'lat_seconds_bucket{{case="hist",le="{le}"}}'] = list(zip(t, cum[:, j]))
    return out


def _openmetrics(series: dict[str, list[tuple[float, float]]]) -> str:
    lines = ["# TYPE cnt counter", "# TYPE temp gauge", "# TYPE lat_seconds histogram"]
    for fam in ("cnt_total", "temp", "lat_seconds_bucket"):
        for name, pts in series.items():
            if name.startswith(fam + "{"):
                lines += [f"{name} {v:.17g} {ts:.3f}" for ts, v in pts]
    return "\n".join(lines) + "\n# EOF\n"


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def prom(tmp_path_factory):
    """(Prometheus URL, path of the OpenMetrics file it was backfilled from)."""
    need(bool(shutil.which("prometheus") and shutil.which("promtool")), "prometheus/promtool are not installed")
    work = tmp_path_factory.mktemp("counters-prom")
    om = work / "counters.om"
    om.write_text(_openmetrics(_series()))
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(om), str(work / "data")],
                   check=True, capture_output=True)
    (work / "prometheus.yml").write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
    port = _free_port()
    log = open(work / "prom.log", "wb")
    proc = subprocess.Popen(["prometheus", f"--config.file={work / 'prometheus.yml'}",
                             f"--storage.tsdb.path={work / 'data'}", "--storage.tsdb.retention.time=100y",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                r = requests.get(f"{url}/api/v1/query", params={"query": "count(cnt_total)", "time": T0 + 3600}, timeout=2)
                if r.ok and r.json()["data"]["result"]:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        else:
            need(False, f"prometheus did not start: {(work / 'prom.log').read_text()[-1000:]}")
        yield url, om
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def _query_range(url: str, expr: str, start: int, end: int, step: int) -> dict:
    r = requests.get(f"{url}/api/v1/query_range", params={"query": expr, "start": start, "end": end, "step": step},
                     timeout=30)
    r.raise_for_status()
    out = {}
    for s in r.json()["data"]["result"]:
        key = (s["metric"].get("case"), s["metric"].get("le"))
        for t, v in s["values"]:
            out[(key, int(t))] = float(v)
    return out


def _ours(df, func: str, window: str, start: int, end: int, step: int) -> dict:
    got = FUNCS[func](df, window, every=f"{step}s", start=np.datetime64(start, "s"),
                      end=np.datetime64(end, "s"))
    out = {}
    for case, le, t, v in zip(got["case"], got["le"], got["time"], got["value"]):
        out[((case, None if le is None or (isinstance(le, float) and math.isnan(le)) else le),
             int(t.timestamp()))] = float(v)
    return out


@pytest.fixture(scope="module")
def loaded(prom):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ob.load(str(prom[1]))


def test_fixture_exercises_the_edge_cases(loaded):
    """The file holds what the comparison is about: resets, two in one 5m window, a 10-minute gap, short series."""
    df = loaded[loaded["metric"] == "cnt_total"]
    resets = df[df["case"] == "resets"]["value"].diff().lt(0).sum()
    gap = df[df["case"] == "gap"]["time"].diff().max()
    assert resets == 4 and gap > np.timedelta64(600, "s")
    assert set(loaded["_type"].dropna()) == {"counter", "gauge", "histogram"}


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("func", list(FUNCS))
def test_helpers_equal_prometheus_query_range(prom, loaded, func, window):
    """Every point and label set of f(x[window]) every 60 s over 3 h equals Prometheus's query_range answer."""
    url, _ = prom
    selector = "temp" if func == "delta" else '{__name__=~"cnt_total|lat_seconds_bucket"}'
    start, end, step = T0 + 60, T0 + SPAN, 60
    want = _query_range(url, f"{func}({selector}[{window}])", start, end, step)
    names = ["temp"] if func == "delta" else ["cnt_total", "lat_seconds_bucket"]
    got = _ours(loaded[loaded["metric"].isin(names)], func, window, start, end, step)
    assert len(want) > 100
    assert set(got) == set(want)
    bad = {k: (got[k], v) for k, v in want.items() if not math.isclose(got[k], v, rel_tol=1e-12, abs_tol=1e-12)}
    assert not bad, list(bad.items())[:5]


def test_p95_over_time_equals_prometheus_histogram_quantile(prom, loaded):
    """ob.histogram_quantile(ob.increase(buckets, '5m'), 0.95) equals histogram_quantile(0.95, increase(...[5m]))."""
    url, _ = prom
    start, end, step = T0 + 300, T0 + SPAN, 300
    want = _query_range(url, "histogram_quantile(0.95, increase(lat_seconds_bucket[5m]))", start, end, step)
    buckets = loaded[loaded["metric"] == "lat_seconds_bucket"]
    p95 = ob.histogram_quantile(ob.increase(buckets, "5m", every="300s", start=np.datetime64(start, "s"),
                                            end=np.datetime64(end, "s")), 0.95)
    got = {(("hist", None), int(t.timestamp())): v for t, v in zip(p95["time"], p95["value"])}
    assert set(got) == set(want) and len(want) == SPAN // step
    assert all(math.isclose(got[k], v, rel_tol=1e-12) for k, v in want.items())
    late = [v for (_, t), v in want.items() if t > T0 + SPAN // 2 + 600]
    assert min(late) > 1  # the slow second half shows in the per-window p95
