"""CRI container logs (format ``kubernetes_cri``), as the kubelet writes them under /var/log/pods (and ``kubectl logs`` on containerd/CRI-O).

``<RFC 3339 nano time> stdout|stderr F|P <message>``: ``P`` marks a partial line that the next line of
the same stream continues, up to the ``F`` that ends it; partial lines are joined into one record
(``_line`` is where it starts). The message is what the container wrote, read again for what it
holds: a klog/glog line (``W0701 12:00:01.123456 1 file.go:42] msg``: level, file, line and the
message after the header), Python's BASIC_FORMAT (``WARNING:root:msg``: level and ``logger``), a JSON
object or logfmt (its own fields, time and level win), or a line starting with a level word (``ERROR: ...``,
``[WARN] ...``). Lines that start no CRI record are rejected: the kubelet writes every line with its
header, so a Python traceback comes as records of its own. A joined record counts once in
``load_info(df).records_read``; ``load_info(df).warnings`` says how many lines were joined.

Columns: ``time`` (the runtime's stamp unless the payload has its own), ``stream``, ``level``,
``event``, and what the payload holds.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._common import source_column
from ._layouts import ISO_STAMP, Layout, map_levels, read_layouts, sniff_layouts
from .base import FileFormat, FileInput, Part, ReadContext
from .klog import KLOG, structured
from .logfmt import merge_payload

__all__ = ["Cri", "join_partials", "read_message", "PY_BASIC"]

LAYOUTS = (Layout("cri", rf"^{ISO_STAMP} (?P<stream>stdout|stderr) (?P<tag>[FP])(?: (?P<msg>.*))?$"),)
# Python logging's BASIC_FORMAT, "%(levelname)s:%(name)s:%(message)s" (logging.basicConfig() on stderr).
PY_BASIC = r"^(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL):(?P<logger>[A-Za-z_][\w.\-]*):(?P<msg>.*)$"
_WORDS = "trace|debug|info|notice|warn|warning|error|err|fatal|critical|panic"
# "[warn] x", "ERROR: x", "WARN x" give a level; "error connecting to db" stays a message without one.
_LEVEL_WORD = (rf"^(?:\[(?P<level>(?i:{_WORDS}))\]:?|(?P<level2>(?i:{_WORDS})):|(?P<level3>{_WORDS.upper()}) )"
               r" *(?P<msg>.*)$")


def join_partials(out: dict[str, pa.Array], end: pa.Array) -> dict[str, pa.Array]:
    """Join each run of partial lines of a stream with the line that ends it (``end`` true) into one record.

    ``out`` holds ``stream``, ``event`` and the other columns of each line; a joined record keeps the
    columns of its first line (``_line`` is where it starts) and the concatenated ``event``. A run
    the file ends in the middle of is a record of its own. One group-by in polars, no loop per line.
    """
    import polars as pl

    df = pl.DataFrame({"i": np.arange(len(out["_line"]), dtype=np.int64), "stream": pl.Series(out["stream"]),
                       "end": pl.Series(end).fill_null(True), "msg": pl.Series(out["event"]).fill_null("")})
    # A record of a stream is the run of its lines up to its next end: number the runs per stream.
    df = df.with_columns(((pl.col("end").cast(pl.Int64).cum_sum().over("stream")) - pl.col("end").cast(pl.Int64))
                         .alias("run"))
    df = df.with_columns(pl.len().over("stream", "run").alias("n"), pl.col("i").min().over("stream", "run").alias("first"))
    # only the runs of several lines are joined (a group-by over all lines cost 6x more on 200k lines)
    joined = (df.filter(pl.col("n") > 1).group_by("first").agg(pl.col("msg").sort_by("i").str.join("").alias("joined")))
    rec = df.filter(pl.col("i") == pl.col("first")).join(joined, on="first", how="left", maintain_order="left")
    take = pa.array(rec["i"].to_numpy())
    result = {k: v.take(take) for k, v in out.items() if k != "event"}
    result["event"] = pc.coalesce(rec["joined"].to_arrow().cast(pa.string()), out["event"].take(take))
    return result


def note_joined(ctx: ReadContext, path: str, lines: int, records: int) -> None:
    """Say in ``load_info(df).warnings`` how many partial lines became how many records."""
    if lines > records:
        ctx.warnings.append(f"{path}: {lines} lines joined into {records} records (a message the runtime split "
                            "over several lines is one record; _line is its first line)")


def read_message(out: dict[str, pa.Array], keep_time: str | None = None) -> None:
    """Read a program's own line in ``out["event"]``, in place: a klog header, Python's BASIC_FORMAT
    (``WARNING:root:msg``: level, ``logger``), a leading level word, or a JSON/logfmt payload.

    The level the program wrote wins over a ``level`` already in ``out`` (journald's PRIORITY), and a
    payload's own time over ``out["time"]``; with ``keep_time``, the outer time is kept under that name
    when some payload time differs from it. Shared by the CRI, Docker and journald readers.
    """
    import polars as pl

    msgs = pl.Series(out["event"])
    found = pa.nulls(len(out["event"]), pa.string())
    for pattern in (KLOG, PY_BASIC, _LEVEL_WORD):
        m = msgs.str.extract_groups(pattern).struct.unnest()
        if "level2" in m.columns:
            m = m.with_columns(pl.coalesce("level", "level2", "level3").alias("level"))
        if not m["level"].is_not_null().any():
            continue
        level, _ = map_levels(m["level"].to_arrow().cast(pa.string()))
        found = pc.coalesce(found, level)
        orig = m["level"].to_arrow().cast(pa.string())
        same = pc.fill_null(pc.equal(pc.utf8_upper(orig), level), False)  # "ERROR" is no other spelling
        orig = pc.if_else(same, pa.scalar(None, pa.string()), orig)
        out["level_original"] = pc.coalesce(orig, out["level_original"]) if "level_original" in out else orig
        out["event"] = pc.coalesce(m["msg"].to_arrow().cast(pa.string()), out["event"])
        for k in ("file", "lineno") if pattern == KLOG else ("logger",) if pattern == PY_BASIC else ():
            v = m[k].cast(pl.Int64).to_arrow() if k == "lineno" else m[k].to_arrow().cast(pa.string())
            out[k] = pc.coalesce(v, out[k].cast(v.type)) if k in out else v
        if pattern == KLOG:
            structured(out)
        # a line whose level is read is not read again ("W0701 ...] ERROR: x" keeps its message whole)
        msgs = pl.Series(pc.if_else(pc.is_valid(found), pa.scalar(None, pa.string()), out["event"]))
    out["level"] = pc.coalesce(found, out["level"]) if "level" in out else found
    outer = out.get("time")
    merge_payload(out)
    if keep_time and outer is not None and pc.any(pc.fill_null(pc.not_equal(out["time"], outer), False)).as_py():
        out[keep_time] = outer.cast(pa.timestamp("ns", "UTC"))


class Cri(FileFormat):
    """Kubernetes CRI container log files (containerd, CRI-O)."""

    name = "kubernetes_cri"
    kinds = ("logs",)
    extensions = ()

    @classmethod
    def sniff(cls, head: bytes, path: str) -> float:
        return sniff_layouts(head, LAYOUTS, r"^$", score=0.95)

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        out = read_layouts(src, ctx, LAYOUTS, "CRI", fold=False)
        if out is None:
            return
        end = pc.equal(out.pop("tag"), "F")
        if not pc.all(end).as_py():
            n = len(end)
            out = join_partials(out, end)
            note_joined(ctx, src.path, n, len(out["_line"]))
        read_message(out)
        out["_source"] = source_column(src.path, len(out["_line"]))
        yield Part("logs", pa.table(out))
