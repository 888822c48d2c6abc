"""Findings about work: ``silence`` (an entity stops logging, or stops completing work while it keeps
logging), ``stall`` (units started and never finished), ``retry_storm`` (one unit attempted again and again)."""

from __future__ import annotations

import math

import polars as pl

from ..analysis.retries import retries_plan
from ..timeutil import duration_ns
from .context import TS, Ctx, columns, count, examples, ns_of, q, run
from . import remote_sql as R
from .findings import Finding, dur_arg, fmt_duration, iso
from .remote import q as sql_text, remote_of
from .vocabulary import ATTEMPT_NAME, ENTITY_NAME, error_columns

__all__ = ["silences", "stalls_found", "retry_storms"]

_CADENCE_FACTOR = 5  # a silence is longer than 5x the entity's own 95th-percentile gap (and the minimum)



def _gaps(frame: pl.LazyFrame, col: str, lo: int, hi: int, trailing_to: int) -> pl.LazyFrame:
    """Per value of ``col``: every gap between consecutive rows, plus the trailing one to ``trailing_to``,
    with the value's own cadence (95th percentile of its gaps before ``lo``, else of all its gaps). A query:
    the engine holds the times of each value (8 bytes a row), the caller collects only the gaps it keeps."""
    t = pl.col("time").cast(pl.Int64)
    lists = frame.select(col, "time").group_by(col).agg(t.sort().alias("_t"))
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


def _top_gaps(g: pl.LazyFrame, col: str, minimum: int, k: int) -> pl.DataFrame:
    """The ``k`` longest gaps past the silence threshold (ties: by entity, then time). An entity with no usual
    gap of its own from the baseline (fewer than 3 gaps there) needs 20 rows in all: a few lines (one burst of a
    deploy tool's messages) tell no cadence, so their end is not a silence."""
    cadence_known = (pl.col("_nb").fill_null(0) >= 3) | (pl.col("_n") >= 20)
    g = g.filter((pl.col("_d") > pl.max_horizontal(pl.lit(minimum), pl.col("_cad") * _CADENCE_FACTOR)) & cadence_known)
    return run(g.sort(["_d", col, "_t"], descending=[True, False, False]).head(k))


