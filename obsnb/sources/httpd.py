"""Web server logs: nginx and Apache access logs (common, combined, with request time) and error logs.

Access logs (one record per request, ``tz`` not needed: the stamp has its offset):

* common: ``127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326``;
* combined: the same with ``"referer" "user-agent"``; nginx's ``$remote_addr`` may be an
  ``X-Forwarded-For`` list (``10.0.0.2, 10.0.0.1``), and fields logged after the user agent
  (``"$http_x_forwarded_for"``, ``$request_time``, ``rt=0.012``) are kept in ``extra``.

Columns: ``client``, ``user``, ``method``, ``path``, ``protocol`` (the request split; the whole request
in ``request``), ``status`` and ``bytes`` (int64, ``-`` is null), ``referer``, ``user_agent``,
``duration_ms`` (float, from a trailing request time in seconds: ``0.012``, ``rt=0.012``,
``request_time=0.012``), ``event`` = ``METHOD path``. An access log has no level: ``level`` is
derived from the status (5xx ERROR, 4xx WARNING, else INFO), so error rates work on it; the
status itself stays in ``status``.

Error logs (a record per line; lines that start no record are continuations, column ``exception``;
``[client ...]`` stays in the message, as Apache writes it, and is also put in ``client``):

* Apache 2.4: ``[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 35708:tid 4328636416] [client 72.15.99.187:5000] msg``;
* Apache 1.3/2.0: ``[Sun Dec 04 04:47:44 2005] [notice] msg``;
* nginx: ``2024/05/14 12:00:01 [error] 1234#5678: *9 msg``.

Error-log times have no zone: ``tz=`` or UTC (with a warning).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._common import source_column
from ._layouts import CLOCK, Layout, read_layouts, sniff_layouts
from .base import FileFormat, FileInput, Part, ReadContext

__all__ = ["AccessLog", "HttpdError"]

_Q = r'"((?:[^"\\]|\\.)*)"'
ACCESS = (
    Layout("access", r'^(?P<client>\S.*?) (?P<ident>\S+) (?P<user>\S+) '
                     r"\[(?P<d>\d{2})/(?P<mon>[A-Z][a-z]{2})/(?P<Y>\d{4}):" + CLOCK +
                     r'(?:\.(?P<f>\d+))? (?P<z>[+-]\d{4})\] "(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) '
                     r'(?P<bytes>\d+|-)(?: "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<user_agent>(?:[^"\\]|\\.)*)")?'
                     r"(?: (?P<extra>.*?))?\s*$"),
)
_REQUEST = r"^(?P<method>[A-Z][A-Z_-]*) (?P<path>\S+)(?: (?P<protocol>[A-Z]+/[\d.]+))?$"
_DURATION = r"(?:^|\s)(?:(?:rt|request_time|rtime)=)?\"?(\d+\.\d+)\"?$"

ERRORS = (
    Layout("apache", r"^\[(?P<wday>[A-Z][a-z]{2}) (?P<mon>[A-Z][a-z]{2}) +(?P<d>\d{1,2}) " + CLOCK +
                     r"(?:\.(?P<f>\d+))? (?P<Y>\d{4})\] \[(?:(?P<module>[^:\]\s]+):)?(?P<level>[a-z]+\d?)\]"
                     r"(?: \[pid (?P<pid>\d+)(?::tid (?P<tid>\d+))?\])?"
                     r"(?: (?P<msg>(?:\[client (?P<client>[^\]]+)\] )?.*))?$"),
    Layout("nginx", r"^(?P<Y>\d{4})/(?P<mo>\d{2})/(?P<d>\d{2}) " + CLOCK +
                    r" \[(?P<level>[a-z]+)\] (?P<pid>\d+)#(?P<tid>\d+): (?:\*(?P<connection>\d+) )?(?P<msg>.*)$"),
)


class AccessLog(FileFormat):
    """nginx / Apache access logs (common and combined formats)."""

    name = "web_access"
    kinds = ("logs",)
    extensions = ()

    @classmethod
    def sniff(cls, head: bytes, path: str) -> float:
        return sniff_layouts(head, ACCESS)

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        import polars as pl

        out = read_layouts(src, ctx, ACCESS, "access-log", fold=False)
        if out is None:
            return
        out.pop("event")
        req = out.get("request", pa.nulls(len(out["_line"]), pa.string()))
        parts = pl.Series(req).str.extract_groups(_REQUEST).struct.unnest()
        for k in ("method", "path", "protocol"):
            out[k] = parts[k].to_arrow().cast(pa.string())
        status = out["status"]  # always three digits, so already int64
        code = pc.cast(status, pa.int64())
        out["status"] = code
        if "bytes" in out and pa.types.is_string(out["bytes"].type):
            out["bytes"] = pc.cast(pc.if_else(pc.equal(out["bytes"], "-"), None, out["bytes"]), pa.int64())
        lvl = np.where(code.to_numpy(zero_copy_only=False) >= 500, "ERROR",
                       np.where(code.to_numpy(zero_copy_only=False) >= 400, "WARNING", "INFO"))
        out["level"] = pa.array(lvl, pa.string())
        out["event"] = pc.coalesce(pc.binary_join_element_wise(out["method"], out["path"], " "), req)
        for k in ("client", "ident", "user", "referer", "user_agent"):
            if k in out:
                out[k] = pc.if_else(pc.equal(out[k], "-"), pa.scalar(None, pa.string()), out[k])
        if "extra" in out:
            dur = pl.Series(out["extra"]).str.extract(_DURATION, 1).cast(pl.Float64) * 1000.0
            if dur.null_count() < len(dur):
                out["duration_ms"] = dur.to_arrow()
        out["_source"] = source_column(src.path, len(out["_line"]))
        yield Part("logs", pa.table(out))


class HttpdError(FileFormat):
    """Apache httpd and nginx error logs."""

    name = "web_error"
    kinds = ("logs",)
    extensions = ()

    @classmethod
    def sniff(cls, head: bytes, path: str) -> float:
        return sniff_layouts(head, ERRORS)

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        out = read_layouts(src, ctx, ERRORS, "web server error log", r"^(\[[A-Z][a-z]{2} [A-Z][a-z]{2} |\d{4}/\d{2}/\d{2} )")
        if out is None:
            return
        out["_source"] = source_column(src.path, len(out["_line"]))
        yield Part("logs", pa.table(out))
