"""``load()``, ``rejected()``, ``load_info()``: resolve a source, read it, build the frame.

``set_option``/``get_option`` live in :mod:`obsnb.options` (the bottom layer) and are re-exported here.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import operator
import os
import time
import warnings
import weakref
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from . import cache, config, registry, schema
from .errors import RejectedRecordsWarning, SourceError, UsageError
from .options import get_option, set_option
from .sources import discover
from .sources.base import FileInput, Part, ReadContext, Reject
from .timeutil import to_ns

__all__ = ["load", "rejected", "set_option", "get_option", "load_info", "LoadInfo"]

@dataclasses.dataclass
class LoadInfo:
    """What one ``load()`` read: sources, counts, rejected records."""

    sources: list[str]
    kind: str
    records_read: int
    rows_loaded: int
    rows_outside_window: int
    n_rejected: int
    rejects: list[Reject]
    seconds: float
    warnings: list[str]

    def rejected_frame(self, engine: str = "pandas"):
        cols = {
            "source": pa.array([r.source for r in self.rejects], pa.string()),
            "line": pa.array([r.line for r in self.rejects], pa.int64()),
            "reason": pa.array([r.reason for r in self.rejects], pa.string()),
            "raw": pa.array([r.raw for r in self.rejects], pa.string()),
        }
        return schema.to_engine(pa.table(cols), engine)


_LOADS: "collections.OrderedDict[str, LoadInfo]" = collections.OrderedDict()
_BY_ID: dict[int, tuple[Any, str]] = {}  # id(frame) -> (weakref to it, load key): polars frames are unhashable
_counter = itertools.count(1)
_LAST: list[str] = []


def _remember(df: Any, info: LoadInfo) -> None:
    key = f"load-{next(_counter)}"
    _LOADS[key] = info
    while len(_LOADS) > 256:
        _LOADS.popitem(last=False)
    if hasattr(df, "attrs"):
        df.attrs["obsnb_load"] = key  # survives pandas filtering and slicing
    try:
        ref = weakref.ref(df, lambda _r, i=id(df): _BY_ID.pop(i, None))
    except TypeError:  # e.g. an Arrow table: only load_info() without argument finds it
        ref = None
    if ref is not None:
        _BY_ID[id(df)] = (ref, key)
    _LAST[:] = [key]


def load_info(df: Any = None) -> LoadInfo:
    """The :class:`LoadInfo` of the ``load()`` that made ``df`` (default: the last load)."""
    key = None
    if df is None:
        key = _LAST[0] if _LAST else None
    else:
        attrs = getattr(df, "attrs", None)
        if isinstance(attrs, dict):
            key = attrs.get("obsnb_load")
        if key is None:
            ref_key = _BY_ID.get(id(df))
            if ref_key is not None and ref_key[0]() is df:
                key = ref_key[1]
    if key is None or key not in _LOADS:
        raise UsageError("this frame was not made by obsnb.load() (or it is too old to be remembered)")
    return _LOADS[key]


def rejected(df: Any = None, *, engine: str | None = None):
    """The records that were read but not loaded: ``source``, ``line``, ``reason``, ``raw``.

    ``df`` is a frame returned by :func:`load` (default: the last one loaded). The frame has one row
    per rejected record (raw text kept for the first 200,000); its kind follows ``df``.
    """
    info = load_info(df)
    if engine is None:
        engine = "polars" if type(df).__module__.startswith("polars") else "pandas"
    return info.rejected_frame(engine)


# ---------------------------------------------------------------------------------------------- sources


def _is_url(s: str) -> bool:
    head, sep, _ = s.partition("://")
    return bool(sep) and head.replace("+", "").isalnum()


def _is_backend(source: Any) -> bool:
    """Whether ``source`` names a backend: a URL or an obsnb.toml name that is not an existing path."""
    return isinstance(source, str) and not os.path.exists(source) and (_is_url(source) or config.has_source(source))


def _expand(source: Any, found: discover.Found | None = None) -> list[str]:
    """Paths, globs, directories or lists of them -> the regular files to read (each real file once, in sorted
    path order; see :mod:`obsnb.sources.discover`); a clear error for what is missing. What a walk or a glob
    met that is no readable regular file goes to ``found.skipped`` when given, else into a warning."""
    got = discover.expand(source)
    if found is not None:
        found.skipped, found.same = got.skipped, got.same
    elif got.skipped:
        warnings.warn(f"{len(got.skipped)} entries not read: " + "; ".join(w for _, w in got.skipped[:3]),
                      RejectedRecordsWarning, stacklevel=3)
    if not got.files and got.skipped:
        raise SourceError(f"nothing readable in {source!r}: " + "; ".join(w for _, w in got.skipped[:3]),
                          source=str(source))
    return got.files


def _skip(found: discover.Found, ctx: ReadContext) -> None:
    """Entries of a walk or glob that are no readable regular file: one rejected record each, with a warning
    (``strict=True`` raises); files reached twice (through a symlink) are named in the load's warnings."""
    for path, why in found.skipped:
        ctx.reject(path, None, why, None)
        ctx.warnings.append(f"{path} was not loaded: {why}")
        warnings.warn(f"{path} was not loaded (the other files were): {why}", RejectedRecordsWarning, stacklevel=3)
    for dup, kept in found.same:
        ctx.warnings.append(f"{dup} is the same file as {kept}: read once")


