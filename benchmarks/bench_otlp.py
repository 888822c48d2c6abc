"""OTLP JSON spans and logs: the columnar reader against the per-record one, side by side in one run, with
json.loads of the same file as the floor both pay.

    python benchmarks/bench_otlp.py [--spans 52566] [--per-request 3000] [--repeat 3]

Per kind, a file is made in a temporary folder: one export request per line (what the collector's file exporter
writes), ``--per-request`` records each (``--spans`` in all): spans of a SERVER/CLIENT/PRODUCER mix with three
attributes, or log records with a severity, a body and two attributes; a resource with a service name and a
scope. Each round loads it with ``ob.load`` the columnar way (obsnb.sources.otlp_columnar), then the per-record
way (the same reader with its columnar path switched off: what obsnb did before), then times ``json.loads`` of
every line; the two tables are checked equal. Prints the medians (wall and CPU seconds: on a busy machine the
wall clock mostly measures the other work) and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import tempfile
import time
import warnings


def _attr(key: str, **value) -> dict:
    return {"key": key, "value": value}


def _span(i: int, start: int) -> dict:
    return {"traceId": f"{(i // 3) * 2654435761 % 2**128:032x}", "spanId": f"{i * 40503 + 1:016x}",
            "parentSpanId": f"{(i - 1) * 40503 + 1:016x}" if i % 3 else "",
            "name": ("work", "store put", "queue publish")[i % 3], "kind": (2, 3, 4)[i % 3],
            "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 1_000_000 + i % 977 * 1000),
            "attributes": [_attr("peer.service", stringValue=f"dep-{i % 4}"), _attr("attempt", intValue=str(i % 3)),
                           _attr("ok", boolValue=i % 17 != 0)],
            "status": {"code": 2} if i % 17 == 0 else {}}


def _log(i: int, start: int) -> dict:
    return {"timeUnixNano": str(start), "severityNumber": 17 if i % 17 == 0 else 9,
            "severityText": "ERROR" if i % 17 == 0 else "INFO", "body": {"stringValue": f"step {i % 50} done"},
            "traceId": f"{(i // 3) * 2654435761 % 2**128:032x}", "spanId": f"{i * 40503 + 1:016x}",
            "attributes": [_attr("job", stringValue=f"job-{i % 1000}"), _attr("attempt", intValue=str(i % 3))]}


def make(path: pathlib.Path, kind: str, n: int, per: int) -> None:
    """One request per line, ``per`` records each: spans or log records (see the module's docstring)."""
    top, scopes, items, record = {"spans": ("resourceSpans", "scopeSpans", "spans", _span),
                                  "logs": ("resourceLogs", "scopeLogs", "logRecords", _log)}[kind]
    t0 = 1_790_000_000_000_000_000
    with path.open("w") as f:
        for first in range(0, n, per):
            recs = [record(i, t0 + i * 7_919_000) for i in range(first, min(n, first + per))]
            doc = {top: [{"resource": {"attributes": [_attr("service.name", stringValue=f"svc-{first // per % 5}")]},
                          scopes: [{"scope": {"name": "bench"}, items: recs}]}]}
            f.write(json.dumps(doc) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spans", type=int, default=52_566)
    ap.add_argument("--per-request", type=int, default=3_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()

    import obsnb as ob
    import obsnb.sources.otlp_json as oj

    warnings.simplefilter("ignore")
    ob.set_option("progress", False)
    columnar = oj._columnar
    for kind in ("spans", "logs"):
        with tempfile.TemporaryDirectory() as tmp:
            path = pathlib.Path(tmp) / f"{kind}.otlp.jsonl"
            make(path, kind, a.spans, a.per_request)
            mib = path.stat().st_size / 2**20
            times: dict[str, list[float]] = {"columnar": [], "per-record": [], "json.loads": []}
            cpu: dict[str, list[float]] = {k: [] for k in times}

            def timed(name: str, fn):
                w, c = time.perf_counter(), time.process_time()
                out = fn()
                times[name].append(time.perf_counter() - w)
                cpu[name].append(time.process_time() - c)
                return out

            def per_record():
                oj._columnar = lambda docs, source: None
                try:
                    return ob.load(str(path), engine="arrow")
                finally:
                    oj._columnar = columnar

            ob.load(str(path), engine="arrow")  # warm-up, untimed: imports and first-call costs
            per_record()
            for _ in range(a.repeat):
                new = timed("columnar", lambda: ob.load(str(path), engine="arrow"))
                old = timed("per-record", per_record)
                timed("json.loads", lambda: [json.loads(line) for line in path.open("rb")])
                assert new.equals(old), "the two readers disagree"
        med = {k: statistics.median(v) for k, v in times.items()}
        mcpu = {k: statistics.median(v) for k, v in cpu.items()}
        lines = [f"OTLP JSON {kind}: {new.num_rows:,} records, {mib:.1f} MiB, {a.repeat} rounds (median; tables equal)"]
        lines += [f"  {k:<11} {med[k]:7.2f} s wall (min {min(v):.2f}, max {max(v):.2f}), {mcpu[k]:6.2f} s CPU"
                  for k, v in times.items()]
        lines.append(f"  per-record / columnar = {med['per-record'] / med['columnar']:.1f}x wall, "
                     f"{mcpu['per-record'] / mcpu['columnar']:.1f}x CPU; columnar / json.loads = "
                     f"{med['columnar'] / med['json.loads']:.2f}x wall, {mcpu['columnar'] / mcpu['json.loads']:.2f}x CPU "
                     f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
