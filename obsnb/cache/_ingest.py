"""The streamed first ingest: a big line file cut at newlines into pieces, each parsed and written sorted,
then kept as sorted runs (a file in time order) or merged by time ranges, never held whole."""

from __future__ import annotations

import concurrent.futures
import os
import pathlib
import queue
import shutil
import tempfile
import threading
from typing import Callable, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from .. import schema
from ..options import get_option
from ..sources.base import FileInput, Part, ReadContext, Reject
from ._write import (_arrange, _conform_to, _new_tmp, _PartWriter, _publish, _sorted, _target_schema, _time_name,
                     _time_ns, _with_row, _write_meta, progress, row_groups_for, store_entry)

CHUNKABLE = {"jsonl", "logfmt"}  # one record per line: a piece cut at a newline parses as the whole would


def _one_record_per_line(path: str, fmt: str) -> bool:
    """Whether the file's records are its lines, so that a piece cut at a newline parses as the whole would: not
    for a JSON array document (``[{...},\n{...}]``) or an RFC 7464 sequence (``\\x1e`` records may span
    lines), which the JSON reader also takes and a cut would break into fragments: those are parsed whole."""
    if fmt != "jsonl":
        return True
    import gzip

    try:
        with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
            head = f.read(1 << 16)
    except (OSError, EOFError):
        return True  # the reader says what is wrong with it
    return not (head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[") or b"\x1e" in head)


class _Stopped(Exception):
    """The ingest stopped (it failed or was interrupted): cut no more pieces."""


class _Ahead:
    """The pieces of a line file (see :func:`_cut`), cut (copied or decompressed, their newlines counted) in a
    thread while the one before is parsed: at most ``depth`` pieces on disk at once, counting the one being
    parsed (``done()`` says that one is gone). Iterating gives (piece, first line, bytes read, truncation
    reason or None); an error of the cutting comes out where its piece would have; ``close()`` stops the
    thread, even midway, and waits for it."""

    def __init__(self, path: str, limit: int, out: pathlib.Path, name: str, depth: int = 2):
        self._items: queue.Queue = queue.Queue()
        self._room = threading.Semaphore(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(path, limit, out, name), name="obsnb-pieces",
                                        daemon=True)
        self._thread.start()

    def _wait_room(self) -> None:
        self._room.acquire()
        if self._stop.is_set():
            raise _Stopped

    def _run(self, path: str, limit: int, out: pathlib.Path, name: str) -> None:
        try:
            _cut(path, limit, out, name, self._wait_room, lambda item: self._items.put(("piece", item)))
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the consumer, raised there
            self._items.put(("error", exc))
        finally:
            self._items.put(("end", None))

    def __iter__(self) -> Iterator[tuple[pathlib.Path, int, int, str | None]]:
        while True:
            what, item = self._items.get()
            if what == "end":
                return
            if what == "error":
                raise item
            yield item

    def done(self) -> None:
        self._room.release()

    def close(self) -> None:
        self._stop.set()
        self._room.release()  # a thread waiting for room wakes, sees the stop and ends
        self._thread.join()


def _cut(path: str, limit: int, out: pathlib.Path, name: str, room: Callable[[], None], emit: Callable) -> None:
    """Cut a (gzipped) line file at newlines into files of about ``limit`` bytes, ``room()`` called before
    each is made, ``emit((piece, first line, bytes read, truncation reason or None))`` once it is whole. The
    reason is set on the last piece when a gzip stream ends early or is corrupt; that piece holds every byte
    that could be decompressed (a record cut there is rejected)."""
    if not path.endswith(".gz"):
        _plain_pieces(path, limit, out, name, room, emit)
        return
    src = FileInput(path)
    # decompressed 16 MiB at a time (a gzip bomb costs time, not memory), the reasons those of a whole read
    src._stream(_GzipPieces(src, out, name, limit, room, emit))


class _GzipPieces:
    """The sink of :meth:`FileInput._stream`: decompressed bytes into piece files cut at newlines."""

    full = False  # read to the end

    def __init__(self, src: FileInput, out: pathlib.Path, name: str, limit: int, room: Callable, emit: Callable):
        self.src, self.out, self.name, self.limit, self.room, self.emit = src, out, name, limit, room, emit
        self.j, self.line0, self.n, self.lines, self.f = 0, 1, 0, 0, None

    def _open(self) -> None:
        self.room()
        self.path = self.out / f"piece-{self.j:05d}-{self.name}"
        self.f = open(self.path, "wb")

    def write(self, data: bytes) -> None:
        view, pos = memoryview(data), 0
        while pos < len(data):
            if self.f is None:
                self._open()
            full = self.limit - self.n  # bytes this piece takes before it is cut at the next newline
            nl = data.find(b"\n", pos + max(full - 1, 0)) if len(data) - pos >= full else -1
            end = len(data) if nl < 0 else nl + 1  # no cut here: the rest goes to this piece
            self.f.write(view[pos:end])
            self.n += end - pos
            self.lines += data.count(b"\n", pos, end)
            pos = end
            if nl >= 0:
                self.f.close()
                self.emit((self.path, self.line0, self.n, None))
                self.j, self.line0, self.n, self.lines, self.f = self.j + 1, self.line0 + self.lines, 0, 0, None

    def close(self) -> None:
        if self.f is None and self.src.truncated:
            self._open()  # an empty last piece, to carry the reason
        if self.f is not None:
            self.f.close()
            self.f = None
            self.emit((self.path, self.line0, self.n, self.src.truncated))


def _plain_pieces(path: str, limit: int, out: pathlib.Path, name: str, room: Callable, emit: Callable) -> None:
    """An uncompressed file's pieces: cut points found by seeking, bytes copied by the kernel
    (``copy_file_range``, no pass through Python), newlines counted by numpy over a memory map."""
    import mmap

    import numpy as np

    size = os.path.getsize(path)
    line0, pos, j = 1, 0, 0
    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        try:
            while pos < size:
                end = size if pos + limit >= size else mm.find(b"\n", pos + limit) + 1 or size
                room()
                p = out / f"piece-{j:05d}-{name}"
                with open(p, "wb") as g:
                    _copy_range(f, g, pos, end - pos)
                emit((p, line0, end - pos, None))
                step = 1 << 24
                line0 += sum(int(np.count_nonzero(np.frombuffer(mm, np.uint8, min(step, end - o), o) == 10))
                             for o in range(pos, end, step))
                pos, j = end, j + 1
        finally:
            if mm is not None:
                mm.close()


def _copy_range(src, dst, offset: int, n: int) -> None:
    done = 0
    try:
        while done < n:
            k = os.copy_file_range(src.fileno(), dst.fileno(), n - done, offset + done)
            if k == 0:
                break
            done += k
    except (AttributeError, OSError):  # no copy_file_range here (or across these file systems): copy in blocks
        src.seek(offset + done)
        while done < n:
            block = src.read(min(1 << 24, n - done))
            if not block:
                break
            dst.write(block)
            done += len(block)
    if done != n:
        raise OSError(f"the file shrank while it was read ({done} of {n} bytes copied)")


def _disjoint(pieces: list[tuple[pathlib.Path, list]]) -> bool:
    """Whether pieces, taken in file order, overlap in time only in the row group at each edge (logs written
    in time order, with some jitter): then they are the part as they are."""
    if any(not gs or any(g[1] is None or g[2] is None for g in gs[:-1]) or gs[-1][1] is None for _, gs in pieces):
        return False
    for (_, a), (_, b) in zip(pieces, pieces[1:]):
        b_lo = min(g[1] for g in b)
        a_hi = max(g[2] if g[2] is not None else g[1] for g in a)
        if a[-1][2] is None or sum(1 for g in a if g[2] >= b_lo) > 1 or sum(1 for g in b if g[1] <= a_hi) > 1:
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

    Small files, formats that cannot be cut, and a load that returns every row (no window: its frame holds
    the whole file anyway) are parsed whole: the parts are returned at once and the entry is written from
    them in a background thread while the caller builds its frame (:func:`~obsnb.cache.flush` waits for
    it). A line file over ``cache_chunk_bytes`` read by a scan (``ctx.stream`` set) or a windowed load is
    parsed piece by piece, each piece written while the next is parsed (returns None: read the entry).
    """
    limit = int(get_option("cache_chunk_bytes"))
    size = os.path.getsize(path)
    if path.endswith(".gz"):
        size = max(size, _gz_size(path))
    whole_frame = ctx.start_ns is None and ctx.end_ns is None and not getattr(ctx, "stream", False)
    if fmt not in CHUNKABLE or size <= limit or whole_frame or not _one_record_per_line(path, fmt):
        before_n, before_list = ctx.n_rejected, len(ctx.rejects)
        parts = parse(path, fmt, ctx)
        store_entry(folder, key, parts, ctx.rejects[before_list:], ctx.n_rejected - before_n, background=True,
                    source=source)
        return parts
    base, tmp = _new_tmp(folder)
    work = pathlib.Path(tempfile.mkdtemp(prefix=".pieces-", dir=base))
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="obsnb-store")
    ahead = None
    try:
        by_kind: dict[str, list] = {}
        ordered: dict[str, list[bool]] = {}
        rows: dict[str, int] = {}
        rejects: list[Reject] = []
        n_rejected = 0
        name = os.path.basename(path)[:-3] if path.endswith(".gz") else os.path.basename(path)
        writing = None
        ahead = _Ahead(path, limit, work, name)
        with progress(None if path.endswith(".gz") else size, f"ingesting {os.path.basename(path)}") as bar:
            for j, (piece, line0, nbytes, broken) in enumerate(ahead):
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
                piece.unlink()
                ahead.done()
                if writing is not None:
                    writing.result()  # at most one piece written while the next is parsed: two in memory
                jobs = []
                for i, p in enumerate(parts):
                    t = schema.conform(p.table, p.kind)  # canonical once, here: no load conforms it again
                    if "_line" in t.column_names:
                        t = t.set_column(t.column_names.index("_line"), "_line", pc.add(t.column("_line"), line0 - 1))
                    jobs.append((p.kind, _with_row(t, rows.get(p.kind, 0)), work / f"sorted-{j:05d}-{i}.parquet"))
                    rows[p.kind] = rows.get(p.kind, 0) + t.num_rows
                writing = pool.submit(_write_pieces, jobs, by_kind, ordered)
                bar.update(nbytes)
            if writing is not None:
                writing.result()
        kinds = list(by_kind)
        runs = []
        for i, k in enumerate(kinds):
            pieces = by_kind[k]
            if _disjoint(pieces):  # already in time order: the sorted pieces are the part's files
                rs = []
                for j, (p, gs) in enumerate(pieces):
                    os.replace(p, tmp / f"part-{i}-{j:05d}.parquet")
                    rs.append({"file": f"part-{i}-{j:05d}.parquet", "groups": gs, "file_order": ordered[k][j]})
                runs.append(rs)
            else:
                runs.append([{"file": f"part-{i}.parquet", "groups": _merge(pieces, k, tmp / f"part-{i}.parquet"),
                              "file_order": False}])
        _write_meta(tmp, kinds, runs, rejects, n_rejected)
        _publish(base, tmp, key)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if ahead is not None:
            ahead.close()
        pool.shutdown(wait=True)
        shutil.rmtree(work, ignore_errors=True)
    return None


def _write_pieces(jobs: list, by_kind: dict[str, list], ordered: dict[str, list[bool]]) -> None:
    """Write a piece's parts, each in time order (as it is when nearly so, else sorted), noting row groups."""
    for kind, t, path in jobs:
        t, ns, in_order = _arrange(t, kind)
        w = _PartWriter(path, t.schema)
        w.write(t, ns)
        by_kind.setdefault(kind, []).append((w.path, w.close()))
        ordered.setdefault(kind, []).append(in_order)
