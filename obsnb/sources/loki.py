"""Grafana Loki over ``/loki/api/v1/query_range``: log queries as logs frames, metric queries as metrics.

``ob.load("loki://loki:3100", query='{app="api"} |= "timeout"', start=t0, end=t1)``

* Log queries (``{...}`` selectors, with pipelines) are paged past the per-request line limit
  (``limit=``, default 5,000, Loki's default ``max_entries_limit_per_query``): each page asks for the
  lines before the oldest one seen (``direction="backward"``, the default, like Loki) or after the newest
  (``direction="forward"``); lines at the page boundary are asked for again and de-duplicated, so
  nothing is cut and nothing is doubled. ``max_lines=`` stops early with a
  :class:`~obsnb.errors.TruncatedResultWarning`.
* Each line becomes a row: ``time`` is Loki's timestamp; a JSON line's fields become columns (same
  aliasing as JSON-lines files), any other line is ``event``; stream labels and structured metadata
  (``categorize-labels`` answers, or metadata merged into the stream) become columns too.
  ``detected_level`` fills ``level`` when the line has none.
* Metric queries (``count_over_time``, ``rate``, ``sum by`` ...) run as range queries with the same step
  choice and chunking as Prometheus (:mod:`obsnb.sources.prometheus`) and give a metrics frame.
* ``tenant=`` sets ``X-Scope-OrgID``.
* Push-down (:func:`logql_aggregations`, planned by :mod:`obsnb.sources.pushdown`): ``ob.latency`` becomes
  ``quantile_over_time(q, <query> | unwrap <value> [every]) by (<by>)``, ``ob.rate`` becomes
  ``sum by (<by>) (count_over_time(<query> [every]))``, evaluated every ``every`` at the last nanosecond
  of each epoch-aligned bucket, so Loki's left-open range ``(t - every, t]`` is exactly the bucket
  ``[b, b + every)`` of the in-memory helpers. ``ob.error_rate`` is that count for all lines and for
  the lines :func:`logql_error_filter` keeps (obsnb's error definition as label matchers); ``ob.gaps``
  reads the counts at ``step`` (default threshold / 4) and a run of empty buckets is a silence. A
  missing point is zero lines, so an answer with a failed chunk or an error status is an error.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

from ..errors import UsageError
from ..timeutil import duration_ns, now, to_ns
from . import _http
from .backend import label_of
from .base import Backend, BackendRequest, Part, ReadContext, require_kind
from .jsonl import records_to_parts
from .prom_api import parse_prom_api_document
from .prometheus import auto_step, range_chunks

__all__ = ["Loki", "is_metric_query", "logql_duration", "logql_aggregations", "logql_error_filter", "logql_label"]

API = "/loki/api/v1"
DEFAULT_LIMIT = 5_000
DEFAULT_WINDOW_NS = 3600 * 1_000_000_000


def logql_duration(ns: int) -> str:
    """A LogQL range: ``60000000000`` -> ``60s`` (``ms`` when not whole seconds)."""
    return f"{ns // 1_000_000_000}s" if ns % 1_000_000_000 == 0 else f"{ns // 1_000_000}ms"


def logql_aggregations(measure: str, selector: str, *, by, every_ns: int, quantiles=(), names=(),
                       value: str | None = None, errors: dict | None = None) -> list[tuple[str, str]]:
    """``(column, LogQL)`` pairs for a helper: one query per quantile (plus ``count``), the counts, or the
    ``total`` and ``errors`` per bucket (``errors`` is the error definition, see :func:`logql_error_filter`)."""
    if not selector or is_metric_query(selector):
        raise UsageError("Loki push-down needs query= a log query ('{app=\"api\"} | json') to aggregate over")
    rng = logql_duration(int(every_ns))
    grp = f" by ({', '.join(by)})" if by else ""
    counts = ("count", f"sum{grp} (count_over_time({selector} [{rng}]))")
    if measure in ("count", "absence"):
        return [counts]
    if measure == "errors":
        # the error filter reads parsed fields: parse JSON lines when the query has no parser (a line that is
        # not JSON keeps its stream labels and metadata; its parse error is dropped, not a failed query)
        base = selector if _PARSER.search(selector) else f"{selector} | json | drop __error__, __error_details__"
        errors = errors or {}
        filt = logql_custom_filter(errors) if "tree" in errors else logql_error_filter(errors)
        return [("total", f"sum{grp} (count_over_time({base} [{rng}]))"),
                ("errors", f"sum{grp} (count_over_time({base} | {filt} [{rng}]))")]
    if measure != "quantiles":
        raise UsageError(f"Loki computes latency, rate, error_rate and gaps server-side, not {measure}")
    if not value or not value.replace("_", "").replace(".", "").isalnum():
        raise UsageError(f"Loki unwraps a label or extracted field: pass value=<its name>, got {value!r}")
    return [counts] + [(n, f"quantile_over_time({q:g}, {selector} | unwrap {value} [{rng}]){grp}")
                       for q, n in zip(quantiles, names)]


_PARSER = re.compile(r"\|\s*(?:json|logfmt|regexp|pattern|unpack)\b")


def logql_label(field: str) -> str:
    """The label Loki's ``json`` parser makes of a (flattened) field: ``log.level`` -> ``log_level``, ``@l`` -> ``_l``."""
    out = re.sub(r"[^A-Za-z0-9_]", "_", field)
    return "_" + out if out[:1].isdigit() else out


