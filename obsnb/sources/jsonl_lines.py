"""JSON lines, the newline and member scan with line accounting: row -> line, and proof of no late key.

:class:`LineMap` finds every newline of a file with numpy (and, on request, counts the ``":`` that
end each key); :func:`_row_lines` maps DuckDB's rows to file lines; :func:`_late_fields` uses the
counts to find the few lines that can hold a key the head did not show; :func:`_why_bad` says why a
line is not a record.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa

from ..errors import SourceError
from .jsonl_conform import _fetch_arrow
from .jsonl_schema import _BUNYAN, _CANONICAL, _json_path, _lit, _q, _Schema

_CHUNK = 1 << 25

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

_TOO_DEEP = "JSON nested deeper than Python's JSON parser reads (about 1,000 levels)"


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
    except RecursionError:
        return _TOO_DEEP, None
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
