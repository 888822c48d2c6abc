"""``ob.compare``: which attribute values are over-represented in the incident rows (like Honeycomb's BubbleUp)."""

from __future__ import annotations

from typing import Any, Sequence

import polars as pl

from . import _frames as F

__all__ = ["compare"]

# Columns that identify single rows or are times: comparing their values says nothing.
_SKIP = {"time", "start", "end", "trace_id", "span_id", "parent_span_id", "_source", "_line", "links", "events"}


def _columns(frame: pl.DataFrame, by: Any, max_values: int) -> list[str]:
    if by is not None:
        cols = F.names(by)
        F.require(frame, cols, "compare")
        return cols
    cols = []
    for name, dtype in frame.schema.items():
        if name in _SKIP or isinstance(dtype, (pl.List, pl.Struct, pl.Array, pl.Datetime, pl.Duration)):
            continue
        if dtype.is_float():
            continue  # measurements, not attributes
        n = frame.get_column(name).n_unique()
        if 1 < n <= max_values:
            cols.append(name)
    return cols


def compare(
    df: Any,
    *,
    incident: Any,
    baseline: Any = None,
    by: str | Sequence[str] | None = None,
    time: str | None = None,
    max_values: int = 50,
    top: int | None = None,
):
    """Attribute values ranked by how much more often they appear in the incident rows than in the baseline.

    ``incident`` and ``baseline`` pick rows of ``df``: a ``(start, end)`` time window, a boolean mask
    (pandas/numpy/polars), a polars expression, the name of a boolean column, or
    ``{"column": value(s)}``; ``baseline`` defaults to every other row
    (so ``incident=df.level == "ERROR"`` compares failing with succeeding rows). ``by`` lists the
    attributes to examine; by default every non-float column with 2..``max_values`` distinct values
    (ids, times and provenance excluded). Returns ``attribute``, ``value`` (as text; null stays null),
    ``incident`` and ``baseline`` (row counts), ``incident_share`` and ``baseline_share`` (fraction of
    each set's rows with that value), ``difference`` (incident_share - baseline_share) and ``lift``
    (incident_share / baseline_share; inf when the value is absent from the baseline), sorted by
    ``difference`` descending.
    """
    engine = F.engine_of(df)
    frame = F.to_polars(df)
    time = time or F.default_time(frame)
    inc = F.row_mask(frame, incident, "compare", "incident", time)
    base = ~inc if baseline is None else F.row_mask(frame, baseline, "compare", "baseline", time) & ~inc
    cols = _columns(frame, by, max_values)
    n_inc, n_base = int(inc.sum()), int(base.sum())
    schema = {"attribute": pl.String, "value": pl.String, "incident": pl.Int64, "baseline": pl.Int64,
              "incident_share": pl.Float64, "baseline_share": pl.Float64, "difference": pl.Float64, "lift": pl.Float64}
    if not cols or n_inc == 0:
        return F.back(pl.DataFrame(schema=schema), engine)
    sel = frame.select([pl.col(c).cast(pl.String) for c in cols]).with_columns(
        inc.alias("_inc"), base.alias("_base")
    ).filter(pl.col("_inc") | pl.col("_base"))
    long = sel.unpivot(index=["_inc", "_base"], on=cols, variable_name="attribute", value_name="value")
    counts = long.group_by(["attribute", "value"]).agg(
        pl.col("_inc").sum().cast(pl.Int64).alias("incident"), pl.col("_base").sum().cast(pl.Int64).alias("baseline")
    )
    out = counts.with_columns(
        (pl.col("incident") / n_inc).alias("incident_share"),
        (pl.col("baseline") / n_base if n_base else pl.lit(float("nan"))).alias("baseline_share"),
    ).with_columns(
        (pl.col("incident_share") - pl.col("baseline_share")).alias("difference"),
        (pl.col("incident_share") / pl.col("baseline_share")).alias("lift"),
    )
    rank = ["difference", "incident", "attribute", "value"]
    out = out.sort(rank, descending=[True, True, False, False], nulls_last=True)
    if top is not None:
        out = out.head(top)
    return F.back(out.select(list(schema)), engine)
