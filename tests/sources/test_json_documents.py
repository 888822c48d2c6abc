"""JSON documents that are not one object a line: an array of records (``[{...}, {...}]``) and RFC 7464 JSON
text sequences (``\\x1e`` before each record), generic and as ``journalctl -o json-seq`` / ``-o json-sse``.

Every fixture is built piece by piece, so the line each record starts on is counted from the text written (the
newlines before the piece), never taken from the reader.
"""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest

import obsnb as ob
from conformance import load_quiet
from obsnb.errors import ParseError
from obsnb.registry import sniff
from test_journald_json import ENTRIES, GOOD

T = "2024-05-14T10:00:{:02d}Z"


def rec(i: int, **kw) -> dict:
    return {"ts": T.format(i), "level": "info", "msg": f"m{i}", **kw}


def doc(pieces: list[bytes], seps: list[bytes], head: bytes = b"[\n", tail: bytes = b"\n]\n") -> tuple[bytes, list[int]]:
    """An array document of ``pieces`` joined by ``seps``, and the 1-based line each piece starts on."""
    text, lines = head, []
    for i, p in enumerate(pieces):
        if i:
            text += seps[(i - 1) % len(seps)]
        lines.append(text.count(b"\n") + 1)
        text += p
    return text + tail, lines


def load_doc(tmp_path, pieces: list[bytes]) -> tuple[pd.DataFrame, list[int]]:
    """The array of ``pieces`` (one a line after the first) loaded, and each piece's line."""
    text, lines = doc(pieces, [b",\n"])
    p = tmp_path / "a.json"
    p.write_bytes(text)
    return load_quiet(p), lines


def frame(path, **kw) -> pd.DataFrame:
    return load_quiet(path, **kw).drop(columns=["_source"])


@pytest.mark.parametrize("indent", [None, 2])
def test_every_element_has_the_line_it_starts_on(tmp_path, indent):
    pieces = [json.dumps(rec(i), indent=indent).encode() for i in range(5)]
    text, lines = doc(pieces, [b",\n", b", ", b",\n\n  "])
    p = tmp_path / "a.json"
    p.write_bytes(text)
    df = load_quiet(p)
    assert df["event"].tolist() == [f"m{i}" for i in range(5)]
    assert df["_line"].tolist() == lines
    # the same records as JSON lines give the same frame but for the lines
    q = tmp_path / "a.jsonl"
    q.write_bytes(b"\n".join(json.dumps(rec(i)).encode() for i in range(5)) + b"\n")
    pd.testing.assert_frame_equal(frame(p).drop(columns="_line"), frame(q).drop(columns="_line"))


def test_non_records_are_rejected_by_index_and_line(tmp_path):
    pieces = [json.dumps(rec(0), indent=1).encode(), b"5", b'"text"', b"{ }", b"[1, 2]", json.dumps(rec(1)).encode(),
              b'{"level": "info", "msg": "no time"}']
    df, lines = load_doc(tmp_path, pieces)
    assert df["_line"].tolist() == [lines[0], lines[5]]
    rej = ob.rejected(df)
    assert rej["line"].tolist() == [lines[i] for i in (1, 2, 3, 4, 6)]
    assert rej["reason"].tolist()[:4] == ["array element 2 is not a record: JSON int where a record (object) was expected",
                                          "array element 3 is not a record: JSON str where a record (object) was expected",
                                          "array element 4 is not a record: record has no fields",
                                          "array element 5 is not a record: JSON list where a record (object) was expected"]
    assert rej["reason"].tolist()[4].startswith("no timestamp")
    assert rej["raw"].tolist()[:2] == ["5", '"text"']
    info = ob.load_info(df)
    assert (info.records_read, info.rows_loaded) == (len(pieces), 2)


