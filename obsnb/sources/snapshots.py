"""Evidence snapshots: each backend result saved as Parquet with its provenance, read back on re-runs.

Backends forget (retention). ``ob.snapshot("evidence/")`` (once, at the top of a notebook) or
``ob.load(..., snapshot="evidence/")`` (per call) saves each backend result as Parquet in that folder,
with its provenance in the file's key-value metadata (``obsnb.source``, ``obsnb.query``,
``obsnb.kind``, ``obsnb.start``/``obsnb.end``, ``obsnb.fetched_at``, ``obsnb.version``,
``obsnb.rows``, ``obsnb.partial``, ``obsnb.identity``). A re-run of the same request reads the
file instead of the backend, so the report renders after the data is gone; ``refresh=True``
fetches again and overwrites it, ``snapshot=False`` bypasses it.

A request's identity (:func:`identity`) is everything that changes the answer: URL scheme, host, port,
path and user, every query parameter and header (``X-Scope-OrgID``, those from ``headers_env``),
credentials, kind, query text, window and the options that change the result (``step=``, ...), for a
named source too (its URL, not its name). Secrets enter it only as HMAC-SHA256 under the user's key
(:mod:`obsnb.keyed`), never as text. The file name is ``<source>-<kind>-<hash of the identity>.parquet``;
``snapshot_name="api-errors"`` names it instead, and a name already holding another request's answer is
a UsageError naming what differs (never overwritten, never served). Snapshots of the older key scheme
(which ignored headers and the URL of named sources) are never read: a one-line warning says so. Use
absolute ``start``/``end`` for snapshots: ``"now-2h"`` is a different window on every run.
:func:`read_snapshot` lists provenance.
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

from .. import __version__, safe_text, schema
from ..errors import ObsnbWarning, TruncatedResultWarning, UsageError
from ..keyed import keyed_hash
from ..private_files import private_dir
from ._http import SECRET_HEADERS, SECRET_QUERY_PARAMS, http_url
from ._http import iso as _iso
from .base import BackendRequest, Part, ReadContext

__all__ = ["snapshot", "read_snapshot", "snapshot_path", "snapshot_key", "identity", "write_snapshot", "read_cached",
           "usable_snapshot"]

_STATE: dict[str, Any] = {"folder": None}
# load() options that do not change what a backend returns (everything else is part of a snapshot's identity;
# headers, the URL's user, _auth and _cert are covered by identity() on their own).
_NOT_IDENTITY = {"snapshot", "refresh", "snapshot_name", "progress", "partial", "workers", "timeout", "retries",
                 "backoff", "verify", "format", "_auth", "_cert", "headers"}
KEY_SCHEME = "2"  # 1 (obsnb <= this change): source name or safe URL, kind, query, window, options; no headers
_OLD_NAME = re.compile(r"-[0-9a-f]{12}\.parquet$")
_WARNED_OLD: set[str] = set()


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


def _hidden(value: Any) -> str:
    """A secret as it enters an identity: its keyed hash (the user's key), never its text."""
    return "hmac:" + keyed_hash(json.dumps(value, default=str), "obsnb.snapshot", 32)


def _shown(value: Any, secret: bool = False) -> Any:
    """``value`` as is, or hashed when it is a secret or holds anything :func:`obsnb.safe_text.redact` hides."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return _hidden(value) if secret or safe_text.redact(text) != text else value


def identity(req: BackendRequest) -> dict[str, Any]:
    """Everything that changes a backend's answer to ``req``, secrets only as keyed hashes.

    URL scheme, host, port, path and user; every query parameter and header (names compared lowercase);
    basic-auth credentials and client certificate; kind, query text, window and the load options that
    change the result (``step=``, ``limit=``, ...).
    """
    parts = urllib.parse.urlsplit(http_url(str(req.url))[1])
    scheme = str(req.url).partition("://")[0].lower()
    user = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else None
    hidden = {h.lower() for h in getattr(req.headers, "hidden", ())}
    params = sorted([k, _shown(v, k.lower() in SECRET_QUERY_PARAMS or safe_text.is_secret_name(k))]
                    for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    headers = sorted([k.lower(), _shown(v, k.lower() in SECRET_HEADERS or k.lower() in hidden
                                        or safe_text.is_secret_name(k))] for k, v in (req.headers or {}).items())
    opts = req.options
    auth, cert = opts.get("_auth"), opts.get("_cert")
    return {
        "scheme": scheme, "host": (parts.hostname or "").lower(), "port": parts.port, "path": _shown(parts.path),
        "user": _hidden(user) if user is not None else None, "params": params, "headers": headers,
        "auth": _hidden(getattr(auth, "value", auth)) if auth is not None else None,
        "cert": _hidden(cert) if cert else None,
        "kind": req.kind, "query": _shown(req.query), "start": req.start_ns, "end": req.end_ns,
        "options": {k: _shown(v, safe_text.is_secret_name(k)) for k, v in sorted(opts.items())
                    if k not in _NOT_IDENTITY},
    }


def _canonical(ident: dict[str, Any]) -> str:
    return json.dumps(ident, sort_keys=True, default=str)


def snapshot_key(req: BackendRequest) -> str:
    """The key of ``req``'s snapshot: a hash of its :func:`identity` (equal requests, equal keys)."""
    return hashlib.sha256(_canonical(identity(req)).encode()).hexdigest()[:20]


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
    name = req.options.get("snapshot_name")
    if name:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name))
    else:
        host = req.source_name or urllib.parse.urlsplit(http_url(req.safe_url)[1]).hostname or "backend"
        stem = f"{re.sub(r'[^A-Za-z0-9._-]+', '_', host)}-{req.kind or 'auto'}-{snapshot_key(req)}"
    return pathlib.Path(folder) / f"{stem}.parquet"


