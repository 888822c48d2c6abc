"""JSON lines: Python logging / python-json-logger, structlog, ECS, pino/bunyan, OTel-style records.

The hot path is DuckDB's JSON reader (the fastest loader that survives malformed lines, see
../shared/perf/RESULTS.md), driven so that nothing is lost:

1. the file's head (5,000 lines) gives the keys, their types and the object shapes; keys that first
   appear later are not dropped, as schema inference would drop them: every JSON member ends its
   key with ``":`` (a quote inside a string is escaped), so a line holding no more ``":`` than the
   members the scan saw holds no other key. The newline scan counts them per line on the side;
   only the lines that fail the count are parsed again, and a new key becomes a column (when most
   lines fail it, one key pass over the whole file decides);
2. the read declares every leaf as VARCHAR (numbers, booleans, arrays and objects arrive as their
   text, never as a silent NULL on a type conflict) and objects as STRUCTs, which flattens them to
   ``a.b`` columns for free;
3. bad lines come back from DuckDB as all-NULL rows in file order; a numpy scan of the newlines
   maps every row to its line, and only the bad lines are looked at in Python, to load the few
   that are valid after all (type conflicts) or to reject them with a reason;
4. one SQL pass names the canonical columns (time, level, event, service, trace_id, span_id),
   normalises mixed timestamps to UTC nanoseconds and levels to DEBUG..CRITICAL, and gives numeric
   and boolean fields their type back when every value has it.

The work is split by idea: :mod:`~obsnb.sources.jsonl_schema` (schema inference from the head),
:mod:`~obsnb.sources.jsonl_lines` (the newline and member scan with line accounting),
:mod:`~obsnb.sources.jsonl_conform` (typing and conform); this module drives them.
"""

from __future__ import annotations

import concurrent.futures
import io
import json
import os
import re
import tempfile
from typing import Iterable, Iterator

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..schema import LEVEL_SQL
from ..timeutil import SQL_TIME_MACROS
from .base import FileFormat, FileInput, Part, ReadContext, over_cap_reason, record_cap
from ._layouts import check_tz, note_utc
from .jsonl_conform import _concat_unify, _fetch_arrow, _finish, _flatten_dict, _read_records, _select, _time_reason
from .json_split import array_elements, sequence_records, write_lines
from .jsonl_lines import LineMap, _late_fields, _row_lines, _why_bad, _without_rows
from .jsonl_schema import MAX_COLUMNS, MORE_FIELDS, _col, _lit, _q, _Schema

__all__ = ["JsonLines", "records_to_parts", "read_jsonl_path"]

def _connect():
    """A DuckDB connection of its own for each file: closing it hands the scan's memory back at once
    (a connection kept between files held ~200 MB more through the conversion to a frame)."""
    import duckdb

    con = duckdb.connect(config={"threads": max(1, os.cpu_count() or 1)})
    con.execute("SET TimeZone='UTC'")
    con.execute("SET enable_progress_bar=false")
    con.execute("SET arrow_large_buffer_size=true")  # large_string: what pandas' str dtype and polars use
    con.execute(SQL_TIME_MACROS)
    con.execute(LEVEL_SQL)
    return con

def _local_times(out: pa.Table, ctx) -> pa.Table:
    """Zone-less date-times: read in ``tz=`` (an IANA name) when given, else as UTC, and said once."""
    if "__obsnb_time_naive" not in out.column_names:
        return out
    naive = pc.fill_null(out.column("__obsnb_time_naive"), False)
    if not pc.any(naive).as_py():
        return out
    tz = ctx.options.get("tz")
    if tz is None:
        note_utc(ctx, "JSON-lines")
        return out
    ns = out.column("__obsnb_time_ns")
    wall = pc.cast(ns, pa.timestamp("ns"))  # the digits as written, no zone
    local = pc.assume_timezone(wall, timezone=check_tz(tz), ambiguous="earliest", nonexistent="earliest")
    fixed = pc.if_else(naive, pc.cast(pc.cast(local, pa.timestamp("ns", tz="UTC")), pa.int64()), ns)
    return out.set_column(out.column_names.index("__obsnb_time_ns"), "__obsnb_time_ns", fixed)


