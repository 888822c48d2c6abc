"""A log4j-layout text log -> dataframe: obsnb.load() against hand-written polars and DuckDB regex extraction.

    python benchmarks/bench_textlogs.py [--lines 1000000] [--rounds 3] [--rev REV] [--input FILE]

The file is Hadoop-style log4j (``2015-10-18 18:01:47,978 INFO [main] org.a.B: msg``), with a Java stack
trace after 1 % of the records. The references are the fastest hand-written ways we know: polars
(``read_csv`` of whole lines, ``str.extract_groups``, ``str.to_datetime``) and DuckDB (``read_csv`` of
whole lines, ``regexp_extract`` with a group list, ``strptime``), both into pandas. They give time, level,
thread, logger and message per line; stack lines come out as unmatched rows, levels are not mapped,
nothing is rejected or accounted. obsnb also folds stack traces into their record, maps levels, and
accounts every line. Each case runs in a fresh process; rounds are interleaved; medians and ratios
against the fastest reference are printed side by side, with the median CPU seconds (user + system, all
threads: steadier than wall time on a shared machine) and its ratio to the same reference's (``x cpu``), and
peak RSS above the post-import baseline.
With ``--rev REV`` the same load by commit REV (checked out in a temporary git worktree) runs in the same
rounds as ``obsnb_at_REV``, so a change is measured against what it replaces under the same machine noise.
With ``--input FILE`` (a text log of any format obsnb reads: syslog, klog, an access log ...) only obsnb's
loads of that file are timed (the references' regex is log4j's), and the ratios are against
``obsnb_at_REV`` when ``--rev`` is given. The case ``obsnb_read_lines`` is obsnb's line splitting alone (bytes -> non-blank lines as string views into
the bytes, numbers, garbage mask: what the text readers use), the part of the load a hand-written
``read_csv`` of whole lines stands for.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PATTERN = (r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}) (TRACE|DEBUG|INFO|WARN|ERROR|FATAL) \[([^\]]*)\] "
           r"([^\s:]+): (.*)$")


def generate(n: int, path: str) -> None:
    rnd = random.Random(11)
    levels = ["INFO"] * 90 + ["WARN"] * 6 + ["ERROR"] * 3 + ["DEBUG"]
    loggers = ["org.apache.hadoop.mapreduce.v2.app.MRAppMaster", "org.apache.hadoop.ipc.Server",
               "org.apache.hadoop.yarn.util.RackResolver", "org.apache.hadoop.hdfs.DFSClient"]
    t0 = 1445191307  # 2015-10-18
    with open(path, "w") as f:
        written = 0
        i = 0
        while written < n:
            ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t0 + i // 10)) + f",{i % 1000:03d}"
            lvl = rnd.choice(levels)
            f.write(f"{ts} {lvl} [IPC Server handler {i % 30} on 62270] {rnd.choice(loggers)}: "
                    f"Processing block blk_{rnd.getrandbits(40)} for attempt_{i % 997}_m_{i % 13:06d} size {rnd.randint(1, 10**8)}\n")
            written += 1
            if i % 100 == 99 and written + 3 <= n:
                f.write("java.io.IOException: Connection reset by peer\n\tat sun.nio.ch.FileDispatcherImpl.read0(Native Method)\n"
                        "\tat org.apache.hadoop.ipc.Server$Connection.readAndProcess(Server.java:1584)\n")
                written += 3
            i += 1


def case(name: str, path: str, root: str | None = None) -> dict:
    import resource
    import warnings

    if root:
        sys.path.insert(0, root)
    warnings.simplefilter("ignore")
    import duckdb
    import polars as pl

    import obsnb as ob
    from obsnb import api, registry  # noqa: F401  (imported once by a notebook, not timed)

    for fmt in registry.FORMATS:
        registry.get_format(fmt)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    base_rss = r0.ru_maxrss
    t0 = time.perf_counter()
    if name == "polars_extract_groups":
        lines = pl.read_csv(path, has_header=False, separator="\x1f", quote_char=None, new_columns=["l"],
                            schema_overrides={"l": pl.String})
        df = lines.select(pl.col("l").str.extract_groups(PATTERN).alias("g")).unnest("g")
        df.columns = ["ts", "level", "thread", "logger", "msg"]
        df = df.with_columns(pl.col("ts").str.to_datetime("%Y-%m-%d %H:%M:%S,%3f", time_zone="UTC", strict=False))
        out = df.to_pandas()
        note = "stack lines as null rows; levels as written; no accounting"
    elif name == "duckdb_regexp_extract":
        con = duckdb.connect()
        con.execute("SET TimeZone='UTC'")
        rel = con.sql(f"""SELECT try_strptime(g.ts, '%Y-%m-%d %H:%M:%S,%g') AS time, g.level, g.thread, g.logger, g.msg
            FROM (SELECT regexp_extract(l, '{PATTERN}', ['ts','level','thread','logger','msg']) AS g
                  FROM read_csv('{path}', columns={{'l': 'VARCHAR'}}, header=false, delim=chr(31), quote='',
                                escape='', auto_detect=false))""")
        out = rel.to_arrow_table().to_pandas()
        note = "stack lines as empty rows; levels as written; no accounting"
    elif name == "obsnb_read_lines":
        from obsnb.sources._lines import line_views
        from obsnb.sources.base import FileInput, ReadContext

        out = line_views(FileInput(path), ReadContext(), release=True).text
        note = "bytes -> non-blank line views, line numbers, garbage mask (no regex, no frame)"
    elif name in ("obsnb_pandas", "obsnb_at_rev"):
        assert os.path.realpath(ob.__file__).startswith(os.path.realpath(root or os.path.dirname(HERE))), ob.__file__
        out = ob.load(path)
        note = f"{ob.load_info(out).n_rejected} rejected; stack traces folded into `exception`; levels mapped"
    elif name == "obsnb_polars":
        out = ob.load(path, engine="polars")
        note = f"{ob.load_info(out).n_rejected} rejected; stack traces folded; levels mapped"
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
    return {"case": name, "seconds": dt, "cpu": cpu, "rows": len(out), "peak_mb": (r1.ru_maxrss - base_rss) / 1024,
            "note": note}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--case")
    ap.add_argument("--file")
    ap.add_argument("--rev", help="also time obsnb.load at this earlier commit, in the same rounds")
    ap.add_argument("--input", help="time obsnb's loads of this text log instead (no references)")
    ap.add_argument("--root", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.case:
        print(json.dumps(case(a.case, a.file, a.root)))
        return
    path = a.input or os.path.join(HERE, "data", f"log4j_{a.lines}.log")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        generate(a.lines, path)
    refs = [] if a.input else ["polars_extract_groups", "duckdb_regexp_extract"]
    cases = refs + ["obsnb_pandas", "obsnb_polars", "obsnb_read_lines"]
    old = None
    if a.rev:
        old = tempfile.mkdtemp(prefix="obsnb-old-")
        subprocess.run(["git", "-C", os.path.dirname(HERE), "worktree", "add", "--detach", "-q", old, a.rev], check=True)
        cases.insert(len(refs) + 1, "obsnb_at_rev")
    results: dict[str, list[dict]] = {c: [] for c in cases}
    try:
        for _ in range(a.rounds):
            for c in cases:
                extra = ["--root", old] if c == "obsnb_at_rev" else []
                out = subprocess.run([sys.executable, __file__, "--case", c, "--file", path, *extra],
                                     capture_output=True, text=True, check=True)
                results[c].append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        if old:
            subprocess.run(["git", "-C", os.path.dirname(HERE), "worktree", "remove", "--force", old], check=False)
    with open(path, "rb") as f:
        n_lines = sum(piece.count(b"\n") for piece in iter(lambda: f.read(1 << 24), b""))
    print(f"file: {path} ({os.path.getsize(path) / 1e6:.0f} MB, {n_lines:,} lines); {a.rounds} rounds, "
          "fresh process per run")
    meds = {c: statistics.median(x["seconds"] for x in results[c]) for c in cases}
    cpus = {c: statistics.median(x["cpu"] for x in results[c]) for c in cases}
    against = refs or (["obsnb_at_rev"] if a.rev else ["obsnb_pandas"])
    fastest = min(against, key=meds.get)
    base, cpu_base = meds[fastest], cpus[fastest]
    ratio = "x fastest ref" if refs else f"x {'at_' + a.rev if a.rev else 'pandas'}"[:13]
    print(f"{'case':<24} {'median s':>9} {'min-max s':>13} {ratio:>13} {'cpu s':>6} {'x cpu':>6} {'peak MB':>8}  "
          "rows / note")
    for c in cases:
        xs = results[c]
        lo, hi = min(x["seconds"] for x in xs), max(x["seconds"] for x in xs)
        pk = statistics.median(x["peak_mb"] for x in xs)
        cpu = statistics.median(x["cpu"] for x in xs)
        label = f"obsnb_at_{a.rev}"[:24] if c == "obsnb_at_rev" else c
        print(f"{label:<24} {meds[c]:9.2f} {lo:6.2f}-{hi:<6.2f} {meds[c] / base:13.2f} {cpu:6.2f} {cpu / cpu_base:6.2f} "
              f"{pk:8.0f}  "
              f"{xs[-1]['rows']} {xs[-1]['note']}")


if __name__ == "__main__":
    main()
