"""Real Prometheus 2.42 and VictoriaMetrics 1.79, started once per test session on free loopback ports.

When ``OBSNB_PROMETHEUS_URL`` and ``OBSNB_VICTORIAMETRICS_URL`` are set (``.ci/run`` may start the
servers itself with ``scripts/backends.sh``) those are used and left running. Otherwise the session
runs ``scripts/backends.sh start`` in its own directory (installing the Debian packages when root)
and ``stop`` at the end, so ``make test`` needs nothing else. Without the servers the live tests skip,
and in CI they fail (:func:`conftest.need`).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _root_conftest():
    """tests/conftest.py (this file is also called ``conftest``, so a plain import would find itself)."""
    import importlib.util

    name = "obsnb_tests_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "conftest.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        sys.modules[name] = mod
    return sys.modules[name]


# This module takes the name ``conftest`` in sys.modules for the rest of the session, so it offers every
# name of tests/conftest.py too: ``from conftest import need, SAMPLE_DATA, ...`` keeps working everywhere.
for _name, _value in vars(_root_conftest()).items():
    if not _name.startswith("__") and _name not in ("ROOT", "_root_conftest"):
        globals().setdefault(_name, _value)
need = _root_conftest().need

FIXTURE_T0 = 1704067200
FIXTURE_STEP = 15
SCRIPT = ROOT / "scripts" / "backends.sh"


def _read_env(path: pathlib.Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        k, _, v = line.partition("=")
        if k:
            out[k.strip()] = v.strip()
    return out


@pytest.fixture(scope="session")
def live_backends(tmp_path_factory) -> dict[str, str]:
    """URLs of the live servers: ``prometheus``, ``victoriametrics`` (``http://127.0.0.1:PORT``) and the fixture dir."""
    if os.environ.get("OBSNB_PROMETHEUS_URL") and os.environ.get("OBSNB_VICTORIAMETRICS_URL"):
        fixture = tmp_path_factory.mktemp("fixture")
        subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_backend_fixture.py"), str(fixture)], check=True,
                       capture_output=True)
        yield {"prometheus": os.environ["OBSNB_PROMETHEUS_URL"], "victoriametrics": os.environ["OBSNB_VICTORIAMETRICS_URL"],
               "fixture": str(fixture / "fixture.om")}
        return
    can_install = hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")
    have = shutil.which("prometheus") and shutil.which("promtool") and shutil.which("victoria-metrics")
    need(bool(have or can_install), "prometheus/promtool/victoria-metrics are not installed (run scripts/backends.sh as root)")
    work = tmp_path_factory.mktemp("backends")
    env = {**os.environ, "OBSNB_BACKENDS_DIR": str(work), "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=300)
    try:
        need(proc.returncode == 0, f"scripts/backends.sh start failed: {proc.stderr[-2000:]}")
        vals = _read_env(work / "env")
        yield {"prometheus": vals["OBSNB_PROMETHEUS_URL"], "victoriametrics": vals["OBSNB_VICTORIAMETRICS_URL"],
               "fixture": str(work / "fixture" / "fixture.om")}
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, timeout=60)

