"""Findings about calls: ``degraded_dependency`` (a dependency whose calls fail or slow down) and
``latency_regression`` (an operation of the system itself whose p95/p99 rose against the baseline)."""

from __future__ import annotations

import polars as pl

from .context import Ctx, columns, count, ns_of, pct, q, run
from .findings import Finding, fmt_duration, iso
from .vocabulary import span_dependency_expr

__all__ = ["dependencies", "latency_regressions"]

_MIN_CALLS = 10
_SLOWER = 2.0  # p95 at least twice the baseline's ...
_SLOWER_MS = 50.0  # ... and at least 50 ms more
_REGRESSION = 1.5



def _compare(ctx: Ctx, frame: pl.LazyFrame, key: str, time: str, dur: str) -> pl.DataFrame:
    """Per ``key``: calls, errors, p95, p99 before (baseline) and during (window), aggregated in the engine."""
    def agg(sel: pl.Expr, tag: str) -> pl.LazyFrame:
        return frame.filter(sel).group_by(key).agg(
            pl.len().alias(f"n_{tag}"), pl.col("_err").sum().alias(f"e_{tag}"),
            q(pl.col(dur).cast(pl.Float64), 0.95).alias(f"p95_{tag}"), q(pl.col(dur).cast(pl.Float64), 0.99).alias(f"p99_{tag}"))
    d, b = agg(ctx.during(time), "d"), agg(ctx.before(time), "b")
    out = d.join(b, on=key, how="left").with_columns(pl.col("n_b").fill_null(0), pl.col("e_b").fill_null(0))
    return run(out.with_columns((pl.col("e_d") / pl.col("n_d")).alias("r_d"),
                                pl.when(pl.col("n_b") > 0).then(pl.col("e_b") / pl.col("n_b")).alias("r_b")))


def _degraded(row: dict) -> str | None:
    r_b = row["r_b"] or 0.0
    expected = max(r_b * row["n_d"], 0.5)  # errors the baseline's rate predicts for the window's calls
    failing = row["e_d"] >= 3 and row["r_d"] >= 2 * r_b and row["e_d"] >= 4 * expected
    slow = (row["n_d"] >= _MIN_CALLS and row["n_b"] >= _MIN_CALLS and row["p95_b"] is not None
            and row["p95_d"] is not None and row["p95_d"] >= _SLOWER * row["p95_b"] and row["p95_d"] - row["p95_b"] >= _SLOWER_MS)
    if slow and (not failing or row["r_d"] < 0.05):  # slower, and failing on fewer than 1 call in 20
        return "slow"
    return "failing" if failing else None


