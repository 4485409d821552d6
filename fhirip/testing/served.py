"""fhirip started the way the README tells production to start it: `fhirip serve` under gunicorn.

The command runs as a child process (gunicorn master plus `workers` workers, `--preload`) on a
database the caller names, so tests can drive it with concurrent clients, kill its workers and
restart it. Tokens are signed with the development keys in the data directory, as `fhirip token`
does.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from fhirip.auth.devkeys import DevKeys
from fhirip.testing.postgres import TemporaryPostgres


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServedFhirip:
    """`with ServedFhirip(data_dir, database_url) as server: server.url` — `fhirip serve`, stopped after."""

    def __init__(self, data_dir: Path, database_url: str | None, *, workers: int = 2,
                 environment: dict[str, str] | None = None, arguments: tuple[str, ...] = ("--no-demo",)):
        self.data_dir = Path(data_dir)
        self.database_url = database_url
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # FHIRIP_* variables of the server's (none are inherited); by default those of a test server
        # whose data uses synthetic identity numbers.
        self.environment = {"FHIRIP_ALLOW_SYNTHETIC_IDENTIFIERS": "true"} if environment is None else environment
        self.arguments = arguments
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / f"serve-{self.port}.log"

    def start(self, timeout: float = 60.0) -> "ServedFhirip":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {key: value for key, value in os.environ.items() if not key.startswith("FHIRIP_")}
        env.update(self.environment)
        if self.database_url:
            env["FHIRIP_DATABASE_URL"] = self.database_url
        command = [str(Path(sys.executable).with_name("fhirip")), "serve", "--host", "127.0.0.1",
                   "--port", str(self.port), "--data-dir", str(self.data_dir),
                   "--workers", str(self.workers), *self.arguments]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"fhirip serve exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/metadata", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"fhirip serve did not answer in {timeout} s:\n{self.log()}")
            time.sleep(0.2)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def worker_pids(self) -> list[int]:
        """The gunicorn workers: the children of the master that serve requests."""
        assert self.process is not None
        master = self.process.pid
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        workers = []
        for pid in map(int, children):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"gunicorn" in command:
                workers.append(pid)
        return workers

    def stop(self, timeout: float = 30.0) -> int | None:
        """Stops gracefully (SIGTERM to the master, as an operator would); returns its exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait()
        finally:
            self._end_group()

    def kill(self) -> None:
        """Ends every process of the server at once (kill -9), as a crash would."""
        if self.process is not None:
            self._end_group()
            self.process.wait()

    def _end_group(self) -> None:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def token(self, **claims: Any) -> str:
        return DevKeys.load_or_create(self.data_dir).mint(claims)

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=kwargs.pop("timeout", 60), **kwargs)

    def __enter__(self) -> "ServedFhirip":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def serving(kind: str, postgres: TemporaryPostgres | None, directory: Path, name: str) -> Iterator[ServedFhirip]:
    """`fhirip serve` on a store of this kind: SQLite in `directory`, or PostgreSQL database `name`
    in the test cluster (the one FHIRIP_TEST_POSTGRES_URL names when there is no cluster)."""
    database_url = None
    if kind == "postgresql":
        database_url = os.environ["FHIRIP_TEST_POSTGRES_URL"] if postgres is None else postgres.create_database(name)
    server = ServedFhirip(directory / "data", database_url)
    server.kind = kind  # type: ignore[attr-defined]
    with server:
        yield server
