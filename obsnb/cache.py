"""The store: a persistent Parquet copy of parsed files, sorted by time, shared by every load and scan.

Off by default; ``ob.set_option("cache", "DIR")``, ``cache.enable_store("DIR")`` or ``load(..., cache="DIR")``
turns it on (an investigation folder whose obsnb.toml says ``[investigation] store = ".obsnb-store"`` turns
it on through :func:`enable_store`). One entry per file, keyed on the file's absolute path, size and
modification time, the format, the reader options, the obsnb version and the *parser revision* (a hash of
the readers' source code: a parser change parses again). Engine and window are not in the key, so every
``load()`` and ``scan()`` of a file shares its entry.

An entry holds each part of the file as zstd Parquet written **sorted by time** (``time``, or ``start`` for
spans; stable, null times last) in row groups of ``cache_row_group`` rows, with each group's first and last
time in ``entry.json`` (Parquet's statistics hold them too): a window reads only the row groups that
overlap it. A hidden ``__obsnb_row`` column keeps the file order, which a load gives back. The rejected
records are kept, so ``obsnb.rejected()`` is the same on a hit.

A file larger than ``cache_chunk_bytes`` in a line format (JSON lines, logfmt; ``.gz`` too) is ingested in
pieces: each piece is parsed and written sorted, then the pieces are merged by time ranges into the entry,
so the first ingest holds about two pieces in memory, never the whole file.

The disk cap is ``cache_max_bytes`` (default 20 GiB): after each write, the least recently used entries
are removed until the store fits (the entry just written stays, even when it alone is larger). Only local
files are stored: backend results have snapshots (:func:`obsnb.snapshot`), and no credential can reach it.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import pathlib
import shutil
import tempfile
import time
import zlib
from typing import Any, Callable, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from . import __version__
from .options import get_option, set_option
from .sources.base import Part, ReadContext, Reject

__all__ = ["cache_key", "load_entry", "store_entry", "has_entry", "entry_meta", "ingest", "enable_store",
           "parser_revision", "store_size", "row_groups_for", "progress"]

_VERSION = 2
ROW = "__obsnb_row"
CHUNKABLE = {"jsonl", "logfmt"}  # one record per line: a piece cut at a newline parses as the whole would


def enable_store(path: str | os.PathLike, *, max_bytes: int | None = None) -> str:
    """Turn the store on at ``path`` (created when first written) for every later load and scan.

    This is what an investigation folder's ``[investigation] store = ".obsnb-store"`` does (the path taken
    relative to the folder). ``max_bytes`` sets the disk cap (option ``cache_max_bytes``). Returns the path.
    """
    p = os.fspath(path)
    set_option("cache", p)
    if max_bytes is not None:
        set_option("cache_max_bytes", int(max_bytes))
    return p


def _parser_files() -> list[pathlib.Path]:
    here = pathlib.Path(__file__).parent
    return sorted((here / "sources").glob("*.py")) + [here / n for n in ("schema.py", "timeutil.py", "registry.py")]


@functools.lru_cache(maxsize=None)
def _revision_of(files: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.encode())
        try:
            h.update(pathlib.Path(f).read_bytes())
        except OSError:
            h.update(b"-")
    return h.hexdigest()[:16]


def parser_revision() -> str:
    """A hash of the readers' source code (obsnb/sources, schema, timeutil, registry): part of every key."""
    files = tuple(str(p) for p in _parser_files())
    stamp = tuple((f, os.stat(f).st_mtime_ns) for f in files if os.path.exists(f))
    return _revision_of(files + tuple(str(s) for s in stamp))