_FIELD_NAMES = {"scheme": "URL scheme", "host": "URL host", "port": "URL port", "path": "URL path",
                "user": "URL user", "auth": "credentials", "cert": "client certificate", "kind": "kind",
                "query": "query text", "start": "window start", "end": "window end"}


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two identities, by name only (values may be secrets)."""
    out = [label for k, label in _FIELD_NAMES.items() if old.get(k) != new.get(k)]
    for key, label in (("params", "query parameter"), ("headers", "header")):
        a, b = dict(map(tuple, old.get(key) or [])), dict(map(tuple, new.get(key) or []))
        out += [f"{label} {n}" for n in sorted(set(a) | set(b)) if a.get(n) != b.get(n)]
    a, b = old.get("options") or {}, new.get("options") or {}
    out += [f"option {n}=" for n in sorted(set(a) | set(b)) if a.get(n) != b.get(n)]
    return out


def usable_snapshot(path: pathlib.Path, req: BackendRequest, ctx: ReadContext) -> bool:
    """Whether the file at ``path`` is ``req``'s snapshot: True; written by an older obsnb: False, with a warning.

    A file that holds another request's answer (a ``snapshot_name=`` already taken) is a UsageError
    naming what differs, whether or not ``refresh=True`` asks to fetch again: it is never overwritten.
    """
    meta = read_snapshot(path)
    if meta.get("key_scheme") != KEY_SCHEME:
        _warn(f"snapshot {path} was written by an older obsnb whose key ignored headers, URL user and credentials; "
              "it is not read and this fetch replaces it", ctx)
        return False
    diff = _differences(json.loads(meta.get("identity") or "{}"), identity(req))
    if diff:
        name = req.options.get("snapshot_name") or path.stem
        msg = (f"snapshot name {name!r} ({path}) holds the answer to another request: it differs in "
               f"{', '.join(diff)}. Choose another snapshot_name=, or delete the file to replace it "
               "(refresh=True re-fetches the same request only)")
        raise UsageError(msg)
    return True


def warn_old_snapshots(folder: pathlib.Path, ctx: ReadContext) -> None:
    """Say once per folder when it holds snapshots of the older key scheme (they are never read)."""
    if str(folder) in _WARNED_OLD or not folder.is_dir():
        return
    _WARNED_OLD.add(str(folder))
    old = [p for p in folder.glob("*.parquet") if _OLD_NAME.search(p.name)
           and read_snapshot(p).get("key_scheme") != KEY_SCHEME]
    if old:
        _warn(f"{len(old)} snapshot(s) in {folder} were written by an older obsnb whose key ignored headers, "
              "URL user and credentials; they are not read (fetch again, then delete them)", ctx)


def _warn(text: str, ctx: ReadContext) -> None:
    ctx.warnings.append(text)
    warnings.warn(text, ObsnbWarning, stacklevel=4)


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
        "obsnb.key_scheme": KEY_SCHEME,
        "obsnb.identity": _canonical(identity(req)),
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
    """The parts stored at ``path`` for ``req`` (checked by :func:`usable_snapshot`); says so in the load's warnings."""
    meta = read_snapshot(path)
    table = pq.read_table(path)
    table = table.replace_schema_metadata(None)
    ctx.warnings.append(f"read from snapshot {path} (fetched {meta.get('fetched_at')}); refresh=True fetches again")
    if meta.get("partial"):
        text = f"snapshot {path} holds a PARTIAL result: {meta['partial']}"
        ctx.warnings.append(text)
        warnings.warn(text, TruncatedResultWarning, stacklevel=3)
    return [Part(meta.get("kind") or req.kind, table)]
