"""OTLP JSON: traces, logs and metrics, as one document or one export request per line.

Reads what the OpenTelemetry collector's file exporter writes (one ``Export*ServiceRequest`` per
line), single OTLP JSON documents, Jaeger api/v3 answers (``{"result": {...}}``) and Tempo's
trace-by-id answers (``{"batches": [...]}`` or ``{"trace": {...}}``). Ids may be hex or base64
(proto3 JSON); both become lowercase hex.

Rows:

* spans: canonical span columns, span attributes and resource attributes flattened by key
  (``http.method``, ``service.name``; a key that is already a column gets an ``attributes.`` or
  ``resource.`` prefix), ``otel.scope.name``/``otel.scope.version``, ``links`` and ``events``.
* logs: ``time`` (``timeUnixNano``, else ``observedTimeUnixNano``; a record with neither is rejected), ``level`` from
  ``severityNumber`` (else ``severityText``; the text kept in ``level_original`` when it differs),
  ``event`` = body (a map or list body as JSON), attributes and resource attributes.
* metrics: one row per data point; sums and gauges by name, histograms as Prometheus writes them
  (``x_bucket`` with cumulative counts and an ``le`` label, ``x_sum``, ``x_count``), exponential
  histograms rendered the same way with their bucket bounds (every point of a series on one layout: the
  series' smallest scale and the union of its bucket ranges, so each ``le`` has a sample at each time), summaries as ``x{quantile=}``,
  ``x_sum``, ``x_count``. Attributes (data point and resource) become string label columns.
  ``_type`` says what the metric is: ``counter`` (a monotonic sum), ``gauge`` (a gauge or a
  non-monotonic sum, as Prometheus maps it), ``histogram`` (explicit or exponential), ``summary``;
  ``_temporality`` is the sum's or histogram's ``aggregationTemporality`` (``cumulative``/``delta``,
  null for gauges, summaries and an unspecified one).

``_line``: the line of the request in a one-request-per-line file; in a single-document file, the
1-based ordinal of the record (span, log record or data point row) in the document.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterator

import pyarrow as pa

from .. import schema
from ._common import (add_columns, dumps, flatten, format_le, hex_id, iter_json_docs, nonzero_id, otlp_status,
                      parts_from_rows, span_kind, to_float, to_int)
from .base import FileFormat, FileInput, Part, ReadContext
from .otlp_columnar import Unsupported, otlp_table

__all__ = ["OtlpJson", "parse_otlp_document", "otlp_rows", "anyvalue", "attributes"]

_SIGNALS = (("resourceSpans", "spans"), ("resourceLogs", "logs"), ("resourceMetrics", "metrics"))
_SCOPES = {"spans": ("scopeSpans", "instrumentationLibrarySpans"),
           "logs": ("scopeLogs", "instrumentationLibraryLogs"),
           "metrics": ("scopeMetrics", "instrumentationLibraryMetrics")}
_ITEMS = {"spans": "spans", "logs": "logRecords", "metrics": "metrics"}
_METRIC_TYPES = ("sum", "gauge", "histogram", "exponentialHistogram", "summary")
_SNIFF = re.compile(rb'"(resourceSpans|resourceLogs|resourceMetrics|batches)"\s*:')
_INT64 = (-(2**63) + 1, 2**63 - 1)  # (-2**63 is NaT) a time outside this is no nanosecond timestamp (a 30-digit value, say)
# An exponential histogram is drawn as one bucket row per index between a series' lowest and highest
# bucket: past this many on one side it is not drawn (rejected), so a hostile offset cannot fill memory.
MAX_EXP_BUCKETS = 16_384
# A value that breaks a record's conversion: that record is rejected, the others load.
_MALFORMED = (TypeError, ValueError, OverflowError, AttributeError, KeyError, IndexError)


def _int(value: Any) -> int | None:
    """``to_int`` that turns an infinite or NaN number (``"1e400"``) into None instead of raising."""
    try:
        return to_int(value)
    except OverflowError:
        return None


def _time_problem(item: dict, *keys: str) -> str | None:
    """Why one of ``keys`` of ``item`` cannot be a nanosecond timestamp (None when all are fine or absent)."""
    for key in keys:
        raw = item.get(key)
        t = _int(raw)
        if t is None and raw not in (None, "") and to_float(raw) is not None:
            return f"{key} {str(raw)[:40]!r} is not a finite number of nanoseconds"
        if t is not None and not _INT64[0] <= t <= _INT64[1]:
            return f"{key} {str(raw)[:40]!r} is out of range ({len(str(abs(t)))} digits; nanoseconds fit in 19)"
    return None


def anyvalue(v: Any) -> Any:
    """An OTLP ``AnyValue`` as a Python value (kvlist -> dict, array -> list, int strings -> int)."""
    if not isinstance(v, dict):
        return v
    if "stringValue" in v:
        return v["stringValue"]
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "intValue" in v:
        n = _int(v["intValue"])
        return v["intValue"] if n is None else n
    if "doubleValue" in v:
        return to_float(v["doubleValue"])
    if "arrayValue" in v:
        return [anyvalue(x) for x in (v["arrayValue"] or {}).get("values", []) or []]
    if "kvlistValue" in v:
        return {kv.get("key"): anyvalue(kv.get("value")) for kv in (v["kvlistValue"] or {}).get("values", []) or []}
    if "bytesValue" in v:
        return v["bytesValue"]
    return None


def attributes(attrs: Any) -> dict[str, Any]:
    """An OTLP attribute list -> a flat dict (maps flattened with ``.``, lists as JSON strings)."""
    out: dict[str, Any] = {}
    for kv in attrs or []:
        if not isinstance(kv, dict) or "key" not in kv:
            continue
        val = anyvalue(kv.get("value"))
        if isinstance(val, dict):
            flatten(val, kv["key"], out)
        elif isinstance(val, list):
            out[kv["key"]] = dumps(val)
        else:
            out[kv["key"]] = val
    return out


def _unwrap(obj: Any) -> Any:
    """Jaeger api/v3 ``{"result": ...}``, Tempo ``{"trace": ...}`` / ``{"batches": [...]}``."""
    if isinstance(obj, dict):
        if "result" in obj and isinstance(obj["result"], dict):
            obj = obj["result"]
        if "trace" in obj and isinstance(obj["trace"], dict):
            obj = obj["trace"]
        if "batches" in obj and "resourceSpans" not in obj:
            obj = {"resourceSpans": obj["batches"]}
    return obj


def _merge(row: dict, attrs: dict, res: dict, scope: dict) -> None:
    """Add attribute, resource and scope columns (a taken name gets an ``attributes.``/``resource.`` prefix)."""
    add_columns(row, attrs, "attributes")
    add_columns(row, res, "resource")
    add_columns(row, scope, "scope")


def _span(sp: dict, res: dict, scope: dict) -> dict[str, Any]:
    start, end = to_int(sp.get("startTimeUnixNano")), to_int(sp.get("endTimeUnixNano"))
    status, message = otlp_status(sp.get("status"))
    row: dict[str, Any] = {
        "trace_id": hex_id(sp.get("traceId")),
        "span_id": hex_id(sp.get("spanId")),
        "parent_span_id": nonzero_id(sp.get("parentSpanId")),
        "name": sp.get("name"),
        "service": res.get("service.name"),
        "kind": span_kind(sp.get("kind")),
        "start": start or None,
        "end": end or None,
        "duration_ms": (end - start) / 1e6 if start and end else None,
        "status": status,
        "status_message": message,
    }
    _merge(row, attributes(sp.get("attributes")), res, scope)
    row["links"] = [
        {"trace_id": hex_id(lk.get("traceId")), "span_id": hex_id(lk.get("spanId")), "ref_type": "LINK",
         "attributes": dumps(attributes(lk.get("attributes")))}
        for lk in sp.get("links") or [] if isinstance(lk, dict)
    ]
    row["events"] = [
        {"time": to_int(ev.get("timeUnixNano")), "name": ev.get("name"),
         "attributes": dumps(attributes(ev.get("attributes")))}
        for ev in sp.get("events") or [] if isinstance(ev, dict)
    ]
    return row


def _log(rec: dict, res: dict, scope: dict) -> dict[str, Any]:
    t = to_int(rec.get("timeUnixNano")) or to_int(rec.get("observedTimeUnixNano"))
    text = rec.get("severityText") or None
    level = schema.level_from_number(_int(rec.get("severityNumber")), scheme="otel")
    if level is None and text is not None:
        level = schema.level_from_text(text)
    body = anyvalue(rec.get("body"))
    row: dict[str, Any] = {
        "time": t,
        "level": level,
        "event": body if isinstance(body, str) or body is None else dumps(body),
        "service": res.get("service.name"),
        "trace_id": nonzero_id(rec.get("traceId")),
        "span_id": nonzero_id(rec.get("spanId")),
    }
    if text is not None and text != level:
        row["level_original"] = text
    _merge(row, attributes(rec.get("attributes")), res, scope)
    return row


def _labels(dp: dict, res: dict) -> dict[str, Any]:
    out = {k: (v if isinstance(v, str) or v is None else dumps(v)) for k, v in attributes(dp.get("attributes")).items()}
    out.update({k: (v if isinstance(v, str) or v is None else dumps(v)) for k, v in res.items()})
    return out


def _point_time(t: Any) -> int | str | None:
    """A data point's time: the int, or the text of a value that is no integer (rejected in :func:`_rows`)."""
    n = _int(t)
    return str(t)[:40] if n is None and t not in (None, "") else n


