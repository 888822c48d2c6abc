"""Deterministic messy JSON-lines log of a job system, for the load benchmark.

    python benchmarks/gen_messy_logs.py 1000000 benchmarks/data/messy_1m.jsonl

About 440 bytes a line with nested fields; ~0.1 % malformed lines (truncated, stray traceback text,
two objects on one line, binary garbage, blank), ~1 % timestamps in other notations (epoch s, epoch ms,
+02:00 offsets), one service with lowercase levels and integer durations, error fields that appear
only on failures. Prints a JSON manifest of what it wrote.
"""

from __future__ import annotations

import json
import sys

import numpy as np

SERVICES = ["ingest-worker", "billing-worker", "email-sender", "report-builder", "webhook-dispatcher", "sync-crm"]
EVENTS = ["job_enqueued", "job_started", "external_api_call", "db_query", "job_completed", "job_failed"]
PEERS = ["https://api.stripe.com/v1/charges", "https://api.sendgrid.com/v3/mail/send",
         "https://acme.my.salesforce.com/services/data/v59.0/query"]
T0 = 1715644800.0  # 2024-05-14T00:00:00Z


def main(n: int, out: str) -> dict:
    rng = np.random.default_rng(20240514)
    t = T0 + np.sort(rng.uniform(0, 86400, n))
    svc = rng.integers(0, len(SERVICES), n)
    ev = rng.integers(0, len(EVENTS), n)
    dur = rng.lognormal(4, 1, n)
    mess = rng.random(n)
    tsr = rng.random(n)
    trace = rng.integers(0, 2**63, (n, 2))
    counts = {"lines": 0, "malformed": 0, "blank": 0, "other_ts": 0}
    with open(out, "w", encoding="utf-8") as f:
        for i in range(n):
            s = SERVICES[svc[i]]
            e = EVENTS[ev[i]]
            if tsr[i] < 0.004:
                ts = float(round(t[i], 6)); counts["other_ts"] += 1
            elif tsr[i] < 0.007:
                ts = int(t[i] * 1000); counts["other_ts"] += 1
            elif tsr[i] < 0.010:
                ts = np.datetime_as_string(np.datetime64(int((t[i] + 7200) * 1e6), "us")) + "+02:00"; counts["other_ts"] += 1
            else:
                ts = np.datetime_as_string(np.datetime64(int(t[i] * 1e6), "us")) + "Z"
            lvl = "ERROR" if e == "job_failed" else "INFO"
            rec = {"ts": ts, "level": lvl.lower() if s == "email-sender" else lvl, "event": e, "service": s,
                   "job_id": f"job_{i // 4:08x}", "trace_id": f"{trace[i, 0]:016x}{trace[i, 1]:016x}",
                   "span_id": f"{trace[i, 1]:016x}",
                   "msg": f"{e} for job_{i // 4:08x} on {s} (queue=default, attempt={1 + i % 3})",
                   "extra": {"queue": "default", "attempt": 1 + i % 3, "worker": {"host": f"ip-10-0-{i % 7}-{i % 250}",
                                                                                   "pid": 1000 + i % 5000}}}
            if e in ("external_api_call", "db_query"):
                rec["duration_ms"] = int(dur[i]) if s == "email-sender" else round(float(dur[i]), 3)
                if e == "external_api_call":
                    rec["extra"]["http"] = {"method": "POST", "url": PEERS[i % 3], "status_code": 200}
            if e == "job_failed":
                rec["error_type"] = "TimeoutError"
                rec["extra"]["exception"] = {"type": "TimeoutError", "stacktrace": "Traceback ...\nTimeoutError"}
            line = json.dumps(rec, separators=(",", ":"))
            m = mess[i]
            if m < 0.0004:
                line = line[: len(line) // 2]; counts["malformed"] += 1
            elif m < 0.0007:
                line = "Traceback (most recent call last):"; counts["malformed"] += 1
            elif m < 0.0009:
                line = line + line; counts["malformed"] += 1
            elif m < 0.00095:
                line = "\x00\x01\x02garbage\x7f"; counts["malformed"] += 1
            elif m < 0.001:
                line = ""; counts["blank"] += 1
            f.write(line + "\n")
            counts["lines"] += 1
    return counts


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    out = sys.argv[2] if len(sys.argv) > 2 else f"benchmarks/data/messy_{n}.jsonl"
    print(json.dumps(main(n, out)))
