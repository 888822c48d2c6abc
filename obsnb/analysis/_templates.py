"""Log templates mined from masked messages: a Drain-style prefix tree, then a split by rare word columns.

The input is the set of *distinct* masked messages with their line counts (a log repeats the same few
thousand shapes millions of times), so the Python-level work here grows with the distinct count, not
with the line count; everything per token is polars.

1. Drain (He et al., ICWS 2017, from its published description): messages of the same token count,
   routed by their first ``PREFIX_TOKENS`` tokens (a token with a digit or a placeholder routes as
   ``<*>``), join the most similar cluster of their leaf when at least ``SIMILARITY`` of the positions
   hold the same token; positions where members differ become ``<*>``.
2. Split: a Drain cluster whose differing column holds only a few digit-free words over many lines
   (at most ``SPLIT_MAX_VALUES`` values, at most ``SPLIT_MAX_SHARE`` values per line) is several
   templates ("Starting ... initialization" / "... finalization"), so it is split by that column.
   A column with many values ("invalid user admin", "... test", ...) stays one ``<*>``.
"""

from __future__ import annotations

import hashlib
import re

import polars as pl

__all__ = ["WILDCARD", "templates", "pattern_id"]

WILDCARD = "<*>"
PREFIX_TOKENS = 1
SIMILARITY = 0.5
MAX_CHILDREN = 100
SPLIT_MAX_VALUES = 3
SPLIT_MAX_SHARE = 0.5
_VARIABLE = r"\d|<(?:num|hex|ip|uuid|time)>"
_VARIABLE_RE = re.compile(_VARIABLE)


def _drain(messages: list[str]) -> list[int]:
    """The Drain cluster number of each (distinct, masked, single-spaced) message."""
    root: dict = {}
    clusters: list[list[str]] = []
    out: list[int] = []
    for text in messages:
        tokens = text.split(" ")
        node = root.setdefault(len(tokens), {})
        for tok in tokens[:PREFIX_TOKENS]:
            key = WILDCARD if _VARIABLE_RE.search(tok) else tok
            if key not in node and len(node) >= MAX_CHILDREN:
                key = WILDCARD
            node = node.setdefault(key, {})
        leaf = node.setdefault(None, [])
        best, best_same, best_wild = -1, -1, -1
        for c in leaf:
            same = wild = 0
            for a, b in zip(clusters[c], tokens):
                if a == WILDCARD:
                    wild += 1
                elif a == b:
                    same += 1
            if same > best_same or (same == best_same and wild > best_wild):
                best, best_same, best_wild = c, same, wild
        if best >= 0 and best_same >= SIMILARITY * len(tokens):
            clusters[best] = [a if a == b else WILDCARD for a, b in zip(clusters[best], tokens)]
        else:
            best = len(clusters)
            clusters.append(tokens)
            leaf.append(best)
        out.append(best)
    return _merge_prefixes(out, clusters)


def _merge_prefixes(out: list[int], clusters: list[list[str]]) -> list[int]:
    """Clusters equal but for one routing token are merged (the split pass re-splits few-valued columns).

    Drain routes by the first tokens, so a variable word there ("user alice logged in") opens a branch
    per value; a template that agrees elsewhere on at least ``SIMILARITY`` of its positions is one.
    """
    parent = list(range(len(clusters)))

    def find(c: int) -> int:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    for pos in range(PREFIX_TOKENS):
        seen: dict = {}
        for c, tpl in enumerate(clusters):
            if len(tpl) <= pos:
                continue
            rest = tpl[:pos] + tpl[pos + 1:]
            if sum(t != WILDCARD for t in rest) < SIMILARITY * len(tpl):
                continue
            key = (len(tpl), pos, *rest)
            if key in seen:
                parent[find(c)] = find(seen[key])
            else:
                seen[key] = c
    return [find(c) for c in out]


def templates(masked: pl.DataFrame) -> pl.DataFrame:
    """``masked`` has ``_mk`` (distinct masked messages) and ``_w`` (their line counts).

    Returns ``_mk`` and ``pattern`` (the template: a token where all members agree, else ``<*>``).
    The messages are clustered in sorted order, so the result does not depend on row order.
    """
    u = masked.sort("_mk").with_row_index("_mid")
    u = u.with_columns(pl.Series("_cid", _drain(u.get_column("_mk").to_list()), pl.Int64))
    tok = (u.select("_mid", "_cid", "_w", pl.col("_mk").str.split(" ").alias("_tok"))
           .explode("_tok")
           .with_columns(pl.int_range(pl.len()).over("_mid").alias("_pos")))
    cols = (tok.group_by("_cid", "_pos")
            .agg(pl.col("_tok").n_unique().alias("nu"), pl.col("_w").sum().alias("n"),
                 pl.col("_tok").str.contains(_VARIABLE).any().alias("var")))
    split = cols.filter((pl.col("nu") > 1) & (pl.col("nu") <= SPLIT_MAX_VALUES)
                        & (pl.col("nu") <= SPLIT_MAX_SHARE * pl.col("n")) & ~pl.col("var"))
    words = (tok.join(split.select("_cid", "_pos"), on=["_cid", "_pos"], how="semi")
             .sort("_mid", "_pos").group_by("_mid").agg(pl.col("_tok").str.join("\x1f").alias("_split")))
    u = u.join(words, on="_mid", how="left").with_columns(
        pl.struct("_cid", pl.col("_split").fill_null("")).rank("dense").alias("_gid"))
    tok = tok.join(u.select("_mid", "_gid"), on="_mid")
    per_pos = tok.group_by("_gid", "_pos").agg(
        pl.when(pl.col("_tok").n_unique() == 1).then(pl.col("_tok").first()).otherwise(pl.lit(WILDCARD)).alias("_t"))
    pattern = per_pos.sort("_gid", "_pos").group_by("_gid").agg(pl.col("_t").str.join(" ").alias("pattern"))
    return u.join(pattern, on="_gid").select("_mk", "pattern")


def pattern_id(patterns: pl.Series) -> pl.Series:
    """A stable short id per template text: the first 12 hex digits of its BLAKE2b hash.

    Called on the distinct templates only (a few thousand at most), so a Python loop is fine here.
    """
    ids = [None if p is None else hashlib.blake2b(p.encode(), digest_size=6).hexdigest() for p in patterns.to_list()]
    return pl.Series("pattern_id", ids, pl.String)
