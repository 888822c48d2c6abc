"""Docker's ``json-file`` log driver (format ``docker_json``): ``/var/lib/docker/containers/<id>/<id>-json.log``.

One JSON object per line, as dockerd writes it::

    {"log":"GET /health 200\\n","stream":"stdout","attrs":{"tag":"web"},"time":"2024-05-14T12:00:01.123456789Z"}

``time`` is the record's time, ``log`` its message (the trailing newline removed), ``stream`` is kept
and each ``attrs`` member (``--log-opt labels=/env=/tag=``) becomes ``attrs.<name>``. dockerd splits a
line longer than 16 KiB into pieces whose ``log`` has no trailing newline: those pieces are joined
with the next records of the same stream up to the one that ends the line, into one record
(``_line`` is its first line; ``load_info(df).records_read`` counts it once, and
``load_info(df).warnings`` says how many lines were joined). The message is then read like a
CRI container's (:func:`obsnb.sources.cri.read_message`): a klog header, Python's BASIC_FORMAT, a
leading level word, or a JSON/logfmt payload whose own time and level win; when the payload's time
differs from dockerd's, dockerd's is kept in ``docker.time``.

Rejected (with the line): binary garbage, a line that is not a JSON object (a write cut short), an
object without ``log``, and a ``time`` that cannot be read. Parsing is DuckDB's JSON functions over
the whole column; no Python runs per line.
"""

from __future__ import annotations

from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from ._common import source_column
from ._lines import read_lines, reject_where, times_to_ns
from ._object_lines import objects_sql, query_lines, sniff_objects
from .base import FileFormat, FileInput, Part, ReadContext
from .cri import join_partials, note_joined, read_message
from .logfmt import _json_columns

__all__ = ["DockerJson"]

_KEYS = {"log", "stream", "time", "attrs"}


# one parse for the four members (json_extract_string gives an object's JSON text)
_SQL = f"""
SELECT ok, m[1] AS log, m[2] AS stream, m[3] AS time, m[4] AS attrs
FROM (SELECT i, ok, json_extract_string(j, ['$.log', '$.stream', '$.time', '$.attrs']) AS m
      FROM ({objects_sql("obsnb_docker")})) ORDER BY i
"""


class DockerJson(FileFormat):
    """Docker json-file container logs."""

    name = "docker_json"
    kinds = ("logs",)
    extensions = ()

    @classmethod
    def sniff(cls, head: bytes, path: str) -> float:
        return sniff_objects(head, lambda o: "log" in o and "time" in o and set(o) <= _KEYS)

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        lines, numbers, bad = read_lines(src, ctx)
        if len(lines) == 0:
            return
        con, t = query_lines(lines, "obsnb_docker", _SQL)
        ok, log = t.column("ok").combine_chunks(), t.column("log").combine_chunks().cast(pa.string())
        time = times_to_ns(con, t.column("time").combine_chunks().cast(pa.string()))
        reason = pc.if_else(bad, "binary or undecodable bytes, not a Docker log line",
                 pc.if_else(pc.invert(ok), "not a JSON object (a line cut short?)",
                 pc.if_else(pc.is_null(log), 'no "log" member',
                 pc.if_else(pc.is_null(t.column("time").combine_chunks()), 'no "time" member',
                            "unreadable time"))))
        good = pc.and_(pc.and_(pc.invert(bad), ok), pc.and_(pc.is_valid(log), pc.is_valid(time)))
        reject_where(ctx, src.path, pc.invert(good), lines, numbers, reason)
        log = log.filter(good)
        out: dict[str, pa.Array] = {"time": time.filter(good),
                                    "stream": t.column("stream").combine_chunks().cast(pa.string()).filter(good),
                                    "event": log, "_line": numbers.filter(good)}
        attrs = t.column("attrs").combine_chunks().cast(pa.string()).filter(good)
        if attrs.null_count < len(attrs):
            out.update({f"attrs.{k}": v for k, v in _json_columns(attrs).items()})
        end = pc.fill_null(pc.ends_with(log, "\n"), True)
        if not pc.all(end).as_py():
            n = len(end)
            out = join_partials(out, end)
            note_joined(ctx, src.path, n, len(out["_line"]))
        out["event"] = pc.replace_substring_regex(out["event"], r"\r?\n$", "")
        read_message(out, keep_time="docker.time")
        out["_source"] = source_column(src.path, len(out["_line"]))
        yield Part("logs", pa.table(out))
