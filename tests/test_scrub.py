"""Opt-in scrubbing of personal data: e-mails, IP addresses, listed values and fields become stable keyed
pseudonyms in text, frames and every file a rendered report writes (report, executed notebook, findings)."""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import pathlib
import urllib.parse

import nbformat
import pandas as pd
import polars as pl
import pytest
from nbformat.v4 import new_code_cell, new_notebook

import obsnb as ob
from obsnb import cli
from obsnb.keyed import key_path
from obsnb.safe_text import md_text
from obsnb.scrub import Scrub

EMAILS = ["alice@example.com", "bob.smith@corp.example.org"]
IPS = ["10.1.2.3", "192.168.7.44", "2001:db8::17"]
USER_IDS = ["u-4711", "u-9000"]
NAME = "mallory"  # listed with --scrub-value


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home-config"))
    monkeypatch.delenv("OBSNB_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


def expected(kind: str, value: str) -> str:
    """The pseudonym, computed from the key file: HMAC-SHA256(key, "obsnb.scrub.<kind>\\0<value>")[:8]."""
    key = bytes.fromhex(key_path().read_text().strip())
    mac = hmac.new(key, f"obsnb.scrub.{kind}\0{value}".encode(), hashlib.sha256).hexdigest()[:8]
    return "{" + kind + ":" + mac + "}"


def test_text_addresses_become_keyed_pseudonyms_in_plain_and_escaped_forms():
    s = Scrub()
    out = s.text("login alice@example.com from 10.1.2.3 and 2001:db8::17")
    assert out == (f"login {expected('email', 'alice@example.com')} from {expected('ip', '10.1.2.3')} and "
                   f"{expected('ip', '2001:db8::17')}")
    escaped = md_text("mail Alice@Example.com ip 10.1.2.3")  # alice&#64;example&#46;com in obsnb's markdown
    assert s.text(escaped) == f"mail {expected('email', 'alice@example.com')} ip {expected('ip', '10.1.2.3')}"
    assert s.text("/u?to=alice%40example.com") == f"/u?to={expected('email', 'alice@example.com')}"
    assert s.text(out) == out  # idempotent: a pseudonym is never scrubbed again


@pytest.mark.parametrize("kept", [
    "version=1.2.3.4", '"version": "1.2.3.4"', "build: 10.0.0.1", "v1.2.3.4", "1.2.3.4.5", "at 10:20:30",
    "mac 00:1a:2b:3c:4d:5e", "std::vector", "::1", "fe80::1", "999.1.1.1", "user@localhost", "ratio 0.25",
])
def test_text_known_hard_cases_are_kept(kept):
    assert Scrub().text(kept) == kept


def test_listed_values_and_field_values_are_replaced_everywhere():
    """Values under user.id (key=value, JSON, escaped JSON, a table column) are learnt, then replaced anywhere."""
    s = Scrub(pii=False, values=[NAME], fields=["user.id"])
    texts = ["req user.id=u-4711 ok", '{"user.id": "u-9000"}', md_text("user.id=u-1234"),
             "<table><tr><th></th><th>user.id</th></tr><tr><th>0</th><td>u-5555</td></tr></table>",
             "later u-4711 and u-9000 and u-1234 and u-5555; mallory but not mallorys"]
    for t in texts:
        s.learn(t)
    out = [s.text(t) for t in texts]
    ids = {u: expected("id", u) for u in ("u-4711", "u-9000", "u-1234", "u-5555")}
    assert out[0] == f"req user.id={ids['u-4711']} ok"
    assert out[1] == f'{{"user.id": "{ids["u-9000"]}"}}'
    assert out[2] == "user&#46;id&#61;" + ids["u-1234"]
    assert f"<td>{ids['u-5555']}</td>" in out[3]
    assert out[4] == (f"later {ids['u-4711']} and {ids['u-9000']} and {ids['u-1234']} and {ids['u-5555']}; "
                      f"{expected('id', NAME)} but not mallorys")
    for t in out:  # a second pass (the HTML export after the notebook) changes nothing
        s.learn(t)
    assert [s.text(t) for t in out] == out


@pytest.mark.parametrize("engine", ["pandas", "polars"])
def test_frame_scrub_matches_the_pseudonyms_and_keeps_other_columns(engine):
    df = pd.DataFrame({"user.id": ["u-4711", "u-9000", "u-4711", None],
                       "message": ["alice@example.com from 10.1.2.3", "version=1.2.3.4 ok", "2001:db8::17 mallory",
                                   "mallorys at 10:20:30"],
                       "n": [1, 2, 3, 4]})
    frame = df if engine == "pandas" else pl.from_pandas(df)
    out = Scrub(values=[NAME], fields=["user.id"]).frame(frame)
    assert type(out) is type(frame)
    got = out.to_dict("list") if engine == "pandas" else out.to_dict(as_series=False)
    assert got["user.id"][:3] == [expected("id", "u-4711"), expected("id", "u-9000"), expected("id", "u-4711")]
    assert got["user.id"][3] is None or pd.isna(got["user.id"][3])
    assert got["message"] == [f"{expected('email', 'alice@example.com')} from {expected('ip', '10.1.2.3')}",
                              "version=1.2.3.4 ok", f"{expected('ip', '2001:db8::17')} {expected('id', NAME)}",
                              "mallorys at 10:20:30"]
    assert got["n"] == [1, 2, 3, 4]


# ---------------------------------------------------------------------------------------------------- a report

CELLS = [
    "from obsnb import notebook as obn\nimport json, pandas as pd, altair as alt\nobn.setup()",
    "df = pd.DataFrame({'user.id': ['u-4711', 'u-9000', 'u-4711'],\n"
    "                   'email': ['alice@example.com', 'bob.smith@corp.example.org', 'alice@example.com'],\n"
    "                   'client': ['10.1.2.3', '2001:db8::17', '192.168.7.44'], 'n': [1, 2, 3],\n"
    "                   'note': ['version=1.2.3.4', 'mallory logged in', 'ok']})\n"
    "obn.show(df)",
    "obn.md('Most errors came from {e} at {ip}, user {u}; mallory again', e='alice@example.com', ip='10.1.2.3', "
    "u='u-9000')",
    "alt.Chart(df).mark_bar().encode(x='n:Q', y='email:N', tooltip=['user.id', 'client', 'email'])",
    "print(df.to_string())",
    "class F:\n    def to_json(self):\n        return json.dumps({'items': [{'summary': 'errors for alice@example.com "
    "from 192.168.7.44', 'entity_column': 'user.id', 'entity_value': 'u-4711'}]})\nobn.save_findings(F())",
]


@pytest.mark.slow
def test_render_scrub_pii_leaves_no_planted_value_in_any_file_and_keeps_pseudonyms_stable(tmp_path):
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [new_code_cell(c) for c in CELLS]
    src = tmp_path / "nb" / "pii.ipynb"
    src.parent.mkdir()
    nbformat.write(nb, str(src))
    out = tmp_path / "out" / "pii.html"
    assert cli.main(["render", str(src), "--out", str(out), "--scrub-pii", "--scrub-value", NAME,
                     "--scrub-field", "user.id"]) == 0
    files = sorted(p for p in out.parent.iterdir() if p.is_file())
    assert [p.name for p in files] == ["pii.executed.ipynb", "pii.findings.json", "pii.html"]
    for p in files:
        raw = p.read_text()
        views = [raw, html.unescape(raw), urllib.parse.unquote(raw), html.unescape(raw.replace("\\\\", "\\"))]
        if p.suffix in (".ipynb", ".json"):
            views.append(json.dumps(json.loads(raw), ensure_ascii=False))
        for planted in [*EMAILS, *IPS, *USER_IDS, NAME]:
            for view in views:
                assert planted not in view, (p.name, planted)
        if p.suffix != ".json":
            assert "version=1.2.3.4" in html.unescape(raw)  # a version, not an address (documented)
    report, executed, findings = out.read_text(), (out.parent / "pii.executed.ipynb").read_text(), \
        (out.parent / "pii.findings.json").read_text()
    alice = expected("email", "alice@example.com")
    # the same person keeps the same pseudonym in the table, the prose, the chart data and the findings
    assert report.count(alice) >= 4 and alice in executed and alice in findings
    assert expected("id", "u-4711") in findings and expected("ip", "192.168.7.44") in findings
    assert expected("id", "u-9000") in html.unescape(report)
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in files)


