"""Every `obsnb` command the README shows runs as written, from a checkout's top folder (here a scratch
folder that sees the checkout's sample_data), and exits 0."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

from _support import ROOT

pytestmark = pytest.mark.slow


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            cmd = line.split(" # ")[0].strip() if " # " in line else line.strip()
            if re.match(r"^(\.venv/bin/)?obsnb (new|render|investigate)\b", cmd):
                out.append(cmd)
    return out


COMMANDS = readme_commands()


def test_the_readme_shows_commands():
    """The README's examples include new, render and investigate."""
    verbs = {c.replace(".venv/bin/", "").split()[1] for c in COMMANDS}
    assert {"new", "render", "investigate"} <= verbs


def test_readme_commands_run_as_written(tmp_path):
    """Each command, in README order (a render follows its `new`), succeeds; renders write their report."""
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    env = {**os.environ, "OBSNB_SAMPLE_DATA": str(ROOT / "sample_data")}
    for cmd in COMMANDS:
        argv = shlex.split(cmd)
        argv = [sys.executable, "-m", "obsnb.cli", *argv[1:]]
        proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, (cmd, proc.stderr[-2000:])
        if argv[3] == "render":
            assert os.path.exists(tmp_path / proc.stdout.strip().splitlines()[-1]), cmd
