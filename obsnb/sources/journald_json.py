"""journald's JSON export (format ``journald_json``): ``journalctl -o json``, one entry per line,
``journalctl -o json-pretty``, the same entries over several lines each, and ``-o json-seq`` (RFC 7464: ``\x1e``
before each entry) and ``-o json-sse`` (``data: `` before each, blank lines between), read as ``-o json`` is once
the frame is off (all four told apart without being named).

Columns from the journal's fields:

* ``time``: ``__REALTIME_TIMESTAMP`` (microseconds since the epoch, written as a string);
* ``level``: ``PRIORITY`` (syslog severities): 0 emerg, 1 alert, 2 crit -> CRITICAL; 3 err -> ERROR;
  4 warning -> WARNING; 5 notice, 6 info -> INFO; 7 debug -> DEBUG (``PRIORITY`` is kept as a column);
* ``service``: ``SYSLOG_IDENTIFIER``, else ``_COMM``; ``host``: ``_HOSTNAME``; ``event``: ``MESSAGE``;
* every other field (``_PID``, ``_SYSTEMD_UNIT``, ``_TRANSPORT``, ``__CURSOR`` ...) under its own name,
  as an integer when every value is one.

journald writes a value that is not printable UTF-8 as an array of byte values: a ``MESSAGE``
array is decoded as UTF-8 (colour codes and other control characters kept); bytes that are not
UTF-8 show as ``\\xNN`` escapes, so nothing is lost. A field with several values is an array of
strings, kept as its JSON text. The message is then read like a container's line
(:func:`obsnb.sources.cri.read_message`): a JSON/logfmt payload gives its fields and its own time
and level, and a level the program wrote at the start (``WARNING:root:...``, ``ERROR: ...``, a klog
letter) wins over ``PRIORITY`` (which, for a service's captured stdout/stderr, is only the unit's
default); when the payload's time differs from the journal's, the journal's stays in ``journald.time``.

Rejected (with the line): binary garbage, a line that is not a JSON object, and an entry without a
readable ``__REALTIME_TIMESTAMP``. DuckDB's JSON functions do the parsing over the whole column.

json-pretty (each entry ``{`` alone on a line, one field a line, ``}`` alone on a line) is joined into one
JSON text per entry first (:func:`_pretty_entries`) and then read exactly as ``-o json``: the same frame,
but ``_line`` is the line of the entry's ``{``. A record is an entry: one cut short (it runs to the next
``{``), a run of lines outside every entry, and an entry over the record cap (``max_record_bytes``, on the
whole entry) are each one rejected record. A file is read as json-pretty when it has at least as many
``{`` lines as lines holding a whole object, so a ``-o json`` line cut to ``{`` stays a rejected line.
"""

from __future__ import annotations

import re
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._common import source_column
from ._lines import infer_numbers, read_lines, reject_where
from ._object_lines import objects_sql, query_lines, sniff_objects
from .base import FileFormat, FileInput, Part, ReadContext, over_cap_reason, record_cap
from .cri import read_message

__all__ = ["JournaldJson", "PRIORITY_LEVELS"]

PRIORITY_LEVELS = ("CRITICAL", "CRITICAL", "CRITICAL", "ERROR", "WARNING", "INFO", "INFO", "DEBUG")
_TAKEN = {"__REALTIME_TIMESTAMP": "time", "MESSAGE": "event", "_HOSTNAME": "host", "SYSLOG_IDENTIFIER": "service"}

