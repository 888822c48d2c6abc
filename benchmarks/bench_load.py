"""Messy JSON-lines -> dataframe: obsnb.load() against the alternatives, side by side in one run.

    python benchmarks/bench_load.py [--lines 1000000] [--rounds 3] [--slow]

Each case runs in a fresh process (wall time of the load itself, and the process's peak RSS minus its
RSS after imports); rounds are interleaved so machine noise hits every case alike. Prints medians and
ratios against the DuckDB baseline (read_json with ignore_errors and an explicit column list, into
pandas), which is the fastest known way that survives malformed lines but cannot say which it skipped.
A second reference, duckdb_all_fields_pandas, lists every field of the file by hand (nested ones
flattened): the same information obsnb's default load returns, minus line accounting and normalisation.
Two ratios are printed: against that baseline and against duckdb_all_fields_pandas (the reference of the
target "at most 1.5x DuckDB reading every field"); CPU seconds (all threads, over the load) are printed
beside the wall time, a steadier measure on a shared machine.
--slow adds pandas.read_json(lines=True) (~30 s and ~6 GB per million lines before it fails).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# every field the file has, nested objects flattened to a.b columns: the same information obsnb loads
ALL_COLUMNS = ("{'ts':'VARCHAR','level':'VARCHAR','event':'VARCHAR','service':'VARCHAR','job_id':'VARCHAR',"
               "'trace_id':'VARCHAR','span_id':'VARCHAR','msg':'VARCHAR','duration_ms':'DOUBLE','error_type':'VARCHAR',"
               "'extra':'STRUCT(queue VARCHAR, attempt BIGINT, worker STRUCT(host VARCHAR, pid BIGINT), "
               "http STRUCT(method VARCHAR, url VARCHAR, status_code BIGINT), "
               "exception STRUCT(type VARCHAR, stacktrace VARCHAR))'}")
ALL_SELECT = ("ts, level, event, service, job_id, trace_id, span_id, msg, duration_ms, error_type, "
              "extra.queue AS \"extra.queue\", extra.attempt AS \"extra.attempt\", "
              "extra.worker.host AS \"extra.worker.host\", extra.worker.pid AS \"extra.worker.pid\", "
              "extra.http.method AS \"extra.http.method\", extra.http.url AS \"extra.http.url\", "
              "extra.http.status_code AS \"extra.http.status_code\", extra.exception.type AS \"extra.exception.type\", "
              "extra.exception.stacktrace AS \"extra.exception.stacktrace\"")
COLUMNS = ("{'ts':'JSON','level':'VARCHAR','event':'VARCHAR','service':'VARCHAR','trace_id':'VARCHAR',"
           "'span_id':'VARCHAR','job_id':'VARCHAR','duration_ms':'DOUBLE','msg':'VARCHAR','error_type':'VARCHAR'}")


def _duckdb_pandas(duckdb, path: str, select: str, columns: str):
    """DuckDB's read_json (ignore_errors) into pandas, the fastest way this DuckDB offers (as obsnb does)."""
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    rel = con.sql(f"SELECT {select} FROM read_json('{path}', format='newline_delimited', ignore_errors=true{columns})")
    if hasattr(rel, "to_arrow_table"):
        return rel.to_arrow_table().to_pandas()
    r = rel.arrow()
    return (r.read_all() if hasattr(r, "read_all") else r).to_pandas()


