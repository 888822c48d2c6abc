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
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import tempfile
from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import SourceError
from ..schema import LEVEL_SQL
from ..timeutil import SQL_TIME_MACROS
from .base import FileFormat, FileInput, Part, ReadContext

__all__ = ["JsonLines", "records_to_parts", "read_jsonl_path"]

# Canonical column <- candidate fields, first present wins (flattened names).
TIME_FIELDS = ("time", "ts", "timestamp", "@timestamp", "datetime", "date", "eventTime", "timeUnixNano",
               "time_unix_nano", "observedTimeUnixNano", "Timestamp", "created", "asctime", "t", "@t")
LEVEL_FIELDS = ("level", "levelname", "log.level", "severity", "severity_text", "severityText", "SeverityText",
                "lvl", "loglevel", "level_name", "@l")
LEVEL_NUM_FIELDS = ("severityNumber", "severity_number", "SeverityNumber")  # OpenTelemetry 1-24
EVENT_FIELDS = ("event", "message", "msg", "body", "Body", "@m", "@mt", "log", "text")
SERVICE_FIELDS = ("service", "service.name", "serviceName", "service_name", "resource.service.name",
                  "ServiceName", "app", "application")
TRACE_FIELDS = ("trace_id", "traceId", "trace.id", "traceID", "TraceId", "otelTraceID", "trace")
SPAN_FIELDS = ("span_id", "spanId", "span.id", "spanID", "SpanId", "otelSpanID")

# every field name that can feed a canonical column; a late one changes those columns, not just adds one
_CANONICAL = frozenset(TIME_FIELDS + LEVEL_FIELDS + LEVEL_NUM_FIELDS + EVENT_FIELDS + SERVICE_FIELDS
                       + TRACE_FIELDS + SPAN_FIELDS)
_BUNYAN = frozenset(("name", "hostname", "pid", "v"))  # together they make "name" the service

_PY_SAMPLE = 5_000  # lines of the head parsed in Python for types and object shapes
_CHUNK = 1 << 25


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _col(path: tuple[str, ...]) -> str:
    """SQL for the value at ``path`` (a top-level column, then struct fields)."""
    return ".".join(_q(p) for p in path)


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


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


# ------------------------------------------------------------------------------------------- line map