def _row(t: Any, name: str, value: Any, labels: dict, **extra: str) -> dict[str, Any]:
    return {"time": _point_time(t), "metric": name, "value": to_float(value), **labels, **extra}


def _cumulative(name: str, t: Any, labels: dict, bounds: list[float], counts: list[int], total: Any) -> list[dict]:
    rows, acc = [], 0
    for b, c in zip(bounds, counts):
        acc += c
        rows.append(_row(t, f"{name}_bucket", acc, labels, le=format_le(b)))
    rows.append(_row(t, f"{name}_bucket", _int(total) if total is not None else acc, labels, le="+Inf"))
    return rows


def _pow2(x: float) -> float:
    try:
        return 2.0**x
    except OverflowError:
        return math.inf


def _exp_side(dp: dict, side: str, scale: int) -> dict[int, int]:
    """One side's bucket counts by index at ``scale`` (<= the point's own: a coarser bucket is the union
    of 2**d finer ones, index ``i >> d``, so merging is exact)."""
    b = dp.get(side) or {}
    off, d = int(b.get("offset") or 0), int(dp.get("scale") or 0) - scale
    out: dict[int, int] = {}
    for i, c in enumerate(b.get("bucketCounts") or []):
        j = (off + i) >> d
        out[j] = out.get(j, 0) + (_int(c) or 0)
    return out