def logql_error_filter(d: dict) -> str:
    """A LogQL label filter that keeps the error lines, by obsnb's definition (``d``: see obsnb.sources.pushdown).

    One ``or`` of regex matchers (LogQL's ``=~`` is anchored, RE2): a level field (the JSON level aliases,
    Loki's ``detected_level``) naming ERROR/CRITICAL (``error``, ``err``, ``fatal``, ... or a pino number
    >= 50); an outcome field ``failure``; a status/result/state/outcome field holding a failure word; an
    HTTP status field 500-599. Where it differs from the in-memory rule: every level alias is read, not the
    first present; a failure word in a short event name (``job_failed``) is not read (in memory that rule
    depends on how many distinct events the whole frame has); a status code is read as text (``503``,
    ``503.0``), so a fractional ``503.5`` is not an error here.
    """
    def labels(fields):
        return list(dict.fromkeys(logql_label(f) for f in fields))

    def rx(text: str) -> str:
        return "`" + text + "`"  # a raw string: no escaping (the patterns hold no backtick)

    words = d["words"].removeprefix("(?i)")
    level = r"(?i)\s*(" + "|".join(v.lower() for v in d["levels"]) + "|" + d["level_numbers"] + r")\s*"
    clauses = [f"{lab}=~{rx(level)}" for lab in labels([*d["level_fields"], "detected_level"])]
    clauses += [f"{lab}=~{rx('(?i)failure')}" for lab in labels(d["outcome_columns"])]
    clauses += [f"{lab}=~{rx('(?is).*' + words + '.*')}" for lab in labels(d["word_columns"])]
    http = r"\s*5[0-9][0-9](\.0+)?\s*"
    clauses += [f"{lab}=~{rx(http)}" for lab in labels(d["http_columns"])]
    return " or ".join(clauses)


_RE_SPECIAL = frozenset("\\.+*?()|[]{}^$")
_NUMBER = r"[-+]?[0-9]+(\.[0-9]+)?"


def _re_literal(v) -> str:
    """A value as an RE2 pattern matching its text exactly (a whole number also as ``503.0``)."""
    if isinstance(v, float) and v.is_integer():
        return f"{int(v)}(\\.0+)?"
    return "".join("\\" + c if c in _RE_SPECIAL else c for c in str(v))


def _quoted(text: str) -> str:
    return json.dumps(text)  # a LogQL double-quoted string: Go's escapes, which JSON's are a subset of


