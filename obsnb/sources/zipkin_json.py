"""Zipkin v2 JSON: a list of spans (``/api/v2/trace/{id}``), a list of traces (``/api/v2/traces``), or one span.

Span rows: ``trace_id`` / ``span_id`` / ``parent_span_id`` from ``traceId`` / ``id`` / ``parentId``
(lowercase hex), ``start`` from ``timestamp`` (µs), ``end`` = start + ``duration`` (µs),
``duration_ms`` = duration / 1000, ``service`` = ``localEndpoint.serviceName``, ``kind`` as written
(CLIENT/SERVER/PRODUCER/CONSUMER; null when absent). ``status`` is ERROR when an ``error`` tag is
present (its value in ``status_message``), else UNSET: Zipkin has no OK. Tags become columns by key
(``tags.<key>`` when the key is already a column),
endpoints flatten to ``localEndpoint.ipv4``, ``remoteEndpoint.serviceName``..., ``shared`` and
``debug`` are kept, and annotations become ``events`` (``name`` = the annotation's value).

``_line``: the 1-based ordinal of the span in the file (of the line, for one document per line).
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from ._common import (add_columns, flatten, hex_id, nonzero_id, parts_from_rows, read_span_docs, span_kind, span_rows,
                      to_int)
from .base import FileFormat, FileInput, Part, ReadContext

__all__ = ["ZipkinJson", "parse_zipkin_document"]

_SNIFF_TRACE = re.compile(rb'"traceId"\s*:')
_SNIFF_ID = re.compile(rb'"id"\s*:')
_SNIFF_ZIPKIN = re.compile(rb'"(localEndpoint|remoteEndpoint|duration|annotations)"\s*:')
_NOT_ZIPKIN = re.compile(rb'"(resourceSpans|spanId|spanID|traceID)"\s*:')


def _span(sp: dict) -> dict[str, Any]:
    start_us, dur_us = to_int(sp.get("timestamp")), to_int(sp.get("duration"))
    tags = sp.get("tags") or {}
    tags = tags if isinstance(tags, dict) else {}
    local = sp.get("localEndpoint") or {}
    has_error = "error" in tags
    row: dict[str, Any] = {
        "trace_id": hex_id(sp.get("traceId")),
        "span_id": hex_id(sp.get("id")),
        "parent_span_id": nonzero_id(sp.get("parentId")),
        "name": sp.get("name"),
        "service": local.get("serviceName") if isinstance(local, dict) else None,
        "kind": span_kind(sp.get("kind")),
        "start": start_us * 1000 if start_us is not None else None,
        "end": (start_us + dur_us) * 1000 if start_us is not None and dur_us is not None else None,
        "duration_ms": dur_us / 1000 if dur_us is not None else None,
        "status": "ERROR" if has_error else "UNSET",
        "status_message": (str(tags["error"]) or None) if has_error else None,
    }
    extra: dict[str, Any] = dict(tags)
    for key in ("localEndpoint", "remoteEndpoint"):
        if isinstance(sp.get(key), dict):
            flatten(sp[key], key, extra)
    for key in ("shared", "debug"):
        if key in sp:
            extra[key] = bool(sp[key])
    add_columns(row, extra, "tags")  # a taken name (canonical column) moves to tags.<name>
    row["links"] = []
    row["events"] = [
        {"time": to_int(a.get("timestamp")) * 1000 if a.get("timestamp") is not None else None,
         "name": a.get("value"), "attributes": "{}"}
        for a in sp.get("annotations") or [] if isinstance(a, dict)
    ]
    return row


def _spans(obj: Any) -> list[Any]:
    if isinstance(obj, list):
        out: list[Any] = []
        for item in obj:
            out.extend(_spans(item) if isinstance(item, list) else [item])
        return out
    return [obj]


def parse_zipkin_document(obj: Any, source: str, ctx: ReadContext, line: int | None = None) -> list[Part]:
    """One decoded Zipkin v2 document (span, list of spans, list of traces) -> a spans part.

    Spans without ``traceId`` or ``id`` are rejected through ``ctx``.
    """
    return parts_from_rows({"spans": zipkin_rows(obj, source, ctx, line)}, source)


def zipkin_rows(obj: Any, source: str, ctx: ReadContext, line: int | None = None) -> list[dict]:
    """The span rows of one Zipkin document; spans without ``traceId`` or ``id`` rejected via ``ctx``."""
    return span_rows(((sp, ()) for sp in _spans(obj)), ("traceId", "id"), _span, source, ctx, line, "Zipkin")


class ZipkinJson(FileFormat):
    """Zipkin v2 JSON files."""

    name = "zipkin_json"
    kinds = ("spans",)

    @classmethod
    def sniff(cls, head: bytes, path: str) -> float:
        if _NOT_ZIPKIN.search(head):
            return 0.0
        if _SNIFF_TRACE.search(head) and _SNIFF_ID.search(head) and _SNIFF_ZIPKIN.search(head):
            return 0.85
        return 0.0

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        yield from read_span_docs(src, ctx, zipkin_rows)
