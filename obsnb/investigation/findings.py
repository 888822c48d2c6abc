"""Findings as data: what ``ob.investigate`` returns, what the templates turn into prose, what
``obsnb render`` writes beside a report as ``<report>.findings.json``.

The JSON document (``Findings.to_json()``), schema ``obsnb.findings/1``::

    {"schema": "obsnb.findings/1",
     "window": {"start": ISO, "end": ISO, "how": "given" | "found from the error rate" | "all the evidence"},
     "baseline": {"start": ISO, "end": ISO, "how": ...} | null,
     "evidence": {"logs": rows, "spans": rows, "metrics": rows},
     "reading": {"entity": [...], "key": ..., "started": [...], ..., "why": {...}, "given": [...]},
     "looked_at": {kind: "what was examined, in one sentence"},
     "findings": [{"rank": 1, "kind": ..., "entity": {"column": ..., "value": ...} | null,
                   "start": ISO | null, "end": ISO | null, "summary": "...", "numbers": {...},
                   "call": "ob....(...)", "score": float}, ...]}

Times are UTC ISO-8601 with milliseconds and ``Z``. ``numbers`` holds only JSON scalars (times as
ISO text). A new key may be added within schema version 1; a renamed or removed one bumps it.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterator

import pandas as pd
import polars as pl

from .vocabulary import Reading

__all__ = ["SCHEMA", "KINDS", "Finding", "Findings", "iso", "fmt_time", "fmt_duration", "dur_arg", "fmt_value"]

SCHEMA = "obsnb.findings/1"
KINDS = ("error_spike", "degraded_dependency", "latency_regression", "silence", "stall", "retry_storm", "change",
         "first_error", "new_pattern", "suspect", "telemetry_gap")


def iso(ns: int | None) -> str | None:
    """UTC ISO-8601 with milliseconds and Z, from epoch nanoseconds."""
    if ns is None:
        return None
    return pd.Timestamp(int(ns), tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def fmt_time(ns: int | None) -> str:
    """A time as the reports print it: ``2026-11-03 13:12:08.664 UTC``."""
    if ns is None:
        return "(unknown)"
    return pd.Timestamp(int(ns), tz="UTC").strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def fmt_duration(ns: int | float) -> str:
    """A duration for prose: ``45.0 s``, ``79.0 min``, ``3.5 h``."""
    s = float(ns) / 1e9
    return f"{s / 3600:.1f} h" if s >= 7200 else f"{s / 60:.1f} min" if s >= 120 else f"{s:.1f} s"


def fmt_value(v: Any, integral: bool = False) -> str:
    """A value of the evidence as text, in its own type: an integer as ``4`` (also a whole float of a column that
    holds only whole numbers, ``integral``: pandas' integer column with nulls), a float as Python prints it."""
    if isinstance(v, float) and integral and v == v and abs(v) != float("inf") and v.is_integer():
        return str(int(v))
    return str(v)


def dur_arg(ns: int | float) -> str:
    """A duration as an obsnb argument: ``"90s"``, ``"15min"``, ``"2h"``."""
    s = int(round(float(ns) / 1e9))
    if s % 3600 == 0 and s:
        return f"{s // 3600}h"
    if s % 60 == 0 and s:
        return f"{s // 60}min"
    return f"{s}s"


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return None if v != v else float(v)
    if hasattr(v, "item"):  # numpy scalar
        return _jsonable(v.item())
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return str(v)


@dataclasses.dataclass
class Finding:
    """One thing the evidence shows: its kind, the entity it is about, when, the numbers, one sentence."""

    kind: str
    summary: str
    numbers: dict[str, Any]
    call: str
    score: float
    entity_column: str | None = None
    entity_value: str | None = None
    start: int | None = None  # epoch ns
    end: int | None = None
    rank: int = 0

    def to_dict(self) -> dict[str, Any]:
        entity = None if self.entity_column is None else {"column": self.entity_column, "value": self.entity_value}
        return {"rank": self.rank, "kind": self.kind, "entity": entity, "start": iso(self.start), "end": iso(self.end),
                "summary": self.summary, "numbers": _jsonable(self.numbers), "call": self.call,
                "score": round(float(self.score), 3)}


@dataclasses.dataclass
class Findings:
    """The ranked findings of one investigation, with what was assumed and what was looked at.

    ``frame`` is a table of the findings in the engine of the evidence (pandas or polars);
    ``reading`` what was assumed (``reading.table()``); ``of(kind)`` the findings of one kind;
    ``looked_at[kind]`` says what was examined, so a section with nothing to report can say so.
    """

    items: list[Finding]
    reading: Reading
    window: tuple[int, int, str]
    baseline: tuple[int, int, str] | None
    evidence: dict[str, int]
    looked_at: dict[str, str]
    engine: str = "pandas"

    def __post_init__(self) -> None:
        self.items.sort(key=lambda f: (-f.score, f.start if f.start is not None else 0, f.kind))
        for i, f in enumerate(self.items, 1):
            f.rank = i

    def with_findings(self, extra: list[Finding]) -> "Findings":
        """These findings and ``extra`` (e.g. ``ob.audit(...).findings()``), ranked together; ``looked_at``
        keeps what was examined."""
        items = [dataclasses.replace(f) for f in (*self.items, *extra)]
        return Findings(items, self.reading, self.window, self.baseline, self.evidence, dict(self.looked_at), self.engine)

    @property
    def window_start(self) -> pd.Timestamp:
        return pd.Timestamp(self.window[0], tz="UTC")

    @property
    def window_end(self) -> pd.Timestamp:
        return pd.Timestamp(self.window[1], tz="UTC")

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def of(self, *kinds: str) -> list[Finding]:
        """The findings of these kinds, best first."""
        return [f for f in self.items if f.kind in kinds]

    def to_polars(self) -> pl.DataFrame:
        rows = [{"rank": f.rank, "kind": f.kind, "entity_column": f.entity_column, "entity_value": f.entity_value,
                 "start": f.start, "end": f.end, "summary": f.summary, "call": f.call,
                 "numbers": json.dumps(_jsonable(f.numbers), sort_keys=True), "score": float(f.score)} for f in self.items]
        schema = {"rank": pl.Int64, "kind": pl.String, "entity_column": pl.String, "entity_value": pl.String,
                  "start": pl.Int64, "end": pl.Int64, "summary": pl.String, "call": pl.String, "numbers": pl.String,
                  "score": pl.Float64}
        out = pl.DataFrame(rows, schema=schema)
        ts = pl.Datetime("ns", "UTC")
        return out.with_columns(pl.col("start").cast(ts), pl.col("end").cast(ts))

    @property
    def frame(self):
        """The findings as a frame of the evidence's engine."""
        out = self.to_polars()
        return out if self.engine == "polars" else out.to_pandas()

    def to_dict(self) -> dict[str, Any]:
        w0, w1, how = self.window
        base = None if self.baseline is None else {"start": iso(self.baseline[0]), "end": iso(self.baseline[1]),
                                                   "how": self.baseline[2]}
        return {"schema": SCHEMA, "window": {"start": iso(w0), "end": iso(w1), "how": how}, "baseline": base,
                "evidence": dict(self.evidence), "reading": _jsonable(self.reading.to_dict()),
                "looked_at": dict(self.looked_at), "findings": [f.to_dict() for f in self.items]}

    def to_json(self, **kwargs: Any) -> str:
        """The findings document (schema ``obsnb.findings/1``, see the module docstring) as JSON text."""
        kwargs.setdefault("indent", 2)
        return json.dumps(self.to_dict(), **kwargs)

    def _repr_html_(self) -> str:
        return self.to_polars().select("rank", "kind", "entity_column", "entity_value", "start", "summary") \
            .to_pandas().to_html(index=False, escape=True)

    def __repr__(self) -> str:
        lines = [f"Findings: {len(self.items)} (window {iso(self.window[0])} to {iso(self.window[1])})"]
        lines += [f"{f.rank:>3}. [{f.kind}] {f.summary}" for f in self.items[:20]]
        return "\n".join(lines)
