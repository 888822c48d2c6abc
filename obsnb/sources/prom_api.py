"""Prometheus HTTP API answers saved as JSON: ``/api/v1/query`` and ``/api/v1/query_range``.

``resultType`` ``matrix`` gives one row per ``[time, "value"]`` pair of each series, ``vector`` one row
per series, ``scalar`` one row with a null ``metric``, ``string`` one row with a null ``value`` and the
text in ``value_string``. ``metric`` is the ``__name__`` label (null for expressions that drop it);
every other label becomes a string column. Values such as ``"+Inf"``, ``"-Inf"`` and ``"NaN"`` are
parsed. Native histograms (``histogram``/``histograms``) become ``x_count`` and ``x_sum`` rows plus
``x_bucket`` rows with cumulative counts and the bucket's upper bound as ``le`` (plus ``le="+Inf"``
holding the count, as a classic histogram has).

An ``x_created`` series beside an ``x_total``, ``x_count``, ``x_sum`` or ``x_bucket`` of the same answer is
an OpenMetrics creation time (Unix seconds, kept by Prometheus servers that ingested it as a series): its
``_type`` is ``created``, as :mod:`~obsnb.sources.prom_text` types it, so it is never read as a counter. The
API carries no type, so the name and the sibling decide; every other series has no ``_type``.

``_line``: the 1-based ordinal of the series in ``result`` (of the line, for one answer per line).
An ``"status": "error"`` answer is one rejected record whose reason carries Prometheus' own words.
"""

from __future__ import annotations

import math
import re
import warnings
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import BackendWarning
from ._common import dumps, format_le, iter_json_docs, to_float
from .base import FileFormat, FileInput, Part, ReadContext
from .prom_text import CREATED

__all__ = ["PromApiJson", "parse_prom_api_document"]

_SNIFF_STATUS = re.compile(rb'"status"\s*:\s*"(success|error)"')
_SNIFF_TYPE = re.compile(rb'"resultType"\s*:')


def _native(series_name: str | None, t: float, h: dict) -> list[tuple[float, str | None, float, str | None]]:
    """A native histogram sample -> (time, metric, value, le) rows."""
    base = series_name or ""
    out = [(t, f"{base}_count", to_float(h.get("count")), None), (t, f"{base}_sum", to_float(h.get("sum")), None)]
    acc = 0.0
    for b in h.get("buckets") or []:  # [boundary_rule, lower, upper, count]
        acc += to_float(b[3]) or 0.0
        out.append((t, f"{base}_bucket", acc, format_le(to_float(b[2]))))
    if out[-1][3] != "+Inf":  # like a classic histogram: the +Inf bucket holds the count
        out.append((t, f"{base}_bucket", to_float(h.get("count")), "+Inf"))
    return out


_MAX_SECONDS = 9.2e9  # seconds whose nanoseconds fit in int64 (before 2262-04-11)


def _floats(texts: np.ndarray) -> list[float | None]:
    """Numbers as Prometheus writes them (``"1.5"``, ``"+Inf"``, ``"NaN"``) -> floats; None where not a number."""
    import polars as pl

    return pl.Series(texts.tolist(), dtype=pl.String).cast(pl.Float64, strict=False).to_list()


def _seconds(t: Any) -> float:
    """A sample time in seconds; NaN (rejected later) when it is not a number."""
    f = to_float(t)
    return math.nan if f is None else f


def _reject_unplaced(times: np.ndarray, values: list, raws: list, lines: list, source: str, ctx: ReadContext,
                     numeric: bool) -> np.ndarray:
    """Reject samples whose time is not a number, not finite or past int64 nanoseconds, and (``numeric``)
    samples whose value is not a number; the times come back with NaN at each rejected row (one reject a sample)."""
    times = np.where(np.abs(np.nan_to_num(times, nan=np.inf)) < _MAX_SECONDS, times, np.nan)
    bad_value = np.array([v is None for v in values], bool) if numeric else np.zeros(len(values), bool)
    for i in np.flatnonzero(np.isnan(times) | bad_value):
        t, v = raws[i]
        why = (f"sample time {t[:40]!r} is not a time in seconds (not a number, or past the year 2262)"
               if np.isnan(times[i]) else f"sample value {v[:40]!r} is not a number")
        ctx.reject(source, lines[i], why, f"[{t}, {v!r}]")
    times[bad_value] = np.nan
    return times


def _created_names(names: pa.Array) -> list[str]:
    """The ``x_created`` series that are a counter's, histogram's or summary's creation time: the API gives no
    type, so the name decides, and only beside a sibling of the same family in the answer (``x_total``,
    ``x_count``, ``x_sum``, ``x_bucket``); a lone ``tasks_created`` may be a count and stays untyped."""
    uniq = set(pc.unique(names).drop_null().to_pylist())
    return sorted(n for n in uniq if n.endswith("_created") and any(
        n[: -len("_created")] + suf in uniq for suf in ("_total", "_count", "_sum", "_bucket")))


