"""Jaeger and Tempo fakes answering in the documented shapes (see fake_server.py).

Jaeger query service: GET /api/traces?service=&operation=&tags=&start=<us>&end=<us>&limit= ->
``{"data": [trace...], "total": N, "limit": 0, "offset": 0, "errors": null}``; GET /api/traces/<id> ->
``{"data": [trace]}`` or 404 ``{"data": null, "errors": [{"code": 404, "msg": "trace not found"}]}``;
missing service -> 400 ``{"errors": [{"code": 400, "msg": "parameter 'service' is required"}]}``.
/api/v3/traces/<id> and /api/v3/traces?query.service_name=... -> ``{"result": {"resourceSpans": [...]}}``.
Tempo: GET /api/traces/<id> -> ``{"batches": [resourceSpans...]}`` (404 text "trace not found");
GET /api/search?q=<TraceQL>&start=<s>&end=<s>&limit= -> ``{"traces": [{"traceID", "rootServiceName",
"rootTraceName", "startTimeUnixNano", "durationMs", "spanSet": {"spans": [...], "matched": n}}], "metrics": {}}``;
a bad TraceQL -> 400 text "invalid TraceQL query: parse error at line 1, col 3: syntax error: unexpected IDENTIFIER".
"""

from __future__ import annotations

import re

from fake_server import Request, Response

T0_US = 1704067200 * 10**6


def make_traces(n: int) -> list[dict]:
    """n traces: api GET /orders (SERVER) -> db SELECT (CLIENT) -> cache get; every 4th trace ends in error."""
    out = []
    for i in range(n):
        tid = f"{i + 1:032x}"
        start = T0_US + i * 1_000_000
        err = i % 4 == 0
        spans = [
            dict(id=f"{3 * i + 1:016x}", parent=None, name="GET /orders", svc="api", kind="server", start=start, dur=30_000,
                 err=err),
            dict(id=f"{3 * i + 2:016x}", parent=f"{3 * i + 1:016x}", name="SELECT orders", svc="db", kind="client",
                 start=start + 1_000, dur=20_000, err=err),
            dict(id=f"{3 * i + 3:016x}", parent=f"{3 * i + 1:016x}", name="cache get", svc="api", kind="internal",
                 start=start + 22_000, dur=2_000, err=False),
        ]
        out.append({"id": tid, "spans": spans})
    return out


def jaeger_trace(t: dict) -> dict:
    procs = {}
    spans = []
    for s in t["spans"]:
        pid = procs.setdefault(s["svc"], f"p{len(procs) + 1}")
        tags = [{"key": "span.kind", "type": "string", "value": s["kind"]}]
        if s["err"]:
            tags.append({"key": "error", "type": "bool", "value": True})
        spans.append({"traceID": t["id"], "spanID": s["id"], "operationName": s["name"], "flags": 1,
                      "references": ([{"refType": "CHILD_OF", "traceID": t["id"], "spanID": s["parent"]}]
                                     if s["parent"] else []),
                      "startTime": s["start"], "duration": s["dur"], "tags": tags, "logs": [], "processID": pid,
                      "warnings": None})
    return {"traceID": t["id"], "spans": spans,
            "processes": {pid: {"serviceName": svc, "tags": []} for svc, pid in procs.items()}, "warnings": None}


def otlp_trace(t: dict) -> list[dict]:
    """resourceSpans of one trace (one per service)."""
    by_svc: dict[str, list] = {}
    for s in t["spans"]:
        by_svc.setdefault(s["svc"], []).append({
            "traceId": t["id"], "spanId": s["id"], "parentSpanId": s["parent"] or "", "name": s["name"],
            "kind": {"server": 2, "client": 3, "internal": 1}[s["kind"]],
            "startTimeUnixNano": str(s["start"] * 1000), "endTimeUnixNano": str((s["start"] + s["dur"]) * 1000),
            "status": {"code": 2, "message": "boom"} if s["err"] else {},
            "attributes": [{"key": "http.route", "value": {"stringValue": "/orders"}}]})
    return [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]},
             "scopeSpans": [{"scope": {"name": "fake"}, "spans": spans}]} for svc, spans in by_svc.items()]