class _OverCap(Exception):
    """A line of the file is over the record cap: read a copy with such lines left empty instead."""


def read_jsonl_path(path: str, source: str, ctx: ReadContext) -> pa.Table | None:
    """Read one uncompressed JSON-lines file into a canonical logs table (None when it holds no records).

    Raises ``_OverCap`` when a line is longer than the record cap (see :func:`~obsnb.sources.base.record_cap`).
    """
    size = os.path.getsize(path)
    if size == 0:
        return None
    cap = record_cap(ctx)
    con = _connect()
    # the newline scan (numpy, GIL released) runs beside DuckDB's scans; it is needed only at the end
    pool = concurrent.futures.ThreadPoolExecutor(1)
    lm_future = pool.submit(LineMap, path, ctx.options.get("fields") is None)
    lm = None
    try:
        fields = ctx.options.get("fields")
        schema = _Schema(con, path, list(fields) if fields is not None else None, cap)
        if not schema.paths:  # nothing parses as a JSON object
            lm = lm_future.result()
            for i in range(lm.n_lines):
                if i not in set(lm.blank.tolist()):
                    reason, _ = _why_bad(lm.raw(i + 1), i == lm.n_lines - 1)
                    ctx.reject(source, i + 1, reason or "not a JSON-lines record", lm.raw(i + 1))
            return None
        if fields is None and schema.too_wide():
            _bound(con, schema, path, source, ctx)
        # keys the sample did not show: the lines that could hold one are found by counting, and looked at
        verify = fields is None and schema.kept is None
        try:
            out, cols, types, rest, members, drop_mask = _scan(con, path, schema, count_members=verify)
        except duckdb.InvalidInputException as exc:
            if "maximum_object_size" in str(exc):
                raise _OverCap(path) from None
            raise
        lm = lm_future.result()
        if size > cap and lm.n_lines and int((lm.ends - lm.starts).max()) > cap:
            raise _OverCap(path)  # a line over the cap that DuckDB took: read the copy instead
        row_lines = _row_lines(out, lm, source)
        if verify:
            late = _late_fields(con, lm, members, row_lines, drop_mask, schema, path)
            if late is None or schema.too_wide():  # a late key naming a canonical column, too many lines or keys
                if schema.too_wide():
                    _bound(con, schema, path, source, ctx)
                out, cols, types, rest, _, drop_mask = _scan(con, path, schema, count_members=False)
                row_lines = _row_lines(out, lm, source)
            else:
                for name, col in late:
                    out = out.append_column(name, col)
                    rest[name] = name
        drop_idx = np.flatnonzero(drop_mask)
        bad = pc.fill_null(out.column("__obsnb_bad"), False).to_numpy(zero_copy_only=False)
        dropped = [(int(i), bool(bad[i])) for i in drop_idx]
        if len(drop_idx):
            out = _without_rows(out, drop_idx)
            keep_lines = np.delete(row_lines, drop_idx)
        else:
            keep_lines = row_lines
        out = out.drop_columns(["__obsnb_bad"]).append_column("_line", pa.array(keep_lines, pa.int64()))
        parts = []
        if dropped:
            rescued, rescued_lines = [], []
            for rowid, was_bad in dropped:
                ln = int(row_lines[rowid])
                text = lm.raw(ln)
                reason, obj = _why_bad(text, ln == lm.n_lines)
                if obj is None:
                    ctx.reject(source, ln, reason, text)
                elif was_bad:  # valid after all (an object where a scalar was seen, ...): the slow path
                    flat = _flatten_dict(_kept(obj, schema))
                    if fields is not None:
                        flat = {k: v for k, v in flat.items() if k in cols or k in fields}
                    rescued.append(flat)
                    rescued_lines.append(ln)
                else:
                    ctx.reject(source, ln, _time_reason(obj), text)
            if rescued:
                r = _read_records(con, rescued, rescued_lines)
                ok = pc.is_valid(r.column("time"))
                for ln in r.filter(pc.invert(ok)).column("_line").to_pylist():
                    _, obj = _why_bad(lm.raw(ln), False)
                    ctx.reject(source, ln, _time_reason(obj), lm.raw(ln))
                parts.append(r.filter(ok))
        out = _finish(_local_times(out, ctx), rest, types)
        if parts:
            out = _concat_unify([out] + parts)
            out = out.take(pc.sort_indices(out.column("_line")))
        if out.num_rows == 0:
            return None
        src_col = pa.DictionaryArray.from_arrays(pa.array(np.zeros(out.num_rows, np.int32)), pa.array([source]))
        return out.append_column("_source", src_col)
    finally:
        if lm is None:
            lm = lm_future.result()
        pool.shutdown()
        lm.close()
        con.close()