def _sql_text(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _pointer(key: str) -> str:
    """A JSON pointer to a top-level member, as an SQL literal (any key, quotes and slashes included)."""
    return _sql_text("/" + key.replace("~", "~0").replace("/", "~1"))


def _message_bytes(lists: pa.Array) -> pa.Array:
    """Byte-value arrays (list<uint8>) -> binary, built on the list's own buffers (no copy, no loop)."""
    lists = lists.cast(pa.list_(pa.uint8()))
    values = lists.values
    if values.offset:  # the buffers below assume the child starts at its buffer's start
        values = pa.concat_arrays([values])
        lists = pa.ListArray.from_arrays(lists.offsets, values, mask=pc.is_null(lists))
    return pa.BinaryArray.from_buffers(pa.binary(), len(lists), [lists.buffers()[0], lists.buffers()[1],
                                       values.buffers()[1]], offset=lists.offset)


_PRETTY_KEY = re.compile(rb'[ \t]+"(?:__CURSOR|__REALTIME_TIMESTAMP)"[ \t]*:')


def _pretty_head(head: bytes) -> bool:
    """json-pretty: the head's first line is ``{`` alone and an indented journal field follows before ``}``."""
    lines = head.lstrip().split(b"\n", 64)[:64]
    if lines[0].rstrip() != b"{":
        return False
    for ln in lines[1:]:
        if ln.rstrip() == b"}":
            return False
        if _PRETTY_KEY.match(ln):
            return True
    return False


def _pretty_entries(lines: pa.Array, numbers: pa.Array, bad: pa.Array, cap: int, oversized=()):
    """``journalctl -o json-pretty``'s lines -> one JSON text per entry, as ``-o json`` has it on one line.

    journalctl writes each entry as ``{`` alone on a line, its fields indented one per line (an array value
    over several lines), and ``}`` alone on a line; a value never holds a raw newline (JSON escapes it). So
    an entry is the lines from a ``{`` line up to its first ``}`` line; an entry cut short runs to the next
    ``{`` and fails to parse. A run of lines outside every entry is one record of its own (rejected), and so
    is an entry over the record cap (its text is never joined). An entry holding a line that was itself over
    the cap (``oversized``: that line is already rejected, with the cap's reason, and left out) is that same
    record: it is not counted again. Returns (texts, first line numbers, bad, reasons known before parsing:
    null for the rest). numpy cumulative sums; no loop per line or entry.
    """
    opens = pc.match_substring_regex(lines, r"^\{\s*$").to_numpy(zero_copy_only=False)
    closes = pc.match_substring_regex(lines, r"^\}\s*$").to_numpy(zero_copy_only=False)
    n = len(lines)
    entry = np.cumsum(opens)  # which entry's "{" a line follows (0: none yet)
    starts = np.flatnonzero(opens)
    ends_seen = np.cumsum(closes) - closes  # "}" lines before each line
    at_open = ends_seen[starts[np.maximum(entry - 1, 0)]]  # "}" lines before the entry's own "{"
    inside = (entry > 0) & (ends_seen == at_open)  # no "}" yet between the entry's "{" and this line
    stray = ~inside
    first = opens | (stray & ~np.concatenate([[False], stray[:-1]]))  # a record starts here
    bounds = np.flatnonzero(first)
    size = pc.binary_length(lines).to_numpy(zero_copy_only=False).astype(np.int64) + 1  # with its newline
    nbytes = np.add.reduceat(size, bounds) - 1
    over = nbytes > cap
    rec = np.cumsum(first) - 1  # the record of each line
    texts = pc.if_else(pa.array(over[rec]), "", lines) if over.any() else lines  # one over the cap is not joined
    offsets = pa.array(np.append(bounds, n).astype(np.int32))
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, texts), "\n")
    rec_bad = np.add.reduceat(np.asarray(bad.to_numpy(zero_copy_only=False), dtype=np.int64), bounds) > 0
    is_stray = stray[bounds]
    reason = pc.if_else(pa.array(is_stray), "lines outside any journal entry (json-pretty's { ... })",
                        pa.scalar(None, pa.string()))
    big = over & ~is_stray
    if big.any():  # a few entries at most: the cap's reason names each one's size
        reason = pc.replace_with_mask(reason, pa.array(big),
                                      pa.array([over_cap_reason(int(b), cap) for b in nbytes[big]], pa.string()))
    firsts = numbers.take(pa.array(bounds))
    rec_bad = pa.array(rec_bad & ~is_stray & ~over)
    if len(oversized):  # the record each already-rejected line fell in
        seen = np.searchsorted(firsts.to_numpy(), np.asarray([o[0] for o in oversized]), side="right") - 1
        keep = np.ones(len(bounds), dtype=bool)
        keep[seen[seen >= 0]] = False
        keep = pa.array(keep)
        return joined.filter(keep), firsts.filter(keep), rec_bad.filter(keep), reason.filter(keep)
    return joined, firsts, rec_bad, reason