def _check_exponential(dp: dict) -> None:
    """Raise ValueError for an exponential histogram point obsnb cannot draw (its metric is then rejected)."""
    scale = int(dp.get("scale") or 0)
    if not -10 <= scale <= 20:  # the range OTLP defines
        raise ValueError(f"exponential histogram scale {scale} outside -10..20")
    for side in ("negative", "positive"):
        b = dp.get(side) or {}
        if abs(int(b.get("offset") or 0)) > 2**31:  # OTLP's sint32
            raise ValueError(f"exponential histogram {side} offset {b.get('offset')} is not a 32-bit integer")


def _render_exponential(rows: list[dict], reject: Any = None) -> list[dict]:
    """Exponential histogram points -> ``x_bucket`` rows, all points of a series on one bucket layout.

    The layout is Prometheus's for rate(): the series' smallest scale, and the union of the bucket
    index ranges of its points, each point holding 0 where it has no bucket (none observed there). So
    every ``le`` series has a sample at every time and ``ob.increase`` works on each, as for a classic
    histogram. Bucket i covers (base^i, base^(i+1)] (negative side mirrored), base = 2^(2^-scale).
    """
    exp = [r for r in rows if "_exp" in r]
    if not exp:
        return rows
    groups: dict[tuple, list[dict]] = {}
    for r in exp:
        key = tuple(sorted((k, str(v)) for k, v in r.items() if k not in ("time", "_exp", "_line")))
        groups.setdefault(key, []).append(r)
    rendered: dict[int, list[dict]] = {}
    for group in groups.values():
        scale = min(int(r["_exp"].get("scale") or 0) for r in group)
        sides = {side: [_exp_side(r["_exp"], side, scale) for r in group] for side in ("negative", "positive")}
        ranges = {}
        for side, per_point in sides.items():
            idx = [i for counts in per_point for i in counts]
            ranges[side] = range(min(idx), max(idx) + 1) if idx else range(0)
        widest = max(len(r) for r in ranges.values())
        if widest > MAX_EXP_BUCKETS:
            for r in group:
                reason = (f"OTLP metric {r['metric'][: -len('_bucket')]!r}: exponential histogram series spans "
                          f"{widest} buckets (more than {MAX_EXP_BUCKETS}): not drawn")
                if reject is not None:
                    reject(r.get("_line"), reason, dumps(r["_exp"]))
                rendered[id(r)] = []
            continue
        width = 2.0**-scale
        for k, r in enumerate(group):
            dp, neg, pos = r["_exp"], sides["negative"][k], sides["positive"][k]
            bounds = [-_pow2(i * width) for i in reversed(ranges["negative"])]  # most negative first
            counts = [neg.get(i, 0) for i in reversed(ranges["negative"])]
            bounds.append(float(dp.get("zeroThreshold") or 0.0))
            counts.append(_int(dp.get("zeroCount")) or 0)
            bounds += [_pow2((i + 1) * width) for i in ranges["positive"]]
            counts += [pos.get(i, 0) for i in ranges["positive"]]
            labels = {c: v for c, v in r.items() if c not in ("time", "metric", "_exp", "_line")}
            out = _cumulative(r["metric"][: -len("_bucket")], r["time"], labels, bounds, counts, dp.get("count"))
            for row in out:
                row["_line"] = r.get("_line")
            rendered[id(r)] = out
    result: list[dict] = []
    for r in rows:
        if "_exp" in r:
            result.extend(rendered[id(r)])
        else:
            result.append(r)
    return result


