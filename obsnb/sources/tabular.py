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

``_line``: for CSV, the 1-based line the row starts on (the header is line 1; when a quoted value runs
over lines the quotes are counted to say where each row starts, else one line a row is assumed); for
Parquet, the 1-based row number. Rejected: CSV rows with the wrong number of fields (a cut-off last
line), a line whose quote opens a field that never closes (see ``_unbalanced_quotes``: that line alone,
the rows after it load), rows with undecodable bytes, logs rows with none of time/level/event, spans rows without
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
    else:  # 19 digits past int64 ("-9223372036854775809") would stop the cast of the whole column: NULL (rejected)
        expr = ("obsnb_str_ns(CASE WHEN abs(TRY_CAST(CAST(x AS VARCHAR) AS HUGEINT)) > 9223372036854775807 "
                "THEN NULL ELSE CAST(x AS VARCHAR) END)")
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


def _holds_newline(table: pa.Table) -> bool:
    """Whether any text value of ``table`` holds a line break (a quoted field ran over lines)."""
    return any(pc.any(pc.match_substring(c, "\n")).as_py() for c in table.columns
               if pa.types.is_string(c.type) or pa.types.is_large_string(c.type))


def _line_spans(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive, without the newline) byte offsets of every line of ``buf``."""
    nl = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], nl + 1))
    ends = np.concatenate((nl, [len(buf)]))
    return starts, ends


def _blank(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Lines the CSV parser skips: empty, or a lone ``\\r``."""
    return ends - starts <= (buf[np.maximum(ends - 1, 0)] == 13)


def _record_lines(text: bytes) -> np.ndarray | None:
    """The 1-based line of each record when no value runs over lines: every line but the empty ones (None
    when there is no empty line, so row k is line k + 1)."""
    if not (text.startswith((b"\n", b"\r\n")) or b"\n\n" in text or b"\n\r\n" in text):
        return None
    buf = np.frombuffer(text, dtype=np.uint8)
    starts, ends = _line_spans(buf)
    return np.flatnonzero(~_blank(buf, starts, ends)) + 1


