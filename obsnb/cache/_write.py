"""Writing the store: time-sorted Parquet files in row groups, their time ranges, atomic entries, the cap."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile
import threading
import time
import warnings
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .. import schema
from ..options import get_option
from ..private_files import private_dir
from ..sources.base import Part, Reject

ROW = "__obsnb_row"  # the row's place in its file: a load gives the file order back


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


def _nearly_ordered(ns: pa.ChunkedArray, size: int) -> bool:
    """Whether rows in file order already make row groups of ``size`` rows that overlap in time only their
    neighbours (logs written in time order, with some jitter): a window then reads at most one group more
    at each edge than in a sorted file, and a load needs no re-ordering."""
    import numpy as np

    if ns.null_count or len(ns) <= 2 * size:
        return ns.null_count == 0 and len(ns) <= size
    a = ns.to_numpy()
    pad = (-len(a)) % size
    g = np.concatenate([a, np.full(pad, a[-1])]).reshape(-1, size)
    lo, hi = g.min(axis=1), g.max(axis=1)
    later_lo = np.minimum.accumulate(lo[::-1])[::-1]  # the smallest first time of group i and every later one
    return bool(np.all(hi[:-2] < later_lo[2:]))


def _arrange(table: pa.Table, kind: str) -> tuple[pa.Table, pa.ChunkedArray | None, bool]:
    """The rows as they are when they are nearly in time order (see :func:`_nearly_ordered`), else sorted
    by time: the table, its times as int64 ns, and whether it is in file order."""
    name = _time_name(kind)
    ns = _time_ns(table.column(name)) if name in table.column_names else None
    if ns is None or _nearly_ordered(ns, int(get_option("cache_row_group"))):
        return table, ns, True
    t, ns = _sorted(table, kind)
    return t, ns, False


def _with_row(table: pa.Table, first: int) -> pa.Table:
    import numpy as np

    return table.append_column(ROW, pa.array(np.arange(first, first + table.num_rows, dtype=np.int64)))


# zstd at level 1 with dictionary pages only for the columns that repeat a few values (an identifier or
# message column would build a dictionary only to drop it): on the messy 1M-line day 47 MB against 53 MB
# for zstd's default level with every dictionary, lz4 90 MB, snappy 87 MB; write times within noise.
COMPRESSION, COMPRESSION_LEVEL = "zstd", 1
_DICTIONARY = {"level", "service", "event", "_source", "name", "kind", "status", "metric", "unit"}


def _with_statistics(schema: pa.Schema) -> list[str]:
    """The columns whose row groups carry min/max statistics: every one but free text. Text that is not
    dictionary-encoded (messages, ids, URLs) spans nearly its whole range in every row group of a file in
    time order, so its statistics prune nothing; leaving them out took 0.89x the write's CPU on a 627k-row
    piece of the big set, about the same on the messy day (``benchmarks/bench_store.py --write``)."""
    text = (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary, pa.types.is_large_binary)
    return [f.name for f in schema if f.name in _DICTIONARY or not any(t(f.type) for t in text)]


class _PartWriter:
    """Writes one part's Parquet file in row groups of ``cache_row_group`` rows, noting each group's time range."""

    def __init__(self, path: pathlib.Path, schema: pa.Schema):
        import pyarrow.parquet as pq

        self.path = path
        self.writer = pq.ParquetWriter(path, schema, compression=COMPRESSION, compression_level=COMPRESSION_LEVEL,
                                       use_dictionary=[f.name for f in schema if f.name in _DICTIONARY
                                                       or pa.types.is_dictionary(f.type)],
                                       write_statistics=_with_statistics(schema))
        self.groups: list[list[int | None]] = []  # [rows, min time ns, max time ns] per row group
        self.size = int(get_option("cache_row_group"))
        self.pending: list[tuple[pa.Table, pa.ChunkedArray | None]] = []
        self.n_pending = 0

    def write(self, table: pa.Table, ns: pa.ChunkedArray | None) -> None:
        """Append rows (after the rows written before), sorted or nearly in time order."""
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
                mm = pc.min_max(ns.slice(0, n))
                lo, hi = mm["min"].as_py(), mm["max"].as_py()
            nulls = ns is None or ns.slice(0, n).null_count > 0
            self.groups.append([head.num_rows, lo, None if nulls else hi])  # hi None: unbounded (nulls, no time)
        self.pending = [(rest, ns.slice(n) if ns is not None else None)] if rest.num_rows else []
        self.n_pending = rest.num_rows

    def close(self) -> list[list[int | None]]:
        if self.n_pending:
            self._flush(self.n_pending)
        self.writer.close()
        os.chmod(self.path, 0o600)  # evidence: readable by its owner only
        return self.groups


def _write_meta(tmp: pathlib.Path, kinds: list[str], runs: list[list[dict]], rejects: list[Reject], n_rejected: int) -> None:
    """``runs[i]``: the files of part i, each ``{"file", "groups": [[rows, min ns, max ns], ...], "file_order"}``,
    in time order (one file, or files whose time ranges meet only at their edges); ``file_order`` says its
    rows are in the file's order (nearly in time order already) rather than sorted by time."""
    meta = {"kinds": kinds, "runs": runs, "rows": [sum(g[0] for r in rs for g in r["groups"]) for rs in runs],
            "n_rejected": n_rejected, "rejects": [[r.line, r.reason, r.raw] for r in rejects],
            "canonical": True}  # rows written as schema.conform gives them: a load need not conform them again
    (tmp / "entry.json").write_text(json.dumps(meta))


