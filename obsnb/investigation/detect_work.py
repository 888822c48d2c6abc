"""Findings about work: ``silence`` (an entity stops logging, or stops completing work while it keeps
logging), ``stall`` (units started and never finished), ``retry_storm`` (one unit attempted again and again)."""

from __future__ import annotations

import math

import polars as pl

from ..analysis.retries import retries
from ..timeutil import duration_ns
from .context import TS, Ctx, ns_of, quantile
from .findings import Finding, dur_arg, fmt_duration, iso
from .vocabulary import ENTITY_NAME, error_columns

__all__ = ["silences", "stalls_found", "retry_storms"]

_CADENCE_FACTOR = 5  # a silence is longer than 5x the entity's own 95th-percentile gap (and the minimum)



def _gaps(frame: pl.DataFrame, col: str, lo: int, hi: int, trailing_to: int) -> pl.DataFrame:
    """Per value of ``col``: every gap between consecutive rows, plus the trailing one to ``trailing_to``,
    with the value's own cadence (95th percentile of its gaps before ``lo``, else of all its gaps)."""
    t = pl.col("time").cast(pl.Int64)
    lists = frame.group_by(col).agg(t.sort().alias("_t"))
    rows = (lists.with_columns(pl.col("_t").list.concat(pl.lit([trailing_to], dtype=pl.List(pl.Int64))).alias("_t2"))
            .select(col, pl.col("_t2").alias("_t"), pl.col("_t").list.len().alias("_n"))
            .explode("_t")
            .with_columns((pl.col("_t") - pl.col("_t").shift(1).over(col)).alias("_d"))
            .filter(pl.col("_d").is_not_null()))
    base = rows.filter(pl.col("_t") < lo).group_by(col).agg(
        pl.col("_d").quantile(0.95, interpolation="linear").alias("_cad_b"), pl.col("_d").max().alias("_max_b"),
        pl.len().alias("_nb"))
    allc = rows.group_by(col).agg((pl.col("_d").median() * 2).alias("_cad_a"))
    rows = rows.join(base, on=col, how="left").join(allc, on=col, how="left")
    # the usual gap: the baseline's 95th percentile (>= 20 gaps), its longest (>= 3), else twice the median
    cad = (pl.when(pl.col("_nb") >= 20).then(pl.col("_cad_b"))
           .when(pl.col("_nb") >= 3).then(pl.col("_max_b")).otherwise(pl.col("_cad_a")))
    return (rows.with_columns(cad.alias("_cad"), (pl.col("_t") - pl.col("_d")).alias("_g0"))
            .filter((pl.col("_t") > lo) & (pl.col("_g0") < hi)))


