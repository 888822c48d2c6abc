"""ob.audit against ob.load of the same evidence, side by side in one run (target: the same order of time).

    python benchmarks/bench_audit.py [--lines 1000000] [--spans 200000] [--repeat 3]

The evidence is bench_investigate's: the messy JSON-lines log file (gen_messy_logs.py) and a Parquet file of
CLIENT/SERVER spans, made once into benchmarks/data/. Each round loads both with ob.load, then runs ob.audit
on the loaded frames; prints the medians and the ratio.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time
import warnings

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_investigate import logs_file, spans_file  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--spans", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    import obsnb as ob

    lf, sf = logs_file(a.lines), spans_file(a.spans)
    loads, audits = [], []
    for _ in range(a.repeat):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            logs = ob.load(str(lf))
            spans = ob.load(str(sf), kind="spans")
            t1 = time.perf_counter()
            result = ob.audit(logs, spans)
            t2 = time.perf_counter()
        loads.append(t1 - t0)
        audits.append(t2 - t1)
        del logs, spans
    lo, au = statistics.median(loads), statistics.median(audits)
    print(f"evidence: {lf.name} ({a.lines:,} lines), {sf.name} ({a.spans:,} spans); {a.repeat} rounds, medians")
    print(f"{'case':<10}{'median s':>10}{'min-max s':>16}")
    print(f"{'ob.load':<10}{lo:>10.2f}{min(loads):>8.2f}-{max(loads):<7.2f}")
    print(f"{'ob.audit':<10}{au:>10.2f}{min(audits):>8.2f}-{max(audits):<7.2f}")
    print(f"audit / load = {au / lo:.2f} (target: same order, <= 1.5); verdicts: "
          + ", ".join(f"{k}={v}" for k, v in result.verdicts.items()))


if __name__ == "__main__":
    main()
