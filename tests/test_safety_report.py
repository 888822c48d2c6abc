"""A report rendered from hostile values holds no script or network reference, no secret, and only 0600 files;
a failed render leaves only a redacted notebook; parameter names are never code; a planted vega bundle is not used."""

from __future__ import annotations

import base64
import json
import os
import pathlib
import stat

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from test_safety import HTML_PAYLOADS, MARKDOWN_PAYLOADS, PLANTED

from obsnb import report, vega_bundle
from obsnb.errors import ReportError, UsageError

pytestmark = pytest.mark.slow
SECRET_PARAM = "param-s3cret-tok3n-77"
# The incident id given with -p is hostile too: a link, an image and a backtick break-out.
INCIDENT = "INC-1 [runbook](javascript:alert(9)) ![](http://attacker.example/inc.png) `x`"

HOSTILE_CELLS = [
    "from obsnb import notebook as obn\n"
    "from obsnb.safe_text import md_text, md_code\n"
    "import json, pandas as pd, altair as alt\n"
    "from IPython.display import display\n"
    "obn.setup()\n"
    "Markdown = lambda s: display({'text/markdown': s}, raw=True)  # IPython's Markdown('http...') fetches the URL\n"
    "HTML = lambda s: display({'text/html': s}, raw=True)\n"
    "P = json.loads(PAYLOADS)\n"
    "S = json.loads(SECRETS)",
    "obn.md('# Incident {i}', i=incident)\n"
    "Markdown('# Incident ' + md_text(incident))",
    "for p in P:\n    Markdown('worker ' + md_text(p) + ' id ' + md_code(p))",
    "for p in P:  # a template that forgot to escape: the report's own pass must still hold\n"
    "    Markdown(p)\n    HTML(p)",
    "df = pd.DataFrame({'worker': P, 'n': range(len(P)), 'note': [S[i % len(S)] for i in range(len(P))]})\n"
    "obn.show(df)",
    "alt.Chart(df).mark_bar().encode(x='n:Q', y='worker:N', tooltip=['worker', 'note'])",
    "print('\\n'.join(S))\nMarkdown('\\n\\n'.join(S))\nprint(api_token)",
]


