"""Matching text lines against record layouts: each a whole-line regex (Rust syntax) with named groups.

:func:`match_layouts` runs polars' regex over the lines, one pass per layout over the lines still
unmatched (the file's own layout first), on one thread per share of a big input. A message that runs to
the end of the line is not captured: the regex stops where it begins, and the message is a view into
the file's bytes (:func:`_head_pattern`).
"""

from __future__ import annotations

import dataclasses
import functools
import re

import numpy as np

from ._lines import Lines


@dataclasses.dataclass(frozen=True)
class Layout:
    """One record-starting line shape: a regex (Rust syntax) with named groups.

    Groups named in :data:`TIME_GROUPS` build ``time``; ``level`` becomes ``level`` (mapped to the
    canonical names, the original kept in ``level_original``); ``msg`` becomes ``event``; ``service``,
    ``trace_id`` and ``span_id`` keep their canonical names; every other group is a column of its own.
    """

    name: str
    pattern: str

    @property
    def sniff_re(self) -> re.Pattern:
        return compiled(self.pattern)


@functools.lru_cache(maxsize=None)
def compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern.encode())


def match_layouts(lines: Lines, layouts: tuple[Layout, ...]):
    """Match each line against each layout in turn, only on lines still unmatched (not garbage).

    Returns the indices of record-starting lines (sorted), which layout each matched, and the
    groups of those lines as polars string Series (every group of every layout; null where a layout
    lacks it), in line order. The groups stay in polars: each becomes Arrow once, when it is output.
    A message that runs to the end of the line is not captured: it is a view into the lines' bytes,
    from where the rest of the match ends (see :func:`_head_pattern`).
    """
    import polars as pl

    remaining = ~lines.bad
    found: list[tuple[np.ndarray, int, pl.DataFrame]] = []
    for form in _try_order(lines.text, layouts):
        idx = np.flatnonzero(remaining)
        if not len(idx):
            break
        sub = lines.text if len(idx) == len(lines.text) else lines.text.gather(idx)
        head, sep = _head_pattern(layouts[form].pattern)
        m = _extract(sub, head or layouts[form].pattern)
        ok = m.select(pl.any_horizontal(pl.all().is_not_null())).to_series()
        if not ok.any():
            continue
        if not ok.all():
            m = m.filter(ok)
        rows = idx[ok.to_numpy()]
        if head is not None:
            m = _rest_as_msg(m, lines, rows, sep)
        found.append((rows, form, m))
        remaining[rows] = False
    if not found:  # no record at all: every group, empty
        groups = {g: pl.Series(g, [], pl.String) for lay in layouts for g in lay.sniff_re.groupindex}
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64), groups
    starts = np.concatenate([f[0] for f in found])
    forms = np.concatenate([np.full(len(f[0]), f[1]) for f in found])
    frame = found[0][2] if len(found) == 1 else pl.concat([f[2] for f in found], how="diagonal")
    if len(found) > 1:
        order = np.argsort(starts, kind="stable")
        starts, forms, frame = starts[order], forms[order], frame[pl.Series(order)]
    return starts, forms, {c: frame[c] for c in frame.columns}


# A message group that runs to the end of the line, alone or after a separator (then null without one).
_RESTS = (("(?P<msg>.*)$", None), ("(?: (?P<msg>.*))?$", " "), (r"(?:\s+(?P<msg>.*))?$", r"\s+"))
_PARALLEL_LINES = 200_000  # lines per thread worth a thread of their own


@functools.lru_cache(maxsize=None)
def _head_pattern(pattern: str) -> tuple[str | None, str | None]:
    """``pattern`` without its trailing message group: (``^(?P<_head>...)`` and a ``_sep`` group for the
    separator, the separator), or (None, None) when it has no such group or a top-level ``|``.

    The regex then stops where the message begins: capturing the message costs about as much as all
    the other groups together, and its bytes are already in the lines.
    """
    for rest, sep in _RESTS:
        if pattern.startswith("^") and pattern.endswith(rest) and not _top_level_bar(pattern[1:-len(rest)]):
            head = f"^(?P<_head>{pattern[1:-len(rest)]})"
            return (head + f"(?P<_sep>{sep}|$)" if sep else head), sep
    return None, None


def _top_level_bar(pattern: str) -> bool:
    """Whether ``pattern`` has a ``|`` outside every group and class (so it cannot be cut in two)."""
    depth, i, in_class = 0, 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 1
        elif in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += 1 if pattern[i + 1:i + 2] in ("]", "^") else 0  # a leading ] or ^ is part of the class
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            return True
        i += 1
    return False


def _extract(sub, pattern: str):
    """Named groups of ``pattern`` per line, polars' regex on one thread per share of a big input."""
    import polars as pl

    k = min(pl.thread_pool_size(), len(sub) // _PARALLEL_LINES)
    if k <= 1:
        return sub.str.extract_groups(pattern).struct.unnest()
    cut = np.linspace(0, len(sub), k + 1).astype(np.int64)
    parts = [pl.LazyFrame({"l": sub.slice(int(a), int(b - a))}).select(pl.col("l").str.extract_groups(pattern))
             .unnest("l") for a, b in zip(cut[:-1], cut[1:])]
    return pl.concat(pl.collect_all(parts), rechunk=False)


def _rest_as_msg(m, lines: Lines, rows: np.ndarray, sep: str | None):
    """The groups of :func:`_head_pattern`'s match with ``msg``, the rest of each line, in place of ``_head``."""
    begin = lines.starts[rows] + m["_head"].str.len_bytes().to_numpy().astype(np.int64)
    valid = None
    if sep is not None:
        gap = m["_sep"].str.len_bytes().to_numpy().astype(np.int64)
        begin += gap
        valid = gap > 0  # no separator: the line ended, and the message is null
    msg = lines.views(begin, lines.ends[rows], valid).alias("msg")
    return m.drop([c for c in ("_head", "_sep") if c in m.columns]).with_columns(msg)


def _try_order(lines, layouts: tuple[Layout, ...], sample: int = 200) -> list[int]:
    """The layouts that start the file's first records first (each keeps its place among them), then the rest.

    Each pass runs over the lines still unmatched, so trying the file's own layout first means the
    others see only its stack traces and strays.
    """
    head = [ln.encode() for ln in lines.head(sample).to_list() if ln is not None]
    used = set()
    for ln in head:
        for i, lay in enumerate(layouts):
            if lay.sniff_re.match(ln):
                used.add(i)
                break
    return [i for i in range(len(layouts)) if i in used] + [i for i in range(len(layouts)) if i not in used]
