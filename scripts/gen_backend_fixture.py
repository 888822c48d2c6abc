#!/usr/bin/env python3
"""Deterministic metrics for obsnb's live backend tests (stdlib only).

Writes ``fixture.om`` (OpenMetrics, timestamps in SECONDS, ends with ``# EOF``) for
``promtool tsdb create-blocks-from openmetrics`` and VictoriaMetrics ``/api/v1/import/prometheus``
(which detects second timestamps). Every value is exact so the tests can assert it:

T0 = 2024-01-01T00:00:00Z (``--t0`` moves it), one sample every 15 s for 3 h (721 per series);
from T0+2h the "incident" phase.

=====================================================  ==========================================
obsnb_http_requests_total{service="api",code="200"}    +15 per step        -> rate 1.0/s
obsnb_http_requests_total{service="api",code="500"}    +3, then +30        -> rate 0.2/s, then 2.0/s
obsnb_http_requests_total{service="web",code="200"}    +30 per step        -> rate 2.0/s
obsnb_jobs_processed_total{service="worker"}           +6 per step (0.4/s), reset to 0 at T0+90m
obsnb_queue_depth{service="worker"}                    100, 200, 50 in hours 1, 2, 3
obsnb_up{service="batch"}                              1 only in [T0, T0+2h), then absent
obsnb_http_request_duration_seconds{service="api"}     histogram, 100 observations per step:
                                                       p95 = 0.5 before T0+2h, 1.75 after
=====================================================  ==========================================
"""

from __future__ import annotations

import argparse
import itertools
import pathlib

T0 = 1_704_067_200
STEP = 15
POINTS = 3 * 3600 // STEP + 1
LE = ("0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf")
HEALTHY = (50, 20, 15, 10, 4, 1, 0)  # observations per step falling into each bucket (not cumulative)
INCIDENT = (20, 20, 20, 20, 10, 10, 0)
MIDPOINT = (0.02, 0.075, 0.2, 0.4, 0.75, 2.0, 5.0)


def families(t0: int):
    """(family, type, [(series name, labels, [(t, value), ...]), ...]) for every metric."""
    times = [t0 + i * STEP for i in range(POINTS)]
    incident = [t >= t0 + 7200 for t in times]

    def counter(incs):
        return list(zip(times, itertools.accumulate([0] + incs[:-1])))

    reqs = []
    for svc, code, before, after in (("api", "200", 15, 15), ("api", "500", 3, 30), ("web", "200", 30, 30)):
        reqs.append(("obsnb_http_requests_total", {"service": svc, "code": code},
                     counter([after if x else before for x in incident])))
    yield "obsnb_http_requests", "counter", reqs

    jobs, v = [], 0
    for t in times:
        v = 0 if t == t0 + 5400 else v
        jobs.append((t, v))
        v += 6
    yield "obsnb_jobs_processed", "counter", [("obsnb_jobs_processed_total", {"service": "worker"}, jobs)]

    depth = [(t, 100 if t < t0 + 3600 else 200 if t < t0 + 7200 else 50) for t in times]
    yield "obsnb_queue_depth", "gauge", [("obsnb_queue_depth", {"service": "worker"}, depth)]
    yield "obsnb_up", "gauge", [("obsnb_up", {"service": "batch"}, [(t, 1) for t in times if t < t0 + 7200])]

    name = "obsnb_http_request_duration_seconds"
    buckets = {le: [] for le in LE}
    sums, counts = [], []
    cum, total, n = [0] * len(LE), 0.0, 0
    for t, inc in zip(times, incident):
        for i, le in enumerate(LE):
            buckets[le].append((t, cum[i]))
        sums.append((t, round(total, 6)))
        counts.append((t, n))
        per = INCIDENT if inc else HEALTHY
        running = list(itertools.accumulate(per))
        cum = [c + r for c, r in zip(cum, running)]
        total += sum(k * m for k, m in zip(per, MIDPOINT))
        n += sum(per)
    members = [(name + "_bucket", {"service": "api", "le": le}, buckets[le]) for le in LE]
    members += [(name + "_sum", {"service": "api"}, sums), (name + "_count", {"service": "api"}, counts)]
    yield name, "histogram", members


def openmetrics(t0: int) -> str:
    """The fixture as OpenMetrics text: families contiguous, each series sorted by time, ``# EOF``."""
    out = []
    for fam, typ, members in families(t0):
        out.append(f"# TYPE {fam} {typ}\n")
        for series, labels, points in members:
            lab = "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
            out.extend(f"{series}{lab} {v} {t}\n" for t, v in points)
    out.append("# EOF\n")
    return "".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--t0", type=int, default=T0, help="fixture start, epoch seconds (rounded down to 15 s)")
    args = ap.parse_args()
    t0 = args.t0 - args.t0 % STEP
    out = pathlib.Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fixture.om").write_text(openmetrics(t0))
    print(f"T0={t0} END={t0 + 3 * 3600} STEP={STEP} POINTS={POINTS}")


if __name__ == "__main__":
    main()