def _sort_rejects(rejects: list[Reject], order: dict[str, int]) -> list[Reject]:
    """The stable sort of rejects by (place of their source in ``order``, others after; line, None first),
    with C-level keys: a load of many stored files calls no Python function per reject."""
    buckets: dict[int, list[Reject]] = {}
    for src, run in itertools.groupby(rejects, key=operator.attrgetter("source")):
        buckets.setdefault(order.get(src, len(order)), []).extend(run)
    out: list[Reject] = []
    for _, bucket in sorted(buckets.items()):
        if None in map(operator.attrgetter("line"), bucket):  # entries read as no file: rare
            bucket.sort(key=lambda r: -1 if r.line is None else r.line)
        else:
            bucket.sort(key=operator.attrgetter("line"))
        out.extend(bucket)
    return out


def _same_fields(a: pa.Schema, b: pa.Schema) -> bool:
    """The same columns of the same types, in any order."""
    return a.equals(b) or (len(a) == len(b) and {f.name: f.type for f in a} == {f.name: f.type for f in b})


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _read_file(path: str, fmt: str | None, ctx: ReadContext, kinds: set | None = None) -> list[Part]:
    folder = ctx.options.get("cache", get_option("cache"))
    key = cache.cache_key(path, fmt, ctx.options) if folder else None
    if not key:
        return _parse_file(path, fmt, ctx, kinds)
    # the window reaches the store: only the row groups that overlap it are read (rows counted, not lost)
    hit = cache.load_entry(folder, key, path, start_ns=ctx.start_ns, end_ns=ctx.end_ns)
    if hit is None:
        parts = store_file(folder, key, path, fmt, ctx, kinds)
        if parts is not None:
            return parts
        hit = cache.load_entry(folder, key, path, start_ns=ctx.start_ns, end_ns=ctx.end_ns)
        if hit is None:
            raise SourceError(f"the store at {folder} lost the entry of {path} while it was read", source=path)
        rejects, n = [], 0  # ingest reported them
    else:
        rejects, n = hit[1], hit[2]
    parts, totals = hit[0], hit[3]
    cache.replay_rejects(ctx, path, rejects, n)  # strict=True raises here too
    pruned = ctx.__dict__.setdefault("pruned", collections.Counter())
    for p, total in zip(parts, totals):
        pruned[p.kind] += total - p.table.num_rows
    if kinds is not None:
        kinds.update(p.kind for p in parts)
    return parts


def store_file(folder: str, key: str, path: str, fmt: str | None, ctx: ReadContext, kinds: set | None) -> list[Part] | None:
    """Parse a file into a new store entry (streamed in pieces when it is a big line file); its parts when
    parsed whole, None when the entry must be read back."""
    guess = fmt
    if guess is None:
        head = FileInput(path).head()
        guess = registry.sniff(head, path) if head.strip() else None
    parts = cache.ingest(folder, key, path, guess, ctx, lambda p, f, c: _parse_file(p, f or fmt, c, kinds), path)
    if kinds is not None and parts is None:
        kinds.update((cache.entry_meta(folder, key) or {}).get("kinds", []))
    return parts


def _read_or_reject(path: str, fmt: str | None, ctx: ReadContext, kinds: set, many: bool) -> list[Part]:
    """One file of a load; in a load of several, a file that cannot be read or recognised is one rejected
    record (source, reason) with a warning, and the others load (``strict=True`` raises instead)."""
    try:
        return _read_file(path, fmt, ctx, kinds)
    except (registry.FormatNotRecognised, OSError) as exc:
        if not many or ctx.strict:
            raise
        reason = str(exc) if isinstance(exc, registry.FormatNotRecognised) else f"cannot read {path}: {exc.strerror}"
        ctx.reject(path, None, reason, None)
        ctx.warnings.append(f"{path} was not loaded: {reason}")
        warnings.warn(f"{path} was not loaded (the other files were): {reason}", RejectedRecordsWarning, stacklevel=3)
        return []


