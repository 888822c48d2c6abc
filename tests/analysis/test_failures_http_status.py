"""A bare ``status`` / ``code`` field counts as an HTTP status (>= 500 an error) only when it holds HTTP codes.

Each file below is built with a known number of 5xx lines; the expected error counts are those lines.
"""

from __future__ import annotations

import json
import warnings

import pandas as pd
import polars as pl
import pytest

import obsnb as ob


def _load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ob.load(str(path))


def _errors(frame) -> int:
    rate = ob.error_rate(frame, "1h")
    return int(rate["errors"].sum())


def _jsonl(tmp_path, values, key):
    f = tmp_path / "app.jsonl"
    f.write_text("".join(json.dumps({"ts": f"2026-08-05T01:00:{i:02d}Z", "level": "info", "msg": "request",
                                     **({} if v is None else {key: v})}) + "\n" for i, v in enumerate(values)))
    return _load(f)


@pytest.mark.parametrize("key", ["status", "code"])
def test_http_codes_in_a_bare_field(tmp_path, key):
    # 200, 404, 503, 500, 599 and one line without the field: three are >= 500
    assert _errors(_jsonl(tmp_path, [200, 404, 503, None, 500, 599], key)) == 3


def test_http_codes_as_text(tmp_path):
    assert _errors(_jsonl(tmp_path, ["200", "502", "503"], "status")) == 2


@pytest.mark.parametrize("values", [
    [0, 14, 500],          # gRPC codes with one 500 among them: not HTTP codes
    [200, 1001, 503],      # an app code outside 100..599
    [200.0, 503.5],        # not integral
    ["ok", "503"],         # a word among the codes
])
def test_a_column_that_is_not_http_codes_is_not_read_as_http(tmp_path, values):
    assert _errors(_jsonl(tmp_path, values, "code")) == 0


def test_word_statuses_still_count(tmp_path):
    # "failed" and "timeout" are failure words; "ok" is not
    assert _errors(_jsonl(tmp_path, ["ok", "failed", "timeout", "ok"], "status")) == 2


def test_logfmt_status_and_a_pandas_float_column(tmp_path):
    f = tmp_path / "app.log"
    f.write_text('t=2026-08-05T01:00:00.000Z level=info msg="a" status=503\n'
                 't=2026-08-05T01:00:01.000Z level=info msg="b"\n'
                 't=2026-08-05T01:00:02.000Z level=info msg="c" status=200\n')
    logs = _load(f)
    assert _errors(logs) == 1
    assert _errors(pl.from_pandas(logs)) == 1
    assert isinstance(logs, pd.DataFrame) and logs["status"].tolist()[0] == 503
