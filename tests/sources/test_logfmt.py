"""logfmt reader: canonical mapping, quoting, rejects, and the conformance suite."""

from __future__ import annotations

import re

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import obsnb as ob
from conformance import ConformanceSuite, load_quiet
from obsnb.sources.logfmt import ALIASES

_RESERVED = {k for keys in ALIASES.values() for k in keys}

GOOD = (
    b'time=2024-05-14T13:05:00Z level=info msg="job started" job_id=42 service=worker trace_id=ABCDEF0123456789ABCDEF0123456789\n'
    b'time=2024-05-14T15:05:01.250+02:00 level=warn msg="slow \\"db\\" call" dur_ms=1.5 job_id=43\n'
    b"ts=1715692000 lvl=ERROR msg=failed job_id=44 err=timeout\n"
    b"\n"
    b"time=2024-05-14T13:07:00Z level=debug msg=tick\n"
)
MESSY = (
    b"time=2024-05-14T13:05:00Z level=info msg=ok\n"
    b"this line is prose, not logfmt\n"
    b"foo=bar baz=1\n"
    b"time=yesterday level=info msg=vague\n"
    b"\x00\x01\xff\xfe binary=junk\n"
    b"time=2024-05-14T13:06:00Z level=info msg=fine\n"
    b'time=2024-05-14T13:07:00Z level=error msg="cut sho'
)


class TestLogfmtConformance(ConformanceSuite):
    fmt = "logfmt"
    kind = "logs"
    suffix = ".log"
    good = GOOD
    good_rows = 4
    messy = MESSY
    messy_good = 2
    messy_bad = 5
    first_bad_line = 2


def test_canonical_fields_are_mapped_and_normalised(tmp_path):
    """time/ts, level/lvl and msg become time, level and event; levels canonical with the original kept."""
    p = tmp_path / "a.log"
    p.write_bytes(GOOD)
    df = ob.load(str(p))
    assert list(df["time"]) == [
        pd.Timestamp("2024-05-14T13:05:00Z"),
        pd.Timestamp("2024-05-14T13:05:01.250Z"),
        pd.Timestamp(1715692000, unit="s", tz="UTC"),
        pd.Timestamp("2024-05-14T13:07:00Z"),
    ]
    assert list(df["level"]) == ["INFO", "WARNING", "ERROR", "DEBUG"]
    assert list(df["level_original"]) == ["info", "warn", "ERROR", "debug"]
    assert list(df["event"]) == ["job started", 'slow "db" call', "failed", "tick"]
    assert df["trace_id"][0] == "abcdef0123456789abcdef0123456789"
    assert df["service"][0] == "worker"
    assert list(df["_line"]) == [1, 2, 3, 5]


def test_numeric_columns_get_numeric_types(tmp_path):
    """A key whose every value is an integer is int64; one with decimals float64; others stay text."""
    p = tmp_path / "a.log"
    p.write_bytes(GOOD)
    df = ob.load(str(p), engine="polars")
    assert str(df.schema["job_id"]) == "Int64"
    assert df["job_id"].to_list() == [42, 43, 44, None]
    assert str(df.schema["dur_ms"]) == "Float64"
    assert df["err"].to_list() == [None, None, "timeout", None]


def test_rejected_records_carry_line_reason_and_raw(tmp_path):
    """ob.rejected lists each bad line with its number, why, and its text."""
    p = tmp_path / "m.log"
    p.write_bytes(MESSY)
    df = load_quiet(str(p), format="logfmt")
    rej = ob.rejected(df)
    assert list(rej["line"]) == [2, 3, 4, 5, 7]
    reasons = list(rej["reason"])
    assert reasons[0] == "no key=value pair"
    assert reasons[1] == "no timestamp (looked for time, ts, timestamp, t, @timestamp, datetime)"
    assert reasons[2] == "unparseable timestamp 'yesterday'"
    assert "binary" in reasons[3]
    assert "unterminated" in reasons[4]
    assert rej["raw"][0] == "this line is prose, not logfmt"


def test_large_file_rows_match_a_line_count(tmp_path):
    """A 20,000-line file loads one row per line with values matching a regex read of the file."""
    lines = [f'time=2024-01-01T00:00:{i % 60:02d}Z level=info msg="req {i}" n={i}' for i in range(20_000)]
    text = "\n".join(lines) + "\n"
    p = tmp_path / "big.log"
    p.write_text(text)
    df = ob.load(str(p))
    assert len(df) == len(re.findall(r"^time=", text, re.M))
    assert df["n"].sum() == sum(range(20_000))
    assert df["event"].iloc[-1] == "req 19999"


def _quote(v: str) -> str:
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.dictionaries(st.from_regex(r"[a-z][a-z_]{0,6}", fullmatch=True).filter(lambda k: k not in _RESERVED),
                                st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12),
                                max_size=4), min_size=1, max_size=6))
def test_quoted_values_round_trip(tmp_path, records):
    """Any printable value written with logfmt quoting and escapes reads back exactly."""
    lines = []
    for i, rec in enumerate(records):
        fields = [f"time=2024-01-01T00:00:{i:02d}Z", "level=info"] + [f"{k}={_quote(v)}" for k, v in rec.items()]
        lines.append(" ".join(fields))
    p = tmp_path / "rt.log"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    df = ob.load(str(p), format="logfmt", engine="polars")
    assert df.height == len(records)
    for i, rec in enumerate(records):
        for k, v in rec.items():
            got = df[k][i]
            assert str(got) == v or (not isinstance(got, str) and float(got) == float(v))


def test_escaped_backslash_before_closing_quote(tmp_path):
    """a="\\\\" is a complete value (one backslash), not an unterminated quote."""
    p = tmp_path / "b.log"
    p.write_text('time=2024-01-01T00:00:00Z a="\\\\" b="x \\\\\\" y"\n')
    df = ob.load(str(p), format="logfmt")
    assert (df["a"][0], df["b"][0]) == ("\\", 'x \\" y')
