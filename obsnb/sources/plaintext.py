"""Any line-oriented text whose records start with a timestamp: time, level (when there is one) and message.

The last resort before "format not recognised". Known shapes first, then the general one:

* Windows CBS/CSI: ``2016-09-28 04:30:30, Info                  CBS    msg`` (``component`` kept);
* pipe-separated: ``20171223-22:15:29:606|Step_LSC|30002312|msg`` (``component``, ``pid``);
* bracketed: ``[10.30 16:49:06] chrome.exe - msg`` (no year; ``program`` kept) and ``[2024-05-14 12:00:01] msg``;
* any line starting with a common timestamp (ISO 8601 with ``T`` or space, ``2024/05/14 12:00:01``,
  ``14/May/2024:12:00:01``, ``Tue May 14 12:00:01 2024``, ``May 14 12:00:01``, epoch seconds or
  milliseconds) followed by an optional level: a word in brackets (``[warn]``, ``<error>``), a bare
  upper-case word (``ERROR``; "error connecting" is a message), a word and a colon (``warning:``) or a
  bracketed letter (``[E]``; a bare
  letter is too often a word: "I think"), then the message.

Lines that start no record are continuations (``exception`` of the record above); a Python logging
BASIC_FORMAT line (``WARNING:root:disk low``) is a record with the time of the record above (see
``log4j``). Zone-less times are read in ``tz=`` or else UTC (with a warning); yearless ones take the
year from ``year=`` or the file's modification time.
"""

from __future__ import annotations

import re
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import UsageError
from ..registry import NoTimestamps
from ._common import file_mtime_ns, source_column
from ._layouts import CLOCK, ISO_STAMP, Layout, fold_continuations, map_levels, read_layouts, sniff_layouts
from ._text_shapes import FRAC, GENERIC, KNOWN, MARKER, WHAT, finish, zoned_read
from ._lines import extract, head_lines, read_lines, reject_where
from .cri import PY_BASIC
from .log4j import TIMELESS
from .base import FileFormat, FileInput, Part, ReadContext

__all__ = ["PlainText", "RegexText", "PythonBasic"]

_BASIC = re.compile(PY_BASIC.encode())
_KNOWN = (
    Layout("cbs", rf"^{ISO_STAMP}, (?P<level>[A-Z][a-z]+)\s+(?P<component>\S+)\s+(?P<msg>.*)$"),
    Layout("pipe", r"^(?P<Y>\d{4})(?P<mo>\d{2})(?P<d>\d{2})-(?P<H>\d{2}):(?P<M>\d{2}):(?P<S>\d{2})" + FRAC +
                   r"\|(?P<component>[^|]*)\|(?P<pid>\d+)\|(?P<msg>.*)$"),
    Layout("bracketed_program", r"^\[(?P<mo>\d{2})\.(?P<d>\d{2}) " + CLOCK + FRAC +
                                r"\] (?P<program>[^\s\[\]]+(?: \*\d+)?) - (?P<msg>.*)$"),
) + KNOWN
LAYOUTS = _KNOWN + GENERIC


def _known_share(head: bytes) -> float:
    """The share of the head's lines that one of the specific shapes matches."""
    lines = head_lines(head, 50)
    return sum(any(lay.sniff_re.match(ln) for lay in _KNOWN) for ln in lines) / len(lines) if lines else 0.0


def _leveled_share(head: bytes) -> float:
    """The share of the head's lines that one of the layouts matches with a level (a CI log's ``##[...]``
    markers count: they are its levels, and the lines between them have none)."""
    lines = head_lines(head, 50)
    hits = 0
    for ln in lines:
        if MARKER.match(ln):
            hits += 1
            continue
        for lay in LAYOUTS[len(_KNOWN) - len(KNOWN):]:
            m = lay.sniff_re.match(ln)
            if m:
                hits += any(v is not None for k, v in m.groupdict().items() if k.startswith("level"))
                break
    return hits / len(lines) if lines else 0.0


class PlainText(FileFormat):
    """Line-oriented text logs whose records start with a timestamp."""

    name = "text"
    kinds = ("logs",)
    extensions = (".log", ".txt")

    @classmethod
    def sniff(cls, head: bytes, path: str) -> float:
        if sniff_layouts(head, _KNOWN) >= 0.9:
            # nearly every line in one of the specific shapes: above syslog's "a stamp, a host, a tag:" (0.85),
            # which the shapes' lines (a stream tag, a sub-second stamp) would fit but not parse
            return 0.9 if _known_share(head) >= 0.9 else 0.8
        score = sniff_layouts(head, LAYOUTS, score=0.3)
        if score == 0.3 and _leveled_share(head) >= 0.3:
            return 0.5  # timestamps and levels: above syslog's "timestamp, then anything" (0.45)
        return score

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        out = zoned_read(lambda c: read_layouts(src, c, LAYOUTS, WHAT, timeless=TIMELESS), src.head(65536),
                         LAYOUTS, ctx)
        if out is None:
            return
        out = finish(out, ctx)
        out["_source"] = source_column(src.path, len(out["_line"]))
        yield Part("logs", pa.table(out))


