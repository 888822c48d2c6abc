"""Findings about calls: ``degraded_dependency`` (a dependency whose calls fail or slow down) and
``latency_regression`` (an operation of the system itself whose p95/p99 rose against the baseline)."""

from __future__ import annotations

import dataclasses

import polars as pl

from .context import Ctx, columns, count, ns_of, pct, q, run
from . import remote_sql as R
from .findings import Finding, fmt_duration, iso
from .remote import Remote, q as sql_text, remote_of
from .vocabulary import span_dependency_expr

__all__ = ["dependencies", "latency_regressions"]

_MIN_CALLS = 10
_SLOWER = 2.0  # p95 at least twice the baseline's ...
_SLOWER_MS = 50.0  # ... and at least 50 ms more
_REGRESSION = 1.5



@dataclasses.dataclass
class _OnServer:
    """The calls on a ClickHouse server: ``rm`` and the SQL of the rows (``where``) and of their ``key``."""
    rm: Remote
    where: str
    key: str

    def of(self, value: str, *more: str) -> str:
        return " AND ".join([self.where, f"{self.key} = {sql_text(str(value))}", *more])


def _compare(ctx: Ctx, frame: pl.LazyFrame, key: str, time: str, dur: str, srv: _OnServer | None = None) -> pl.DataFrame:
    """Per ``key``: calls, errors, p95, p99 before (baseline) and during (window), aggregated in the engine
    (or by the server: one GROUP BY with the window's and the baseline's quantiles)."""
    if srv is not None:
        before = (ctx.b0, ctx.b1) if ctx.b0 is not None else None
        return R.compare(srv.rm, f"calls, errors, p95 and p99 per {key.strip('_')} in the window and the baseline",
                         srv.key, srv.where, (ctx.t0, ctx.t1), before).rename({"_key": key})
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
                  call_of: str, srv: _OnServer | None = None) -> list[Finding]:
    out = []
    table = _compare(ctx, frame, key, time, dur, srv)
    for row in table.sort("n_d", descending=True, maintain_order=True).iter_rows(named=True):
        mode = _degraded(row)
        if mode is None or row[key] is None:
            continue
        calls = frame.filter(ctx.during(time) & (pl.col(key) == row[key]))
        if mode == "failing":
            bad = calls.filter(pl.col("_err"))
            if srv is not None:
                bad_sql = srv.of(row[key], srv.rm.during(ctx.t0, ctx.t1), srv.rm.err)
                n_bad, lo, hi = R.bad_calls(srv.rm, f"the failed calls of {col} `{row[key]}`: how many, first, last", bad_sql)
            else:
                n_bad, lo, hi = run(bad.select(pl.len(), pl.col(time).min().alias("lo"), pl.col(time).max().alias("hi"))).row(0)
            s = ns_of(lo) if n_bad else ctx.t0
            e = ns_of(hi) if n_bad else ctx.t1
        else:  # the buckets whose own p95 is past the slowdown limit
            limit = max(_SLOWER * row["p95_b"], row["p95_b"] + _SLOWER_MS)
            if srv is not None:
                b = R.bucket_p95(srv.rm, f"p95 per bucket of {col} `{row[key]}` in the window",
                                 srv.of(row[key], srv.rm.during(ctx.t0, ctx.t1)), ctx.every).filter(pl.col("_p") > limit)
            else:
                b = run(calls.group_by((pl.col(time).cast(pl.Int64) // ctx.every * ctx.every).alias("_b"))
                        .agg(q(pl.col(dur).cast(pl.Float64), 0.95).alias("_p")).filter(pl.col("_p") > limit))
            s = int(b.get_column("_b").min()) if b.height else ctx.t0
            e = int(b.get_column("_b").max()) + ctx.every if b.height else ctx.t1
            bad = calls.filter(ctx.when(time, s, e) & (pl.col(dur).cast(pl.Float64) > limit))
            if srv is not None:
                bad_sql = srv.of(row[key], srv.rm.during(s, e), f"Duration / 1000000 > {limit!r}")
                n_bad = R.n_where(srv.rm, f"the slow calls of {col} `{row[key]}`", bad_sql)
            else:
                n_bad = count(bad)
        example = None
        if "trace_id" in columns(calls) and n_bad:  # the slowest bad call (the first such, in time order)
            if srv is not None:
                example = R.slowest(srv.rm, f"the slowest bad call of {col} `{row[key]}` (LIMIT 1)", bad_sql)
            else:
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
        rm = remote_of(ctx, "spans")
        srv = _OnServer(rm, R.kind_in(rm, ("CLIENT", "PRODUCER")), rm.dependency()) if rm is not None else None
        if srv is not None:
            got = R.distinct(rm, "client/producer spans and their dependencies", {"n": srv.key}, srv.where)
            n_calls, n = got["len"], got["n"]
        else:
            n_calls, n = run(calls.select(pl.len(), pl.col("_dep").n_unique())).row(0)
        n = n if n_calls else 0
        looked.append(f"{n} dependencies of {n_calls:,} client/producer spans")
        out += _dep_findings(ctx, calls, "_dep", "start", "duration_ms", "client spans", "dependency",
                             'ob.latency(client_spans[client_spans["dependency"] == "{v}"], by="dependency", every="5min")', srv)
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
        rm = remote_of(ctx, "spans")
        srv = None
        if rm is not None:
            op = f"concat(ifNull({rm.expr('service')}, '?'), ' / ', ifNull({rm.expr('name')}, '?'))"
            srv = _OnServer(rm, R.kind_in(rm, ("CLIENT", "PRODUCER"), negate=True), op)
            n_ops = R.distinct(rm, "the span operations (service / name)", {"n": op}, srv.where)["n"]
        else:
            n_ops = run(own.select(pl.col('_op').n_unique())).item()
        looked.append(f"{n_ops} span operations")
        out += _regressions(ctx, own, "_op", "start", "duration_ms", "spans", "operation",
                            'ob.latency(spans, by=["service", "name"], every="5min")', srv)
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
                 call: str, srv: _OnServer | None = None) -> list[Finding]:
    table = _compare(ctx, frame, key, time, dur, srv)
    table = table.filter((pl.col("n_b") >= 20) & (pl.col("n_d") >= _MIN_CALLS) & pl.col("p95_b").is_not_null()
                         & (pl.col("p95_d") >= _REGRESSION * pl.col("p95_b")) & (pl.col("p95_d") - pl.col("p95_b") >= _SLOWER_MS))
    table = table.with_columns((pl.col("p95_d") / pl.col("p95_b")).alias("x")).sort([pl.col("x"), pl.col(key).cast(pl.String)],
                                                                                   descending=[True, False])
    out = []
    for row in table.head(5).iter_rows(named=True):
        s, e = _slow_buckets(ctx, frame, key, row[key], time, dur, row["p95_b"], srv)
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


def _slow_buckets(ctx: Ctx, frame: pl.LazyFrame, key: str, value, time: str, dur: str, p95_b: float,
                  srv: _OnServer | None = None) -> tuple[int, int]:
    """The first bucket's start and the last one's end, of the window's buckets whose own p95 of ``value`` is as
    far above the baseline's p95 as a regression needs (the window itself when none is: the slowdown is in the
    whole window's calls only)."""
    step = ctx.every
    slow = (pl.col("p95") >= _REGRESSION * p95_b) & (pl.col("p95") - p95_b >= _SLOWER_MS)
    if srv is not None:
        per = R.bucket_p95(srv.rm, f"p95 per bucket of `{value}` in the window", srv.of(value, srv.rm.during(ctx.t0, ctx.t1)),
                           step).rename({"_b": "b", "_p": "p95"}).lazy()
    else:
        per = (frame.filter(ctx.during(time) & (pl.col(key) == value))
               .group_by((pl.col(time).cast(pl.Int64) // step * step).alias("b"))
               .agg(q(pl.col(dur).cast(pl.Float64), 0.95).alias("p95")))
    b = run(per.filter(slow).select(pl.col("b").min().alias("lo"), pl.col("b").max().alias("hi")))
    lo, hi = b.row(0)
    if lo is None:
        return ctx.t0, ctx.t1
    return max(int(lo), ctx.t0), min(int(hi) + step, ctx.t1)

