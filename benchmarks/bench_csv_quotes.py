"""CSV quote checking, side by side in one run: what the unbalanced-quote check costs.

    python benchmarks/bench_csv_quotes.py [--rows 300000] [--rounds 3]

Three CSV files of --rows rows whose event is a quoted value with a comma, written to a temporary folder:

- ``clean``: every quote balanced (the check does not run: no value or bad row holds a newline);
- ``multiline``: every 10th value holds a real newline (the quote scan runs, finds nothing to reject);
- ``broken``: one quote in the middle never closes (the scan runs, rejects that line, the file is parsed again).

Each is loaded with ``ob.load`` (rounds interleaved, medians) next to ``pyarrow.csv.read_csv`` of the same
bytes (the parser alone, no canonical columns); the ratios say what obsnb's load and its quote check add.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
import warnings


def write(folder: str, rows: int) -> dict[str, str]:
    base = [f'2024-05-14T12:{i // 60 % 60:02d}:{i % 60:02d}Z,INFO,"msg {i}, ok"' for i in range(rows)]
    multi = [r.replace(", ok", ",\nok") if i % 10 == 0 else r for i, r in enumerate(base)]
    broken = list(base)
    broken[rows // 2] = '2024-05-14T12:00:00Z,INFO,"broken'
    out = {}
    for name, lines in (("clean", base), ("multiline", multi), ("broken", broken)):
        out[name] = os.path.join(folder, f"{name}.csv")
        with open(out[name], "w") as f:
            f.write("time,level,event\n" + "\n".join(lines) + "\n")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    import pyarrow.csv as pacsv

    import obsnb as ob

    with tempfile.TemporaryDirectory() as folder:
        files = write(folder, a.rows)
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(a.rounds):
            for name, path in files.items():
                data = open(path, "rb").read()
                t0 = time.perf_counter()
                pacsv.read_csv(io.BytesIO(data), parse_options=pacsv.ParseOptions(newlines_in_values=True,
                                                                                  invalid_row_handler=lambda r: "skip"))
                t1 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    df = ob.load(path)
                t2 = time.perf_counter()
                times.setdefault((name, "pyarrow"), []).append(t1 - t0)
                times.setdefault((name, "obsnb"), []).append(t2 - t1)
                times.setdefault((name, "rows"), []).append(len(df) + ob.load_info(df).n_rejected)
        print(f"{a.rows:,} rows a file, {a.rounds} rounds, medians")
        for name in files:
            pa_s, ob_s = statistics.median(times[(name, "pyarrow")]), statistics.median(times[(name, "obsnb")])
            print(f"{name:10s} pyarrow.read_csv {pa_s:6.3f} s   ob.load {ob_s:6.3f} s   ratio {ob_s / pa_s:5.2f}x"
                  f"   (records read {int(times[(name, 'rows')][0]):,})")


if __name__ == "__main__":
    main()
