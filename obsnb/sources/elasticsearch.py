"""Elasticsearch / OpenSearch ``_search`` into a logs frame, paged with ``search_after`` past 10,000 hits.

``ob.load("elasticsearch://es:9200/logs-*", query='service.name:api AND log.level:error', start=t0, end=t1)``

* The index (pattern) is the URL path, or ``index=`` (default ``*``). ``query=`` is a Lucene
  ``query_string`` or an Elasticsearch query DSL dict; the time range is a ``range`` filter on
  ``time_field=`` (default ``@timestamp``), both in the request, so the server does the filtering.
* Pages of ``page_size=`` hits (default 5,000, at most 10,000: ``index.max_result_window``) sorted by time,
  each continuing ``search_after`` the previous one's last sort values, inside a point in time where the
  server has one (Elasticsearch >= 7.10 ``/_pit``, OpenSearch >= 2.4 ``/_search/point_in_time``) so the
  pages are one consistent snapshot; the point in time is closed at the end. Without one (older servers)
  the sort adds ``_doc`` as a tie-breaker. ``max_hits=`` stops early with a
  :class:`~obsnb.errors.TruncatedResultWarning`; so do shard failures and ``timed_out`` answers.
* Documents (``_source``) are mapped like JSON-lines logs: ECS ``@timestamp``, ``log.level``, ``message``,
  ``service.name``, ``trace.id``, ``span.id`` fill the canonical columns; nested fields are flattened.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any, Iterator

import numpy as np
import pyarrow as pa

from ..errors import BackendError, QueryError, UsageError
from . import _http
from .backend import label_of
from .base import Backend, BackendRequest, Part, ReadContext, require_kind
from .jsonl import records_to_parts

__all__ = ["Elasticsearch"]

MAX_WINDOW = 10_000
KEEP_ALIVE = "2m"




class Elasticsearch(Backend):
    """``elasticsearch://`` / ``opensearch://`` (``+https``): documents into a logs frame."""

    schemes = ("elasticsearch", "opensearch")
    kinds = ("logs",)

    def fetch(self, req: BackendRequest, ctx: ReadContext) -> Iterator[Part]:
        require_kind(req.kind, self.kinds, req.source_name or req.safe_url)
        o = req.options
        scheme = req.url.partition("://")[0].partition("+")[0].lower()
        head, _, rest = str(req.url).partition("://")
        netloc, _, path = rest.partition("/")
        index = str(o.get("index") or path.strip("/") or "*")
        base_url = f"{head}://{netloc}"
        page = int(o.get("page_size", 5_000))
        if not 1 <= page <= MAX_WINDOW:
            raise UsageError(f"page_size must be between 1 and {MAX_WINDOW}, got {page}")
        time_field = str(o.get("time_field", "@timestamp"))
        sub = BackendRequest(url=base_url, safe_url=req.safe_url, kind=req.kind, query=req.query, start_ns=req.start_ns,
                             end_ns=req.end_ns, options=o, source_name=req.source_name, headers=req.headers)
        client = _http.make_client(sub)
        shown = req.query if req.query is not None else "*"
        body = {"size": page, "query": {"bool": {"filter": self._filters(req, time_field)}},
                "sort": [{time_field: {"order": "asc"}}], "track_total_hits": False}
        pit = None if o.get("pit", True) is False else self._open_pit(client, scheme, index, shown)
        if pit is None:
            body["sort"].append({"_doc": {"order": "asc"}})
        docs: list[dict] = []
        max_hits = o.get("max_hits")
        bar = None
        try:
            while True:
                if pit is not None:
                    body["pit"] = {"id": pit[1], "keep_alive": KEEP_ALIVE}
                    obj = client.post_json("/_search", query=shown, json_body=body)
                    pit = (pit[0], obj.get("pit_id") or pit[1])
                else:
                    obj = client.post_json(f"/{urllib.parse.quote(index, safe='*,-_.')}/_search", query=shown,
                                           json_body=body)
                self._check(obj, client.source, ctx)
                hits = (obj.get("hits") or {}).get("hits") or []
                docs.extend(h.get("_source") or {} for h in hits)
                if len(hits) < page:
                    break
                if bar is None:
                    bar = _http.progress_bar(o, client.source, "doc")
                if bar is not None:
                    bar.update(len(hits))
                if max_hits is not None and len(docs) >= int(max_hits):
                    del docs[int(max_hits):]
                    _http.warn_truncated(ctx, client.source, f"stopped at max_hits={max_hits}; documents after "
                                         f"{docs[-1].get(time_field)} were not read")
                    break
                body["search_after"] = hits[-1]["sort"]
        finally:
            if bar is not None:
                bar.close()
            if pit is not None:
                self._close_pit(client, *pit)
            client.close()
        if docs:
            yield from records_to_parts(docs, label_of(req), ctx)

    def _filters(self, req: BackendRequest, time_field: str) -> list[dict]:
        rng: dict[str, Any] = {"format": "strict_date_optional_time_nanos"}
        if req.start_ns is not None:
            rng["gte"] = _http.iso(req.start_ns)
        if req.end_ns is not None:
            rng["lt"] = _http.iso(req.end_ns)
        out: list[dict] = [{"range": {time_field: rng}}] if len(rng) > 1 else []
        q = req.query
        if isinstance(q, dict):
            out.append(q.get("query", q))
        elif isinstance(q, str) and q.strip() and q.strip() != "*":
            out.append({"query_string": {"query": q}})
        elif q is not None and not isinstance(q, str):
            raise UsageError(f"query= must be a Lucene query string or a query DSL dict, got {type(q).__name__}")
        return out

    def _open_pit(self, client: _http.HttpClient, scheme: str, index: str, shown: Any) -> tuple[str, str] | None:
        """(flavour, id) of a new point in time, or None when the server has none."""
        idx = urllib.parse.quote(index, safe="*,-_.")
        tries = [("opensearch", f"/{idx}/_search/point_in_time"), ("elasticsearch", f"/{idx}/_pit")]
        if scheme != "opensearch":
            tries.reverse()
        for flavour, path in tries:
            try:
                resp = client.request("POST", path, query=shown, params={"keep_alive": KEEP_ALIVE})
            except QueryError as exc:
                if exc.status in (400, 404, 405, 501):  # no such API on this server (index errors come later)
                    if "index_not_found" in (exc.backend_message or ""):
                        raise
                    continue
                raise
            obj = resp.json()
            pid = obj.get("id") or obj.get("pit_id")
            if pid:
                return flavour, pid
        return None

    def _close_pit(self, client: _http.HttpClient, flavour: str, pid: str) -> None:
        try:
            if flavour == "opensearch":
                client.request("DELETE", "/_search/point_in_time", json_body={"pit_id": [pid]})
            else:
                client.request("DELETE", "/_pit", json_body={"id": pid})
        except Exception:  # noqa: BLE001 - the server frees it after keep_alive anyway
            pass

    def _check(self, obj: Any, source: str, ctx: ReadContext) -> None:
        shards = obj.get("_shards") or {}
        if obj.get("timed_out"):
            _http.warn_truncated(ctx, source, "the search timed out on the server: some documents may be missing "
                                 "(narrow the window or raise the server's search timeout)")
        if shards.get("failed"):
            reasons = "; ".join(str((f.get("reason") or {}).get("reason", f)) for f in shards.get("failures") or [])[:500]
            _http.warn_truncated(ctx, source, f"{shards['failed']} of {shards.get('total')} shards failed: {reasons}")


