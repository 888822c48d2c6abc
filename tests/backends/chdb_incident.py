"""An incident on a ClickHouse server, for the investigation push-down tests (``*_chdb_http_shim``).

Seeded and built from numbers chosen here, so the tests know what is in it: 80 minutes from :data:`T0`, the
window is the last 20 (:data:`WINDOW`), the baseline the 60 before it. In the window

* ``checkout``'s CLIENT calls to ``payments`` (``peer.service``) fail one in two, and one in ten more answers
  HTTP 503 with an Ok status (before: one in 100 fails); ``catalog`` calls ``inventory.internal`` (``url.full``);
* ``catalog``'s SERVER operation ``GET /items`` takes 4x as long (lognormal around 40 ms before, 160 ms in it);
* the log host ``w3`` (``host.name``) is silent from :data:`SILENT_FROM` on (every host logs every ~20 s);
* error lines (``SeverityText`` ERROR), 1 in 50 before and 1 in 4 in the window, carry ``region`` = ``eu-2`` on
  90% of them, the other lines on 25%; every 37th other line of a host is a ``warn`` (a ``level_original``), every 50th has an attribute whose key and value
  hold quotes and a backtick (data, never SQL).

:data:`SPANS` are far more rows than any answer the investigation may pull (the tests bound the answers).
Tables are created in database :data:`DB` with :mod:`otel_schema`'s DDL: ``otel_traces``, ``otel_logs``
(current) and ``otel_logs_older`` (the older schema, ``TimestampTime``, no ``EventName``).
"""

from __future__ import annotations

import numpy as np

import otel_schema
from chdb_fixture import MIN, S, _insert

T0 = 1717200000 * 10**9   # 2024-06-01T00:00:00Z
WINDOW = (T0 + 60 * MIN, T0 + 80 * MIN)
SILENT_FROM = T0 + 64 * MIN
DB = "incident"
N_SPANS = 30_000


def spans(n: int = N_SPANS, seed: int = 3) -> list[dict]:
    rng = np.random.default_rng(seed)
    t = T0 + np.sort(rng.integers(0, 80 * MIN, n))
    # 0: checkout -> payments (client), 1: catalog GET /items, 2: checkout POST /buy, 3: catalog -> inventory (client)
    which = rng.integers(0, 4, n)
    u = rng.random(n)
    base = rng.lognormal(np.log(40.0), 0.3, n)  # ms
    out = []
    for i in range(n):
        during = WINDOW[0] <= t[i] < WINDOW[1]
        w = int(which[i])
        ms = base[i] * (4 if w == 1 and during else 1)
        err = w == 0 and u[i] < (0.5 if during else 0.01)
        name, svc, kind = (("charge", "checkout", "Client"), ("GET /items", "catalog", "Server"),
                           ("POST /buy", "checkout", "Server"), ("GET", "catalog", "Client"))[w]
        attrs = {"peer.service": "payments"} if w == 0 else {"http.route": name.split(" ")[-1]}
        if w == 0:  # an HTTP 503 with an Ok status is a failure too
            attrs["http.response.status_code"] = "503" if during and 0.5 <= u[i] < 0.6 else "200"
        if w == 3:  # the dependency is the host of the URL (user and port dropped)
            attrs = {"url.full": f"https://svc:pw@inventory.internal:8443/stock/{i % 7}"}
        out.append({"Timestamp": int(t[i]), "TraceId": f"{i + 1:032x}", "SpanId": f"{i + 1:016x}", "ParentSpanId": "",
                    "TraceState": "", "SpanName": name, "SpanKind": kind, "ServiceName": svc,
                    "ResourceAttributes": {"host.name": f"h{i % 5}"}, "ScopeName": "otel", "ScopeVersion": "1",
                    "SpanAttributes": attrs, "Duration": int(ms * 1e6), "StatusCode": "Error" if err else "Ok",
                    "StatusMessage": "declined upstream" if err else ""})
    return out


def logs(seed: int = 5) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for h in range(1, 5):
        t = T0 + np.arange(0, 80 * MIN, 20 * S) + rng.integers(0, S, 80 * 3)
        for j, ts in enumerate(t):
            if h == 3 and ts >= SILENT_FROM:
                continue
            during = WINDOW[0] <= ts < WINDOW[1]
            err = rng.random() < (0.25 if during else 0.02)
            region = "eu-2" if rng.random() < (0.9 if err else 0.25) else "us-1"
            out.append({"Timestamp": int(ts), "TraceId": "", "SpanId": "", "TraceFlags": 0,
                        "SeverityText": "ERROR" if err else "warn" if j % 37 == 0 else "INFO",
                        "SeverityNumber": 17 if err else 13 if j % 37 == 0 else 9,
                        "ServiceName": "worker", "Body": "upstream call failed" if err else f"handled batch {j}",
                        "ResourceAttributes": {"host.name": f"w{h}"}, "ScopeName": "app",
                        "LogAttributes": {"region": region, **({"odd`) --'key": "x'y"} if j % 50 == 0 else {})},
                        "EventName": ""})
    out.sort(key=lambda r: r["Timestamp"])
    return out


SPANS, LOGS = spans(), logs()


def fill(shim) -> None:
    shim.execute(f"CREATE DATABASE IF NOT EXISTS {DB}")
    shim.execute(otel_schema.TRACES.format(table=f"{DB}.otel_traces"))
    shim.execute(otel_schema.LOGS_CURRENT.format(table=f"{DB}.otel_logs"))
    shim.execute(otel_schema.LOGS_OLDER.format(table=f"{DB}.otel_logs_older"))
    for start in range(0, len(SPANS), 10_000):
        _insert(shim, f"{DB}.otel_traces", SPANS[start:start + 10_000])
    _insert(shim, f"{DB}.otel_logs", LOGS)
    _insert(shim, f"{DB}.otel_logs_older", [{k: v for k, v in r.items() if k != "EventName"} for r in LOGS])
