"""How long `make demo` (= `obsnb demo`) takes, split into kernel start, loading, analysis and export.

Run by hand: ``.venv/bin/python benchmarks/bench_demo.py [--runs 3]``. Target: under 15 s on the project's
2-core machine. Each run renders the postmortem of sample_data in this process (papermill + the obsnb
exporter), reading per-cell durations from the executed notebook:

* kernel start: papermill's total minus the sum of cell durations (kernel launch, connect, shutdown);
* loading: the cell that imports obsnb and loads logs, spans and metrics (``obn.load_incident``);
* analysis: every other cell (facts, timeline, charts built in the kernel);
* export: redaction + nbconvert with the obsnb template + the vega bundle (cached on disk after run 1).

For reference it also times the whole ``obsnb demo`` command in a fresh process, and stock
``jupyter nbconvert --execute --to html`` on the same notebook (whose output does not draw offline).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from obsnb import report  # noqa: E402


def one_run(out_dir: pathlib.Path) -> dict[str, float]:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    path = report.render("postmortem", output=out_dir / "INC-2041-postmortem.html", timings=timings)
    total = time.perf_counter() - t0
    nb = nbformat.read(str(path.with_name(f"{path.stem}.executed.ipynb")), as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    durations = [c.metadata.get("papermill", {}).get("duration") or 0.0 for c in cells]
    load = next(d for c, d in zip(cells, durations) if "load_incident(" in c.source)
    analysis = sum(durations) - load
    return {"kernel start": timings["execute"] - sum(durations), "loading": load, "analysis": analysis,
            "export": timings["export"], "total (in process)": total}


def timed(cmd: list[str], cwd: pathlib.Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its children, e.g. the kernel)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-reference", action="store_true", help="skip the subprocess reference timings")
    args = ap.parse_args()
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = pathlib.Path(tmp)
        for i in range(args.runs):
            for k, v in one_run(tmpd / f"run{i}").items():
                rows.setdefault(k, []).append(v)
        if not args.no_reference:
            bindir = pathlib.Path(sys.executable).parent
            for i in range(args.runs):
                wall, cpu = timed([str(bindir / "obsnb"), "demo", "--out", str(tmpd / f"cli{i}")], tmpd)
                rows.setdefault("`obsnb demo` (fresh process)", []).append(wall)
                rows.setdefault("`obsnb demo` CPU seconds (process + kernel; load-independent)", []).append(cpu)
            nb = report.NOTEBOOKS / "postmortem.ipynb"
            wall, cpu = timed([str(bindir / "jupyter"), "nbconvert", "--execute", "--to", "html", "--output-dir",
                               str(tmpd), str(nb)], tmpd)
            rows.setdefault("stock `jupyter nbconvert --execute --to html` (draws nothing offline)", []).append(wall)
    demo = statistics.median(rows.get("`obsnb demo` (fresh process)", rows["total (in process)"]))
    print(f"make demo phases, median of {args.runs} runs (s)")
    print(f"{'phase':<72} {'median':>7} {'min':>7} {'max':>7} {'vs demo':>8}")
    for k, v in rows.items():
        print(f"{k:<72} {statistics.median(v):7.2f} {min(v):7.2f} {max(v):7.2f} {statistics.median(v) / demo:7.2f}x")
    print(f"target: obsnb demo < 15 s -> {'OK' if demo < 15 else 'OVER'} ({demo:.1f} s; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: other work on the machine inflates wall time)")


if __name__ == "__main__":
    main()