class LineMap:
    """Newline offsets of a file: row -> line, line -> raw bytes.

    The file is scanned in 32 MiB pieces through one reused buffer (numpy finds the newlines), so the
    scan adds no more than that buffer to the process's memory; raw lines are read back with pread.
    With ``members=True`` the same scan counts, per line, the places where a quote is followed by a
    colon (``":``, the end of every key) and notes lines where a colon follows whitespace (a key
    written ``"k" :``, which that count would miss); see ``_late_fields``.
    """

    def __init__(self, path: str, members: bool = False):
        self.size = os.path.getsize(path)
        self._f = open(path, "rb")
        fd = self._f.fileno()
        buf = bytearray(_CHUNK)
        view = memoryview(buf)
        arr = np.frombuffer(buf, dtype=np.uint8)
        parts, counts, odd = [], [], []
        carry, prev, lines_before = 0, 0, 0  # keys since the last newline; last byte of the previous piece
        pos = 0
        while pos < self.size:
            n = os.preadv(fd, [view], pos) if hasattr(os, "preadv") else self._f.readinto(view)
            if n <= 0:
                break
            a = arr[:n]
            nl = np.flatnonzero(a == 10)
            parts.append(nl + pos)
            if members:
                colon = np.flatnonzero(a == 58)
                before = a[np.maximum(colon - 1, 0)]
                if len(colon) and colon[0] == 0:
                    before[0] = prev
                keys = colon[before == 34]
                spaced = colon[(before == 32) | (before == 9) | (before == 13)]
                upto = np.searchsorted(keys, nl)  # keys before each newline of this piece
                if len(nl):
                    c = np.diff(upto, prepend=0)
                    c[0] += carry
                    counts.append(c)
                    carry = len(keys) - int(upto[-1])
                else:
                    carry += len(keys)
                if len(spaced):  # the line of each: newlines before it, in earlier pieces and this one
                    odd.append(lines_before + np.searchsorted(nl, spaced))
            lines_before += len(nl)
            prev = int(a[-1])
            pos += n
        nl = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        ends = nl
        if self.size and (not len(nl) or nl[-1] != self.size - 1):
            ends = np.append(nl, self.size)  # last line without a newline
            if members:
                counts.append(np.array([carry], dtype=np.int64))
        self.ends = ends.astype(np.int64)
        self.starts = np.concatenate([[0], self.ends[:-1] + 1]).astype(np.int64) if len(self.ends) else self.ends
        self.n_lines = len(self.ends)
        if members:
            self.keys = np.concatenate(counts) if counts else np.zeros(0, np.int64)
            self.odd = np.zeros(self.n_lines, dtype=bool)
            if odd:
                self.odd[np.minimum(np.concatenate(odd), self.n_lines - 1)] = True
        lengths = self.ends - self.starts
        short = np.flatnonzero(lengths <= 8)  # blank or whitespace-only lines are short
        blank = [int(i) for i in short if not self._read(int(self.starts[i]), int(self.ends[i])).strip()]
        self.blank = np.array(blank, dtype=np.int64)  # 0-based line indexes

    def _read(self, start: int, end: int) -> bytes:
        return os.pread(self._f.fileno(), end - start, start) if end > start else b""

    def close(self) -> None:
        self._f.close()

    def row_lines(self, n_rows: int) -> np.ndarray:
        """1-based line number of each of the ``n_rows`` rows DuckDB returned (one per non-blank line)."""
        rows = np.arange(n_rows, dtype=np.int64)
        if not len(self.blank):
            return rows + 1
        nonblank_before = self.blank - np.arange(len(self.blank))
        return rows + 1 + np.searchsorted(nonblank_before, rows, side="right")

    def raw(self, line: int) -> bytes:
        i = line - 1
        return self._read(int(self.starts[i]), int(self.ends[i])).rstrip(b"\r")


# ------------------------------------------------------------------------------------------- schema


def _shape(obj: dict) -> tuple:
    """What ``_Schema._walk`` learns from a record: its keys in order, the type of each value, and the
    same for every non-empty object inside it."""
    return (tuple(obj), tuple(map(type, obj.values())),
            tuple(_shape(v) for v in obj.values() if type(v) is dict and v))


def _json_path(path: tuple[str, ...]) -> str:
    return "$" + "".join("." + json.dumps(p) for p in path)