# ---------------------------------------------------------------------------------------------- push-down
# ob.latency / ob.rate on an Elasticsearch or OpenSearch source (planned by obsnb.sources.pushdown): one
# aggregation request. With by=: a ``composite`` aggregation (a ``date_histogram`` source for the buckets,
# one ``terms`` source per group column, ``missing_bucket`` so null groups count), paged with ``after_key``
# past any bucket limit; composite leaves out empty buckets, so the rate's zeros are filled here. Without
# by=: a ``date_histogram`` with ``min_doc_count: 0`` over the window (``extended_bounds``): the server
# fills. Quantiles are ``percentiles`` (Elasticsearch's t-digest: approximate, exact only for small
# buckets); ``count`` is ``value_count`` of the value field and ``nan`` the documents without it. error_rate
# adds a ``filter`` sub-aggregation (:func:`error_query`, obsnb's error definition); gaps read the buckets'
# doc counts (a missing composite bucket is an empty one). A timed-out or shard-failed answer, or a full
# composite page without ``after_key``, is an error: its missing buckets would read as silence.

ECS_FIELDS = {"service": "service.name", "level": "log.level", "trace_id": "trace.id", "span_id": "span.id",
              "event": "message"}
COMPOSITE_PAGE = 1_000


def _ms(ns: int) -> str:
    return f"{ns // 1_000_000}ms"


