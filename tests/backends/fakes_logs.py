"""Loki and Elasticsearch/OpenSearch fakes answering in the documented shapes (see fake_server.py)."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid

from fake_server import Request, Response

# ---------------------------------------------------------------------------------------------- Loki
# GET /loki/api/v1/query_range: start/end in ns, [start, end); limit (max 5000 here, like
# max_entries_limit_per_query); direction backward (newest first, the default) or forward.
# Streams answer: {"status":"success","data":{"resultType":"streams","result":[{"stream":{labels},
# "values":[["<ns>","<line>"]]}],"stats":{...}}}; with "X-Loki-Response-Encoding-Flags: categorize-labels"
# each value carries a third element {"structuredMetadata": {...}}, without it metadata joins the stream labels.
# Errors are text bodies: 400 "parse error at line 1, col 8: syntax error: unexpected IDENTIFIER".

LOKI_MAX_LIMIT = 5000


class LokiFake:
    """entries: (labels dict, ts_ns, line, structured_metadata dict)."""

    def __init__(self, entries: list[tuple[dict, int, str, dict]], max_limit: int = LOKI_MAX_LIMIT):
        self.entries = sorted(entries, key=lambda e: e[1])
        self.max_limit = max_limit

    def __call__(self, req: Request) -> Response:
        if req.path != "/loki/api/v1/query_range":
            return Response.text("404 page not found", 404)
        q = req.params.get("query", "")
        if "!!" in q:
            return Response.text("parse error at line 1, col 8: syntax error: unexpected IDENTIFIER", 400)
        limit = int(req.params.get("limit", 100))
        if limit > self.max_limit:
            return Response.text(f"max entries limit per query exceeded, limit > max_entries_limit ({limit} > "
                                 f"{self.max_limit})", 400)
        start, end = int(req.params["start"]), int(req.params["end"])
        if not q.lstrip().startswith("{"):
            return self._metric(req, q, start, end)
        sel = dict(re.findall(r'(\w+)="([^"]*)"', q.split("}")[0]))
        contains = re.findall(r'\|= "([^"]*)"', q)
        hits = [e for e in self.entries if start <= e[1] < end and all(e[0].get(k) == v for k, v in sel.items())
                and all(c in e[2] for c in contains)]
        backward = req.params.get("direction", "backward") == "backward"
        hits = (hits[::-1] if backward else hits)[:limit]
        categorize = "categorize-labels" in req.headers.get("X-Loki-Response-Encoding-Flags", "")
        streams: dict[str, dict] = {}
        for labels, ts, line, meta in hits:
            stream = dict(labels) if categorize else {**labels, **meta}
            key = json.dumps(stream, sort_keys=True)
            s = streams.setdefault(key, {"stream": stream, "values": []})
            s["values"].append([str(ts), line, {"structuredMetadata": meta}] if categorize and meta else [str(ts), line])
        return Response.json({"status": "success", "data": {"resultType": "streams", "result": list(streams.values()),
                                                             "stats": {"summary": {"totalEntriesReturned": len(hits)}}}})

    def _metric(self, req: Request, q: str, start: int, end: int) -> Response:
        """``count_over_time({sel}[Ns])`` per stream, ``sum [by (l, ...)] (count_over_time({sel} [Ns]))`` and
        ``quantile_over_time(q, {sel} [| json] | unwrap f [Ns]) [by (l, ...)]``, evaluated as Loki does: at
        ``start + k*step`` up to ``end``, each over ``(t - range, t]``, points without lines left out, times
        in seconds with millisecond precision (Loki's JSON)."""
        q = q.strip()
        m = (re.fullmatch(r'count_over_time\(\{(.*?)\}\s*\[(\d+)s\]\)', q)
             or re.fullmatch(r'sum(?: by \(([\w., ]*)\))? \(count_over_time\(\{(.*?)\}(.*?) \[(\d+)s\]\)\)', q)
             or re.fullmatch(r'quantile_over_time\(([\d.e-]+), \{(.*?)\}(.*?) \| unwrap ([\w.]+) \[(\d+)s\]\)(?: by \(([\w., ]*)\))?', q))
        if not m:
            return Response.text("parse error at line 1, col 1: syntax error: unexpected IDENTIFIER", 400)
        if q.startswith("count_over_time"):
            sel, rng, by, pipeline, field, level = m.group(1), int(m.group(2)), None, "", None, None
        elif q.startswith("sum"):
            by, sel, pipeline, rng, field, level = m.group(1) or "", m.group(2), m.group(3), int(m.group(4)), None, None
        else:
            level, sel, pipeline, field, rng, by = float(m.group(1)), m.group(2), m.group(3), m.group(4), int(m.group(5)), m.group(6) or ""
        sel = dict(re.findall(r'(\w+)="([^"]*)"', sel))
        rng *= 10**9
        step = round(float(req.params["step"]) * 1e9)
        if (end - start) // step > 11000:
            return Response.text("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing "
                                 "the query resolution (?step=XX)", 400)
        groups: dict[str, list] = {}
        for labels, ts, line, meta in self.entries:
            if not all(labels.get(k) == v for k, v in sel.items()):
                continue
            fields = {**labels, **meta, **(json.loads(line) if "| json" in pipeline else {})}
            key = labels if by is None else {k.strip(): str(fields[k.strip()]) for k in by.split(",") if k.strip() in fields}
            if field is not None and field not in fields:
                continue  # Loki: an __error__ line, dropped here
            groups.setdefault(json.dumps(key, sort_keys=True), []).append((ts, float(fields[field]) if field else 1.0))
        result = []
        for key, pts in groups.items():
            values = []
            t = start
            while t <= end:
                vs = sorted(v for x, v in pts if t - rng < x <= t)
                if vs:
                    values.append([(t // 10**6) / 1000, _fmt(len(vs) if level is None else _quantile(vs, level))])
                t += step
            if values:
                result.append({"metric": json.loads(key), "values": values})
        return Response.json({"status": "success", "data": {"resultType": "matrix", "result": result}})


def _quantile(vs: list[float], q: float) -> float:
    """Prometheus' quantile (Loki's quantile_over_time): linear between order statistics, rank q*(n-1)."""
    rank = q * (len(vs) - 1)
    lo = int(rank)
    hi = min(lo + 1, len(vs) - 1)
    w = rank - lo
    return vs[lo] * (1 - w) + vs[hi] * w


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


# ---------------------------------------------------------------------------------------------- Elasticsearch
# POST /<index>/_search {"size", "query", "sort", "search_after"}; size/from beyond 10,000 -> 400
# "Result window is too large"; point in time: ES POST /<index>/_pit?keep_alive=1m -> {"id"}, search on
# POST /_search with {"pit": {"id", "keep_alive"}}, hits' "sort" carry the implicit _shard_doc tiebreaker,
# DELETE /_pit {"id"}; OpenSearch: POST /<index>/_search/point_in_time -> {"pit_id"}, DELETE
# /_search/point_in_time {"pit_id": [...]}. Errors: {"error": {"root_cause": [{"type","reason"}], ...}, "status"}.

WINDOW = 10_000


def es_error(status: int, typ: str, reason: str) -> Response:
    return Response.json({"error": {"root_cause": [{"type": typ, "reason": reason}], "type": typ, "reason": reason},
                          "status": status}, status)


def _millis(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


class ElasticFake:
    """docs: ECS documents (each with @timestamp ISO); flavour "elasticsearch", "opensearch" or "nopit"."""

    def __init__(self, docs: list[dict], flavour: str = "elasticsearch", index: str = "logs"):
        self.docs = docs
        self.ms = [_millis(d["@timestamp"]) for d in docs]
        self.flavour = flavour
        self.index = index
        self.pits: set[str] = set()
        self.closed: list[str] = []

    def __call__(self, req: Request) -> Response:
        path, body = req.path, (req.json() if req.body else {})
        if req.method == "POST" and path == f"/{self.index}/_pit" and self.flavour == "elasticsearch":
            pid = "pit-" + uuid.uuid4().hex
            self.pits.add(pid)
            return Response.json({"id": pid})
        if req.method == "POST" and path == f"/{self.index}/_search/point_in_time" and self.flavour == "opensearch":
            pid = "ospit-" + uuid.uuid4().hex
            self.pits.add(pid)
            return Response.json({"pit_id": pid, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
                                  "creation_time": 1704067200000})
        if req.method == "DELETE" and path in ("/_pit", "/_search/point_in_time"):
            ids = body.get("id") or body.get("pit_id") or []
            for i in [ids] if isinstance(ids, str) else ids:
                self.pits.discard(i)
                self.closed.append(i)
            return Response.json({"succeeded": True, "num_freed": 1})
        if req.method == "POST" and (path.endswith("/_pit") or path.endswith("/point_in_time")):
            return es_error(400, "illegal_argument_exception", "no handler found for uri [%s]" % path)
        if path not in ("/_search", f"/{self.index}/_search"):
            return es_error(404, "index_not_found_exception", f"no such index [{path.split('/')[1]}]")
        return self._search(body)

    def _search(self, body: dict) -> Response:
        size = int(body.get("size", 10))
        if size + int(body.get("from", 0)) > WINDOW:
            return es_error(400, "illegal_argument_exception",
                            f"Result window is too large, from + size must be less than or equal to: [{WINDOW}] but "
                            f"was [{size + int(body.get('from', 0))}]. See the scroll api for a more efficient way "
                            "to request large data sets.")
        pit = body.get("pit")
        if pit and pit.get("id") not in self.pits:
            return es_error(404, "search_context_missing_exception", "No search context found for id [1]")
        lo, hi, text = None, None, None
        for f in body.get("query", {}).get("bool", {}).get("filter", []):
            if "range" in f:
                r = next(iter(f["range"].values()))
                lo, hi = _millis(r["gte"]), _millis(r["lt"])
            if "query_string" in f:
                text = f["query_string"]["query"]
                if text.count("(") != text.count(")"):
                    return es_error(400, "parse_exception", f"Cannot parse '{text}': Encountered \"<EOF>\"")
        rows = []
        for i, (d, t) in enumerate(zip(self.docs, self.ms)):
            if (lo is None or lo <= t < hi) and _match(d, text):
                rows.append(([t, i], d, i))
        rows.sort(key=lambda r: r[0])
        if "aggs" in body:
            return Response.json({"took": 1, "timed_out": False, "_shards": {"total": 1, "successful": 1, "failed": 0},
                                  "hits": {"hits": []}, "aggregations": _aggs(body["aggs"], [(self.ms[i], d) for _, d, i in rows])})
        after = body.get("search_after")
        if after is not None:
            rows = [r for r in rows if r[0] > list(after)]
        page = rows[:size]
        hits = [{"_index": self.index, "_id": f"id{i}", "_score": None, "_source": d, "sort": s} for s, d, i in page]
        out = {"took": 1, "timed_out": False, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
               "hits": {"total": {"value": min(len(rows), WINDOW), "relation": "eq" if len(rows) < WINDOW else "gte"},
                        "max_score": None, "hits": hits}}
        if pit:
            out["pit_id"] = pit["id"]
        return Response.json(out)


def _match(doc: dict, text: str | None) -> bool:
    if not text or text == "*":
        return True
    field, _, value = text.partition(":")
    cur: object = doc
    for part in field.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return str(cur) == value.strip('"')


# Aggregations, as Elasticsearch answers them: composite (terms / date_histogram sources, missing_bucket,
# size, after -> buckets sorted by key with nulls first, after_key = the last bucket's key), date_histogram
# (fixed_interval, epoch-aligned keys in ms, min_doc_count, extended_bounds), value_count and percentiles
# (keyed: false -> [{"key": 95.0, "value": ...}]). The fake's percentiles are exact (numpy's linear
# interpolation); Elasticsearch's are t-digest estimates, exact only for small buckets.

def _field(doc: dict, name: str):
    if name in doc:
        return doc[name]
    cur: object = doc
    for part in name.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return cur


def _interval_ms(text: str) -> int:
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", text)
    return int(m.group(1)) * {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}[m.group(2)]


def _metric_aggs(aggs: dict, docs: list) -> dict:
    import numpy as np

    out = {}
    for name, spec in aggs.items():
        if "value_count" in spec:
            out[name] = {"value": sum(_field(d, spec["value_count"]["field"]) is not None for _, d in docs)}
        elif "percentiles" in spec:
            vals = [float(v) for _, d in docs if (v := _field(d, spec["percentiles"]["field"])) is not None]
            pcts = spec["percentiles"].get("percents", [1, 5, 25, 50, 75, 95, 99])
            out[name] = {"values": [{"key": float(p), "value": float(np.quantile(vals, p / 100)) if vals else None}
                                    for p in pcts]}
    return out


def _aggs(aggs: dict, docs: list) -> dict:
    out = {}
    for name, spec in aggs.items():
        subs = spec.get("aggs", {})
        if "composite" in spec:
            comp = spec["composite"]
            groups: dict = {}
            for t, d in docs:
                key = []
                for src in comp["sources"]:
                    (k, s), = src.items()
                    if "date_histogram" in s:
                        iv = _interval_ms(s["date_histogram"]["fixed_interval"])
                        key.append((k, t // iv * iv))
                    else:
                        key.append((k, _field(d, s["terms"]["field"])))
                groups.setdefault(tuple(key), []).append((t, d))
            order = sorted(groups, key=lambda key: tuple((v is not None, v) for _, v in key))
            if comp.get("after"):
                after = tuple((v is not None, v) for v in comp["after"].values())
                order = [k for k in order if tuple((v is not None, v) for _, v in k) > after]
            page = order[: comp["size"]]
            buckets = [{"key": dict(k), "doc_count": len(groups[k]), **_metric_aggs(subs, groups[k])} for k in page]
            out[name] = {"buckets": buckets, **({"after_key": dict(page[-1])} if page else {})}
        elif "date_histogram" in spec:
            h = spec["date_histogram"]
            iv = _interval_ms(h["fixed_interval"])
            groups = {}
            for t, d in docs:
                groups.setdefault(t // iv * iv, []).append((t, d))
            keys = set(groups)
            if h.get("min_doc_count", 1) == 0 and (keys or h.get("extended_bounds")):
                b = h.get("extended_bounds") or {}
                lo = min([*keys, *([b["min"] // iv * iv] if b else [])])
                hi = max([*keys, *([b["max"] // iv * iv] if b else [])])
                keys = set(range(lo, hi + 1, iv))
            out[name] = {"buckets": [{"key": k, "doc_count": len(groups.get(k, [])), **_metric_aggs(subs, groups.get(k, []))}
                                     for k in sorted(keys)]}
        else:
            out.update(_metric_aggs({name: spec}, docs))
    return out
