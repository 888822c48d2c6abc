"""Read Prometheus's promqltest files and turn classic-histogram ``histogram_quantile`` cases into frames.

Only what ``histograms.test`` uses for classic histograms is understood: ``load``/``load_with_nhcb``
blocks with expanding notation (``0+5x10``, ``1 1 1``, ``_``), ``clear``, and ``eval instant at T``
with ``histogram_quantile(q, E)`` / ``histogram_quantiles(E, "q", q...)`` where ``E`` is a selector,
``rate(selector[R])``, or ``sum``/``avg`` of such a rate ``by (labels)``. Selectors that reach a
native histogram (``{{...}}`` samples or the base name of a ``load_with_nhcb`` histogram) are not
classic cases and are left out.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import polars as pl

_DUR = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
_SERIES = re.compile(r"^\s*([A-Za-z_:][A-Za-z0-9_:]*)?\s*(\{[^}]*\})?\s*(.*)$")


def seconds(text: str) -> float:
    total, pos = 0.0, 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", text):
        total += float(m.group(1)) * _DUR[m.group(2)]
        pos = m.end()
    if pos != len(text):
        total = float(text)
    return total


def labels(text: str | None) -> dict[str, str]:
    return {m.group(1): m.group(3).encode().decode("unicode_escape") for m in _LABEL.finditer(text or "")}


def number(tok: str) -> float:
    """A sample value as the test files write it: ``1e0``, ``+Inf``, ``-Inf``, ``NaN``."""
    return float(tok)


def expand(values: str) -> list[float | None]:
    """``0+5x3`` -> [0, 5, 10, 15]; ``_`` -> None; ``1 1`` -> [1, 1]."""
    out: list[float | None] = []
    for tok in values.split():
        m = re.fullmatch(r"([-+]?[\w.]+?)(?:([-+][\w.]+))?x(\d+)", tok)
        if tok == "_" or tok == "stale":
            out.append(None)
        elif m and not re.fullmatch(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?", tok, re.I):
            if m.group(1) == "_":
                out += [None] * int(m.group(3))
                continue
            a, b, n = number(m.group(1)), number(m.group(2) or "0"), int(m.group(3))
            out += [a + i * b for i in range(n + 1)]
        else:
            out.append(number(tok))
    return out


@dataclasses.dataclass
class Series:
    name: str
    labels: dict[str, str]
    samples: list[tuple[float, float]]  # (seconds, value)
    native: bool


@dataclasses.dataclass
class Case:
    line: int
    at: float
    expr: str
    series: list[Series]
    expect: list[str]
    results: list[tuple[dict[str, str], float]]

    @property
    def fails(self) -> bool:
        return any(e.startswith("fail") for e in self.expect)

    @property
    def warns(self) -> bool | None:
        if any(e.startswith("no_warn") for e in self.expect):
            return False
        return True if any(e.startswith("warn") for e in self.expect) else None


def parse(path: Path) -> list[Case]:
    """Every ``eval`` block of the file, with the series stored at that point."""
    lines = path.read_text().splitlines()
    store: list[Series] = []
    cases: list[Case] = []
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        i += 1
        body = []
        while i < len(lines) and lines[i][:1] in (" ", "\t") and lines[i].strip():
            if not lines[i].strip().startswith("#"):
                body.append(lines[i].strip())
            i += 1
        if line.startswith("clear"):
            store = []
        elif line.startswith("load"):
            nhcb = line.startswith("load_with_nhcb")
            step = seconds(line.split()[1])
            for b in body:
                m = _SERIES.match(b)
                name, labs, vals = m.group(1) or "", labels(m.group(2)), m.group(3)
                labs.pop("__name__", None)
                native = "{{" in vals
                samples = [] if native else [(k * step, v) for k, v in enumerate(expand(vals)) if v is not None]
                store.append(Series(name, labs, samples, native))
                if nhcb and name.endswith("_bucket"):  # the native twin under the base name
                    store.append(Series(name[: -len("_bucket")], {k: v for k, v in labs.items() if k != "le"}, [], True))
        elif line.startswith("eval instant at"):
            _, _, _, at, expr = line.split(None, 4)
            expect = [b[len("expect") :].strip() for b in body if b.startswith("expect")]
            results = []
            for b in body:
                if b.startswith("expect"):
                    continue
                m = re.match(r"^([A-Za-z_:][\w:]*)?\s*(\{[^}]*\})?\s*(\S+)$", b)
                if m is None:  # a native histogram value {{...}}: not ours
                    results.append(({}, math.nan))
                    continue
                results.append((labels(m.group(2)), number(m.group(3))))
            cases.append(Case(len(cases), seconds(at), expr, list(store), expect, results))
    return cases


_SEL = r"(?P<sel>[A-Za-z_:][\w:]*(?:\{[^}]*\})?|\{[^}]*\})"
_INNER = [
    re.compile(rf"^{_SEL}$"),
    re.compile(rf"^rate\({_SEL}\[(?P<range>\w+)\]\)$"),
    re.compile(rf"^(?P<agg>sum|avg)\(rate\({_SEL}\[(?P<range>\w+)\]\)\)\s*by\s*\((?P<by>[^)]*)\)$"),
    re.compile(rf"^(?P<agg>sum|avg)\s*by\s*\((?P<by>[^)]*)\)\s*\(rate\({_SEL}\[(?P<range>\w+)\]\)\)$"),
]


def quantile_call(expr: str) -> tuple[list[float], str, bool] | None:
    """(qs, inner expression, plural) of a histogram_quantile(s) call, or None."""
    m = re.fullmatch(r"histogram_quantile\(\s*([^,]+?)\s*,\s*(.+)\)", expr)
    if m:
        q = m.group(1).replace("NaN", "nan")
        return [float(eval(q, {"nan": math.nan}))], m.group(2).strip(), False
    m = re.fullmatch(r'histogram_quantiles\(\s*(.+?)\s*,\s*"q"\s*,\s*(.+)\)', expr)
    if m:
        qs = [float(eval(x.replace("NaN", "nan"), {"nan": math.nan})) for x in m.group(2).split(",")]
        return qs, m.group(1).strip(), True
    return None


def select(sel: str, store: list[Series]) -> list[Series]:
    m = re.fullmatch(r"([A-Za-z_:][\w:]*)?(\{[^}]*\})?", sel)
    name, matchers = m.group(1), [mm for mm in _LABEL.finditer(m.group(2) or "")]
    out = []
    for s in store:
        if name and s.name != name:
            continue
        ok = True
        for mm in matchers:
            key, op, val = mm.group(1), mm.group(2), mm.group(3).encode().decode("unicode_escape")
            have = s.name if key == "__name__" else s.labels.get(key, "")
            ok &= re.fullmatch(val, have) is not None if op == "=~" else (have == val) == (op == "=")
        if ok:
            out.append(s)
    return out


def extrapolated_rate(points: list[tuple[float, float]], start: float, end: float) -> float | None:
    """Prometheus's rate() (counter, extrapolated) over samples in (start, end]."""
    if len(points) < 2:
        return None
    first_t, first_v = points[0]
    last_t, last_v = points[-1]
    result = last_v - first_v
    for (_, a), (_, b) in zip(points, points[1:]):
        if b < a:
            result += a
    sampled = last_t - first_t
    avg = sampled / (len(points) - 1)
    to_start, to_end = first_t - start, end - last_t
    threshold = avg * 1.1
    if to_start >= threshold:
        to_start = avg / 2
    if result > 0 and first_v >= 0:
        to_zero = sampled * (first_v / result)
        if to_zero < to_start:
            to_start = to_zero
    if to_end >= threshold:
        to_end = avg / 2
    return result * (sampled + to_start + to_end) / sampled / (end - start)