_TEMPORALITY = {1: "delta", 2: "cumulative", "AGGREGATION_TEMPORALITY_DELTA": "delta",
                "AGGREGATION_TEMPORALITY_CUMULATIVE": "cumulative"}


def _kind(m: dict, key: str) -> dict[str, Any]:
    """``_type`` and ``_temporality`` of an OTLP metric's ``key`` (sum, gauge, histogram, ...) data."""
    body = m.get(key) or {}
    if key == "sum":
        kind = "counter" if body.get("isMonotonic") in (True, "true") else "gauge"
    else:
        kind = {"gauge": "gauge", "summary": "summary"}.get(key, "histogram")
    t = body.get("aggregationTemporality")
    return {"_type": kind, "_temporality": _TEMPORALITY.get(to_int(t) if str(t).isdigit() else t)}


def _metric(m: dict, res: dict) -> list[dict]:
    name = m.get("name")
    rows: list[dict] = []
    for key in ("sum", "gauge"):
        for dp in (m.get(key) or {}).get("dataPoints") or []:
            v = dp.get("asDouble", dp.get("asInt"))
            rows.append(_row(dp.get("timeUnixNano"), name, v, _labels(dp, res), **_kind(m, key)))
    for key in ("histogram", "exponentialHistogram"):
        for dp in (m.get(key) or {}).get("dataPoints") or []:
            labels = {**_labels(dp, res), **_kind(m, key)}
            t = dp.get("timeUnixNano")
            if key == "histogram":
                bounds = [to_float(b) for b in dp.get("explicitBounds") or []]
                counts = [_int(c) or 0 for c in dp.get("bucketCounts") or []]
                rows += _cumulative(name, t, labels, bounds, counts, dp.get("count"))
            else:  # rendered once the series' other points are known (_render_exponential)
                _check_exponential(dp)
                rows.append({"time": _point_time(t), "metric": f"{name}_bucket", "_exp": dp, **labels})
            if "sum" in dp:
                rows.append(_row(t, f"{name}_sum", dp["sum"], labels))
            rows.append(_row(t, f"{name}_count", dp.get("count", 0), labels))
    for dp in (m.get("summary") or {}).get("dataPoints") or []:
        labels = {**_labels(dp, res), **_kind(m, "summary")}
        t = dp.get("timeUnixNano")
        for q in dp.get("quantileValues") or []:
            quantile = format_le(to_float(q.get("quantile")) or 0.0)
            rows.append(_row(t, name, q.get("value", 0.0), labels, quantile=quantile))
        rows.append(_row(t, f"{name}_sum", dp.get("sum", 0.0), labels))
        rows.append(_row(t, f"{name}_count", dp.get("count", 0), labels))
    return rows


