"""OpenTelemetry's console exporters (Python SDK ``ConsoleSpanExporter`` / ``ConsoleLogExporter``) captured to a file.

The SDK prints one pretty-printed JSON object per span (``span.to_json(indent=4)``) or log record, one
after another, not one per line::

    {
        "name": "GET /jobs",
        "context": {"trace_id": "0x6e0c...", "span_id": "0x8dbc...", "trace_state": "[]"},
        "kind": "SpanKind.SERVER", "parent_id": null,
        "start_time": "2024-05-14T12:00:01.123456Z", "end_time": "...",
        "status": {"status_code": "ERROR", "description": "boom"},
        "attributes": {...}, "events": [...], "links": [...],
        "resource": {"attributes": {"service.name": "api", ...}, "schema_url": ""}
    }

DuckDB's ``read_json_objects`` splits the stream into objects and every field is taken in SQL; the
attribute maps are decoded by polars. Spans: the canonical span columns (ids without ``0x``,
``kind`` from ``SpanKind.X``, ``status`` from ``status_code``, ``status_message`` from
``description``), attributes and resource attributes as columns (``resource.<key>`` when a span
attribute has the same name), ``events`` and ``links``. Log records: ``time`` (``timestamp``, else
``observed_timestamp``), ``level`` from ``severity_text`` / ``severity_number``, ``event`` = body, ids (an
all-zero id outside a span is null), attributes and resource attributes. ``_line`` is the record's ordinal.
"""

from __future__ import annotations

import re
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from .. import schema
from ._common import EVENT_TYPE, LINK_TYPE, source_column
from ._lines import connect
from .base import FileFormat, FileInput, Part, ReadContext
from .logfmt import _json_columns

__all__ = ["OtelConsole"]

_SNIFF_SPAN = re.compile(rb'^\{\s*"name": .*?"context": \{\s*"trace_id": "0x[0-9a-f]{32}"', re.S)
_SNIFF_LOG = re.compile(rb'^\{\s*"body": .*?"severity_number": ', re.S)


def _hex(expr: str) -> str:
    """SQL: an ``0x``-prefixed id -> lowercase hex, null when empty or all zeros."""
    return (f"CASE WHEN regexp_full_match(coalesce({expr}, ''), '(0x)?0*') THEN NULL "
            f"ELSE lower(regexp_replace({expr}, '^0x', '')) END")


def _ns(expr: str) -> str:
    return f"obsnb_str_ns({expr})"


_SPAN_SQL = f"""
SELECT {_hex("j->'context'->>'trace_id'")} AS trace_id, {_hex("j->'context'->>'span_id'")} AS span_id,
       {_hex("j->>'parent_id'")} AS parent_span_id, j->>'name' AS name,
       j->'resource'->'attributes'->>'service.name' AS service,
       upper(regexp_replace(j->>'kind', '^SpanKind\\.', '')) AS kind,
       {_ns("j->>'start_time'")} AS start, {_ns("j->>'end_time'")} AS "end",
       coalesce(upper(j->'status'->>'status_code'), 'UNSET') AS status,
       nullif(j->'status'->>'description', '') AS status_message,
       list_transform(CAST(coalesce(j->'events', '[]') AS JSON[]), lambda e: struct_pack(
           time := make_timestamptz({_ns("e->>'timestamp'")} // 1000), name := e->>'name',
           attributes := CAST(e->'attributes' AS VARCHAR))) AS events,
       list_transform(CAST(coalesce(j->'links', '[]') AS JSON[]), lambda k: struct_pack(
           trace_id := {_hex("k->'context'->>'trace_id'")}, span_id := {_hex("k->'context'->>'span_id'")},
           ref_type := 'link', attributes := CAST(k->'attributes' AS VARCHAR))) AS links,
       CAST(j->'attributes' AS VARCHAR) AS attrs, CAST(j->'resource'->'attributes' AS VARCHAR) AS res,
       (j->>'name') IS NOT NULL AND (j->'context'->>'span_id') IS NOT NULL AS ok
FROM obsnb_console
"""
_LOG_SQL = f"""
SELECT coalesce({_ns("nullif(j->>'timestamp', 'null')")}, {_ns("j->>'observed_timestamp'")}) AS time,
       j->>'severity_text' AS severity_text,
       TRY_CAST(regexp_extract(j->>'severity_number', '(\\d+)', 1) AS INTEGER) AS severity_number,
       CASE WHEN json_type(j->'body') IN ('OBJECT', 'ARRAY') THEN CAST(j->'body' AS VARCHAR) ELSE j->>'body' END AS event,
       j->'resource'->'attributes'->>'service.name' AS service,
       {_hex("j->>'trace_id'")} AS trace_id, {_hex("j->>'span_id'")} AS span_id,
       CAST(j->'attributes' AS VARCHAR) AS attrs, CAST(j->'resource'->'attributes' AS VARCHAR) AS res,
       (j->>'timestamp') IS NOT NULL OR (j->>'observed_timestamp') IS NOT NULL AS ok
FROM obsnb_console
"""


