"""A one-hour window of the big set's store into pandas: obsnb's ``ob.load`` against DuckDB on the same Parquet.

    python benchmarks/bench_big.py --keep [--work /work/bigdata-work]      # makes the store (once)
    python benchmarks/bench_window.py [/work/bigdata] [--work /work/bigdata-work] [--rounds 5]

The two ways are bench_big's ``window_obsnb`` and ``window_duckdb`` cases (the same code, imported):
``ob.load(files, cache=store, start=, end=)`` against DuckDB reading the same rows from the store's Parquet
into the same frame type (time as UTC nanoseconds, ordered by time then file order). Each run is a fresh
process with every import done before its clock starts. On a shared machine the first of two runs in a row
warms the page cache for the second, so the order alternates each round (ABBA), after one untimed warm-up
run of each. Prints each run's wall and CPU seconds (CPU: the process's, every thread), then the medians and
both ratios: the CPU ratio moves less than the wall ratio when other work competes for the cores.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WAYS = ("window_obsnb", "window_duckdb")


def _child(name: str, files: list[str], work: str) -> dict:
    sys.path.insert(0, HERE)
    import warnings

    warnings.simplefilter("ignore")
    import bench_big
    import duckdb  # noqa: F401  (bench_big.case imports them again: cached, untimed here)
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import obsnb  # noqa: F401
    from obsnb import api, registry, scan  # noqa: F401

    for fmt in registry.FORMATS:
        registry.get_format(fmt)
    c0 = time.process_time()
    res = bench_big.case(name, files, work)
    res["cpu"] = time.process_time() - c0
    return res


def _run(name: str, files: list[str], work: str, timed: bool = True) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", name, "--work", work, *files],
                         capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if timed:
        print(f"  {name:14s} {res['seconds']:6.2f} s  cpu {res['cpu']:6.2f} s  rows {res['rows']:,}  "
              f"peak {res['peak_gb']:.2f} GB", flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="*", default=["/work/bigdata"])
    ap.add_argument("--work", default="/work/bigdata-work")
    ap.add_argument("--files", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--child")
    a = ap.parse_args()
    if a.child:
        print(json.dumps(_child(a.child, a.data, a.work)))
        return
    files = sorted(glob.glob(os.path.join(a.data[0], "app-*.jsonl")))[:a.files]
    if not files or not glob.glob(os.path.join(a.work, "store", "[!.]*", "entry.json")):
        sys.exit(f"needs the big set in {a.data[0]} and its store in {a.work}/store: "
                 "python benchmarks/bench_big.py --keep")
    print(f"{len(files)} files, store {a.work}/store; load average {os.getloadavg()[0]:.1f}; "
          f"{a.rounds} rounds, order alternating, one warm-up run each", flush=True)
    for name in WAYS:
        _run(name, files, a.work, timed=False)
    res: dict[str, list[dict]] = {w: [] for w in WAYS}
    for i in range(a.rounds):
        for name in WAYS if i % 2 == 0 else WAYS[::-1]:
            res[name].append(_run(name, files, a.work))
    rows = {r["rows"] for v in res.values() for r in v}
    assert len(rows) == 1, f"the two ways gave different row counts: {rows}"
    wall = {k: statistics.median(r["seconds"] for r in v) for k, v in res.items()}
    cpu = {k: statistics.median(r["cpu"] for r in v) for k, v in res.items()}
    for k in WAYS:
        print(f"{k:14s} median {wall[k]:6.2f} s  cpu {cpu[k]:6.2f} s")
    print(f"window_obsnb / window_duckdb = {wall['window_obsnb'] / wall['window_duckdb']:.2f}x wall, "
          f"{cpu['window_obsnb'] / cpu['window_duckdb']:.2f}x cpu (target <= 2x); window_obsnb "
          f"{wall['window_obsnb']:.2f} s for {rows.pop():,} rows (target < 1 s); load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