def silences(ctx: Ctx) -> tuple[list[Finding], str]:
    logs = ctx.logs
    r = ctx.reading
    if logs is None or logs.is_empty() or not r.entity:
        return [], "no entity columns to watch" if logs is not None else "no logs"
    minimum = duration_ns(r.silence)
    out: list[Finding] = []
    counts = []
    upto = logs.filter(pl.col("time") < pl.lit(ctx.t1).cast(TS))
    ev = r.event_column
    work = set(r.succeeded)
    for col in r.entity:
        frame = upto.filter(pl.col(col).is_not_null()).with_columns(pl.col(col).cast(pl.String))
        n_ent = frame.get_column(col).n_unique()
        counts.append(f"{n_ent} {col}")
        # (a) the entity's whole signal stops
        g = _gaps(frame, col, ctx.t0, ctx.t1, ctx.t1)
        g = g.filter(pl.col("_d") > pl.max_horizontal(pl.lit(minimum), pl.col("_cad") * _CADENCE_FACTOR))
        seen = set()
        for row in g.sort("_d", descending=True).head(5).iter_rows(named=True):
            g0, g1 = int(row["_g0"]), int(row["_t"])
            trailing = g1 == ctx.t1
            resumed_at = None
            if trailing:
                later = logs.filter((pl.col(col).cast(pl.String) == row[col]) & (pl.col("time") >= pl.lit(ctx.t1).cast(TS)))
                resumed_at = ns_of(later.get_column("time").min()) if later.height else None
                g1 = resumed_at if resumed_at is not None else max(ctx.ev_end, ctx.t1)
            last = frame.filter((pl.col(col) == row[col]) & (pl.col("time").cast(pl.Int64) <= g0)).tail(1)
            last_row = last.row(0, named=True) if last.height else {}
            nums = {"silent_from": iso(g0), "silent_until": iso(g1), "minutes": (g1 - g0) / 6e10,
                    "resumed": not trailing or resumed_at is not None, "cadence_p95_s": row["_cad"] / 1e9,
                    "threshold_s": max(minimum, row["_cad"] * _CADENCE_FACTOR) / 1e9,
                    "last_event": last_row.get(ev), "last_source": last_row.get("_source"), "last_line": last_row.get("_line")}
            if r.key and last_row.get(r.key) is not None:
                nums["last_" + r.key] = str(last_row[r.key])
            end_txt = (f"until {ctx.t(g1)}" if (not trailing or resumed_at is not None)
                       else f"and did not log again before the evidence ends ({ctx.t(g1)})")
            about = f" about {r.key} `{last_row[r.key]}`" if r.key and last_row.get(r.key) is not None else ""
            summary = (f"`{col}` = `{row[col]}` logged nothing from {ctx.t(g0)} {end_txt}: {fmt_duration(g1 - g0)} of silence, "
                       f"against a usual gap (95th percentile) of {fmt_duration(row['_cad'])}. Its last line was "
                       f"`{last_row.get(ev)}`{about}.")
            call = (f'ob.gaps(logs[logs["{col}"] == "{row[col]}"], "{dur_arg(nums["threshold_s"] * 1e9)}", by="{col}", '
                    f'{ctx.window_args()})')
            seen.add(row[col])
            out.append(Finding("silence", summary, nums, call, 80 + min((g1 - g0) / max(minimum, 1), 10), col, row[col], g0, g1))
        # (b) it keeps logging but stops completing work
        if not work or ev not in frame.columns:
            continue
        done = frame.filter(pl.col(ev).cast(pl.String).is_in(list(work)))
        if done.is_empty():
            continue
        active = done.group_by(col).len().filter(pl.col("len") >= 5).get_column(col)
        g = _gaps(done.filter(pl.col(col).is_in(active.implode())), col, ctx.t0, ctx.t1, ctx.t1)
        g = g.filter(pl.col("_d") > pl.max_horizontal(pl.lit(minimum), pl.col("_cad") * _CADENCE_FACTOR))
        for row in g.sort("_d", descending=True).head(5).iter_rows(named=True):
            g0, g1 = int(row["_g0"]), int(row["_t"])
            mine = frame.filter((pl.col(col) == row[col]) & (pl.col("time").cast(pl.Int64) > g0)
                                & (pl.col("time").cast(pl.Int64) < g1))
            if mine.height < 3 or row[col] in seen:
                continue  # no life in the gap: (a) covers it, or too little to say it kept going
            trailing = g1 == ctx.t1
            hb = int(mine.get_column(ev).cast(pl.String).is_in(r.heartbeat).sum()) if r.heartbeat else 0
            nums = {"no_completion_from": iso(g0), "no_completion_until": iso(g1), "minutes": (g1 - g0) / 6e10,
                    "lines_meanwhile": mine.height, "heartbeats_meanwhile": hb, "completion_event": ", ".join(sorted(work)),
                    "cadence_p95_s": row["_cad"] / 1e9, "resumed": not trailing}
            until = f"to {ctx.t(g1)}" if not trailing else f"to the end of the window ({ctx.t(g1)})"
            hb_txt = f", {hb:,} of them heartbeats" if hb else ""
            summary = (f"`{col}` = `{row[col]}` completed no work (`{', '.join(sorted(work))}`) from {ctx.t(g0)} {until}: "
                       f"{fmt_duration(g1 - g0)}, while it kept logging ({mine.height:,} lines{hb_txt}).")
            call = (f'ob.gaps(logs[logs["{ev}"].isin({sorted(work)!r})], "{dur_arg(max(minimum, row["_cad"] * _CADENCE_FACTOR))}", '
                    f'by="{col}", {ctx.window_args()})')
            out.append(Finding("silence", summary, nums, call, 82 + min((g1 - g0) / max(minimum, 1), 10), col, row[col], g0, g1))
    return out, ", ".join(counts) + f" watched for silences longer than {r.silence} and 5x their own usual gap"