def parse_prom_api_document(obj: Any, source: str, ctx: ReadContext, line: int | None = None) -> list[Part]:
    """One decoded Prometheus API answer (matrix, vector, scalar, string) -> a metrics part.

    Rows are built column-wise; labels of each series become string columns (null where a series
    lacks the label). A ``status: error`` answer or an unknown shape is rejected through ``ctx``.
    """
    if not isinstance(obj, dict) or "data" not in obj and "status" not in obj:
        ctx.reject(source, line or 1, "not a Prometheus API answer (no status/data)", dumps(obj)[:2000])
        return []
    if obj.get("status") == "error":
        ctx.reject(source, line or 1, f"Prometheus answered with an error: {obj.get('errorType')}: {obj.get('error')}",
                   dumps(obj)[:2000])
        return []
    for w in obj.get("warnings") or []:
        ctx.warnings.append(f"Prometheus warning: {w}")
        warnings.warn(f"{source}: Prometheus warning: {w}", BackendWarning, stacklevel=2)
    for w in obj.get("infos") or []:
        ctx.warnings.append(f"Prometheus info: {w}")
    data = obj.get("data")
    data = data if isinstance(data, dict) else {}
    rtype = data.get("resultType")
    result = data.get("result")
    if rtype not in ("matrix", "vector", "scalar", "string") or result is None:
        ctx.reject(source, line or 1, f"Prometheus answer without a query result (resultType {rtype!r}); "
                   "only /api/v1/query and /api/v1/query_range answers hold samples", dumps(obj)[:2000])
        return []
    times: list[float | None] = []
    names: list[str | None] = []
    values: list[float | None] = []
    strings: list[str | None] = []
    lines: list[int] = []
    les: list[str | None] = []
    spans: list[tuple[int, int, dict]] = []  # (first row, end row, labels) per series
    raws: list[tuple[str, str]] = []  # each row's time and value as written (for rejects)
    if rtype in ("scalar", "string"):
        try:
            t, v = result
            times.append(_seconds(t))
        except (ValueError, TypeError) as exc:
            ctx.reject(source, line or 1, f"malformed {rtype} result ({exc})", dumps(result)[:2000])
            return []
        raws.append((str(t), str(v)))
        names.append(None)
        values.append(to_float(v) if rtype == "scalar" else None)
        strings.append(v if rtype == "string" else None)
        lines.append(line or 1)
        les.append(None)
    else:
        series = result if isinstance(result, list) else []
        for i, s in enumerate(series, 1):
            where = line if line is not None else i
            if not isinstance(s, dict):
                ctx.reject(source, where, "series is not an object", dumps(s))
                continue
            metric = s.get("metric")
            labels = {str(k): v if isinstance(v, str) or v is None else dumps(v)
                      for k, v in (metric.items() if isinstance(metric, dict) else ())}
            name = labels.pop("__name__", None)
            samples = s.get("values") or ([s["value"]] if "value" in s else [])
            hists = s.get("histograms") or ([s["histogram"]] if "histogram" in s else [])
            if not samples and not hists:
                ctx.reject(source, where, "series without values", dumps(s))
                continue
            try:
                pairs = np.array(samples, dtype=object).reshape(-1, 2) if samples else None
                native = [(t, dumps(h), _native(name, _seconds(t), h if isinstance(h, dict) else {})) for t, h in hists]
            except (ValueError, TypeError, IndexError, KeyError) as exc:  # a series whose samples are not [time, "value"] pairs
                ctx.reject(source, where, f"series with malformed samples ({exc})", dumps(s))
                continue
            begin = len(times)
            if pairs is not None:  # convert the [time, "value"] pairs column-wise; bad ones are rejected below
                t_txt, v_txt = pairs[:, 0].astype(str), pairs[:, 1].astype(str)
                times.extend(_floats(t_txt))
                values.extend(_floats(v_txt))
                raws.extend(zip(t_txt.tolist(), v_txt.tolist()))
                k = len(samples)
                names.extend([name] * k)
                strings.extend([None] * k)
                lines.extend([where] * k)
                les.extend([None] * k)
            for t, raw, rows in native:
                for tt, nm, vv, le in rows:
                    raws.append((str(t), raw))
                    times.append(tt)
                    names.append(nm)
                    values.append(vv)
                    strings.append(None)
                    lines.append(where)
                    les.append(le)
            spans.append((begin, len(times), labels))
    n = len(times)
    times = _reject_unplaced(np.asarray(times, dtype=np.float64), values, raws, lines, source, ctx, rtype != "string")
    t_ns = pa.array(np.round(np.nan_to_num(times) * 1e3).astype(np.int64) * 1_000_000)  # ms
    cols: dict[str, pa.Array] = {"time": t_ns, "metric": pa.array(names, pa.string()),
                                 "value": pa.array(values, pa.float64())}
    keys: dict[str, None] = {}
    for _, _, lab in spans:
        keys.update(dict.fromkeys(lab))
    for k in keys:
        col: list[str | None] = [None] * n
        for begin, end, lab in spans:
            if k in lab:
                col[begin:end] = [lab[k]] * (end - begin)
        cols[k] = pa.array(col, pa.string())
    if any(le is not None for le in les):
        cols["le"] = pa.array(les, pa.string()) if "le" not in cols else pa.array(
            [a if a is not None else b for a, b in zip(les, cols["le"].to_pylist())], pa.string())
    if rtype == "string":
        cols["value_string"] = pa.array(strings, pa.string())
    created = _created_names(cols["metric"])
    if created:
        cols["_type"] = pc.if_else(pc.fill_null(pc.is_in(cols["metric"], value_set=pa.array(created, pa.string())), False),
                                   pa.scalar(CREATED), pa.scalar(None, pa.string()))
    cols["_line"] = pa.array(lines, pa.int64())
    cols["_source"] = pa.array([source] * n, pa.string())
    table = pa.table(cols)
    return [Part("metrics", table.filter(pa.array(~np.isnan(times))) if np.isnan(times).any() else table)]


class PromApiJson(FileFormat):
    """Prometheus (and VictoriaMetrics, Thanos, Mimir) query API answers saved as JSON."""

    name = "prom_api"
    kinds = ("metrics",)

    @classmethod
    def sniff(cls, head: bytes, path: str) -> float:
        if _SNIFF_STATUS.search(head) and _SNIFF_TYPE.search(head):
            return 0.9
        return 0.0

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        for obj, line in iter_json_docs(src, ctx):
            yield from parse_prom_api_document(obj, src.path, ctx, line)
