"""A Parquet cache of parsed files, so that re-running a notebook does not parse the logs again.

Off by default; ``ob.set_option("cache", "DIR")`` (or ``load(..., cache="DIR")``) turns it on. One entry
per file, keyed on the file's absolute path, size and modification time, the format, the reader
options and the obsnb version: a file that changes is parsed again. An entry holds the canonical
parts (zstd Parquet, typically 10-15x smaller than the JSON) and the rejected records, so
``obsnb.rejected()`` is the same on a hit. Only local files are cached: backend results have
snapshots (:func:`obsnb.snapshot`), and no credential can reach this cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import tempfile

import pyarrow as pa

from . import __version__
from .sources.base import Part, Reject

__all__ = ["cache_key", "load_entry", "store_entry"]

_VERSION = 1


def cache_key(path: str, fmt: str | None, options: dict) -> str | None:
    """The entry name for a file read with these options (None when the options cannot be keyed)."""
    try:
        st = os.stat(path)
        opts = json.dumps({k: v for k, v in sorted(options.items()) if k != "cache"}, default=str, sort_keys=True)
    except (OSError, TypeError):
        return None
    raw = json.dumps([_VERSION, __version__, os.path.abspath(path), st.st_size, st.st_mtime_ns, fmt, opts])
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def load_entry(folder: str | os.PathLike, key: str, source: str) -> tuple[list[Part], list[Reject], int] | None:
    """Parts, rejects and the rejected count of a cached file; None on a miss or a damaged entry."""
    import pyarrow.parquet as pq

    d = pathlib.Path(folder) / key
    meta_path = d / "entry.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        parts = []
        for i, kind in enumerate(meta["kinds"]):
            t = pq.read_table(d / f"part-{i}.parquet")
            if "_source" in t.column_names:  # the label the user gave this time
                t = t.set_column(t.column_names.index("_source"), "_source",
                                 pa.DictionaryArray.from_arrays(pa.array([0] * t.num_rows, pa.int32()), pa.array([source])))
            parts.append(Part(kind, t))
        rejects = [Reject(source, r[0], r[1], r[2]) for r in meta["rejects"]]
        return parts, rejects, int(meta["n_rejected"])
    except (OSError, ValueError, KeyError, pa.ArrowException):
        return None


def store_entry(folder: str | os.PathLike, key: str, parts: list[Part], rejects: list[Reject], n_rejected: int) -> None:
    """Write an entry atomically (a reader never sees half of one)."""
    import pyarrow.parquet as pq

    base = pathlib.Path(folder)
    base.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=".tmp-", dir=base))
    for i, p in enumerate(parts):
        pq.write_table(p.table, tmp / f"part-{i}.parquet", compression="zstd")
    meta = {"kinds": [p.kind for p in parts], "n_rejected": n_rejected,
            "rejects": [[r.line, r.reason, r.raw] for r in rejects]}
    (tmp / "entry.json").write_text(json.dumps(meta))
    final = base / key
    try:
        os.replace(tmp, final)
    except OSError:  # another process wrote it first
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
