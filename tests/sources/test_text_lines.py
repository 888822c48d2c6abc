"""Line splitting of the text readers, as a user sees it: what each record's message and continuation lines
hold, for every line length (a line of up to 12 bytes is held differently from a longer one), line ends
(``\\n``, ``\\r\\n``, none at the end), blank and whitespace lines, and text that is not UTF-8."""

from __future__ import annotations

import warnings

import pytest

import obsnb as ob
from conformance import load_quiet

STAMP = "2024-05-14 12:00:{:02d},{:03d}"


def _record(i: int, msg: str) -> str:
    return f"{STAMP.format(i % 60, i % 1000)} INFO [main] a.B: {msg}"


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_messages_and_continuations_of_every_length_are_exact(tmp_path, ending):
    """Messages of 0-30 characters (ASCII and multi-byte), each record followed by a continuation line of
    that many characters; blank and whitespace lines between them are skipped and keep the numbering."""
    lines, want = [], []
    for k in range(31):
        msg = ("é" if k % 3 == 0 else "x") * k
        cont = "\t" + "a" * (k + 1)  # 2..32 characters, starts with a tab
        want.append((len(lines) + 1, msg, cont))
        lines += [_record(k, msg), cont]
        if k % 5 == 0:
            lines += ["", "   ", "\u00a0\t"]  # blank, spaces, a no-break space and a tab
    p = tmp_path / "app.log"
    p.write_bytes(ending.join(lines).encode() + ending.encode())
    df = load_quiet(p, format="log4j")
    assert list(zip(df["_line"].tolist(), df["event"].tolist(), df["exception"].tolist())) == want
    assert len(ob.rejected(df)) == 0


def test_last_line_without_newline_and_carriage_returns(tmp_path):
    """The last line counts without its newline; any run of ``\\r`` before a newline goes, one inside a line stays."""
    p = tmp_path / "app.log"
    p.write_bytes((_record(1, "one\r\r") + "\r\n" + _record(2, "a\rb") + "\n" + _record(3, "end")).encode())
    df = load_quiet(p, format="log4j")
    assert df["event"].tolist() == ["one", "a\rb", "end"]
    assert df["_line"].tolist() == [1, 2, 3]


def test_bytes_that_are_not_utf8_reject_their_line_alone(tmp_path):
    """A file with an undecodable byte: that line is rejected with its number, the others load exactly."""
    p = tmp_path / "app.log"
    p.write_bytes(_record(1, "ok").encode() + b"\n" + _record(2, "bad ").encode() + b"\xff here\n"
                  + _record(3, "short").encode() + b"\n\xfe\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = ob.load(str(p), format="log4j")
    assert df["event"].tolist() == ["ok", "short"]
    rej = ob.rejected(df)
    assert rej["line"].tolist() == [2, 4]
    assert all("binary or undecodable" in r for r in rej["reason"])
    assert len(df) + len(rej) == 4


def test_a_pattern_with_a_top_level_alternative_keeps_its_meaning(tmp_path):
    """``format="regex"`` with ``A|B`` at the top: a line the first branch matches has no message, though
    the second branch ends in one (the message is not cut from the rest of the line there)."""
    p = tmp_path / "app.log"
    p.write_text("2024-05-14T12:00:00Z A hello\n2024-05-14T12:00:01Z A\n")
    df = load_quiet(p, format="regex", pattern=r"^(?P<time>\S+Z) A|^B (?P<msg>.*)$")
    assert df["_line"].tolist() == [1, 2]
    assert df["event"].isna().tolist() == [True, True]


@pytest.mark.parametrize("helper_threads", [False, True], ids=["one_thread", "helper_threads"])
def test_stamps_and_utf8_checked_on_a_helper_thread_are_exact(tmp_path, monkeypatch, helper_threads):
    """A big file's UTF-8 check and stamp cutting run on a helper thread: with the size limits for that set to
    nothing, every value, reject and line number is what the file's own construction says, as without."""
    from obsnb.sources import _layouts, _lines

    if helper_threads:
        monkeypatch.setattr(_layouts, "_BACKGROUND", 0)
        monkeypatch.setattr(_lines, "_BIG", 0)
    else:
        monkeypatch.setattr(_layouts, "_BACKGROUND", 10**12)
        monkeypatch.setattr(_lines, "_BIG", 10**12)
    stamps = ["2024-05-14 12:00:01,123", "2024-05-14T12:00:01.5+02:00", "2024-05-14T23:59:59.999999999Z",
              "2023-02-29 00:00:00,000", "1969-12-31 23:59:59,999"]  # the 4th is impossible
    want_ns = [1715688001_123_000_000, 1715680801_500_000_000, 1715731199_999_999_999, None, -1_000_000]
    body = [f"{s} WARN [t{i}] a.B: m{i}".encode() for i, s in enumerate(stamps)]
    body.insert(2, b"\tat a.B.c(B.java:1)")  # the continuation of record 1
    body.insert(4, b"2024-05-14 12:00:02,000 INFO [x] a.B: caf\xe9")  # latin-1: not UTF-8
    p = tmp_path / "app.log"
    p.write_bytes(b"\n".join(body) + b"\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = ob.load(str(p), format="log4j")
    assert df["time"].astype("int64").tolist() == [t for t in want_ns if t is not None]
    assert df["event"].tolist() == ["m0", "m1", "m2", "m4"]
    assert df["thread"].tolist() == ["t0", "t1", "t2", "t4"]
    assert df["level"].tolist() == ["WARNING"] * 4 and df["level_original"].tolist() == ["WARN"] * 4
    assert df["_line"].tolist() == [1, 2, 4, 7]
    assert df["exception"].isna().tolist() == [True, False, True, True]
    assert df["exception"].iloc[1] == "\tat a.B.c(B.java:1)"
    rej = ob.rejected(df)
    assert rej["line"].tolist() == [5, 6]
    assert "binary or undecodable" in rej["reason"].iloc[0]
    assert rej["reason"].iloc[1] == "unparseable timestamp (impossible date)"
    assert len(df) + len(rej) == 6  # six records read: five stamped lines and the undecodable one
