"""Canonical columns and dtypes of the three frames, and the one place frames are built.

Sources hand over :class:`pyarrow.Table` batches whose columns already carry canonical names;
:func:`conform` adds what is missing (as nulls), casts, orders, and :func:`to_engine` turns the
result into the pandas or polars frame the user asked for.
"""

from __future__ import annotations

import datetime as _dt
from typing import Iterable

import pyarrow as pa
import pyarrow.compute as pc

from .errors import UsageError

__all__ = [
    "KINDS",
    "CANONICAL",
    "PROVENANCE",
    "LEVELS",
    "conform",
    "empty_table",
    "to_engine",
    "to_arrow",
    "level_from_number",
    "LEVEL_SQL",
    "canonical_kind",
]

TS = pa.timestamp("ns", tz="UTC")
STR = pa.large_string()  # what pandas' str dtype and polars hold: no copy on the way out
F64 = pa.float64()

CANONICAL: dict[str, dict[str, pa.DataType]] = {
    "logs": {
        "time": TS,
        "level": STR,
        "event": STR,
        "service": STR,
        "trace_id": STR,
        "span_id": STR,
    },
    "spans": {
        "trace_id": STR,
        "span_id": STR,
        "parent_span_id": STR,
        "name": STR,
        "service": STR,
        "kind": STR,
        "start": TS,
        "end": TS,
        "duration_ms": F64,
        "status": STR,
        "status_message": STR,
    },
    "metrics": {
        "time": TS,
        "metric": STR,
        "value": F64,
    },
}
KINDS = tuple(CANONICAL)
ALIASES = {"traces": "spans", "trace": "spans", "span": "spans", "log": "logs", "metric": "metrics"}
ID_COLUMNS = {"trace_id", "span_id", "parent_span_id"}
# Where every row came from: the file (or URL + query) and its 1-based line (or record number).
PROVENANCE = ("_source", "_line")
PROVENANCE_TYPES = {"_source": pa.dictionary(pa.int32(), pa.string()), "_line": pa.int64()}
# What a metric series is, where the source says it (else null): counter/gauge/histogram/summary and
# cumulative/delta. Underscored like the provenance (never a label), just before it.
METRIC_META = ("_type", "_temporality")
SPAN_LISTS = ("links", "events")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def canonical_kind(kind: str | None) -> str | None:
    """``"traces"`` -> ``"spans"`` and friends; None stays None."""
    if kind is None:
        return None
    k = ALIASES.get(kind.lower(), kind.lower())
    if k not in CANONICAL:

        msg = f"unknown kind {kind!r}; use one of 'logs', 'spans' (alias 'traces') or 'metrics'"
        raise UsageError(msg)
    return k


def level_from_number(n: float | int | None, scheme: str = "pino") -> str | None:
    """Map a numeric level to a canonical one.

    ``pino`` (pino, bunyan, Python's levelno): 10/20 -> DEBUG, 30 -> INFO (pino) ...; ``otel``:
    OpenTelemetry severityNumber 1-24; ``syslog``: RFC 5424 severities 0-7.
    """
    if n is None:
        return None
    n = int(n)
    if scheme == "otel":
        if n <= 0:
            return None
        return ("DEBUG", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")[min((n - 1) // 4, 5)]
    if scheme == "syslog":
        if 0 <= n <= 2:
            return "CRITICAL"
        return {3: "ERROR", 4: "WARNING", 5: "INFO", 6: "INFO", 7: "DEBUG"}.get(n)
    if scheme == "python":
        return {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}.get(n)
    # pino / bunyan: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal
    if n < 30:
        return "DEBUG"
    if n < 40:
        return "INFO"
    if n < 50:
        return "WARNING"
    if n < 60:
        return "ERROR"
    return "CRITICAL"


# Level words, upper-cased, to canonical levels: the one map both the Python and the SQL readers use.
# Besides the usual names: log15 / go-ethereum's `trce dbug info warn eror crit`, zap's `dpanic` (above error,
# below panic in zap's order), zerolog's console abbreviations `TRC DBG INF WRN ERR FTL PNC`.
_LEVEL_MAP = {
    **dict.fromkeys(["TRACE", "TRCE", "TRC", "DEBUG", "DBUG", "DBG", "FINE", "FINER", "FINEST", "VERBOSE", "D"],
                    "DEBUG"),
    **dict.fromkeys(["INFO", "INF", "INFORMATION", "INFORMATIONAL", "NOTICE", "I", "LOG"], "INFO"),
    **dict.fromkeys(["WARN", "WARNING", "WRN", "W"], "WARNING"),
    **dict.fromkeys(["ERROR", "EROR", "ERR", "E", "SEVERE"], "ERROR"),
    **dict.fromkeys(["CRITICAL", "CRIT", "FATAL", "FTL", "DPANIC", "PANIC", "PNC", "ALERT", "EMERG", "EMERGENCY",
                     "F", "C"], "CRITICAL"),
}

# DuckDB macros: obsnb_level(text) maps level names (the CASE is built from _LEVEL_MAP); obsnb_level_num(n) maps
# pino/bunyan numbers.
_LEVEL_CASES = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in _LEVEL_MAP.items())
LEVEL_SQL = r"""
CREATE OR REPLACE MACRO obsnb_level_num(n) AS (
    CASE WHEN n IS NULL THEN NULL WHEN n < 30 THEN 'DEBUG' WHEN n < 40 THEN 'INFO' WHEN n < 50 THEN 'WARNING'
         WHEN n < 60 THEN 'ERROR' ELSE 'CRITICAL' END);
CREATE OR REPLACE MACRO obsnb_level(s) AS (
    CASE upper(trim(s)) """ + _LEVEL_CASES + r"""
        ELSE CASE WHEN regexp_full_match(trim(s), '\d+') THEN obsnb_level_num(TRY_CAST(trim(s) AS INTEGER)) END
    END);
CREATE OR REPLACE MACRO obsnb_level_otel(n) AS (
    CASE WHEN n IS NULL OR n <= 0 THEN NULL WHEN n <= 8 THEN 'DEBUG' WHEN n <= 12 THEN 'INFO'
         WHEN n <= 16 THEN 'WARNING' WHEN n <= 20 THEN 'ERROR' ELSE 'CRITICAL' END);
"""


