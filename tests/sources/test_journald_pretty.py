"""``journalctl -o json-pretty`` exports: recognised unnamed, loaded exactly as the ``-o json`` form of the same entries.

json-pretty is the JSON form printed over several lines: ``{`` alone on a line, one field a line indented
(an array value, such as a MESSAGE of byte values, one element a line), ``}`` alone on a line. The
fixtures are made with ``json.dumps(entry, indent=...)`` from the same dicts as the ``-o json`` tests, so
expected line numbers and sizes are counted from the text written, not taken from the reader.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

import obsnb as ob
from conformance import ConformanceSuite, load_quiet
from obsnb.registry import sniff
from test_journald_json import ENTRIES, GOOD


def pretty(entry: dict, indent: str = "\t") -> bytes:
    """One entry as journalctl's json-pretty prints it (``"KEY" : value``, one field a line)."""
    return json.dumps(entry, indent=indent, separators=(",", " : ")).encode() + b"\n"


def first_lines(pieces: list[bytes]) -> list[int]:
    """The 1-based line each piece starts on when the pieces are written one after another."""
    out, line = [], 1
    for p in pieces:
        out.append(line)
        line += p.count(b"\n")
    return out


PRETTY = b"".join(pretty(e) for e in ENTRIES)
NO_TIME = {"__CURSOR": "s=1;i=10", "MESSAGE": "no time"}
BAD_TIME = {"__CURSOR": "s=1;i=11", "__REALTIME_TIMESTAMP": "soon", "MESSAGE": "bad time"}
CUT = b"".join(pretty({"__CURSOR": "s=1;i=9", "__REALTIME_TIMESTAMP": "1719835209000000",
                       "MESSAGE": "lost"}).splitlines(keepends=True)[:3])  # the write stopped mid-entry
BINARY = b'{\n\t"__REALTIME_TIMESTAMP" : "1719835207000000",\n\t"MESSAGE" : "\xff\xfe"\n}\n'
STRAY = b"-- No entries --\nsome text\n"  # two lines outside any entry: one record
MESSY_PIECES = [pretty(ENTRIES[4]), CUT, pretty(NO_TIME), pretty(BAD_TIME), BINARY, STRAY, pretty(ENTRIES[5])]
MESSY = b"".join(MESSY_PIECES)
MESSY_REASONS = ["not a JSON object (an entry cut short?)", "no __REALTIME_TIMESTAMP",
                 "unreadable __REALTIME_TIMESTAMP 'soon'", "binary or undecodable bytes, not a journal entry",
                 "lines outside any journal entry (json-pretty's { ... })"]


class TestJournaldPrettyConformance(ConformanceSuite):
    fmt = "journald_json"
    kind = "logs"
    suffix = ".json"
    good = PRETTY
    good_rows = len(ENTRIES)
    messy = MESSY
    messy_good = 2
    messy_bad = 5
    first_bad_line = first_lines(MESSY_PIECES)[1]


@pytest.mark.parametrize("indent", ["\t", " " * 8, " " * 4])
@pytest.mark.parametrize("engine", ["pandas", "polars"])
def test_pretty_entries_load_as_their_json_lines_do(tmp_path, indent, engine):
    """Recognised without being named; every column and value equals the -o json load; _line is each entry's "{"."""
    pieces = [pretty(e, indent) for e in ENTRIES]
    p, q = tmp_path / "pretty.json", tmp_path / "lines.json"
    p.write_bytes(b"".join(pieces))
    q.write_bytes(GOOD)
    assert sniff(p.read_bytes(), str(p)) == "journald_json"
    got, want = load_quiet(p, engine=engine), load_quiet(q, engine=engine)
    assert ob.load_info(got).n_rejected == 0
    if engine == "polars":
        got, want = got.to_pandas(), want.to_pandas()
    assert list(got.columns) == list(want.columns)
    pd.testing.assert_frame_equal(got.drop(columns=["_line", "_source"]), want.drop(columns=["_line", "_source"]))
    assert list(got["_line"]) == first_lines(pieces)


