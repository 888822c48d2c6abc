"""The investigation's aggregate questions as ClickHouse SQL over a :class:`~obsnb.investigation.remote.Remote`.

Each function answers what the detector's polars query answers on a frame of the same rows, in the same
columns and types, so the detector's arithmetic after it is the same code: counts are ``count``/``countIf``,
quantiles ``quantileExactInclusive`` (numpy's linear interpolation, as polars' ``interpolation="linear"``),
distinct counts ``uniqExact`` plus one for a null (polars' ``n_unique`` counts null as a value), gaps
``lagInFrame`` over each entity's times. Examples are ``ORDER BY Timestamp LIMIT k`` of the columns used.
"""

from __future__ import annotations

import polars as pl

from .remote import Remote, q

__all__ = ["counts", "buckets", "top_values", "distinct", "compare", "bad_calls", "bucket_p95", "n_where",
           "slowest", "suspect_counts", "present_shares", "gaps", "examples", "kind_in"]

T = "toUnixTimestamp64Nano(Timestamp)"


def kind_in(rm: Remote, kinds: tuple[str, ...], negate: bool = False) -> str:
    """Spans whose (canonical) kind is one of ``kinds``; ``negate``: the others, a span without a kind included."""
    cond = f"ifNull({rm.expr('kind')} IN ({', '.join(map(q, kinds))}), 0)"
    return f"NOT {cond}" if negate else cond


def _nu(x: str) -> str:
    return f"toInt64(uniqExact({x}) + max(isNull({x})))"


def counts(rm: Remote, what: str, during: tuple[int, int], before: tuple[int, int] | None, where: str = "1") -> tuple:
    """(rows in the window, errors there, rows in the baseline, errors there)."""
    d = rm.during(*during)
    b = rm.during(*before) if before else "0"
    row = rm.ask(what, f"SELECT toInt64(countIf({d})) AS n_d, toInt64(countIf({d} AND {rm.err})) AS e_d, "
                       f"toInt64(countIf({b})) AS n_b, toInt64(countIf({b} AND {rm.err})) AS e_b "
                       f"FROM {rm.table} WHERE {rm.where} AND ({where})").row(0)
    return tuple(int(v or 0) for v in row)


def buckets(rm: Remote, what: str, during: tuple[int, int], step: int, where: str = "1") -> pl.DataFrame:
    """``b`` (bucket start, epoch ns), ``n`` rows, ``e`` errors, ``r`` = e / n: the window's non-empty buckets."""
    return rm.ask(what, f"SELECT intDiv({T}, {int(step)}) * {int(step)} AS b, toInt64(count()) AS n, "
                        f"toInt64(countIf({rm.err})) AS e FROM {rm.table} WHERE {rm.where} AND {rm.during(*during)} "
                        f"AND ({where}) GROUP BY b ORDER BY b").with_columns((pl.col("e") / pl.col("n")).alias("r"))


def top_values(rm: Remote, what: str, col: str, where: str, k: int) -> pl.DataFrame:
    """``col`` and ``len``: the ``k`` values with the most rows matching ``where`` (ties by value)."""
    x = rm.expr(col)
    return rm.ask(what, f"SELECT {x} AS _v, toInt64(count()) AS len FROM {rm.table} WHERE {rm.where} AND ({where}) "
                        f"GROUP BY _v ORDER BY len DESC, _v ASC NULLS LAST LIMIT {int(k)}").rename({"_v": col})


def distinct(rm: Remote, what: str, exprs: dict[str, str], where: str = "1") -> dict:
    """``{name: n_unique(expr)}`` (a null counted as a value) and ``len``: the rows matching ``where``."""
    sel = ", ".join([f"toInt64(count()) AS len", *[f"{_nu(x)} AS `{n}`" for n, x in exprs.items()]])
    return rm.ask(what, f"SELECT {sel} FROM {rm.table} WHERE {rm.where} AND ({where})").row(0, named=True)


