"""ob.with_patterns / ob.log_patterns: messages that differ in a variable word share one template."""

from __future__ import annotations

import hashlib

import pandas as pd
import polars as pl
from _support import to_pandas

import obsnb as ob
from obsnb.testing import make_logs

T0 = pd.Timestamp("2024-05-14T13:00:00Z")
USERS = ["admin", "test", "guest", "oracle", "postgres"]


def _id(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def _logs(engine, msgs):
    return make_logs(time=[T0 + pd.Timedelta(seconds=i) for i in range(len(msgs))], message=msgs, engine=engine)


def _messages():
    """5 'Invalid user <name> from <ip>' (5 names: a variable), 6+6 'service alpha started/stopped'
    (two values over 12 lines: two templates), 1 'disk full on /var', 1 missing message."""
    msgs = [f"Invalid user {u} from 10.0.0.{i}" for i, u in enumerate(USERS)]
    msgs += ["service alpha started", "service alpha stopped"] * 6
    return msgs + ["disk full on /var", None]


def test_with_patterns_adds_template_to_every_row(engine):
    df = _logs(engine, _messages())
    out = ob.with_patterns(df)
    assert type(out) is type(df)
    pdf = to_pandas(out)
    assert list(pdf.columns) == [*to_pandas(df).columns, "pattern_id", "pattern"]
    assert pdf["message"].tolist()[:-1] == _messages()[:-1]  # rows and their order untouched
    want = (["Invalid user <*> from <ip>"] * 5 + ["service alpha started", "service alpha stopped"] * 6
            + ["disk full on /var", None])
    assert [None if pd.isna(p) else p for p in pdf["pattern"]] == want
    assert [None if pd.isna(p) else p for p in pdf["pattern_id"]] == [None if p is None else _id(p) for p in want]


def test_log_patterns_carries_the_same_ids_and_counts(engine):
    df = _logs(engine, _messages())
    pats = to_pandas(ob.log_patterns(df))
    assert pats.columns.tolist()[:2] == ["pattern_id", "pattern"]
    assert dict(zip(pats["pattern"], pats["count"])) == {
        "service alpha started": 6, "service alpha stopped": 6, "Invalid user <*> from <ip>": 5, "disk full on /var": 1}
    assert dict(zip(pats["pattern"], pats["pattern_id"])) == {p: _id(p) for p in pats["pattern"]}
    inv = pats[pats["pattern"] == "Invalid user <*> from <ip>"].iloc[0]
    assert str(inv["first"]) == "2024-05-14 13:00:00+00:00" and str(inv["last"]) == "2024-05-14 13:00:04+00:00"


def test_templates_do_not_depend_on_row_order():
    msgs = _messages()[:-1]
    a = ob.with_patterns(pl.DataFrame({"message": msgs}))
    b = ob.with_patterns(pl.DataFrame({"message": msgs[::-1]}))
    assert a.get_column("pattern_id").to_list() == b.get_column("pattern_id").to_list()[::-1]


def test_pandas_index_and_column_choice():
    """A pandas frame keeps its index; column= names the text column."""
    df = pd.DataFrame({"text": ["conn 1 reset", "conn 22 reset", "job done"]}, index=[10, 20, 30])
    out = ob.with_patterns(df, column="text")
    assert out.index.tolist() == [10, 20, 30] and "pattern" not in df.columns
    assert out["pattern"].tolist() == ["conn <num> reset", "conn <num> reset", "job done"]
