"""A big messy JSON-lines set for benchmarks/bench_big.py: rotated log files of a job system, one seed each.

    python benchmarks/gen_big_set.py [OUT_DIR] [--files 30] [--lines 1000000] [--jobs 2] [--first 0]

Writes ``OUT_DIR/app-NNN.jsonl`` (default /work/bigdata, outside the git tree: never commit the data) and
``OUT_DIR/manifest-NNN.json`` per file. File k covers ``[T0 + k*5h, T0 + (k+1)*5h)`` (rotated every five
hours), so a one-hour window holds about lines/5 rows; its records come from seed ``BASE_SEED + k`` and
do not depend on the other files or on ``--jobs``: files can be made in parallel, in any order, and a
file already complete (its manifest written after it) is kept.

Based on the mess of ../shared/perf/gen_messy_logs.py, logs only and no clean twin: ~0.1 % malformed
lines (truncated, stray stderr text, NaN literal, two objects on one line, blank), ~0.05 % lines with a
field missing, ~1 % timestamps in other notations (epoch s, epoch ms, +02:00/-05:00 offsets), one
service with integer durations and lowercase levels, ~40 ms of writer jitter (the file is nearly, not
strictly, in time order), heartbeats, HTTP calls with a per-service latency (``duration_ms``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import orjson

BASE_SEED = 20240514
T0_S = 1715644800  # 2024-05-14T00:00:00Z
SPAN_US = 5 * 3600 * 1_000_000  # each file: five hours
SERVICES = ["ingest-worker", "billing-worker", "email-sender", "report-builder", "webhook-dispatcher",
            "thumbnail-renderer", "sync-crm", "invoice-pdf", "search-indexer", "notification-fanout",
            "data-export", "cleanup-cron"]
SVC_W = np.array([.20, .12, .12, .10, .09, .08, .07, .06, .05, .05, .04, .02])
SVC_LAT = np.array([80, 150, 60, 300, 120, 200, 250, 400, 90, 70, 500, 40], float)  # HTTP call median ms
GO_SVC = 2  # integer duration_ms, lowercase levels
QUEUES = ["default", "priority", "bulk"]
PEERS = [("stripe", "POST", "https://api.stripe.com/v1/charges"),
         ("sendgrid", "POST", "https://api.sendgrid.com/v3/mail/send"),
         ("salesforce", "GET", "https://acme.my.salesforce.com/services/data/v59.0/query"),
         ("s3", "PUT", "https://acme-artifacts.s3.amazonaws.com/reports/obj")]
ERRORS = [("TimeoutError", "upstream did not answer within 30s"),
          ("ConnectionResetError", "[Errno 104] Connection reset by peer"),
          ("KeyError", "'amount'")]
STDERR = ["Traceback (most recent call last):", "WARNING: worker pool exhausted, spawning extra process",
          "Segmentation fault (core dumped)"]
BAD = ["truncated", "stderr_text", "nan_literal", "two_objects", "blank"]
LVL_GO = {"INFO": "info", "WARN": "warn", "ERROR": "error", "DEBUG": "debug"}


def _hex(rng: np.random.Generator, n: int, nbytes: int) -> list[str]:
    h = rng.bytes(n * nbytes).hex()
    w = 2 * nbytes
    return [h[i * w:(i + 1) * w] for i in range(n)]


def make_file(k: int, n: int, out_dir: str) -> dict:
    """Write file k (about n lines) and its manifest; returns the manifest."""
    path = os.path.join(out_dir, f"app-{k:03d}.jsonl")
    man_path = os.path.join(out_dir, f"manifest-{k:03d}.json")
    if os.path.exists(man_path) and os.path.exists(path):
        with open(man_path) as f:
            man = json.load(f)
        if man.get("bytes") == os.path.getsize(path) and man.get("n_target") == n:
            return man
    rng = np.random.default_rng(BASE_SEED + k)
    base_us = T0_S * 1_000_000 + k * SPAN_US
    # kinds: 0 started, 1 HTTP call, 2 completed, 3 failed, 4 heartbeat
    J = int(n / 3.6)
    svc = rng.choice(len(SERVICES), J, p=SVC_W)
    start = rng.integers(0, SPAN_US, J)
    n_api = np.minimum(rng.poisson(1.5, J), 5)
    A = int(n_api.sum())
    a_job = np.repeat(np.arange(J), n_api)
    a_peer = rng.integers(0, len(PEERS), A)
    a_dur = SVC_LAT[svc[a_job]] * rng.lognormal(0.0, 0.8, A)
    a_code = rng.choice([200, 201, 429, 500, 503], A, p=[.93, .03, .02, .01, .01])
    step = a_dur + 3  # calls in a job one after the other, 3 ms apart
    csum = np.cumsum(step)
    before = np.concatenate([[0.0], csum])[np.concatenate([[0], np.cumsum(n_api)[:-1]])]  # sum before a job's calls
    a_end = start[a_job] + ((csum - before[a_job]) * 1000).astype(np.int64)
    job_dur = np.bincount(a_job, step, J) + 5 + rng.lognormal(np.log(30), 0.7, J)
    end = start + (job_dur * 1000).astype(np.int64)
    failed = rng.random(J) < 0.04
    err = rng.integers(0, len(ERRORS), J)
    H = max(0, n - J * 2 - A)
    hb_svc = rng.integers(0, len(SERVICES), H)
    hb_t = rng.integers(0, SPAN_US, H)
    kinds = np.concatenate([np.zeros(J, np.int8), np.ones(A, np.int8), np.where(failed, 3, 2).astype(np.int8),
                            np.full(H, 4, np.int8)])
    refs = np.concatenate([np.arange(J), np.arange(A), np.arange(J), np.arange(H)])
    times = np.concatenate([start, a_end, end, hb_t])
    keep = times < SPAN_US
    kinds, refs, times = kinds[keep], refs[keep], times[keep]
    order = np.argsort(times + rng.integers(-20_000, 20_000, len(times)), kind="stable")  # writer jitter
    kinds, refs, times = kinds[order], refs[order], times[order]
    L = len(kinds)
    trace, span, api_span = _hex(rng, J, 16), _hex(rng, J, 8), _hex(rng, A, 8)
    job_id = ["job_" + h for h in _hex(rng, J, 6)]
    host, pid = rng.integers(1, 64, J), rng.integers(1000, 65000, J)
    mess, bad_kind = rng.random(L), rng.choice(5, L, p=[.40, .30, .15, .10, .05])
    miss_field = rng.choice(["service", "trace_id", "duration_ms", "level", "span_id"], L)
    tsr, offs, trunc = rng.random(L), rng.choice([2, -5], L), rng.integers(10, 120, L)
    ts_fmt = np.where(tsr < 0.004, 1, np.where(tsr < 0.007, 2, np.where(tsr < 0.010, 3, 0)))
    abs_us = base_us + times
    iso = np.datetime_as_string(abs_us.astype("datetime64[us]"), unit="us")
    off_iso = np.datetime_as_string((abs_us + offs * 3600 * 1_000_000).astype("datetime64[us]"), unit="us")
    st = {"lines": 0, "malformed": dict.fromkeys(BAD, 0), "missing_field": 0, "other_ts": 0}
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        for c0 in range(0, L, 250_000):
            c1 = min(L, c0 + 250_000)
            out = []
            for i in range(c0, c1):
                kd, r, fmt = int(kinds[i]), int(refs[i]), int(ts_fmt[i])
                ts: object = iso[i] + "Z"
                if fmt:
                    st["other_ts"] += 1
                    ts = (round(int(abs_us[i]) / 1e6, 6) if fmt == 1 else int(abs_us[i]) // 1000 if fmt == 2
                          else off_iso[i] + ("+02:00" if offs[i] == 2 else "-05:00"))
                if kd == 4:
                    s = int(hb_svc[r])
                    rec = {"ts": ts, "level": "DEBUG", "event": "worker_heartbeat", "service": SERVICES[s],
                           "status": "alive", "msg": "worker heartbeat",
                           "extra": {"worker": {"host": f"{SERVICES[s]}-{r % 9}", "pid": 100 + r % 9}}}
                else:
                    j = int(a_job[r]) if kd == 1 else r
                    s = int(svc[j])
                    extra = {"queue": QUEUES[j % 3], "attempt": 1 + j % 3,
                             "worker": {"host": f"ip-10-0-{s}-{int(host[j])}", "pid": int(pid[j])}}
                    rec = {"ts": ts, "level": "INFO", "event": "job_started", "service": SERVICES[s],
                           "job_id": job_id[j], "trace_id": trace[j], "span_id": api_span[r] if kd == 1 else span[j]}
                    if kd == 0:
                        rec["status"] = "running"
                        rec["msg"] = f"Job {job_id[j]} started (queue={extra['queue']})"
                    elif kd == 1:
                        p, code, d = PEERS[a_peer[r]], int(a_code[r]), float(a_dur[r])
                        rec.update(event="external_api_call", duration_ms=round(d, 3),
                                   status="ok" if code < 400 else "error", msg=f"{p[1]} {p[2]} -> {code} ({d:.0f} ms)")
                        if code >= 400 or d > 2000:
                            rec["level"] = "WARN"
                        extra["http"] = {"method": p[1], "url": p[2], "status_code": code, "peer": p[0]}
                    elif kd == 2:
                        rec.update(event="job_completed", duration_ms=round(float(job_dur[j]), 3), status="succeeded",
                                   msg=f"Job {job_id[j]} completed in {job_dur[j]:.1f} ms")
                    else:
                        et, em = ERRORS[err[j]]
                        rec.update(level="ERROR", event="job_failed", duration_ms=round(float(job_dur[j]), 3),
                                   status="failed", error_type=et, msg=f"Job {job_id[j]} failed: {et}: {em}")
                        extra["exception"] = {"type": et, "stacktrace": f"Traceback ...\n{et}: {em}"}
                    rec["extra"] = extra
                if s == GO_SVC:
                    rec["level"] = LVL_GO[rec["level"]]
                    if "duration_ms" in rec:
                        rec["duration_ms"] = int(round(rec["duration_ms"]))
                if 0.001 <= mess[i] < 0.0015 and miss_field[i] in rec:
                    del rec[miss_field[i]]
                    st["missing_field"] += 1
                line = orjson.dumps(rec)
                if mess[i] < 0.001:
                    b = int(bad_kind[i])
                    st["malformed"][BAD[b]] += 1
                    line = (line[:int(trunc[i])] if b == 0 else STDERR[r % 3].encode() if b == 1
                            else json.dumps({**rec, "duration_ms": float("nan")}).encode() if b == 2
                            else line + line if b == 3 else b"")
                out.append(line)
            f.write(b"\n".join(out) + b"\n")
            st["lines"] += len(out)
    os.replace(tmp, path)
    man = {"file": os.path.basename(path), "seed": BASE_SEED + k, "n_target": n, "bytes": os.path.getsize(path),
           "start_utc": str(np.datetime64(base_us, "us")) + "Z",
           "end_utc": str(np.datetime64(base_us + SPAN_US, "us")) + "Z", **st}
    with open(man_path, "w") as f:
        json.dump(man, f, indent=1)
    return man


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default="/work/bigdata")
    ap.add_argument("--files", type=int, default=30)
    ap.add_argument("--first", type=int, default=0, help="index of the first file (to add files to a set)")
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    ks = range(a.first, a.first + a.files)
    with ProcessPoolExecutor(max_workers=a.jobs) as pool:
        for man in pool.map(make_file, ks, [a.lines] * len(ks), [a.out] * len(ks)):
            print(json.dumps({k: man[k] for k in ("file", "lines", "bytes")}), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