def _parse_file(path: str, fmt: str | None, ctx: ReadContext, kinds: set | None = None) -> list[Part]:
    src = FileInput(path)
    if fmt is None:
        head = src.head()
        if not head.strip():
            if src.truncated:
                ctx.reject(path, None, src.truncated, None)
            return []  # an empty file holds no records
        fmt = registry.sniff(head, path)
    cls = registry.get_format(fmt)
    if kinds is not None and len(cls.kinds) == 1:
        kinds.add(cls.kinds[0])
    parts = list(cls().read(src, ctx))
    if src.truncated:
        ctx.reject(path, None, src.truncated, None)
    return parts


def _window(start: Any, end: Any) -> tuple[int | None, int | None]:
    s = to_ns(start) if start is not None else None
    e = to_ns(end) if end is not None else None
    if s is not None and e is not None and e < s:
        raise UsageError(f"end ({end!r}) is before start ({start!r})")
    return s, e


def _time_column(kind: str) -> str:
    return "start" if kind == "spans" else "time"


def _filter_window(table: pa.Table, kind: str, s: int | None, e: int | None) -> pa.Table:
    if s is None and e is None:
        return table
    col = table.column(_time_column(kind))
    mask = None
    if s is not None:
        mask = pc.greater_equal(col, pa.scalar(s, pa.timestamp("ns", "UTC")))
    if e is not None:
        m2 = pc.less(col, pa.scalar(e, pa.timestamp("ns", "UTC")))
        mask = m2 if mask is None else pc.and_(mask, m2)
    return table.filter(pc.fill_null(mask, False))


def _filter_traces_window(table: pa.Table, s: int | None, e: int | None) -> pa.Table:
    """Keep whole traces that overlap [start, end): a trace's early spans stay with it."""
    if (s is None and e is None) or table.num_rows == 0:
        return table
    g = table.select(["trace_id", "start", "end"]).group_by("trace_id").aggregate([("start", "min"), ("end", "max")])
    keep = pc.is_valid(g.column("trace_id"))
    if e is not None:
        keep = pc.and_(keep, pc.less(g.column("start_min"), pa.scalar(e, pa.timestamp("ns", "UTC"))))
    if s is not None:
        end_max = pc.coalesce(g.column("end_max"), g.column("start_min"))
        keep = pc.and_(keep, pc.greater_equal(end_max, pa.scalar(s, pa.timestamp("ns", "UTC"))))
    ids = g.column("trace_id").filter(pc.fill_null(keep, False))
    return table.filter(pc.is_in(table.column("trace_id"), value_set=ids))


def _pick_kind(parts: list[Part], kind: str | None, label: str) -> str:
    kinds = sorted({p.kind for p in parts})
    if kind is not None:
        return kind
    if len(kinds) == 1:
        return kinds[0]
    if not kinds:
        raise UsageError(f"{label} holds no records, and its kind cannot be inferred: pass kind='logs', 'spans' or 'metrics'")
    raise UsageError(f"{label} holds {', '.join(kinds)}: pass kind= one of them")


