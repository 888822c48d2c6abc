"""ob.increase / counter_rate / irate / delta against Prometheus 3.14's own engine tests (functions.test).

Every ``eval`` of ``rate``, ``increase``, ``irate`` or ``delta`` over one plain selector with a range
(``f(sel[range])``, optionally ``offset``) runs on the series the file loads, in both engines, and must
give Prometheus's values: the same label sets, NaN where Prometheus says NaN, nothing where it returns
nothing. Cases over native histograms (``{{...}}`` samples) are counted and skipped: obsnb reads classic
buckets, not native histogram samples.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import promqltest  # noqa: E402
from _support import REALWORLD, need  # noqa: E402

import obsnb as ob  # noqa: E402

TEST_FILE = REALWORLD / "prometheus" / "promqltest" / "functions.test"
FUNCS = {"rate": ob.counter_rate, "increase": ob.increase, "irate": ob.irate, "delta": ob.delta}
CALL = re.compile(r"^(?P<f>rate|increase|irate|delta)\((?P<sel>[A-Za-z_:][\w:]*(?:\{[^}]*\})?)"
                  r"\[(?P<range>\w+)\](?:\s+offset\s+(?P<offset>\w+))?\)$")
RANGE_EVAL = re.compile(r"^eval range from (\S+) to (\S+) step (\S+) (.+)$")


def _range_cases(path: Path) -> list[dict]:
    """``eval range from A to B step S expr`` blocks (promqltest.parse reads instant evals only)."""
    lines = _head(path).read_text().splitlines()
    out = []
    for i, line in enumerate(lines):
        m = RANGE_EVAL.match(line.strip())
        if not m:
            continue
        # the series loaded at that point: what promqltest.parse stores for an eval placed here
        store = promqltest.parse(_Text("\n".join(lines[:i]) + "\neval instant at 0m marker\n"))[-1].series
        results = []
        j = i + 1
        while j < len(lines) and lines[j][:1] in (" ", "\t") and lines[j].strip():
            b = lines[j].strip()
            j += 1
            if b.startswith("expect") or b.startswith("#"):
                continue
            mm = re.match(r"^([A-Za-z_:][\w:]*)?\s*(\{[^}]*\})?\s*(.*)$", b)
            results.append((promqltest.labels(mm.group(2)), mm.group(3).split()))
        start, end, step = (promqltest.seconds(x) for x in m.groups()[:3])
        out.append({"expr": m.group(4), "start": start, "end": end, "step": step, "series": store,
                    "results": results})
    return out


class _Text:
    """A stand-in for a Path whose read_text() returns the given text (promqltest.parse reads a Path)."""

    def __init__(self, text: str):
        self.text = text

    def read_text(self) -> str:
        return self.text


def _head(path: Path) -> _Text:
    """The file up to the last rate/increase/irate/delta case's block (later blocks load native
    histograms in forms promqltest.py does not read, and hold no such case)."""
    lines = path.read_text().splitlines()
    last = max(i for i, ln in enumerate(lines) if ln.startswith("eval") and CALL.match(ln.split(None, 4)[-1]))
    end = next((i for i in range(last, len(lines)) if lines[i].startswith("clear")), len(lines))
    return _Text("\n".join(lines[:end]) + "\n")


def _instant_cases(path: Path) -> list[dict]:
    out = []
    for c in promqltest.parse(_head(path)):
        results = [(labs, [v]) for labs, v in c.results]
        out.append({"expr": c.expr, "start": c.at, "end": c.at, "step": 1, "series": c.series, "results": results})
    return out


def _cases() -> tuple[list[dict], list[dict]]:
    """(cases obsnb runs, cases skipped because they involve native histograms)."""
    if not TEST_FILE.is_file():
        return [], []
    run, skipped = [], []
    for case in _instant_cases(TEST_FILE) + _range_cases(TEST_FILE):
        m = CALL.match(case["expr"])
        if not m:
            continue
        chosen = promqltest.select(m.group("sel"), case["series"])
        case.update(func=m.group("f"), sel=m.group("sel"), range=m.group("range"), offset=m.group("offset"),
                    chosen=chosen)
        (skipped if any(s.native for s in chosen) else run).append(case)
    return run, skipped


RUN, SKIPPED = _cases()


def _frame(series) -> pl.DataFrame:
    rows = [{"time": int(round(t * 1e9)), "metric": s.name, "value": v, **s.labels}
            for s in series for t, v in s.samples]
    labels = sorted({k for s in series for k in s.labels})
    schema = {"time": pl.Int64, "metric": pl.String, "value": pl.Float64, **{k: pl.String for k in labels}}
    frame = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    return frame.with_columns(pl.col("time").cast(pl.Datetime("ns", "UTC")))


def _expected(case) -> dict:
    """{(time s, frozenset(labels)): value} from the case's expectations."""
    times = [case["start"] + k * case["step"] for k in range(int((case["end"] - case["start"]) // case["step"]) + 1)]
    want = {}
    for labs, values in case["results"]:
        if isinstance(values[0], str):  # a range eval's row: "_ NaN 1+1x3 ..."
            values = promqltest.expand(" ".join(values))
        for t, v in zip(times, values):
            if v is not None:
                want[(t, frozenset(labs.items()))] = v
    return want


def test_functions_test_cases_are_found():
    """The file's rate/increase/irate/delta cases over one selector are all read: 15 run, 11 native skipped."""
    need(TEST_FILE.is_file(), f"{TEST_FILE} not found")
    assert {c["func"] for c in RUN} == {"rate", "increase", "irate", "delta"}
    assert len(RUN) == 15 and len(SKIPPED) == 11, ([c["expr"] for c in RUN], [c["expr"] for c in SKIPPED])
    assert all("histogram" in c["expr"] or c["sel"].endswith(("_gauge", "_counter", "_mix")) for c in SKIPPED)


@pytest.mark.parametrize("case", RUN or [None], ids=lambda c: c and f"{c['expr']}@{c['start']:g}-{c['end']:g}")
def test_functions_test_case(case, engine):
    """Each case gives Prometheus's answer: same label sets and values (NaN where Prometheus gives NaN)."""
    need(case is not None, f"{TEST_FILE} not found")
    frame = _frame(case["chosen"])
    offset = promqltest.seconds(case["offset"]) if case["offset"] else 0.0
    start_ns = int(round((case["start"] - offset) * 1e9))
    end_ns = int(round((case["end"] - offset) * 1e9))
    df = frame if engine == "polars" else frame.to_pandas()
    out = FUNCS[case["func"]](df, f"{int(round(promqltest.seconds(case['range']) * 1000))}ms", every=f"{int(case['step'])}s",
                              start=np.datetime64(start_ns, "ns"), end=np.datetime64(end_ns, "ns"))
    got_pl = out if engine == "polars" else pl.from_pandas(out, nan_to_null=False)
    labels = [c for c in got_pl.columns if c not in ("time", "metric", "value")]
    got = {}
    for row in got_pl.iter_rows(named=True):
        t = row["time"].timestamp() + offset
        labs = frozenset((k, row[k]) for k in labels if row[k] is not None)
        got[(round(t, 3), labs)] = row["value"]
    want = {(round(t, 3), labs): v for (t, labs), v in _expected(case).items()}
    assert set(got) == set(want), (got, want)
    for key, v in want.items():
        if math.isnan(v):
            assert math.isnan(got[key]), key
        else:
            assert got[key] == pytest.approx(v, rel=1e-12, abs=0), key


# ----------------------------------------------------- against promqltest.py's one-window reference, at random

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_series = st.lists(st.tuples(st.integers(1, 40_000), st.floats(-5, 100, allow_nan=False)), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(steps=_series, window_ms=st.integers(1_000, 400_000), at_ms=st.integers(0, 800_000))
def test_counter_rate_equals_the_reference_at_random(steps, window_ms, at_ms):
    """Random gaps (1 ms..40 s), drops and negative starts: counter_rate at one point equals promqltest.py's
    extrapolated_rate (Prometheus 3's rule, one window at a time) on the samples in (t - w, t]."""
    t, pts = 0, []
    for gap, v in steps:
        t += gap
        pts.append((t / 1000, v))
    df = pl.DataFrame({"time": [int(round(s * 1000)) * 10**6 for s, _ in pts], "metric": "c",
                       "value": [v for _, v in pts]}).with_columns(pl.col("time").cast(pl.Datetime("ns", "UTC")))
    at = np.datetime64(at_ms, "ms")
    out = ob.counter_rate(df, f"{window_ms}ms", every="1s", start=at, end=at)
    inside = [(s, v) for s, v in pts if at_ms / 1000 - window_ms / 1000 < s <= at_ms / 1000]
    want = promqltest.extrapolated_rate(inside, at_ms / 1000 - window_ms / 1000, at_ms / 1000)
    if want is None:
        assert out.height == 0
    else:
        assert out["value"].to_list() == [pytest.approx(want, rel=1e-9, abs=1e-12)]