def _kept(obj: dict, schema: _Schema) -> dict:
    """A record as the bounded schema has it: the kept keys, the others as JSON text under ``MORE_FIELDS``."""
    if schema.kept is None:
        return obj
    kept = set(schema.kept)
    more = {k: v for k, v in obj.items() if k not in kept}
    out = {k: v for k, v in obj.items() if k in kept}
    if more:
        out[MORE_FIELDS] = json.dumps(more, ensure_ascii=False, separators=(",", ":"))
    return out


def _any_of(conds: list[str]) -> str:
    """SQL: any of ``conds``; a list past 100 of them (a chain of 1,000 ORs passes DuckDB's expression depth limit)."""
    return " OR ".join(conds) if len(conds) <= 100 else f"list_bool_or([{', '.join(conds)}])"


def _none_of(exprs: list[str]) -> str:
    if not exprs:
        return "true"
    if len(exprs) <= 100:
        return " AND ".join(f"{x} IS NULL" for x in exprs)
    return f"NOT {_any_of([f'{x} IS NOT NULL' for x in exprs])}"


def _bound(con, schema: _Schema, path: str, source: str, ctx: ReadContext) -> None:
    """A file of more keys than ``MAX_COLUMNS``: every key listed first (one key pass), then bounded."""
    schema.key_pass(con, path)
    schema.bound()
    ctx.warnings.append(f"{source}: more than {MAX_COLUMNS:,} distinct fields; the first {len(schema.paths):,} "
                        f"are columns, the other top-level keys of each record are kept whole, as JSON text, in "
                        f"the column {MORE_FIELDS!r}")


def _scan(con, path: str, schema: _Schema, count_members: bool):
    """The main scan: every known leaf as text, canonical columns named, bad rows flagged; with
    ``count_members``, also how many members each row showed (for ``_late_fields``)."""
    leaves = schema.leaves()
    cols = {".".join(p): _col(p) for p, _ in leaves}
    types = {".".join(p): t for p, t in leaves}
    tops = [_q(p[0]) for p in schema.paths if len(p) == 1]
    bad = [_none_of(tops)]
    for sp in schema.structs():  # an object column that held a scalar: struct there, every leaf NULL
        sl = [cols[".".join(p)] for p, _ in leaves if p[: len(sp)] == sp]
        bad.append(f"({_col(sp)} IS NOT NULL AND {_none_of(sl)})")
    bad = _any_of(bad)
    if schema.kept is None:
        src = (f"read_json({_lit(path)}, format='newline_delimited', ignore_errors=true, "
               f"columns={schema.read_columns()}, maximum_object_size={schema.max_object})")
    else:  # too wide (see _Schema.bound): the raw records, the kept keys shaped, the others as JSON text
        src = (f"(SELECT unnest(json_transform(json, {_lit(schema.transform_spec())})), {schema.more_sql()} AS "
               f"{_q(MORE_FIELDS)} FROM read_json_objects({_lit(path)}, format='newline_delimited', "
               f"ignore_errors=true, maximum_object_size={schema.max_object}))")
        cols[MORE_FIELDS] = _q(MORE_FIELDS)
    sel, rest = _select(cols)
    if count_members:
        sel.append(f"{schema.members_sql()} AS __obsnb_members")
    # one parallel scan straight to Arrow: row i is the i-th non-blank line (DuckDB keeps file order)
    out = _fetch_arrow(con, f"SELECT {', '.join(sel)}, ({bad}) AS __obsnb_bad FROM {src}")
    members = out.column("__obsnb_members").to_numpy(zero_copy_only=False) if count_members else None
    drop = pc.or_(pc.fill_null(out.column("__obsnb_bad"), False), pc.is_null(out.column("__obsnb_time_ns")))
    return out, cols, types, rest, members, drop.to_numpy(zero_copy_only=False)