def logql_custom_filter(d: dict) -> str:
    """A caller's error definition (``d["tree"]``: see :func:`obsnb.analysis.remote.custom_errors`) as a LogQL label filter.

    A column is the label the query's parser (``| json`` when it has none) gives its field: ``event.outcome``
    is ``event_outcome`` (:func:`logql_label`). ``==`` / ``is_in`` are an anchored regex of the values' text
    (``=~"(503|504)"``); ``!=`` also needs the label present (a missing field is null in memory, never an
    error); ``<``, ``>=`` ... compare numbers, guarded by a number regex so that a line whose field is not a
    number is no error (rather than a LogQL conversion error); ``str.contains`` / ``starts_with`` are a regex
    matcher of the text anywhere / at the start, a boolean column ``true`` (or 1), a negated one also needs the
    label present. ``level`` names canonical levels, matched in
    every spelling the loader maps to them (any case, pino numbers) in every level field and Loki's
    ``detected_level``, as :func:`logql_error_filter` does for obsnb's definition.
    """
    def leaf(t) -> str:
        op, col = t[0], t[1]
        if op in ("and", "or"):
            parts = [leaf(x) for x in t[1]]
            return "(" + f" {op} ".join(parts) + ")" if parts else 'line_no_such_label=~"x^"'
        if op == "in" and col == "level":
            names = [a.lower() for lv in t[2] for a in d["levels"][lv]] + [d["level_numbers"][lv] for lv in t[2]]
            pattern = r"(?i)\s*(" + "|".join(names) + r")\s*"
            labs = list(dict.fromkeys(logql_label(f) for f in [*d["level_fields"], "detected_level"]))
            return "(" + " or ".join(f"{lab}=~{_quoted(pattern)}" for lab in labs) + ")" if t[2] else 'level=~"x^"'
        lab = logql_label(col)
        if op == "cmp":
            return f"({lab}=~{_quoted(_NUMBER)} and {lab} {t[2]} {float(t[3])!r})"
        if op in ("text", "true"):  # a label matcher is anchored: the text anywhere (a prefix: at the start)
            body = "(?i)(true|1)" if op == "true" else {
                "regex": f"(?s).*(?:{t[3]}).*", "literal": f"(?s).*{_re_literal(t[3])}.*",
                "prefix": f"(?s){_re_literal(t[3])}.*"}[t[2]]
            return f"({lab}!~{_quoted(body)} and {lab}=~{_quoted('(?s).+')})" if t[-1] else f"{lab}=~{_quoted(body)}"
        alts = "(" + "|".join(_re_literal(v) for v in t[2]) + ")" if t[2] else "x^"
        if op == "in":
            return f"{lab}=~{_quoted(alts)}"
        return f"({lab}!~{_quoted(alts)} and {lab}=~{_quoted('(?s).+')})"

    return leaf(d["tree"])


def is_metric_query(query: str) -> bool:
    """LogQL metric queries start with a function or aggregation; log queries with a ``{...}`` selector."""
    return not query.lstrip().startswith("{")