def aggregation_body(measure: str, *, by, every_ns, value, quantiles, time_field: str, fields: dict,
                     start_ns=None, end_ns=None, page: int = COMPOSITE_PAGE, errors: dict | None = None) -> dict:
    """The ``aggs`` of the search body for a helper (see above)."""
    metrics: dict[str, Any] = {}
    if measure == "quantiles":
        if not value:
            raise UsageError("Elasticsearch latency needs value= the numeric field (e.g. 'duration_ms')")
        metrics = {"count": {"value_count": {"field": value}},
                   "q": {"percentiles": {"field": value, "percents": [q * 100 for q in quantiles], "keyed": False}}}
    elif measure == "errors":
        errors = errors or {}
        metrics = {"errors": {"filter": custom_error_query(errors, fields) if "tree" in errors else error_query(errors, fields)}}
    elif measure not in ("count", "absence"):
        raise UsageError(f"Elasticsearch computes latency, rate, error_rate and gaps server-side, not {measure}")
    hist = {"field": time_field, "fixed_interval": _ms(every_ns)} if every_ns else None
    if by:
        sources = ([{"time": {"date_histogram": hist}}] if hist else [])
        sources += [{k: {"terms": {"field": fields.get(k, ECS_FIELDS.get(k, k)), "missing_bucket": True}}} for k in by]
        return {"g": {"composite": {"size": page, "sources": sources}, "aggs": metrics}}
    if hist:
        hist = {**hist, "min_doc_count": 1 if measure == "quantiles" else 0}
        if start_ns is not None and end_ns is not None:
            hist["extended_bounds"] = {"min": start_ns // 1_000_000, "max": (end_ns - 1) // 1_000_000}
        return {"g": {"date_histogram": hist, "aggs": metrics}}
    return metrics


def error_query(d: dict, fields: dict) -> dict:
    """The documents that are errors by obsnb's definition (``d``: see obsnb.sources.pushdown), as a bool query.

    Any of: a level field (the JSON level aliases, or ``fields["level"]``) matching ERROR/CRITICAL names or a
    pino number >= 50 (``regexp``, case-insensitive); an outcome field ``failure``; a status/result/state/
    outcome field holding a failure word (``regexp``); an HTTP status field in [500, 600) (``range``).
    ``fields={"status": "status.keyword"}`` points a rule at another field, ``{"status": None}`` leaves it
    out. Where it differs from the in-memory rule: every level alias is read, not the first present; a
    failure word in a short event name (``job_failed``) is not read; ``regexp`` needs keyword or text
    fields (a field mapped as a number there is the server's 400 error: leave it out with ``None``), and
    the status range needs a numeric field (ECS's ``http.response.status_code`` is ``long``).
    """
    def names(cols):
        return [f for f in dict.fromkeys(fields.get(c, c) for c in cols) if f]

    words = _lucene_words(d["words"])
    levels = "[ \t]*(" + "|".join(v.lower() for v in d["levels"]) + "|" + d["level_numbers"] + ")[ \t]*"
    level_fields = names(["level"]) if "level" in fields else names(d["level_fields"])
    should: list[dict] = [{"regexp": {f: {"value": levels, "case_insensitive": True}}} for f in level_fields]
    should += [{"term": {f: {"value": "failure", "case_insensitive": True}}} for f in names(d["outcome_columns"])]
    should += [{"regexp": {f: {"value": words, "case_insensitive": True}}} for f in names(d["word_columns"])]
    should += [{"range": {f: {"gte": 500, "lt": 600}}} for f in names(d["http_columns"])]
    return {"bool": {"should": should, "minimum_should_match": 1}}


_RANGE = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}