def _touch(path: pathlib.Path, when: int | None = None) -> None:
    """Mark an entry used now, or at ``when`` (ns) (the file system's own clock can be too coarse to order two uses)."""
    now = time.time_ns() if when is None else when
    os.utime(path, ns=(now, now))


def _publish(base: pathlib.Path, tmp: pathlib.Path, key: str, used: int | None = None) -> None:
    """Put an entry in place; ``used``: when its load asked for it (a background write ends later)."""
    _touch(tmp / "entry.json", used)
    try:
        os.replace(tmp, base / key)
    except OSError:  # another process wrote it first
        shutil.rmtree(tmp, ignore_errors=True)
    enforce_cap(base, keep=key)


def _new_tmp(folder: str | os.PathLike) -> tuple[pathlib.Path, pathlib.Path]:
    from ._disk import enforce_cap as cap_counting_writes, tmp_prefix  # named by writer: a dead one's is swept

    base = private_dir(pathlib.Path(folder))  # 0700 when obsnb makes it
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=tmp_prefix(), dir=base))
    cap_counting_writes(base)
    return base, tmp


def store_entry(folder: str | os.PathLike, key: str, parts: list[Part], rejects: list[Reject], n_rejected: int,
                *, background: bool = False, source: str | None = None) -> None:
    """Write an entry of parts held in memory, each in time order, atomically (a reader never sees half).

    ``background=True`` writes it in a thread and returns at once (the caller goes on building its frame
    from the same immutable Arrow tables): :func:`flush` waits for it, and every read of the store waits
    for the entry it asks for. A write that fails leaves no entry (the next load parses again) and says so
    in a :class:`StoreWriteWarning`; Python waits for the thread before it exits."""
    if not background:
        _write_entry(folder, key, parts, rejects, n_rejected)
        return
    tag = (os.path.abspath(folder), key)
    args = (tag, folder, key, parts, rejects, n_rejected, source, time.time_ns())
    t = threading.Thread(target=_write_in_background, args=args,
                         name=f"obsnb-store-{key[:8]}")
    with _LOCK:
        _PENDING[tag] = t
    t.start()


class StoreWriteWarning(UserWarning):
    """The store could not keep a file's entry (disk full, permissions): the frame is complete, and the
    next load of that file parses it again."""


_PENDING: dict[tuple[str, str], threading.Thread] = {}
_LOCK = threading.Lock()


def _write_in_background(tag: tuple[str, str], folder: str | os.PathLike, key: str, parts: list[Part],
                         rejects: list[Reject], n_rejected: int, source: str | None, used: int) -> None:
    try:
        _write_entry(folder, key, parts, rejects, n_rejected, used)
    except Exception as exc:  # the load has its frame: say loudly that the store did not keep it
        warnings.warn(f"the store at {folder} could not keep {source or 'a file'} ({type(exc).__name__}: {exc}); "
                      "the frame is complete, and the next load of that file parses it again", StoreWriteWarning)
    finally:
        with _LOCK:
            _PENDING.pop(tag, None)


def flush(folder: str | os.PathLike | None = None, key: str | None = None) -> None:
    """Wait for the store's background writes (those of ``key`` in ``folder`` only, when given)."""
    with _LOCK:
        if folder is None:
            threads = list(_PENDING.values())
        else:
            want = os.path.abspath(folder)
            threads = [t for (f, k), t in _PENDING.items() if f == want and (key is None or k == key)]
    for t in threads:
        if t is not threading.current_thread():
            t.join()


def _write_entry(folder: str | os.PathLike, key: str, parts: list[Part], rejects: list[Reject], n_rejected: int,
                 used: int | None = None) -> None:
    base, tmp = _new_tmp(folder)
    try:
        runs = []
        for i, p in enumerate(parts):
            t, ns, in_order = _arrange(_with_row(schema.conform(p.table, p.kind), 0), p.kind)
            w = _PartWriter(tmp / f"part-{i}.parquet", t.schema)
            w.write(t, ns)
            runs.append([{"file": w.path.name, "groups": w.close(), "file_order": in_order}])
        _write_meta(tmp, [p.kind for p in parts], runs, rejects, n_rejected)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _publish(base, tmp, key, used)


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


def store_size(folder: str | os.PathLike) -> int:
    """Bytes the store's entries take on disk (after its background writes)."""
    flush(folder)
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


PROGRESS_AFTER = 2.0  # seconds an ingest runs before its bar appears


class _LazyBar:
    """A tqdm bar made only once the work has run ``PROGRESS_AFTER`` seconds: a quick load makes no bar at
    all (so no notebook widget lands in a rendered report), a long one shows where it is."""

    def __init__(self, total: int | None, desc: str):
        self.total, self.desc, self.n, self.bar = total, desc, 0, None
        self.t0 = time.perf_counter()
        self.on = bool(get_option("progress"))

    def __enter__(self) -> "_LazyBar":
        return self

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.bar is None and self.on and time.perf_counter() - self.t0 >= PROGRESS_AFTER:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, desc=self.desc, unit="B" if self.total and self.total > 10_000 else "it",
                            unit_scale=True, leave=False, initial=self.n - n, disable=False)
        if self.bar is not None:
            self.bar.update(n)

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.close()


def progress(total: int | None, desc: str) -> Any:
    """A progress bar (terminal or notebook, tqdm.auto) over ``total`` units, shown when ``progress`` is on
    and the work has run for 2 s; ``with progress(n, "...") as bar: ... bar.update(k)``."""
    return _LazyBar(total, desc)
