"""Plumbing shared by the analysis helpers: pandas/polars/Arrow in, polars inside, the caller's kind out.

Every helper converts its input to a polars frame through Arrow (zero-copy for numbers and times,
cheap for pandas 3's Arrow-backed strings), computes with polars (or DuckDB over Arrow where that
measured faster), and hands back the frame type it was given.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import polars as pl
import pyarrow as pa

from ..errors import UsageError
from ..timeutil import duration_ns, to_ns

__all__ = [
    "engine_of",
    "to_polars",
    "back",
    "names",
    "require",
    "utc_ns",
    "epoch_floor",
    "ns_literal",
    "duration_ns",
    "TS",
    "schema_of",
]

TS = pl.Datetime("ns", "UTC")


def engine_of(df: Any) -> str:
    """``"pandas"``, ``"polars"`` or ``"arrow"`` for a frame; UsageError for anything else."""
    if isinstance(df, pl.DataFrame):
        return "polars"
    if isinstance(df, pl.LazyFrame):
        return "polars"
    if isinstance(df, pa.Table):
        return "arrow"
    if type(df).__module__.split(".")[0] == "pandas" and hasattr(df, "columns"):
        return "pandas"
    msg = f"expected a pandas or polars DataFrame, got {type(df).__name__}; load one with ob.load(...)"
    raise UsageError(msg)


def to_polars(df: Any, columns: Iterable[str] | None = None) -> pl.DataFrame:
    """The frame as polars (no copy of numeric and time buffers).

    ``columns`` limits the conversion to the columns a helper needs (those that exist): converting
    a wide pandas frame costs far more than the analysis itself.
    """
    if isinstance(df, pl.LazyFrame):
        df = df.collect()
    if engine_of(df) == "pandas" and (df.index.nlevels > 1 or df.index.name is not None):
        df = df.reset_index()  # a named index (e.g. set_index("time")) is a column to us
    if columns is not None:
        have = set(df.column_names if isinstance(df, pa.Table) else df.columns)
        wanted = list(dict.fromkeys(c for c in columns if c in have))
    if isinstance(df, pl.DataFrame):
        return df if columns is None else df.select(wanted)
    if isinstance(df, pa.Table):
        return pl.from_arrow(df if columns is None else df.select(wanted), rechunk=False)
    return pl.from_pandas(df if columns is None else df[wanted])


def back(result: pl.DataFrame, engine: str):
    """Return ``result`` as the caller's frame type (pandas gets a fresh RangeIndex)."""
    if engine == "polars":
        return result
    table = result.to_arrow()
    if engine == "arrow":
        return table
    # large_string -> string keeps pandas' default "str" dtype; nested lists stay object columns
    return table.to_pandas(timestamp_as_object=False, split_blocks=True)


def names(by: str | Sequence[str] | None) -> list[str]:
    """``by=`` as a list of column names (None -> [])."""
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    return list(by)


def schema_of(df: pl.DataFrame | pl.LazyFrame) -> pl.Schema:
    """The column types of an eager or a lazy frame (a LazyFrame's without running it)."""
    return df.collect_schema() if isinstance(df, pl.LazyFrame) else df.schema


def require(df: pl.DataFrame | pl.LazyFrame, columns: Iterable[str], helper: str, hint: str = "") -> None:
    """Raise UsageError naming the helper and the missing columns when ``df`` lacks any of ``columns``."""
    cols = schema_of(df).names()
    missing = [c for c in columns if c not in cols]
    if missing:
        have = ", ".join(cols[:20]) + (" ..." if len(cols) > 20 else "")
        msg = f"ob.{helper}: column(s) {missing} not in the frame (it has: {have})"
        msg += f"; {hint}" if hint else "; pass the right column name(s) as arguments"
        raise UsageError(msg)


def utc_ns(df: pl.DataFrame | pl.LazyFrame, column: str, helper: str) -> pl.DataFrame | pl.LazyFrame:
    """Make ``column`` a ``Datetime("ns", "UTC")`` (naive times are taken as UTC; integers as epoch ns)."""
    dtype = schema_of(df)[column]
    return df if dtype == TS else df.with_columns(utc_expr(dtype, column, helper))


