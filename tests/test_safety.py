"""Safe to share: hostile values stay literal in markdown and every planted secret shape is redacted.

The fixture below is shared by the report, browser and backend safety tests (``from test_safety import ...``):
``PLANTED`` is every shape of secret issue 10 lists, each as the text a log line or an error body would
hold and the secret value that must never be written anywhere; ``ORDINARY`` is text that must come
through :func:`obsnb.safe_text.redact` unchanged; ``MARKDOWN_PAYLOADS`` are values that would become
markup if pasted into markdown.
"""

from __future__ import annotations

import base64

import pytest

from obsnb import safe_text
from obsnb.safe_text import md_code, md_text, redact, redact_url

PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj"
# (text as it would appear in a log line, header dump or URL; the secret inside it)
PLANTED: list[tuple[str, str]] = [
    ("DB_PASSWORD=Tr0ub4dor-db1 host=db", "Tr0ub4dor-db1"),
    ("export PGPASSWORD='pg-s3cret-2'", "pg-s3cret-2"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("passphrase=correct-horse-battery", "correct-horse-battery"),
    ("private_token=ptok-8c1e5f0a", "ptok-8c1e5f0a"),
    ("assumed role ASIAY34FZKBOKMUTVV7A for the job", "ASIAY34FZKBOKMUTVV7A"),
    ("static key AKIAIOSFODNN7EXAMPLE in use", "AKIAIOSFODNN7EXAMPLE"),
    ("webhook whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw verified", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    ("clone with glpat-xY3kP9qLmN2vB7cD1eF4 failed", "glpat-xY3kP9qLmN2vB7cD1eF4"),
    ("npm publish npm_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5 denied", "npm_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5"),
    ("maps key AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY", "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"),
    (f"key -----BEGIN RSA PRIVATE KEY-----\\n{PEM_BODY}\\n-----END RSA PRIVATE KEY----- loaded", PEM_BODY),
    (f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----", PEM_BODY),
    ("Cookie: session=c00k1e-val; theme=dark", "c00k1e-val"),
    ("Set-Cookie: sid=s3ss10n-abc; HttpOnly", "s3ss10n-abc"),
    ("sent Basic " + base64.b64encode(b"reader:b4sic-pw").decode() + " to es", base64.b64encode(b"reader:b4sic-pw").decode()),
    ('{"Authorization": "Bearer eyJhbGciOi.bearer-t0ken-value"}', "eyJhbGciOi.bearer-t0ken-value"),
    ("Authorization: Basic " + base64.b64encode(b"u:hdr-pw").decode(), base64.b64encode(b"u:hdr-pw").decode()),
    ("X-Api-Key: xak-7d1b4e9c", "xak-7d1b4e9c"),
    ("x-api-token: xat-51f0c2", "xat-51f0c2"),
    ("GET https://bob:p@ss-w0rd@db.example.com:5432/x failed", "p@ss-w0rd"),
    ("print('https://u:hunter2x@db.example/x?token=t0k3n-after-userinfo&page=2')", "t0k3n-after-userinfo"),
    ("redirect to /login?next=%2Fcb%3Ftoken%3Dpct-tok3n%26page%3D2", "pct-tok3n"),
    ("https://gitlab.example.com/api?private_token=qp-priv-tok&per_page=5", "qp-priv-tok"),
    ("https://s3.example.com/b?access_key=qp-acc-key&x=1", "qp-acc-key"),
    ("https://api.example.com/v1?auth_token=qp-auth-tok", "qp-auth-tok"),
    ("https://api.example.com/v1?x-api-token=qp-x-api-tok", "qp-x-api-tok"),
    ("https://api.example.com/v1?jwt=qp-jwt-value&q=1", "qp-jwt-value"),
    ('{"data": {"values": [{"apiKey": "chart-api-k3y"}]}}', "chart-api-k3y"),
    ('"{\\"apiKey\\": \\"nested-api-k3y\\"}"', "nested-api-k3y"),
    ("client_secret: yaml-cl13nt-secret", "yaml-cl13nt-secret"),
    ("ghp_16C7e42F292c6912E7710c838347Ae178B4a used", "ghp_16C7e42F292c6912E7710c838347Ae178B4a"),
    ("slack xoxb-2637184-4937472-Aab1Cde2Fgh3 posted", "xoxb-2637184-4937472-Aab1Cde2Fgh3"),
    ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N", "dozjgNryP4J3jVmNHl0w5N"),
]
ORDINARY = [
    "GET https://api.example.com/v1/charges?id=7 took 5.0s",
    "retry_count=3 token_count=512 tokens=12 passed=10 author=ann keyboard=us",
    "Basic Authentication failed for user bob",
    "job_id=job-4821 key=cache-7 status=ok duration_ms=5.5",
    "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
    "compass=north bypass=false",
    "url: https://status.example.com/incidents/12",
    "-----BEGIN CERTIFICATE-----",
    "sha256=9f86d081884c7d659a2feaa0c55ad015 checksum ok",
]
MARKDOWN_PAYLOADS = [
    "[runbook](javascript:alert(1))",
    "![](http://attacker.example/pixel.png)",
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "**bold** _em_ ~~strike~~",
    "`tick` ``two`` ```",
    "# heading",
    "a | b | c",
    "<https://attacker.example/auto>",
    "https://attacker.example/raw www.attacker.example/w mail@attacker.example",
    "$\\href{javascript:alert(1)}{x}$",
    "line1\n# line2\n---\n| x |",
    "[ref]: http://attacker.example/ref",
    "&lt;already escaped&gt; &amp;",
]


@pytest.mark.parametrize("text, secret", PLANTED, ids=[p[1][:16] for p in PLANTED])
def test_redact_removes_every_planted_shape(text, secret):
    """Each secret shape of the fixture is gone after redact(), and so is its base64 form."""
    out = redact(text)
    assert secret not in out and "[REDACTED]" in out
    assert base64.b64encode(secret.encode()).decode() not in out


def test_redact_chart_spec_json_at_any_escaping_depth():
    """Every planted secret inside a chart spec's data (JSON, and JSON inside JSON strings) is redacted."""
    import json

    spec = json.dumps({"data": {"values": [{"note": t} for t, _ in PLANTED]}})
    for text in (spec, json.dumps(spec), json.dumps(json.dumps(spec))):
        out = redact(text)
        assert [s for _, s in PLANTED if s in out] == []
    assert redact(json.dumps(json.dumps({"apiKey": "deep-k3y", "n": 1}))) == '"{\\"apiKey\\": \\"[REDACTED]\\", \\"n\\": 1}"'


@pytest.mark.parametrize("text", ORDINARY)
def test_redact_leaves_ordinary_text(text):
    """Ids, counters, plain URLs, 'Basic Authentication' and a certificate header are not credentials."""
    assert redact(text) == text


def test_redact_keeps_the_key_names_and_quotes():
    """Only the value is replaced: the name, separator and quoting stay so the line still reads."""
    assert redact("DB_PASSWORD=x1 user=bob") == "DB_PASSWORD=[REDACTED] user=bob"
    assert redact("export PGPASSWORD='pg pw'") == "export PGPASSWORD='[REDACTED]'"
    assert redact('{"apiKey": "a\\"b", "n": 1}') == '{"apiKey": "[REDACTED]", "n": 1}'
    assert redact("Cookie: a=1; b=2") == "Cookie: [REDACTED]"
    assert redact("https://u:p@ss@h:1/x") == "https://u:[REDACTED]@h:1/x"


@pytest.mark.parametrize("url, want", [
    ("https://bob:p@ss@h:1/x?private_token=abc&q=up", "https://h:1/x?private_token=REDACTED&q=up"),
    ("http://h/x?access_key=a&auth_token=b&x-api-token=c&jwt=d&page=2",
     "http://h/x?access_key=REDACTED&auth_token=REDACTED&x-api-token=REDACTED&jwt=REDACTED&page=2"),
    ("http://h/login?next=/cb%3Ftoken%3Dabc", "http://h/login?next=/cb%3Ftoken%3DREDACTED"),
    ("http://h/x?key=AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY", "http://h/x?key=REDACTED"),
    ("prometheus://h:9090/api/v1/query?query=up", "prometheus://h:9090/api/v1/query?query=up"),
])
def test_redact_url_shapes(url, want):
    """redact_url drops userinfo (an '@' in the password included) and secret query values, nested ones too."""
    assert redact_url(url) == want


@pytest.mark.parametrize("name, secret", [
    ("DB_PASSWORD", True), ("PGPASSWORD", True), ("aws_secret_access_key", True), ("passphrase", True),
    ("private_token", True), ("apiKey", True), ("X-Api-Key", True), ("x-api-token", True), ("db_pass", True),
    ("clientSecret", True), ("jwt", True), ("token_count", False), ("passed", False), ("compass", False),
    ("author", False), ("tokens", False), ("next_token", False), ("keyboard", False),
])
def test_is_secret_name(name, secret):
    """Names that end with a secret word are credentials; counters and look-alikes are not."""
    assert safe_text.is_secret_name(name) is secret


def _render_md(text: str) -> str:
    """The HTML nbconvert makes of a markdown output (mistune, the renderer reports use)."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return markdown2html_mistune(text)


def _text_of(html_text: str) -> tuple[str, list[str]]:
    """(visible text, tag names) of an HTML fragment."""
    from html.parser import HTMLParser

    class P(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.text, self.tags = [], []

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)
            if tag == "br":
                self.text.append("\n")

        def handle_data(self, data):
            self.text.append(data)

    p = P()
    p.feed(html_text)
    return "".join(p.text), p.tags


@pytest.mark.parametrize("value", MARKDOWN_PAYLOADS)
def test_md_text_renders_as_the_literal_value(value):
    """md_text(value) inside a sentence renders as exactly the value's characters, with no element of its own."""
    html_out = _render_md(f"Worker {md_text(value)} failed.")
    text, tags = _text_of(html_out)
    assert text.strip() == f"Worker {value} failed."
    assert set(tags) <= {"p", "br"}


@pytest.mark.parametrize("value", MARKDOWN_PAYLOADS)
def test_md_text_in_heading_and_table_cell(value):
    """In a heading and in a table cell the value stays one literal piece: no new row, cell or block."""
    text, tags = _text_of(_render_md(f"# Incident {md_text(value)}"))  # nbconvert may add its "¶" anchor link
    assert text.strip().removesuffix("¶") == f"Incident {value}" and set(tags) <= {"h1", "br", "a"}
    assert tags.count("a") == text.count("¶") <= 1
    table = _render_md(f"| worker | n |\n|---|---|\n| {md_text(value)} | 1 |\n")
    text, tags = _text_of(table)
    assert tags.count("td") == 2 and tags.count("tr") == 2 and not {"a", "img", "code", "em", "strong"} & set(tags)
    assert value.replace("\n", "") in text.replace("\n", "")


@pytest.mark.parametrize("value", ["`", "a`b", "``x``", "` `", "a|b", "x</code><img src=x>", "", "*n*"])
def test_md_code_holds_any_backticks(value):
    """md_code(value) is one <code> element whose text is the value, in a paragraph and in a table cell."""
    text, tags = _text_of(_render_md(f"id {md_code(value)} end"))
    assert text.strip() == f"id {value} end".strip() and tags.count("code") == 1 and set(tags) <= {"p", "code"}
    text, tags = _text_of(_render_md(f"| a | b |\n|---|---|\n| {md_code(value)} | 1 |\n"))
    assert tags.count("td") == 2 and tags.count("code") == 1 and value in text


def test_md_text_of_non_strings():
    """Numbers and other values are shown as str(value)."""
    assert md_text(12.5) == "12&#46;5" and md_text(None) == "None"

# HTML that would run script or reach the network if it reached a report as markup.
HTML_PAYLOADS = [
    "<img src=http://attacker.example/p1.png>",
    '<a href="javascript:alert(1)">js</a>',
    '<a href=" jav&#x09;ascript:alert(2)">tab</a>',
    '<a href="data:text/html,<script>alert(3)</script>">data</a>',
    '<a href="http://attacker.example/out">out</a>',
    '<svg><use href="http://attacker.example/u.svg#a"/><image href="http://attacker.example/i.png"/></svg>',
    '<meta http-equiv="refresh" content="0;url=http://attacker.example/r">',
    '<link rel="stylesheet" href="http://attacker.example/s.css">',
    "<style>@import url(http://attacker.example/i.css); body{background:url(http://attacker.example/bg.png)}</style>",
    '<div style="background:url(http://attacker.example/bg2.png)">styled</div>',
    "<iframe src=http://attacker.example/f></iframe>",
    "<base href=http://attacker.example/>",
    "<form action=http://attacker.example/f><button formaction=http://attacker.example/g>go</button></form>",
    '<img srcset="http://attacker.example/s.png 1x">',
    "<video poster=http://attacker.example/v.png></video>",
    "<object data=http://attacker.example/o></object>",
    "<script src=http://attacker.example/s.js></script>",
    "<img src=x onerror=alert(4)>",
    "<svg onload=alert(5)>",
    '<svg><a><animate attributeName="href" values="javascript:alert(6)"/><text y="20">anim</text></a></svg>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(7)>",
    '<noscript><p title="</noscript><img src=x onerror=alert(8)>">',
    "<!-- --!><img src=http://attacker.example/c.png> -->",
    "<audio src=http://attacker.example/a.mp3 autoplay></audio>",
]


@pytest.mark.parametrize("payload", HTML_PAYLOADS)
def test_lockdown_leaves_no_loader_in_a_fragment(payload):
    """One output holding a hostile payload: after the fragment pass no tag loads, links out or handles events."""
    from test_safety_report import offending

    from obsnb.safe_html import lockdown

    out, changed = lockdown(payload, policy=False)
    assert offending(out) == [] and changed >= 1
    assert "<script" not in out.lower().replace("&lt;script", "")


def test_lockdown_document_runs_only_vouched_scripts():
    """In a whole page the vouched-for script stays byte for byte and is hashed into the CSP; another is shown as
    text; the CSP meta comes right after the charset."""
    import hashlib

    from obsnb.safe_html import lockdown

    good, bad = "var ok = 1 < 2;", "alert(1)"
    page = (f'<html><head><meta charset="utf-8"/><title>r</title><script>{good}</script></head>'
            f'<body><script>{bad}</script><a href="#sec">in page</a><a href="https://x.example/">out</a></body></html>')
    out, changed = lockdown(page, scripts=[good])
    digest = base64.b64encode(hashlib.sha256(good.encode()).digest()).decode()
    assert out.startswith('<html><head><meta charset="utf-8"/>\n<meta http-equiv="Content-Security-Policy" '
                          f"content=\"default-src 'none'; script-src 'sha256-{digest}' 'unsafe-eval';")
    assert f"<script>{good}</script>" in out and f"<script>{bad}</script>" not in out
    assert '<code class="obsnb-removed">&lt;script&gt;alert(1)&lt;/script&gt;</code>' in out
    assert '<a href="#sec">in page</a>' in out and '<a title="link removed: https://x.example/">out</a>' in out
    assert changed == 2