def case(name: str, path: str) -> dict:
    import resource
    import warnings

    warnings.simplefilter("ignore")
    import duckdb  # noqa: F401  (imports are not timed)
    import pandas as pd
    import polars as pl

    import obsnb as ob
    from obsnb import api, registry  # noqa: F401  (obsnb's modules too: a notebook imports them once)

    for fmt in registry.FORMATS:
        registry.get_format(fmt)

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    rows, note = None, ""
    try:
        if name == "duckdb_explicit_pandas":
            df = _duckdb_pandas(duckdb, path, "*", f", columns={COLUMNS}")
            rows = len(df)
            note = "rows incl. all-NULL rows for bad lines; which lines, unknown; nested fields not loaded"
        elif name == "duckdb_all_fields_pandas":
            df = _duckdb_pandas(duckdb, path, ALL_SELECT, f", columns={ALL_COLUMNS}")
            rows = len(df)
            note = (f"every field listed by hand ({df.shape[1]} columns, nested flattened); bad lines as NULL rows; "
                    "which lines, unknown; timestamps left as text")
        elif name == "duckdb_auto_pandas":
            df = _duckdb_pandas(duckdb, path, "*", "")
            rows = len(df)
            note = f"all fields the first 20,480 rows show ({df.shape[1]} columns, nested as dicts); later ones dropped"
        elif name == "obsnb_pandas":
            df = ob.load(path)
            info = ob.load_info(df)
            rows = len(df)
            note = f"{info.n_rejected} rejected with line+reason, {df.shape[1]} columns"
        elif name == "obsnb_pandas_fields":
            df = ob.load(path, fields=["job_id", "duration_ms", "msg", "error_type"])
            rows = len(df)
            note = (f"{ob.load_info(df).n_rejected} rejected with line+reason; fields= the baseline's columns "
                    f"({df.shape[1]} columns)")
        elif name == "obsnb_polars":
            df = ob.load(path, engine="polars")
            rows = df.height
            note = f"{ob.load_info(df).n_rejected} rejected with line+reason"
        elif name == "polars_read_ndjson":
            df = pl.read_ndjson(path, ignore_errors=True)
            rows = df.height
        elif name == "pandas_read_json":
            df = pd.read_json(path, lines=True)
            rows = len(df)
    except Exception as exc:  # the competitors that cannot read a messy file
        note = f"FAILS: {type(exc).__name__}: {str(exc).splitlines()[0][:90]}"
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return {"case": name, "seconds": dt, "cpu": cpu, "rows": rows, "peak_mb": (r1.ru_maxrss - base_rss) / 1024,
            "note": note}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--slow", action="store_true")
    ap.add_argument("--case")
    ap.add_argument("--file")
    a = ap.parse_args()
    if a.case:
        print(json.dumps(case(a.case, a.file)))
        return
    path = os.path.join(HERE, "data", f"messy_{a.lines}.jsonl")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        subprocess.run([sys.executable, os.path.join(HERE, "gen_messy_logs.py"), str(a.lines), path], check=True)
    cases = ["duckdb_explicit_pandas", "duckdb_all_fields_pandas", "duckdb_auto_pandas", "obsnb_pandas", "obsnb_polars", "obsnb_pandas_fields",
             "polars_read_ndjson"]
    if a.slow:
        cases.append("pandas_read_json")
    results: dict[str, list[dict]] = {c: [] for c in cases}
    for r in range(a.rounds):
        for c in cases:
            if c == "pandas_read_json" and r > 0:
                continue
            out = subprocess.run([sys.executable, __file__, "--case", c, "--file", path],
                                 capture_output=True, text=True, check=True)
            results[c].append(json.loads(out.stdout.strip().splitlines()[-1]))
    size = os.path.getsize(path)
    print(f"file: {path} ({size / 1e6:.0f} MB, {a.lines:,} lines); {a.rounds} rounds, fresh process per run")
    base = statistics.median(x["seconds"] for x in results["duckdb_explicit_pandas"])
    every = statistics.median(x["seconds"] for x in results["duckdb_all_fields_pandas"])
    every_cpu = statistics.median(x["cpu"] for x in results["duckdb_all_fields_pandas"])
    print(f"{'case':<24} {'median s':>9} {'min-max s':>13} {'x baseline':>10} {'x all-fields':>12} {'cpu s':>6} "
          f"{'x cpu':>6} {'peak MB':>8} {'MB/M lines':>10}  rows / note")
    for c in cases:
        xs = results[c]
        med = statistics.median(x["seconds"] for x in xs)
        cpu = statistics.median(x["cpu"] for x in xs)
        lo, hi = min(x["seconds"] for x in xs), max(x["seconds"] for x in xs)
        pk = statistics.median(x["peak_mb"] for x in xs)
        last = xs[-1]
        print(f"{c:<24} {med:9.2f} {lo:6.2f}-{hi:<6.2f} {med / base:10.2f} {med / every:12.2f} {cpu:6.2f} "
              f"{cpu / every_cpu:6.2f} {pk:8.0f} {pk / (a.lines / 1e6):10.0f}  {last['rows']} {last['note']}")


if __name__ == "__main__":
    main()
