"""A fake ClickHouse HTTP interface over in-memory otel_logs / otel_traces rows (see fake_server.py).

It answers the SELECTs obsnb builds (columns by their ``AS`` aliases, the ``fromUnixTimestamp64Nano``
bounds, ``ServiceName = '...'`` conditions, ``LIMIT``) as ``FORMAT ArrowStream``, with String columns
as Arrow binary unless ``output_format_arrow_string_as_string=1`` (ClickHouse's default), and errors as
ClickHouse writes them: text ``Code: N. DB::Exception: ... (NAME) (version ...)`` with the
``X-ClickHouse-Exception-Code`` header (62 syntax error -> 400, 60 unknown table -> 404, 516 auth -> 403,
202 too many simultaneous queries -> 500, transient).
"""

from __future__ import annotations

import base64
import re

import pyarrow as pa

from fake_server import Request, Response

MAP = pa.map_(pa.string(), pa.string())
LOG_COLS = {
    "time": ("Timestamp", pa.int64()), "severity_text": ("SeverityText", pa.string()),
    "severity_number": ("SeverityNumber", pa.uint8()), "event": ("Body", pa.string()),
    "service": ("ServiceName", pa.string()), "trace_id": ("TraceId", pa.string()), "span_id": ("SpanId", pa.string()),
    "scope_name": ("ScopeName", pa.string()), "log_attributes": ("LogAttributes", MAP),
    "resource_attributes": ("ResourceAttributes", MAP),
}
SPAN_COLS = {
    "trace_id": ("TraceId", pa.string()), "span_id": ("SpanId", pa.string()), "parent_span_id": ("ParentSpanId", pa.string()),
    "name": ("SpanName", pa.string()), "service": ("ServiceName", pa.string()), "kind": ("SpanKind", pa.string()),
    "start": ("Timestamp", pa.int64()), "end": ("End", pa.int64()), "duration_ms": ("DurationMs", pa.float64()),
    "status": ("StatusCode", pa.string()), "status_message": ("StatusMessage", pa.string()),
    "scope_name": ("ScopeName", pa.string()), "span_attributes": ("SpanAttributes", MAP),
    "resource_attributes": ("ResourceAttributes", MAP),
}

# the columns DESCRIBE answers: the sources of the aliases above, under the exporter's names
DESCRIBE = {
    "otel_logs": ["Timestamp", "TimestampTime", *(c for c, _ in LOG_COLS.values() if c != "Timestamp")],
    "otel_traces": ["Timestamp", "Duration", *(c for c, _ in SPAN_COLS.values() if c not in ("Timestamp", "End", "DurationMs"))],
}


def ch_error(code: int, name: str, text: str, status: int) -> Response:
    return Response.text(f"Code: {code}. DB::Exception: {text}. ({name}) (version 24.3.1.1 (official build))\n",
                         status, **{"X-ClickHouse-Exception-Code": str(code)})


class ClickHouseFake:
    def __init__(self, logs: list[dict], spans: list[dict], user: str | None = None, password: str | None = None):
        self.tables = {"otel_logs": (logs, LOG_COLS), "otel_traces": (spans, SPAN_COLS)}
        self.user, self.password = user, password
        self.sql: list[str] = []

    def __call__(self, req: Request) -> Response:
        if self.password is not None:
            auth = req.headers.get("Authorization", "")
            ok = auth == "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            if not ok:
                return ch_error(516, "AUTHENTICATION_FAILED", f"{self.user}: Authentication failed: password is "
                                "incorrect, or there is no user with such name", 403)
        sql = req.body.decode()
        self.sql.append(sql)
        m = re.match(r"DESCRIBE TABLE ([\w.]+)", sql)
        if m:  # the older exporter schema: otel_logs keyed by TimestampTime
            name = m.group(1).split(".")[-1]
            if name not in DESCRIBE:
                return ch_error(60, "UNKNOWN_TABLE", f"Table default.{name} does not exist", 404)
            return Response.text("".join(f"{c}\tString\t\t\t\t\t\n" for c in DESCRIBE[name]))
        if not sql.lstrip().upper().startswith("SELECT") or sql.count("(") != sql.count(")"):
            return ch_error(62, "SYNTAX_ERROR", "Syntax error: failed at position 1 ('SELEKT'): SELEKT. "
                            "Expected one of: Query, SELECT query", 400)
        table = re.search(r"\bFROM\s+([\w.]+)", sql).group(1).split(".")[-1]
        if table not in self.tables:
            return ch_error(60, "UNKNOWN_TABLE", f"Unknown table expression identifier 'default.{table}' in scope "
                            "SELECT", 404)
        rows, cols = self.tables[table]
        bounds = [int(x) for x in re.findall(r"toInt64\((\d+)\)\)", sql)]
        lo = bounds[0] if bounds else None
        hi = bounds[1] if len(bounds) > 1 else None
        svc = re.findall(r"ServiceName = '(\w+)'", sql)
        hits = [r for r in rows if (lo is None or r["Timestamp"] >= lo) and (hi is None or r["Timestamp"] < hi)
                and (not svc or r["ServiceName"] == svc[0])]
        hits.sort(key=lambda r: r["Timestamp"])
        m = re.search(r"\bLIMIT (\d+)", sql)
        if m:
            hits = hits[: int(m.group(1))]
        as_string = req.params.get("output_format_arrow_string_as_string") == "1"
        names = re.findall(r"\bAS (\w+)", sql)
        arrays = {}
        for name in names:
            src, typ = cols[name]
            vals = [r.get(src) for r in hits]
            if typ == MAP:
                vals = [list(v.items()) for v in vals]
            if typ == pa.string() and not as_string:
                typ = pa.binary()
                vals = [v.encode() if v is not None else None for v in vals]
            arrays[name] = pa.array(vals, typ)
        table = pa.table(arrays) if arrays else pa.table({})
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
        return Response(200, sink.getvalue().to_pybytes(), {"Content-Type": "application/octet-stream"})