class _Schema:
    """Every leaf path of a JSON-lines file, typed from a sample of its head (VARCHAR when unsure).

    The head (up to 5,000 lines / 4 MiB) is parsed in Python for types and object shapes. Keys that
    first appear later are added by ``add_keys`` (from the lines ``_late_fields`` looks at) or by
    ``key_pass`` (one DuckDB pass listing every key of the file at every object path).
    """

    def __init__(self, con, path: str, fields: list[str] | None = None):
        self.paths: dict[tuple[str, ...], str] = {}
        with open(path, "rb") as f:
            head = f.read(1 << 22)
        shapes: set = set()
        for ln in head.split(b"\n")[:_PY_SAMPLE]:
            if not ln.strip():
                continue
            try:
                obj = json.loads(ln)
            except ValueError:
                continue
            if isinstance(obj, dict):
                shape = _shape(obj)
                if shape not in shapes:  # most lines repeat a few shapes: walk each shape once
                    shapes.add(shape)
                    self._walk(obj, ())
        if fields is not None:
            self._project(fields)

    def object_paths(self) -> list[tuple[str, ...]]:
        return [()] + [p for p, t in self.paths.items() if t == "STRUCT"]

    def key_pass(self, con, path: str) -> list[tuple[str, ...]]:
        """One DuckDB pass listing the keys of every line at every object path; returns the paths it added."""
        objects = self.object_paths()
        jp = "[" + ", ".join(_lit(_json_path(p)) for p in objects) + "]"
        # one parse per line: the keys at every object path, de-duplicated as lists (a file has few shapes)
        shapes = con.execute(
            f"SELECT any_value(ks) FROM (SELECT json_keys(json, {jp}) AS ks FROM read_json_objects({_lit(path)}, "
            f"format='newline_delimited', ignore_errors=true, maximum_object_size=67108864)) GROUP BY hash(ks)"
        ).fetchall()
        return self.add_keys(objects, [ks for (ks,) in shapes])

    def add_keys(self, objects, shapes) -> list[tuple[str, ...]]:
        """Add the keys of ``shapes`` (lists of key lists, one per object path) the schema lacks; returns them."""
        added = []
        for ks in shapes:
            for i, keys in enumerate(ks or []):
                for k in keys or []:
                    p = objects[i] + (k,)
                    if p not in self.paths:
                        self.paths[p] = "VARCHAR"  # seen after the sample: kept as text, never dropped
                        added.append(p)
        return added

    def members_sql(self) -> str:
        """SQL: how many members (at every level) the scan saw in a line: known keys with a non-null
        value, and the known objects holding them. (A row that fails this, an object with no known
        member, is a bad row and looked at in Python anyway.)"""
        terms = []
        for p in self.paths:
            terms.append(f"({_col(p)} IS NOT NULL)::INTEGER")
        return " + ".join(terms) if terms else "0"

    def _project(self, fields: list[str]) -> None:
        """Keep only the named fields (flattened names) and the canonical ones; no key pass."""
        wanted = {tuple(f.split(".")) for f in fields} | {(f,) for f in fields}
        by_name = {".".join(p): p for p in self.paths}
        keep: dict[tuple[str, ...], str] = {}
        for name in list(fields) + sorted(_CANONICAL):
            p = by_name.get(name)
            if p is None:
                if name not in fields:
                    continue  # a canonical spelling this file does not use
                p = tuple(name.split("."))  # not in the sample: asked for, so read it as text
                self.paths.setdefault(p, "VARCHAR")
            keep[p] = self.paths[p]
            for i in range(1, len(p)):  # the objects that hold it
                keep[p[:i]] = "STRUCT"
        for p, t in self.paths.items():  # children of an object that was asked for by name
            if any(len(p) > len(w) and p[: len(w)] == w for w in wanted):
                keep[p] = t
                for i in range(1, len(p)):
                    keep[p[:i]] = "STRUCT"
        self.paths = keep

    _PY = {str: "VARCHAR", bool: "BOOLEAN", int: "BIGINT", float: "DOUBLE"}

    def _walk(self, obj: dict, prefix: tuple[str, ...]) -> None:
        for k, v in obj.items():
            p = prefix + (k,)
            if isinstance(v, dict) and v:
                self.paths[p] = "STRUCT"
                self._walk(v, p)
                continue
            t = self._PY.get(type(v), "VARCHAR") if v is not None else None
            old = self.paths.get(p)
            if old == "STRUCT" or t is None:
                self.paths.setdefault(p, "VARCHAR")
                if old is None and t is None:
                    self.paths[p] = "NULL"
                continue
            if old in (None, "NULL") or old == t:
                self.paths[p] = t
            elif {old, t} == {"BIGINT", "DOUBLE"}:
                self.paths[p] = "DOUBLE"
            else:
                self.paths[p] = "VARCHAR"

    def read_columns(self) -> str:
        """The ``columns={...}`` spec: objects as STRUCTs of VARCHAR leaves, every leaf VARCHAR."""

        def typ(path):
            kids = [p for p in self.paths if len(p) == len(path) + 1 and p[: len(path)] == path]
            if self.paths[path] == "STRUCT" and kids:
                return "STRUCT(" + ", ".join(f"{_q(k[-1])} {typ(k)}" for k in kids) + ")"
            return "VARCHAR"

        tops = [p for p in self.paths if len(p) == 1]
        return "{" + ", ".join(f"{_lit(p[0])}: {_lit(typ(p))}" for p in tops) + "}"

    def leaves(self) -> list[tuple[tuple[str, ...], str]]:
        out = []
        for p, t in self.paths.items():
            is_obj = t == "STRUCT" and any(len(q) > len(p) and q[: len(p)] == p for q in self.paths)
            if not is_obj:
                out.append((p, t))
        return out

    def structs(self) -> list[tuple[str, ...]]:
        return [p for p, t in self.paths.items()
                if t == "STRUCT" and any(len(q) > len(p) and q[: len(p)] == p for q in self.paths)]