def test_a_broken_entry_in_the_middle_is_one_rejected_record_and_the_rest_load(tmp_path):
    """Each bad entry is one record rejected at its "{" line with why; the entries around it load; counts add up."""
    p = tmp_path / "messy.json"
    p.write_bytes(MESSY)
    df = load_quiet(p)
    assert list(df["event"]) == [ENTRIES[4]["MESSAGE"], ENTRIES[5]["MESSAGE"]]
    starts = first_lines(MESSY_PIECES)
    assert list(df["_line"]) == [starts[0], starts[-1]]
    rej = ob.rejected(df)
    assert list(rej["line"]) == starts[1:-1]
    assert list(rej["reason"]) == MESSY_REASONS
    assert rej["raw"][0] == CUT.decode().rstrip("\n")  # the whole cut entry, as written
    assert rej["raw"][4] == STRAY.decode().rstrip("\n")
    info = ob.load_info(df)
    assert (info.records_read, info.rows_loaded) == (len(MESSY_PIECES), 2)


def test_an_entry_over_the_record_cap_is_rejected_with_the_caps_reason(tmp_path):
    """A byte-array MESSAGE spreads an entry over many short lines: the cap applies to the entry, not the line."""
    big = {"__CURSOR": "s=1;i=20", "__REALTIME_TIMESTAMP": "1719835220000000", "MESSAGE": list(b"A" * 300)}
    pieces = [pretty(ENTRIES[4]), pretty(big), pretty(ENTRIES[5])]
    p = tmp_path / "big.json"
    p.write_bytes(b"".join(pieces))
    size = len(pieces[1].rstrip(b"\n"))
    assert size > 1000 and max(len(ln) for ln in pieces[1].splitlines()) < 1000
    df = load_quiet(p, max_record_bytes=1000)
    assert list(df["event"]) == ["started", "tick"]
    rej = ob.rejected(df)
    assert list(rej["line"]) == [first_lines(pieces)[1]]
    assert rej["reason"][0].startswith(f"record of {size:,} bytes is over the 1,000-byte cap on one record")
    assert list(load_quiet(p)["event"]) == ["started", "A" * 300, "tick"]  # under the default cap it loads


def test_a_json_lines_export_with_a_lone_brace_line_stays_json_lines(tmp_path):
    """One line cut to "{" in a -o json file is that line rejected, not a switch to json-pretty."""
    p = tmp_path / "j.json"
    p.write_bytes(GOOD + b"{\n")
    df = load_quiet(p)
    assert len(df) == len(ENTRIES)
    rej = ob.rejected(df)
    assert list(rej["line"]) == [len(ENTRIES) + 1]
    assert list(rej["reason"]) == ["not a JSON object (a line cut short?)"]


def test_an_entry_holding_a_line_over_the_cap_is_one_rejected_record(tmp_path):
    """A field line over the cap is rejected where it is, with the cap's reason; its entry is not counted again."""
    big = {"__CURSOR": "s=1;i=21", "__REALTIME_TIMESTAMP": "1719835221000000", "MESSAGE": "B" * 2000}
    pieces = [pretty(ENTRIES[4]), pretty(big), pretty(ENTRIES[5])]
    p = tmp_path / "longline.json"
    p.write_bytes(b"".join(pieces))
    lines = pieces[1].splitlines()
    at = next(i for i, ln in enumerate(lines) if b"BBB" in ln)
    df = load_quiet(p, max_record_bytes=1000)
    assert list(df["event"]) == ["started", "tick"]
    rej = ob.rejected(df)
    assert list(rej["line"]) == [first_lines(pieces)[1] + at]
    assert rej["reason"][0].startswith(f"record of {len(lines[at]):,} bytes is over the 1,000-byte cap")
    info = ob.load_info(df)
    assert (info.records_read, info.rows_loaded) == (3, 2)
