"""A throw-away PostgreSQL server: initdb in a temp dir, listening on loopback only.

Uses Debian's `postgresql` package binaries. Root may not run the server, so as
root the server runs as the `postgres` system user the package creates.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _bin_dir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql (make postgres)")
    return Path(candidates[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TemporaryPostgres:
    """`with TemporaryPostgres() as pg: pg.url` — a fresh cluster, removed afterwards."""

    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="fhirip-pg-"))
        self.data = self.root / "data"
        self.as_root = os.geteuid() == 0
        self.url = f"postgresql+psycopg://fhirip@127.0.0.1:{self.port}/fhirip"
        self.databases: set[str] = {"fhirip"}  # those created so far

    def _run(self, *args: str) -> None:
        command = [str(a) for a in args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> "TemporaryPostgres":
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(self.bin / "initdb", "-D", self.data, "-U", "fhirip", "--auth=trust",
                  "--encoding=UTF8", "--locale=C.UTF-8")
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   f"-c unix_socket_directories={self.root} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(self.bin / "pg_ctl", "-D", self.data, "-o", options, "-l", self.root / "log",
                  "-w", "start")
        self._run(self.bin / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "fhirip", "fhirip")
        return self

    def create_database(self, name: str) -> str:
        """A new, empty database named `name`, or `name_2`, `name_3`, … when that name is taken: a
        fixture that pytest sets up a second time in one session (as it may when tests are
        spread over several processes) gets a database of its own again."""
        chosen, number = name, 1
        while chosen in self.databases:
            number += 1
            chosen = f"{name}_{number}"
        self._run(self.bin / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "fhirip", chosen)
        self.databases.add(chosen)
        return f"postgresql+psycopg://fhirip@127.0.0.1:{self.port}/{chosen}"

    def stop(self) -> None:
        try:
            self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "TemporaryPostgres":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for(url: str, timeout: float = 10.0) -> None:
    from sqlalchemy import create_engine, text

    deadline = time.monotonic() + timeout
    engine = create_engine(url)
    while True:
        try:
            with engine.connect() as conn:
                conn.execute(text("select 1"))
            engine.dispose()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
