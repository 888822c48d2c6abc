"""ob.latency on a scan (out of core) vs hand-written DuckDB over the same Parquet vs load + the in-memory helper.

    python benchmarks/bench_scan_helpers.py [--lines 2000000] [--rounds 3] [FOLDER]
    python benchmarks/bench_scan_helpers.py /work/bigdata --store /work/bigdata-work/store --ways scan,duckdb,plain

Without FOLDER, one messy JSON-lines day of ``--lines`` lines (benchmarks/gen_messy_logs.py) is written; with
it, every ``*.jsonl``/``*.jsonl.gz``/``*.ndjson`` file in FOLDER (e.g. /work/bigdata from gen_big_set.py) is
the evidence. The files are ingested into a store once (timed, printed; ``--store DIR`` uses that store, e.g.
the one bench_big.py --keep filled, where a filled store costs only its entries' reads, and a read-only
FOLDER is never written); then the question, p95 of
``duration_ms`` per service per minute, is answered three ways, each in a fresh process (rounds
interleaved) so each way's peak RSS is its own (printed with the peak before the work began):

- ``scan``: ``ob.latency(ob.scan(files), "duration_ms", q=0.95, by="service", every="1m")``
  (polars lazy over the store's Parquet: obsnb.analysis.lazy);
- ``duckdb``: ``SELECT time_bucket(...), service, count(duration_ms), quantile_cont(duration_ms, 0.95) FROM
  read_parquet(<the same store files>) GROUP BY ALL``, NaN left out of both as ob.latency leaves it, to an Arrow table;
- ``load``: ``ob.latency(ob.load(files), ...)``: the frame loaded whole (from the same store), then the helper;
- ``plain``: what ``ob.latency(scan)`` ran before it grouped on one integer key: the same lazy frame
  (``obsnb.analysis.lazy.scan_frame``) grouped by polars on (bucket start, service), so the key's gain is
  measured in the same run (its frame is checked equal to scan's).

Each way's imports (``import duckdb``; obsnb's ``ob.latency`` / ``ob.load``, which import obsnb.analysis, and
pandas, which pyarrow imports on the store's first read) are done before its clock starts, as a notebook has done them before the question: timed alone, they
were most of the scan way's seconds on 1M lines. Prints, per way, the median
seconds of the first call in the process and each way's ratio to hand DuckDB, peak RSS, the median seconds of a
second call in the same process (warm) and the untimed import seconds; checks that scan and load give the same
frame and that DuckDB's counts are equal and its p95 within 1e-9 relative. ``--ways scan,duckdb,plain`` leaves out the
load way (30M rows in memory, for the big set).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WAYS = ("scan", "duckdb", "load", "plain")


def _hwm_mb() -> float:
    """This process's peak RSS (VmHWM: reset by exec, unlike getrusage's ru_maxrss, which a child inherits)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(way: str, store: str, files: list[str], out: str) -> None:
    """One way, in this (fresh) process: prints the seconds of its first call and of a second (warm) one, its
    peak RSS and the peak RSS before the work began. Each way's imports happen before the clock starts (duckdb's
    ``import duckdb``; for obsnb ``import pandas`` and the ``ob.latency`` / ``ob.load`` attributes),
    timed separately and printed as ``import_s``."""
    import warnings

    t_imp = time.perf_counter()
    import polars as pl

    import obsnb as ob

    if way == "duckdb":
        import duckdb
    else:  # obsnb imports its helpers on first attribute access; pyarrow imports pandas on the first concat_tables
        import pandas  # noqa: F401  (a notebook on obsnb's default engine, pandas, has it already)

        helper, load = ob.latency, ob.load
    import_s = time.perf_counter() - t_imp
    warnings.simplefilter("ignore")
    ob.set_option("progress", False)
    ob.set_option("cache", store)
    ob.set_option("engine", "polars")
    s = ob.scan(files, "logs")
    parts = [p["part"] for p in s.explain()]  # ingested already: this reads entry.json only

    def run():
        if way == "scan":
            return helper(s, "duration_ms", q=0.95, by="service", every="1m")
        if way == "plain":
            return _plain(s)
        if way == "load":
            return helper(load(files, "logs", engine="polars"), "duration_ms", q=0.95, by="service", every="1m")
        con = duckdb.connect()
        con.execute("SET TimeZone='UTC'")
        keep = "FILTER (WHERE NOT isnan(duration_ms))"  # ob.latency ignores NaN as it does nulls (its `nan` column)
        sql = (f"SELECT time_bucket(INTERVAL 1 minute, time) AS time, service, count(duration_ms) {keep} AS count, "
               f"quantile_cont(duration_ms, 0.95) {keep} AS p95 "
               f"FROM read_parquet({parts!r}, union_by_name=true) GROUP BY ALL ORDER BY ALL")
        rel = con.sql(sql)
        return pl.from_arrow(rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow())

    base = _hwm_mb()
    t0 = time.perf_counter()
    res = run()
    dt = time.perf_counter() - t0
    peak = _hwm_mb()
    t0 = time.perf_counter()
    run()
    warm = time.perf_counter() - t0
    res.select("time", "service", "count", "p95").write_parquet(out)
    print(json.dumps({"seconds": dt, "warm": warm, "import_s": import_s, "peak_mb": peak, "base_mb": base,
                      "rows": res.height}))