def silences(ctx: Ctx) -> tuple[list[Finding], str]:
    logs = ctx.logs
    r = ctx.reading
    if not ctx.has("logs") or not r.entity:
        return [], "no entity columns to watch" if logs is not None else "no logs"
    minimum = duration_ns(r.silence)
    out: list[Finding] = []
    counts = []
    upto = logs.filter(pl.col("time") < pl.lit(ctx.t1).cast(TS))
    ev = r.event_column
    work = set(r.succeeded)
    rm = remote_of(ctx, "logs")
    for col in r.entity:
        frame = upto.filter(pl.col(col).is_not_null()).with_columns(pl.col(col).cast(pl.String))
        if rm is not None:  # the server: distinct entities, then each one's gaps (lagInFrame) and the longest 5
            n_ent = R.distinct(rm, f"the distinct `{col}`", {"n": rm.expr(col)},
                               f"{rm.during(None, ctx.t1)} AND {rm.expr(col)} IS NOT NULL")["n"]
            g = R.gaps(rm, f"the longest gaps per `{col}` past the silence threshold (top 5)", col, "1", ctx.t0, ctx.t1,
                       minimum, _CADENCE_FACTOR, 5)
        else:
            n_ent = run(frame.select(pl.col(col).n_unique())).item()
            g = _top_gaps(_gaps(frame, col, ctx.t0, ctx.t1, ctx.t1), col, minimum, 5)
        counts.append(f"{n_ent} {col}")
        # (a) the entity's whole signal stops
        seen = set()
        for row in g.iter_rows(named=True):
            g0, g1 = int(row["_g0"]), int(row["_t"])
            trailing = g1 == ctx.t1
            resumed_at = None
            if trailing and rm is not None:  # the evidence on the server ends at the window's end: nothing later
                g1 = max(ctx.ev_end, ctx.t1)
            elif trailing:
                later = logs.filter((pl.col(col).cast(pl.String) == row[col]) & (pl.col("time") >= pl.lit(ctx.t1).cast(TS)))
                first_later = run(later.select(pl.col("time").min())).item()
                resumed_at = ns_of(first_later) if first_later is not None else None
                g1 = resumed_at if resumed_at is not None else max(ctx.ev_end, ctx.t1)
            if rm is not None:
                keep = ["time", ev, "_source", "_line", *([r.key] if r.key else [])]
                last = R.examples(rm, f"the last line of `{col}` `{row[col]}` before its silence (LIMIT 1)",
                                  f"toString({rm.expr(col)}) = {sql_text(str(row[col]))} AND {rm.during(None, g0 + 1)}", 1,
                                  latest=True, names=keep)
            else:
                last = examples(frame.filter((pl.col(col) == row[col]) & (pl.col("time").cast(pl.Int64) <= g0)), "time", 1,
                                latest=True)
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
        if not work or ev not in columns(frame):
            continue
        done = frame.filter(pl.col(ev).cast(pl.String).is_in(list(work)))
        active = run(done.group_by(col).len().filter(pl.col("len") >= 5).select(col)).get_column(col)
        if active.is_empty():
            continue
        g = _top_gaps(_gaps(done.filter(pl.col(col).is_in(active.implode())), col, ctx.t0, ctx.t1, ctx.t1), col, minimum, 5)
        for row in g.iter_rows(named=True):
            g0, g1 = int(row["_g0"]), int(row["_t"])
            mine = frame.filter((pl.col(col) == row[col]) & (pl.col("time").cast(pl.Int64) > g0)
                                & (pl.col("time").cast(pl.Int64) < g1))
            beat = pl.col(ev).cast(pl.String).is_in(r.heartbeat).sum() if r.heartbeat else pl.lit(0)
            n_mine, hb = run(mine.select(pl.len(), beat)).row(0)
            if n_mine < 3 or row[col] in seen:
                continue  # no life in the gap: (a) covers it, or too little to say it kept going
            trailing = g1 == ctx.t1
            hb = int(hb or 0)
            nums = {"no_completion_from": iso(g0), "no_completion_until": iso(g1), "minutes": (g1 - g0) / 6e10,
                    "lines_meanwhile": n_mine, "heartbeats_meanwhile": hb, "completion_event": ", ".join(sorted(work)),
                    "cadence_p95_s": row["_cad"] / 1e9, "resumed": not trailing}
            until = f"to {ctx.t(g1)}" if not trailing else f"to the end of the window ({ctx.t(g1)})"
            hb_txt = f", {hb:,} of them heartbeats" if hb else ""
            summary = (f"`{col}` = `{row[col]}` completed no work (`{', '.join(sorted(work))}`) from {ctx.t(g0)} {until}: "
                       f"{fmt_duration(g1 - g0)}, while it kept logging ({n_mine:,} lines{hb_txt}).")
            call = (f'ob.gaps(logs[logs["{ev}"].isin({sorted(work)!r})], "{dur_arg(max(minimum, row["_cad"] * _CADENCE_FACTOR))}", '
                    f'by="{col}", {ctx.window_args()})')
            out.append(Finding("silence", summary, nums, call, 82 + min((g1 - g0) / max(minimum, 1), 10), col, row[col], g0, g1))
    return out, ", ".join(counts) + f" watched for silences longer than {r.silence} and 5x their own usual gap"


def _counting(ctx: Ctx, frame: pl.LazyFrame) -> tuple[pl.Expr | None, dict, str]:
    """How attempts are counted, as an aggregation, as ``ob.retries`` keywords and as their text: start events
    when the start event is a per-attempt one, else the attempt column, else one attempt per failure event."""
    r = ctx.reading
    ev = pl.col(r.event_column).cast(pl.String)
    enqueue_only = r.started and "enqueue-like" in r.why.get("started", "")
    if r.started and not enqueue_only:
        return ev.is_in(r.started).sum(), {"started": r.started}, f"started={r.started!r}"
    sch = columns(frame)
    # the attempt number as the vocabulary reads it (``attempt``, ``try_number``, ``retry_count``, ...)
    col = "attempt" if "attempt" in sch else next(
        (c for c in sch if ATTEMPT_NAME.search(c) and (sch[c].is_numeric() or sch[c] == pl.String)), None)
    if col is not None:
        return pl.col(col).drop_nulls().n_unique(), {"attempt": col}, f'attempt="{col}"'
    if r.failed:  # no per-attempt start, no attempt column: each failure is an attempt
        return ev.is_in(r.failed).sum(), {"started": r.failed}, f"started={r.failed!r}"
    return None, {}, ""


