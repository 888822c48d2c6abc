"""CSV and Parquet tables of logs, spans or metrics, with a column mapping.

``columns={"their_name": "canonical_name"}`` renames columns before anything else
(``ob.load("export.csv", columns={"@timestamp": "time", "msg": "event"})``); ``kind=`` says what the
rows are, else it is inferred from the (mapped) columns: ``trace_id`` + ``span_id`` + ``start`` or
``name`` -> spans, ``metric`` + ``value`` -> metrics, otherwise logs.

Canonical columns are normalised like every other source: times (``time``; ``start``/``end`` for
spans) from ISO 8601 strings with any offset, epoch s/ms/µs/ns numbers (told apart by magnitude) or
timestamps; levels to DEBUG...CRITICAL (original kept in ``level_original``); ids as lowercase hex
strings (id columns are read as text so leading zeros survive); spans get ``duration_ms`` from
``start``/``end`` when the table has none.

``_line``: for CSV, the 1-based line of the row assuming one line per row (the header is line 1);
for Parquet, the 1-based row number. Rejected: CSV rows with the wrong number of fields (a cut-off
last line), rows with undecodable bytes, logs rows with none of time/level/event, spans rows without
``trace_id``/``span_id``, metrics rows without a value; an unreadable Parquet file is one rejected record.
"""

from __future__ import annotations

import io
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import schema
from ..errors import UsageError
from ._common import source_column
from ._lines import BAD_CHARS, connect
from .base import FileFormat, FileInput, Part, ReadContext

__all__ = ["Csv", "Parquet", "canonical_table"]

_ID_COLUMNS = ("trace_id", "span_id", "parent_span_id")
# Rows without these are rejected: a log or sample that cannot be placed in time, a span without ids.
_REQUIRED = {"logs": ("time",), "metrics": ("time", "value"), "spans": ("trace_id", "span_id")}
_TIME_COLUMNS = {"logs": ("time",), "metrics": ("time",), "spans": ("start", "end")}


def _mapping(ctx: ReadContext) -> dict[str, str]:
    m = ctx.option("columns") or {}
    if not isinstance(m, dict):
        msg = f"columns= must be a dict {{'their_name': 'canonical_name'}}, got {type(m).__name__}"
        raise UsageError(msg)
    return {str(k): str(v) for k, v in m.items()}


def _infer_kind(names: list[str]) -> str:
    s = set(names)
    if {"trace_id", "span_id"} <= s and ("start" in s or "name" in s):
        return "spans"
    if {"metric", "value"} <= s:
        return "metrics"
    return "logs"