class Loki(Backend):
    """``loki://`` / ``loki+https://``: LogQL into logs (log queries) or metrics (metric queries) frames."""

    schemes = ("loki",)
    kinds = ("logs", "metrics")

    def kind_for(self, req: BackendRequest) -> str:
        """The kind a query gives: metrics for metric queries, logs for log queries."""
        return "metrics" if is_metric_query(str(req.query or "{")) else "logs"

    def fetch(self, req: BackendRequest, ctx: ReadContext) -> Iterator[Part]:
        what = req.source_name or req.safe_url
        if not req.query or not isinstance(req.query, str):
            raise UsageError(f"{what}: pass query='<LogQL>', e.g. query='{{app=\"api\"}} |= \"error\"'")
        metric = is_metric_query(req.query)
        require_kind(req.kind or ("metrics" if metric else "logs"), ("metrics",) if metric else ("logs",),
                     f"{what} ({'metric' if metric else 'log'} query {req.query!r})")
        o = req.options
        if o.get("tenant"):
            req.headers["X-Scope-OrgID"] = str(o["tenant"])
        client = _http.make_client(req)
        end = req.end_ns if req.end_ns is not None else to_ns(now())
        start = req.start_ns if req.start_ns is not None else end - DEFAULT_WINDOW_NS
        try:
            if metric:
                yield from self._metrics(client, req, ctx, start, end)
            else:
                yield from self._logs(client, req, ctx, start, end)
        finally:
            client.close()

    # ------------------------------------------------------------------------------------------ metrics

    def _metrics(self, client, req, ctx, start, end) -> Iterator[Part]:
        o = req.options
        step = duration_ns(o["step"]) if o.get("step") is not None else auto_step(end - start)
        if o.get("evaluate_at") == "bucket_end":  # push-down: at the last ns of each bucket, (t - step, t] = [b, b + step)
            start, end = start + step - 1, end - 1
        chunks = range_chunks(start, end, step, int(o.get("max_points", 11_000)))

        def one(c):
            params = {"query": req.query, "start": str(c[0]), "end": str(c[1]), "step": f"{step / 1e9:g}"}
            obj = client.get_json(f"{API}/query_range", query=req.query, params=params)
            kept = {k: obj[k] for k in ("errorType", "error") if k in obj}  # an error answer keeps its words
            return {"status": obj.get("status", "success"), "data": obj.get("data"), **kept}

        objs = _http.run_chunks(chunks, one, describe=lambda c: f"[{_http.iso(c[0])}, {_http.iso(c[1])}]", ctx=ctx, source=client.source,
                                partial=bool(o.get("partial")), workers=int(o.get("workers", 4)),
                                progress=o.get("progress"))
        label = label_of(req)
        for obj in objs:
            if obj is not None:
                yield from parse_prom_api_document(obj, label, ctx)

    # ------------------------------------------------------------------------------------------ logs

    def _logs(self, client, req, ctx, start, end) -> Iterator[Part]:
        o = req.options
        limit = int(o.get("limit", DEFAULT_LIMIT))
        direction = str(o.get("direction", "backward")).lower()
        if direction not in ("backward", "forward"):
            raise UsageError(f"direction must be 'backward' or 'forward', got {direction!r}")
        max_lines = o.get("max_lines")
        headers = {"X-Loki-Response-Encoding-Flags": "categorize-labels"}
        lo, hi = start, end              # the part of [start, end) still to read
        seen_at_edge: set = set()        # entries at the boundary timestamp already taken
        records: list[dict] = []
        bar = None
        try:
            while lo < hi:
                params = {"query": req.query, "start": str(lo), "end": str(hi), "limit": str(limit),
                          "direction": direction}
                obj = client.get_json(f"{API}/query_range", query=req.query, params=params, headers=headers)
                entries = _entries(obj, client.source)
                fresh = sorted((e for e in entries if e[:3] not in seen_at_edge), key=lambda e: e[0],
                               reverse=direction == "backward")  # streams interleave; reading order is by time
                records.extend(_record(e) for e in fresh)
                if len(entries) < limit:
                    break  # the server had no more
                if bar is None:  # more than one page: show progress
                    bar = _http.progress_bar(o, client.source, "line")
                if bar is not None:
                    bar.update(len(fresh))
                edge = min(e[0] for e in entries) if direction == "backward" else max(e[0] for e in entries)
                at_edge = {e[:3] for e in entries if e[0] == edge}
                if not fresh or (at_edge <= seen_at_edge and len(at_edge) >= limit):
                    msg = (f"{client.source}: more than limit={limit} lines share the timestamp {edge} ns; "
                           "raise limit= to read them all")
                    raise UsageError(msg)
                seen_at_edge = at_edge | ({k for k in seen_at_edge if k[0] == edge})
                if direction == "backward":
                    hi = edge + 1
                else:
                    lo = edge
                if max_lines is not None and len(records) >= int(max_lines):
                    del records[int(max_lines):]
                    edge = records[-1]["time"]
                    lo_s, hi_s = (lo, edge) if direction == "backward" else (edge, hi)
                    missing = f"[{_http.iso(lo_s)}, {_http.iso(hi_s)})"
                    _http.warn_truncated(ctx, client.source, f"stopped at max_lines={max_lines}: lines in {missing} "
                                         "were not read")
                    break
        finally:
            if bar is not None:
                bar.close()
        if not records:
            return
        records.sort(key=lambda r: r["time"])
        yield from records_to_parts(records, label_of(req), ctx)






def _entries(obj: Any, source: str) -> list[tuple]:
    """(ts_ns, labels_json, line, labels, metadata) for each entry of a streams answer."""
    data = obj.get("data") if isinstance(obj, dict) else None
    if not isinstance(data, dict) or data.get("resultType") != "streams":
        rtype = data.get("resultType") if isinstance(data, dict) else None
        raise UsageError(f"{source}: expected a log stream answer, got resultType {rtype!r}; "
                         "metric queries (count_over_time, rate, ...) give kind='metrics'")
    out = []
    for stream in data.get("result") or []:
        labels = stream.get("stream") or {}
        key = json.dumps(labels, sort_keys=True)
        for v in stream.get("values") or []:
            meta = v[2] if len(v) > 2 and isinstance(v[2], dict) else {}
            out.append((int(v[0]), key, v[1], labels, meta))
    return out


def _record(e: tuple) -> dict:
    ts, _, line, labels, meta = e
    rec: dict[str, Any] = dict(labels)
    if "structuredMetadata" in meta or "parsed" in meta:
        rec.update(meta.get("structuredMetadata") or {})
        rec.update(meta.get("parsed") or {})
    else:
        rec.update(meta)
    body = None
    if line[:1] == "{":
        try:
            body = json.loads(line)
        except ValueError:
            body = None
    if isinstance(body, dict):
        if "time" in body:
            body["time_original"] = body.pop("time")
        rec.update(body)
    else:
        rec["message"] = line
    if "detected_level" in rec and not any(k in rec for k in ("level", "levelname", "severity", "lvl")):
        rec["level"] = rec.pop("detected_level")
    rec["time"] = ts
    return rec
