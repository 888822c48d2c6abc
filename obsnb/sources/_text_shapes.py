"""The line shapes of the generic timestamped-text reader (:mod:`.plaintext`) and what is done after the match.

Each shape is a general form a logging library or server writes, recognised by its structure, not by a
program's name:

* a level (and a process or thread name) inside the stamp's brackets: ``[2026-05-08 14:20:01,123: ERROR/Worker-2] msg``;
  a message that starts with a unit of work and its id (``name[uuid]``) gives ``task`` and ``task_id``;
* a severity letter, then the stamp and a pid in brackets, the level word and a program name:
  ``E, [2026-05-08T14:20:01.123456 #1234] ERROR -- worker: msg``;
* ``pid:role`` before a ``day month year`` stamp and a one-character level: ``1234:M 08 May 2026 14:20:01.123 * msg``
  (``.`` and ``-`` DEBUG, ``*`` INFO, ``#`` WARNING);
* a thread number and bracketed fields after the stamp: ``<stamp> 0 [Warning] [MY-010055] [Server] msg``
  (``code``, ``subsystem``);
* a zone name and ``[pid]`` after the stamp, then ``LEVEL:`` (``<stamp> UTC [1234] ERROR:  msg``, optionally
  ``user@database``); the secondary lines of such a record (``DETAIL:``, ``HINT:``, ``STATEMENT:``, ...
  with the same pid) are folded into it as columns of those names, lower case;
* a ``##[level]`` marker right after the stamp (CI job logs);
* a stream number and ``O``/``E`` after the stamp (``stream`` stdout/stderr);
* ``key=value`` pairs between the stamp and ``LEVEL:`` (each pair a column);
* a year-less stamp with a fraction, a host and ``program[pid]:`` or ``kernel:`` (``journalctl -o short-precise``:
  syslog's lines with sub-second times);
* and, in the generic layouts, a source location after the stamp (``{file.py:12}`` or ``file.go:12:``:
  ``file``, ``lineno``), a ``-`` between the level and the message, a ``UTC``/``GMT`` zone name after the stamp.

Zones: ``UTC``, ``GMT``, ``UT`` and ``Z`` are offset zero. Any other abbreviation (``CEST``, ``EST``) names no
single offset, so it is not read: such a time follows the zone-less rule (``tz=``, else UTC) and a warning
names the abbreviations. Nothing here runs per line in Python.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._layouts import CLOCK, Layout, check_tz, note_utc
from ._lines import head_lines, infer_numbers, pairs_to_columns
from .base import ReadContext

__all__ = ["KNOWN", "GENERIC", "MARKER", "WHAT", "zoned_read", "finish"]

WHAT = "timestamped text"
WORD = (r"(?i:trace|debug|dbg|info|information|notice|warn|warning|error|err|severe|fatal|crit|critical|"
        r"alert|emerg|panic)")
UPPER = r"(?:TRACE|DEBUG|DBG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|SEVERE|FATAL|CRIT|CRITICAL|ALERT|EMERG|PANIC)"
# A bare level word must be upper case ("ERROR boom"); "error connecting" is a message, not a level.
LEVEL = (rf"(?:\[(?P<level>{WORD}|[DIWEF])\]|(?P<level2>{UPPER})\b|<(?P<level3>{WORD})>|"
         rf"(?P<level4>{WORD}):)")
FRAC = r"(?:[.,:](?P<f>\d{1,9}))?"
# An ISO 8601 stamp (as _layouts.ISO_STAMP, which iso_parts cuts by position) whose numeric zone is also a group.
ISO = r"(?P<_iso>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?P<zoned>Z|[+-]\d{2}:?\d{2})?)"
_EXT = r"(?:go|py|rb|java|kt|scala|js|mjs|ts|c|cc|cpp|cxx|h|hpp|rs|cs|php|ex|exs|erl|swift|pl|lua)"
# A source location: {taskinstance.py:1234} or main.go:42: (a source file's extension, so host:port is none).
LOC = rf"\{{?(?P<file>[\w./-]+\.{_EXT}):(?P<lineno>\d+)(?:\}}|:)"
TAIL = rf"(?:\s+{LOC})?(?:[:,]?\s+{LEVEL})?(?:\s+-)?[:,]?(?:\s+(?P<msg>.*))?$"
UTC_NAMES = ("UTC", "GMT", "UT", "Z")
MARKER = re.compile(rb"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z ##\[[a-z]+\]")  # a CI job log's markers

KNOWN = (
    Layout("bracketed_level", rf"^\[{ISO}[:,]? (?P<level>{WORD})(?:/(?P<process>[^\]]+))?\](?:\s+(?P<msg>.*))?$"),
    Layout("severity_letter", rf"^[DIWEFA], \[{ISO} #(?P<pid>\d+)\]\s+(?P<level>[A-Z]+) -- (?P<program>[^:]*?): "
                              r"(?P<msg>.*)$"),
    Layout("pid_role", r"^(?P<pid>\d+):(?P<role>[XCSM]) (?P<d>\d{1,2}) (?P<mon>[A-Z][a-z]{2}) (?P<Y>\d{4}) " + CLOCK
                       + FRAC + r" (?P<mark>[.*#-]) (?P<msg>.*)$"),
    Layout("thread_bracketed", rf"^{ISO} (?P<tid>\d+) \[(?P<level>[A-Za-z]+)\](?: \[(?P<code>[A-Z]+-\d+)\] "
                               r"\[(?P<subsystem>[^\]]+)\])?(?:\s+(?P<msg>.*))?$"),
    Layout("zone_pid", rf"^{ISO}(?: (?:(?P<zone>[A-Z]{{2,5}})|(?P<z>[+-]\d{{2}}(?::?\d{{2}})?)))? \[(?P<pid>\d+)\]"
                       r"(?: (?P<user>[^\s@\[\]]*)@(?P<database>[^\s\[\]]*))? (?P<level>[A-Z][A-Z0-9]*):\s+(?P<msg>.*)$"),
    Layout("marker", rf"^{ISO} ##\[(?P<level>error|warning|notice|debug)\](?P<msg>.*)$"),
    Layout("stream", rf"^{ISO} (?P<stream_id>[0-9a-f]{{2}})(?P<stream>[OE])\+? ?(?P<msg>.*)$"),
    Layout("pairs", rf"^{ISO} (?P<pairs>(?:[\w.-]+=\S* )+)(?P<level>{UPPER}): (?P<msg>.*)$"),
    Layout("tagged", r"^(?P<mon>[A-Z][a-z]{2}) +(?P<d>\d{1,2}) " + CLOCK + r"\.(?P<f>\d{1,9}) "
                     r"(?P<host>[^\s\[\]:]+) (?:(?P<service>[^\s\[\]:]+)\[(?P<pid>\d+)\]|(?P<kernel>kernel)): "
                     r"(?P<msg>.*)$"),
)
GENERIC = (
    Layout("iso", rf"^\[?{ISO}(?: (?P<zone>UTC|GMT))?\]?" + TAIL),
    Layout("iso_comma", r"^\[(?P<Y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2}), " + CLOCK + FRAC +
                        r"(?: (?P<zone>[A-Z]{2,5})| ?(?P<zoned>(?P<z>[+-]\d{2}:?\d{2})))?\]" + TAIL),
    Layout("slashed", r"^\[?(?P<Y>\d{4})/(?P<mo>\d{2})/(?P<d>\d{2})[ T-]" + CLOCK + FRAC + r"\]?" + TAIL),
    Layout("clf_stamp", r"^\[?(?P<d>\d{2})/(?P<mon>[A-Z][a-z]{2})/(?P<Y>\d{4}):" + CLOCK + FRAC +
                        r"(?: (?P<zoned>(?P<z>[+-]\d{4})))?\]?" + TAIL),
    Layout("ctime", r"^\[?(?:[A-Z][a-z]{2} )?(?P<mon>[A-Z][a-z]{2}) +(?P<d>\d{1,2}) " + CLOCK + FRAC +
                    r" (?P<Y>\d{4})\]?" + TAIL),
    Layout("month_day", r"^\[?(?P<mon>[A-Z][a-z]{2}) +(?P<d>\d{1,2}),? (?:(?P<Y>\d{4}) )?" + CLOCK + FRAC +
                        r"\]?" + TAIL),
    Layout("epoch", r"^\[?(?P<epoch>1\d{9}(?:\.\d{1,9})?)\]?" + TAIL),
)
# Level spellings of these shapes that the canonical map does not hold (DEBUG1..DEBUG5, numbered debug levels, are matched apart).
_MORE_LEVELS = {"NOTE": "INFO", "SYSTEM": "INFO"}
_MARKS = {".": "DEBUG", "-": "DEBUG", "*": "INFO", "#": "WARNING"}
# The secondary lines of a record in the zone_pid shape: folded into the record above with the same pid.
SECONDARY = ("DETAIL", "HINT", "QUERY", "CONTEXT", "STATEMENT", "LOCATION")


def _named_zone_in(head: bytes, layouts) -> bool:
    """Whether a line of the head starts with a stamp followed by a zone name (one of ``layouts`` with ``zone``)."""
    for ln in head_lines(head, 50):
        for lay in layouts:
            m = lay.sniff_re.match(ln)
            if m:
                if "zone" in m.groupdict() and m.group("zone") is not None:
                    return True
                break
    return False


class _AsUtc:
    """The load's context, but ``tz`` is UTC: every zone-less time is read as UTC wall time (the load's own
    options are not changed)."""

    def __init__(self, ctx: ReadContext):
        self._ctx = ctx
        self.options = {**ctx.options, "tz": "UTC"}

    def __getattr__(self, name):
        return getattr(self._ctx, name)

    def option(self, name: str, default=None):
        return self.options.get(name, default)


def zoned_read(read, head: bytes, layouts, ctx: ReadContext):
    """``read(ctx)`` (the layouts' reader) with zone names honoured, and the ``tz=`` rule for the zone-less times.

    When the head shows a zone name the read runs with every zone-less time taken as UTC wall time; then the
    times that had no zone at all (nor ``UTC``/``GMT``) are moved into ``tz=`` when it is given (else said once
    to be UTC, as for any zone-less time). Without a zone name in the head the read is the ordinary one; a
    ``UTC`` time met further down that ``tz=`` moved is moved back.
    """
    tz = ctx.option("tz")
    if not _named_zone_in(head, layouts):
        out = read(ctx)
        if out is None or "zone" not in out:
            return out
        utc = pc.fill_null(pc.is_in(out["zone"], pa.array(UTC_NAMES)), False)
        if tz is not None and pc.any(utc).as_py():  # read in tz= (the wall clock's), meant as UTC
            wall = pc.local_timestamp(pc.cast(out["time"], pa.timestamp("ns", tz=check_tz(tz))))
            out["time"] = pc.if_else(utc, pc.cast(wall, pa.int64()), out["time"])
        _unread_zones(out, ctx)
        return out
    out = read(_AsUtc(ctx))
    if out is None:
        return out
    n = len(out["time"])
    none = pa.nulls(n, pa.string())
    named = pc.fill_null(pc.is_in(out.get("zone", none), pa.array(UTC_NAMES)), False)
    zoneless = pc.and_(pc.invert(named), pc.is_null(out.get("zoned", none)))
    if "layout" in out:
        zoneless = pc.and_(zoneless, pc.not_equal(out["layout"], "epoch"))
    if pc.any(zoneless).as_py():
        if tz is None:
            note_utc(ctx, WHAT)
        else:
            wall = pc.cast(out["time"], pa.timestamp("ns"))
            local = pc.assume_timezone(wall, timezone=check_tz(tz), ambiguous="earliest", nonexistent="earliest")
            moved = pc.cast(pc.cast(local, pa.timestamp("ns", tz="UTC")), pa.int64())
            out["time"] = pc.if_else(zoneless, moved, out["time"])
    _unread_zones(out, ctx)
    return out


def _unread_zones(out: dict, ctx: ReadContext) -> None:
    """A warning naming the zone abbreviations that were not read (their times follow the zone-less rule)."""
    if "zone" not in out:
        return
    zones = out["zone"].drop_null()
    other = pc.unique(zones.filter(pc.invert(pc.is_in(zones, pa.array(UTC_NAMES)))))
    if len(other):
        names = ", ".join(sorted(other.to_pylist()))
        ctx.warnings.append(f"time zone abbreviations ({names}) name no single UTC offset and were not read: those "
                            "times are read in tz= (or UTC); pass tz='Area/City' for the zone the log was written in")


def finish(out: dict[str, pa.Array], ctx: ReadContext) -> dict[str, pa.Array]:
    """The columns of the shapes above made canonical: levels from marks and extra spellings, ``key=value``
    pairs as columns, ``stream`` as stdout/stderr, secondary lines folded, helper groups dropped."""
    for k in ("zone", "zoned"):
        out.pop(k, None)
    kernel = out.pop("kernel", None)
    if kernel is not None:
        out["service"] = pc.coalesce(out["service"], kernel) if "service" in out else kernel
    _levels(out)
    pairs = out.pop("pairs", None)
    if pairs is not None:
        for k, v in pairs_to_columns(pc.fill_null(pairs, ""), r'[^\s="]+=\S*').items():
            out[k if k not in out else f"pairs.{k}"] = infer_numbers(v)
    if "stream" in out:
        out["stream"] = pc.if_else(pc.equal(out["stream"], "E"), "stderr",
                                   pc.if_else(pc.equal(out["stream"], "O"), "stdout", out["stream"]))
    if "layout" in out and "process" in out:
        _unit_of_work(out)
    if "layout" in out and "level_original" in out:
        out = _fold_secondary(out)
    return out


_UNIT = (r"^(?:Task )?(?P<task>[A-Za-z_][\w.]*)\[(?P<task_id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
         r"[0-9a-f]{12})\]")


def _unit_of_work(out: dict[str, pa.Array]) -> None:
    """In the ``bracketed_level`` shape (a worker's log), a message that starts with a unit of work named with its
    id (``name[uuid]``, ``Task name[uuid] ...``) gives columns ``task`` and ``task_id`` (the message is kept)."""
    import polars as pl

    mine = pc.fill_null(pc.equal(out["layout"], "bracketed_level"), False)
    ev = pl.from_arrow(pc.if_else(mine, out["event"], pa.scalar(None, out["event"].type)))
    got = ev.str.extract_groups(_UNIT).struct.unnest()
    if got["task_id"].null_count() < len(got):
        for k in ("task", "task_id"):
            out[k if k not in out else f"{k}_name"] = got[k].to_arrow().cast(pa.string())


def _levels(out: dict[str, pa.Array]) -> None:
    """``mark`` characters and the spellings of :data:`_MORE_LEVELS` (and DEBUG1..DEBUG5) as canonical levels."""
    mark = out.pop("mark", None)
    n = len(out["time"])
    level = out.get("level", pa.nulls(n, pa.string()))
    original = out.get("level_original")
    if original is not None:
        up = pc.utf8_upper(original)
        more = pc.take(pa.array(list(_MORE_LEVELS.values())), pc.index_in(up, value_set=pa.array(list(_MORE_LEVELS))))
        debug = pc.if_else(pc.match_substring_regex(up, r"^DEBUG[1-5]$"), "DEBUG", pa.scalar(None, pa.string()))
        level = pc.coalesce(level, more, debug)
    if mark is not None:
        by_mark = pc.take(pa.array(list(_MARKS.values())), pc.index_in(mark, value_set=pa.array(list(_MARKS))))
        level = pc.coalesce(level, by_mark)
        original = mark if original is None else pc.coalesce(original, mark)
        out["level_original"] = original
    out["level"] = level


def _fold_secondary(out: dict[str, pa.Array]) -> dict[str, pa.Array]:
    """Rows of the ``zone_pid`` shape whose level word is one of :data:`SECONDARY` join the record above with
    the same pid: their message becomes that record's column of the word's name (lower case, several joined
    with newlines). One with no such record above stays a record of its own. polars, no loop per line."""
    import polars as pl

    word = pc.utf8_upper(out["level_original"])
    sec = pc.fill_null(pc.and_(pc.equal(out["layout"], "zone_pid"), pc.is_in(word, pa.array(SECONDARY))), False)
    if not pc.any(sec).as_py():
        return out
    n = len(out["time"])
    df = pl.DataFrame({"i": np.arange(n), "pid": pl.from_arrow(out["pid"]).cast(pl.String),
                       "sec": pl.from_arrow(sec), "word": pl.from_arrow(word), "msg": pl.from_arrow(out["event"])})
    df = df.with_columns(pl.when(~pl.col("sec")).then(pl.col("i")).forward_fill().over("pid").alias("into"))
    fold = df.filter(pl.col("sec") & pl.col("into").is_not_null())
    if fold.height == 0:
        return out
    keep = np.ones(n, dtype=bool)
    keep[fold["i"].to_numpy()] = False
    kept_index = np.cumsum(keep) - 1  # row -> its place among the kept rows
    mask = pa.array(keep)
    out = {k: v.filter(mask) for k, v in out.items()}
    m = int(keep.sum())
    agg = fold.group_by("into", "word", maintain_order=True).agg(pl.col("msg").str.join("\n"))
    for w in agg["word"].unique(maintain_order=True).to_list():
        part = agg.filter(pl.col("word") == w)
        idx = np.full(m, -1, dtype=np.int64)
        idx[kept_index[part["into"].to_numpy()]] = np.arange(part.height)
        name = w.lower() if w.lower() not in out else f"{w.lower()}_text"
        out[name] = pc.take(part["msg"].to_arrow().cast(pa.string()), pa.array(idx, mask=idx < 0))
    return out