def _framing(head: bytes) -> str | None:
    """The regex of the frame before each entry: ``\x1e`` (``-o json-seq``, RFC 7464) or ``data: ``
    (``-o json-sse``, server-sent events), or None (``-o json``, ``-o json-pretty``)."""
    start = head.lstrip(b" \t\r\n")
    if start.startswith(b"\x1e"):
        return "\x1e"
    if start.startswith(b"data:"):
        return "data: ?"
    return None


def _unframed(lines: pa.Array, numbers: pa.Array, bad: pa.Array, framing: str):
    """The lines of ``-o json-seq`` / ``-o json-sse`` as ``-o json``'s: the frame taken off each line's start. In a
    sequence each ``\x1e`` starts a record, so a line holding more than one (a record cut short, the next one
    after it on the same line) is cut there: each record is judged alone, on the line it is on."""
    lines = pc.replace_substring_regex(lines, "^" + framing, "")
    if framing == "\x1e" and pc.any(pc.match_substring(lines, "\x1e")).as_py():
        parts = pc.split_pattern(lines, "\x1e")
        at = pc.list_parent_indices(parts)
        lines, numbers, bad = pc.list_flatten(parts), numbers.take(at), bad.take(at)
        piece = pc.not_equal(pc.utf8_trim_whitespace(lines), "")  # nothing between two separators: no record
        lines, numbers, bad = lines.filter(piece), numbers.filter(piece), bad.filter(piece)
    return lines, numbers, bad