def classic_frame(case: Case) -> tuple[pl.DataFrame, list[str] | None, list[float], bool] | None:
    """The metrics frame a classic case feeds to ``histogram_quantile``, its ``by``, q's and plural flag.

    None when the case is not about classic histograms.
    """
    call = quantile_call(case.expr)
    if call is None:
        return None
    qs, inner, plural = call
    for pattern in _INNER:
        m = pattern.match(inner)
        if m:
            break
    else:
        return None
    parts = m.groupdict()
    chosen = select(parts["sel"], case.series)
    if any(s.native for s in chosen):
        return None
    at = case.at
    rows = []
    for s in chosen:
        if parts.get("range"):
            r = seconds(parts["range"])
            pts = [(t, v) for t, v in s.samples if at - r < t <= at]
            value = extrapolated_rate(pts, at - r, at)
        else:
            pts = [(t, v) for t, v in s.samples if at - 300 < t <= at]
            value = pts[-1][1] if pts else None
        if value is not None:
            rows.append({"time": int(at * 1e9), "metric": s.name, "value": float(value), **s.labels})
    columns = {"time": pl.Int64, "metric": pl.String, "value": pl.Float64, "le": pl.String}
    frame = pl.DataFrame(rows, schema_overrides=columns) if rows else pl.DataFrame(schema=columns)
    frame = frame.with_columns(pl.col("time").cast(pl.Datetime("ns", "UTC")))
    by = None
    if parts.get("agg"):
        by = [b.strip() for b in parts["by"].split(",") if b.strip() and b.strip() != "le"]
        if parts["agg"] == "avg":  # average per label set of the result, then quantile of that histogram
            frame = frame.group_by(["time", "le", *by]).agg(pl.col("value").mean())
            by = None
    return frame, by, qs, plural
