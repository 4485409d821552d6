"""Starting and stopping the servers a benchmark drives: fhirip as the README starts it
(`fhirip serve`), its unenforced build with the same gunicorn settings, the floor under plain gunicorn."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from fhirip.cli import gunicorn_command

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
FHIRIP = str(Path(sys.executable).with_name("fhirip"))
WORKERS = 2
THREADS = 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A server process on a free loopback port, ready once `ready_path` answers.

    Its output goes to a temporary file, not a pipe: a server that logs under load must never
    block on a full pipe nobody reads. The tail of that file is the error when it fails to start.
    """

    name = "server"

    def __init__(self, command: list[str], env: dict[str, str], port: int, ready_path: str,
                 cwd: Path = ROOT, ready_seconds: float = 90):
        self.command = command
        self.env = env
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ready_path = ready_path
        self.cwd = cwd
        self.ready_seconds = ready_seconds
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tempfile.TemporaryFile()

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server is not running"
        return self.process.pid

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]

    def __enter__(self) -> str:
        self.process = subprocess.Popen(self.command, cwd=self.cwd, env=self.env, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + self.ready_seconds
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + self.ready_path, timeout=2)
                return self.url
            except httpx.HTTPError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} did not start:\n{self.output()}")
                time.sleep(0.3)
        self.__exit__()
        raise RuntimeError(f"{self.name} did not answer within {self.ready_seconds:.0f} s:\n{self.output()}")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        self.log.close()


def _descendants(root: int) -> set[int]:
    """The process `root` and every process under it (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                continue
    found = {root}
    while True:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        if not more:
            return found
        found |= more


def _cpu_seconds(pids: set[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def wait_until_idle(roots: list[int], *, busy_share: float = 0.05, window: float = 0.5,
                    at_least: float = 1.0, at_most: float = 30.0) -> float:
    """Wait until the processes under `roots` (servers, their workers and companion processes)
    use less than `busy_share` of one core over `window` seconds; returns the seconds waited.
    A server's companions import the whole server as they boot: on a loaded machine that takes
    longer than any fixed pause, and measuring during it charges their start to the first workload."""
    started = time.monotonic()
    time.sleep(at_least)
    while time.monotonic() - started < at_most:
        pids = set().union(*(_descendants(root) for root in roots))
        before = _cpu_seconds(pids)
        time.sleep(window)
        if _cpu_seconds(pids) - before < busy_share * window:
            break
    return time.monotonic() - started


class FhiripServe(Server):
    """`with FhiripServe(env, data_dir) as url:` — fhirip started as the README tells users to start it,
    `fhirip serve --workers WORKERS --threads THREADS`, on the store `env` names (already loaded)."""

    def __init__(self, env: dict[str, str], data_dir: Path):
        self.name = "fhirip serve"
        port = free_port()
        super().__init__(
            [FHIRIP, "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir), "--no-demo",
             "--workers", str(WORKERS), "--threads", str(THREADS)],
            {**os.environ, **env, "PYTHONPATH": str(ROOT)}, port, "/metadata")


class Gunicorn(Server):
    """`with Gunicorn("bench.floor_app:app", env) as url:` — another WSGI app under gunicorn (gthread);
    with `as_fhirip_serve`, with the settings `fhirip serve` runs its own application with (the
    unenforced build, so that what it leaves out is enforcement alone)."""

    def __init__(self, app: str, env: dict[str, str], ready_path: str = "/metadata", as_fhirip_serve: bool = False):
        self.name = app
        port = free_port()
        command = (gunicorn_command(app, host="127.0.0.1", port=port, workers=WORKERS, threads=THREADS)
                   if as_fhirip_serve else
                   [GUNICORN, "--workers", str(WORKERS), "--worker-class", "gthread", "--threads", str(THREADS),
                    "--bind", f"127.0.0.1:{port}", "--log-level", "warning", app])
        super().__init__(command, {**os.environ, **env, "PYTHONPATH": str(ROOT)}, port, ready_path)
