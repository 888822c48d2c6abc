"""logfmt: ``time=2024-05-14T13:05:00Z level=info msg="job done" job_id=42`` lines.

Each line is one record of ``key=value`` pairs (values bare or double-quoted with ``\\"`` escapes;
the last of a repeated key wins). Well-known keys become canonical columns:

* ``time``: ``time``, ``ts``, ``timestamp``, ``t``, ``@timestamp``, ``datetime`` (ISO 8601 with any
  offset, or epoch s/ms/µs/ns told apart by magnitude);
* ``level``: ``level``, ``lvl``, ``severity``, ``loglevel`` (original kept in ``level_original``
  when it differs from the canonical name);
* ``event``: ``event``, ``message``, ``msg``, ``evt``;
* ``service``: ``service``, ``service.name``, ``svc``, ``app``;
* ``trace_id`` / ``span_id``: ``trace_id``, ``traceID``, ``traceId``, ``trace.id`` (and span likewise).

Other keys stay columns under their own name; a column whose every value is a number becomes
int64/float64. ``_line`` is the 1-based line number; blank lines are not records.

Rejected (with the line): binary garbage, a line with no ``key=value`` pair, an unterminated quoted
value (e.g. a last line cut short), and a line without a readable timestamp (like the JSON-lines
reader: a log line that cannot be placed in time would vanish from every window silently).
"""

from __future__ import annotations

import re
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from .. import schema
from ._lines import connect, head_lines, infer_numbers, pairs_to_columns, read_lines, reject_where, times_to_ns
from ._common import source_column
from .base import FileFormat, FileInput, Part, ReadContext

__all__ = ["Logfmt", "PAIR"]

PAIR = r'[^\s="]+=(?:"(?:[^"\\]|\\.)*"|[^\s"]*)'
ALIASES: dict[str, tuple[str, ...]] = {
    "time": ("time", "ts", "timestamp", "t", "@timestamp", "datetime"),
    "level": ("level", "lvl", "severity", "loglevel"),
    "event": ("event", "message", "msg", "evt"),
    "service": ("service", "service.name", "svc", "app"),
    "trace_id": ("trace_id", "traceID", "traceId", "trace.id", "traceid"),
    "span_id": ("span_id", "spanID", "spanId", "span.id", "spanid"),
}
_VALUE = rb'("(?:[^"\\\n]|\\.)*"|[^\s"]*)'
_SNIFF_LINE = re.compile(rb'^[A-Za-z_@][\w.@\-]*=' + _VALUE + rb'(\s+[^\s="]+=' + _VALUE + rb')+\s*$')


def _unbalanced(lines: pa.Array) -> pa.Array:
    """True where a line has an odd number of unescaped double quotes."""
    quotes = pc.count_substring(lines, '"')
    escaped = pc.fill_null(pc.greater(pc.count_substring(lines, "\\"), 0), False)
    if pc.any(escaped).as_py():  # drop escape sequences (\" and \\) first, only where a backslash is
        unescaped = pc.replace_substring_regex(lines.filter(escaped), r"\\.", "")
        quotes = pc.replace_with_mask(quotes, escaped, pc.count_substring(unescaped, '"'))
    return pc.equal(pc.bit_wise_and(quotes, 1), 1)


class Logfmt(FileFormat):
    """logfmt log lines (Heroku, Go's log/slog text handler, Grafana, Loki's logfmt)."""

    name = "logfmt"
    kinds = ("logs",)
    extensions = (".logfmt",)

    @classmethod
    def sniff(cls, head: bytes, path: str) -> float:
        lines = head_lines(head, 50)
        if not lines:
            return 0.0
        hits = sum(1 for ln in lines if _SNIFF_LINE.match(ln.rstrip(b"\r")))
        share = hits / len(lines)
        return 0.4 + 0.4 * share if share >= 0.3 else 0.0

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        lines, numbers, bad = read_lines(src)
        if len(lines) == 0:
            return
        con = connect()
        unbalanced = pc.and_(pc.invert(bad), _unbalanced(lines))
        ok = pc.invert(pc.or_(bad, unbalanced))
        cols = pairs_to_columns(lines, PAIR)
        has_pair = pc.match_substring_regex(lines, PAIR)
        canon: dict[str, pa.Array] = {}
        for name, keys in ALIASES.items():  # lines may use different spellings: coalesce them per line
            found = [cols.pop(k) for k in keys if k in cols]
            if found:
                canon[name] = found[0] if len(found) == 1 else pc.coalesce(*found)
        raw_time = canon.get("time", pa.nulls(len(lines), pa.string()))
        time = times_to_ns(con, raw_time)
        reason = pc.if_else(bad, "binary or undecodable bytes, not a logfmt line",
                 pc.if_else(unbalanced, "unterminated quoted value (line cut short?)",
                 pc.if_else(pc.invert(has_pair), "no key=value pair",
                 pc.if_else(pc.is_valid(raw_time),
                            pc.binary_join_element_wise("unparseable timestamp '", raw_time, "'", ""),
                            "no timestamp (looked for " + ", ".join(ALIASES["time"]) + ")"))))
        good = pc.and_(ok, pc.and_(has_pair, pc.is_valid(time)))
        reject_where(ctx, src.path, pc.invert(good), lines, numbers, reason)
        out: dict[str, pa.Array] = {"time": time.filter(good)}
        if "level" in canon:
            level, original = schema.normalize_levels(canon["level"].filter(good))
            out["level"] = level
            if original is not None:
                out["level_original"] = original
        for name in ("event", "service", "trace_id", "span_id"):
            if name in canon:
                out[name] = canon[name].filter(good)
        for k, v in cols.items():
            v = v.filter(good)
            if k not in out and v.null_count < len(v):  # a key seen only on rejected lines is no column
                out[k] = infer_numbers(v)
        out["_line"] = numbers.filter(good)
        n = len(out["_line"])
        out["_source"] = source_column(src.path, n)
        yield Part("logs", pa.table(out))  # also when every line was rejected: the kind is known
