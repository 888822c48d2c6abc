"""OTLP JSON spans and logs, columnar: the parsed documents' records become one Arrow struct array (pyarrow's C++
walks the Python objects once), then ids, times, kinds, status, severities and attributes are computed on
columns, not record by record.

It builds exactly the table :mod:`obsnb.sources.otlp_json`'s per-record reader builds (same columns, order, types
and values). It takes only files it can build that way: spans-only or logs-only requests whose records all have
hex ids, integer times in range, no span links or events, a string log body, and attributes of string, int,
double or bool values (no duplicate keys). Anything else (a record to reject, a base64 id, a kvlist attribute or
body, value types a column would have to render as JSON text) raises :class:`Unsupported` and the caller reads
the file the per-record way, so accounting and rejections never depend on which path ran. Metrics are always
read per record.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import schema
from ._common import EVENT_TYPE, LINK_TYPE, LOG_TYPES, SPAN_TYPES, otlp_status, source_column, span_kind

__all__ = ["Unsupported", "spans_table", "logs_table", "otlp_table"]

_CANONICAL = ("trace_id", "span_id", "parent_span_id", "name", "service", "kind", "start", "end", "duration_ms",
              "status", "status_message")
_TAKEN = frozenset(_CANONICAL) | {"links", "events", "_line", "_source"}
_LOG_TAKEN = frozenset(("time", "level", "event", "service", "trace_id", "span_id", "links", "events", "_line", "_source"))
_PREFIXES = ("attributes.", "resource.", "scope.")
_SCOPE_KEYS = ("otel.scope.name", "otel.scope.version")
_HEX = r"^(?:[0-9a-fA-F]{2})+$"
_INT_TEXT = r"^-?\d{1,19}$"
_VALUE_KINDS = ("stringValue", "intValue", "doubleValue", "boolValue")


class Unsupported(Exception):
    """The documents hold something only the per-span reader builds exactly."""


def _need(ok: bool, why: str) -> None:
    if not ok:
        raise Unsupported(why)


def _all(mask: pa.Array) -> bool:
    return bool(pc.all(pc.fill_null(mask, True)).as_py()) if len(mask) else True


def _field(arr: pa.StructArray, name: str) -> pa.Array | None:
    i = arr.type.get_field_index(name)
    return pc.struct_field(arr, [i]) if i >= 0 else None  # a null parent makes the child null


def _map_unique(arr: pa.Array, fn: Callable[[Any], Any], dtype: pa.DataType) -> pa.Array:
    """``fn`` over the distinct values of ``arr`` (kinds, status codes: a handful), taken back to every row."""
    uniq = pc.unique(arr)
    vals = pa.array([fn(v) for v in uniq.to_pylist()], dtype)
    return pc.take(vals, pc.index_in(arr, value_set=uniq))


def _ids(arr: pa.Array | None, n: int, *, required: bool) -> pa.Array:
    """Hex ids lower-cased; empty or all-zero (``required=False``) become null. Non-hex ids (base64) are not taken."""
    if arr is None or pa.types.is_null(arr.type):
        _need(not required, "span without ids")
        return pa.nulls(n, pa.string())
    _need(pa.types.is_string(arr.type), "ids are not strings")
    empty = pc.equal(arr, "")
    if required:
        _need(arr.null_count == 0 and not pc.any(empty).as_py(), "span without traceId or spanId")
    text = pc.if_else(empty, pa.scalar(None, pa.string()), arr)
    lengths = pc.utf8_length(text)
    _need(_all(pc.match_substring_regex(text, _HEX)) and not pc.any(pc.is_in(lengths, pa.array([12, 24]))).as_py(),
          "ids that may be base64")
    low = pc.utf8_lower(text)
    if not required:
        low = pc.if_else(pc.match_substring_regex(low, r"^0+$"), pa.scalar(None, pa.string()), low)
    return low


def _times(arr: pa.Array | None, n: int) -> pa.Array:
    """Nanosecond times (text or JSON integers) as int64, 0 as null; anything else is not taken."""
    if arr is None or pa.types.is_null(arr.type):
        return pa.nulls(n, pa.int64())
    if pa.types.is_string(arr.type):
        _need(_all(pc.match_substring_regex(arr, _INT_TEXT)), "a time that is not an integer")
        arr = pc.cast(arr, pa.int64())  # raises (taken as unsupported) past int64
    _need(pa.types.is_integer(arr.type), "a time that is not an integer")
    arr = arr.cast(pa.int64())
    return pc.if_else(pc.equal(arr, 0), pa.scalar(None, pa.int64()), arr)


def _no_list(arr: pa.Array | None, what: str) -> None:
    if arr is None or pa.types.is_null(arr.type):
        return
    _need(pa.types.is_list(arr.type) and _all(pc.equal(pc.list_value_length(arr), 0)), f"spans with {what}")


def _status(arr: pa.Array | None, n: int) -> tuple[pa.Array, pa.Array]:
    if arr is None or pa.types.is_null(arr.type):
        return pa.array(["UNSET"] * n, pa.string()), pa.nulls(n, pa.string())
    _need(pa.types.is_struct(arr.type), "a status that is not an object")  # a null one is UNSET, as {} is
    code, msg = _field(arr, "code"), _field(arr, "message")
    if code is None or pa.types.is_null(code.type):
        status = pa.array(["UNSET"] * n, pa.string())
    else:
        _need(pa.types.is_integer(code.type) or pa.types.is_string(code.type), "a status code of another type")
        status = _map_unique(code, lambda c: otlp_status({"code": c})[0], pa.string())
    if msg is None or pa.types.is_null(msg.type):
        return status, pa.nulls(n, pa.string())
    _need(pa.types.is_string(msg.type), "a status message that is not text")
    return status, pc.if_else(pc.equal(msg, ""), pa.scalar(None, pa.string()), msg)


def _attribute_values(vals: pa.Array) -> list[tuple[np.ndarray, pa.Array]]:
    """The typed values of flattened attribute entries: (entry positions, values) per value kind."""
    m = len(vals)
    if pa.types.is_null(vals.type):
        return [(np.arange(m), pa.nulls(m))]
    _need(pa.types.is_struct(vals.type), "an attribute value that is not an AnyValue")
    names = [vals.type.field(i).name for i in range(vals.type.num_fields)]
    _need(set(names) <= set(_VALUE_KINDS), "an attribute value of a kind read per span (array, kvlist, bytes)")
    valid = pc.fill_null(pc.is_valid(vals), False).to_numpy(zero_copy_only=False)
    count = np.zeros(m, np.int64)
    out = []
    for name in names:
        col = vals.field(names.index(name))
        if pa.types.is_null(col.type):
            continue
        has = valid & pc.is_valid(col).to_numpy(zero_copy_only=False)
        count += has
        idx = np.flatnonzero(has)
        v = col.take(pa.array(idx))
        if name == "stringValue":
            _need(pa.types.is_string(v.type), "a stringValue that is not text")
        elif name == "boolValue":
            _need(pa.types.is_boolean(v.type), "a boolValue that is not a boolean")
        elif name == "intValue":
            if pa.types.is_string(v.type):
                _need(_all(pc.match_substring_regex(v, r"^-?\d{1,18}$")), "an intValue that is no 64-bit integer")
                v = pc.cast(v, pa.int64())
            _need(pa.types.is_integer(v.type), "an intValue that is no integer")
            v = v.cast(pa.int64())
        else:
            _need(pa.types.is_integer(v.type) or pa.types.is_floating(v.type), "a doubleValue that is no number")
            v = v.cast(pa.float64())
        out.append((idx, v))
    _need(not (count > 1).any(), "an AnyValue with several kinds")
    none = np.flatnonzero(count == 0)
    if len(none):
        out.append((none, pa.nulls(len(none))))
    return out


def _combine(pieces: list[tuple[np.ndarray, pa.Array]], n: int) -> pa.Array:
    """One column from (rows, values) pieces, typed as the per-span reader's inference types it: one type as is,
    integers with floats as float64, integers / booleans with text as text; other mixes are not taken."""
    kinds = {p[1].type for p in pieces if not pa.types.is_null(p[1].type)}
    if not kinds:
        target = pa.string()
    elif len(kinds) == 1:
        target = kinds.pop()
    elif kinds == {pa.int64(), pa.float64()}:
        target = pa.float64()
    else:
        _need(pa.float64() not in kinds and kinds <= {pa.int64(), pa.bool_(), pa.string()},
              "a column mixing numbers and text the per-span reader renders as JSON text")
        _need(pa.bool_() not in kinds or pa.string() in kinds, "a column mixing booleans and integers")
        target = pa.string()
    rows = np.concatenate([p[0] for p in pieces])
    values = pa.concat_arrays([p[1].cast(target) for p in pieces])
    where = np.full(n, -1, np.int64)
    where[rows] = np.arange(len(rows))
    return values.take(pa.array(where, mask=where < 0))


def _scalar(v: Any) -> pa.Array:
    _need(v is None or isinstance(v, (str, bool, float)) or (isinstance(v, int) and -2**63 <= v < 2**63),
          "a resource value of another type")
    return pa.array([v]) if v is not None else pa.nulls(1)


_KEYS = {"spans": ("resourceSpans", ("scopeSpans", "instrumentationLibrarySpans"), "spans"),
         "logs": ("resourceLogs", ("scopeLogs", "instrumentationLibraryLogs"), "logRecords")}
_OTHER = ("resourceSpans", "resourceLogs", "resourceMetrics")


def _segments(docs: list[tuple[Any, int | None]], attributes: Callable[[Any], dict], kind: str) -> tuple[list, list]:
    """The documents' scopes in order: (record count, resource attrs, scope columns, line, first ordinal), and the
    records."""
    top, scope_keys, item_key = _KEYS[kind]
    segs, records = [], []
    for obj, line in docs:
        _need(isinstance(obj, dict) and isinstance(obj.get(top), list) and not any(k in obj for k in _OTHER if k != top),
              f"not a {kind}-only OTLP request")
        ordinal = 0
        for rs in obj[top]:
            _need(isinstance(rs, dict), f"a {top} entry that is not an object")
            resource = rs.get("resource")
            res = attributes(((resource or {}) if isinstance(resource, dict) else {}).get("attributes"))
            scopes = next((rs[s] for s in scope_keys if s in rs), [])
            if not scopes:
                continue
            _need(isinstance(scopes, list) and all(isinstance(s, dict) for s in scopes), "scopes that are not objects")
            for ss in scopes:
                sc = ss.get("scope") or ss.get("instrumentationLibrary") or {}
                sc = sc if isinstance(sc, dict) else {}
                scope = {k: v for k, v in (("otel.scope.name", sc.get("name")), ("otel.scope.version", sc.get("version")))
                         if v}
                items = ss.get(item_key) or []
                _need(isinstance(items, list), f"{item_key} that are not a list")
                segs.append((len(items), res, scope, line, ordinal))
                ordinal += len(items)
                records.extend(items)
    return segs, records


class _Records:
    """The records of a file as one struct array, with where each scope's records start and their ``_line``."""

    def __init__(self, docs: list[tuple[Any, int | None]], attributes: Callable[[Any], dict], kind: str):
        self.segs, items = _segments(docs, attributes, kind)
        _need(bool(items), "no records")
        self.arr = pa.array(items)  # C++ walk of the parsed objects; mixed shapes raise ArrowInvalid / ArrowTypeError
        _need(pa.types.is_struct(self.arr.type) and self.arr.null_count == 0, "records that are not objects")
        self.n = n = len(self.arr)
        sizes = np.array([s[0] for s in self.segs], np.int64)
        self.seg_of = np.repeat(np.arange(len(self.segs)), sizes)
        self.first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        lines = np.array([(s[3] if s[3] is not None else 0) for s in self.segs], np.int64)
        ordinal = np.arange(n) - self.first[self.seg_of] + np.array([s[4] for s in self.segs], np.int64)[self.seg_of] + 1
        has_line = np.array([s[3] is not None for s in self.segs])[self.seg_of]
        self.line = pa.array(np.where(has_line, lines[self.seg_of], ordinal))
        services = [s[1].get("service.name") for s in self.segs]
        _need(all(v is None or isinstance(v, str) for v in services), "a service.name that is not text")
        self.service = pa.array(services, pa.string()).take(pa.array(self.seg_of))

    def field(self, name: str) -> pa.Array | None:
        return _field(self.arr, name)

    def table(self, cols: dict[str, pa.Array], types: dict[str, pa.DataType], taken: frozenset[str],
              source: str, extra: dict | None = None, order: dict | None = None) -> dict[str, pa.Array]:
        """``cols`` (the canonical columns) in ``types``' order, then the attribute, resource and scope columns in
        the order the per-record reader first sees them (``extra``/``order``: columns already added)."""
        extra, order = (extra or {}), (order or {})
        _add_attributes(self, taken, extra, order)
        table = {k: cols[k] for k in types if k not in ("links", "events")}
        for column in sorted(extra, key=order.__getitem__):
            _need(column not in table, "a column name taken twice")
            table[column] = _combine(extra[column], self.n)
        return table


