"""Which trace shows the incident: one inside the window that passes through the finding the report leads with,
and failed; else the slowest such trace; never an unrelated one. With the reason, in one sentence.

The finding followed is the best-ranked of the first kind present in :data:`FOLLOW` (a retry storm's trace holds
the request, the queue, the retries and the failure in one chain; a failing dependency's calls come next). A trace
passes through it when the finding names it (``trace_ids``, ``example_trace_id``, ``trace_id``), or a span or log
line of the trace carries the finding's entity: the dependency a client span calls, the operation, the entity or
unit column's value. It failed when one of its spans has status ``ERROR`` or one of its log lines is an error
(obsnb's definition, ``ob.error_rate``). Every step is a lazy query that collects trace ids or one row per trace.
"""

from __future__ import annotations

import dataclasses

import polars as pl

from ..analysis.failures import error_expr
from .engine import columns, run
from .findings import Finding, fmt_duration
from .vocabulary import span_dependency_expr

__all__ = ["FOLLOW", "TraceChoice", "choose_trace"]

FOLLOW = ("retry_storm", "stall", "degraded_dependency", "latency_regression", "silence", "first_error", "error_spike")
_TS = pl.Datetime("ns", "UTC")


@dataclasses.dataclass
class TraceChoice:
    """The trace picked (None: none shown), why, and the finding it was picked for (None: no finding to follow)."""

    trace_id: str | None
    why: str
    finding: Finding | None = None


def _named(f: Finding) -> list[str]:
    n = f.numbers
    return [str(t) for t in [*(n.get("trace_ids") or []), n.get("example_trace_id"), n.get("trace_id")] if t]


def _ids(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.select(pl.col("trace_id").cast(pl.String)).drop_nulls().unique()


def _through(f: Finding, spans: pl.LazyFrame | None, logs: pl.LazyFrame | None) -> list[pl.LazyFrame]:
    """Queries of the trace ids whose spans or log lines carry the finding's entity (empty for a finding about
    no entity: the error spike is about every trace)."""
    col, val = f.entity_column, f.entity_value
    out = []
    if col is None or val is None:
        return out
    src = str(f.numbers.get("from", ""))
    if spans is not None and f.kind == "degraded_dependency" and src == "client spans":
        calls = spans.filter(pl.col("kind").cast(pl.String).is_in(["CLIENT", "PRODUCER"]))
        dep = span_dependency_expr(calls)
        dep = pl.coalesce([dep, pl.col("name")]) if dep is not None else pl.col("name")
        return [_ids(calls.filter(dep.cast(pl.String) == val))]
    if spans is not None and f.kind == "latency_regression" and src == "spans":
        op = pl.concat_str([pl.col("service").cast(pl.String).fill_null("?"), pl.lit(" / "),
                            pl.col("name").cast(pl.String).fill_null("?")])
        return [_ids(spans.filter(op == val))]
    for lf in (spans, logs):
        if lf is not None and col in columns(lf) and "trace_id" in columns(lf):
            out.append(_ids(lf.filter(pl.col(col).cast(pl.String) == val)))
    return out


def _traces(spans: pl.LazyFrame, logs: pl.LazyFrame | None, ids: pl.LazyFrame | None, t0: int | None,
            t1: int | None) -> pl.DataFrame:
    """One row per trace (of ``ids``, or every trace) that overlaps [t0, t1): ``trace_id``, ``d`` (its extent),
    ``failed``. Ordered as the choice is made: failed first, then slowest, then by id."""
    sp = spans.filter(pl.col("trace_id").is_not_null()).with_columns(pl.col("trace_id").cast(pl.String))
    if ids is not None:
        sp = sp.join(ids, on="trace_id", how="semi")
    per = sp.group_by("trace_id").agg(pl.col("start").min().alias("s"), pl.col("end").max().alias("e"),
                                      (pl.col("status").cast(pl.String) == "ERROR").any().alias("failed"))
    if t0 is not None and t1 is not None:
        per = per.filter((pl.col("s") < pl.lit(t1).cast(_TS)) & (pl.col("e") >= pl.lit(t0).cast(_TS)))
    per = per.with_columns((pl.col("e") - pl.col("s")).dt.total_nanoseconds().alias("d"))
    if logs is not None and "trace_id" in columns(logs):
        lg = logs.filter(pl.col("trace_id").is_not_null())
        if t0 is not None and t1 is not None:
            lg = lg.filter((pl.col("time") >= pl.lit(t0).cast(_TS)) & (pl.col("time") < pl.lit(t1).cast(_TS)))
        bad = _ids(lg.filter(error_expr(lg).fill_null(False))).with_columns(pl.lit(True).alias("_log_err"))
        per = per.join(bad, on="trace_id", how="left").with_columns(
            (pl.col("failed").fill_null(False) | pl.col("_log_err").fill_null(False)).alias("failed"))
    return run(per.select("trace_id", "d", "failed").sort(["failed", "d", "trace_id"], descending=[True, True, False],
                                                          nulls_last=True))


def _about(f: Finding) -> str:
    who = f" `{f.entity_column}` = `{f.entity_value}`" if f.entity_column else ""
    return f"finding {f.rank} ({f.kind.replace('_', ' ')}{':' if who else ''}{who})"


def choose_trace(findings, spans: pl.LazyFrame | None, logs: pl.LazyFrame | None) -> TraceChoice:
    """The trace to show for ``findings`` (an ``ob.investigate`` result), and why."""
    if spans is None or not run(spans.select(pl.len())).item():
        return TraceChoice(None, "No spans were loaded: there is no trace to show.")
    window = getattr(findings, "window", None)
    t0, t1 = (window[0], window[1]) if window else (None, None)
    follow = sorted((f for f in findings if f.kind in FOLLOW), key=lambda f: (FOLLOW.index(f.kind), f.rank))
    if not follow:
        got = _traces(spans, logs, None, t0, t1)
        if not got.height:
            return TraceChoice(None, "No finding to follow, and no trace overlaps the window.")
        tid, d, failed = got.row(0)
        what = "the slowest trace of the window that failed" if failed else "no trace of the window failed: the slowest"
        return TraceChoice(tid, f"No finding points at a trace: {what} ({fmt_duration(d or 0)}).")
    f = follow[0]
    named = _named(f)
    queries = _through(f, spans, logs)
    if named:
        queries.append(pl.LazyFrame({"trace_id": named}, schema={"trace_id": pl.String}))
    ids = pl.concat(queries).unique() if queries else None
    got = _traces(spans, logs, ids, t0, t1)
    if not got.height:
        return TraceChoice(None, f"No trace in the window passes through {_about(f)}: no trace is shown rather than "
                                 f"one the finding is not about.", f)
    failed = got.filter(pl.col("failed"))
    pick = next((t for t in named if t in set(failed.get_column("trace_id"))), None)
    n = got.height
    if pick is not None:
        why = f"Shown because {_about(f)} names it, it is in the window, and it failed."
    elif failed.height:
        pick, d = failed.row(0)[:2]
        why = (f"Shown because it passes through {_about(f)} in the window and failed: the slowest of the "
               f"{failed.height:,} failed traces of {n:,} through it ({fmt_duration(d or 0)}).")
    else:
        pick, d = got.row(0)[:2]
        why = (f"Shown because it passes through {_about(f)} in the window; none of the {n:,} traces through it "
               f"failed, so this is the slowest ({fmt_duration(d or 0)}).")
    return TraceChoice(str(pick), why, f)
