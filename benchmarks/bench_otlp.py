"""OTLP JSON spans: the columnar reader against the per-span one, side by side in one run, with json.loads of
the same file as the floor both pay.

    python benchmarks/bench_otlp.py [--spans 52566] [--per-request 3000] [--repeat 3]

The file is made in a temporary folder: one export request per line (what the collector's file exporter
writes), ``--per-request`` spans each, a SERVER/CLIENT/PRODUCER mix with three attributes, a resource with a
service name and a scope. Each round loads it with ``ob.load`` the columnar way (obsnb.sources.otlp_columnar), then
the per-span way (the same reader with its columnar path switched off: what obsnb did before), then times
``json.loads`` of every line; the two tables are checked equal. Prints the medians and the ratios.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import tempfile
import time
import warnings


def make(path: pathlib.Path, n: int, per: int) -> None:
    t0 = 1_790_000_000_000_000_000
    with path.open("w") as f:
        for first in range(0, n, per):
            spans = []
            for i in range(first, min(n, first + per)):
                start = t0 + i * 7_919_000
                spans.append({"traceId": f"{(i // 3) * 2654435761 % 2**128:032x}", "spanId": f"{i * 40503 + 1:016x}",
                              "parentSpanId": f"{(i - 1) * 40503 + 1:016x}" if i % 3 else "",
                              "name": ("work", "store put", "queue publish")[i % 3], "kind": (2, 3, 4)[i % 3],
                              "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 1_000_000 + i % 977 * 1000),
                              "attributes": [{"key": "peer.service", "value": {"stringValue": f"dep-{i % 4}"}},
                                             {"key": "attempt", "value": {"intValue": str(i % 3)}},
                                             {"key": "ok", "value": {"boolValue": i % 17 != 0}}],
                              "status": {"code": 2} if i % 17 == 0 else {}})
            doc = {"resourceSpans": [{"resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": f"svc-{first // per % 5}"}}]},
                "scopeSpans": [{"scope": {"name": "bench"}, "spans": spans}]}]}
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
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "spans.otlp.jsonl"
        make(path, a.spans, a.per_request)
        mib = path.stat().st_size / 2**20
        times: dict[str, list[float]] = {"columnar": [], "per-span": [], "json.loads": []}
        for _ in range(a.repeat):
            t = time.perf_counter()
            new = ob.load(str(path), engine="arrow")
            times["columnar"].append(time.perf_counter() - t)
            oj._columnar = lambda docs, source: None
            try:
                t = time.perf_counter()
                old = ob.load(str(path), engine="arrow")
                times["per-span"].append(time.perf_counter() - t)
            finally:
                oj._columnar = columnar
            t = time.perf_counter()
            with path.open("rb") as f:
                for line in f:
                    json.loads(line)
            times["json.loads"].append(time.perf_counter() - t)
            assert new.equals(old), "the two readers disagree"
    med = {k: statistics.median(v) for k, v in times.items()}
    lines = [f"OTLP JSON spans: {new.num_rows:,} spans, {mib:.1f} MiB, {a.repeat} rounds (median s; tables equal)"]
    lines += [f"  {k:<11} {med[k]:7.2f} s   (min {min(v):.2f}, max {max(v):.2f})" for k, v in times.items()]
    lines.append(f"  per-span / columnar = {med['per-span'] / med['columnar']:.1f}x; "
                 f"columnar / json.loads = {med['columnar'] / med['json.loads']:.2f}x")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
