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
import time
from typing import Any

from .errors import MissingDependencyError, ReportError, UsageError
from .scrub import Scrub
from .private_files import private_dir, write_private
from .private_files import read_private as _read_private  # noqa: F401 (the name the tests know)
from .vega_bundle import Bundle
from .vega_bundle import Bundle as _Bundle  # noqa: F401 (the name the tests know)
from .safe_html import lockdown
from .safe_text import is_secret_name, redact

__all__ = ["render", "execute", "export_html", "export_pdf", "redact", "TEMPLATES", "find_chromium", "Scrub",
           "scrub_for"]

TEMPLATES = pathlib.Path(__file__).parent / "templates"
NOTEBOOKS = pathlib.Path(__file__).parent / "notebooks"
REDACTED = "[REDACTED]"
# Parameter names whose values are never shown (searched anywhere in the name: api_token_file too).
_SECRET_PARAM = re.compile(r"(?i)api[_-]?key|apikey|token|secret|passw|passphrase|pwd|credential|private[_-]?key|"
                           r"session[_-]?id|signature|cookie|auth")


def _secret_param(name: str) -> bool:
    return bool(_SECRET_PARAM.search(name)) or is_secret_name(name)


def _redact_obj(obj: Any, known: tuple = ()) -> Any:
    if isinstance(obj, str):
        return redact(obj, known)
    if isinstance(obj, list):
        return [_redact_obj(x, known) for x in obj]
    if isinstance(obj, dict):
        return {k: _redact_obj(v, known) for k, v in obj.items()}
    return obj


_SCRIPT = re.compile(r"<\s*(/?)\s*(script|iframe|object|embed)\b", re.I)
_EVENT_ATTR = re.compile(r"\s(on[a-z]+)\s*=", re.I)


def _defuse(html_text: str, *, markdown: bool = False) -> str:
    """Neutralise script-capable markup in HTML or markdown that obsnb did not generate as a chart.

    Script-like tags are shown as text, ``on*`` handlers renamed, and every link or resource that would
    run script or reach the network removed (:func:`obsnb.safe_html.lockdown`, no scripts allowed).
    In markdown, links and images lose any target outside the page (``#blocked``; a ``data:image``
    stays) and bare URLs stop being autolinks. This is for the executed notebook, opened in Jupyter;
    the HTML report gets the whole-document pass and a Content-Security-Policy on top.
    """
    html_text = _SCRIPT.sub(lambda m: f"&lt;{m.group(1)}{m.group(2)}", html_text)
    html_text = _EVENT_ATTR.sub(lambda m: f" data-blocked-{m.group(1)}=", html_text)
    html_text, _ = lockdown(html_text, policy=False)
    if not markdown:
        return html_text
    html_text = _MD_TARGET.sub(lambda m: m.group(0) if m.group(2).startswith("#") or _DATA_IMAGE.match(m.group(2))
                               else f"{m.group(1)}#blocked", html_text)
    html_text = _MD_AUTOLINK.sub(r"&lt;\1:", html_text)
    return _MD_BARE_URL.sub(lambda m: f"{m.group(1)}&#58;//" if m.group(1) else "www&#46;", html_text)


# The target of [text](target, ![alt](target and [ref]: target; <scheme:...> autolinks; bare URLs.
_MD_TARGET = re.compile(r"(?m)((?:\]\(|^[ ]{0,3}\[[^\]\n]+\]:)[ \t]*<?[ \t]*)([^)\s>]*)")
_MD_AUTOLINK = re.compile(r"(?i)<([a-z][a-z0-9+.-]{1,31}):(?=[^\s<>]*>)")
_MD_BARE_URL = re.compile(r"(?i)\b(https?|ftp)://|\bwww\.(?=\w)")
_DATA_IMAGE = re.compile(r"(?i)data:image/(?:png|jpe?g|gif|webp|bmp)[;,]")
# Python's default warning text: "<file>:<line>: <Category>: <message>\n  <source line>\n". In a report the file
# (an interpreter path on the machine that ran it) and the source line of the call mean nothing to a reader.
_WARNING_LINE = re.compile(r"(?m)^[^\n:]*(?:[/\\<][^\n]*?)?:\d+: (\w*Warning): ([^\n]*)\n(?:  [^\n]*\n)?")


def _plain_warnings(text: str) -> str:
    """Warnings in a cell's stderr as ``Category: message``, without the file, line and source line Python adds.

    Only a one-line message loses the line after it (its source line: two spaces, then the code); a message of
    several lines keeps every line, only its ``file:line:`` prefix goes."""
    return _WARNING_LINE.sub(lambda m: f"{m.group(1)}: {m.group(2)}\n", text)