def test_report_table_of_obsnb_toml_turns_scrubbing_on_and_is_checked(tmp_path):
    """[report] scrub_pii / scrub_values / scrub_fields apply to render(); the CLI flags add to them."""
    from obsnb.report import scrub_for

    assert scrub_for(None) is None and scrub_for(False) is None  # off unless asked
    cfg = tmp_path / "obsnb.toml"
    cfg.write_text('[report]\nscrub_pii = true\nscrub_values = ["mallory"]\nscrub_fields = ["user.id"]\n')
    s = scrub_for(None)
    assert (s.pii, s.values, s.fields) == (True, ("mallory",), ("user.id",))
    args = cli._parser().parse_args(["render", "x.ipynb", "--scrub-value", "trent", "--scrub-field", "customer"])
    s = cli._scrub_of(args)
    assert (s.pii, s.values, s.fields) == (True, ("mallory", "trent"), ("user.id", "customer"))
    cfg.write_text("[report]\nscrub_pii = true\nscrub_emails = true\n")
    with pytest.raises(ob.UsageError, match="no setting 'scrub_emails'"):
        scrub_for(None)
    cfg.write_text('[report]\nscrub_pii = "yes"\n')
    with pytest.raises(ob.UsageError, match="scrub_pii must be true or false"):
        scrub_for(True)


