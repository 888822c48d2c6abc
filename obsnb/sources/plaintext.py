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

Lines that start no record are continuations (``exception`` of the record above). Zone-less
times are read in ``tz=`` or else UTC (with a warning); yearless ones take the year from ``year=``
or the file's modification time.
"""

from __future__ import annotations

from typing import Iterator

import pyarrow as pa

from ..errors import UsageError
from ._common import source_column
from ._layouts import CLOCK, ISO_STAMP, Layout, read_layouts, sniff_layouts
from ._lines import head_lines
from .base import FileFormat, FileInput, Part, ReadContext

__all__ = ["PlainText", "RegexText"]

_WORD = (r"(?i:trace|debug|dbg|info|information|notice|warn|warning|error|err|severe|fatal|crit|critical|"
         r"alert|emerg|panic)")
_UPPER = r"(?:TRACE|DEBUG|DBG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|SEVERE|FATAL|CRIT|CRITICAL|ALERT|EMERG|PANIC)"
# A bare level word must be upper case ("ERROR boom"); "error connecting" is a message, not a level.
_LEVEL = (rf"(?:\[(?P<level>{_WORD}|[DIWEF])\]|(?P<level2>{_UPPER})\b|<(?P<level3>{_WORD})>|"
          rf"(?P<level4>{_WORD}):)")
_FRAC = r"(?:[.,:](?P<f>\d{1,9}))?"
_TAIL = rf"(?:[:,]?\s+{_LEVEL})?[:,]?(?:\s+(?P<msg>.*))?$"
LAYOUTS = (
    Layout("cbs", rf"^{ISO_STAMP}, (?P<level>[A-Z][a-z]+)\s+(?P<component>\S+)\s+(?P<msg>.*)$"),
    Layout("pipe", r"^(?P<Y>\d{4})(?P<mo>\d{2})(?P<d>\d{2})-(?P<H>\d{2}):(?P<M>\d{2}):(?P<S>\d{2})" + _FRAC +
                   r"\|(?P<component>[^|]*)\|(?P<pid>\d+)\|(?P<msg>.*)$"),
    Layout("bracketed_program", r"^\[(?P<mo>\d{2})\.(?P<d>\d{2}) " + CLOCK + _FRAC +
                                r"\] (?P<program>[^\s\[\]]+(?: \*\d+)?) - (?P<msg>.*)$"),
    Layout("iso", rf"^\[?{ISO_STAMP}\]?" + _TAIL),
    Layout("slashed", r"^\[?(?P<Y>\d{4})/(?P<mo>\d{2})/(?P<d>\d{2})[ T-]" + CLOCK + _FRAC + r"\]?" + _TAIL),
    Layout("clf_stamp", r"^\[?(?P<d>\d{2})/(?P<mon>[A-Z][a-z]{2})/(?P<Y>\d{4}):" + CLOCK + _FRAC +
                        r"(?: (?P<z>[+-]\d{4}))?\]?" + _TAIL),
    Layout("ctime", r"^\[?(?:[A-Z][a-z]{2} )?(?P<mon>[A-Z][a-z]{2}) +(?P<d>\d{1,2}) " + CLOCK + _FRAC +
                    r" (?P<Y>\d{4})\]?" + _TAIL),
    Layout("month_day", r"^\[?(?P<mon>[A-Z][a-z]{2}) +(?P<d>\d{1,2}),? (?:(?P<Y>\d{4}) )?" + CLOCK + _FRAC +
                        r"\]?" + _TAIL),
    Layout("epoch", r"^\[?(?P<epoch>1\d{9}(?:\.\d{1,9})?)\]?" + _TAIL),
)


def _leveled_share(head: bytes) -> float:
    """The share of the head's lines that one of the generic layouts matches with a level."""
    lines = head_lines(head, 50)
    hits = 0
    for ln in lines:
        for lay in LAYOUTS[3:]:
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
        if sniff_layouts(head, LAYOUTS[:3]) >= 0.9:
            return 0.8
        score = sniff_layouts(head, LAYOUTS, score=0.3)
        if score == 0.3 and _leveled_share(head) >= 0.3:
            return 0.5  # timestamps and levels: above syslog's "timestamp, then anything" (0.45)
        return score

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        out = read_layouts(src, ctx, LAYOUTS, "timestamped text")
        if out is None:
            return
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