def _clean(nb, pii: Scrub | None = None) -> None:
    """Redact secrets everywhere and defuse non-chart HTML/markdown outputs, in place; with ``pii``, make
    personal data pseudonyms everywhere too (:mod:`obsnb.scrub`).

    The values of secret parameters (``api_token``, ``db_password``, ...) are replaced wherever they
    show up, in their base64 and URL-quoted forms too, besides every pattern :func:`redact` knows.
    """
    params = nb.metadata.get("papermill", {}).get("parameters")
    known: tuple = ()
    if isinstance(params, dict):
        known = tuple(v for k, v in params.items() if _secret_param(k) and isinstance(v, str) and v != REDACTED)
        for k in list(params):
            params[k] = REDACTED if _secret_param(k) else _redact_obj(params[k], known)

    def scrub(text: str) -> str:
        return redact(text, known)

    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            tags = cell.get("metadata", {}).get("tags", [])
            if "injected-parameters" in tags or "parameters" in tags:
                cell.source = _redact_params(cell.source)
            for out in cell.get("outputs", []):
                if "text" in out:
                    out["text"] = scrub(out["text"] if isinstance(out["text"], str) else "".join(out["text"]))
                    if out.get("name") == "stderr":
                        out["text"] = _plain_warnings(out["text"])
                if "evalue" in out:
                    out["evalue"] = scrub(out["evalue"])
                    out["traceback"] = [scrub(t) for t in out.get("traceback", [])]
                data = out.get("data", {})
                for mime in list(data):
                    value = data[mime]
                    text = value if isinstance(value, str) else "".join(value) if isinstance(value, list) else None
                    if text is None:
                        data[mime] = _redact_obj(value, known)
                        continue
                    text = scrub(text)
                    if mime in ("text/html", "text/markdown") and not _is_chart(text):
                        text = _defuse(text, markdown=mime == "text/markdown")
                    data[mime] = text
        cell.source = scrub(cell.source)
    if pii is not None and pii.active:
        _scrub_node(nb, pii)


def scrub_for(scrub: Scrub | bool | None) -> Scrub | None:
    """The scrubbing a render applies: ``scrub`` as given, ``True`` for e-mails and IPs plus the lists of
    obsnb.toml's ``[report]``, ``None`` for what ``[report]`` and ``ob.set_option("scrub_pii", True)`` say
    (either turns e-mails and IPs on), ``False`` for none."""
    if isinstance(scrub, Scrub) or scrub is False:
        return scrub or None
    from . import config
    from .options import get_option

    cfg = config.report_settings()
    pii = True if scrub is True else bool(cfg.get("scrub_pii", False)) or get_option("scrub_pii")
    out = Scrub(pii=pii, values=cfg.get("scrub_values", ()), fields=cfg.get("scrub_fields", ()))
    return out if out.active else None


_BINARY = re.compile(r"(?i)^(?:image/(?!svg)|application/pdf)")


def _scrub_node(nb, scrub: Scrub) -> None:
    """Personal data made pseudonyms in every string of the notebook (sources, outputs, metadata), in place.

    Two passes: the values of listed fields are learnt from every output first, so a user id seen in a
    table is replaced in prose and charts as well. Binary outputs (PNG, PDF as base64) are left alone.
    """

    def walk(obj: Any, fn) -> Any:
        if isinstance(obj, str):
            return fn(obj)
        if isinstance(obj, list):
            return [walk(x, fn) for x in obj]
        if isinstance(obj, dict):
            for k in list(obj):
                if not _BINARY.match(str(k)):
                    obj[k] = walk(obj[k], fn)
            return obj
        return obj

    def learn(text: str) -> str:
        scrub.learn(text)
        return text

    walk(nb, learn)
    walk(nb, scrub.text)


def _is_chart(text: str) -> bool:
    return 'id="obsnb-chart-' in text and "vegaEmbed" in text


def _redact_params(source: str) -> str:
    lines = []
    for line in source.splitlines():
        name = line.split("=", 1)[0].strip()
        if "=" in line and _secret_param(name):
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


def _write_notebook(node, path: str | os.PathLike) -> pathlib.Path:
    import nbformat

    return write_private(path, nbformat.writes(node))


_PARAM_TYPES = (str, int, float, bool, type(None))


