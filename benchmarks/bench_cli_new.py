"""``obsnb new``: the notebook written as JSON (now) against papermill's parameterisation plus ``nbformat.write``
(before), each as the whole command in a fresh interpreter, which is what a user waits for.

    python benchmarks/bench_cli_new.py [--rounds 3]

Both ways run the same ``obsnb.cli.main(["new", ...])``; the papermill way swaps in the writer it used. Rounds
alternate between the two, and the medians and their ratio are printed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

PAPERMILL_WRITER = '''
def _papermill_way(template, params):
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook
    from obsnb.report import resolve_notebook

    node = parameterize_notebook(load_notebook_node(str(resolve_notebook(template))), params)
    node.metadata.pop("papermill", None)
    injected = next(c for c in node.cells if "injected-parameters" in c.metadata.get("tags", []))
    target = next(c for c in node.cells if "parameters" in c.metadata.get("tags", []))
    target.source = target.source.rstrip() + "\\n\\n# Set by `obsnb new`:\\n" + "\\n".join(
        line for line in injected.source.splitlines() if not line.startswith("# Parameters")).strip() + "\\n"
    node.cells.remove(injected)
    return nbformat.writes(node) + "\\n"

cli._filled_template = _papermill_way
'''


def run(way: str, folder: str) -> float:
    code = "from obsnb import cli\n" + (PAPERMILL_WRITER if way == "papermill+nbformat" else "") + (
        f"raise SystemExit(cli.main(['new', 'postmortem', {folder!r}, '--incident', 'B-1', "
        "'--start', 'now-2h', '--source', 'metrics=prometheus://prom:9090']))\n")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    ways = ("papermill+nbformat", "json (obsnb new now)")
    times: dict[str, list[float]] = {w: [] for w in ways}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            for w in ways:
                times[w].append(run(w, f"{tmp}/{r}-{len(times[w])}-{w[:4]}"))
    med = {w: statistics.median(v) for w, v in times.items()}
    for w in ways:
        print(f"{w:<24} median {med[w]:6.2f} s   rounds: {', '.join(f'{x:.2f}' for x in times[w])}")
    print(f"ratio: papermill+nbformat / json = {med[ways[0]] / med[ways[1]]:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