def _rows(kind: str, item: Any, res: dict, scope: dict) -> tuple[list[dict], list[str]]:
    """One OTLP span / log record / metric -> (rows, reasons for rows that could not be made)."""
    if not isinstance(item, dict):
        return [], [f"OTLP {kind} record is not an object"]
    try:
        return _checked_rows(kind, item, res, scope)
    except _MALFORMED as exc:  # e.g. a scale or bucket offset that is not a number
        return [], [f"malformed OTLP {kind} record ({type(exc).__name__}: {str(exc)[:200]})"]


def _checked_rows(kind: str, item: dict, res: dict, scope: dict) -> tuple[list[dict], list[str]]:
    if kind == "spans":
        if not item.get("traceId") or not item.get("spanId"):
            return [], ["OTLP span without traceId or spanId"]
        events = [ev for ev in item.get("events") or [] if isinstance(ev, dict)]
        why = _time_problem(item, "startTimeUnixNano", "endTimeUnixNano") or next(
            (f"event {why}" for why in (_time_problem(ev, "timeUnixNano") for ev in events) if why), None)
        return ([], [f"OTLP span {why}"]) if why else ([_span(item, res, scope)], [])
    if kind == "logs":
        why = _time_problem(item, "timeUnixNano", "observedTimeUnixNano")
        if why:
            return [], [f"OTLP log record {why}"]
        if not (_int(item.get("timeUnixNano")) or _int(item.get("observedTimeUnixNano"))):
            return [], ["OTLP log record without timeUnixNano or observedTimeUnixNano"]
        return [_log(item, res, scope)], []
    rows = _metric(item, res)
    name = item.get("name")
    # a sample that cannot be placed in time is rejected: one reject per row it would have made
    placed = [isinstance(r["time"], int) and r["time"] != 0 and _INT64[0] <= r["time"] <= _INT64[1] for r in rows]
    reasons = [f"OTLP metric {name!r}: " + (f"timeUnixNano {str(r['time'])[:40]!r} is not a nanosecond time"
                                           f" (out of range or not an integer)" if r["time"] else
                                           "data point without timeUnixNano")
               for r, ok in zip(rows, placed) if not ok]
    rows = [r for r, ok in zip(rows, placed) if ok]
    if not rows and not any(k in item for k in _METRIC_TYPES):  # a metric with no data points holds no record
        reasons.append(f"OTLP metric {name!r} of a type obsnb does not read (known: {', '.join(_METRIC_TYPES)})")
    return rows, reasons


def _objects(items: Any, source: str, line: int | None, ctx: ReadContext, what: str) -> list[dict]:
    """The objects of an OTLP list; a list that is no list, or an entry that is no object, is one rejected record."""
    if not items:
        return []
    if not isinstance(items, list):
        items = [items]
    for bad in (x for x in items if not isinstance(x, dict)):
        ctx.reject(source, line or 1, f"OTLP {what} entry is not an object", dumps(bad)[:2000])
    return [x for x in items if isinstance(x, dict)]


