"""``heroku logs`` output (format ``logplex``, after Heroku's log router) and other "<timestamp> <source>[<dyno>]: <payload>" log drains.

``2026-05-08T14:20:01.123456+00:00 heroku[router]: at=info method=GET path="/" ... status=200 bytes=5``
and ``2026-05-08T14:20:02+00:00 app[worker.2]: time=... level=error msg="..."``. The payload, when it is
logfmt or a JSON object, is split into columns and its own time, level and message win. Router lines
give ``level`` from ``at=`` (info, error), ``status`` and ``bytes`` as numbers, and ``connect``/``service``
(``12ms``) as ``connect_ms``/``service_ms`` (the router's ``service`` is a duration, not a service name).

Columns: ``time``, ``level``, ``event`` (the payload's message, a router line's ``METHOD path``; else
the payload), ``source``
(``heroku``, ``app``), ``dyno`` (``router``, ``web.1``, ``worker.2``), ``service`` = the dyno's process
type (``web``, ``worker``) unless the payload names one.
"""

from __future__ import annotations

from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from .. import schema
from ._common import source_column
from ._layouts import ISO_STAMP, Layout, read_layouts, sniff_layouts
from .base import FileFormat, FileInput, Part, ReadContext
from .logfmt import merge_payload

__all__ = ["Heroku"]

LAYOUTS = (Layout("drain", rf"^{ISO_STAMP} (?P<source>[\w.\-]+)\[(?P<dyno>[^\]\s]+)\]:(?: (?P<msg>.*))?$"),)


class Heroku(FileFormat):
    """Heroku log drain lines (``heroku logs``, logplex)."""

    name = "logplex"
    kinds = ("logs",)
    extensions = ()

    @classmethod
    def sniff(cls, head: bytes, path: str) -> float:
        return sniff_layouts(head, LAYOUTS, r"^$", score=0.9)

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        import polars as pl

        out = read_layouts(src, ctx, LAYOUTS, "log drain", fold=False)
        if out is None:
            return
        router = pc.fill_null(pc.equal(out["source"], "heroku"), False)
        # The router's service=12ms is a duration: rename it before the payload is read as fields.
        msg = pl.Series(out["event"])
        msg = pl.select(pl.when(pl.Series(router)).then(msg.str.replace_all(r"(^|\s)(connect|service)=(\d+)ms\b",
                                                                            "${1}${2}_ms=${3}"))
                        .otherwise(msg)).to_series()
        out["event"] = msg.to_arrow().cast(pa.string())
        merge_payload(out)
        if "at" in out:  # router lines: at=info / at=error
            level, _ = schema.normalize_levels(out["at"].cast(pa.string()))
            out["level"] = pc.coalesce(out["level"], level) if "level" in out else level
        if "method" in out and "path" in out:  # a router line's event is its request, like an access log's
            req = pc.binary_join_element_wise(out["method"].cast(pa.string()), out["path"].cast(pa.string()), " ")
            out["event"] = pc.if_else(pc.and_(router, pc.is_valid(req)), req, out["event"])
        proc = pl.Series(out["dyno"]).str.extract(r"^([a-z][\w-]*?)(?:\.\d+)?$", 1)
        proc = pl.select(pl.when(pl.Series(router)).then(None).otherwise(proc)).to_series().to_arrow().cast(pa.string())
        out["service"] = pc.coalesce(out["service"], proc) if "service" in out else proc
        out["_source"] = source_column(src.path, len(out["_line"]))
        yield Part("logs", pa.table(out))
