"""Findings about what changed and what the evidence cannot tell: ``change`` (deploys, releases, config
changes, restarts, a new ``service.version``) and ``telemetry_gap``."""

from __future__ import annotations

import polars as pl

from .context import TS, Ctx, columns, count, ns_of, pct, run
from .findings import Finding, fmt_value, iso
from ..analysis.failures import HTTP_STATUS_COLUMNS, OUTCOME_COLUMNS, STATUS_WORD_COLUMNS, http_code_columns
from .vocabulary import CHANGE_WORDS, RESTART_WORDS, VERSION_COLUMNS, structured_events

__all__ = ["changes", "telemetry_gaps"]

_SKIP = {"time", "level", "trace_id", "span_id", "_source", "_line", "_err", "level_original"}
_MAX = 12
_BURST = 10 * 60 * 10**9
_SAME_CHANGE = 5 * 60 * 10**9
_EVIDENCE_START = 2 * 60 * 10**9



def _fields(row: dict, ev: str, ints: set[str] = frozenset(), limit: int = 6) -> dict:
    """The row's values as text (at most ``limit``), each in its column's type (``ints``: float columns holding only
    whole numbers, as pandas holds an integer column with nulls)."""
    out = {}
    for k, v in row.items():
        if k in _SKIP or k.startswith("_") or k == ev or v is None or str(v) == "" or len(out) >= limit:
            continue
        out[k] = fmt_value(v, k in ints)[:200]
    return out


def _rolled_out(rows: pl.LazyFrame, ev: str, ents: list[str]) -> pl.LazyFrame:
    """One row per change, in the engine: rows with the same event and the same values in every other column but
    the entity columns (and time, provenance) that follow each other within 5 min are one change rolled out to
    several entities. Each: the first row's columns, ``_n`` rows, ``_t0``/``_t1`` first and last times, and per
    entity column ``_who:<col>`` its first 5 values in time order and ``_nwho:<col>`` how many."""
    sch = columns(rows)
    ents = [c for c in ents if c in sch]
    same = [c for c in sch if c not in _SKIP and c not in ents and not c.startswith("_") and c != "time"
            and sch[c] not in (pl.Null,) and not isinstance(sch[c], (pl.List, pl.Struct))]
    sig = pl.concat_str([pl.when(pl.col(c).is_not_null()).then(pl.lit(f"{c}=") + pl.col(c).cast(pl.String))
                         for c in same], separator="\x1f", ignore_nulls=True) if same else pl.lit("")
    t = pl.col("time").cast(pl.Int64)
    rows = rows.with_columns(sig.fill_null("").alias("_sig")).sort(["_sig", "time"], maintain_order=True)
    new = (pl.col("_sig") != pl.col("_sig").shift(1)).fill_null(True) | ((t - t.shift(1)).fill_null(0) > _SAME_CHANGE)
    rows = rows.with_columns(new.cum_sum().alias("_change"))
    keep = [c for c in sch if c not in ("_restart", "_in")]
    return rows.group_by("_change").agg(
        *[pl.col(c).first() for c in keep], pl.len().alias("_n"), pl.col("time").min().alias("_t0"),
        pl.col("time").max().alias("_t1"),
        *[pl.col(c).drop_nulls().cast(pl.String).unique(maintain_order=True).head(5).alias(f"_who:{c}") for c in ents],
        *[pl.col(c).drop_nulls().n_unique().alias(f"_nwho:{c}") for c in ents])


def _integral(lg: pl.LazyFrame, rows: pl.DataFrame) -> set[str]:
    """Of the float columns these rows show a value in, those whose every value in the logs is a whole number
    (one aggregate): an integer column that pandas holds as float because of its nulls."""
    cols = [c for c, t in rows.schema.items() if t.is_float() and not c.startswith("_") and rows.get_column(c).is_not_null().any()]
    if not cols:
        return set()
    got = run(lg.select([(pl.col(c).is_null() | pl.col(c).is_nan() | (pl.col(c) == pl.col(c).round(0))).all().alias(c)
                         for c in cols])).row(0, named=True)
    return {c for c, whole in got.items() if whole}