def retry_storms(ctx: Ctx) -> tuple[list[Finding], str]:
    r = ctx.reading
    if ctx.logs is None or r.key is None:
        return [], "no unit-of-work key"
    frame = ctx.logs.filter(pl.col(r.key).is_not_null() & (pl.col("time") < pl.lit(max(ctx.t1, ctx.ev_end + 1)).cast(TS)))
    count_, kw, counted = _counting(ctx, frame)
    if count_ is None or not count(frame):
        return [], f"attempts per `{r.key}`: no start event or attempt column to count them"
    # attempts of every unit, in the engine (one group-by over two columns); the details only for the storms
    per = frame.group_by(r.key).agg(count_.cast(pl.Int64).alias("attempts"), pl.col("time").min().alias("first"),
                                    pl.col("time").max().alias("last"))
    # what is usual: the attempts of units that began before the window (when there are enough of them)
    began = pl.col("first") < pl.lit(ctx.t0).cast(TS)
    units, n_early, p99_early, p99_all = run(per.select(
        pl.len(), began.sum().alias("early"), q(pl.col("attempts").filter(began).cast(pl.Float64), 0.99).alias("p_early"),
        q(pl.col("attempts").cast(pl.Float64), 0.99).alias("p_all"))).row(0)
    early = (n_early or 0) >= 20
    n_usual = int(n_early) if early else int(units)
    p99 = (p99_early if early else p99_all) or 1.0
    limit = r.retry_min_attempts or max(5, math.ceil(2 * p99))
    # the 5 storms reported (most attempts first, as ob.retries ranks them): their rows only, in the engine
    hot = (per.filter((pl.col("attempts") >= limit) & (pl.col("last") >= pl.lit(ctx.t0).cast(TS)))
           .sort(["attempts", r.key], descending=[True, False]).head(5).select(r.key))
    att = run(retries_plan(frame.join(hot, on=r.key, how="semi"), key=r.key, min_attempts=limit, **kw))
    kinds = error_columns(frame)
    has_trace = "trace_id" in columns(frame)
    out = []
    for row in att.sort(["attempts", r.key], descending=[True, False]).head(5).iter_rows(named=True):
        unit = str(row[r.key])
        rows = frame.filter(pl.col(r.key).cast(pl.String) == unit)
        tr = (pl.col("trace_id").drop_nulls().cast(pl.String).unique().sort().head(5).implode() if has_trace
              else pl.lit([], pl.List(pl.String)))
        failed_n, traces = run(rows.select(pl.col("_err").sum(), tr)).row(0)
        failed_n = int(failed_n or 0)
        errors = None
        if kinds:  # the error types (or texts) of the unit's error rows, most frequent first
            vals = run(rows.filter(pl.col("_err") & pl.col(kinds[0]).is_not_null()).group_by(kinds[0]).len()
                       .sort(["len", kinds[0]], descending=[True, False]).head(3))
            errors = ", ".join(str(v)[:120] for v in vals.get_column(kinds[0]).to_list()) or None
        nums = {"attempts": int(row["attempts"]), "failed_attempts": failed_n, "first": iso(ns_of(row["first"])), "last": iso(ns_of(row["last"])),
                "error_types": errors or row.get("error_types"), "error_column": kinds[0] if kinds else None, "last_event": row.get("last_event"), "threshold": limit,
                "p99_attempts_usual": p99, "units": units, "trace_ids": list(traces or [])}
        errs = f"; its errors (`{kinds[0]}`): {errors}" if errors else ""
        summary = (f"`{r.key}` `{unit}` was attempted {int(row['attempts']):,} times ({failed_n:,} error lines) from {ctx.t(ns_of(row['first']))} to "
                   f"{ctx.t(ns_of(row['last']))} (99% of the {n_usual:,} units {'begun before the window' if early else 'seen'} took at most {p99:.0f}){errs}; "
                   f"its last event was `{row.get('last_event')}`.")
        call = f'ob.retries(logs, key="{r.key}", min_attempts={limit}, {counted})'
        out.append(Finding("retry_storm", summary, nums, call, 70 + min(row["attempts"] / limit, 10), r.key, unit,
                           ns_of(row["first"]), ns_of(row["last"])))
    return out, f"attempts of {units:,} units (`{r.key}`), a storm being {limit} or more"


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
    p95 = run(d.select(q((pl.col("f") - pl.col("s")).dt.total_nanoseconds().cast(pl.Float64), 0.95))).item()
    after = duration_ns(r.stall_after) if r.stall_after else max(duration_ns("15min"), int(10 * (p95 or 0)))
    at = max(ctx.ev_end, ctx.t0)
    # every attempt (a start event) whose next start/finish of the same unit is another start, or nothing,
    # and came more than `after` later: that attempt never finished (abandoned, or still in flight)
    ents = [c for c in r.entity if c in columns(frame)]
    marks = (frame.filter(pl.col(ev).cast(pl.String).is_in([*r.started, *finish]))
             .select(pl.col(r.key).cast(pl.String), "time", pl.col(ev).cast(pl.String).is_in(r.started).alias("_s"),
                     *[pl.col(c).cast(pl.String) for c in ents])
             .sort([r.key, "time"], maintain_order=True))
    same = pl.col(r.key).shift(-1) == pl.col(r.key)  # sorted by unit: the next row is the unit's next mark
    marks = marks.with_columns(pl.when(same).then(pl.col("time").shift(-1)).alias("_next_t"),
                               pl.when(same).then(pl.col("_s").shift(-1)).alias("_next_s"))
    at_lit = pl.lit(at).cast(TS)
    open_ = marks.filter(pl.col("_s") & (pl.col("_next_s").is_null() | pl.col("_next_s"))
                         & pl.col("time").lt(pl.lit(ctx.t1).cast(TS)))
    open_ = open_.with_columns((pl.coalesce([pl.col("_next_t"), at_lit]) - pl.col("time")).alias("age"),
                               pl.col("_next_t").is_null().alias("_never"))
    st = open_.filter(pl.col("age").dt.total_nanoseconds() > after).rename({"time": "started"})
    looked = (f"{run(frame.select(pl.col(r.key).n_unique())).item():,} units (`{r.key}`) for an attempt with no finish "
              f"after {fmt_duration(after)}")
    # what the finding reports, each aggregated in the engine: the units (longest wait first), those never
    # finished, the oldest attempt, and the entities involved
    key = pl.col(r.key)
    # one run of them all: the engine sorts the marks once for every query (common subplans), not once a query
    got = pl.collect_all([st.select(key.n_unique().alias("ids"), key.filter(pl.col("_never")).n_unique().alias("never")),
                          st.group_by(r.key).agg(pl.col("age").max()).sort(["age", r.key], descending=[True, False]).head(20),
                          st.filter(pl.col("_never")).select(key.unique().sort().head(20)),
                          st.sort(["age", r.key, "started"], descending=[True, False, False], maintain_order=True).head(1),
                          *[st.select(pl.col(c).drop_nulls().unique().sort().head(10)) for c in ents]], engine="streaming")
    n_ids, n_never = got[0].row(0)
    if not n_ids:
        return [], looked
    ids, never = got[1].get_column(r.key).to_list(), got[2].get_column(r.key).to_list()
    oldest = got[3].row(0, named=True)
    ent = {c: g.get_column(c).to_list() for c, g in zip(ents, got[4:])}
    ids_n, never_n = int(n_ids), int(n_never)
    nums = {"units": ids_n, "ids": ids, "never_finished": never, "retried_later": ids_n - never_n,
            "oldest": str(oldest[r.key]), "oldest_started": iso(ns_of(oldest["started"])),
            "oldest_age_s": oldest["age"].total_seconds(), "judged_at": iso(at), "stall_after_s": after / 1e9,
            "usual_duration_p95_s": None if p95 is None else p95 / 1e9, "entities": ent}
    where = "; ".join(f"`{c}`: {', '.join(v)}" for c, v in ent.items() if v)
    later = (f"; {ids_n - never_n:,} of them were started again later, {never_n:,} never finished"
             if ids_n != never_n else "")
    summary = (f"{ids_n:,} unit{'s' if ids_n != 1 else ''} (`{r.key}`) had an attempt that never finished "
               f"(no {', '.join(f'`{e}`' for e in finish)} within {fmt_duration(after)}){later}; the longest, "
               f"`{oldest[r.key]}`, started at {ctx.t(ns_of(oldest['started']))} and waited {fmt_duration(oldest['age'].total_seconds() * 1e9)}"
               + (f" ({where})." if where else "."))
    call = (f'ob.stalls(logs, key="{r.key}", started={r.started!r}, finished={finish!r}, older_than="{dur_arg(after)}")')
    return [Finding("stall", summary, nums, call, 65 + min(ids_n, 10) / 2, r.key, str(oldest[r.key]),
                    ns_of(oldest["started"]), ns_of(oldest["started"]) + int(oldest["age"].total_seconds() * 1e9))], looked


