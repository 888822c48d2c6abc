"""The store: a persistent Parquet copy of parsed files, in time order, shared by every load and scan.

Off by default; ``ob.set_option("cache", "DIR")``, ``cache.enable_store("DIR")`` or ``load(..., cache="DIR")``
turns it on (an investigation folder whose obsnb.toml says ``[investigation] store = ".obsnb-store"`` turns
it on through :func:`enable_store`). One entry per file, keyed on the file's absolute path, size and
modification time, the format, the reader options, the obsnb version and the *parser revision* (a hash of
the readers' source code: a parser change parses again). Engine and window are not in the key, so every
``load()`` and ``scan()`` of a file shares its entry.

An entry holds each part of the file as zstd (level 1) Parquet **in time order** (``time``, or ``start`` for spans) in
row groups of ``cache_row_group`` rows, with each group's min and max time in ``entry.json`` (Parquet's
statistics hold them too): a window reads only the row groups that overlap it. Rows already nearly in time
order (logs written as they happen: each row group overlaps in time only its neighbours) are written as
they are, so a load needs no re-ordering and a window reads at most one group more at each edge than in a
sorted file; any other part is sorted by time (stable, null times last), and a hidden ``__obsnb_row``
column gives a load the file order back. The rejected records are kept, so ``obsnb.rejected()`` is the
same on a hit.

A load with no window parses a file whole (its frame holds every row anyway) and a background thread
writes the entry from the same Arrow tables while the frame is built (:func:`flush` waits; every read of
an entry waits for its write; a failed write leaves no entry and warns, :class:`StoreWriteWarning`). A
scan or a windowed load of a file larger than ``cache_chunk_bytes`` in a line format (JSON lines, logfmt;
``.gz`` too) ingests it in pieces cut at newlines: each piece is parsed, then written in time order as
above while the next is parsed; pieces that meet in time only at their edges are the entry's files as
they are, others are merged by time ranges into one sorted file. Such an ingest holds about two pieces in
memory, never the whole file.

The disk cap is ``cache_max_bytes`` (default 20 GiB): before and after each write, the least recently used
entries are removed until the store fits (the entry just written stays, even when it alone is larger). The
unfinished writes count: each is a ``.tmp-<pid>-<host>-*`` folder, and the ones a killed process left are
removed on the store's first use in a process and before each write (:mod:`obsnb.cache._disk` says when
a writer counts as dead). Only local
files are stored: backend results have snapshots (:func:`obsnb.snapshot`), and no credential can reach it.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import pathlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import __version__
from ..schema import conform
from ..options import set_option
from ..sources.base import MAX_RAW, Part, ReadContext, Reject
from ._ingest import CHUNKABLE, ingest
from ._order import reader_pool, window_in_time_order
from ._disk import disk_bytes, enforce_cap, open_store
from ._write import (ROW, StoreWriteWarning, _conform_to, _target_schema, _time_name, _touch, flush, progress,
                     row_groups_for, store_entry)

__all__ = ["cache_key", "load_entry", "store_entry", "has_entry", "entry_meta", "ingest", "enable_store", "enable_store_from",
           "parser_revision", "store_size", "enforce_cap", "row_groups_for", "progress", "flush", "StoreWriteWarning",
           "CHUNKABLE", "ROW", "window_in_time_order", "replay_rejects",
           "CANONICAL"]

_VERSION = 2
CANONICAL = "obsnb.canonical"  # schema metadata of a part read from an entry written conformed: its kind

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


def enable_store_from(toml_path: str | os.PathLike) -> str | None:
    """Turn the store on when the obsnb.toml at ``toml_path`` says ``[investigation] store = "DIR"`` (DIR taken
    relative to that file's folder; ``store_max_bytes`` there sets the cap). Returns the store's path, or
    None (and changes nothing) when the file or the setting is absent. ``obsnb.notebook.load_incident``
    calls it for the investigation folder's obsnb.toml."""
    import tomllib

    p = pathlib.Path(toml_path)
    try:
        inv = tomllib.loads(p.read_text()).get("investigation", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    store = inv.get("store") if isinstance(inv, dict) else None
    if not store:
        return None
    return enable_store(p.parent / os.path.expanduser(str(store)), max_bytes=inv.get("store_max_bytes"))


def _parser_files() -> list[str]:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = os.path.join(here, "sources")  # one listdir and string sort: a load of many files keys each
    return (sorted(os.path.join(src, n) for n in os.listdir(src) if n.endswith(".py"))
            + [os.path.join(here, n) for n in ("schema.py", "timeutil.py", "registry.py")])


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
    stamp = []
    for f in files:
        try:
            stamp.append((f, os.stat(f).st_mtime_ns))
        except OSError:
            pass
    return _revision_of(files + tuple(str(s) for s in stamp))


def cache_key(path: str, fmt: str | None, options: dict) -> str | None:
    """The entry name for a file read with these options (None when the options cannot be keyed)."""
    try:
        st = os.stat(path)
        opts = json.dumps({k: v for k, v in sorted(options.items()) if k != "cache"}, default=str, sort_keys=True)
        # a rewrite with the same size and mtime (os.utime, a copy keeping times) changes the inode, the
        # ctime or the bytes at either end: the first and last 64 KiB are hashed, never the whole file
        edges = hashlib.sha256()
        with open(path, "rb") as f:
            edges.update(f.read(65536))
            if st.st_size > 65536:
                f.seek(max(65536, st.st_size - 65536))
                edges.update(f.read(65536))
    except (OSError, TypeError):
        return None
    raw = json.dumps([_VERSION, __version__, parser_revision(), os.path.abspath(path), st.st_size, st.st_mtime_ns,
                      st.st_ino, st.st_ctime_ns, edges.hexdigest(), fmt, opts])
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def entry_meta(folder: str | os.PathLike, key: str) -> dict | None:
    """The entry's ``entry.json`` (kinds, rows and row-group time ranges per part, rejects); None on a miss.
    Waits for the entry's background write first, when one is under way. The first read of a store in a
    process clears what dead writers left (:func:`obsnb.cache._disk.open_store`)."""
    open_store(folder)
    flush(folder, key)
    try:
        return json.loads((pathlib.Path(folder) / key / "entry.json").read_text())
    except (OSError, ValueError):
        return None


def store_size(folder: str | os.PathLike) -> int:
    """Bytes the store takes on disk, its entries and its unfinished writes (``.tmp-*``), once its background
    writes are done: what the disk cap ``cache_max_bytes`` holds it to."""
    flush(folder)
    return disk_bytes(folder)


def has_entry(folder: str | os.PathLike, key: str) -> bool:
    flush(folder, key)
    return (pathlib.Path(folder) / key / "entry.json").is_file()


_BATCH = 1 << 24  # rows per batch of an entry read: one chunk per row group


def _reader():
    """(Parquet format, local file system, memory pool) for reading entries as dataset fragments: a
    fragment reads chosen row groups into a chosen pool, which ``pq.ParquetFile`` cannot."""
    import pyarrow.dataset as ds
    import pyarrow.fs

    return ds.ParquetFileFormat(), pyarrow.fs.LocalFileSystem(), reader_pool()


def load_entry(folder: str | os.PathLike, key: str, source: str, *, start_ns: int | None = None,
               end_ns: int | None = None, columns: list[str] | None = None
               ) -> tuple[list[Part], list[list], int, list[int]] | None:
    """Parts, the stored rejects (``[line, reason, raw]``, for :func:`replay_rejects`), the rejected count and each part's row count in the entry; None on a miss or a damaged entry.

    With a window only the row groups that overlap it are read (rows outside it may remain: the caller
    filters exactly); ``columns`` reads only those (and the time column). Rows come back in file order.
    """
    d = pathlib.Path(folder) / key
    meta = entry_meta(folder, key)
    if meta is None:
        return None
    try:
        _touch(d / "entry.json")  # least recently used goes first when the store is over its cap
        fmt, local, pool = _reader()
        parts = []
        for kind, runs in zip(meta["kinds"], meta["runs"]):
            files = [fmt.make_fragment(str(d / r["file"]), filesystem=local) for r in runs]
            schemas = [f.physical_schema for f in files]
            target = schemas[0] if len(files) == 1 else _target_schema(schemas)
            if columns is not None:
                want = set(columns) | {_time_name(kind), ROW}
                target = pa.schema([f for f in target if f.name in want])
            tabs = []
            for f, sch, r in zip(files, schemas, runs):
                idx = row_groups_for(r["groups"], start_ns, end_ns)
                if idx:
                    cols = [n for n in target.names if n in sch.names]
                    got = f.subset(row_group_ids=idx).to_table(columns=cols, memory_pool=pool, batch_size=_BATCH)
                    tabs.append(_conform_to(got, target))
            t = pa.concat_tables(tabs) if tabs else target.empty_table()
            if t.num_rows > 1 and not all(r.get("file_order") for r in runs):
                t = pc.take(t, pc.sort_indices(t.column(ROW)), memory_pool=pool)  # file order back
            t = t.drop_columns([ROW])
            if "_source" in t.column_names:  # the label the user gave this time
                t = t.set_column(t.column_names.index("_source"), "_source",
                                 pa.DictionaryArray.from_arrays(np.zeros(t.num_rows, np.int32), pa.array([source])))
            if columns is None and meta.get("canonical") and conform(t.slice(0, 0), kind).schema == t.schema:
                t = t.replace_schema_metadata({CANONICAL: kind})  # written conformed: a load need not conform it
            parts.append(Part(kind, t))
        return parts, meta["rejects"], int(meta["n_rejected"]), [int(r) for r in meta["rows"]]
    except (OSError, ValueError, KeyError, IndexError, pa.ArrowException):
        return None


def replay_rejects(ctx: ReadContext, source: str, rejects: list, n_rejected: int) -> None:
    """Report an entry's stored rejects (``[line, reason, raw]`` each, raw already cut to size when it was
    first read) into ``ctx`` as that read did: every one counted, the first ``MAX_RAW`` of the load listed;
    ``strict=True`` raises on the first. One list extend, not a call per record."""
    if ctx.strict and rejects:
        line, reason, raw = rejects[0]
        ctx.reject(source, line, reason, raw)  # raises
    room = max(0, MAX_RAW - len(ctx.rejects))
    listed = rejects[:room]
    if listed:  # columns, then one constructor call per reject from C (map): no Python loop body
        lines, reasons, raws = zip(*listed)
        ctx.rejects.extend(map(Reject, itertools.repeat(source, len(listed)), lines, reasons, raws))
    ctx.n_rejected += int(n_rejected)