def cache_key(path: str, fmt: str | None, options: dict) -> str | None:
    """The entry name for a file read with these options (None when the options cannot be keyed)."""
    try:
        st = os.stat(path)
        opts = json.dumps({k: v for k, v in sorted(options.items()) if k != "cache"}, default=str, sort_keys=True)
    except (OSError, TypeError):
        return None
    raw = json.dumps([_VERSION, __version__, parser_revision(), os.path.abspath(path), st.st_size, st.st_mtime_ns,
                      fmt, opts])
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def entry_meta(folder: str | os.PathLike, key: str) -> dict | None:
    """The entry's ``entry.json`` (kinds, rows and row-group time ranges per part, rejects); None on a miss."""
    try:
        return json.loads((pathlib.Path(folder) / key / "entry.json").read_text())
    except (OSError, ValueError):
        return None


def has_entry(folder: str | os.PathLike, key: str) -> bool:
    return (pathlib.Path(folder) / key / "entry.json").is_file()


# ----------------------------------------------------------------------------------------------- writing


def _time_name(kind: str) -> str:
    return "start" if kind == "spans" else "time"


def _time_ns(col: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """A time column as int64 epoch-ns (None when it is not a timestamp or an integer)."""
    t = col.type
    if pa.types.is_timestamp(t):
        return col.cast(pa.timestamp("ns", t.tz)).cast(pa.int64())
    if pa.types.is_integer(t):
        return col.cast(pa.int64())
    return None


def _sorted(table: pa.Table, kind: str) -> tuple[pa.Table, pa.ChunkedArray | None]:
    """The table in time order (stable, nulls last) and its times as int64 ns."""
    name = _time_name(kind)
    ns = _time_ns(table.column(name)) if name in table.column_names else None
    if ns is None or table.num_rows < 2:
        return table, ns
    idx = pc.sort_indices(pa.table({"t": ns, "r": table.column(ROW)}),
                          sort_keys=[("t", "ascending", "at_end"), ("r", "ascending", "at_end")])
    return table.take(idx), ns.take(idx)


def _with_row(table: pa.Table, first: int) -> pa.Table:
    return table.append_column(ROW, pa.array(range(first, first + table.num_rows), pa.int64()))


class _PartWriter:
    """Writes one part's Parquet file in row groups of ``cache_row_group`` rows, noting each group's time range."""

    def __init__(self, path: pathlib.Path, schema: pa.Schema):
        import pyarrow.parquet as pq

        self.path = path
        self.writer = pq.ParquetWriter(path, schema, compression="zstd", write_statistics=True)
        self.groups: list[list[int | None]] = []  # [rows, first time ns, last time ns] per row group
        self.size = int(get_option("cache_row_group"))
        self.pending: list[tuple[pa.Table, pa.ChunkedArray | None]] = []
        self.n_pending = 0

    def write(self, table: pa.Table, ns: pa.ChunkedArray | None) -> None:
        """Append rows already in time order (after the rows written before)."""
        self.pending.append((table, ns))
        self.n_pending += table.num_rows
        while self.n_pending >= self.size:
            self._flush(self.size)

    def _flush(self, n: int) -> None:
        t = pa.concat_tables([p[0] for p in self.pending])  # zero-copy: chunks, then slices of them
        has_ns = all(p[1] is not None for p in self.pending)
        ns = pa.chunked_array([c for p in self.pending for c in p[1].chunks], pa.int64()) if has_ns else None
        head, rest = t.slice(0, n), t.slice(n)
        if head.num_rows:
            self.writer.write_table(head, row_group_size=head.num_rows)
            lo = hi = None
            if ns is not None:
                valid = ns.slice(0, n).drop_null()
                if len(valid):
                    lo, hi = int(valid[0].as_py()), int(valid[-1].as_py())
            nulls = ns is None or ns.slice(0, n).null_count > 0
            self.groups.append([head.num_rows, lo, None if nulls else hi])  # hi None: unbounded (nulls, unsorted)
        self.pending = [(rest, ns.slice(n) if ns is not None else None)] if rest.num_rows else []
        self.n_pending = rest.num_rows

    def close(self) -> list[list[int | None]]:
        if self.n_pending:
            self._flush(self.n_pending)
        self.writer.close()
        return self.groups


def _write_meta(tmp: pathlib.Path, kinds: list[str], runs: list[list[dict]], rejects: list[Reject], n_rejected: int) -> None:
    """``runs[i]``: the files of part i, each ``{"file", "groups": [[rows, first ns, last ns], ...]}``, in time
    order (a part is one sorted file, or sorted files whose time ranges meet at most at their edges)."""
    meta = {"kinds": kinds, "runs": runs, "rows": [sum(g[0] for r in rs for g in r["groups"]) for rs in runs],
            "n_rejected": n_rejected, "rejects": [[r.line, r.reason, r.raw] for r in rejects]}
    (tmp / "entry.json").write_text(json.dumps(meta))


def _touch(path: pathlib.Path) -> None:
    """Mark an entry used now (the file system's own clock can be too coarse to order two uses)."""
    now = time.time_ns()
    os.utime(path, ns=(now, now))


def _publish(base: pathlib.Path, tmp: pathlib.Path, key: str) -> None:
    _touch(tmp / "entry.json")
    try:
        os.replace(tmp, base / key)
    except OSError:  # another process wrote it first
        shutil.rmtree(tmp, ignore_errors=True)
    enforce_cap(base, keep=key)


def _new_tmp(folder: str | os.PathLike) -> tuple[pathlib.Path, pathlib.Path]:
    base = pathlib.Path(folder)
    base.mkdir(parents=True, exist_ok=True)
    return base, pathlib.Path(tempfile.mkdtemp(prefix=".tmp-", dir=base))


def store_entry(folder: str | os.PathLike, key: str, parts: list[Part], rejects: list[Reject], n_rejected: int) -> None:
    """Write an entry of parts held in memory, each sorted by time, atomically (a reader never sees half)."""
    base, tmp = _new_tmp(folder)
    runs = []
    for i, p in enumerate(parts):
        t, ns = _sorted(_with_row(p.table, 0), p.kind)
        w = _PartWriter(tmp / f"part-{i}.parquet", t.schema)
        w.write(t, ns)
        runs.append([{"file": w.path.name, "groups": w.close()}])
    _write_meta(tmp, [p.kind for p in parts], runs, rejects, n_rejected)
    _publish(base, tmp, key)


# ---------------------------------------------------------------------------------- streaming ingest


def _pieces(path: str, limit: int, out: pathlib.Path, name: str) -> Iterator[tuple[pathlib.Path, int, int, str | None]]:
    """Cut a (gzipped) line file at newlines into files of about ``limit`` bytes: (piece, first line, bytes
    read, truncation reason or None). The reason is set on the last piece when a gzip stream ends early."""
    opener = gzip.open if path.endswith(".gz") else open
    line0, carry, j, broken = 1, b"", 0, None
    with opener(path, "rb") as f:
        while True:
            try:
                block = f.read(limit)
            except (EOFError, OSError, zlib.error) as exc:
                block, broken = b"", f"gzip stream ends early or is corrupt ({exc})"
            data = carry + block
            if not block:
                if data:
                    yield _piece(out, j, name, data), line0, len(data), broken
                elif broken:
                    yield _piece(out, j, name, b""), line0, 0, broken
                return
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                carry = data
                continue
            piece, carry = data[:cut], data[cut:]
            yield _piece(out, j, name, piece), line0, len(piece), None
            line0 += piece.count(b"\n")
            j += 1


def _piece(out: pathlib.Path, j: int, name: str, data: bytes) -> pathlib.Path:
    p = out / f"piece-{j:05d}-{name}"
    p.write_bytes(data)
    return p


def _target_schema(schemas: list[pa.Schema]) -> pa.Schema:
    """One schema for the pieces of a file: columns in first-seen order; a column whose pieces disagree on
    its type becomes text (as a whole-file read types a field that is not numeric everywhere)."""
    fields: dict[str, pa.Field] = {}
    for s in schemas:
        for f in s:
            old = fields.get(f.name)
            if old is None or pa.types.is_null(old.type):
                fields[f.name] = f
            elif not pa.types.is_null(f.type) and old.type != f.type:
                if pa.types.is_dictionary(old.type) or pa.types.is_dictionary(f.type):
                    fields[f.name] = pa.field(f.name, pa.dictionary(pa.int32(), pa.string()))
                elif {pa.types.is_integer(old.type) or pa.types.is_floating(old.type),
                      pa.types.is_integer(f.type) or pa.types.is_floating(f.type)} == {True}:
                    fields[f.name] = pa.field(f.name, pa.float64())
                else:
                    fields[f.name] = pa.field(f.name, pa.large_string())
    return pa.schema(list(fields.values()))


def _conform_to(t: pa.Table, target: pa.Schema) -> pa.Table:
    cols = []
    for f in target:
        if f.name in t.column_names:
            c = t.column(f.name)
            if c.type != f.type:
                c = c.cast(pa.string()).cast(f.type) if pa.types.is_dictionary(c.type) else c.cast(f.type)
            cols.append(c)
        else:
            cols.append(pa.nulls(t.num_rows, f.type))
    return pa.table(cols, schema=target)


def _disjoint(pieces: list[tuple[pathlib.Path, list]]) -> bool:
    """Whether sorted pieces, taken in order of their first time, overlap only in the row group at each
    edge (logs written in time order, with some jitter): then they are the part as they are."""
    spans = [(gs[0][1], gs) for _, gs in pieces if gs]
    if any(lo is None for lo, _ in spans) or [lo for lo, _ in spans] != sorted(lo for lo, _ in spans):
        return False
    for (_, a), (b_lo, b) in zip(spans, spans[1:]):
        a_hi = a[-1][2] if a[-1][2] is not None else a[-1][1]
        late = sum(1 for g in a if g[2] is None or g[2] >= b_lo)
        early = sum(1 for g in b if g[1] <= a_hi)
        if late > 1 or early > 1 or any(g[2] is None for g in a[:-1]):
            return False
    return True


def _merge(pieces: list[tuple[pathlib.Path, list]], kind: str, out: pathlib.Path) -> list:
    """Merge pieces (each sorted, with its row-group time ranges) into one sorted Parquet file, one time
    range at a time: a range holds about a piece's rows, so memory stays near two pieces."""
    import pyarrow.parquet as pq

    files = [pq.ParquetFile(p) for p, _ in pieces]
    target = _target_schema([f.schema_arrow for f in files])
    w = _PartWriter(out, target)
    # a cut wherever the row groups met so far (by first time) hold a piece's worth of rows
    budget = max(sum(g[0] for g in gs) for _, gs in pieces)
    cuts, acc = [], 0
    for n, lo, _ in sorted((g for _, gs in pieces for g in gs if g[1] is not None), key=lambda g: g[1]):
        if acc >= budget and (not cuts or lo > cuts[-1]):
            cuts.append(lo)
            acc = 0
        acc += n
    name = _time_name(kind)
    for lo, hi in zip([None] + cuts, cuts + [None]):
        tabs = []
        for f, (_, gs) in zip(files, pieces):
            idx = row_groups_for(gs, lo, hi)
            if not idx:
                continue
            t = f.read_row_groups(idx)
            ns = _time_ns(t.column(name)) if name in t.column_names else None
            if ns is None and hi is not None:
                continue  # rows without a time go with the last range
            if ns is not None:
                m = pc.is_valid(ns)
                if lo is not None:
                    m = pc.and_(m, pc.greater_equal(ns, lo))
                if hi is not None:
                    m = pc.and_(m, pc.less(ns, hi))
                else:
                    m = pc.or_(pc.fill_null(m, False), pc.is_null(ns))  # the last range takes the null times
                t = t.filter(pc.fill_null(m, False))
            if t.num_rows:
                tabs.append(_conform_to(t, target))
        if tabs:
            t, ns = _sorted(pa.concat_tables(tabs), kind)
            w.write(t, ns)
    return w.close()


def _gz_size(path: str) -> int:
    """The uncompressed size a gzip file's trailer states (modulo 4 GiB; 0 when unreadable)."""
    try:
        with open(path, "rb") as f:
            f.seek(-4, os.SEEK_END)
            return int.from_bytes(f.read(4), "little")
    except OSError:
        return 0


def ingest(folder: str | os.PathLike, key: str, path: str, fmt: str, ctx: ReadContext,
           parse: Callable[[str, str, ReadContext], list[Part]], source: str) -> list[Part] | None:
    """Parse ``path`` into a new store entry, reporting its rejects into ``ctx``.

    Small files (or formats that cannot be cut) are parsed whole: the parts are returned as well. A line
    file over ``cache_chunk_bytes`` is parsed piece by piece and merged (returns None: read the entry).
    """
    limit = int(get_option("cache_chunk_bytes"))
    size = os.path.getsize(path)
    if path.endswith(".gz"):
        size = max(size, _gz_size(path))
    if fmt not in CHUNKABLE or size <= limit:
        before_n, before_list = ctx.n_rejected, len(ctx.rejects)
        parts = parse(path, fmt, ctx)
        store_entry(folder, key, parts, ctx.rejects[before_list:], ctx.n_rejected - before_n)
        return parts
    base, tmp = _new_tmp(folder)
    work = pathlib.Path(tempfile.mkdtemp(prefix=".pieces-", dir=base))
    try:
        by_kind: dict[str, list] = {}
        rows: dict[str, int] = {}
        rejects: list[Reject] = []
        n_rejected = 0
        name = os.path.basename(path)[:-3] if path.endswith(".gz") else os.path.basename(path)
        with progress(None if path.endswith(".gz") else size, f"ingesting {os.path.basename(path)}") as bar:
            for j, (piece, line0, nbytes, broken) in enumerate(_pieces(path, limit, work, name)):
                sub = ReadContext(strict=ctx.strict, options=ctx.options, kind=ctx.kind)
                parts = parse(str(piece), fmt, sub) if nbytes else []
                for r in sub.rejects:
                    rej = Reject(source, None if r.line is None else r.line + line0 - 1, r.reason, r.raw)
                    rejects.append(rej)
                    ctx.reject(rej.source, rej.line, rej.reason, rej.raw)
                n_rejected += sub.n_rejected
                ctx.n_rejected += sub.n_rejected - len(sub.rejects)
                if broken:
                    ctx.reject(source, None, broken, None)
                    rejects.append(Reject(source, None, broken, None))
                    n_rejected += 1
                for i, p in enumerate(parts):
                    t = p.table
                    if "_line" in t.column_names:
                        t = t.set_column(t.column_names.index("_line"), "_line", pc.add(t.column("_line"), line0 - 1))
                    t, ns = _sorted(_with_row(t, rows.get(p.kind, 0)), p.kind)
                    rows[p.kind] = rows.get(p.kind, 0) + t.num_rows
                    w = _PartWriter(work / f"sorted-{j:05d}-{i}.parquet", t.schema)
                    w.write(t, ns)
                    by_kind.setdefault(p.kind, []).append((w.path, w.close()))
                piece.unlink()
                bar.update(nbytes)
        kinds = list(by_kind)
        runs = []
        for i, k in enumerate(kinds):
            pieces = by_kind[k]
            if _disjoint(pieces):  # already in time order: the sorted pieces are the part's files
                rs = []
                for j, (p, gs) in enumerate(pieces):
                    os.replace(p, tmp / f"part-{i}-{j:05d}.parquet")
                    rs.append({"file": f"part-{i}-{j:05d}.parquet", "groups": gs})
                runs.append(rs)
            else:
                runs.append([{"file": f"part-{i}.parquet", "groups": _merge(pieces, k, tmp / f"part-{i}.parquet")}])
        _write_meta(tmp, kinds, runs, rejects, n_rejected)
        _publish(base, tmp, key)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return None


# ----------------------------------------------------------------------------------------------- reading


def row_groups_for(groups: list, start_ns: int | None, end_ns: int | None) -> list[int]:
    """The row groups whose time range overlaps ``[start_ns, end_ns)`` (all of them without a window)."""
    out = []
    for i, (_n, lo, hi) in enumerate(groups):
        if end_ns is not None and lo is not None and lo >= end_ns:
            continue
        if start_ns is not None and hi is not None and hi < start_ns:
            continue
        out.append(i)
    return out


def load_entry(folder: str | os.PathLike, key: str, source: str, *, start_ns: int | None = None,
               end_ns: int | None = None, columns: list[str] | None = None
               ) -> tuple[list[Part], list[Reject], int, list[int]] | None:
    """Parts, rejects, the rejected count and each part's row count in the entry; None on a miss or a damaged entry.

    With a window only the row groups that overlap it are read (rows outside it may remain: the caller
    filters exactly); ``columns`` reads only those (and the time column). Rows come back in file order.
    """
    import pyarrow.parquet as pq

    d = pathlib.Path(folder) / key
    meta = entry_meta(folder, key)
    if meta is None:
        return None
    try:
        _touch(d / "entry.json")  # least recently used goes first when the store is over its cap
        parts = []
        for kind, runs in zip(meta["kinds"], meta["runs"]):
            files = [pq.ParquetFile(d / r["file"]) for r in runs]
            target = files[0].schema_arrow if len(files) == 1 else _target_schema([f.schema_arrow for f in files])
            if columns is not None:
                want = set(columns) | {_time_name(kind), ROW}
                target = pa.schema([f for f in target if f.name in want])
            tabs = []
            for f, r in zip(files, runs):
                idx = row_groups_for(r["groups"], start_ns, end_ns)
                if idx:
                    cols = [n for n in target.names if n in f.schema_arrow.names]
                    tabs.append(_conform_to(f.read_row_groups(idx, columns=cols), target))
            t = pa.concat_tables(tabs) if tabs else target.empty_table()
            if t.num_rows > 1:
                t = t.take(pc.sort_indices(t.column(ROW)))  # file order back
            t = t.drop_columns([ROW])
            if "_source" in t.column_names:  # the label the user gave this time
                t = t.set_column(t.column_names.index("_source"), "_source",
                                 pa.DictionaryArray.from_arrays(pa.array([0] * t.num_rows, pa.int32()), pa.array([source])))
            parts.append(Part(kind, t))
        rejects = [Reject(source, r[0], r[1], r[2]) for r in meta["rejects"]]
        return parts, rejects, int(meta["n_rejected"]), [int(r) for r in meta["rows"]]
    except (OSError, ValueError, KeyError, IndexError, pa.ArrowException):
        return None


# ------------------------------------------------------------------------------------------ cap, progress


def store_size(folder: str | os.PathLike) -> int:
    """Bytes the store's entries take on disk."""
    return sum(_entry_bytes(d) for d in pathlib.Path(folder).iterdir() if d.is_dir() and not d.name.startswith("."))


def _entry_bytes(d: pathlib.Path) -> int:
    return sum(f.stat().st_size for f in d.iterdir() if f.is_file())


def enforce_cap(folder: str | os.PathLike, keep: str | None = None) -> list[str]:
    """Remove the least recently used entries until the store fits ``cache_max_bytes``; returns their keys."""
    cap = get_option("cache_max_bytes")
    base = pathlib.Path(folder)
    if cap is None or not base.is_dir():
        return []
    entries = []
    for d in base.iterdir():
        if d.is_dir() and not d.name.startswith(".") and (d / "entry.json").is_file():
            entries.append(((d / "entry.json").stat().st_mtime_ns, d.name, _entry_bytes(d)))
    total = sum(e[2] for e in entries)
    removed = []
    for _, name, size in sorted(entries):
        if total <= cap:
            break
        if name == keep:
            continue
        shutil.rmtree(base / name, ignore_errors=True)
        total -= size
        removed.append(name)
    return removed


def progress(total: int, desc: str) -> Any:
    """A progress bar (terminal or notebook) that shows itself only after 2 s, when ``progress`` is on."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, delay=2.0, leave=False,
                disable=not get_option("progress"))
