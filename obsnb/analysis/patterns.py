"""``ob.log_patterns``: messages grouped into templates, so a new error pattern stands out."""

from __future__ import annotations

from typing import Any, Sequence

import polars as pl

from ..errors import UsageError
from . import _frames as F

__all__ = ["log_patterns", "MASKS", "mask_message"]

# (regex, placeholder), applied in order: the specific shapes first, bare numbers last.
MASKS: list[tuple[str, str]] = [
    (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "<uuid>"),
    (r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?", "<time>"),
    (r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b", "<ip>"),
    (r"\b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b", "<ip>"),
    (r"\b0[xX][0-9a-fA-F]+\b", "<hex>"),
    (r"\b[0-9a-fA-F]{12,}\b", "<hex>"),
    (r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", "<num>"),
    (r"\s+", " "),
]


def mask_expr(expr: pl.Expr) -> pl.Expr:
    for pattern, repl in MASKS:
        expr = expr.str.replace_all(pattern, repl)
    return expr.str.strip_chars()


def mask_message(text: str) -> str:
    """The template of one message: ``"retry 3 for 10.0.0.7"`` -> ``"retry <num> for <ip>"``."""
    return pl.select(mask_expr(pl.lit(text, pl.String))).item()


def log_patterns(
    logs: Any,
    *,
    column: str | None = None,
    by: str | Sequence[str] | None = None,
    new_since: Any = None,
    time: str | None = None,
):
    """Group log messages into templates with numbers, ids, IPs, UUIDs, hex and timestamps masked.

    ``column`` is the message column; by default the first of ``message``, ``msg``, ``event`` that is
    not null on each row. Returns ``pattern``, the ``by`` columns (e.g. ``by=["service", "level"]``),
    ``count``, ``first``, ``last`` (times) and ``example`` (one original message), most frequent first.
    With ``new_since`` (a time, e.g. the incident start) a ``new`` column says which patterns were
    never seen before it, and new patterns sort first.
    """
    engine = F.engine_of(logs)
    frame = F.to_polars(logs)
    keys = F.names(by)
    time = time or F.default_time(frame)
    F.require(frame, [time, *keys], "log_patterns")
    if column is not None:
        F.require(frame, [column], "log_patterns")
        text = pl.col(column).cast(pl.String)
    else:
        found = [c for c in ("message", "msg", "event") if c in frame.columns]
        if not found:
            msg = "ob.log_patterns: no message column (message, msg or event); pass column='<the text column>'"
            raise UsageError(msg)
        text = pl.coalesce([pl.col(c).cast(pl.String) for c in found])
    frame = F.utc_ns(frame, time, "log_patterns")
    t = pl.col(time)
    # mask each distinct message once, then add up: logs repeat the same messages many times
    per_msg = (
        frame.select(text.alias("_msg"), t.alias("_t"), *keys)
        .filter(pl.col("_msg").is_not_null())
        .group_by(["_msg", *keys])
        .agg(pl.len().alias("count"), pl.col("_t").min().alias("first"), pl.col("_t").max().alias("last"))
    )
    per_msg = per_msg.with_columns(mask_expr(pl.col("_msg")).alias("pattern"))
    out = per_msg.group_by(["pattern", *keys]).agg(
        pl.col("count").sum().cast(pl.Int64),
        pl.col("first").min(),
        pl.col("last").max(),
        pl.col("_msg").sort_by("count", descending=True).first().alias("example"),
    )
    order, desc = ["count", "pattern", *keys], [True, False, *[False] * len(keys)]
    if new_since is not None:
        out = out.with_columns((pl.col("first") >= F.ns_literal(new_since)).alias("new"))
        order, desc = ["new", *order], [True, *desc]
    out = out.sort(order, descending=desc, nulls_last=True)
    return F.back(out, engine)
