"""A load in a fresh process imports pandas on a helper thread while it reads (pyarrow imports it for any
engine): the frame is the same, and a pandas that cannot be imported is still a clear error in the user's
own call."""

from __future__ import annotations

import subprocess
import sys

import pytest

LINES = ["2024-05-14 12:00:01,250 INFO [main] a.B: first", "2024-05-14 12:00:02,500 ERROR [w1] c.D: second"]


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("engine", ["pandas", "polars"])
def test_a_fresh_process_loads_with_the_pandas_import_on_a_helper_thread(tmp_path, engine):
    p = tmp_path / "app.log"
    p.write_text("\n".join(LINES) + "\n")
    code = (
        "import sys, threading, warnings; warnings.simplefilter('ignore'); import obsnb as ob\n"
        "assert 'pandas' not in sys.modules\n"
        f"df = ob.load({str(p)!r}, engine={engine!r})\n"
        "print(type(df).__module__.split('.')[0], [t.name for t in threading.enumerate()"
        " if t.name == 'obsnb-import-pandas' and t.is_alive()])\n"
        "print(df['time'].cast(int).to_list() if hasattr(df, 'lazy') else df['time'].astype('int64').tolist(),"
        " list(df['event']), list(df['level']))\n"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()
    assert first.split(" ", 1)[0] == engine
    if engine == "pandas":
        assert first == "pandas []"  # the frame was made after the import thread's work was done
    # 2024-05-14T12:00:01Z is 1715688001 s after the epoch
    assert second == (f"[{1715688001_250_000_000}, {1715688002_500_000_000}] ['first', 'second'] "
                      "['INFO', 'ERROR']")


def test_a_pandas_that_fails_to_import_is_raised_in_the_load(tmp_path):
    p = tmp_path / "app.log"
    p.write_text("\n".join(LINES) + "\n")
    code = (
        "import importlib.util, sys, warnings; warnings.simplefilter('ignore')\n"
        "class NoPandas:\n"  # a pandas that is found, but whose import fails
        "    def find_spec(self, name, path=None, target=None):\n"
        "        return importlib.util.spec_from_loader(name, self) if name == 'pandas' else None\n"
        "    def create_module(self, spec): return None\n"
        "    def exec_module(self, module): raise ImportError('pandas is broken here')\n"
        "sys.meta_path.insert(0, NoPandas())\n"
        "import obsnb as ob\n"
        "print(len(ob.load(" + repr(str(p)) + ", engine='polars')))\n"
        "try:\n"
        "    ob.load(" + repr(str(p)) + ")\n"
        "except ImportError as exc:\n"
        "    print('ImportError:', exc)\n"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["2", "ImportError: pandas is broken here"]
    assert "Exception in thread" not in out.stderr