def _add_attributes(rec: _Records, taken_names: frozenset[str], extra: dict, order: dict) -> None:
    def add(column: str, rows: np.ndarray, values: pa.Array, key: tuple[int, int, int] | None = None) -> None:
        extra.setdefault(column, []).append((rows, values))
        if key is not None:
            order[column] = min(order.get(column, key), key)

    attrs = rec.field("attributes")
    code_of: dict[str, int] = {}  # an attribute column -> its code in `codes`
    codes = attr_rows = np.array([], np.int64)
    if attrs is not None and not pa.types.is_null(attrs.type):
        _need(pa.types.is_list(attrs.type), "attributes that are not a list")
        entries = pc.list_flatten(attrs)
        attr_rows = pc.list_parent_indices(attrs).to_numpy().astype(np.int64)
        if len(entries):
            _need(pa.types.is_struct(entries.type) and entries.null_count == 0, "attribute entries that are not objects")
            keys = _field(entries, "key")
            _need(keys is not None and pa.types.is_string(keys.type) and keys.null_count == 0, "attributes without a key")
            offsets = attrs.offsets.to_numpy()[:-1] - attrs.offsets[0].as_py()
            pos = np.arange(len(entries)) - offsets[attr_rows]
            uniq = pc.unique(keys).to_pylist()
            _need(not any(k.startswith(_PREFIXES) or k in _SCOPE_KEYS or k == "level_original" for k in uniq),
                  "an attribute key obsnb prefixes")
            code_of = {(f"attributes.{k}" if k in taken_names else k): i for i, k in enumerate(uniq)}
            codes = pc.index_in(keys, value_set=pa.array(uniq, pa.string())).to_numpy().astype(np.int64)
            value = _field(entries, "value")
            typed = _attribute_values(value if value is not None else pa.nulls(len(entries)))
            for col, c in code_of.items():
                at = codes == c
                # entries come in row order: a key twice in one record is a repeated row among its entries
                _need(not (np.diff(attr_rows[at]) == 0).any(), "duplicate attribute keys in a record")
                for idx, v in typed:
                    sel = at[idx]
                    if sel.any():
                        add(col, attr_rows[idx[sel]], v.filter(pa.array(sel)))
                hit = np.flatnonzero(at)  # entries in row order, so the first is the first row's
                order[col] = (int(attr_rows[hit[0]]), 0, int(pos[hit[0]]))

    for s, (count, res, scope, _, _) in enumerate(rec.segs):
        if not count:
            continue
        rows = np.arange(rec.first[s], rec.first[s] + count)
        for p, (k, v) in enumerate(res.items()):
            _need(not k.startswith(_PREFIXES) and k not in _SCOPE_KEYS and k != "level_original",
                  "a resource key obsnb prefixes")
            taken = np.isin(rows, attr_rows[codes == code_of[k]]) if k in code_of else np.zeros(count, bool)
            if k in taken_names:
                taken[:] = True
            for column, sel in ((f"resource.{k}", taken), (k, ~taken)):
                if sel.any():
                    r = rows[sel]
                    add(column, r, _scalar(v).take(pa.array(np.zeros(len(r), np.int64))), (int(r[0]), 1, p))
        for p, (k, v) in enumerate(scope.items()):
            _need(isinstance(v, str), "a scope name that is not text")
            add(k, rows, pa.array([v] * count, pa.string()), (int(rows[0]), 2, p))


