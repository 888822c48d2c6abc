"""Vectorised helpers for line-oriented formats (text layouts, logfmt, syslog, Prometheus text).

Lines are cut with numpy (views into the file's bytes, no copy per line) and checked by Arrow, matched
with polars' Rust regex engine (the fastest of Arrow's RE2, DuckDB's RE2 and polars measured on 1M-line
files), placed with numpy, and timestamps are parsed
by DuckDB's macros shared with every other loader; no Python loop runs per line.
"""

from __future__ import annotations

import dataclasses
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
_POOL: list = []


def background(fn, *args, now: bool = False):
    """``fn(*args)`` on a helper thread, as a future (``.result()`` waits, and raises what ``fn`` raised);
    with ``now`` (an input too small to be worth a thread) run here, and its result in a done future.

    For a pure numpy/Arrow step (each releases the GIL) that can run while the caller does the next ones:
    the stages of one load after the regex are serial, and a second core is otherwise idle.
    """
    import concurrent.futures

    if now:
        done: concurrent.futures.Future = concurrent.futures.Future()
        done.set_result(fn(*args))
        return done
    if not _POOL:
        _POOL.append(concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="obsnb-lines"))
    return _POOL[0].submit(fn, *args)


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


@dataclasses.dataclass
class Lines:
    """The non-blank lines of a file (see :func:`line_views`): ``text`` a polars string Series of views
    into ``data`` (the file's bytes), ``starts``/``ends`` each line's byte range in it, ``numbers`` the
    1-based line numbers and ``bad`` where a line holds binary garbage (numpy arrays)."""

    text: object
    numbers: np.ndarray
    bad: np.ndarray
    data: bytes
    starts: np.ndarray
    ends: np.ndarray

    def views(self, starts: np.ndarray, ends: np.ndarray, valid: np.ndarray | None = None):
        """Pieces ``data[starts[i]:ends[i]]`` (within the lines) as a polars string Series, no bytes copied;
        null where ``valid`` (a bool array) is False."""
        import polars as pl

        return pl.from_arrow(_view_array(self.data, starts, ends, valid))


def line_views(src: FileInput, ctx: ReadContext, release: bool = False) -> Lines:
    """The non-blank lines of a file as a polars string Series over the file's own bytes (no line is
    copied), their 1-based numbers and where each holds binary garbage.

    ``\\r`` before a newline is stripped; the last line may lack its newline (a cut-off write; readers
    reject it when it does not parse). Each line is an Arrow string view (length, first bytes, place in
    the buffer) built with numpy from the newline positions, so the lines are one buffer: the bytes
    :meth:`FileInput.data` read. With ``release`` the FileInput lets go of them (the lines hold them, and
    free them with the lines). A file that is not valid UTF-8 is decoded with U+FFFD for each bad byte
    first (its lines are garbage, see :func:`bad_mask`). A line over the record cap (the load's
    ``max_record_bytes``) is never read whole: it is rejected here, with the cap's reason, and left out.
    """
    src.max_record = record_cap(ctx)
    data = src.data()
    if release:
        src._data = None
    for line, nbytes, first in src.oversized:  # each left as an empty line, so the numbers stay right
        ctx.reject(src.path, line, over_cap_reason(nbytes, src.max_record), first)
    clean: bool | str = True
    # the UTF-8 check (Arrow, no GIL held) runs on a helper thread while this one finds the newlines
    check = background(_utf8, data, now=len(data) < _BIG)
    starts, ends = _bounds(data)
    if data and not check.result():
        data, clean = data.decode("utf-8", errors="replace").encode(), False  # \n is never part of a bad byte
        starts, ends = _bounds(data)  # a bad byte became the 3 bytes of U+FFFD: the lines moved
    elif data:
        clean = True if b"\x00" not in data else "nul"
    numbers = np.arange(1, len(starts) + 1, dtype=np.int64)
    keep = ~_blank(data, starts, ends)
    if not keep.all():
        starts, ends, numbers = starts[keep], ends[keep], numbers[keep]
    out = Lines(None, numbers, np.zeros(0, dtype=bool), data, starts, ends)
    out.text = out.views(starts, ends).alias("lines")
    out.bad = bad_mask(out.text, clean)
    return out


