"""syslog reader: RFC 5424, RFC 3164 (yearless), RFC 3339 lines, continuations, and real beats files."""

from __future__ import annotations

import datetime as dt
import json
import os
import re

import pandas as pd
import pytest

import obsnb as ob
from conformance import ConformanceSuite, load_quiet, vals

GOOD = (
    b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick on /dev/pts/8\n"
    b'<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - [exampleSDID@32473 iut="3"] It\'s time\n'
    b"<13>2003-10-11T23:00:00+00:00 host2 cron[99]: job ran\n"
    b"2003-10-12T01:00:00Z host3 app: line one\n"
    b"  and its continuation\n"
)
MESSY = (
    b"not syslog, and nothing before it\n"
    b"<13>1 2024-02-01T10:00:00Z h app 1 - - first\n"
    b"\x00\x01\x02\xff garbage\n"
    b"<13>1 2024-02-01T10:00:01Z h app 1 - - second\n"
    b"<13>1 2024-02-01T10:0"
)


class TestSyslogConformance(ConformanceSuite):
    fmt = "syslog"
    kind = "logs"
    suffix = ".log"
    good = GOOD
    good_rows = 4
    messy = MESSY
    messy_good = 2
    messy_bad = 3
    first_bad_line = 1


def test_cut_off_last_line_is_rejected_not_appended(tmp_path):
    """A last line cut inside its header is rejected with a reason, not glued onto the previous message."""
    p = tmp_path / "m.log"
    p.write_bytes(MESSY)
    df = load_quiet(str(p), format="syslog")
    assert list(df["event"]) == ["first", "second"]
    rej = ob.rejected(df)
    assert list(rej["line"]) == [1, 3, 5]
    assert rej["reason"][2] == "starts like a syslog record but does not parse (cut-off line?)"
    assert rej["raw"][2] == "<13>1 2024-02-01T10:0"


def test_impossible_date_is_rejected(tmp_path):
    """A record whose timestamp cannot be a date (Feb 30) is rejected with the timestamp in the reason."""
    p = tmp_path / "d.log"
    p.write_bytes(b"Feb 30 10:00:00 h app: nope\nFeb 28 10:00:00 h app: yes\n")
    df = load_quiet(str(p), year=2023)
    assert list(df["event"]) == ["yes"]
    rej = ob.rejected(df)
    assert (rej["line"][0], rej["reason"][0]) == (1, "unparseable timestamp 'Feb 30 10:00:00'")


def test_rfc5424_fields(tmp_path):
    """PRI gives level, facility and severity keyword; APP, HOST, PROCID, MSGID and SD become columns."""
    p = tmp_path / "s.log"
    p.write_bytes(GOOD)
    df = ob.load(str(p))
    assert list(df["time"][:2]) == [pd.Timestamp("2003-10-11T22:14:15.003Z"),
                                     pd.Timestamp("2003-08-24T12:14:15.000003Z")]
    assert vals(df["level"]) == ["CRITICAL", "INFO", "INFO", None]
    assert list(df["level_original"][:3]) == ["crit", "notice", "notice"]
    assert list(df["facility"][:3]) == ["auth", "local4", "user"]
    assert list(df["service"]) == ["su", "myproc", "cron", "app"]
    assert list(df["host"]) == ["mymachine.example.com", "192.0.2.1", "host2", "host3"]
    assert vals(df["pid"][:3]) == [None, "8710", "99"]
    assert df["msgid"][0] == "ID47"
    assert df["structured_data"][1] == '[exampleSDID@32473 iut="3"]'
    assert vals(df["exampleSDID@32473.iut"]) == [None, "3", None, None]
    assert df["event"][1] == "It's time"


def test_structured_data_params_become_columns(tmp_path):
    """Each SD element's params become SD-ID.PARAM columns; escaped quotes and brackets are undone."""
    p = tmp_path / "sd.log"
    p.write_bytes(b'<165>1 2003-10-11T22:14:15.003Z h evntslog - ID47 [exampleSDID@32473 iut="3" '
                  b'eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] msg\n'
                  b'<165>1 2003-10-11T22:14:16.003Z h evntslog - ID47 [meta note="say \\"hi\\" \\]"]\n')
    df = ob.load(str(p))
    assert vals(df["exampleSDID@32473.eventID"]) == ["1011", None]
    assert vals(df["examplePriority@32473.class"]) == ["high", None]
    assert vals(df["meta.note"]) == [None, 'say "hi" ]']
    assert vals(df["event"]) == ["msg", None]


