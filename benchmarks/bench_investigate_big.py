"""ob.investigate on a scan (out of core) vs ob.investigate on the frame ob.load gives, side by side: wall time
and peak memory, each way in a fresh process.

    python benchmarks/bench_investigate_big.py [FOLDER] [--files 3] [--rounds 2] [--store DIR] [--ways scan,load]
    python benchmarks/bench_investigate_big.py /work/bigdata --files 30 --ways scan --rounds 1   # 30M rows

The evidence is the first ``--files`` JSON-lines files of FOLDER (default /work/bigdata, made by gen_big_set.py:
1M messy log lines each, five hours per file; read, never written). They are ingested once into a store (a
temporary folder unless ``--store``; timed and printed); then, rounds interleaved, each way runs in its own
process with the store on:

- ``scan``: ``ob.investigate(ob.scan(files, "logs"), start=, end=)``: the detectors' lazy queries over the
  store's Parquet, collecting only aggregates and examples (obsnb.investigation.engine);
- ``load``: ``ob.investigate(ob.load(files, "logs", engine="polars"), start=, end=)``: the frame loaded whole
  (from the same store), then the same detectors over it.

The window is the evidence's last hour, the baseline everything before it. Prints per way the median seconds
(imports done before the clock), the median peak RSS (VmHWM of the child) and the RSS before the work, then the
ratios load / scan; checks the two ways' findings are the same document (but for ``looked_at``, which says
how the evidence was read). ``--ways scan`` leaves the load way out (30 files are 30M rows in memory). Per way it
also prints each detector's seconds and the peak RSS once it had run (the peak only grows: the detector that
raises it is the one whose query held the most), so a detector far slower or bigger than the others shows.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_scan_helpers import _hwm_mb  # noqa: E402  (VmHWM of this process)

WAYS = ("scan", "load")
T0_NS = 1715644800 * 10**9  # gen_big_set.py's first file starts here; file k covers [T0 + 5h k, T0 + 5h (k+1))
FILE_NS = 5 * 3600 * 10**9
HOUR_NS = 3600 * 10**9


def child(way: str, store: str, files: list[str], window: list[int], out: str) -> None:
    import warnings

    import polars  # noqa: F401

    import obsnb as ob
    import obsnb.investigation  # noqa: F401  (imported before the clock, as a notebook has it)

    warnings.simplefilter("ignore")
    ob.set_option("progress", False)
    ob.set_option("cache", store)
    ob.set_option("engine", "polars")
    import obsnb.investigation.core as core

    start, end = window
    detectors: list = []

    def timed(kind, detect):
        def run(ctx):
            t = time.perf_counter()
            out = detect(ctx)
            detectors.append([f"{kind}:{detect.__name__}", time.perf_counter() - t, _hwm_mb()])
            return out
        return run

    core._DETECTORS = tuple((kind, timed(kind, detect)) for kind, detect in core._DETECTORS)
    base = _hwm_mb()
    t0 = time.perf_counter()
    if way == "scan":
        found = ob.investigate(ob.scan(files, "logs"), start=start, end=end)
    else:
        found = ob.investigate(ob.load(files, "logs", engine="polars"), start=start, end=end)
    dt = time.perf_counter() - t0
    peak = _hwm_mb()
    with open(out, "w") as f:
        f.write(found.to_json())
    print(json.dumps({"seconds": dt, "peak_mb": peak, "base_mb": base, "findings": len(found.items),
                      "rows": found.evidence["logs"], "detectors": detectors}))


def _same(a: str, b: str) -> bool:
    ja, jb = json.loads(a), json.loads(b)
    ja.pop("looked_at")
    jb.pop("looked_at")
    return ja == jb


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", nargs="?", default="/work/bigdata")
    ap.add_argument("--files", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--store", help="the store to ingest into (default: a temporary folder, removed after)")
    ap.add_argument("--ways", default=",".join(WAYS), help="comma-separated, of " + ", ".join(WAYS))
    ap.add_argument("--child", nargs=5, metavar=("WAY", "STORE", "FILES", "WINDOW", "OUT"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        way, store, files, window, out = a.child
        return child(way, store, json.loads(files), json.loads(window), out)
    import obsnb as ob

    files = sorted(glob.glob(os.path.join(a.folder, "app-*.jsonl")))[: a.files]
    if not files:
        sys.exit(f"no app-*.jsonl in {a.folder}: make them with benchmarks/gen_big_set.py {a.folder} --files {a.files}")
    tmp = tempfile.mkdtemp(prefix="obsnb-bench-investigate-big-")
    store = a.store or os.path.join(tmp, "store")
    try:
        ob.set_option("progress", False)
        ob.set_option("cache", store)
        t0 = time.perf_counter()
        rows = ob.load_info(ob.scan(files, "logs")).rows_loaded
        print(f"{len(files)} file(s), {rows:,} rows in the store, ingest {time.perf_counter() - t0:.1f} s (once)")
        first = int(os.path.basename(files[0])[4:7])
        end = T0_NS + (first + len(files)) * FILE_NS
        window = [end - HOUR_NS, end]
        ways = [w for w in WAYS if w in a.ways.split(",")]
        res = {w: [] for w in ways}
        docs = {}
        for _ in range(a.rounds):
            for w in ways:
                out = os.path.join(tmp, f"{w}.json")
                p = subprocess.run([sys.executable, __file__, "--child", w, store, json.dumps(files), json.dumps(window), out],
                                   check=True, capture_output=True, text=True)
                res[w].append(json.loads(p.stdout.strip().splitlines()[-1]))
                with open(out) as f:
                    docs[w] = f.read()
        for w in ways:
            r = res[w]
            print(f"{w:5s}: {statistics.median(x['seconds'] for x in r):7.2f} s, peak RSS "
                  f"{statistics.median(x['peak_mb'] for x in r):8.0f} MB (before the work {statistics.median(x['base_mb'] for x in r):.0f} MB), "
                  f"{r[-1]['findings']} findings over {r[-1]['rows']:,} rows")
            print("       detectors (last round): " + "; ".join(f"{n} {s:.1f} s, peak {m:.0f} MB" for n, s, m in r[-1]["detectors"]))
        if len(ways) < 2:
            return
        ts = {w: statistics.median(x["seconds"] for x in res[w]) for w in WAYS}
        mb = {w: statistics.median(x["peak_mb"] for x in res[w]) for w in WAYS}
        print(f"load / scan: time {ts['load'] / ts['scan']:.2f}x, peak RSS {mb['load'] / mb['scan']:.2f}x; "
              f"same findings: {_same(docs['scan'], docs['load'])}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
