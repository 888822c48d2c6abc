"""What ``ob.investigate`` accepts as evidence besides frames: scans, paths, and backend sources.

* An ``ob.scan()`` handle: a polars ``LazyFrame`` over the store's Parquet parts its window touches (as
  ``ob.latency(scan, ...)`` reads it). The detectors' queries run on it with projection and predicate
  push-down and collect only aggregates and a bounded number of example rows; its rows are never collected
  whole (but for a scan narrowed with ``filter(<pyarrow expression>)``, which cannot be pushed into polars: it
  is collected, with a warning). ``looked_at`` says so, with the number of rows the queries ran over.
* A path, glob or folder: loaded as :func:`obsnb.load` loads it, through a scan when the store is on
  (option ``cache``) or the files are larger than :data:`SCAN_BYTES`, so a big file is parsed piece by
  piece into the store rather than whole in memory. The frame is the same either way.
* A backend source (``clickhouse://...``, a Loki or Elasticsearch URL, an obsnb.toml name): needs ``start=``
  and ``end=``; the evidence is ``start - baseline`` (the ``baseline`` hint, default the window's length) to
  ``end``. ClickHouse logs and spans stay on the server (:class:`obsnb.investigation.remote.Remote`): the
  detectors' aggregates are SQL, only examples and the columns of row-based questions are pulled, and
  ``looked_at`` says per detector which. Other backends' rows are pulled with one bounded :func:`obsnb.load`
  per kind, and ``looked_at`` (under ``telemetry_gap``) says the detectors ran on those rows and that nothing
  was aggregated server-side. The source's address is never echoed (it may hold a user).
"""

from __future__ import annotations

import os
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from ..analysis import _frames as F
from ..analysis.lazy import is_scan, scan_frame
from ..errors import UsageError
from ..options import get_option
from ..timeutil import duration_ns, to_ns
from .findings import fmt_time
from .remote import Remote, is_clickhouse

__all__ = ["SCAN_BYTES", "frame_of", "is_source"]

#: files larger than this (in total) are read through a scan (the store) rather than loaded whole
SCAN_BYTES = 1 << 30


def is_source(obj: Any) -> bool:
    """Whether ``obj`` names evidence to read (a path, glob, folder or backend) rather than holding it."""
    return isinstance(obj, (str, os.PathLike))


def _scan_function():
    """``obsnb.scan`` the function (imported here, as the package keeps ``obsnb.scan`` the function whatever
    imported the module: see ``obsnb._Package``)."""
    from ..scan import scan

    return scan


def _size(files: list[str]) -> int:
    total = 0
    for f in files:
        try:
            total += os.path.getsize(f)
        except OSError:
            pass
    return total


def frame_of(obj: Any, kind: str, start: Any, end: Any,
             baseline: Any) -> tuple[pl.DataFrame | pl.LazyFrame | None, str | None, str | None]:
    """(the evidence as a polars frame, or a LazyFrame for a scan; the engine to answer in or None; a note for
    ``looked_at`` or None, where ``{rows}`` stands for the number of rows, known once the evidence is prepared)."""
    if obj is None:
        return None, None, None
    if is_source(obj):
        from .. import api

        source = os.fspath(obj)
        if api._is_backend(source):
            return _from_backend(source, kind, start, end, baseline)
        files = api._expand(source)
        if not (get_option("cache") or _size(files) > SCAN_BYTES):
            return F.to_polars(api.load(source, kind, engine="polars")), None, None
        obj = _scan_function()(source, kind)
    if is_scan(obj):
        note = (f"the {kind} were a scan of {len(obj.files)} file(s): the detectors' queries ran over its {{rows}} rows "
                "in the engine (lazy, over the store's Parquet) and collected only aggregates and a few example rows")
        return _scan_lazy(obj), None, note
    return F.to_polars(obj), F.engine_of(obj), None


def _scan_lazy(scan: Any) -> pl.LazyFrame:
    """The scan's rows as a LazyFrame (:func:`obsnb.analysis.lazy.scan_frame`), with ``_source`` naming each file as
    this scan names it, as ``scan.collect()`` does: the store's Parquet holds the name given when the file was
    ingested (another spelling of its path, or the piece a big file was parsed in)."""
    lf = scan_frame(scan)
    sch = lf.collect_schema()
    if "_source" not in sch:
        return lf
    names: dict[str, str] = {}
    for p in scan.explain():
        if p["row_groups"] and "_source" in pq.read_schema(p["part"]).names:
            stored = pl.scan_parquet(p["part"]).select(pl.col("_source").cast(pl.String).unique()).collect()
            names.update({v: p["file"] for v in stored.get_column("_source").drop_nulls() if v != p["file"]})
    if not names:
        return lf
    return lf.with_columns(pl.col("_source").cast(pl.String).replace(names).cast(sch["_source"]))


def _from_backend(source: str, kind: str, start: Any, end: Any, baseline: Any) -> tuple[Any, None, str]:
    from .. import api

    if start is None or end is None:
        msg = (f"ob.investigate over a backend ({kind}) reads a bounded window: pass start= and end= (and the "
               "baseline= hint for how much before it to compare with; default the window's length)")
        raise UsageError(msg)
    t0, t1 = to_ns(start), to_ns(end)
    if t1 <= t0:
        raise UsageError(f"ob.investigate: end= ({end}) is not after start= ({start})")
    lo = t0 - (duration_ns(baseline) if baseline else t1 - t0)
    scheme = source.split("://", 1)[0] if "://" in source else "named"
    if kind in ("logs", "spans") and is_clickhouse(source):
        note = (f"the {kind} stayed on the ClickHouse server: {{rows}} rows from {fmt_time(lo)} to {fmt_time(t1)} (the "
                "window and its baseline), aggregated there; only examples (LIMIT) and the columns of the row-based "
                "questions were pulled (each detector's line says which; the SQL is Findings.queries)")
        return Remote(source, kind, lo, t1), None, note
    df = F.to_polars(api.load(source, kind, start=lo, end=t1, engine="polars"))
    note = (f"the {kind} came from a {scheme} backend: {df.height:,} rows from {fmt_time(lo)} to {fmt_time(t1)} "
            "(the window and its baseline) were pulled with one bounded load and the detectors ran on them; "
            "nothing was aggregated server-side (this backend's error filter is not obsnb's definition of an error "
            "for every row, so its counts would not be the findings' counts) and nothing before the baseline was read")
    return df, None, note
