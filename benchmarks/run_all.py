"""Run every benchmark, one after another (each prints its own side-by-side table and ratios).

    python benchmarks/run_all.py [--quick]

--quick uses 1M rows for the analysis benchmark (default 10M, the issue's size) and fewer rounds.
Benchmarks are never part of the test suite: the machines are shared, and only ratios measured in
one run mean anything.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    runs = [
        ["bench_load.py", "--rounds", "3" if a.quick else "5"],
        ["bench_analysis.py", "--rows", "1000000" if a.quick else "10000000"],
        ["bench_prometheus_chunks.py"],
        ["bench_demo.py", "--runs", "1" if a.quick else "3"],
    ]
    failed = 0
    for cmd in runs:
        print(f"\n=== {' '.join(cmd)}", flush=True)
        rc = subprocess.run([sys.executable, os.path.join(HERE, cmd[0]), *cmd[1:]]).returncode
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
