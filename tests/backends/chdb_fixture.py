"""A known fixture of OTel-exporter rows for the chdb tests: spans of three services, logs of two.

Deterministic (seeded): 30 minutes from T0; ``web`` is silent from T0+10m to T0+20m (a gap, and
empty rate buckets); every 7th ``api`` span is an error. :func:`fill` inserts the rows into tables
created with :mod:`otel_schema`'s DDL; the same rows are what the tests compute expectations from.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import otel_schema
from _support import need
from chdb_shim import HAVE_CHDB, ChdbShim
from fake_server import FakeServer

T0 = 1704067200 * 10**9          # 2024-01-01T00:00:00Z
S = 10**9
MIN = 60 * S
SERVICES = ("api", "db", "web")


def _ts(ns: int) -> str:
    import datetime as dt

    d = dt.datetime.fromtimestamp(ns // S, dt.timezone.utc)
    return d.strftime("%Y-%m-%d %H:%M:%S") + f".{ns % S:09d}"


def spans(n: int = 1800, seed: int = 7) -> list[dict]:
    rng = np.random.default_rng(seed)
    start = T0 + np.sort(rng.integers(0, 30 * MIN, n))
    service = rng.choice(SERVICES, n)
    duration = rng.lognormal(16.0, 1.2, n).astype(np.int64) + rng.integers(0, 1000, n)
    out = []
    for i in range(n):
        svc = str(service[i])
        if svc == "web" and T0 + 10 * MIN <= start[i] < T0 + 20 * MIN:
            continue
        err = svc == "api" and i % 7 == 0
        out.append({"Timestamp": int(start[i]), "TraceId": f"{i + 1:032x}", "SpanId": f"{i + 1:016x}",
                    "ParentSpanId": "", "TraceState": "", "SpanName": "GET /orders" if i % 2 else "POST /pay",
                    "SpanKind": "Server" if i % 3 else "Client", "ServiceName": svc,
                    "ResourceAttributes": {"host.name": f"h{i % 4}"}, "ScopeName": "otel", "ScopeVersion": "1",
                    "SpanAttributes": {"http.route": "/orders" if i % 2 else "/pay"}, "Duration": int(duration[i]),
                    "StatusCode": "Error" if err else ("Ok" if i % 2 else "Unset"),
                    "StatusMessage": "boom" if err else ""})
    return out


def logs(n: int = 400, seed: int = 11) -> list[dict]:
    rng = np.random.default_rng(seed)
    t = T0 + np.sort(rng.integers(0, 30 * MIN, n))
    out = []
    for i in range(n):
        svc = "worker" if i % 3 else "api"
        if svc == "worker" and T0 + 12 * MIN <= t[i] < T0 + 19 * MIN:
            continue
        err = i % 5 == 0
        out.append({"Timestamp": int(t[i]), "TraceId": f"{i + 1:032x}" if err else "", "SpanId": f"{i + 1:016x}" if err else "",
                    "TraceFlags": 1, "SeverityText": "ERROR" if err else "info", "SeverityNumber": 17 if err else 9,
                    "ServiceName": svc, "Body": f"job {i} {'failed' if err else 'ok'}", "ResourceAttributes": {"host.name": f"h{i % 3}"},
                    "ScopeName": "app", "LogAttributes": {"job.id": str(i)}, "EventName": "job_failed" if err else ""})
    return out


def fill(shim, spans_rows: list[dict], logs_rows: list[dict]) -> None:
    """Create otel_traces, otel_logs (current schema) and otel_logs_older (older schema) and insert the rows."""
    shim.execute(otel_schema.TRACES.format(table="otel_traces"))
    shim.execute(otel_schema.LOGS_CURRENT.format(table="otel_logs"))
    shim.execute(otel_schema.LOGS_OLDER.format(table="otel_logs_older"))
    _insert(shim, "otel_traces", spans_rows)
    _insert(shim, "otel_logs", logs_rows)
    _insert(shim, "otel_logs_older", [{k: v for k, v in r.items() if k != "EventName"} for r in logs_rows])


def _insert(shim, table: str, rows: list[dict]) -> None:
    lines = "\n".join(json.dumps({**r, "Timestamp": _ts(r["Timestamp"])}) for r in rows)
    shim.execute(f"INSERT INTO {table} FORMAT JSONEachRow\n{lines}")


SPANS, LOGS = spans(), logs()


_SHIM: list = []


@pytest.fixture(scope="module")
def ch():
    """``(clickhouse://127.0.0.1:port, shim)``: chdb behind the HTTP shim, holding :data:`SPANS` and :data:`LOGS`.

    chdb keeps one engine per process, so the filled shim is made once and shared by the test modules.
    """
    need(HAVE_CHDB, "chdb is not installed (pip install -e '.[test]')")
    if not _SHIM:
        _SHIM.append(ChdbShim())
        fill(_SHIM[0], SPANS, LOGS)
    with FakeServer(_SHIM[0]) as srv:
        yield f"clickhouse://{srv.hostport}", _SHIM[0]