def compare(rm: Remote, what: str, key: str, where: str, during: tuple[int, int], before: tuple[int, int] | None,
            dur: str = "duration_ms") -> pl.DataFrame:
    """Per ``_key`` with calls in the window: calls, errors, p95, p99 in the window (``_d``) and the baseline (``_b``)."""
    d, b = rm.during(*during), rm.during(*before) if before else "0"
    v = f"toFloat64({rm.expr(dur) if dur != 'duration_ms' else 'Duration / 1000000'})"
    got = rm.ask(what, f"SELECT {key} AS _key, toInt64(countIf({d})) AS n_d, toInt64(countIf({d} AND {rm.err})) AS e_d, "
                       f"quantilesExactInclusiveIf(0.95, 0.99)({v}, {d}) AS _qd, toInt64(countIf({b})) AS n_b, "
                       f"toInt64(countIf({b} AND {rm.err})) AS e_b, quantilesExactInclusiveIf(0.95, 0.99)({v}, {b}) AS _qb "
                       f"FROM {rm.table} WHERE {rm.where} AND ({where}) AND ({d} OR {b}) GROUP BY _key HAVING n_d > 0")
    got = got.with_columns(pl.col(f"_q{t}").list.get(i).alias(f"p{p}_{t}") for t in "db" for i, p in enumerate((95, 99)))
    some = {"d": pl.col("n_d") > 0, "b": pl.col("n_b") > 0}  # no call (or no duration): no quantile, as in polars
    got = got.with_columns(pl.when(some[c[-1]] & ~pl.col(c).is_nan()).then(pl.col(c)).alias(c)
                           for c in ("p95_d", "p99_d", "p95_b", "p99_b"))
    return got.with_columns((pl.col("e_d") / pl.col("n_d")).alias("r_d"),
                            pl.when(some["b"]).then(pl.col("e_b") / pl.col("n_b")).alias("r_b")).drop("_qd", "_qb")


def bad_calls(rm: Remote, what: str, where: str) -> tuple:
    """(rows, first time, last time) matching ``where`` (times as epoch ns, None for no row)."""
    n, lo, hi = rm.ask(what, f"SELECT toInt64(count()) AS n, min({T}) AS lo, max({T}) AS hi FROM {rm.table} "
                             f"WHERE {rm.where} AND ({where})").row(0)
    return int(n), (int(lo) if n else None), (int(hi) if n else None)


def bucket_p95(rm: Remote, what: str, where: str, step: int, dur: str = "duration_ms") -> pl.DataFrame:
    """``_b`` (bucket start) and ``_p`` (p95 of the duration) per bucket of the rows matching ``where``."""
    v = f"toFloat64({rm.expr(dur) if dur != 'duration_ms' else 'Duration / 1000000'})"
    return rm.ask(what, f"SELECT intDiv({T}, {int(step)}) * {int(step)} AS _b, quantileExactInclusive(0.95)({v}) AS _p "
                        f"FROM {rm.table} WHERE {rm.where} AND ({where}) GROUP BY _b ORDER BY _b")


def n_where(rm: Remote, what: str, where: str) -> int:
    return int(rm.ask(what, f"SELECT toInt64(count()) AS n FROM {rm.table} WHERE {rm.where} AND ({where})").item())


def slowest(rm: Remote, what: str, where: str, dur: str = "duration_ms") -> str | None:
    """The trace id of the slowest row matching ``where`` (the first such in time order)."""
    v = rm.expr(dur) if dur != "duration_ms" else "Duration"
    got = rm.ask(what, f"SELECT {rm.expr('trace_id')} AS trace_id FROM {rm.table} WHERE {rm.where} AND ({where}) "
                       f"ORDER BY {v} DESC NULLS LAST, Timestamp ASC LIMIT 1", pulled=True)
    return got.item() if got.height else None


def present_shares(rm: Remote, what: str, cols: list[str], where: str) -> dict:
    """Per column, the share of rows matching ``where`` where it is not null."""
    sel = ", ".join(f"avg(isNotNull({rm.expr(c)})) AS _c{i}" for i, c in enumerate(cols))
    row = rm.ask(what, f"SELECT {sel} FROM {rm.table} WHERE {rm.where} AND ({where})").row(0)
    return dict(zip(cols, row))


