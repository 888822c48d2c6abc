"""ob.investigate against ob.load of the same evidence, side by side in one run (issue: at most 1.5x).

    python benchmarks/bench_investigate.py [--lines 1000000] [--spans 200000] [--repeat 3]

The logs are the messy JSON-lines file of bench_load (gen_messy_logs.py: six services, job events, nested
fields, 0.1 % bad lines), the spans a Parquet file of CLIENT/SERVER spans with peer.service over the same
day, made here once into benchmarks/data/. Each round loads both with ob.load, then runs ob.investigate on
the loaded frames with a window over the last quarter of the day; prints the medians and the ratio.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time
import warnings

import numpy as np
import polars as pl

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
DATA = ROOT / "benchmarks" / "data"
DAY0 = 1715644800 * 10**9  # 2024-05-14T00:00Z, the messy log's day


def logs_file(lines: int) -> pathlib.Path:
    import gen_messy_logs

    path = DATA / f"messy_{lines}.jsonl"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        gen_messy_logs.main(lines, str(path))
    return path


def spans_file(n: int) -> pathlib.Path:
    path = DATA / f"spans_{n}.parquet"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    start = DAY0 + np.sort(rng.integers(0, 86_400 * 10**9, n))
    kind = np.where(rng.random(n) < 0.5, "CLIENT", "SERVER")
    peer = np.array(["stripe", "sendgrid", "salesforce", "postgres"])[rng.integers(0, 4, n)]
    late = start >= DAY0 + 64_800 * 10**9  # the last quarter: one peer slows down and fails more
    dur = rng.lognormal(3.5, 0.8, n) * np.where(late & (peer == "stripe"), 20, 1)
    err = rng.random(n) < np.where(late & (peer == "stripe"), 0.2, 0.01)
    frame = pl.DataFrame({
        "trace_id": [f"{i:032x}" for i in range(n)], "span_id": [f"{i:016x}" for i in range(n)],
        "name": np.where(kind == "CLIENT", "call", "handle"),
        "service": np.array(["ingest-worker", "billing-worker", "email-sender"])[rng.integers(0, 3, n)],
        "kind": kind, "start": start, "end": start + (dur * 1e6).astype(np.int64), "duration_ms": dur,
        "status": np.where(err, "ERROR", "OK"), "peer.service": np.where(kind == "CLIENT", peer, ""),
    }).with_columns(pl.col("start").cast(pl.Datetime("ns", "UTC")), pl.col("end").cast(pl.Datetime("ns", "UTC")),
                    pl.lit(None, pl.String).alias("parent_span_id"), pl.lit(None, pl.String).alias("status_message"),
                    pl.when(pl.col("peer.service") != "").then(pl.col("peer.service")).alias("peer.service"))
    frame.write_parquet(path)
    return path


def side_by_side(name: str, analyse, describe) -> None:
    """ob.load of the evidence, then ``analyse(logs, spans)`` on the frames, in each round of one run; prints the
    medians side by side, their ratio, and ``describe(result)``."""
    ap = argparse.ArgumentParser(description=f"{name} against ob.load of the same evidence, side by side")
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--spans", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    import obsnb as ob

    lf, sf = logs_file(a.lines), spans_file(a.spans)
    loads, runs = [], []
    for _ in range(a.repeat):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            logs = ob.load(str(lf))
            spans = ob.load(str(sf), kind="spans")
            t1 = time.perf_counter()
            result = analyse(logs, spans)
            t2 = time.perf_counter()
        loads.append(t1 - t0)
        runs.append(t2 - t1)
        del logs, spans
    lo, an = statistics.median(loads), statistics.median(runs)
    print(f"evidence: {lf.name} ({a.lines:,} lines), {sf.name} ({a.spans:,} spans); {a.repeat} rounds, medians")
    print(f"{'case':<16}{'median s':>10}{'min-max s':>16}")
    print(f"{'ob.load':<16}{lo:>10.2f}{min(loads):>8.2f}-{max(loads):<7.2f}")
    print(f"{name:<16}{an:>10.2f}{min(runs):>8.2f}-{max(runs):<7.2f}")
    print(f"{name} / load = {an / lo:.2f} (target <= 1.5); {describe(result)}")


def main() -> None:
    import obsnb as ob

    side_by_side("ob.investigate",
                 lambda logs, spans: ob.investigate(logs, spans, start="2024-05-14T18:00:00Z", end="2024-05-15T00:00:00Z"),
                 lambda found: f"{len(found)} findings: " + ", ".join(sorted({f.kind for f in found})))


if __name__ == "__main__":
    main()