# ------------------------------------------------------------------------------------------- reading


def _fetch_arrow(con, sql: str) -> pa.Table:
    rel = con.sql(sql)
    if hasattr(rel, "to_arrow_table"):  # materialised by DuckDB's threads rather than read as a stream
        return rel.to_arrow_table()
    res = rel.arrow()
    return res.read_all() if hasattr(res, "read_all") else res


def _flatten_dict(d: dict, prefix: str = "", out: dict | None = None) -> dict:
    """A record as flat ``a.b`` -> text, the way the DuckDB path sees it (VARCHAR leaves)."""
    out = {} if out is None else out
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            _flatten_dict(v, name + ".", out)
        elif v is None:
            out.setdefault(name, None)
        elif isinstance(v, str):
            out[name] = v
        elif isinstance(v, bool):
            out[name] = "true" if v else "false"
        elif isinstance(v, (int, float)):
            out[name] = json.dumps(v)
        else:
            out[name] = json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    return out


def _binary(raw: bytes) -> bool:
    ctrl = sum(1 for b in raw[:512] if b < 9 or 13 < b < 32)
    return ctrl > 2


def _why_bad(raw: bytes, is_last: bool) -> tuple[str, dict | None]:
    """Why a line is not a record; or the parsed object when it is one after all."""
    if b"\x00" in raw or _binary(raw):
        return "binary data, not text", None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "not valid UTF-8 text", None
    s = text.strip()
    try:
        obj = json.loads(s)
    except json.JSONDecodeError as exc:
        if exc.msg.startswith("Extra data"):
            return "more than one JSON value on one line", None
        if not s.startswith(("{", "[")):
            return "not JSON (stray text line)", None
        if exc.pos >= len(s) - 2 or (s.startswith("{") and not s.endswith("}")):
            return ("truncated JSON (the file ends inside this record)" if is_last
                    else "truncated JSON (line ends inside the record)"), None
        return f"invalid JSON: {exc.msg} at column {exc.colno}", None
    if not isinstance(obj, dict):
        return f"JSON {type(obj).__name__} where a record (object) was expected", None
    if not obj or all(v is None for v in obj.values()):
        return "record has no fields", None
    return "", obj


def _time_reason(obj: dict | None) -> str:
    if obj is not None:
        flat = _flatten_dict(obj)
        for c in TIME_FIELDS:
            if flat.get(c) is not None:
                return f"unparseable timestamp {c}={flat[c][:60]!r}"
    return "no timestamp (looked for " + ", ".join(TIME_FIELDS[:6]) + ", ...)"


