"""The s6 new-user review's checks that now pass (copied from test_review_s6.py without their xfail marks), and
the wider checks behind each fix: every secret shape through every escaping a report applies, every printed
line of the command free of terminal controls, OpenMetrics ``_created`` samples typed as what they are.

Expected values come from the lines written here: the secrets planted, the escapes of the standard library
(``html.escape``, ``json.dumps``) and of markdown (one numeric character reference per punctuation character).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import warnings

import pytest

from test_review_vocabulary import iso, load  # the sibling review module's helpers (pytest puts its folder on sys.path)

import obsnb as ob

T0 = dt.datetime(2026, 11, 18, 0, 0, tzinfo=dt.timezone.utc).timestamp()


# ---------------------------------------------------------------- item 1: redaction holds whatever escaping ran first
def test_password_in_escaped_markdown_is_redacted():
    from obsnb import report, safe_text

    # what `obsnb render` does to a markdown output that obn.md / the prose wrote from a log message
    shown = report.redact(safe_text.md_text("upstream said password=hunter2 while retrying"))
    assert "hunter2" not in shown
    assert "upstream said" in shown


# (log text, the secret in it, a word around it that must stay)
SECRETS = [
    ("upstream said password=hunter2 while retrying", "hunter2", "retrying"),
    ('config password="hunter2" loaded', "hunter2", "loaded"),
    ("GET /v1/x?token=s3cr3tvalue42&page=2", "s3cr3tvalue42", "page"),
    ("api_key=AbCdEf1234567890 rejected", "AbCdEf1234567890", "rejected"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlXw sent", "eyJzdWIiOiIxIn0", "sent"),
    ("retry with Bearer abc.def.ghi.jkl-mno now", "ghi.jkl", "retry"),
    ("using key AKIAIOSFODNN7EXAMPLE for upload", "AKIAIOSFODNN7EXAMPLE", "upload"),
    ("connect postgres://bob:hunter2@db:5432/app failed", "hunter2", "failed"),
]


def _markdown(text: str) -> str:  # CommonMark's escapable punctuation as numeric character references (md_text's way)
    return "".join(f"&#{ord(c)};" if c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~" else c for c in text)


ESCAPES = {
    "html": html.escape,                                       # a text node or an attribute value (quotes escaped)
    "html text": lambda t: html.escape(t, quote=False),
    "markdown": _markdown,
    "markdown in html": lambda t: html.escape(_markdown(t)),
    "json": json.dumps,                                        # a chart spec's string
    "json for a <script>": lambda t: json.dumps(t).replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e"),
    "markdown in json": lambda t: json.dumps(_markdown(t)),
    "json, all ascii escapes": lambda t: '"' + "".join(f"\\u{ord(c):04x}" if not c.isalnum() else c for c in t) + '"',
}


@pytest.mark.parametrize("escape", ESCAPES)
@pytest.mark.parametrize("text,secret,kept", SECRETS, ids=[s[0].split()[0] + "-" + s[1][:6] for s in SECRETS])
def test_every_secret_is_redacted_through_every_escaping(text, secret, kept, escape):
    from obsnb.safe_text import REDACTED, redact

    out = redact(ESCAPES[escape](text))
    assert secret not in out and secret not in html.unescape(out)
    assert REDACTED in out
    assert kept in out  # only the credential goes: the rest of the text keeps its escaping
    if escape.startswith("json"):
        decoded = json.loads(out)
        assert secret not in decoded and kept in decoded  # still a valid JSON string


@pytest.mark.parametrize("text,secret,kept", SECRETS, ids=[s[0].split()[0] + "-" + s[1][:6] for s in SECRETS])
def test_markdown_helpers_redact_before_escaping(text, secret, kept):
    from obsnb.safe_text import md_code, md_text

    for out in (md_text(text), md_code(text)):
        assert secret not in html.unescape(out)
        assert "&#91;REDACTED&#93;" in out and kept in out  # the marker is literal text too


def test_escaped_text_without_a_secret_is_unchanged():
    from obsnb.safe_text import md_text, redact

    text = "job j7 done: 3 of 4 ok (user=bob, path=/v1/x?page=2&size=10) <fast>"
    for escaped in (md_text(text), html.escape(text), json.dumps(text), _markdown(text)):
        assert redact(escaped) == escaped


def test_escape_decoding_keeps_whole_values_and_exact_text():
    """Only escapes that stand for a character are read decoded: a backslash in a value (a Windows path) stays part
    of it, and JSON's escaped slashes do not hide a URL's password. The output is the input with the secret alone
    replaced, written here by hand."""
    from obsnb.safe_text import redact

    assert redact("password=C:\\temp\\x &#60;b&#62;") == "password=[REDACTED] &#60;b&#62;"
    assert redact('{"dsn": "https:\\/\\/bob:hunter2@db\\/x"}') == '{"dsn": "https:\\/\\/bob:[REDACTED]@db\\/x"}'
    assert redact("token&#61;abc123def&#38;page&#61;2") == "token&#61;[REDACTED]&#38;page&#61;2"


# ---------------------------------------------------------------- item 2: the command prints no terminal control
HOSTILE = "upstream \x1b]0;owned\x07\x1b[2J\x1b[31mred\u202e\x9b"


def _hostile_jobs(tmp_path):
    recs = []
    for i in range(240):  # a job every 30 s; from minute 60 on each one fails with a hostile error text
        t, bad = T0 + 30 * i, i >= 120
        recs.append({"ts": iso(t), "level": "error" if bad else "info", "event": "job_failed" if bad else "job_done",
                     "worker": "w1", "job_id": f"j{i}", **({"error": HOSTILE} if bad else {})})
    path = tmp_path / "app.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def test_investigate_prints_no_terminal_escapes(tmp_path, capsys):
    from obsnb import cli

    recs = []
    for i in range(240):  # a job every 30 s; from minute 60 on each one fails with a hostile error text
        t, bad = T0 + 30 * i, i >= 120
        recs.append({"ts": iso(t), "level": "error" if bad else "info", "event": "job_failed" if bad else "job_done",
                     "worker": "w1", "job_id": f"j{i}",
                     **({"error": "upstream \x1b]0;owned\x07\x1b[2J\x1b[31mred"} if bad else {})})
    (tmp_path / "app.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cli.main(["investigate", "--source", f"logs={tmp_path / 'app.jsonl'}",
                  "--start", iso(T0 + 1800), "--end", iso(T0 + 7200)])
    out = capsys.readouterr().out
    assert "error" in out.lower() or "job_failed" in out  # the failures were reported ...
    assert "\x1b" not in out and "\x07" not in out         # ... with no control character of the log


CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e")


@pytest.mark.parametrize("argv", [["investigate"], ["investigate", "--json"], ["audit"], ["audit", "--json"]])
def test_every_evidence_printing_command_shows_controls_as_escapes(tmp_path, capsys, argv):
    from obsnb import cli

    path = _hostile_jobs(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = cli.main([*argv, "--source", f"logs={path}", "--start", iso(T0 + 1800), "--end", iso(T0 + 7200)])
    cap = capsys.readouterr()
    assert status == 0
    for stream in (cap.out, cap.err):
        assert [c for c in CONTROLS if c in stream] == []
    if "--json" in argv:
        json.loads(cap.out)  # the document stays valid JSON


def test_errors_and_warnings_show_controls_as_escapes(tmp_path, capsys):
    from obsnb import cli

    status = cli.main(["investigate", "--source", f"logs={tmp_path / 'no-such' / 'x.log'}\x1b[2J"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("obsnb: error: ") and "\\x1b[2J" in err and "\x1b" not in err


# ---------------------------------------------------------------- item 3: OpenMetrics _created series
def test_openmetrics_created_is_not_a_throughput_counter(tmp_path):
    lines = ["# TYPE jobs counter"]
    for i in range(20):
        t = T0 + 30 * i
        lines += [f'jobs_total{{outcome="ok"}} {i * 3} {t:.3f}', f'jobs_created{{outcome="ok"}} {T0:.3f} {t:.3f}']
    path = tmp_path / "jobs.om.txt"
    path.write_text("\n".join(lines + ["# EOF"]) + "\n")
    metrics = load(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        card = ob.audit(None, None, metrics)
    assert card.of("metrics_that_matter")["numbers"]["throughput"] == "jobs_total"


def test_warnings_name_a_hostile_file_with_escapes(tmp_path, capsys):
    """A warning the command prints (here: a rejected line, named by its file) shows the name's controls escaped,
    whether the load's warnings or the command's own."""
    from obsnb import cli

    path = tmp_path / "app\x1b[2J.jsonl"
    path.write_text(json.dumps({"ts": iso(T0), "level": "info", "event": "a"}) + "\n{not json\n" +
                    json.dumps({"ts": iso(T0 + 1), "level": "info", "event": "b"}) + "\n")
    assert cli.main(["investigate", "--source", f"logs={path}"]) == 0
    err = capsys.readouterr().err
    assert "obsnb: warning: 1 of 3 records rejected from" in err
    assert "app\\x1b[2J.jsonl" in err and "\x1b" not in err


def test_an_unexpected_failure_prints_its_traceback_escaped(tmp_path, capsys, monkeypatch):
    from obsnb import cli

    def broken(a):
        raise RuntimeError("bad value \x1b[2Jhere")

    monkeypatch.setattr(cli, "_cmd_investigate", broken)
    assert cli.main(["investigate", "--source", f"logs={tmp_path}"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: bad value \\x1b[2Jhere" in err and "\x1b" not in err