def spans_table(docs: list[tuple[Any, int | None]], source: str, attributes: Callable[[Any], dict]) -> pa.Table:
    """The spans table of unwrapped OTLP documents ``(document, line)``; raises :class:`Unsupported` (or an Arrow
    error) for documents the per-span reader must read. ``attributes`` reads a resource's attribute list (the
    per-span reader's own function: a few per file)."""
    rec = _Records(docs, attributes, "spans")
    n = rec.n
    _no_list(rec.field("links"), "links")
    _no_list(rec.field("events"), "events")
    for key in ("name", "kind"):
        f = rec.field(key)
        _need(f is None or not pa.types.is_nested(f.type), f"a {key} that is not a value")
    cols: dict[str, pa.Array] = {"trace_id": _ids(rec.field("traceId"), n, required=True),
                                 "span_id": _ids(rec.field("spanId"), n, required=True),
                                 "parent_span_id": _ids(rec.field("parentSpanId"), n, required=False)}
    name = rec.field("name")
    _need(name is None or pa.types.is_string(name.type) or pa.types.is_null(name.type), "a name that is not text")
    cols["name"] = pa.nulls(n, pa.string()) if name is None else name.cast(pa.string())
    cols["service"] = rec.service
    kind = rec.field("kind")
    cols["kind"] = pa.nulls(n, pa.string()) if kind is None or pa.types.is_null(kind.type) \
        else _map_unique(kind, span_kind, pa.string())
    start, end = _times(rec.field("startTimeUnixNano"), n), _times(rec.field("endTimeUnixNano"), n)
    cols["start"], cols["end"] = start, end
    cols["duration_ms"] = pc.divide(pc.subtract_checked(end, start).cast(pa.float64()), 1e6)
    cols["status"], cols["status_message"] = _status(rec.field("status"), n)
    cols["_line"] = rec.line
    table = rec.table(cols, SPAN_TYPES, _TAKEN, source)
    offsets = pa.array(np.zeros(n + 1, np.int32))
    table["links"] = pa.ListArray.from_arrays(offsets, pa.array([], LINK_TYPE.value_type), type=LINK_TYPE)
    table["events"] = pa.ListArray.from_arrays(offsets, pa.array([], EVENT_TYPE.value_type), type=EVENT_TYPE)
    table["_source"] = source_column(source, n)
    return pa.table(table)