class JsonLines(FileFormat):
    """One JSON object per line (``.jsonl``, ``.ndjson``, ``.json`` logs, ``.log``), any of the usual shapes."""

    name = "jsonl"
    kinds = ("logs",)
    extensions = (".jsonl", ".ndjson", ".json", ".log")

    @classmethod
    def sniff(cls, head: bytes, path: str) -> float:
        stripped = head.lstrip()
        if stripped.startswith(b"[") and re.match(rb"\[\s*\{", stripped):
            return 0.3  # a JSON array of records; formats that know the record shape score higher
        if stripped.startswith(b"\x1e") and re.match(rb'\x1e\s*\{\s*"', stripped):
            return 0.3  # an RFC 7464 sequence of records (which may span lines); same rule as an array
        lines = [ln.strip().lstrip(b"\x1e") for ln in head.splitlines()[:50] if ln.strip()]  # RFC 7464: \x1e first
        if len(head) >= 65536 and lines:
            if len(lines) == 1:  # one record longer than the head: judge by how it starts
                return 0.4 if re.match(rb'\{\s*"', lines[0]) else 0.0
            lines = lines[:-1]  # the last line of a 64 KiB head is usually cut
        if not lines:
            return 0.0
        objs = 0
        for ln in lines[:20]:
            if ln.startswith(b"{"):
                try:
                    if isinstance(json.loads(ln), dict):
                        objs += 1
                except (ValueError, RecursionError):
                    pass
        if objs == 0:
            return 0.0
        share = objs / min(len(lines), 20)
        return 0.5 if share >= 0.5 else 0.3

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        head = src.head(4096).lstrip()
        if head.startswith((b"[", b"\x1e")):
            data = _whole(src)
            el = array_elements(data) if head.startswith(b"[") else sequence_records(data)
            if el is not None and (head.startswith(b"\x1e") or el.obj.any()):
                yield from _read_elements(data, el, src.path, ctx, "array element" if head[:1] == b"[" else "record")
                return
            # else JSON lines whose first line is an array: each line judged alone
        table = None
        if not src.gzipped:
            try:
                table = read_jsonl_path(src.path, src.path, ctx)
            except _OverCap:
                table = self._read_copy(src, ctx)
        else:
            table = self._read_copy(src, ctx)
        if table is not None and table.num_rows:
            yield Part("logs", table)

    @staticmethod
    def _read_copy(src: FileInput, ctx: ReadContext, source: str | None = None) -> pa.Table | None:
        """Decompress (or copy) the file to a temporary one piece by piece, lines over the record cap left
        empty and rejected, and read that; the copy is removed however the read ends (an interrupt too)."""
        src.max_record = record_cap(ctx)
        fd, tmp_path = tempfile.mkstemp(suffix=".jsonl", prefix="obsnb-")
        try:
            with os.fdopen(fd, "wb") as tmp:
                src.copy_to(tmp)
            for line, nbytes, first in src.oversized:
                ctx.reject(source or src.path, line, over_cap_reason(nbytes, src.max_record), first)
            return read_jsonl_path(tmp_path, source or src.path, ctx)
        finally:
            os.unlink(tmp_path)



def _whole(src: FileInput) -> bytes:
    """The file's bytes, decompressed, with no line cap (a document's lines are not its records)."""
    if not src.gzipped:
        with open(src.path, "rb") as f:
            return f.read()
    out = io.BytesIO()
    src._stream(_Collect(out))  # sets src.truncated when the gzip stream ends early (reported by the load)
    return out.getvalue()


