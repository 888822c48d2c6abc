"""``ob.audit``: how observable was this system, judged by the seed's rules, from the evidence itself.

One row per rule (``rule``, ``verdict`` pass / warn / fail / n/a, ``summary``, ``numbers``, ``examples``,
``fix``). The rules live in :mod:`obsnb.audit_rules` (logs) and :mod:`obsnb.audit_signals` (traces,
metrics, absence); thresholds in :data:`obsnb.audit_rules.THRESHOLDS`. The vocabulary (entities, unit
key, start/success/failure/heartbeat events) is ``ob.investigate``'s, and takes the same hints.
``Audit.findings()`` gives the failures and warnings as ``telemetry_gap`` findings.

The evidence may be ``ob.scan()`` handles: every rule is polars lazy queries (over the store's Parquet, for a
scan) that collect only counts, one row per event name, entity, series name or dependency, and a few example
rows, so a scan's rows are never held. A loaded frame goes through the same queries (made lazy), so both give
the same rows.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import polars as pl

from . import audit_rules as R
from . import audit_signals as S
from .analysis import _frames as F
from .analysis.lazy import is_scan, scan_engine
from .investigation.evidence import frame_of
from .investigation.findings import Finding, _jsonable
from .investigation.vocabulary import Reading, read_evidence

__all__ = ["audit", "Audit", "audit_findings", "RULES"]

RULES = (
    ("structured", R.structured),
    ("events_not_code_flow", R.code_flow),
    ("boundaries_logged", S.boundaries),
    ("levels_mean_something", R.levels),
    ("errors_logged_once", R.errors_once),
    ("one_trace_id_per_workflow", S.trace_ids),
    ("metrics_that_matter", S.metrics_that_matter),
    ("absence_can_be_alerted_on", S.absence),
    ("audit_events", R.audit_events),
)
_SCORE = {"fail": 0.9, "warn": 0.5}
_TS = pl.Datetime("ns", "UTC")


@dataclasses.dataclass
class Audit:
    """The scorecard: ``rows`` (one dict per rule), ``frame`` (the evidence's engine), ``of(rule)``,
    ``verdicts`` ({rule: verdict}), ``findings()`` (failures and warnings as ``telemetry_gap`` findings)."""

    rows: list[dict]
    reading: Reading
    engine: str = "pandas"

    def of(self, rule: str) -> dict:
        return next(r for r in self.rows if r["rule"] == rule)

    @property
    def verdicts(self) -> dict[str, str]:
        return {r["rule"]: r["verdict"] for r in self.rows}

    def to_polars(self) -> pl.DataFrame:
        data = [{**r, "numbers": json.dumps(_jsonable(r["numbers"]), sort_keys=True)} for r in self.rows]
        schema = {"rule": pl.String, "verdict": pl.String, "summary": pl.String, "numbers": pl.String,
                  "examples": pl.List(pl.String), "fix": pl.String}
        return pl.DataFrame(data, schema=schema)

    @property
    def frame(self):
        out = self.to_polars()
        return out if self.engine == "polars" else out.to_pandas()

    def findings(self) -> list[Finding]:
        return audit_findings(self)

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        lines = ["Audit of the telemetry:"]
        for r in self.rows:
            lines.append(f"  {r['verdict']:<5} {r['rule']}: {r['summary']}")
            if r["verdict"] in _SCORE:
                lines.append(f"        fix: {r['fix']}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.to_polars().drop("numbers").to_pandas().to_html(index=False, escape=True)


def audit_findings(result: Audit) -> list[Finding]:
    """The audit's failures then warnings as findings of kind ``telemetry_gap`` (summary: what, then the fix)."""
    out = []
    for r in result.rows:
        if r["verdict"] not in _SCORE:
            continue
        nums = {k: v for k, v in r["numbers"].items() if not isinstance(v, dict)}
        nums |= {"rule": r["rule"], "verdict": r["verdict"], "fix": r["fix"], "examples": list(r["examples"])}
        out.append(Finding("telemetry_gap", f"{r['rule'].replace('_', ' ')} ({r['verdict']}): {r['summary']}. {r['fix']}",
                           nums, "ob.audit(logs, spans, metrics)", _SCORE[r["verdict"]]))
    return sorted(out, key=lambda f: -f.score)


_CANONICAL = {"logs": ("time", "level", "event", "service", "trace_id", "span_id"),
              "spans": ("trace_id", "span_id", "parent_span_id", "name", "service", "kind", "start", "end", "status"),
              "metrics": ("time", "metric", "value")}


def _frame(df: Any, time_cols: tuple[str, ...], kind: str) -> tuple[pl.LazyFrame | None, str | None]:
    """A lazy frame (a scan's rows over the store, or a frame made lazy), times as ns UTC, canonical columns present
    (null where a hand-made frame lacks them); and the engine to answer in."""
    if df is None:
        return None, None
    if is_scan(df):
        out, engine = frame_of(df, kind, None, None, None)[0], scan_engine(df)
    else:
        out, engine = F.to_polars(df).lazy(), F.engine_of(df)
    sch = out.collect_schema()
    missing = [c for c in _CANONICAL[kind] if c not in sch]
    out = out.with_columns(*[pl.lit(None, pl.String).alias(c) for c in missing]) if missing else out
    casts = [pl.col(c).cast(_TS) for c in time_cols if c in sch and sch[c] != _TS]
    return (out.with_columns(casts) if casts else out), engine


def audit(logs: Any = None, spans: Any = None, metrics: Any = None, **hints: Any) -> Audit:
    """Judge the evidence against the rules of observable systems; one row per rule.

    ``logs``, ``spans``, ``metrics`` are canonical frames (``ob.load``), pandas or polars, or ``ob.scan()``
    handles (read out of core: see the module docstring), any of them None.
    Hints are ``ob.investigate``'s (``obsnb.investigation.HINTS``: ``key``, ``entity``, ``failed``, ...).
    A rule without evidence to judge is ``n/a`` and says why.
    """
    lg, e1 = _frame(logs, ("time",), "logs")
    sp, e2 = _frame(spans, ("start", "end"), "spans")
    me, e3 = _frame(metrics, ("time",), "metrics")
    engine = "polars" if next((e for e in (e1, e2, e3) if e), "pandas") == "polars" else "pandas"
    reading = read_evidence(lg, sp, hints)
    ev = R.Evidence(lg, sp, me, reading)
    return Audit([rule(ev) for _, rule in RULES], reading, engine)
