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
from ._common import source_column, with_time_problems
from .base import FileFormat, FileInput, Part, ReadContext

__all__ = ["Logfmt", "PAIR", "take_canonical", "payload_fields"]

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


def take_canonical(cols: dict[str, pa.Array]) -> dict[str, pa.Array]:
    """Pop the :data:`ALIASES` spellings out of ``cols``: canonical name -> values (coalesced per row)."""
    canon: dict[str, pa.Array] = {}
    for name, keys in ALIASES.items():  # lines may use different spellings: coalesce them per line
        found = [cols.pop(k) for k in keys if k in cols]
        if found:
            canon[name] = found[0] if len(found) == 1 else pc.coalesce(*[f.cast(pa.string()) for f in found])
    return canon


_PAYLOAD_KV = r'^[A-Za-z_@][\w.@\-]*=(?:"(?:[^"\\]|\\.)*"|[^\s"]*)(?:\s+[^\s="]+=(?:"(?:[^"\\]|\\.)*"|[^\s"]*))+\s*$'


def _json_columns(texts: pa.Array) -> dict[str, pa.Array]:
    """JSON objects (one per text) -> flattened columns (``a.b`` for nested objects; lists as JSON text)."""
    import polars as pl

    st = pl.Series(texts).str.json_decode(infer_schema_length=None)
    if not isinstance(st.dtype, pl.Struct):
        return {}
    frame = st.struct.unnest()
    while any(isinstance(frame[c].dtype, pl.Struct) for c in frame.columns):
        frame = frame.select([pl.col(c).name.prefix_fields(c + ".").struct.unnest() if isinstance(frame[c].dtype, pl.Struct)
                              else pl.col(c) for c in frame.columns])
    out = {}
    for c in frame.columns:
        col = frame[c]
        if isinstance(col.dtype, (pl.List, pl.Array)):
            col = pl.select(pl.when(col.is_null()).then(None).otherwise(col.list.eval(pl.element().cast(pl.String))
                            .list.join(",")).alias(c)).to_series()
        out[c] = col.to_arrow()
    return out


def payload_fields(msgs: pa.Array) -> dict[str, pa.Array]:
    """Fields of the messages that are themselves a JSON object or logfmt, aligned with ``msgs``.

    Canonical names come out canonical: ``time`` (int64 ns, parsed), ``level`` (canonical, with
    ``level_original``), ``event``, ``service``, ``trace_id``, ``span_id``; every other key under its own name.
    Rows whose message is neither are null; an empty dict when no message is.
    """
    import numpy as np
    import polars as pl

    s = pl.Series(msgs)
    is_json = s.str.contains(r"^\s*\{.*\}\s*$").fill_null(False)
    is_kv = (~is_json & s.str.contains(_PAYLOAD_KV).fill_null(False))
    found: dict[str, pa.Array] = {}
    n = len(msgs)
    for mask, parse in ((is_json, _json_columns), (is_kv, lambda t: pairs_to_columns(t, PAIR))):
        if not mask.any():
            continue
        idx = np.flatnonzero(mask.to_numpy())
        try:
            cols = parse(msgs.take(pa.array(idx)))
        except pl.exceptions.ComputeError:  # a text that looked like JSON but is not: not a payload
            continue
        where = np.full(n, -1, dtype=np.int64)
        where[idx] = np.arange(len(idx))
        ptr = pa.array(where, mask=where < 0)
        for k, v in cols.items():
            v = pc.take(v, ptr)
            found[k] = v if k not in found else pc.coalesce(found[k].cast(pa.string()), v.cast(pa.string()))
    if not found:
        return {}
    canon = take_canonical(found)
    out: dict[str, pa.Array] = {}
    if "time" in canon:
        out["time"] = times_to_ns(connect(), canon["time"].cast(pa.string()))
    if "level" in canon:
        out["level"], original = schema.normalize_levels(canon["level"].cast(pa.string()))
        if original is not None:
            out["level_original"] = original
    for k in ("event", "service", "trace_id", "span_id"):
        if k in canon:
            out[k] = canon[k].cast(pa.string())
    for k, v in found.items():
        if k not in out:
            out[k] = infer_numbers(v) if pa.types.is_string(v.type) else v
    return out


_WINS = ("time", "level", "level_original", "event", "service", "trace_id", "span_id")


def merge_payload(out: dict[str, pa.Array]) -> None:
    """Parse ``out["event"]`` as a JSON/logfmt payload into ``out``, in place.

    The payload's own time, level, message, service and ids win where it has them; its other keys
    become columns (``payload.<key>`` when the outer record already has that column).
    """
    fields = payload_fields(out["event"])
    for k, v in fields.items():
        if k in _WINS:
            out[k] = pc.coalesce(v.cast(out[k].type), out[k]) if k in out else v
        else:
            out[f"payload.{k}" if k in out else k] = v


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
        lines, numbers, bad = read_lines(src, ctx)
        if len(lines) == 0:
            return
        con = connect()
        unbalanced = pc.and_(pc.invert(bad), _unbalanced(lines))
        ok = pc.invert(pc.or_(bad, unbalanced))
        cols = pairs_to_columns(lines, PAIR)
        has_pair = pc.match_substring_regex(lines, PAIR)
        canon = take_canonical(cols)
        raw_time = canon.get("time", pa.nulls(len(lines), pa.string()))
        time = times_to_ns(con, raw_time)
        reason = pc.if_else(bad, "binary or undecodable bytes, not a logfmt line",
                 pc.if_else(unbalanced, "unterminated quoted value (line cut short?)",
                 pc.if_else(pc.invert(has_pair), "no key=value pair",
                 pc.if_else(pc.is_valid(raw_time),
                            pc.binary_join_element_wise("unparseable timestamp '", raw_time, "'", ""),
                            "no timestamp (looked for " + ", ".join(ALIASES["time"]) + ")"))))
        good = pc.and_(ok, pc.and_(has_pair, pc.is_valid(time)))
        reason = with_time_problems(reason, raw_time, pc.and_(ok, pc.and_(has_pair, pc.is_null(time))))
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