def test_continuation_line_joins_previous_message(tmp_path):
    """A line that starts no record is appended to the previous message; _line is where the record starts."""
    p = tmp_path / "s.log"
    p.write_bytes(GOOD)
    df = ob.load(str(p))
    assert df["event"].iloc[-1] == "line one\n  and its continuation"
    assert list(df["_line"]) == [1, 2, 3, 4]


def test_yearless_uses_year_option(tmp_path):
    """RFC 3164 timestamps take year= when given, as UTC unless tz= is given."""
    p = tmp_path / "messages"
    p.write_bytes(b"Dec 31 23:59:59 host1 sshd[42]: Accepted publickey\nJan  1 00:00:01 host1 kernel: boot\n")
    df = ob.load(str(p), year=2023)
    assert list(df["time"]) == [pd.Timestamp("2023-12-31T23:59:59Z"), pd.Timestamp("2023-01-01T00:00:01Z")]
    assert list(df["service"]) == ["sshd", "kernel"]
    assert vals(df["pid"]) == ["42", None]
    berlin = ob.load(str(p), year=2023, tz="Europe/Berlin")
    assert berlin["time"][0] == pd.Timestamp("2023-12-31T22:59:59Z")


def test_yearless_rolls_back_months_after_mtime(tmp_path):
    """Without year=, the file's mtime year is used, and December lines in a January file are last year's."""
    p = tmp_path / "messages"
    p.write_bytes(b"Dec 31 23:59:59 host1 app: old\nJan  2 08:00:00 host1 app: new\n")
    mtime = dt.datetime(2024, 1, 5, tzinfo=dt.timezone.utc).timestamp()
    os.utime(p, (mtime, mtime))
    df = ob.load(str(p))
    assert list(df["time"]) == [pd.Timestamp("2023-12-31T23:59:59Z"), pd.Timestamp("2024-01-02T08:00:00Z")]


def test_beats_suse_rfc3339_lines(realworld):
    """suse-syslog.log: each line's offset timestamp, host, program and pid, computed from the file."""
    path = realworld / "syslog/beats/suse-syslog.log"
    text = path.read_text()
    rx = re.compile(r"^(\S+) (\S+) ([^\[]+)\[(\d+)\]: (.*)$")
    rows = [rx.match(ln).groups() for ln in text.splitlines()]
    df = ob.load(str(path))
    assert len(df) == len(rows) == 2
    assert list(df["time"]) == [pd.Timestamp(dt.datetime.fromisoformat(r[0])).tz_convert("UTC") for r in rows]
    assert list(df["host"]) == [r[1] for r in rows]
    assert list(df["service"]) == [r[2] for r in rows]
    assert list(df["pid"]) == [r[3] for r in rows]
    assert list(df["event"]) == [r[4] for r in rows]


def test_beats_multiline_matches_filebeat_expected_message(realworld):
    """test-syslog.log: the continuation joins the message exactly as Filebeat's expected output has it."""
    path = realworld / "syslog/beats/test-syslog.log"
    expected = json.loads((realworld / "syslog/beats/test-syslog.log-expected.json").read_text())
    df = ob.load(str(path))
    assert len(df) == len(expected) == 1
    assert df["event"][0] == expected[0]["message"]
    first = path.read_text().split()[0]
    assert df["time"][0] == pd.Timestamp(first)


@pytest.mark.parametrize("line", [b"<13>Feb  5 17:32:18 10.0.0.99 myapp[123]: Use the BFG!\n"])
def test_rfc3164_with_pri(tmp_path, line):
    """An RFC 3164 line with PRI: facility user, severity notice -> INFO."""
    p = tmp_path / "x.log"
    p.write_bytes(line)
    df = load_quiet(str(p), year=2020)
    assert df["time"][0] == pd.Timestamp("2020-02-05T17:32:18Z")
    assert (df["level"][0], df["facility"][0], df["service"][0], df["event"][0]) == ("INFO", "user", "myapp", "Use the BFG!")
