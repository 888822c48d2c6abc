"""How the investigation reads its evidence: every query is a polars ``LazyFrame`` plan, and only what
:func:`run` collects (an aggregate, or a few example rows) is ever materialised."""

from __future__ import annotations

import polars as pl

__all__ = ["run", "count", "columns"]


def run(lf: pl.LazyFrame) -> pl.DataFrame:
    """Run one query of the investigation (the streaming engine, so memory stays bounded where the plan allows)."""
    return lf.collect(engine="streaming")


def count(lf: pl.LazyFrame) -> int:
    """The rows of a query, counted in the engine."""
    return int(run(lf.select(pl.len())).item())


def columns(lf: pl.LazyFrame | pl.DataFrame | None) -> pl.Schema:
    """The columns of a piece of evidence (no row read)."""
    if lf is None:
        return pl.Schema()
    return lf.collect_schema() if isinstance(lf, pl.LazyFrame) else lf.schema
