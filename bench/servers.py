"""Starting and stopping the servers a benchmark drives, under gunicorn as deployed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
WORKERS = 2
THREADS = 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """`with Gunicorn("server.wsgi:app", env) as url:` — a server on a free loopback port."""

    def __init__(self, app: str, env: dict[str, str], ready_path: str = "/metadata"):
        self.app = app
        self.env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready_path = ready_path
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        self.process = subprocess.Popen(
            [GUNICORN, "--workers", str(WORKERS), "--worker-class", "gthread", "--threads", str(THREADS),
             "--bind", f"127.0.0.1:{self.port}", "--log-level", "warning", self.app],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + self.ready_path, timeout=2)
                return self.url
            except httpx.HTTPError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.app} did not start: {self.process.stderr.read().decode()}")
                time.sleep(0.3)
        raise RuntimeError(f"{self.app} did not answer within 60 s")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
