"""The interface every reader implements, and the context it reports into.

A file format is a subclass of :class:`FileFormat`::

    class Logfmt(FileFormat):
        name = "logfmt"
        kinds = ("logs",)

        @classmethod
        def sniff(cls, head: bytes, path: str) -> float: ...   # 0 = no, 1 = certainly

        def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]: ...

``read`` yields :class:`Part` objects: a kind and a :class:`pyarrow.Table` whose columns already carry
canonical names (``time`` as int64 epoch-ns or timestamp, ``level`` canonical, ids lowercase hex, other
fields flattened with ``.``), plus ``_line`` (1-based line or record number). Bad records go to
``ctx.reject(...)``; they are never silently skipped. The frame is built in one place
(:func:`obsnb.schema.conform`), so no reader imports pandas.

A backend is a subclass of :class:`Backend` with ``schemes`` and ``fetch(request, ctx)``.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import os
import zlib
from typing import Any, ClassVar, Iterator

import numpy as np
import pyarrow as pa

from ..errors import ParseError, UsageError
from ..options import get_option

__all__ = ["Part", "Reject", "ReadContext", "FileInput", "FileFormat", "Backend", "BackendRequest"]

# How many rejected records keep their raw text (the count is always exact).
MAX_RAW = 200_000
RAW_CHARS = 2_000


@dataclasses.dataclass
class Part:
    """A batch of records of one kind, with canonical column names."""

    kind: str
    table: pa.Table


@dataclasses.dataclass
class Reject:
    source: str
    line: int | None
    reason: str
    raw: str | None


class ReadContext:
    """What a reader needs besides its input: options, strictness, where to report bad records."""

    def __init__(self, *, strict: bool = False, options: dict[str, Any] | None = None, kind: str | None = None,
                 start_ns: int | None = None, end_ns: int | None = None):
        self.strict = strict
        self.options = dict(options or {})
        self.kind = kind
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.rejects: list[Reject] = []
        self.n_rejected = 0
        self.warnings: list[str] = []

    def reject(self, source: str, line: int | None, reason: str, raw: str | bytes | None = None) -> None:
        """Record a record that was read but not loaded; with ``strict=True`` raise at once."""
        if isinstance(raw, (bytes, bytearray, memoryview)):
            raw = bytes(raw).decode("utf-8", errors="backslashreplace")
        if raw is not None and len(raw) > RAW_CHARS:
            raw = raw[:RAW_CHARS] + f"… ({len(raw)} chars)"
        if self.strict:
            where = f"{source}:{line}" if line is not None else source
            msg = f"{where}: {reason}" + (f"\n    {raw[:200]!r}" if raw else "") + "\n(pass strict=False to load the good records and list the bad ones with obsnb.rejected(df))"
            raise ParseError(msg, source=source, line=line, raw=raw)
        self.n_rejected += 1
        if len(self.rejects) < MAX_RAW:
            self.rejects.append(Reject(source, line, reason, raw))

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)


def record_cap(ctx: "ReadContext | None" = None) -> int:
    """The longest record (line) a reader takes, in decompressed bytes: ``load(..., max_record_bytes=N)``,
    else the ``max_record_bytes`` option (default 64 MiB)."""
    cap = ctx.option("max_record_bytes") if ctx is not None else None
    if cap is None:
        cap = get_option("max_record_bytes")
    if not (isinstance(cap, int) and not isinstance(cap, bool) and cap > 0):
        raise UsageError(f"max_record_bytes must be a positive integer, got {cap!r}")
    return cap


def over_cap_reason(nbytes: int, cap: int) -> str:
    return (f"record of {nbytes:,} bytes is over the {cap:,}-byte cap on one record; raise it with "
            f"obsnb.set_option('max_record_bytes', N) or load(..., max_record_bytes=N)")


_PIECE = 1 << 24  # bytes read or decompressed at a time


class FileInput:
    """A file to read: its path, and its bytes (decompressed when the name ends in ``.gz``).

    ``truncated`` is set when a gzip stream ended early; the bytes then hold what could be read.
    A line longer than ``max_record`` bytes (see :func:`record_cap`; set it before the first
    :meth:`data`) is never held whole: it is read past in pieces, left empty in the bytes (so line
    numbers hold) and listed in ``oversized`` as (line, bytes, first bytes) for the reader to reject.
    """

    def __init__(self, path: str):
        self.path = path
        self.name = os.path.basename(path)
        self.gzipped = path.endswith(".gz")
        self._data: bytes | None = None
        self.truncated: str | None = None
        self.max_record = get_option("max_record_bytes")
        self.oversized: list[tuple[int, int, bytes | None]] = []

    @property
    def stem(self) -> str:
        """The name without ``.gz``."""
        return self.name[:-3] if self.gzipped else self.name

    def head(self, n: int = 65536) -> bytes:
        if self._data is not None:
            return self._data[:n]
        if self.gzipped:
            try:
                with gzip.open(self.path, "rb") as f:
                    return f.read(n)
            except (OSError, EOFError, zlib.error):
                out = io.BytesIO()
                self._stream(_Capped(out, n))
                return out.getvalue()
        with open(self.path, "rb") as f:
            return f.read(n)

    def data(self) -> bytes:
        """All bytes, decompressed; a truncated or corrupt gzip gives what could be read and sets ``truncated``."""
        if self._data is None:
            if not self.gzipped:  # read whole (the file's own size), over-cap lines found with numpy
                with open(self.path, "rb") as f:
                    self._data = f.read()
                if len(self._data) > self.max_record:
                    self._data = self._without_long_lines(self._data)
            else:
                out = io.BytesIO()
                self.copy_to(out)
                self._data = out.getvalue()
        return self._data

    def _without_long_lines(self, data: bytes) -> bytes:
        """``data`` with every line over the cap left empty (and listed in ``oversized``)."""
        self.oversized = []
        # a line over the cap holds a whole block of cap/2 bytes with no newline: a memchr per block says
        # whether one can be there (a few calls for a normal file) before numpy looks at every newline
        half = max(self.max_record // 2, 1)
        if all(data.find(b"\n", j, j + half) >= 0 for j in range(0, len(data) - half + 1, half)):
            return data
        arr = np.frombuffer(data, dtype=np.uint8)  # scanned in pieces: no file-sized mask
        nl = np.concatenate([np.flatnonzero(arr[i:i + _PIECE] == 10) + i for i in range(0, len(arr), _PIECE)])
        starts = np.concatenate([[0], nl + 1])
        ends = np.append(nl, len(data))
        over = np.flatnonzero(ends - starts > self.max_record)
        if not len(over):
            return data
        pieces, pos = [], 0
        for i in over.tolist():
            a, b = int(starts[i]), int(ends[i])
            self.oversized.append((i + 1, b - a, data[a:a + 200]))
            pieces.append(data[pos:a])
            pos = b
        pieces.append(data[pos:])
        return b"".join(pieces)

    def copy_to(self, out) -> None:
        """Write the bytes :meth:`data` gives to the binary file ``out``, in pieces (bounded memory)."""
        self.oversized = []
        self._stream(_LineCap(out, self.max_record, self.oversized))

    def _stream(self, sink) -> None:
        """The file's bytes, decompressed, to ``sink.write`` piece by piece; ``sink.close()`` at the end."""
        with open(self.path, "rb") as f:
            if not self.gzipped:
                while piece := f.read(_PIECE):
                    sink.write(piece)
                sink.close()
                return
            d = zlib.decompressobj(wbits=31)
            done = 0
            while True:
                if d.eof:  # the next member of a multi-member file, or the NUL padding after the last
                    raw = d.unused_data
                    while not raw.strip(b"\x00"):
                        more = f.read(_PIECE)
                        if not more:
                            break
                        raw += more
                    if not raw.strip(b"\x00"):
                        break
                    d = zlib.decompressobj(wbits=31)
                else:
                    raw = d.unconsumed_tail or f.read(_PIECE)  # b"": the end, or output zlib still holds
                try:
                    piece = d.decompress(raw, _PIECE)
                except zlib.error as exc:
                    self.truncated = f"corrupt gzip data after {done} decompressed bytes ({exc})"
                    break
                if not raw and not piece and not d.eof:
                    self.truncated = f"gzip stream ends early (truncated file) after {done} decompressed bytes"
                    break
                done += len(piece)
                if piece:
                    sink.write(piece)
                if sink.full:
                    break
        sink.close()

    def text(self) -> str:
        return self.data().decode("utf-8", errors="replace")


