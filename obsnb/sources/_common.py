"""Helpers shared by the file readers: JSON documents, ids, span kinds/status, building Arrow tables.

Private to :mod:`obsnb.sources`; nothing here imports pandas.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
from typing import Any, Iterable, Iterator

import pyarrow as pa

from .base import FileInput, Part, ReadContext

TS = pa.timestamp("ns", tz="UTC")
LINK_TYPE = pa.list_(pa.struct([
    pa.field("trace_id", pa.string()),
    pa.field("span_id", pa.string()),
    pa.field("ref_type", pa.string()),
    pa.field("attributes", pa.string()),
]))
EVENT_TYPE = pa.list_(pa.struct([
    pa.field("time", TS),
    pa.field("name", pa.string()),
    pa.field("attributes", pa.string()),
]))
SPAN_TYPES: dict[str, pa.DataType] = {
    "trace_id": pa.string(), "span_id": pa.string(), "parent_span_id": pa.string(), "name": pa.string(),
    "service": pa.string(), "kind": pa.string(), "start": pa.int64(), "end": pa.int64(),
    "duration_ms": pa.float64(), "status": pa.string(), "status_message": pa.string(),
    "links": LINK_TYPE, "events": EVENT_TYPE, "_line": pa.int64(),
}
LOG_TYPES: dict[str, pa.DataType] = {
    "time": pa.int64(), "level": pa.string(), "event": pa.string(), "service": pa.string(),
    "trace_id": pa.string(), "span_id": pa.string(), "_line": pa.int64(),
}
METRIC_TYPES: dict[str, pa.DataType] = {"time": pa.int64(), "metric": pa.string(), "value": pa.float64(),
                                        "_line": pa.int64()}

_KINDS = {"SERVER", "CLIENT", "PRODUCER", "CONSUMER", "INTERNAL"}
_OTLP_KIND = {1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_OTLP_STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}


def span_kind(value: Any) -> str | None:
    """OTLP ints 1-5, ``SPAN_KIND_*`` strings, Jaeger/Zipkin names (any case) -> SERVER/CLIENT/... or None."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _OTLP_KIND.get(int(value))
    s = str(value).strip().upper()
    if s.startswith("SPAN_KIND_"):
        s = s[len("SPAN_KIND_"):]
    if s.isdigit():
        return _OTLP_KIND.get(int(s))
    return s if s in _KINDS else None


def otlp_status(status: Any) -> tuple[str, str | None]:
    """An OTLP ``status`` object -> (OK/ERROR/UNSET, message)."""
    if not isinstance(status, dict):
        return "UNSET", None
    code = status.get("code", 0)
    msg = status.get("message") or None
    if isinstance(code, str):
        c = code.strip().upper()
        if c.startswith("STATUS_CODE_"):
            c = c[len("STATUS_CODE_"):]
        if c.isdigit():
            return _OTLP_STATUS.get(int(c), "UNSET"), msg
        return (c if c in ("OK", "ERROR", "UNSET") else "UNSET"), msg
    return _OTLP_STATUS.get(int(code or 0), "UNSET"), msg


def hex_id(value: Any) -> str | None:
    """A trace or span id as lowercase hex: hex stays hex, base64 (proto3 JSON) is decoded; empty -> None."""
    if value is None:
        return None
    s = str(value).strip()
    if not s:
        return None
    if len(s) not in (12, 24) and " " not in s:  # base64 of 8 / 16 bytes is 12 / 24 characters
        try:
            bytes.fromhex(s)  # C-speed check that s is hex
            return s.lower()
        except ValueError:
            pass
    try:
        return base64.b64decode(s, validate=True).hex()
    except (binascii.Error, ValueError):
        return s.lower()


def nonzero_id(value: Any) -> str | None:
    """Like :func:`hex_id`, but an all-zero or empty id (no parent) becomes None."""
    h = hex_id(value)
    if h is None or not h.strip("0"):
        return None
    return h


def to_int(value: Any) -> int | None:
    """An int from a JSON number or numeric string (OTLP writes 64-bit ints as strings)."""
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return None


def to_float(value: Any) -> float | None:
    """A float from a number or a string (``"+Inf"``, ``"NaN"``, ``"1e3"``); None when unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def format_le(x: float) -> str:
    """A bucket bound as Prometheus writes it: ``+Inf``, ``0.005``, ``1`` (no exponent, no trailing ``.0``)."""
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if math.isnan(x):
        return "NaN"
    if x == int(x) and abs(x) < 1e21:
        return str(int(x))
    s = repr(float(x))
    if "e" in s or "E" in s:
        import numpy as np

        s = np.format_float_positional(x, trim="-")
    return s


_RESERVED = frozenset(("links", "events", "_line", "_source"))


def add_columns(row: dict[str, Any], extra: dict[str, Any], prefix: str) -> None:
    """Add ``extra`` as columns of ``row``; a name already taken (a canonical column, an earlier attribute)
    goes to ``prefix.name`` instead, so nothing is overwritten or lost."""
    for k, v in extra.items():
        row[f"{prefix}.{k}" if k in row or k in _RESERVED else k] = v


def flatten(obj: Any, prefix: str = "", out: dict | None = None) -> dict[str, Any]:
    """Nested dicts -> one level with dotted keys; lists become JSON strings."""
    if out is None:
        out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict) and v:
                flatten(v, key, out)
            elif isinstance(v, (list, dict)):
                out[key] = json.dumps(v, ensure_ascii=False)
            else:
                out[key] = v
    return out


# --------------------------------------------------------------------------------------------- JSON files


def iter_json_docs(src: FileInput, ctx: ReadContext) -> Iterator[tuple[Any, int | None]]:
    """The JSON documents of a file: one whole document (line None), or one per line (line number).

    A file that is one document yields it with ``line=None``; a file of one document per line (the
    collector's file exporter) yields each with its 1-based line, and rejects lines that do not parse.
    A file that parses neither way is one rejected record.
    """
    data = src.data()
    if not data.strip():
        return
    try:
        doc = json.loads(data)
    except RecursionError:
        ctx.reject(src.path, 1, "JSON nested deeper than Python's JSON parser reads (about 1,000 levels)", data[:2000])
        return
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        whole_err = exc
    else:
        yield doc, None
        return
    lines = data.split(b"\n")
    first = next((ln for ln in lines if ln.strip()), b"")
    try:
        json.loads(first)
        per_line = True
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        per_line = False
    if not per_line:
        ctx.reject(src.path, 1, f"not a valid JSON document ({whole_err}); is the file truncated?",
                   data[:2000])
        return
    for i, ln in enumerate(lines, 1):
        if not ln.strip():
            continue
        try:
            doc = json.loads(ln)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            reason = f"invalid JSON ({exc})" + (" in the last line: truncated file?" if i >= len(lines) - 1 else "")
            ctx.reject(src.path, i, reason, ln)
            continue
        yield doc, i


def dumps(obj: Any) -> str:
    """Compact JSON text (non-ASCII kept)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)


