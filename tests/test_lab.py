"""`make lab` starts a JupyterLab server that answers and serves the lessons."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read()


def test_make_lab_serves_the_lessons(tmp_path):
    port, token = _free_port(), "lmm-course-test"
    lab_args = f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.token={token} --ServerApp.port_retries=0"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path), "JUPYTER_CONFIG_DIR": str(tmp_path / "config")}
    if Path(sys.executable).resolve() == (ROOT / ".venv" / "bin" / "python").resolve():
        command = ["make", "--no-print-directory", "lab", f"LAB_ARGS={lab_args}"]  # the README's command itself
    else:  # a conda or other environment: the same server, started directly
        command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={ROOT}", *lab_args.split(), "lessons/00_course_map.ipynb"]
        if os.geteuid() == 0:
            command.insert(3, "--allow-root")
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                status, _ = _get(f"http://127.0.0.1:{port}/api/status?token={token}")
                break
            except OSError:
                assert server.poll() is None, "JupyterLab exited before answering"
                assert time.monotonic() < deadline, "JupyterLab did not answer within 90 s"
                time.sleep(0.5)
        assert status == 200
        status, body = _get(f"http://127.0.0.1:{port}/api/contents/lessons?token={token}")
        names = {item["name"] for item in json.loads(body)["content"]}
        assert "00_course_map.ipynb" in names
        status, body = _get(f"http://127.0.0.1:{port}/lab?token={token}")
        assert status == 200 and b"JupyterLab" in body
    finally:
        _stop(server)


def _stop(server):
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    except ProcessLookupError:  # already gone
        pass
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
