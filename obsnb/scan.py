"""``ob.scan()``: the lazy twin of ``ob.load()`` (polars' ``read_*``/``scan_*`` pairs), over the store.

A :class:`Scan` is the canonical frame of some files, not yet materialised. Narrowing it is free
(``.window()``, ``.select()``, ``.filter()``); ``.collect()`` reads only what it needs from the store
(:mod:`obsnb.cache`): the row groups that overlap the window (the store is sorted by time), the columns
selected plus those filtered on, and applies the filters in Arrow before the frame is built. The result is
the frame ``load()`` gives for the same files and window, with those columns and rows.

The files are parsed into the store the first time a scan needs them (a big line file piece by piece, so
the ingest never holds it whole); with the store off (option ``cache``) a scan uses a store of its own in a
temporary folder, removed when Python exits. Nothing is dropped silently: ``ob.rejected(scan)`` lists the
records the ingest rejected, ``ob.load_info(scan)`` counts them (every record read is loaded into the store
or rejected), and a collected frame has its own ``load_info``: rows loaded + rows outside the window or
filter + rejected = read.

The engine behind ``collect`` is Arrow (``pyarrow.parquet`` row groups, then Arrow compute): measured
against a polars LazyFrame and a DuckDB relation over the same store files in benchmarks/bench_scan.py.
"""

from __future__ import annotations

import atexit
import copy
import os
import shutil
import tempfile
import time
import warnings
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.compute as pc

from . import api, cache, registry, schema
from .errors import RejectedRecordsWarning, UsageError
from .options import get_option
from .sources.base import FileInput, ReadContext

__all__ = ["scan", "Scan"]

_TMP_STORE: list[str] = []


def _store_folder(options: dict) -> str:
    folder = options.get("cache", get_option("cache"))
    if folder:
        return os.fspath(folder)
    if not _TMP_STORE:
        d = tempfile.mkdtemp(prefix="obsnb-scan-")
        atexit.register(shutil.rmtree, d, True)
        _TMP_STORE.append(d)
    return _TMP_STORE[0]


def scan(source: Any, kind: str | None = None, *, start: Any = None, end: Any = None, strict: bool = False,
         format: str | None = None, **options: Any) -> "Scan":
    """A lazy handle over files of any size: ``ob.scan(files, start=, end=).select(...).filter(...).collect()``.

    ``source``, ``kind``, ``start``/``end``, ``strict``, ``format`` and reader options are those of
    :func:`obsnb.load`. Backends are not scanned (load them with a window, or snapshot them).
    """
    if api._is_backend(source):
        raise UsageError("scan() reads files; load a backend with load(..., start=, end=) (and snapshot= to keep it)")
    files = api._expand(source)
    _check_options(files, format, options)
    opts = dict(options)
    if format is not None:
        opts["format"] = format
    s, e = api._window(start, end)
    return Scan(files, schema.canonical_kind(kind), format, s, e, opts, strict)


SCAN_PARAMETERS = ("kind", "start", "end", "strict", "format")  # scan()'s own, for the error message


def _check_options(files: list[str], fmt: str | None, options: dict) -> None:
    """Refuse a keyword that no format of the scan takes, as ``load()`` does (:func:`obsnb.registry.check_options`:
    a :class:`UsageError` naming the options each format takes), in the words of a scan."""
    try:
        registry.check_options(files, fmt, options, lambda f: FileInput(f).head())
    except UsageError as exc:
        msg = str(exc)
        for was, now in (("load() got", "scan() got"), ("of this load takes", "of this scan takes"),
                         (f"Every load takes {', '.join(registry.LOAD_PARAMETERS + registry.COMMON_OPTIONS)}.",
                          f"Every scan takes {', '.join(SCAN_PARAMETERS + registry.COMMON_OPTIONS)}.")):
            msg = msg.replace(was, now, 1)
        raise UsageError(msg) from None


