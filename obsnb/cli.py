"""The ``obsnb`` command: ``new`` an investigation, ``render`` a notebook to one report file, ``demo``.

Thin over :mod:`obsnb.report`; errors print one line (``obsnb: error: ...``) and exit 2 for bad usage,
1 for a failed render.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import pathlib
import shutil
import sys
import tempfile
import textwrap
import time
import warnings
from typing import Sequence

from . import __version__
from .config import has_source
from .errors import ObsnbError, UsageError

__all__ = ["main", "new_investigation"]

EPILOG = """examples (on the bundled public incidents; point --source at your own files, URLs or names):
  obsnb demo                                   render the bundled sample incident's postmortem
  obsnb new postmortem inc-tq --incident TQ-7 --start 2026-09-14T09:15Z --end 2026-09-14T10:45Z \\
        --source logs=sample_data/incidents/taskqueue/logs --source traces=sample_data/incidents/taskqueue/traces \\
        --source metrics=prometheus://prom:9090
  obsnb render inc-tq/postmortem.ipynb --to html       (also writes postmortem.findings.json beside it)
  obsnb render postmortem --to pdf -p incident=TQ-8 -p logs=app.log --out reports/TQ-8.pdf
  obsnb investigate --source logs=sample_data/incidents/batch/logs --start 2026-10-14T08:00Z --end 2026-10-14T10:00Z [--json]
  obsnb audit --source logs=app/logs --source traces=traces.otlp.json      how observable was it, rule by rule
