"""ob.log_patterns on a 1M-line text log against ob.load of the same file (and Drain3, if installed).

    python benchmarks/bench_patterns.py [--lines 1000000] [--rounds 3] [--drain3-lines 100000]
    python benchmarks/bench_patterns.py --loghub ../shared/realworld/loghub   # GA + time vs Drain3

The generated file is log4j layout (``2024-05-14 00:00:00,000 INFO [worker-3] a.b.C: msg``) with 400
synthetic message templates of 3-14 words; their variable slots hold numbers, IPs, hex ids, durations
and, the hard case for masking, plain words from a pool of 3,000 names, so the distinct masked message
count is large (printed). Load and log_patterns run in the same process, interleaved per round; the
median of each and the ratio are printed side by side. Drain3 (``pip install drain3``, not a
dependency) runs on the first ``--drain3-lines`` messages and is also shown per million lines.
With ``--loghub``, both are scored on the ten Loghub 2k systems (grouping accuracy, time).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
WORDS = ("request job task queue worker cache disk block file socket session user client server node "
         "shard lease lock retry timeout commit write read flush sync start stop open close accept reject "
         "failed succeeded invalid expired missing created deleted updated scheduled finished aborted "
         "connection packet stream handler thread process buffer index table record batch snapshot").split()


def generate(n: int, path: str, seed: int = 7) -> None:
    rnd = random.Random(seed)
    names = [f"{rnd.choice(WORDS)}{rnd.choice(WORDS)}" for _ in range(3000)]
    slots = [lambda: str(rnd.randint(0, 10**6)), lambda: f"10.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}",
             lambda: f"{rnd.getrandbits(64):016x}", lambda: f"{rnd.random() * 1000:.2f}ms", lambda: rnd.choice(names)]
    templates = []
    for _ in range(400):
        words = rnd.sample(WORDS, rnd.randint(3, 14))
        kinds = [None if rnd.random() < 0.7 else rnd.randrange(len(slots)) for _ in words]
        templates.append((words, kinds))
    weights = [1 / (i + 1) for i in range(len(templates))]  # Zipf-like: a few templates dominate
    picks = rnd.choices(range(len(templates)), weights, k=n)
    levels = ["INFO"] * 90 + ["WARN"] * 6 + ["ERROR"] * 4
    with open(path, "w") as f:
        for i, k in enumerate(picks):
            words, kinds = templates[k]
            msg = " ".join(w if s is None else f"{w} {slots[s]()}" for w, s in zip(words, kinds))
            ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(1715644800 + i // 20)) + f",{i % 1000:03d}"
            f.write(f"{ts} {rnd.choice(levels)} [worker-{i % 8}] org.example.Service{k % 5}: {msg}\n")


def drain3_clusters(messages: list[str]) -> list[int]:
    from drain3 import TemplateMiner
    from drain3.template_miner_config import TemplateMinerConfig

    config = TemplateMinerConfig()
    config.profiling_enabled = False
    miner = TemplateMiner(config=config)
    return [miner.add_log_message(m)["cluster_id"] for m in messages]


def have_drain3() -> bool:
    try:
        import drain3  # noqa: F401
    except ImportError:
        return False
    return True


def bench_file(a) -> None:
    import obsnb as ob

    path = os.path.join(HERE, "data", f"patterns_{a.lines}.log")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        generate(a.lines, path)
    loads, pats, logs, out = [], [], None, None
    for _ in range(a.rounds):
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logs = ob.load(path, engine="polars")
        loads.append(time.perf_counter() - t)
        t = time.perf_counter()
        out = ob.log_patterns(logs)
        pats.append(time.perf_counter() - t)
    from obsnb.analysis.patterns import mask_expr
    import polars as pl

    msgs = logs.get_column("event")
    distinct = msgs.n_unique()
    masked = logs.select(mask_expr(pl.col("event"))).to_series().n_unique()
    load, pat = statistics.median(loads), statistics.median(pats)
    print(f"{logs.height:,} lines, {distinct:,} distinct messages, {masked:,} distinct masked messages, "
          f"{out.height:,} templates (400 generated)")
    print(f"ob.load           {load:7.2f} s  (median of {a.rounds})")
    print(f"ob.log_patterns   {pat:7.2f} s  (median of {a.rounds})   log_patterns / load = {pat / load:.2f}")
    if have_drain3():
        sub = msgs.head(a.drain3_lines).to_list()
        t = time.perf_counter()
        drain3_clusters(sub)
        d3 = time.perf_counter() - t
        per_m = d3 / len(sub) * 1e6
        print(f"Drain3            {d3:7.2f} s on the first {len(sub):,} lines = {per_m:.1f} s per million lines   "
              f"Drain3 / log_patterns (per line) = {per_m / (pat / logs.height * 1e6):.1f}")
    else:
        print("Drain3            not installed (pip install drain3 to compare)")


def bench_loghub(a) -> None:
    import csv

    import polars as pl

    import obsnb as ob

    sys.path.insert(0, os.path.join(HERE, "..", "tests", "analysis"))
    from test_patterns_loghub import SYSTEMS, grouping_accuracy

    ob.with_patterns(pl.DataFrame({"message": ["warm up 1"]}))  # imports and regex compilation, not timed
    rows = []
    for system in SYSTEMS:
        with open(os.path.join(a.loghub, system, f"{system}_2k.log_structured.csv"), newline="", encoding="utf-8") as f:
            lines = list(csv.DictReader(f))
        msgs, truth = [r["Content"] for r in lines], [r["EventId"] for r in lines]
        t = time.perf_counter()
        ours = ob.with_patterns(pl.DataFrame({"message": msgs})).get_column("pattern_id").to_list()
        t_ours = time.perf_counter() - t
        row = [system, grouping_accuracy(ours, truth), t_ours]
        if have_drain3():
            t = time.perf_counter()
            theirs = drain3_clusters(msgs)
            row += [grouping_accuracy(theirs, truth), time.perf_counter() - t]
        rows.append(row)
    for r in rows:
        d3 = f"   Drain3 GA {r[3]:.3f} {r[4] * 1000:6.0f} ms" if len(r) > 3 else ""
        print(f"{r[0]:8s} obsnb GA {r[1]:.3f} {r[2] * 1000:6.0f} ms{d3}")
    mean = lambda i: sum(r[i] for r in rows) / len(rows)  # noqa: E731
    d3 = f"   Drain3 GA {mean(3):.3f} {mean(4) * 1000:6.0f} ms" if len(rows[0]) > 3 else ""
    print(f"{'mean':8s} obsnb GA {mean(1):.3f} {mean(2) * 1000:6.0f} ms{d3}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--drain3-lines", type=int, default=100_000)
    p.add_argument("--loghub", help="the loghub folder of ../shared/realworld: score GA instead")
    a = p.parse_args()
    if a.loghub:
        bench_loghub(a)
    else:
        bench_file(a)


if __name__ == "__main__":
    main()