def _counting(ctx: Ctx, frame: pl.DataFrame) -> tuple[pl.Expr | None, dict, str]:
    """How attempts are counted, as an aggregation, as ``ob.retries`` keywords and as their text: start events
    when the start event is a per-attempt one, else the attempt column, else one attempt per failure event."""
    r = ctx.reading
    ev = pl.col(r.event_column).cast(pl.String)
    enqueue_only = r.started and "enqueue-like" in r.why.get("started", "")
    if r.started and not enqueue_only:
        return ev.is_in(r.started).sum(), {"started": r.started}, f"started={r.started!r}"
    if "attempt" in frame.columns:
        return pl.col("attempt").drop_nulls().n_unique(), {"attempt": "attempt"}, 'attempt="attempt"'
    if r.failed:  # no per-attempt start, no attempt column: each failure is an attempt
        return ev.is_in(r.failed).sum(), {"started": r.failed}, f"started={r.failed!r}"
    return None, {}, ""


def retry_storms(ctx: Ctx) -> tuple[list[Finding], str]:
    r = ctx.reading
    if ctx.logs is None or r.key is None:
        return [], "no unit-of-work key"
    frame = ctx.logs.filter(pl.col(r.key).is_not_null() & (pl.col("time") < pl.lit(max(ctx.t1, ctx.ev_end + 1)).cast(TS)))
    count, kw, counted = _counting(ctx, frame)
    if count is None or frame.is_empty():
        return [], f"attempts per `{r.key}`: no start event or attempt column to count them"
    # attempts of every unit, cheaply (one group-by over two columns); the details only for the storms
    per = frame.group_by(r.key).agg(count.cast(pl.Int64).alias("attempts"), pl.col("time").min().alias("first"),
                                    pl.col("time").max().alias("last"))
    # what is usual: the attempts of units that began before the window (when there are enough of them)
    usual = per.filter(pl.col("first") < pl.lit(ctx.t0).cast(TS))
    usual = usual if usual.height >= 20 else per
    p99 = quantile(usual.get_column("attempts").cast(pl.Float64), 0.99) or 1.0
    limit = r.retry_min_attempts or max(5, math.ceil(2 * p99))
    hot = per.filter((pl.col("attempts") >= limit) & (pl.col("last") >= pl.lit(ctx.t0).cast(TS))).get_column(r.key)
    att = retries(frame.filter(pl.col(r.key).is_in(hot.implode())), key=r.key, min_attempts=limit, **kw)
    att = att.with_columns(pl.lit(per.height).alias("_units"))
    storm = att
    out = []
    for row in storm.sort(["attempts", r.key], descending=[True, False]).head(5).iter_rows(named=True):
        unit = str(row[r.key])
        rows = frame.filter(pl.col(r.key).cast(pl.String) == unit)
        traces = rows.get_column("trace_id").drop_nulls().unique().to_list() if "trace_id" in rows.columns else []
        failed_n = int(rows.get_column("_err").sum())
        kinds = error_columns(rows)
        errors = None
        if kinds:  # the error types (or texts) of the unit's error rows, most frequent first
            vals = rows.filter(pl.col("_err")).get_column(kinds[0]).drop_nulls().value_counts(sort=True)
            errors = ", ".join(str(v)[:120] for v in vals.get_column(kinds[0]).head(3).to_list()) or None
        nums = {"attempts": int(row["attempts"]), "failed_attempts": failed_n, "first": iso(ns_of(row["first"])), "last": iso(ns_of(row["last"])),
                "error_types": errors or row.get("error_types"), "error_column": kinds[0] if kinds else None, "last_event": row.get("last_event"), "threshold": limit,
                "p99_attempts_usual": p99, "units": per.height, "trace_ids": sorted(map(str, traces))[:5]}
        errs = f"; its errors (`{kinds[0]}`): {errors}" if errors else ""
        summary = (f"`{r.key}` `{unit}` was attempted {int(row['attempts']):,} times ({failed_n:,} error lines) from {ctx.t(ns_of(row['first']))} to "
                   f"{ctx.t(ns_of(row['last']))} (99% of the {usual.height:,} units {'begun before the window' if usual is not per else 'seen'} took at most {p99:.0f}){errs}; "
                   f"its last event was `{row.get('last_event')}`.")
        call = f'ob.retries(logs, key="{r.key}", min_attempts={limit}, {counted})'
        out.append(Finding("retry_storm", summary, nums, call, 70 + min(row["attempts"] / limit, 10), r.key, unit,
                           ns_of(row["first"]), ns_of(row["last"])))
    return out, f"attempts of {per.height:,} units (`{r.key}`), a storm being {limit} or more"