class _Capped:
    """A sink that keeps the first ``n`` bytes."""

    def __init__(self, out, n: int):
        self.out, self.left, self.full = out, n, False

    def write(self, piece: bytes) -> None:
        self.out.write(piece[: self.left])
        self.left -= min(len(piece), self.left)
        self.full = self.left <= 0

    def close(self) -> None:
        pass


class _LineCap:
    """A sink that passes lines through and leaves a line over ``cap`` bytes empty, noting it.

    Holds at most the current partial line (``cap`` bytes); a complete piece of short lines passes as it came.
    """

    full = False

    def __init__(self, out, cap: int, oversized: list):
        self.out, self.cap, self.oversized = out, cap, oversized
        self.pending = bytearray()  # the start of the current line (not over the cap yet)
        self.skipped = -1  # bytes of the current line when it is over the cap (-1: it is not)
        self.first = b""
        self.line = 1  # the current line's number

    def _over(self, nbytes: int) -> None:
        self._note(self.line, nbytes, self.first)

    def _note(self, line: int, nbytes: int, first) -> None:
        # the first bytes only for as many as keep their raw text (ReadContext), so a million long lines stay small
        self.oversized.append((line, nbytes, bytes(first) if len(self.oversized) < MAX_RAW else None))

    def _tail(self, piece) -> None:
        if self.skipped >= 0:
            self.skipped += len(piece)
        elif len(self.pending) + len(piece) > self.cap:
            self.first = bytes((self.pending + piece[:200])[:200])
            self.skipped = len(self.pending) + len(piece)
            self.pending = bytearray()
        else:
            self.pending += piece

    def write(self, piece: bytes) -> None:
        view = memoryview(piece)
        if piece.find(b"\n") < 0:  # inside one long line (a memchr, no newline scan)
            self._tail(view)
            return
        nl = np.flatnonzero(np.frombuffer(piece, dtype=np.uint8) == 10)
        self._tail(view[: nl[0]])
        if self.skipped >= 0:
            self._over(self.skipped)
            self.out.write(b"\n")
        else:
            self.out.write(bytes(self.pending) + b"\n")
        self.pending, self.skipped = bytearray(), -1
        self.line += 1
        lengths = np.diff(nl) - 1  # the complete lines after the first newline
        over = np.flatnonzero(lengths > self.cap)
        pos = int(nl[0]) + 1
        for i in over.tolist():
            start, end = int(nl[i]) + 1, int(nl[i + 1])
            self.out.write(view[pos:start])
            self._note(self.line + i, end - start, view[start:start + 200])
            self.out.write(b"\n")
            pos = end + 1
        self.out.write(view[pos: int(nl[-1]) + 1])
        self.line += len(lengths)
        self._tail(view[int(nl[-1]) + 1:])

    def close(self) -> None:
        if self.skipped >= 0:
            self._over(self.skipped)
        elif self.pending:
            self.out.write(bytes(self.pending))


