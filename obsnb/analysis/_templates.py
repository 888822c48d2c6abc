"""Log templates mined from masked messages: a Drain-style prefix tree, then a split by rare word columns.

The input is the set of *distinct* masked messages with their line counts (a log repeats the same few
thousand shapes millions of times), so the Python-level work here grows with the distinct count, not
with the line count; everything per token is polars.

1. Drain (He et al., ICWS 2017, from its published description): messages of the same token count,
   routed by their first ``PREFIX_TOKENS`` token (one with a digit or a placeholder routes as ``<*>``),
   join the most similar cluster of their leaf when at least ``SIMILARITY`` of the positions hold the
   same token; positions where members differ become ``<*>``. Clusters equal but for the routing token
   are then merged (a variable word first, "alice logged in", would otherwise open a cluster per value).
2. Split: a cluster whose differing column holds only a few digit-free words over many lines (at most
   ``SPLIT_MAX_VALUES`` values, at most ``SPLIT_MAX_SHARE`` values per line) is several templates
   ("Starting ... initialization" / "... finalization"), so it is split by that column. A column with
   many values ("invalid user admin", "... test", ...) stays one ``<*>``.

The cost is one Python pass over the distinct masked messages (about 30 us each); the masking before
it, the grouping and the joins are polars.
"""

from __future__ import annotations

import gc
import hashlib
import re
from operator import eq

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


def _drain(messages: list[list[str]]) -> list[int]:
    """The Drain cluster number of each (distinct, masked) message, given as its tokens."""
    root: dict = {}
    clusters: list[list[str]] = []
    wilds: list[int] = []  # <*> per cluster template
    out: list[int] = []
    for tokens in messages:
        node = root.setdefault(len(tokens), {})
        for tok in tokens[:PREFIX_TOKENS]:
            key = WILDCARD if _VARIABLE_RE.search(tok) else tok
            if key not in node and len(node) >= MAX_CHILDREN:
                key = WILDCARD
            node = node.setdefault(key, {})
        leaf = node.setdefault(None, [])
        best, best_same, best_wild = -1, -1, -1
        for c in leaf:
            same = sum(map(eq, clusters[c], tokens))  # C speed; a template's <*> never equals a token
            if same > best_same or (same == best_same and wilds[c] > best_wild):
                best, best_same, best_wild = c, same, wilds[c]
        if best >= 0 and best_same >= SIMILARITY * len(tokens):
            if best_same + best_wild < len(tokens):  # else the template already covers the message
                clusters[best] = [a if a == b else WILDCARD for a, b in zip(clusters[best], tokens)]
                wilds[best] = clusters[best].count(WILDCARD)
        else:
            best = len(clusters)
            clusters.append(tokens)
            wilds.append(tokens.count(WILDCARD))
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


def _template(members: list[list[str]]) -> str:
    """A token where all members agree, else ``<*>`` (columns transposed with ``zip``: C speed)."""
    return " ".join(col[0] if len(set(col)) == 1 else WILDCARD for col in zip(*members))


def _patterns(tokens: list[list[str]], weights: list[int], clusters: list[int]) -> list[str]:
    """The template of each message, clusters split by their few-valued digit-free columns."""
    groups: dict[int, list[int]] = {}
    for i, c in enumerate(clusters):
        groups.setdefault(c, []).append(i)
    out: list[str] = [""] * len(tokens)
    for idx in groups.values():
        if len(idx) == 1:
            out[idx[0]] = " ".join(tokens[idx[0]])
            continue
        members = [tokens[i] for i in idx]
        lines = sum(weights[i] for i in idx)
        split = [p for p, col in enumerate(zip(*members))
                 if 1 < len(vals := set(col)) <= min(SPLIT_MAX_VALUES, SPLIT_MAX_SHARE * lines)
                 and not any(_VARIABLE_RE.search(v) for v in vals)]
        parts: dict[tuple, list[int]] = {}
        for i in idx:
            parts.setdefault(tuple(tokens[i][p] for p in split), []).append(i)
        for part in parts.values():
            text = _template([tokens[i] for i in part])
            for i in part:
                out[i] = text
    return out


def templates(masked: pl.DataFrame) -> pl.DataFrame:
    """``masked`` has ``_mk`` (distinct masked messages) and ``_w`` (their line counts).

    Returns ``_mk`` and ``pattern`` (the template: a token where all members agree, else ``<*>``).
    The messages are clustered in sorted order, so the result does not depend on row order.
    """
    u = masked.sort("_mk")
    texts = u.get_column("_mk").to_list()
    # many small lists and no cycles: the cyclic collector would rescan them all again and again
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        tokens = [t.split(" ") for t in texts]
        found = _patterns(tokens, u.get_column("_w").to_list(), _drain(tokens))
    finally:
        if was_enabled:
            gc.enable()
    return u.select("_mk", pl.Series("pattern", found, pl.String))


def pattern_id(patterns: pl.Series) -> pl.Series:
    """A stable short id per template text: the first 12 hex digits of its BLAKE2b hash.

    Called on the distinct templates only (a few thousand at most), so a Python loop is fine here.
    """
    ids = [None if p is None else hashlib.blake2b(p.encode(), digest_size=6).hexdigest() for p in patterns.to_list()]
    return pl.Series("pattern_id", ids, pl.String)
