"""Grafana Tempo: trace by id and TraceQL search into a spans frame.

``ob.load("tempo://tempo:3200", query="4bf92f3577b34da6a3ce929d0e0e4736")``          trace by id (or ids)
``ob.load("tempo://tempo:3200", query='{ resource.service.name = "api" && status = error }', start=t0, end=t1)``

A TraceQL query runs ``/api/search`` (``limit=`` traces, default 500; ``spss=`` spans per span set) and,
by default, fetches every matching trace in full, concurrently (``workers=``), so the frame holds the
whole context of each trace; ``full_traces=False`` returns only the matched spans from the search answer
(``trace_id``, ``span_id``, ``name``, ``service``, ``start``, ``end``, ``duration_ms`` and their attributes).
A full page of results gives a :class:`~obsnb.errors.TruncatedResultWarning` (Tempo has no paging:
narrow the window or raise ``limit``).
"""

from __future__ import annotations

from typing import Any, Iterator

import pyarrow as pa

from ..errors import UsageError
from . import _http
from .backend import label_of
from .base import Backend, BackendRequest, Part, ReadContext, require_kind
from .jaeger import trace_ids
from .otlp_json import anyvalue, parse_otlp_document

__all__ = ["Tempo"]

DEFAULT_LIMIT = 500


class Tempo(Backend):
    """``tempo://`` / ``tempo+https://``: traces by id or TraceQL, as spans."""

    schemes = ("tempo",)
    kinds = ("spans",)

    def fetch(self, req: BackendRequest, ctx: ReadContext) -> Iterator[Part]:
        require_kind(req.kind, self.kinds, req.source_name or req.safe_url)
        if not req.query:
            raise UsageError(f"{req.source_name or req.safe_url}: pass query= a trace id or a TraceQL query "
                             "like '{ resource.service.name = \"api\" }'")
        client = _http.make_client(req)
        try:
            ids = trace_ids(req.query)
            if ids is None:
                hits = self._search(client, req, ctx)
                if not req.options.get("full_traces", True):
                    yield from self._matched_spans(hits, req)
                    return
                ids = [h["traceID"] for h in hits]
            yield from self._traces(client, req, ctx, ids)
        finally:
            client.close()

    def _traces(self, client, req, ctx, ids: list[str]) -> Iterator[Part]:
        docs = _http.run_chunks(ids, lambda i: client.get_json(f"/api/traces/{i}", query=i,
                                                               headers={"Accept": "application/json"}),
                                describe=str, ctx=ctx, source=client.source, partial=bool(req.options.get("partial")),
                                workers=int(req.options.get("workers", 4)), progress=req.options.get("progress"),
                                unit="trace")
        for doc in docs:
            if doc is not None:
                yield from parse_otlp_document(doc, label_of(req), ctx)

    def _search(self, client, req, ctx) -> list[dict]:
        o = req.options
        limit = int(o.get("limit", DEFAULT_LIMIT))
        params: dict[str, Any] = {"q": req.query, "limit": str(limit)}
        if o.get("spss"):
            params["spss"] = str(o["spss"])
        if req.start_ns is not None:
            params["start"] = str(req.start_ns // 1_000_000_000)
        if req.end_ns is not None:
            params["end"] = str(-(-req.end_ns // 1_000_000_000))
        doc = client.get_json("/api/search", query=req.query, params=params)
        hits = [t for t in doc.get("traces") or [] if t.get("traceID")]
        if len(hits) >= limit:
            _http.warn_truncated(ctx, client.source, f"Tempo returned limit={limit} traces for this TraceQL"
                                 f"{_http.window_text(req.start_ns, req.end_ns)}; there may be more: "
                                 "narrow the window or raise limit=")
        return hits

    def _matched_spans(self, hits: list[dict], req: BackendRequest) -> Iterator[Part]:
        rows: list[dict] = []
        for t in hits:
            sets = t.get("spanSets") or ([t["spanSet"]] if t.get("spanSet") else [])
            for ss in sets:
                for sp in ss.get("spans") or []:
                    start = int(sp.get("startTimeUnixNano") or 0)
                    dur = int(sp.get("durationNanos") or 0)
                    row = {"trace_id": t["traceID"].lower().rjust(32, "0"), "span_id": sp.get("spanID"),
                           "name": sp.get("name"), "start": start, "end": start + dur, "duration_ms": dur / 1e6,
                           "root_service": t.get("rootServiceName"), "root_name": t.get("rootTraceName")}
                    for a in sp.get("attributes") or []:
                        row[a["key"]] = anyvalue(a.get("value"))
                    row["service"] = row.pop("service.name", None)
                    rows.append(row)
        if rows:
            yield Part("spans", pa.Table.from_pylist(rows))
