"""The log rules of ``ob.audit``: structured events, events not code flow, levels, errors logged once, audit events.

Each rule takes the prepared evidence (:class:`Evidence`) and returns one row: ``rule``, ``verdict``,
``summary``, ``numbers``, ``examples`` (at most five: ``file:line`` of the log, or ``trace <id> span <id>``)
and ``fix``. The thresholds are in :data:`THRESHOLDS` (and the README's "Auditing the telemetry").
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import polars as pl

from .analysis.failures import error_expr, failure_event
from .analysis.patterns import mask_expr, with_patterns
from .investigation.vocabulary import Reading, error_columns

__all__ = ["Evidence", "THRESHOLDS", "row", "grade", "log_examples", "structured", "code_flow", "levels",
           "errors_once", "audit_events"]

#: rule -> {measure: (warn when above, fail when above)}
THRESHOLDS: dict[str, dict[str, tuple[float, float]]] = {
    "structured": {"unstructured_share": (0.05, 0.20)},
    "events_not_code_flow": {"narrating_share": (0.0, 0.05)},
    "boundaries_logged": {"unlogged_share": (0.05, 0.50)},
    "levels_mean_something": {"failures_below_error_share": (0.0, 0.25), "error_without_failure_share": (0.0, 0.10),
                              "error_share": (0.20, 0.50)},
    "errors_logged_once": {"repeated_share": (0.0, 0.05)},
    "one_trace_id_per_workflow": {"unit_rows_without_trace_share": (0.01, 0.10),
                                  "units_with_several_traces_share": (0.01, 0.10), "orphan_span_share": (0.01, 0.10),
                                  "unlinked_consumer_root_share": (0.01, 0.10), "calls_not_continued_share": (0.01, 0.10),
                                  "log_traces_without_span_share": (0.01, 0.10)},
    "audit_events": {"incomplete_share": (0.0, 0.50)},
}
REPEAT_WITHIN_NS = 2 * 10**9  # the same error again within 2 s, same unit or trace: logged up the stack
NARRATION = re.compile(
    r"(?i)(^|[^a-z])(enter(ing|ed)?|exit(ing|ed)?|leaving|left|called|calling|invok(ed|ing)|returning|returned|"
    r"(start|end|beginning|top|bottom) of (function|method|loop|handler)|inside|in function|here)([^a-z]|$)"
)
ACTOR_NAME = re.compile(r"(?i)^(actor|actor[._]id|actor[._]name|by|user|user[._](id|name)|principal|initiator|"
                        r"operator|requested_by|performed_by)$")
ACTION_NAME = re.compile(r"(?i)(^|[._])action$")
RESOURCE_NAME = re.compile(r"(?i)(resource|target|object|subject|(^|[._])id$|_id$|key$|host$|(^|[._])job$|version$|"
                           r"subscription|invoice|order|account|project|repo)")
AUDIT_EVENT = re.compile(r"(?i)(user[._ ]action|audit|login|logout|sign[._ ]?in|admin)")
ATTEMPT_NAME = re.compile(r"(?i)(^|[._])(attempt|attempts|retries|retry|try)$")
REASON = re.compile(r"(?i)(^|[._])reason$")  # why something happened, not an error
_CANONICAL = {"time", "level", "event", "service", "trace_id", "span_id", "_source", "_line", "level_original",
              "message", "msg"}


@dataclasses.dataclass
class Evidence:
    """The polars frames of one audit (``None``: not given) and the reading (vocabulary) of ``read_evidence``."""

    logs: pl.DataFrame | None
    spans: pl.DataFrame | None
    metrics: pl.DataFrame | None
    reading: Reading


def grade(value: float, warn: float, fail: float) -> str:
    return "fail" if value > fail else "warn" if value > warn else "pass"


def worst(*verdicts: str) -> str:
    order = ("fail", "warn", "pass", "n/a")
    return min(verdicts, key=order.index) if verdicts else "n/a"


def row(rule: str, verdict: str, summary: str, numbers: dict[str, Any], examples: list[str], fix: str) -> dict:
    return {"rule": rule, "verdict": verdict, "summary": summary, "numbers": numbers, "examples": examples[:5],
            "fix": fix}


def na(rule: str, why: str, fix: str) -> dict:
    return row(rule, "n/a", why, {}, [], fix)


def log_examples(frame: pl.DataFrame, n: int = 5) -> list[str]:
    """``file:line`` of the first ``n`` rows (or their time and event when the loader kept no source)."""
    head = frame.head(n)
    if head.is_empty():
        return []
    if "_source" in head.columns and "_line" in head.columns and head.get_column("_source").null_count() == 0:
        return [f"{s}:{ln}" for s, ln in zip(head.get_column("_source").to_list(), head.get_column("_line").to_list())]
    ev = head.get_column("event").cast(pl.String).to_list() if "event" in head.columns else [""] * head.height
    return [f"{t} {e}" for t, e in zip(head.get_column("time").to_list(), ev)]


def share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _fields(logs: pl.DataFrame) -> list[str]:
    return [c for c in logs.columns if c not in _CANONICAL and logs.schema[c] != pl.Null]


def structured(ev: Evidence) -> dict:
    rule, fix = "structured", "Log an event name and put the values in fields (job_id=..., user_id=...), not in the message."
    lg = ev.logs
    if lg is None or lg.is_empty():
        return na(rule, "no logs were given", fix)
    col = ev.reading.event_column
    fields = _fields(lg)
    has_field = pl.any_horizontal([pl.col(c).is_not_null() for c in fields]) if fields else pl.lit(False)
    events = lg.select(pl.col(col).cast(pl.String).unique().alias("_e")).filter(pl.col("_e").is_not_null())
    events = events.with_columns(((mask_expr(pl.col("_e")) != pl.col("_e").str.strip_chars())
                                  & pl.col("_e").str.contains(r"\s")).alias("_interp"))
    flags = lg.select(has_field.alias("_f"), pl.col(col).cast(pl.String).alias("_e"), pl.col("*").exclude(col)) \
        .join(events, on="_e", how="left", maintain_order="left") \
        .with_columns(pl.col("_interp").fill_null(False))
    n = lg.height
    interp = flags.filter(pl.col("_interp"))
    bare = flags.filter(~pl.col("_f") & ~pl.col("_interp"))
    bad = interp.height + bare.height
    v = share(bad, n)
    verdict = grade(v, *THRESHOLDS[rule]["unstructured_share"])
    # templates as ob.log_patterns mines them over all the messages (not distinct message strings)
    pid = with_patterns(lg.select(pl.col(col).cast(pl.String)), column=col).get_column("pattern_id")
    templates = pid.filter(flags.get_column("_interp")).n_unique() if interp.height else 0
    every = pid.drop_nulls().n_unique()
    nums = {"rows": n, "rows_with_fields": int(flags.get_column("_f").sum()), "interpolated_rows": interp.height,
            "interpolated_templates": templates, "rows_without_fields": bare.height, "unstructured_share": round(v, 4)}
    summary = (f"{1 - v:.1%} of {n:,} log rows are structured events; {interp.height:,} messages interpolate values "
               f"(in {templates} of the {every} templates ob.log_patterns finds), {bare.height:,} rows carry no field")
    return row(rule, verdict, summary, nums, log_examples(pl.concat([interp, bare], how="diagonal_relaxed")), fix)


def code_flow(ev: Evidence) -> dict:
    rule, fix = "events_not_code_flow", "Log what happened to the work (job_failed, state RUNNING -> FAILED), not which function ran."
    lg = ev.logs
    if lg is None or lg.is_empty():
        return na(rule, "no logs were given", fix)
    col = ev.reading.event_column
    events = lg.select(pl.col(col).cast(pl.String).unique().alias("_e")).filter(pl.col("_e").is_not_null())
    narr = events.filter(pl.col("_e").str.contains(NARRATION.pattern)).get_column("_e")
    hit = lg.filter(pl.col(col).cast(pl.String).is_in(narr.implode()))
    v = share(hit.height, lg.height)
    nums = {"rows": lg.height, "narrating_rows": hit.height, "narrating_events": narr.len(), "narrating_share": round(v, 4)}
    summary = f"{hit.height:,} of {lg.height:,} log rows ({v:.1%}) narrate execution (entering/exiting/called) in {narr.len()} messages"
    return row(rule, grade(v, *THRESHOLDS[rule]["narrating_share"]), summary, nums, log_examples(hit), fix)


def _failure_rows(lg: pl.DataFrame, r: Reading) -> pl.Expr:
    """A failure whatever its level: a failure event (the reading's, or one named failed/error/timeout), an error
    field, or the error definition's other signs (outcome, status words, HTTP >= 500)."""
    col = r.event_column
    parts = [failure_event(col)] if col in lg.columns else []
    if r.failed and col in lg.columns:
        parts.append(pl.col(col).cast(pl.String).is_in(r.failed).fill_null(False))
    parts += [pl.col(c).is_not_null() for c in error_columns(lg)]
    no_level = lg.drop("level") if "level" in lg.columns else lg
    parts.append(error_expr(no_level, event=col, failed_events=r.failed))
    return pl.any_horizontal(parts)


def _failure_events(lg: pl.DataFrame, r: Reading) -> pl.Expr:
    """Rows that report a failure (a failed event or an error field): these must be at ERROR or above."""
    col = r.event_column
    parts = [failure_event(col)] if col in lg.columns else []
    if r.failed and col in lg.columns:
        parts.append(pl.col(col).cast(pl.String).is_in(r.failed).fill_null(False))
    parts += [pl.col(c).is_not_null() for c in error_columns(lg) if not REASON.search(c)]
    return pl.any_horizontal(parts) if parts else pl.lit(False)


def levels(ev: Evidence) -> dict:
    rule, fix = "levels_mean_something", "Log a failed operation at ERROR, anomalies the system survives at WARNING, and nothing else at ERROR."
    lg = ev.logs
    if lg is None or lg.is_empty() or "level" not in lg.columns or lg.get_column("level").null_count() == lg.height:
        return na(rule, "no logs with levels were given", fix)
    is_err = pl.col("level").cast(pl.String).is_in(["ERROR", "CRITICAL"]).fill_null(False)
    f = lg.with_columns(is_err.alias("_lvl"), _failure_events(lg, ev.reading).alias("_fev"),
                        _failure_rows(lg, ev.reading).alias("_any"))
    fails = int(f.get_column("_fev").sum())
    low = f.filter(pl.col("_fev") & ~pl.col("_lvl"))
    errs = int(f.get_column("_lvl").sum())
    empty = f.filter(pl.col("_lvl") & ~pl.col("_any"))
    t = THRESHOLDS[rule]
    s_low, s_empty, s_err = share(low.height, fails), share(empty.height, errs), share(errs, lg.height)
    verdict = worst(grade(s_low, *t["failures_below_error_share"]), grade(s_empty, *t["error_without_failure_share"]),
                    grade(s_err, *t["error_share"]))
    nums = {"rows": lg.height, "failure_rows": fails, "failures_below_error": low.height,
            "failures_below_error_share": round(s_low, 4), "error_rows": errs, "error_without_failure": empty.height,
            "error_without_failure_share": round(s_empty, 4), "error_share": round(s_err, 4)}
    summary = (f"{low.height:,} of {fails:,} failure rows are logged below ERROR; {empty.height:,} of {errs:,} ERROR rows "
               f"report no failure; ERROR is {s_err:.1%} of all rows")
    shown = pl.concat([low, empty], how="diagonal_relaxed")
    if shown.is_empty() and verdict != "pass":  # too much ERROR: show some of it
        shown = f.filter(pl.col("_lvl"))
    return row(rule, verdict, summary, nums, log_examples(shown), fix)


def errors_once(ev: Evidence) -> dict:
    rule, fix = "errors_logged_once", "Log an error once, with its context, where it is handled (the boundary), and re-raise without logging it again."
    lg = ev.logs
    if lg is None or lg.is_empty():
        return na(rule, "no logs were given", fix)
    r = ev.reading
    scope = [c for c in (r.key, "trace_id") if c and c in lg.columns]
    if not scope:
        return na(rule, "the logs carry neither a unit-of-work key nor a trace id to group an error's lines", fix)
    err = lg.filter(error_expr(lg, event=r.event_column, failed_events=r.failed))
    if err.is_empty():
        return na(rule, "the logs hold no error to judge", fix)
    cols = error_columns(err)
    sig_parts = [pl.col(c).cast(pl.String) for c in cols[:2]]
    sig = pl.concat_str(sig_parts, separator=": ", ignore_nulls=True) if sig_parts else pl.lit(None, pl.String)
    sig = pl.when(sig.is_null() | (sig == "")).then(pl.col(r.event_column).cast(pl.String)).otherwise(sig)
    scope_e = pl.coalesce([pl.col(c).cast(pl.String) for c in scope])
    attempt = next((c for c in err.columns if ATTEMPT_NAME.search(c) and err.schema[c] != pl.Null), None)
    if attempt:  # a retry is a new attempt, not the same error logged again
        scope_e = pl.concat_str([scope_e, pl.col(attempt).cast(pl.String).fill_null("")], separator="#")
    d = (err.with_columns(scope_e.alias("_scope"), sig.alias("_sig"), pl.col("time").cast(pl.Int64).alias("_t"))
         .filter(pl.col("_scope").is_not_null()).sort("_scope", "_sig", "_t"))
    same = (pl.col("_scope") == pl.col("_scope").shift(1)) & (pl.col("_sig") == pl.col("_sig").shift(1))
    d = d.with_columns((same & ((pl.col("_t") - pl.col("_t").shift(1)) <= REPEAT_WITHIN_NS)).fill_null(False).alias("_rep"))
    rep = d.filter(pl.col("_rep")).sort("_t")
    v = share(rep.height, err.height)
    nums = {"error_rows": err.height, "repeated_rows": rep.height, "repeated_share": round(v, 4),
            "scopes_with_repeats": rep.get_column("_scope").n_unique() if rep.height else 0,
            "within_s": REPEAT_WITHIN_NS / 1e9, "grouped_by": " or ".join(scope)}
    summary = (f"{rep.height:,} of {err.height:,} error rows repeat the same error of the same {nums['grouped_by']} within "
               f"{REPEAT_WITHIN_NS / 1e9:g} s")
    return row(rule, grade(v, *THRESHOLDS[rule]["repeated_share"]), summary, nums, log_examples(rep), fix)


def audit_events(ev: Evidence) -> dict:
    rule, fix = "audit_events", "Log every user or operator action with actor_id, action and resource_id (append-only, no DEBUG)."
    lg = ev.logs
    if lg is None or lg.is_empty():
        return na(rule, "no logs were given", fix)
    col = ev.reading.event_column
    actors = [c for c in lg.columns if ACTOR_NAME.search(c) and lg.schema[c] != pl.Null]
    like = [pl.col(c).is_not_null() for c in actors]
    if col in lg.columns:
        like.append(pl.col(col).cast(pl.String).str.contains(AUDIT_EVENT.pattern).fill_null(False))
    acts = lg.filter(pl.any_horizontal(like)) if like else lg.clear()
    if acts.is_empty():
        return na(rule, "no record looks like a user action (no actor/user field, no audit/login event)", fix)
    skip = _CANONICAL | set(actors)
    actions = [c for c in acts.columns if ACTION_NAME.search(c) and acts.schema[c] != pl.Null]
    resources = [c for c in acts.columns if c not in skip and RESOURCE_NAME.search(c) and acts.schema[c] != pl.Null]
    has = {
        "actor": pl.any_horizontal([pl.col(c).is_not_null() for c in actors]) if actors else pl.lit(False),
        "action": pl.any_horizontal([pl.col(c).is_not_null() for c in actions + ([col] if col in acts.columns else [])]),
        "resource": pl.any_horizontal([pl.col(c).is_not_null() for c in resources]) if resources else pl.lit(False),
    }
    f = acts.with_columns(*[e.alias(f"_{k}") for k, e in has.items()])
    missing = {k: int((~f.get_column(f"_{k}")).sum()) for k in has}
    bad = f.filter(~(pl.col("_actor") & pl.col("_action") & pl.col("_resource")))
    v = share(bad.height, acts.height)
    nums = {"user_action_rows": acts.height, "incomplete_rows": bad.height, "incomplete_share": round(v, 4),
            **{f"without_{k}": n for k, n in missing.items()}, "actor_columns": ", ".join(actors)}
    summary = (f"{acts.height:,} rows look like user actions; {bad.height:,} lack actor, action or resource "
               f"(actor {missing['actor']}, action {missing['action']}, resource {missing['resource']})")
    return row(rule, grade(v, *THRESHOLDS[rule]["incomplete_share"]), summary, nums, log_examples(bad), fix)
