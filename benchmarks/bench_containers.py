"""Docker json-file and journald JSON readers against a per-line ``json.loads`` loop, side by side in one run.

The same journal entries are also written as ``journalctl -o json-pretty`` (one field a line) and read both
ways: ``ob.load`` and a Python loop that splits the text at the ``}`` lines and decodes each entry; the last
line printed is what reading json-pretty costs against reading the same entries as ``-o json``.

Writes a Docker json-file log and a ``journalctl -o json`` export of ``--lines`` records to a temporary
folder (one in 50 Docker lines split in two pieces, one in 5 messages a JSON payload), then times
``ob.load`` and a plain Python loop that decodes each line and builds the same core columns (time,
stream/service, message), and prints the medians and their ratio. The loop does less than the reader
(no payload parsing, no joining): the ratio is a lower bound.

    .venv/bin/python benchmarks/bench_containers.py --lines 200000
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import tempfile
import time
import warnings


def write_docker(path: pathlib.Path, n: int) -> None:
    with open(path, "w") as f:
        for i in range(n):
            t = f"2024-05-14T12:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}.{i % 1000:03d}000000Z"
            stream = "stderr" if i % 7 == 0 else "stdout"
            msg = json.dumps({"level": "info", "msg": f"req {i}", "user": i % 97}) if i % 5 == 0 else f"INFO handled {i}"
            if i % 50 == 0:
                f.write(json.dumps({"log": msg[:5], "stream": stream, "time": t}) + "\n")
                f.write(json.dumps({"log": msg[5:] + "\n", "stream": stream, "time": t}) + "\n")
            else:
                f.write(json.dumps({"log": msg + "\n", "stream": stream, "time": t}) + "\n")


def write_journal(path: pathlib.Path, n: int, pretty: bool = False) -> None:
    style = {"indent": "\t", "separators": (",", " : ")} if pretty else {}
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"__CURSOR": f"s=1;i={i:x}", "__REALTIME_TIMESTAMP": str(1715688000000000 + i * 1000),
                                "PRIORITY": str(i % 8), "_PID": str(100 + i % 13), "_HOSTNAME": "node1",
                                "SYSLOG_IDENTIFIER": f"svc{i % 5}", "_SYSTEMD_UNIT": f"svc{i % 5}.service",
                                "MESSAGE": f"message {i}"}, **style) + "\n")


def loop_docker(path: pathlib.Path) -> int:
    times, streams, msgs = [], [], []
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            times.append(rec["time"])
            streams.append(rec.get("stream"))
            msgs.append(rec["log"].rstrip("\n"))
    return len(msgs)


def loop_journal(path: pathlib.Path) -> int:
    times, services, msgs = [], [], []
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            times.append(int(rec["__REALTIME_TIMESTAMP"]) * 1000)
            services.append(rec.get("SYSLOG_IDENTIFIER") or rec.get("_COMM"))
            msgs.append(rec.get("MESSAGE"))
    return len(msgs)


def loop_pretty(path: pathlib.Path) -> int:
    times, services, msgs = [], [], []
    for text in path.read_text().split("\n}\n"):
        if text.strip():
            rec = json.loads(text + "}")
            times.append(int(rec["__REALTIME_TIMESTAMP"]) * 1000)
            services.append(rec.get("SYSLOG_IDENTIFIER") or rec.get("_COMM"))
            msgs.append(rec.get("MESSAGE"))
    return len(msgs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    import obsnb as ob

    with tempfile.TemporaryDirectory() as tmp:
        docker, journal = pathlib.Path(tmp) / "c-json.log", pathlib.Path(tmp) / "journal.json"
        write_docker(docker, a.lines)
        write_journal(journal, a.lines)
        pretty = pathlib.Path(tmp) / "journal-pretty.json"
        write_journal(pretty, a.lines, pretty=True)
        medians = {}
        for label, path, fmt, loop in (("docker_json", docker, "docker_json", loop_docker),
                                       ("journald_json", journal, "journald_json", loop_journal),
                                       ("journald_json json-pretty", pretty, None, loop_pretty)):
            ours, theirs = [], []
            for _ in range(a.repeat):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t0 = time.perf_counter()
                    rows = len(ob.load(str(path), format=fmt) if fmt else ob.load(str(path)))  # pretty: sniffed
                    t1 = time.perf_counter()
                loop(path)
                t2 = time.perf_counter()
                ours.append(t1 - t0)
                theirs.append(t2 - t1)
            o, t = statistics.median(ours), statistics.median(theirs)
            medians[label] = o
            print(f"{label}: {rows:,} records; ob.load {o:.2f} s, json.loads loop {t:.2f} s "
                  f"(medians of {a.repeat}); loop / ob.load = {t / o:.2f}")
        print(f"the same entries: ob.load of json-pretty / of -o json = "
              f"{medians['journald_json json-pretty'] / medians['journald_json']:.2f}")


if __name__ == "__main__":
    main()
