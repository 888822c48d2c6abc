"""The store, side by side in one run: first load vs second load; a window from the store vs DuckDB; the
peak memory of a streamed first ingest.

    python benchmarks/bench_store.py [--lines 1000000] [--rounds 3] [--chunk-mb 32]

Data: benchmarks/gen_messy_logs.py (one messy JSON-lines day, ~440 bytes a line), written to a temporary
folder. Every case runs in a fresh process (wall time of the operation itself; peak RSS minus the RSS after
imports), rounds interleaved. Cases:

- ``first_load``: ``ob.load(file)`` with an empty store (parses the file whole, as the frame holds every
  row, and returns the frame while a background thread writes the store from the same Arrow tables; the
  time until the store is written too is printed as ``stored at``);
- ``second_load``: the same load again, the file unchanged (reads the store); target <= 0.2x first_load;
- ``window_store``: ``ob.load(file, start=, end=)`` of one hour from the store (reads its row groups);
- ``window_duckdb``: DuckDB reading the same hour's rows from the store's Parquet into pandas (the same
  columns; time converted back to UTC nanoseconds); target: window_store <= 2x window_duckdb;
- ``ingest_streamed``: ``ob.scan(file).count()`` with an empty store and ``cache_chunk_bytes`` = --chunk-mb:
  the first ingest of a file much larger than the pieces it is parsed in; its peak RSS is compared with
  the file's size and with ``plain_load`` (``ob.load`` with the store off, which holds the whole frame).

``--write [--file F]`` compares, in one process on one parsed table (the first --chunk-mb MiB of the
generated file, or of F), the store's
Parquet writer as it is (statistics on every column but free text) with the same writer computing
statistics on every column, rounds interleaved: wall and CPU seconds, and the ratio.
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

HERE = os.path.dirname(os.path.abspath(__file__))
START, END = "2024-05-14T13:00:00Z", "2024-05-14T14:00:00Z"


def case(name: str, path: str, store: str, chunk: int) -> dict:
    import resource
    import warnings

    warnings.simplefilter("ignore")
    import duckdb
    import pandas as pd  # noqa: F401
    import pyarrow.parquet as pq  # noqa: F401

    import obsnb as ob
    from obsnb import cache

    ob.set_option("progress", False)
    if name == "ingest_streamed":  # the other cases keep the default piece size (256 MiB)
        ob.set_option("cache_chunk_bytes", chunk)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    rows = None
    stored = None
    if name in ("first_load", "second_load"):
        rows = len(ob.load(path, cache=store))
        seconds = time.perf_counter() - t0
        cache.flush()  # the background write, when there is one
        stored = time.perf_counter() - t0
    elif name == "plain_load":
        rows = len(ob.load(path, cache=None))
    elif name == "window_store":
        rows = len(ob.load(path, cache=store, start=START, end=END))
    elif name == "window_duckdb":
        import glob

        parts = sorted(glob.glob(os.path.join(store, "*", "part-0*.parquet")))  # one file, or its sorted pieces
        con = duckdb.connect()
        con.execute("SET TimeZone='UTC'")
        t = con.sql(f"SELECT * EXCLUDE (__obsnb_row) FROM read_parquet({parts!r}, union_by_name=true) "
                    f"WHERE time >= TIMESTAMPTZ '{START}' AND time < TIMESTAMPTZ '{END}' ORDER BY __obsnb_row")
        tab = t.to_arrow_table() if hasattr(t, "to_arrow_table") else t.arrow()
        import pyarrow as pa

        i = tab.column_names.index("time")
        tab = tab.set_column(i, "time", tab.column("time").cast(pa.timestamp("ns", "UTC")))
        rows = len(tab.to_pandas())
    elif name == "ingest_streamed":
        rows = ob.scan(path, cache=store).count()
    if stored is None:
        seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"case": name, "seconds": seconds, "stored": stored, "rows": rows, "peak_mb": (peak - base) / 1024,
            "peak_total_mb": peak / 1024}


def run(name: str, path: str, store: str, chunk: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--case", name, path, store, str(chunk)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_stats(path: str, chunk: int, rounds: int, tmp: str) -> None:
    """The writer with statistics where they can prune against statistics on every column, one table."""
    import resource

    from obsnb import schema
    from obsnb.cache import _write
    from obsnb.sources.base import ReadContext
    from obsnb.sources.jsonl import read_jsonl_path

    piece = os.path.join(tmp, "piece.jsonl")
    with open(path, "rb") as f, open(piece, "wb") as g:
        head = f.read(chunk)
        g.write(head[: head.rfind(b"\n") + 1])
    table = _write._with_row(schema.conform(read_jsonl_path(piece, piece, ReadContext()), "logs"), 0)
    table, ns, _ = _write._arrange(table, "logs")
    real = _write._with_statistics
    ways = {"stats_where_they_prune": real, "stats_on_every_column": lambda sch: True}
    res: dict[str, list[tuple[float, float]]] = {k: [] for k in ways}

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    try:
        for _ in range(rounds):
            for name, how in ways.items():
                _write._with_statistics = how
                out = os.path.join(tmp, f"{name}.parquet")
                c0, t0 = cpu(), time.perf_counter()
                w = _write._PartWriter(pathlib.Path(out), table.schema)
                w.write(table, ns)
                w.close()
                res[name].append((time.perf_counter() - t0, cpu() - c0))
                os.unlink(out)
    finally:
        _write._with_statistics = real
    print(f"write: {table.num_rows:,} rows, {table.num_columns} columns; {rounds} rounds, interleaved")
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in res.items()}
    for k, (w, c) in med.items():
        print(f"{k:24s} {w:7.3f} s  cpu {c:7.3f} s")
    a, b = med["stats_where_they_prune"], med["stats_on_every_column"]
    print(f"stats_where_they_prune / stats_on_every_column = {a[0] / b[0]:.2f}x wall, {a[1] / b[1]:.2f}x cpu")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--chunk-mb", type=int, default=32)
    ap.add_argument("--case", nargs=4)
    ap.add_argument("--write", action="store_true", help="only the writer's statistics, side by side")
    ap.add_argument("--file", help="with --write: a JSON-lines file of your own (e.g. one of the big set's)")
    a = ap.parse_args()
    if a.case:
        print(json.dumps(case(a.case[0], a.case[1], a.case[2], int(a.case[3]))))
        return
    tmp = tempfile.mkdtemp(prefix="obsnb-bench-store-")
    try:
        path = os.path.join(tmp, "messy.jsonl")
        if a.write and a.file:
            write_stats(a.file, a.chunk_mb * 2**20, a.rounds, tmp)
            return
        subprocess.run([sys.executable, os.path.join(HERE, "gen_messy_logs.py"), str(a.lines), path],
                       check=True, capture_output=True)
        size = os.path.getsize(path)
        chunk = a.chunk_mb * 2**20
        if a.write:
            write_stats(a.file or path, chunk, a.rounds, tmp)
            return
        print(f"file: {a.lines:,} lines, {size / 2**20:.0f} MiB; pieces of {a.chunk_mb} MiB; {a.rounds} rounds")
        res: dict[str, list[dict]] = {}
        for _ in range(a.rounds):
            store = os.path.join(tmp, "store")
            shutil.rmtree(store, ignore_errors=True)
            for name in ("first_load", "second_load", "window_store", "window_duckdb"):
                res.setdefault(name, []).append(run(name, path, store, chunk))
            shutil.rmtree(store, ignore_errors=True)
            res.setdefault("ingest_streamed", []).append(run("ingest_streamed", path, store, chunk))
            res.setdefault("plain_load", []).append(run("plain_load", path, store, chunk))
        med = {k: statistics.median(r["seconds"] for r in v) for k, v in res.items()}
        peak = {k: statistics.median(r["peak_mb"] for r in v) for k, v in res.items()}
        for k, v in res.items():
            stored = f"  stored at {statistics.median(r['stored'] for r in v):.2f} s" if v[0].get("stored") else ""
            print(f"{k:16s} {med[k]:7.3f} s  rows {v[0]['rows']:>9,}  peak RSS +{peak[k]:7.0f} MB "
                  f"(runs {', '.join('%.2f' % r['seconds'] for r in v)}){stored}")
        print(f"first_load / plain_load = {med['first_load'] / med['plain_load']:.2f}x (target <= 1.3x)")
        print(f"second_load / first_load = {med['second_load'] / med['first_load']:.3f}x (target <= 0.2x)")
        print(f"window_store / window_duckdb = {med['window_store'] / med['window_duckdb']:.2f}x (target <= 2x)")
        print(f"ingest_streamed peak RSS +{peak['ingest_streamed']:.0f} MB for a {size / 2**20:.0f} MiB file "
              f"({peak['ingest_streamed'] / (size / 2**20):.2f}x the file; plain_load +{peak['plain_load']:.0f} MB, "
              f"{peak['ingest_streamed'] / peak['plain_load']:.2f}x)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
