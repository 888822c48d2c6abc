"""Hostile input, at scale: gzip bombs and over-cap lines, time and peak memory of obsnb.load().

    python benchmarks/bench_hostile.py [--gib 3] [--normal-mib 256] [--keep]

Cases (each in a fresh process; peak RSS is above the process's RSS after ``import obsnb``):

* ``bomb-1line.jsonl.gz`` / ``bomb-1line.log.gz``: a ~3 MiB gzip that expands to ``--gib`` GiB of one line
  (a JSON record / a logfmt line holding one huge value) between two normal records. The line is over the
  record cap (64 MiB): it must be one rejected record, read past in pieces, in bounded memory.
* ``bomb-lines.jsonl.gz``: ``--gib`` GiB of one-kilobyte lines that are each over a 512-byte cap
  (``max_record_bytes=512``): every line rejected (the count is exact, raw text is kept for the first
  200,000), in time proportional to the bytes and bounded memory.
* ``normal.jsonl.gz`` against ``normal.jsonl``: ``--normal-mib`` MiB of ordinary records, compressed and
  not, side by side: what reading through the gzip path costs over the file's normal cost (the ratio).

Nothing here is a pass/fail test; tests/sources/test_hostile_input.py proves the behaviour on kilobytes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zlib

RUN = r"""
import json, os, resource, sys, time, warnings
import obsnb as ob
warnings.simplefilter("ignore")
ob.set_option("progress", False)
def rss():
    with open("/proc/self/status") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1]) * 1024
base = rss()
kw = json.loads(sys.argv[2])
t0 = time.perf_counter()
df = ob.load(sys.argv[1], **kw)
dt = time.perf_counter() - t0
info = ob.load_info(df)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": dt, "peak_mb": (peak - base) / 2**20, "loaded": info.rows_loaded,
                  "rejected": info.n_rejected, "read": info.records_read}))
"""

REC = '{"ts":"2024-05-14T10:00:%02dZ","level":"info","msg":"job done","service":"worker","n":%d}'


def _gzip_to(path: str, pieces) -> None:
    """Write the concatenation of ``pieces`` (bytes) gzip-compressed, streaming."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as f:
        for p in pieces:
            f.write(comp.compress(p))
        f.write(comp.flush())


def _one_line(first: bytes, fill: bytes, total: int, last: bytes):
    yield first
    block = fill * ((1 << 24) // len(fill))
    left = total
    while left > 0:
        yield block[:left]
        left -= len(block)
    yield last


def build(d: str, gib: float, normal_mib: int) -> list[tuple[str, str, dict]]:
    total = int(gib * 2**30)
    cases = []
    p = os.path.join(d, "bomb-1line.jsonl.gz")
    head = (REC % (0, 0) + "\n").encode() + b'{"ts":"2024-05-14T10:00:01Z","msg":"'
    _gzip_to(p, _one_line(head, b"0", total, b'"}\n' + (REC % (2, 2) + "\n").encode()))
    cases.append(("bomb-1line.jsonl.gz", p, {}))
    p = os.path.join(d, "bomb-1line.log.gz")
    head = b"time=2024-05-14T10:00:00Z msg=first\ntime=2024-05-14T10:00:01Z msg="
    _gzip_to(p, _one_line(head, b"0", total, b"\ntime=2024-05-14T10:00:02Z msg=last\n"))
    cases.append(("bomb-1line.log.gz", p, {"format": "logfmt"}))
    p = os.path.join(d, "bomb-lines.jsonl.gz")
    line = ('{"ts":"2024-05-14T10:00:00Z","msg":"' + "0" * 1000 + '"}\n').encode()
    _gzip_to(p, _one_line(b"", line, total, b""))
    cases.append(("bomb-lines.jsonl.gz (cap 512 B)", p, {"max_record_bytes": 512}))
    plain = os.path.join(d, "normal.jsonl")
    with open(plain, "w") as f:
        i, size = 0, normal_mib * 2**20
        while f.tell() < size:
            f.write("\n".join(REC % (j % 60, j) for j in range(i, i + 10_000)) + "\n")
            i += 10_000
    with open(plain, "rb") as f:
        _gzip_to(plain + ".gz", iter(lambda: f.read(1 << 24), b""))
    cases.append(("normal.jsonl", plain, {}))
    cases.append(("normal.jsonl.gz", plain + ".gz", {}))
    return cases


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gib", type=float, default=3.0, help="decompressed size of each bomb, GiB")
    ap.add_argument("--normal-mib", type=int, default=256)
    ap.add_argument("--keep", action="store_true", help="keep the generated files (printed)")
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="obsnb-bench-hostile-")
    results = {}
    try:
        for name, path, kw in build(d, args.gib, args.normal_mib):
            out = subprocess.run([sys.executable, "-c", RUN, path, json.dumps(kw)], capture_output=True, text=True)
            if out.returncode:
                print(f"{name:34s} FAILED: {out.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results[name] = r
            mib = os.path.getsize(path) / 2**20
            print(f"{name:34s} {mib:8.1f} MiB on disk  {r['seconds']:7.2f} s  peak +{r['peak_mb']:7.0f} MiB  "
                  f"loaded {r['loaded']:,} rejected {r['rejected']:,} of {r['read']:,}")
        if "normal.jsonl" in results and "normal.jsonl.gz" in results:
            a, b = results["normal.jsonl"], results["normal.jsonl.gz"]
            print(f"gzip / plain, the same records: time x{b['seconds'] / a['seconds']:.2f}, "
                  f"peak memory x{b['peak_mb'] / max(a['peak_mb'], 1):.2f}")
        leftover = [f for f in os.listdir(tempfile.gettempdir()) if f.startswith("obsnb-") and f.endswith(".jsonl")]
        print(f"temporary copies left behind: {len(leftover)}")
    finally:
        if args.keep:
            print(f"files kept in {d}")
        else:
            for f in os.listdir(d):
                os.unlink(os.path.join(d, f))
            os.rmdir(d)


if __name__ == "__main__":
    main()