def load(
    source: Any,
    kind: str | None = None,
    *,
    start: Any = None,
    end: Any = None,
    query: str | None = None,
    engine: str | None = None,
    strict: bool = False,
    format: str | None = None,
    **options: Any,
):
    """Load logs, spans or metrics into one canonical frame.

    ``source`` is a path, glob, directory, ``.gz`` file, list of these, a backend URL
    (``prometheus://host:9090``, ``loki://``, ...) or the name of a source in ``obsnb.toml``.
    ``kind`` is inferred from the format when the format says it. ``start``/``end`` take datetimes,
    ISO strings, epoch numbers or ``"now-2h"``. Nothing is dropped silently: rows loaded + rows rejected
    = records read, a :class:`~obsnb.RejectedRecordsWarning` says how many were rejected and
    :func:`rejected` lists them; ``strict=True`` raises on the first bad record instead.

    >>> import obsnb as ob
    >>> logs = ob.load("sample_data/logs/*.jsonl", kind="logs")       # doctest: +SKIP
    """
    t0 = time.perf_counter()
    kind = schema.canonical_kind(kind)
    engine = engine or get_option("engine")
    if engine not in ("pandas", "polars", "arrow"):
        raise UsageError(f"engine must be 'pandas' or 'polars', got {engine!r}")
    s_ns, e_ns = _window(start, end)
    schema.warm_pandas()  # pandas imports while the source is read
    ctx = ReadContext(strict=strict, options=options, kind=kind, start_ns=s_ns, end_ns=e_ns)
    if format is not None:
        ctx.options["format"] = format

    if _is_backend(source):
        # backends only: sources.backend brings requests and urllib3 (~70 ms to import), which a file never needs
        from .sources import backend

        parts, labels = backend.fetch(source, kind=kind, query=query, start_ns=s_ns, end_ns=e_ns, ctx=ctx)
        from_backend = True
        label = labels[0]
    else:
        if query is not None:
            raise UsageError("query= is for backends; to filter a file, filter the frame after loading")
        from_backend = False
        found = discover.Found()
        files = _expand(source, found)
        _skip(found, ctx)
        registry.check_options(files, format, options, lambda f: FileInput(f).head())  # a keyword no format takes
        labels = files
        label = files[0] if len(files) == 1 else f"{len(files)} files"
        if found.skipped:  # the rejects are not all from the files read
            label = f"{len(files) + len(found.skipped)} entries of {source!r}"
        parts = []
        fmt_kinds: set = set()
        with cache.progress(sum(_size(f) for f in files), "loading files") as bar:  # shown after 2 s
            for f in files:
                parts.extend(_read_or_reject(f, format, ctx, fmt_kinds, len(files) > 1))
                bar.update(_size(f))
        if kind is None and not parts and len(fmt_kinds) == 1:
            kind = fmt_kinds.pop()

    order = {lab: i for i, lab in enumerate(labels)}
    ctx.rejects[:] = _sort_rejects(ctx.rejects, order)
    kind = _pick_kind(parts, kind, label)
    tables = [p.table for p in parts if p.kind == kind]
    pruned = ctx.__dict__.get("pruned", {}).get(kind, 0)  # rows the store's window push-down did not read
    records = sum(t.num_rows for t in tables) + pruned
    typed = {(c, str(t.schema.field(c).type)) for t in tables for c in schema.CANONICAL[kind] if c in t.column_names}
    if len(typed) > len({c for c, _ in typed}):
        tables = [schema.conform(t, kind) for t in tables]  # parts of different readers: canonical types first
    if tables and all((t.schema.metadata or {}).get(cache.CANONICAL.encode()) == kind.encode()
                      and _same_fields(t.schema, tables[0].schema) for t in tables):
        # from the store, conformed when written; entries whose other columns came in another order concat
        # by name into the first one's order (still conformed: the same columns, provenance last)
        table = schema.concat(tables).replace_schema_metadata(None)
    else:
        table = schema.conform(schema.concat(tables), kind) if tables else schema.empty_table(kind)
    before = table.num_rows
    # The window is [start, end) for every source. Backends answer whole traces (spans that began
    # before start belong to them) and instants at an explicit time=: those are kept as answered.
    instant = from_backend and (options.get("instant") or options.get("time") is not None)
    if from_backend and kind == "spans":
        table = _filter_traces_window(table, s_ns, e_ns)
    elif from_backend and not instant:  # a metric range query keeps every point the backend evaluated, end included
        table = _filter_window(table, kind, s_ns, e_ns + 1 if kind == "metrics" and e_ns is not None else e_ns)
    elif not from_backend:
        # files: the window; several files in time order (a stable sort: equal times keep file and line order,
        # null times last), so "the last line" means the latest one even when rotated files are listed newest
        # first. One take at most, none when the files' rows are each sorted and do not overlap in time.
        table = cache.window_in_time_order(table, _time_column(kind), s_ns, e_ns, order=len(labels) > 1,
                                           pieces=[t.num_rows for t in tables])
    info = LoadInfo(
        sources=list(labels),
        kind=kind,
        records_read=records + ctx.n_rejected,
        rows_loaded=table.num_rows,
        rows_outside_window=before - table.num_rows + pruned,
        n_rejected=ctx.n_rejected,
        rejects=ctx.rejects,
        seconds=time.perf_counter() - t0,
        warnings=ctx.warnings,
    )
    df = schema.to_engine(table, engine)
    _remember(df, info)
    if ctx.n_rejected:
        first = ctx.rejects[0] if ctx.rejects else None
        where = f"; first: {first.source}:{first.line}: {first.reason}" if first else ""
        warnings.warn(
            f"{ctx.n_rejected} of {info.records_read} records rejected from {label}{where}. "
            "List them with obsnb.rejected(df).",
            RejectedRecordsWarning,
            stacklevel=2,
        )
    return df
