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
_PIECE = 1 << 22  # bytes looked up at a time
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


# The bytes the scans look at, by kind: one table lookup and one flatnonzero over the data give them all, in order
# (an "event" each); everything after works on the events, a few in a hundred bytes of a log document.
QUOTE, OPEN, CLOSE, COMMA, LF, CR, BACKSLASH, SEP = 1, 2, 3, 4, 5, 6, 7, 8
_KIND = np.zeros(256, dtype=np.uint8)
for _c, _k in ((0x22, QUOTE), (0x5B, OPEN), (0x7B, OPEN), (0x5D, CLOSE), (0x7D, CLOSE), (0x2C, COMMA), (0x0A, LF),
               (0x0D, CR), (0x5C, BACKSLASH), (RS, SEP)):
    _KIND[_c] = _k


def _events(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positions, kinds, string-quote mask) of the bytes of :data:`_KIND`, found a piece at a time (each piece's
    lookup stays in cache). A quote is escaped when an odd run of backslashes ends just before it (each run's
    length from where the backslashes' positions stop being consecutive); the others open or close a string."""
    pieces = []
    for i in range(0, len(arr), _PIECE):
        k = _KIND[arr[i:i + _PIECE]]
        p = np.flatnonzero(k)
        pieces.append((p + i, k[p]))
    pos = np.concatenate([p for p, _ in pieces]) if pieces else np.zeros(0, np.int64)
    kind = np.concatenate([k for _, k in pieces]) if pieces else np.zeros(0, np.uint8)
    quote = kind == QUOTE
    bs = pos[kind == BACKSLASH]  # rare in logs: only the quotes right after one are looked at
    after = bs[(bs + 1 < len(arr)) & (arr[np.minimum(bs + 1, max(len(arr) - 1, 0))] == 0x22)] + 1
    if len(after):
        first = np.concatenate([[0], np.flatnonzero(np.diff(bs) != 1) + 1])  # each backslash run's first, in bs
        j = np.searchsorted(bs, after - 1)
        run = j - first[np.searchsorted(first, j, side="right") - 1] + 1
        quote[np.searchsorted(pos, after[run % 2 == 1])] = False
    return pos, kind, quote


def _lines_at(pos: np.ndarray, kind: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The 1-based line of each byte position ``at`` (the line feeds before it, plus one)."""
    return np.searchsorted(pos[kind == LF], at, side="left") + 1


def _first_byte(arr: np.ndarray, pos: np.ndarray, token: np.ndarray, after_ev: np.ndarray, after: np.ndarray,
                end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each element's first non-whitespace byte at or after ``after`` and before ``end`` (``end`` when none), and
    its event index (-1 when it is no event): the next ``token`` event (indices, sorted) from ``after_ev`` on when
    only whitespace comes before it (checked over the gap's bytes, one pass per byte of the widest usual gap), else
    found by a scan of that element alone (one that starts with a scalar such as ``5``, or after a long blank run)."""
    at = np.searchsorted(token, after_ev)
    ev = np.where(at < len(token), token[np.minimum(at, max(len(token) - 1, 0))], -1) if len(token) else \
        np.full(len(after), -1)
    cand = np.where(ev >= 0, pos[np.maximum(ev, 0)], end) if len(pos) else end.copy()
    over = cand >= end
    cand, ev = np.where(over, end, cand), np.where(over, -1, ev)
    gap = cand - after
    clean = gap <= _GAP
    for j in range(int(min(gap.max(initial=0), _GAP))):
        sel = np.flatnonzero(clean & (gap > j))
        clean[sel] &= _WS[arr[after[sel] + j]]
    odd = np.flatnonzero(~clean)  # an element that starts with a scalar (rejected: no record), or a long gap
    if not len(odd):
        return cand, ev
    found = np.full(len(odd), -1, dtype=np.int64)
    for j in range(_GAP):  # its first non-blank byte within the usual gap, a pass per byte over these only
        todo = np.flatnonzero(found < 0)
        if not len(todo):
            break
        p = after[odd[todo]] + j
        past = p >= end[odd[todo]]
        hit = past | ~_WS[arr[np.minimum(p, max(len(arr) - 1, 0))]]
        found[todo[hit]] = np.where(past[hit], end[odd[todo[hit]]], p[hit])
    for k in np.flatnonzero(found < 0).tolist():  # a run of blanks longer than the usual gap: one scan each
        i = odd[k]
        hit = np.flatnonzero(~_WS[arr[after[i]:end[i]]])
        found[k] = after[i] + hit[0] if len(hit) else end[i]
    cand[odd] = found
    e = np.minimum(np.searchsorted(pos, found), max(len(pos) - 1, 0))
    ev[odd] = np.where((len(pos) > 0) & (found < end[odd]) & (pos[e] == found), e, -1)  # the byte's event, if one
    return cand, ev


def _broken(kind: np.ndarray, inside: np.ndarray, sep_ev: np.ndarray, n: int, lead: int = 0) -> np.ndarray:
    """Elements holding a raw line break (LF or CR) inside one of their strings: such an event's element is the
    number of separator events before it (less ``lead``, for elements that start before the first separator)."""
    out = np.zeros(n, dtype=bool)
    ev = np.flatnonzero(((kind == LF) | (kind == CR)) & inside)
    if len(ev):
        owner = np.searchsorted(sep_ev, ev) - lead
        out[owner[(owner >= 0) & (owner < n)]] = True
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
    pos, kind, quote = _events(arr)
    inside = (np.cumsum(quote, dtype=np.uint8) & 1).astype(bool) & ~quote  # after an odd number of string quotes
    si = np.flatnonzero(~inside & (kind >= OPEN) & (kind <= COMMA))  # the structural events, outside strings
    ks = kind[si]
    depth = np.cumsum((ks == OPEN).astype(np.int64) - (ks == CLOSE))
    if (depth < 0).any():
        return None
    zero = np.flatnonzero(depth == 0)
    closed = bool(len(zero))
    if closed:
        z = int(zero[0])
        if (~_WS[arr[pos[si[z]] + 1:]]).any():
            return None  # more after the array: not one document
        si, ks, depth = si[:z + 1], ks[:z + 1], depth[:z + 1]
    sep_ev = si[((ks == COMMA) & (depth == 1)) | ((ks == CLOSE) & (depth == 0))]
    end = pos[sep_ev] if closed else np.append(pos[sep_ev], len(arr))
    begin_ev = np.concatenate([[si[0] + 1], sep_ev + 1])[:len(end)]
    begin = np.concatenate([[pos[si[0]] + 1], end[:-1] + 1]).astype(np.int64)
    if int(((ks == OPEN) & (depth == 2)).sum()) > len(end):
        return None  # two values at the top level with no comma between them
    mark = quote.copy()
    mark[si] = True
    token = np.flatnonzero(mark)  # where an element's first byte can be: a string quote or structural byte
    del mark
    start, ev = _first_byte(arr, pos, token, begin_ev, begin, end)
    if len(end) == 1 and start[0] == end[0]:  # "[]": no element at all
        return Elements(*(np.zeros(0, np.int64) for _ in range(3)), np.zeros(0, bool), np.zeros(0, bool), closed)
    line = _lines_at(pos, kind, start)
    at = np.searchsorted(token, ev)
    nxt = token[np.minimum(at + 1, len(token) - 1)]  # the token after the element's first
    obj = (ev >= 0) & (kind[np.maximum(ev, 0)] == OPEN) & (arr[np.minimum(start, len(arr) - 1)] == 0x7B)
    obj &= ~((kind[nxt] == CLOSE) & (nxt > ev))  # "{}" (or "{ }"): its "}" comes before any string
    return Elements(start, end, line, obj, _broken(kind, inside, sep_ev, len(end)), closed)


def sequence_records(data: bytes) -> Elements:
    """The records of an RFC 7464 JSON text sequence: the bytes after each ``\x1e`` up to the next one (a
    record may span lines; bytes before the first separator are a record of their own). Each record is a text of
    its own: its strings are counted from its start, so one cut inside a string says nothing about the next."""
    arr = np.frombuffer(data, dtype=np.uint8)
    pos, kind, quote = _events(arr)
    sep_ev = np.flatnonzero(kind == SEP)
    rs = pos[sep_ev]
    begin = np.concatenate([[0], rs + 1]).astype(np.int64)
    end = np.append(rs, len(arr)).astype(np.int64)
    begin_ev = np.concatenate([[0], sep_ev + 1])
    lead = int(bool(len(rs)) and not (~_WS[arr[:rs[0]]]).any())  # nothing but blanks before the first separator
    nq = np.cumsum(quote)
    owner = np.cumsum(kind == SEP)  # each event's record (record 0: the bytes before the first separator)
    at_begin = np.concatenate([[0], nq[sep_ev]])  # string quotes before each record
    inside = ((nq - at_begin[owner]) % 2 == 1) & ~quote
    token = np.flatnonzero((kind != LF) & (kind != CR) & (kind != SEP))
    start, ev = _first_byte(arr, pos, token, begin_ev, begin, end)
    empty = start >= end
    line = _lines_at(pos, kind, np.where(empty, np.maximum(begin - 1, 0), start))  # an empty one: its separator's
    obj = ~empty & (arr[np.minimum(start, max(len(arr) - 1, 0))] == 0x7B) if len(arr) else ~empty
    broken = _broken(kind, inside, sep_ev, len(end))
    return Elements(start[lead:], end[lead:], line[lead:], obj[lead:], broken[lead:])


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
