"""Application log layouts: log4j/log4j2/logback, Hadoop/HDFS/Spark/Zookeeper, Spring Boot, Python logging, oslo.

Each record starts with a timestamp and a level word; the layouts recognised (first match wins):

* log4j ``%d %p [%t] %c: %m`` and ``%d %-5p [%t] %c - %m`` (Hadoop, most Java services):
  ``2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created ...``;
* logback's default ``%d [%thread] %-5level %logger - %msg``: ``2024-05-14 12:00:01.123 [main] ERROR c.e.Foo - msg``;
* Zookeeper's ``%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m``;
* Spring Boot: ``2024-05-14 12:00:01.123  INFO 1234 --- [main] c.e.Foo : msg`` (and 3.x's ``--- [app] [main]``);
* OpenStack's oslo.log: ``2017-05-16 00:00:00.008 25746 INFO nova.api [req-... ...] msg`` (a leading file
  name, as in concatenated exports, is kept in ``logfile``);
* Python logging: ``%(asctime)s - %(name)s - %(levelname)s - %(message)s`` and ``%(asctime)s %(levelname)s %(name)s: %(message)s``;
* Spark's ``%d{yy/MM/dd HH:mm:ss} %p %c{1}: %m`` and HDFS's ``yyMMdd HHmmss pid LEVEL component: msg``;
* any ``<ISO time> <LEVEL> <message>``.

Columns: ``time``, ``level`` (WARN -> WARNING, FATAL -> CRITICAL, the original in ``level_original``),
``event`` (the message), ``logger``, ``thread``, ``pid`` where the layout has them, ``layout`` (which
one matched) and ``exception``: the lines after a record that start no record (a Java stack with
``\\tat ...`` and ``Caused by:``, a Python traceback), joined with newlines. A line in Python logging's
BASIC_FORMAT (``WARNING:root:disk low``: a library logging with ``basicConfig()``'s defaults into the same
stream) is a record of its own, with its level, ``logger`` and message, ``layout`` ``python_basic`` and the
time of the record above it (it has none; ``load_info().warnings`` says how many borrowed one). Times
without a zone are read in ``tz=`` (IANA name) or else as UTC, with a warning.
"""

from __future__ import annotations

from typing import Iterator

import pyarrow as pa

from ._common import source_column
from ._layouts import CLOCK, ISO_STAMP, Layout, read_layouts, sniff_layouts
from .base import FileFormat, FileInput, Part, ReadContext
from .cri import PY_BASIC

__all__ = ["Log4j", "LAYOUTS"]

LEVEL = r"(?P<level>TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|SEVERE|FATAL|CRITICAL|FINE|FINER|FINEST|CONFIG)"
# Spaces are " +", not "\s+", and the logger is "[^ :]+": Unicode classes with backtracking cost 3-5x on 1M lines.
LOGGER = r"(?P<logger>[^ :\[\]]+)"
LAYOUTS: tuple[Layout, ...] = (
    Layout("spring", rf"^{ISO_STAMP} +{LEVEL} +(?P<pid>\d+) --- (?:\[(?P<service>[^\]]*)\] )?\[ *(?P<thread>[^\]]*)\]"
                     rf" +{LOGGER} +: (?P<msg>.*)$"),
    Layout("zookeeper", rf"^{ISO_STAMP} - {LEVEL} +\[(?P<thread>.*?)\] - (?P<msg>.*)$"),
    Layout("log4j", rf"^{ISO_STAMP} +{LEVEL} +\[(?P<thread>[^\]]*)\] +{LOGGER}(?::| -)(?: (?P<msg>.*))?$"),
    Layout("logback", rf"^{ISO_STAMP} +\[(?P<thread>[^\]]*)\] +{LEVEL} +{LOGGER} +-(?: (?P<msg>.*))?$"),
    Layout("oslo", rf"^(?:(?P<logfile>[^ ]+) )?{ISO_STAMP} (?P<pid>\d+) {LEVEL} {LOGGER} "
                   r"(?:\[(?P<context>[^\]]*)\] )?(?P<msg>.*)$"),
    Layout("python", rf"^{ISO_STAMP} - (?P<logger>[^ ]+) - {LEVEL} - (?P<msg>.*)$"),
    Layout("python_colon", rf"^{ISO_STAMP} +{LEVEL} +{LOGGER}: (?P<msg>.*)$"),
    Layout("spark", rf"^(?P<Y>\d{{2}})/(?P<mo>\d{{2}})/(?P<d>\d{{2}}) {CLOCK} {LEVEL} {LOGGER}: (?P<msg>.*)$"),
    Layout("hdfs", r"^(?P<Y>\d{2})(?P<mo>\d{2})(?P<d>\d{2}) (?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2}) (?P<pid>\d+) "
                   rf"{LEVEL} {LOGGER}: (?P<msg>.*)$"),
    Layout("plain", rf"^{ISO_STAMP} +\[?{LEVEL}\]?:? +(?P<msg>.*)$"),
)
# Python logging's BASIC_FORMAT (``WARNING:root:disk low``), which a library logging with the defaults writes
# into the same stream: a record of its own at the time of the record above (see read_layouts).
TIMELESS = (Layout("python_basic", PY_BASIC),)
# What starts a record of these layouts: a line that begins so but matches none is not a continuation.
HEAD = r"^(\S+ )?(\d{4}-\d{2}-\d{2}[T ]\d|\d{2}/\d{2}/\d{2} \d|\d{6} \d{6} )"
CONTINUATION = r"^(\s|$|Caused by|Traceback|\.\.\.|[\w.$]+(Error|Exception|Warning|Interrupt|Exit)\b)"


class Log4j(FileFormat):
    """Application logs in log4j-style layouts (Java, Hadoop, Spark, Zookeeper, Spring Boot, Python, oslo)."""

    name = "log4j"
    kinds = ("logs",)
    extensions = ()

    @classmethod
    def sniff(cls, head: bytes, path: str) -> float:
        return sniff_layouts(head, LAYOUTS, CONTINUATION)

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        out = read_layouts(src, ctx, LAYOUTS, "log4j-style", HEAD, timeless=TIMELESS)
        if out is None:
            return
        out["_source"] = source_column(src.path, len(out["_line"]))
        yield Part("logs", pa.table(out))