class FileFormat:
    """A file format: sniffed from the first bytes, read into canonical parts."""

    name: ClassVar[str] = ""
    kinds: ClassVar[tuple[str, ...]] = ()
    extensions: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def sniff(cls, head: bytes, path: str) -> float:
        """How sure this format is that ``head`` (the first 64 KiB, decompressed) is its own: 0 to 1."""
        return 0.0

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        raise NotImplementedError


@dataclasses.dataclass
class BackendRequest:
    """One ``load()`` call against a backend."""

    url: str = dataclasses.field(repr=False)  # as given, may hold credentials: never in messages (use .safe_url)
    safe_url: str                 # scheme://host:port/path with credentials removed
    kind: str | None
    query: str | None
    start_ns: int | None
    end_ns: int | None
    options: dict[str, Any]
    source_name: str | None = None  # the obsnb.toml name, when used
    headers: dict[str, str] = dataclasses.field(default_factory=dict, repr=False)


class Backend:
    """A telemetry backend reached over HTTP."""

    schemes: ClassVar[tuple[str, ...]] = ()
    kinds: ClassVar[tuple[str, ...]] = ()

    def fetch(self, req: BackendRequest, ctx: ReadContext) -> Iterator[Part]:
        raise NotImplementedError


def require_kind(kind: str | None, supported: tuple[str, ...], what: str) -> str:
    if kind is None:
        if len(supported) == 1:
            return supported[0]
        raise UsageError(f"{what} holds {', '.join(supported)}: pass kind= one of them")
    if kind not in supported:
        raise UsageError(f"{what} has no {kind}; it holds {', '.join(supported)}")
    return kind