def check_parameters(parameters: dict | None) -> dict:
    """The parameters as papermill may inject them, or :class:`~obsnb.UsageError`.

    A name must be a Python identifier and not a keyword (papermill pastes names into code as they
    are); a value must be data papermill writes as a literal: text, numbers, booleans, None, and lists
    and dicts of those (dates become ISO text). Anything else would be pasted in as ``str(value)``.
    """
    import datetime as _dt
    import keyword

    def value(v: Any, where: str) -> Any:
        if type(v) in _PARAM_TYPES:
            return v
        if isinstance(v, (_dt.datetime, _dt.date)):
            return v.isoformat()
        if isinstance(v, (list, tuple)):
            return [value(x, where) for x in v]
        if isinstance(v, dict):
            for k in v:
                if not isinstance(k, str):
                    raise UsageError(f"parameter {where}: dict keys must be text, got {type(k).__name__}")
            return {k: value(x, where) for k, x in v.items()}
        msg = (f"parameter {where}: a {type(v).__name__} cannot be passed to a notebook; give text, a number, "
               "a boolean, None, or a list/dict of those")
        raise UsageError(msg)

    out = {}
    for name, v in (parameters or {}).items():
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or not name.isascii():
            msg = (f"parameter name {name!r} is not a Python identifier (letters, digits and _, not starting with "
                   "a digit, not a keyword); use -p NAME=VALUE with the name of a variable in the notebook's "
                   "parameters cell")
            raise UsageError(msg)
        out[name] = value(v, name)
    return out