def stalls_found(ctx: Ctx) -> tuple[list[Finding], str]:
    r = ctx.reading
    if ctx.logs is None or r.key is None or not r.started or not (r.succeeded or r.failed):
        return [], "needs a unit key with start and finish events"
    frame = ctx.logs.filter(pl.col(r.key).is_not_null())
    ev = r.event_column
    finish = [*r.succeeded, *r.failed]
    # a unit's usual duration: from its first start to its first finish
    d = (frame.filter(pl.col(ev).cast(pl.String).is_in([*r.started, *finish]))
         .group_by(r.key).agg(pl.col("time").filter(pl.col(ev).cast(pl.String).is_in(r.started)).min().alias("s"),
                              pl.col("time").filter(pl.col(ev).cast(pl.String).is_in(finish)).min().alias("f"))
         .filter(pl.col("f").is_not_null() & pl.col("s").is_not_null() & (pl.col("f") >= pl.col("s"))))
    p95 = quantile((d.get_column("f") - d.get_column("s")).dt.total_nanoseconds().cast(pl.Float64), 0.95) if d.height else None
    after = duration_ns(r.stall_after) if r.stall_after else max(duration_ns("15min"), int(10 * (p95 or 0)))
    at = max(ctx.ev_end, ctx.t0)
    # every attempt (a start event) whose next start/finish of the same unit is another start, or nothing,
    # and came more than `after` later: that attempt never finished (abandoned, or still in flight)
    marks = (frame.filter(pl.col(ev).cast(pl.String).is_in([*r.started, *finish]))
             .select(pl.col(r.key).cast(pl.String), "time", pl.col(ev).cast(pl.String).is_in(r.started).alias("_s"),
                     *[pl.col(c).cast(pl.String) for c in r.entity if c in frame.columns])
             .sort([r.key, "time"], maintain_order=True))
    same = pl.col(r.key).shift(-1) == pl.col(r.key)  # sorted by unit: the next row is the unit's next mark
    marks = marks.with_columns(pl.when(same).then(pl.col("time").shift(-1)).alias("_next_t"),
                               pl.when(same).then(pl.col("_s").shift(-1)).alias("_next_s"))
    at_lit = pl.lit(at).cast(TS)
    open_ = marks.filter(pl.col("_s") & (pl.col("_next_s").is_null() | pl.col("_next_s"))
                         & pl.col("time").lt(pl.lit(ctx.t1).cast(TS)))
    open_ = open_.with_columns((pl.coalesce([pl.col("_next_t"), at_lit]) - pl.col("time")).alias("age"),
                               pl.col("_next_t").is_null().alias("_never"))
    st = (open_.filter(pl.col("age").dt.total_nanoseconds() > after)
          .rename({"time": "started"}).sort(["age", r.key], descending=[True, False]))
    looked = f"{frame.get_column(r.key).n_unique():,} units (`{r.key}`) for an attempt with no finish after {fmt_duration(after)}"
    if st.is_empty():
        return [], looked
    ids = list(dict.fromkeys(str(x) for x in st.get_column(r.key).to_list()))
    never = sorted(set(st.filter(pl.col("_never")).get_column(r.key).to_list()))
    oldest = st.row(0, named=True)
    ent = {c: sorted(set(st.get_column(c).drop_nulls().to_list()))[:10] for c in r.entity if c in st.columns}
    nums = {"units": len(ids), "ids": ids[:20], "never_finished": never[:20], "retried_later": len(ids) - len(never),
            "oldest": str(oldest[r.key]), "oldest_started": iso(ns_of(oldest["started"])),
            "oldest_age_s": oldest["age"].total_seconds(), "judged_at": iso(at), "stall_after_s": after / 1e9,
            "usual_duration_p95_s": None if p95 is None else p95 / 1e9, "entities": ent}
    where = "; ".join(f"`{c}`: {', '.join(v)}" for c, v in ent.items() if v)
    later = (f"; {len(ids) - len(never):,} of them were started again later, {len(never):,} never finished"
             if len(ids) != len(never) else "")
    summary = (f"{len(ids):,} unit{'s' if len(ids) != 1 else ''} (`{r.key}`) had an attempt that never finished "
               f"(no {', '.join(f'`{e}`' for e in finish)} within {fmt_duration(after)}){later}; the longest, "
               f"`{oldest[r.key]}`, started at {ctx.t(ns_of(oldest['started']))} and waited {fmt_duration(oldest['age'].total_seconds() * 1e9)}"
               + (f" ({where})." if where else "."))
    call = (f'ob.stalls(logs, key="{r.key}", started={r.started!r}, finished={finish!r}, older_than="{dur_arg(after)}")')
    return [Finding("stall", summary, nums, call, 65 + min(len(ids), 10) / 2, r.key, str(oldest[r.key]),
                    ns_of(oldest["started"]), ns_of(oldest["started"]) + int(oldest["age"].total_seconds() * 1e9))], looked


