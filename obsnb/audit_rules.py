"""The log rules of ``ob.audit``: structured events, events not code flow, levels, errors logged once, audit events.

Each rule takes the prepared evidence (:class:`Evidence`) and returns one row: ``rule``, ``verdict``,
``summary``, ``numbers``, ``examples`` (at most five: ``file:line`` of the log, or ``trace <id> span <id>``)
and ``fix``. The thresholds are in :data:`THRESHOLDS` (and the README's "Auditing the telemetry").

The evidence is polars ``LazyFrame`` s (a loaded frame made lazy, or a scan's rows over the store's Parquet), and
every rule is queries that collect only what they report: counts, one row per event name, entity, unit kind or
dependency, and the few example rows (``head``). On a scan no rule ever holds the rows.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import polars as pl

from .analysis.failures import error_expr, failure_event
from .analysis.patterns import _assign, mask_expr
from .investigation.engine import columns, count, run
from .investigation.vocabulary import Reading, error_columns

__all__ = ["Evidence", "THRESHOLDS", "row", "grade", "log_examples", "structured", "code_flow", "levels",
           "errors_once", "audit_events", "run", "count", "first_rows"]

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
    """The lazy frames of one audit (``None``: not given), the reading (vocabulary) of ``read_evidence``, and what
    several rules ask of the logs, asked once: their row count and one row per event value (:meth:`per_event`)."""

    logs: pl.LazyFrame | None
    spans: pl.LazyFrame | None
    metrics: pl.LazyFrame | None
    reading: Reading
    n_logs: int = 0
    n_spans: int = 0
    _events: pl.DataFrame | None = None

    def __post_init__(self) -> None:
        self.n_logs = count(self.logs) if self.logs is not None else 0
        self.n_spans = count(self.spans) if self.spans is not None else 0

    def per_event(self) -> pl.DataFrame:
        """``_e`` (the event column as text; null too), ``n`` (its rows) and ``nf`` (those with a field set)."""
        if self._events is None:
            lg, col = self.logs, self.reading.event_column
            fields = _fields(lg)
            has_field = pl.any_horizontal([pl.col(c).is_not_null() for c in fields]) if fields else pl.lit(False)
            q = lg.group_by(pl.col(col).cast(pl.String).alias("_e")).agg(
                pl.len().alias("n"), has_field.sum().cast(pl.Int64).alias("nf"))
            self._events = run(q)
        return self._events


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


def first_rows(lf: pl.LazyFrame, names: tuple[str, ...], n: int, time: str = "time") -> pl.DataFrame:
    """The first ``n`` rows of a query in ``time`` order (ties in the evidence's order), only the columns of ``names``
    it has: two small collects (the n-th time, then the rows up to it), whatever order a scan's files come in."""
    sch = columns(lf)
    lf = lf.select([c for c in dict.fromkeys((*names, time)) if c in sch])
    t = pl.col(time).cast(pl.Int64)  # nanoseconds as integers: a Python datetime would cut them to microseconds
    bound = run(lf.select(t.drop_nulls().bottom_k(n).max().alias("b"))).item()
    if bound is None:  # no row has a time: the first rows as they come
        return run(lf.head(n))
    return run(lf.filter(t <= bound).sort(time, maintain_order=True).head(n))


def log_examples(frame: pl.LazyFrame | pl.DataFrame, n: int = 5) -> list[str]:
    """``file:line`` of the first ``n`` rows in time order (or their time and event when the loader kept no source)."""
    head = first_rows(frame.lazy(), ("_source", "_line", "time", "event"), n)
    if head.is_empty():
        return []
    if "_source" in head.columns and "_line" in head.columns and head.get_column("_source").null_count() == 0:
        return [f"{s}:{ln}" for s, ln in zip(head.get_column("_source").to_list(), head.get_column("_line").to_list())]
    ev = head.get_column("event").cast(pl.String).to_list() if "event" in head.columns else [""] * head.height
    return [f"{t} {e}" for t, e in zip(head.get_column("time").to_list(), ev)]


def share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _fields(logs: pl.LazyFrame) -> list[str]:
    sch = columns(logs)
    return [c for c in sch if c not in _CANONICAL and sch[c] != pl.Null]


def _examples(parts: list[pl.LazyFrame], n: int = 5) -> list[str]:
    """``log_examples`` of the rows of ``parts`` one after the other (the first part's first rows, then the next)."""
    out: list[str] = []
    for lf in parts:
        if len(out) < n:
            out += log_examples(lf, n - len(out))
    return out


def structured(ev: Evidence) -> dict:
    rule, fix = "structured", "Log an event name and put the values in fields (job_id=..., user_id=...), not in the message."
    lg = ev.logs
    if lg is None or not ev.n_logs:
        return na(rule, "no logs were given", fix)
    col = ev.reading.event_column
    e = pl.col("_e")
    per = ev.per_event().with_columns(((mask_expr(e) != e.str.strip_chars()) & e.str.contains(r"\s"))
                                      .fill_null(False).alias("_interp"))
    n = ev.n_logs
    interp_n = int(per.filter(pl.col("_interp")).get_column("n").sum())
    bare_n = int(per.filter(~pl.col("_interp")).select(pl.col("n") - pl.col("nf")).to_series().sum())
    v = share(interp_n + bare_n, n)
    verdict = grade(v, *THRESHOLDS[rule]["unstructured_share"])
    # templates as ob.log_patterns mines them over all the messages (weighted by their rows, not distinct strings)
    msgs = per.filter(e.is_not_null()).select(e.alias("_msg"), pl.col("n").cast(pl.UInt32).alias("_n"), "_interp")
    pid = _assign(msgs, unique=True) if msgs.height else msgs.with_columns(pl.lit(None, pl.String).alias("pattern_id"))
    templates = pid.filter(pl.col("_interp")).get_column("pattern_id").n_unique() if interp_n else 0
    every = pid.get_column("pattern_id").drop_nulls().n_unique()
    nums = {"rows": n, "rows_with_fields": int(per.get_column("nf").sum()), "interpolated_rows": interp_n,
            "interpolated_templates": templates, "rows_without_fields": bare_n, "unstructured_share": round(v, 4)}
    summary = (f"{1 - v:.1%} of {n:,} log rows are structured events; {interp_n:,} messages interpolate values "
               f"(in {templates} of the {every} templates ob.log_patterns finds), {bare_n:,} rows carry no field")
    interp = per.filter(pl.col("_interp")).get_column("_e")
    text = pl.col(col).cast(pl.String)
    fields = _fields(lg)
    has_field = pl.any_horizontal([pl.col(c).is_not_null() for c in fields]) if fields else pl.lit(False)
    is_interp = text.is_in(interp.implode()).fill_null(False)
    return row(rule, verdict, summary, nums, _examples([lg.filter(is_interp), lg.filter(~has_field & ~is_interp)]), fix)


def code_flow(ev: Evidence) -> dict:
    rule, fix = "events_not_code_flow", "Log what happened to the work (job_failed, state RUNNING -> FAILED), not which function ran."
    lg = ev.logs
    if lg is None or not ev.n_logs:
        return na(rule, "no logs were given", fix)
    col = ev.reading.event_column
    narr = ev.per_event().filter(pl.col("_e").is_not_null() & pl.col("_e").str.contains(NARRATION.pattern))
    hit_n = int(narr.get_column("n").sum())
    hit = lg.filter(pl.col(col).cast(pl.String).is_in(narr.get_column("_e").implode()))
    v = share(hit_n, ev.n_logs)
    nums = {"rows": ev.n_logs, "narrating_rows": hit_n, "narrating_events": narr.height, "narrating_share": round(v, 4)}
    summary = f"{hit_n:,} of {ev.n_logs:,} log rows ({v:.1%}) narrate execution (entering/exiting/called) in {narr.height} messages"
    return row(rule, grade(v, *THRESHOLDS[rule]["narrating_share"]), summary, nums, log_examples(hit), fix)


def _failure_rows(lg: pl.LazyFrame, r: Reading) -> pl.Expr:
    """A failure whatever its level: a failure event (the reading's, or one named failed/error/timeout), an error
    field, or the error definition's other signs (outcome, status words, HTTP >= 500)."""
    col, sch = r.event_column, columns(lg)
    parts = [failure_event(col)] if col in sch else []
    if r.failed and col in sch:
        parts.append(pl.col(col).cast(pl.String).is_in(r.failed).fill_null(False))
    parts += [pl.col(c).is_not_null() for c in error_columns(lg)]
    no_level = lg.drop("level") if "level" in sch else lg
    parts.append(error_expr(no_level, event=col, failed_events=r.failed))
    return pl.any_horizontal(parts)


def _failure_events(lg: pl.LazyFrame, r: Reading) -> pl.Expr:
    """Rows that report a failure (a failed event or an error field): these must be at ERROR or above."""
    col, sch = r.event_column, columns(lg)
    parts = [failure_event(col)] if col in sch else []
    if r.failed and col in sch:
        parts.append(pl.col(col).cast(pl.String).is_in(r.failed).fill_null(False))
    parts += [pl.col(c).is_not_null() for c in error_columns(lg) if not REASON.search(c)]
    return pl.any_horizontal(parts) if parts else pl.lit(False)


def levels(ev: Evidence) -> dict:
    rule, fix = "levels_mean_something", "Log a failed operation at ERROR, anomalies the system survives at WARNING, and nothing else at ERROR."
    lg = ev.logs
    if lg is None or not ev.n_logs or "level" not in columns(lg) or \
            run(lg.select(pl.col("level").null_count())).item() == ev.n_logs:
        return na(rule, "no logs with levels were given", fix)
    is_err = pl.col("level").cast(pl.String).is_in(["ERROR", "CRITICAL"]).fill_null(False)
    f = lg.with_columns(is_err.alias("_lvl"), _failure_events(lg, ev.reading).alias("_fev"),
                        _failure_rows(lg, ev.reading).alias("_any"))
    low_e, empty_e = pl.col("_fev") & ~pl.col("_lvl"), pl.col("_lvl") & ~pl.col("_any")
    fails, low_n, errs, empty_n = run(f.select(pl.col("_fev").sum().alias("a"), low_e.sum().alias("b"),
                                               pl.col("_lvl").sum().alias("c"), empty_e.sum().alias("d"))).row(0)
    t = THRESHOLDS[rule]
    s_low, s_empty, s_err = share(low_n, fails), share(empty_n, errs), share(errs, ev.n_logs)
    verdict = worst(grade(s_low, *t["failures_below_error_share"]), grade(s_empty, *t["error_without_failure_share"]),
                    grade(s_err, *t["error_share"]))
    nums = {"rows": ev.n_logs, "failure_rows": fails, "failures_below_error": low_n,
            "failures_below_error_share": round(s_low, 4), "error_rows": errs, "error_without_failure": empty_n,
            "error_without_failure_share": round(s_empty, 4), "error_share": round(s_err, 4)}
    summary = (f"{low_n:,} of {fails:,} failure rows are logged below ERROR; {empty_n:,} of {errs:,} ERROR rows "
               f"report no failure; ERROR is {s_err:.1%} of all rows")
    shown = [f.filter(low_e), f.filter(empty_e)]
    if not (low_n or empty_n) and verdict != "pass":  # too much ERROR: show some of it
        shown = [f.filter(pl.col("_lvl"))]
    return row(rule, verdict, summary, nums, _examples(shown), fix)


def errors_once(ev: Evidence) -> dict:
    rule, fix = "errors_logged_once", "Log an error once, with its context, where it is handled (the boundary), and re-raise without logging it again."
    lg = ev.logs
    if lg is None or not ev.n_logs:
        return na(rule, "no logs were given", fix)
    r, sch = ev.reading, columns(lg)
    scope = [c for c in (r.key, "trace_id") if c and c in sch]
    if not scope:
        return na(rule, "the logs carry neither a unit-of-work key nor a trace id to group an error's lines", fix)
    err = lg.filter(error_expr(lg, event=r.event_column, failed_events=r.failed))
    n_err = count(err)
    if not n_err:
        return na(rule, "the logs hold no error to judge", fix)
    cols = error_columns(err)
    sig_parts = [pl.col(c).cast(pl.String) for c in cols[:2]]
    sig = pl.concat_str(sig_parts, separator=": ", ignore_nulls=True) if sig_parts else pl.lit(None, pl.String)
    sig = pl.when(sig.is_null() | (sig == "")).then(pl.col(r.event_column).cast(pl.String)).otherwise(sig)
    scope_e = pl.coalesce([pl.col(c).cast(pl.String) for c in scope])
    attempt = next((c for c in sch if ATTEMPT_NAME.search(c) and sch[c] != pl.Null), None)
    if attempt:  # a retry is a new attempt, not the same error logged again
        scope_e = pl.concat_str([scope_e, pl.col(attempt).cast(pl.String).fill_null("")], separator="#")
    d = (err.with_columns(scope_e.alias("_scope"), sig.alias("_sig"), pl.col("time").cast(pl.Int64).alias("_t"))
         .filter(pl.col("_scope").is_not_null()).sort("_scope", "_sig", "_t", maintain_order=True))
    same = (pl.col("_scope") == pl.col("_scope").shift(1)) & (pl.col("_sig") == pl.col("_sig").shift(1))
    d = d.with_columns((same & ((pl.col("_t") - pl.col("_t").shift(1)) <= REPEAT_WITHIN_NS)).fill_null(False).alias("_rep"))
    rep = d.filter(pl.col("_rep"))
    n_rep, scopes = run(rep.select(pl.len().alias("n"), pl.col("_scope").n_unique().alias("s"))).row(0)
    v = share(n_rep, n_err)
    nums = {"error_rows": n_err, "repeated_rows": n_rep, "repeated_share": round(v, 4),
            "scopes_with_repeats": scopes if n_rep else 0,
            "within_s": REPEAT_WITHIN_NS / 1e9, "grouped_by": " or ".join(scope)}
    summary = (f"{n_rep:,} of {n_err:,} error rows repeat the same error of the same {nums['grouped_by']} within "
               f"{REPEAT_WITHIN_NS / 1e9:g} s")
    return row(rule, grade(v, *THRESHOLDS[rule]["repeated_share"]), summary, nums, log_examples(rep), fix)


def audit_events(ev: Evidence) -> dict:
    rule, fix = "audit_events", "Log every user or operator action with actor_id, action and resource_id (append-only, no DEBUG)."
    lg = ev.logs
    if lg is None or not ev.n_logs:
        return na(rule, "no logs were given", fix)
    col, sch = ev.reading.event_column, columns(lg)
    actors = [c for c in sch if ACTOR_NAME.search(c) and sch[c] != pl.Null]
    like = [pl.col(c).is_not_null() for c in actors]
    if col in sch:
        like.append(pl.col(col).cast(pl.String).str.contains(AUDIT_EVENT.pattern).fill_null(False))
    acts = lg.filter(pl.any_horizontal(like)) if like else None
    n_acts = count(acts) if acts is not None else 0
    if not n_acts:
        return na(rule, "no record looks like a user action (no actor/user field, no audit/login event)", fix)
    skip = _CANONICAL | set(actors)
    actions = [c for c in sch if ACTION_NAME.search(c) and sch[c] != pl.Null]
    resources = [c for c in sch if c not in skip and RESOURCE_NAME.search(c) and sch[c] != pl.Null]
    has = {
        "actor": pl.any_horizontal([pl.col(c).is_not_null() for c in actors]) if actors else pl.lit(False),
        "action": pl.any_horizontal([pl.col(c).is_not_null() for c in actions + ([col] if col in sch else [])]),
        "resource": pl.any_horizontal([pl.col(c).is_not_null() for c in resources]) if resources else pl.lit(False),
    }
    f = acts.with_columns(*[e.alias(f"_{k}") for k, e in has.items()])
    complete = pl.col("_actor") & pl.col("_action") & pl.col("_resource")
    got = run(f.select(*[(~pl.col(f"_{k}")).sum().alias(k) for k in has], (~complete).sum().alias("_bad"))).row(0, named=True)
    missing = {k: int(got[k]) for k in has}
    bad_n = int(got["_bad"])
    v = share(bad_n, n_acts)
    nums = {"user_action_rows": n_acts, "incomplete_rows": bad_n, "incomplete_share": round(v, 4),
            **{f"without_{k}": n for k, n in missing.items()}, "actor_columns": ", ".join(actors)}
    summary = (f"{n_acts:,} rows look like user actions; {bad_n:,} lack actor, action or resource "
               f"(actor {missing['actor']}, action {missing['action']}, resource {missing['resource']})")
    return row(rule, grade(v, *THRESHOLDS[rule]["incomplete_share"]), summary, nums, log_examples(f.filter(~complete)), fix)
