"""The options table (registry.FORMAT_OPTIONS) says what each reader reads, and load() refuses what no reader takes.

The table cannot rot: the first test walks the readers' code (every function a format's class can reach
through calls, across obsnb/sources) for option reads (``ctx.option("x")``, ``ctx.options.get("x")``,
``options["x"]``) and compares them with what the table declares for that format, both ways.
"""

from __future__ import annotations

import ast
import pathlib
import warnings

import pytest

import obsnb as ob
import obsnb.sources
from obsnb import registry
from obsnb.errors import RejectedRecordsWarning, UsageError

SOURCES = pathlib.Path(obsnb.sources.__file__).parent


def _literal(node: ast.AST) -> str | None:
    """The option name an expression reads, or None."""
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
            and isinstance(node.args[0].value, str) and isinstance(node.func, ast.Attribute):
        f = node.func
        if f.attr == "option":
            return node.args[0].value
        holder = f.value
        if f.attr == "get" and ((isinstance(holder, ast.Attribute) and holder.attr == "options")
                                or (isinstance(holder, ast.Name) and holder.id == "options")):
            return node.args[0].value
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "options" \
            and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
        return node.slice.value
    return None


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(function or class -> option names read in its body, function or class -> what it calls or names)."""
    bodies: dict[str, tuple[ast.AST, str, str | None]] = {}
    imports: dict[str, dict[str, str]] = {}
    for path in sorted(SOURCES.glob("*.py")):
        mod = path.stem
        tree = ast.parse(path.read_text())
        imports[mod] = {a.asname or a.name: f"{n.module}.{a.name}" for n in tree.body
                        if isinstance(n, ast.ImportFrom) and n.level == 1 and n.module for a in n.names}
        for n in tree.body:
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                bodies[f"{mod}.{n.name}"] = (n, mod, None)
            elif isinstance(n, ast.ClassDef):
                bodies[f"{mod}.{n.name}"] = (n, mod, n.name)  # naming a class reaches all its methods
                for m in n.body:
                    if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        bodies[f"{mod}.{n.name}.{m.name}"] = (m, mod, n.name)
    reads: dict[str, set[str]] = {}
    calls: dict[str, set[str]] = {}
    for key, (node, mod, cls) in bodies.items():
        reads[key], calls[key] = set(), set()
        for sub in ast.walk(node):
            lit = _literal(sub)
            if lit is not None:
                reads[key].add(lit)
            if isinstance(sub, ast.Name):
                for target in (f"{mod}.{sub.id}", imports[mod].get(sub.id)):
                    if target in bodies:
                        calls[key].add(target)
            elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id in ("self", "cls") \
                    and f"{mod}.{cls}.{sub.attr}" in bodies:
                calls[key].add(f"{mod}.{cls}.{sub.attr}")
        if isinstance(node, ast.ClassDef):
            calls[key] |= {k for k in bodies if k.startswith(key + ".")}
    return reads, calls


def _reachable_options(start: str, reads, calls) -> set[str]:
    seen, todo, out = set(), [start], set()
    while todo:
        k = todo.pop()
        if k in seen:
            continue
        seen.add(k)
        out |= reads.get(k, set())
        todo.extend(calls.get(k, ()))
    return out


def test_every_option_a_reader_reads_is_declared_for_its_format_and_nothing_more():
    """For each format, the options its code can read (minus the common ones) are exactly those the table lists."""
    reads, calls = _graph()
    assert _literal(ast.parse('ctx.option("year")').body[0].value) == "year"  # the walk sees the usual spelling
    wrong = {}
    for name, target in registry.FORMATS.items():
        mod, _, cls = target.partition(":")
        key = f"{mod.rsplit('.', 1)[1]}.{cls}"
        assert key in reads, f"{name}: class {target} not found in obsnb/sources"
        found = _reachable_options(key, reads, calls) - set(registry.COMMON_OPTIONS)
        if found != set(registry.FORMAT_OPTIONS[name]):
            wrong[name] = (sorted(found), sorted(registry.FORMAT_OPTIONS[name]))
    assert not wrong, f"format: (options its code reads, options declared): {wrong}"


def test_a_keyword_no_format_takes_is_refused_naming_what_it_takes(tmp_path):
    """yeer=2005 for a syslog file is a UsageError listing syslog's options; year=2005 loads."""
    p = tmp_path / "messages"
    p.write_text("Jan  1 00:00:00 host sshd[1]: hello\n")
    with pytest.raises(UsageError, match=r"keyword yeer, which no format of this load takes: syslog takes tz, year, "
                                         r"time_format\. Every load takes .*cache"):
        ob.load(str(p), yeer=2005)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = ob.load(str(p), year=2005)
    assert str(df["time"][0]) == "2005-01-01 00:00:00+00:00"


def test_a_named_format_is_checked_without_sniffing(tmp_path):
    """format= decides which options apply: pattern= belongs to regex, not to jsonl."""
    p = tmp_path / "a.jsonl"
    p.write_text('{"time":"2024-05-14T12:00:00Z","msg":"hi"}\n')
    with pytest.raises(UsageError, match=r"keyword pattern, .*jsonl takes tz, fields"):
        ob.load(str(p), format="jsonl", pattern="x")


def test_a_folder_of_mixed_formats_takes_the_union_of_their_options(tmp_path):
    """A folder of syslog and Prometheus text takes year= (syslog's) and time= (prom_text's), and refuses columns=."""
    (tmp_path / "messages").write_text("Jan  1 00:00:00 host sshd[1]: hello\n")
    (tmp_path / "m.prom").write_text("# TYPE up gauge\nup 1\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RejectedRecordsWarning)
        df = ob.load(str(tmp_path), kind="logs", year=2005, time="2024-05-14T12:00:00Z")
    assert len(df) == 1
    with pytest.raises(UsageError, match=r"keyword columns, .*prom_text takes time; syslog takes tz, year, time_format"):
        ob.load(str(tmp_path), kind="logs", columns={"a": "time"})


def test_a_format_registered_without_options_takes_any_keyword(tmp_path):
    """A user's format that declares no options is not second-guessed; one that declares them is checked."""
    from obsnb.sources.logfmt import Logfmt

    class Mine(Logfmt):
        name = "mine"

        @classmethod
        def sniff(cls, head, path):
            return 0.0

    p = tmp_path / "x.mine"
    p.write_text("time=2024-05-14T12:00:00Z msg=hi\n")
    try:
        registry.register_format("mine", Mine)
        assert len(ob.load(str(p), format="mine", anything=1)) == 1
        registry.register_format("mine", Mine, options=("flavour",))
        assert len(ob.load(str(p), format="mine", flavour=1)) == 1
        with pytest.raises(UsageError, match="mine takes flavour"):
            ob.load(str(p), format="mine", anything=1)
    finally:
        registry.FORMATS.pop("mine", None)
        registry.FORMAT_OPTIONS.pop("mine", None)
