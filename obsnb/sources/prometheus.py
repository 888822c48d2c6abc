"""Prometheus-compatible backends (Prometheus, VictoriaMetrics, Thanos, Mimir) over the HTTP API.

``ob.load("prometheus://host:9090", query="rate(x[5m])", start=t0, end=t1)`` runs ``/api/v1/query_range``
and returns every point the server evaluated, ``start + k*step <= end``, the one at ``end`` included (as
Prometheus's UI and Grafana show it); without ``start`` (or with ``instant=True``) it runs an instant
``/api/v1/query`` at ``time=`` (any time form), else 1 ms before ``end``, else now.

* ``step=`` ("15s", seconds, timedelta): when omitted, the smallest of 1s, 2s, 5s, 10s, 15s, 30s, 1m,
  2m, 5m, 10m, 15m, 30m, 1h, 2h, 6h, 12h, 1d that gives at most 1,000 points per series (3 h -> 15s,
  721 points; 24 h -> 2m; 7 d -> 15m): enough for a chart, cheap for the server.
* Ranges over the server's points limit (``max_points=``; 11,000 for Prometheus, Thanos and Mimir,
  30,000 for ``victoriametrics://``) are split into chunks of ``max_points`` points, each starting one
  step after the previous one ended, fetched concurrently (``workers=``, default 4) and stitched:
  no point twice, none missing. When the server's answer shows a lower limit, the query is split again.
* A failed chunk fails the load; ``partial=True`` returns the other chunks with a loud
  :class:`~obsnb.errors.TruncatedResultWarning` naming the missing time ranges.
* The server's ``warnings`` (and ``infos``) become :class:`~obsnb.errors.BackendWarning`.
* ``tenant=`` sends ``X-Scope-OrgID`` (Mimir, Cortex); a URL path is kept as the API prefix
  (``mimir://mimir:8080/prometheus``).
* :func:`promql_histogram_quantile` and :func:`promql_absent_over_time` build the PromQL that the
  analysis helpers push down (see :func:`obsnb.analysis.remote.remote_latency`).
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from ..errors import QueryError, UsageError
from ..timeutil import duration_ns, now, to_ns
from . import _http
from .backend import label_of
from .base import Backend, BackendRequest, Part, ReadContext, require_kind
from .prom_api import parse_prom_api_document

__all__ = ["Prometheus", "auto_step", "range_chunks", "promql_histogram_quantile", "promql_absent_over_time",
           "prom_duration", "fmt_seconds"]

NS = 1_000_000_000
NICE_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)
TARGET_POINTS = 1_000
DEFAULT_MAX_POINTS = {"victoriametrics": 30_000}
_LIMIT_RE = (re.compile(r"maximum resolution of ([\d,]+) points"), re.compile(r"maxPointsPerTimeseries=(\d+)"),
             re.compile(r"more than ([\d,]+) points"))


def auto_step(window_ns: int) -> int:
    """The step (ns) for a window when none is given: the smallest nice step giving <= 1,000 points."""
    for s in NICE_STEPS_S:
        if window_ns / (s * NS) <= TARGET_POINTS:
            return s * NS
    return -(-window_ns // TARGET_POINTS)


def range_chunks(start_ns: int, end_ns: int, step_ns: int, max_points: int) -> list[tuple[int, int]]:
    """``[start, end]`` at ``step`` as (chunk_start, chunk_end) pairs of at most ``max_points`` points each.

    The points are ``start + k*step <= end``; a chunk starts one step after the previous one's last point.
    """
    if step_ns <= 0:
        raise UsageError(f"step must be positive, got {step_ns} ns")
    if max_points < 2:
        raise UsageError(f"max_points must be at least 2, got {max_points}")
    n = (end_ns - start_ns) // step_ns + 1
    out = []
    for first in range(0, n, max_points):
        last = min(first + max_points, n) - 1
        out.append((start_ns + first * step_ns, start_ns + last * step_ns))
    return out


def fmt_seconds(ns: int) -> str:
    """Epoch nanoseconds as exact decimal seconds (``"1704067200.250"``), as the HTTP API takes them."""
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    frac = f"{ns % NS:09d}".rstrip("0")
    return f"{sign}{ns // NS}" + (f".{frac}" if frac else "")


def prom_duration(value: Any) -> str:
    """A duration in PromQL syntax (``"5m"``, ``"90s"``, ``"250ms"``) from ``"5m"``, seconds or a timedelta."""
    ns = duration_ns(value)
    for unit, size in (("d", 86400 * NS), ("h", 3600 * NS), ("m", 60 * NS), ("s", NS), ("ms", 1_000_000)):
        if ns % size == 0 and ns >= size:
            return f"{ns // size}{unit}"
    raise UsageError(f"PromQL durations are whole milliseconds; got {value!r}")


def _matchers(matchers: Any) -> str:
    if not matchers:
        return ""
    if isinstance(matchers, dict):
        body = ",".join(f'{k}="{_esc(v)}"' for k, v in matchers.items())
    else:
        body = str(matchers).strip().strip("{}")
    return "{" + body + "}"


def _esc(v: Any) -> str:
    return str(v).replace("\\", "\\\\").replace('"', '\\"')


def promql_histogram_quantile(metric: str, q: float, *, by: Any = None, matchers: Any = None,
                              window: Any = "5m") -> str:
    """``histogram_quantile(q, sum by (le, <by>) (rate(<metric>_bucket{<matchers>}[window])))``.

    >>> promql_histogram_quantile("http_request_duration_seconds", 0.95, by="service", matchers={"code": "200"})
    'histogram_quantile(0.95, sum by (le, service) (rate(http_request_duration_seconds_bucket{code="200"}[5m])))'
    """
    base = metric if metric.endswith("_bucket") else metric + "_bucket"
    groups = ["le", *([by] if isinstance(by, str) else list(by or []))]
    return (f"histogram_quantile({float(q):g}, sum by ({', '.join(groups)}) "
            f"(rate({base}{_matchers(matchers)}[{prom_duration(window)}])))")


def promql_absent_over_time(selector: str, window: Any, matchers: Any = None) -> str:
    """``absent_over_time(<selector>{<matchers>}[window])``: 1 wherever the series had no sample in ``window``.

    >>> promql_absent_over_time("up", "10m", {"job": "batch"})
    'absent_over_time(up{job="batch"}[10m])'
    """
    return f"absent_over_time({selector}{_matchers(matchers)}[{prom_duration(window)}])"


def _limit_from(message: str) -> int | None:
    for rx in _LIMIT_RE:
        m = rx.search(message or "")
        if m:
            return int(m.group(1).replace(",", ""))
    return None


class Prometheus(Backend):
    """``prometheus://`` (and ``victoriametrics://``, ``thanos://``, ``mimir://``): PromQL into a metrics frame."""

    schemes = ("prometheus", "victoriametrics", "thanos", "mimir")
    kinds = ("metrics",)
    api = "/api/v1"

    def fetch(self, req: BackendRequest, ctx: ReadContext) -> Iterator[Part]:
        require_kind(req.kind, self.kinds, f"{req.source_name or req.safe_url} (PromQL)")
        if not req.query or not isinstance(req.query, str):
            raise UsageError(f"{req.source_name or req.safe_url}: pass query='<PromQL>', e.g. query='up'")
        if req.options.get("tenant"):  # Mimir / Cortex / Thanos receive multi-tenancy
            req.headers["X-Scope-OrgID"] = str(req.options["tenant"])
        client = _http.make_client(req)
        try:
            yield from self._run(client, req, ctx)
        finally:
            client.close()

    def _run(self, client: _http.HttpClient, req: BackendRequest, ctx: ReadContext) -> Iterator[Part]:
        o, label = req.options, label_of(req)
        self._notes: list[str] = []
        extra = {k: o[k] for k in ("timeout_param", "dedup", "partial_response", "nocache") if k in o}
        if "timeout_param" in extra:
            extra["timeout"] = extra.pop("timeout_param")
        if o.get("instant") or (req.start_ns is None):
            params = {"query": req.query, **extra}
            if o.get("time") is not None:
                params["time"] = fmt_seconds(to_ns(o["time"]))
            elif req.end_ns is not None:  # the window is [start, end): the last state before end
                params["time"] = fmt_seconds(req.end_ns - 1_000_000)
            obj = self._call(client, "query", params, req, ctx)
            self._warn(client, ctx)
            yield from parse_prom_api_document(obj, label, ctx)
            return
        end = req.end_ns if req.end_ns is not None else to_ns(now())
        step = duration_ns(o["step"]) if o.get("step") is not None else auto_step(end - req.start_ns)
        scheme = req.url.partition("://")[0].partition("+")[0].lower()
        max_points = int(o.get("max_points") or DEFAULT_MAX_POINTS.get(scheme, 11_000))
        try:
            objs = self._chunks(client, req, ctx, req.start_ns, end, step, max_points, extra)
        except QueryError as exc:  # the server's limit is lower than assumed: split again once
            lower = _limit_from(exc.backend_message or "")
            if lower is None or lower >= max_points:
                raise
            objs = self._chunks(client, req, ctx, req.start_ns, end, step, lower, extra)
        self._warn(client, ctx)
        for obj in objs:
            if obj is not None:
                yield from parse_prom_api_document(obj, label, ctx)

    def _chunks(self, client, req, ctx, start, end, step, max_points, extra) -> list[Any]:
        chunks = range_chunks(start, end, step, max_points)
        step_s = fmt_seconds(step)

        def one(c: tuple[int, int]) -> Any:
            params = {"query": req.query, "start": fmt_seconds(c[0]), "end": fmt_seconds(c[1]), "step": step_s, **extra}
            return self._call(client, "query_range", params, req, ctx)

        return _http.run_chunks(chunks, one, describe=lambda c: f"[{_http.iso(c[0])}, {_http.iso(c[1])}]", ctx=ctx,
                                source=req.source_name or req.safe_url, partial=bool(req.options.get("partial")),
                                workers=int(req.options.get("workers", 4)), progress=req.options.get("progress"))

    def _call(self, client: _http.HttpClient, endpoint: str, params: dict, req: BackendRequest, ctx: ReadContext) -> Any:
        obj = client.post_json(f"{self.api}/{endpoint}", query=req.query, data=params)
        if not isinstance(obj, dict) or obj.get("status") != "success":
            words = obj.get("error") if isinstance(obj, dict) else str(obj)[:300]
            msg = f"{client.source}: {endpoint} did not succeed: {words}\n    query: {req.query}"
            raise QueryError(msg, source=client.source, url=_http.redact_url(client.url(endpoint)), query=req.query,
                             backend_message=str(words))
        self._notes.extend(list(obj.pop("warnings", None) or []) + list(obj.pop("infos", None) or []))
        return obj  # without warnings: they are surfaced once, by _warn

    def _warn(self, client: _http.HttpClient, ctx: ReadContext) -> None:
        """The server's warnings, once each, from the calling thread (chunks run in worker threads)."""
        if self._notes:
            _http.warn_backend(ctx, client.source, list(dict.fromkeys(self._notes)))