def hostile_notebook(folder: pathlib.Path, *extra: str) -> pathlib.Path:
    """A small notebook that shows every markdown/HTML payload and planted secret in every way a template can."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = new_code_cell("incident = 'x'\napi_token = ''\n"
                           f"PAYLOADS = {json.dumps(json.dumps(MARKDOWN_PAYLOADS + HTML_PAYLOADS))}\n"
                           f"SECRETS = {json.dumps(json.dumps([t for t, _ in PLANTED]))}\n")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *(new_code_cell(c) for c in HOSTILE_CELLS + list(extra))]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hostile.ipynb"
    nbformat.write(nb, str(path))
    return path


def render_hostile_once(tmp_path_factory) -> pathlib.Path:
    """Render the hostile notebook once per session (shared with the browser test); returns the report path."""
    base = tmp_path_factory.getbasetemp() / "obsnb-hostile"
    out = base / "reports" / "hostile.html"
    if not out.exists():
        nb = hostile_notebook(base)
        report.render(nb, output=out, parameters={"incident": INCIDENT, "api_token": SECRET_PARAM})
    return out


def secrets_in(text: str) -> list[str]:
    """Planted secrets (and their base64 forms) that occur in ``text``."""
    found = []
    for secret in [s for _, s in PLANTED] + [SECRET_PARAM]:
        for form in (secret, base64.b64encode(secret.encode()).decode()):
            if form in text:
                found.append(form)
    return found


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return render_hostile_once(tmp_path_factory)


def test_hostile_report_files_hold_no_secret_and_are_private(hostile):
    """Report and executed notebook hold no planted secret nor its base64 form; both are 0600 in a 0700 folder."""
    files = sorted(hostile.parent.iterdir())
    assert [f.name for f in files] == ["hostile.executed.ipynb", "hostile.html"]
    for f in files:
        assert secrets_in(f.read_text()) == [], f.name
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f.name
    assert stat.S_IMODE(hostile.parent.stat().st_mode) == 0o700


def offending(html_text: str) -> list[tuple[str, str, str]]:
    """(tag, attribute, value) of every start tag that would run script or reach the network when shown."""
    from html.parser import HTMLParser

    bad = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag in ("iframe", "object", "embed", "base", "form", "link", "frame", "portal"):
                bad.append((tag, "", ""))
            if tag == "script" and any(k == "src" for k, _ in attrs):
                bad.append((tag, "src", ""))
            for k, v in attrs:
                v = (v or "").strip()
                if k.startswith("on"):
                    bad.append((tag, k, v))
                elif k in ("href", "xlink:href") and not v.startswith("#"):
                    bad.append((tag, k, v))
                elif k in ("src", "srcset", "action", "formaction", "poster", "data", "background") and \
                        not v.startswith("data:image/"):
                    bad.append((tag, k, v))
                elif k == "style" and "url(" in v.lower():
                    bad.append((tag, k, v))
                elif tag == "meta" and k == "http-equiv" and v.lower() != "content-security-policy":
                    bad.append((tag, k, v))

        handle_startendtag = handle_starttag

    P().feed(html_text)
    return bad


def test_hostile_report_has_no_network_or_script_reference(hostile):
    """No attribute in the HTML points outside the page, no event handler, and the CSP forbids the network."""
    text = hostile.read_text()
    assert offending(text) == []
    head = text[:text.index("</head>")]
    assert head.count('http-equiv="Content-Security-Policy"') == 1
    policy = head.split('http-equiv="Content-Security-Policy" content="')[1].split('"')[0]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'" and directives["connect-src"] == "'none'"
    assert directives["img-src"] == "data: blob:" and directives["font-src"] == "data:"
    scripts = directives["script-src"].split()
    assert scripts[-1] == "'unsafe-eval'" and all(s.startswith("'sha256-") for s in scripts[:-1])
    assert len(scripts) - 1 == 3  # the vega bundle, VEGA_DEBUG, the one chart
    assert text.count('<code class="obsnb-removed">') >= 1  # the hostile <script src> shown as text


def test_hostile_executed_notebook_links_nowhere(hostile):
    """In the executed notebook no markdown or HTML output, rendered, links to a script URL or loads anything."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    nb = nbformat.read(str(hostile.with_name("hostile.executed.ipynb")), as_version=4)
    outputs = [o.get("data", {}) for c in nb.cells for o in c.get("outputs", [])]
    md = [markdown2html_mistune(d["text/markdown"]) for d in outputs if "text/markdown" in d]
    html_out = [d["text/html"] for d in outputs if "text/html" in d and "obsnb-chart" not in d["text/html"]]
    assert len(md) > 40 and len(html_out) > 20
    bad = [b for text in md + html_out for b in offending(text)]
    assert [b for b in bad if b[1] not in ("href", "src") or b[2] != "#blocked"] == []  # in-page targets only


def test_failed_render_leaves_only_a_redacted_notebook(tmp_path):
    """A cell that fails after printing secrets: the executed notebook beside the report is redacted and 0600,
    the error names it, and neither message nor file holds a planted secret."""
    nb = hostile_notebook(tmp_path / "nb", "raise RuntimeError('failed with ' + S[0] + ' ' + api_token)")
    out = tmp_path / "out" / "r.html"
    with pytest.raises(ReportError) as info:
        report.render(nb, output=out, parameters={"incident": INCIDENT, "api_token": SECRET_PARAM})
    executed = out.with_name("r.executed.ipynb")
    msg = str(info.value)
    assert f"the executed notebook (secrets redacted) with the full traceback: {executed}" in msg
    assert "RuntimeError: failed with DB_PASSWORD=[REDACTED] host=db" in msg
    assert secrets_in(msg + repr(info.value)) == []
    assert sorted(p.name for p in out.parent.iterdir()) == ["r.executed.ipynb"]
    assert secrets_in(executed.read_text()) == []
    assert stat.S_IMODE(executed.stat().st_mode) == 0o600
    assert "RuntimeError" in executed.read_text()


