"""Vectorised helpers for line-oriented formats (logfmt, syslog, Prometheus text).

Lines are cut with numpy and checked by Arrow, matched with polars' Rust regex engine (the fastest of Arrow's RE2,
DuckDB's RE2 and polars measured on 1M-line files), placed with numpy, and timestamps are parsed
by DuckDB's macros shared with every other loader; no Python loop runs per line.
"""

from __future__ import annotations

import threading

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import schema
from ..timeutil import SQL_TIME_MACROS
from .base import FileInput, ReadContext, over_cap_reason, record_cap

# A line holding undecodable bytes (decoded as U+FFFD) or a NUL byte is binary garbage. Other control
# characters in valid UTF-8 are data (an ESC of a colour code, a form feed, a label value holding \x01).
BAD_CHARS = r"[\x00\x{FFFD}]"


_local = threading.local()


def connect() -> duckdb.DuckDBPyConnection:
    """This thread's DuckDB connection, in UTC, with obsnb's time and level macros.

    Made once per thread (making one costs ~30 ms, which a directory of small files would pay per
    file); callers register their Arrow input under a fixed name and unregister it when done.
    """
    con = getattr(_local, "con", None)
    if con is None:
        con = duckdb.connect()
        con.execute("SET TimeZone='UTC'")
        con.execute("SET enable_progress_bar=false")
        con.execute(SQL_TIME_MACROS)
        con.execute(schema.LEVEL_SQL)
        _local.con = con
    return con


def split_lines(src: FileInput, ctx: ReadContext) -> tuple[pa.Array, pa.Array, bool | str]:
    """(lines, 1-based line numbers, clean), ``\\r`` stripped; ``clean`` is True when no line can be binary
    garbage, ``"nul"`` when the file is valid UTF-8 holding NUL bytes, False when it is not valid UTF-8.

    The last line may lack its newline (a cut-off write); readers reject it when it does not parse.
    Lines are cut with numpy over the bytes (one scan for newlines, no copy) and checked as UTF-8 by Arrow.
    A line over the record cap (the load's ``max_record_bytes``) is never read whole: it is rejected here,
    with the cap's reason, and comes back empty.
    """
    src.max_record = record_cap(ctx)
    data = src.data()
    if not data:
        return pa.array([], pa.string()), pa.array([], pa.int64()), True
    nl = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    ends = nl + 1 if data.endswith(b"\n") else np.append(nl + 1, len(data))
    offsets = np.concatenate([[0], ends]).astype(np.int64)
    raw = pa.LargeStringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(data))
    try:
        raw.validate(full=True)  # valid UTF-8
        clean: bool | str = True if b"\x00" not in data else "nul"
    except pa.ArrowInvalid:
        text = data.decode("utf-8", errors="replace")
        lines = pc.list_flatten(pc.split_pattern(pa.array([text]), "\n"))
        if text.endswith("\n"):
            lines = lines.slice(0, len(lines) - 1)
        raw, clean = lines, False
    lines = pc.utf8_rtrim(raw, "\r\n").cast(pa.string())
    numbers = pa.array(np.arange(1, len(lines) + 1, dtype=np.int64))
    for line, nbytes, first in src.oversized:  # each left as an empty line, so the numbers stay right
        ctx.reject(src.path, line, over_cap_reason(nbytes, src.max_record), first)
    return lines, numbers, clean


def read_lines(src: FileInput, ctx: ReadContext) -> tuple[pa.Array, pa.Array, pa.Array]:
    """The non-blank lines of a file, their 1-based numbers, and where each holds binary garbage
    (a line over the record cap: see :func:`split_lines`)."""
    lines, numbers, clean = split_lines(src, ctx)
    if len(lines):
        keep = pc.invert(blank_mask(lines))
        lines, numbers = lines.filter(keep), numbers.filter(keep)
    return lines, numbers, bad_mask(lines, clean)


def head_lines(head: bytes, limit: int) -> list[bytes]:
    """The first ``limit`` non-blank lines of a sniffed head, without a last line the head may have cut."""
    lines = [ln.rstrip(b"\r") for ln in head.split(b"\n")[:limit] if ln.strip()]
    if len(lines) > 1 and not head.endswith(b"\n"):
        lines = lines[:-1]
    return lines


def blank_mask(lines: pa.Array) -> pa.Array:
    """True where a line is empty or whitespace."""
    import polars as pl

    return pl.Series(lines).str.contains(r"^\s*$").to_arrow()


def bad_mask(lines: pa.Array, clean: bool | str = False) -> pa.Array:
    """True where a line holds binary garbage (all False at once when the file was ``clean``; see :func:`split_lines`)."""
    import polars as pl

    if clean is True:
        return pa.array(np.zeros(len(lines), dtype=bool))
    return pl.Series(lines).str.contains("\x00" if clean == "nul" else BAD_CHARS).to_arrow()


def extract(lines: pa.Array, pattern: str, required: str) -> tuple[pa.Array, dict[str, pa.Array]]:
    """Named groups of ``pattern`` per line (polars' Rust regex engine): (matched mask, group -> strings).

    ``required`` names a group that is non-empty in every match; it tells matched lines apart.
    """
    import polars as pl

    m = pl.Series(lines).str.extract_groups(pattern).struct.unnest()
    fields = {c: m[c].to_arrow().cast(pa.string()) for c in m.columns}
    return pc.is_valid(fields[required]), fields