def _plain(s):
    """The group-by ``ob.latency(scan)`` ran before the integer key: (bucket start, service), polars streaming."""
    import polars as pl

    from obsnb.analysis.lazy import scan_frame

    v, step = pl.col("duration_ms"), 60 * 10**9
    lf = scan_frame(s, ["duration_ms", "service", "time"]).select(
        v.cast(pl.Float64), "service", ((pl.col("time").cast(pl.Int64) // step) * step).cast(pl.Datetime("ns", "UTC")).alias("time"))
    lf = lf.with_columns(pl.when(v.is_nan()).then(None).otherwise(v).alias("duration_ms"))
    aggs = [v.count().cast(pl.Int64).alias("count"), v.drop_nulls().quantile(0.95, interpolation="linear").alias("p95"),
            v.null_count().cast(pl.Int64).alias("nan")]
    return lf.group_by(["time", "service"]).agg(aggs).sort(["time", "service"], nulls_last=True).collect(engine="streaming")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", nargs="?")
    ap.add_argument("--lines", type=int, default=2_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--store", help="a store the files are in already (default: one made here)")
    ap.add_argument("--ways", default=",".join(WAYS), help="comma-separated, of " + ", ".join(WAYS))
    ap.add_argument("--child", nargs=4, metavar=("WAY", "STORE", "FILES_JSON", "OUT"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        way, store, files, out = a.child
        return child(way, store, json.loads(files), out)
    import polars as pl

    import obsnb as ob

    tmp = tempfile.mkdtemp(prefix="obsnb-bench-scan-helpers-")
    try:
        if a.folder:
            files = sorted(f for pat in ("*.jsonl", "*.jsonl.gz", "*.ndjson", "*.ndjson.gz")
                           for f in glob.glob(os.path.join(a.folder, pat)))
            store = a.store or os.path.join(tmp, "store")
        else:
            files = [os.path.join(tmp, "messy.jsonl")]
            subprocess.run([sys.executable, os.path.join(HERE, "gen_messy_logs.py"), str(a.lines), files[0]],
                           check=True, capture_output=True)
            store = a.store or os.path.join(tmp, "store")
        ways = [w for w in WAYS if w in a.ways.split(",")]
        assert "duckdb" in ways and len(ways) > 1, "--ways: duckdb and at least one of scan, load"
        ob.set_option("progress", False)
        ob.set_option("cache", store)  # as the children do (a cache= keyword would be a reader option: another key)
        t0 = time.perf_counter()
        s = ob.scan(files, "logs")
        rows = ob.load_info(s).rows_loaded
        print(f"{len(files)} file(s), {rows:,} rows in the store, ingest {time.perf_counter() - t0:.1f} s (once)")
        times = {w: [] for w in ways}
        warms = {w: [] for w in ways}
        imports = {w: [] for w in ways}
        peaks = {w: [] for w in ways}
        bases = {w: [] for w in ways}
        outs = {w: os.path.join(tmp, f"{w}.parquet") for w in ways}
        for _ in range(a.rounds):
            for w in ways:
                r = subprocess.run([sys.executable, __file__, "--child", w, store, json.dumps(files), outs[w]],
                                   check=True, capture_output=True, text=True)
                got = json.loads(r.stdout.strip().splitlines()[-1])
                times[w].append(got["seconds"])
                warms[w].append(got["warm"])
                imports[w].append(got["import_s"])
                peaks[w].append(got["peak_mb"])
                bases[w].append(got["base_mb"])
        res = {w: pl.read_parquet(outs[w]) for w in ways}
        for other in ("load", "plain"):
            if {"scan", other} <= set(ways):
                assert res["scan"].equals(res[other]), f"scan and {other} disagree"
        ours = res["scan" if "scan" in ways else "load"]
        d = res["duckdb"].with_columns(pl.col("time").cast(pl.Datetime("ns", "UTC")))
        j = ours.join(d, on=["time", "service"], how="full", suffix="_d", nulls_equal=True)
        assert (j["count"] == j["count_d"]).all(), "DuckDB counts differ"
        rel = ((j["p95"] - j["p95_d"]).abs() / j["p95_d"].abs().clip(1e-12)).max() or 0.0
        med = {w: statistics.median(v) for w, v in times.items()}
        hot = {w: statistics.median(v) for w, v in warms.items()}
        print(f"p95 of duration_ms per service per minute: {ours.height:,} rows; "
              f"DuckDB p95 max relative difference {rel:.1e}; {a.rounds} rounds, fresh process each")
        for w in ways:
            print(f"{w:7s} {med[w]:7.3f} s ({med[w] / med['duckdb']:.2f}x hand DuckDB)  "
                  f"peak RSS {statistics.median(peaks[w]):7.1f} MB (before the work {statistics.median(bases[w]):.1f} MB); "
                  f"second call {hot[w]:.3f} s ({hot[w] / hot['duckdb']:.2f}x); imports {statistics.median(imports[w]):.2f} s "
                  "(untimed)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