def execute(nb: str | os.PathLike, output: str | os.PathLike, parameters: dict | None = None, *,
            cwd: str | os.PathLike | None = None, renderer: str = "html", kernel_name: str = "python3",
            timings: dict | None = None, scrub: Scrub | None = None):
    """Execute ``nb`` with papermill (``parameters`` injected) and return the executed notebook node.

    The notebook runs into a private temporary folder; what is written to ``output`` (0600) is the
    redacted notebook (and scrubbed with ``scrub``), for a failed run too. Raises :class:`~obsnb.ReportError` naming the failing
    cell, its source and the error.
    """
    import nbformat
    import papermill
    from jupyter_client.kernelspec import NoSuchKernel
    from papermill.exceptions import PapermillExecutionError

    src = resolve_notebook(nb)
    parameters = check_parameters(parameters)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="obsnb-execute-") as tmp:  # 0700: nobody else reads the raw run
        raw = pathlib.Path(tmp) / "executed.ipynb"
        try:
            with _env(OBSNB_ALTAIR_RENDERER=renderer, PYDEVD_DISABLE_FILE_VALIDATION="1",
                      OBSNB_RENDER_SCRUB_PII="1" if scrub is not None and scrub.pii else "0"):
                result = papermill.execute_notebook(
                    str(src), str(raw), parameters=parameters, kernel_name=kernel_name,
                    cwd=str(cwd) if cwd else str(src.parent), progress_bar=False, log_output=False,
                )
        except NoSuchKernel as exc:
            msg = (f"{src.name}: no Jupyter kernel named {kernel_name!r}; install one for this Python with: "
                   f"python -m ipykernel install --sys-prefix --name {kernel_name}")
            raise ReportError(msg, notebook=str(src)) from exc
        except PapermillExecutionError as exc:
            failed = nbformat.read(str(raw), as_version=4)
            _clean(failed, scrub)
            _write_notebook(failed, output)
            code_cells = [c for c in failed.cells if c.get("cell_type") == "code"]
            bad = [i for i, c in enumerate(failed.cells)
                   if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
            index = bad[0] if bad else exc.cell_index
            cell = failed.cells[index] if index < len(failed.cells) else None
            code = (cell.source.strip().splitlines() or [""])[0][:120] if cell is not None else ""
            n = code_cells.index(cell) + 1 if cell in code_cells else index
            known = tuple(v for k, v in parameters.items() if _secret_param(k) and isinstance(v, str))
            msg = (f"{src.name}: code cell {n} (cell {index} of the executed notebook) failed: "
                   f"{exc.ename}: {redact(str(exc.evalue), known)}\n  cell starts: {redact(code, known)}\n"
                   f"  the executed notebook (secrets redacted) with the full traceback: {output}")
            raise ReportError(msg, notebook=str(src), cell=index) from None
    _clean(result, scrub)
    _write_notebook(result, output)
    if timings is not None:
        timings["execute"] = time.perf_counter() - t0
    return result


_CHART_SCRIPT = re.compile(r'\A\s*<div id="obsnb-chart-[\w-]+" class="obsnb-chart"></div>\s*'
                           r'<script type="text/javascript">([^<]*)</script>\s*\Z')


def _chart_scripts(node) -> list[str]:
    """The script texts of the charts obsnb's report renderer drew (a div and one script holding no ``<``)."""
    found = []
    for cell in node.cells:
        for out in cell.get("outputs", []):
            value = out.get("data", {}).get("text/html")
            text = "".join(value) if isinstance(value, list) else value
            if isinstance(text, str) and (m := _CHART_SCRIPT.match(text)):
                found.append(m.group(1))
    return found


def export_html(nb, output: str | os.PathLike, *, title: str | None = None, show_code: bool = False,
                scrub: Scrub | None = None) -> pathlib.Path:
    """Export an executed notebook (node or path) to one self-contained HTML file (0600); returns its path.

    The page runs only the vega bundle and obsnb's own chart calls, reaches no network and links
    nowhere outside itself (:func:`obsnb.safe_html.lockdown` plus a Content-Security-Policy).
    """
    import altair as alt
    import nbformat
    from nbconvert import HTMLExporter

    node = nbformat.read(str(nb), as_version=4) if isinstance(nb, (str, os.PathLike)) else nb
    _clean(node, scrub)
    resources: dict[str, Any] = {"metadata": {"name": title or "obsnb report"}}
    scripts = _chart_scripts(node)
    if scripts:
        resources["obsnb_vega_bundle"] = Bundle.get()
        resources["obsnb_vega_debug"] = json.dumps({"vega_version": alt.VEGA_VERSION,
                                                    "vegalite_version": alt.VEGALITE_VERSION,
                                                    "vegaembed_version": alt.VEGAEMBED_VERSION})
        scripts += [resources["obsnb_vega_bundle"], f"var VEGA_DEBUG = {resources['obsnb_vega_debug']};"]
    exp = HTMLExporter(template_name="obsnb", extra_template_basedirs=[str(TEMPLATES)], exclude_input=not show_code,
                       exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exp.from_notebook_node(node, resources=resources)
    body, _ = lockdown(body, scripts=scripts)
    return write_private(output, body)


def find_chromium() -> str:
    """The Chromium executable: ``$OBSNB_CHROMIUM``, else chromium/chromium-browser/google-chrome on PATH."""
    for cand in (os.environ.get("OBSNB_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if cand and (path := shutil.which(cand)):
            return path
    msg = "PDF export needs Chromium: apt-get install chromium (or set OBSNB_CHROMIUM to its path)"
    raise MissingDependencyError(msg)


def export_pdf(html_path: str | os.PathLike, output: str | os.PathLike) -> pathlib.Path:
    """Print the self-contained HTML to PDF (0600) with headless Chromium, the network blocked."""
    chromium = find_chromium()
    with tempfile.TemporaryDirectory(prefix="obsnb-chromium-") as profile:
        out = pathlib.Path(profile) / "report.pdf"  # in the private folder, then copied 0600
        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}", "--virtual-time-budget=10000",
               "--no-pdf-header-footer", f"--print-to-pdf={out}", pathlib.Path(html_path).resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0 or not out.is_file():
            msg = f"Chromium could not print {html_path} to PDF (exit {proc.returncode}): {proc.stderr.strip()[-400:]}"
            raise ReportError(msg, notebook=str(html_path))
        return write_private(output, out.read_bytes())


def render(nb: str | os.PathLike, *, to: str = "html", output: str | os.PathLike | None = None,
           parameters: dict | None = None, cwd: str | os.PathLike | None = None, show_code: bool = False,
           keep_notebook: bool = True, timings: dict | None = None, scrub: Scrub | bool | None = None) -> pathlib.Path:
    """Run ``nb`` with ``parameters`` and write one report file (``to="html"`` or ``"pdf"``); returns its path.

    The executed notebook (redacted) is kept beside the report as ``<name>.executed.ipynb`` unless
    ``keep_notebook=False``. Report and notebook are created 0600, missing folders 0700. Parameter
    names must be identifiers and values data (:func:`check_parameters`).

    ``scrub`` replaces personal data with stable pseudonyms in the report and the executed notebook
    (:class:`obsnb.scrub.Scrub`; ``True``: e-mails and IP addresses; ``None``: as obsnb.toml's
    ``[report]`` says, see :func:`scrub_for`). The same instance then scrubs anything else the report
    carries (the CLI's findings JSON).
    """
    if to not in ("html", "pdf"):
        msg = f"--to must be html or pdf, got {to!r}"
        raise UsageError(msg)
    src = resolve_notebook(nb)
    out = pathlib.Path(output) if output else pathlib.Path.cwd() / f"{src.stem}.{to}"
    if out.suffix != f".{to}":
        out = out.with_suffix(f".{to}")
    parameters = check_parameters(parameters)
    pii = scrub_for(scrub)
    private_dir(out.parent)
    timings = timings if timings is not None else {}
    executed = out.with_name(f"{out.stem}.executed.ipynb")
    Bundle.warm()
    with tempfile.TemporaryDirectory(prefix="obsnb-render-") as tmp:
        node = execute(src, executed, parameters, cwd=cwd or src.parent, timings=timings, scrub=pii)
        t0 = time.perf_counter()
        html_path = out if to == "html" else pathlib.Path(tmp) / f"{src.stem}.html"
        export_html(node, html_path, title=out.stem, show_code=show_code, scrub=pii)
        if not keep_notebook:
            executed.unlink(missing_ok=True)
        timings["export"] = time.perf_counter() - t0
        if to == "pdf":
            t0 = time.perf_counter()
            export_pdf(html_path, out)
            timings["pdf"] = time.perf_counter() - t0
    return out
