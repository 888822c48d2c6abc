"""Jaeger JSON: ``/api/traces`` answers, UI downloads, bare span lists, spans as stored in Elasticsearch.

Shapes read: ``{"data": [trace, ...]}``, one trace ``{"traceID", "spans", "processes"}``, a list of
traces, a list of spans (each with an inline ``process``), and a single span object. Span rows:

* ``start`` from ``startTime`` (µs; ``startTimeMillis`` when that is all there is), ``end`` =
  start + ``duration`` (µs), ``duration_ms`` = duration / 1000.
* ``service`` from the span's process; span tags and process tags become columns by key, with
  the tag's declared type (``int64``/``float64``/``bool`` values written as strings are converted);
  a key that is already a column (``name``, ``status``...) becomes ``tags.<key>`` / ``process.<key>``.
* ``kind`` from the ``span.kind`` tag; ``status`` ERROR when the ``error`` tag is true, else from
  ``otel.status_code`` (``status_message`` from ``otel.status_description``), else UNSET.
* ``references``: the first CHILD_OF of the same trace is ``parent_span_id``; every other reference
  (FOLLOWS_FROM, a CHILD_OF into another trace) goes to ``links`` with its ``ref_type``.
* ``logs`` become ``events``: time, ``name`` from the ``event`` (else ``message``) field, all fields
  as a JSON object in ``attributes``.

Ids are kept as written, lowercased (Jaeger writes 64-bit trace ids as 16 hex digits).
``_line``: the 1-based ordinal of the span in the file (of the line, for one document per line).
The answer's ``errors`` and trace ``warnings`` are kept in the load's warnings.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from ._common import (add_columns, dumps, hex_id, nonzero_id, parts_from_rows, read_span_docs, span_kind, span_rows,
                      to_float, to_int)
from .base import FileFormat, FileInput, Part, ReadContext

__all__ = ["JaegerJson", "parse_jaeger_document"]

_SNIFF_ID = re.compile(rb'"traceID"\s*:')
_SNIFF_SPAN = re.compile(rb'"operationName"\s*:')


def _tag_value(tag: dict) -> Any:
    v = tag.get("value")
    t = (tag.get("type") or "").lower()
    if t == "bool":
        return v if isinstance(v, bool) else str(v).strip().lower() == "true"
    if t == "int64":
        return to_int(v)
    if t == "float64":
        return to_float(v)
    return v


def _tags(tags: Any) -> dict[str, Any]:
    if isinstance(tags, dict):  # Elasticsearch "tag" maps
        return dict(tags)
    return {t["key"]: _tag_value(t) for t in tags or [] if isinstance(t, dict) and "key" in t}


def _span(sp: dict, processes: dict) -> dict[str, Any]:
    proc = sp.get("process") or processes.get(sp.get("processID")) or {}
    ptags = _tags(proc.get("tags"))
    ptags.update(_tags(proc.get("tag")))
    tags = _tags(sp.get("tags"))
    tags.update(_tags(sp.get("tag")))
    trace_id = hex_id(sp.get("traceID"))
    start_us = to_int(sp.get("startTime"))
    if start_us is None and sp.get("startTimeMillis") is not None:
        start_us = to_int(sp.get("startTimeMillis")) * 1000
    dur_us = to_int(sp.get("duration"))
    parent, links = None, []
    for ref in sp.get("references") or []:
        if not isinstance(ref, dict):
            continue
        rt = (ref.get("refType") or "CHILD_OF").upper()
        rtrace, rspan = hex_id(ref.get("traceID")), hex_id(ref.get("spanID"))
        if parent is None and rt == "CHILD_OF" and rtrace == trace_id:
            parent = rspan
        else:
            links.append({"trace_id": rtrace, "span_id": rspan, "ref_type": rt, "attributes": "{}"})
    if parent is None and sp.get("parentSpanID"):
        parent = nonzero_id(sp.get("parentSpanID"))
    err = tags.get("error")
    otel_status = str(tags.get("otel.status_code") or "").upper()
    if err is True or str(err).lower() == "true":
        status = "ERROR"
    elif otel_status in ("OK", "ERROR"):
        status = otel_status
    else:
        status = "UNSET"
    events = []
    for lg in sp.get("logs") or []:
        if not isinstance(lg, dict):
            continue
        fields = _tags(lg.get("fields"))
        name = fields.get("event", fields.get("message"))
        ts = to_int(lg.get("timestamp"))
        events.append({"time": ts * 1000 if ts is not None else None,
                       "name": None if name is None else str(name), "attributes": dumps(fields)})
    row: dict[str, Any] = {
        "trace_id": trace_id,
        "span_id": hex_id(sp.get("spanID")),
        "parent_span_id": parent,
        "name": sp.get("operationName"),
        "service": proc.get("serviceName"),
        "kind": span_kind(tags.get("span.kind")),
        "start": start_us * 1000 if start_us is not None else None,
        "end": (start_us + dur_us) * 1000 if start_us is not None and dur_us is not None else None,
        "duration_ms": dur_us / 1000 if dur_us is not None else None,
        "status": status,
        "status_message": tags.get("otel.status_description"),
    }
    add_columns(row, tags, "tags")  # a taken name (canonical column) moves to tags.<name>
    add_columns(row, ptags, "process")
    row["links"] = links
    row["events"] = events
    return row


def _collect(obj: Any, out: list[tuple[dict, dict]], warnings: list[str]) -> bool:
    """Gather (span, processes) pairs from any Jaeger shape; False when the shape is not Jaeger's."""
    if isinstance(obj, list):
        ok = True
        for item in obj:
            if isinstance(item, (dict, list)):
                ok = _collect(item, out, warnings) and ok
            else:
                out.append((item, {}))  # not a span: rejected by the caller
        return ok
    if not isinstance(obj, dict):
        return False
    if "data" in obj and isinstance(obj["data"], list):
        for e in obj.get("errors") or []:
            warnings.append(f"Jaeger answer error: {e.get('msg', e) if isinstance(e, dict) else e}")
        return _collect(obj["data"], out, warnings) if obj["data"] else True
    if "spans" in obj:
        procs = obj.get("processes") or {}
        for w in obj.get("warnings") or []:
            warnings.append(f"Jaeger trace {obj.get('traceID')}: {w}")
        out.extend((sp, procs) for sp in obj.get("spans") or [])
        return True
    out.append((obj, {}))  # a span, or something that is not: the caller rejects what lacks ids
    return "spanID" in obj or "operationName" in obj or "traceID" in obj