# --------------------------------------------------------------------------------------------- tables


def _column(values: list, dtype: pa.DataType | None) -> pa.Array:
    if dtype is not None:
        try:
            return pa.array(values, dtype)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            if not pa.types.is_string(dtype):
                raise
            return pa.array([None if v is None else (v if isinstance(v, str) else dumps(v)) for v in values], dtype)
    try:
        arr = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        arr = pa.array([None if v is None else (v if isinstance(v, str) else dumps(v)) for v in values],
                       pa.string())
    if pa.types.is_null(arr.type):
        arr = arr.cast(pa.string())
    return arr


def table_from_rows(rows: list[dict[str, Any]], types: dict[str, pa.DataType], source: str) -> pa.Table:
    """Rows (dicts) -> a table: known columns typed, others inferred (mixed types become strings).

    Columns come in the order of ``types`` then first seen; ``_source`` is added.
    """
    keys: dict[str, None] = dict.fromkeys(k for k in types if k not in ("links", "events"))
    for r in rows:
        for k in r:
            if k not in keys:
                keys[k] = None
    for k in ("links", "events"):
        if k in types:
            keys[k] = None
    cols = {k: _column([r.get(k) for r in rows], types.get(k)) for k in keys}
    cols["_source"] = source_column(source, len(rows))
    return pa.table(cols)


def source_column(path: str, n: int) -> pa.Array:
    """``_source`` for ``n`` rows: ``path`` repeated, dictionary-encoded (what conform() makes of it anyway)."""
    import numpy as np

    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([path], pa.string()))


def parts_from_rows(by_kind: dict[str, list[dict]], source: str) -> list[Part]:
    """One :class:`Part` per kind that has rows."""
    types = {"spans": SPAN_TYPES, "logs": LOG_TYPES, "metrics": METRIC_TYPES}
    return [Part(k, table_from_rows(rows, types[k], source)) for k, rows in by_kind.items() if rows]


def span_rows(items: Iterable[tuple[Any, tuple]], ids: tuple[str, str], convert, source: str,
              ctx: ReadContext, line: int | None, what: str) -> list[dict]:
    """Spans (each with extra arguments for ``convert``) -> row dicts; spans lacking either id are rejected.

    ``_line`` is ``line`` when the document has one, else the span's 1-based ordinal.
    """
    rows = []
    for i, (sp, extra) in enumerate(items, 1):
        where = line if line is not None else i
        if not isinstance(sp, dict) or not sp.get(ids[0]) or not sp.get(ids[1]):
            ctx.reject(source, where, f"{what} span without {ids[0]} or {ids[1]}", dumps(sp))
            continue
        row = convert(sp, *extra)
        row["_line"] = where
        rows.append(row)
    return rows


def read_span_docs(src: FileInput, ctx: ReadContext, rows_of) -> Iterator[Part]:
    """Every JSON document of a file through ``rows_of(obj, source, ctx, line)``, as one spans part."""
    rows: list[dict] = []
    for obj, line in iter_json_docs(src, ctx):
        rows.extend(rows_of(obj, src.path, ctx, line))
    yield from parts_from_rows({"spans": rows}, src.path)


def file_mtime_ns(src: FileInput) -> int:
    """The file's modification time in epoch nanoseconds."""
    return os.stat(src.path).st_mtime_ns


def with_time_problems(reason: pa.Array, raw_time: pa.Array, rejected: pa.Array) -> pa.Array:
    """``reason`` with the out-of-range ones said so (see :func:`obsnb.timeutil.time_problem`): looked at
    only where a record is ``rejected`` with a time that did not parse (a call per rejected record)."""
    import numpy as np
    import pyarrow.compute as pc

    from ..timeutil import time_problem

    mask = pc.fill_null(pc.and_(rejected, pc.is_valid(raw_time)), False)
    idx = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
    if not len(idx):
        return reason
    found = [time_problem(v) for v in raw_time.take(pa.array(idx)).to_pylist()]
    hit = [(i, f) for i, f in zip(idx.tolist(), found) if f is not None]
    if not hit:
        return reason
    out = reason.to_pylist() if isinstance(reason, pa.Array) else [reason] * len(raw_time)
    for i, f in hit:
        out[i] = f
    return pa.array(out, pa.string())