def _severity(rec: _Records) -> tuple[pa.Array, pa.Array]:
    """``level`` from severityNumber (OpenTelemetry's scale), else severityText; the text ("" as none)."""
    n = rec.n
    text = rec.field("severityText")
    if text is None or pa.types.is_null(text.type):
        text = pa.nulls(n, pa.string())
    _need(pa.types.is_string(text.type), "a severityText that is not text")
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    num = rec.field("severityNumber")
    if num is None or pa.types.is_null(num.type):
        by_number = pa.nulls(n, pa.string())
    else:
        if pa.types.is_string(num.type):
            _need(_all(pc.match_substring_regex(num, r"^-?\d{1,9}$")), "a severityNumber that is not an integer")
            num = pc.cast(num, pa.int64())
        _need(pa.types.is_integer(num.type), "a severityNumber that is not an integer")
        by_number = _map_unique(num, lambda v: schema.level_from_number(v, scheme="otel"), pa.string())
    return pc.coalesce(by_number, _map_unique(text, schema.level_from_text, pa.string())), text


def logs_table(docs: list[tuple[Any, int | None]], source: str, attributes: Callable[[Any], dict]) -> pa.Table:
    """The logs table of unwrapped OTLP documents, as :func:`spans_table` (a string body only)."""
    rec = _Records(docs, attributes, "logs")
    n = rec.n
    t = pc.coalesce(_times(rec.field("timeUnixNano"), n), _times(rec.field("observedTimeUnixNano"), n))
    _need(t.null_count == 0, "a log record without a time (rejected)")
    level, text = _severity(rec)
    body = rec.field("body")
    if body is None or pa.types.is_null(body.type):
        event = pa.nulls(n, pa.string())
    else:
        _need(pa.types.is_struct(body.type) and [body.type.field(i).name for i in range(body.type.num_fields)]
              == ["stringValue"], "a body that is not a string")
        event = _field(body, "stringValue")
        _need(pa.types.is_string(event.type) or pa.types.is_null(event.type), "a body that is not a string")
    cols = {"time": t, "level": level, "event": event.cast(pa.string()), "service": rec.service,
            "trace_id": _ids(rec.field("traceId"), n, required=False),
            "span_id": _ids(rec.field("spanId"), n, required=False), "_line": rec.line}
    differs = pc.fill_null(pc.and_kleene(pc.is_valid(text), pc.invert(pc.equal(text, level))), True)
    differs = pc.and_(differs, pc.is_valid(text))
    extra, order = {}, {}
    rows = np.flatnonzero(differs.to_numpy(zero_copy_only=False))
    if len(rows):
        extra["level_original"] = [(rows, text.take(pa.array(rows)))]
        order["level_original"] = (int(rows[0]), -1, 0)
    table = rec.table(cols, LOG_TYPES, _LOG_TAKEN, source, extra, order)
    table["_source"] = source_column(source, n)
    return pa.table(table)


def otlp_table(docs: list[tuple[Any, int | None]], source: str, attributes: Callable[[Any], dict]) -> tuple[str, pa.Table]:
    """(kind, table) of a file whose documents are all spans or all logs requests (else :class:`Unsupported`)."""
    first = docs[0][0] if docs else None
    kind = "logs" if isinstance(first, dict) and "resourceLogs" in first else "spans"
    return kind, (logs_table if kind == "logs" else spans_table)(docs, source, attributes)