def jaeger_rows(obj: Any, source: str, ctx: ReadContext, line: int | None = None) -> list[dict]:
    """The span rows of one Jaeger document; spans without ``traceID`` or ``spanID`` rejected via ``ctx``."""
    pairs: list[tuple[dict, dict]] = []
    if not _collect(obj, pairs, ctx.warnings) and not pairs:
        ctx.reject(source, line or 1, "not a Jaeger JSON document (no data/spans/traceID)", dumps(obj)[:2000])
        return []
    return span_rows(((sp, (procs,)) for sp, procs in pairs), ("traceID", "spanID"), _span, source, ctx, line,
                     "Jaeger")


def parse_jaeger_document(obj: Any, source: str, ctx: ReadContext, line: int | None = None) -> list[Part]:
    """One decoded Jaeger JSON document (any shape above) -> a spans part; bad spans rejected via ``ctx``."""
    return parts_from_rows({"spans": jaeger_rows(obj, source, ctx, line)}, source)


class JaegerJson(FileFormat):
    """Jaeger JSON files (query API answers, UI downloads)."""

    name = "jaeger_json"
    kinds = ("spans",)

    @classmethod
    def sniff(cls, head: bytes, path: str) -> float:
        if _SNIFF_ID.search(head) and _SNIFF_SPAN.search(head) and b'"spanID"' in head:
            return 0.9
        return 0.0

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        yield from read_span_docs(src, ctx, jaeger_rows)
