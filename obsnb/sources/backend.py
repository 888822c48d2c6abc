"""Backends as sources: resolving a backend URL or named source into a request, and fetching it.

``ob.load("prometheus://prom:9090", query=..., start=..., end=...)`` and ``ob.load("prod-loki", query=...)``
come here (:func:`fetch`). A backend is a source like a file format: the URL scheme picks its class
from the same registry (:data:`obsnb.registry.BACKENDS`, beside :data:`~obsnb.registry.FORMATS`); a name
is looked up in ``obsnb.toml`` (:mod:`obsnb.config`), whose credentials are read from environment
variables and never shown. Results are kept as evidence by :mod:`obsnb.sources.snapshots`.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from .. import config, registry, schema
from ._http import SECRET_HEADERS, http_url, redact_url
from .base import BackendRequest, Part, ReadContext
from .snapshots import read_cached, snapshot_path, usable_snapshot, warn_old_snapshots, write_snapshot

__all__ = ["scheme_of", "resolve", "label_of", "fetch", "Secret"]


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


def _scheme(url: str) -> str:
    return url.partition("://")[0].lower()


def scheme_of(source: str) -> str:
    """The URL scheme of a backend URL or named source (``prod-prom`` -> ``prometheus``)."""
    return _scheme(source if "://" in source else config.get_source(source).url)


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
        registry.check_backend_options(_scheme(url), cfg.options, f"obsnb.toml [sources.{name}]")
        opts = {**cfg.options, **opts}
        headers.update(cfg.secret_headers())
        headers.hidden = frozenset(cfg.headers_env)
        auth = cfg.auth()
        if auth:
            opts["_auth"] = Secret(auth)
        opts.setdefault("verify", cfg.verify)
        if cfg.cert():
            opts["_cert"] = cfg.cert()
    backend = registry.get_backend(_scheme(url))
    registry.check_backend_options(_scheme(url), options)  # a misspelt keyword is an error, not ignored
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
    path = snapshot_path(req)
    if path is not None:
        warn_old_snapshots(path.parent, ctx)
        if path.exists() and usable_snapshot(path, req, ctx) and not req.options.get("refresh", False):
            return read_cached(path, req, ctx), [label]
    impl = backend()
    parts = list(impl.fetch(req, ctx))
    if not parts:  # nothing matched: an empty frame with the canonical columns, never an error
        kind = req.kind or (impl.kind_for(req) if hasattr(impl, "kind_for") else impl.kinds[0])
        parts = [Part(kind, schema.empty_table(kind))]
    parts = _stamp(parts, label)
    if path is not None:
        write_snapshot(path, parts, req, label, ctx)
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
