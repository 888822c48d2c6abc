"""ob.latency per bucket and string group: the groups, counts and quantiles of a plain group-by on (bucket start,
group columns), to the last bit, whatever the data holds (nulls in the groups and in the times, NaN, times
before 1970, a bucket so small that no integer key fits), on frames and on scans alike."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import obsnb as ob
from obsnb import options
from obsnb.analysis.latency import quantile_name

TS = pl.Datetime("ns", "UTC")


def _plain(df: pl.DataFrame, keys: list[str], every_ns: int, qs: list[float]) -> pl.DataFrame:
    """The reference: polars' own group-by on the bucket start and the key columns, NaN taken as missing."""
    v = pl.col("v")
    work = df.select(pl.when(v.is_nan()).then(None).otherwise(v).alias("v"), *keys,
                     ((pl.col("time").cast(pl.Int64) // every_ns) * every_ns).cast(TS).alias("time"))
    aggs = [v.count().cast(pl.Int64).alias("count"),
            *[v.drop_nulls().quantile(q, interpolation="linear").alias(quantile_name(q)) for q in qs],
            v.null_count().cast(pl.Int64).alias("nan")]
    return work.group_by(["time", *keys]).agg(aggs).sort(["time", *keys], nulls_last=True)


rows = st.lists(st.tuples(
    st.one_of(st.none(), st.integers(-3 * 10**12, 3 * 10**12)),       # ns around 1970, some before it; some null
    st.one_of(st.none(), st.sampled_from(["api", "db", "worker", ""])),
    st.one_of(st.none(), st.sampled_from(["a", "b"])),
    st.one_of(st.none(), st.just(math.nan), st.floats(-1e9, 1e9, allow_nan=False)),
), min_size=0, max_size=80)


@settings(max_examples=60, deadline=None)
@given(rows, st.sampled_from([1, 7, 10**9, 60 * 10**9]), st.integers(0, 2))
def test_latency_per_bucket_is_the_plain_group_by_to_the_last_bit(data, every_ns, n_keys):
    keys = ["service", "event"][:n_keys]
    df = pl.DataFrame(data, schema={"time": pl.Int64, "service": pl.String, "event": pl.String, "v": pl.Float64},
                      orient="row").with_columns(pl.col("time").cast(TS))
    qs = [0.0, 0.5, 0.95, 1.0]
    got = ob.latency(df, "v", q=qs, by=keys or None, every=f"{every_ns}ns")
    assert_frame_equal(got, _plain(df, keys, every_ns, qs))


def test_many_groups_keep_numpys_quantiles_per_service_and_minute():
    """12 services x 30 minutes, every 5th value NaN and every 17th service null: each group's count, nan and
    p50/p99 are numpy's linear quantiles of that group's kept values (the groups known from the construction)."""
    n = 36_000
    services = [None if i % 17 == 0 else f"svc-{i % 12:02d}" for i in range(n)]
    secs = [(i * 7) % 1800 for i in range(n)]
    vals = [math.nan if i % 5 == 0 else float((i * 7919) % 10007) / 3.0 for i in range(n)]
    t0 = dt.datetime(2024, 5, 14, 13, 0, tzinfo=dt.timezone.utc)
    df = pl.DataFrame({"time": [t0 + dt.timedelta(seconds=s) for s in secs], "service": services, "v": vals},
                      schema={"time": TS, "service": pl.String, "v": pl.Float64})
    out = ob.latency(df, "v", q=(0.5, 0.99), by="service", every="1m")
    groups: dict = {}
    for s, sec, v in zip(services, secs, vals):
        groups.setdefault((sec // 60, s), []).append(v)
    assert out.height == len(groups)
    for minute, svc, count, p50, p99, nan in out.iter_rows():
        key = ((minute - t0).seconds // 60, svc)
        kept = np.array([v for v in groups[key] if not math.isnan(v)])
        assert (count, nan) == (len(kept), len(groups[key]) - len(kept))
        assert (p50, p99) == (float(np.quantile(kept, 0.5)), float(np.quantile(kept, 0.99)))
    assert out["service"].null_count() == 30  # the null service is a group of its own in every minute, sorted last
    assert out.filter(pl.col("time") == t0)["service"].to_list()[-1] is None


@pytest.fixture
def scan_of(tmp_path, monkeypatch):
    for name in ("cache", "cache_row_group", "engine", "progress"):
        monkeypatch.setitem(options._OPTIONS, name, options._OPTIONS[name])
    ob.set_option("cache_row_group", 300)
    ob.set_option("progress", False)
    ob.set_option("engine", "polars")

    def make(records):
        p = tmp_path / "app.jsonl"
        p.write_text("".join(json.dumps(r) + "\n" for r in records))
        return ob.scan(str(p), "logs")
    return make


def test_scan_and_its_collected_frame_give_the_same_frame_per_bucket_and_groups(scan_of):
    """A scan over many row groups (groups split across them, null services, missing durations, a second key,
    1 ns buckets that no integer key fits): the very frame ob.latency gives on the collected rows."""
    recs = [{"time": f"2024-05-14T13:{i // 60 % 60:02d}:{i % 60:02d}.{i % 997:03d}Z", "event": f"e{i % 3}",
             **({} if i % 13 == 0 else {"service": ["api", "db", "worker"][i % 3]}),
             **({} if i % 7 == 0 else {"duration_ms": (i * 37) % 1000 / 10})} for i in range(3000)]
    scan = scan_of(recs)
    frame = scan.collect(engine="polars")
    for kw in ({"by": "service", "every": "1m"}, {"by": ["service", "event"], "every": "5m"},
               {"by": "service", "every": "1ns"}, {"every": "30s"}):
        got = ob.latency(scan, "duration_ms", q=(0.5, 0.95, 0.999), **kw)
        assert_frame_equal(got, ob.latency(frame, "duration_ms", q=(0.5, 0.95, 0.999), **kw))
        keys = [kw["by"]] if isinstance(kw.get("by"), str) else kw.get("by", [])
        step = {"1m": 60, "5m": 300, "1ns": 1e-9, "30s": 30}[kw["every"]]
        # the groups, counted from the records themselves
        assert got.height == len({(int(i // step) if step >= 1 else i, *(r.get(k) for k in keys))
                                  for i, r in zip(_seconds(recs, step), recs)})
        assert got["count"].sum() == sum("duration_ms" in r for r in recs)


def _seconds(recs, step):
    """Each record's time in seconds from 13:00 (in ns when the bucket is 1 ns: every time its own bucket)."""
    out = []
    for r in recs:
        t = dt.datetime.fromisoformat(r["time"].replace("Z", "+00:00"))
        s = (t - dt.datetime(2024, 5, 14, 13, tzinfo=dt.timezone.utc)) / dt.timedelta(seconds=1)
        out.append(s if step >= 1 else round(s * 1e9))
    return out