class JournaldJson(FileFormat):
    """``journalctl -o json`` and ``-o json-pretty`` exports."""

    name = "journald_json"
    kinds = ("logs",)
    extensions = ()

    @classmethod
    def sniff(cls, head: bytes, path: str) -> float:
        if _pretty_head(head):
            return 0.95
        framing = _framing(head)
        if framing == "\x1e":
            head = head.replace(b"\x1e", b"\n")  # each separator starts a record
        elif framing is not None:
            head = re.sub(rb"(?m)^" + framing.encode(), b"", head)
        return sniff_objects(head, lambda o: "__REALTIME_TIMESTAMP" in o or "__CURSOR" in o)

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        lines, numbers, bad = read_lines(src, ctx)
        if len(lines) == 0:
            return
        framing = _framing(src.head(4096))
        if framing is not None:
            lines, numbers, bad = _unframed(lines, numbers, bad, framing)
        known, cut = pa.nulls(len(lines), pa.string()), "a line cut short?"  # why rejected before parsing
        opens = pc.sum(pc.match_substring_regex(lines, r"^\{\s*$")).as_py() or 0
        if opens and opens >= (pc.sum(pc.match_substring_regex(lines, r"^\s*\{.*\S")).as_py() or 0):
            lines, numbers, bad, known = _pretty_entries(lines, numbers, bad, record_cap(ctx), src.oversized)
            cut = "an entry cut short?"
        con, _ = query_lines(lines, "obsnb_journal_in",
                             f"CREATE OR REPLACE TEMP TABLE obsnb_journal AS {objects_sql('obsnb_journal_in')}")
        try:
            # keys in order of first appearance: by record, then by place in the record (ties would be unordered)
            keys = [r[0] for r in con.sql(
                "SELECT k FROM (SELECT k, min((i, pos)) AS first FROM (SELECT i, unnest(json_keys(j)) AS k, "
                "unnest(range(len(json_keys(j)))) AS pos FROM obsnb_journal WHERE ok) GROUP BY k) ORDER BY first").fetchall()]
            cols = ", ".join(f"json_extract_string(j, {_pointer(k)}) AS c{n}" for n, k in enumerate(keys))
            # MESSAGE as byte values: an array of numbers 0-255 only (an array of strings is a multi-valued field)
            t = con.sql(f"SELECT ok, {cols + ', ' if cols else ''}marray, "
                        "CASE WHEN len(b) = list_aggregate(b, 'count') THEN b END AS mbytes "
                        "FROM (SELECT *, json_type(j, '/MESSAGE') = 'ARRAY' AS marray, "
                        "try(from_json(json_extract(j, '/MESSAGE'), '[\"UTINYINT\"]')) AS b FROM obsnb_journal) "
                        "ORDER BY i").to_arrow_table()
            fields = {k: t.column(f"c{n}").combine_chunks().cast(pa.string()) for n, k in enumerate(keys)}
            if "MESSAGE" in fields and pc.any(pc.fill_null(t.column("marray"), False)).as_py():
                blobs = _message_bytes(t.column("mbytes").combine_chunks())
                con.register("obsnb_journal_bytes", pa.table({"b": blobs}))
                text = con.sql("SELECT coalesce(try(decode(b)), b::VARCHAR) AS m FROM obsnb_journal_bytes").to_arrow_table()
                con.unregister("obsnb_journal_bytes")
                fields["MESSAGE"] = pc.coalesce(text.column("m").combine_chunks().cast(pa.string()), fields["MESSAGE"])
        finally:
            con.execute("DROP TABLE IF EXISTS obsnb_journal")
        ok = t.column("ok").combine_chunks()
        raw_time = fields.get("__REALTIME_TIMESTAMP", pa.nulls(len(lines), pa.string()))
        us = pc.if_else(pc.match_substring_regex(raw_time, r"^\d{1,18}$"), raw_time, pa.scalar(None, pa.string()))
        time = pc.multiply(us.cast(pa.int64()), 1000)
        reason = pc.if_else(bad, "binary or undecodable bytes, not a journal entry",
                 pc.if_else(pc.invert(ok), f"not a JSON object ({cut})",
                 pc.if_else(pc.is_null(raw_time), "no __REALTIME_TIMESTAMP",
                            pc.binary_join_element_wise("unreadable __REALTIME_TIMESTAMP '", raw_time, "'", ""))))
        reason = pc.coalesce(known, reason)
        good = pc.and_(pc.and_(pc.and_(pc.invert(bad), ok), pc.is_valid(time)), pc.is_null(known))
        reject_where(ctx, src.path, pc.invert(good), lines, numbers, reason)
        fields = {k: v.filter(good) for k, v in fields.items()}
        out: dict[str, pa.Array] = {"time": time.filter(good)}
        n = len(out["time"])
        prio = pc.cast(pc.if_else(pc.match_substring_regex(fields.get("PRIORITY", pa.nulls(n, pa.string())), r"^[0-7]$"),
                                  fields.get("PRIORITY", pa.nulls(n, pa.string())), pa.scalar(None, pa.string())),
                       pa.int64())
        out["level"] = pc.take(pa.array(PRIORITY_LEVELS, pa.string()), prio)
        for key, name in _TAKEN.items():
            if key in fields and name != "time":
                out[name] = fields.pop(key)
        fields.pop("__REALTIME_TIMESTAMP", None)
        if "_COMM" in fields:
            out["service"] = pc.coalesce(out["service"], fields["_COMM"]) if "service" in out else fields["_COMM"]
        out["event"] = out.get("event", pa.nulls(n, pa.string()))
        for k, v in fields.items():
            if v.null_count < len(v):  # a field seen only on rejected lines is no column
                out[k] = infer_numbers(v)
        read_message(out, keep_time="journald.time")
        out["_line"] = numbers.filter(good)
        out["_source"] = source_column(src.path, n)
        yield Part("logs", pa.table(out))
