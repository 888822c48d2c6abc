"""The analysis helpers on a :class:`~obsnb.scan.Scan`: polars lazy over the store's Parquet, out of core.

``ob.latency(scan, ...)``, ``ob.rate``, ``ob.error_rate``, ``ob.gaps`` come here for their input: a
``polars.LazyFrame`` over the Parquet files of the scan's store entries (the parts :meth:`Scan.explain`
lists), reading only the columns the helper needs and, through the time predicate, only the row groups
that overlap the scan's window (Parquet statistics; the store is sorted by time). Each helper then runs
the very expressions it runs on an in-memory frame, so ``helper(scan) == helper(scan.collect())``: same
columns, dtypes and numbers. Only the aggregate (per bucket and group) is materialised, never the raw rows
(``gaps`` holds the time column of the window, 8 bytes a row, to sort each group's times).

Measured against hand-written DuckDB SQL over the same Parquet and against load + the in-memory helper in
benchmarks/bench_scan_helpers.py, each in a fresh process with its imports done before the clock (most of an
earlier 3-8x was obsnb's first-use imports inside it). ``latency`` stays on polars rather than DuckDB's
aggregates: ``quantile_cont`` rounds its interpolation its own way and ``quantile_disc`` does not pick the
order statistics ``floor``/``ceil((n - 1) * q)``, so neither can give the in-memory helper's numbers bit for bit
(they agree with them to about 1e-16 relative on that benchmark's data).

A scan narrowed with ``filter(<pyarrow expression>)`` cannot be pushed into polars: it is collected (every
column of its window; a warning says so). Keyword filters are pushed down.
"""

from __future__ import annotations

import sys
import warnings
from typing import TYPE_CHECKING, Any, Iterable

import polars as pl
import pyarrow.parquet as pq

from ..errors import RejectedRecordsWarning
from ..options import get_option
from . import _frames as F

if TYPE_CHECKING:
    from ..scan import Scan

__all__ = ["is_scan", "scan_frame", "scan_engine", "parquet_parts", "collect"]


def is_scan(obj: Any) -> bool:
    """Whether ``obj`` is an ``ob.scan()`` handle (no import here: importing obsnb.scan early would make
    ``obsnb.scan`` the module rather than the function, and no Scan exists before it is imported)."""
    mod = sys.modules.get("obsnb.scan")
    return mod is not None and isinstance(obj, mod.Scan)


def scan_engine(scan: Scan) -> str:
    """The frame type a helper returns on a scan: the ``engine`` option's, as ``scan.collect()`` would."""
    engine = get_option("engine")
    return engine if engine in ("pandas", "polars", "arrow") else "pandas"


def parquet_parts(scan: Scan) -> list[str]:
    """The store's Parquet files holding the scan's rows with at least one row group in its window.

    Reads the scan's public :meth:`~obsnb.scan.Scan.explain` (which ingests the files on first use)."""
    return [p["part"] for p in scan.explain() if p["row_groups"]]


def _target_schema(scan: Scan) -> dict[str, pl.DataType]:
    """The collected frame's column types, from an empty window (no row read)."""
    empty = scan.window(0, 0)._table()[0]  # Scan.columns reads it the same way; we need the types too
    return dict(pl.from_arrow(empty).schema)


def _warn_rejects(scan: Scan) -> None:
    n = scan._ingest()["ctx"].n_rejected
    if n:
        warnings.warn(f"{n} records rejected from the scanned files. List them with obsnb.rejected(scan).",
                      RejectedRecordsWarning, stacklevel=4)


def scan_frame(scan: Scan, columns: Iterable[str] | None = None) -> pl.LazyFrame:
    """The scan's rows as a polars ``LazyFrame``: only ``columns`` (those the scan has; all when None), only
    its window and keyword filters, with the column types ``scan.collect()`` gives. Nothing is read yet."""
    kind = scan.kind
    time = "start" if kind == "spans" else "time"
    target = _target_schema(scan)
    if scan._exprs:  # a pyarrow expression cannot be pushed into polars: collect the scan (reads every column)
        warnings.warn("ob.<helper> on a scan with filter(<expression>) collects it whole; use keyword filters "
                      "(filter(column=value)) to stay out of core", RuntimeWarning, stacklevel=3)
        names = list(target) if columns is None else [c for c in dict.fromkeys(columns) if c in target]
        return pl.from_arrow(scan.select(names)._table()[0]).lazy() if names else pl.LazyFrame()
    have = list(target) if scan._columns is None else [c for c in scan._columns if c in target]
    names = have if columns is None else [c for c in dict.fromkeys(columns) if c in have]
    need = list(dict.fromkeys([*names, *scan._equals, time]))
    _warn_rejects(scan)
    frames = []
    for path in parquet_parts(scan):
        file_cols = set(pq.read_schema(path).names)
        lf = pl.scan_parquet(path).select([c for c in need if c in file_cols])
        cond = _window(scan, time, lf.collect_schema().get(time))
        if cond is not None:
            lf = lf.filter(cond)
        lf = lf.with_columns([pl.lit(None, target[c]).alias(c) for c in need if c not in file_cols])
        frames.append(lf.select([pl.col(c).cast(target[c]) for c in need]))
    if not frames:
        return pl.LazyFrame(schema={c: target[c] for c in names})
    lf = pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]
    for name, value in scan._equals.items():
        if isinstance(value, (list, tuple, set, frozenset)):
            cond = pl.col(name).is_in(pl.Series(list(value)).cast(target[name], strict=False))
        else:
            cond = pl.col(name) == pl.lit(value).cast(target[name], strict=False)
        lf = lf.filter(cond.fill_null(False))
    return lf.select(names)


def _window(scan: Scan, time: str, dtype: Any) -> pl.Expr | None:
    """``[start, end)`` on the part's own time column (so polars prunes row groups by their statistics)."""
    if scan.start_ns is None and scan.end_ns is None:
        return None
    col = pl.col(time) if dtype == F.TS else pl.col(time).cast(F.TS)
    cond = None
    for bound, op in ((scan.start_ns, "ge"), (scan.end_ns, "lt")):
        if bound is not None:
            c = getattr(col, op)(pl.lit(bound, pl.Int64).cast(F.TS))
            cond = c if cond is None else cond & c
    return cond


def collect(lf: pl.LazyFrame) -> pl.DataFrame:
    """Run a helper's plan; the streaming engine keeps memory bounded where the plan allows it."""
    return lf.collect(engine="streaming")


