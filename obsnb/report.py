"""Run a notebook with parameters and export ONE self-contained report (HTML, or PDF printed from it).

Pipeline (measured in ../shared/reports/REPORTS.md): papermill executes the notebook with
``OBSNB_ALTAIR_RENDERER=html``; secrets are redacted from every output and from the injected
parameters; HTML that did not come from a chart is defused; nbconvert exports with the ``obsnb``
template, which inlines the vega bundle once and drops every CDN script; PDF is Chromium's
``--print-to-pdf`` of that HTML. A failing cell raises :class:`~obsnb.ReportError` naming the cell.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import threading
import time
from typing import Any

from .errors import MissingDependencyError, ReportError, UsageError

__all__ = ["render", "execute", "export_html", "export_pdf", "redact", "TEMPLATES", "find_chromium"]

TEMPLATES = pathlib.Path(__file__).parent / "templates"
NOTEBOOKS = pathlib.Path(__file__).parent / "notebooks"
REDACTED = "[REDACTED]"

_SECRET_NAME = r"(?:api[_-]?key|apikey|access[_-]?token|auth[_-]?token|token|secret|client[_-]?secret|password|passwd|pwd|session[_-]?id|signature|sig)"
_PATTERNS = [
    # key=value in URLs, query strings, logfmt, env lines
    (re.compile(rf"(?i)(\b{_SECRET_NAME}\s*[=:]\s*)([^\s&\"'<>,;]+)"), rf"\1{REDACTED}"),
    # "password": "..." in JSON / Python reprs
    (re.compile(rf"(?i)([\"']{_SECRET_NAME}[\"']\s*:\s*[\"'])([^\"']+)"), rf"\1{REDACTED}"),
    # Authorization headers and bearer/basic credentials
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?:(bearer|basic|token)\s+)?([^\s\"'<>,;]+)"),
     lambda m: f"{m.group(1)}{(m.group(2) + ' ') if m.group(2) else ''}{REDACTED}"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {REDACTED}"),
    # user:password@ in URLs
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)([^/\s:@\"'<>]+):([^@/\s\"'<>]+)@"), rf"\1\2:{REDACTED}@"),
    # well-known token shapes
    (re.compile(r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}"), REDACTED),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), REDACTED),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), REDACTED),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), REDACTED),  # JWT
]
_SECRET_PARAM = re.compile(rf"(?i){_SECRET_NAME}|credential|private[_-]?key")


def redact(text: str) -> str:
    """``text`` with tokens, passwords, ``Authorization`` values and keys in URLs replaced by ``[REDACTED]``."""
    for rx, repl in _PATTERNS:
        text = rx.sub(repl, text)
    return text


def _redact_obj(obj: Any) -> Any:
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, list):
        return [_redact_obj(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _redact_obj(v) for k, v in obj.items()}
    return obj


_SCRIPT = re.compile(r"<\s*(/?)\s*(script|iframe|object|embed)\b", re.I)
_EVENT_ATTR = re.compile(r"\s(on[a-z]+)\s*=", re.I)


def _defuse(html_text: str) -> str:
    """Neutralise script-capable markup in HTML that obsnb did not generate as a chart."""
    html_text = _SCRIPT.sub(lambda m: f"&lt;{m.group(1)}{m.group(2)}", html_text)
    return _EVENT_ATTR.sub(lambda m: f" data-blocked-{m.group(1)}=", html_text)


def _clean(nb) -> None:
    """Redact secrets everywhere and defuse non-chart HTML/markdown outputs, in place."""
    params = nb.metadata.get("papermill", {}).get("parameters")
    if isinstance(params, dict):
        for k in list(params):
            params[k] = REDACTED if _SECRET_PARAM.search(k) else _redact_obj(params[k])
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            tags = cell.get("metadata", {}).get("tags", [])
            if "injected-parameters" in tags or "parameters" in tags:
                cell.source = _redact_params(cell.source)
            for out in cell.get("outputs", []):
                if "text" in out:
                    out["text"] = redact(out["text"] if isinstance(out["text"], str) else "".join(out["text"]))
                if "evalue" in out:
                    out["evalue"] = redact(out["evalue"])
                    out["traceback"] = [redact(t) for t in out.get("traceback", [])]
                data = out.get("data", {})
                for mime in list(data):
                    value = data[mime]
                    text = value if isinstance(value, str) else "".join(value) if isinstance(value, list) else None
                    if text is None:
                        data[mime] = _redact_obj(value)
                        continue
                    text = redact(text)
                    if mime in ("text/html", "text/markdown") and not _is_chart(text):
                        text = _defuse(text)
                    data[mime] = text
        cell.source = redact(cell.source)


def _is_chart(text: str) -> bool:
    return 'id="obsnb-chart-' in text and "vegaEmbed" in text


def _redact_params(source: str) -> str:
    lines = []
    for line in source.splitlines():
        name = line.split("=", 1)[0].strip()
        if "=" in line and _SECRET_PARAM.search(name):
            line = f"{line.split('=', 1)[0]}= {REDACTED!r}"
        lines.append(line)
    return "\n".join(lines)


@contextlib.contextmanager
def _env(**values: str):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def resolve_notebook(nb: str | os.PathLike) -> pathlib.Path:
    """A notebook path, or the name of a bundled template (``postmortem``, ``triage``, ``trace``)."""
    p = pathlib.Path(nb)
    if p.is_file():
        return p
    bundled = NOTEBOOKS / (p.name if p.suffix == ".ipynb" else f"{p.name}.ipynb")
    if not p.parent.parts and bundled.is_file():
        return bundled
    names = ", ".join(sorted(x.stem for x in NOTEBOOKS.glob("*.ipynb")))
    msg = f"no notebook at {nb}; give a path to an .ipynb file or a bundled template ({names})"
    raise UsageError(msg)


def execute(nb: str | os.PathLike, output: str | os.PathLike, parameters: dict | None = None, *,
            cwd: str | os.PathLike | None = None, renderer: str = "html", kernel_name: str = "python3",
            timings: dict | None = None):
    """Execute ``nb`` with papermill (``parameters`` injected) and return the executed notebook node.

    Raises :class:`~obsnb.ReportError` naming the failing cell, its source and the error.
    """
    import papermill
    from jupyter_client.kernelspec import NoSuchKernel
    from papermill.exceptions import PapermillExecutionError

    src = resolve_notebook(nb)
    t0 = time.perf_counter()
    try:
        with _env(OBSNB_ALTAIR_RENDERER=renderer, PYDEVD_DISABLE_FILE_VALIDATION="1"):
            result = papermill.execute_notebook(
                str(src), str(output), parameters=parameters or {}, kernel_name=kernel_name,
                cwd=str(cwd) if cwd else str(src.parent), progress_bar=False, log_output=False,
            )
    except NoSuchKernel as exc:
        msg = (f"{src.name}: no Jupyter kernel named {kernel_name!r}; install one for this Python with: "
               f"python -m ipykernel install --sys-prefix --name {kernel_name}")
        raise ReportError(msg, notebook=str(src)) from exc
    except PapermillExecutionError as exc:
        import nbformat

        failed = nbformat.read(str(output), as_version=4)
        code_cells = [c for c in failed.cells if c.get("cell_type") == "code"]
        bad = [i for i, c in enumerate(failed.cells)
               if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
        index = bad[0] if bad else exc.cell_index
        cell = failed.cells[index] if index < len(failed.cells) else None
        code = (cell.source.strip().splitlines() or [""])[0][:120] if cell is not None else ""
        n = code_cells.index(cell) + 1 if cell in code_cells else index
        msg = (f"{src.name}: code cell {n} (cell {index} of the executed notebook) failed: "
               f"{exc.ename}: {redact(str(exc.evalue))}\n  cell starts: {redact(code)}\n"
               f"  the executed notebook with the full traceback: {output}")
        exc.cell_index = index
        raise ReportError(msg, notebook=str(src), cell=exc.cell_index) from None
    if timings is not None:
        timings["execute"] = time.perf_counter() - t0
    return result


class _Bundle:
    """The vega + vega-lite + vega-embed bundle from vl-convert: computed once, cached on disk per altair version.

    vl-convert takes 1.6-9 s to produce it on a busy 2-core machine; the cache (``$OBSNB_CACHE_DIR`` or
    ``~/.cache/obsnb``) makes later reports skip that, and :func:`render` warms it while the notebook runs.
    """

    text: str | None = None
    _lock = threading.Lock()

    @classmethod
    def _cache_file(cls) -> pathlib.Path:
        import altair as alt

        base = os.environ.get("OBSNB_CACHE_DIR") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "obsnb")
        return pathlib.Path(base) / f"vega-bundle-altair-{alt.__version__}-vl-{alt.SCHEMA_VERSION}.js"

    @classmethod
    def get(cls) -> str:
        with cls._lock:
            if cls.text is None:
                cls.text = cls._load()
            return cls.text

    @classmethod
    def _load(cls) -> str:
        cache = cls._cache_file()
        with contextlib.suppress(OSError):
            text = cache.read_text(encoding="utf-8")
            if len(text) > 100_000:
                return text
        try:
            import vl_convert as vlc
        except ImportError as exc:
            msg = "reports need vl-convert-python for the offline vega bundle: pip install vl-convert-python"
            raise MissingDependencyError(msg) from exc
        import altair as alt

        major_minor = "_".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
        text = vlc.javascript_bundle(vl_version=f"v{major_minor}")
        text = re.sub(r"</(script)", r"<\\/\1", text, flags=re.I)  # never close the inline <script> early
        with contextlib.suppress(OSError):
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(cache)
        return text

    @classmethod
    def warm(cls) -> threading.Thread:
        """Start computing the bundle in a background thread (errors surface later in :meth:`get`)."""
        t = threading.Thread(target=cls._safe_get, daemon=True)
        t.start()
        return t

    @classmethod
    def _safe_get(cls) -> None:
        with contextlib.suppress(Exception):
            cls.get()


def export_html(nb, output: str | os.PathLike, *, title: str | None = None, show_code: bool = False) -> pathlib.Path:
    """Export an executed notebook (node or path) to one self-contained HTML file; returns its path."""
    import altair as alt
    import nbformat
    from nbconvert import HTMLExporter

    node = nbformat.read(str(nb), as_version=4) if isinstance(nb, (str, os.PathLike)) else nb
    _clean(node)
    resources: dict[str, Any] = {"metadata": {"name": title or "obsnb report"}}
    if any("vegaEmbed" in json.dumps(c.get("outputs", [])) for c in node.cells if c.get("cell_type") == "code"):
        resources["obsnb_vega_bundle"] = _Bundle.get()
        resources["obsnb_vega_debug"] = json.dumps({"vega_version": alt.VEGA_VERSION,
                                                    "vegalite_version": alt.VEGALITE_VERSION,
                                                    "vegaembed_version": alt.VEGAEMBED_VERSION})
    exp = HTMLExporter(template_name="obsnb", extra_template_basedirs=[str(TEMPLATES)], exclude_input=not show_code,
                       exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exp.from_notebook_node(node, resources=resources)
    out = pathlib.Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out


def find_chromium() -> str:
    """The Chromium executable: ``$OBSNB_CHROMIUM``, else chromium/chromium-browser/google-chrome on PATH."""
    for cand in (os.environ.get("OBSNB_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if cand and (path := shutil.which(cand)):
            return path
    msg = "PDF export needs Chromium: apt-get install chromium (or set OBSNB_CHROMIUM to its path)"
    raise MissingDependencyError(msg)


def export_pdf(html_path: str | os.PathLike, output: str | os.PathLike) -> pathlib.Path:
    """Print the self-contained HTML to PDF with headless Chromium, the network blocked."""
    chromium = find_chromium()
    out = pathlib.Path(output).resolve()
    with tempfile.TemporaryDirectory(prefix="obsnb-chromium-") as profile:
        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}", "--virtual-time-budget=10000",
               "--no-pdf-header-footer", f"--print-to-pdf={out}", pathlib.Path(html_path).resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 or not out.is_file():
        msg = f"Chromium could not print {html_path} to PDF (exit {proc.returncode}): {proc.stderr.strip()[-400:]}"
        raise ReportError(msg, notebook=str(html_path))
    return out


def render(nb: str | os.PathLike, *, to: str = "html", output: str | os.PathLike | None = None,
           parameters: dict | None = None, cwd: str | os.PathLike | None = None, show_code: bool = False,
           keep_notebook: bool = True, timings: dict | None = None) -> pathlib.Path:
    """Run ``nb`` with ``parameters`` and write one report file (``to="html"`` or ``"pdf"``); returns its path.

    The executed notebook (redacted) is kept beside the report as ``<name>.executed.ipynb`` unless
    ``keep_notebook=False``.
    """
    if to not in ("html", "pdf"):
        msg = f"--to must be html or pdf, got {to!r}"
        raise UsageError(msg)
    src = resolve_notebook(nb)
    out = pathlib.Path(output) if output else pathlib.Path.cwd() / f"{src.stem}.{to}"
    if out.suffix != f".{to}":
        out = out.with_suffix(f".{to}")
    out.parent.mkdir(parents=True, exist_ok=True)
    timings = timings if timings is not None else {}
    executed = out.with_name(f"{out.stem}.executed.ipynb")
    _Bundle.warm()
    with tempfile.TemporaryDirectory(prefix="obsnb-render-") as tmp:
        node = execute(src, executed, parameters, cwd=cwd or src.parent, timings=timings)
        t0 = time.perf_counter()
        html_path = out if to == "html" else pathlib.Path(tmp) / f"{src.stem}.html"
        export_html(node, html_path, title=out.stem, show_code=show_code)
        if keep_notebook:
            import nbformat

            nbformat.write(node, str(executed))  # now redacted
        else:
            executed.unlink(missing_ok=True)
        timings["export"] = time.perf_counter() - t0
        if to == "pdf":
            t0 = time.perf_counter()
            export_pdf(html_path, out)
            timings["pdf"] = time.perf_counter() - t0
    return out
