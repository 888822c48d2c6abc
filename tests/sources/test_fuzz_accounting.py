"""Fuzzed accounting: random mixes of valid records, garbage, odd timestamps, deep nesting and odd bytes.

Whatever the mix, a load never raises anything but an ObsnbError, every non-blank line is one record
(loaded + rejected = records read = non-blank lines), and every rejected or loaded record names a line
of the file.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import obsnb as ob
from obsnb.errors import ObsnbError

TIMES = st.sampled_from([
    "2024-05-14T10:00:00Z", "2024-05-14T10:00:00.123456789+02:00", "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z", "2024-05-14T10:00:00+25:00", "2024-05-14T10:00:00-24:30", "1715680800",
    "-62135596800", "99999999999999999999", "yesterday", "", "2024-02-30T00:00:00Z", "1e308", "NaN",
])
NUMBERS = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=False, allow_infinity=False))
ODD = st.binary(min_size=1, max_size=40)  # NUL, \xff, \r, \x0b, stray quotes ...


def _deep(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@st.composite
def json_line(draw) -> bytes:
    kind = draw(st.sampled_from(["valid", "valid", "time", "number", "deep", "garbage", "odd", "blank", "wide"]))
    t = draw(TIMES)
    if kind == "valid":
        return json.dumps({"ts": "2024-05-14T10:00:00Z", "level": draw(st.sampled_from(["info", "ERROR", 30])),
                           "msg": draw(st.text(max_size=20))}).encode()
    if kind == "time":
        return json.dumps({"ts": draw(st.one_of(st.just(t), NUMBERS)), "msg": "t"}).encode()
    if kind == "number":
        return json.dumps({"ts": "2024-05-14T10:00:00Z", "msg": "n", "id": draw(NUMBERS)}).encode()
    if kind == "deep":
        return f'{{"ts":"{t}","msg":"d","x":{_deep(draw(st.integers(1, 1_200)))}}}'.encode()
    if kind == "wide":
        n = draw(st.integers(1, 60))
        return json.dumps({"ts": t, "msg": "w", **{f"k{draw(st.integers(0, 2_000))}_{i}": i for i in range(n)}}).encode()
    if kind == "garbage":
        return draw(st.sampled_from([b"Traceback (most recent call last):", b"[1,2]", b"{}", b'{"ts":', b"null",
                                     b'{"a":1}{"b":2}', b'"just a string"', b"{" * 50]))
    if kind == "odd":
        return draw(ODD).replace(b"\n", b" ")
    return draw(st.sampled_from([b"", b"   ", b"\t"]))


@st.composite
def logfmt_line(draw) -> bytes:
    kind = draw(st.sampled_from(["valid", "valid", "time", "garbage", "odd", "blank"]))
    if kind == "valid":
        return f'time=2024-05-14T10:00:00Z level=info msg="{draw(st.sampled_from(["a b", "x", ""]))}" n=1'.encode()
    if kind == "time":
        return f"time={draw(TIMES) or '-'} msg=t".encode()
    if kind == "garbage":
        return draw(st.sampled_from([b"no pairs here", b'time=2024-05-14T10:00:00Z msg="unterminated', b"=",
                                     b"time= msg=x"]))
    if kind == "odd":
        return draw(ODD).replace(b"\n", b" ")
    return draw(st.sampled_from([b"", b"  "]))


def _check(lines: list[bytes], fmt: str, suffix: str, last_newline: bool) -> None:
    data = b"\n".join(lines) + (b"\n" if last_newline else b"")
    nonblank = sum(1 for ln in data.split(b"\n") if ln.strip(b" \t\r\n\x0b\x0c"))
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f" + suffix)
        with open(path, "wb") as f:
            f.write(data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                df = ob.load(path, format=fmt)
        except ObsnbError:
            return  # a clear error is allowed; anything else fails the test
        info = ob.load_info(df)
        assert info.rows_loaded + info.n_rejected == info.records_read
        n_lines = data.count(b"\n") + (0 if last_newline or not data else 1)
        rejected = ob.rejected(df)
        assert all(1 <= ln <= n_lines for ln in rejected["line"].tolist())
        assert all(1 <= ln <= n_lines for ln in df["_line"].tolist())
        if fmt == "jsonl":
            assert info.records_read == nonblank  # one record per non-blank line, none lost or doubled
            assert sorted(rejected["line"].tolist() + df["_line"].tolist()) == sorted(set(
                rejected["line"].tolist() + df["_line"].tolist()))


FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(st.lists(json_line(), min_size=1, max_size=30), st.booleans())
def test_fuzzed_json_lines_account_for_every_record(lines, last_newline):
    _check(lines, "jsonl", ".jsonl", last_newline)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(json_line(), min_size=1, max_size=15), st.booleans())
def test_fuzzed_gzipped_json_lines_account_for_every_record(lines, last_newline):
    import gzip

    data = b"\n".join(lines) + (b"\n" if last_newline else b"")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f.jsonl.gz")
        with open(path, "wb") as f:
            f.write(gzip.compress(data))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                df = ob.load(path, format="jsonl")
            except ObsnbError:
                return
        info = ob.load_info(df)
        assert info.rows_loaded + info.n_rejected == info.records_read
        assert info.records_read == sum(1 for ln in data.split(b"\n") if ln.strip(b" \t\r\n\x0b\x0c"))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(logfmt_line(), min_size=1, max_size=30), st.booleans())
def test_fuzzed_logfmt_accounts_for_every_record(lines, last_newline):
    _check(lines, "logfmt", ".log", last_newline)
