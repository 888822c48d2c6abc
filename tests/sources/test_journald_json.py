"""``journalctl -o json`` exports: fields mapped, byte-array messages decoded, payloads read, bad entries rejected.

The entries are in the shape journald's JSON export documents (every value a string, ``__REALTIME_TIMESTAMP``
in microseconds, a non-printable value as an array of byte values, a multi-valued field as an array of
strings); expected values are computed from those dicts, not from the reader.
"""

from __future__ import annotations

import json

import pandas as pd

import obsnb as ob
from conformance import ConformanceSuite, load_quiet, vals
from obsnb.registry import sniff
from test_docker import check_rejects

ENTRIES = [
    {"__CURSOR": "s=1;i=1", "__REALTIME_TIMESTAMP": "1719835201123456", "__MONOTONIC_TIMESTAMP": "100",
     "PRIORITY": "6", "_TRANSPORT": "stdout", "SYSLOG_IDENTIFIER": "worker", "_PID": "412", "_COMM": "python3",
     "_HOSTNAME": "node1", "_SYSTEMD_UNIT": "worker.service", "MESSAGE": "WARNING:root:disk full"},
    {"__CURSOR": "s=1;i=2", "__REALTIME_TIMESTAMP": "1719835202000000", "PRIORITY": "3", "_TRANSPORT": "journal",
     "_COMM": "sshd", "_HOSTNAME": "node1", "_PID": "77", "MESSAGE": list("hi \x1b[0m".encode())},
    {"__CURSOR": "s=1;i=3", "__REALTIME_TIMESTAMP": "1719835203000000", "PRIORITY": "2", "_HOSTNAME": "node1",
     "SYSLOG_IDENTIFIER": "kernel", "MESSAGE": list(b"h\xffi")},
    {"__CURSOR": "s=1;i=4", "__REALTIME_TIMESTAMP": "1719835204000000", "PRIORITY": "4", "SYSLOG_IDENTIFIER": "app",
     "_HOSTNAME": "node2", "TAGS": ["a", "b"],
     "MESSAGE": json.dumps({"level": "error", "msg": "boom", "time": "2019-07-01T00:00:00Z", "user": "u1"})},
    {"__CURSOR": "s=1;i=5", "__REALTIME_TIMESTAMP": "1719835205000000", "PRIORITY": "5", "SYSLOG_IDENTIFIER": "app",
     "_HOSTNAME": "node2", "MESSAGE": "started"},
    {"__CURSOR": "s=1;i=6", "__REALTIME_TIMESTAMP": "1719835206000000", "PRIORITY": "7", "SYSLOG_IDENTIFIER": "app",
     "_HOSTNAME": "node2", "MESSAGE": "tick"},
]
GOOD = b"".join(json.dumps(e).encode() + b"\n" for e in ENTRIES)
MESSY = (json.dumps(ENTRIES[4]).encode() + b"\n"
         + b'{"__CURSOR":"s=1;i=9","__REALTIME_TIMESTAMP":"17198\n'
         + b'{"__CURSOR":"s=1;i=10","MESSAGE":"no time"}\n'
         + b'{"__CURSOR":"s=1;i=11","__REALTIME_TIMESTAMP":"soon","MESSAGE":"bad time"}\n'
         + b"\x00\xff\n"
         + json.dumps(ENTRIES[5]).encode() + b"\n")


class TestJournaldJsonConformance(ConformanceSuite):
    fmt = "journald_json"
    kind = "logs"
    suffix = ".json"
    good = GOOD
    good_rows = 6
    messy = MESSY
    messy_good = 2
    messy_bad = 4
    first_bad_line = 2


def _level(priority: str) -> str:
    return {0: "CRITICAL", 1: "CRITICAL", 2: "CRITICAL", 3: "ERROR", 4: "WARNING", 5: "INFO", 6: "INFO",
            7: "DEBUG"}[int(priority)]


def test_journal_fields_become_columns(tmp_path):
    """time, service, host and the other fields come from the entry; PRIORITY gives the level unless the message has one."""
    p = tmp_path / "journal.json"
    p.write_bytes(GOOD)
    assert sniff(GOOD, str(p)) == "journald_json"
    df = load_quiet(p)
    journal = [pd.Timestamp(int(e["__REALTIME_TIMESTAMP"]) * 1000, unit="ns", tz="UTC") for e in ENTRIES]
    assert list(df["time"]) == journal[:3] + [pd.Timestamp("2019-07-01T00:00:00Z")] + journal[4:]
    assert list(df["journald.time"]) == journal  # the payload's own time differs on row 4: the journal's is kept
    assert list(df["service"]) == [e.get("SYSLOG_IDENTIFIER", e.get("_COMM")) for e in ENTRIES]
    assert list(df["host"]) == [e["_HOSTNAME"] for e in ENTRIES]
    # the message's own level wins (WARNING:root:..., the payload's "error"); else PRIORITY
    assert list(df["level"]) == ["WARNING"] + [_level(e["PRIORITY"]) for e in ENTRIES[1:3]] + ["ERROR"] + \
        [_level(e["PRIORITY"]) for e in ENTRIES[4:]]
    assert list(df["PRIORITY"]) == [int(e["PRIORITY"]) for e in ENTRIES]
    assert vals(df["_PID"]) == [412, 77, None, None, None, None]
    assert vals(df["_SYSTEMD_UNIT"]) == ["worker.service"] + [None] * 5
    assert list(df["__CURSOR"]) == [e["__CURSOR"] for e in ENTRIES]
    assert vals(df["logger"]) == ["root"] + [None] * 5
    assert vals(df["user"]) == [None, None, None, "u1", None, None]
    assert vals(df["TAGS"]) == [None, None, None, json.dumps(ENTRIES[3]["TAGS"], separators=(",", ":")), None, None]
    assert "MESSAGE" not in df.columns and "__REALTIME_TIMESTAMP" not in df.columns
    assert list(df["_line"]) == [1, 2, 3, 4, 5, 6]


def test_byte_array_messages_are_decoded(tmp_path):
    """A MESSAGE written as byte values is its UTF-8 text (control characters kept); non-UTF-8 bytes show as \\xNN."""
    p = tmp_path / "journal.json"
    p.write_bytes(GOOD)
    df = load_quiet(p)
    assert df["event"][1] == bytes(ENTRIES[1]["MESSAGE"]).decode()
    assert df["event"][2] == "h\\xFFi"
    assert list(df["event"][3:]) == ["boom", "started", "tick"]


def test_bad_journal_entries_are_rejected_with_reasons(tmp_path):
    """Each bad entry is rejected with its line and why."""
    check_rejects(tmp_path / "m.json", MESSY, "journald_json", ["started", "tick"], [2, 3, 4, 5],
                  ["not a JSON object (a line cut short?)", "no __REALTIME_TIMESTAMP",
                   "unreadable __REALTIME_TIMESTAMP 'soon'", "binary or undecodable bytes, not a journal entry"])