def _attributes(out: dict[str, pa.Array], attrs: pa.Array, res: pa.Array) -> None:
    for texts, prefix in ((attrs, "attributes"), (res, "resource")):
        texts = pc.if_else(pc.is_valid(texts), texts, "{}")
        for k, v in _json_columns(texts).items():
            if prefix == "resource" and k == "service.name":
                continue
            if v.null_count < len(v):
                out[f"{prefix}.{k}" if k in out else k] = v


class OtelConsole(FileFormat):
    """OpenTelemetry console exporter output (pretty-printed JSON spans or log records, one after another)."""

    name = "otel_console"
    kinds = ("spans", "logs")
    extensions = ()

    @classmethod
    def sniff(cls, head: bytes, path: str) -> float:
        h = head.lstrip()
        return 0.95 if _SNIFF_SPAN.match(h) or _SNIFF_LOG.match(h) else 0.0

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        con = connect()
        data = src.data()
        if not data.strip():
            return
        try:
            docs = con.execute("SELECT json AS j FROM read_json_objects(?, format='unstructured', compression=?)",
                               [src.path, "gzip" if src.gzipped else "none"]).to_arrow_table()
        except Exception as exc:  # noqa: BLE001 - DuckDB's JSON errors have no common base class
            ctx.reject(src.path, 1, f"not a stream of JSON objects ({str(exc).splitlines()[0]})", data[:2000])
            return
        con.register("obsnb_console", docs)
        try:
            is_span = bool(_SNIFF_SPAN.match(data.lstrip()[:65536]))
            t = con.sql(_SPAN_SQL if is_span else _LOG_SQL).to_arrow_table()
        finally:
            con.unregister("obsnb_console")
        ok = pc.fill_null(t.column("ok"), False).combine_chunks()
        n = t.num_rows
        lines = pa.array(range(1, n + 1), pa.int64())
        if not pc.all(ok).as_py():
            raws = pc.invert(ok)
            for i in pc.indices_nonzero(raws).to_pylist():
                ctx.reject(src.path, i + 1, "record without " + ("name or span id" if is_span else "timestamp"),
                           str(docs.column("j")[i]))
        t = t.filter(ok)
        out: dict[str, pa.Array] = {}
        if is_span:
            for k in ("trace_id", "span_id", "parent_span_id", "name", "service", "kind", "start", "end", "status",
                      "status_message"):
                out[k] = t.column(k).combine_chunks()
            out["duration_ms"] = pc.divide(pc.cast(pc.subtract(out["end"], out["start"]), pa.float64()), 1e6)
            _attributes(out, t.column("attrs").combine_chunks(), t.column("res").combine_chunks())
            out["events"] = t.column("events").combine_chunks().cast(EVENT_TYPE)
            out["links"] = t.column("links").combine_chunks().cast(LINK_TYPE)
            kind = "spans"
        else:
            out["time"] = t.column("time").combine_chunks()
            level, original = schema.normalize_levels(t.column("severity_text").combine_chunks())
            sev = t.column("severity_number").combine_chunks()
            numbers = pc.unique(sev)  # a handful of distinct values: map those, then place them
            by_number = pa.array([schema.level_from_number(x, "otel") for x in numbers.to_pylist()], pa.string())
            out["level"] = pc.coalesce(level, pc.take(by_number, pc.index_in(sev, numbers)))
            if original is not None:
                out["level_original"] = original
            for k in ("event", "service", "trace_id", "span_id"):
                out[k] = t.column(k).combine_chunks()
            _attributes(out, t.column("attrs").combine_chunks(), t.column("res").combine_chunks())
            kind = "logs"
        out["_line"] = lines.filter(ok)
        out["_source"] = source_column(src.path, len(out["_line"]))
        yield Part(kind, pa.table(out))
