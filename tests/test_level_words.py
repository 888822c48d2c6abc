"""Level words real loggers write load as the canonical level, through the Python map and the SQL macro alike.

Expected levels come from each logger's own level order (log15/go-ethereum `Lvl.String`, zap `Level.String`,
zerolog's console abbreviations), not from obsnb's map.
"""

from __future__ import annotations

import json
import warnings

import duckdb
import pytest

import obsnb as ob
from obsnb import schema

WORDS = {
    # log15 / go-ethereum: LvlTrace..LvlCrit
    "trce": "DEBUG", "dbug": "DEBUG", "info": "INFO", "warn": "WARNING", "eror": "ERROR", "crit": "CRITICAL",
    # zap: debug info warn error dpanic panic fatal
    "dpanic": "CRITICAL", "panic": "CRITICAL", "fatal": "CRITICAL",
    # zerolog ConsoleWriter
    "TRC": "DEBUG", "DBG": "DEBUG", "INF": "INFO", "WRN": "WARNING", "ERR": "ERROR", "FTL": "CRITICAL",
    "PNC": "CRITICAL",
}


def _load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ob.load(str(path))


def test_logfmt_level_words(tmp_path):
    f = tmp_path / "app.log"
    f.write_text("".join(f't=2026-08-05T01:00:{i:02d}.000Z lvl={w} msg="m"\n' for i, w in enumerate(WORDS)))
    assert _load(f)["level"].tolist() == list(WORDS.values())


def test_json_lines_level_words(tmp_path):
    f = tmp_path / "app.jsonl"
    f.write_text("".join(json.dumps({"ts": f"2026-08-05T01:00:{i:02d}Z", "level": w, "msg": "m"}) + "\n"
                         for i, w in enumerate(WORDS)))
    assert _load(f)["level"].tolist() == list(WORDS.values())


@pytest.mark.parametrize("word", [*WORDS, " Eror ", "nonsense", "45"])
def test_python_map_and_sql_macro_agree(word):
    con = duckdb.connect()
    con.execute(schema.LEVEL_SQL)
    sql = con.execute("SELECT obsnb_level(?)", [word]).fetchone()[0]
    assert sql == schema.level_from_text(word)
    assert sql == {" Eror ": "ERROR", "nonsense": None, "45": "WARNING"}.get(word, WORDS.get(word))
