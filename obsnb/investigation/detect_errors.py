"""Findings about errors: ``error_spike``, ``first_error``, ``suspect``, ``new_pattern``."""

from __future__ import annotations

import pandas as pd
import polars as pl

from ..analysis.compare import compare
from ..analysis.failures import HTTP_STATUS_COLUMNS, OUTCOME_COLUMNS
from ..analysis.patterns import log_patterns
from .context import Ctx, ns_of, pct
from .findings import Finding, dur_arg, fmt_duration, iso
from .vocabulary import structured_events

__all__ = ["error_spikes", "first_error", "suspects", "new_patterns"]

_DETAIL = ("error_type", "error", "error.type", "error.message", "exception", "exc_info", "reason", "status",
           "status_message", "message", "msg")


def _spike(ctx: Ctx, frame: pl.DataFrame, col: str, what: str, entity: tuple[str, str] | None) -> Finding | None:
    during = frame.filter(ctx.during(col))
    before = frame.filter(ctx.before(col))
    n_d, e_d = during.height, int(during.get_column("_err").sum())
    n_b, e_b = before.height, int(before.get_column("_err").sum())
    r_d = e_d / n_d if n_d else None
    r_b = e_b / n_b if n_b else None
    if not n_d or e_d < 3:
        return None
    base = r_b if r_b is not None else 0.0
    limit = max(2 * base, base + 0.01)
    if r_d <= limit:
        return None
    step = ctx.every
    b = (during.group_by((pl.col(col).cast(pl.Int64) // step * step).alias("b"))
         .agg(pl.len().alias("n"), pl.col("_err").sum().alias("e")).sort("b")
         .with_columns((pl.col("e") / pl.col("n")).alias("r")))
    hot = b.filter((pl.col("r") > limit) & (pl.col("e") > 0))
    peak = b.sort(["r", "b"], descending=[True, False]).row(0, named=True)
    s, e = int(hot.get_column("b").min()), int(hot.get_column("b").max()) + step
    nums = {"errors_during": e_d, "rows_during": n_d, "error_rate_during": r_d, "errors_before": e_b,
            "rows_before": n_b, "error_rate_before": r_b, "peak_time": iso(peak["b"]), "peak_error_rate": peak["r"],
            "peak_errors": int(peak["e"]), "bucket": fmt_duration(step), "baseline": ctx.baseline_how}
    if "service" in during.columns:
        top = (during.filter(pl.col("_err")).group_by("service").len().sort(["len", "service"], descending=[True, False]).head(3))
        nums["errors_by_service"] = {str(k): int(v) for k, v in top.iter_rows()}
    before_txt = f"{pct(r_b)} before ({e_b:,} of {n_b:,})" if n_b else "no rows before the window to compare with"
    who = f" of `{entity[0]}`={entity[1]}" if entity else ""
    summary = (f"Errors{who} were {pct(r_d)} of {what} in the window ({e_d:,} of {n_d:,}) against {before_txt}; "
               f"{hot.height} of the {b.height} {fmt_duration(step)} buckets with {what} were above {pct(limit)}, the first from {ctx.t(s)}, "
               f"the last ending {ctx.t(e)}; the peak was {pct(peak['r'])} "
               f"({int(peak['e']):,} errors) in the bucket from {ctx.t(peak['b'])}.")
    frame_name = "logs" if what == "log lines" else "spans"
    call = f'ob.error_rate({frame_name}, "{dur_arg(step)}", {ctx.window_args()})'
    ratio = r_d / base if base else 10.0
    return Finding("error_spike", summary, nums, call, 90 + min(ratio, 10.0), entity[0] if entity else None,
                   entity[1] if entity else None, s, e)


def error_spikes(ctx: Ctx) -> tuple[list[Finding], str]:
    out = []
    looked = []
    if ctx.logs is not None and not ctx.logs.is_empty():
        f = _spike(ctx, ctx.logs, "time", "log lines", None)
        out += [f] if f else []
        looked.append(f"{ctx.logs.filter(ctx.during()).height:,} log lines")
    if ctx.spans is not None and not ctx.spans.is_empty():
        f = _spike(ctx, ctx.spans, "start", "spans", None)
        if f:
            f.score -= 1
            out.append(f)
        looked.append(f"{ctx.spans.filter(ctx.during('start')).height:,} spans")
    text = ("the error rate of " + " and ".join(looked) + " in the window against " + ctx.baseline_how) if looked \
        else "no logs or spans to count errors in"
    return out, text


def _detail(row: dict) -> dict:
    return {k: str(row[k])[:300] for k in _DETAIL if k in row and row[k] is not None and str(row[k]) != ""}


def first_error(ctx: Ctx) -> tuple[list[Finding], str]:
    out = []
    if ctx.logs is not None and not ctx.logs.is_empty():
        errs = ctx.logs.filter(ctx.during() & pl.col("_err"))
        if errs.height:
            row = errs.row(0, named=True)
            ev = ctx.reading.event_column
            nums = {"time": iso(ns_of(row["time"])), "event": row.get(ev),
                    "service": row.get("service"), "level": row.get("level"), "trace_id": row.get("trace_id"),
                    "source": row.get("_source"), "line": row.get("_line"), **_detail(row)}
            for c in ctx.reading.entity:
                if row.get(c) is not None:
                    nums[c] = str(row[c])
            if ctx.reading.key and row.get(ctx.reading.key) is not None:
                nums[ctx.reading.key] = str(row[ctx.reading.key])
            where = f" from `{row['service']}`" if row.get("service") else ""
            unit = f" about `{ctx.reading.key}` {row[ctx.reading.key]}" if ctx.reading.key and row.get(ctx.reading.key) is not None else ""
            err = next((f": {v}" for k, v in _detail(row).items() if k not in ("message", "msg", "status")), "")
            summary = f"The first error in the window was `{row.get(ev)}`{where} at {ctx.t(ns_of(row['time']))}{unit}{err}."
            call = f'ob.error_rate(logs, "1min", {ctx.window_args()})  # first bucket with errors > 0'
            out.append(Finding("first_error", summary, nums, call, 50, "event", str(row.get(ev)), ns_of(row["time"]), None))
    if not out and ctx.spans is not None and not ctx.spans.is_empty():
        errs = ctx.spans.filter(ctx.during("start") & pl.col("_err"))
        if errs.height:
            row = errs.row(0, named=True)
            nums = {"time": iso(ns_of(row["start"])), "name": row.get("name"), "service": row.get("service"),
                    "trace_id": row.get("trace_id"), "span_id": row.get("span_id"),
                    "status_message": row.get("status_message")}
            msg = f": {row['status_message']}" if row.get("status_message") else ""
            summary = (f"The first failed span in the window was `{row.get('name')}` of `{row.get('service')}` "
                       f"at {ctx.t(ns_of(row['start']))}{msg}.")
            out.append(Finding("first_error", summary, nums, f'ob.timeline("{row.get("trace_id")}", spans=spans)', 50,
                               "name", str(row.get("name")), ns_of(row["start"]), None))
    return out, "the earliest error of the window"



_NOT_SUSPECT = {"level", "level_original", "_err", "_source", "_line", "time", "trace_id", "span_id",
                *OUTCOME_COLUMNS, *HTTP_STATUS_COLUMNS}


def suspects(ctx: Ctx) -> tuple[list[Finding], str]:
    if ctx.logs is None or ctx.logs.is_empty():
        return [], "no logs"
    win = ctx.logs.filter(ctx.during())
    n_err = int(win.get_column("_err").sum())
    if n_err < 5 or n_err == win.height:
        return [], f"attribute values of the window's {n_err:,} error lines against its other lines (too few to compare)" \
            if n_err < 5 else "the window's lines (all are errors: nothing to compare with)"
    ev = ctx.reading.event_column
    cols = [c for c in win.columns if c not in _NOT_SUSPECT and c != ev and c not in (ctx.reading.key or "",)
            and not c.startswith("_") and win.schema[c] in (pl.String, pl.Categorical, pl.Int64, pl.Boolean)]
    if not cols:
        return [], "no attribute columns"
    # an attribute found only on error lines describes the error itself; a suspect is one shared by both
    other = win.filter(~pl.col("_err"))
    present = other.select([pl.col(c).is_not_null().mean().alias(c) for c in cols]).row(0, named=True) if other.height else {}
    cols = [c for c in cols if (present.get(c) or 0) >= 0.5]
    if not cols:
        return [], "no attribute present on both error and other lines"
    res = compare(win.select(["time", "_err", *cols]), incident="_err", by=cols, max_values=50)
    res = res.filter((pl.col("incident") >= 3) & (pl.col("difference") >= 0.25) & pl.col("value").is_not_null())
    out = []
    for row in res.head(3).iter_rows(named=True):
        summary = (f"`{row['attribute']}` = `{row['value']}` is on {pct(row['incident_share'])} of the window's error lines "
                   f"({row['incident']:,}) against {pct(row['baseline_share'])} of its other lines ({row['baseline']:,}).")
        nums = {k: row[k] for k in ("incident", "baseline", "incident_share", "baseline_share", "difference", "lift")}
        call = f'ob.compare(logs_in_window, incident="<error rows>", by=["{row["attribute"]}"])'
        out.append(Finding("suspect", summary, nums, call, 45 + 4 * row["difference"], row["attribute"], str(row["value"]),
                           ctx.t0, ctx.t1))
    return out, f"{len(cols)} attributes of the window's {n_err:,} error lines against its other lines"


def new_patterns(ctx: Ctx) -> tuple[list[Finding], str]:
    if ctx.logs is None or ctx.logs.is_empty():
        return [], "no logs"
    if ctx.b0 is None or ctx.baseline_how.startswith("no evidence"):
        return [], "no evidence before the window, so no pattern can be new"
    frame = ctx.logs.filter(pl.col("time") < pl.lit(ctx.t1).cast(pl.Datetime("ns", "UTC")))
    ev = ctx.reading.event_column
    # structured events are their own templates; free-text messages are masked into templates first
    few = structured_events(frame, ev)
    msg = ev if few else next((c for c in ("message", "msg") if c in frame.columns), ev)
    if msg not in frame.columns:
        return [], "no message column"
    # every row, not one per distinct message: templates are mined with line counts, as ob.log_patterns(logs)
    # does (it collapses to distinct messages itself)
    pats = log_patterns(frame.select("time", pl.col(msg).cast(pl.String).alias("message")),
                        column="message", new_since=pd.Timestamp(ctx.t0, tz="UTC"))
    new = pats.filter(pl.col("new"))
    if new.is_empty():
        return [], f"{pats.height:,} message templates; none first seen in the window"
    out = []
    for row in new.head(3).iter_rows(named=True):
        summary = (f"A message template first seen in the window at {ctx.t(ns_of(row['first']))}: `{row['pattern'][:160]}` "
                   f"(e.g. `{str(row['example'])[:160]}`).")
        nums = {"pattern": row["pattern"][:300], "first": iso(ns_of(row["first"])), "example": str(row["example"])[:300]}
        out.append(Finding("new_pattern", summary, nums, f'ob.log_patterns(logs, new_since="{iso(ctx.t0)}")', 35,
                           "pattern", row["pattern"][:120], ns_of(row["first"]), None))
    return out, f"{pats.height:,} message templates, {new.height:,} first seen in the window"