def test_an_element_over_the_cap_is_rejected_before_decoding(tmp_path):
    """The cap is on each element, not the document: a one-line array far over the cap loads; the one element
    over it is rejected at its line with its index and size."""
    big = json.dumps(rec(1, blob="x" * 5000)).encode()
    pieces = [json.dumps(rec(i)).encode() for i in range(40)]
    pieces[7] = big
    text, lines = doc(pieces, [b","], head=b"[", tail=b"]")  # all on one line, ~8 KB
    p = tmp_path / "one_line.json"
    p.write_bytes(text)
    assert len(text) > 4000 and text.count(b"\n") == 0
    df = load_quiet(p, max_record_bytes=4000)
    assert len(df) == 39 and set(df["_line"]) == {1}
    rej = ob.rejected(df)
    assert rej["line"].tolist() == [1]
    assert rej["reason"][0] == (f"array element 8: record of {len(big):,} bytes is over the 4,000-byte cap on one "
                                "record; raise it with obsnb.set_option('max_record_bytes', N) or load(..., "
                                "max_record_bytes=N)")
    pretty, plines = doc([json.dumps(r, indent=2).encode() for r in map(json.loads, pieces)], [b",\n"])
    p.write_bytes(pretty)
    df = load_quiet(p, max_record_bytes=4000)
    assert len(df) == 39 and ob.rejected(df)["line"].tolist() == [plines[7]]


def test_a_cut_array_loads_up_to_the_cut_and_the_cut_element_is_one_rejected_record(tmp_path):
    pieces = [json.dumps(rec(i), indent=2).encode() for i in range(3)]
    text, lines = doc(pieces, [b",\n"], tail=b"")
    cut = text[: text.rindex(b'"msg"')]  # the write stopped inside the last element
    for name, data in (("cut.json", cut), ("cut.json.gz", gzip.compress(cut))):
        p = tmp_path / name
        p.write_bytes(data)
        df = load_quiet(p)
        assert df["_line"].tolist() == lines[:2]
        rej = ob.rejected(df)
        assert rej["line"].tolist() == [lines[2]] and rej["reason"][0].startswith("truncated JSON")


def test_a_raw_line_break_inside_a_string_is_that_element_rejected(tmp_path):
    pieces = [json.dumps(rec(0)).encode(), b'{"ts": "' + T.format(1).encode() + b'", "msg": "two\nlines"}',
              json.dumps(rec(2)).encode()]
    df, lines = load_doc(tmp_path, pieces)
    assert df["_line"].tolist() == [lines[0], lines[2]]
    rej = ob.rejected(df)
    assert rej["line"].tolist() == [lines[1]] and "raw line break inside a JSON string" in rej["reason"][0]


def test_strict_names_the_elements_line(tmp_path):
    pieces = [json.dumps(rec(0), indent=2).encode(), b"7"]
    text, lines = doc(pieces, [b",\n"])
    p = tmp_path / "a.json"
    p.write_bytes(text)
    with pytest.raises(ParseError, match=rf":{lines[1]}: array element 2 is not a record"):
        ob.load(str(p), strict=True)


def seq(records: list[bytes]) -> tuple[bytes, list[int]]:
    """An RFC 7464 sequence (each record ``\\x1e`` + text + LF) and the line each record starts on."""
    text, lines = b"", []
    for r in records:
        lines.append(text.count(b"\n") + 1)
        text += b"\x1e" + r + b"\n"
    return text, lines


def test_a_json_text_sequence_loads_as_json_lines_do(tmp_path):
    records = [json.dumps(rec(i), indent=2 if i == 2 else None).encode() for i in range(4)]  # one over 6 lines
    text, lines = seq(records)
    p, q = tmp_path / "s.json-seq", tmp_path / "s.jsonl"
    p.write_bytes(text)
    q.write_bytes(b"\n".join(json.dumps(rec(i)).encode() for i in range(4)) + b"\n")
    assert sniff(text, str(p)) == "jsonl"
    df = load_quiet(p)
    assert df["_line"].tolist() == lines
    pd.testing.assert_frame_equal(frame(p).drop(columns="_line"), frame(q).drop(columns="_line"))


