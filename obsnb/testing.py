"""Public test helpers: small canonical frames from plain Python, and a conformance check.

>>> from obsnb.testing import make_logs, assert_frame_conforms
>>> logs = make_logs([{"time": "2024-05-14T13:00:00Z", "level": "warn", "event": "slow", "trace_id": "ABC"}])
>>> logs.loc[0, "level"], logs.loc[0, "trace_id"]
('WARNING', 'abc')
>>> assert_frame_conforms(logs, "logs")
"""

from __future__ import annotations

from typing import Any, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from . import schema
from .timeutil import to_ns

__all__ = ["make_logs", "make_spans", "make_metrics", "make_frame", "assert_frame_conforms"]

_TIME_COLUMNS = {"logs": ("time",), "spans": ("start", "end"), "metrics": ("time",)}
_STATUS = {"OK", "ERROR", "UNSET"}
_KINDS = {"SERVER", "CLIENT", "PRODUCER", "CONSUMER", "INTERNAL"}


def _columns(records: Any, columns: Mapping[str, Any]) -> dict[str, list]:
    """Records (list of dicts), a dict of lists, and/or keyword columns as one dict of equal-length lists."""
    cols: dict[str, list] = {}
    if records is not None:
        if isinstance(records, Mapping):
            cols.update({k: list(v) for k, v in records.items()})
        else:
            rows = list(records)
            names: list[str] = []
            for r in rows:
                names += [k for k in r if k not in names]
            cols.update({k: [r.get(k) for r in rows] for k in names})
    cols.update({k: list(v) for k, v in columns.items()})
    lengths = {k: len(v) for k, v in cols.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"columns have different lengths: {lengths}")
    return cols


def make_frame(kind: str, records: Any = None, *, engine: str = "pandas", **columns: Any):
    """A canonical frame of ``kind`` (``logs``, ``spans``, ``metrics``) built like :func:`make_logs`."""
    kind = schema.canonical_kind(kind)
    cols = _columns(records, columns)
    n = len(next(iter(cols.values()))) if cols else 0
    arrays: dict[str, pa.Array] = {}
    for name, values in cols.items():
        if name in _TIME_COLUMNS[kind]:
            arrays[name] = pa.array([None if v is None else to_ns(v) for v in values], pa.int64()).cast(schema.TS)
        elif name in schema.PROVENANCE:
            clean = [None if v is None or v != v else v for v in values]  # NaN from a pandas round trip
            arrays[name] = pa.array(clean, pa.string() if name == "_source" else pa.int64())
        elif name == "level":
            arrays[name] = pa.array([schema.level_from_text(v) for v in values], pa.string())
        else:
            arrays[name] = pa.array(values)
    if kind == "spans" and "duration_ms" not in arrays and {"start", "end"} <= set(arrays):
        ns = pc.subtract(arrays["end"].cast(pa.int64()), arrays["start"].cast(pa.int64()))
        arrays["duration_ms"] = pc.divide(ns.cast(pa.float64()), 1e6)
    if kind == "metrics" and "value" in arrays:
        arrays["value"] = arrays["value"].cast(pa.float64())
    table = pa.table(arrays) if arrays else pa.table({"time": pa.nulls(n, schema.TS)})
    return schema.to_engine(schema.conform(table, kind), engine)


def make_logs(records: Any = None, *, engine: str = "pandas", **columns: Any):
    """A canonical logs frame from a list of dicts, a dict of lists or keyword columns.

    Times may be ISO strings, datetimes or epoch numbers; levels any common spelling (``warn`` ->
    ``WARNING``); ids are lowercased; missing canonical columns are null. ``engine`` is ``pandas`` or
    ``polars``.
    """
    return make_frame("logs", records, engine=engine, **columns)


def make_spans(records: Any = None, *, engine: str = "pandas", **columns: Any):
    """A canonical spans frame (``duration_ms`` computed from ``start``/``end`` when not given).

    ``links`` / ``events`` may be given as lists of dicts (``[{"trace_id": ..., "span_id": ...}]``).
    """
    return make_frame("spans", records, engine=engine, **columns)


def make_metrics(records: Any = None, *, engine: str = "pandas", **columns: Any):
    """A canonical metrics frame: ``time``, ``metric``, ``value`` and one column per label."""
    return make_frame("metrics", records, engine=engine, **columns)


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t) or (
        pa.types.is_dictionary(t) and _is_string(t.value_type)
    )


def _same_type(actual: pa.DataType, expected: pa.DataType) -> bool:
    if _is_string(expected):
        return _is_string(actual) or pa.types.is_null(actual)
    if pa.types.is_timestamp(expected):
        return pa.types.is_timestamp(actual) and actual.unit == "ns" and actual.tz in ("UTC", "+00:00")
    if pa.types.is_floating(expected):
        return pa.types.is_float64(actual) or pa.types.is_null(actual)
    return actual == expected or pa.types.is_null(actual)


def _values(table: pa.Table, name: str) -> set:
    return set(pc.unique(table.column(name).cast(pa.string())).to_pylist()) - {None}


def assert_frame_conforms(df: Any, kind: str) -> None:
    """Raise AssertionError unless ``df`` is a canonical ``kind`` frame.

    Checks: the canonical columns first and in order; their types (UTC nanosecond times, strings,
    float64); lowercase ids; canonical ``level``, ``status`` and ``kind`` values; ``links``/``events``
    and the provenance columns ``_source``/``_line`` (when present) last.
    """
    kind = schema.canonical_kind(kind)
    table = schema.to_arrow(df)
    canon = schema.CANONICAL[kind]
    head = table.column_names[: len(canon)]
    assert head == list(canon), f"{kind}: canonical columns must come first in order {list(canon)}, got {head}"
    for name, dtype in canon.items():
        actual = table.schema.field(name).type
        assert _same_type(actual, dtype), f"{kind}: column {name!r} is {actual}, expected {dtype}"
    for name in schema.ID_COLUMNS & set(canon):
        col = table.column(name).cast(pa.string())
        lowered = pc.utf8_lower(col)
        assert pc.all(pc.equal(col, lowered)).as_py() in (True, None), f"{kind}: {name!r} has uppercase ids"
    checks = {"level": set(schema.LEVELS), "status": _STATUS, "kind": _KINDS}
    for name, allowed in checks.items():
        if name in canon:
            bad = _values(table, name) - allowed
            assert not bad, f"{kind}: column {name!r} has non-canonical values {sorted(bad)[:5]}"
    tail = [c for c in table.column_names if c in schema.PROVENANCE]
    if tail:
        assert table.column_names[-len(tail) :] == tail, f"{kind}: provenance columns {tail} must come last"