"""

TEMPLATES = ("postmortem", "triage", "trace")
SOURCE_KINDS = ("logs", "traces", "metrics")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="obsnb", description="Investigate incidents in Jupyter: logs, metrics and traces of one window.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    p.add_argument("--version", action="version", version=f"obsnb {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{new,render,investigate,audit,demo}")

    n = sub.add_parser("new", help="create an investigation folder from a template", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    n.add_argument("template", choices=TEMPLATES, help="which notebook to start from")
    n.add_argument("directory", help="folder to create (may exist if empty)")
    n.add_argument("--incident", required=True, help="incident id, e.g. INC-7")
    n.add_argument("--start", help="window start: ISO time, epoch or now-2h")
    n.add_argument("--end", help="window end")
    n.add_argument("--source", action="append", default=[], metavar="KIND=WHERE",
                   help="logs=, traces= or metrics= followed by a path, glob, URL or obsnb.toml source name (repeat)")
    n.add_argument("--force", action="store_true", help="overwrite files that exist")

    r = sub.add_parser("render", help="run a notebook and write one self-contained report", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("notebook", help="path to an .ipynb, or a bundled template name (postmortem, triage, trace)")
    r.add_argument("--to", choices=("html", "pdf"), default="html", help="report format (default html)")
    r.add_argument("--out", help="report file (default: beside the notebook, same name)")
    r.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                   help="set a parameter (value read as JSON when it parses, else as a string)")
    r.add_argument("--show-code", action="store_true", help="include code cells (hidden by default)")
    r.add_argument("--scrub-pii", action="store_true",
                   help="replace e-mails and IP addresses with stable pseudonyms in every file written")
    r.add_argument("--scrub-value", action="append", default=[], metavar="VALUE",
                   help="also replace this value (a user name, an id) wherever it shows (repeat)")
    r.add_argument("--scrub-field", action="append", default=[], metavar="FIELD",
                   help="also replace every value of this field (user.id) wherever it shows (repeat)")

    i = sub.add_parser("investigate", help="print the findings of an incident (a table, or --json)", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _evidence_arguments(i, "window start: ISO time, epoch or now-2h (default: found from the evidence)")
    i.add_argument("--lookback", default="auto", help="evidence loaded before --start as the baseline (default: auto)")
    i.add_argument("--json", action="store_true", help="print the findings document (schema obsnb.findings/1)")

    u = sub.add_parser("audit", help="print how observable the evidence is, rule by rule (or --json)", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _evidence_arguments(u, "start of the evidence to judge")
    u.add_argument("--json", action="store_true", help="one JSON object per rule")

    d = sub.add_parser("demo", help="render the postmortem of the bundled sample incident", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("--out", default="reports", help="folder for the report (default ./reports)")
    d.add_argument("--to", choices=("html", "pdf"), default="html")
    return p


def _evidence_arguments(p: argparse.ArgumentParser, start_help: str) -> None:
    """--source (repeat), --start, --end and --hint (repeat): the evidence a command reads, and its hints."""
    p.add_argument("--source", action="append", default=[], metavar="KIND=WHERE",
                   help="logs=, traces= or metrics= followed by a path, glob, directory, URL or obsnb.toml source name")
    p.add_argument("--start", help=start_help)
    p.add_argument("--end", help="end of the window")
    p.add_argument("--hint", action="append", default=[], metavar="NAME=VALUE",
                   help="override what is detected, e.g. --hint key=order_id --hint entity=host (repeat)")


def _kv(items: Sequence[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            msg = f"{what} {item!r} is not NAME=VALUE"
            raise UsageError(msg)
        out[name.strip()] = value
    return out


def _param_value(text: str, default: str | None = None):
    """A ``-p`` value: a string when the notebook's default is a string (``-p incident=1234`` stays "1234"),
    else JSON when it parses (``-p minutes=90`` -> 90, ``-p start=null`` -> None), else the text."""
    if default is not None and default.strip()[:1] in ("'", '"'):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _defaults(nb: str) -> dict[str, str]:
    """The notebook's parameter defaults as source text (papermill's inspection); {} when unknown."""
    try:
        from papermill.inspection import inspect_notebook

        from .report import resolve_notebook

        return {k: v.get("default") for k, v in inspect_notebook(str(resolve_notebook(nb))).items()}
    except Exception:  # noqa: BLE001 - typing parameters is a convenience; the render reports real errors
        return {}


_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_str(s: str) -> str:
    """``s`` as a TOML basic string that reads back as exactly ``s`` (TOML 1.0: quote, backslash and control
    characters escaped, ``\\uXXXX`` for the controls without a short form; emoji and the rest as UTF-8)."""
    if any("\ud800" <= ch <= "\udfff" for ch in s):  # argv bytes that were not UTF-8 (surrogateescape)
        msg = f"{s.encode('utf-8', 'backslashreplace').decode()!r} is not valid UTF-8 text"
        raise UsageError(msg)
    return '"' + re.sub(r'["\\\x00-\x1f\x7f]', lambda m: _TOML_ESCAPES.get(m.group(), f"\\u{ord(m.group()):04X}"), s) + '"'


def _is_url(v: str) -> bool:
    return "://" in v


def resolve_sources(sources: dict[str, str], base: pathlib.Path | None = None) -> dict[str, str]:
    """Each source as the notebook must see it: URLs and obsnb.toml names as given, paths, globs and
    directories made absolute (a notebook runs in its own folder). A path that matches nothing is a UsageError."""
    bad = sorted(set(sources) - set(SOURCE_KINDS))
    if bad:
        msg = f"--source {bad[0]}=...: the kind must be one of {', '.join(SOURCE_KINDS)}"
        raise UsageError(msg)
    base = base or pathlib.Path.cwd()
    out = {}
    for kind, value in sources.items():
        value = value.strip()
        if not value:
            msg = f"--source {kind}= is empty: give a path, glob, directory, URL or obsnb.toml source name"
            raise UsageError(msg)
        if _is_url(value):
            out[kind] = value
            continue
        path = pathlib.Path(value).expanduser()
        path = path if path.is_absolute() else base / path
        if glob.has_magic(str(path)):
            if not glob.glob(str(path), recursive=True):
                msg = f"--source {kind}={value}: no file matches that pattern (looked from {base})"
                raise UsageError(msg)
        elif not path.exists():
            try:
                named = has_source(value)
            except ObsnbError:
                named = False
            if named:
                out[kind] = value
                continue
            msg = f"--source {kind}={value}: no such file or directory, and no source of that name in obsnb.toml"
            raise UsageError(msg)
        out[kind] = str(path)
    return out


def _py_str(value: str | None) -> str:
    """``value`` as the Python literal papermill injects: ``None``, or a double-quoted string with backslashes,
    quotes and every non-ASCII or control character escaped (``unicode_escape``)."""
    if value is None:
        return "None"
    return '"' + value.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


def _filled_template(template: str, params: dict[str, str | None]) -> str:
    """The bundled ``template`` notebook as JSON text, its ``parameters`` cell ending with ``params`` assigned.

    What papermill's parameterisation and ``nbformat.write`` give, without importing either: they load jsonschema,
    whose format checkers compile dozens of grammars (10 s on a loaded machine). The template is a valid nbformat
    4.5 notebook and only the parameters cell's source changes, so the result is one too (the tests validate it).
    """
    from .report import resolve_notebook

    path = resolve_notebook(template)
    nb = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(nb, dict) or nb.get("nbformat") != 4 or not isinstance(nb.get("cells"), list):
        msg = f"{path} is not an nbformat 4 notebook: open and save it in Jupyter first"
        raise UsageError(msg)
    cell = next((c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        msg = f"the {template} template has no cell tagged 'parameters'"
        raise ObsnbError(msg)
    source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    source = source.rstrip() + "\n\n# Set by `obsnb new`:\n" + "".join(f"{k} = {_py_str(v)}\n" for k, v in params.items())
    cell["source"] = source.splitlines(keepends=True)
    return json.dumps(nb, indent=1, sort_keys=True, separators=(",", ": "), ensure_ascii=False) + "\n"


def new_investigation(template: str, directory: str | pathlib.Path, *, incident: str, start: str | None = None,
                      end: str | None = None, sources: dict[str, str] | None = None, force: bool = False) -> pathlib.Path:
    """Create ``directory`` with the template notebook (parameters filled in) and an ``obsnb.toml``."""
    sources = resolve_sources(sources or {})
    folder = pathlib.Path(directory)
    nb_path, toml_path = folder / f"{template}.ipynb", folder / "obsnb.toml"
    for p in (nb_path, toml_path):
        if p.exists() and not force:
            msg = f"{p} exists; pass --force to overwrite it"
            raise UsageError(msg)
    # A record of the investigation, and the place for [sources.NAME] backends; it holds no [sources] of its
    # own (those are backend definitions: see the README), so every ob.load() keeps working.
    lines = ["# obsnb investigation: the notebook's parameters were filled from these values.",
             "# Named backends go in [sources.NAME] tables (url = ..., token_env = ...).",
             "[investigation]", f"incident = {_toml_str(incident)}",
             "store = \".obsnb-store\"   # parsed evidence kept here (time-sorted Parquet): re-runs read it"]
    lines += [f"{k} = {_toml_str(v)}" for k, v in (("start", start), ("end", end)) if v]
    lines += ["", "[investigation.evidence]", *(f"{k} = {_toml_str(v)}" for k, v in sources.items())]
    params = {"incident": incident, "start": start, "end": end, **{k: v for k, v in sources.items()}}
    notebook = _filled_template(template, params)
    folder.mkdir(parents=True, exist_ok=True)  # after the TOML and notebook are made: a failure leaves nothing behind
    nb_path.write_text(notebook, encoding="utf-8")
    toml_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return nb_path


def _cmd_new(a) -> int:
    nb = new_investigation(a.template, a.directory, incident=a.incident, start=a.start, end=a.end,
                           sources=_kv(a.source, "--source"), force=a.force)
    _say(nb)
    _say(f"next: jupyter lab {nb}   or   obsnb render {nb} --to html")
    return 0


def _cmd_render(a) -> int:
    raw = _kv(a.param, "-p")
    defaults = _defaults(a.notebook) if raw else {}
    params = {k: _param_value(v, defaults.get(k)) for k, v in raw.items()}
    given = {k: v for k, v in params.items() if k in SOURCE_KINDS and isinstance(v, str) and v}
    params.update(resolve_sources(given))
    src = pathlib.Path(a.notebook)
    out = a.out or (str(src.with_suffix(f".{a.to}")) if src.suffix == ".ipynb" else None)
    path = _render_with_findings(a.notebook, to=a.to, output=out, parameters=params, show_code=a.show_code,
                                 scrub=_scrub_of(a))
    _say(path)
    return 0


def _scrub_of(a):
    """The render's scrubbing: obsnb.toml's [report] settings, extended by --scrub-pii/-value/-field."""
    from .report import Scrub, scrub_for

    base = scrub_for(True if a.scrub_pii else None)
    pii = bool(a.scrub_pii or (base is not None and base.pii))
    values = (*(base.values if base else ()), *a.scrub_value)
    fields = (*(base.fields if base else ()), *a.scrub_field)
    scrub = Scrub(pii=pii, values=values, fields=fields)
    return scrub if scrub.active else False


def _render_with_findings(nb, *, to, output, parameters, show_code=False, scrub=None) -> pathlib.Path:
    """Render, and write the findings the notebook computed beside the report as ``<report>.findings.json``
    (redacted and scrubbed like the report, readable by the owner only)."""
    from .report import redact, render, scrub_for

    scrub = scrub_for(scrub)

    fd, tmp = tempfile.mkstemp(prefix="obsnb-findings-", suffix=".json")
    os.close(fd)
    old = os.environ.get("OBSNB_FINDINGS_OUT")
    os.environ["OBSNB_FINDINGS_OUT"] = tmp
    try:
        path = pathlib.Path(render(nb, to=to, output=output, parameters=parameters, show_code=show_code,
                                   scrub=scrub or False))
        text = pathlib.Path(tmp).read_text() if os.path.getsize(tmp) else ""
        if text:
            target = path.with_suffix(".findings.json")
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(_scrubbed(redact(text), scrub))
        return path
    finally:
        os.unlink(tmp)
        if old is None:
            os.environ.pop("OBSNB_FINDINGS_OUT", None)
        else:
            os.environ["OBSNB_FINDINGS_OUT"] = old


def _scrubbed(text: str, scrub) -> str:
    """The findings JSON scrubbed like the report (with the field values learnt from the report)."""
    if scrub is None:
        return text
    scrub.learn(text)
    return scrub.text(text)


def _evidence(a, lookback: str | None):
    """The frames a command's --source/--start/--end name (warnings of the loads printed to stderr)."""
    from .notebook import load_incident

    sources = resolve_sources(_kv(a.source, "--source"))
    if not sources:
        raise UsageError(f"obsnb {a.command} needs at least one --source logs=..., traces=... or metrics=...")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frames = load_incident(sources.get("logs"), sources.get("traces"), sources.get("metrics"),
                               start=a.start, end=a.end, lookback=lookback)
    for w in caught:
        _say(f"obsnb: warning: {w.message}", file=sys.stderr)
    return frames


