"""Findings about errors: ``error_spike``, ``first_error``, ``suspect``, ``new_pattern``."""

from __future__ import annotations

import polars as pl

from ..analysis.failures import HTTP_STATUS_COLUMNS, OUTCOME_COLUMNS
from ..analysis._templates import pattern_id, templates
from ..analysis.patterns import mask_expr
from .context import TS, Ctx, columns, ns_of, pct, run
from . import remote_sql as R
from .findings import Finding, dur_arg, fmt_duration, iso
from .remote import remote_of
from .vocabulary import structured_events

__all__ = ["error_spikes", "first_error", "suspects", "new_patterns"]

_DETAIL = ("error_type", "error", "error.type", "error.message", "exception", "exc_info", "reason", "status",
           "status_message", "message", "msg")


def _spike(ctx: Ctx, frame: pl.LazyFrame, col: str, what: str, entity: tuple[str, str] | None) -> tuple[Finding | None, int]:
    """(the spike, or None; the rows in the window): counts and per-bucket counts from the engine."""
    err = pl.col("_err")
    rm = remote_of(ctx, "logs" if col == "time" else "spans")
    window = (ctx.t0, ctx.t1)
    if rm is not None:
        n_d, e_d, n_b, e_b = R.counts(rm, "rows and errors in the window and the baseline", window,
                                      (ctx.b0, ctx.b1) if ctx.b0 is not None else None)
    else:
        n_d, e_d, n_b, e_b = run(frame.select(ctx.during(col).sum().alias("n_d"), (ctx.during(col) & err).sum().alias("e_d"),
                                              ctx.before(col).sum().alias("n_b"), (ctx.before(col) & err).sum().alias("e_b"))).row(0)
    n_d, e_d, n_b, e_b = int(n_d), int(e_d), int(n_b or 0), int(e_b or 0)
    r_d = e_d / n_d if n_d else None
    r_b = e_b / n_b if n_b else None
    if not n_d or e_d < 3:
        return None, n_d
    base = r_b if r_b is not None else 0.0
    limit = max(2 * base, base + 0.01)
    if r_d <= limit:
        return None, n_d
    step = ctx.every
    during = frame.filter(ctx.during(col))
    if rm is not None:
        b = R.buckets(rm, f"rows and errors per {fmt_duration(step)} bucket of the window", window, step)
    else:
        b = run(during.group_by((pl.col(col).cast(pl.Int64) // step * step).alias("b"))
                .agg(pl.len().alias("n"), err.sum().alias("e")).sort("b")
                .with_columns((pl.col("e") / pl.col("n")).alias("r")))
    hot = b.filter((pl.col("r") > limit) & (pl.col("e") > 0))
    peak = b.sort(["r", "b"], descending=[True, False]).row(0, named=True)
    s, e = int(hot.get_column("b").min()), int(hot.get_column("b").max()) + step
    nums = {"errors_during": e_d, "rows_during": n_d, "error_rate_during": r_d, "errors_before": e_b,
            "rows_before": n_b, "error_rate_before": r_b, "peak_time": iso(peak["b"]), "peak_error_rate": peak["r"],
            "peak_errors": int(peak["e"]), "bucket": fmt_duration(step), "baseline": ctx.baseline_how}
    if "service" in columns(frame):
        top = R.top_values(rm, "the window's errors per service (top 3)", "service", f"{rm.during(*window)} AND {rm.err}", 3) \
            if rm is not None else \
            run(during.filter(err).group_by("service").len().sort(["len", "service"], descending=[True, False]).head(3))
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
                   entity[1] if entity else None, s, e), n_d


def error_spikes(ctx: Ctx) -> tuple[list[Finding], str]:
    out = []
    looked = []
    if ctx.has("logs"):
        f, n = _spike(ctx, ctx.logs, "time", "log lines", None)
        out += [f] if f else []
        looked.append(f"{n:,} log lines")
    if ctx.has("spans"):
        f, n = _spike(ctx, ctx.spans, "start", "spans", None)
        if f:
            f.score -= 1
            out.append(f)
        looked.append(f"{n:,} spans")
    text = ("the error rate of " + " and ".join(looked) + " in the window against " + ctx.baseline_how) if looked \
        else "no logs or spans to count errors in"
    return out, text


def _detail(row: dict) -> dict:
    return {k: str(row[k])[:300] for k in _DETAIL if k in row and row[k] is not None and str(row[k]) != ""}


def _first_error_row(ctx: Ctx, kind: str) -> pl.DataFrame:
    """The window's first error row (of the logs or the spans): a LIMIT 1 of the server, or from the frame."""
    rm = remote_of(ctx, kind)
    if rm is not None:  # the columns the finding shows only
        r = ctx.reading
        shown = (["time", r.event_column, "service", "level", "trace_id", "_source", "_line", *_DETAIL, *r.entity,
                  *([r.key] if r.key else [])] if kind == "logs" else
                 ["start", "name", "service", "trace_id", "span_id", "status_message"])
        return R.examples(rm, "the window's first error (LIMIT 1)", f"{rm.during(ctx.t0, ctx.t1)} AND {rm.err}", 1,
                          names=shown)
    col = "time" if kind == "logs" else "start"
    lf = getattr(ctx, kind).filter(ctx.during(col) & pl.col("_err"))
    # the first time as epoch ns (``context.examples`` bounds by a Python datetime, which drops the nanoseconds
    # and with them a first row whose time has any), then that row: a time predicate the Parquet reader applies
    first = run(lf.select(pl.col(col).min().cast(pl.Int64))).item()
    if first is None:
        return run(lf.head(0))
    return run(lf.filter(pl.col(col) == pl.lit(first).cast(TS)).head(1))


def first_error(ctx: Ctx) -> tuple[list[Finding], str]:
    out = []
    if ctx.has("logs"):
        errs = _first_error_row(ctx, "logs")
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
    if not out and ctx.has("spans"):
        errs = _first_error_row(ctx, "spans")
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


def _over_represented(win: pl.LazyFrame, cols: list[str], n_inc: int, n_base: int, top: int,
                      on_server: tuple | None = None) -> pl.DataFrame:
    """``ob.compare(win, incident="_err", by=cols)``'s rows that make a suspect (>= 3 error lines, a share at least
    25 points above the other lines'), best first, at most ``top``: counted per (column, value) in the engine, or
    (``on_server``: the Remote and the window's SQL) by the server, which answers only the pairs that qualify."""
    err = pl.col("_err").fill_null(False)
    if on_server is not None:
        per = [R.suspect_counts(*on_server[:1], f"error and other lines per value of {len(cols)} attributes (the "
                                f"qualifying pairs, top {top})", cols, on_server[1], n_inc, n_base, top).lazy()]
    else:
        per = [win.group_by(pl.col(c).cast(pl.String).alias("value"))
               .agg(err.sum().cast(pl.Int64).alias("incident"), (~err).sum().cast(pl.Int64).alias("baseline"))
               .select(pl.lit(c, pl.String).alias("attribute"), "value", "incident", "baseline") for c in cols]
    out = pl.concat(per).with_columns((pl.col("incident") / n_inc).alias("incident_share"),
                                      (pl.col("baseline") / n_base).alias("baseline_share"))
    out = out.with_columns((pl.col("incident_share") - pl.col("baseline_share")).alias("difference"),
                           (pl.col("incident_share") / pl.col("baseline_share")).alias("lift"))
    out = out.filter((pl.col("incident") >= 3) & (pl.col("difference") >= 0.25) & pl.col("value").is_not_null())
    rank = ["difference", "incident", "attribute", "value"]
    return run(out.sort(rank, descending=[True, True, False, False], nulls_last=True).head(top))


def suspects(ctx: Ctx) -> tuple[list[Finding], str]:
    if not ctx.has("logs"):
        return [], "no logs"
    win = ctx.logs.filter(ctx.during())
    rm = remote_of(ctx, "logs")
    in_window = rm.during(ctx.t0, ctx.t1) if rm is not None else None
    if rm is not None:
        n_win, n_err = R.counts(rm, "the window's lines and error lines", (ctx.t0, ctx.t1), None)[:2]
    else:
        n_win, n_err = run(win.select(pl.len(), pl.col("_err").sum())).row(0)
    n_win, n_err = int(n_win), int(n_err or 0)
    if n_err < 5 or n_err == n_win:
        return [], f"attribute values of the window's {n_err:,} error lines against its other lines (too few to compare)" \
            if n_err < 5 else "the window's lines (all are errors: nothing to compare with)"
    ev = ctx.reading.event_column
    sch = columns(win)
    cols = [c for c in sch if c not in _NOT_SUSPECT and c != ev and c not in (ctx.reading.key or "",)
            and not c.startswith("_") and sch[c] in (pl.String, pl.Categorical, pl.Int64, pl.Boolean)]
    if not cols:
        return [], "no attribute columns"
    # an attribute found only on error lines describes the error itself; a suspect is one shared by both
    other = win.filter(~pl.col("_err"))
    if rm is not None:
        present = R.present_shares(rm, "the share of the window's other lines with each attribute", cols,
                                   f"{in_window} AND NOT {rm.err}")
    else:
        present = run(other.select([pl.col(c).is_not_null().mean().alias(c) for c in cols])).row(0, named=True)
    cols = [c for c in cols if (present.get(c) or 0) >= 0.5]
    if not cols:
        return [], "no attribute present on both error and other lines"
    res = _over_represented(win, cols, n_err, n_win - n_err, 3, (rm, in_window) if rm is not None else None)
    out = []
    for row in res.iter_rows(named=True):
        summary = (f"`{row['attribute']}` = `{row['value']}` is on {pct(row['incident_share'])} of the window's error lines "
                   f"({row['incident']:,}) against {pct(row['baseline_share'])} of its other lines ({row['baseline']:,}).")
        nums = {k: row[k] for k in ("incident", "baseline", "incident_share", "baseline_share", "difference", "lift")}
        call = f'ob.compare(logs_in_window, incident="<error rows>", by=["{row["attribute"]}"])'
        out.append(Finding("suspect", summary, nums, call, 45 + 4 * row["difference"], row["attribute"], str(row["value"]),
                           ctx.t0, ctx.t1))
    return out, f"{len(cols)} attributes of the window's {n_err:,} error lines against its other lines"


def _patterns(frame: pl.LazyFrame, msg: str, since: int) -> pl.DataFrame:
    """``ob.log_patterns(frame, column=msg, new_since=since)``'s templates (``pattern``, ``count``, ``first``,
    ``example``, ``new``; new ones first), from the engine's distinct masked messages with their line counts:
    each distinct message is masked once in the engine, and only the distinct masked ones are mined here."""
    t = pl.col("time")
    per_mk = run(frame.select(pl.col(msg).cast(pl.String).alias("_msg"), t).filter(pl.col("_msg").is_not_null())
                 .group_by("_msg").agg(pl.len().alias("_n"), t.min().alias("first"))
                 .with_columns(mask_expr(pl.col("_msg")).alias("_mk"))
                 .group_by("_mk").agg(pl.col("_n").sum().alias("_w"), pl.col("first").min(), pl.col("_n").max().alias("_top"),
                                      pl.col("_msg").sort_by(["_n", "_msg"], descending=[True, False]).first().alias("example")))
    if per_mk.is_empty():
        return pl.DataFrame(schema={"pattern": pl.String, "count": pl.Int64, "first": TS, "example": pl.String, "new": pl.Boolean})
    found = templates(per_mk.select("_mk", "_w"))
    ids = found.select("pattern").unique()
    found = found.join(ids.with_columns(pattern_id(ids.get_column("pattern"))), on="pattern")
    out = per_mk.join(found, on="_mk", how="left").group_by("pattern").agg(
        pl.col("_w").sum().cast(pl.Int64).alias("count"), pl.col("first").min(),
        pl.col("example").sort_by(["_top", "example"], descending=[True, False]).first())
    out = out.with_columns((pl.col("first") >= pl.lit(since).cast(TS)).alias("new"))
    return out.sort(["new", "count", "pattern"], descending=[True, True, False], nulls_last=True)


def new_patterns(ctx: Ctx) -> tuple[list[Finding], str]:
    if not ctx.has("logs"):
        return [], "no logs"
    if ctx.b0 is None or ctx.baseline_how.startswith("no evidence"):
        return [], "no evidence before the window, so no pattern can be new"
    frame = ctx.logs.filter(pl.col("time") < pl.lit(ctx.t1).cast(TS))
    ev = ctx.reading.event_column
    # structured events are their own templates; free-text messages are masked into templates first
    few = structured_events(frame, ev)
    msg = ev if few else next((c for c in ("message", "msg") if c in columns(frame)), ev)
    if msg not in columns(frame):
        return [], "no message column"
    # every row, not one per distinct message: templates are mined with line counts, as ob.log_patterns(logs) does
    pats = _patterns(frame, msg, ctx.t0)
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

