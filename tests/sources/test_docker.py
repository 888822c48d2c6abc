"""Docker json-file logs: recognised unnamed, partial lines joined, payload level/time read, bad lines rejected.

Fixtures are in the shape dockerd's json-file driver writes (``{"log":...,"stream":...,"attrs":...,"time":...}``,
a line over 16 KiB split into pieces whose ``log`` lacks the newline); expected values come from
``json.loads`` of the fixture lines, not from the reader.
"""

from __future__ import annotations

import json

import pandas as pd

import obsnb as ob
from conformance import ConformanceSuite, load_quiet, vals
from obsnb.registry import sniff


def _line(log: str, stream: str, time: str, attrs: dict | None = None) -> bytes:
    rec = {"log": log, "stream": stream}
    if attrs is not None:
        rec["attrs"] = attrs
    rec["time"] = time
    return json.dumps(rec, separators=(",", ":")).encode() + b"\n"


BIG = "x" * 16384  # dockerd cuts a line at 16 KiB
GOOD = b"".join([
    _line("W0701 12:00:01.123456       1 reflector.go:42] watch ended\n", "stderr", "2024-07-01T12:00:01.123456789Z"),
    _line(BIG, "stdout", "2024-07-01T12:00:02.000000001Z"),
    _line("WARNING:payments.db:pool exhausted\n", "stderr", "2024-07-01T12:00:02.1Z", {"tag": "web"}),
    _line(BIG, "stdout", "2024-07-01T12:00:02.000000002Z"),
    _line("tail of the long line\n", "stdout", "2024-07-01T12:00:02.000000003Z"),
    _line('{"level":"warn","msg":"slow","ts":"2019-07-01T00:00:00Z","user":"u1"}\n', "stdout", "2024-07-01T12:00:03Z"),
    _line('time=2024-07-01T12:00:04Z level=error msg="bad thing" code=7\n', "stdout", "2024-07-01T12:00:04Z"),
    _line("ERROR: boom\r\n", "stderr", "2024-07-01T12:00:05Z"),
    _line("error connecting to db\n", "stderr", "2024-07-01T12:00:06Z"),
])
MESSY = b"".join([
    _line("fine\n", "stdout", "2024-07-01T12:00:01Z"),
    b'{"log":"cut short\\n","stream":"std\n',
    b"\xff\xfe garbage\n",
    b'{"stream":"stdout","time":"2024-07-01T12:00:02Z"}\n',
    _line("no time\n", "stdout", "yesterday"),
    _line("also fine\n", "stdout", "2024-07-01T12:00:03Z"),
])


class TestDockerConformance(ConformanceSuite):
    fmt = "docker_json"
    kind = "logs"
    suffix = ".log"
    good = GOOD
    good_rows = 7
    messy = MESSY
    messy_good = 2
    messy_bad = 4
    first_bad_line = 2


def test_docker_lines_partials_payloads_and_levels(tmp_path):
    """Pieces of a split line join with their stream's next pieces; level, logger, payload fields and times are read."""
    p = tmp_path / "abc-json.log"
    p.write_bytes(GOOD)
    recs = [json.loads(ln) for ln in GOOD.splitlines()]
    assert sniff(GOOD, str(p)) == "docker_json"
    df = load_quiet(p)
    assert list(df["_line"]) == [1, 2, 3, 6, 7, 8, 9]  # lines 2, 4, 5 are one stdout record
    joined = recs[1]["log"] + recs[3]["log"] + recs[4]["log"].rstrip("\n")
    assert list(df["event"]) == ["watch ended", joined, "pool exhausted", "slow", "bad thing", "boom",
                                 "error connecting to db"]
    assert vals(df["level"]) == ["WARNING", None, "WARNING", "WARNING", "ERROR", "ERROR", None]
    assert list(df["stream"]) == [recs[i]["stream"] for i in (0, 1, 2, 5, 6, 7, 8)]
    assert vals(df["logger"]) == [None, None, "payments.db", None, None, None, None]
    assert vals(df["attrs.tag"]) == [None, None, "web", None, None, None, None]
    assert df["user"][3] == "u1" and df["code"][4] == 7
    assert (df["file"][0], df["lineno"][0]) == ("reflector.go", 42)
    outer = [pd.Timestamp(recs[i]["time"]) for i in (0, 1, 2, 5, 6, 7, 8)]
    # the JSON payload's own ts wins; dockerd's time is kept beside it
    assert list(df["time"]) == outer[:3] + [pd.Timestamp("2019-07-01T00:00:00Z")] + outer[4:]
    assert list(df["docker.time"]) == outer
    info = ob.load_info(df)
    assert (info.records_read, info.rows_loaded, info.n_rejected) == (7, 7, 0)
    assert any("9 lines joined into 7 records" in w for w in info.warnings)


def check_rejects(path, data: bytes, fmt: str, events: list, lines: list, reasons: list) -> None:
    """Load ``data`` as ``fmt``: the good records give ``events``; the rejected ones ``lines`` and ``reasons``."""
    path.write_bytes(data)
    df = load_quiet(path, format=fmt)
    assert list(df["event"]) == events
    rej = ob.rejected(df)
    assert list(rej["line"]) == lines
    assert list(rej["reason"]) == reasons


def test_bad_docker_lines_are_rejected_with_reasons(tmp_path):
    """Each bad line is rejected with its number and why; the good ones load."""
    check_rejects(tmp_path / "m-json.log", MESSY, "docker_json", ["fine", "also fine"], [2, 3, 4, 5],
                  ["not a JSON object (a line cut short?)", "binary or undecodable bytes, not a Docker log line",
                   'no "log" member', "unreadable time"])


def test_docker_without_partials_says_nothing_about_joining(tmp_path):
    """A file with every line whole loads one record per line and notes no join."""
    p = tmp_path / "w-json.log"
    p.write_bytes(_line("a\n", "stdout", "2024-07-01T12:00:01Z") + _line("b\n", "stderr", "2024-07-01T12:00:02Z"))
    df = load_quiet(p)
    assert list(df["event"]) == ["a", "b"]
    assert "docker.time" not in df.columns
    assert not ob.load_info(df).warnings


def test_generic_json_lines_are_not_docker():
    """A JSON log line that merely has a "log" key among others stays generic JSON lines."""
    head = b'{"log":"x","time":"2024-07-01T12:00:01Z","level":"info","user":"u"}\n' * 3
    assert sniff(head, "app.jsonl") == "jsonl"
