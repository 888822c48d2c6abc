"""JupyterLab started headless on loopback runs the postmortem template through its REST and websocket API,
with the live (offline, anywidget) chart renderer: no cell errors, the title rendered, every chart a widget."""

from __future__ import annotations

import html
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest
import requests

from conftest import need

from _support import SAMPLE_DATA

from obsnb.cli import new_investigation

pytestmark = pytest.mark.slow
WIDGET = "application/vnd.jupyter.widget-view+json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    jupyter = os.path.join(os.path.dirname(sys.executable), "jupyter-lab")
    need(os.path.exists(jupyter) or shutil.which("jupyter-lab") is not None, "jupyter-lab is not installed")
    root = tmp_path_factory.mktemp("lab")
    # as a user would: `obsnb new postmortem` on the sample incident's files
    truth = json.loads((SAMPLE_DATA / "ground_truth.json").read_text())
    new_investigation("postmortem", root, incident=truth["incident"], start=truth["window"]["start"],
                      end=truth["window"]["end"], sources={"logs": str(SAMPLE_DATA / "logs"),
                                                          "traces": str(SAMPLE_DATA / "traces"),
                                                          "metrics": str(SAMPLE_DATA / "metrics")})
    run = root / ".run"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(run / "config"), "JUPYTER_DATA_DIR": str(run / "data"),
           "JUPYTER_RUNTIME_DIR": str(run / "runtime"), "OBSNB_ALTAIR_RENDERER": "jupyter"}
    env["JUPYTER_PATH"] = os.path.join(sys.prefix, "share", "jupyter")
    port, token = _free_port(), secrets.token_hex(16)
    proc = subprocess.Popen(
        [jupyter if os.path.exists(jupyter) else "jupyter-lab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
         f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}", f"--LabApp.workspaces_dir={run / 'ws'}",
         f"--LabApp.user_settings_dir={run / 'settings'}", "--LabApp.news_url=None"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/api/status", params={"token": token}, timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.3)
        yield base, token, root
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _execute(ws, code: str, timeout: float = 120) -> list[dict]:
    """Send one execute_request; return its iopub outputs once both idle and execute_reply arrived (any order)."""
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({"header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "t", "session": "s",
                                   "version": "5.3"}, "parent_header": {}, "metadata": {}, "channel": "shell",
                        "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                                    "allow_stdin": False, "stop_on_error": True}}))
    outputs, idle, replied = [], False, False
    deadline = time.monotonic() + timeout
    while not (idle and replied):
        assert time.monotonic() < deadline, f"cell did not finish in {timeout} s: {code[:80]}"
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "status" and msg["content"]["execution_state"] == "idle":
            idle = True
        elif kind == "execute_reply":
            replied = True
        elif kind in ("display_data", "execute_result", "error", "stream"):
            outputs.append({"type": kind, **msg["content"]})
    return outputs


def test_postmortem_runs_live_in_jupyterlab(lab):
    """Every cell of the postmortem runs in a Lab kernel; charts come out as offline anywidget views."""
    need(importlib.util.find_spec("websocket") is not None, "websocket-client is not installed")
    import websocket

    base, token, root = lab
    auth = {"Authorization": f"token {token}"}
    assert requests.get(f"{base}/lab", headers=auth, timeout=10).status_code == 200
    names = [c["name"] for c in requests.get(f"{base}/api/contents", headers=auth, timeout=10).json()["content"]]
    assert "postmortem.ipynb" in names
    sess = requests.post(f"{base}/api/sessions", headers=auth, timeout=60, json={
        "path": "postmortem.ipynb", "type": "notebook", "name": "", "kernel": {"name": "python3"}}).json()
    nb = requests.get(f"{base}/api/contents/postmortem.ipynb", headers=auth, timeout=10).json()["content"]
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{base.rsplit(':', 1)[1]}/api/kernels/{sess['kernel']['id']}/channels?token={token}", timeout=120)
    try:
        outputs = []
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                outputs += _execute(ws, cell["source"])
    finally:
        ws.close()
        requests.delete(f"{base}/api/sessions/{sess['id']}", headers=auth, timeout=30)
    errors = [f"{o['ename']}: {o['evalue']}" for o in outputs if o["type"] == "error"]
    assert errors == []
    markdown = "".join(o.get("data", {}).get("text/markdown", "") for o in outputs)
    assert "# Postmortem INC-2041" in html.unescape(markdown)  # values are escaped as entities
    widgets = [o for o in outputs if WIDGET in o.get("data", {})]
    assert len(widgets) >= 8
    assert not any("cdn.jsdelivr" in json.dumps(o) for o in outputs)