def _per_line(pos: np.ndarray, starts: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """How many of the byte positions ``pos`` (where ``mask``) fall on each line."""
    line = np.searchsorted(starts, pos, side="right") - 1
    return np.bincount(line if mask is None else line[mask], minlength=len(starts))


def _unbalanced_quotes(text: bytes, delim: str) -> tuple[bytes, list[tuple[int, str, str]], np.ndarray]:
    """Find the lines whose quote opens a field that never closes; return the text without them, their
    rejects (line, reason, raw) and the 1-based line each remaining record starts on.

    The rule (numpy over byte positions, no loop per line): a line whose count of quotes is odd flips
    "inside a quoted field" when one of its quotes sits at a field's start or end (a stray quote inside
    a bare word, ``5" wide``, is text). A field opened on one line may run over the next lines (a value
    holding newlines) up to the line that closes it, unless a line on the way reads as a fresh record
    on its own (balanced quotes and the header's number of fields): then, or when nothing closes it
    before the end of the file, the opening line alone is rejected and the lines after it are records
    again. Repeated until no opening line is rejected (a second stray quote that closed the first one
    opens a field of its own once the first is gone).
    """
    buf = np.frombuffer(text, dtype=np.uint8)
    starts, ends = _line_spans(buf)
    d = ord(delim)
    qpos = np.flatnonzero(buf == 34)
    prev = np.where(qpos > 0, buf[np.maximum(qpos - 1, 0)], 10)
    nxt = np.where(qpos + 1 < len(buf), buf[np.minimum(qpos + 1, len(buf) - 1)], 10)
    edge = np.isin(prev, (d, 10)) | np.isin(nxt, (d, 10, 13))  # a quote at a field's start or end
    quotes = _per_line(qpos, starts)
    flips = (quotes % 2 == 1) & (_per_line(qpos, starts, edge) > 0)
    blank = _blank(buf, starts, ends)
    if not flips.any():
        return text, [], np.flatnonzero(~blank) + 1
    # delimiters outside quotes, counting each line on its own: a delimiter after an even number of the line's quotes
    dpos = np.flatnonzero(buf == d)
    d_line = np.searchsorted(starts, dpos, side="right") - 1
    before = np.searchsorted(qpos, dpos) - np.searchsorted(qpos, starts[d_line])
    fields = _per_line(dpos, starts, before % 2 == 0) + 1
    fresh = (quotes % 2 == 0) & (fields == fields[0]) & ~blank
    keep = np.ones(len(starts), dtype=bool)
    rejects: list[tuple[int, str, str]] = []
    for _ in range(64):  # each round removes every opening line it proves broken; a few rounds at most
        f = flips & keep
        inside = (np.cumsum(f) - f) % 2 == 1  # the line starts inside a quoted field
        opener = f & ~inside
        span = np.cumsum(opener)  # which opening line a line inside a field belongs to
        closed = np.zeros(span[-1] + 1, dtype=bool)
        closed[span[f & inside]] = True
        broken_by = np.full(span[-1] + 1, -1)
        hit = np.flatnonzero(inside & fresh & keep & ~f)
        first = hit[np.unique(span[hit], return_index=True)[1]]
        broken_by[span[first]] = first
        # a fresh record before the closing line breaks the span (the closing line is then another stray quote)
        closer_at = np.full(span[-1] + 1, len(starts))
        closer_at[span[f & inside]] = np.flatnonzero(f & inside)
        bad = np.flatnonzero(opener & (~closed[span] | ((broken_by[span] >= 0) & (broken_by[span] < closer_at[span]))))
        if not len(bad):
            break
        for i in bad.tolist():  # Python only for the rejected lines
            b = broken_by[span[i]]
            until = (f"before line {b + 1}, which reads as a record of its own" if 0 <= b < closer_at[span[i]]
                     else "before the end of the file")
            rejects.append((i + 1, f"unbalanced quote: the quoted field opened on this line never closes {until}",
                            text[starts[i]:ends[i]].decode("utf-8", "replace")))
        keep[bad] = False
    f = flips & keep
    record = keep & ~((np.cumsum(f) - f) % 2 == 1) & ~blank  # lines a record starts on
    if keep.all():
        return text, [], np.flatnonzero(record) + 1
    cut = np.flatnonzero(~keep)
    pieces, at = [], 0
    for i in cut.tolist():  # one slice per rejected line
        pieces.append(text[at:starts[i]])
        at = min(ends[i] + 1, len(text))
    pieces.append(text[at:])
    return b"".join(pieces), sorted(rejects), np.flatnonzero(record) + 1


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
        if not text.endswith(b"\n"):  # a header alone without its newline is "empty" to the parser, not a bad file
            text += b"\n"
        mapping = _mapping(ctx)
        header = text.split(b"\n", 1)[0].decode().rstrip("\r")
        tabs = src.stem.lower().endswith(".tsv") or header.count("\t") > header.count(",")
        delim = ctx.option("delimiter") or ("\t" if tabs else ",")
        rev = {v: k for k, v in mapping.items()}
        id_types = {rev.get(c, c): pa.string() for c in _ID_COLUMNS}

        options = (pacsv.ReadOptions(use_threads=False),
                   pacsv.ConvertOptions(column_types=id_types, strings_can_be_null=True))

        def parse(text: bytes, record_lines: np.ndarray | None) -> tuple[pa.Table | Exception, list]:
            # record_lines[k]: the line record k + 1 (the header is record 1) starts on; None: one line a record
            skipped: list[tuple[int | None, str, str | None]] = []

            def invalid(row: Any) -> str:
                line = row.number  # counts records from the header (1)
                if record_lines is not None and row.number <= len(record_lines):
                    line = int(record_lines[row.number - 1])
                skipped.append((line, f"expected {row.expected_columns} fields, found {row.actual_columns} "
                                "(cut-off or malformed row)", row.text))
                return "skip"

            try:
                return pacsv.read_csv(io.BytesIO(text), read_options=options[0], convert_options=options[1],
                                      parse_options=pacsv.ParseOptions(delimiter=delim, invalid_row_handler=invalid,
                                                                       newlines_in_values=True)), skipped
            except pa.ArrowInvalid as exc:
                return exc, skipped

        record_lines, quoted = _record_lines(text), []
        table, skipped = parse(text, record_lines)
        # A value or a bad row holding a newline, or a parse error, may be a quote that never closed and swallowed
        # the lines after it: only then are the quotes checked line by line (see _unbalanced_quotes)
        if b'"' in text and (isinstance(table, Exception) or _holds_newline(table)
                             or any("\n" in (r[2] or "") for r in skipped)):
            clean, quoted, record_lines = _unbalanced_quotes(text, delim)
            if quoted or (skipped and not isinstance(table, Exception)):  # again, for the lines of its rejects
                table, skipped = parse(clean, record_lines)
        if isinstance(table, Exception):
            ctx.reject(src.path, 1, f"not a readable CSV file ({table})", data[:2000])
            return
        n = table.num_rows + len(skipped)
        numbers = record_lines[1:].astype(np.int64) if record_lines is not None else None
        if numbers is None or len(numbers) != n:  # not how the parser split it: one line a record
            numbers = np.arange(2, n + 2, dtype=np.int64)
        if skipped:
            numbers = numbers[~np.isin(numbers, np.array([r[0] or 0 for r in skipped], dtype=np.int64))]
        skipped += quoted
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
