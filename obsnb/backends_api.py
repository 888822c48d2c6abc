"""Backends behind ``obsnb.load()``: resolve a URL or named source, fetch, keep evidence snapshots.

``ob.load("prometheus://prom:9090", query=..., start=..., end=...)`` and ``ob.load("prod-loki", query=...)``
come here (:func:`fetch`). The URL scheme picks the backend (:data:`obsnb.registry.BACKENDS`); a name
is looked up in ``obsnb.toml`` (:mod:`obsnb.config`), whose credentials are read from environment
variables and never shown.

Evidence snapshots
------------------
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

import pyarrow as pa
import pyarrow.parquet as pq

from . import config, registry, schema
from .errors import TruncatedResultWarning, UsageError
from .sources._http import SECRET_HEADERS, http_url, redact_url
from .sources._http import iso as _iso
from .sources.base import BackendRequest, Part, ReadContext

__all__ = ["fetch", "resolve", "snapshot", "read_snapshot", "label_of", "Secret", "remote_latency", "remote_gaps"]

_STATE: dict[str, Any] = {"folder": None}
# load() options that change what a backend returns (part of a snapshot's identity).
_NOT_IDENTITY = {"snapshot", "refresh", "snapshot_name", "progress", "partial", "workers", "timeout", "retries",
                 "backoff", "verify", "format", "_auth", "_cert", "headers"}


class Secret:
    """A credential: usable through ``.value``, shown as ``REDACTED`` everywhere else."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __repr__(self) -> str:
        return "REDACTED"

    __str__ = __repr__


class _SecretHeaders(dict):
    """Request headers whose repr hides credential values."""

    def __repr__(self) -> str:
        return repr({k: ("REDACTED" if k.lower() in SECRET_HEADERS or k in self.hidden else v) for k, v in self.items()})

    hidden: frozenset = frozenset()


class _SecretUrl(str):
    """A URL whose repr is the redacted form (the real text is still the string's value)."""

    def __repr__(self) -> str:
        return repr(redact_url(str(self)))


def resolve(source: str, *, kind: str | None, query: Any, start_ns: int | None, end_ns: int | None,
            options: dict[str, Any]) -> tuple[BackendRequest, type]:
    """A :class:`BackendRequest` (credentials filled in, hidden from repr) and the backend class for ``source``."""
    opts = dict(options)
    headers = _SecretHeaders()
    name = None
    if "://" in source:
        url = source
    else:
        cfg = config.get_source(source)
        name, url = cfg.name, cfg.url
        opts = {**cfg.options, **opts}
        headers.update(cfg.secret_headers())
        headers.hidden = frozenset(cfg.headers_env)
        auth = cfg.auth()
        if auth:
            opts["_auth"] = Secret(auth)
        opts.setdefault("verify", cfg.verify)
        if cfg.cert():
            opts["_cert"] = cfg.cert()
    scheme = url.partition("://")[0].lower()
    backend = registry.get_backend(scheme)
    http_url(url)  # validates the transport part
    if isinstance(opts.get("headers"), dict):  # load(..., headers={...}) for ad-hoc URLs
        headers.update(opts.pop("headers"))
    req = BackendRequest(url=_SecretUrl(url), safe_url=redact_url(url), kind=kind, query=query, start_ns=start_ns,
                         end_ns=end_ns, options=opts, source_name=name, headers=headers)
    return req, backend


def label_of(req: BackendRequest) -> str:
    """The credential-free description of a request, used as ``_source``: ``[name: ]safe-url query``."""
    q = req.query if isinstance(req.query, str) or req.query is None else json.dumps(req.query, sort_keys=True)
    head = f"{req.source_name}: {req.safe_url}" if req.source_name else req.safe_url
    return f"{head} {q}" if q else head


def fetch(source: str, *, kind: str | None, query: Any, start_ns: int | None, end_ns: int | None,
          ctx: ReadContext) -> tuple[list[Part], list[str]]:
    """Run one load against a backend (or its snapshot): ``(parts, [label])``."""
    req, backend = resolve(source, kind=kind, query=query, start_ns=start_ns, end_ns=end_ns, options=ctx.options)
    label = label_of(req)
    path = _snapshot_path(req, label)
    if path is not None and path.exists() and not req.options.get("refresh", False):
        return _read(path, req, ctx), [label]
    impl = backend()
    parts = list(impl.fetch(req, ctx))
    if not parts:  # nothing matched: an empty frame with the canonical columns, never an error
        kind = req.kind or (impl.kind_for(req) if hasattr(impl, "kind_for") else impl.kinds[0])
        parts = [Part(kind, schema.empty_table(kind))]
    parts = _stamp(parts, label)
    if path is not None:
        _write(path, parts, req, label, ctx)
    return parts, [label]


def _stamp(parts: list[Part], label: str) -> list[Part]:
    """Set ``_source`` (the safe label) and ``_line`` (record ordinal, 1-based, across parts)."""
    out, n = [], 0
    for p in parts:
        t = p.table
        rows = t.num_rows
        src = pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()) if rows else pa.array([], pa.int32()),
                                             pa.array([label], pa.string()))
        line = pa.array(range(n + 1, n + rows + 1), pa.int64())
        n += rows
        for name, col in (("_source", src), ("_line", line)):
            if name in t.column_names:
                t = t.set_column(t.column_names.index(name), name, col)
            else:
                t = t.append_column(name, col)
        out.append(Part(p.kind, t))
    return out


