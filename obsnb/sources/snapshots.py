"""Evidence snapshots: each backend result saved as Parquet with its provenance, read back on re-runs.

Backends forget (retention). ``ob.snapshot("evidence/")`` (once, at the top of a notebook) or
``ob.load(..., snapshot="evidence/")`` (per call) saves each backend result as Parquet in that folder,
with its provenance in the file's key-value metadata (``obsnb.source``, ``obsnb.query``,
``obsnb.kind``, ``obsnb.start``/``obsnb.end``, ``obsnb.fetched_at``, ``obsnb.version``,
``obsnb.rows``, ``obsnb.partial``). A re-run with the same source, query, kind and window reads the
file instead of the backend, so the report renders after the data is gone; ``refresh=True``
fetches again and overwrites it, ``snapshot=False`` bypasses it. The file name is
``<source>-<kind>-<hash of source, query, kind, window, step>.parquet``; ``snapshot_name="api-errors"``
names it instead (then the stored query must match). Use absolute ``start``/``end`` for
snapshots: ``"now-2h"`` is a different window on every run. :func:`read_snapshot` lists provenance.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import pathlib
import re
import urllib.parse
import warnings
from typing import Any

import pyarrow.parquet as pq

from .. import __version__, schema
from ..errors import TruncatedResultWarning, UsageError
from ..private_files import private_dir
from ._http import http_url
from ._http import iso as _iso
from .base import BackendRequest, Part, ReadContext

__all__ = ["snapshot", "read_snapshot", "snapshot_path", "write_snapshot", "read_cached"]

_STATE: dict[str, Any] = {"folder": None}
# load() options that change what a backend returns (part of a snapshot's identity).
_NOT_IDENTITY = {"snapshot", "refresh", "snapshot_name", "progress", "partial", "workers", "timeout", "retries",
                 "backoff", "verify", "format", "_auth", "_cert", "headers"}


def snapshot(folder: str | os.PathLike | None = "evidence") -> pathlib.Path | None:
    """Save every backend result of this session as evidence in ``folder`` and read it back on re-runs.

    Returns the folder (created if needed); ``snapshot(None)`` turns it off. A single load can
    override it with ``snapshot=``, ``snapshot_name=`` and ``refresh=True`` (see the module docs).

    >>> import obsnb as ob
    >>> ob.snapshot("incident-2024-05-14/evidence")       # doctest: +SKIP
    """
    if folder is None:
        _STATE["folder"] = None
        return None
    p = private_dir(pathlib.Path(folder).expanduser())  # 0700 when obsnb makes it
    _STATE["folder"] = p
    return p


def snapshot_path(req: BackendRequest) -> pathlib.Path | None:
    """Where the snapshot of ``req`` lives, or None when snapshots are off for it."""
    opt = req.options.get("snapshot", None)
    if opt is False:
        return None
    folder = _STATE["folder"] if opt is None or opt is True else pathlib.Path(opt).expanduser()
    if folder is None:
        if opt is True:
            raise UsageError("snapshot=True needs a folder: call ob.snapshot('evidence/') or pass snapshot='evidence/'")
        return None
    ident = {k: v for k, v in req.options.items() if k not in _NOT_IDENTITY}
    key = json.dumps([req.source_name or req.safe_url, req.kind, req.query, req.start_ns, req.end_ns, ident],
                     sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    name = req.options.get("snapshot_name")
    if name:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name))
    else:
        host = req.source_name or urllib.parse.urlsplit(http_url(req.safe_url)[1]).hostname or "backend"
        stem = f"{re.sub(r'[^A-Za-z0-9._-]+', '_', host)}-{req.kind or 'auto'}-{digest}"
    return pathlib.Path(folder) / f"{stem}.parquet"


def write_snapshot(path: pathlib.Path, parts: list[Part], req: BackendRequest, label: str, ctx: ReadContext) -> None:
    """Save a backend's answer (the parts of the requested kind) with its provenance."""
    kinds = [p.kind for p in parts]
    kind = req.kind or (kinds[0] if kinds else None)
    tables = [p.table for p in parts if p.kind == kind]
    if kind is None:
        return  # nothing came back and nothing says what it would have been
    table = schema.concat(tables) if tables else schema.empty_table(kind)
    partial = [w for w in ctx.warnings if "PARTIAL RESULT" in w]
    meta = {
        "obsnb.source": label,
        "obsnb.source_name": req.source_name or "",
        "obsnb.url": req.safe_url,
        "obsnb.query": req.query if isinstance(req.query, str) else json.dumps(req.query, default=str),
        "obsnb.kind": kind,
        "obsnb.start": _iso(req.start_ns),
        "obsnb.end": _iso(req.end_ns),
        "obsnb.fetched_at": _iso(int(_dt.datetime.now(_dt.timezone.utc).timestamp() * 1e9)),
        "obsnb.version": __version__,
        "obsnb.rows": str(table.num_rows),
        "obsnb.partial": "\n".join(partial),
    }
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **{k: v.encode() for k, v in meta.items()}})
    private_dir(path.parent)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp)
    os.chmod(tmp, 0o600)  # evidence: readable by its owner only
    os.replace(tmp, path)


def read_snapshot(path: str | os.PathLike) -> dict[str, str]:
    """The provenance stored in a snapshot file: source, query, kind, window, fetched_at, version, rows."""
    md = pq.read_schema(path).metadata or {}
    return {k.decode()[6:]: v.decode() for k, v in md.items() if k.startswith(b"obsnb.")}


def read_cached(path: pathlib.Path, req: BackendRequest, ctx: ReadContext) -> list[Part]:
    """The parts stored at ``path`` for ``req`` (its query must match); says so in the load's warnings."""
    meta = read_snapshot(path)
    query = req.query if isinstance(req.query, str) else json.dumps(req.query, default=str)
    if meta.get("query") != query:
        msg = (f"snapshot {path} holds query {meta.get('query')!r}, not {query!r}; pass refresh=True to "
               "replace it or choose another snapshot_name=")
        raise UsageError(msg)
    table = pq.read_table(path)
    table = table.replace_schema_metadata(None)
    ctx.warnings.append(f"read from snapshot {path} (fetched {meta.get('fetched_at')}); refresh=True fetches again")
    if meta.get("partial"):
        text = f"snapshot {path} holds a PARTIAL result: {meta['partial']}"
        ctx.warnings.append(text)
        warnings.warn(text, TruncatedResultWarning, stacklevel=3)
    return [Part(meta.get("kind") or req.kind, table)]