def suspect_counts(rm: Remote, what: str, cols: list[str], where: str, n_inc: int, n_base: int, top: int) -> pl.DataFrame:
    """Per (column, value) of the rows matching ``where``: errors (``incident``) and the others (``baseline``), only
    the pairs that can make a suspect (>= 3 errors, a share at least 25 points above), best first, at most ``top``."""
    per = [f"SELECT {q(c)} AS attribute, toString({rm.expr(c)}) AS value, toInt64(countIf({rm.err})) AS incident, "
           f"toInt64(countIf(NOT {rm.err})) AS baseline FROM {rm.table} WHERE {rm.where} AND ({where}) "
           f"GROUP BY value HAVING value IS NOT NULL AND incident >= 3 AND incident / {n_inc} - baseline / {n_base} >= 0.25"
           for c in cols]
    union = "\nUNION ALL\n".join(f"({p})" for p in per)
    return rm.ask(what, f"SELECT * FROM ({union}) ORDER BY incident / {n_inc} - baseline / {n_base} DESC, incident DESC, "
                        f"attribute, value LIMIT {int(top)}")


def gaps(rm: Remote, what: str, col: str, where: str, lo: int, hi: int, minimum: int, factor: int, k: int) -> pl.DataFrame:
    """The ``k`` longest gaps of the entities of ``col`` (rows matching ``where``, before ``hi``) past the silence
    threshold, as :func:`obsnb.investigation.detect_work._top_gaps` of ``_gaps`` finds them: each entity's gaps
    between consecutive rows plus the trailing one to ``hi``, its usual gap (the baseline's 95th percentile with
    >= 20 gaps before ``lo``, its longest with >= 3, else twice the median of all), gaps touching the window,
    longer than ``max(minimum, factor x usual)``, of an entity whose cadence is known (>= 3 baseline gaps or 20 rows)."""
    e = f"toString({rm.expr(col)})"
    ev = (f"SELECT {e} AS _e, {T} AS t FROM {rm.table} WHERE {rm.where} AND {rm.during(None, hi)} AND {e} IS NOT NULL "
          f"AND ({where})")
    sql = f"""WITH ev AS ({ev}),
n AS (SELECT _e, toInt64(count()) AS _n FROM ev GROUP BY _e),
allt AS (SELECT _e, t FROM ev UNION ALL SELECT _e, toInt64({int(hi)}) AS t FROM n),
w AS (SELECT _e, t, t - lagInFrame(t) OVER win AS d, row_number() OVER win AS rn FROM allt
      WINDOW win AS (PARTITION BY _e ORDER BY t ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)),
g AS (SELECT _e, t, d FROM w WHERE rn > 1),
s AS (SELECT _e, quantileExactInclusiveIf(0.95)(toFloat64(d), t < {int(lo)}) AS cad_b, maxIf(d, t < {int(lo)}) AS max_b,
      toInt64(countIf(t < {int(lo)})) AS _nb, quantileExactInclusive(0.5)(toFloat64(d)) * 2 AS cad_a FROM g GROUP BY _e)
SELECT g._e AS _e, g.t AS _t, g.d AS _d, g.t - g.d AS _g0, n._n AS _n, s._nb AS _nb,
       multiIf(s._nb >= 20, s.cad_b, s._nb >= 3, toFloat64(s.max_b), s.cad_a) AS _cad
FROM g INNER JOIN s ON g._e = s._e INNER JOIN n ON g._e = n._e
WHERE _t > {int(lo)} AND _g0 < {int(hi)} AND _d > greatest(toFloat64({int(minimum)}), _cad * {int(factor)}) AND (_nb >= 3 OR _n >= 20)
ORDER BY _d DESC, _e ASC, _t ASC LIMIT {int(k)}"""
    return rm.ask(what, sql).rename({"_e": col})


def examples(rm: Remote, what: str, where: str, k: int, latest: bool = False, names: list[str] | None = None) -> pl.DataFrame:
    """The first ``k`` rows matching ``where`` in time order (``latest``: the last ``k``, latest first)."""
    cols = names if names is not None else [*rm.schema, "_err"]
    return rm.rows_of(what, cols, where, order="Timestamp DESC" if latest else "Timestamp", limit=k)