def _cmd_audit(a) -> int:
    from .audit import audit

    logs, spans, metrics = _evidence(a, None)
    hints = {k: _param_value(v) for k, v in _kv(a.hint, "--hint").items()}
    result = audit(logs, spans, metrics, **hints)
    rows = result.to_polars().to_dicts()
    if a.json:
        _say(json.dumps(rows, default=str, indent=2), json_doc=True)
        return 0
    width = max(60, min(shutil.get_terminal_size((100, 20)).columns, 140))
    out = [f"{'rule':<28} verdict"]
    for r in rows:
        out.append(f"{r['rule']:<28} {r['verdict']}")
        out += textwrap.wrap(r["summary"], width=width - 5, initial_indent="     ", subsequent_indent="     ")
        if r["verdict"] in ("warn", "fail"):
            out += textwrap.wrap("fix: " + r["fix"], width=width - 5, initial_indent="     ", subsequent_indent="     ")
    _say("\n".join(out))
    return 0


def _cmd_investigate(a) -> int:
    from .investigation import investigate

    hints = {k: _param_value(v) for k, v in _kv(a.hint, "--hint").items()}
    logs, spans, metrics = _evidence(a, a.lookback)
    found = investigate(logs, spans, metrics, start=a.start, end=a.end, **hints)
    if a.json:
        _say(found.to_json(), json_doc=True)
        return 0
    _say(_table(found))
    return 0


