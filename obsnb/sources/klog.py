"""klog / glog: Kubernetes components and Go/C++ services using Google's log format.

``Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg`` (``E0701 12:00:01.123456    1234 reflector.go:42] msg``),
where L is I, W, E or F. klog's structured form, ``"Pod status updated" pod="kube-system/x" ready=true``,
gives ``event`` = the quoted message and one column per key (values unquoted). glog writes no year
and no zone: the year comes from ``year=`` or the file's modification time (see the syslog reader),
the zone from ``tz=`` (else UTC, with a warning). Lines that start no record (a Go panic's goroutine
dump) go to ``exception`` of the record above.

Columns: ``time``, ``level`` (I INFO, W WARNING, E ERROR, F CRITICAL; the letter in ``level_original``),
``event``, ``tid``, ``file``, ``lineno``.
"""

from __future__ import annotations

from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from ._common import source_column
from ._layouts import CLOCK, Layout, read_layouts, sniff_layouts
from ._lines import pairs_to_columns
from .base import FileFormat, FileInput, Part, ReadContext
from .logfmt import PAIR

__all__ = ["Klog", "KLOG", "structured"]

KLOG = (r"^(?P<level>[IWEF])(?P<mo>\d{2})(?P<d>\d{2}) " + CLOCK + r"\.(?P<f>\d{1,9})\s+(?P<tid>\d+) "
        r"(?P<file>[^:\s\]]+):(?P<lineno>\d+)\] ?(?P<msg>.*)$")
LAYOUTS = (Layout("klog", KLOG),)
_STRUCTURED = r'^"(?P<text>(?:[^"\\]|\\.)*)"(?: (?P<kv>.*))?$'


def structured(out: dict[str, pa.Array]) -> None:
    """klog's structured messages (``"msg" key="value" ...``): the quoted text as ``event``, the pairs as columns."""
    import polars as pl

    parts = pl.Series(out["event"]).str.extract_groups(_STRUCTURED).struct.unnest()
    text = parts["text"]
    if text.null_count() == len(text):
        return
    unescaped = text.str.replace_all(r'\\(["\\])', "${1}").to_arrow().cast(pa.string())
    out["event"] = pc.coalesce(unescaped, out["event"])
    kv = parts["kv"].to_arrow().cast(pa.string())
    if kv.null_count < len(kv):
        for k, v in pairs_to_columns(pc.fill_null(kv, ""), PAIR).items():
            out[f"kv.{k}" if k in out else k] = v


class Klog(FileFormat):
    """klog / glog lines (Kubernetes, Go and C++ services)."""

    name = "klog"
    kinds = ("logs",)
    extensions = ()

    @classmethod
    def sniff(cls, head: bytes, path: str) -> float:
        return sniff_layouts(head, LAYOUTS, r"^(\s|$|goroutine \d|panic:|Log file |Running on machine|Log line format)")

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        out = read_layouts(src, ctx, LAYOUTS, "klog", r"^[IWEF]\d")
        if out is None:
            return
        structured(out)
        out["_source"] = source_column(src.path, len(out["_line"]))
        yield Part("logs", pa.table(out))