def custom_error_query(d: dict, fields: dict) -> dict:
    """A caller's error definition (``d["tree"]``: see :func:`obsnb.analysis.remote.custom_errors`) as a bool query.

    A column is the document field of the same (flattened) name, or ``fields[column]``, or the ECS field of a
    canonical column (``service`` is ``service.name``). ``==`` / ``is_in`` are ``terms`` (exact: a ``text``
    field needs its ``.keyword``, via ``fields=``), ``!=`` a ``must_not`` with an ``exists`` (a missing field is
    never an error, as in memory), ``<``, ``>=`` ... a ``range``; ``str.contains`` a ``wildcard`` (a text
    without regex characters: Lucene's regexp is another language), ``starts_with`` a ``prefix``, a boolean
    column a ``term`` of true (a negated one ``must_not`` with ``exists``); ``level`` names canonical levels, matched in
    every spelling the loader maps to them in the level fields, as :func:`error_query` does.
    """
    def field(col):
        return fields.get(col) or ECS_FIELDS.get(col, col)

    def one(t) -> dict:
        op = t[0]
        if op == "and":
            return {"bool": {"filter": [one(x) for x in t[1]]}}
        if op == "or":
            return {"bool": {"should": [one(x) for x in t[1]], "minimum_should_match": 1}}
        col = t[1]
        if op == "cmp":
            return {"range": {field(col): {_RANGE[t[2]]: t[3]}}}
        if op in ("text", "true"):
            if op == "text" and t[2] == "regex" and re.search(r"[\\.^$|?*+()\[\]{}]", t[3]):
                raise UsageError(f"errors= str.contains({t[3]!r}) is a regex, and Lucene's regexp is another language: "
                                 "pass literal=True (or a pattern without regex characters)")
            f = field(col)
            wild = "".join("\\" + c if c in "*?\\" else c for c in str(t[-2]))
            leaf = {"term": {f: True}} if op == "true" else {"prefix": {f: t[3]}} if t[2] == "prefix" else \
                {"wildcard": {f: {"value": f"*{wild}*"}}}
            return {"bool": {"must_not": [leaf], "filter": [{"exists": {"field": f}}]}} if t[-1] else leaf
        if op == "in" and col == "level":
            names = [a.lower() for lv in t[2] for a in d["levels"][lv]] + [d["level_numbers"][lv] for lv in t[2]]
            value = "[ \t]*(" + "|".join(names) + ")[ \t]*"
            level_fields = [field("level")] if "level" in fields else list(dict.fromkeys(d["level_fields"]))
            return {"bool": {"should": [{"regexp": {f: {"value": value, "case_insensitive": True}}}
                                        for f in level_fields] if t[2] else [], "minimum_should_match": 1}}
        terms = {"terms": {field(col): list(t[2])}}
        if op == "in":
            return terms
        return {"bool": {"must_not": [terms], "filter": [{"exists": {"field": field(col)}}]}}

    return one(d["tree"])


def _lucene_words(pattern: str) -> str:
    """The failure-word regex (``(?i)(?:^|[^a-z])(?:fail|...)(?:$|[^a-z])``, searched) as an anchored Lucene
    regexp: ``(.*[^a-zA-Z])?(fail|...)([^a-zA-Z].*)?``."""
    m = re.fullmatch(r"\(\?i\)\(\?:\^\|\[\^a-z\]\)\(\?:(.*)\)\(\?:\$\|\[\^a-z\]\)", pattern)
    if m is None:  # the definition changed shape: say so rather than search for something else
        raise ValueError(f"cannot translate the failure words to Lucene: {pattern!r}")
    body = m.group(1).replace("(?:", "(").replace("[ _.-]", "[ _.\\-]")
    return f"(.*[^a-zA-Z])?({body})([^a-zA-Z].*)?"


def search_body(req: BackendRequest, aggs: dict, time_field: str) -> dict:
    """The ``_search`` body: no hits, the window and query as filters, the aggregation."""
    return {"size": 0, "query": {"bool": {"filter": Elasticsearch()._filters(req, time_field)}}, "aggs": aggs,
            "track_total_hits": False}


