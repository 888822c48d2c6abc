"""ob.latency / ob.rate / ob.error_rate / ob.gaps on a scan: out of core, and exactly the frame the in-memory
helper gives on ``scan.collect()`` (same columns, dtypes, numbers), without the scan's rows materialised."""

from __future__ import annotations

import datetime as dt
import json
import warnings

import pandas as pd
import polars as pl
import pytest
from _support import SAMPLE_DATA
from polars.testing import assert_frame_equal

import obsnb as ob
from obsnb import options

T0 = dt.datetime(2024, 5, 14, 12, 0, tzinfo=dt.timezone.utc)
INCIDENT_FILES = sorted(str(p) for p in (SAMPLE_DATA / "incidents").glob("*/*/*.gz"))


@pytest.fixture(autouse=True)
def _options(monkeypatch):
    """Small row groups (so a window prunes some); the global options come back afterwards."""
    for name in ("cache", "cache_row_group", "engine", "progress"):
        monkeypatch.setitem(options._OPTIONS, name, options._OPTIONS[name])
    ob.set_option("cache_row_group", 200)
    ob.set_option("progress", False)


def _records(n: int = 2400) -> list[dict]:
    """One event every 3 s over 2 h, except a silence from minute 40 to 55 (empty buckets); every 11th
    duration missing, every 13th service missing (a null group), an error every 7th in minutes 80-90."""
    out = []
    for i in range(n):
        t = T0 + dt.timedelta(seconds=3 * i)
        minute = 3 * i // 60
        if 40 <= minute < 55:
            continue
        rec = {"time": t.isoformat().replace("+00:00", "Z"), "service": ["api", "worker", "db"][i % 3],
               "level": "ERROR" if 80 <= minute < 90 and i % 7 == 0 else "INFO", "event": f"step_{i % 4}",
               "duration_ms": float((i * 37) % 1000) / 10}
        if i % 11 == 0:
            del rec["duration_ms"]
        if i % 13 == 0:
            del rec["service"]
        out.append(rec)
    return out


@pytest.fixture
def made(tmp_path):
    p = tmp_path / "app.jsonl"
    recs = _records()
    p.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return str(p), recs


def _check(helper, scan, *args, **kw):
    """helper(scan) with Scan.collect forbidden and every Scan._table row count recorded, against
    helper(scan.collect()) computed first."""
    expected = helper(scan.collect(engine="polars"), *args, **kw)
    Scan = type(scan)
    real_collect, real_table = Scan.collect, Scan._table
    seen: list[int] = []

    def table(self):
        t = real_table(self)
        seen.append(t[0].num_rows)
        return t

    Scan._table = table
    Scan.collect = lambda self, engine=None: (_ for _ in ()).throw(AssertionError("the helper collected the scan"))
    try:
        ob.set_option("engine", "polars")
        got = helper(scan, *args, **kw)
    finally:
        Scan.collect, Scan._table = real_collect, real_table
    assert seen == [0] * len(seen)  # only the empty-window schema read: no row of the scan materialised
    assert_frame_equal(got, expected)
    return got


def test_latency_on_scan_matches_collect_per_service_per_minute(made):
    """p50/p95/p99 per service per minute, nulls counted in nan, the null service its own group."""
    path, recs = made
    out = _check(ob.latency, ob.scan(path), "duration_ms", by="service", every="1m")
    # independently: the api rows of minute 0 and their missing durations, from the records themselves
    api0 = [r for r in recs if r.get("service") == "api" and r["time"] < "2024-05-14T12:01"]
    row = out.filter((pl.col("service") == "api") & (pl.col("time") == T0))
    assert row["count"].item() == sum("duration_ms" in r for r in api0)
    assert row["nan"].item() == sum("duration_ms" not in r for r in api0)
    assert out["service"].null_count() > 0