def _dep_findings(ctx: Ctx, frame: pl.LazyFrame, key: str, time: str, dur: str, source: str, col: str,
                  call_of: str) -> list[Finding]:
    out = []
    table = _compare(ctx, frame, key, time, dur)
    for row in table.sort("n_d", descending=True).iter_rows(named=True):
        mode = _degraded(row)
        if mode is None or row[key] is None:
            continue
        calls = frame.filter(ctx.during(time) & (pl.col(key) == row[key]))
        if mode == "failing":
            bad = calls.filter(pl.col("_err"))
            n_bad, lo, hi = run(bad.select(pl.len(), pl.col(time).min().alias("lo"), pl.col(time).max().alias("hi"))).row(0)
            s = ns_of(lo) if n_bad else ctx.t0
            e = ns_of(hi) if n_bad else ctx.t1
        else:  # the buckets whose own p95 is past the slowdown limit
            limit = max(_SLOWER * row["p95_b"], row["p95_b"] + _SLOWER_MS)
            b = run(calls.group_by((pl.col(time).cast(pl.Int64) // ctx.every * ctx.every).alias("_b"))
                    .agg(q(pl.col(dur).cast(pl.Float64), 0.95).alias("_p")).filter(pl.col("_p") > limit))
            s = int(b.get_column("_b").min()) if b.height else ctx.t0
            e = int(b.get_column("_b").max()) + ctx.every if b.height else ctx.t1
            bad = calls.filter(ctx.when(time, s, e) & (pl.col(dur).cast(pl.Float64) > limit))
            n_bad = count(bad)
        example = None
        if "trace_id" in columns(calls) and n_bad:  # the slowest bad call (the first such, in time order)
            worst = run(bad.select(dur, time, "trace_id").sort([dur, time], descending=[True, False], nulls_last=True,
                                                               maintain_order=True).head(1).select("trace_id"))
            example = worst.item()
        nums = {"mode": mode, "calls_before": row["n_b"], "calls_during": row["n_d"], "errors_before": row["e_b"],
                "errors_during": row["e_d"], "error_rate_before": row["r_b"], "error_rate_during": row["r_d"],
                "p95_before_ms": row["p95_b"], "p95_during_ms": row["p95_d"], "p99_before_ms": row["p99_b"],
                "p99_during_ms": row["p99_d"], "degraded_from": iso(s), "degraded_until": iso(e),
                "bad_calls": n_bad, "from": source, "example_trace_id": example, "baseline": ctx.baseline_how}

        def ms(v):
            return "n/a" if v is None else f"{v:,.1f} ms"
        if mode == "failing":
            what = (f"{row['e_d']:,} of its {row['n_d']:,} calls failed in the window ({pct(row['r_d'])}, against "
                    f"{pct(row['r_b'])} of {row['n_b']:,} before)")
        else:
            what = f"its calls slowed down in the window ({row['n_d']:,} calls; failures {pct(row['r_d'])}, before {pct(row['r_b'])})"
        summary = (f"Dependency `{row[key]}` ({source}): {what}; p95 {ms(row['p95_b'])} before, {ms(row['p95_d'])} during "
                   f"(p99 {ms(row['p99_b'])} -> {ms(row['p99_d'])}); "
                   + (f"failed calls from {ctx.t(s)} to {ctx.t(e)}." if mode == "failing" else
                      f"its p95 per {fmt_duration(ctx.every)} was past {fmt_duration(1e6 * max(_SLOWER * row['p95_b'], row['p95_b'] + _SLOWER_MS))} "
                      f"from {ctx.t(s)} to {ctx.t(e)}."))
        call = call_of.format(v=row[key])
        size = (row["r_d"] - (row["r_b"] or 0)) * 10 if mode == "failing" else min((row["p95_d"] / max(row["p95_b"], 1e-9)), 10)
        out.append(Finding("degraded_dependency", summary, nums, call, 84 + min(size, 10), col, str(row[key]), s, e))
    return out


def dependencies(ctx: Ctx) -> tuple[list[Finding], str]:
    out: list[Finding] = []
    looked = []
    sp = ctx.spans
    if ctx.has("spans") and "kind" in columns(sp):
        calls = sp.filter(pl.col("kind").cast(pl.String).is_in(["CLIENT", "PRODUCER"]))
        dep = span_dependency_expr(calls)
        dep = pl.coalesce([dep, pl.col("name")]) if dep is not None else pl.col("name")
        calls = calls.with_columns(dep.cast(pl.String).alias("_dep"))
        n_calls, n = run(calls.select(pl.len(), pl.col("_dep").n_unique())).row(0)
        n = n if n_calls else 0
        looked.append(f"{n} dependencies of {n_calls:,} client/producer spans")
        out += _dep_findings(ctx, calls, "_dep", "start", "duration_ms", "client spans", "dependency",
                             'ob.latency(client_spans[client_spans["dependency"] == "{v}"], by="dependency", every="5min")')
    lg = ctx.logs
    r = ctx.reading
    if lg is not None and r.log_dependency and r.log_duration and not out:
        calls = lg.filter(pl.col(r.log_dependency).is_not_null() & pl.col(r.log_duration).is_not_null())
        calls = calls.with_columns(pl.col(r.log_dependency).cast(pl.String).alias("_dep"))
        n_calls, n = run(calls.select(pl.len(), pl.col("_dep").n_unique())).row(0)
        looked.append(f"{n} values of `{r.log_dependency}` on {n_calls:,} log lines with `{r.log_duration}`")
        out += _dep_findings(ctx, calls, "_dep", "time", r.log_duration, f"log lines with `{r.log_duration}`",
                             r.log_dependency,
                             f'ob.latency(logs[logs["{r.log_dependency}"] == "{{v}}"], value="{r.log_duration}", every="5min")')
    text = "; ".join(looked) if looked else "no client spans and no log field naming a dependency with a duration"
    return out, text


def latency_regressions(ctx: Ctx) -> tuple[list[Finding], str]:
    out: list[Finding] = []
    looked = []
    sp = ctx.spans
    if ctx.has("spans"):
        own = sp.filter(~pl.col("kind").cast(pl.String).is_in(["CLIENT", "PRODUCER"]).fill_null(False))
        own = own.with_columns(pl.concat_str([pl.col("service").cast(pl.String).fill_null("?"), pl.lit(" / "),
                                              pl.col("name").cast(pl.String).fill_null("?")]).alias("_op"))
        looked.append(f"{run(own.select(pl.col('_op').n_unique())).item()} span operations")
        out += _regressions(ctx, own, "_op", "start", "duration_ms", "spans", "operation",
                            'ob.latency(spans, by=["service", "name"], every="5min")')
    lg = ctx.logs
    r = ctx.reading
    if lg is not None and r.log_duration and not out:
        rows = lg.filter(pl.col(r.log_duration).is_not_null())
        if r.log_dependency:
            rows = rows.filter(pl.col(r.log_dependency).is_null())
        ev = r.event_column
        if ev in columns(rows):
            rows = rows.with_columns(pl.col(ev).cast(pl.String).alias("_op"))
            looked.append(f"{run(rows.select(pl.col('_op').n_unique())).item()} events with `{r.log_duration}`")
            out += _regressions(ctx, rows, "_op", "time", r.log_duration, "log lines", ev,
                                f'ob.latency(logs, value="{r.log_duration}", by="{ev}", every="5min")')
    return out, "; ".join(looked) if looked else "no durations to compare"


def _regressions(ctx: Ctx, frame: pl.LazyFrame, key: str, time: str, dur: str, source: str, col: str,
                 call: str) -> list[Finding]:
    table = _compare(ctx, frame, key, time, dur)
    table = table.filter((pl.col("n_b") >= 20) & (pl.col("n_d") >= _MIN_CALLS) & pl.col("p95_b").is_not_null()
                         & (pl.col("p95_d") >= _REGRESSION * pl.col("p95_b")) & (pl.col("p95_d") - pl.col("p95_b") >= _SLOWER_MS))
    table = table.with_columns((pl.col("p95_d") / pl.col("p95_b")).alias("x")).sort([pl.col("x"), pl.col(key).cast(pl.String)],
                                                                                   descending=[True, False])
    out = []
    for row in table.head(5).iter_rows(named=True):
        s, e = _slow_buckets(ctx, frame, key, row[key], time, dur, row["p95_b"])
        nums = {"count_before": row["n_b"], "count_during": row["n_d"], "p95_before_ms": row["p95_b"],
                "p95_during_ms": row["p95_d"], "p99_before_ms": row["p99_b"], "p99_during_ms": row["p99_d"],
                "times_slower_p95": row["x"], "from": source, "slow_from": iso(s), "slow_until": iso(e),
                "bucket": fmt_duration(ctx.every)}
        summary = (f"`{row[key]}` got slower: p95 {row['p95_b']:,.1f} ms before ({row['n_b']:,} {source}), "
                   f"{row['p95_d']:,.1f} ms in the window ({row['n_d']:,}), {row['x']:.1f}x; p99 "
                   f"{row['p99_b']:,.1f} -> {row['p99_d']:,.1f} ms. Its {fmt_duration(ctx.every)} buckets were that "
                   f"slow from {ctx.t(s)} to {ctx.t(e)}.")
        out.append(Finding("latency_regression", summary, nums, call, 55 + min(row["x"], 10), col, str(row[key]), s, e))
    return out


def _slow_buckets(ctx: Ctx, frame: pl.LazyFrame, key: str, value, time: str, dur: str, p95_b: float) -> tuple[int, int]:
    """The first bucket's start and the last one's end, of the window's buckets whose own p95 of ``value`` is as
    far above the baseline's p95 as a regression needs (the window itself when none is: the slowdown is in the
    whole window's calls only)."""
    step = ctx.every
    b = run(frame.filter(ctx.during(time) & (pl.col(key) == value))
            .group_by((pl.col(time).cast(pl.Int64) // step * step).alias("b"))
            .agg(q(pl.col(dur).cast(pl.Float64), 0.95).alias("p95"))
            .filter((pl.col("p95") >= _REGRESSION * p95_b) & (pl.col("p95") - p95_b >= _SLOWER_MS))
            .select(pl.col("b").min().alias("lo"), pl.col("b").max().alias("hi")))
    lo, hi = b.row(0)
    if lo is None:
        return ctx.t0, ctx.t1
    return max(int(lo), ctx.t0), min(int(hi) + step, ctx.t1)

