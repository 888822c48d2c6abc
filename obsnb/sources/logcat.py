"""Android logcat: ``threadtime`` (the default of ``adb logcat``), ``time`` and ``brief`` with a date.

* threadtime: ``03-17 16:13:38.811  1702  2395 D WindowManager: msg`` (optionally with a year, as
  ``logcat -v year`` writes: ``2024-03-17 16:13:38.811 ...``);
* time: ``03-17 16:13:38.811 D/WindowManager( 1702): msg``.

Columns: ``time`` (logcat writes no year: it comes from ``year=`` or the file's modification time,
see the syslog reader; no zone: ``tz=`` or UTC), ``level`` from the priority letter (V and D ->
DEBUG, I -> INFO, W -> WARNING, E -> ERROR, F and A -> CRITICAL; the letter in ``level_original``),
``event``, ``tag``, ``pid``, ``tid``. Lines that start no record (a stack trace printed as
continuation lines) go to ``exception`` of the record above.
"""

from __future__ import annotations

from typing import Iterator

import pyarrow as pa

from ._common import source_column
from ._layouts import CLOCK, Layout, read_layouts, sniff_layouts
from .base import FileFormat, FileInput, Part, ReadContext

__all__ = ["Logcat"]

_DATE = r"(?:(?P<Y>\d{4})-)?(?P<mo>\d{2})-(?P<d>\d{2}) " + CLOCK + r"\.(?P<f>\d{3,9})"
LAYOUTS = (
    Layout("threadtime", rf"^{_DATE}\s+(?P<pid>\d+)\s+(?P<tid>\d+) (?P<level>[VDIWEFA]) (?P<tag>.*?)\s*: (?P<msg>.*)$"),
    Layout("time", rf"^{_DATE} (?P<level>[VDIWEFA])/(?P<tag>[^(]*?)\(\s*(?P<pid>\d+)\): (?P<msg>.*)$"),
)
HEAD = r"^(\d{4}-)?\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d+ "


class Logcat(FileFormat):
    """Android logcat output (threadtime and time formats)."""

    name = "logcat"
    kinds = ("logs",)
    extensions = ()

    @classmethod
    def sniff(cls, head: bytes, path: str) -> float:
        return sniff_layouts(head, LAYOUTS, r"^(\s|$|-{5,} beginning of)")

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        out = read_layouts(src, ctx, LAYOUTS, "logcat", HEAD)
        if out is None:
            return
        out["_source"] = source_column(src.path, len(out["_line"]))
        yield Part("logs", pa.table(out))
