"""Prometheus text exposition (0.0.4) and OpenMetrics: one row per sample, labels as columns.

``metric`` is the sample's name as written (``x_bucket``, ``x_sum``, ``x_count``, ``x_total``,
``x_created``...), ``value`` a float (``+Inf``, ``-Inf``, ``NaN`` included), and every label a string
column (``le`` and ``quantile`` exactly as written). ``# HELP``/``# TYPE``/``# EOF`` and other comments
are not samples; exemplars (``# {trace_id="..."} 1.0``) are dropped from the sample.

Time: a sample's own timestamp when it has one: milliseconds in the Prometheus text format,
seconds in OpenMetrics (a file with ``# EOF`` or a timestamp with a decimal point). Samples without
a timestamp take the option ``time=`` (anything :func:`obsnb.timeutil.to_ns` reads), else the file's
modification time: a scrape saved to a file is as old as the file.

``_type`` is the family's ``# TYPE`` (``counter``, ``gauge``, ``histogram``, ``summary``, or OpenMetrics'
``gaugehistogram``/``info``/``stateset``; null for ``unknown``/``untyped`` or no TYPE line); a sample
belongs to the family it names or whose name it extends (``x_bucket``, ``x_sum``, ``x_count``,
``x_total``, ``x_created``). A counter's, histogram's or summary's ``x_created`` sample is the time the
series started counting (a Unix timestamp in seconds, OpenMetrics 1.0; in the Prometheus text format client
libraries write it as a gauge family of its own beside ``x_total``/``x``), not a count: its ``_type`` is
``created``, so nothing that reads counters (rates, the audit, the detectors) takes it for one; it is kept as a
row like every other sample. ``_temporality`` is ``cumulative`` for the counts Prometheus keeps since a
process started (a counter's samples, a histogram's ``_bucket``/``_sum``/``_count``, a summary's
``_sum``/``_count``), else null.

``_line`` is the 1-based line number. Rejected: lines that are not a sample or a comment, values that
are not numbers, binary garbage.
"""

from __future__ import annotations

import re
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from .. import schema
from ..timeutil import to_ns
from ._common import file_mtime_ns, source_column
from ._lines import extract, head_lines, pairs_to_columns, read_lines, reject_where

from .base import FileFormat, FileInput, Part, ReadContext

__all__ = ["PromText", "SAMPLE", "CREATED"]