def _change(ctx: Ctx, row: dict, ev: str, ints: set[str], first_err: int | None) -> Finding:
    """A change finding: one event, or one change rolled out to several entities (how many, the first few)."""
    t, t_last, n = ns_of(row["_t0"]), ns_of(row["_t1"]), int(row["_n"])
    who = {k.split(":", 1)[1]: v for k, v in row.items() if k.startswith("_who:")}
    n_who = {k.split(":", 1)[1]: int(v) for k, v in row.items() if k.startswith("_nwho:")}
    rolled = {c: v for c, v in who.items() if n_who.get(c, 0) >= 2}
    fields = _fields({k: v for k, v in row.items() if k not in rolled}, ev, ints)
    detail = ", ".join(f"{k}={v}" for k, v in fields.items())
    svc = f" from `{row['service']}`" if row.get("service") else ""
    if rolled:
        on = "; ".join(f"{n_who[c]} `{c}` values ({', '.join(v)}{', ...' if n_who[c] > len(v) else ''})"
                       for c, v in rolled.items())
        when = f"on {on}, {n} events from {ctx.t(t)} to {ctx.t(t_last)}"
    else:
        when = f"at {ctx.t(t)}"
    summary = f"`{row[ev]}`{svc} {when}{_relative(t, first_err)}" + (f": {detail}." if detail else ".")
    nums = {"what": "change", "event": row[ev], "time": iso(t), "fields": fields, "source": row.get("_source"),
            "line": row.get("_line"), "before_first_error_s": None if first_err is None else (first_err - t) / 1e9,
            "events": n, "first": iso(t), "last": iso(t_last), "who": who, "who_count": n_who}
    return Finding("change", summary, nums, f'logs[logs["{ev}"] == "{row[ev]}"]', 60 + _near(t, first_err),
                   ev, str(row[ev]), t, t_last if t_last > t else None)


def changes(ctx: Ctx) -> tuple[list[Finding], str]:
    out: list[Finding] = []
    looked = []
    lg = ctx.logs
    r = ctx.reading
    hi = pl.lit(ctx.t1).cast(TS)
    first_err = None
    if ctx.has("logs"):
        t = run(lg.filter(ctx.during() & pl.col("_err")).select(pl.col("time").min())).item()
        first_err = ns_of(t) if t is not None else None
    ev = r.event_column
    if ctx.has("logs") and ev in columns(lg):
        text = pl.col(ev).cast(pl.String)
        # an event name, not free text: a structured event column (few distinct values), or one word
        structured = structured_events(lg, ev)
        short = text.str.count_matches(r"\s+") < 6 if structured else ~text.str.contains(r"\s")
        is_change = text.str.contains(CHANGE_WORDS.pattern) & short & ~pl.col("_err")
        keyless = pl.col(r.key).is_null() if r.key and r.key in columns(lg) else pl.lit(True)
        is_restart = text.str.contains(RESTART_WORDS.pattern) & short & ~pl.col("_err") & keyless
        rows = lg.filter((is_change | is_restart).fill_null(False) & (pl.col("time") < hi))
        rows = rows.with_columns((is_restart & ~text.str.contains(CHANGE_WORDS.pattern)).fill_null(False).alias("_restart"))
        rows = rows.with_columns((pl.col("time") >= pl.lit(ctx.t0).cast(TS)).alias("_in"))
        looked.append(f"{count(rows):,} deploy/config/restart events")
        # one finding per change: rows of the same event and values (but the entity) within 5 min are one change
        # rolled out to several entities; the window's changes first (in time order), then the baseline's latest
        chg = _rolled_out(rows.filter(~pl.col("_restart")), ev, [c for c in r.entity if c != "service"])
        t_in = pl.col("_t0") >= pl.lit(ctx.t0).cast(TS)
        first = run(chg.filter(t_in).sort("_t0", maintain_order=True).head(_MAX))
        latest = run(chg.filter(~t_in).sort("_t0", descending=True, maintain_order=True).head(_MAX - first.height)) \
            if first.height < _MAX else first.clear()
        ints = _integral(lg, pl.concat([first, latest]))
        for row in pl.concat([first, latest]).sort("_t0", maintain_order=True).iter_rows(named=True):
            out.append(_change(ctx, row, ev, ints, first_err))
        restarts = _restarts(ctx, rows.filter(pl.col("_restart")), ev, first_err)
    else:
        restarts = []
    for name, frame, col in (("logs", lg, "time"), ("spans", ctx.spans, "start")):
        sch = columns(frame)
        if not ctx.has(name) or "service" not in sch:
            continue
        for vc in VERSION_COLUMNS:
            if vc not in sch or sch[vc] == pl.Null:
                continue
            # per (service, version): when first seen (ties between versions: the one first in the evidence)
            firsts = run(frame.filter(pl.col(vc).is_not_null() & (pl.col(col) < hi)).select("service", vc, col)
                         .with_row_index("_i")  # the evidence's order among these rows
                         .group_by("service", vc).agg(pl.col(col).min().alias("t"),
                                                      pl.col("_i").sort_by([col, "_i"]).first())
                         .sort(["service", "t", "_i"]))
            looked.append(f"`{vc}` of the {name}")
            for svc, g in firsts.group_by("service", maintain_order=True):
                vals = g.rows(named=True)
                for prev, cur in zip(vals, vals[1:]):
                    t = ns_of(cur["t"])
                    if any(abs((f.start or 0) - t) <= _SAME_CHANGE and (f.numbers.get("service") == str(svc[0])
                           or f.numbers.get("fields", {}).get("service") == str(svc[0])) for f in out):
                        continue  # the same change, already found (a deploy event, or the other kind of evidence)
                    summary = (f"`{svc[0]}` changed `{vc}` from `{prev[vc]}` to `{cur[vc]}`: first seen at {ctx.t(t)} in the "
                               f"{name}{_relative(t, first_err)}.")
                    nums = {"what": "version", "column": vc, "from": str(prev[vc]), "to": str(cur[vc]), "time": iso(t),
                            "service": str(svc[0]), "before_first_error_s": None if first_err is None else (first_err - t) / 1e9}
                    score = 62 + _near(t, first_err)
                    out.append(Finding("change", summary, nums, f'{name}.groupby(["service", "{vc}"])["{col}"].min()',
                                       score, vc, str(cur[vc]), t, None))
            break
    return out + restarts, ("; ".join(looked) if looked else "no event or version column to find changes in")


