"""obsnb.load() of this checkout against an earlier commit, side by side in one run.

    python benchmarks/bench_versions.py --rev 29c843a [--rounds 5] [--lines 1000000]

The earlier commit is checked out in a temporary git worktree; every run is a fresh process, and
the two versions alternate so machine noise hits both alike. Prints each version's median time and
peak memory per case (default load, polars output, fields=) and the ratio new / old.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CASES = {"default": {}, "polars": {"engine": "polars"},
         "fields": {"fields": ["job_id", "duration_ms", "msg", "error_type"]}}


def child(root: str, case: str, path: str) -> None:
    import resource
    import warnings

    sys.path.insert(0, root)
    warnings.simplefilter("ignore")
    import duckdb  # noqa: F401  (imports are not timed)
    import pandas  # noqa: F401
    import polars  # noqa: F401

    import obsnb as ob

    assert os.path.realpath(ob.__file__).startswith(os.path.realpath(root)), ob.__file__
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    df = ob.load(path, **CASES[case])
    dt = time.perf_counter() - t0
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    print(json.dumps({"seconds": dt, "peak_mb": peak, "rows": len(df)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rev", required=True, help="the earlier commit to compare against")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(*a.child)
        return
    path = os.path.join(HERE, "data", f"messy_{a.lines}.jsonl")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        subprocess.run([sys.executable, os.path.join(HERE, "gen_messy_logs.py"), str(a.lines), path], check=True)
    old = tempfile.mkdtemp(prefix="obsnb-old-")
    subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", "-q", old, a.rev], check=True)
    results: dict[tuple[str, str], list[dict]] = {}
    try:
        for _ in range(a.rounds):
            for case in CASES:
                for label, root in (("old", old), ("new", ROOT)):
                    out = subprocess.run([sys.executable, __file__, "--rev", a.rev, "--child", root, case, path],
                                         capture_output=True, text=True, check=True)
                    results.setdefault((case, label), []).append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", old], check=False)
    print(f"file: {path}; old = {a.rev}, new = this checkout; {a.rounds} rounds, fresh process per run, alternating")
    print(f"{'case':<9} {'old s':>7} {'new s':>7} {'new/old':>8} {'old MB':>7} {'new MB':>7}")
    for case in CASES:
        o, n = results[(case, "old")], results[(case, "new")]
        om, nm = (statistics.median(x["seconds"] for x in r) for r in (o, n))
        op, np_ = (statistics.median(x["peak_mb"] for x in r) for r in (o, n))
        print(f"{case:<9} {om:7.2f} {nm:7.2f} {nm / om:8.2f} {op:7.0f} {np_:7.0f}")


if __name__ == "__main__":
    main()
