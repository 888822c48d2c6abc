"""The ``obsnb`` command: ``new`` an investigation, ``render`` a notebook to one report file, ``demo``.

Thin over :mod:`obsnb.report`; errors print one line (``obsnb: error: ...``) and exit 2 for bad usage,
1 for a failed render.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
from typing import Sequence

from .errors import ObsnbError, UsageError

__all__ = ["main", "new_investigation"]

EPILOG = """examples:
  obsnb demo                                   render the bundled sample incident's postmortem
  obsnb new postmortem inc-2041 --incident INC-2041 --start 2026-11-03T12:00Z --end 2026-11-03T16:00Z \\
        --source logs='/var/log/app/*.jsonl.gz' --source traces=traces.otlp.json \\
        --source metrics=prometheus://prom:9090
  obsnb render inc-2041/postmortem.ipynb --to html
  obsnb render postmortem --to pdf -p incident=INC-7 -p logs=app.log --out reports/INC-7.pdf
"""

TEMPLATES = ("postmortem", "triage", "trace")
SOURCE_KINDS = ("logs", "traces", "metrics")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="obsnb", description="Investigate incidents in Jupyter: logs, metrics and traces of one window.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from . import __version__

    p.add_argument("--version", action="version", version=f"obsnb {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{new,render,demo}")

    n = sub.add_parser("new", help="create an investigation folder from a template", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    n.add_argument("template", choices=TEMPLATES, help="which notebook to start from")
    n.add_argument("directory", help="folder to create (may exist if empty)")
    n.add_argument("--incident", required=True, help="incident id, e.g. INC-2041")
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

    d = sub.add_parser("demo", help="render the postmortem of the bundled sample incident", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("--out", default="reports", help="folder for the report (default ./reports)")
    d.add_argument("--to", choices=("html", "pdf"), default="html")
    return p


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


def _toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string


def new_investigation(template: str, directory: str | pathlib.Path, *, incident: str, start: str | None = None,
                      end: str | None = None, sources: dict[str, str] | None = None, force: bool = False) -> pathlib.Path:
    """Create ``directory`` with the template notebook (parameters filled in) and an ``obsnb.toml``."""
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    from .report import resolve_notebook

    sources = sources or {}
    bad = sorted(set(sources) - set(SOURCE_KINDS))
    if bad:
        msg = f"--source {bad[0]}=...: the kind must be one of {', '.join(SOURCE_KINDS)}"
        raise UsageError(msg)
    folder = pathlib.Path(directory)
    nb_path, toml_path = folder / f"{template}.ipynb", folder / "obsnb.toml"
    for p in (nb_path, toml_path):
        if p.exists() and not force:
            msg = f"{p} exists; pass --force to overwrite it"
            raise UsageError(msg)
    folder.mkdir(parents=True, exist_ok=True)
    params = {"incident": incident, "start": start, "end": end, **{k: v for k, v in sources.items()}}
    node = parameterize_notebook(load_notebook_node(str(resolve_notebook(template))), params)
    node.metadata.pop("papermill", None)
    nbformat.write(node, str(nb_path))
    lines = ["# obsnb investigation: the notebook's parameters were filled from these values.",
             "[incident]", f"id = {_toml_str(incident)}"]
    lines += [f"{k} = {_toml_str(v)}" for k, v in (("start", start), ("end", end)) if v]
    lines += ["", "[sources]", *(f"{k} = {_toml_str(v)}" for k, v in sources.items())]
    toml_path.write_text("\n".join(lines) + "\n")
    return nb_path


def _cmd_new(a) -> int:
    nb = new_investigation(a.template, a.directory, incident=a.incident, start=a.start, end=a.end,
                           sources=_kv(a.source, "--source"), force=a.force)
    print(nb)
    print(f"next: jupyter lab {nb}   or   obsnb render {nb} --to html")
    return 0


def _cmd_render(a) -> int:
    from .report import render

    raw = _kv(a.param, "-p")
    defaults = _defaults(a.notebook) if raw else {}
    params = {k: _param_value(v, defaults.get(k)) for k, v in raw.items()}
    src = pathlib.Path(a.notebook)
    out = a.out or (str(src.with_suffix(f".{a.to}")) if src.suffix == ".ipynb" else None)
    path = render(a.notebook, to=a.to, output=out, parameters=params, show_code=a.show_code)
    print(path)
    return 0


def _cmd_demo(a) -> int:
    from .notebook import sample_data_path
    from .report import render

    truth = json.loads(sample_data_path("ground_truth.json").read_text())
    out = pathlib.Path(a.out) / f"{truth['incident']}-postmortem.{a.to}"
    t0 = time.perf_counter()
    path = render("postmortem", to=a.to, output=out, parameters={"incident": truth["incident"]})
    print(f"rendered in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    print(path.resolve())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``obsnb`` command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return {"new": _cmd_new, "render": _cmd_render, "demo": _cmd_demo}[args.command](args)
    except UsageError as exc:
        print(f"obsnb: error: {exc}", file=sys.stderr)
        return 2
    except ObsnbError as exc:
        print(f"obsnb: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
