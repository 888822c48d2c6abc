"""Analysis helpers vs the fastest hand-written DuckDB / polars / pandas code for the same answer.

Generates ``--rows`` log rows (and about rows/5 spans) in-process, then times, round-robin, each
approach ``--repeat`` times and prints medians and the ratio to the fastest hand-written one:

* latency: p50/p95/p99 + count of duration_ms by service and 1-minute bucket
* gaps: silences > 5 min per service (one injected 70-minute outage)
* timeline: every span and log row of every trace with span depth, sorted by trace and time

Each obsnb helper is run on a pandas frame (pandas out) and on a polars frame (polars out); the
hand-written versions work on their engine's native frame (DuckDB over the Arrow table).

    python benchmarks/bench_analysis.py --rows 1000000

Measured 2026-11-24 on the shared 2-vCPU VM, 9,959,775 log rows / 2,000,992 spans, median of 3
(each op run in its own quiet invocation with --only; other helpers were running tests, so read ratios):

    latency   polars (hand) 1.391 s 1.00x · obsnb polars 1.333 s 0.96x · obsnb pandas 1.444 s 1.04x ·
              duckdb 1.955 s 1.41x · pandas 2.818 s 2.03x
    gaps      polars (hand, list-sort form) 0.976 s 1.00x · obsnb polars 1.162 s 1.19x ·
              obsnb pandas 1.270 s 1.30x · duckdb 2.996 s 3.07x · pandas 9.607 s 9.84x
    timeline  polars (hand) 8.243 s 1.00x · duckdb 10.516 s 1.28x · obsnb polars 10.606 s 1.29x ·
              obsnb pandas 16.089 s 1.95x · pandas 34.789 s 4.22x

obsnb pandas pays for pandas -> polars -> pandas; for timeline that is the 12M-row, 16-column result
materialised back into pandas (the hand-written pandas version is still 2.2x slower than obsnb's).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa

import obsnb as ob
from obsnb import schema

DAY0 = np.datetime64("2024-05-14T00:00:00", "ns").astype(np.int64)
SERVICES = [f"svc-{i:02d}" for i in range(11)] + ["billing-worker"]
EVENTS = ["request", "job_started", "job_completed", "db_query", "cache_miss", "retry", "heartbeat", "job_failed"]
SPANS_PER_TRACE = 4  # root, two children, one grandchild


def generate(rows: int, seed: int = 20240514) -> tuple[pa.Table, pa.Table]:
    """Canonical logs (rows) and spans (a quarter of the traces sampled, 4 spans each) as Arrow tables."""
    rng = np.random.default_rng(seed)
    n_traces = max(rows // 5, 1)
    trace_of = rng.integers(0, n_traces, rows)
    base = DAY0 + rng.integers(0, 86_400 * 10**9, n_traces)
    t = base[trace_of] + rng.integers(0, 2 * 10**9, rows)
    service = rng.integers(0, len(SERVICES), rows)
    outage = (service == len(SERVICES) - 1) & (t >= DAY0 + 47_100 * 10**9) & (t < DAY0 + 51_300 * 10**9)
    keep = ~outage
    t, service, trace_of = t[keep], service[keep], trace_of[keep]
    n = len(t)
    logs = pl.DataFrame(
        {
            "time": t,
            "level": np.where(rng.random(n) < 0.02, "ERROR", "INFO"),
            "event": np.array(EVENTS)[rng.integers(0, len(EVENTS), n)],
            "service": pl.Series(np.array(SERVICES)[service]),
            "_trace": trace_of,
            "_span": rng.integers(0, SPANS_PER_TRACE, n),
            "duration_ms": rng.lognormal(3.0, 1.0, n),
        }
    ).with_columns(
        pl.col("time").cast(pl.Datetime("ns", "UTC")),
        pl.col("_trace").cast(pl.String).str.pad_start(32, "0").alias("trace_id"),
        (pl.col("_trace") * SPANS_PER_TRACE + pl.col("_span")).cast(pl.String).str.pad_start(16, "0").alias("span_id"),
    )
    logs = logs.select("time", "level", "event", "service", "trace_id", "span_id", "duration_ms")
    sampled = np.flatnonzero(rng.random(n_traces) < 0.25)
    tr = np.repeat(sampled, SPANS_PER_TRACE)
    k = np.tile(np.arange(SPANS_PER_TRACE), len(sampled))
    parent_k = np.array([-1, 0, 0, 1])[k]
    start = base[tr] + k * 100_000_000
    spans = pl.DataFrame({"_t": tr, "_k": k, "_p": parent_k, "start": start, "dur": rng.integers(1, 500, len(tr)) * 10**6})
    spans = spans.select(
        pl.col("_t").cast(pl.String).str.pad_start(32, "0").alias("trace_id"),
        (pl.col("_t") * SPANS_PER_TRACE + pl.col("_k")).cast(pl.String).str.pad_start(16, "0").alias("span_id"),
        pl.when(pl.col("_p") >= 0)
        .then((pl.col("_t") * SPANS_PER_TRACE + pl.col("_p")).cast(pl.String).str.pad_start(16, "0"))
        .alias("parent_span_id"),
        pl.lit("op").alias("name"),
        pl.lit("svc-00").alias("service"),
        pl.col("start").cast(pl.Datetime("ns", "UTC")),
        (pl.col("start") + pl.col("dur")).cast(pl.Datetime("ns", "UTC")).alias("end"),
        (pl.col("dur") / 1e6).alias("duration_ms"),
        pl.lit("OK").alias("status"),
    )
    return schema.conform(logs.to_arrow(), "logs"), schema.conform(spans.to_arrow(), "spans")


# ---- latency ---------------------------------------------------------------------------------


def latency_duckdb(con):
    return con.sql(
        """SELECT epoch_ns(time) // 60000000000 * 60000000000 AS b, service,
                  count(duration_ms) AS count, quantile_cont(duration_ms, [0.5, 0.95, 0.99]) AS q
           FROM logs GROUP BY ALL"""
    ).to_arrow_table()


def latency_polars(df: pl.DataFrame):
    v = pl.col("duration_ms")
    return df.group_by(pl.col("time").dt.truncate("1m"), "service").agg(
        v.count(), *[v.quantile(q, "linear").alias(f"p{q}") for q in (0.5, 0.95, 0.99)]
    )


def latency_pandas(df: pd.DataFrame):
    g = df.groupby([df["time"].dt.floor("1min"), "service"], observed=True)["duration_ms"]
    return g.quantile([0.5, 0.95, 0.99]).unstack().join(g.count())


# ---- gaps ------------------------------------------------------------------------------------

GAP = pd.Timedelta(minutes=5)


def gaps_duckdb(con):
    return con.sql(
        """SELECT service, prev AS gap_start, t AS gap_end, t - prev AS duration_ns FROM (
             SELECT service, epoch_ns(time) AS t, lag(epoch_ns(time)) OVER (PARTITION BY service ORDER BY time) AS prev
             FROM logs)
           WHERE t - prev > 300000000000 ORDER BY service, gap_start"""
    ).to_arrow_table()


def gaps_polars(df: pl.DataFrame):
    # fastest polars form found: sort each service's times inside a list, diff, explode (3-10x faster
    # than sorting the frame by (service, time) and shifting)
    t = pl.col("time").cast(pl.Int64)
    g = df.group_by("service").agg(t.sort().alias("t")).with_columns(pl.col("t").list.diff().alias("d"))
    return g.explode(["t", "d"]).filter(pl.col("d") > 300_000_000_000)


def gaps_pandas(df: pd.DataFrame):
    s = df[["service", "time"]].sort_values(["service", "time"])
    s["gap_start"] = s.groupby("service", observed=True)["time"].shift(1)
    return s[(s["time"] - s["gap_start"]) > GAP]


# ---- timeline over all traces ------------------------------------------------------------------


def _depth_polars(spans: pl.DataFrame) -> pl.DataFrame:
    d = spans.select("trace_id", "span_id", "parent_span_id").with_columns(
        pl.when(pl.col("parent_span_id").is_null()).then(0).alias("depth")
    )
    while d.get_column("depth").null_count():
        known = d.filter(pl.col("depth").is_not_null()).select("trace_id", pl.col("span_id").alias("parent_span_id"), (pl.col("depth") + 1).alias("_d"))
        d = d.join(known, on=["trace_id", "parent_span_id"], how="left").with_columns(
            pl.coalesce("depth", "_d").alias("depth")
        ).drop("_d")
    return d.select("trace_id", "span_id", "depth")


def timeline_polars(logs: pl.DataFrame, spans: pl.DataFrame):
    depth = _depth_polars(spans)
    sp = spans.join(depth, on=["trace_id", "span_id"]).select(
        pl.col("start").alias("time"), "end", "duration_ms", pl.lit("span").alias("source"), "service", "name",
        pl.lit(None, pl.String).alias("level"), "trace_id", "span_id", "parent_span_id", "depth",
    )
    lg = logs.join(depth, on=["trace_id", "span_id"], how="left").select(
        "time", pl.lit(None, pl.Datetime("ns", "UTC")).alias("end"), pl.lit(None, pl.Float64).alias("duration_ms"),
        pl.lit("log").alias("source"), "service", pl.col("event").alias("name"), "level", "trace_id", "span_id",
        pl.lit(None, pl.String).alias("parent_span_id"), pl.col("depth").fill_null(0),
    )
    return pl.concat([sp, lg]).sort("trace_id", "time")


def timeline_duckdb(con):
    return con.sql(
        """WITH RECURSIVE d(trace_id, span_id, depth) AS (
             SELECT trace_id, span_id, 0 FROM spans WHERE parent_span_id IS NULL
             UNION ALL SELECT s.trace_id, s.span_id, d.depth + 1 FROM spans s
             JOIN d ON s.trace_id = d.trace_id AND s.parent_span_id = d.span_id)
           SELECT s.start AS time, s."end", s.duration_ms, 'span' AS source, s.service, s.name, NULL AS level,
                  s.trace_id, s.span_id, s.parent_span_id, d.depth
           FROM spans s JOIN d USING (trace_id, span_id)
           UNION ALL
           SELECT l.time, NULL, NULL, 'log', l.service, l.event, l.level, l.trace_id, l.span_id, NULL,
                  coalesce(d.depth, 0)
           FROM logs l LEFT JOIN d USING (trace_id, span_id)
           ORDER BY trace_id, time"""
    ).to_arrow_table()


def timeline_pandas(logs: pd.DataFrame, spans: pd.DataFrame):
    d = spans[["trace_id", "span_id", "parent_span_id"]].copy()
    d["depth"] = np.where(d["parent_span_id"].isna(), 0, np.nan)
    while d["depth"].isna().any():
        known = d.loc[d["depth"].notna(), ["trace_id", "span_id", "depth"]].rename(columns={"span_id": "parent_span_id", "depth": "_d"})
        d = d.drop(columns=[c for c in ("_d",) if c in d]).merge(known, on=["trace_id", "parent_span_id"], how="left")
        d["depth"] = d["depth"].fillna(d["_d"] + 1)
        d = d.drop(columns="_d")
    depth = d[["trace_id", "span_id", "depth"]]
    sp = spans.merge(depth, on=["trace_id", "span_id"]).rename(columns={"start": "time"})
    sp["source"] = "span"
    lg = logs.merge(depth, on=["trace_id", "span_id"], how="left").rename(columns={"event": "name"})
    lg["depth"] = lg["depth"].fillna(0)
    lg["source"] = "log"
    cols = ["time", "source", "service", "name", "trace_id", "span_id", "depth"]
    out = pd.concat([sp[cols + ["end", "duration_ms", "parent_span_id"]], lg[cols + ["level"]]], ignore_index=True)
    return out.sort_values(["trace_id", "time"], kind="stable")


# ---- harness -----------------------------------------------------------------------------------


def timeit(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        res = fn()
        out.append(time.perf_counter() - t0)
        del res
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=["latency", "gaps", "timeline"], default=None)
    args = ap.parse_args()
    t0 = time.perf_counter()
    logs_t, spans_t = generate(args.rows)
    logs_pl, spans_pl = pl.from_arrow(logs_t), pl.from_arrow(spans_t)
    logs_pd, spans_pd = schema.to_engine(logs_t, "pandas"), schema.to_engine(spans_t, "pandas")
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.register("logs", logs_t)
    con.register("spans", spans_t)
    print(f"generated {logs_t.num_rows:,} log rows, {spans_t.num_rows:,} spans in {time.perf_counter() - t0:.1f}s")
    ops = {
        "latency": {
            "duckdb (hand)": lambda: latency_duckdb(con),
            "polars (hand)": lambda: latency_polars(logs_pl),
            "pandas (hand)": lambda: latency_pandas(logs_pd),
            "obsnb pandas": lambda: ob.latency(logs_pd, by="service", every="1m"),
            "obsnb polars": lambda: ob.latency(logs_pl, by="service", every="1m"),
        },
        "gaps": {
            "duckdb (hand)": lambda: gaps_duckdb(con),
            "polars (hand)": lambda: gaps_polars(logs_pl),
            "pandas (hand)": lambda: gaps_pandas(logs_pd),
            "obsnb pandas": lambda: ob.gaps(logs_pd, "5m", by="service"),
            "obsnb polars": lambda: ob.gaps(logs_pl, "5m", by="service"),
        },
        "timeline": {
            "duckdb (hand)": lambda: timeline_duckdb(con),
            "polars (hand)": lambda: timeline_polars(logs_pl, spans_pl),
            "pandas (hand)": lambda: timeline_pandas(logs_pd, spans_pd),
            "obsnb pandas": lambda: ob.timeline(None, logs=logs_pd, spans=spans_pd),
            "obsnb polars": lambda: ob.timeline(None, logs=logs_pl, spans=spans_pl),
        },
    }
    check = ob.gaps(logs_pl, "5m", by="service")
    print(f"gaps found: {check.height} ({', '.join(f'{s} {d}' for s, d in zip(check['service'], check['duration']))})")
    for op, fns in ops.items():
        if args.only and op != args.only:
            continue
        times = {name: [] for name in fns}
        for _ in range(args.repeat):  # round-robin so drift hits every approach alike
            for name, fn in fns.items():
                times[name] += timeit(fn, 1)
        med = {k: statistics.median(v) for k, v in times.items()}
        best = min(v for k, v in med.items() if "(hand)" in k)
        print(f"\n{op} on {logs_t.num_rows:,} rows (median of {args.repeat}; ratio to fastest hand-written)")
        for name, m in sorted(med.items(), key=lambda kv: kv[1]):
            print(f"  {name:<15} {m:8.3f} s  {m / best:5.2f}x   [{min(times[name]):.3f}-{max(times[name]):.3f}]")


if __name__ == "__main__":
    main()