# ------------------------------------------------------------------------------- ob.set_option("scrub_pii")

@pytest.fixture
def scrub_option(monkeypatch):
    """The scrub_pii option as a fresh session has it, restored afterwards; not inside a render."""
    monkeypatch.delenv("OBSNB_RENDER_SCRUB_PII", raising=False)
    assert ob.get_option("scrub_pii") is False  # off unless asked
    yield
    ob.set_option("scrub_pii", False)


def test_scrub_pii_option_turns_scrubbing_on_for_the_renders_of_this_session(scrub_option):
    """The option is a session-wide [report] scrub_pii: render()'s default and the in-process CLI scrub; an
    explicit scrub= argument still wins."""
    from obsnb.report import scrub_for

    assert scrub_for(None) is None
    ob.set_option("scrub_pii", True)
    s = scrub_for(None)
    assert (s.pii, s.values, s.fields) == (True, (), ())
    assert scrub_for(False) is None
    given = Scrub(pii=False, values=[NAME])
    assert scrub_for(given) is given
    assert cli._scrub_of(cli._parser().parse_args(["render", "x.ipynb"])).pii is True
    with pytest.raises(ob.UsageError, match="scrub_pii must be True or False"):
        ob.set_option("scrub_pii", "yes")
    assert ob.get_option("scrub_pii") is True


def _notebook(path: pathlib.Path, cells: list[str]) -> pathlib.Path:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [new_code_cell(c) for c in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


@pytest.mark.slow
def test_a_session_with_scrub_pii_renders_scrubbed_reports(tmp_path, scrub_option):
    """report.render() in a session that set the option leaves no planted address in the report or notebook."""
    from obsnb import report

    src = _notebook(tmp_path / "nb" / "pii.ipynb", CELLS[:3])
    ob.set_option("scrub_pii", True)
    out = report.render(src, output=tmp_path / "out" / "pii.html")
    page, executed = out.read_text(), (out.parent / "pii.executed.ipynb").read_text()
    for text in (page, html.unescape(page), executed):
        for planted in [*EMAILS, *IPS]:
            assert planted not in text, planted
    assert expected("email", "alice@example.com") in page
    assert expected("ip", "10.1.2.3") in executed


@pytest.mark.slow
def test_a_notebook_asking_for_scrubbing_fails_a_render_that_does_not_scrub(tmp_path, scrub_option):
    """The kernel cannot change its own render's scrubbing: asking for it there fails the render, unscrubbed
    output is never published; the same notebook rendered with scrubbing renders, scrubbed."""
    from obsnb import report

    cells = [CELLS[0] + "\nimport obsnb as ob\nob.set_option('scrub_pii', True)", *CELLS[1:3]]
    src = _notebook(tmp_path / "nb" / "asks.ipynb", cells)
    with pytest.raises(ob.ReportError, match="being rendered without scrubbing") as info:
        report.render(src, output=tmp_path / "off" / "asks.html")
    assert "code cell 1" in str(info.value)
    assert not (tmp_path / "off" / "asks.html").exists()
    out = report.render(src, output=tmp_path / "on" / "asks.html", scrub=True)
    page = html.unescape(out.read_text())
    assert all(planted not in page for planted in [*EMAILS, *IPS])
    assert expected("email", "alice@example.com") in page
