"""``ob.log_patterns`` and ``ob.with_patterns``: messages grouped into templates, so a new error pattern stands out.

Numbers, ids, IPs, UUIDs, hex and timestamps are masked first (``MASKS``); the distinct masked messages
are then clustered into templates (``_templates``: Drain-style, so "invalid user admin" and "invalid user
test" become "invalid user <*>").
"""

from __future__ import annotations

from typing import Any, Sequence

import polars as pl

from ..errors import UsageError
from . import _frames as F
from ._templates import pattern_id, templates

__all__ = ["log_patterns", "with_patterns", "MASKS", "mask_expr", "mask_message"]

# (regex, placeholder), applied in order: the specific shapes first, bare numbers last.
MASKS: list[tuple[str, str]] = [
    (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "<uuid>"),
    (r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?", "<time>"),
    # C ctime / syslog / RFC 2822 dates: "Fri Jun 17 07:07:00 2005", "Jun 17 07:07:00", "Jun 17, 2005 7:07"
    (r"\b(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?\s+)?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
     r"\s+\d{1,2},?\s+(?:\d{4}\s+)?\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s+\d{4}\b)?", "<time>"),
    (r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b", "<ip>"),
    (r"\b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b", "<ip>"),
    (r"\b0[xX][0-9a-fA-F]+\b", "<hex>"),
    (r"\b[0-9a-fA-F]{12,}\b", "<hex>"),
    (r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", "<num>"),
    # runs of white space and tabs/newlines -> one space (a lone space already is one: cheaper than \s+)
    (r"\s{2,}|[^\S ]", " "),
]


def mask_expr(expr: pl.Expr) -> pl.Expr:
    for pattern, repl in MASKS:
        expr = expr.str.replace_all(pattern, repl)
    return expr.str.strip_chars()


def mask_message(text: str) -> str:
    """The template of one message: ``"retry 3 for 10.0.0.7"`` -> ``"retry <num> for <ip>"``."""
    return pl.select(mask_expr(pl.lit(text, pl.String))).item()


def _text(frame: pl.DataFrame, column: str | None, helper: str) -> pl.Expr:
    """The message expression: ``column``, else the first of message/msg/event not null on each row."""
    if column is not None:
        F.require(frame, [column], helper)
        return pl.col(column).cast(pl.String)
    found = [c for c in ("message", "msg", "event") if c in frame.columns]
    if not found:
        msg = f"ob.{helper}: no message column (message, msg or event); pass column='<the text column>'"
        raise UsageError(msg)
    return pl.coalesce([pl.col(c).cast(pl.String) for c in found])


def _masked(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with ``_mk``, the masked ``_msg``: one slice per polars thread, masked in parallel
    (a regex replace runs on one thread; this is most of log_patterns' cost on a large log)."""
    n = pl.thread_pool_size()
    if n < 2 or frame.height < 100_000:
        return frame.with_columns(mask_expr(pl.col("_msg")).alias("_mk"))
    size = -(-frame.height // n)
    parts = [frame.slice(i * size, size).lazy().with_columns(mask_expr(pl.col("_msg")).alias("_mk")) for i in range(n)]
    return pl.concat(parts, parallel=True).collect()


def _assign(messages: pl.DataFrame, unique: bool) -> pl.DataFrame:
    """``messages`` has ``_msg`` (``unique``: once each) with line counts ``_n``: adds ``pattern_id`` and
    ``pattern``. Each distinct message is masked once and each distinct masked message clustered once.
    """
    per_msg = messages if unique else messages.group_by("_msg").agg(pl.col("_n").sum())
    per_msg = _masked(per_msg)
    found = templates(per_msg.group_by("_mk").agg(pl.col("_n").sum().alias("_w")))
    ids = found.select("pattern").unique()
    found = found.join(ids.with_columns(pattern_id(ids.get_column("pattern"))), on="pattern")
    mapped = per_msg.join(found, on="_mk", how="left").drop("_mk")
    if unique:
        return mapped
    return messages.join(mapped.select("_msg", "pattern_id", "pattern"), on="_msg", how="left", maintain_order="left")


def with_patterns(logs: Any, *, column: str | None = None):
    """Every row with its template: adds ``pattern_id`` (a stable 12-hex-digit hash of the template
    text) and ``pattern`` (e.g. ``"Invalid user <*> from <ip>"``), the same as ``ob.log_patterns`` gives,
    so rows can be filtered and counted by template. Rows without a message get nulls.

    ``column`` is the message column (default as in ``log_patterns``). pandas in, pandas out (the
    caller's frame is copied, its columns untouched); polars in, polars out.
    """
    engine = F.engine_of(logs)
    frame = F.to_polars(logs)
    text = _text(frame, column, "with_patterns")
    msgs = frame.select(text.alias("_msg"))
    added = _assign(msgs.filter(pl.col("_msg").is_not_null()).group_by("_msg").agg(pl.len().alias("_n")), unique=True)
    cols = msgs.join(added.drop("_n"), on="_msg", how="left", maintain_order="left").select("pattern_id", "pattern")
    if engine == "polars":
        return frame.drop([c for c in ("pattern_id", "pattern") if c in frame.columns]).hstack(cols)
    if engine == "arrow":
        table = logs.drop_columns([c for c in ("pattern_id", "pattern") if c in logs.column_names])
        for name in ("pattern_id", "pattern"):
            table = table.append_column(name, cols.get_column(name).to_arrow())
        return table
    out = logs.copy()
    back = F.back(cols, "pandas")
    for name in ("pattern_id", "pattern"):
        out[name] = back[name].set_axis(out.index)
    return out


def log_patterns(
    logs: Any,
    *,
    column: str | None = None,
    by: str | Sequence[str] | None = None,
    new_since: Any = None,
    time: str | None = None,
):
    """Group log messages into templates: numbers, ids, IPs, UUIDs, hex and timestamps masked, then
    messages that differ in a variable word clustered (``"invalid user <*>"``).

    ``column`` is the message column; by default the first of ``message``, ``msg``, ``event`` that is
    not null on each row. Returns ``pattern_id`` (as ``ob.with_patterns`` adds to each row),
    ``pattern``, the ``by`` columns (e.g. ``by=["service", "level"]``), ``count``, ``first``, ``last``
    (times) and ``example`` (one original message), most frequent first. With ``new_since`` (a time,
    e.g. the incident start) a ``new`` column says which patterns were never seen before it, and new
    patterns sort first. Templates are mined over all rows together, so ``by`` only splits the counts.
    """
    engine = F.engine_of(logs)
    frame = F.to_polars(logs)
    keys = F.names(by)
    time = time or F.default_time(frame)
    F.require(frame, [time, *keys], "log_patterns")
    text = _text(frame, column, "log_patterns")
    frame = F.utc_ns(frame, time, "log_patterns")
    t = pl.col(time)
    # one row per distinct message (and key): logs repeat the same messages many times
    per_msg = (
        frame.select(text.alias("_msg"), t.alias("_t"), *keys)
        .filter(pl.col("_msg").is_not_null())
        .group_by(["_msg", *keys])
        .agg(pl.len().alias("_n"), pl.col("_t").min().alias("first"), pl.col("_t").max().alias("last"))
    )
    per_msg = _assign(per_msg, unique=not keys)
    out = per_msg.group_by(["pattern_id", "pattern", *keys]).agg(
        pl.col("_n").sum().cast(pl.Int64).alias("count"),
        pl.col("first").min(),
        pl.col("last").max(),
        pl.col("_msg").sort_by("_n", descending=True).first().alias("example"),
    )
    order, desc = ["count", "pattern", *keys], [True, False, *[False] * len(keys)]
    if new_since is not None:
        out = out.with_columns((pl.col("first") >= F.ns_literal(new_since)).alias("new"))
        order, desc = ["new", *order], [True, *desc]
    out = out.sort(order, descending=desc, nulls_last=True)
    return F.back(out, engine)