def _near(t: int, first_err: int | None) -> float:
    """Extra rank for a change in the two hours before the first error."""
    return 10.0 if first_err is not None and 0 <= first_err - t <= 2 * 3600 * 10**9 else 0.0


def _restarts(ctx: Ctx, rows: pl.LazyFrame, ev: str, first_err: int | None) -> list[Finding]:
    """Restarts and process starts, one finding per burst (events less than 10 min apart), with who restarted:
    each burst aggregated in the engine (its times, events, and the entities it names)."""
    t = pl.col("time").cast(pl.Int64)
    who_cols = [c for c in ctx.reading.entity if c in columns(rows) and c != "service"]
    rows = rows.sort("time", maintain_order=True).with_columns(((t - t.shift(1)).fill_null(0) > _BURST).cum_sum().alias("_burst"))
    bursts = run(rows.group_by("_burst").agg(
        pl.len().alias("_n"), pl.col("time").min().alias("_t0"), pl.col("time").max().alias("_t1"),
        pl.col(ev).cast(pl.String).unique().sort().alias("_events"),
        *[pl.col(c).drop_nulls().cast(pl.String).unique().sort().head(10).alias(c) for c in who_cols]).sort("_burst"))
    out = []
    evidence_start = ctx.ev_start
    for g in bursts.iter_rows(named=True):
        t0, t1 = ns_of(g["_t0"]), ns_of(g["_t1"])
        if evidence_start is not None and t0 - evidence_start < _EVIDENCE_START:
            continue  # processes starting as the evidence begins: the start of the logs, not a change
        who = {c: g[c] for c in who_cols}
        who_txt = "; ".join(f"`{c}`: {', '.join(v)}" for c, v in who.items() if v)
        events = [e for e in g["_events"] if e is not None]
        span = f"from {ctx.t(t0)} to {ctx.t(t1)}" if t1 > t0 else f"at {ctx.t(t0)}"
        n = g["_n"]
        summary = (f"{n} start/restart event{'s' if n != 1 else ''} ({', '.join(f'`{e}`' for e in events)}) "
                   f"{span}{_relative(t0, first_err)}" + (f" ({who_txt})." if who_txt else "."))
        nums = {"what": "restart", "events": n, "event": events, "first": iso(t0), "last": iso(t1), "who": who,
                "before_first_error_s": None if first_err is None else (first_err - t0) / 1e9}
        out.append(Finding("change", summary, nums, f'logs[logs["{ev}"].isin({events!r})]', 52 + _near(t0, first_err) / 2,
                           ev, events[0], t0, t1 if t1 > t0 else None))
    return out