class Scan:
    """The canonical frame of files, not yet materialised (see :func:`scan`)."""

    def __init__(self, files: list[str], kind: str | None, fmt: str | None, start_ns: int | None,
                 end_ns: int | None, options: dict, strict: bool):
        self.files = files
        self._kind = kind
        self._fmt = fmt
        self.start_ns, self.end_ns = start_ns, end_ns
        self._options = options
        self._strict = strict
        self._columns: list[str] | None = None
        self._equals: dict[str, Any] = {}
        self._exprs: list[pc.Expression] = []
        self._state: dict[str, Any] = {}  # the ingest, shared by every narrowed copy

    # ------------------------------------------------------------------------------------ narrowing

    def _copy(self) -> "Scan":
        new = copy.copy(self)
        new._equals, new._exprs = dict(self._equals), list(self._exprs)
        return new

    def window(self, start: Any = None, end: Any = None) -> "Scan":
        """Only ``[start, end)`` (within the scan's own window)."""
        s, e = api._window(start, end)
        new = self._copy()
        if s is not None:
            new.start_ns = s if new.start_ns is None else max(s, new.start_ns)
        if e is not None:
            new.end_ns = e if new.end_ns is None else min(e, new.end_ns)
        return new

    def select(self, *columns: str | Iterable[str]) -> "Scan":
        """Only these columns, in this order (names of the canonical frame)."""
        names: list[str] = []
        for c in columns:
            names.extend([c] if isinstance(c, str) else list(c))
        if self._columns is not None and not set(names) <= set(self._columns):
            raise UsageError(f"{sorted(set(names) - set(self._columns))} were not selected before")
        new = self._copy()
        new._columns = names
        return new

    def filter(self, expr: pc.Expression | None = None, **equals: Any) -> "Scan":
        """Only rows where ``column=value`` (a list or set: any of them) for each keyword, and where the
        pyarrow expression ``expr`` holds (``pyarrow.compute.field("duration_ms") > 500``). Keywords read
        only their columns; an expression reads every column of the row groups in the window."""
        new = self._copy()
        new._equals.update(equals)
        if expr is not None:
            if not isinstance(expr, pc.Expression):
                raise UsageError("filter() takes a pyarrow.compute expression, e.g. pc.field('level') == 'ERROR'")
            new._exprs.append(expr)
        return new

    # -------------------------------------------------------------------------------------- ingest

    def _ingest(self) -> dict:
        """Parse every file not yet in the store (once per scan and its copies); the rejects of all."""
        st = self._state
        if st:
            return st
        t0 = time.perf_counter()
        folder = _store_folder(self._options)
        ctx = ReadContext(strict=self._strict, options=self._options, kind=self._kind)
        ctx.stream = True  # a big line file is ingested piece by piece: a scan never holds a file whole
        entries, kinds = [], set()
        many = len(self.files) > 1
        with cache.progress(len(self.files), "scanning files") as bar:
            for f in self.files:
                key = cache.cache_key(f, self._fmt, self._options)
                try:
                    meta = cache.entry_meta(folder, key) if key else None
                    if meta is None:
                        if key is None:
                            raise UsageError(f"the reader options of {f} cannot be keyed in the store")
                        before = (ctx.n_rejected, len(ctx.rejects))
                        api.store_file(folder, key, f, self._fmt, ctx, kinds)
                        meta = cache.entry_meta(folder, key)
                        ctx.n_rejected, ctx.rejects[:] = before[0], ctx.rejects[:before[1]]  # counted from meta below
                except (registry.FormatNotRecognised, OSError) as exc:
                    if not many or ctx.strict:
                        raise
                    reason = str(exc) if isinstance(exc, registry.FormatNotRecognised) else f"cannot read {f}: {exc.strerror}"
                    ctx.reject(f, None, reason, None)
                    warnings.warn(f"{f} was not scanned (the other files were): {reason}", RejectedRecordsWarning, stacklevel=3)
                    continue
                cache.replay_rejects(ctx, f, meta["rejects"], meta["n_rejected"])
                kinds.update(meta["kinds"])
                entries.append((f, key, meta))
                bar.update(1)
        kind = self._kind
        if kind is None:
            if len(kinds) != 1:
                raise UsageError(f"{len(self.files)} files hold {', '.join(sorted(kinds)) or 'no records'}: "
                                 "pass kind='logs', 'spans' or 'metrics'")
            kind = kinds.pop()
        rows = sum(r for _, _, m in entries for k, r in zip(m["kinds"], m["rows"]) if k == kind)
        st.update(folder=folder, entries=entries, kind=kind, ctx=ctx, rows=rows)
        info = api.LoadInfo(sources=list(self.files), kind=kind, records_read=rows + ctx.n_rejected, rows_loaded=rows,
                            rows_outside_window=0, n_rejected=ctx.n_rejected, rejects=ctx.rejects,
                            seconds=time.perf_counter() - t0, warnings=ctx.warnings)
        api._remember(self, info)
        return st

    @property
    def attrs(self) -> dict:
        """Where ``ob.load_info`` / ``ob.rejected`` find the ingest's accounting (ingests on first use)."""
        return self._ingest().setdefault("attrs", {})

    @property
    def kind(self) -> str:
        return self._ingest()["kind"]

    def time_range(self) -> tuple[Any, Any]:
        """The first and last time in the store for these files (from the row-group ranges: no data read)."""
        st = self._ingest()
        los, his = [], []
        for _, _, m in st["entries"]:
            for k, runs in zip(m["kinds"], m["runs"]):
                if k == st["kind"]:
                    for r in runs:
                        los += [g[1] for g in r["groups"] if g[1] is not None]
                        his += [g[2] if g[2] is not None else g[1] for g in r["groups"] if g[1] is not None]
        ts = pa.array([min(los) if los else None, max(his) if his else None], pa.int64())
        return tuple(ts.cast(pa.timestamp("ns", "UTC")).to_pylist())

    def explain(self) -> list[dict]:
        """What a collect reads: per file and Parquet file of the store, the row groups in the window out of all."""
        st = self._ingest()
        out = []
        for f, key, m in st["entries"]:
            for k, runs in zip(m["kinds"], m["runs"]):
                if k == st["kind"]:
                    out += [{"file": f, "part": os.path.join(st["folder"], key, r["file"]),
                             "row_groups": cache.row_groups_for(r["groups"], self.start_ns, self.end_ns),
                             "of": len(r["groups"])} for r in runs]
        return out

    # ------------------------------------------------------------------------------------- collect

    def _table(self) -> tuple[pa.Table, int]:
        st = self._ingest()
        kind = st["kind"]
        need = None
        if self._columns is not None and not self._exprs:
            need = list(dict.fromkeys([*self._columns, *self._equals]))
        tables = []
        for f, key, _ in st["entries"]:
            hit = cache.load_entry(st["folder"], key, f, start_ns=self.start_ns, end_ns=self.end_ns, columns=need)
            if hit is None:
                self._state.clear()  # evicted by the disk cap, or damaged: ingest again
                return self._table()
            tables += [p.table for p in hit[0] if p.kind == kind]
        table = schema.conform(schema.concat(tables), kind) if tables else schema.empty_table(kind)
        # the window, and several files in time order (one take at most; none when the pieces do not overlap)
        table = cache.window_in_time_order(table, api._time_column(kind), self.start_ns, self.end_ns,
                                           order=len(self.files) > 1, pieces=[t.num_rows for t in tables])
        mask = None
        for name, value in self._equals.items():
            if name not in table.column_names:
                raise UsageError(f"no column {name!r} to filter on; columns: {', '.join(table.column_names)}")
            col = table.column(name)
            if isinstance(value, (list, tuple, set, frozenset)):
                m = pc.is_in(col, value_set=pa.array(list(value)).cast(col.type))
            else:
                m = pc.equal(col, pa.scalar(value).cast(col.type) if value is not None else None)
            mask = m if mask is None else pc.and_(mask, m)
        if mask is not None:
            table = table.filter(pc.fill_null(mask, False))
        for expr in self._exprs:
            table = table.filter(expr)
        if table.num_rows == 0:
            table = pa.Table.from_batches([], table.schema)  # no chunks, as load()'s filtered frame has
        if self._columns is not None:
            missing = [c for c in self._columns if c not in table.column_names]
            if missing:
                raise UsageError(f"no column {', '.join(map(repr, missing))}; columns: {', '.join(table.column_names)}")
            table = table.select(self._columns)
        return table, st["rows"]

    def collect(self, engine: str | None = None):
        """The frame (``engine`` ``"pandas"``, ``"polars"`` or ``"arrow"``; default the ``engine`` option)."""
        t0 = time.perf_counter()
        engine = engine or get_option("engine")
        if engine not in ("pandas", "polars", "arrow"):
            raise UsageError(f"engine must be 'pandas', 'polars' or 'arrow', got {engine!r}")
        table, rows = self._table()
        ctx = self._state["ctx"]
        info = api.LoadInfo(sources=list(self.files), kind=self._state["kind"], records_read=rows + ctx.n_rejected,
                            rows_loaded=table.num_rows, rows_outside_window=rows - table.num_rows,
                            n_rejected=ctx.n_rejected, rejects=ctx.rejects, seconds=time.perf_counter() - t0,
                            warnings=ctx.warnings)
        df = schema.to_engine(table, engine)
        api._remember(df, info)
        if ctx.n_rejected:
            warnings.warn(f"{ctx.n_rejected} of {info.records_read} records rejected from the scanned files. "
                          "List them with obsnb.rejected(df).", RejectedRecordsWarning, stacklevel=2)
        return df

    def count(self) -> int:
        """How many rows ``collect()`` would give (reads only the time column unless filters need more)."""
        kind = self.kind
        narrowed = self if self._columns is not None else self.select(api._time_column(kind))
        return narrowed._table()[0].num_rows

    @property
    def columns(self) -> list[str]:
        """The columns of the collected frame (reads no rows)."""
        if self._columns is not None:
            return list(self._columns)
        return self.window(0, 0)._table()[0].column_names  # an empty window: schema only

    def __repr__(self) -> str:
        files = self.files[0] if len(self.files) == 1 else f"{len(self.files)} files"
        window = ""
        if self.start_ns is not None or self.end_ns is not None:
            s, e = pa.array([self.start_ns, self.end_ns], pa.int64()).cast(pa.timestamp("ns", "UTC")).to_pylist()
            window = f", window [{s}, {e})"
        cols = f", columns {self._columns}" if self._columns is not None else ""
        filt = f", filter {self._equals or ''}{' + expr' if self._exprs else ''}" if self._equals or self._exprs else ""
        return f"<obsnb.Scan of {files}{window}{cols}{filt} (not collected)>"