def otlp_rows(obj: Any, source: str, ctx: ReadContext, line: int | None = None,
              out: dict[str, list[dict]] | None = None) -> dict[str, list[dict]]:
    """The rows (dicts) of one OTLP JSON document by kind, added to ``out``; bad records rejected via ``ctx``."""
    out = out if out is not None else {"spans": [], "logs": [], "metrics": []}
    obj = _unwrap(obj)
    if not isinstance(obj, dict) or not any(k in obj for k, _ in _SIGNALS):
        ctx.reject(source, line or 1, "not an OTLP JSON document (no resourceSpans, resourceLogs or resourceMetrics)",
                   dumps(obj)[:2000] if obj is not None else None)
        return out
    n = 0
    for key, kind in _SIGNALS:
        for rs in _objects(obj.get(key), source, line, ctx, key):
            res = attributes(((rs.get("resource") or {}) if isinstance(rs.get("resource"), dict) else {}).get("attributes"))
            for ss in _objects(next((rs[s] for s in _SCOPES[kind] if s in rs), []), source, line, ctx, _SCOPES[kind][0]):
                sc = ss.get("scope") or ss.get("instrumentationLibrary") or {}
                sc = sc if isinstance(sc, dict) else {}
                scope = {k: v for k, v in (("otel.scope.name", sc.get("name")),
                                           ("otel.scope.version", sc.get("version"))) if v}
                items = ss.get(_ITEMS[kind]) or []
                for item in items if isinstance(items, list) else [items]:
                    n += 1
                    where = line if line is not None else n
                    rows, reasons = _rows(kind, item, res, scope)
                    for reason in reasons:
                        ctx.reject(source, where, reason, dumps(item))
                    for r in rows:
                        r["_line"] = where
                    out[kind].extend(rows)
    return out


def _columnar(docs: list[tuple[Any, int | None]], source: str) -> list[Part] | None:
    """The spans or logs part built on columns (:mod:`obsnb.sources.otlp_columnar`), or None when the documents need the
    per-record reader (a record to reject, a shape it does not build): the same table either way."""
    try:
        return [Part(*otlp_table([(_unwrap(obj), line) for obj, line in docs], source, attributes))]
    except (Unsupported, pa.ArrowException, OverflowError):
        return None


def parse_otlp_document(obj: dict, source: str, ctx: ReadContext, line: int | None = None) -> list[Part]:
    """One decoded OTLP JSON document (traces, logs and/or metrics) -> canonical parts.

    Also takes Jaeger api/v3 ``{"result": {...}}`` and Tempo trace-by-id answers. ``line`` is the
    line the document starts on (one request per line); without it ``_line`` is the record ordinal.
    Records without the ids or times they need are rejected through ``ctx``.
    """
    fast = _columnar([(obj, line)], source)
    if fast is not None:
        return fast
    out = otlp_rows(obj, source, ctx, line)
    out["metrics"] = _render_exponential(out["metrics"], lambda ln, why, raw: ctx.reject(source, ln, why, raw))
    return parts_from_rows(out, source)


class OtlpJson(FileFormat):
    """OTLP JSON files (``.otlp.json``, the collector file exporter's ``.json`` lines)."""

    name = "otlp_json"
    kinds = ("spans", "logs", "metrics")
    extensions = (".otlp.json", ".otlp.jsonl")

    @classmethod
    def sniff(cls, head: bytes, path: str) -> float:
        m = _SNIFF.search(head)
        if not m:
            return 0.0
        if m.group(1) == b"batches":
            return 0.6 if b'"scopeSpans"' in head or b'"instrumentationLibrarySpans"' in head else 0.0
        return 0.9

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        docs = list(iter_json_docs(src, ctx))
        fast = _columnar(docs, src.path)
        if fast is not None:
            yield from fast
            return
        out: dict[str, list[dict]] = {"spans": [], "logs": [], "metrics": []}
        for obj, line in docs:  # rows of every request, one table per kind
            otlp_rows(obj, src.path, ctx, line, out)
        out["metrics"] = _render_exponential(out["metrics"], lambda ln, why, raw: ctx.reject(src.path, ln, why, raw))
        yield from parts_from_rows(out, src.path)