def run_aggregation(req: BackendRequest, aggs: dict, time_field: str) -> list[dict]:
    """POST the aggregation (paging a composite with ``after_key``); one dict per bucket: key parts, doc_count, metrics."""
    head, _, rest = str(req.url).partition("://")
    netloc, _, path = rest.partition("/")
    index = str(req.options.get("index") or path.strip("/") or "*")
    sub = BackendRequest(url=f"{head}://{netloc}", safe_url=req.safe_url, kind="logs", query=req.query,
                         start_ns=req.start_ns, end_ns=req.end_ns, options=req.options, source_name=req.source_name,
                         headers=req.headers)
    client = _http.make_client(sub)
    body = search_body(req, aggs, time_field)
    url = f"/{urllib.parse.quote(index, safe='*,-_.')}/_search"
    rows: list[dict] = []
    pages = 0
    try:
        while True:
            obj = client.post_json(url, query=body, json_body=body)
            pages += 1
            _complete(obj, client.source, pages)
            res = obj.get("aggregations") or {}
            if "g" not in res:
                return [{"doc_count": None, **_metrics(res)}]
            buckets = res["g"].get("buckets") or []
            for b in buckets:
                key = b["key"] if isinstance(b["key"], dict) else {"time": b["key"]}
                rows.append({**key, "doc_count": b.get("doc_count", 0), **_metrics(b)})
            comp = aggs["g"].get("composite")
            if comp is None or len(buckets) < comp["size"]:
                return rows
            if not res["g"].get("after_key"):  # a full page and nowhere to continue: the rest would be missing
                raise QueryError(f"{client.source}: composite page {pages} was full ({len(buckets)} buckets) but "
                                 "had no after_key, so the buckets after it cannot be read; nothing was returned",
                                 source=client.source, query=json.dumps(body)[:2000])
            comp["after"] = res["g"]["after_key"]
    finally:
        client.close()


def _complete(obj: Any, source: str, page: int) -> None:
    """An aggregation over part of the documents is wrong numbers that look right (an empty bucket reads as
    silence): shard failures and server time-outs are errors here, not warnings."""
    shards = obj.get("_shards") or {}
    problem = None
    if obj.get("timed_out"):
        problem = "the search timed out on the server"
    elif shards.get("failed"):
        reasons = "; ".join(str((f.get("reason") or {}).get("reason", f)) for f in shards.get("failures") or [])[:500]
        problem = f"{shards['failed']} of {shards.get('total')} shards failed: {reasons}"
    if problem:
        raise BackendError(f"{source}: aggregation page {page} is PARTIAL ({problem}); its buckets would undercount, "
                           "so nothing was returned (narrow the window, or raise the server's search timeout)",
                           source=source)


def _metrics(b: dict) -> dict:
    out = {}
    if "count" in b:
        out["count"] = b["count"].get("value")
    if "errors" in b:
        out["errors"] = b["errors"].get("doc_count", 0)
    if "q" in b:  # keyed: false keeps the order asked for
        vals = b["q"].get("values")
        items = vals if isinstance(vals, list) else [{"key": float(k), "value": v} for k, v in (vals or {}).items()]
        out["qs"] = [i.get("value") for i in sorted(items, key=lambda i: float(i["key"]))]
    return out


def aggregation_frame(measure: str, rows: list[dict], *, by, every_ns, names) -> pa.Table:
    """The buckets as a frame: times as epoch ns, nulls sorted last. Counts are the buckets answered (a composite
    leaves out empty ones): obsnb.sources.pushdown fills the grid for the rates."""
    keys = (["time"] if every_ns else []) + list(by)
    # buckets (not records) in the helpers' order, nulls last
    rows = sorted(rows, key=lambda r: tuple((r.get(k) is None, 0 if r.get(k) is None else r.get(k)) for k in keys))
    cols: dict[str, Any] = {}
    for k in keys:
        vals = [r.get(k) for r in rows]
        cols[k] = pa.array([v * 1_000_000 for v in vals], pa.int64()) if k == "time" else pa.array(vals)
    docs = np.array([r.get("doc_count") or 0 for r in rows], np.int64)
    if measure == "errors":
        cols["total"] = pa.array(docs)
        cols["errors"] = pa.array(np.array([r.get("errors") or 0 for r in rows], np.int64))
    elif measure == "count":
        cols["count"] = pa.array(docs)
    else:
        n = np.array([r.get("count") or 0 for r in rows], np.int64)
        cols["count"] = pa.array(n)
        for i, name in enumerate(names):
            cols[name] = pa.array([(r.get("qs") or [None] * len(names))[i] for r in rows], pa.float64())
        cols["nan"] = pa.array(np.maximum(docs - n, 0) if rows and rows[0].get("doc_count") is not None else n * 0)
    if rows:
        return pa.table(cols)
    return pa.table({k: pa.array([], pa.float64() if k in names else pa.string() if k in by else pa.int64()) for k in cols})