def reject_where(ctx: ReadContext, source: str, mask: pa.Array, lines: pa.Array, numbers: pa.Array,
                 reason: str | pa.Array) -> None:
    """Report every line where ``mask`` is true as rejected (one call per rejected line, none per good line)."""
    mask = pc.fill_null(mask, False)
    if not pc.any(mask).as_py():
        return
    raws = lines.filter(mask).to_pylist()
    nums = numbers.filter(mask).to_pylist()
    if isinstance(reason, (pa.Array, pa.ChunkedArray)):
        reasons = reason.filter(mask).to_pylist()
    else:
        reasons = [reason] * len(raws)
    for ln, rs, rw in zip(nums, reasons, raws):
        ctx.reject(source, ln, rs, rw)


def pairs_to_columns(texts: pa.Array, pattern: str, unescape_newline: bool = False) -> dict[str, pa.Array]:
    """Every ``key=value`` match of ``pattern`` (no capture groups) in each text -> one column per key.

    Columns are aligned with ``texts`` (null where a text lacks the key), in order of first
    appearance; the last occurrence of a key in a text wins. Quoted values are unquoted and
    unescaped (``\\"`` and ``\\\\``; ``\\n`` too when ``unescape_newline``); an empty bare value is null.
    Runs on polars' Rust regex engine: one pass to find the pairs, then numpy to place them.
    """
    import polars as pl

    df = pl.DataFrame({"rid": np.arange(len(texts), dtype=np.int64), "kv": pl.Series(texts).str.extract_all(pattern)})
    return place_pairs(df.explode("kv").drop_nulls("kv"), len(texts), unescape_newline)


def place_pairs(df, n: int, unescape_newline: bool = False, prefix=None) -> dict[str, pa.Array]:
    """A polars frame of (``rid``, ``kv`` = ``key=value`` text) -> columns of length ``n``.

    See :func:`pairs_to_columns`.

    ``prefix``, a polars expression over ``df``, is put before each key with a ``.``.
    """
    import polars as pl

    out: dict[str, pa.Array] = {}
    if df.height == 0:
        return out
    kv = pl.col("kv").str.splitn("=", 2)
    key = kv.struct.field("field_0")
    if prefix is not None:
        key = pl.concat_str([prefix, pl.lit("."), key])
    df = df.select("rid", key.alias("k"), kv.struct.field("field_1").alias("v"))
    v = pl.col("v")
    is_quoted = v.str.starts_with('"') & (v.str.len_chars() >= 2)
    df = df.with_columns(
        pl.when(is_quoted).then(v.str.slice(1, v.str.len_chars() - 2)).when(v == "").then(None).otherwise(v).alias("v"),
        (is_quoted & v.str.contains("\\", literal=True)).alias("esc"),
    )
    vals = df["v"].to_arrow().cast(pa.string())
    esc = pc.fill_null(df["esc"].to_arrow(), False)
    if pc.any(esc).as_py():  # unescape only the few values holding a backslash
        sub = pl.Series(vals.filter(esc))
        if unescape_newline:
            sub = sub.str.replace_all(r"\\n", "\n")
        sub = sub.str.replace_all(r"\\(.)", "${1}")
        vals = pc.replace_with_mask(vals, esc, sub.to_arrow().cast(pa.string()))
    rid = df["rid"].to_numpy()
    enc = pc.dictionary_encode(df["k"].to_arrow())  # codes in order of first appearance
    codes = enc.indices.to_numpy(zero_copy_only=False)
    names = enc.dictionary.to_pylist()
    order = np.argsort(codes, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=len(names)))])
    for c in range(len(names)):
        rows = order[bounds[c]:bounds[c + 1]]
        idx = np.full(n, -1, dtype=np.int64)
        idx[rid[rows]] = rows  # later pairs overwrite earlier ones: the last occurrence wins
        out[names[c]] = pc.take(vals, pa.array(idx, mask=idx < 0))
    return out


def infer_numbers(arr: pa.Array) -> pa.Array:
    """A string column whose every value is an integer (or a number) as int64 (or float64); else unchanged."""
    if pc.all(pc.is_null(arr)).as_py():
        return arr
    for dtype, pat in ((pa.int64(), r"^-?(0|[1-9]\d{0,17})$"), (pa.float64(), r"^-?\d+(\.\d*)?([eE][+-]?\d+)?$")):
        ok = pc.match_substring_regex(arr, pat)
        if pc.all(pc.or_kleene(ok, pc.is_null(arr))).as_py():
            return pc.cast(arr, dtype)
    return arr


def times_to_ns(con: duckdb.DuckDBPyConnection, arr: pa.Array) -> pa.Array:
    """Strings (ISO 8601 with any offset, epoch s/ms/µs/ns) -> int64 epoch ns, null where unreadable."""
    con.register("obsnb_times_in", pa.table({"s": arr}))
    out = con.sql("SELECT obsnb_str_ns(s) AS t FROM obsnb_times_in").to_arrow_table().column("t")
    con.unregister("obsnb_times_in")
    return out.combine_chunks().cast(pa.int64())