# ---------------------------------------------------------------------------------------------- snapshots


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
    p = pathlib.Path(folder).expanduser()
    p.mkdir(parents=True, exist_ok=True)
    _STATE["folder"] = p
    return p


def _snapshot_path(req: BackendRequest, label: str) -> pathlib.Path | None:
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


def _write(path: pathlib.Path, parts: list[Part], req: BackendRequest, label: str, ctx: ReadContext) -> None:
    from . import __version__

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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def read_snapshot(path: str | os.PathLike) -> dict[str, str]:
    """The provenance stored in a snapshot file: source, query, kind, window, fetched_at, version, rows."""
    md = pq.read_schema(path).metadata or {}
    return {k.decode()[6:]: v.decode() for k, v in md.items() if k.startswith(b"obsnb.")}


def _read(path: pathlib.Path, req: BackendRequest, ctx: ReadContext) -> list[Part]:
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


# ---------------------------------------------------------------------------------------------- pushdown


def _qname(q: float) -> str:
    return f"p{float(q) * 100:g}"


def remote_latency(source: str, metric: str, q: Any = (0.5, 0.95, 0.99), *, by: Any = None, matchers: Any = None,
                   window: Any = "5m", start: Any = None, end: Any = None, step: Any = None,
                   engine: str | None = None, **options: Any):
    """Latency quantiles computed by a Prometheus-compatible backend from a classic histogram.

    Runs ``histogram_quantile(q, sum by (le, <by>) (rate(<metric>_bucket{<matchers>}[window])))`` once
    per ``q`` (the backend form of ``ob.latency``) and returns one row per time and group: ``time``,
    the ``by`` columns, ``p50``, ``p95``, ``p99`` (names from ``q``).

    >>> remote_latency("prod-prom", "http_request_duration_seconds", q=0.95, by="service",
    ...                start="2024-05-14T12:00Z", end="2024-05-14T14:00Z")        # doctest: +SKIP
    """
    from .api import _OPTIONS, load
    from .sources.prometheus import promql_histogram_quantile

    qs = [q] if isinstance(q, (int, float)) else list(q)
    keys = ["time", *([by] if isinstance(by, str) else list(by or []))]
    out = None
    for qq in qs:
        promql = promql_histogram_quantile(metric, qq, by=by, matchers=matchers, window=window)
        t = load(source, "metrics", query=promql, start=start, end=end, step=step, engine="arrow", **options)
        for k in keys[1:]:
            if k not in t.column_names:
                t = t.append_column(k, pa.nulls(t.num_rows, pa.string()))
        t = t.select(keys + ["value"]).rename_columns(keys + [_qname(qq)])
        out = t if out is None else out.join(t, keys, join_type="full outer")
    out = out.sort_by([(k, "ascending") for k in keys])
    out = out.select(keys + [_qname(qq) for qq in qs])
    return schema.to_engine(out, engine or _OPTIONS["engine"])


def remote_gaps(source: str, selector: str, threshold: Any, *, matchers: Any = None, start: Any, end: Any,
                step: Any = None, engine: str | None = None, **options: Any):
    """Silences longer than ``threshold`` found by the backend with ``absent_over_time`` (the backend form of ``ob.gaps``).

    Returns ``gap_start``, ``gap_end``, ``duration``: ``gap_start`` is the first evaluation time with no
    sample in the preceding ``threshold`` minus ``threshold`` (exact to one ``step``, default
    ``min(threshold, auto step)``); ``gap_end`` is the first evaluation time that saw data again, or
    ``end`` when the silence lasts to the end of the window.
    """
    import numpy as np

    from .api import _OPTIONS, load
    from .sources.prometheus import auto_step, promql_absent_over_time
    from .timeutil import duration_ns, to_ns

    s_ns, e_ns, thr = to_ns(start), to_ns(end), duration_ns(threshold)
    step_ns = duration_ns(step) if step is not None else min(thr, auto_step(e_ns - s_ns))
    promql = promql_absent_over_time(selector, threshold, matchers)
    t = load(source, "metrics", query=promql, start=start, end=end, step=step_ns / 1e9, engine="arrow", **options)
    times = np.sort(t.column("time").cast(pa.int64()).to_numpy()) if t.num_rows else np.array([], np.int64)
    breaks = np.flatnonzero(np.diff(times) != step_ns)
    firsts = np.concatenate([times[:1], times[breaks + 1]]) if len(times) else times
    lasts = np.concatenate([times[breaks], times[-1:]]) if len(times) else times
    gs = np.maximum(firsts - thr, s_ns)
    ge = np.where(lasts + step_ns >= e_ns, e_ns, lasts + step_ns)
    ts = pa.timestamp("ns", "UTC")
    out = pa.table({"gap_start": pa.array(gs, pa.int64()).cast(ts), "gap_end": pa.array(ge, pa.int64()).cast(ts),
                    "duration": pa.array(ge - gs, pa.int64()).cast(pa.duration("ns"))})
    return schema.to_engine(out, engine or _OPTIONS["engine"])