_WORK_COUNTER = r"(?i)(process|complet|succe|done|handled|consum|deliver|finish|jobs|tasks|messages|records|items|requests|runs)"
_NOT_WORK = r"(?i)(fail|error|retr|reject|timeout|_created$|_bucket$|_sum$|enqueue|sent)"
_LABELS_NEVER = {"time", "metric", "value", "_source", "_line", "_type", "_temporality", "le", "quantile"}


def counter_silences(ctx: Ctx) -> tuple[list[Finding], str]:
    """An entity's work counter (``*_total`` / ``*_count``, or a cumulative OTLP counter, named for completed work)
    stops increasing while the entity is still scraped: the metrics' view of a silence. A counter reset (a drop) counts as an increase."""
    me = ctx.metrics
    if not ctx.has("metrics"):
        return [], "no metrics"
    name = pl.col("metric").cast(pl.String)
    counter = name.str.contains(r"(_total|_count)$")
    have = columns(me)
    if "_type" in have:  # an OTLP monotonic sum, named the OpenTelemetry way (no _total); cumulative, as diffs need
        cumulative = (pl.col("_temporality").cast(pl.String).fill_null("cumulative") == "cumulative"
                      if "_temporality" in have else pl.lit(True))
        counter = counter | ((pl.col("_type").cast(pl.String) == "counter") & cumulative).fill_null(False)
    work = me.filter(counter & name.str.contains(_WORK_COUNTER) & ~name.str.contains(_NOT_WORK))
    sch = columns(work)
    cands = [c for c in sch if c not in _LABELS_NEVER and ENTITY_NAME.search(c) and sch[c] == pl.String]
    n_work, *distinct = run(work.select(pl.len(), *[pl.col(c).n_unique() for c in cands])).row(0)
    labels = [c for c, n in zip(cands, distinct) if n >= 2]
    if not n_work or not labels:
        return [], "no work counter with an instance-like label in the metrics"
    col = labels[0]
    other = [c for c in sch if c not in _LABELS_NEVER and c != col and sch[c] in (pl.String, pl.Categorical)]
    series = ["metric", col, *other]
    w = (work.filter(pl.col(col).is_not_null()).select("time", "value", *series).sort("time", maintain_order=True)
         .with_columns((pl.col("value") - pl.col("value").shift(1).over(series)).alias("_d")))
    w = w.with_columns(pl.when(pl.col("_d") < 0).then(pl.col("value")).otherwise(pl.col("_d")).alias("_inc"))
    # per (metric, entity): sample times, and the times at which its work went up
    per = w.group_by(["metric", col, "time"]).agg(pl.col("_inc").sum().alias("_inc"))
    minimum = duration_ns(ctx.reading.silence)
    out = []
    n_series = run(per.select(pl.struct("metric", col).n_unique())).item()
    metrics = run(per.filter(pl.col("_inc") > 0).select(pl.col("metric").unique().sort())).get_column("metric").to_list()
    for metric in metrics:
        g = per.filter(pl.col("metric") == metric)
        ups = g.filter(pl.col("_inc") > 0).select(pl.col(col), "time").with_columns(pl.col(col).cast(pl.String))
        last_seen = g.group_by(col).agg(pl.col("time").max().cast(pl.Int64).alias("_seen"))
        gaps = _gaps(ups.filter(pl.col("time") < pl.lit(ctx.t1).cast(TS)), col, ctx.t0, ctx.t1, ctx.t1)
        gaps = _top_gaps(gaps.join(last_seen.with_columns(pl.col(col).cast(pl.String)), on=col, how="left"), col, minimum, 3)
        for row in gaps.iter_rows(named=True):
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
