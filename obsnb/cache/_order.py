"""A load's window and time order in one pass over the time column (numpy), with at most one ``take``.

The store keeps each file in time order, or nearly (see :mod:`obsnb.cache`), so the rows of a window across
files are mostly sorted pieces: when every piece is sorted and the pieces do not overlap in time, they are
put in time order by zero-copy slices (no sort, no ``take``); otherwise one stable sort of the rows in the
window (numpy on int64 nanoseconds) and one ``take``. Either way the result is the stable sort by time of
the rows in ``[start, end)`` (null times last), as ``pyarrow.compute.sort_indices`` would give it.
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@functools.lru_cache(maxsize=None)
def reader_pool() -> pa.MemoryPool:
    """The memory pool the store's reads allocate from: jemalloc where pyarrow has it, else the default.

    Measured on a shared Linux machine (transparent huge pages on ``madvise``): pyarrow's default mimalloc
    pool spent 0.5-2.3 s of system time faulting in huge pages on the first 100 MB read of a fresh process,
    one time in two (0.01 s the other), where jemalloc took 0.2 s every time; DuckDB allocates with its own
    jemalloc. Only what the store reads uses it: the process's default pool is left as it is."""
    try:
        return pa.jemalloc_memory_pool()
    except (NotImplementedError, pa.ArrowException):
        return pa.default_memory_pool()


def _ns(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray | None]:
    """The times as int64 ns (nulls as 0) and where they are valid (None: no nulls)."""
    ints = col.cast(pa.int64()) if pa.types.is_timestamp(col.type) else col
    if ints.null_count == 0:
        return ints.to_numpy(), None
    return pc.fill_null(ints, 0).to_numpy(), pc.is_valid(ints).to_numpy(zero_copy_only=False)


def _disjoint_order(ns: np.ndarray, pieces: list[int]) -> list[tuple[int, int]] | None:
    """The pieces' (start, length) in time order when each piece is sorted and, in that order, each ends no
    later than the next begins (a tie only when the earlier piece came first): then their concatenation is
    the stable sort. None when that does not hold."""
    bounds, at = [], 0
    for n in pieces:
        if n:
            bounds.append((at, n))
        at += n
    if at != len(ns):
        return None
    for a, n in bounds:
        seg = ns[a:a + n]
        if n > 1 and not bool(np.all(seg[1:] >= seg[:-1])):
            return None
    order = sorted(range(len(bounds)), key=lambda i: (ns[bounds[i][0]], i))  # one key per piece, not per row
    for p, q in zip(order, order[1:]):
        hi, lo = ns[bounds[p][0] + bounds[p][1] - 1], ns[bounds[q][0]]
        if hi > lo or (hi == lo and p > q):
            return None
    return [bounds[i] for i in order]


def window_in_time_order(table: pa.Table, time_column: str, start_ns: int | None, end_ns: int | None, *,
                         order: bool, pieces: list[int] | None = None) -> pa.Table:
    """The rows of ``table`` in ``[start_ns, end_ns)`` (either bound None: open), in time order when
    ``order`` (a stable sort, null times last), else in their own order. ``pieces``: the row counts of the
    tables concatenated into ``table``, whose order may be changed by slices when they do not overlap."""
    window = start_ns is not None or end_ns is not None
    if time_column not in table.column_names or table.num_rows == 0 or (not window and (not order or table.num_rows < 2)):
        return table
    ns, valid = _ns(table.column(time_column))
    if order and valid is None and pieces and len(pieces) > 1:
        runs = _disjoint_order(ns, pieces)
        if runs is not None and [a for a, _ in runs] != sorted(a for a, _ in runs):
            table = pa.concat_tables([table.slice(a, n) for a, n in runs])  # zero-copy: slices of the chunks
            ns = np.concatenate([ns[a:a + n] for a, n in runs])
    keep = None
    if window:
        keep = np.ones(len(ns), bool) if valid is None else valid.copy()
        if start_ns is not None:
            keep &= ns >= start_ns
        if end_ns is not None:
            keep &= ns < end_ns
    if order:
        idx = np.flatnonzero(keep) if keep is not None else (np.arange(len(ns)) if valid is None else np.flatnonzero(valid))
        t = ns[idx]
        if not bool(np.all(t[1:] >= t[:-1])):
            idx = idx[np.argsort(t, kind="stable")]
            if keep is None and valid is not None:
                idx = np.concatenate([idx, np.flatnonzero(~valid)])  # null times last, in their order
            return pc.take(table, pa.array(idx), memory_pool=reader_pool())
        if keep is None and valid is not None:  # sorted, but null times among them: move those last
            return pc.take(table, pa.array(np.concatenate([idx, np.flatnonzero(~valid)])), memory_pool=reader_pool())
    if keep is None or bool(keep.all()):
        return table
    return pc.filter(table, pa.array(keep), memory_pool=reader_pool())