def level_from_text(s: str | None) -> str | None:
    """Map a level name (any case, ``warn``, ``err``, ``fatal`` ...) or a numeric string to a canonical level."""
    if s is None:
        return None
    t = str(s).strip().upper()
    if t in _LEVEL_MAP:
        return _LEVEL_MAP[t]
    if t.isdigit():
        return level_from_number(int(t))
    return None


def normalize_levels(arr: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    """Canonical levels for an array of level names; also the original array when any value differs."""
    arr = arr.cast(pa.string()) if arr.type != pa.string() else arr
    uniq = pc.unique(arr).to_pylist()
    mapping = {u: level_from_text(u) for u in uniq if u is not None}
    keys = pa.array(list(mapping), pa.string())
    vals = pa.array(list(mapping.values()), pa.string())
    idx = pc.index_in(arr, value_set=keys)
    out = pc.take(vals, idx) if len(keys) else pa.nulls(len(arr), pa.string())
    differs = any(k != v for k, v in mapping.items())
    return out, (arr if differs else None)


def _has_upper_ascii(col: pa.ChunkedArray | pa.Array) -> bool:
    """Whether any string holds an A-Z byte (a numpy scan of the value buffers, no copy)."""
    import numpy as np

    chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
    for ch in chunks:
        if not (pa.types.is_string(ch.type) or pa.types.is_large_string(ch.type)) or len(ch) == 0:
            return True
        offsets = ch.buffers()[1]
        data = ch.buffers()[2]
        if data is None:
            continue
        width = np.int64 if pa.types.is_large_string(ch.type) else np.int32
        off = np.frombuffer(offsets, dtype=width)
        lo, hi = int(off[ch.offset]), int(off[ch.offset + len(ch)])
        b = np.frombuffer(data, dtype=np.uint8)[lo:hi]
        if ((b - np.uint8(65)) < 26).any():  # uint8 wraps: one compare finds A-Z
            return True
    return False


def _null_column(dtype: pa.DataType, n: int, made: dict | None = None) -> pa.Array:
    """``n`` nulls of ``dtype``; with ``made``, one array per type for every column that needs it (Arrow
    arrays are immutable: three missing string columns share one, not three 8-byte-per-row offset buffers)."""
    if made is None:
        return pa.nulls(n, type=dtype)
    if dtype not in made:
        made[dtype] = pa.nulls(n, type=dtype)
    return made[dtype]


def empty_table(kind: str) -> pa.Table:
    """A zero-row table with the canonical columns of ``kind`` (and the provenance columns)."""
    kind = canonical_kind(kind)
    fields = [pa.field(n, t) for n, t in CANONICAL[kind].items()]
    fields += [pa.field(n, STR) for n in (METRIC_META if kind == "metrics" else ())]
    fields += [pa.field(n, PROVENANCE_TYPES[n]) for n in PROVENANCE]
    return pa.schema(fields).empty_table()


def _cast(col: pa.ChunkedArray, dtype: pa.DataType, name: str) -> pa.ChunkedArray:
    if col.type == dtype:
        return col
    if pa.types.is_timestamp(dtype):
        if pa.types.is_timestamp(col.type):
            if col.type.tz is None:
                col = pc.assume_timezone(col, "UTC") if col.type.unit else col
            return col.cast(dtype)
        if pa.types.is_integer(col.type):
            return col.cast(pa.int64()).cast(dtype)
    if pa.types.is_floating(dtype) and (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        return pc.cast(col, dtype, safe=False)
    return col.cast(dtype)


def conform(table: pa.Table, kind: str) -> pa.Table:
    """Add missing canonical columns as nulls, cast them, lowercase ids, order the columns.

    Order: canonical columns, then every other column in the order first seen, then (spans) ``links``
    and ``events``, (metrics) ``_type`` and ``_temporality``, then the provenance columns ``_source`` and ``_line``.
    """
    kind = canonical_kind(kind)
    n = table.num_rows
    canon = CANONICAL[kind]
    cols: dict[str, pa.ChunkedArray | pa.Array] = {}
    names = table.column_names
    made: dict = {}
    for name, dtype in canon.items():
        if name in names:
            col = _cast(table.column(name), dtype, name)
            if name in ID_COLUMNS and _has_upper_ascii(col):
                col = pc.utf8_lower(col)
            if name in ID_COLUMNS and col.null_count < len(col):
                # an all-zero id is OpenTelemetry's "no trace/span" (otelTraceID="0" outside a span): null
                col = pc.if_else(pc.match_substring_regex(col, r"^0+$"), pa.scalar(None, col.type), col)
            cols[name] = col
        else:
            cols[name] = _null_column(dtype, n, made)
    tail = [c for c in SPAN_LISTS if c in names] if kind == "spans" else []
    meta = METRIC_META if kind == "metrics" else ()
    for name in names:
        if name in canon or name in PROVENANCE or name in tail or name in meta:
            continue
        cols[name] = table.column(name)
    for name in tail:
        cols[name] = table.column(name)
    for name in meta:
        cols[name] = _cast(table.column(name), STR, name) if name in names else _null_column(STR, n)
    for name in PROVENANCE:
        if name in names:
            col = table.column(name)
            cols[name] = col if col.type == PROVENANCE_TYPES[name] else col.cast(PROVENANCE_TYPES[name])
        else:
            cols[name] = _null_column(PROVENANCE_TYPES[name], n)
    return pa.table(cols)


def concat(tables: Iterable[pa.Table]) -> pa.Table:
    """Concatenate tables whose columns differ: missing columns become nulls, types are unified."""
    tables = [t for t in tables]
    if len(tables) == 1:
        return tables[0]
    unified = []
    for t in tables:  # provenance stays dictionary-encoded: chunks may carry different dictionaries
        if "_source" in t.column_names and not pa.types.is_dictionary(t.schema.field("_source").type):
            src = pc.dictionary_encode(t.column("_source").cast(pa.string()))
            t = t.set_column(t.column_names.index("_source"), "_source", src.cast(PROVENANCE_TYPES["_source"]))
        unified.append(t)
    return pa.concat_tables(unified, promote_options="permissive")


def warm_pandas() -> None:
    """Start importing pandas on a helper thread, when it is not imported yet.

    Every load imports it: into pandas, and into polars or Arrow too, since pyarrow imports pandas on its
    first ``pa.array``. A load reads and parses for a second or more, mostly in native code that lets go
    of the GIL; the import (~0.3 s of Python) then costs the load nothing but a wait for what is left of
    it. A failed import is left for :func:`to_engine` (or pyarrow) to raise, where the user sees it.
    """
    import sys

    if "pandas" in sys.modules or _WARMING:
        return
    import threading

    def run() -> None:
        try:
            import pandas  # noqa: F401
        except Exception:  # noqa: BLE001  (raised again, in the user's thread, by to_engine)
            pass

    _WARMING.append(threading.Thread(target=run, name="obsnb-import-pandas", daemon=True))
    _WARMING[0].start()


_WARMING: list = []


def to_engine(table: pa.Table, engine: str):
    """Build the user's frame: ``pandas`` (datetime64[ns, UTC], categorical provenance) or ``polars``."""
    if engine == "polars":
        import polars as pl

        return pl.from_arrow(table, rechunk=False)
    if engine == "pandas":
        df = table.to_pandas(split_blocks=True, self_destruct=False, timestamp_as_object=False)
        for name in SPAN_LISTS:  # nested timestamps would arrive as integers: keep them as Timestamps
            if name in table.column_names and _has_nested_time(table.schema.field(name).type):
                import pandas as pd

                df[name] = pd.Series(
                    [None if v is None else [{k: (pd.Timestamp(x) if isinstance(x, _dt.datetime) else x)
                                              for k, x in item.items()} for item in v]
                     for v in table.column(name).to_pylist()], index=df.index, dtype=object)
        return df
    if engine == "arrow":
        return table

    raise UsageError(f"unknown engine {engine!r}; use 'pandas' or 'polars'")


def _has_nested_time(t: pa.DataType) -> bool:
    if pa.types.is_timestamp(t):
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _has_nested_time(t.value_type)
    if pa.types.is_struct(t):
        return any(_has_nested_time(t.field(i).type) for i in range(t.num_fields))
    return False


def to_arrow(df) -> pa.Table:
    """A pandas or polars frame (or an Arrow table) as an Arrow table."""
    if isinstance(df, pa.Table):
        return df
    mod = type(df).__module__.split(".")[0]
    if mod == "polars":
        return df.to_arrow()
    if mod == "pandas":
        return pa.Table.from_pandas(df, preserve_index=False)

    raise UsageError(f"expected a pandas or polars DataFrame, got {type(df).__name__}")