def _jerr(code: int, msg: str) -> Response:
    return Response.json({"data": None, "total": 0, "limit": 0, "offset": 0, "errors": [{"code": code, "msg": msg}]}, code)


class JaegerFake:
    def __init__(self, traces: list[dict]):
        self.traces = {t["id"]: t for t in traces}

    def _find(self, p: dict, v3: bool) -> list[dict]:
        svc = p.get("query.service_name" if v3 else "service")
        if v3:
            lo = hi = None
        else:
            lo, hi = int(p.get("start", 0)), int(p.get("end", 2**62))
        limit = int(p.get("query.num_traces" if v3 else "limit", 20))
        hits = [t for t in self.traces.values() if any(s["svc"] == svc for s in t["spans"])
                and (lo is None or lo <= t["spans"][0]["start"] <= hi)]
        return hits[:limit]

    def __call__(self, req: Request) -> Response:
        p = req.params
        m = re.fullmatch(r"/api/(v3/)?traces/([0-9a-f]+)", req.path)
        if m:
            t = self.traces.get(m.group(2).rjust(32, "0"))
            if t is None:
                return _jerr(404, "trace not found")
            if m.group(1):
                return Response.json({"result": {"resourceSpans": otlp_trace(t)}})
            return Response.json({"data": [jaeger_trace(t)], "total": 0, "limit": 0, "offset": 0, "errors": None})
        if req.path == "/api/traces":
            if not p.get("service"):
                return _jerr(400, "parameter 'service' is required")
            hits = self._find(p, False)
            return Response.json({"data": [jaeger_trace(t) for t in hits], "total": len(hits), "limit": 0,
                                  "offset": 0, "errors": None})
        if req.path == "/api/v3/traces":
            hits = self._find(p, True)
            return Response.json({"result": {"resourceSpans": [rs for t in hits for rs in otlp_trace(t)]}})
        return Response.text("404 page not found", 404)


class TempoFake:
    def __init__(self, traces: list[dict]):
        self.traces = {t["id"]: t for t in traces}

    def __call__(self, req: Request) -> Response:
        m = re.fullmatch(r"/api/traces/([0-9a-fA-F]+)", req.path)
        if m:
            t = self.traces.get(m.group(1).lower().rjust(32, "0"))
            return Response.json({"batches": otlp_trace(t)}) if t else Response.text("trace not found", 404)
        if req.path == "/api/search":
            q = req.params.get("q", "")
            if not q.startswith("{"):
                return Response.text("invalid TraceQL query: parse error at line 1, col 3: syntax error: "
                                     "unexpected IDENTIFIER", 400)
            want_err = "status = error" in q
            svc = (re.findall(r'resource\.service\.name = "(\w+)"', q) or [None])[0]
            lo, hi = int(req.params.get("start", 0)), int(req.params.get("end", 2**40))
            limit = int(req.params.get("limit", 20))
            out = []
            for t in self.traces.values():
                root = t["spans"][0]
                matched = [s for s in t["spans"] if (not want_err or s["err"]) and (svc is None or s["svc"] == svc)]
                if not matched or not lo <= root["start"] // 10**6 < hi:
                    continue
                out.append({"traceID": t["id"].lstrip("0"), "rootServiceName": root["svc"], "rootTraceName": root["name"],
                            "startTimeUnixNano": str(root["start"] * 1000), "durationMs": root["dur"] // 1000,
                            "spanSet": {"spans": [{"spanID": s["id"], "name": s["name"],
                                                   "startTimeUnixNano": str(s["start"] * 1000),
                                                   "durationNanos": str(s["dur"] * 1000),
                                                   "attributes": [{"key": "service.name",
                                                                   "value": {"stringValue": s["svc"]}}]}
                                                  for s in matched], "matched": len(matched)}})
            return Response.json({"traces": out[:limit], "metrics": {"inspectedBytes": "1000", "completedJobs": 1,
                                                                     "totalJobs": 1}})
        return Response.text("404 page not found", 404)


