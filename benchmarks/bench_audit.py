"""ob.audit against ob.load of the same evidence, side by side in one run (target: the same order of time).

    python benchmarks/bench_audit.py [--lines 1000000] [--spans 200000] [--repeat 3]

The evidence is bench_investigate's: the messy JSON-lines log file (gen_messy_logs.py) and a Parquet file of
CLIENT/SERVER spans, made once into benchmarks/data/. Each round loads both with ob.load, then runs ob.audit
on the loaded frames; prints the medians and the ratio.
"""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_investigate import side_by_side  # noqa: E402


def main() -> None:
    import obsnb as ob

    side_by_side("ob.audit", lambda logs, spans: ob.audit(logs, spans),
                 lambda result: "verdicts: " + ", ".join(f"{k}={v}" for k, v in result.verdicts.items()))


if __name__ == "__main__":
    main()
