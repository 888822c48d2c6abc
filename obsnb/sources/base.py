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

import pyarrow as pa

from ..errors import ParseError, UsageError

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


class FileInput:
    """A file to read: its path, and its bytes (decompressed when the name ends in ``.gz``).

    ``truncated`` is set when a gzip stream ended early; the bytes then hold what could be read.
    """

    def __init__(self, path: str):
        self.path = path
        self.name = os.path.basename(path)
        self.gzipped = path.endswith(".gz")
        self._data: bytes | None = None
        self.truncated: str | None = None

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
                return self.data()[:n]
        with open(self.path, "rb") as f:
            return f.read(n)

    def data(self) -> bytes:
        """All bytes, decompressed; a truncated or corrupt gzip gives what could be read and sets ``truncated``."""
        if self._data is None:
            if self.gzipped:
                self._data = self._gunzip()
            else:
                with open(self.path, "rb") as f:
                    self._data = f.read()
        return self._data

    def _gunzip(self) -> bytes:
        out = io.BytesIO()
        with open(self.path, "rb") as f:
            raw = f.read()
        pos = 0
        while pos < len(raw):
            d = zlib.decompressobj(wbits=31)
            try:
                out.write(d.decompress(raw[pos:]))
                out.write(d.flush())
            except zlib.error as exc:
                self.truncated = f"corrupt gzip data after {out.tell()} decompressed bytes ({exc})"
                break
            if not d.eof:
                self.truncated = f"gzip stream ends early (truncated file) after {out.tell()} decompressed bytes"
                break
            rest = d.unused_data
            pos = len(raw) - len(rest)
            if not rest.strip(b"\x00"):
                break
        return out.getvalue()

    def text(self) -> str:
        return self.data().decode("utf-8", errors="replace")


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