def _utf8(data: bytes) -> bool:
    """Whether ``data`` is valid UTF-8 (Arrow's check of one string over the bytes, no copy)."""
    whole = pa.LargeStringArray.from_buffers(1, pa.py_buffer(np.array([0, len(data)], dtype=np.int64)),
                                             pa.py_buffer(data))
    try:
        whole.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


_PIECE = 1 << 20  # bytes scanned for newlines at a time: no file-sized mask
_BIG = 8 << 20  # bytes worth checking on a helper thread
_SPAN = 30  # a view's buffer is the file from a multiple of 2**_SPAN bytes on: its offsets fit in int32


def _bounds(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Where each line starts and ends (before its newline and any ``\\r`` right before that)."""
    if not data:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    a = np.frombuffer(data, dtype=np.uint8)
    nl = np.concatenate([np.flatnonzero(a[i:i + _PIECE] == 10) + i for i in range(0, len(a), _PIECE)])
    ends = nl.astype(np.int64, copy=False) if data.endswith(b"\n") else np.append(nl, len(a)).astype(np.int64)
    starts = np.empty(len(ends), dtype=np.int64)
    starts[0] = 0
    np.add(ends[:-1], 1, out=starts[1:])
    if b"\r" not in data:  # one memchr: no array for the usual file
        return starts, ends
    while True:  # a run of \r before the newline goes (one vectorised step per \r of the longest run)
        last = ends - 1
        np.maximum(last, 0, out=last)
        cr = np.flatnonzero((ends > starts) & (a[last] == 13))
        if not len(cr):
            return starts, ends
        ends[cr] -= 1


def _blank(data: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """True where a line is empty or whitespace; only lines that start with a space or a non-ASCII byte are
    matched with a regex."""
    import polars as pl

    empty = ends == starts
    if not len(starts):
        return empty
    a = np.frombuffer(data, dtype=np.uint8)
    first = a[starts] if starts[-1] < len(a) else a[np.minimum(starts, len(a) - 1)]  # starts ascend
    maybe = np.flatnonzero(~empty & (((first >= 9) & (first <= 13)) | (first == 32) | (first >= 0x80)))
    if len(maybe):
        sub = pl.from_arrow(_view_array(data, starts[maybe], ends[maybe]))
        empty[maybe[sub.str.contains(r"^\s*$").to_numpy()]] = True
    return empty


def _view_array(data: bytes, starts: np.ndarray, ends: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """An Arrow string_view array of ``data[starts[i]:ends[i]]`` over ``data`` itself: only the 16-byte views
    are made (a line of up to 12 bytes is held in its view, as Arrow requires); null where ``valid`` is False."""
    a = np.frombuffer(data, dtype=np.uint8)
    n = len(starts)
    views = np.zeros((n, 4), dtype=np.int32)
    lens = views[:, 0]
    np.subtract(ends, starts, out=lens, casting="unsafe")  # straight into the views (int32, as Arrow has them)
    is_long = lens > 12
    n_long = int(np.count_nonzero(is_long))
    last_long = -1
    if n_long:
        word = np.ndarray((len(a) - 3,), dtype="<i4", buffer=a, strides=(1,))  # 4 bytes from any place
        # every line long (the usual case): no index array, no gather or scatter by it
        rows = slice(None) if n_long == n else np.flatnonzero(is_long)
        last_long = n - 1 if n_long == n else int(rows[-1])
        s = starts[rows]
        views[rows, 1] = word[s]
        if len(a) > 1 << _SPAN:
            views[rows, 2] = s >> _SPAN
            views[rows, 3] = s & ((1 << _SPAN) - 1)
        else:  # one buffer, the whole file: the offset is the start (buffer 0 is what np.zeros left)
            views[rows, 3] = s
    short = np.flatnonzero(~is_long) if n_long < n else np.zeros(0, dtype=np.int64)
    for i in range(0, len(short), _PIECE):  # the bytes of short lines, in pieces (a 12-wide gather each)
        rows = short[i:i + _PIECE]
        col = np.arange(12)
        idx = starts[rows, None] + col
        inline = np.where(col < lens[rows, None], a[np.minimum(idx, len(a) - 1)], 0).astype(np.uint8)
        views[rows, 1:] = inline.view("<i4")
    spans = int(starts[last_long] >> _SPAN) + 1 if n_long else 0
    buf = pa.py_buffer(data)
    nulls = None if valid is None or valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(pa.string_view(), n, [nulls, pa.py_buffer(views)] +
                                 [buf.slice(k << _SPAN) for k in range(spans)])


def read_lines(src: FileInput, ctx: ReadContext) -> tuple[pa.Array, pa.Array, pa.Array]:
    """:func:`line_views` as Arrow: the non-blank lines (strings, copied out of the views once), their
    numbers and the garbage mask."""
    lines = line_views(src, ctx)
    return lines.text.to_arrow().cast(pa.string()), pa.array(lines.numbers), pa.array(lines.bad)


def head_lines(head: bytes, limit: int) -> list[bytes]:
    """The first ``limit`` non-blank lines of a sniffed head, without a last line the head may have cut."""
    lines = [ln.rstrip(b"\r") for ln in head.split(b"\n")[:limit] if ln.strip()]
    if len(lines) > 1 and not head.endswith(b"\n"):
        lines = lines[:-1]
    return lines


def bad_mask(lines, clean: bool | str = False) -> np.ndarray:
    """True where a line (polars or Arrow strings) holds binary garbage (all False at once when the file was
    ``clean``; see :func:`line_views`)."""
    import polars as pl

    if clean is True:
        return np.zeros(len(lines), dtype=bool)
    return pl.Series(lines).str.contains("\x00" if clean == "nul" else BAD_CHARS).fill_null(False).to_numpy()


def extract(lines: pa.Array, pattern: str, required: str) -> tuple[pa.Array, dict[str, pa.Array]]:
    """Named groups of ``pattern`` per line (polars' Rust regex engine): (matched mask, group -> strings).

    ``required`` names a group that is non-empty in every match; it tells matched lines apart.
    """
    import polars as pl

    m = pl.Series(lines).str.extract_groups(pattern).struct.unnest()
    fields = {c: m[c].to_arrow().cast(pa.string()) for c in m.columns}
    return pc.is_valid(fields[required]), fields


def reject_where(ctx: ReadContext, source: str, mask, lines, numbers, reason) -> None:
    """Report every line where ``mask`` is true as rejected (one call per rejected line, none per good line).

    ``mask``, ``lines``, ``numbers`` and an array ``reason`` may each be Arrow, polars or numpy.
    """
    where = np.flatnonzero(_bools(mask))
    if not len(where):
        return
    raws, nums = _picked(lines, where), _picked(numbers, where)
    reasons = [reason] * len(where) if isinstance(reason, str) else _picked(reason, where)
    for ln, rs, rw in zip(nums, reasons, raws):
        ctx.reject(source, ln, rs, rw)


def _bools(mask) -> np.ndarray:
    if isinstance(mask, np.ndarray):
        return mask
    if isinstance(mask, (pa.Array, pa.ChunkedArray)):
        return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)
    return mask.fill_null(False).to_numpy()  # polars


def _picked(values, where: np.ndarray) -> list:
    """The values at ``where`` (Arrow, polars or numpy) as a Python list."""
    if isinstance(values, np.ndarray):
        return values[where].tolist()
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.take(pa.array(where)).to_pylist()
    return values.gather(where).to_list()  # polars


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
