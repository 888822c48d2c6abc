"""``ob.investigate`` over a ClickHouse source (aggregated in the server) against ``ob.load`` of the same rows, then
``ob.investigate`` of the frames, side by side in one run.

Builds ``--spans`` spans and ``--logs`` log lines over 2 hours in chdb (the real ClickHouse engine) in tables made
with the exporter's schema (tests/backends/otel_schema.py), served through the loopback HTTP shim the tests use
(tests/backends/chdb_shim.py). In the last 30 minutes (the window) a dependency's client calls fail one in
three and one log host stops logging. Then, for the window and its 60-minute baseline:

* server: ``ob.investigate(logs=url, spans=url, start=, end=, baseline="60min")`` (aggregates in SQL, examples
  LIMIT 1, the logs' row-based questions pull only the columns they read);
* pull: ``ob.load`` of the window and baseline's logs and spans (every row as Arrow over HTTP), then
  ``ob.investigate`` of the frames;

checks that both find the same findings (kinds, entities, start/end) and prints the ratio.

    python benchmarks/bench_investigate_backend.py --spans 1000000 --logs 100000

Measured 2026-12-01 19:35 UTC on the shared 2-vCPU VM (load average ~11: other helpers' tests), one run:

    built 1,000,000 spans and 100,000 log lines in chdb in 13.6 s
    findings: degraded_dependency, error_spike, first_error, silence, telemetry_gap (the same both ways)
    server  ob.investigate(clickhouse source)               18.42 s  (36 queries; evidence 750,000 spans, 73,698 logs)
    pull    ob.load   30.74 s + ob.investigate   1.46 s =    32.20 s  (750,000 spans, 73,698 logs)
    ratio server / pull = 0.572

Re-run 2026-12-01 20:51 UTC (load average ~8), after the first error's example was projected to its columns:

    built 1,000,000 spans and 100,000 log lines in chdb in 6.8 s
    findings: degraded_dependency, error_spike, first_error, silence, telemetry_gap (the same both ways)
    server  ob.investigate(clickhouse source)               12.58 s  (36 queries; evidence 750,000 spans, 73,698 logs)
    pull    ob.load   37.57 s + ob.investigate   1.49 s =    39.06 s  (750,000 spans, 73,698 logs)
    ratio server / pull = 0.322

Every server query scans the window's rows again (36 of them: no result is shared between detectors), so the
server's time grows with the number of questions, the pull's with the rows and columns that cross HTTP.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
import warnings

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "backends")]

import obsnb as ob  # noqa: E402
import otel_schema  # noqa: E402
from chdb_shim import ChdbShim  # noqa: E402
from fake_server import FakeServer  # noqa: E402

T0 = 1704067200 * 10**9  # 2024-01-01T00:00:00Z
MIN = 60 * 10**9
HOURS = 2


def build(shim: ChdbShim, n_spans: int, n_logs: int) -> float:
    """The spans and logs (see the module docs); returns the seconds it took."""
    t = time.perf_counter()
    shim.execute(otel_schema.TRACES.format(table="otel_traces"))
    shim.execute(otel_schema.LOGS_CURRENT.format(table="otel_logs"))
    span = HOURS * 60 * MIN
    win = T0 + span - 30 * MIN
    ts = f"toInt64({T0} + number * {span // n_spans} + number % 997)"
    shim.execute(f"""
        INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName,
                                 ResourceAttributes, ScopeName, SpanAttributes, Duration, StatusCode, StatusMessage)
        SELECT fromUnixTimestamp64Nano({ts}),
               lower(hex(cityHash64(number, 1))) || lower(hex(cityHash64(number, 2))), lower(hex(cityHash64(number, 3))), '',
               ['charge', 'GET /orders', 'POST /pay', 'GET /items'][number % 4 + 1],
               if(number % 4 = 0, 'Client', 'Server'),
               ['api', 'db', 'web', 'auth', 'cart', 'search', 'mail', 'queue'][cityHash64(number, 4) % 8 + 1],
               map('host.name', concat('h', toString(number % 16))), 'otel',
               if(number % 4 = 0, map('peer.service', if(number % 8 = 0, 'payments', 'ledger')),
                  map('http.route', '/orders')),
               toUInt64(exp(16 + 0.8 * randNormal(0, 1, number))),
               if((number % 8 = 0 AND {ts} >= {win} AND cityHash64(number, 5) % 3 = 0) OR cityHash64(number, 5) % 200 = 0,
                  'Error', 'Ok'),
               ''
        FROM numbers({n_spans})""")
    lts = f"toInt64({T0} + number * {span // n_logs} + number % 991)"
    shim.execute(f"""
        INSERT INTO otel_logs (Timestamp, SeverityText, SeverityNumber, ServiceName, Body, ResourceAttributes,
                               ScopeName, LogAttributes)
        SELECT fromUnixTimestamp64Nano({lts}) AS t,
               if(cityHash64(number, 6) % if({lts} >= {win}, 5, 60) = 0, 'ERROR', 'INFO') AS sev,
               if(sev = 'ERROR', 17, 9), 'worker',
               if(sev = 'ERROR', 'upstream call failed', concat('handled batch ', toString(number))),
               map('host.name', concat('w', toString(number % 16))), 'app',
               map('region', if(cityHash64(number, 7) % 4 = 0, 'eu-2', 'us-1'))
        FROM numbers({n_logs})
        WHERE NOT (number % 16 = 7 AND {lts} >= {win} + {5 * MIN})""")
    return time.perf_counter() - t


def _found(f) -> list:
    return sorted((x["kind"], json.dumps(x["entity"]), x["start"], x["end"]) for x in json.loads(f.to_json())["findings"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("--spans", 1_000_000), ("--logs", 100_000)):
        ap.add_argument(name, type=int, default=default)
    args, shim = ap.parse_args(), ChdbShim()
    print(f"built {args.spans:,} spans and {args.logs:,} log lines in chdb in {build(shim, args.spans, args.logs):.1f} s")
    t1 = T0 + HOURS * 60 * MIN
    t0, lo = t1 - 30 * MIN, t1 - 90 * MIN
    with FakeServer(shim) as srv, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        url = f"clickhouse://{srv.hostport}"
        t = time.perf_counter()
        remote = ob.investigate(logs=url, spans=url, start=t0, end=t1, baseline="60min")
        t_server = time.perf_counter() - t
        t = time.perf_counter()
        logs = ob.load(url, "logs", start=lo, end=t1, engine="polars", timeout=3600)
        spans = ob.load(url, "spans", start=lo, end=t1, engine="polars", timeout=3600)
        t_load = time.perf_counter() - t
        t = time.perf_counter()
        local = ob.investigate(logs=logs, spans=spans, start=t0, end=t1, baseline="60min")
        t_mem = time.perf_counter() - t
    assert _found(remote) == _found(local), (_found(remote), _found(local))
    pull = t_load + t_mem
    print(f"findings: {', '.join(sorted({k for k, *_ in _found(remote)}))} (the same both ways)")
    print(f"server  ob.investigate(clickhouse source)            {t_server:8.2f} s  ({len(remote.queries)} queries; "
          f"evidence {remote.evidence['spans']:,} spans, {remote.evidence['logs']:,} logs)")
    print(f"pull    ob.load {t_load:7.2f} s + ob.investigate {t_mem:6.2f} s = {pull:8.2f} s  ({spans.height:,} spans, "
          f"{logs.height:,} logs)")
    print(f"ratio server / pull = {t_server / pull:.3f}")


if __name__ == "__main__":
    main()