def _select(cols: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """SELECT list naming the canonical columns; returns it and {output column: field} for the rest.

    ``cols`` maps each flat field name to its SQL expression. Everything stays text here: levels are
    mapped and numbers typed afterwards on Arrow (a level column has a handful of distinct values).
    """
    pset = set(cols)

    def first(cands):
        return [c for c in cands if c in pset]

    used: set[str] = set()
    sel = []
    tf = first(TIME_FIELDS)
    sel.append(f"coalesce({', '.join(f'obsnb_str_ns({cols[c]})' for c in tf)}) AS __obsnb_time_ns" if tf
               else "CAST(NULL AS BIGINT) AS __obsnb_time_ns")
    used.update(tf[:1])
    lf, ln = first(LEVEL_FIELDS), first(LEVEL_NUM_FIELDS)
    if lf:
        sel.append(f"coalesce({', '.join(cols[c] for c in lf)}) AS __obsnb_level_raw")
    if ln:
        sel.append(f"coalesce({', '.join(cols[c] for c in ln)}) AS __obsnb_level_otel")
    used.update((lf + ln)[:1])
    for canon, cands in (("event", EVENT_FIELDS), ("service", SERVICE_FIELDS), ("trace_id", TRACE_FIELDS),
                         ("span_id", SPAN_FIELDS)):
        f = first(cands)
        if canon == "service" and not f and _BUNYAN <= pset:
            f = ["name"]  # bunyan: the logger name is the service
        sel.append(f"coalesce({', '.join(cols[c] for c in f)}) AS {canon}" if f else f"CAST(NULL AS VARCHAR) AS {canon}")
        used.update(f[:1])
    rest = {}
    for n in cols:
        if n in used:
            continue
        alias = f"{n}_original" if n in ("time", "level", "event", "service", "trace_id", "span_id") else n
        sel.append(f"{cols[n]} AS {_q(alias)}")
        rest[alias] = n
    return sel, rest


def _levels(raw: pa.ChunkedArray | None, otel: pa.ChunkedArray | None, n: int) -> tuple[pa.Array, pa.Array | None]:
    """Canonical level and, when it differs from the written one by more than case, the original."""
    from ..schema import level_from_number, level_from_text

    if raw is None and otel is None:
        return pa.nulls(n, pa.large_string()), None
    level = None
    original = None
    if raw is not None:
        enc = pc.dictionary_encode(raw).combine_chunks()
        words = enc.dictionary.to_pylist()
        mapped = pa.array([level_from_text(w) for w in words], pa.large_string())
        level = mapped.take(enc.indices)
        differs = pa.array([w is not None and level_from_text(w) != w.strip().upper() for w in words])
        if any(differs.to_pylist()):
            original = pc.if_else(differs.take(enc.indices), raw.combine_chunks(), pa.nulls(n, raw.type))
    if otel is not None:
        text = pa.types.is_string(otel.type) or pa.types.is_large_string(otel.type)
        nums = pc.cast(otel, pa.float64(), safe=False) if text else otel
        enc = pc.dictionary_encode(nums).combine_chunks()
        mapped = pa.array([level_from_number(v, "otel") if v is not None else None
                           for v in enc.dictionary.to_pylist()], pa.large_string())
        lv = mapped.take(enc.indices)
        level = lv if level is None else pc.coalesce(level, lv)
    return level, original


def _type_columns(out: pa.Table, rest: dict[str, str], types: dict[str, str]) -> pa.Table:
    """Numbers and booleans the sample saw get their type back when every value has it; else text."""
    for alias, field in rest.items():
        target = {"BIGINT": pa.int64(), "DOUBLE": pa.float64(), "BOOLEAN": pa.bool_()}.get(types.get(field, ""))
        if target is None:
            continue
        col = out.column(alias)
        try:
            typed = col.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            if target == pa.int64():
                try:
                    typed = col.cast(pa.float64())
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    continue
            else:
                continue
        out = out.set_column(out.column_names.index(alias), alias, typed)
    return out


def _finish(out: pa.Table, rest: dict[str, str], types: dict[str, str]) -> pa.Table:
    """__obsnb_time_ns -> time; levels mapped; fields typed; columns in canonical order."""
    n = out.num_rows
    names = out.column_names
    level, original = _levels(out.column("__obsnb_level_raw") if "__obsnb_level_raw" in names else None,
                              out.column("__obsnb_level_otel") if "__obsnb_level_otel" in names else None, n)
    out = _type_columns(out, rest, types)
    cols = {"time": out.column("__obsnb_time_ns").cast(pa.int64()).cast(pa.timestamp("ns", tz="UTC")), "level": level}
    for c in ("event", "service", "trace_id", "span_id"):
        cols[c] = out.column(c)
    if original is not None:
        cols["level_original"] = original
    for c in names:
        if c not in cols and not c.startswith("__obsnb_"):
            cols[c] = out.column(c)
    return pa.table(cols)


def _read_records(con, flat: list[dict], lines: list[int]) -> pa.Table:
    """The slow path for the few lines DuckDB could not read as the file's shape: flat records -> table."""
    t = pa.Table.from_pylist(flat)
    t = pa.table({n: t.column(n).cast(pa.string()) for n in t.column_names})
    t = t.append_column("_line", pa.array(lines, pa.int64()))
    cols = {n: _q(n) for n in t.column_names if n != "_line"}
    sel, rest = _select(cols)
    con.register("__rescued", t)
    try:
        out = _fetch_arrow(con, f"SELECT {', '.join(sel)}, _line FROM __rescued")
    finally:
        con.unregister("__rescued")
    return _finish(out, rest, {})


def read_jsonl_path(path: str, source: str, ctx: ReadContext) -> pa.Table | None:
    """Read one uncompressed JSON-lines file into a canonical logs table (None when it holds no records)."""
    if os.path.getsize(path) == 0:
        return None
    con = _connect()
    # the newline scan (numpy, GIL released) runs beside DuckDB's scans; it is needed only at the end
    pool = concurrent.futures.ThreadPoolExecutor(1)
    lm_future = pool.submit(LineMap, path, ctx.options.get("fields") is None)
    lm = None
    try:
        fields = ctx.options.get("fields")
        schema = _Schema(con, path, list(fields) if fields is not None else None)
        if not schema.paths:  # nothing parses as a JSON object
            lm = lm_future.result()
            for i in range(lm.n_lines):
                if i not in set(lm.blank.tolist()):
                    reason, _ = _why_bad(lm.raw(i + 1), i == lm.n_lines - 1)
                    ctx.reject(source, i + 1, reason or "not a JSON-lines record", lm.raw(i + 1))
            return None
        # keys the sample did not show: the lines that could hold one are found by counting, and looked at
        verify = fields is None
        out, cols, types, rest, members, drop_mask = _scan(con, path, schema, count_members=verify)
        lm = lm_future.result()
        row_lines = _row_lines(out, lm, source)
        if verify:
            late = _late_fields(con, lm, members, row_lines, drop_mask, schema, path)
            if late is None:  # a late key that names a canonical column, or too many lines to look at
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
                    flat = _flatten_dict(obj)
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
        out = _finish(out, rest, types)
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


def _scan(con, path: str, schema: _Schema, count_members: bool):
    """The main scan: every known leaf as text, canonical columns named, bad rows flagged; with
    ``count_members``, also how many members each row showed (for ``_late_fields``)."""
    leaves = schema.leaves()
    cols = {".".join(p): _col(p) for p, _ in leaves}
    types = {".".join(p): t for p, t in leaves}
    tops = [_q(p[0]) for p in schema.paths if len(p) == 1]
    bad = " AND ".join(f"{t} IS NULL" for t in tops)
    for sp in schema.structs():  # an object column that held a scalar: struct there, every leaf NULL
        sl = [cols[".".join(p)] for p, _ in leaves if p[: len(sp)] == sp]
        bad += f" OR ({_col(sp)} IS NOT NULL AND " + " AND ".join(f"{x} IS NULL" for x in sl) + ")"
    src = (f"read_json({_lit(path)}, format='newline_delimited', ignore_errors=true, "
           f"columns={schema.read_columns()}, maximum_object_size=67108864)")
    sel, rest = _select(cols)
    if count_members:
        sel.append(f"{schema.members_sql()} AS __obsnb_members")
    # one parallel scan straight to Arrow: row i is the i-th non-blank line (DuckDB keeps file order)
    out = _fetch_arrow(con, f"SELECT {', '.join(sel)}, ({bad}) AS __obsnb_bad FROM {src}")
    members = out.column("__obsnb_members").to_numpy(zero_copy_only=False) if count_members else None
    drop = pc.or_(pc.fill_null(out.column("__obsnb_bad"), False), pc.is_null(out.column("__obsnb_time_ns")))
    return out, cols, types, rest, members, drop.to_numpy(zero_copy_only=False)


def _row_lines(out: pa.Table, lm: LineMap, source: str) -> np.ndarray:
    n_rows = out.num_rows
    if n_rows + len(lm.blank) != lm.n_lines:
        msg = (f"{source}: DuckDB returned {n_rows} rows for {lm.n_lines - len(lm.blank)} non-blank lines; "
               "cannot map rows to lines. Please report this file's shape.")
        raise SourceError(msg, source=source)
    return lm.row_lines(n_rows)


def _late_fields(con, lm: LineMap, members: np.ndarray, row_lines: np.ndarray, drop: np.ndarray, schema: _Schema,
                 path: str) -> list[tuple[str, pa.Array]] | None:
    """Keys the sample did not show, found without a second pass over the whole file.

    Every member of a JSON object ends its key with a quote then a colon (``"k":``), and a quote
    inside a string is escaped, so a line holds at least as many ``":`` as members (a line where a
    colon follows whitespace, as in ``"k" :``, is looked at regardless). A line with no more ``":``
    than the members the scan saw has no key the schema lacks. Only the other lines (a key the
    schema lacks, a null value, an escaped quote before a colon, an array of objects) are parsed
    again, their keys listed by DuckDB; the values of any new key are taken from them and placed in
    a column that is null elsewhere. Returns the new columns, or None when the file must be scanned
    again (a new key names a canonical column, or the lines to look at exceed a quarter of the file:
    then one key pass over the whole file decides).
    """
    keys = lm.keys[row_lines - 1]
    odd = lm.odd[row_lines - 1]
    if np.any((keys < members) & ~odd & ~drop):  # cannot happen in file order: never guess
        raise SourceError(f"{path}: the JSON reader returned rows out of file order; cannot map rows to lines. "
                          "Please report this.", source=path)
    cand = np.flatnonzero(((keys > members) | odd) & ~drop)
    if not len(cand):
        return []
    lengths = (lm.ends - lm.starts)[row_lines[cand] - 1]
    if int(lengths.sum()) > lm.size // 4:
        return None if schema.key_pass(con, path) else []
    objects = schema.object_paths()
    texts = pa.array([lm.raw(int(row_lines[i])) for i in cand], pa.large_binary()).cast(pa.large_string())
    con.register("__flagged", pa.table({"__i": pa.array(np.arange(len(cand))), "__j": texts}))
    try:
        jp = "[" + ", ".join(_lit(_json_path(p)) for p in objects) + "]"
        shapes = con.execute(
            f"SELECT any_value(ks), min(__i) AS first FROM (SELECT __i, json_keys(__j, {jp}) AS ks FROM __flagged) "
            f"GROUP BY hash(ks) ORDER BY first").fetchall()
        added = schema.add_keys(objects, [ks for ks, _ in shapes])
        if not added:
            return []
        names = [".".join(p) for p in added]
        if any(n in _CANONICAL or n in _BUNYAN for n in names):
            return None
        got = _fetch_arrow(con, "SELECT " + ", ".join(
            f"json_extract_string(__j, {_lit(_json_path(p))}) AS {_q(n)}" for p, n in zip(added, names))
            + " FROM __flagged ORDER BY __i")
    finally:
        con.unregister("__flagged")
    pos = np.full(len(members), -1, dtype=np.int64)
    pos[cand] = np.arange(len(cand))
    take = pa.array(np.maximum(pos, 0), mask=pos < 0)
    return [(n, got.column(n).combine_chunks().cast(pa.large_string()).take(take)) for n in names]


def _without_rows(table: pa.Table, rows: np.ndarray) -> pa.Table:
    """``table`` less the (sorted) ``rows``: zero-copy slices between them when they are few, else a filter."""
    if len(rows) > 20_000:
        mask = np.ones(table.num_rows, dtype=bool)
        mask[rows] = False
        return table.filter(pa.array(mask))
    starts = np.concatenate([[0], rows + 1])
    ends = np.concatenate([rows, [table.num_rows]])
    pieces = [table.slice(int(a), int(b - a)) for a, b in zip(starts, ends) if b > a]
    return pa.concat_tables(pieces) if pieces else table.slice(0, 0)


def _concat_unify(tables: list[pa.Table]) -> pa.Table:
    """Concatenate; a column typed in one table and text in another becomes typed when every value fits, else text."""
    types: dict[str, set] = {}
    for t in tables:
        for f in t.schema:
            if f.type != pa.null():
                types.setdefault(f.name, set()).add(f.type)
    fixed = []
    for t in tables:
        for name, ts in types.items():
            if len(ts) > 1 and name in t.column_names:
                text = (pa.string(), pa.large_string())
                target = next((x for x in ts if x not in text), pa.large_string())
                try:
                    col = t.column(name).cast(target)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    col = t.column(name).cast(pa.large_string())
                t = t.set_column(t.column_names.index(name), name, col)
        fixed.append(t)
    try:
        return pa.concat_tables(fixed, promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        as_text = [pa.table({n: (c.cast(pa.large_string()) if n not in ("time", "_line", "_source") else c)
                             for n, c in zip(t.column_names, t.columns)}) for t in fixed]
        return pa.concat_tables(as_text, promote_options="permissive")


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
        lines = [ln.strip() for ln in head.splitlines()[:50] if ln.strip()]
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
                except ValueError:
                    pass
        if objs == 0:
            return 0.0
        share = objs / min(len(lines), 20)
        return 0.5 if share >= 0.5 else 0.3

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        if src.head(4096).lstrip().startswith(b"["):
            yield from self._read_array(src, ctx)
            return
        if src.gzipped:
            data = src.data()
            if not data.strip():
                return
            with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as tmp:
                tmp.write(data)
                tmp_path = tmp.name
            try:
                table = read_jsonl_path(tmp_path, src.path, ctx)
            finally:
                os.unlink(tmp_path)
        else:
            table = read_jsonl_path(src.path, src.path, ctx)
        if table is not None and table.num_rows:
            yield Part("logs", table)


    def _read_array(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        """A JSON document that is an array of records (``[{...}, {...}]``); ``_line`` is the record's index + 1."""
        try:
            doc = json.loads(src.data())
        except ValueError as exc:
            ctx.reject(src.path, getattr(exc, "lineno", None), f"invalid JSON document: {exc}", src.data()[:2000])
            return
        if not isinstance(doc, list):
            ctx.reject(src.path, 1, "JSON document is not an array of records", src.data()[:2000])
            return
        good, lines = [], []
        for i, rec in enumerate(doc, start=1):
            if isinstance(rec, dict) and rec:
                good.append(rec)
                lines.append(i)
            else:
                ctx.reject(src.path, i, f"array element {i} is not a record", json.dumps(rec)[:2000])
        for part in records_to_parts(good, src.path, ctx, lines=lines):
            yield part


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
        table = read_jsonl_path(tmp_path, source, ctx)
    finally:
        os.unlink(tmp_path)
    if table is None or not table.num_rows:
        return []
    if lines is not None:
        mapped = pa.array(np.asarray(lines, dtype=np.int64)[np.asarray(table.column("_line")) - 1])
        table = table.set_column(table.column_names.index("_line"), "_line", mapped)
    return [Part("logs", table)]
