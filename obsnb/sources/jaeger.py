"""Jaeger query service: ``/api/traces`` (Jaeger JSON) and ``/api/v3`` (OTLP JSON) into a spans frame.

``ob.load("jaeger://jaeger:16686", query="4bf92f3577b34da6a3ce929d0e0e4736")``  trace by id (or a list of ids)
``ob.load("jaeger://jaeger:16686", kind="spans", service="api", operation="GET /orders", start=t0, end=t1)``

A query that is not a trace id is the service name. Search options: ``service=``, ``operation=``,
``tags={"http.status_code": "500"}``, ``min_duration="500ms"``, ``max_duration=``, ``limit=`` (number of
traces, default 1,500 like the Jaeger UI). Jaeger returns at most ``limit`` traces and has no paging, so
a full page gives a :class:`~obsnb.errors.TruncatedResultWarning` (narrow the window or raise ``limit``).
``api="v3"`` (or a URL ending in ``/api/v3``) uses the OTLP-shaped v3 API instead. Several trace ids are
fetched concurrently.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

from ..errors import UsageError
from . import _http
from .backend import label_of
from .base import Backend, BackendRequest, Part, ReadContext, require_kind
from .jaeger_json import parse_jaeger_document
from .otlp_json import parse_otlp_document

__all__ = ["Jaeger", "trace_ids"]

DEFAULT_LIMIT = 1_500
_ID = re.compile(r"^[0-9a-fA-F]{16}$|^[0-9a-fA-F]{32}$")


def trace_ids(query: Any) -> list[str] | None:
    """The trace ids in ``query`` (one id, a list, or comma/space separated), or None when it is not ids."""
    items = query if isinstance(query, (list, tuple)) else re.split(r"[\s,]+", str(query or "").strip())
    items = [str(i) for i in items if str(i)]
    if items and all(_ID.match(i) for i in items):
        return [i.lower() for i in items]
    return None


def split_base(req: BackendRequest, suffix: str) -> tuple[BackendRequest, bool]:
    """The request re-based on the server root when its URL ends in ``suffix`` (e.g. ``/api/v3``)."""
    url = str(req.url).rstrip("/")
    if url.endswith(suffix):
        return BackendRequest(url=url[: -len(suffix)], safe_url=req.safe_url, kind=req.kind, query=req.query,
                              start_ns=req.start_ns, end_ns=req.end_ns, options=req.options,
                              source_name=req.source_name, headers=req.headers), True
    return req, False


class Jaeger(Backend):
    """``jaeger://`` / ``jaeger+https://``: traces by id or by search, as spans."""

    schemes = ("jaeger",)
    kinds = ("spans",)

    def fetch(self, req: BackendRequest, ctx: ReadContext) -> Iterator[Part]:
        require_kind(req.kind, self.kinds, req.source_name or req.safe_url)
        base, v3_url = split_base(req, "/api/v3")
        v3 = v3_url or str(req.options.get("api", "v1")).lower() == "v3"
        client = _http.make_client(base)
        try:
            ids = trace_ids(req.query)
            if ids:
                yield from self._by_id(client, req, ctx, ids, v3)
            else:
                yield from self._search(client, req, ctx, v3)
        finally:
            client.close()

    def _by_id(self, client, req, ctx, ids: list[str], v3: bool) -> Iterator[Part]:
        path = "/api/v3/traces/{}" if v3 else "/api/traces/{}"
        docs = _http.run_chunks(ids, lambda i: client.get_json(path.format(i), query=i), describe=str, ctx=ctx,
                                source=client.source, partial=bool(req.options.get("partial")),
                                workers=int(req.options.get("workers", 4)), progress=req.options.get("progress"),
                                unit="trace")
        for doc in docs:
            if doc is not None:
                yield from self._parse(doc, label_of(req), ctx, v3)

    def _search(self, client, req, ctx, v3: bool) -> Iterator[Part]:
        o = req.options
        service = o.get("service") or (req.query if isinstance(req.query, str) and req.query else None)
        if not service:
            raise UsageError(f"{client.source}: pass a trace id as query=, or service= (and start=/end=) to search")
        limit = int(o.get("limit", DEFAULT_LIMIT))
        if v3:
            params = {"query.service_name": service, "query.num_traces": str(limit)}
            if o.get("operation"):
                params["query.operation_name"] = o["operation"]
            if req.start_ns is not None:
                params["query.start_time_min"] = _http.iso(req.start_ns)
            if req.end_ns is not None:
                params["query.start_time_max"] = _http.iso(req.end_ns)
            for k, v in (o.get("tags") or {}).items():
                params[f"query.attributes.{k}"] = str(v)
            for key, opt in (("query.duration_min", "min_duration"), ("query.duration_max", "max_duration")):
                if o.get(opt):
                    params[key] = str(o[opt])
            doc = client.get_json("/api/v3/traces", query=service, params=params)
            n = len({sp.get("traceId") for rs in ((doc.get("result") or {}).get("resourceSpans") or [])
                     for ss in rs.get("scopeSpans") or [] for sp in ss.get("spans") or []})
        else:
            params = {"service": service, "limit": str(limit)}
            if o.get("operation"):
                params["operation"] = o["operation"]
            if req.start_ns is not None:
                params["start"] = str(req.start_ns // 1000)
            if req.end_ns is not None:
                params["end"] = str(req.end_ns // 1000)
            if o.get("tags"):
                params["tags"] = json.dumps({k: str(v) for k, v in o["tags"].items()})
            for key, opt in (("minDuration", "min_duration"), ("maxDuration", "max_duration")):
                if o.get(opt):
                    params[key] = str(o[opt])
            doc = client.get_json("/api/traces", query=service, params=params)
            n = len(doc.get("data") or [])
        if n >= limit:
            _http.warn_truncated(ctx, client.source, f"Jaeger returned limit={limit} traces for service {service!r}"
                                 f"{_http.window_text(req.start_ns, req.end_ns)}; there may be more: "
                                 "narrow the window or raise limit=")
        yield from self._parse(doc, label_of(req), ctx, v3)

    def _parse(self, doc: Any, label: str, ctx: ReadContext, v3: bool) -> list[Part]:
        if v3:
            return parse_otlp_document(doc, label, ctx)
        return parse_jaeger_document(doc, label, ctx)
