"""Writing into a report page safely: the chart renderer, escaped markdown and tables, charts or a reason.

``setup()`` picks altair's renderer: live in JupyterLab the offline ``jupyter`` renderer (anywidget, no
CDN); in a report run (``OBSNB_ALTAIR_RENDERER=html``, set by ``obsnb render``) a renderer whose HTML
is drawn by the vega bundle the report template inlines once. Every helper that writes text into the
page escapes what it did not write itself: log lines are evidence, not markup.
"""

from __future__ import annotations

import html
import itertools
import json
import os
import uuid
from typing import Any

import pandas as pd
import polars as pl

from .analysis.lazy import collect, is_scan, scan_frame
from .options import set_option
from .safe_text import md_text

__all__ = ["setup", "md", "show", "draw"]

_SAFE_JSON = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}


_ids = itertools.count(1)


def _safe_json(text: str) -> str:
    for k, v in _SAFE_JSON.items():
        text = text.replace(k, v)
    return text


_CHART_HTML = """<div id="{id}" class="obsnb-chart"></div>
<script type="text/javascript">
(function (spec, opt) {{
  var el = document.getElementById("{id}");
  if (typeof vegaEmbed === "undefined") {{
    el.textContent = "This chart draws in reports made by `obsnb render` (they carry the vega bundle).";
    return;
  }}
  vegaEmbed(el, spec, opt).catch(function (err) {{
    var pre = document.createElement("pre"); pre.className = "error"; pre.textContent = String(err); el.appendChild(pre);
  }});
}})({spec}, {opt});
</script>"""


def _report_renderer(spec: dict, **metadata: Any) -> dict:
    """A chart as a div plus a ``vegaEmbed`` call on the global the report inlines once; no CDN, no loader.

    The spec's JSON is made safe to sit inside ``<script>`` (``<``, ``>``, ``&`` escaped), so a log line
    like ``</script><script>alert(1)`` in a tooltip stays data.
    """
    opt = {"renderer": "canvas", "mode": "vega-lite",
           "actions": {"export": True, "source": False, "compiled": False, "editor": False}}
    div = f"obsnb-chart-{next(_ids)}-{uuid.uuid4().hex[:8]}"
    return {"text/html": _CHART_HTML.format(id=div, spec=_safe_json(json.dumps(spec)), opt=json.dumps(opt))}


def setup(renderer: str | None = None) -> str:
    """Choose altair's renderer for this kernel and return its name.

    ``renderer`` defaults to ``$OBSNB_ALTAIR_RENDERER`` or ``"jupyter"`` (interactive and offline in
    JupyterLab through anywidget). ``"html"`` is the report renderer (drawn by the report's inlined vega
    bundle), ``"svg"``/``"png"`` are static images made by vl-convert.
    """
    import altair as alt

    name = renderer or os.environ.get("OBSNB_ALTAIR_RENDERER", "jupyter")
    if name == "html":  # a report run: no progress widget in the page
        set_option("progress", False)
        alt.renderers.register("obsnb_html", _report_renderer)
        alt.renderers.enable("obsnb_html")
    elif name == "jupyter":
        alt.renderers.enable("jupyter", offline=True)
    else:
        alt.renderers.enable(name)
    pd.set_option("display.max_colwidth", 120)
    return name


def md(template: str, /, **values: Any):
    """Markdown from code with every value escaped to literal text (``md("# {incident}", incident=x)``): HTML
    and markdown punctuation both, so a logged ``[x](javascript:...)`` or backtick stays text."""
    safe = {k: _text(v) for k, v in values.items()}
    _markdown(template.format(**safe))


def _fmt(v: Any) -> str:
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
    if isinstance(v, pd.Timedelta):
        return _fmt_td(v)
    if isinstance(v, float):
        return f"{v:,.1f}"
    return str(v)


def _float(x: float) -> str:
    """A float of a table: one decimal, or three significant digits below 1 (a rate of 0.05/s is not 0.0)."""
    return f"{x:.3g}" if 0 < abs(x) < 1 else f"{x:,.1f}"


def _fmt_td(td: pd.Timedelta) -> str:
    s = td.total_seconds()
    return f"{s / 3600:.1f} h" if s >= 7200 else f"{s / 60:.1f} min" if s >= 120 else f"{s:.1f} s"


def show(df: Any, *, max_rows: int = 20, columns: list[str] | None = None, caption: str | None = None):
    """Display a frame as an escaped HTML table (no index, at most ``max_rows`` rows, times readable). ``df`` may be
    an ``ob.scan()`` or a polars LazyFrame: only its first ``max_rows`` rows (of ``columns``) are read."""
    from IPython.display import HTML, display

    if is_scan(df) or isinstance(df, pl.LazyFrame):
        lf = df if isinstance(df, pl.LazyFrame) else load_order(df, scan_frame(df, columns))
        df = collect(lf.head(max_rows))
    pdf = df.to_pandas() if type(df).__module__.startswith("polars") else df
    if columns:
        pdf = pdf[[c for c in columns if c in pdf.columns]]
    pdf = pdf.head(max_rows).copy()
    for c in pdf.columns:
        if isinstance(pdf[c].dtype, pd.DatetimeTZDtype):
            pdf[c] = pdf[c].map(lambda t: _fmt(t) if pd.notna(t) else "")
        elif pd.api.types.is_timedelta64_dtype(pdf[c]):
            pdf[c] = pdf[c].map(lambda t: _fmt_td(t) if pd.notna(t) else "")
        elif pd.api.types.is_float_dtype(pdf[c]) and pdf[c].dropna().mod(1).eq(0).all() and pdf[c].notna().any():
            ints = pdf[c].astype("Int64")  # attempt numbers read as float because of nulls
            pdf[c] = ints.astype(object).where(ints.notna(), "")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    table = pdf.to_html(index=False, escape=True, na_rep="", float_format=_float, border=0)
    display(HTML(table.replace("<thead>", cap + "<thead>", 1) if cap else table))


def load_order(scan: Any, rows: pl.LazyFrame) -> pl.LazyFrame:
    """A scan's rows in the order ``ob.load`` gives them: the files' rows in time order (a stable sort) when the
    scan has several files, else the file's own order (what :func:`obsnb.analysis.lazy.scan_frame` keeps)."""
    time = "start" if scan.kind == "spans" else "time"
    if len(scan.files) < 2 or time not in rows.collect_schema():
        return rows
    return rows.sort(time, maintain_order=True, nulls_last=False)


def _text(v: Any) -> str:
    """A value as literal text inside markdown (:func:`obsnb.safe_text.md_text`): no link, image, emphasis,
    code, heading or table can be made from it, and it stays on one line."""
    return md_text(_fmt(v).replace("\r", " ").replace("\n", " "))


def _markdown(text: str) -> None:
    """Display markdown as data: IPython's ``Markdown(s)`` would fetch ``s`` when it starts with http."""
    from IPython.display import display

    display({"text/markdown": text}, raw=True)


def _print(text: str) -> None:
    """One paragraph of obsnb's own words around escaped values; ``**`` are ours (bold), everything else is text."""
    _markdown(_text(text).replace("&#42;&#42;", "**"))


def draw(chart: Any, otherwise: str = "") -> None:
    """Display a chart, or one line saying why there is none (``chart`` None)."""
    from IPython.display import display

    if chart is None:
        if otherwise:
            _print(otherwise)
        return
    display(chart)


def _pd(df: Any) -> pd.DataFrame:
    return df.to_pandas() if type(df).__module__.startswith("polars") else df