class _Collect:
    """A sink for :meth:`FileInput._stream` that keeps every byte."""

    full = False

    def __init__(self, out):
        self.write, self.close = out.write, lambda: None


class _Lines:
    """A ReadContext whose rejected records name the document's lines: line ``i`` of the one-record-a-line
    copy is the document's line ``lines[i - 1]`` (everything else is the load's own context)."""

    def __init__(self, ctx: ReadContext, lines: np.ndarray):
        self._ctx, self._lines = ctx, lines

    def __getattr__(self, name):
        return getattr(self._ctx, name)

    def reject(self, source: str, line: int | None, reason: str, raw=None) -> None:
        self._ctx.reject(source, int(self._lines[line - 1]) if line else line, reason, raw)


def _read_elements(data: bytes, el, source: str, ctx: ReadContext, what: str) -> Iterator[Part]:
    """A document cut into records (:mod:`~obsnb.sources.json_split`): those that are no object, hold a raw line
    break inside a string, or are over the record cap are rejected by index and line before any decoding; the
    others are written one a line to a temporary file and read as JSON lines, each row and each rejected record
    given the line its record starts on (``_line``)."""
    cap = record_cap(ctx)
    over = el.size > cap
    bad = ~el.obj | el.broken | over
    for i in np.flatnonzero(bad).tolist():
        raw = data[int(el.start[i]):int(el.start[i]) + min(int(el.size[i]), 2000)]
        if over[i]:
            reason = f"{what} {i + 1}: {over_cap_reason(int(el.size[i]), cap)}"
        elif el.broken[i]:
            reason = f"{what} {i + 1}: a raw line break inside a JSON string (not valid JSON: cut or corrupted?)"
        elif el.size[i] == 0:
            reason = f"{what} {i + 1} is empty"
        else:  # why, as for a JSON line (a rejected element: no loop over the records)
            whole = data[int(el.start[i]):int(el.end[i])]
            reason = f"{what} {i + 1} is not a record: " + (_why_bad(whole, False)[0] or "not a JSON object")
        ctx.reject(source, int(el.line[i]), reason, raw)
    keep = ~bad
    if not keep.any():
        return
    fd, tmp_path = tempfile.mkstemp(suffix=".jsonl", prefix="obsnb-")
    try:
        with os.fdopen(fd, "wb") as tmp:
            write_lines(data, el, keep, tmp)
        lines = el.line[keep]
        table = read_jsonl_path(tmp_path, source, _Lines(ctx, lines))
    finally:
        os.unlink(tmp_path)
    if table is None or not table.num_rows:
        return
    mapped = pa.array(lines[np.asarray(table.column("_line")) - 1].astype(np.int64))
    yield Part("logs", table.set_column(table.column_names.index("_line"), "_line", mapped))


def records_to_parts(records: Iterable[dict], source: str, ctx: ReadContext,
                     lines: list[int] | None = None) -> list[Part]:
    """Already-decoded log records (Elasticsearch hits, Loki JSON lines ...) -> canonical logs parts.

    Same field aliasing and normalisation as JSON-lines files; ``_line`` is the record's 1-based
    ordinal (or ``lines[i]`` when given).
    """
    records = list(records)
    if not records:
        return []
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as tmp:
        for r in records:
            tmp.write(json.dumps(r, ensure_ascii=False, separators=(",", ":"), default=str))
            tmp.write("\n")
        tmp_path = tmp.name
    try:
        try:
            table = read_jsonl_path(tmp_path, source, ctx)
        except _OverCap:  # a record over the cap: rejected, the others read
            copy = FileInput(tmp_path)
            table = JsonLines._read_copy(copy, ctx, source)
    finally:
        os.unlink(tmp_path)
    if table is None or not table.num_rows:
        return []
    if lines is not None:
        mapped = pa.array(np.asarray(lines, dtype=np.int64)[np.asarray(table.column("_line")) - 1])
        table = table.set_column(table.column_names.index("_line"), "_line", mapped)
    return [Part("logs", table)]