_WORK_COUNTER = r"(?i)(process|complet|succe|done|handled|consum|deliver|finish|jobs|tasks|messages|records|items|requests|runs)"
_NOT_WORK = r"(?i)(fail|error|retr|reject|timeout|_created$|_bucket$|_sum$|enqueue|sent)"
_LABELS_NEVER = {"time", "metric", "value", "_source", "_line", "_type", "_temporality", "le", "quantile"}


def counter_silences(ctx: Ctx) -> tuple[list[Finding], str]:
    """An entity's work counter (``*_total`` / ``*_count`` named for completed work) stops increasing while the
    entity is still scraped: the metrics' view of a silence. A counter reset (a drop) counts as an increase."""
    me = ctx.metrics
    if me is None or me.is_empty():
        return [], "no metrics"


    name = pl.col("metric").cast(pl.String)
    work = me.filter(name.str.contains(r"(_total|_count)$") & name.str.contains(_WORK_COUNTER) & ~name.str.contains(_NOT_WORK))
    labels = [c for c in work.columns if c not in _LABELS_NEVER and ENTITY_NAME.search(c)
              and work.schema[c] == pl.String and work.get_column(c).n_unique() >= 2]
    if work.is_empty() or not labels:
        return [], "no work counter with an instance-like label in the metrics"
    col = labels[0]
    other = [c for c in work.columns if c not in _LABELS_NEVER and c != col and work.schema[c] in (pl.String, pl.Categorical)]
    series = ["metric", col, *other]
    w = (work.filter(pl.col(col).is_not_null()).sort("time")
         .with_columns((pl.col("value") - pl.col("value").shift(1).over(series)).alias("_d")))
    w = w.with_columns(pl.when(pl.col("_d") < 0).then(pl.col("value")).otherwise(pl.col("_d")).alias("_inc"))
    # per (metric, entity): sample times, and the times at which its work went up
    per = w.group_by(["metric", col, "time"]).agg(pl.col("_inc").sum().alias("_inc"))
    minimum = duration_ns(ctx.reading.silence)
    out = []
    n_series = per.select(pl.struct("metric", col).n_unique()).item()
    for (metric,), g in per.group_by("metric", maintain_order=True):
        ups = g.filter(pl.col("_inc") > 0).select(pl.col(col), "time").with_columns(pl.col(col).cast(pl.String))
        if ups.is_empty():
            continue
        last_seen = g.group_by(col).agg(pl.col("time").max().cast(pl.Int64).alias("_seen"))
        gaps = _gaps(ups.filter(pl.col("time") < pl.lit(ctx.t1).cast(TS)), col, ctx.t0, ctx.t1, ctx.t1)
        gaps = gaps.filter(pl.col("_d") > pl.max_horizontal(pl.lit(minimum), pl.col("_cad") * _CADENCE_FACTOR))
        gaps = gaps.join(last_seen.with_columns(pl.col(col).cast(pl.String)), on=col, how="left")
        for row in gaps.sort("_d", descending=True).head(3).iter_rows(named=True):
            g0, g1 = int(row["_g0"]), int(row["_t"])
            scraped = (row["_seen"] or 0) >= min(g1, ctx.t1) - 2 * int(row["_cad"] or 0)
            nums = {"metric": metric, "flat_from": iso(g0), "flat_until": iso(g1), "minutes": (g1 - g0) / 6e10,
                    "still_scraped": bool(scraped), "cadence_p95_s": row["_cad"] / 1e9, "resumed": g1 != ctx.t1}
            until = f"to {ctx.t(g1)}" if g1 != ctx.t1 else f"to the end of the window ({ctx.t(g1)})"
            summary = (f"`{col}` = `{row[col]}`: `{metric}` did not increase from {ctx.t(g0)} {until} ({fmt_duration(g1 - g0)}), "
                       f"against an increase at least every {fmt_duration(row['_cad'])} usually"
                       + ("; the series was still scraped." if scraped else "; the series stopped being scraped."))
            call = f'ob.increase(metrics[metrics["metric"] == "{metric}"], "5min", by="{col}")'
            out.append(Finding("silence", summary, nums, call, 79 + min((g1 - g0) / max(minimum, 1), 10), col,
                               str(row[col]), g0, g1))
    return out, f"{n_series} work counters per `{col}` in the metrics"