def test_latency_on_scan_window_and_quantiles(made):
    path, _ = made
    scan = ob.scan(path).window(T0 + dt.timedelta(minutes=17), T0 + dt.timedelta(minutes=71))
    assert any(len(p["row_groups"]) < p["of"] for p in scan.explain())  # the window prunes row groups
    _check(ob.latency, scan, "duration_ms", q=(0.5, 0.999), by=["service", "event"], every="5m")
    _check(ob.latency, scan, "duration_ms", by="service")  # no every=: one row per group
    _check(ob.latency, scan, "duration_ms")  # no group at all


def test_rate_on_scan_has_the_empty_buckets(made):
    path, recs = made
    out = _check(ob.rate, ob.scan(path), "1m", by="service")
    quiet = out.filter((pl.col("time") >= T0 + dt.timedelta(minutes=40)) & (pl.col("time") < T0 + dt.timedelta(minutes=55)))
    assert quiet.height == 15 * 4 and quiet["count"].sum() == 0  # 15 silent minutes x (3 services + null)
    assert out["count"].sum() == len(recs)


def test_rate_on_scan_with_start_end_and_groups(made):
    path, _ = made
    s, e = T0 + dt.timedelta(minutes=30), T0 + dt.timedelta(minutes=65)
    _check(ob.rate, ob.scan(path), "2m", by="service", start=s, end=e, groups=["api", "cache"])
    _check(ob.rate, ob.scan(path).window(s, e), "30s")


def test_error_rate_on_scan(made):
    path, recs = made
    out = _check(ob.error_rate, ob.scan(path), "5m", by="service")
    assert out["errors"].sum() == sum(r["level"] == "ERROR" for r in recs)
    _check(ob.error_rate, ob.scan(path), "1m", errors={"event": ["step_1"]}, start=T0, end=T0 + dt.timedelta(hours=1))
    _check(ob.error_rate, ob.scan(path).filter(service="worker"), "10m")


def test_gaps_on_scan(made):
    path, _ = made
    out = _check(ob.gaps, ob.scan(path), "5m", by="service", start=T0, end=T0 + dt.timedelta(hours=3))
    inner = out.filter(pl.col("service") == "api")
    assert inner["gap_start"].to_list()[0] < T0 + dt.timedelta(minutes=40) < inner["gap_end"].to_list()[0]
    _check(ob.gaps, ob.scan(path), "10m")
    _check(ob.gaps, ob.scan(path), "1m", by="service", start=T0, end=T0 + dt.timedelta(hours=3), groups=["api", "mq"])


def test_empty_window_gives_the_empty_frames(made):
    path, _ = made
    scan = ob.scan(path).window(T0 - dt.timedelta(days=2), T0 - dt.timedelta(days=1))
    assert _check(ob.latency, scan, "duration_ms", by="service", every="1m").height == 0
    assert _check(ob.rate, scan, "1m").height == 0
    assert _check(ob.error_rate, scan, "1m").height == 0
    assert _check(ob.gaps, scan, "1m").height == 0


@pytest.mark.parametrize("path", INCIDENT_FILES, ids=lambda p: p.split("incidents/")[1])
def test_bundled_incidents(path):
    """Every bundled incident file: the helpers on its scan equal them on the collected frame."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scan = ob.scan(path)
        kind = scan.kind
        by = "service" if "service" in scan.columns else None
        _check(ob.rate, scan, "1m", by=by)
        _check(ob.error_rate, scan, "5m", by=by)
        _check(ob.gaps, scan, "2m", by=by)
        if kind == "spans":
            _check(ob.latency, scan, "duration_ms", by=["service", "name"], every="1m")


def test_pandas_out_by_the_engine_option(made):
    path, _ = made
    scan = ob.scan(path)
    ob.set_option("engine", "pandas")
    got = ob.latency(scan, "duration_ms", by="service", every="10m")
    want = ob.latency(scan.collect(), "duration_ms", by="service", every="10m")
    assert isinstance(got, pd.DataFrame)
    pd.testing.assert_frame_equal(got, want)