def _table(found) -> str:
    """The findings as a terminal table: rank, kind, entity, start, then the summary wrapped beneath."""
    from .investigation.findings import fmt_time

    width = max(60, min(shutil.get_terminal_size((100, 20)).columns, 140))
    w0, w1, how = found.window
    n = found.evidence
    out = [f"window {fmt_time(w0)} .. {fmt_time(w1)} ({how}); baseline: {found.baseline[2] if found.baseline else 'none'}",
           f"evidence: {n['logs']:,} log lines, {n['spans']:,} spans, {n['metrics']:,} metric samples", ""]
    out.append(f"{'#':>3}  {'kind':<20} {'entity':<36} start")
    for f in found:
        ent = f"{f.entity_column}={f.entity_value}" if f.entity_column else ""
        out.append(f"{f.rank:>3}  {f.kind:<20} {ent[:36]:<36} {fmt_time(f.start) if f.start else ''}")
        out += textwrap.wrap(f.summary, width=width - 5, initial_indent="     ", subsequent_indent="     ")
    if not found.items:
        out.append("     no findings: " + "; ".join(f"{k}: {v}" for k, v in found.looked_at.items()))
    return "\n".join(out)


def _cmd_demo(a) -> int:
    from .notebook import sample_data_path

    truth = json.loads(sample_data_path("ground_truth.json").read_text())
    out = pathlib.Path(a.out) / f"{truth['incident']}-postmortem.{a.to}"
    t0 = time.perf_counter()
    params = {"incident": truth["incident"], "logs": str(sample_data_path("logs", "*.jsonl.gz")),
              "traces": str(sample_data_path("traces")), "metrics": str(sample_data_path("metrics")),
              "start": truth["window"]["start"], "end": truth["window"]["end"]}
    path = _render_with_findings("postmortem", to=a.to, output=out, parameters=params)
    print(f"rendered in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    _say(path.resolve())
    return 0


def _say(text, *, file=None, json_doc: bool = False) -> None:
    """Print text that may hold evidence (log messages, file names, values): credentials redacted and control
    characters shown as escapes (``\\x1b``), so log content cannot recolour, retitle or rewrite the terminal.
    A JSON document gets ``\\u001b`` escapes and stays valid JSON."""
    from .safe_text import redact, visible_controls

    print(visible_controls(redact(str(text)), json_escapes=json_doc), file=file)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    _say(f"obsnb: warning: {message}", file=file or sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``obsnb`` command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    shown = warnings.showwarning
    warnings.showwarning = _show_warning  # the warnings the command itself gives, under Python's usual filters
    try:
        return {"new": _cmd_new, "render": _cmd_render, "investigate": _cmd_investigate, "audit": _cmd_audit,
                "demo": _cmd_demo}[args.command](args)
    except UsageError as exc:
        _say(f"obsnb: error: {exc}", file=sys.stderr)
        return 2
    except ObsnbError as exc:
        _say(f"obsnb: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception:  # noqa: BLE001 - a bug: its traceback in full, but printed like the rest (it may quote evidence)
        import traceback

        _say(traceback.format_exc().rstrip(), file=sys.stderr)
        return 1
    finally:
        warnings.showwarning = shown


if __name__ == "__main__":
    sys.exit(main())