class RegexText(FileFormat):
    """Any line format, described by a regex with named groups: ``format="regex", pattern=r"..."``.

    Groups: ``time`` (ISO 8601 or epoch; any other shape with ``time_format="%d.%m.%Y %H:%M:%S"``, a
    strptime format) or the parts ``Y``, ``mo``/``mon``, ``d``, ``H``, ``M``, ``S``, ``f``, ``z``;
    ``level``; ``msg`` (or ``message``/``event``); every other group is a column. Lines that do not
    match continue the record above (``exception``); before the first record they are rejected.
    """

    name = "regex"
    kinds = ("logs",)
    extensions = ()

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        import re

        pattern = ctx.option("pattern")
        if not pattern:
            msg = ('format="regex" needs pattern=, a regex with named groups, e.g. '
                   r'pattern=r"^(?P<time>\S+) (?P<level>\w+) (?P<msg>.*)$"')
            raise UsageError(msg)
        pattern = re.sub(r"\(\?P<(message|event)>", "(?P<msg>", str(pattern))
        try:
            groups = set(re.compile(pattern).groupindex)
        except re.error as exc:
            raise UsageError(f"pattern= is not a valid regex: {exc}") from None
        if "time" not in groups and not {"mo", "d"} <= groups and "mon" not in groups and "epoch" not in groups:
            raise UsageError("pattern= needs a named group for the time: (?P<time>...), or Y, mo, d, H, M, S")
        if not pattern.startswith("^"):
            pattern = "^" + pattern
        out = read_layouts(src, ctx, (Layout("regex", pattern),), "pattern-matching")
        if out is None:
            return
        out["_source"] = source_column(src.path, len(out["_line"]))
        yield Part("logs", pa.table(out))



class PythonBasic(FileFormat):
    """Python logging's BASIC_FORMAT, ``%(levelname)s:%(name)s:%(message)s`` (``logging.basicConfig()``'s default).

    ``WARNING:app.db:pool exhausted`` holds a level, a ``logger`` and a message, but no time. obsnb
    does not invent one: without ``time=`` the load stops with :class:`~obsnb.registry.NoTimestamps`
    saying so and how to load the file (in a load of many files, that file is rejected and the others
    load). With ``time="mtime"`` every record takes the file's modification time, with any other
    ``time=`` (an ISO string, a datetime, epoch seconds) that time; the order of the records is their
    ``_line``. Lines that start no record (a traceback) go to ``exception`` of the record above; before
    the first record, and binary garbage, they are rejected.
    """

    name = "python_basic"
    kinds = ("logs",)
    extensions = ()

    @classmethod
    def sniff(cls, head: bytes, path: str) -> float:
        lines = head_lines(head, 50)
        hits = [bool(_BASIC.match(ln)) for ln in lines]
        return 0.6 if hits and hits[0] and sum(hits) / len(hits) >= 0.3 else 0.0

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        from ..timeutil import to_ns, to_utc

        when = ctx.option("time")
        if when is None:
            msg = (f"{src.path} holds Python logging's BASIC_FORMAT lines ('WARNING:root:message', the default of "
                   "logging.basicConfig()), which carry no timestamps, so obsnb cannot place its records in time. "
                   f"Load it with a time you choose: obsnb.load({src.path!r}, format='python_basic', time='mtime') "
                   "gives every record the file's modification time; time='2024-05-14T12:00Z' a time of your own "
                   "(the records keep their order in _line). Better: log with %(asctime)s in the format.")
            raise NoTimestamps(msg)
        t = file_mtime_ns(src) if when == "mtime" else to_ns(when)
        lines, numbers, bad = read_lines(src, ctx)
        if len(lines) == 0:
            return
        starts, cols = extract(lines, PY_BASIC, "level")
        start_np = pc.and_(pc.fill_null(starts, False), pc.invert(bad)).to_numpy(zero_copy_only=False)
        bad_np = bad.to_numpy(zero_copy_only=False)
        orphan = ~start_np & ~bad_np & (np.cumsum(start_np) == 0)
        reject_where(ctx, src.path, pa.array(bad_np | orphan), lines, numbers,
                     pc.if_else(bad, "binary or undecodable bytes, not a BASIC_FORMAT line",
                                "not a BASIC_FORMAT line (LEVEL:logger:message), and no record before it to continue"))
        keep = pa.array(start_np)
        n = int(start_np.sum())
        level, original = map_levels(cols["level"].filter(keep))
        out: dict[str, pa.Array] = {"time": pa.array(np.full(n, t, dtype=np.int64)), "level": level,
                                    "event": cols["msg"].filter(keep), "logger": cols["logger"].filter(keep)}
        cont = ~start_np & ~bad_np & ~orphan
        if cont.any():
            out["exception"] = fold_continuations(lines, start_np, cont, n)
        out["_line"] = numbers.filter(keep)
        out["_source"] = source_column(src.path, n)
        ctx.warnings.append(f"{src.path} has no timestamps: its {n} records all have the time given by time= "
                            f"({to_utc(t).isoformat()})")
        yield Part("logs", pa.table(out))