def test_a_cut_record_of_a_sequence_is_one_rejected_record(tmp_path):
    """A record cut short (the next separator follows at once, on the same line) is one rejected record with its
    line; the record after it loads, with the line it starts on."""
    good = [json.dumps(rec(i)).encode() for i in range(3)]
    text = b"\x1e" + good[0] + b"\n\x1e" + good[1][:20] + b"\x1e" + good[1] + b"\n\x1e\xff\xfe\n\x1e" + good[2] + b"\n"
    p = tmp_path / "s.json"
    p.write_bytes(text)
    df = load_quiet(p, format="jsonl")
    assert df["event"].tolist() == ["m0", "m1", "m2"] and df["_line"].tolist() == [1, 2, 4]
    rej = ob.rejected(df)
    assert rej["line"].tolist() == [2, 3]
    assert rej["reason"][0].startswith("truncated JSON") and rej["reason"][1] == "record 4 is not a record: not valid UTF-8 text"
    assert ob.load_info(df).records_read == 5


def journal_frames(tmp_path, data: bytes, name: str):
    p, q = tmp_path / name, tmp_path / "lines.json"
    p.write_bytes(data)
    q.write_bytes(GOOD)
    assert sniff(data, str(p)) == "journald_json"
    return load_quiet(p), load_quiet(q)


@pytest.mark.parametrize("form", ["json-seq", "json-sse"])
def test_journalctl_seq_and_sse_load_as_json_does(tmp_path, form):
    lines = [json.dumps(e).encode() for e in ENTRIES]
    if form == "json-seq":
        data, first = b"".join(b"\x1e" + ln + b"\n" for ln in lines), list(range(1, len(lines) + 1))
    else:  # server-sent events: "data: " before each entry, a blank line after it
        data, first = b"".join(b"data: " + ln + b"\n\n" for ln in lines), list(range(1, 2 * len(lines), 2))
    got, want = journal_frames(tmp_path, data, f"journal.{form}")
    assert ob.load_info(got).n_rejected == 0 and got["_line"].tolist() == first
    pd.testing.assert_frame_equal(got.drop(columns=["_line", "_source"]), want.drop(columns=["_line", "_source"]))


def test_a_cut_journal_seq_entry_is_one_rejected_record(tmp_path):
    lines = [json.dumps(e).encode() for e in ENTRIES]
    cut = lines[1][: len(lines[1]) // 2]
    data = b"\x1e" + lines[0] + b"\n\x1e" + cut + b"\x1e" + lines[1] + b"\n" + b"".join(b"\x1e" + ln + b"\n" for ln in lines[2:])
    got, want = journal_frames(tmp_path, data, "cut.json")
    assert got["_line"].tolist() == [1, 2] + list(range(3, len(lines) + 1))
    rej = ob.rejected(got)
    assert rej["line"].tolist() == [2] and rej["reason"][0] == "not a JSON object (a line cut short?)"
    assert rej["raw"][0] == cut.decode()
    pd.testing.assert_frame_equal(got.drop(columns=["_line", "_source"]), want.drop(columns=["_line", "_source"]))


def test_tricky_strings_and_spacing_keep_every_element_and_its_line(tmp_path):
    """Strings full of quotes, backslash runs, brackets and commas, random blank runs between elements: each
    element is found whole (its message as written) on the line it starts on."""
    import random

    rnd = random.Random(7)
    alphabet = ['"', "\\", "[", "]", "{", "}", ",", " ", "\\\\", '\\"', "é", "x", "\t"]
    msgs = ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 12))) for _ in range(60)]
    pieces = [json.dumps({"ts": T.format(i % 60), "msg": m, "n": [i, {"k": m}]}, indent=rnd.choice([None, 1, 4])).encode()
              for i, m in enumerate(msgs)]
    seps = [b"," + b" " * rnd.randint(0, 90) + b"\n" * rnd.randint(0, 3) for _ in range(7)]
    text, lines = doc(pieces, seps)
    p = tmp_path / "tricky.json"
    p.write_bytes(text)
    df = load_quiet(p)
    assert df["event"].tolist() == msgs and df["_line"].tolist() == lines
    assert ob.load_info(df).n_rejected == 0
    stext, slines = seq(pieces)  # the same records as a text sequence, some over several lines
    p.write_bytes(stext)
    df = load_quiet(p)
    assert df["event"].tolist() == msgs and df["_line"].tolist() == slines
