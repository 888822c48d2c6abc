"""ob.audit on scans (out of core) against ob.audit on the frames ob.load gives, side by side in one run: wall time
and peak memory, each way in a fresh process, rounds interleaved.

    python benchmarks/bench_audit.py [--lines 1000000] [--spans 200000] [--rounds 3] [--store DIR]

The evidence is bench_investigate's: the messy JSON-lines log file (gen_messy_logs.py) and a Parquet file of
CLIENT/SERVER spans, made once into benchmarks/data/. Both are ingested into a store once (a temporary folder
unless ``--store``; timed and printed), then each way runs in its own process with the store on:

- ``load``: ``ob.audit(ob.load(logs), ob.load(spans))``: the frames loaded whole (from the store), then the audit;
  prints the load's seconds and the audit's apart (the audit on frames was the same order of time as the load);
- ``scan``: ``ob.audit(ob.scan(logs), ob.scan(spans))``: every rule's lazy queries over the store's Parquet,
  collecting only counts, per-value aggregates and a few examples (obsnb.audit_rules).

Imports (obsnb, polars, pandas, the audit modules) are done before the clock. Prints per way the median seconds,
the median peak RSS (VmHWM of the child) and the RSS before the work, the ratios, and checks the two ways'
rows (verdicts, numbers, examples) are the same.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_investigate import logs_file, spans_file  # noqa: E402
from bench_scan_helpers import _hwm_mb  # noqa: E402  (VmHWM of this process)

WAYS = ("load", "scan")


def child(way: str, store: str, logs: str, spans: str, out: str) -> None:
    import warnings

    import pandas  # noqa: F401
    import polars  # noqa: F401

    import obsnb as ob
    import obsnb.audit  # noqa: F401  (imported before the clock, as a notebook has it)
    from obsnb.investigation.findings import _jsonable

    warnings.simplefilter("ignore")
    ob.set_option("progress", False)
    ob.set_option("cache", store)
    base = _hwm_mb()
    t0 = time.perf_counter()
    if way == "scan":
        loaded = t0
        result = ob.audit(ob.scan(logs, "logs"), ob.scan(spans, "spans"))
    else:
        frames = ob.load(logs, "logs"), ob.load(spans, "spans")
        loaded = time.perf_counter()
        result = ob.audit(*frames)
    t1 = time.perf_counter()
    peak = _hwm_mb()
    with open(out, "w") as f:
        json.dump(_jsonable(result.rows), f, sort_keys=True, default=str)
    print(json.dumps({"seconds": t1 - t0, "load_s": loaded - t0, "audit_s": t1 - loaded, "peak_mb": peak,
                      "base_mb": base, "verdicts": result.verdicts}))


def _ingest(store: str, logs: str, spans: str) -> tuple[str, int, float]:
    """The evidence parsed into the store (the option on, as in the children): (store, rows, seconds)."""
    import obsnb as ob

    ob.set_option("progress", False)
    ob.set_option("cache", store)
    t0 = time.perf_counter()
    rows = sum(ob.load_info(ob.scan(path, kind)).rows_loaded for path, kind in ((logs, "logs"), (spans, "spans")))
    return store, rows, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description="ob.audit on scans against ob.audit on loaded frames, side by side")
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--spans", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--store", help="the store to ingest into (default: a temporary folder, removed after)")
    ap.add_argument("--child", nargs=5, metavar=("WAY", "STORE", "LOGS", "SPANS", "OUT"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(*a.child)
    logs, spans = str(logs_file(a.lines)), str(spans_file(a.spans))
    tmp = tempfile.mkdtemp(prefix="obsnb-bench-audit-")
    try:
        store, rows, secs = _ingest(a.store or os.path.join(tmp, "store"), logs, spans)
        print(f"{a.lines:,} log lines + {a.spans:,} spans: {rows:,} rows in the store, ingest {secs:.1f} s (once)")
        res = {w: [] for w in WAYS}
        docs = {}
        for _ in range(a.rounds):
            for w in WAYS:
                out = os.path.join(tmp, f"{w}.json")
                p = subprocess.run([sys.executable, __file__, "--child", w, store, logs, spans, out],
                                   check=True, capture_output=True, text=True)
                res[w].append(json.loads(p.stdout.strip().splitlines()[-1]))
                with open(out) as f:
                    docs[w] = f.read()
        med = {w: {k: statistics.median(x[k] for x in res[w]) for k in ("seconds", "load_s", "audit_s", "peak_mb", "base_mb")}
               for w in WAYS}
        print(f"{a.rounds} rounds, fresh process each, medians")
        for w in WAYS:
            m = med[w]
            split = f" (ob.load {m['load_s']:.2f} s + ob.audit {m['audit_s']:.2f} s)" if w == "load" else ""
            print(f"{w:5s}: {m['seconds']:7.2f} s{split}, peak RSS {m['peak_mb']:7.0f} MB "
                  f"(before the work {m['base_mb']:.0f} MB)")
        print(f"scan / load: time {med['scan']['seconds'] / med['load']['seconds']:.2f}x, peak RSS "
              f"{med['scan']['peak_mb'] / med['load']['peak_mb']:.2f}x; scan / ob.audit on the frames: "
              f"{med['scan']['seconds'] / med['load']['audit_s']:.2f}x; same rows: {docs['scan'] == docs['load']}")
        print("verdicts: " + ", ".join(f"{k}={v}" for k, v in res["scan"][-1]["verdicts"].items()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
