"""The templates' evidence cells on scans vs on loaded frames: seconds and peak memory, side by side.

    python benchmarks/bench_templates_scan.py [--lines 1000000] [FOLDER]

Without FOLDER, one messy JSON-lines day of ``--lines`` lines (benchmarks/gen_messy_logs.py) is written to a
temporary folder; with it, every ``*.jsonl``/``*.jsonl.gz`` file in FOLDER is the evidence. The files are
ingested into a store once (timed, printed), then the cells a template runs on the evidence besides
``ob.investigate`` and the audit are run two ways, each in a fresh process so each way's peak RSS is its own:

- ``frames``: ``obn.load_incident(files, lazy=False)`` (the frame loaded whole from the store), then the cells;
- ``scans``: ``obn.load_incident(files, lazy=True)``, then the same cells on the scan.

Imports (pandas, polars, pyarrow, altair, obsnb) are done before the clock and the memory baseline. The cells:
``obn.rows``; the error-rate chart and a rate chart by service; the call-latency chart of one
service's ``duration_ms`` (``obn.calls_of``); the last rows about that service (``obn.rows_about``); one
trace's timeline joined through carried job ids (``obn.timeline``). Prints each way's seconds, peak RSS and
the ratios, and checks that both ways drew the same chart data and tables. (The timeline is compared without
``_source``: for a file ingested piece by piece, past 256 MiB, ``obsnb.analysis.lazy.scan_frame`` gives the
store's temporary piece as a row's ``_source`` where ``Scan.collect`` gives the file: a known gap, not fixed here.)
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import types
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))


def _cells(files: list[str], lazy: bool) -> dict:
    """Run the cells one way; the outputs' digest, the seconds and the peak RSS (MB)."""
    import altair  # noqa: F401 - what a notebook has imported before its first cell: not the way's memory
    import pandas  # noqa: F401
    import polars  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    from obsnb import charts
    from obsnb import notebook as obn

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    logs, _, _ = obn.load_incident(files, lazy=lazy)
    loaded = time.perf_counter() - t0
    first = obn.rows_about(logs, types.SimpleNamespace(entity_column="level", entity_value="INFO"), limit=1,
                           errors_only=False)
    service, tid = first["service"].iloc[0], first["trace_id"].iloc[0]
    about = types.SimpleNamespace(entity_column="service", entity_value=service, numbers={"from": "`duration_ms`"})
    out = [obn.rows(logs),
           charts.error_rate(logs, "5min").to_dict()["datasets"],
           charts.rate(logs, "5min", by="service").to_dict()["datasets"],
           charts.latency(obn.calls_of(None, logs, about), every="5min").to_dict()["datasets"],
           obn.rows_about(logs, about, limit=5).to_json(date_format="iso"),
           obn.timeline(tid, logs=logs).drop(columns="_source").to_json(date_format="iso")]
    seconds = time.perf_counter() - t0
    digest = [hashlib.sha256(json.dumps(o, sort_keys=True, default=str).encode()).hexdigest()[:12] for o in out]
    return {"digest": digest, "seconds": seconds, "load_seconds": loaded,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "before_mb": before, "rows": out[0]}


def _run(code: str) -> str:
    """Python ``code`` in a fresh process (a child started from this small parent: Linux keeps a parent's peak RSS
    across exec, so nothing big runs here), its last line of output."""
    proc = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {HERE!r}); " + code],
                          capture_output=True, text=True)
    if proc.returncode:
        sys.exit(proc.stderr)
    return (proc.stdout.strip().splitlines() or [""])[-1]


def _ingest(files: list[str], store: str) -> int:
    import obsnb as ob

    ob.set_option("progress", False)
    ob.set_option("cache", store)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ob.scan(files, "logs").count()


def _child(way: str, store: str, files: list[str]) -> dict:
    code = ("import json, warnings; warnings.simplefilter('ignore'); "
            "import obsnb as ob; ob.set_option('progress', False); ob.set_option('cache', %r); "
            "import bench_templates_scan as b; print(json.dumps(b._cells(%r, %r)))") % (store, files, way == "scans")
    return json.loads(_run(code))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", nargs="?")
    ap.add_argument("--lines", type=int, default=1_000_000)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="obsnb-bench-templates-")
    try:
        if a.folder:
            files = sorted(glob.glob(os.path.join(a.folder, "*.jsonl")) + glob.glob(os.path.join(a.folder, "*.jsonl.gz")))
        else:
            files = [os.path.join(tmp, "messy.jsonl")]
            _run(f"import gen_messy_logs; gen_messy_logs.main({a.lines}, {files[0]!r}); print()")
        store = os.path.join(tmp, "store")
        t0 = time.perf_counter()
        n = int(_run(f"import bench_templates_scan as b; print(b._ingest({files!r}, {store!r}))"))
        size = sum(os.path.getsize(f) for f in files) / 2**20
        print(f"evidence: {len(files)} file(s), {size:,.0f} MB, {n:,} rows; ingested into the store in "
              f"{time.perf_counter() - t0:.1f} s")
        got = {way: _child(way, store, files) for way in ("frames", "scans")}
        for way, r in got.items():
            print(f"{way:<7} {r['seconds']:7.2f} s (load_incident {r['load_seconds']:.2f} s)  peak {r['peak_mb']:8,.0f} MB "
                  f"(after imports {r['before_mb']:,.0f} MB)")
        f, s = got["frames"], got["scans"]
        grown = (s["peak_mb"] - s["before_mb"]) / max(f["peak_mb"] - f["before_mb"], 1)
        print(f"scans/frames: time {s['seconds'] / f['seconds']:.2f}x, peak memory {s['peak_mb'] / f['peak_mb']:.2f}x, "
              f"memory beyond the imports {grown:.2f}x")
        same = f["digest"] == s["digest"] and f["rows"] == s["rows"]
        names = ["rows", "error rate", "rate by service", "call latency", "rows about", "timeline"]
        print("same charts and tables both ways:", "yes" if same else
              "NO: " + ", ".join(n for n, x, y in zip(names, f["digest"], s["digest"]) if x != y))
        if not same:
            sys.exit(1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