def utc_expr(dtype: pl.DataType, column: str, helper: str) -> pl.Expr:
    """``column`` (of type ``dtype``) as a ``Datetime("ns", "UTC")`` expression; UsageError when it holds no times."""
    if dtype == TS:
        return pl.col(column)
    if isinstance(dtype, pl.Datetime):
        expr = pl.col(column)
        if dtype.time_zone is None:
            expr = expr.dt.replace_time_zone("UTC")
        elif dtype.time_zone != "UTC":
            expr = expr.dt.convert_time_zone("UTC")
        return expr.dt.cast_time_unit("ns")
    if dtype.is_integer():
        return pl.col(column).cast(pl.Int64).cast(TS)
    if dtype == pl.Date:
        return pl.col(column).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC")
    msg = (
        f"ob.{helper}: column {column!r} holds {dtype}, not times; pass time=<the time column>, "
        "or load the frame with ob.load() which makes times UTC datetimes"
    )
    raise UsageError(msg)


def epoch_floor(column: str, every_ns: int) -> pl.Expr:
    """The start of the epoch-aligned bucket of width ``every_ns`` that holds each time."""
    ints = pl.col(column).cast(pl.Int64)
    return ((ints // every_ns) * every_ns).cast(TS)


def ns_literal(value: Any) -> pl.Expr:
    """A point in time (anything :func:`obsnb.timeutil.to_ns` reads) as a polars UTC literal."""
    return pl.lit(to_ns(value), dtype=pl.Int64).cast(TS)


def every_ns(every: Any, helper: str) -> int:
    """A bucket width in ns, which must be positive."""
    ns = duration_ns(every)
    if ns <= 0:
        msg = f"ob.{helper}: every={every!r} must be a positive duration like '1m' or '15s'"
        raise UsageError(msg)
    return ns


def default_time(df: pl.DataFrame | pl.LazyFrame) -> str:
    """``time`` when the frame has it, else ``start`` (spans), else ``time`` (so the error names it)."""
    cols = schema_of(df).names()
    if "time" in cols:
        return "time"
    return "start" if "start" in cols else "time"


def row_mask(frame: pl.DataFrame, sel: Any, helper: str, what: str, time: str = "time") -> pl.Series:
    """A boolean row mask from a ``(start, end)`` time window, a boolean mask (pandas, numpy, polars),
    a polars expression, the name of a boolean column, or ``{"column": value(s)}``."""
    if isinstance(sel, (tuple, pl.Expr, str, dict)) and not _is_bool_pair(sel):
        return frame.select(row_expr(frame, sel, helper, what, time).alias("_m")).get_column("_m")
    arr = np.asarray(sel, dtype=bool)
    if arr.shape != (frame.height,):
        msg = f"ob.{helper}: {what}= has {arr.size} values but the frame has {frame.height} rows"
        raise UsageError(msg)
    return pl.Series(arr)


def _is_bool_pair(sel: Any) -> bool:
    return isinstance(sel, tuple) and (len(sel) != 2 or isinstance(sel[0], (bool, np.bool_)))


def row_expr(frame: pl.DataFrame | pl.LazyFrame, sel: Any, helper: str, what: str, time: str = "time") -> pl.Expr:
    """:func:`row_mask` as an expression (for a lazy frame): every selector but a mask with one value per row."""
    if isinstance(sel, tuple) and not _is_bool_pair(sel):
        require(frame, [time], helper, f"{what}=(start, end) filters on the time column; pass time=")
        t = utc_expr(schema_of(frame)[time], time, helper).cast(pl.Int64)
        return ((t >= to_ns(sel[0])) & (t < to_ns(sel[1]))).fill_null(False)
    if isinstance(sel, pl.Expr):
        return sel.cast(pl.Boolean).fill_null(False)
    if isinstance(sel, str):
        require(frame, [sel], helper)
        return pl.col(sel).cast(pl.Boolean).fill_null(False)
    if isinstance(sel, dict):
        mask = pl.repeat(True, pl.len())
        for col, val in sel.items():
            require(frame, [col], helper)
            vals = list(val) if isinstance(val, (list, tuple, set)) else [val]
            mask &= pl.col(col).is_in(vals).fill_null(False)
        return mask
    msg = f"ob.{helper}: on a scan {what}= takes a column name, a dict, a (start, end) window or a polars expression, not a mask"
    raise UsageError(msg)
