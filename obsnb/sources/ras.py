"""Supercomputer RAS and event logs with an epoch column: BlueGene/L, Thunderbird (CFDR style) and HPC (LANL).

* BlueGene/L RAS: ``- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11
  RAS KERNEL INFO msg`` (alert label, epoch, date, node, wall clock, node, type, component, level, message);
* Thunderbird / Spirit / Liberty: ``- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228
  crond(pam_unix)[2915]: msg`` (alert label, epoch, date, node, then a syslog line);
* LANL HPC: ``134681 node-246 unix.hw state_change.unavailable 1077804742 1 msg`` (log id, node,
  component, state, epoch, flag, message).

``time`` is the epoch column (UTC; BGL's wall clock, written in the machine room's zone, is kept as
``wall_time``). ``level`` comes from the level word where the line has one; ``label`` is the alert
tag (``-`` = none, kept as written); a line that is not a record is rejected; BGL's ``NULL`` node or location is null.
"""

from __future__ import annotations

from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from ._common import source_column
from ._layouts import Layout, read_layouts, sniff_layouts
from .base import FileFormat, FileInput, Part, ReadContext

__all__ = ["Ras"]

_PREFIX = r"^(?P<label>\S+) (?P<epoch>\d{9,10}) \d{4}\.\d{2}\.\d{2} (?P<node>\S+) "
LAYOUTS = (
    Layout("bgl", _PREFIX + r"(?P<wall_time>\d{4}-\d{2}-\d{2}-\d{2}\.\d{2}\.\d{2}\.\d+) (?P<location>\S+) "
                            r"(?P<type>[A-Z_]+) (?P<component>\S+) "
                            r"(?P<level>INFO|WARNING|SEVERE|ERROR|FATAL|FAILURE) (?P<msg>.*)$"),
    Layout("thunderbird", _PREFIX + r"[A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2} (?P<location>\S+) "
                                    r"(?:(?P<component>[^\s:\[]+(?:\([^)]*\))?)(?:\[(?P<pid>\d+)\])?: ?)?(?P<msg>.*)$"),
    Layout("hpc", r"^(?P<logid>\d+) (?P<node>\S+) (?P<component>\S+) (?P<state>\S+) (?P<epoch>\d{9,10}) "
                  r"(?P<flag>-?\d+) (?P<msg>.*)$"),
)


class Ras(FileFormat):
    """RAS and event logs of supercomputers (BlueGene/L, Thunderbird, LANL HPC)."""

    name = "ras"
    kinds = ("logs",)
    extensions = ()

    @classmethod
    def sniff(cls, head: bytes, path: str) -> float:
        return sniff_layouts(head, LAYOUTS)

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        out = read_layouts(src, ctx, LAYOUTS, "RAS", fold=False)  # one line per record
        if out is None:
            return
        for k in ("node", "location"):  # BGL writes NULL where a record has no location
            if k in out:
                out[k] = pc.if_else(pc.equal(out[k], "NULL"), pa.scalar(None, pa.string()), out[k])
        out["_source"] = source_column(src.path, len(out["_line"]))
        yield Part("logs", pa.table(out))