def _relative(t: int, first_err: int | None) -> str:
    if first_err is None:
        return ""
    d = (first_err - t) / 6e10
    if d >= 0:
        return f", {d:,.1f} min before the window's first error"
    return f", {-d:,.1f} min after the window's first error"


def telemetry_gaps(ctx: Ctx) -> tuple[list[Finding], str]:
    out = []
    lg, sp, me = ctx.logs, ctx.spans, ctx.metrics

    def gap(what: str, why: str, nums: dict, score: float = 20):
        out.append(Finding("telemetry_gap", f"{what} {why}", nums, "ob.load(...)", score, "evidence", next(iter(nums)),
                           ctx.t0, ctx.t1))
    if not ctx.has("logs"):
        gap("No logs", "were loaded: what failed and why (the evidence) cannot be read.", {"logs": 0}, 25)
    if not ctx.has("spans"):
        gap("No traces", "were loaded: where a failure happened across steps, and one request's path, cannot be shown.",
            {"spans": 0}, 24)
    if not ctx.has("metrics"):
        gap("No metrics", "were loaded: throughput, queue depth and the age of the oldest job are not measured.", {"metrics": 0}, 23)
    if ctx.baseline_how.startswith("no evidence") and any(ctx.has(k) for k in ("logs", "spans", "metrics")):
        gap("Nothing before the window", "was loaded, so 'before' is the window's own first quarter; load earlier evidence "
            "for a real baseline.", {"baseline": ctx.baseline_how}, 22)
    if ctx.has("logs"):
        blind = _no_error_words(ctx)
        if blind is not None:
            out.append(blind)
        with_ids = "trace_id" in columns(lg)
        share = float(run(lg.select(pl.col("trace_id").is_not_null().mean())).item()) if with_ids else 0.0
        if share < 0.5:
            gap(f"Logs without trace ids: {pct(1 - share)} of log lines", "carry no trace id, so they cannot be joined to traces.",
                {"log_lines": ctx.rows["logs"], "with_trace_id": share}, 21)
        elif ctx.has("spans"):  # the logs' distinct trace ids, and how many of them a span has: in the engine
            def ids(lf: pl.LazyFrame) -> pl.LazyFrame:
                return lf.select(pl.col("trace_id").cast(pl.String)).drop_nulls().unique()
            n_ids = count(ids(lg))
            known = count(ids(lg).join(ids(sp), on="trace_id", how="semi")) / n_ids if n_ids else 1.0
            if known < 0.5:
                gap(f"Trace ids that match no span: {pct(1 - known)} of the logs' trace ids", "are not in the loaded spans.",
                    {"trace_ids": n_ids, "matched": known}, 21)
    return out, "which kinds of evidence were loaded, and whether logs carry trace ids"


def _no_error_words(ctx: Ctx) -> Finding | None:
    """A gap when the logs cannot tell an error (obsnb.analysis.failures reads a level, an outcome, a status or
    HTTP status field, or failure words in event names): no line has a level, no such field has a value, and the
    events are free-text messages. Then "no error in the logs" would be a claim the numbers cannot make."""
    lg, ev = ctx.logs, ctx.reading.event_column
    sch = columns(lg)
    fields = [c for c in dict.fromkeys(("level", *OUTCOME_COLUMNS, *STATUS_WORD_COLUMNS, *HTTP_STATUS_COLUMNS,
                                         *http_code_columns(lg))) if c in sch and sch[c] != pl.Null]
    filled = run(lg.select([pl.col(c).is_not_null().sum().alias(c) for c in fields])).row(0, named=True) if fields else {}
    if any(filled.values()) or (ev in sch and sch[ev] != pl.Null and structured_events(lg, ev)):
        return None
    n = ctx.rows["logs"]
    other = ("the error findings below come from the spans' status only" if ctx.has("spans") else
             "no spans were loaded, so no error could be counted at all: the absence of error findings is not an "
             "absence of errors")
    summary = (f"Logs without a level or status: none of the {n:,} log lines carries a level, an outcome or a status "
               f"field, and their messages are free text, so errors could not be counted from the logs; {other}.")
    nums = {"log_lines": n, "with_level": 0, "status_fields": [], "errors_from": "spans" if ctx.has("spans") else None,
            "fix": "Log a level with every line (ERROR for a failed operation) and an outcome or status field."}
    return Finding("telemetry_gap", summary, nums, 'ob.error_rate(logs, "5min")', 26, "evidence", "log_levels",
                   ctx.t0, ctx.t1)
