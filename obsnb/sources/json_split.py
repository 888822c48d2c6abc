"""JSON documents cut into their records before anything is decoded: a JSON array's elements, an RFC 7464
JSON text sequence's records (``\\x1e`` before each).

:func:`array_elements` finds an array's top-level commas with numpy: the quotes that open or close a string
(a quote after an even run of backslashes), the brackets and commas outside every string, their depth by a
cumulative sum. :func:`sequence_records` cuts at each record separator byte (which JSON never holds raw, so no
string scan is needed). Each gives, per element, its byte range and the line it starts on, so a reader can
reject an element over the record cap, or one that is no object, by its index and line without decoding it,
and hand the others to the JSON-lines reader one a line (:func:`write_lines`). No Python runs per element.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["Elements", "array_elements", "sequence_records", "write_lines", "RS"]

RS = 0x1E  # RFC 7464's record separator
_WS = np.zeros(256, dtype=bool)
_WS[[0x20, 0x09, 0x0A, 0x0D]] = True
_GAP = 64  # whitespace bytes between a separator and its element looked at with numpy (indentation)


@dataclasses.dataclass
class Elements:
    """Per element: ``start`` (its first byte that is not whitespace; ``end`` when it has none), ``end``
    (exclusive: its separator), ``line`` (1-based, of ``start``), ``obj`` (it is a JSON object with at least one
    member, judged by its first byte and the next bracket), ``broken`` (a raw line break inside one of its strings,
    which JSON does not allow: its lines can not be joined into one), and whether the document ``closed``."""

    start: np.ndarray
    end: np.ndarray
    line: np.ndarray
    obj: np.ndarray
    broken: np.ndarray
    closed: bool = True

    @property
    def size(self) -> np.ndarray:
        return self.end - self.start


def _string_quotes(arr: np.ndarray) -> np.ndarray:
    """Positions of the quotes that open or close a JSON string (not the escaped ones: after an odd run of
    backslashes, each run's length found from where the runs of backslash positions break), sorted."""
    q = np.flatnonzero(arr == 0x22)
    after_bs = np.flatnonzero(arr[np.maximum(q - 1, 0)] == 0x5C) if len(q) else q
    after_bs = after_bs[q[after_bs] > 0]
    if not len(after_bs):
        return q
    bs = np.flatnonzero(arr == 0x5C)
    first = np.concatenate([[0], np.flatnonzero(np.diff(bs) != 1) + 1])  # index in bs of each run's first
    j = np.searchsorted(bs, q[after_bs] - 1)  # the backslash just before the quote
    run = j - first[np.searchsorted(first, j, side="right") - 1] + 1
    escaped = np.zeros(len(q), dtype=bool)
    escaped[after_bs] = run % 2 == 1
    return q[~escaped]


def _lines_of(arr: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(newline positions, the 1-based line of each of ``pos``)."""
    nl = np.flatnonzero(arr == 0x0A)
    return nl, np.searchsorted(nl, pos, side="left") + 1


def _first_byte(arr: np.ndarray, after: np.ndarray, end: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """The first non-whitespace byte at or after ``after`` and before ``end`` (``end`` when none): the next of
    ``tokens`` (structural bytes outside strings, string quotes) when only whitespace comes before it (checked
    over the gap's bytes, one pass per byte of the widest usual gap), else found by a scan of that element alone
    (one that starts with a scalar such as ``5``, or after an unusually long run of whitespace)."""
    if len(tokens):
        nxt = np.searchsorted(tokens, after, side="left")
        cand = np.where(nxt < len(tokens), tokens[np.minimum(nxt, len(tokens) - 1)], end)
    else:
        cand = end.copy()
    cand = np.minimum(cand, end)
    gap = cand - after
    clean = gap <= _GAP
    for j in range(int(min(gap.max(initial=0), _GAP))):
        sel = np.flatnonzero(clean & (gap > j))
        clean[sel] &= _WS[arr[after[sel] + j]]
    out = cand.copy()
    for i in np.flatnonzero(~clean):  # a scalar element (rejected: no record) or a long gap: a few at most
        seg = arr[after[i]:end[i]]
        hit = np.flatnonzero(~_WS[seg])
        out[i] = after[i] + hit[0] if len(hit) else end[i]
    return out


def array_elements(data: bytes) -> Elements | None:
    """The elements of the JSON array ``data`` is (whitespace around it allowed), or None when it is no array:
    something after the array closes, brackets that do not balance, or values not separated by commas (JSON
    lines whose first line happens to be an array). An array cut short (no closing bracket) is one whose last
    element runs to the end of the data (``closed`` False)."""
    arr = np.frombuffer(data, dtype=np.uint8)
    nonws = np.flatnonzero(~_WS[arr[:4096]])
    if not len(nonws) or arr[nonws[0]] != 0x5B:
        return None
    quotes = _string_quotes(arr)
    struct = np.flatnonzero((arr == 0x5B) | (arr == 0x5D) | (arr == 0x7B) | (arr == 0x7D) | (arr == 0x2C))
    outside = np.searchsorted(quotes, struct, side="right") % 2 == 0  # an even number of string quotes before it
    struct = struct[outside]
    ch = arr[struct]
    step = np.where((ch == 0x5B) | (ch == 0x7B), 1, np.where((ch == 0x5D) | (ch == 0x7D), -1, 0))
    depth = np.cumsum(step)  # depth after each structural byte
    if (depth < 0).any():
        return None
    zero = np.flatnonzero(depth == 0)
    closed = bool(len(zero))
    if closed:
        close = int(struct[zero[0]])
        if (~_WS[arr[close + 1:]]).any():
            return None  # more after the array: not one document
        keep = np.arange(len(struct)) <= zero[0]
        struct, ch, depth = struct[keep], ch[keep], depth[keep]
    seps = struct[((ch == 0x2C) & (depth == 1)) | ((ch == 0x5D) & (depth == 0))]
    if not closed:
        seps = np.append(seps, len(arr))
    begin = np.concatenate([[struct[0] + 1], seps[:-1] + 1]).astype(np.int64)
    end = seps.astype(np.int64)
    opens = struct[((ch == 0x7B) | (ch == 0x5B)) & (depth == 2)]  # containers that start at the top level
    if len(opens) > len(end):
        return None  # two values with no comma between them
    tokens = np.union1d(struct, quotes)
    start = _first_byte(arr, begin, end, tokens)
    if len(end) == 1 and start[0] == end[0]:  # "[]": no element at all
        return Elements(*(np.zeros(0, np.int64) for _ in range(3)), np.zeros(0, bool), np.zeros(0, bool), closed)
    nl, line = _lines_of(arr, start)
    obj = (start < end) & (arr[np.minimum(start, len(arr) - 1)] == 0x7B)
    # "{}": the structural byte after the element's "{" is its "}"
    at = np.searchsorted(struct, start)
    nxt = struct[np.minimum(at + 1, len(struct) - 1)]
    obj &= ~((at + 1 < len(struct)) & (arr[nxt] == 0x7D) & (np.searchsorted(quotes, nxt) == np.searchsorted(quotes, start)))
    return Elements(start, end, line, obj, _broken(arr, quotes, start, end), closed)


def sequence_records(data: bytes) -> Elements:
    """The records of an RFC 7464 JSON text sequence: the bytes after each ``\\x1e`` up to the next one (a
    record may span lines; bytes before the first separator are a record of their own)."""
    arr = np.frombuffer(data, dtype=np.uint8)
    rs = np.flatnonzero(arr == RS)
    begin = np.concatenate([[0], rs + 1]).astype(np.int64)
    end = np.append(rs, len(arr)).astype(np.int64)
    if len(rs) and not (~_WS[arr[:rs[0]]]).any():
        begin, end = begin[1:], end[1:]  # nothing but whitespace before the first separator
    quotes = _string_quotes(arr)
    opens = np.flatnonzero((arr == 0x7B) | (arr == 0x5B))  # where a record can start (inside a string too:
    start = _first_byte(arr, begin, end, np.union1d(opens, quotes))  # only whitespace may come before it)
    nl, line = _lines_of(arr, np.where(start < end, start, np.maximum(begin - 1, 0)))
    obj = (start < end) & (arr[np.minimum(start, max(len(arr) - 1, 0))] == 0x7B) if len(arr) else start < end
    return Elements(start, end, line, obj, _broken(arr, quotes, start, end, own=True))


def _broken(arr: np.ndarray, quotes: np.ndarray, start: np.ndarray, end: np.ndarray, own: bool = False) -> np.ndarray:
    """Elements holding a raw line break (LF or CR) inside a string: after an odd number of string quotes (of the
    whole data, or with ``own`` of the element alone: a sequence's records are separate texts, and one cut inside
    a string says nothing about the next)."""
    breaks = np.flatnonzero((arr == 0x0A) | (arr == 0x0D))
    out = np.zeros(len(start), dtype=bool)
    if not len(breaks) or not len(start):
        return out
    owner = np.searchsorted(start, breaks, side="right") - 1
    ok = owner >= 0
    breaks, owner = breaks[ok], owner[ok]
    ok = breaks < end[owner]
    breaks, owner = breaks[ok], owner[ok]
    before = np.searchsorted(quotes, breaks, side="right")
    if own:
        before = before - np.searchsorted(quotes, start[owner], side="left")
    out[owner[before % 2 == 1]] = True
    return out


def write_lines(data: bytes, el: Elements, keep: np.ndarray, out) -> None:
    """Write the kept elements to the binary file ``out``, each on one line (its line breaks, which JSON allows
    only as whitespace, made spaces): the ``i``-th line written is the ``i``-th kept element."""
    arr = np.frombuffer(data, dtype=np.uint8)
    idx = np.flatnonzero(keep)
    if not len(idx):
        return
    a, b = el.start[idx], el.end[idx]
    delta = np.zeros(len(arr) + 1, dtype=np.int8)
    delta[a] = 1  # the ranges are disjoint and not empty: no start is another's end
    delta[b] = -1
    mask = np.cumsum(delta[:len(arr)], dtype=np.int8).view(bool)
    body = np.where((arr == 0x0A) | (arr == 0x0D), np.uint8(0x20), arr)  # line breaks as spaces (whitespace in JSON)
    sep = b[b < len(arr)]
    body[sep] = 0x0A  # each element's separator ends its line
    mask[sep] = True
    out.write(body[mask].tobytes())
    if b[-1] >= len(arr):
        out.write(b"\n")
