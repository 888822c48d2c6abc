"""``ob.investigate``: the findings of an incident, drawn from whatever evidence was loaded."""

from __future__ import annotations

from typing import Any

import polars as pl

from . import detect_changes, detect_deps, detect_errors, detect_work
from ..options import get_option
from .context import prepare
from .engine import count
from .evidence import frame_of
from .findings import Findings
from .rejects import rejected_findings
from .remote import Remote, prepare_remote
from .vocabulary import read_evidence

__all__ = ["investigate"]

_DETECTORS = (
    ("error_spike", detect_errors.error_spikes),
    ("degraded_dependency", detect_deps.dependencies),
    ("latency_regression", detect_deps.latency_regressions),
    ("silence", detect_work.silences),
    ("silence", detect_work.counter_silences),
    ("stall", detect_work.stalls_found),
    ("retry_storm", detect_work.retry_storms),
    ("change", detect_changes.changes),
    ("first_error", detect_errors.first_error),
    ("new_pattern", detect_errors.new_patterns),
    ("suspect", detect_errors.suspects),
    ("telemetry_gap", detect_changes.telemetry_gaps),
)


def _one_per_moment(items: list) -> list:
    """Two silences over the same moments (one entity seen through two columns, e.g. a host and the only service
    on it) are one finding: the first entity column's."""
    seen, out = set(), []
    for f in items:
        key = (f.kind, f.start, f.end) if f.kind == "silence" else None
        if key is not None and key in seen:
            continue
        if key is not None:
            seen.add(key)
        out.append(f)
    return out


def investigate(logs: Any = None, spans: Any = None, metrics: Any = None, *, start: Any = None, end: Any = None,
                **hints: Any) -> Findings:
    """The findings of an incident, ranked: what happened, where, and what the evidence cannot tell.

    ``logs``, ``spans``, ``metrics`` are canonical frames (``ob.load``), pandas or polars, ``ob.scan()``
    handles, paths (a file, glob or folder) or backend sources (which need ``start``/``end``: see
    :mod:`obsnb.investigation.evidence`); any may be None (no evidence of that kind, which is itself a finding). ``start``/``end`` are the incident
    window; without them the window is found from the error rate (or is all the evidence). The
    baseline is the evidence before ``start``; without any, the window's first quarter, and a
    ``telemetry_gap`` finding says so.

    Hints override what is detected (see ``obsnb.investigation.HINTS``): ``entity``, ``key``, ``started``,
    ``succeeded``, ``failed``, ``heartbeat``, ``event_column``, ``dependency``, ``silence``,
    ``retry_min_attempts``, ``stall_after``, ``every``, ``baseline``.

    Returns :class:`~obsnb.investigation.Findings`: ``.frame`` (the evidence's engine), ``.of(kind)``,
    ``.reading`` (what was assumed), ``.looked_at`` and ``.to_json()`` (schema ``obsnb.findings/1``).
    """
    read = [frame_of(x, k, start, end, hints.get("baseline")) for x, k in ((logs, "logs"), (spans, "spans"), (metrics, "metrics"))]
    (lg, e1, n1), (sp, e2, n2), (me, e3, n3) = read
    engine = next((e for e in (e1, e2, e3) if e), None) or get_option("engine")
    engine = "polars" if engine == "polars" else "pandas"
    remotes = [x for x in (lg, sp) if isinstance(x, Remote)]
    reading, ctx = prepare_remote(lg, sp, me, hints, start, end) if remotes else (read_evidence(lg, sp, hints), None)
    ctx = ctx or prepare(lg, sp, me, reading, start, end)
    items = []
    looked: dict[str, str] = {}
    for kind, detect in _DETECTORS:
        for rm in remotes:
            rm.detector = detect.__name__
        found, text = detect(ctx)
        text = "; ".join([text, *filter(None, (rm.told(detect.__name__) for rm in remotes))])
        items += found
        looked[kind] = f"{looked[kind]}; {text}" if kind in looked else text
    evidence = {k: 0 if x is None else x.rows if isinstance(x, Remote) else x.height if isinstance(x, pl.DataFrame)
                else count(x) for x, k in ((lg, "logs"), (sp, "spans"), (me, "metrics"))}
    notes = [n.replace("{rows}", f"{evidence[k]:,}") for n, k in ((n1, "logs"), (n2, "spans"), (n3, "metrics")) if n]
    for rm in remotes:
        notes += [f"{how}: {t}" for how, t in (("placing the window", rm.told("prepare")),
                                              ("the reading of the vocabulary", rm.told("reading"))) if t]
        rm.close()
    if notes:  # how the evidence was read, where a reader of telemetry gaps looks
        looked["telemetry_gap"] = "; ".join([looked.get("telemetry_gap", ""), *notes]).lstrip("; ")
    gaps, n_rejected = rejected_findings({"logs": logs, "spans": spans, "metrics": metrics}, ctx.t0, ctx.t1)
    items = _one_per_moment(items) + gaps
    if n_rejected:
        evidence["rejected"] = n_rejected
    base = None if ctx.b0 is None else (ctx.b0, ctx.b1, ctx.baseline_how)
    out = Findings(items, reading, (ctx.t0, ctx.t1, ctx.window_how), base, evidence, looked, engine)
    out.queries = [a.sql for rm in remotes for a in rm.log]  # the SQL sent to a backend, to paste into its client
    return out