def _time_ns(con, col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Any time column -> int64 epoch ns (timestamps kept, numbers by magnitude, strings parsed)."""
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    t = col.type
    if pa.types.is_timestamp(t):
        if t.tz is None:
            col = pc.assume_timezone(col, "UTC")
        return col.cast(pa.timestamp("ns", "UTC")).cast(pa.int64())
    if pa.types.is_date(t):
        return col.cast(pa.timestamp("ns")).cast(pa.int64())
    con.register("obsnb_tab_t", pa.table({"x": col}))
    if pa.types.is_integer(t):
        expr = "obsnb_iepoch_ns(CAST(x AS HUGEINT))::BIGINT"
    elif pa.types.is_floating(t) or pa.types.is_decimal(t):
        expr = "obsnb_epoch_ns(CAST(x AS DOUBLE))"
    else:
        expr = "obsnb_str_ns(CAST(x AS VARCHAR))"
    out = con.sql(f"SELECT {expr} AS t FROM obsnb_tab_t").to_arrow_table().column("t").combine_chunks()
    con.unregister("obsnb_tab_t")
    return out.cast(pa.int64())


def canonical_table(table: pa.Table, kind: str, source: str, lines: pa.Array, ctx: ReadContext,
                    pending: list[tuple[int | None, str, str | None]] | None = None) -> pa.Table | None:
    """Normalise canonical columns of a table that already carries canonical names; reject bad rows.

    ``pending`` holds (line, reason, raw) rejects found earlier (rows the CSV parser skipped); all rejects
    are reported in line order, so ``strict=True`` names the first bad line of the file.
    """
    rejects = list(pending or [])
    con = connect()
    cols = {name: table.column(name).combine_chunks() for name in table.column_names}
    for name in _TIME_COLUMNS[kind]:
        if name in cols:
            cols[name] = _time_ns(con, cols[name])
    if "level" in cols:
        lv = cols["level"]
        lv = lv.cast(pa.string()) if not pa.types.is_string(lv.type) else lv
        level, original = schema.normalize_levels(lv)
        cols["level"] = level
        if original is not None and "level_original" not in cols:
            cols["level_original"] = original
    for name in _ID_COLUMNS:
        if name in cols and not pa.types.is_string(cols[name].type):
            cols[name] = cols[name].cast(pa.string())
    if kind == "spans" and "duration_ms" not in cols and "start" in cols and "end" in cols:
        cols["duration_ms"] = pc.divide(pc.cast(pc.subtract(cols["end"], cols["start"]), pa.float64()), 1e6)
    if kind == "metrics" and "value" in cols and not pa.types.is_floating(cols["value"].type):
        cols["value"] = pc.cast(cols["value"], pa.float64(), safe=False)
    n = table.num_rows
    bad = pa.array(np.zeros(n, dtype=bool))
    for c in cols.values():
        if pa.types.is_string(c.type) or pa.types.is_large_string(c.type):
            bad = pc.or_(bad, pc.fill_null(pc.match_substring_regex(c, BAD_CHARS), False))
    need = _REQUIRED[kind]
    missing = pa.array(np.full(n, any(c not in cols for c in need)))
    for c in need:
        if c in cols:
            missing = pc.or_(missing, pc.is_null(cols[c]))
    rejected = pc.or_(bad, missing)
    if pc.any(rejected).as_py():
        rows = table.filter(rejected).to_pylist()  # Python only for the rejected rows
        nums = lines.filter(rejected).to_pylist()
        nulls = {c: pc.is_null(cols[c]).filter(rejected).to_pylist() for c in need if c in cols}
        for i, (ln, row, is_bad) in enumerate(zip(nums, rows, bad.filter(rejected).to_pylist())):
            why = ("undecodable bytes in a field" if is_bad
                   else _why_missing(row, need, {c: m[i] for c, m in nulls.items()}))
            rejects.append((ln, why, str(row)))
        keep = pc.invert(rejected)
        cols = {k: v.filter(keep) for k, v in cols.items()}
        lines = lines.filter(keep)
    for ln, rs, raw in sorted(rejects, key=lambda r: r[0] or 0):
        ctx.reject(source, ln, rs, raw)
    cols["_line"] = lines
    cols["_source"] = source_column(source, len(lines))
    return pa.table(cols)


def _why_missing(row: dict, need: tuple[str, ...], is_null: dict[str, bool]) -> str:
    """Why a row lacks a required column: no such column, no value, or a value that does not parse."""
    for name in need:
        if name not in is_null:
            return f"no {name} column (map yours: columns={{'their_name': '{name}'}})"
        if is_null[name]:
            raw = row.get(name)
            return f"no {name}" if raw is None else f"unparseable {name} {str(raw)[:60]!r}"
    return "bad row"


def _empty_to_null(col: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_string(col.type):
        return pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
    return col


def _pick_kind(ctx: ReadContext, names: list[str]) -> str:
    kind = schema.canonical_kind(ctx.kind or ctx.option("kind")) if (ctx.kind or ctx.option("kind")) else None
    return kind or _infer_kind(names)


def _parts(table: pa.Table, src: FileInput, ctx: ReadContext, lines: pa.Array,
           pending: list | None = None) -> Iterator[Part]:
    """Apply the column mapping, pick the kind, normalise, and yield the part (when rows remain)."""
    mapping = _mapping(ctx)
    table = table.rename_columns([mapping.get(c, c) for c in table.column_names])
    kind = _pick_kind(ctx, table.column_names)
    out = canonical_table(table, kind, src.path, lines, ctx, pending)
    if out is not None:
        yield Part(kind, out)  # also when every row was rejected: the kind is known


class Csv(FileFormat):
    """CSV files (header row first)."""

    name = "csv"
    kinds = ("logs", "spans", "metrics")
    extensions = (".csv", ".tsv")

    @classmethod
    def sniff(cls, head: bytes, path: str) -> float:
        stem = path[:-3] if path.endswith(".gz") else path
        if stem.lower().endswith((".csv", ".tsv")):
            return 0.8
        return 0.0

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        import pyarrow.csv as pacsv

        data = src.data()
        if not data.strip():
            return
        text = data.decode("utf-8", errors="replace").encode("utf-8")
        mapping = _mapping(ctx)
        header = text.split(b"\n", 1)[0].decode().rstrip("\r")
        tabs = src.stem.lower().endswith(".tsv") or header.count("\t") > header.count(",")
        delim = ctx.option("delimiter") or ("\t" if tabs else ",")
        rev = {v: k for k, v in mapping.items()}
        id_types = {rev.get(c, c): pa.string() for c in _ID_COLUMNS}

        skipped: list[tuple[int | None, str, str | None]] = []

        def invalid(row: Any) -> str:
            # row.number counts records from the header (1), i.e. the line when every record is one line
            skipped.append((row.number, f"expected {row.expected_columns} fields, found {row.actual_columns} "
                            "(cut-off or malformed row)", row.text))
            return "skip"

        try:
            table = pacsv.read_csv(
                io.BytesIO(text),
                read_options=pacsv.ReadOptions(use_threads=False),
                parse_options=pacsv.ParseOptions(delimiter=delim, invalid_row_handler=invalid, newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(column_types=id_types, strings_can_be_null=True),
            )
        except pa.ArrowInvalid as exc:
            ctx.reject(src.path, 1, f"not a readable CSV file ({exc})", data[:2000])
            return
        numbers = np.arange(2, table.num_rows + len(skipped) + 2, dtype=np.int64)
        if skipped:
            numbers = numbers[~np.isin(numbers, np.array([r[0] or 0 for r in skipped], dtype=np.int64))]
        table = pa.table({c: _empty_to_null(table.column(c)) for c in table.column_names})
        yield from _parts(table, src, ctx, pa.array(numbers[: table.num_rows]), skipped)


class Parquet(FileFormat):
    """Parquet files."""

    name = "parquet"
    kinds = ("logs", "spans", "metrics")
    extensions = (".parquet", ".pq")

    @classmethod
    def sniff(cls, head: bytes, path: str) -> float:
        return 0.95 if head[:4] == b"PAR1" else 0.0

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        import pyarrow.parquet as pq

        data = src.data()
        if not data:
            return
        try:
            table = pq.read_table(io.BytesIO(data))
        except (pa.ArrowInvalid, OSError) as exc:
            ctx.reject(src.path, None, f"not a readable Parquet file ({exc}); is it truncated?", None)
            return
        yield from _parts(table, src, ctx, pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64)))