SAMPLE = (r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(?P<labels>(?:[^"}]|"(?:[^"\\]|\\.)*")*)\})?'
          r'\s+(?P<value>\S+)(?:\s+(?P<ts>-?[0-9][0-9.eE+\-]*))?\s*(?:#.*)?$')
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
_NUMBER = r"^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|[Ii]nf|Inf|NaN|nan)$"
_TIMESTAMP = r"^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_MAX_NS = 9.2e18  # just under 2**63 ns (2262-04-11)
_SNIFF_SAMPLE = re.compile(SAMPLE.encode())
_SNIFF_TYPE = re.compile(rb"^# (TYPE|HELP) [a-zA-Z_:][a-zA-Z0-9_:]* ", re.M)
_TYPE_LINE = r"^#\s*TYPE\s+(?P<family>[a-zA-Z_:][a-zA-Z0-9_:]*)\s+(?P<type>[a-zA-Z]+)\s*$"
_SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created", "_gsum", "_gcount", "_info")
_CUMULATIVE = {"counter": ("_total", ""), "histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}
_HAS_CREATED = ("counter", "histogram", "summary")
CREATED = "created"  # the _type of a counter's, histogram's or summary's x_created sample


def _family_types(comments: pa.Array) -> dict[str, str]:
    """``# TYPE family type`` lines -> {family: type} (types lowercased; unknown/untyped left out)."""
    matched, m = extract(comments, _TYPE_LINE, "family")
    fam, typ = m["family"].filter(matched).to_pylist(), m["type"].filter(matched).to_pylist()
    return {f: t.lower() for f, t in zip(fam, typ) if t.lower() not in ("unknown", "untyped")}


def _type_columns(names: pa.Array, types: dict[str, str]) -> dict[str, pa.Array]:
    """``_type`` and ``_temporality`` for each sample name (worked out once per distinct name)."""
    uniq = pc.unique(names).to_pylist()
    kind, temporality = {}, {}
    for name in uniq:
        family, suffix = name, ""
        if name not in types:
            for suf in _SUFFIXES:
                if name.endswith(suf) and name[: -len(suf)] in types:
                    family, suffix = name[: -len(suf)], suf
                    break
        t = types.get(family)
        # OpenMetrics' x_created is the time the series started counting (Unix seconds), not a count; the
        # Prometheus text format of client libraries writes it as a gauge family of its own beside x_total / x
        base = name[: -len("_created")] if name.endswith("_created") else None
        own = t in (None, "gauge") and base is not None and (
            types.get(base + "_total") == "counter" or types.get(base) in _HAS_CREATED)
        kind[name] = CREATED if (suffix == "_created" and t in _HAS_CREATED) or own else t
        # Prometheus text names the counter family x_total itself; OpenMetrics names it x
        temporality[name] = "cumulative" if t in _CUMULATIVE and (suffix in _CUMULATIVE[t] or (
            t == "counter" and suffix == "" and not name.endswith("_created"))) else None
    idx = pc.index_in(names, value_set=pa.array(uniq, pa.string()))
    return {"_type": pc.take(pa.array([kind[u] for u in uniq], pa.string()), idx),
            "_temporality": pc.take(pa.array([temporality[u] for u in uniq], pa.string()), idx)}


class PromText(FileFormat):
    """Prometheus ``/metrics`` scrapes and OpenMetrics files (``.prom``, ``.om.txt``)."""

    name = "prom_text"
    kinds = ("metrics",)
    extensions = (".prom",)

    @classmethod
    def sniff(cls, head: bytes, path: str) -> float:
        lines = head_lines(head, 200)
        samples = [ln for ln in lines if not ln.startswith(b"#")]
        if not lines:
            return 0.0
        typed = bool(_SNIFF_TYPE.search(head))
        if not samples:
            return 0.6 if typed else 0.0
        hits = sum(1 for ln in samples if _SNIFF_SAMPLE.match(ln))
        share = hits / len(samples)
        if share < 0.5:
            return 0.0
        return 0.9 if typed or share > 0.9 else 0.6

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        lines, numbers, bad = read_lines(src, ctx)
        sample = pc.invert(pc.starts_with(pc.utf8_ltrim_whitespace(lines), "#"))
        types = _family_types(lines.filter(pc.fill_null(pc.invert(sample), False)))
        lines, numbers, bad = lines.filter(sample), numbers.filter(sample), bad.filter(sample)
        if len(lines) == 0:
            return
        is_om = b"# EOF" in src.data()[-4096:] or ".om." in src.name
        matched, m = extract(lines, SAMPLE, "name")
        value_ok = pc.match_substring_regex(m["value"], _NUMBER)
        ts = pc.if_else(pc.equal(m["ts"], ""), pa.scalar(None, pa.string()), m["ts"])
        secs = pc.or_(pc.match_substring_regex(ts, r"[.eE]"), pa.scalar(bool(is_om)))
        ts_num = pc.match_substring_regex(ts, _TIMESTAMP)  # null where the sample has no timestamp
        tsf = pc.cast(pc.if_else(ts_num, ts, pa.scalar(None, pa.string())), pa.float64())
        # nanoseconds must fit in int64 (a 20-digit stamp does not): such a sample is rejected, not wrapped
        ts_ns = pc.multiply(tsf, pc.if_else(secs, 1e9, 1e6))
        ts_ok = pc.or_(pc.is_null(ts), pc.fill_null(pc.and_(ts_num, pc.less(pc.abs(ts_ns), _MAX_NS)), False))
        good = pc.fill_null(pc.and_(pc.and_(pc.and_(matched, pc.invert(bad)), value_ok), ts_ok), False)
        reason = pc.if_else(bad, "binary or undecodable bytes, not an exposition line",
                            pc.if_else(pc.invert(matched), "not a sample line (name{labels} value [timestamp])",
                                       pc.if_else(pc.invert(pc.fill_null(value_ok, False)), "sample value is not a number",
                                                  pc.if_else(pc.fill_null(ts_num, False),
                                                             "sample timestamp out of range (not a time after 1677 "
                                                             "and before 2262)", "sample timestamp is not a number"))))
        reject_where(ctx, src.path, pc.invert(good), lines, numbers, reason)
        m = {k: v.filter(good) for k, v in m.items()}
        n = len(m["name"])
        if n == 0:  # every line rejected: an empty frame of the known kind
            yield Part("metrics", schema.empty_table("metrics"))
            return
        value = pc.cast(m["value"], pa.float64())
        ts, secs, tsf = ts.filter(good), secs.filter(good), tsf.filter(good)
        default = to_ns(ctx.option("time")) if ctx.option("time") is not None else file_mtime_ns(src)
        t_us = pc.if_else(secs, pc.multiply(tsf, 1e6), pc.multiply(tsf, 1e3))  # µs: exact in a double
        t_ns = pc.multiply(pc.cast(pc.round(t_us), pa.int64()), 1000)
        # integer millisecond stamps stay exact (no float detour)
        t_ms = pc.multiply(pc.cast(pc.if_else(secs, pa.scalar(None, pa.string()), ts), pa.int64()), 1_000_000)
        t_ns = pc.coalesce(t_ms, t_ns, pa.scalar(default, pa.int64()))
        out: dict[str, pa.Array] = {"time": t_ns, "metric": m["name"], "value": value}
        labels = m["labels"]
        if pc.any(pc.fill_null(pc.not_equal(labels, ""), False)).as_py():
            for k, v in pairs_to_columns(labels, LABEL, unescape_newline=True).items():
                if k not in out:
                    out[k] = v
        if types:
            out.update(_type_columns(m["name"], types))
        out["_line"] = numbers.filter(good)
        out["_source"] = source_column(src.path, n)
        yield Part("metrics", pa.table(out))