@pytest.mark.parametrize("name", ["incident\nimport os; os.system('touch PWNED')\nx", "1x", "class", "a-b", "", "é"])
def test_parameter_names_must_be_identifiers(name, tmp_path):
    """A -p name that is not an identifier (or is a keyword) is a UsageError before anything runs."""
    with pytest.raises(UsageError, match="is not a Python identifier"):
        report.render(hostile_notebook(tmp_path), output=tmp_path / "r.html", parameters={name: "v"})
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "PWNED").exists()


def test_parameter_values_are_data():
    """Values are text, numbers, booleans, None, lists and dicts (dates as ISO text); an object is refused."""
    import datetime as dt

    class Sneaky:
        def __str__(self):
            return "__import__('os').system('touch PWNED')"

    assert report.check_parameters({"a": "x\"\nimport os", "b": [1, 2.5, None, True], "c": {"k": "v"},
                                    "d": dt.datetime(2024, 5, 14, 12, tzinfo=dt.timezone.utc), "e": (1, 2)}) == {
        "a": "x\"\nimport os", "b": [1, 2.5, None, True], "c": {"k": "v"}, "d": "2024-05-14T12:00:00+00:00",
        "e": [1, 2]}
    with pytest.raises(UsageError, match="a Sneaky cannot be passed"):
        report.check_parameters({"a": Sneaky()})


def test_string_parameter_with_code_stays_a_string(tmp_path):
    """A value full of quotes and newlines arrives as the same string: papermill writes it as a literal."""
    value = "x\"'\nimport os; os.system('touch PWNED')\n\\\"''' \"\"\""
    nb = tmp_path / "p.ipynb"
    book = new_notebook()
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    p = new_code_cell("v = ''")
    p.metadata["tags"] = ["parameters"]
    book.cells = [p, new_code_cell("print(repr(v))")]
    nbformat.write(book, str(nb))
    node = report.execute(nb, tmp_path / "p.executed.ipynb", {"v": value})
    assert node.cells[-1].outputs[0]["text"].strip() == repr(value)
    assert not (tmp_path / "PWNED").exists()


def test_planted_vega_bundle_in_shared_cache_is_not_inlined(tmp_path, monkeypatch):
    """A bundle another user could write (group/other-writable folder or file) is ignored and recomputed;
    the bundle obsnb caches itself goes to a 0700 folder as a 0600 file and is read back."""
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    monkeypatch.setenv("OBSNB_CACHE_DIR", str(shared))
    monkeypatch.setattr(report._Bundle, "text", None)
    planted = "alert('planted');" + "x" * 200_000
    (shared / report._Bundle._name()).write_text(planted)
    private = shared / f"obsnb-{os.geteuid()}"
    assert report._Bundle._cache_dir() == private
    text = report._Bundle.get()
    assert "planted" not in text and "vegaEmbed" in text
    cached = private / report._Bundle._name()
    assert stat.S_IMODE(private.stat().st_mode) == 0o700 and stat.S_IMODE(cached.stat().st_mode) == 0o600
    assert cached.read_text() == text
    # a private folder whose file is made group-writable is not trusted either
    os.chmod(cached, 0o664)
    assert report._read_private(private, cached.name) is None
    os.chmod(cached, 0o600)
    assert report._read_private(private, cached.name) == text
    # a symlink planted in place of the file is not followed
    cached.unlink()
    cached.symlink_to(shared / report._Bundle._name())
    assert report._read_private(private, cached.name) is None
    monkeypatch.setattr(report._Bundle, "text", None)


def test_unwritable_cache_folder_still_renders_the_bundle(tmp_path, monkeypatch):
    """When no cache folder can be made the bundle is computed and used, not an error."""
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setenv("OBSNB_CACHE_DIR", str(locked / "sub" / "cache"))
    monkeypatch.setattr(vega_bundle, "private_dir", lambda p: (_ for _ in ()).throw(PermissionError(13, "denied", str(p))))
    monkeypatch.setattr(report._Bundle, "text", None)
    try:
        assert "vegaEmbed" in report._Bundle.get()
    finally:
        monkeypatch.setattr(report._Bundle, "text", None)
    assert not (locked / "sub").exists()
