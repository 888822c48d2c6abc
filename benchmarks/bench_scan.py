"""Which engine reads a window of the store: Arrow row groups, a polars LazyFrame, a DuckDB relation.

    python benchmarks/bench_scan.py [--lines 500000] [--rounds 5]

One messy JSON-lines day (benchmarks/gen_messy_logs.py) is ingested into a store once; then, side by side
in one process, rounds interleaved, each engine reads from the store's Parquet (i) one hour, three columns,
(ii) one hour, every column, (iii) everything, into an Arrow table with the canonical time type:

- ``arrow``: pyarrow.parquet, the row groups the entry's time ranges name, then an exact filter;
- ``polars``: ``pl.scan_parquet(files).filter(window).select(columns).collect()`` (its own pruning by
  statistics), then ``.to_arrow()``;
- ``duckdb``: ``read_parquet(files) WHERE window``, then ``.to_arrow_table()``;
- ``obsnb``: ``ob.scan(...).window(...).select(...).collect(engine="arrow")``: the arrow way plus what
  makes it the frame load() gives (file order back, canonical columns, provenance).

Prints medians and each engine's ratio to the fastest; obsnb.scan uses the arrow way.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
START, END = "2024-05-14T13:00:00Z", "2024-05-14T14:00:00Z"
COLS = ["time", "service", "duration_ms"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=500_000)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    import duckdb
    import pandas as pd
    import polars as pl
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    import obsnb as ob
    from obsnb import cache

    ob.set_option("progress", False)
    tmp = tempfile.mkdtemp(prefix="obsnb-bench-scan-")
    try:
        path = os.path.join(tmp, "messy.jsonl")
        subprocess.run([sys.executable, os.path.join(HERE, "gen_messy_logs.py"), str(a.lines), path],
                       check=True, capture_output=True)
        store = os.path.join(tmp, "store")
        s = ob.scan(path, cache=store)
        s.count()  # ingest once
        (key,) = os.listdir(store)
        meta = cache.entry_meta(store, key)
        files = [os.path.join(store, key, r["file"]) for r in meta["runs"][0]]
        s_ns, e_ns = pd.Timestamp(START).value, pd.Timestamp(END).value
        print(f"{a.lines:,} lines, store: {len(files)} file(s), "
              f"{sum(len(r['groups']) for r in meta['runs'][0])} row groups, {a.rounds} rounds")
        ts = pa.timestamp("ns", "UTC")

        def arrow_way(cols, window):
            tabs = []
            for f, r in zip(files, meta["runs"][0]):
                idx = cache.row_groups_for(r["groups"], *((s_ns, e_ns) if window else (None, None)))
                if idx:
                    tabs.append(pq.ParquetFile(f).read_row_groups(idx, columns=cols))
            t = pa.concat_tables(tabs, promote_options="permissive")  # the runs may order columns differently
            if window:
                m = pc.and_(pc.greater_equal(t["time"], pa.scalar(s_ns, ts)), pc.less(t["time"], pa.scalar(e_ns, ts)))
                t = t.filter(m)
            return t

        def polars_way(cols, window):
            lf = pl.scan_parquet(files, missing_columns="insert") if len(files) > 1 else pl.scan_parquet(files[0])
            if window:
                lo, hi = pd.Timestamp(START).to_pydatetime(), pd.Timestamp(END).to_pydatetime()
                lf = lf.filter((pl.col("time") >= lo) & (pl.col("time") < hi))
            if cols:
                lf = lf.select(cols)
            return lf.collect().to_arrow()

        def duckdb_way(cols, window):
            con = duckdb.connect()
            con.execute("SET TimeZone='UTC'")
            sel = ", ".join(f'"{c}"' for c in cols) if cols else "*"
            where = f" WHERE time >= TIMESTAMPTZ '{START}' AND time < TIMESTAMPTZ '{END}'" if window else ""
            rel = con.sql(f"SELECT {sel} FROM read_parquet({files!r}, union_by_name=true){where}")
            t = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
            return t.set_column(t.column_names.index("time"), "time", t["time"].cast(ts))

        def obsnb_way(cols, window):
            q = s.window(START, END) if window else s
            return (q.select(cols) if cols else q).collect(engine="arrow")

        engines = {"arrow": arrow_way, "polars": polars_way, "duckdb": duckdb_way, "obsnb": obsnb_way}
        tasks = {"1 h, 3 columns": (COLS, True), "1 h, all columns": (None, True), "everything": (None, False)}
        for task, (cols, window) in tasks.items():
            times = {e: [] for e in engines}
            rows = {}
            for _ in range(a.rounds):
                for e, fn in engines.items():
                    t0 = time.perf_counter()
                    rows[e] = fn(cols, window).num_rows
                    times[e].append(time.perf_counter() - t0)
            assert len(set(rows.values())) == 1, rows  # every engine read the same rows
            med = {e: statistics.median(v) for e, v in times.items()}
            best = min(med[e] for e in ("arrow", "polars", "duckdb"))
            print(f"{task:18s} rows {rows['arrow']:>8,}  " +
                  "  ".join(f"{e} {med[e]:.3f}s ({med[e] / best:.2f}x)" for e in engines))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
