"""What the template notebooks call (``from obsnb import notebook as obn``): loading an incident's evidence,
and, re-exported here, the safe display helpers (:mod:`obsnb.display`) and the findings as prose
(:mod:`obsnb.prose`).
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import pandas as pd

from .api import get_option, load
from .cache import enable_store_from
from .display import *  # noqa: F403 - the templates call these as obn.md, obn.show, ...
from .display import __all__ as _display_all
from .prose import *  # noqa: F403
from .errors import UsageError
from .prose import __all__ as _prose_all
from .schema import empty_table, to_engine
from .timeutil import duration_ns, to_ns

__all__ = ["sample_data_path", "load_incident", "critical_path", "save_findings", *_display_all, *_prose_all]

def sample_data_path(*parts: str) -> pathlib.Path:
    """The bundled sample incident (``$OBSNB_SAMPLE_DATA``, else ``sample_data/`` beside the package)."""
    env = os.environ.get("OBSNB_SAMPLE_DATA")
    base = pathlib.Path(env) if env else pathlib.Path(__file__).resolve().parents[1] / "sample_data"
    if not base.is_dir():

        msg = (f"the sample incident is not at {base}: it ships with a source checkout of obsnb; "
               "set OBSNB_SAMPLE_DATA to its folder")
        raise UsageError(msg)
    return base.joinpath(*parts)


def load_incident(logs: Any = None, traces: Any = None, metrics: Any = None, *, start: Any = None, end: Any = None,
                  lookback: Any = "auto", engine: str | None = None) -> tuple:
    """``(logs, spans, metrics)`` frames loaded concurrently with ``ob.load``.

    A source that is None means no evidence of that kind: an empty canonical frame (never the sample).
    With a window, the evidence is loaded from ``start - lookback`` so the investigation has a baseline
    before the window (``lookback="auto"``: the window's length, at least 1 h and at most 24 h;
    ``None`` or ``0``: from ``start``). The three reads overlap (DuckDB and pyarrow release the GIL).
    """
    from concurrent.futures import ThreadPoolExecutor


    enable_store_from(pathlib.Path("obsnb.toml"))  # an investigation folder made by `obsnb new` keeps a store
    lo = start
    if start is not None and lookback:
        t0 = to_ns(start)
        if lookback == "auto":
            t1 = to_ns(end) if end is not None else t0 + 3600 * 10**9
            back = min(max(t1 - t0, 3600 * 10**9), 24 * 3600 * 10**9)
        else:
            back = duration_ns(lookback)
        lo = pd.Timestamp(t0 - back, tz="UTC")
    eng = engine or get_option("engine") or "pandas"
    jobs = [(logs, "logs"), (traces, "spans"), (metrics, "metrics")]
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(load, src, kind, start=lo, end=end, engine=engine) if src else None for src, kind in jobs]
        return tuple(f.result() if f is not None else to_engine(empty_table(kind), eng)
                     for f, (_, kind) in zip(futures, jobs))


def _ts(v: Any) -> pd.Timestamp:
    return pd.Timestamp(v).tz_convert("UTC") if pd.Timestamp(v).tzinfo else pd.Timestamp(v, tz="UTC")


def critical_path(spans: Any, trace_id: str) -> pd.DataFrame:
    """The spans on a trace's critical path: from each root, follow the child that ends last, recursively.

    Returns those spans in order with ``self_ms``: the time on the path not covered by the next span.
    """
    sp = spans.to_pandas() if type(spans).__module__.startswith("polars") else spans
    t = sp[sp["trace_id"] == trace_id].sort_values("start")
    if t.empty:
        return t.assign(self_ms=pd.Series(dtype=float))
    ids = set(t["span_id"])
    kids = t.groupby(t["parent_span_id"].where(t["parent_span_id"].isin(ids), None), dropna=False)
    children = {k: g for k, g in kids}
    roots = t[~t["parent_span_id"].isin(ids)]
    node = roots.loc[roots["end"].idxmax()]
    path = [node]
    while node["span_id"] in children:
        g = children[node["span_id"]]
        node = g.loc[g["end"].idxmax()]
        path.append(node)
    out = pd.DataFrame(path).reset_index(drop=True)
    nxt = out["duration_ms"].shift(-1).fillna(0)
    out["self_ms"] = (out["duration_ms"] - nxt).clip(lower=0)
    return out[["name", "service", "kind", "start", "end", "duration_ms", "self_ms", "status", "span_id"]]


def save_findings(findings) -> None:
    """Under ``obsnb render``: hand the findings to the command, which writes ``<report>.findings.json``."""
    path = os.environ.get("OBSNB_FINDINGS_OUT")
    if path:
        pathlib.Path(path).write_text(findings.to_json())
