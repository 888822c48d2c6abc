"""A JSON array document of log records -> dataframe: obsnb's split-then-DuckDB read against parsing it first.

    python benchmarks/bench_json_array.py [--records 200000] [--rounds 3]

The file is one pretty-printed array (``json.dumps(records, indent=2)``) of ECS-like records. The ways:

* ``obsnb_load``: ``ob.load`` as it is: a numpy scan finds the top-level commas (strings and escapes told
  apart), each element becomes one line of a temporary JSON-lines copy, DuckDB reads it (every element keeps its
  line, an element over the record cap is rejected before decoding);
* ``json_loads_then_duckdb``: what obsnb did before: ``json.loads`` of the whole document, then the records
  written back one a line and read the same way (``records_to_parts``);
* ``ijson_then_duckdb``: the same with the incremental parser ijson (yajl2_c backend) instead of ``json.loads``:
  it never holds the whole document's objects at once, but decodes every element in Python objects;
* ``split_only`` / ``ijson_only`` / ``json_loads_only``: the cutting or parsing step alone.

Each case runs in a fresh process; rounds are interleaved; medians, the ratio to ``obsnb_load``, CPU seconds and
peak RSS above the post-import baseline are printed side by side. ijson is not a dependency of obsnb (install it
to run its cases; they are skipped without it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def generate(n: int, path: str) -> None:
    t0 = 1715680800
    recs = [{"@timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0 + i // 20)) + f".{i % 1000:03d}Z",
             "log.level": ("info", "warn", "error")[i % 17 % 3], "message": f'request {i} took {i % 997} ms "ok"',
             "service.name": f"svc-{i % 7}", "trace.id": f"{i * 2654435761 % 2**64:016x}" * 2,
             "http": {"request": {"method": "GET"}, "response": {"status_code": 200 + i % 5 * 100}},
             "duration_ms": i % 997 + 0.5} for i in range(n)]
    with open(path, "w") as f:
        json.dump(recs, f, indent=2)


def case(name: str, path: str) -> dict:
    import resource
    import warnings

    warnings.simplefilter("ignore")
    import obsnb as ob
    from obsnb.sources.base import ReadContext
    from obsnb.sources.json_split import array_elements
    from obsnb.sources.jsonl import records_to_parts

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if name == "obsnb_load":
        rows = len(ob.load(path))
    elif name == "split_only":
        with open(path, "rb") as f:
            rows = len(array_elements(f.read()).start)
    elif name in ("json_loads_only", "json_loads_then_duckdb"):
        with open(path, "rb") as f:
            recs = json.loads(f.read())
        rows = len(recs) if name == "json_loads_only" else sum(p.table.num_rows for p in
                                                               records_to_parts(recs, path, ReadContext()))
    else:
        import ijson

        with open(path, "rb") as f:
            recs = list(ijson.items(f, "item", use_float=True))
        rows = len(recs) if name == "ijson_only" else sum(p.table.num_rows for p in
                                                          records_to_parts(recs, path, ReadContext()))
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return {"seconds": dt, "cpu": r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime, "rows": rows,
            "peak_mb": (r1.ru_maxrss - base) / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag, kind, default in (("--records", int, 200_000), ("--rounds", int, 3), ("--case", str, None),
                                ("--file", str, None)):
        ap.add_argument(flag, type=kind, default=default)
    a = ap.parse_args()
    if a.case:  # one run, in this fresh process
        return print(json.dumps(case(a.case, a.file)))
    path = os.path.join(HERE, "data", f"array_{a.records}.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not os.path.exists(path):
        generate(a.records, path)
    cases = ["obsnb_load", "json_loads_then_duckdb", "ijson_then_duckdb", "split_only", "json_loads_only", "ijson_only"]
    try:
        import ijson  # noqa: F401
    except ImportError:
        cases = [c for c in cases if not c.startswith("ijson")]
    res: dict[str, list[dict]] = {c: [] for c in cases}
    for _ in range(a.rounds):
        for c in cases:
            out = subprocess.run([sys.executable, __file__, "--case", c, "--file", path], capture_output=True, text=True,
                                 check=True)
            res[c].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"file: {path} ({os.path.getsize(path) / 1e6:.0f} MB, {a.records:,} records); {a.rounds} rounds, "
          "fresh process per run")
    med = {c: statistics.median(r["seconds"] for r in res[c]) for c in cases}
    print(f"{'case':<24}{'median s':>10}{'x obsnb_load':>14}{'cpu s':>8}{'peak MB':>9}  rows")
    for c in cases:
        print(f"{c:<24}{med[c]:>10.2f}{med[c] / med['obsnb_load']:>14.2f}"
              f"{statistics.median(r['cpu'] for r in res[c]):>8.2f}"
              f"{statistics.median(r['peak_mb'] for r in res[c]):>9.0f}  {res[c][-1]['rows']}")


if __name__ == "__main__":
    main()
